// Compression in transit, the client's side (issue 21; docs/threat-model.md F7). A download asks
// for the codings node:zlib inflates as a stream (zstd, br, gzip) and inflates what comes back as it
// arrives: every cap the caller sets (an image's signed length, a role's metadata limit) counts the
// INFLATED bytes, so a small body that inflates to gigabytes (a decompression bomb) is cut off at
// the cap, and hashes are checked by the caller on the inflated bytes, as for an uncompressed body.
// A resumed download (a Range request) asks for identity: its offset counts inflated bytes already
// on disk, which a range of a compressed representation cannot continue.
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import { ContentEncodingError } from '../core/errors.js';

export type TransferCoding = 'identity' | 'gzip' | 'br' | 'zstd';

/** zstd when this Node's zlib has it (Node 22.15 and later), then br and gzip. */
const HAS_ZSTD = typeof zlib.createZstdDecompress === 'function';

/** The Accept-Encoding a whole-file download sends. */
export const ACCEPT_ENCODING = HAS_ZSTD ? 'zstd, br, gzip' : 'br, gzip';

/** Inflated output is handed on in chunks of this size (zlib's default is 16 KiB). */
const INFLATE_CHUNK_BYTES = 64 * 1024;

/**
 * The coding an answer's Content-Encoding names; ContentEncodingError for a coding that was not
 * offered, for several stacked, or for any coding when identity was asked for (`offered` false).
 */
export function transferCodingOf(header: string | undefined, offered: boolean, url: string): TransferCoding {
  const coding = (header ?? '').trim().toLowerCase();
  if (coding === '' || coding === 'identity') return 'identity';
  const accepted = offered && (coding === 'gzip' || coding === 'br' || (coding === 'zstd' && HAS_ZSTD));
  if (!accepted) {
    throw new ContentEncodingError(`${url}: sent with Content-Encoding ${JSON.stringify(coding.slice(0, 40))}, which was not asked for (${offered ? ACCEPT_ENCODING : 'identity'})`);
  }
  return coding as TransferCoding;
}

/** node:zlib's streaming inflater for `coding`. */
export function createInflater(coding: Exclude<TransferCoding, 'identity'>): Transform {
  const options = { chunkSize: INFLATE_CHUNK_BYTES };
  if (coding === 'gzip') return zlib.createGunzip(options);
  if (coding === 'br') return zlib.createBrotliDecompress(options);
  return zlib.createZstdDecompress(options);
}

/**
 * The most compressed bytes accepted for a body capped at `maxBytes` inflated: incompressible data
 * grows by well under 1% in each coding, so a body past this is endless data that inflates to
 * little or nothing (empty gzip members, say), which the inflated cap alone would never stop.
 */
export function compressedCapFor(maxBytes: number): number {
  return maxBytes + Math.ceil(maxBytes / 64) + 64 * 1024;
}

/** Whether `err` is an inflater's refusal of its input, corrupt or cut short (they carry a numeric errno). */
export function isCodecError(err: unknown): boolean {
  const { code, errno } = (err ?? {}) as NodeJS.ErrnoException;
  return typeof errno === 'number' && typeof code === 'string';
}
