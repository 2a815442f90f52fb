// Request bodies on the Director: read with a hard cap, refused as soon as they pass it, and never
// read at all for a request already refused. A refused request's connection is closed rather than
// drained, so an anonymous or oversized upload costs the server its headers, not its body
// (docs/threat-model.md HR-3).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { BadRequestError } from '../shared/core/errors.js';
import { hasBody, readCappedBody } from '../shared/server/http-body.js';
import { closeAfterAnswer } from '../shared/server/http-server.js';

/**
 * Before answering a request whose body was not read to its end: the connection ends after the
 * answer instead of node:http reading the rest of the body to reuse it (closeAfterAnswer).
 */
export function closeIfUnread(req: IncomingMessage, res: ServerResponse): void {
  if (hasBody(req) && !res.headersSent) closeAfterAnswer(req, res);
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
