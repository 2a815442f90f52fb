// Request bodies on both servers: read whole with a cap enforced as the bytes arrive, refused at
// once (413 body_too_large) when the declared or received length passes it, and a client that
// leaves mid-body told apart from a server fault (docs/threat-model.md HR-3).
import type { IncomingMessage } from 'node:http';
import { BadRequestError, BodyTooLargeError } from '../core/errors.js';

/** The client went away before its body was complete: nobody is left to answer, and it is no server fault. */
export class ClientGoneError extends Error {
  /** `bytesRead`: how much of the body had arrived, when the reader knows it. */
  constructor(readonly bytesRead?: number) {
    super(bytesRead === undefined ? 'client closed the connection before its body was complete' : `client closed the connection after ${bytesRead} body bytes`);
    this.name = 'ClientGoneError';
  }
}

/**
 * `err` as ClientGoneError when it is the failure of reading `req` because its client went away
 * (node:http's "aborted", ECONNRESET), else `err` unchanged.
 */
export function asClientGone(req: IncomingMessage, err: unknown): unknown {
  const gone = !req.complete && (req.socket.destroyed || (err as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET');
  return gone && !(err instanceof ClientGoneError) ? new ClientGoneError() : err;
}

/** Whether the request announces a body (a length above 0, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** True when the request declares a body longer than `maxBytes` (Content-Length). */
export function declaresMoreThan(req: IncomingMessage, maxBytes: number): boolean {
  const declared = req.headers['content-length'];
  return declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes;
}

/**
 * The body of `req`: BodyTooLargeError as soon as its declared or received length passes
 * `maxBytes` (what the client still sends is left unread; the caller closes the connection),
 * BadRequestError for a compressed body, ClientGoneError if the client goes away first.
 */
export function readCappedBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    return Promise.reject(new BadRequestError(`Content-Encoding ${encoding} is not accepted: send the body uncompressed`));
  }
  return readSentBody(req, maxBytes);
}

/**
 * The body of `req` as sent, whatever its Content-Encoding, capped like readCappedBody: for a
 * route that inflates what it reads itself (shared/server/compressed-body.ts).
 */
export function readSentBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = () => new BodyTooLargeError(`request body is larger than ${maxBytes} bytes`);
  if (declaresMoreThan(req, maxBytes)) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      outcome();
    };
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > maxBytes) {
        req.pause(); // nothing more is read: the answer closes the connection
        settle(() => reject(tooLarge()));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => settle(() => resolve(Buffer.concat(chunks, length))));
    // An IncomingMessage fails only when its connection ends before the body is complete.
    req.once('error', () => settle(() => reject(new ClientGoneError(length))));
    req.once('close', () => settle(() => reject(new ClientGoneError(length))));
  });
}
