// Figure 19: what an atomic install bundle costs (issue 21; docs/decisions.md "Install bundles").
// Vehicles of the same shape as test/ecu/install-bundles.test.ts (primary tcu-1, secondary ecm-1
// with partial verification, secondary abs-1 with full verification) against the real Director and
// Image repository, in one process, updated round after round to three new images: one vehicle
// through an install bundle (POST /api/v1/install-bundles: stage all, trial each, commit all), the
// other through three plain assignments (POST /api/v1/assignments, one per hardware id: each ECU
// installs on its own). That pair twice: secondaries in the primary's process, and over the HTTP
// secondary transport (each secondary on a loopback port, as separate ECUs are). Each round every
// vehicle runs the cycle that installs and the cycle that reports it, timed, with what each did
// counted: journal writes, messages on the in-vehicle bus, fsyncs, signatures.
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { nobleBackend, type Ed25519Backend } from '../../shared/core/crypto/ed25519.js';
import { BundleJournalFile } from '../../primary-ecu/install-bundle-run.js';
import type { SecondaryTransport } from '../../shared/ecu/secondary-protocol.js';
import { writeFileAtomic } from '../../shared/files/fs-atomic.js';
import type { FixtureImage, Repositories } from '../../sim/harness/fleet-fixtures.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { operatorOk, registerAll, startBenchRepositories, type BenchContext } from '../lib/context.js';
import type { Figure, Row } from '../lib/report.js';
import { fmt, median, pct } from '../lib/stats.js';

/** Each ECU's image: small, so the fixed costs of the protocol show rather than the transfer. */
const IMAGE_BYTES = 64 * 1024;
const ECUS = [
  { serial: 'tcu-1', hardwareId: 'tcu-a', dir: 'tcu' },
  { serial: 'ecm-1', hardwareId: 'ecm-x1', dir: 'engine' },
  { serial: 'abs-1', hardwareId: 'abs-z', dir: 'brake' },
] as const;

type Transport = 'in-process' | 'http';
type Way = 'bundle' | 'independent';

/** What one cycle did, counted while it ran. */
interface Counts {
  journalWrites: number;
  busMessages: number;
  fsyncs: number;
  /** Ed25519 verifications and signatures the ECUs made (the primary's cache hits are not verifications). */
  verifications: number;
  signatures: number;
  /** CPU time of the whole process (every thread: the ECUs, the servers, their workers) during the cycle. */
  cpuMs: number;
}

const counts: Counts = { journalWrites: 0, busMessages: 0, fsyncs: 0, verifications: 0, signatures: 0, cpuMs: 0 };
const take = (): Counts => {
  const taken = { ...counts };
  counts.journalWrites = counts.busMessages = counts.fsyncs = counts.verifications = counts.signatures = 0;
  return taken;
};

/** The ECU default backend, counted. */
const countingNoble: Ed25519Backend = {
  name: nobleBackend.name,
  sign(seed, message) {
    counts.signatures++;
    return nobleBackend.sign(seed, message);
  },
  verifyChecked(publicKey, message, signature) {
    counts.verifications++;
    return nobleBackend.verifyChecked(publicKey, message, signature);
  },
};

/**
 * Counts every fsync of the process (fs.fsyncSync, what atomic writes use, and FileHandle sync and
 * datasync, what image downloads use) and every journal write or removal, until the returned undo.
 * Builtin ESM bindings follow the patched CommonJS object once synced, so modules that imported
 * fsyncSync by name see the counter too.
 */
