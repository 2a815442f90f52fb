// Figure 20: delta updates (issue 21 items 2 and 7; docs/transport.md "Delta updates"). Two builds
// of one synthetic firmware a few percent apart (sim/harness/firmware-pair.ts: changed functions,
// inserted ones that move the code after them, so calls and the address table change too) are
// published to the real Image repository. The real Director makes the delta between them
// (director-repo/image-deltas.ts: both images downloaded and verified, the delta made, checked by
// applying it, cached); the primary's own delta path (primary-ecu/delta-download.ts) downloads it
// over loopback through a byte-counting proxy, applies it against an A/B slot holding the old build
// and checks the result against the new build's hashes. Against it: the new build downloaded whole
// from the Image repository through the same proxy, uncompressed and compressed in transit, written
// and hashed as the primary does. Plus what the choice of zstd parameters is worth: the same delta
// made at zstd's level-3 defaults, whose tables index only the last MiB of the old image.
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { request } from 'node:http';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { AbSlots } from '../../shared/ecu/ab-slots.js';
import { createDeltaApplier, createDeltaStream, DEFAULT_DELTA_MAX_IMAGE_BYTES, DELTA_SCHEME } from '../../shared/files/zstd-delta.js';
import type { DirectorChannel } from '../../shared/uptane/director-channel.js';
import { deltaFileName } from '../../shared/uptane/image-delta.js';
import { downloadImageByDelta, type DeltaTarget } from '../../primary-ecu/delta-download.js';
import { firmwarePair } from '../../sim/harness/firmware-pair.js';
import { startBenchRepositories, type BenchContext } from '../lib/context.js';
import { startPlainServer } from '../lib/plain-server.js';
import type { Figure, Row } from '../lib/report.js';
import { fmt, median, pct, sampleMemory } from '../lib/stats.js';

const REPETITIONS = 3;

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}
const HARDWARE = 'tcu-a';

/** A TCP proxy to `upstream` counting what the server sends through it. */
async function countingProxy(upstream: string): Promise<{ url: string; take: () => number; close: () => Promise<void> }> {
  const target = new URL(upstream);
  let received = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const origin = createConnection(Number(target.port), target.hostname);
    sockets.add(client).add(origin);
    origin.on('data', (chunk: Buffer) => (received += chunk.length));
    client.pipe(origin).pipe(client);
    const end = () => { client.destroy(); origin.destroy(); };
    client.on('error', end).on('close', end);
    origin.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    take: () => { const taken = received; received = 0; return taken; },
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

/** Downloads `url` into `path` hashing it, as the primary stores an image: compressed in transit (the vehicle's fetcher) or identity. */
async function downloadWhole(fetcher: HttpFetcher, url: string, path: string, maxBytes: number, identity: boolean): Promise<string> {
  const hash = createHash('sha256');
  const body: AsyncIterable<Uint8Array> = identity
    ? await new Promise((resolve, reject) => request(url, { headers: { 'accept-encoding': 'identity' } }, resolve).on('error', reject).end())
    : (await fetcher.fetch(url, { maxBytes })).body;
  await pipeline(
    body,
    async function* (chunks: AsyncIterable<Uint8Array>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        yield chunk;
      }
    },
    createWriteStream(path),
  );
  // Durable, as the primary's download is (updater.ts syncs the file before it renames it): the
  // delta path syncs the image it makes, so the full download must pay the same.
  const file = await open(path, 'r+');
  await file.sync();
  await file.close();
  return hash.digest('hex');
}

