// The dashboard's one way to the Director: same-origin fetches that carry the session cookie, the
// CSRF token on every state-changing request, and errors as values the pages can show. A route the
// Director does not have yet (404 no route) becomes NotAvailable, so a page renders "not available"
// instead of failing. The answers' types are the operator API's own (director-repo/api/operator-api.ts),
// imported as types only: nothing of the server is bundled.
import type { DashboardSession } from '../../director-repo/api/operator-api.js';

export type Session = DashboardSession;

/** A refusal from the Director, with its error code and message as sent. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The route answered 404 without naming a thing: the Director does not offer it (yet). */
export class NotAvailable extends ApiError {}

let csrfToken = '';
let onSignedOut: () => void = () => undefined;

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** Called when the Director answers 401 to a signed-in request (expired or revoked session). */
export function whenSignedOut(callback: () => void): void {
  onSignedOut = callback;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrfToken;
  const response = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(response.status, 'not_json', `the Director answered ${response.status} with something other than JSON`);
  }
  if (response.ok) return json as T;
  const error = (json as { error?: { code?: string; message?: string } }).error ?? {};
  const code = error.code ?? 'error';
  const message = error.message ?? `HTTP ${response.status}`;
  if (response.status === 401 && !path.startsWith('/ui/api/session')) onSignedOut();
  if (response.status === 404 && /^no route /.test(message)) throw new NotAvailable(404, code, message);
  throw new ApiError(response.status, code, message);
}

/** A query string from the defined, non-empty values. */
export function query(values: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) if (value !== undefined && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

export const enc = encodeURIComponent;
