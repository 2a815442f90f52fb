// Sending an image blob: what every vehicle downloads, up to gigabytes (the Image repository's
// images, the Director's encrypted images). The file is read into a few
// reused 1 MiB slabs instead of a new buffer per read (express's sendFile, through `send` and
// fs.createReadStream, allocated one per MiB sent). Those buffers live outside the heap, and
// allocating them at network speed made the server's thread collect garbage 17 times a second
// during large downloads (385 collections, 1.4 s, in bench figure 4's 23 s). With two cores shared
// by the server and a primary's receiving and hashing threads, that cost the download a tenth to a
// fifth of its speed (figure 4, interleaved A/B pairs: see bench/RESULTS.md, "Fixes").
//
// Blobs are immutable and content-addressed, so the sha256 is a strong ETag and a cached copy never
// goes stale. A single byte range is honoured (clients resume a cut download, F6); several ranges
// get the whole blob, which RFC 9110 (14.2) allows a server to do.
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Writable } from 'node:stream';
import { createImageCompressor, etagFor, isWorthCompressing, negotiateCoding } from './response-coding.js';

export const BLOB_SLAB_BYTES = 1024 * 1024;
const SLABS = 4;

/** The single range `header` asks of a `size`-byte blob: [start, end] inclusive, 'unsatisfiable', or null (send it whole). */
export function parseByteRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const match = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (match === null || (match[1] === '' && match[2] === '')) return null; // malformed or several ranges
  if (match[1] === '') {
    // Suffix: the last N bytes.
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return null; // an invalid range is ignored (RFC 9110 14.1.1)
  return { start, end };
}

export interface SendBlobOptions {
  /** Cache-Control of the answer; public and immutable by default (a content-addressed blob anyone may cache). */
  readonly cacheControl?: string;
  /**
   * Send a whole-blob GET compressed when Accept-Encoding allows and the blob's first MiB shrinks
   * (the Image repository's images; not the Director's ciphertexts, which never do). Compressed as
   * it is sent, never stored; a Range request gets the stored bytes, since a client resumes from an
   * offset into them.
   */
  readonly compress?: boolean;
}

/**
 * Answers a GET or HEAD for the blob at `path`, whose content hash is `sha256`. Resolves once the
 * answer is sent or the client went away; the file is closed either way. Rejects (nothing sent)
 * only if the file cannot be opened.
 */
export async function sendBlob(req: IncomingMessage, res: ServerResponse, path: string, sha256: string, options: SendBlobOptions = {}): Promise<void> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const offered = options.compress === true && req.headers.range === undefined ? negotiateCoding(req.headers['accept-encoding']) : 'identity';
    const coding = offered !== 'identity' && (await isWorthCompressing(sha256, (max) => readSample(file, Math.min(max, size)))) ? offered : 'identity';
    const etag = etagFor(sha256, coding);
    const headers: Record<string, string | number> = {
      ...(options.compress === true ? { Vary: 'Accept-Encoding' } : {}),
      'Content-Type': 'application/octet-stream',
      'Cache-Control': options.cacheControl ?? 'public, max-age=31536000, immutable',
      ETag: etag,
      'Accept-Ranges': 'bytes',
    };
    const ifNoneMatch = req.headers['if-none-match'];
    if (ifNoneMatch !== undefined && (ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
      res.writeHead(304, headers).end();
      return;
    }
    if (coding !== 'identity') {
      // No Content-Length: the compressed length is known only once it is sent (chunked).
      res.writeHead(200, { ...headers, 'Content-Encoding': coding });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const compressor = createImageCompressor(coding);
      pipeline(compressor, res, () => {}); // a client gone destroys the compressor, which ends the loop
      if (size === 0) compressor.end();
      else await streamRange(file, res, 0, size, compressor);
      return;
    }
    const range = parseByteRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 }).end();
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const length = end - start + 1;
    if (range !== null) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(range === null ? 200 : 206, { ...headers, 'Content-Length': length });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    await streamRange(file, res, start, length);
  } finally {
    await file.close();
  }
}

/** The first `bytes` bytes of `file`. */
async function readSample(file: FileHandle, bytes: number): Promise<Buffer> {
  const sample = Buffer.alloc(bytes);
  const { bytesRead } = await file.read(sample, 0, bytes, 0);
  return sample.subarray(0, bytesRead);
}

/**
 * Writes `length` bytes from `start` through SLABS reused slabs into `sink` (`res`, or a compressor
 * piped into it); stops as soon as the client goes away.
 */
async function streamRange(file: FileHandle, res: ServerResponse, start: number, length: number, sink: Writable = res): Promise<void> {
  const slabBytes = Math.min(BLOB_SLAB_BYTES, length);
  // A slab is read into again only once the socket has taken the bytes written from it.
  const slabs = Array.from({ length: Math.min(SLABS, Math.ceil(length / slabBytes)) }, () => ({
    bytes: Buffer.allocUnsafeSlow(slabBytes),
    sent: Promise.resolve(),
  }));
  let closed = false;
  res.once('close', () => (closed = true));
  try {
    let position = start;
    const stop = start + length;
    for (let i = 0; position < stop; i++) {
      const slab = slabs[i % slabs.length]!;
      await slab.sent; // once the socket closed, these callbacks run with an error
      if (closed) return;
      const { bytesRead } = await file.read(slab.bytes, 0, Math.min(slabBytes, stop - position), position);
      if (bytesRead === 0) throw new Error(`blob ended at byte ${position}, before the ${stop} its length promised`);
      position += bytesRead;
      // The callback runs once the socket has taken the bytes (or failed to). Waiting for it before
      // reusing the slab is also the backpressure: at most SLABS MiB wait for a slow client.
      slab.sent = new Promise((resolve) => sink.write(slab.bytes.subarray(0, bytesRead), () => resolve()));
    }
    if (!closed) sink.end();
  } catch (err) {
    // The status line is gone: all the client can learn is a cut body, which its length and hash checks refuse.
    res.destroy(err as Error);
  }
}
