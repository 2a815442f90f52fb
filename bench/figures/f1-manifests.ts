// Figure 1: vehicle version manifests (1 primary + 4 secondaries) accepted per second by the Director
// over HTTP, end to end (authentication, parsing, checks, SQLite writes), against the raw cost of the
// signature checks and canonicalization such a manifest needs, in a loop in the same process.
import { canonicalBytes } from '../../shared/core/canonical.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PublicKey } from '../../shared/core/crypto/keys.js';
import { manifestSignedBytes, type VehicleVersionManifest } from '../../shared/uptane/manifest.js';
import { sqliteOf } from '../../sim/harness/sqlite-storage.js';
import type { TestVehicle } from '../../sim/harness/test-vehicle.js';
import { registerAll, startBenchRepositories, testVehicle, type BenchContext } from '../lib/context.js';
import { serverVerifications } from '../lib/counting.js';
import { okCount, runLoad, type LoadRequest, type LoadResult } from '../lib/load.js';
import { startPlainServer } from '../lib/plain-server.js';
import { overall, verdictOf, type Figure, type Row } from '../lib/report.js';
import { fmt, median, pct, timeLoop } from '../lib/stats.js';

const SECONDARIES = 4;
const CONCURRENCY = 8;
const TARGET = 0.6;
const ROUNDS = 3;

interface Item extends LoadRequest {
  readonly vehicle: TestVehicle;
  readonly body: Buffer;
  readonly authorization: string;
}

/** How a manifest POST authenticates: with the vehicle's session token, as the primary ECU does, or signed. */
type Auth = 'session' | 'signed';

