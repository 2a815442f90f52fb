// Operator tokens on PostgreSQL (docs/threat-model.md HR-10): the same rules as the SQLite store's
// token table (shared/server/token-table.ts, which runs on better-sqlite3): only a token's SHA-256 is
// stored, one active token per operator name, revoked tokens kept so they answer token_revoked.
import { timingSafeEqual } from 'node:crypto';
import { ConflictError } from '../../../shared/core/errors.js';
import { tokenDigest, tokenIdOf, tokenStatus } from '../../../shared/server/access-tokens.js';
import type { PostgresDatabase, Queryable } from '../../../shared/server/postgres.js';
import type { OperatorScope, OperatorTokenRecord } from '../operator-tokens.js';
import { toOperatorToken, type OperatorTokenRow as RecordRow } from '../rows.js';
import { run } from './sql.js';

/** The stored row: the shared record columns and the token's digest, which never leaves this class. */
type OperatorTokenRow = RecordRow & { token_sha256: string };

const COLUMNS = 'token_id, name, token_sha256, scope, created_at, expires_at, revoked_at';

export class PostgresOperatorTokens {
  constructor(private readonly db: PostgresDatabase) {}

  /**
   * Stores a new token of `name`; ConflictError while `name` holds an active token. Two replicas (or
   * two `operator add` runs) adding the same name at once are serialised by a transaction-scoped
   * advisory lock on the name, so exactly one of them finds no active token.
   */
  async add(name: string, token: string, now: Date, scope: OperatorScope, expiresAt: Date | null): Promise<string> {
    const tokenId = tokenIdOf(token);
    await this.db.transaction('read committed', async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtext('operator_tokens:' || $1))", [name]);
      if ((await this.tokensOf(tx, name)).some((t) => tokenStatus(t, now) === 'active')) throw new ConflictError(`operator ${name} already exists`);
      await run(tx, 'INSERT INTO operator_tokens (token_id, name, token_sha256, scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        tokenId,
        name,
        tokenDigest(token),
        scope,
        now.toISOString(),
        expiresAt?.toISOString() ?? null,
      ]);
    });
    return tokenId;
  }

  /** The stored token `token` hashes to, whatever its state (the caller checks expiry and revocation). */
  async byToken(token: string): Promise<OperatorTokenRecord | undefined> {
    const digest = tokenDigest(token);
    const [row] = await this.db.query<OperatorTokenRow>(`SELECT ${COLUMNS} FROM operator_tokens WHERE token_sha256 = $1`, [digest]);
    // The index lookup already matched; the constant-time comparison keeps timing out of the verdict.
    if (row === undefined || !timingSafeEqual(Buffer.from(row.token_sha256), Buffer.from(digest))) return undefined;
    return toOperatorToken(row);
  }

  /** The stored token with this public id, whatever its state (a dashboard session names its token by id). */
  async byId(tokenId: string): Promise<OperatorTokenRecord | undefined> {
    const [row] = await this.db.query<OperatorTokenRow>(`SELECT ${COLUMNS} FROM operator_tokens WHERE token_id = $1`, [tokenId]);
    return row === undefined ? undefined : toOperatorToken(row);
  }

  /** Every token, revoked and expired ones included, oldest first. */
  async tokens(): Promise<OperatorTokenRecord[]> {
    return (await this.db.query<OperatorTokenRow>(`SELECT ${COLUMNS} FROM operator_tokens ORDER BY created_at, token_id`)).map(toOperatorToken);
  }

  /** Revokes one token; false when there is no such token or it was already revoked. */
  async revoke(tokenId: string, now: Date): Promise<boolean> {
    return (await this.db.query('UPDATE operator_tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL RETURNING token_id', [now.toISOString(), tokenId])).length > 0;
  }

  /** Revokes every token of `name` not yet revoked; their ids, oldest first (none: no such operator). */
  async remove(name: string, now: Date): Promise<string[]> {
    const rows = await this.db.query<{ token_id: string; created_at: string }>(
      'UPDATE operator_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL RETURNING token_id, created_at',
      [now.toISOString(), name],
    );
    return rows
      .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.token_id < b.token_id ? -1 : a.token_id > b.token_id ? 1 : 0))
      .map((r) => r.token_id);
  }

  private async tokensOf(q: Queryable, name: string): Promise<OperatorTokenRecord[]> {
    return (await run<OperatorTokenRow>(q, `SELECT ${COLUMNS} FROM operator_tokens WHERE name = $1 ORDER BY created_at, token_id`, [name])).map(toOperatorToken);
  }
}
