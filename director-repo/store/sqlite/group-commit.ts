// Group commit: changes that arrive together share one SQLite transaction, so one fsync makes all of
// them durable. The Director fsyncs every commit (synchronous=FULL: an acknowledged manifest must
// survive a power cut), and one fsync costs about as much as checking a manifest's five signatures;
// committing each manifest alone halved the Director's intake (bench figure 1).
//
// Each piece of work runs in its own savepoint inside the shared transaction, so one that throws is
// rolled back alone and the others still commit. Every caller's promise settles only after the
// commit that holds its work, so nothing is acknowledged before it is durable.
import type { Database } from 'better-sqlite3';

interface Job {
  readonly work: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;

  /**
   * @param maxBatch most pieces of work in one transaction, which bounds how long the event loop is
   *   held (each manifest is a few signature checks) and how long the first caller waits.
   */
  constructor(private readonly db: Database, private readonly maxBatch = 64) {}

  /**
   * Queues `work` (synchronous, database changes only through `db`) for the next commit, which runs
   * once the current I/O callbacks are done: requests read in the same turn of the event loop share
   * it. Resolves with what `work` returned, or rejects with what it threw, after that commit.
   */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    // A unit of work holds the connection's transaction (transaction-gate.ts): the batch waits for
    // it to end rather than run inside it and share its rollback.
    if (this.db.inTransaction) {
      this.schedule();
      return;
    }
    const batch = this.queue.splice(0, this.maxBatch);
    if (this.queue.length > 0) this.schedule();
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }> = [];
    try {
      this.db.transaction(() => {
        for (const job of batch) {
          try {
            // A nested better-sqlite3 transaction is a savepoint: a failure undoes this work only.
            outcomes.push({ ok: true, value: this.db.transaction(job.work)() });
          } catch (err) {
            outcomes.push({ ok: false, err });
          }
        }
      })();
    } catch (err) {
      // The commit itself failed (disk full, I/O error): none of the batch is durable.
      for (const job of batch) job.reject(err);
      return;
    }
    batch.forEach((job, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.err);
    });
  }
}
