// Browser sessions of the web dashboard (docs/dashboard.md): an operator token, sent once, is
// exchanged for an HttpOnly, SameSite=Strict cookie, so no script of the page ever holds the token.
// Stateless like vehicle sessions (vehicle-sessions.ts): the cookie is base64url(claims).MAC under a
// key derived from the Director's session secret, so every replica accepts it and nothing is stored
// per open session. The claims name the operator token, not its secret: every request looks the token
// up again, so revoking the token (or its expiry) ends every browser session made with it. Signing out
// records the session's id in the store until the cookie would expire (store/ui-sessions.ts), so a
// copy of the cookie taken before stops working on every replica too.
//
// Writes need CSRF proof on top of SameSite: an X-CSRF-Token header equal to a second MAC of the
// cookie's claims (a page of another origin cannot read it, the cookie alone does not give it), and an
// Origin (or, without one, a Referer), when the browser sends one, equal to the Director's public
// origin: the configured one (--public-origin), else the scheme and Host of the request.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';
import { AuthenticationError, BadRequestError } from '../../shared/core/errors.js';
import type { Clock } from '../../shared/core/clock.js';
import { checkTokenUsable, isTokenId } from '../../shared/server/access-tokens.js';
import type { FailedAuthThrottle } from '../../shared/server/auth-throttle.js';
import { sendError } from '../../shared/server/http-errors.js';
import { bearerAuth } from '../../shared/server/token-auth.js';
import { cappedBody, closeIfUnread } from '../request-body.js';
import type { DashboardSession } from '../api/operator-api.js';
import type { OperatorScope, OperatorTokenRecord, OperatorTokenStore } from '../store/operator-tokens.js';
import { REVOCATION_PRUNE_BATCH, type UiSessionRevocations } from '../store/ui-sessions.js';

export const UI_COOKIE = 'uptane_ui';
/** Longest a browser session lives, whatever the token's own expiry (never beyond it). */
export const DEFAULT_UI_SESSION_MS = 8 * 60 * 60 * 1000;
/** The sign-in body is one token: anything longer is refused before it is parsed. */
const SIGN_IN_MAX_BYTES = 1024;
/** Longest cookie value looked at (ours stay under 200 characters). */
const MAX_COOKIE_LENGTH = 512;
const COOKIE_VALUE = /^([A-Za-z0-9_-]{1,400})\.([A-Za-z0-9_-]{43})$/;
const SCOPES: readonly OperatorScope[] = ['read', 'operator', 'admin'];
const RENEW = 'sign in again with an operator token (POST /ui/api/session)';

export interface UiSessionClaims {
  /** The operator token's public id. */
  readonly tokenId: string;
  readonly scope: OperatorScope;
  /** ms since the epoch. */
  readonly expires: number;
  /** Random, so two sign-ins get different cookies and CSRF tokens; what a sign-out revokes. */
  readonly sessionId: string;
}


/** The cookie's MAC and the CSRF token's, under keys derived from one secret. */
export class UiSessionCookies {
  private readonly cookieKey: Buffer;
  private readonly csrfKey: Buffer;

  /**
   * `secret`: the replicas' shared one (session-secret.ts), or none for one process alone (a random
   * one: a restart ends every browser session). Derived keys, so the dashboard's MACs can never be
   * taken for a vehicle session token made under the same secret.
   */
  constructor(secret: Uint8Array = randomBytes(32)) {
    if (secret.length < 32) throw new RangeError('a session secret has at least 32 bytes');
    this.cookieKey = createHmac('sha256', secret).update('uptane dashboard cookie v1').digest();
    this.csrfKey = createHmac('sha256', secret).update('uptane dashboard csrf v1').digest();
  }

  issue(claims: Omit<UiSessionClaims, 'sessionId'>): { cookie: string; claims: UiSessionClaims } {
    const full: UiSessionClaims = { ...claims, sessionId: randomBytes(12).toString('base64url') };
    const payload = Buffer.from(JSON.stringify({ t: full.tokenId, s: full.scope, e: full.expires, n: full.sessionId })).toString('base64url');
    return { cookie: `${payload}.${mac(this.cookieKey, payload)}`, claims: full };
  }