async function instrument(scratch: string): Promise<() => void> {
  const fsyncSync = fs.fsyncSync;
  fs.fsyncSync = (fd: number) => {
    counts.fsyncs++;
    fsyncSync(fd);
  };
  syncBuiltinESMExports();
  const probe = await open(join(scratch, 'f19-probe'), 'w');
  const handle = Object.getPrototypeOf(probe) as { sync: () => Promise<void>; datasync: () => Promise<void> };
  await probe.close();
  const { sync, datasync } = handle;
  handle.sync = function (this: unknown) {
    counts.fsyncs++;
    return sync.call(this);
  };
  handle.datasync = function (this: unknown) {
    counts.fsyncs++;
    return datasync.call(this);
  };
  const { write, clear } = BundleJournalFile.prototype;
  BundleJournalFile.prototype.write = function (this: BundleJournalFile, journal) {
    counts.journalWrites++;
    write.call(this, journal);
  };
  BundleJournalFile.prototype.clear = function (this: BundleJournalFile) {
    counts.journalWrites++;
    clear.call(this);
  };
  return () => {
    fs.fsyncSync = fsyncSync;
    syncBuiltinESMExports();
    handle.sync = sync;
    handle.datasync = datasync;
    BundleJournalFile.prototype.write = write;
    BundleJournalFile.prototype.clear = clear;
  };
}

