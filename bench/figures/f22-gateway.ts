// Figure 22: upstream bytes for a fleet updating through one caching gateway against going direct
// (issue 22 item 5; gateway/, docs/gateway.md). BENCH_FLEET_VEHICLES clients (1,000 by default)
// ask the way a vehicle's primary asks the Image repository in an update cycle, through the same
// HttpFetcher: the timestamp, the next root (a 404 in the root walk), the snapshot and targets the
// timestamp names, then their two images, a crowd of CROWD at a time. Once every client goes
// straight to the Image repository, once through one gateway; a counting proxy in front of the
// Image repository sees both, so "upstream" is measured, not derived. The target is one upstream
// download per image, however many vehicles. Director requests are not in it: the gateway passes
// each vehicle's through once, as going direct sends it (docs/gateway.md "Director").
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { FetchError, RemoteNotFoundError } from '../../shared/core/errors.js';
import { startGateway } from '../../gateway/server.js';
import { imagePathOf } from '../../gateway/prefetch.js';
import { startBenchRepositories, type BenchContext } from '../lib/context.js';
import { writeRandomFile } from '../lib/files.js';
import { publishTargets, targetFor, uploadFile } from '../lib/publish.js';
import { overall, verdictOf, type Figure, type Row } from '../lib/report.js';
import { fmt, mib, pct } from '../lib/stats.js';

const kib = (bytes: number) => `${fmt(bytes / 1024, 1)} KiB`;
/** A ratio that may be a thousandth: whole percents would print it as 0%. */
const share = (ratio: number) => (ratio >= 0.1 ? pct(ratio) : `${fmt(ratio * 100, 2)}%`);

/** Clients asking at once: a depot's morning, every vehicle switched on within minutes. */
const CROWD = 100;

/** Bytes and requests the Image repository answered, counted by a proxy in front of it. */
interface Counts {
  requests: number;
  /** Answered other than 200: the root walk's 404, and 503 when the repository's download slots are full. */
  refused: number;
  metadataBytes: number;
  imageBytes: number;
}

interface CountingProxy {
  readonly url: string;
  readonly counts: Counts;
  close(): Promise<void>;
}

/** A pass-through proxy in front of `upstream` that counts the answer bytes it forwards. */
async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const counts: Counts = { requests: 0, refused: 0, metadataBytes: 0, imageBytes: 0 };
  // A fresh connection upstream for each request: a kept-alive one the repository closes meanwhile
  // would cut a vehicle's answer, and the figure counts bytes, not connection reuse.
  const agent = new Agent({ keepAlive: false });
  const server: Server = createServer((req, res) => {
    counts.requests++;
    const image = (req.url ?? '').startsWith('/targets/');
    const headers = { ...req.headers };
    delete headers.host;
    const forwarded = request(`${upstream}${req.url ?? '/'}`, { method: req.method, headers, agent }, (answer: IncomingMessage) => {
      if (answer.statusCode !== 200) counts.refused++;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.on('data', (chunk: Buffer) => {
        if (image) counts.imageBytes += chunk.length;
        else counts.metadataBytes += chunk.length;
      });
      answer.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of body) n += chunk.length;
  return n;
}

/** One vehicle's reads of the Image repository in an update cycle; returns the bytes it received. */
async function cycleOf(fetcher: HttpFetcher, base: string, images: readonly string[]): Promise<number> {
  const maxBytes = 64 * 1024 * 1024;
  const read = async (path: string) => {
    const chunks: Buffer[] = [];
    for await (const chunk of (await fetcher.fetch(`${base}${path}`, { maxBytes })).body) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  };
  const timestamp = await read('/metadata/timestamp.json');
  let received = timestamp.length;
  try {
    received += (await read('/metadata/2.root.json')).length;
  } catch (err) {
    if (!(err instanceof RemoteNotFoundError)) throw err; // no newer root: the walk ends
  }
  const snapshotVersion = parseMetadata(timestamp, 'timestamp').signed.meta['snapshot.json'].version;
  const snapshot = await read(`/metadata/${snapshotVersion}.snapshot.json`);
  const targetsVersion = parseMetadata(snapshot, 'snapshot').signed.meta['targets.json']!.version;
  received += snapshot.length + (await read(`/metadata/${targetsVersion}.targets.json`)).length;
  for (const path of images) received += await drain((await fetcher.fetch(`${base}${path}`, { maxBytes })).body);
  return received;
}

/** A vehicle's cycle that failed on the way (a cut connection) is run again, as its next cycle would: at most this often. */
const MAX_RETRIES = 3;

/**
 * `vehicles` cycles, CROWD at a time, against `base`: the bytes the vehicles received in all (their
 * last, whole cycle each), cycles run again after a network failure, and seconds.
 */
async function crowd(base: string, vehicles: number, images: readonly string[]): Promise<{ received: number; retried: number; seconds: number }> {
  // The vehicles' limits, with a minute for an answer's headers and for silence: this figure counts
  // bytes, and on a shared two-core host a crowd of a hundred downloads may wait that long for a turn.
  const fetcher = new HttpFetcher({ speedGracePeriodMs: 2_000, minBytesPerSecond: 512, connectTimeoutMs: 60_000, idleTimeoutMs: 60_000 });
  const t0 = performance.now();
  let next = 0;
  let received = 0;
  let retried = 0;
  const cycle = async (): Promise<number> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await cycleOf(fetcher, base, images);
      } catch (err) {
        if (!(err instanceof FetchError) || attempt >= MAX_RETRIES) throw err;
        retried++;
      }
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(CROWD, vehicles) }, async () => {
        while (next < vehicles) {
          next++;
          const bytes = await cycle();
          received += bytes;
        }
      }),
    );
  } finally {
    fetcher.close();
  }
  return { received, retried, seconds: (performance.now() - t0) / 1000 };
}