  /** The claims of a cookie this Director issued, unexpired at `nowMs`; AuthenticationError otherwise. */
  verify(cookie: string, nowMs: number): UiSessionClaims {
    const match = cookie.length <= MAX_COOKIE_LENGTH ? COOKIE_VALUE.exec(cookie) : null;
    if (match === null) throw new AuthenticationError(`malformed dashboard session cookie: ${RENEW}`);
    const payload = match[1]!;
    if (!timingSafeEqual(Buffer.from(mac(this.cookieKey, payload), 'latin1'), Buffer.from(match[2]!, 'latin1'))) {
      throw new AuthenticationError(`dashboard session cookie not issued by this Director (altered, or from before a restart or a change of its session secret): ${RENEW}`);
    }
    const claims = parseClaims(payload);
    if (claims.expires <= nowMs) throw new AuthenticationError(`dashboard session expired at ${new Date(claims.expires).toISOString()}: ${RENEW}`);
    return claims;
  }

  /** The session's CSRF token: a MAC of its claims, so any replica derives it and none stores it. */
  csrfToken(claims: UiSessionClaims): string {
    return mac(this.csrfKey, `${claims.tokenId}.${claims.expires}.${claims.sessionId}`);
  }

  csrfMatches(claims: UiSessionClaims, presented: string | undefined): boolean {
    if (presented === undefined || presented.length !== 43) return false;
    return timingSafeEqual(Buffer.from(this.csrfToken(claims), 'latin1'), Buffer.from(presented, 'latin1'));
  }
}

const mac = (key: Buffer, text: string) => createHmac('sha256', key).update(text, 'latin1').digest('base64url');

function parseClaims(payload: string): UiSessionClaims {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
  }
  const c = value as { t?: unknown; s?: unknown; e?: unknown; n?: unknown } | null | undefined;
  if (
    typeof c !== 'object' || c === null ||
    typeof c.t !== 'string' || !isTokenId(c.t) ||
    typeof c.s !== 'string' || !SCOPES.includes(c.s as OperatorScope) ||
    typeof c.e !== 'number' || !Number.isSafeInteger(c.e) ||
    typeof c.n !== 'string' || c.n.length === 0 || c.n.length > 32
  ) {
    throw new AuthenticationError(`malformed dashboard session cookie: ${RENEW}`);
  }
  return { tokenId: c.t, scope: c.s as OperatorScope, expires: c.e, sessionId: c.n };
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Whether a request comes with the dashboard's cookie and no bearer token (the cookie path). */
export const usesUiCookie = (req: IncomingMessage): boolean => req.headers.authorization === undefined && cookieValue(req.headers.cookie, UI_COOKIE) !== undefined;

/** Scheme and host of the Director as this request reached it, what a same-origin page's Origin is. */
export function ownOrigin(req: IncomingMessage): string {
  const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
  return `${secure ? 'https' : 'http'}://${req.headers.host ?? ''}`;
}

/**
 * The origin (scheme://host[:port]) of `--public-origin`, the address operators' browsers use, or
 * an Error saying what to give instead. A path, query or credentials in it are refused rather than
 * dropped: the operator meant something else.
 */
export function parsePublicOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`--public-origin ${JSON.stringify(text.slice(0, 200))}: not a URL; give the dashboard's address as browsers see it, e.g. https://director.example.com`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new Error(`--public-origin ${JSON.stringify(text.slice(0, 200))}: give only a scheme and host (and port), e.g. https://director.example.com`);
  }
  return url.origin;
}

export interface UiSessionContext {
  readonly cookies: UiSessionCookies;
  readonly tokens: Pick<OperatorTokenStore, 'operatorToken'> & { operatorTokenById(tokenId: string): Promise<OperatorTokenRecord | undefined> };
  /** Sessions signed out (store/ui-sessions.ts), shared by the replicas. */
  readonly revocations: UiSessionRevocations;
  readonly clock: Clock;
  readonly throttle: FailedAuthThrottle;
  readonly log?: ((line: string) => void) | undefined;
  /**
   * The origin operators' browsers reach the Director at (parsePublicOrigin), which a write's Origin
   * must equal. Undefined: the scheme and Host of each request, which a proxy that rewrites or passes
   * on an attacker's Host makes unreliable (docs/dashboard.md).
   */
  readonly publicOrigin?: string | undefined;
}

