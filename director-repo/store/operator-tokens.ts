// Operator tokens (docs/threat-model.md HR-10): managed on the Director host by `uptane director
// operator`, looked up by the operator API's bearer check. Synchronous for now, like the token
// check (shared/server/token-auth.ts) and the token CLI (shared/cli/token-cli.ts) that the Image
// repository shares.
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
  addOperator(name: string, token: string, now: Date, options?: { scope?: OperatorScope; expiresAt?: Date | null }): string;
  /** The stored token `token` hashes to, whatever its state (the caller checks expiry and revocation). */
  operatorToken(token: string): OperatorTokenRecord | undefined;
  /** Every operator token, revoked and expired ones included, oldest first. */
  operatorTokens(): OperatorTokenRecord[];
  /** Revokes one token; false when there is no such token or it was already revoked. */
  revokeOperatorToken(tokenId: string, now: Date): boolean;
  /** Revokes every token of operator `name`; the token ids revoked (none: no such operator). */
  removeOperator(name: string, now: Date): string[];
  /** Audits a token change made on the host (actor `cli`), in the same log as the services'. */
  audit(actor: string, action: string, details: unknown, now: Date): void;
}
