// A pool of worker threads for CPU work a server must not do on its event loop (signature
// verification: docs/decisions.md "Signature verification on every core"), with a bounded number of
// jobs held at once. piscina runs the threads: it keeps them busy, replaces one that dies (failing
// the jobs it held), and lets idle threads keep no process alive (unref). On top of it, this module
// adds what a server needs: backpressure as a typed error before anything is held, the death of a
// thread as a typed fault, and a way to load the worker module from the TypeScript sources (tests).
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { ServerBusyError, WorkerFailedError } from '../core/errors.js';

export interface WorkerPoolOptions {
  /** Worker threads (default: the cores this process may use, os.availableParallelism()). */
  readonly threads: number;
  /** Jobs waiting for a thread beyond those running; one more is refused with ServerBusyError. */
  readonly maxQueue: number;
  /** Retry-After of a job refused at the cap, or failed with its thread. */
  readonly busyRetryAfterSeconds: number;
  /** An idle thread exits after this long, and is started again on demand. */
  readonly idleTimeoutMs: number;
  /** Handed to every thread as node:worker_threads' workerData (a structured-clone-safe value). */
  readonly workerData?: unknown;
}

/** Jobs per thread that may wait: enough to keep every thread busy between event-loop turns, no more. */
export const DEFAULT_QUEUED_JOBS_PER_THREAD = 32;

export function defaultWorkerPoolOptions(threads = availableParallelism()): WorkerPoolOptions {
  return { threads, maxQueue: threads * DEFAULT_QUEUED_JOBS_PER_THREAD, busyRetryAfterSeconds: 1, idleTimeoutMs: 60_000 };
}

/**
 * Runs a worker module's default export on jobs. `workerModule` is the compiled module's URL; when
 * only its TypeScript source exists (the code runs from sources, as under jest), the threads load
 * the source with Node's type transform and a resolver that maps the sources' `.js` imports to their
 * `.ts` files, so the threads run the very code the tests run.
 */
export class WorkerPool<Job, Result> {
  private readonly pool: Piscina<Job, Result>;
  private readonly options: WorkerPoolOptions;
  private held = 0;
  private closed = false;

  constructor(
    workerModule: URL,
    private readonly what: string,
    options: Partial<WorkerPoolOptions> = {},
  ) {
    this.options = { ...defaultWorkerPoolOptions(options.threads), ...options };
    if (!Number.isSafeInteger(this.options.threads) || this.options.threads < 1) throw new RangeError(`${what}: threads must be a positive integer, got ${this.options.threads}`);
    if (!Number.isSafeInteger(this.options.maxQueue) || this.options.maxQueue < 0) throw new RangeError(`${what}: maxQueue must be an integer >= 0, got ${this.options.maxQueue}`);
    const { filename, execArgv } = loadableWorker(workerModule);
    this.pool = new Piscina<Job, Result>({
      filename,
      execArgv,
      // Threads start with the first jobs, not with the server: a Director that never receives a
      // manifest (a CLI command, most tests) starts none, and a thread that died is replaced on demand.
      minThreads: 0,
      maxThreads: this.options.threads,
      idleTimeout: this.options.idleTimeoutMs,
      // The cap is enforced below, before a job holds anything; this is only a backstop.
      maxQueue: this.options.maxQueue + this.options.threads,
      recordTiming: false,
      workerData: this.options.workerData,
    });
    // A thread that dies with no job is replaced by piscina; nothing is waiting on it to be told.
    this.pool.on('error', () => undefined);
  }

  /** Jobs running or waiting now. */
  get jobsHeld(): number {
    return this.held;
  }

  /** The pool's live threads (for tests and statistics). */
  get threadCount(): number {
    return this.pool.threads.length;
  }

  /**
   * Runs `job` on a thread. Refuses it at once with ServerBusyError when the threads are busy and
   * the queue is full; rejects with WorkerFailedError when its thread died (it is replaced) or the
   * pool closed; otherwise with what the worker threw. `transfer` moves buffers the job holds to
   * the thread instead of copying them (the caller must not use them afterwards).
   */
  async run(job: Job, transfer: ArrayBuffer[] = []): Promise<Result> {
    const { threads, maxQueue, busyRetryAfterSeconds } = this.options;
    if (this.closed) throw new WorkerFailedError(`${this.what}: the worker pool is closed`, busyRetryAfterSeconds);
    if (this.held >= threads + maxQueue) {
      throw new ServerBusyError(`${this.what}: ${this.held} jobs are running or waiting, the limit; retry in ${busyRetryAfterSeconds} s`, busyRetryAfterSeconds);
    }
    this.held++;
    try {
      return await this.pool.run(job, { transferList: transfer });
    } catch (err) {
      // piscina rejects with a plain Error when the job's thread exited or the pool was destroyed;
      // a job's own failure is whatever the worker threw, which the worker modules here never do.
      throw new WorkerFailedError(`${this.what}: the worker thread stopped before answering`, busyRetryAfterSeconds, { cause: err });
    } finally {
      this.held--;
    }
  }

  /** Ends every thread; jobs still waiting fail with WorkerFailedError. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.destroy();
  }
}

/**
 * Node's options for a thread that loads a TypeScript source: types transformed (parameter
 * properties included, which strip-only mode refuses), and `.js` imports resolved to the `.ts` beside
 * them when no compiled file exists.
 */
const SOURCE_RESOLVER = `
import { registerHooks } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
registerHooks({
  resolve(specifier, context, next) {
    const parent = context.parentURL;
    if (parent !== undefined && parent.startsWith('file:') && parent.endsWith('.ts') && /^\\.\\.?\\//.test(specifier) && specifier.endsWith('.js')) {
      const url = new URL(specifier, parent);
      if (!existsSync(fileURLToPath(url))) return next(url.href.slice(0, -3) + '.ts', context);
    }
    return next(specifier, context);
  },
});
`;

function loadableWorker(workerModule: URL): { filename: string; execArgv: string[] } {
  const compiled = fileURLToPath(workerModule);
  if (existsSync(compiled) || !compiled.endsWith('.js')) return { filename: compiled, execArgv: [] };
  const source = `${compiled.slice(0, -3)}.ts`;
  if (!existsSync(source)) return { filename: compiled, execArgv: [] }; // piscina reports the missing module
  return {
    filename: source,
    execArgv: ['--experimental-transform-types', '--disable-warning=ExperimentalWarning', '--import', `data:text/javascript,${encodeURIComponent(SOURCE_RESOLVER)}`],
  };
}
