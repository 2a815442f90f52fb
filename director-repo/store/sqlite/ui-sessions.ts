// Signed-out dashboard sessions on SQLite (../ui-sessions.ts; schema.ts migration 11).
import type { Db } from '../../../shared/server/sqlite.js';
import type { UiSessionRevocations } from '../ui-sessions.js';
import type { Synchronous } from './transaction-gate.js';

export class SqliteUiSessionRevocations implements Synchronous<UiSessionRevocations> {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      prune: db.prepare<[number, number]>('DELETE FROM ui_session_revocations WHERE session_id IN (SELECT session_id FROM ui_session_revocations WHERE expires_ms < ? ORDER BY expires_ms LIMIT ?)'),
      insert: db.prepare<[string, number]>('INSERT INTO ui_session_revocations (session_id, expires_ms) VALUES (?, ?) ON CONFLICT (session_id) DO NOTHING'),
      find: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM ui_session_revocations WHERE session_id = ?'),
      count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM ui_session_revocations'),
    };
  }

  revoke(sessionId: string, expiresAt: Date, now: Date, pruneLimit: number): void {
    this.db.transaction(() => {
      this.s.prune.run(now.getTime(), pruneLimit);
      this.s.insert.run(sessionId, expiresAt.getTime());
    })();
  }

  isRevoked(sessionId: string): boolean {
    return this.s.find.get(sessionId) !== undefined;
  }

  count(): number {
    return this.s.count.get()!.n;
  }
}
