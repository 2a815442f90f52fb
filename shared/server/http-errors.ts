// The one place where error classes become HTTP statuses (docs/code-style.md R5). Every error
// leaves as JSON {"error": {"code", "message"}}; no stack trace ever leaves the process.
import type { ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import type { Response } from 'express';
import { escapeTerminalLines } from '../util/terminal-text.js';
import { ClientGoneError } from './http-body.js';
import {
  AuthenticationError,
  ClientCertificateMismatchError,
  ClientCertificateRequiredError,
  ConflictError,
  NotFoundError,
  DelegationError,
  GatewayUpstreamError,
  BodyTooLargeError,
  ImageTooLargeError,
  InsufficientScopeError,
  LogEntryMissingError,
  LogRangeError,
  LogWitnessUnknownError,
  LogWitnessPendingError,
  MissingImageError,
  OfflineKeyOnServerError,
  ProfileAssignmentRefusedError,
  ReadAccessDeniedError,
  RepositoryStateError,
  RetryLaterError,
  RollbackError,
  StorageError,
  TooManyAttemptsError,
  UnsupportedEncodingError,
  UptaneError,
  VersionMismatchError,
} from '../core/errors.js';

function statusFor(err: UptaneError): number {
  if (err instanceof AuthenticationError) return 401;
  if (err instanceof InsufficientScopeError) return 403;
  // A read without a credential, or with a signed URL that does not open it (docs/signed-urls.md).
  if (err instanceof ReadAccessDeniedError) return 403;
  // Mutual TLS: the connection's certificate does not open this vehicle's routes, whatever its session.
  if (err instanceof ClientCertificateRequiredError || err instanceof ClientCertificateMismatchError) return 403;
  if (err instanceof TooManyAttemptsError) return 429;
  // At a limit, the database down, a worker thread lost: retry after the Retry-After the error carries.
  if (err instanceof RetryLaterError) return 503;
  // The server's own disk or database failed: not a verdict on the request (docs/threat-model.md HR-9g).
  if (err instanceof StorageError) return 500;
  if (err instanceof NotFoundError) return 404;
  // Transparency log routes (docs/transparency-log.md "Server routes"): no entry with that leaf hash;
  // a range or size beyond what the log holds (416: the log cannot satisfy it yet, the request may be
  // right later); a cosignature under a key that is not a witness of this log.
  if (err instanceof LogEntryMissingError) return 404;
  // No head with that many cosignatures yet: the witnesses have not polled (a retry, not a verdict).
  if (err instanceof LogWitnessPendingError) return 404;
  if (err instanceof LogRangeError) return 416;
  if (err instanceof LogWitnessUnknownError) return 403;
  if (err instanceof ConflictError) return 409;
  if (err instanceof ImageTooLargeError || err instanceof BodyTooLargeError) return 413;
  if (err instanceof UnsupportedEncodingError) return 415;
  if (err instanceof RollbackError || err instanceof VersionMismatchError || err instanceof RepositoryStateError) return 409;
  if (err instanceof MissingImageError || err instanceof DelegationError) return 422;
  // A well-formed assignment the ECU's security profile does not allow (docs/security-profiles.md).
  if (err instanceof ProfileAssignmentRefusedError) return 422;
  if (err instanceof OfflineKeyOnServerError) return 500;
  // The caching gateway's repository failed it (gateway/): a bad gateway, in HTTP's words.
  if (err instanceof GatewayUpstreamError) return 502;
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
    sendRawJson(res, errOrStatus, { error: { code, message } });
    return;
  }
  sendRawError(res, errOrStatus);
}

export interface ErrorAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: { error: { code: string; message: string } };
}

/**
 * The status, headers and JSON body an error leaves with. A server-side failure (5xx) never says
 * more than its code: its message may name a file of the server's (docs/threat-model.md HR-9g), so
 * the details go to the server's log only.
 */
export function errorResponse(err: unknown): ErrorAnswer {
  if (err instanceof UptaneError) {
    const status = statusFor(err);
    const headers: Record<string, string> = {};
    const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === 'number' && Number.isFinite(retryAfter)) headers['Retry-After'] = String(Math.max(1, Math.ceil(retryAfter)));
    if (status === 500 && !(err instanceof OfflineKeyOnServerError)) {
      console.error(escapeTerminalLines(`${err.code} error: ${inspect(err)}`));
      return { status, headers, body: { error: { code: err.code, message: INTERNAL_MESSAGES[err.code] ?? 'internal server error' } } };
    }
    return { status, headers, body: err.toJSON() };
  }
  // The client left mid-body: nobody reads this answer, and it is no fault of the server's (HR-3).
  if (err instanceof ClientGoneError) return { status: 400, headers: {}, body: { error: { code: 'client_gone', message: err.message } } };
  const http = err as HttpLikeError;
  const status = http.status ?? http.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const errorCode = http.type === 'entity.too.large' ? 'body_too_large' : 'bad_request';
    return { status, headers: {}, body: { error: { code: errorCode, message: http.message ?? 'bad request' } } };
  }
  // An unexpected failure: the details go to the server's log, never to the client.
  // Escaped: the error may quote what a client sent, and this log is the operator's terminal (docs/threat-model.md HR-6).
  console.error(escapeTerminalLines(`internal error: ${inspect(err)}`));
  return { status: 500, headers: {}, body: { error: { code: 'internal', message: 'internal server error' } } };
}

const INTERNAL_MESSAGES: Readonly<Record<string, string>> = {
  storage: "the server could not read or write its storage; the details are in the server's log",
};

/** sendError for the hot routes served on plain node:http before express's router (same bytes out). */
export function sendRawError(res: ServerResponse, err: unknown): void {
  const { status, headers, body } = errorResponse(err);
  sendRawJson(res, status, body, headers);
}

/**
 * Answers `body` as JSON. When the status line already left (a failure mid-answer), all that can
 * still be said is a cut answer: the connection is closed instead of throwing from here.
 */
export function sendRawJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(withRequestId(res, body));
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * An error body with the request id the answer carries (X-Request-Id, set by observability.ts), so
 * the vehicle's or operator's report of the error names the server's log line.
 */
function withRequestId(res: ServerResponse, body: unknown): unknown {
  const requestId = res.getHeader('x-request-id');
  if (typeof requestId !== 'string') return body;
  const error = (body as { error?: unknown } | null)?.error;
  if (typeof error !== 'object' || error === null) return body;
  return { ...(body as object), error: { ...error, requestId } };
}
