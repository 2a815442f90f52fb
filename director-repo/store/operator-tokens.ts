// Operator tokens (docs/threat-model.md HR-10): managed on the Director host by `uptane director
// operator`, looked up by the operator API's bearer check (shared/server/token-auth.ts). Every
// operation is a promise, as a network database (PostgreSQL) answers, like the Image repository's
// uploader tokens (image-repo/store/uploader-tokens.ts).
import type { StoredTokenState } from '../../shared/server/access-tokens.js';

export type OperatorScope = 'read' | 'operator' | 'admin';
export const OPERATOR_SCOPES: readonly OperatorScope[] = ['read', 'operator', 'admin'];

/** An operator token as stored (its SHA-256 aside). */
export interface OperatorTokenRecord extends StoredTokenState {
  readonly scope: OperatorScope;
}

export interface OperatorTokenStore {
  /**
   * Stores a new token of operator `name` (its SHA-256 only) and returns its token id. Refused with
   * ConflictError while `name` holds an active token: one live credential per person or bot, so
   * revoking by name ends their access. Without options the token is admin and never expires (test
   * fixtures, the demo); `uptane director operator add` always passes both.
   */
  addOperator(name: string, token: string, now: Date, options?: { scope?: OperatorScope; expiresAt?: Date | null }): Promise<string>;
  /** The stored token `token` hashes to, whatever its state (the caller checks expiry and revocation). */
  operatorToken(token: string): Promise<OperatorTokenRecord | undefined>;
  /** The stored token with this public id, whatever its state (dashboard sessions name their token by id). */
  operatorTokenById(tokenId: string): Promise<OperatorTokenRecord | undefined>;
  /** Every operator token, revoked and expired ones included, oldest first. */
  operatorTokens(): Promise<OperatorTokenRecord[]>;
  /** Revokes one token; false when there is no such token or it was already revoked. */
  revokeOperatorToken(tokenId: string, now: Date): Promise<boolean>;
  /** Revokes every token of operator `name`; the token ids revoked (none: no such operator). */
  removeOperator(name: string, now: Date): Promise<string[]>;
  /** Audits a token change made on the host (actor `cli`), in the same log as the services'. */
  audit(actor: string, action: string, details: unknown, now: Date): Promise<void>;
}