export type CookieRequest = Request & { uiSession?: UiSessionClaims; uiToken?: OperatorTokenRecord };

/**
 * The cookie path of the operator check: the cookie's MAC and expiry, then its operator token as
 * stored now (unexpired, unrevoked), each failure counted against the client address like a wrong
 * bearer token; then, for anything but GET and HEAD, the CSRF header and the Origin (403 csrf_refused,
 * answered here: nothing after runs, nothing is audited). On success `req.uiToken` is the token, for
 * the scope check that follows as with a bearer token.
 */
export function cookieAuth(context: UiSessionContext): RequestHandler {
  const { cookies, tokens, clock, throttle, log } = context;
  return async (req: CookieRequest, res: Response, next: NextFunction) => {
    const address = req.socket.remoteAddress;
    const wait = throttle.retryAfter(address);
    if (wait > 0) {
      res.setHeader('Retry-After', String(wait));
      closeIfUnread(req, res);
      sendError(res, 429, 'too_many_attempts', `too many failed operator authentications from this address; try again in ${wait} s`);
      return;
    }
    const cookie = cookieValue(req.headers.cookie, UI_COOKIE);
    if (cookie === undefined || cookie === '') {
      // No session at all (a page asking whether it is signed in): not a failed attempt.
      closeIfUnread(req, res);
      sendError(res, 401, 'unauthorized', `no dashboard session: ${RENEW}`);
      return;
    }
    let claims: UiSessionClaims;
    let token: OperatorTokenRecord;
    try {
      claims = cookies.verify(cookie, clock.now().getTime());
      if (await context.revocations.isRevoked(claims.sessionId)) throw new AuthenticationError(`this dashboard session was signed out: ${RENEW}`);
      const stored = await tokens.operatorTokenById(claims.tokenId);
      if (stored === undefined) throw new AuthenticationError(`the operator token of this dashboard session no longer exists: ${RENEW}`);
      checkTokenUsable('operator', stored, clock.now(), '`uptane director operator add NAME` on the Director host');
      token = stored;
    } catch (err) {
      if (!(err instanceof AuthenticationError)) {
        next(err);
        return;
      }
      const blocked = throttle.recordFailure(address);
      log?.(`dashboard session refused from ${address ?? 'an unknown address'}: ${err.code}${blocked ? `; this address is refused for ${throttle.retryAfter(address)} s` : ''}`);
      closeIfUnread(req, res);
      res.setHeader('Set-Cookie', clearedCookie(req, context.publicOrigin));
      sendError(res, err);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const refusal = csrfRefusal(cookies, claims, req, context.publicOrigin);
      if (refusal !== undefined) {
        log?.(`dashboard write refused from ${address ?? 'an unknown address'} (token id ${claims.tokenId}): ${refusal}`);
        closeIfUnread(req, res);
        sendError(res, 403, 'csrf_refused', refusal);
        return;
      }
    }
    req.uiSession = claims;
    req.uiToken = token;
    next();
  };
}

/**
 * Why a write with this session is refused as cross-site, or undefined when it may go on. The page
 * that sent it is named by Origin, or by Referer when a browser sends no Origin; neither is forged
 * by a browser, but Host is whatever the request (or a proxy before it) says, hence `publicOrigin`.
 */
function csrfRefusal(cookies: UiSessionCookies, claims: UiSessionClaims, req: IncomingMessage, publicOrigin: string | undefined): string | undefined {
  const header = req.headers['x-csrf-token'];
  if (!cookies.csrfMatches(claims, typeof header === 'string' ? header : undefined)) {
    return 'a write with the dashboard session cookie needs the X-CSRF-Token header the session answered (GET /ui/api/session)';
  }
  const expected = publicOrigin ?? ownOrigin(req);
  const origin = req.headers.origin;
  if (origin !== undefined) {
    return origin === expected ? undefined : `a write from origin ${JSON.stringify(origin.slice(0, 200))} is refused: only the Director's own pages (${expected}) may write`;
  }
  const referer = req.headers.referer;
  if (referer !== undefined && originOf(referer) !== expected) return `a write from page ${JSON.stringify(referer.slice(0, 200))} is refused: only the Director's own pages (${expected}) may write`;
  return undefined;
}

