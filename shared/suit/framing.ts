// How a SUIT envelope and its image travel as one byte stream over a transport that carries bytes
// (HTTP's PUT /suit; docs/suit.md "Transports"): a two-byte big-endian length, the envelope, then the
// image to its end. The length comes first so the receiver reads at most the envelope limit before
// it can verify anything, and never buffers the image: what follows the envelope is handed on as a
// stream for the constrained ECU to check against the envelope's size and digest as it is written.
import { SuitMalformedError, SuitTooLargeError } from '../core/errors.js';
import { DEFAULT_SUIT_LIMITS } from './cbor.js';

/** The length prefix's size: an envelope is at most 65,535 bytes on the wire (the limit is far lower). */
const PREFIX_BYTES = 2;

/** The bytes that go before the image. */
export function suitStreamPrefix(envelope: Uint8Array): Buffer {
  if (envelope.length === 0 || envelope.length > 0xffff) throw new SuitTooLargeError(`a SUIT envelope of ${envelope.length} bytes cannot be framed (1 to 65,535)`);
  const prefix = Buffer.alloc(PREFIX_BYTES + envelope.length);
  prefix.writeUInt16BE(envelope.length, 0);
  prefix.set(envelope, PREFIX_BYTES);
  return prefix;
}

/** The whole stream a sender writes: prefix and envelope, then the image's chunks as they come. */
export async function* suitStream(envelope: Uint8Array, image: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield suitStreamPrefix(envelope);
  yield* image;
}

/**
 * Reads the envelope off the front of `source` and returns it with the rest of the stream (the
 * image). Refuses an envelope longer than `maxEnvelopeBytes` from its length alone, before reading
 * it (SuitTooLargeError), and a stream that ends inside the prefix or the envelope (SuitMalformedError).
 */
export async function splitSuitStream(
  source: AsyncIterable<Uint8Array>,
  maxEnvelopeBytes = DEFAULT_SUIT_LIMITS.maxEnvelopeBytes,
): Promise<{ envelope: Uint8Array; image: AsyncIterable<Uint8Array> }> {
  const iterator = source[Symbol.asyncIterator]();
  let held = Buffer.alloc(0);
  const readUntil = async (size: number, what: string): Promise<void> => {
    while (held.length < size) {
      const next = await iterator.next();
      if (next.done === true) throw new SuitMalformedError(`the SUIT stream ended inside its ${what} (${held.length} of ${size} bytes)`);
      held = held.length === 0 ? Buffer.from(next.value) : Buffer.concat([held, next.value]);
    }
  };
  await readUntil(PREFIX_BYTES, 'length prefix');
  const length = held.readUInt16BE(0);
  if (length === 0) throw new SuitMalformedError('the SUIT stream declares an empty envelope');
  if (length > maxEnvelopeBytes) throw new SuitTooLargeError(`the SUIT stream declares an envelope of ${length} bytes, more than the ${maxEnvelopeBytes} allowed`);
  await readUntil(PREFIX_BYTES + length, 'envelope');
  const envelope = Uint8Array.from(held.subarray(PREFIX_BYTES, PREFIX_BYTES + length));
  const first = held.subarray(PREFIX_BYTES + length);
  async function* image(): AsyncGenerator<Uint8Array> {
    if (first.length > 0) yield first;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return;
      yield next.value;
    }
  }
  return { envelope, image: image() };
}
