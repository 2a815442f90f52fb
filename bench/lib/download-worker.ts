// Figure 4's primary, in a worker thread (the repository server keeps the main thread): refreshes the
// Image repository metadata, then streams each image through RepositoryUpdater.downloadTarget
// (length-capped, sha256 + sha512, written and fsync'd), sampling memory meanwhile; and, as the
// baseline, hashes the same file locally with digestFile.
import { rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { digestFile } from '../../shared/client/file-hashing.js';
import { MultiHasher } from '../../shared/core/hashing.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { RepositoryUpdater } from '../../shared/client/updater.js';
import { RunningClock, type ClockAnchor } from './clock.js';
import { collectGarbage, sampleMemory, type MemoryPeaks } from './stats.js';

export interface DownloadJob {
  readonly imageRepoUrl: string;
  readonly imageRoot: Uint8Array;
  readonly directory: string;
  readonly anchor: ClockAnchor;
  readonly images: ReadonlyArray<{ readonly name: string; readonly blobPath: string; readonly repetitions: number }>;
}

export interface DownloadMeasurement {
  readonly name: string;
  readonly bytes: number;
  /** Seconds of each repetition; download i and local i ran back to back. */
  /** Per repetition: its time and its memory peaks (medians are taken, as for the times). */
  readonly download: { readonly seconds: readonly number[]; readonly memory: readonly MemoryPeaks[] };
  readonly local: { readonly seconds: readonly number[]; readonly memory: readonly MemoryPeaks[] };
  /** The same HTTP stream through HttpFetcher, only read, and read and hashed (no file written). */
  readonly transferSeconds: readonly number[];
  readonly transferHashSeconds: readonly number[];
  /** The same number of bytes written and made durable as downloadTarget does it, from memory (no network, no hashing). */
  readonly diskSeconds: readonly number[];
}

const job = workerData as DownloadJob;

async function main(): Promise<DownloadMeasurement[]> {
  const store = new FileMetadataStore(join(job.directory, 'metadata'));
  store.persist('root', job.imageRoot);
  const updater = new RepositoryUpdater({
    repository: 'image',
    metadataUrl: `${job.imageRepoUrl}/metadata`,
    targetsUrl: `${job.imageRepoUrl}/targets`,
    store,
    fetcher: new HttpFetcher(),
    clock: new RunningClock(job.anchor),
    backend: nodeBackend,
  });
  await updater.refresh();
  const results: DownloadMeasurement[] = [];
  for (const image of job.images) {
    const lookup = await updater.findTarget(image.name);
    const destination = join(job.directory, 'image.bin');
    let download: DownloadMeasurement['download'] = { seconds: [], memory: [] };
    let local: DownloadMeasurement['local'] = { seconds: [], memory: [] };
    const transferSeconds: number[] = [];
    const transferHashSeconds: number[] = [];
    const diskSeconds: number[] = [];
    const fetcher = new HttpFetcher();
    const stream = async (hash: boolean) => {
      const hasher = new MultiHasher(Object.keys(lookup.target.hashes));
      const t0 = performance.now();
      const { body } = await fetcher.fetch(updater.targetUrl(lookup), { maxBytes: lookup.target.length });
      for await (const chunk of body) if (hash) hasher.update(chunk);
      if (hash && !hasher.matches(lookup.target.hashes)) throw new Error('streamed image does not match its hashes');
      return (performance.now() - t0) / 1000;
    };
    for (let r = 0; r < image.repetitions; r++) {
      diskSeconds.push(await writeDurably(join(job.directory, 'disk.bin'), lookup.target.length));
      transferSeconds.push(await stream(false));
      transferHashSeconds.push(await stream(true));
      rmSync(destination, { force: true });
      collectGarbage();
      let sampler = sampleMemory();
      let t0 = performance.now();
      await updater.downloadTarget(lookup, destination);
      download = merge(download, (performance.now() - t0) / 1000, sampler.stop());
      rmSync(destination, { force: true });

      collectGarbage();
      sampler = sampleMemory();
      t0 = performance.now();
      const digest = await digestFile(image.blobPath);
      local = merge(local, (performance.now() - t0) / 1000, sampler.stop());
      if (digest.length !== lookup.target.length || digest.hashes.sha256 !== lookup.target.hashes.sha256) throw new Error('baseline digest differs from the signed target');
    }
    results.push({ name: image.name, bytes: lookup.target.length, download, local, transferSeconds, transferHashSeconds, diskSeconds });
  }
  return results;
}

/**
 * Seconds to write `bytes` and make them durable the way downloadTarget does (synchronous writes,
 * a datasync in the thread pool every 8 MiB while writing goes on, fsync at the end), from one
 * buffer in memory: what the disk alone costs the download in this run.
 */
async function writeDurably(path: string, bytes: number): Promise<number> {
  const buffer = Buffer.alloc(1024 * 1024, 0xa5);
  const file = await open(path, 'w');
  const t0 = performance.now();
  let pending: Promise<void> | undefined;
  let unflushed = 0;
  for (let done = 0; done < bytes; done += buffer.length) {
    const n = Math.min(buffer.length, bytes - done);
    for (let written = 0; written < n; ) written += writeSync(file.fd, buffer, written, n - written);
    unflushed += n;
    if (unflushed >= 8 * 1024 * 1024 && pending === undefined) {
      unflushed = 0;
      pending = file.datasync().then(() => {
        pending = undefined;
      });
    }
    await new Promise((resolve) => setImmediate(resolve)); // as the download yields between socket reads
  }
  await pending;
  await file.sync();
  const seconds = (performance.now() - t0) / 1000;
  await file.close();
  rmSync(path, { force: true });
  return seconds;
}

function merge(previous: DownloadMeasurement['download'], seconds: number, memory: MemoryPeaks): DownloadMeasurement['download'] {
  return { seconds: [...previous.seconds, seconds], memory: [...previous.memory, memory] };
}

main().then(
  (results) => parentPort!.postMessage({ results }),
  (err: unknown) => parentPort!.postMessage({ fatal: (err as Error).stack ?? String(err) }),
);