/** The origin of a Referer, or undefined when it is not an absolute URL. */
function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** `Secure` when the connection is TLS or the public origin is https (TLS ends at a proxy before the Director). */
function sessionCookie(req: IncomingMessage, value: string, maxAgeSeconds: number, publicOrigin: string | undefined): string {
  const secure = (req.socket as { encrypted?: boolean }).encrypted === true || publicOrigin?.startsWith('https:') === true ? '; Secure' : '';
  return `${UI_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}${secure}`;
}

const clearedCookie = (req: IncomingMessage, publicOrigin: string | undefined) => sessionCookie(req, '', 0, publicOrigin);

function answerOf(cookies: UiSessionCookies, claims: UiSessionClaims, token: OperatorTokenRecord): DashboardSession {
  return { operator: token.name, scope: token.scope, tokenId: token.tokenId, csrfToken: cookies.csrfToken(claims), expiresAt: new Date(claims.expires).toISOString() };
}

/**
 * POST, GET and DELETE /ui/api/session. Sign-in checks the token with the operator API's own bearer
 * check (throttle, expiry, revocation), fed the token from the body; the session lasts `lifetimeMs`
 * and never past the token's expiry.
 */
export function uiSessionRouter(context: UiSessionContext & { readonly lifetimeMs?: number }): express.Router {
  const { cookies, tokens, revocations, clock, throttle, log, publicOrigin, lifetimeMs = DEFAULT_UI_SESSION_MS } = context;
  const router = express.Router();
  const tokenCheck = bearerAuth<OperatorTokenRecord>({
    clock,
    throttle,
    log,
    kind: 'operator',
    lookup: (token) => tokens.operatorToken(token),
    unknownMessage: 'a valid operator token is required to sign in; create one with `uptane director operator add`',
    renew: '`uptane director operator add NAME` on the Director host',
    accept: (req: CookieRequest, _res, token, next) => {
      req.uiToken = token;
      next();
    },
  });

  router.post(
    '/session',
    cappedBody('json', SIGN_IN_MAX_BYTES),
    (req: Request, _res: Response, next: NextFunction) => {
      const body = req.body as { token?: unknown } | undefined;
      if (typeof body !== 'object' || body === null || Array.isArray(body) || typeof body.token !== 'string' || body.token.length === 0 || Object.keys(body).length !== 1) {
        next(new BadRequestError('sign in with a JSON body {"token": "<operator token>"} (Content-Type: application/json)'));
        return;
      }
      // The operator API's own check, exactly: it reads the token from this header.
      req.headers.authorization = `Bearer ${body.token}`;
      next();
    },
    tokenCheck,
    (req: CookieRequest, res: Response) => {
      const token = req.uiToken!;
      const now = clock.now().getTime();
      const expires = Math.min(now + lifetimeMs, token.expiresAt === null ? Infinity : Date.parse(token.expiresAt));
      const { cookie, claims } = cookies.issue({ tokenId: token.tokenId, scope: token.scope, expires });
      log?.(`dashboard session opened for ${token.name} (token id ${token.tokenId}) until ${new Date(expires).toISOString()}`);
      res.setHeader('Set-Cookie', sessionCookie(req, cookie, Math.max(0, Math.floor((expires - now) / 1000)), publicOrigin));
      res.setHeader('Cache-Control', 'no-store');
      res.status(200).json(answerOf(cookies, claims, token));
    },
  );

  const withCookie = cookieAuth(context);
  router.get('/session', withCookie, (req: CookieRequest, res: Response) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json(answerOf(cookies, req.uiSession!, req.uiToken!));
  });
  // Signing out records the session as revoked (every replica refuses a copy of the cookie from
  // then on) before clearing the browser's cookie; a failure to record it is the 500 it is, so the
  // operator never believes a session ended that did not.
  router.delete('/session', withCookie, async (req: CookieRequest, res: Response, next: NextFunction) => {
    closeIfUnread(req, res);
    const claims = req.uiSession!;
    try {
      await revocations.revoke(claims.sessionId, new Date(claims.expires), clock.now(), REVOCATION_PRUNE_BATCH);
    } catch (err) {
      next(err);
      return;
    }
    log?.(`dashboard session signed out for ${req.uiToken!.name} (token id ${claims.tokenId})`);
    res.setHeader('Set-Cookie', clearedCookie(req, publicOrigin));
    res.status(204).end();
  });
  return router;
}
