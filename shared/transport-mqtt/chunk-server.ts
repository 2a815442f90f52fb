// The answering side of a chunked download (chunked-download.ts): one window of a file, read from
// disk a chunk at a time and published in order at QoS 0, at most CHUNKS_UNWRITTEN chunks waiting
// for the connection's socket, so a window holds a few chunks of memory however large the file.
// QoS 0 because the vehicle detects a lost chunk itself and asks for it again (a gap in a window's
// offsets, or silence), and paces the Director by the windows it asks for: per-chunk
// acknowledgements would only make the broker and both clients keep, copy and acknowledge every
// megabyte (docs/transport.md "Chunked images": about 40 % of the process's CPU per transfer).
import { open } from 'node:fs/promises';
import { BadRequestError } from '../core/errors.js';
import { byteCount } from './chunked-download.js';
import type { MqttReplier } from './mqtt-rpc.js';

export interface ChunkLimits {
  /** Largest window one request may ask for. */
  readonly maxWindowBytes: number;
  /** Chunk sizes a request may ask for. */
  readonly minChunkBytes: number;
  readonly maxChunkBytes: number;
}

/** Chunks of one window handed to the broker connection before the first of them is written to its socket. */
const CHUNKS_UNWRITTEN = 4;

export const DEFAULT_CHUNK_LIMITS: ChunkLimits = { maxWindowBytes: 8 * 1024 * 1024, minChunkBytes: 1024, maxChunkBytes: 1024 * 1024 };

/** The window a request asks for, checked against the limits (BadRequestError names the wrong property). */
export function parseWindow(properties: Readonly<Record<string, string>>, limits: ChunkLimits): { offset: number; length: number; chunk: number } {
  let window: { offset: number; length: number; chunk: number };
  try {
    window = { offset: byteCount(properties, 'offset'), length: byteCount(properties, 'length'), chunk: byteCount(properties, 'chunk') };
  } catch (err) {
    throw new BadRequestError((err as Error).message);
  }
  if (window.length > limits.maxWindowBytes) throw new BadRequestError(`a window of ${window.length} bytes; at most ${limits.maxWindowBytes}`);
  if (window.chunk < limits.minChunkBytes || window.chunk > limits.maxChunkBytes) throw new BadRequestError(`chunks of ${window.chunk} bytes; ${limits.minChunkBytes} to ${limits.maxChunkBytes}`);
  return window;
}

/**
 * Publishes bytes [offset, offset + length) of the `size`-byte file at `path`, clipped to its end, in
 * `chunk`-byte messages carrying `offset` and `size`; a window at the very end gets one empty message,
 * so the reader learns the size. An offset past the end is answered 416.
 */
export async function sendFileWindow(replier: MqttReplier, path: string, size: number, window: { offset: number; length: number; chunk: number }): Promise<void> {
  const { offset, chunk } = window;
  if (offset > size) {
    await replier.reply(416, Buffer.from(JSON.stringify({ error: { code: 'range_not_satisfiable', message: `offset ${offset} is past the end (${size} bytes)` } })));
    return;
  }
  const end = Math.min(offset + window.length, size);
  const properties = (at: number) => ({ offset: String(at), size: String(size) });
  if (offset === end) {
    await replier.reply(200, new Uint8Array(0), properties(offset));
    return;
  }
  const file = await open(path, 'r');
  // A few chunks wait for the socket at once; the bound keeps a window's memory at CHUNKS_UNWRITTEN
  // chunks when the broker reads slower than the disk.
  const unwritten: Array<Promise<void>> = [];
  try {
    for (let at = offset; at < end; at += chunk) {
      const bytes = Buffer.allocUnsafe(Math.min(chunk, end - at));
      let read = 0;
      while (read < bytes.length) {
        const { bytesRead } = await file.read(bytes, read, bytes.length - read, at + read);
        if (bytesRead === 0) throw new Error(`${path} ended at ${at + read} bytes, ${size} expected`);
        read += bytesRead;
      }
      unwritten.push(replier.reply(200, bytes, properties(at), 0));
      if (unwritten.length >= CHUNKS_UNWRITTEN) await unwritten.shift();
    }
    await Promise.all(unwritten);
  } finally {
    // A failed publish leaves the others to settle unobserved: caught here, the first one reported.
    for (const pending of unwritten) pending.catch(() => undefined);
    await file.close();
  }
}