export async function figure20(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  // 16 MiB: an ECU image of a typical size, and as far as zstd looks back into a reference (below).
  const bytes = 16 * 1024 * 1024;
  const { from, to } = firmwarePair(bytes, 3);
  const dir = mkdtempSync(join(tmpdir(), 'bench-f20-'));
  const repos = await startBenchRepositories(ctx, 'f20');
  const fetcher = new HttpFetcher();
  const proxies: Array<{ close: () => Promise<void> }> = [];
  try {
    const names = { from: 'tcu/fw-4.1.0.bin', to: 'tcu/fw-4.1.1.bin' };
    await repos.publishImages([
      { name: names.from, content: from, hardwareIds: [HARDWARE], releaseCounter: 1 },
      { name: names.to, content: to, hardwareIds: [HARDWARE], releaseCounter: 2 },
    ]);
    const sha = { from: digestBytes(from).sha256!, to: digestBytes(to).sha256! };
    const toHashes = digestBytes(to);

    // The Director makes the delta once per pair: timed, with the process's memory growth while it runs.
    const memory = sampleMemory();
    let t = performance.now();
    const made = await repos.director.services.deltas.prepare(HARDWARE, { filename: names.from, length: from.length, sha256: sha.from }, { filename: names.to, length: to.length, sha256: sha.to });
    const makeSeconds = (performance.now() - t) / 1000;
    const makeMemory = memory.stop();
    if (made === undefined || !made.offered) throw new Error('figure 20: the Director made no delta for the pair');
    const deltaName = deltaFileName(sha.from, sha.to);
    const delta = readFileSync(join(repos.dataDir, 'director', 'deltas', deltaName));

    // The same delta at zstd's level-3 table sizes: what indexing the whole old image is worth.
    const naive = zlib.zstdCompressSync(to, {
      dictionary: from,
      params: { [zlib.constants.ZSTD_c_compressionLevel]: 3, [zlib.constants.ZSTD_c_windowLog]: Math.ceil(Math.log2(from.length + to.length)), [zlib.constants.ZSTD_c_enableLongDistanceMatching]: 1 },
    });

    // The primary's delta path: the Director's delta over loopback, applied against an A/B slot holding the old build.
    const served = await startPlainServer(new Map([[`/vehicle/images/${deltaName}`, delta]]));
    proxies.push(served);
    const deltaProxy = await countingProxy(served.url);
    proxies.push(deltaProxy);
    const channel = { fetchImage: (name: string, options: { maxBytes: number; offset?: number }) => fetcher.fetch(`${deltaProxy.url}/vehicle/images/${name}`, options) } as unknown as DirectorChannel;
    const slotsDir = join(dir, 'slots');
    AbSlots.provision(slotsDir, { filename: names.from, content: from });
    const slots = await AbSlots.open(slotsDir);
    const target: DeltaTarget = {
      ecuSerial: 'tcu-1',
      hardwareId: HARDWARE,
      filename: names.to,
      target: { length: to.length, hashes: toHashes },
      delta: { scheme: DELTA_SCHEME, from: { length: from.length, hashes: { sha256: sha.from } }, filename: deltaName, length: made.length, hashes: { sha256: made.sha256 } },
    };
    // Against it, the new build downloaded whole from the real Image repository, uncompressed and
    // compressed in transit. The three ways take turns, so a slow moment of the host falls on each.
    const imageProxy = await countingProxy(repos.image.url);
    proxies.push(imageProxy);
    const imageUrl = `${imageProxy.url}/targets/tcu/${sha.to}.fw-4.1.1.bin`;
    const runs = {
      identity: { wire: 0, seconds: [] as number[], memoryMiB: 0 },
      compressed: { wire: 0, seconds: [] as number[], memoryMiB: 0 },
      delta: { wire: 0, seconds: [] as number[], memoryMiB: 0 },
    };
    for (let i = 0; i < REPETITIONS; i++) {
      for (const kind of ['identity', 'compressed', 'delta'] as const) {
        const destination = join(dir, `${kind}-${i}.bin`);
        const proxy = kind === 'delta' ? deltaProxy : imageProxy;
        proxy.take();
        const memory = sampleMemory();
        t = performance.now();
        if (kind === 'delta') await downloadImageByDelta(target, destination, { channel, slots, directory: join(dir, 'deltas'), maxImageBytes: DEFAULT_DELTA_MAX_IMAGE_BYTES });
        else if ((await downloadWhole(fetcher, imageUrl, destination, to.length, kind === 'identity')) !== sha.to) throw new Error(`figure 20: the ${kind} download is not the new build`);
        runs[kind].seconds.push((performance.now() - t) / 1000);
        runs[kind].memoryMiB = Math.max(runs[kind].memoryMiB, memory.stop().rssMiB);
        runs[kind].wire = proxy.take();
        if (kind === 'delta' && digestBytes(readFileSync(destination)).sha256 !== sha.to) throw new Error('figure 20: the delta did not give the new build');
        rmSync(destination);
      }
    }
    const full = { identity: runs.identity, compressed: runs.compressed };
    const deltaRun = runs.delta;
    // Apply alone, from a local delta: the CPU cost on the primary.
    const applySeconds: number[] = [];
    for (let i = 0; i < REPETITIONS; i++) {
      t = performance.now();
      const hash = createHash('sha256');
      for await (const chunk of Readable.from([delta]).pipe(createDeltaApplier(from, DEFAULT_DELTA_MAX_IMAGE_BYTES)) as AsyncIterable<Buffer>) hash.update(chunk);
      applySeconds.push((performance.now() - t) / 1000);
      if (hash.digest('hex') !== sha.to) throw new Error('figure 20: applying alone did not give the new build');
    }

    // Past 16 MiB zstd uses only the reference's last 16 MiB (measured on this Node's libzstd, whatever
    // the table sizes): a 32 MiB pair made the same way saves less. Full runs only (it takes a while).
    let larger: { delta: number; compressed: number } | undefined;
    if (!ctx.settings.quick) {
      const pair = firmwarePair(2 * bytes, 3);
      const made32 = await readAll(createDeltaStream(pair.from, Readable.from([pair.to]), pair.to.length));
      larger = { delta: made32.length / pair.to.length, compressed: zlib.zstdCompressSync(pair.to).length / pair.to.length };
    }

    // On loopback bandwidth is free, so the delta's extra work shows and its saved bytes do not; over
    // a link of B bytes/s each way takes its bytes / B more. Against what a vehicle would otherwise
    // get, the full image compressed in transit (its fetcher asks for it):
    const extraSeconds = median(deltaRun.seconds) - median(full.compressed.seconds);
    const breakEven = extraSeconds > 0 ? (full.compressed.wire - deltaRun.wire) / extraSeconds : undefined;
    const atCellular = { delta: median(deltaRun.seconds) + deltaRun.wire / 1e6, compressed: median(full.compressed.seconds) + full.compressed.wire / 1e6 };
    const differing = to.reduce((n, b, i) => n + (b === from[i] ? 0 : 1), 0);
    const mibOf = (n: number) => `${fmt(n / (1024 * 1024), 2)} MiB`;
    const rows: Row[] = [
      { label: `bytes on the wire for the ${mibOf(to.length)} new build, uncompressed (baseline)`, value: fmt(full.identity.wire), verdict: 'INFO' },
      { label: 'bytes on the wire, the full image compressed in transit (zstd, figure 18)', value: fmt(full.compressed.wire), ratio: pct(full.compressed.wire / full.identity.wire), verdict: 'INFO' },
      { label: `bytes on the wire, the delta (${DELTA_SCHEME}, the Director's parameters)`, value: fmt(deltaRun.wire), ratio: pct(deltaRun.wire / full.identity.wire), verdict: 'INFO' },
      { label: 'delta against the full image compressed in transit', value: `${fmt(deltaRun.wire)} / ${fmt(full.compressed.wire)}`, ratio: pct(deltaRun.wire / full.compressed.wire), verdict: 'INFO' },
      { label: "the same delta at zstd's level-3 table sizes (only the old image's last MiB indexed)", value: `${fmt(naive.length)} bytes`, ratio: pct(naive.length / full.identity.wire), verdict: 'INFO' },
      {
        label: `seconds to the verified, durable image on the primary: delta (download, apply against the A/B slot, hash, fsync) / full uncompressed / full compressed (download, hash, fsync) (median of ${REPETITIONS}, taking turns)`,
        value: `${fmt(median(deltaRun.seconds), 3)} / ${fmt(median(full.identity.seconds), 3)} / ${fmt(median(full.compressed.seconds), 3)}`,
        ratio: pct(median(deltaRun.seconds) / median(full.identity.seconds)),
        verdict: 'INFO',
      },
      {
        label: 'the link speed below which the delta gives the verified image sooner than the full image compressed in transit (bytes saved over the extra loopback seconds; transfer taken as not overlapping the work), and both estimated at 1 MB/s (8 Mbit/s, a modest cellular link): delta / full compressed',
        value: `${breakEven === undefined ? 'any speed' : `${fmt(breakEven / 1e6, 1)} MB/s`}; ${fmt(atCellular.delta, 1)} s / ${fmt(atCellular.compressed, 1)} s`,
        verdict: 'INFO',
      },
      { label: 'seconds to apply the delta alone (inflate against the old image in memory, hash; no download, no file)', value: fmt(median(applySeconds), 3), verdict: 'INFO' },
      { label: 'seconds for the Director to make the delta, once per (from, to) pair (download both, make, check by applying, cache)', value: fmt(makeSeconds, 3), verdict: 'INFO' },
      ...(larger === undefined
        ? []
        : [{ label: 'a 32 MiB pair made the same way: delta / full compressed, as shares of the image', value: `${pct(larger.delta)} / ${pct(larger.compressed)}`, verdict: 'INFO' as const }]),
      {
        label: 'process memory growth (RSS, largest of the runs): the Director making the delta / the primary downloading and applying it / the full image downloaded uncompressed / compressed',
        value: `${fmt(makeMemory.rssMiB)} / ${fmt(deltaRun.memoryMiB)} / ${fmt(full.identity.memoryMiB)} / ${fmt(full.compressed.memoryMiB)} MiB`,
        verdict: 'INFO',
      },
    ];
    return {
      id: 20,
      title: 'Delta updates: bytes on the wire and time to a verified image',
      target: 'no numeric target: bytes and seconds reported against the full image',
      baselineIs: 'the new build downloaded whole from the real Image repository, uncompressed, through the same counting proxy',
      rows,
      verdict: 'INFO',
      notes: [
        `Two builds of a synthetic ${mibOf(bytes)} firmware (sim/harness/firmware-pair.ts): 3% of the functions changed, a few inserted so the code after them moves; ${pct(differing / to.length)} of the bytes differ at the same offset, which is why a byte-wise diff would not do. Bytes on the wire include HTTP headers. Server, proxy and client share this process's cores; on a cellular link the bytes rows are what counts. The delta is served from a plain loopback server (the Director's route adds its authentication and the same blob sender as for ciphertexts); the primary's code path is the real one, A/B slot included. The memory row is RSS growth of the whole process over each run (after a collection), so it includes the servers' buffers and a garbage collector's slack; applying holds the old image (read whole from the active slot) and zstd's window over both images.`,
        "zstd looks back into a reference for at most its last 16 MiB (measured with random data: a 16 MiB reference against itself compresses to nothing, a 32 MiB one to 50%, whatever hashLog, chainLog or long-distance matching), so images past 16 MiB get a delta that saves less: the 32 MiB row, when present. bsdiff was not measured: the only Node binding (bsdiff-node) is a native addon built with node-gyp, not a dependency of this project, and bsdiff needs max(17n, 9n+m) bytes of memory for an old image of n bytes and a new one of m (its README), against about twice the image for zstd here.",
      ],
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    fetcher.close();
    for (const p of proxies.reverse()) await p.close();
    await repos.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
