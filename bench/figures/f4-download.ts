// Figure 4: image download and verification on a primary: MB/s for a large image streamed from the
// real Image repository server through RepositoryUpdater.downloadTarget (capped at the signed length,
// sha256 and sha512 computed while streaming, written and fsync'd), against reading and hashing the
// same file locally with digestFile; and peak memory for a small and a large image, which must not
// grow with the image size.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startBenchRepositories, type BenchContext } from '../lib/context.js';
import type { DownloadJob, DownloadMeasurement } from '../lib/download-worker.js';
import { runMeasurementWorker, writeRandomFile } from '../lib/files.js';
import { publishTargets, targetFor, uploadFile } from '../lib/publish.js';
import { overall, verdictOf, type Figure, type Row } from '../lib/report.js';
import { fmt, median, pct } from '../lib/stats.js';

const TARGET = 0.7;
const SMALL_MIB = 16;
/** Peak memory may differ by this much between the small and the large image (sampling noise). */
const MEMORY_SLACK_MIB = 16;

export async function figure4(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  const repos = await startBenchRepositories(ctx, 'f4');
  const notes: string[] = [];
  try {
    const large = ctx.settings.imageMiB;
    const sizes = [SMALL_MIB, large];
    const targets: Record<string, ReturnType<typeof targetFor>> = {};
    const images: Array<DownloadJob['images'][number]> = [];
    for (const mib of sizes) {
      const path = join(ctx.tmp, `f4-${mib}.bin`);
      writeRandomFile(path, mib);
      const blob = await uploadFile(repos, path);
      const name = `bench/f4-${mib}mib.bin`;
      targets[name] = targetFor(blob, ['tcu'], 1);
      images.push({ name, blobPath: join(repos.dataDir, 'image', 'blobs', blob.hashes.sha256), repetitions: 5 });
    }
    await publishTargets(repos, 1, targets);

    const job: DownloadJob = { imageRepoUrl: repos.image.url, imageRoot: repos.imageRoot, directory: join(ctx.tmp, 'f4-primary'), anchor: ctx.clock.anchor, images };
    const results = await runMeasurementWorker<DownloadJob, DownloadMeasurement>(new URL('../lib/download-worker.js', import.meta.url), job, 'figure 4 primary');
    const [small, big] = [results[0]!, results[1]!];
    const mbps = (m: DownloadMeasurement, seconds: readonly number[]) => m.bytes / 1e6 / median(seconds);
    // Each download ran right before a local hash of the same file: the ratio of each pair, then
    // the median, so that a change in the machine's load between runs does not skew it.
    const pairRatio = (m: DownloadMeasurement) => median(m.download.seconds.map((d, i) => m.local.seconds[i]! / d));
    const ratio = pairRatio(big);
    // The median run's peak, like the times: one run's peak can include buffers a garbage
    // collection had not yet returned, in either the server or the primary.
    const peak = (m: DownloadMeasurement['download'], key: 'rssMiB' | 'heapUsedMiB' | 'externalMiB') => median(m.memory.map((p) => p[key]));
    const grows = (key: 'rssMiB' | 'heapUsedMiB' | 'externalMiB') => peak(big.download, key) - peak(small.download, key);
    const rows: Row[] = [
      {
        label: `${large} MiB image: download + verify, MB/s`,
        value: fmt(mbps(big, big.download.seconds)),
        baseline: `${fmt(mbps(big, big.local.seconds))} MB/s`,
        ratio: pct(ratio),
        verdict: verdictOf(ratio >= TARGET),
      },
      {
        label: `${SMALL_MIB} MiB image: download + verify, MB/s`,
        value: fmt(mbps(small, small.download.seconds)),
        baseline: `${fmt(mbps(small, small.local.seconds))} MB/s`,
        ratio: pct(pairRatio(small)),
      },
      {
        label: `for comparison: the same HTTP stream only read / read and hashed inline on one thread (no file), MB/s`,
        value: `${fmt(big.bytes / 1e6 / median(big.transferSeconds))} / ${fmt(big.bytes / 1e6 / median(big.transferHashSeconds))}`,
        baseline: `${fmt(mbps(big, big.local.seconds))} MB/s`,
        ratio: `- / ${pct(median(big.local.seconds) / median(big.transferHashSeconds))}`,
      },
      {
        label: 'the disk alone: the same bytes written and made durable as downloadTarget does (datasync every 8 MiB, fsync), from memory, MB/s',
        value: fmt(big.bytes / 1e6 / median(big.diskSeconds)),
        baseline: `${fmt(mbps(big, big.local.seconds))} MB/s`,
        ratio: pct(median(big.local.seconds) / median(big.diskSeconds)),
      },
      ...(['rssMiB', 'heapUsedMiB', 'externalMiB'] as const).map((key) => ({
        label: `peak ${{ rssMiB: 'RSS (whole process)', heapUsedMiB: 'heap (primary thread)', externalMiB: 'Buffers outside the heap (primary thread)' }[key]} growth during download, ${SMALL_MIB} MiB vs ${large} MiB (median run; max)`,
        value: `${fmt(peak(small.download, key))} MiB vs ${fmt(peak(big.download, key))} MiB (${fmt(Math.max(...small.download.memory.map((p) => p[key])))} vs ${fmt(Math.max(...big.download.memory.map((p) => p[key])))})`,
        // RSS is the whole process, the Image repository server included, and the allocator keeps
        // freed pages for a while: reported, not judged. The primary's own memory is judged.
        ...(key === 'rssMiB' ? {} : { verdict: verdictOf(grows(key) <= MEMORY_SLACK_MIB) }),
      })),
      {
        label: 'peak RSS / heap growth of the local baseline (digestFile), median run',
        value: `${fmt(peak(big.local, 'rssMiB'))} / ${fmt(peak(big.local, 'heapUsedMiB'))} MiB`,
      },
    ];
    notes.push(
      `Medians of ${images[1]!.repetitions} runs per size, each download paired with a local hash of the same file right after it (ratio = median of the pairs). The primary runs in a worker thread, the Image repository server (image-repo/blob-sender.ts: four reused 1 MiB slabs) on the main thread; the image comes from the page cache on both sides, and the download also writes it and makes it durable (datasync every 8 MiB, fsync at the end), which the local baseline does not.`,
      'Images from 8 MiB up are hashed on a second thread (shared/client/parallel-hasher.ts): the primary\'s thread receives, copies each chunk into one of four 1 MiB slabs that move to the hashing thread and back, and writes the file, while the hashing thread computes sha256 and sha512. Inline, one thread both received from the socket and hashed, so neither overlapped the other: the comparison row hashes inline without even writing a file, and stayed at 65-83% of the local baseline between runs, which was the ceiling before; the download itself measured 53-68% (56% in the last full run before the change).',
      'The disk row writes the same number of bytes from memory and makes them durable the way downloadTarget does, with no network and no hashing: on this VM it runs at about the local hash\'s speed (91-117% of it in the first runs with this row), and the write-back competes with the server, the receiving thread and the hashing thread for 2 cores. A download must do all of it, so the ratio follows the disk and the load of the moment. Before the Image repository sent blobs from reused slabs: 54%, 60%, 73%, 56% and 59% in five full runs, 63-92% in runs of figure 4 alone; with the slabs, 83% and 93% in the next two full runs.',
      'Changes for this figure: the hashing thread (above; same-session runs before/after: 56-59% / 54-92%, median 75% of 14); downloadTarget writes each chunk synchronously (an awaited thread-pool write per 64 KiB chunk gave 38-45%); it datasyncs every 8 MiB in the thread pool while the download goes on, so the final fsync finds little left (A/B in one session: 68% and 54% with, 52% and 47% without); the Image repository reads blobs in 1 MiB pieces instead of 64 KiB, and then into four reused slabs instead of a new buffer per MiB (its thread\'s garbage collection during this figure: 1,362 ms in 385 collections before, 84 ms in 31 after; see the fixes table). Tried and dropped: gathering chunks into 1 MiB writev calls (no gain: 50-53% vs 51-57%); 16 slabs instead of 4 (no difference within the noise); sha256 inline on the download thread and only sha512 on the hashing thread (5 interleaved pairs: median 76% against 78% with both on the thread). The ratio moves by 15 points between runs on this shared host (the local baseline alone ranged 285-377 MB/s in one hour).',
      `Memory is sampled every 10 ms; RSS is the whole process (the server and the allocator's cached pages included), heap and Buffers are the primary thread's (the hashing thread's four slabs, 4 MiB whatever the image size, count in RSS only). "Must not grow" is read as: the large image's peak within ${MEMORY_SLACK_MIB} MiB of the small one's, in the median run; an image held whole would add 240 MiB. The verdict is on the primary thread's heap and Buffers; the whole process's RSS is reported only: it moved between 0 and 33 MiB for the same 256 MiB download across runs, and read 7.5 MiB for a 768 MiB image (BENCH_IMAGE_MIB=768: heap 1.2 vs 1 MiB, Buffers 32 vs 32.3 MiB), so it does not follow the image size. On Node 24 the Buffers row grew more than on Node 20 (median 36 vs 66-68 MiB for 16 vs 256 MiB, and 77 MiB for 768 MiB; the same at the commit that only moved to Node 24, before issue 14's changes): the received chunks' memory is freed when their small heap objects are collected, and Node 24's V8 collects its young generation less often. With \`--max-semi-space-size=8\` the same run gave 36 vs 42 MiB (PASS), so this is the collector's pace, not an image held: a memory-tight ECU can set that flag.`,
    );
    return {
      id: 4,
      title: 'Image download and verification on a primary',
      target: `>= ${pct(TARGET)} of baseline; peak memory independent of image size`,
      baselineIs: 'digestFile (sha256 + sha512, 1 MiB reads) of the same file, same thread',
      rows,
      verdict: overall(rows),
      notes,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await repos.close();
    for (const mib of [SMALL_MIB, ctx.settings.imageMiB]) rmSync(join(ctx.tmp, `f4-${mib}.bin`), { force: true });
    rmSync(join(ctx.tmp, 'f4-primary'), { recursive: true, force: true });
  }
}
