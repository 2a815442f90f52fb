// Request bodies sent compressed (Content-Encoding gzip, deflate or br, one coding; RFC 9110
// §8.4.1). A body is inflated under the same cap as an uncompressed one, counted on the inflated
// bytes: a small body that inflates past it (a decompression bomb) costs the server no more than
// the cap before it answers 413 body_too_large (docs/threat-model.md HR-13). A coding the server
// does not inflate is refused with 415 unsupported_encoding before any body byte is read.
import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import { BadRequestError, BodyTooLargeError, UnsupportedEncodingError } from '../core/errors.js';

export type ContentCoding = 'identity' | 'gzip' | 'deflate' | 'br';

/** Each is node:zlib's own streaming inflater, stopped once its output passes maxOutputLength. */
const INFLATERS = { gzip: promisify(gunzip), deflate: promisify(inflate), br: promisify(brotliDecompress) } as const;

/** The coding `req`'s body is sent in; UnsupportedEncodingError for any other, or for more than one. */
export function contentCodingOf(req: IncomingMessage): ContentCoding {
  const header = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (header === '' || header === 'identity') return 'identity';
  if (header === 'gzip' || header === 'deflate' || header === 'br') return header;
  throw new UnsupportedEncodingError(
    `Content-Encoding ${JSON.stringify(header.slice(0, 40))} is not accepted: send the body uncompressed, or in one of gzip, deflate or br`,
  );
}

/**
 * `sent` inflated from `coding`: BodyTooLargeError as soon as the inflated bytes pass `maxBytes`,
 * BadRequestError when `sent` is not valid in that coding (corrupt or cut short).
 */
export async function inflateBody(sent: Buffer, coding: ContentCoding, maxBytes: number): Promise<Buffer> {
  if (coding === 'identity') return sent;
  try {
    return await INFLATERS[coding](sent, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new BodyTooLargeError(`request body inflates to more than ${maxBytes} bytes`);
    // zlib's and brotli's refusals of their input carry a numeric errno; anything else is not the body's fault.
    if (typeof (err as NodeJS.ErrnoException).errno === 'number') throw new BadRequestError(`the request body is not valid ${coding}: ${(err as Error).message}`);
    throw err;
  }
}
