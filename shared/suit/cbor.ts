// Strict CBOR for the SUIT bridge (docs/suit.md "Bounded decoding"). cbor-x decodes recursively with
// no depth limit and accepts indefinite lengths, floats, duplicate map keys and non-shortest heads, so
// every byte string from the bus is first walked head by head here: bounded size, depth and item
// count, definite lengths, shortest-form heads, no duplicate keys, valid UTF-8, only the tags the
// subset uses, no trailing bytes. Only bytes that pass are handed to cbor-x's Decoder.
import { Decoder, Encoder } from 'cbor-x';
import { SuitMalformedError, SuitTooLargeError } from '../core/errors.js';

/** What one envelope may cost a constrained ECU to decode (docs/code-style.md R10). */
export interface SuitLimits {
  /** Largest envelope accepted, refused before any byte is decoded. */
  readonly maxEnvelopeBytes: number;
  /** Deepest nesting of arrays, maps and tags, counted across the byte strings that wrap CBOR. */
  readonly maxDepth: number;
  /** Most data items in the whole envelope, the byte-wrapped ones included. */
  readonly maxItems: number;
}

/** Room for the subset's envelope (about 300 bytes, depth 6, 60 items) and some growth, nothing more. */
export const DEFAULT_SUIT_LIMITS: SuitLimits = { maxEnvelopeBytes: 4096, maxDepth: 8, maxItems: 256 };

/** Shared by every walk of one envelope, so items hidden in nested byte strings count against one budget. */
export interface WalkBudget {
  items: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Checks that `bytes` is exactly one well-formed data item within `limits`, starting at nesting
 * depth `depth` (the depth of the byte string that carried it). Throws SuitTooLargeError past a
 * limit and SuitMalformedError for anything else this subset does not allow; `what` names the
 * structure in the message.
 */
export function walkCbor(bytes: Uint8Array, what: string, limits: SuitLimits, budget: WalkBudget, allowedTags: ReadonlySet<number>, depth = 0): void {
  if (bytes.length > limits.maxEnvelopeBytes) throw new SuitTooLargeError(`${what}: ${bytes.length} bytes, more than the ${limits.maxEnvelopeBytes} allowed`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const malformed = (at: number, why: string) => new SuitMalformedError(`${what}: ${why} at byte ${at}`);

  /** The head at `pos`: major type, argument, and where the content starts. */
  const head = (pos: number): { major: number; minor: number; arg: number; next: number } => {
    if (pos >= bytes.length) throw malformed(pos, 'truncated');
    const initial = bytes[pos]!;
    const major = initial >> 5;
    const minor = initial & 31;
    if (minor < 24) return { major, minor, arg: minor, next: pos + 1 };
    if (minor > 27) throw malformed(pos, minor === 31 ? 'indefinite length (not allowed)' : 'reserved additional information');
    const size = 1 << (minor - 24);
    if (pos + 1 + size > bytes.length) throw malformed(pos, 'truncated head');
    let arg: number;
    if (size === 1) arg = view.getUint8(pos + 1);
    else if (size === 2) arg = view.getUint16(pos + 1);
    else if (size === 4) arg = view.getUint32(pos + 1);
    else {
      const big = view.getBigUint64(pos + 1);
      // Past 2^53 nothing in this subset is meaningful (lengths, sequence numbers, sizes): refused.
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(pos, 'integer beyond 2^53');
      arg = Number(big);
    }
    // Shortest form only (RFC 8949 4.2.1): one encoding per value, so the signed bytes are the only bytes.
    const floor = [24, 256, 65536, 2 ** 32][minor - 24]!;
    if (major !== 7 && arg < floor) throw malformed(pos, 'non-shortest head');
    return { major, minor, arg, next: pos + 1 + size };
  };

  const item = (pos: number, level: number): number => {
    if (level > limits.maxDepth) throw new SuitTooLargeError(`${what}: nested deeper than ${limits.maxDepth} levels`);
    if (++budget.items > limits.maxItems) throw new SuitTooLargeError(`${what}: more than ${limits.maxItems} data items`);
    const { major, minor, arg, next } = head(pos);
    switch (major) {
      case 0:
      case 1:
        return next;
      case 2:
      case 3: {
        if (arg > bytes.length - next) throw malformed(pos, 'string longer than its envelope');
        if (major === 3) {
          try {
            utf8.decode(bytes.subarray(next, next + arg));
          } catch (err) {
            throw new SuitMalformedError(`${what}: text string at byte ${pos} is not UTF-8`, { cause: err });
          }
        }
        return next + arg;
      }
      case 4: {
        // Checked before looping: a declared count alone must not buy a long loop.
        if (arg > limits.maxItems - budget.items) throw new SuitTooLargeError(`${what}: an array of ${arg} items`);
        let at = next;
        for (let i = 0; i < arg; i++) at = item(at, level + 1);
        return at;
      }
      case 5: {
        if (arg * 2 > limits.maxItems - budget.items) throw new SuitTooLargeError(`${what}: a map of ${arg} entries`);
        const keys = new Set<string>();
        let at = next;
        for (let i = 0; i < arg; i++) {
          const keyEnd = item(at, level + 1);
          const key = Buffer.from(bytes.subarray(at, keyEnd)).toString('hex');
          if (keys.has(key)) throw malformed(at, 'duplicate map key');
          keys.add(key);
          at = item(keyEnd, level + 1);
        }
        return at;
      }
      case 6:
        if (!allowedTags.has(arg)) throw malformed(pos, `tag ${arg} (not used by this subset)`);
        return item(next, level + 1);
      default:
        // false, true, null only: floats, undefined and other simple values have no place in the subset.
        if (minor !== 20 && minor !== 21 && minor !== 22) throw malformed(pos, 'float or simple value');
        return next;
    }
  };

  const end = item(0, depth);
  if (end !== bytes.length) throw malformed(end, 'trailing bytes after the data item');
}

/** Maps stay Maps (integer keys), byte strings stay Uint8Array: the shapes SUIT's CDDL speaks of. */
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false, structuredClone: false, bundleStrings: false, int64AsType: 'number' } as ConstructorParameters<typeof Decoder>[0]);

/** `bytes`, walked then decoded; `depth` is where it sits inside the envelope. */
export function decodeStrict(bytes: Uint8Array, what: string, limits: SuitLimits, budget: WalkBudget, depth: number, allowedTags: ReadonlySet<number> = NO_TAGS): unknown {
  walkCbor(bytes, what, limits, budget, allowedTags, depth);
  try {
    return decoder.decode(bytes);
  } catch (err) {
    throw new SuitMalformedError(`${what}: ${(err as Error).message}`, { cause: err });
  }
}

export const NO_TAGS: ReadonlySet<number> = new Set();

/** Deterministic encoding: byte strings untagged, Maps as maps, shortest heads (as the walk demands). */
// useTag259ForMaps exists at run time (cbor-x 1.6) but not in its typings; without it Maps get tag 259.
export const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, useTag259ForMaps: false, variableMapSize: true } as ConstructorParameters<typeof Encoder>[0]);

export function encodeCbor(value: unknown): Uint8Array {
  return new Uint8Array(encoder.encode(value));
}
