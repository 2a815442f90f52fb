// Uploader credentials (docs/threat-model.md HR-10): only each token's SHA-256 is stored, with the
// roles and image paths it may publish, its expiry and its revocation.
import type { StoredTokenState } from '../../shared/server/access-tokens.js';

/** An uploader token as stored (its SHA-256 aside). `roles` and `paths` are null when unrestricted. */
export interface UploaderTokenRecord extends StoredTokenState {
  readonly roles: readonly string[] | null;
  readonly paths: readonly string[] | null;
}

/** What a new token may do and until when; each left out (or null) means any role, any path, never expires. */
export interface UploaderGrant {
  readonly roles?: readonly string[] | null;
  readonly paths?: readonly string[] | null;
  readonly expiresAt?: Date | null;
}

/**
 * A grant's `roles` or `paths` as both stores keep it, JSON text (SQLite TEXT, PostgreSQL JSONB):
 * null (any) stays apart from an empty list (none).
 */
export const storedGrantList = (values: readonly string[] | null | undefined): string | null => (values === undefined || values === null ? null : JSON.stringify(values));

export interface UploaderTokenStore {
  /**
   * Stores a new token of uploader `name` (its SHA-256 only) and returns its token id. Refused with
   * ConflictError while `name` holds an active token. Without a grant the token may publish every
   * role and path and never expires (test fixtures, the demo); `uptane image uploader add` always
   * passes an expiry.
   */
  addUploader(name: string, token: string, now: Date, grant?: UploaderGrant): Promise<string>;
  /** The stored token `token` hashes to, whatever its state (the caller checks expiry and revocation). */
  uploaderToken(token: string): Promise<UploaderTokenRecord | undefined>;
  /** Every uploader token, revoked and expired ones included, oldest first. */
  uploaderTokens(): Promise<UploaderTokenRecord[]>;
  /** Revokes one token; false when there is no such token or it was already revoked. */
  revokeUploaderToken(tokenId: string, now: Date): Promise<boolean>;
  /** Revokes every token of uploader `name`; the token ids revoked (none: no such uploader). */
  removeUploader(name: string, now: Date): Promise<string[]>;
}