export async function figure1(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  const repos = await startBenchRepositories(ctx, 'f1');
  const notes: string[] = [];
  const vehicles = Array.from({ length: 4 * CONCURRENCY }, (_, i) => testVehicle(ctx, `BENCHF1${String(i).padStart(6, '0')}`, SECONDARIES));
  try {
    await registerAll(repos, vehicles.map((v) => v.registration()));
    // The primary ECU signs one POST /vehicle/session and sends its manifests with the token.
    const sessions = new Map<string, string>();
    for (const v of vehicles) sessions.set(v.vin, await openSession(repos.director.url, v));

    const item = (vehicle: TestVehicle, auth: Auth): Item => {
      const body = Buffer.from(JSON.stringify(vehicle.manifest()));
      const authorization = auth === 'session' ? `Bearer ${sessions.get(vehicle.vin)!}` : vehicle.authHeader('POST', '/vehicle/manifest', body);
      return { vehicle, body, authorization, method: 'POST', path: '/vehicle/manifest', headers: { authorization, 'content-type': 'application/json' } };
    };
    // Each lane owns its vehicles, so one vehicle's manifests arrive in counter order.
    const lanesOf = (lanes: number, perLane: number, auth: Auth = 'session'): Item[][] =>
      Array.from({ length: lanes }, (_, l) => {
        const own = vehicles.filter((_, i) => i % lanes === l);
        return Array.from({ length: perLane }, (_, k) => item(own[k % own.length]!, auth));
      });
    const roundMs = ctx.settings.quick ? 1_500 : 3_000;
    const load = (lanes: Item[][], durationMs = roundMs) => runLoad({ origin: repos.director.url, lanes, cycle: false, warmupMs: 0, durationMs, maxRequests: 100_000 });

    // Warm-up and calibration: how many manifests does a run need?
    const warm = await load(lanesOf(1, 60));
    checkAllAccepted(warm, 'warm-up');
    const perSecond = Math.max(50, warm.perSecond);
    const perRound = Math.min(20_000, Math.ceil((perSecond * roundMs) / 1000) * 3);
    const generation = performance.now();
    // Generated in the order they are sent, so each vehicle's report counters only grow.
    const concRounds = Array.from({ length: ROUNDS }, () => lanesOf(CONCURRENCY, Math.ceil(perRound / CONCURRENCY)));
    const seqLanes = lanesOf(1, Math.ceil(perRound / 2));
    const signedLanes = lanesOf(CONCURRENCY, Math.ceil(perRound / CONCURRENCY), 'signed');
    const presigned = seqLanes.flat().length + concRounds.flat(2).length + signedLanes.flat().length;
    notes.push(`${presigned} manifests pre-signed before the runs (${((performance.now() - generation) / 1000).toFixed(1)} s), so the client only sends bytes.`);

    // Baselines: the same manifests, checked in a loop with keys already imported.
    const sample = concRounds[0]!.flat().slice(0, 400);
    const keys = new Map<string, PublicKey>();
    for (const v of vehicles) for (const e of v.ecus) keys.set(e.serial, e.key.publicKey);
    const reportChecks = (it: Item) => {
      const manifest = JSON.parse(it.body.toString('utf8')) as VehicleVersionManifest;
      for (const [serial, report] of Object.entries(manifest.signed.ecu_version_reports)) {
        if (!keys.get(serial)!.verify(canonicalBytes(report.signed), report.signatures[0]!.sig, nodeBackend)) throw new Error('baseline: bad report signature');
      }
      return manifest;
    };
    const bounds = { maxMs: ctx.settings.quick ? 800 : 1_500, maxCount: 50_000 };
    const strictLoop = () => timeLoop((i) => reportChecks(sample[i % sample.length]!), bounds);

    // The verdict: rounds of baseline loop then concurrent run, back to back, and the median of
    // their ratios. The machine's speed drifts by a third between minutes on this shared host (the
    // same loop measured 976 to 1,463/s in one afternoon), so a ratio is only fair within a pair.
    const rounds: Array<{ baseline: number; product: number; ratio: number }> = [];
    let concVerifications = 0;
    let concRequests = 0;
    for (const lanes of concRounds) {
      const baseline = (await strictLoop()).perSecond;
      const before = serverVerifications.count;
      const run = await load(lanes);
      checkAllAccepted(run, 'concurrent');
      concVerifications += serverVerifications.count - before;
      concRequests += run.completed;
      rounds.push({ baseline, product: run.perSecond, ratio: run.perSecond / baseline });
    }
    const concPerManifest = concVerifications / concRequests;
    const middle = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)]!;
    const strictPerSecond = median(rounds.map((r) => r.baseline));

    // Everything the Director verifies for a manifest sent with a session token: the 5 reports and
    // the primary's signature over the manifest (6 checks).
    const full = await timeLoop((i) => {
      // Canonicalized as the Director does: each report once, reused in the manifest's bytes.
      const manifest = JSON.parse(sample[i % sample.length]!.body.toString('utf8')) as VehicleVersionManifest;
      const signed = manifestSignedBytes(manifest);
      for (const [serial, report] of Object.entries(manifest.signed.ecu_version_reports)) {
        if (!keys.get(serial)!.verify(signed.reports.get(serial)!, report.signatures[0]!.sig, nodeBackend)) throw new Error('baseline: bad report signature');
      }
      const primary = keys.get(manifest.signed.primary_ecu_serial)!;
      if (!primary.verify(signed.manifest, manifest.signatures[0]!.sig, nodeBackend)) throw new Error('baseline: bad manifest signature');
    }, bounds);

    const verificationsBefore = serverVerifications.count;
    const seq = await load(seqLanes);
    checkAllAccepted(seq, 'sequential');
    const perManifest = (serverVerifications.count - verificationsBefore) / seq.completed;
    const signed = await load(signedLanes);
    checkAllAccepted(signed, 'signed');
    // What HTTP alone costs here: the same POSTs, same load generator, answered by plain node:http
    // (body drained, a fixed answer), so the rows below can say where the Director's time goes.
    const plain = await startPlainServer(new Map([['/vehicle/manifest', Buffer.from('{"accepted":true,"assignmentsChanged":0}')]]));
    const http = await runLoad({ origin: plain.url, lanes: concRounds[0]!, cycle: true, warmupMs: 300, durationMs: roundMs, maxRequests: 1_000_000 }).finally(() => plain.close());

    // In-process, without HTTP: the manifest intake's receiveManifest on fresh manifests, eight at a time
    // (one group commit each), and one at a time as configured (every commit fsync'd) and, for this
    // measurement only, with SQLite's synchronous=NORMAL (the WAL is not fsync'd at commit): the
    // difference is what one commit's durability costs.
    const { intake } = repos.director.services;
    const count = Math.max(80, Math.round(strictPerSecond));
    const freshManifests = (from: number) =>
      vehicles.slice(from, from + 8).map((v) => Array.from({ length: Math.ceil(count / 8) }, () => ({ vin: v.vin, body: Buffer.from(JSON.stringify(v.manifest())) })));
    const groupedItems = freshManifests(8);
    const grouped = await timeLoop((i) => Promise.all(groupedItems.map((own) => intake.receiveManifest(own[i]!.vin, own[i]!.body))), { maxMs: 3_000, maxCount: groupedItems[0]!.length });
    const inProcess = async () => {
      const items = freshManifests(0);
      return timeLoop((i) => intake.receiveManifest(items[i % 8]![Math.floor(i / 8)]!.vin, items[i % 8]![Math.floor(i / 8)]!.body), { maxMs: 3_000, maxCount: count });
    };
    const durable = await inProcess();
    const { db } = sqliteOf(repos.director.storage);
    db.pragma('synchronous = NORMAL');
    const volatile = await inProcess();
    db.pragma('synchronous = FULL');
    const fsyncMs = Math.max(0, 1000 / durable.perSecond - 1000 / volatile.perSecond);
    const concMs = 1000 / middle.product;

    const rows: Row[] = [
      {
        label: `concurrent (${CONCURRENCY} connections, session tokens as the primary sends them), manifests/s: median round of ${ROUNDS}`,
        value: fmt(middle.product),
        baseline: `${fmt(middle.baseline)}/s`,
        ratio: pct(middle.ratio),
        verdict: verdictOf(middle.ratio >= TARGET),
      },
      {
        label: 'each round: product / baseline = ratio',
        value: rounds.map((r) => `${fmt(r.product)} / ${fmt(r.baseline)} = ${pct(r.ratio)}`).join('; '),
      },
      { label: 'signature verifications per manifest at the Director (counted), concurrent', value: fmt(concPerManifest, 2) },
      {
        label: 'concurrent against everything the Director verifies (6: manifest + 5 reports)',
        value: fmt(middle.product),
        baseline: `${fmt(full.perSecond)}/s`,
        ratio: pct(middle.product / full.perSecond),
      },
      {
        label: `concurrent (${CONCURRENCY} connections), every request signed instead (no session), manifests/s`,
        value: fmt(signed.perSecond),
        baseline: `${fmt(strictPerSecond)}/s`,
        ratio: pct(signed.perSecond / strictPerSecond),
      },
      {
        label: 'sequential (1 connection, each manifest waits for its own commit), manifests/s',
        value: `${fmt(seq.perSecond)} (p50 ${fmt(seq.latencyMs.p50, 2)} ms, p99 ${fmt(seq.latencyMs.p99, 2)} ms; ${fmt(perManifest, 2)} verifications each)`,
        baseline: `${fmt(strictPerSecond)}/s`,
        ratio: pct(seq.perSecond / strictPerSecond),
      },
      {
        label: 'where a concurrent manifest\'s time goes: 6 checks (measured in a loop) + HTTP on loopback (plain node:http, same load) + the rest (parsing, SQL, commit)',
        value: `${fmt(concMs, 2)} ms = ${fmt(1000 / full.perSecond, 2)} + ${fmt(1000 / http.perSecond, 2)} + ${fmt(concMs - 1000 / full.perSecond - 1000 / http.perSecond, 2)} ms`,
        baseline: `${fmt(1000 / middle.baseline, 2)} ms`,
      },
      {
        label: 'in-process receiveManifest, 8 at a time (no HTTP, one commit per 8), manifests/s',
        value: fmt(grouped.perSecond * 8),
        baseline: `${fmt(strictPerSecond)}/s`,
        ratio: pct((grouped.perSecond * 8) / strictPerSecond),
      },
      {
        label: 'in-process receiveManifest one at a time (no HTTP), commits fsync\'d as configured / not fsync\'d (measurement only)',
        value: `${fmt(durable.perSecond)}/s / ${fmt(volatile.perSecond)}/s: one commit's fsync costs ${fmt(fsyncMs, 2)} ms`,
      },
    ];
    notes.push(
      'The verdict is on throughput (manifests per second per core, as the issue asks), measured with 8 connections: a Director serves many vehicles at once. The 5-check baseline is the issue\'s; a manifest also carries the primary\'s own signature over it, so the Director verifies 6 (7 when the request is signed instead of sent with a session token).',
      `Group commit (director-repo/store/sqlite/group-commit.ts): manifests that arrive together are checked and written in one SQLite transaction, each in its own savepoint, and answered after its single fsync. The fsync of a commit costs ${fmt(fsyncMs, 2)} ms here (a manifest's signature checks: ${fmt(1000 / full.perSecond, 2)} ms; the fsync varied from 0.2 to 1.2 ms between runs); the sequential row pays it for every manifest, and one connection alone cannot reach the target: an acknowledged manifest must survive a power cut, so the Director never answers before the fsync.`,
      'Why the target is close to this machine\'s limit: the Director must verify 6 signatures where the baseline verifies 5 (118 us each with OpenSSL 3.0 here), so even with parsing, SQL, HTTP and the commit free the ratio could not pass about 75-80% (the 6-check row); what is left for everything else at 60% is about 0.3 ms per manifest. Measured: HTTP alone 0.06-0.09 ms (plain node:http, same load); the rest (parsing, SQL, the commit) is the remainder in the row above. Without HTTP at all, the in-process row (8 at a time, one fsync per 8) measured 42%, 64% and 71% in three full runs of one session: the Director\'s own work, 6 verifications and a durable commit, is at the target at best, and over HTTP the batches are smaller (about 4 manifests per commit at 8 connections, so twice the fsyncs) and the Director thread was 86-97% busy (event-loop utilization, measured while profiling): closed-loop clients waiting on a shared commit leave it idle between batches. Over HTTP, those runs measured 46%, 57% and 49%.',
      'Before group commit and sessions (same machine, idle, 2026-11-22): sequential 253/s = 24%, concurrent 288/s = 27% of the 5-check baseline, with 7 verifications per manifest (every request signed) and one commit per manifest. Since then, across runs on this shared host: 40-63% (median rounds), the baseline loop alone ranging 917-1,511/s.',
      'One Director process, one core: the server is single-threaded (better-sqlite3 is synchronous), so manifests/s is per core; the load generator runs in a worker thread on the other core.',
    );
    return { id: 1, title: 'Director manifest ingestion over HTTP', target: `>= ${pct(TARGET)} of baseline`, baselineIs: 'JSON.parse + canonicalize and verify the 5 version reports of the same manifests, in a loop (node:crypto)', rows, verdict: overall(rows), notes, seconds: (performance.now() - started) / 1000 };
  } finally {
    for (const v of vehicles) v.cleanup();
    await repos.close();
  }
}

function checkAllAccepted(result: LoadResult, what: string): void {
  if (okCount(result) !== result.requests || result.errors > 0) {
    throw new Error(`figure 1 ${what}: ${result.requests - okCount(result)} manifests refused, ${result.errors} errors; first: ${result.firstError ?? '?'}`);
  }
}

/** A session token for `vehicle`, from one signed POST /vehicle/session (what the primary ECU does). */
async function openSession(directorUrl: string, vehicle: TestVehicle): Promise<string> {
  const response = await fetch(`${directorUrl}/vehicle/session`, { method: 'POST', headers: { authorization: vehicle.authHeader('POST', '/vehicle/session') } });
  if (response.status !== 201) throw new Error(`figure 1: POST /vehicle/session answered ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}
