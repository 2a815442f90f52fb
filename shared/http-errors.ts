// The one place where error classes become HTTP statuses (STYLE.md 5). Every error leaves as JSON
// {"error": {"code", "message"}}; no stack trace ever leaves the process.
import type { Response } from 'express';
import {
  AuthenticationError,
  ConflictError,
  NotFoundError,
  DelegationError,
  ImageTooLargeError,
  MissingImageError,
  OfflineKeyOnServerError,
  RepositoryStateError,
  RollbackError,
  UptaneError,
  VersionMismatchError,
} from './errors.js';

function statusFor(err: UptaneError): number {
  if (err instanceof AuthenticationError) return 401;
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
  const err = errOrStatus;
  if (err instanceof UptaneError) {
    res.status(statusFor(err)).json(err.toJSON());
    return;
  }
  const http = err as HttpLikeError;
  const status = http.status ?? http.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const errorCode = http.type === 'entity.too.large' ? 'body_too_large' : 'bad_request';
    res.status(status).json({ error: { code: errorCode, message: http.message ?? 'bad request' } });
    return;
  }
  // An unexpected failure: the details go to the server's log, never to the client.
  console.error('internal error:', err);
  res.status(500).json({ error: { code: 'internal', message: 'internal server error' } });
}
