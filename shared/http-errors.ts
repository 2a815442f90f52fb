// The one place where error classes become HTTP statuses (STYLE.md 5). Every error leaves as JSON
// {"error": {"code", "message"}}; no stack trace ever leaves the process.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Response } from 'express';
import {
  AuthenticationError,
  ConflictError,
  NotFoundError,
  DelegationError,
  ImageTooLargeError,
  InsufficientScopeError,
  MissingImageError,
  OfflineKeyOnServerError,
  RepositoryStateError,
  RollbackError,
  TooManyAttemptsError,
  UptaneError,
  VersionMismatchError,
} from './errors.js';

function statusFor(err: UptaneError): number {
  if (err instanceof AuthenticationError) return 401;
  if (err instanceof InsufficientScopeError) return 403;
  if (err instanceof TooManyAttemptsError) return 429;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  if (err instanceof ImageTooLargeError) return 413;
  if (err instanceof RollbackError || err instanceof VersionMismatchError || err instanceof RepositoryStateError) return 409;
  if (err instanceof MissingImageError || err instanceof DelegationError) return 422;
  if (err instanceof OfflineKeyOnServerError) return 500;
  return 400; // every other typed error is a verdict on the request's content
}

/** Express's own errors (body too large, malformed body) carry a status and a type. */
interface HttpLikeError {
  status?: number;
  statusCode?: number;
  type?: string;
  message?: string;
}

export function sendError(res: Response, err: unknown): void;
export function sendError(res: Response, status: number, code: string, message: string): void;
export function sendError(res: Response, errOrStatus: unknown, code?: string, message?: string): void {
  if (typeof errOrStatus === 'number') {
    res.status(errOrStatus).json({ error: { code, message } });
    return;
  }
  const { status, body } = errorResponse(errOrStatus);
  res.status(status).json(body);
}

/** The status and JSON body an error leaves with. */
export function errorResponse(err: unknown): { status: number; body: { error: { code: string; message: string } } } {
  if (err instanceof UptaneError) return { status: statusFor(err), body: err.toJSON() };
  const http = err as HttpLikeError;
  const status = http.status ?? http.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const errorCode = http.type === 'entity.too.large' ? 'body_too_large' : 'bad_request';
    return { status, body: { error: { code: errorCode, message: http.message ?? 'bad request' } } };
  }
  // An unexpected failure: the details go to the server's log, never to the client.
  console.error('internal error:', err);
  return { status: 500, body: { error: { code: 'internal', message: 'internal server error' } } };
}

/** sendError for the hot routes served on plain node:http before express's router (same bytes out). */
export function sendRawError(res: ServerResponse, err: unknown): void {
  const { status, body } = errorResponse(err);
  sendRawJson(res, status, body);
}

export function sendRawJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * For the hot routes served before express's router: the decoded file name when `req` is a GET or
 * HEAD whose URL matches `pattern` (one capture group), else undefined, so express answers it
 * (malformed escapes included).
 */
export function matchFileRequest(req: IncomingMessage, pattern: RegExp): string | undefined {
  const match = req.method === 'GET' || req.method === 'HEAD' ? pattern.exec(req.url ?? '') : null;
  if (match === null) return undefined;
  try {
    return decodeURIComponent(match[1]!);
  } catch (err) {
    if (err instanceof URIError) return undefined;
    throw err;
  }
}
