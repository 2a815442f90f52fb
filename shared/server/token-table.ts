// The SQL both repositories run on their token table (docs/threat-model.md HR-10): add a token (its
// SHA-256 only), find one by a presented token, list them, revoke one or all of a name. The tables
// share their columns (token_id, name, token_sha256, created_at, expires_at, revoked_at); what a token
// may do (`grantColumns`: the Director's scope, the Image repository's roles and paths) and how a row
// becomes a record are each repository's own, as are the migrations that make the table.
import { timingSafeEqual } from 'node:crypto';
import { tokenDigest, tokenIdOf, tokenStatus, type StoredTokenState } from './access-tokens.js';
import { ConflictError } from '../core/errors.js';
import type { Db } from './sqlite.js';

export class TokenTable<R extends StoredTokenState, Row> {
  private readonly s;

  /** `table` and `grantColumns` are the repository's own constants, never input. */
  constructor(
    private readonly db: Db,
    private readonly kind: 'operator' | 'uploader',
    table: string,
    grantColumns: readonly string[],
    private readonly toRecord: (row: Row) => R,
  ) {
    const columns = ['token_id', 'name', 'token_sha256', ...grantColumns, 'created_at', 'expires_at'];
    this.s = {
      add: db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`),
      byDigest: db.prepare(`SELECT * FROM ${table} WHERE token_sha256 = ?`),
      byId: db.prepare(`SELECT * FROM ${table} WHERE token_id = ?`),
      tokensOf: db.prepare(`SELECT * FROM ${table} WHERE name = ? ORDER BY created_at, token_id`),
      tokens: db.prepare(`SELECT * FROM ${table} ORDER BY created_at, token_id`),
      revoke: db.prepare(`UPDATE ${table} SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL`),
    };
  }

  /**
   * Stores a new token of `name` with its `grant` (values of the grant columns, in their order) and
   * returns its token id. Refused with ConflictError while `name` holds an active token: one live
   * credential per person or bot, so revoking by name ends their access.
   */
  add(name: string, token: string, now: Date, grant: readonly unknown[], expiresAt: Date | null): string {
    const tokenId = tokenIdOf(token);
    this.db.transaction(() => {
      if (this.tokensOf(name).some((t) => tokenStatus(t, now) === 'active')) throw new ConflictError(`${this.kind} ${name} already exists`);
      this.s.add.run(tokenId, name, tokenDigest(token), ...grant, now.toISOString(), expiresAt?.toISOString() ?? null);
    })();
    return tokenId;
  }

  /** The stored token `token` hashes to, whatever its state (the caller checks expiry and revocation). */
  byToken(token: string): R | undefined {
    const digest = tokenDigest(token);
    const row = this.s.byDigest.get(digest) as (Row & { token_sha256: string }) | undefined;
    // The index lookup already matched; the constant-time comparison keeps timing out of the verdict.
    if (row === undefined || !timingSafeEqual(Buffer.from(row.token_sha256), Buffer.from(digest))) return undefined;
    return this.toRecord(row);
  }

  /** The stored token with this public id, whatever its state (a dashboard session names its token by id). */
  byId(tokenId: string): R | undefined {
    const row = this.s.byId.get(tokenId) as Row | undefined;
    return row === undefined ? undefined : this.toRecord(row);
  }

  private tokensOf(name: string): R[] {
    return (this.s.tokensOf.all(name) as Row[]).map(this.toRecord);
  }

  /** Every token, revoked and expired ones included, oldest first. */
  tokens(): R[] {
    return (this.s.tokens.all() as Row[]).map(this.toRecord);
  }

  /** Revokes one token; false when there is no such token or it was already revoked. */
  revoke(tokenId: string, now: Date): boolean {
    return this.s.revoke.run(now.toISOString(), tokenId).changes > 0;
  }

  /** Revokes every token of `name`; the token ids revoked (none: no such name). */
  remove(name: string, now: Date): string[] {
    return this.db.transaction(() => this.tokensOf(name).filter((t) => this.revoke(t.tokenId, now)).map((t) => t.tokenId))();
  }
}
