// Helpers the download figures share: a file of random bytes (nothing compresses or dedupes it), and
// a worker thread that runs a measurement job and posts back its results or its failure.
import { closeSync, openSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { Worker } from 'node:worker_threads';

export function writeRandomFile(path: string, mib: number): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.allocUnsafe(1024 * 1024);
  try {
    for (let i = 0; i < mib; i++) writeSync(fd, randomFillSync(chunk));
  } finally {
    closeSync(fd);
  }
}

/** Runs the worker module at `url` on `job`; it answers `{ results }` or `{ fatal }` once. */
export function runMeasurementWorker<Job, Result>(url: URL, job: Job, label: string): Promise<Result[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(url, { workerData: job });
    worker.once('message', (message: { results: Result[] } | { fatal: string }) => {
      void worker.terminate();
      if ('fatal' in message) reject(new Error(`${label} failed: ${message.fatal}`));
      else resolve(message.results);
    });
    worker.once('error', reject);
  });
}