export async function figure22(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  const vehicles = ctx.settings.fleetVehicles;
  const base = {
    id: 22,
    title: `upstream bytes for ${vehicles.toLocaleString('en')} vehicles updating through one caching gateway against going direct`,
    target: 'one upstream download per image through the gateway, however many vehicles',
    baselineIs: 'the same vehicles asking the Image repository directly, counted by the same proxy',
  };
  const repos = await startBenchRepositories(ctx, 'f22');
  const proxy = await startCountingProxy(repos.image.url);
  const notes: string[] = [];
  try {
    const files = [
      { name: 'bench/f22-ecu.bin', mib: 2, hardwareId: 'ecu-1' },
      { name: 'bench/f22-tcu.bin', mib: 1, hardwareId: 'tcu' },
    ];
    const targets: Record<string, ReturnType<typeof targetFor>> = {};
    const paths: string[] = [];
    let imageBytes = 0;
    for (const file of files) {
      const path = join(ctx.tmp, file.name.replace('/', '-'));
      writeRandomFile(path, file.mib);
      const blob = await uploadFile(repos, path);
      targets[file.name] = targetFor(blob, [file.hardwareId], 1);
      paths.push(imagePathOf(file.name, blob.hashes.sha256));
      imageBytes += blob.length;
    }
    await publishTargets(repos, 1, targets);

    const direct = await crowd(proxy.url, vehicles, paths);
    const directCounts = { ...proxy.counts };
    Object.assign(proxy.counts, { requests: 0, refused: 0, metadataBytes: 0, imageBytes: 0 });

    const gateway = await startGateway({ upstreamImage: proxy.url, upstreamDirector: repos.director.url, cacheDir: join(ctx.tmp, 'f22-gateway') });
    let through: { received: number; retried: number; seconds: number };
    let stats: ReturnType<typeof gateway.gateway.stats>;
    try {
      through = await crowd(gateway.url, vehicles, paths);
      stats = gateway.gateway.stats();
    } finally {
      await gateway.close();
    }
    const gatewayCounts = { ...proxy.counts };

    const perImage = stats.imageFills / paths.length;
    const upstream = (c: Counts) => c.imageBytes + c.metadataBytes;
    const rows: Row[] = [
      {
        label: `upstream image downloads per image (${paths.length} images, ${mib(imageBytes)} together)`,
        value: fmt(perImage, 2),
        baseline: fmt(vehicles, 0),
        ratio: share(perImage / vehicles),
        verdict: verdictOf(stats.imageFills === paths.length && gatewayCounts.imageBytes === imageBytes),
      },
      { label: 'upstream image bytes', value: mib(gatewayCounts.imageBytes), baseline: mib(directCounts.imageBytes), ratio: share(gatewayCounts.imageBytes / directCounts.imageBytes) },
      { label: 'upstream metadata bytes', value: kib(gatewayCounts.metadataBytes), baseline: kib(directCounts.metadataBytes), ratio: share(gatewayCounts.metadataBytes / directCounts.metadataBytes) },
      {
        label: 'upstream requests (of them answered other than 200: 304 revalidated, 404 of the root walk, 503 busy and retried)',
        value: `${fmt(gatewayCounts.requests, 0)} (${gatewayCounts.refused})`,
        baseline: `${fmt(directCounts.requests, 0)} (${directCounts.refused})`,
        ratio: share(gatewayCounts.requests / directCounts.requests),
      },
      { label: 'upstream bytes in all', value: mib(upstream(gatewayCounts)), baseline: mib(upstream(directCounts)), ratio: share(upstream(gatewayCounts) / upstream(directCounts)) },
      { label: 'bytes the vehicles received (same either way)', value: mib(through.received), baseline: mib(direct.received), ratio: pct(through.received / direct.received) },
      {
        label: 'gateway answers: images from the kept copy / joining the download under way',
        value: `${stats.imageHits} / ${stats.imageJoins}`,
      },
      {
        label: 'gateway metadata upstream: fetched / revalidated 304 / 404 remembered',
        value: `${stats.metadata.fetched} / ${stats.metadata.notModified} / ${stats.metadata.notFound}`,
      },
      { label: 'cycles run again after a cut connection (their bytes upstream are counted too)', value: fmt(through.retried, 0), baseline: fmt(direct.retried, 0) },
      { label: `seconds for the crowd (${CROWD} at a time, loopback)`, value: fmt(through.seconds, 1), baseline: fmt(direct.seconds, 1), ratio: pct(through.seconds / direct.seconds) },
    ];
    if (through.received !== direct.received) notes.push('the vehicles received a different number of bytes through the gateway than direct: a metadata file changed between the runs?');
    notes.push(
      `Each vehicle reads the timestamp, asks for the next root (404), reads the snapshot and targets, then both images, through HttpFetcher, ${CROWD} vehicles at a time. ` +
        "Metadata upstream through the gateway is the gateway's revalidations (If-None-Match, 304) once its one-second freshness window is over, plus one fetch of each versioned file; the image count is the gateway's own (stats().imageFills) and the proxy's bytes.",
    );
    return { ...base, rows, verdict: overall(rows), notes, seconds: (performance.now() - started) / 1000 };
  } finally {
    await proxy.close();
    await repos.close();
  }
}
