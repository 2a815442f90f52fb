// Figure 16: what metrics and request logs cost figure 2's metadata GETs. The same servers twice in
// this process: with metrics (prom-client histogram per request) and a pino JSON line per request
// written to a real file, and with observability left out (no wrapper at all), under the same load
// generator, in alternating pairs. Target: at most 10% of GETs/s lost.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { IncomingMessage } from 'node:http';
import { ServerMetrics } from '../../shared/server/metrics.js';
import { createLogger, logRequest, requestIdOf } from '../../shared/server/request-log.js';
import { startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { assignAll, registerAll, testVehicle, type BenchContext } from '../lib/context.js';
import { okCount, runLoad, type LoadRequest, type LoadResult } from '../lib/load.js';
import { overall, verdictOf, type Figure, type Row } from '../lib/report.js';
import { fmt, pct, timeLoop } from '../lib/stats.js';

const CONNECTIONS = 8;
const VEHICLES = 16;
const TARGET = 0.9;
const ROUNDS = 5;

interface Side {
  readonly repos: Repositories;
  /** Director timestamp+targets with a session token, as the primary polls. */
  readonly director: LoadRequest[][];
  /** Image repository timestamp, snapshot, targets. */
  readonly image: LoadRequest[][];
}

export async function figure16(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  const durationMs = ctx.settings.quick ? 1_000 : 1_500;
  const warmupMs = 500;
  const logFile = join(ctx.tmp, 'f16-requests.log');
  // A real destination: pino's own asynchronous file writer, in 4 KiB writes, as a server logging to a file is set up.
  const destination = pino.destination({ dest: logFile, sync: false, mkdir: true, minLength: 4096 });
  const logger = createLogger({ format: 'json', level: 'info', name: 'bench', destination });
  const sides: Side[] = [];
  const notes: string[] = [];
  try {
    const on = await prepare(ctx, 'f16-on', await startRepositories(ctx.clock, 'bench-f16-on', { observability: { logger } }));
    sides.push(on);
    const off = await prepare(ctx, 'f16-off', await startRepositories(ctx.clock, 'bench-f16-off', { observability: false }));
    sides.push(off);
    const run = (origin: string, lanes: LoadRequest[][]) => runLoad({ origin, lanes, cycle: true, warmupMs, durationMs, maxRequests: 2_000_000 });
    const rows: Row[] = [];
    const offCpuPerGet: number[] = [];
    const compare = async (label: string, pick: (side: Side) => { url: string; lanes: LoadRequest[][] }) => {
      // Alternating which side goes first, since this shared host's speed drifts between runs; the
      // verdict is the median pair's ratio.
      const pairs: Array<{ product: Measured; baseline: Measured }> = [];
      for (let r = 0; r < ROUNDS; r++) {
        const measure = async (side: Side): Promise<Measured> => {
          const { url, lanes } = pick(side);
          const before = process.threadCpuUsage();
          const result = await run(url, lanes);
          const cpu = process.threadCpuUsage(before);
          checkOk(result, label);
          return { ...result, serverCpuUsPerGet: (cpu.user + cpu.system) / Math.max(1, result.completed) };
        };
        if (r % 2 === 0) {
          const product = await measure(on);
          pairs.push({ product, baseline: await measure(off) });
        } else {
          const baseline = await measure(off);
          pairs.push({ product: await measure(on), baseline });
        }
      }
      const ratioOf = (p: (typeof pairs)[number]) => p.product.perSecond / p.baseline.perSecond;
      const middle = [...pairs].sort((a, b) => ratioOf(a) - ratioOf(b))[Math.floor(pairs.length / 2)]!;
      rows.push({
        label: `${label}, GETs/s with metrics and logging (median of ${pairs.length} pairs: ${pairs.map((p) => pct(ratioOf(p))).join(', ')})`,
        value: `${fmt(middle.product.perSecond)} (p50 ${fmt(middle.product.latencyMs.p50, 2)} ms)`,
        baseline: `${fmt(middle.baseline.perSecond)}/s (p50 ${fmt(middle.baseline.latencyMs.p50, 2)} ms)`,
        ratio: pct(ratioOf(middle)),
        verdict: verdictOf(ratioOf(middle) >= TARGET),
      });
      // The server thread's CPU per GET moves far less with the host's load than GETs/s (figure 11).
      const cpuOn = medianOf(pairs.map((p) => p.product.serverCpuUsPerGet));
      const cpuOff = medianOf(pairs.map((p) => p.baseline.serverCpuUsPerGet));
      if (offCpuPerGet.length === 0) offCpuPerGet.push(...pairs.map((p) => p.baseline.serverCpuUsPerGet));
      rows.push({
        label: `${label}: server thread CPU per GET (median of ${pairs.length}; not judged)`,
        value: `${fmt(cpuOn, 1)} us/GET with, ${fmt(cpuOn - cpuOff, 1)} us more`,
        baseline: `${fmt(cpuOff, 1)} us/GET without`,
        ratio: pct(cpuOff / cpuOn),
      });
    };
    await compare('Director timestamp+targets, session token', (side) => ({ url: side.repos.director.url, lanes: side.director }));
    await compare('Image repository timestamp+snapshot+targets', (side) => ({ url: side.repos.image.url, lanes: side.image }));

    // The work added to each request, timed alone on this thread: a steadier estimate than the
    // pairs above, whose GETs/s move with whatever else this host runs.
    const metrics = new ServerMetrics('bench');
    const fakeRequest = { headers: {} } as IncomingMessage;
    const before = process.threadCpuUsage();
    const loop = await timeLoop(
      (i) => {
        const requestId = requestIdOf(fakeRequest);
        metrics.observeRequest('GET', '/vehicle/metadata/:file', 200, 0.0004 + (i % 7) * 0.0001);
        logRequest(logger, { requestId, method: 'GET', route: '/vehicle/metadata/:file', status: 200, durationMs: 0.412 });
      },
      { maxMs: 1_000, maxCount: 500_000, minCount: 1_000 },
    );
    const loopCpu = process.threadCpuUsage(before);
    const perRequestUs = (loopCpu.user + loopCpu.system) / loop.count;
    const offCpu = medianOf(offCpuPerGet);
    rows.push({
      label: 'request id + histogram sample + JSON log line, timed alone (CPU per request), against the Director GET without them',
      value: `${fmt(perRequestUs, 2)} us/request`,
      baseline: `${fmt(offCpu, 1)} us/GET`,
      ratio: pct(offCpu / (offCpu + perRequestUs)),
    });

    // What one scrape costs the server (it runs on the server's thread between requests).
    const scrapes = ctx.settings.quick ? 20 : 50;
    const scrapeStarted = performance.now();
    let bytes = 0;
    for (let i = 0; i < scrapes; i++) bytes += (await (await fetch(`${on.repos.director.url}/metrics`)).text()).length;
    rows.push({ label: 'one GET /metrics of the Director after the runs (sequential, loopback)', value: `${fmt((performance.now() - scrapeStarted) / scrapes, 2)} ms, ${fmt(bytes / scrapes / 1024, 1)} KiB` });

    destination.flushSync();
    const logBytes = statSync(logFile).size;
    rows.push({ label: 'request log written during the figure (pino JSON lines, asynchronous file writer)', value: `${fmt(logBytes / 1024 / 1024, 1)} MiB` });
    notes.push(
      'The CPU rows divide the CPU time of this thread, where both servers run (process.threadCpuUsage), by the GETs answered: the servers\' own cost without the load generator\'s, and much steadier than GETs/s on this shared host. Log writes go through pino\'s asynchronous file writer (sonic-boom), whose write calls run on libuv\'s thread pool.',
      'Both sides are the real servers started the same way (sim/harness/fleet-fixtures.ts) in this process; "off" is started with `observability: false`, which leaves the wrapper, the three routes and the per-request histogram and log line out entirely, so the ratio is the whole cost of part 3-4 of issue 19 on the hot path.',
      `With metrics and logging on, every request is observed in the histogram uptane_http_request_duration_seconds under its route pattern and logged as one JSON line (request id, method, route, status, duration) through pino to ${'a file in the bench scratch folder'}; no request goes unlogged.`,
      `${CONNECTIONS} keep-alive connections; ${(warmupMs / 1000).toFixed(1)} s warm-up, then ${(durationMs / 1000).toFixed(1)} s measured per run; ${VEHICLES} vehicles per side, each with one assigned image; server on this process's main thread, load generator in a worker thread.`,
    );
    return {
      id: 16,
      title: 'Cost of metrics and request logs on metadata GETs',
      target: `>= ${pct(TARGET)} of the GETs/s without them`,
      baselineIs: 'the same servers started without observability, same load generator, alternating runs',
      rows,
      verdict: overall(rows),
      notes,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    for (const side of sides) await side.repos.close();
    destination.end();
  }
}

/** Registers vehicles on `repos`, assigns an image, opens sessions, and makes the request lanes. */
async function prepare(ctx: BenchContext, label: string, repos: Repositories): Promise<Side> {
  try {
    const vehicles = Array.from({ length: VEHICLES }, (_, i) => testVehicle(ctx, `BENCH${label.replace(/\W/g, '').toUpperCase()}${String(i).padStart(4, '0')}`, 0));
    await repos.publishImages([{ name: `bench/${label}-tcu.bin`, content: Buffer.alloc(4096, 1), hardwareIds: ['tcu'], releaseCounter: 1 }]);
    await registerAll(repos, vehicles.map((v) => v.registration()));
    await assignAll(repos, vehicles.map((v) => v.vin), `bench/${label}-tcu.bin`, 'tcu');
    const perVehicle = await Promise.all(
      vehicles.map(async (v) => {
        const response = await fetch(`${repos.director.url}/vehicle/session`, { method: 'POST', headers: { authorization: v.authHeader('POST', '/vehicle/session') } });
        if (response.status !== 201) throw new Error(`figure 16: session refused: ${response.status} ${await response.text()}`);
        const token = ((await response.json()) as { token: string }).token;
        const headers = { authorization: `Bearer ${token}` };
        const timestamp = await getJson(`${repos.director.url}/vehicle/metadata/timestamp.json`, headers);
        const snapshotVersion = timestamp.signed.meta['snapshot.json']!.version;
        const snapshot = await getJson(`${repos.director.url}/vehicle/metadata/${snapshotVersion}.snapshot.json`, headers);
        const targetsPath = `/vehicle/metadata/${snapshot.signed.meta['targets.json']!.version}.targets.json`;
        v.cleanup();
        return { headers, paths: ['/vehicle/metadata/timestamp.json', targetsPath] };
      }),
    );
    const imageTimestamp = await getJson(`${repos.image.url}/metadata/timestamp.json`);
    const imageSnapshotVersion = imageTimestamp.signed.meta['snapshot.json']!.version;
    const imageSnapshot = await getJson(`${repos.image.url}/metadata/${imageSnapshotVersion}.snapshot.json`);
    const imagePaths = ['/metadata/timestamp.json', `/metadata/${imageSnapshotVersion}.snapshot.json`, `/metadata/${imageSnapshot.signed.meta['targets.json']!.version}.targets.json`];
    const lanes = (make: (lane: number, k: number) => LoadRequest): LoadRequest[][] => Array.from({ length: CONNECTIONS }, (_, l) => Array.from({ length: 64 }, (_, k) => make(l, k)));
    return {
      repos,
      director: lanes((l, k) => {
        const v = perVehicle[(l + k * CONNECTIONS) % perVehicle.length]!;
        return { method: 'GET', path: v.paths[k % 2]!, headers: v.headers };
      }),
      image: lanes((l, k) => ({ method: 'GET', path: imagePaths[(l + k) % imagePaths.length]! })),
    };
  } catch (err) {
    await repos.close();
    throw err;
  }
}

type Measured = LoadResult & { readonly serverCpuUsPerGet: number };

function medianOf(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ signed: { meta: Record<string, { version: number }> } }> {
  const response = await fetch(url, { headers });
  if (response.status !== 200) throw new Error(`figure 16: GET ${url}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as never;
}

function checkOk(result: LoadResult, what: string): void {
  if (okCount(result) !== result.requests || result.errors > 0 || result.requests === 0) {
    throw new Error(`figure 16 ${what}: ${result.requests - okCount(result)} of ${result.requests} failed, ${result.errors} errors; first: ${result.firstError ?? '?'}`);
  }
}
