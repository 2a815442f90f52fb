// The nonces of signed requests every replica has accepted (migration 2), so that NonceCache
// (shared/uptane/vehicle-auth.ts) refuses, at any replica, a header another one accepted. One
// statement per claim, in a transaction of its own: the primary key decides between two replicas
// claiming the same nonce at once (the second waits for the first's row, then finds it taken).
import type { PostgresDatabase } from '../../../shared/server/postgres.js';
import type { SignedRequestNonces } from '../replicas.js';

export class PostgresSignedRequestNonces implements SignedRequestNonces {
  constructor(private readonly db: PostgresDatabase) {}

  /** A row left expired (not yet pruned) is taken over: its nonce is acceptable again, as in memory. */
  async claim(keyid: string, nonce: string, expiresMs: number, nowMs: number): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO signed_request_nonces (keyid, nonce, expires_ms) VALUES ($1, $2, $3)
       ON CONFLICT (keyid, nonce) DO UPDATE SET expires_ms = excluded.expires_ms WHERE signed_request_nonces.expires_ms <= $4
       RETURNING 1 AS claimed`,
      [keyid, nonce, expiresMs, nowMs],
    );
    return rows.length === 1;
  }

  /** Oldest expiries first, at most `limit` rows: one short statement however large the backlog. */
  async prune(nowMs: number, limit: number): Promise<number> {
    const rows = await this.db.query(
      `DELETE FROM signed_request_nonces WHERE (keyid, nonce) IN (
         SELECT keyid, nonce FROM signed_request_nonces WHERE expires_ms <= $1 ORDER BY expires_ms LIMIT $2
       ) RETURNING 1`,
      [nowMs, limit],
    );
    return rows.length;
  }
}
