// The newest signed-request time the Director accepted from each primary ECU key (docs/threat-model.md
// HR-9a), shared by every replica: a header one replica accepted is refused by all the others, and
// by any of them after a restart. NonceCache (shared/uptane/vehicle-auth.ts) decides what to accept.
import type { PostgresDatabase } from '../../../shared/server/postgres.js';
import type { SignedRequestMarks } from '../../../shared/uptane/vehicle-auth.js';
import { num } from './sql.js';

export class PostgresSignedRequestMarks implements SignedRequestMarks {
  constructor(private readonly db: PostgresDatabase) {}

  async newest(keyid: string): Promise<number | undefined> {
    const [row] = await this.db.query<{ newest_ms: string }>('SELECT newest_ms FROM signed_request_marks WHERE keyid = $1', [keyid]);
    return row === undefined ? undefined : num(row.newest_ms);
  }

  /**
   * Committed (durable) once this resolves. A mark never goes down, whatever order two replicas
   * write in: GREATEST keeps the newer time.
   */
  async record(keyid: string, timeMs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO signed_request_marks (keyid, newest_ms) VALUES ($1, $2)
       ON CONFLICT (keyid) DO UPDATE SET newest_ms = GREATEST(signed_request_marks.newest_ms, excluded.newest_ms)`,
      [keyid, timeMs],
    );
  }
}
