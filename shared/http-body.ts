// Reading a request body whole, with a cap that is enforced as the bytes arrive: a body past the
// cap is refused at once (413 body_too_large) without reading the rest (docs/threat-model.md HR-3).
import type { IncomingMessage } from 'node:http';
import { BadRequestError } from './errors.js';

/** The refusal of an oversized body, in the shape express's own body parsers use (status 413, body_too_large). */
export function bodyTooLarge(maxBytes: number): Error {
  return Object.assign(new Error(`request body is larger than ${maxBytes} bytes`), { status: 413, type: 'entity.too.large' });
}

/** True when the request declares a body longer than `maxBytes` (Content-Length). */
export function declaresMoreThan(req: IncomingMessage, maxBytes: number): boolean {
  const declared = req.headers['content-length'];
  return declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes;
}

/**
 * The body of `req`, rejected with bodyTooLarge as soon as its declared or received length passes
 * `maxBytes`; what the client still sends is left unread (the caller closes the connection).
 */
export function readCappedBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    return Promise.reject(new BadRequestError(`Content-Encoding ${encoding} is not accepted: send the body uncompressed`));
  }
  if (declaresMoreThan(req, maxBytes)) return Promise.reject(bodyTooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > maxBytes) {
        cleanup();
        req.pause();
        reject(bodyTooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, length));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
