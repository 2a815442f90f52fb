// `npm run bench`: measures the seven figures of issue 7 on this machine, each with its baseline in
// the same process, prints them with PASS/MISS against the issue's targets, and rewrites
// bench/RESULTS.md. Loopback only; every loop is bounded; servers are closed and temp folders removed.
//
// Environment (all optional):
//   BENCH_ONLY=1,4        run only these figures (RESULTS.md is then not rewritten)
//   BENCH_SECTIONS=FILE   also write the figures run as RESULTS.md sections to FILE (for a figure measured alone)
//   BENCH_QUICK=1         smaller counts everywhere, for a smoke run (RESULTS.md is not rewritten)
//   BENCH_FLEET_VEHICLES  vehicles of figure 6 (default 1000)
//   BENCH_FLEET_THREADS   worker threads the fleet of figure 6 is spread over (default 4)
//   BENCH_SCALE_VEHICLES  vehicles of figure 5 (default 1,000,000)
//   BENCH_SCALE_SERVICE_SECONDS  time figure 5 may register through the Director service (default 15)
//   BENCH_SCALE_STORAGE_SECONDS  time it may then insert the rest through the storage layer (default 90)
//   BENCH_PG_VEHICLES     vehicles figure 15 loads into PostgreSQL (default 1,000,000; quick 100,000)
//   BENCH_PG_SQLITE_VEHICLES  the same figure's SQLite comparison (default: the PostgreSQL size)
//   UPTANE_BENCH_DATABASE_URL  PostgreSQL for figure 15 (default postgres://root@127.0.0.1:5432/test; skipped if absent)
//   BENCH_IMAGE_MIB       the large image of figures 4, 10 and 12 (default 256)
//   BENCH_DASHBOARD_VEHICLES  vehicles of figure 17, the dashboard's API (default 1,000,000; quick 50,000)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchClock, type BenchContext, type BenchSettings } from './lib/context.js';
import { instrumentNodeBackend } from './lib/counting.js';
import { FIXES } from './lib/fixes.js';
import { figureSection, machineInfo, printFigure, writeResults, type Figure } from './lib/report.js';
import { figure1 } from './figures/f1-manifests.js';
import { figure2 } from './figures/f2-metadata-gets.js';
import { figure3 } from './figures/f3-nothing-new.js';
import { figure4 } from './figures/f4-download.js';
import { figure5 } from './figures/f5-scale.js';
import { figure6 } from './figures/f6-fleet.js';
import { figure7 } from './figures/f7-full-verification.js';
import { figure10 } from './figures/f10-image-encryption.js';
import { figure11 } from './figures/f11-tls.js';
import { figure12 } from './figures/f12-encrypted-download.js';
import { figure13 } from './figures/f13-targets-add.js';
import { figure14 } from './figures/f14-signature-schemes.js';
import { figure15 } from './figures/f15-postgres.js';
import { figure16 } from './figures/f16-observability.js';
import { figure17 } from './figures/f17-dashboard-scale.js';
import { figure18 } from './figures/f18-compression.js';
import { figure19 } from './figures/f19-install-bundles.js';
import { figure20 } from './figures/f20-delta.js';
import { figure21 } from './figures/f21-mqtt.js';
import { figure22 } from './figures/f22-gateway.js';
import { figure23 } from './figures/f23-transparency-log.js';
import { figure24 } from './figures/f24-suit.js';

const FIGURES: ReadonlyArray<readonly [number, (ctx: BenchContext) => Promise<Figure>]> = [
  [1, figure1],
  [2, figure2],
  [3, figure3],
  [4, figure4],
  [5, figure5],
  [6, figure6],
  [7, figure7],
  [10, figure10],
  [11, figure11],
  [12, figure12],
  [13, figure13],
  [14, figure14],
  [15, figure15],
  [16, figure16],
  [17, figure17],
  [18, figure18],
  [19, figure19],
  [20, figure20],
  [21, figure21],
  [22, figure22],
  [23, figure23],
  [24, figure24],
];

