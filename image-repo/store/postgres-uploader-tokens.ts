// The uploader tokens on PostgreSQL (docs/threat-model.md HR-10), behaving as the SQLite token table
// (shared/server/token-table.ts) does: only each token's SHA-256 is stored, one active token per
// uploader name, revoked tokens kept so they answer token_revoked rather than unauthorized.
import { timingSafeEqual } from 'node:crypto';
import { ConflictError } from '../../shared/core/errors.js';
import { tokenDigest, tokenIdOf, tokenStatus } from '../../shared/server/access-tokens.js';
import { sqlState, UNIQUE_VIOLATION, type PostgresDatabase, type Queryable } from '../../shared/server/postgres.js';
import { storedGrantList, type UploaderGrant, type UploaderTokenRecord } from './uploader-tokens.js';

interface UploaderTokenRow {
  token_id: string;
  name: string;
  token_sha256: string;
  roles: string[] | null;
  paths: string[] | null;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
}

/** The first key of the advisory locks on uploader names (the second is the name's hash). */
const ADVISORY_LOCK_CLASS = 'uptane image uploader name';

const COLUMNS = 'token_id, name, token_sha256, roles, paths, created_at, expires_at, revoked_at';

// Times are TIMESTAMPTZ in PostgreSQL and ISO 8601 strings in the records, as SQLite gives them.
const iso = (time: Date | null): string | null => (time === null ? null : time.toISOString());

const toRecord = (row: UploaderTokenRow): UploaderTokenRecord => ({
  tokenId: row.token_id,
  name: row.name,
  roles: row.roles,
  paths: row.paths,
  createdAt: row.created_at.toISOString(),
  expiresAt: iso(row.expires_at),
  revokedAt: iso(row.revoked_at),
});

export class PostgresUploaderTokens {
  constructor(private readonly db: PostgresDatabase) {}

  /**
   * Stores a new token of `name`; ConflictError while `name` holds an active token. Two replicas
   * adding the same name at once are put in line by a transaction-level advisory lock on the name:
   * the second reads after the first commits (READ COMMITTED takes a fresh snapshot per statement),
   * finds its token and is refused. (SERIALIZABLE alone also refuses one, but its retries can keep
   * colliding under load until they run out, which would report a conflict as an outage.)
   */
  async add(name: string, token: string, now: Date, grant: UploaderGrant): Promise<string> {
    const tokenId = tokenIdOf(token);
    try {
      await this.db.transaction('read committed', async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [ADVISORY_LOCK_CLASS, name]);
        const held = await this.tokensOf(tx, name);
        if (held.some((t) => tokenStatus(t, now) === 'active')) throw new ConflictError(`uploader ${name} already exists`);
        await tx.query(`INSERT INTO uploader_tokens (${COLUMNS}) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, NULL)`, [
          tokenId,
          name,
          tokenDigest(token),
          storedGrantList(grant.roles),
          storedGrantList(grant.paths),
          now,
          grant.expiresAt ?? null,
        ]);
      });
    } catch (err) {
      // The same token stored twice (its id or digest taken): a conflict, not a database fault.
      if (sqlState(err) === UNIQUE_VIOLATION) throw new ConflictError(`token ${tokenId} is already stored`, { cause: err });
      throw err;
    }
    return tokenId;
  }

  async byToken(token: string): Promise<UploaderTokenRecord | undefined> {
    const digest = tokenDigest(token);
    const [row] = await this.db.query<UploaderTokenRow>(`SELECT ${COLUMNS} FROM uploader_tokens WHERE token_sha256 = $1`, [digest]);
    // The index lookup already matched; the constant-time comparison keeps timing out of the verdict.
    if (row === undefined || !timingSafeEqual(Buffer.from(row.token_sha256), Buffer.from(digest))) return undefined;
    return toRecord(row);
  }

  async tokens(): Promise<UploaderTokenRecord[]> {
    return (await this.db.query<UploaderTokenRow>(`SELECT ${COLUMNS} FROM uploader_tokens ORDER BY created_at, token_id`)).map(toRecord);
  }

  async revoke(tokenId: string, now: Date): Promise<boolean> {
    const rows = await this.db.query('UPDATE uploader_tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL RETURNING token_id', [now, tokenId]);
    return rows.length > 0;
  }

  /** Revokes every token of `name` in one statement; the ids revoked, oldest first. */
  async remove(name: string, now: Date): Promise<string[]> {
    const rows = await this.db.query<{ token_id: string }>(
      `WITH revoked AS (
         UPDATE uploader_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL RETURNING token_id, created_at
       )
       SELECT token_id FROM revoked ORDER BY created_at, token_id`,
      [now, name],
    );
    return rows.map((row) => row.token_id);
  }

  private async tokensOf(tx: Queryable, name: string): Promise<UploaderTokenRecord[]> {
    return (await tx.query<UploaderTokenRow>(`SELECT ${COLUMNS} FROM uploader_tokens WHERE name = $1 ORDER BY created_at, token_id`, [name])).map(toRecord);
  }
}
