// Hashing a large download in a worker thread while the download thread goes on receiving and
// writing (bench figure 4). Inline, one thread both receives from the socket and computes sha256 and
// sha512, so neither overlaps the other; with two cores the hashes run beside the receiving.
//
// Bytes are copied into 1 MiB slabs that move to the hashing thread and back (transferred, never
// cloned), at most SLABS of them per download: memory stays a few MiB whatever the image size, and a
// download thread that gets ahead of the hashing waits for a slab to come back. One hashing thread
// serves the process, started on first use; it keeps the process alive only while a job runs.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { digestsMatch, MultiHasher, nodeAlgorithm, type HashAlgorithm } from '../core/hashing.js';
import { StorageError } from '../core/errors.js';

const SLAB_BYTES = 1024 * 1024;
const SLABS = 4;

/** A CommonJS script (an inline worker needs no file beside the compiled module, in tests or dist/). */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const jobs = new Map();
parentPort.on('message', (m) => {
  if (m.type === 'start') jobs.set(m.job, m.algorithms.map(([name, node]) => [name, createHash(node)]));
  else if (m.type === 'data') {
    const bytes = new Uint8Array(m.slab, 0, m.length);
    for (const [, hash] of jobs.get(m.job) ?? []) hash.update(bytes);
    parentPort.postMessage({ type: 'slab', job: m.job, slab: m.slab }, [m.slab]);
  } else if (m.type === 'drop') jobs.delete(m.job);
  else if (m.type === 'end') {
    const hashes = jobs.get(m.job) ?? [];
    jobs.delete(m.job);
    parentPort.postMessage({ type: 'digests', job: m.job, digests: Object.fromEntries(hashes.map(([a, h]) => [a, h.digest('hex')])) });
  }
});
`;

type Reply = { type: 'slab'; job: number; slab: ArrayBuffer } | { type: 'digests'; job: number; digests: Record<string, string> };

interface JobHandlers {
  slab(slab: ArrayBuffer): void;
  digests(digests: Record<string, string>): void;
  fail(err: Error): void;
}

let shared: { worker: Worker; jobs: Map<number, JobHandlers>; next: number } | undefined;

/** Adds or removes a job; the thread holds the process open exactly while it has one. */
function track(thread: NonNullable<typeof shared>, job: number, handlers?: JobHandlers): boolean {
  const had = thread.jobs.has(job);
  if (handlers !== undefined) thread.jobs.set(job, handlers);
  else thread.jobs.delete(job);
  if (thread.jobs.size === 0) thread.worker.unref();
  else thread.worker.ref();
  return had;
}

function hashingThread(): NonNullable<typeof shared> {
  if (shared !== undefined) return shared;
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  const thread = { worker, jobs: new Map<number, JobHandlers>(), next: 1 };
  worker.on('message', (reply: Reply) => {
    const job = thread.jobs.get(reply.job);
    if (job === undefined) return;
    if (reply.type === 'slab') job.slab(reply.slab);
    else job.digests(reply.digests);
  });
  const lost = (err: Error) => {
    if (shared === thread) shared = undefined;
    for (const job of thread.jobs.values()) job.fail(new StorageError(`the hashing thread stopped: ${err.message}`, { cause: err }));
    thread.jobs.clear();
  };
  worker.on('error', lost);
  worker.on('exit', (code) => lost(new Error(`exit code ${code}`)));
  // Only a running job keeps the process alive (see track).
  worker.unref();
  shared = thread;
  return thread;
}

/**
 * MultiHasher's job for one download, done on the hashing thread. `update` copies the chunk (the
 * caller may reuse it) and returns a promise only when it must wait for a slab; `matches` and
 * `digests` are asynchronous. Use a new one per download.
 */
export class ParallelHasher implements DownloadHasher {
  private readonly thread = hashingThread();
  private readonly job: number;
  private readonly free: ArrayBuffer[] = Array.from({ length: SLABS }, () => new ArrayBuffer(SLAB_BYTES));
  private slab: Uint8Array | undefined;
  private filled = 0;
  private slabReturned: (() => void) | undefined;
  private readonly result: Promise<Record<string, string>>;
  private failure: Error | undefined;

  constructor(readonly algorithms: readonly HashAlgorithm[]) {
    this.job = this.thread.next++;
    let settle!: { resolve: (d: Record<string, string>) => void; reject: (e: Error) => void };
    this.result = new Promise((resolve, reject) => (settle = { resolve, reject }));
    this.result.catch(() => undefined); // observed through update() and digests()
    track(this.thread, this.job, {
      slab: (slab) => {
        this.free.push(slab);
        this.slabReturned?.();
      },
      digests: (digests) => {
        track(this.thread, this.job);
        settle.resolve(digests);
      },
      fail: (err) => {
        this.failure = err;
        settle.reject(err);
        this.slabReturned?.();
      },
    });
    // The thread computes with node:crypto's names (blake2b is 'blake2b512' there) and answers with the TUF ones.
    this.thread.worker.postMessage({ type: 'start', job: this.job, algorithms: algorithms.map((a) => [a, nodeAlgorithm(a)]) });
  }

  update(chunk: Uint8Array): Promise<void> | undefined {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.failure !== undefined) throw this.failure;
      if (this.slab === undefined) {
        const buffer = this.free.pop();
        // Every slab is with the hashing thread: carry on once one is back.
        if (buffer === undefined) return this.slabBack().then(() => this.update(chunk.subarray(offset)));
        this.slab = new Uint8Array(buffer);
      }
      const n = Math.min(chunk.length - offset, SLAB_BYTES - this.filled);
      this.slab.set(chunk.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === SLAB_BYTES) this.send();
    }
    return undefined;
  }

  /** Hex digests of everything given to update, once the hashing thread has caught up. */
  async digests(): Promise<Record<string, string>> {
    if (this.filled > 0) this.send();
    this.thread.worker.postMessage({ type: 'end', job: this.job });
    return this.result;
  }

  /** Gives up this download's hashing (the download failed): its state in the thread is dropped. */
  abandon(): void {
    if (!track(this.thread, this.job)) return;
    this.thread.worker.postMessage({ type: 'drop', job: this.job });
  }

  /** True if every listed hash this client supports matches (as MultiHasher.matches). */
  async matches(expected: Readonly<Record<string, string>>): Promise<boolean> {
    return digestsMatch(await this.digests(), expected);
  }

  private send(): void {
    const slab = this.slab!.buffer as ArrayBuffer;
    this.thread.worker.postMessage({ type: 'data', job: this.job, slab, length: this.filled }, [slab]);
    this.slab = undefined;
    this.filled = 0;
  }

  private slabBack(): Promise<void> {
    return new Promise((resolve) => {
      this.slabReturned = () => {
        this.slabReturned = undefined;
        resolve();
      };
    });
  }
}

/** What downloadTarget hashes with: inline, or on the hashing thread. */
export interface DownloadHasher {
  /** A promise only when the caller must wait before the next chunk. */
  update(chunk: Uint8Array): Promise<void> | undefined;
  matches(expected: Readonly<Record<string, string>>): Promise<boolean>;
  /** The download failed: stop hashing it. */
  abandon(): void;
}

/**
 * The hasher for a download of `length` bytes: on the hashing thread from `threadMinBytes` up when
 * there is a second core to run it (a one-core ECU gains nothing from copying to another thread),
 * inline otherwise.
 */
export function downloadHasher(algorithms: readonly HashAlgorithm[], length: number, threadMinBytes: number): DownloadHasher {
  if (length >= threadMinBytes && availableParallelism() > 1) return new ParallelHasher(algorithms);
  const inline = new MultiHasher(algorithms);
  return {
    update: (chunk) => {
      inline.update(chunk);
      return undefined;
    },
    matches: async (expected) => inline.matches(expected),
    abandon: () => undefined,
  };
}
