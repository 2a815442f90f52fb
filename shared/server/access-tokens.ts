// Operator and uploader bearer tokens (docs/threat-model.md HR-10): how they are made, their public
// id, how long they live, and the verdict on a stored token at a given time. Both repositories store
// only the token's SHA-256. The token id is the first 12 hex digits of that digest, so it can be
// named from any presented token (failure logs) and from a stored digest (schema migrations)
// without holding the token; with 256 random bits per token it tells nothing about the secret.
import { createHash, randomBytes } from 'node:crypto';
import { TokenExpiredError, TokenRevokedError } from '../core/errors.js';

export const TOKEN_ID_LENGTH = 12;
/** Lifetime of a new token unless --expires says otherwise. */
export const DEFAULT_TOKEN_LIFETIME = '90d';
/** Longest lifetime --expires accepts as a duration; longer means `never`, said explicitly. */
const MAX_LIFETIME_DAYS = 3650;
/** Bearer tokens longer than this are not hashed or looked up (ours are 43 characters). */
const MAX_TOKEN_LENGTH = 256;

/** A new token: 32 random bytes, base64url (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The public id of a token: the first 12 hex digits of its SHA-256. */
export function tokenIdOf(token: string): string {
  return tokenDigest(token).slice(0, TOKEN_ID_LENGTH);
}

export const isTokenId = (text: string): boolean => new RegExp(`^[0-9a-f]{${TOKEN_ID_LENGTH}}$`).test(text);

/** The token of an `Authorization: Bearer <token>` header, or undefined when there is none. */
export function bearerToken(header: string | undefined): string | undefined {
  const token = /^Bearer (\S+)$/.exec(header ?? '')?.[1];
  return token === undefined || token.length > MAX_TOKEN_LENGTH ? undefined : token;
}

/**
 * When a token made at `now` expires: `90d`, `12h`, `30m`, or `never` (no expiry, only when asked
 * for by name). Throws Error with the accepted forms otherwise.
 */
export function parseExpiry(text: string, now: Date): Date | null {
  if (text === 'never') return null;
  const match = /^([1-9]\d{0,5})([dhm])$/.exec(text);
  const unitMs = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;
  const ms = match === null ? NaN : Number(match[1]) * unitMs[match[2] as keyof typeof unitMs];
  if (!(ms > 0) || ms > MAX_LIFETIME_DAYS * unitMs.d) {
    throw new Error(`--expires ${JSON.stringify(text)}: give a lifetime such as 90d, 12h or 30m (up to ${MAX_LIFETIME_DAYS}d), or never`);
  }
  return new Date(now.getTime() + ms);
}

/** What both repositories store about a token, besides its digest. */
export interface StoredTokenState {
  readonly tokenId: string;
  readonly name: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
}

export type TokenStatus = 'active' | 'expired' | 'revoked';

export function tokenStatus(token: StoredTokenState, now: Date): TokenStatus {
  if (token.revokedAt !== null) return 'revoked';
  if (token.expiresAt !== null && Date.parse(token.expiresAt) <= now.getTime()) return 'expired';
  return 'active';
}

/**
 * Throws TokenRevokedError or TokenExpiredError for a token that may no longer be used; the message
 * names the token by id and owner and says what to do (`renew`: the command that makes a new one).
 */
export function checkTokenUsable(kind: 'operator' | 'uploader', token: StoredTokenState, now: Date, renew: string): void {
  const status = tokenStatus(token, now);
  if (status === 'revoked') {
    throw new TokenRevokedError(`${kind} token ${token.tokenId} (${token.name}) was revoked at ${token.revokedAt}; ask for a new one (${renew})`);
  }
  if (status === 'expired') {
    throw new TokenExpiredError(`${kind} token ${token.tokenId} (${token.name}) expired at ${token.expiresAt}; ask for a new one (${renew})`);
  }
}