/** Counts every call the primary makes on a secondary's transport: a message on the bus and its answer. */
function countingBus(_serial: string, inner: SecondaryTransport): SecondaryTransport {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        counts.busMessages++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

interface Measured {
  installMs: number[];
  reportMs: number[];
  install: Counts[];
  report: Counts[];
}

async function vehicleFor(ctx: BenchContext, repos: Repositories, vin: string, transport: Transport): Promise<SimulatedVehicle> {
  const tag = vin.toLowerCase();
  const car = await SimulatedVehicle.create({
    directory: join(ctx.tmp, 'f19', vin),
    vin,
    clock: ctx.clock,
    seed: 'bench-f19',
    transport,
    primary: { serial: `${tag}-${ECUS[0].serial}`, hardwareId: ECUS[0].hardwareId },
    secondaries: [
      { serial: `${tag}-${ECUS[1].serial}`, hardwareId: ECUS[1].hardwareId },
      { serial: `${tag}-${ECUS[2].serial}`, hardwareId: ECUS[2].hardwareId, verification: 'full' },
    ],
    directorUrl: repos.director.url,
    imageRepoUrl: repos.image.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    busTap: countingBus,
    backend: countingNoble,
  });
  await registerAll(repos, [car.registration()]);
  return car;
}

const imageName = (ecu: (typeof ECUS)[number], round: number) => `bench/f19/${ecu.dir}/${ecu.serial}-${round + 1}.bin`;

/** Assigns round `round`'s three images to `car`, as one bundle or as three plain assignments. */
async function assign(repos: Repositories, car: SimulatedVehicle, way: Way, round: number): Promise<number | undefined> {
  const vin = car.spec.vin;
  const tag = vin.toLowerCase();
  if (way === 'bundle') {
    const created = await operatorOk(repos, 'POST', '/api/v1/install-bundles', { vin, members: ECUS.map((ecu) => ({ ecuSerial: `${tag}-${ecu.serial}`, image: imageName(ecu, round) })) });
    return Number(created.id);
  }
  for (const ecu of ECUS) await operatorOk(repos, 'POST', '/api/v1/assignments', { vins: [vin], image: imageName(ecu, round), hardwareId: ecu.hardwareId });
  return undefined;
}

/** One cycle, timed and counted; throws unless it ended as `expected`. */
async function cycle(car: SimulatedVehicle, expected: string, into: { ms: number[]; counts: Counts[] }, what: string): Promise<void> {
  take();
  const cpu = process.cpuUsage();
  const t = performance.now();
  const result = await car.primary.runCycle();
  into.ms.push(performance.now() - t);
  const used = process.cpuUsage(cpu);
  counts.cpuMs = (used.user + used.system) / 1000;
  into.counts.push(take());
  if (result.status !== expected) throw new Error(`figure 19: ${what} ended ${result.status}, not ${expected}: ${JSON.stringify(result.error ?? result.outcomes ?? {})}`);
}

const medianOf = (list: readonly Counts[], key: keyof Counts) => median(list.map((c) => c[key]));

export async function figure19(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  const rounds = ctx.settings.quick ? 3 : 10;
  const transports: Transport[] = ['in-process', 'http'];
  const repos = await startBenchRepositories(ctx, 'f19');
  const undo = await instrument(ctx.tmp);
  const cars: SimulatedVehicle[] = [];
  try {
    const images: FixtureImage[] = [];
    for (let round = 0; round <= rounds; round++) {
      for (const ecu of ECUS) images.push({ name: imageName(ecu, round), content: randomBytes(IMAGE_BYTES), hardwareIds: [ecu.hardwareId], releaseCounter: round + 1 });
    }
    await repos.publishImages(images);

    const results = new Map<string, Measured>();
    // Four vehicles: each transport, each way.
    const vehicles = new Map<string, SimulatedVehicle>();
    for (const [t, transport] of transports.entries()) {
      for (const way of ['bundle', 'independent'] as const) {
        const car = await vehicleFor(ctx, repos, `BENCHF19${way === 'bundle' ? 'B' : 'I'}${t}000001`, transport);
        cars.push(car);
        vehicles.set(`${transport}/${way}`, car);
        results.set(`${transport}/${way}`, { installMs: [], reportMs: [], install: [], report: [] });
        // The first cycle of a new vehicle reads the Image repository's metadata for the first time: not timed.
        await cycle(car, 'no-update', { ms: [], counts: [] }, 'a first cycle');
      }
    }
    // Round 0 warms up (compiles the install paths of this process) and is not kept.
    for (let round = 0; round <= rounds; round++) {
      // Per transport the two ways run back to back, which goes first alternating, and so does the
      // transport: a slow moment of the host falls on both ways, and each round gives a pair.
      const ways: Way[] = round % 2 === 0 ? ['bundle', 'independent'] : ['independent', 'bundle'];
      const order = (round % 4 < 2 ? transports : [...transports].reverse()).flatMap((transport) => ways.map((way) => `${transport}/${way}`));
      for (const key of order) {
        const car = vehicles.get(key)!;
        const [transport, way] = key.split('/') as [Transport, Way];
        const m = round === 0 ? { installMs: [], reportMs: [], install: [], report: [] } : results.get(key)!;
        const bundleId = await assign(repos, car, way, round);
        await cycle(car, 'installed', { ms: m.installMs, counts: m.install }, `${transport} ${way} round ${round}`);
        const runs = car.installed();
        for (const ecu of ECUS) {
          if (runs[`${car.spec.vin.toLowerCase()}-${ecu.serial}`] !== imageName(ecu, round)) throw new Error(`figure 19: ${way} left ${ecu.serial} on ${JSON.stringify(runs)}`);
        }
        // The next cycle sends the manifest that reports it; the Director records the bundle installed.
        await cycle(car, 'no-update', { ms: m.reportMs, counts: m.report }, `${transport} ${way} report ${round}`);
        if (bundleId !== undefined) {
          const view = await operatorOk(repos, 'GET', `/api/v1/install-bundles/${bundleId}`, undefined);
          if (view.state !== 'installed') throw new Error(`figure 19: the Director recorded bundle ${bundleId} ${String(view.state)}`);
        }
      }
    }
    // What one journal write costs on this disk: the same atomic write (temp file, fsync, rename,
    // fsync of the folder) of a journal-sized file, in a loop.
    const journalPath = join(ctx.tmp, 'f19-journal.json');
    const journalBody = Buffer.from(JSON.stringify({ bundleId: 'ib-1', members: ECUS.map((e) => `benchf19b0000001-${e.serial}`), phase: 'trial', current: 'benchf19b0000001-abs-1' }));
    const atomicMs: number[] = [];
    for (let k = 0; k < 30; k++) {
      const t = performance.now();
      writeFileAtomic(journalPath, journalBody);
      atomicMs.push(performance.now() - t);
    }

    const rows: Row[] = [];
    for (const transport of transports) {
      const b = results.get(`${transport}/bundle`)!;
      const i = results.get(`${transport}/independent`)!;
      const pairs = b.installMs.map((ms, k) => ms / i.installMs[k]!);
      const cpu = { bundle: medianOf(b.install, 'cpuMs'), independent: medianOf(i.install, 'cpuMs') };
      const counted = (list: readonly Counts[]) =>
        `${fmt(medianOf(list, 'journalWrites'), 1)} journal writes, ${fmt(medianOf(list, 'busMessages'), 1)} bus messages, ${fmt(medianOf(list, 'fsyncs'), 1)} fsyncs, ${fmt(medianOf(list, 'verifications'), 1)} verifications, ${fmt(medianOf(list, 'signatures'), 1)} signatures`;
      rows.push(
        {
          label: `${transport} secondaries: wall time of the cycle that installs 3 images (primary + 2 secondaries), bundle against 3 independent installs (medians of ${rounds}; ratio: median of the ${rounds} back-to-back pairs, from ${pct(Math.min(...pairs))} to ${pct(Math.max(...pairs))})`,
          value: `${fmt(median(b.installMs))} ms`,
          baseline: `${fmt(median(i.installMs))} ms`,
          ratio: pct(median(pairs)),
          verdict: 'INFO',
        },
        { label: `${transport}: CPU time of the process during that cycle (ECUs and servers), medians`, value: `${fmt(cpu.bundle)} ms`, baseline: `${fmt(cpu.independent)} ms`, ratio: pct(cpu.bundle / cpu.independent), verdict: 'INFO' },
        { label: `${transport}: what that cycle did, bundle / independent (medians)`, value: counted(b.install), baseline: counted(i.install), verdict: 'INFO' },
        {
          label: `${transport}: the next cycle, which reports the installs (the Director records the bundle), medians`,
          value: `${fmt(median(b.reportMs))} ms`,
          baseline: `${fmt(median(i.reportMs))} ms`,
          ratio: pct(median(b.reportMs.map((ms, k) => ms / i.reportMs[k]!))),
          verdict: 'INFO',
        },
      );
    }
    rows.push({
      label: `one atomic write of a journal-sized file (${journalBody.length} B: temp file, fsync, rename, fsync of the folder) on this disk, median of ${atomicMs.length}; times the bundle's ${fmt(medianOf(results.get('http/bundle')!.install, 'journalWrites'), 1)} journal writes`,
      value: `${fmt(median(atomicMs), 2)} ms; ${fmt(median(atomicMs) * medianOf(results.get('http/bundle')!.install, 'journalWrites'), 1)} ms`,
      verdict: 'INFO',
    });
    return {
      id: 19,
      title: 'Install bundles: an atomic update of 3 ECUs against 3 independent installs',
      target: 'no numeric target: time per update cycle and what it writes, as a ratio',
      baselineIs: 'the same 3 images installed through 3 plain assignments by a vehicle of the same shape, same process, back to back with the bundle in each round',
      rows,
      verdict: 'INFO',
      notes: [
        `The ${(rounds + 1) * ECUS.length} images (${IMAGE_BYTES / 1024} KiB each, random) are published first; then in each round each of the four vehicles (bundle or independent, in-process or HTTP secondaries; per transport the two ways back to back, which goes first alternating) gets that round's three images (a bundle, or three assignments), runs the cycle that installs them, then the cycle that reports them. A first round warms up and is not kept. The vehicles are SimulatedVehicles (the real Primary and Secondary, their A/B slots and the ECU default @noble/ed25519 backend) against the real Director and Image repository on loopback, all in this process; a first untimed cycle per vehicle reads the Image repository's metadata once.`,
        'Counts are per cycle: journal writes are the primary\'s install-bundle.json writes and its removal; bus messages are calls on a secondary\'s transport (each a request and its answer, over HTTP a round trip); fsyncs are every fsync and datasync this process made during the cycle (the ECUs\' atomic state writes, slot writes and downloads; the servers in this process write through SQLite, which is not counted).',
        'The images are small so the protocol\'s fixed costs show: with images of megabytes, transfer and slot writes, the same both ways, dominate and the ratio moves towards 100%.',
      ],
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    undo();
    for (const car of cars) await car.close();
    await repos.close();
  }
}
