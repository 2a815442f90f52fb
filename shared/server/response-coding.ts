// Compression in transit, the servers' side (issue 21; docs/transport.md "Compression in transit"):
// an answer is sent in the coding the client's Accept-Encoding offers and the server prefers. The
// client inflates under its own caps and checks hashes on the inflated bytes (shared/client/
// content-coding.ts), so a coding changes the bytes on the wire, never what is verified.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

export type ResponseCoding = 'identity' | 'gzip' | 'br' | 'zstd';

const HAS_ZSTD = typeof zlib.createZstdCompress === 'function';

/** Best first: zstd compresses and inflates fastest at a ratio close to br's; gzip every client has. */
const PREFERRED: readonly ResponseCoding[] = HAS_ZSTD ? ['zstd', 'br', 'gzip'] : ['br', 'gzip'];

/** The first coding of PREFERRED that `acceptEncoding` allows (q > 0), else identity. */
export function negotiateCoding(acceptEncoding: string | string[] | undefined): ResponseCoding {
  if (typeof acceptEncoding !== 'string' || acceptEncoding.length > 1024) return 'identity';
  const allowed = new Set<string>();
  for (const item of acceptEncoding.split(',')) {
    const [name, ...params] = item.split(';').map((part) => part.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    if (name !== undefined && name !== '' && (q === undefined || Number(q.slice(2)) > 0)) allowed.add(name);
  }
  return PREFERRED.find((coding) => allowed.has(coding) || allowed.has('*')) ?? 'identity';
}

/** The strong ETag of the `coding` representation of the content whose hash is `sha256` (RFC 9110 8.8.3.3). */
export function etagFor(sha256: string, coding: ResponseCoding): string {
  return coding === 'identity' ? `"${sha256}"` : `"${sha256}.${coding}"`;
}

// Metadata: small, and the same few files are asked for by every vehicle, so each encoding is made
// once per file version (its hash) and kept; a metadata file below a kilobyte is sent as it is.
const METADATA_MIN_BYTES = 1024;
const METADATA_CACHE_ENTRIES = 64;
const encodedMetadata = new Map<string, Buffer>();
const COMPRESS = {
  gzip: promisify(zlib.gzip),
  br: (bytes: Buffer) => promisify(zlib.brotliCompress)(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 6 } }),
  zstd: promisify(zlib.zstdCompress ?? zlib.gzip),
} as const;

/**
 * Answers 200 with the metadata file `bytes` in the coding the client accepts. With its hash
 * `sha256` (a file every vehicle reads), the encoding is kept for the next client and the answer
 * carries an ETag (304 when If-None-Match names it); without (one vehicle's own file), neither.
 */
export async function sendMetadata(req: IncomingMessage, res: ServerResponse, bytes: Buffer, sha256: string | undefined, headers: Readonly<Record<string, string>>): Promise<void> {
  const coding = bytes.length < METADATA_MIN_BYTES ? 'identity' : negotiateCoding(req.headers['accept-encoding']);
  const etag = sha256 === undefined ? undefined : etagFor(sha256, coding);
  const common = { ...headers, ...(etag === undefined ? {} : { ETag: etag }), Vary: 'Accept-Encoding' };
  if (etag !== undefined && req.headers['if-none-match'] === etag) {
    res.writeHead(304, common).end();
    return;
  }
  let body = bytes;
  if (coding !== 'identity') {
    const key = sha256 === undefined ? undefined : `${sha256}.${coding}`;
    body = (key === undefined ? undefined : encodedMetadata.get(key)) ?? (await COMPRESS[coding](bytes));
    if (key !== undefined) {
      encodedMetadata.delete(key); // re-inserted last: the map's order is least recently used first
      encodedMetadata.set(key, body);
      if (encodedMetadata.size > METADATA_CACHE_ENTRIES) encodedMetadata.delete(encodedMetadata.keys().next().value!);
    }
  }
  res.writeHead(200, { ...common, ...(coding === 'identity' ? {} : { 'Content-Encoding': coding }), 'Content-Length': body.length });
  res.end(body);
}

/**
 * A streaming compressor for an image sent in `coding`, at the fastest level of each: images are
 * compressed as they are sent (blob-sender.ts), so the server's CPU, not the ratio, sets the pace.
 */
export function createImageCompressor(coding: Exclude<ResponseCoding, 'identity'>): Transform {
  if (coding === 'gzip') return zlib.createGzip({ level: 1 });
  if (coding === 'br') return zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } });
  return zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } });
}

// Whether an image is worth compressing, judged once per blob from its first MiB: an image that is
// already compressed or encrypted does not shrink, and compressing it would cost the server and the
// vehicle a pass over every byte for nothing (zstd level 1 runs near 200 MB/s a core here, about the
// speed of a whole download). Kept per content hash, so each blob is sampled once.
const SAMPLE_BYTES = 1024 * 1024;
/** A sample must shrink to this share of its size for its blob to be sent compressed. */
const WORTH_RATIO = 0.9;
const WORTH_CACHE_ENTRIES = 4096;
const worthCompressing = new Map<string, boolean>();
const compressSample = HAS_ZSTD ? promisify(zlib.zstdCompress) : (bytes: Buffer) => promisify(zlib.gzip)(bytes, { level: 1 });

/** Whether the blob `sha256`, whose first bytes `readSample` reads (up to 1 MiB), shrinks enough to send compressed. */
export async function isWorthCompressing(sha256: string, readSample: (maxBytes: number) => Promise<Buffer>): Promise<boolean> {
  const known = worthCompressing.get(sha256);
  if (known !== undefined) return known;
  const sample = await readSample(SAMPLE_BYTES);
  const worth = sample.length > 0 && (await compressSample(sample)).length <= sample.length * WORTH_RATIO;
  if (worthCompressing.size >= WORTH_CACHE_ENTRIES) worthCompressing.delete(worthCompressing.keys().next().value!);
  worthCompressing.set(sha256, worth);
  return worth;
}
