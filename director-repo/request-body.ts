// Request bodies on the Director: read with a hard cap, refused as soon as they pass it, and never
// read at all for a request already refused. A refused request's connection is closed rather than
// drained, so an anonymous or oversized upload costs the server its headers, not its body
// (docs/threat-model.md HR-3).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { BadRequestError, BodyTooLargeError } from '../shared/errors.js';

/** The client went away before its body was complete: nobody is left to answer, and it is no server fault. */
export class ClientGoneError extends Error {
  constructor(readonly bytesRead: number) {
    super(`client closed the connection after ${bytesRead} body bytes`);
    this.name = 'ClientGoneError';
  }
}

/** Whether the request announces a body (a length above 0, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * Before answering a request whose body was not read to its end: ends the connection after the answer
 * (Connection: close) instead of letting node:http read the rest of the body to reuse it.
 */
export function closeIfUnread(req: IncomingMessage, res: ServerResponse): void {
  if (hasBody(req) && !req.readableEnded && !res.headersSent) res.setHeader('Connection', 'close');
}

/**
 * The request body; BodyTooLargeError as soon as the declared length or the bytes received pass
 * `maxBytes` (reading stops there); ClientGoneError if the client goes away first.
 */
export function readCappedBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = () => new BodyTooLargeError(`request body is larger than ${maxBytes} bytes`);
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > maxBytes) {
      reject(tooLarge());
      return;
    }
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
        // Nothing more is read: the answer closes the connection (closeIfUnread).
        req.pause();
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

/**
 * Express middleware: `req.body` becomes the body as a Buffer (`kind` 'raw'), or parsed JSON when the
 * request says it is JSON (`kind` 'json'; other types leave it undefined, as express.json does), read
 * with readCappedBody. Replaces express.json and express.raw, which answer an oversized body only
 * after reading all of it.
 */
export function cappedBody(kind: 'json' | 'raw', maxBytes: number): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (!hasBody(req) || (kind === 'json' && !isJson(req))) {
      next();
      return;
    }
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      next(new BadRequestError(`request bodies are taken uncompressed, not as ${encoding}`));
      return;
    }
    readCappedBody(req, maxBytes).then((body) => {
      if (kind === 'raw') {
        req.body = body;
        next();
        return;
      }
      try {
        req.body = JSON.parse(body.toString('utf8')) as unknown;
      } catch (err) {
        next(new BadRequestError(`the request body is not valid JSON: ${(err as Error).message}`));
        return;
      }
      next();
    }, next);
  };
}

function isJson(req: IncomingMessage): boolean {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}
