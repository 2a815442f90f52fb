// The newest signed-request time the Director accepted from each primary ECU key, kept in its
// database (table signed_request_marks, schema.ts) so that a restart, which forgets the nonces seen,
// still refuses every header accepted before it (docs/threat-model.md HR-9a). NonceCache
// (shared/uptane/vehicle-auth.ts) decides what to accept; this only reads and writes the marks.
import type { Db } from '../../../shared/server/sqlite.js';
import type { SignedRequestMarks } from '../../../shared/uptane/vehicle-auth.js';
import type { Runner } from './transaction-gate.js';

export class SqliteSignedRequestMarks implements SignedRequestMarks {
  private readonly s;

  /** `run`: the transaction gate's `outside`, so a mark never joins (and rolls back with) a unit of work. */
  constructor(private readonly db: Db, private readonly run: Runner) {
    this.s = {
      newest: db.prepare<[string], { newest_ms: number }>('SELECT newest_ms FROM signed_request_marks WHERE keyid = ?'),
      // Never lowers a mark, whatever order two writers come in.
      record: db.prepare(
        `INSERT INTO signed_request_marks (keyid, newest_ms) VALUES (?, ?)
           ON CONFLICT (keyid) DO UPDATE SET newest_ms = max(newest_ms, excluded.newest_ms)`,
      ),
    };
  }

  newest(keyid: string): Promise<number | undefined> {
    return this.run(() => this.s.newest.get(keyid)?.newest_ms);
  }

  /**
   * One statement, committed without an fsync of its own (synchronous=NORMAL for it alone, the
   * connection's level restored after): about 0.08 ms here instead of 2 ms, and NonceCache asks at most once a second per key (request times
   * are whole seconds); a vehicle with a session signs one request per session. The mark is in the
   * WAL once this resolves, so it survives the process ending, a crash included; a power cut can
   * lose the marks written since the last fsynced commit (every manifest's), a fraction of a second
   * on a Director that vehicles keep busy.
   */
  record(keyid: string, timeMs: number): Promise<void> {
    return this.run(() => this.write(keyid, timeMs));
  }

  private write(keyid: string, timeMs: number): void {
    // The level cannot change inside a transaction (one a benchmark opened on the connection itself);
    // there, the write simply commits with it.
    if (this.db.inTransaction) {
      this.s.record.run(keyid, timeMs);
      return;
    }
    const level = this.db.pragma('synchronous', { simple: true }) as number;
    this.db.pragma('synchronous = NORMAL');
    try {
      this.s.record.run(keyid, timeMs);
    } finally {
      this.db.pragma(`synchronous = ${level}`);
    }
  }
}
