// Async units of work on one synchronous SQLite connection. The connection has one transaction at a
// time, and a unit of work awaits between its statements, so other requests' operations could run
// inside it (and be rolled back with it). The gate holds them back until the unit ends; with no unit
// open, an operation runs at once, as the plain better-sqlite3 call it is.
import { AsyncResource } from 'node:async_hooks';
import type { Db } from '../../../shared/server/sqlite.js';

/** The synchronous shape of a store interface: what the SQLite classes implement. */
export type Synchronous<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never };

/** Runs one operation and hands its outcome over as a promise. */
export type Runner = <R>(op: () => R) => Promise<R>;

function settle<R>(op: () => R): Promise<R> {
  try {
    return Promise.resolve(op());
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

export class TransactionGate {
  private open = false;
  private readonly waiting: Array<() => void> = [];
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      begin: db.prepare('BEGIN'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT unit_of_work'),
      release: db.prepare('RELEASE unit_of_work'),
      rollbackTo: db.prepare('ROLLBACK TO unit_of_work'),
    };
  }

  /** Runs `op` outside any unit of work: now, or once the open one ended (in the caller's async context). */
  readonly outside: Runner = (op) => {
    if (!this.open) return settle(op);
    return new Promise((resolve, reject) => this.waiting.push(AsyncResource.bind(() => void settle(op).then(resolve, reject))));
  };

  /** Runs `op` inside the open unit of work; refused once that ended (a handle kept too long). */
  readonly inside: Runner = (op) => (this.open ? settle(op) : Promise.reject(new Error('a unit of work’s store handle was used after the unit ended')));

  /**
   * Runs `work` in a transaction of its own. On a connection a SQLite-specific caller already holds
   * a transaction on (bench figure 5 registers 500 vehicles per commit), it is a savepoint inside it.
   */
  async unitOfWork<T>(work: () => Promise<T>): Promise<T> {
    if (this.open) await new Promise<void>((resolve) => this.waiting.push(() => ((this.open = true), resolve())));
    else this.open = true;
    const nested = this.db.inTransaction;
    try {
      (nested ? this.s.savepoint : this.s.begin).run();
      const result = await work();
      (nested ? this.s.release : this.s.commit).run();
      return result;
    } catch (err) {
      if (nested) {
        this.s.rollbackTo.run();
        this.s.release.run();
      } else if (this.db.inTransaction) this.s.rollback.run();
      throw err;
    } finally {
      this.open = false;
      // In arrival order, until one of them opens a unit of work again.
      while (!this.open && this.waiting.length > 0) this.waiting.shift()!();
    }
  }
}

/** The promise-returning view of a synchronous SQLite class, each call run by `run`. */
export function asyncView<T>(part: Synchronous<T>, run: Runner): T {
  const view: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(part) as object)) {
    const method = (part as Record<string, unknown>)[name];
    if (name === 'constructor' || typeof method !== 'function') continue;
    view[name] = (...args: unknown[]) => run(() => (method as (...a: unknown[]) => unknown).apply(part, args));
  }
  return view as T;
}
