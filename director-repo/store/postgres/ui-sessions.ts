// Signed-out dashboard sessions on PostgreSQL (../ui-sessions.ts; schema.ts migration 5), shared by
// the replicas: a cookie signed out on one is refused by all.
import type { PostgresDatabase } from '../../../shared/server/postgres.js';
import type { UiSessionRevocations } from '../ui-sessions.js';
import { num, run } from './sql.js';

export class PostgresUiSessionRevocations implements UiSessionRevocations {
  constructor(private readonly db: PostgresDatabase) {}

  revoke(sessionId: string, expiresAt: Date, now: Date, pruneLimit: number): Promise<void> {
    return this.db.transaction('read committed', async (tx) => {
      await run(tx, 'DELETE FROM ui_session_revocations WHERE session_id IN (SELECT session_id FROM ui_session_revocations WHERE expires_ms < $1 ORDER BY expires_ms LIMIT $2)', [now.getTime(), pruneLimit]);
      await run(tx, 'INSERT INTO ui_session_revocations (session_id, expires_ms) VALUES ($1, $2) ON CONFLICT (session_id) DO NOTHING', [sessionId, expiresAt.getTime()]);
    });
  }

  async isRevoked(sessionId: string): Promise<boolean> {
    return (await run(this.db, 'SELECT 1 FROM ui_session_revocations WHERE session_id = $1', [sessionId])).length > 0;
  }

  async count(): Promise<number> {
    const [row] = await run<{ n: string }>(this.db, 'SELECT count(*) AS n FROM ui_session_revocations');
    return num(row!.n);
  }
}