/** Read with the figures: what the numbers can and cannot say. */
const CLOSING = [
  '## How to read these numbers, and what is weak',
  '',
  '- This machine is shared: other jobs ran during the measurements (see the load averages above), so absolute rates move between runs by 30% or more. Ratios are taken against a baseline measured in the same process seconds apart (figure 4 pairs each download with a local hash right after it), which cancels much of that, not all; a verdict near its threshold can flip between runs.',
  '- Servers and clients share two cores: the server under test runs on the main thread, the load generator or simulated vehicles in worker threads. On separate machines the servers would have a core to themselves.',
  '- Figure 1 is the one that misses most often. The Director verifies 6 signatures per manifest where the issue\'s baseline counts 5, and answers only after a durable commit; the figure\'s rows give the ceiling that puts on the ratio and where the rest of a manifest\'s time goes. A CPU profile of one concurrent round (sampled in-process, 2026-11-22, 651 manifests/s against a 1,302/s baseline) put 47.5% of the Director thread in Ed25519 verification (OpenSSL, about 122 us each), about 10% in SQLite, 5% in writing the answers to the sockets and 6% idle; reaching 60% there would take a third off everything that is not verification.',
  '- Figure 2: the verdict is on the session-token path the primary ECU uses. A GET that carries a fresh Ed25519 signature cannot reach 50% of a plain in-memory GET, because the verification alone costs more than that GET (the best-possible row).',
  '- Figure 4: the download also writes the image and makes it durable, which the local baseline does not; the disk row measures that alone, and the verdict moves with it between runs. Full runs gave 54-73% before the Image repository sent blobs from reused slabs (see the fixes table), 83-93% since.',
  '- Figure 5: 1,000,000 vehicles through the Director service does not fit in a few minutes (validation and five keyids per vehicle, a durable commit per 500); the run registers what fits in its budget, fills up through the storage layer, and extrapolates, as the figure says.',
  '- Figure 6 spreads the fleet simulator over 4 worker threads: the simulated ECUs fsync their state about 76 times per vehicle and cycle, and one thread waits for those one at a time.',
  '- Figure 11: the GETs/s pairs of TLS against plain HTTP move the most of all (35-198% within one run on a loaded host), as both sides are a few hundred microseconds of CPU and the load generator does TLS work too; the server thread\'s CPU per GET rows beside them are the steadier measure of what TLS costs the server.',
  '- Figure 7: once the stored metadata is not parsed again, a later cycle is mostly the ECU\'s own durable writes (state, staged metadata, the A/B slot install: each a write, an fsync and a rename), which the pure-verification baseline does not do; on this shared disk their latency, not the verification, moves the ratio between runs.',
  '- Figure 14: ECDSA and RSA-PSS verify through OpenSSL whatever Ed25519 backend an ECU uses, so against the ECU default (pure-JavaScript Ed25519) they are many times faster, and the ECU keeps no verification cache for them: re-verifying 4 stored files costs well under a millisecond.',
  '- Figure 15 needs PostgreSQL (UPTANE_BENCH_DATABASE_URL, default the local `test` database) and skips itself without it. PostgreSQL runs on the same two cores as everything else, so its rates are ratios within one run; the CPU per request rows (Director processes and the PostgreSQL backends serving them) are what docs/capacity.md builds on, and two replicas are not expected to be faster than one here: the figure shows what coordinating them costs, to be run again where each replica has cores of its own.',
  '- Figure 16 compares two sets of the same servers in one process, with and without metrics and request logs, in alternating pairs; on a loaded host the pairs swing both ways (44% to 405% in the runs made while writing it, 2026-12-06, load 7-11 on 2 cores), so the figure also times the added work alone (request id, histogram sample, JSON log line: about 6 us of CPU per request) against the CPU of a GET without it (about 100 us), the steadier estimate of what is lost.',
  '- Figure 17 times single requests one after another on a host where other jobs run: a page of a few milliseconds moves by several times between runs (the failed list\'s first page at 1,000,000 vehicles: 1.6 ms p50 in one run, 15 ms in the next, load average 16-18), so its growth verdicts on list pages can flip; what does not move is the order of magnitude against the rules computed per request (seconds) and the campaign page (tens of seconds at 1,000,000: it reads every vehicle and assignment of the campaign per request). Its seeding writes 1,000,000 vehicles with their ECUs, group and campaign rows in one transaction (about 200 s here), then the Director\'s start runs migration 10\'s backfill; both are reported. SQLite only: PostgreSQL\'s overview is an index scan of the fleet (docs/dashboard.md).',
  '- Figure 19: an install cycle of three small images is mostly the ECUs\' durable writes (80-105 fsyncs against about 150-250 ms of CPU in a cycle of about 1 s on a loaded host), so its wall time follows the disk. What a bundle adds is counted, not timed: 6 journal writes (about 12 more fsyncs) and one more bus message per secondary (its trial and commit are two where an install is one), with the same signatures and verifications. Back-to-back pairs moved from 37% to 220% within single runs at load 15-18; the CPU rows and the counts are the steadier measure of the cost.',
  '- Figure 20: the bytes rows are deterministic (a seeded firmware pair); the seconds rows share two cores with the servers and the proxy, and on loopback a delta\'s apply (a zstd decompression against the old image) costs about what the bytes it saves cost to move, so the time ratio moves around 100% between runs (95-170% in the runs of 2026-12-06). On any link slower than some tens of MB/s (every cellular link) the delta arrives first; the break-even row estimates where.',
  '- Scratch probes used while profiling (A/B variants of the download loop, fsync scaling, in-process Director rates) are not part of `npm run bench`; their results are quoted in the fixes table.',
];

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/[_,]/g, ''));
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return value;
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const only = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(Number);
  const postgresVehicles = intEnv('BENCH_PG_VEHICLES', quick ? 100_000 : 1_000_000);
  const settings: BenchSettings = {
    quick,
    fleetVehicles: intEnv('BENCH_FLEET_VEHICLES', quick ? 50 : 1000),
    fleetThreads: intEnv('BENCH_FLEET_THREADS', 4),
    scaleVehicles: intEnv('BENCH_SCALE_VEHICLES', quick ? 20_000 : 1_000_000),
    scaleServiceSeconds: intEnv('BENCH_SCALE_SERVICE_SECONDS', quick ? 5 : 15),
    scaleStorageSeconds: intEnv('BENCH_SCALE_STORAGE_SECONDS', quick ? 10 : 90),
    postgresVehicles,
    postgresSqliteVehicles: intEnv('BENCH_PG_SQLITE_VEHICLES', postgresVehicles),
    imageMiB: intEnv('BENCH_IMAGE_MIB', quick ? 64 : 256),
    dashboardVehicles: intEnv('BENCH_DASHBOARD_VEHICLES', quick ? 50_000 : 1_000_000),
  };
  const machine = machineInfo();
  const tmp = mkdtempSync(join(tmpdir(), 'uptane-bench-'));
  const ctx: BenchContext = { clock: benchClock(), settings, tmp };
  instrumentNodeBackend();
  console.log(`uptane-ts benchmarks: node ${machine.node}, ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, load ${machine.loadBefore}`);
  const started = performance.now();
  const figures: Figure[] = [];
  try {
    for (const [id, run] of FIGURES) {
      if (only.length > 0 && !only.includes(id)) continue;
      console.log(`\n--- figure ${id} ...`);
      const figure = await run(ctx);
      printFigure(figure);
      figures.push(figure);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  machine.loadAfter = machineInfo().loadBefore;
  const totalSeconds = (performance.now() - started) / 1000;
  console.log(`\n${figures.map((f) => `${f.id}: ${f.verdict}`).join('  ')}   (${totalSeconds.toFixed(0)} s)`);
  const sections = process.env.BENCH_SECTIONS;
  if (sections !== undefined && sections !== '') {
    const header = `Measured alone (\`${only.length > 0 ? `BENCH_ONLY=${only.join(',')} ` : ''}${quick ? 'BENCH_QUICK=1 ' : ''}npm run bench\`, ${machine.date}, load average ${machine.loadBefore} before, ${machine.loadAfter} after).`;
    writeFileSync(sections, [header, '', ...figures.flatMap((f) => [...figureSection(f), ''])].join('\n'));
    console.log(`wrote ${sections}`);
  }
  if (only.length === 0 && !quick) {
    const path = join(dirname(fileURLToPath(import.meta.url)), '../../../RESULTS.md');
    const settingsText = [`fleet ${settings.fleetVehicles} vehicles`, `scale ${settings.scaleVehicles} vehicles`, `PostgreSQL ${settings.postgresVehicles} vehicles (SQLite ${settings.postgresSqliteVehicles})`, `image ${settings.imageMiB} MiB`, `dashboard ${settings.dashboardVehicles} vehicles`];
    writeResults(path, machine, figures, { command: 'npm run bench', settings: settingsText, totalSeconds, fixes: FIXES, closing: CLOSING });
    console.log(`wrote ${path}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
