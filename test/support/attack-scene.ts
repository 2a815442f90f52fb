// The scene every attack test in test/attacks/ plays on, built fresh for each test: a real Image
// repository and a real Director on loopback (behind a proxy that records the manifests the
// Director receives), and a simulated vehicle (primary tcu-1 with full verification,
// partial-verification secondary ecm-1, full-verification secondary abs-1) whose network and
// in-vehicle bus an attacker sits on. Plus the checks every attack shares (docs/code-style.md R13):
// typed code, trusted state and installed images unchanged byte for byte, the attack in the next
// vehicle version manifest and at the operator, and the next honest update installing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import type { TargetsSigned } from '../../shared/core/metadata/types.js';
import type { CycleResult } from '../../primary-ecu/primary.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import {
  AttackerFetcher,
  BusAttacker,
  directorOnlineKeys,
  forgeRepository,
  installedImages,
  startHostileProxy,
  startManifestRecorder,
  trustedState,
  type InterceptedRequest,
  type ManifestRecorder,
  type OnlineKeys,
  type ProxyBehaviour,
  type RunningProxy,
} from './attacker.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';

export const VIN = 'VINATTACK0000001';
export const PRIMARY = 'tcu-1';
export const ECM = 'ecm-1'; // partial verification
export const ABS = 'abs-1'; // full verification

export const img = (name: string, text: string, hardwareIds: string[], releaseCounter: number): FixtureImage => ({ name, content: Buffer.from(text), hardwareIds, releaseCounter });

/** Published before every test. */
export const IMAGES = {
  tcu: img('tcu/tcu-5.bin', 'telematics v5', ['tcu-a'], 5),
  ecmOld: img('engine/ecm-1.0.bin', 'engine ecu v1', ['ecm-x1'], 1),
  ecm: img('engine/ecm-2.0.bin', 'engine ecu v2', ['ecm-x1'], 2),
  ecm3: img('engine/ecm-3.0.bin', 'engine ecu v3', ['ecm-x1'], 3),
  ecm4: img('engine/ecm-4.0.bin', 'engine ecu v4', ['ecm-x1'], 4),
  abs: img('brake/abs-7.bin', 'brake ecu v7', ['abs-z'], 7),
};

/** Same length as IMAGES.ecm, other bytes: what an attacker would like installed. */
export const EVIL = Buffer.from('engine ecu vX');

export interface AttackScene {
  readonly clock: FixedClock;
  readonly repos: Repositories;
  /** The vehicle's folder: one sub-folder per ECU. */
  readonly dir: string;
  readonly car: SimulatedVehicle;
  /** The network between the vehicle and both repositories. */
  readonly net: AttackerFetcher;
  /** The in-vehicle bus between the primary and its secondaries. */
  readonly bus: BusAttacker;
  /** What reached the Director. */
  readonly recorder: ManifestRecorder;
  /** Run after the test, the last added first. */
  readonly cleanups: Array<() => Promise<void> | void>;
}

let current: AttackScene | undefined;

/** The scene of the running test. */
export function scene(): AttackScene {
  if (current === undefined) throw new Error('useAttackScene() registers the scene; call scene() inside a test');
  return current;
}

/** Registers hooks that build a fresh scene before each test of the calling file and tear it down after. */
export function useAttackScene(): void {
  beforeEach(async () => {
    const clock = new FixedClock(FIXTURE_NOW);
    const repos = await startRepositories(clock);
    await repos.publishImages(Object.values(IMAGES));
    const recorder = await startManifestRecorder(() => repos.director.url);
    // F4: the vehicle's own fetcher enforces a minimum speed; honest loopback traffic is far above it.
    const net = new AttackerFetcher(new HttpFetcher({ minBytesPerSecond: 1000, speedGracePeriodMs: 500, idleTimeoutMs: 5000 }));
    const bus = new BusAttacker();
    const dir = mkdtempSync(join(tmpdir(), 'uptane-attacks-'));
    const car = await newVehicle({ repos, recorder, clock, bus }, dir, VIN, [PRIMARY, ECM, ABS], net);
    current = { clock, repos, recorder, net, bus, dir, car, cleanups: [] };
    expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  });

  afterEach(async () => {
    const s = scene();
    current = undefined;
    for (const cleanup of s.cleanups.splice(0).reverse()) await cleanup();
    await s.recorder.close();
    await s.repos.close();
    rmSync(s.dir, { recursive: true, force: true });
  });
}

/** A vehicle shaped like the scene's (a primary, a partial and a full secondary) on the scene's servers and bus. */
export function createVehicle(directory: string, vin: string, serials: readonly [string, string, string], fetcher: AttackerFetcher): Promise<SimulatedVehicle> {
  return newVehicle(scene(), directory, vin, serials, fetcher);
}

function newVehicle(
  { repos, recorder, clock, bus }: Pick<AttackScene, 'repos' | 'recorder' | 'clock' | 'bus'>,
  directory: string,
  vin: string,
  serials: readonly [string, string, string],
  fetcher: AttackerFetcher,
): Promise<SimulatedVehicle> {
  return SimulatedVehicle.create({
    directory,
    vin,
    primary: { serial: serials[0], hardwareId: 'tcu-a' },
    secondaries: [
      { serial: serials[1], hardwareId: 'ecm-x1' },
      { serial: serials[2], hardwareId: 'abs-z', verification: 'full' },
    ],
    directorUrl: recorder.url,
    imageRepoUrl: repos.image.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    clock,
    fetcher,
    busTap: bus.tap,
  });
}

// -------------------------------------------------------------------------------------------------
// The honest operator and the honest vehicle.

export async function assign(ecuSerial: string, image: Pick<FixtureImage, 'name'>, vin = VIN): Promise<void> {
  const response = await scene().repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial, image: image.name });
  expect(response).toMatchObject({ status: 201 });
}

export async function honestCycle(expected: CycleResult['status'] = 'installed'): Promise<CycleResult> {
  const result = await scene().car.primary.runCycle();
  expect(result).toMatchObject({ status: expected });
  return result;
}

/** Runs the primary and its secondaries through verification and download while driving: nothing installs. */
export async function verifyWhileDriving(): Promise<void> {
  const { car } = scene();
  car.state.set('driving');
  await honestCycle('deferred');
  car.state.set('parked');
}

/** What the operator sees of the vehicle (GET /api/v1/vehicles/:vin). */
export async function vehicleStatus(vin = VIN): Promise<Record<string, unknown>> {
  const status = await scene().repos.operator('GET', `/api/v1/vehicles/${vin}`);
  expect(status.status).toBe(200);
  return status.json;
}

// -------------------------------------------------------------------------------------------------
// The checks every attack shares.

export interface Expected {
  /** The typed error code. */
  readonly code: string;
  /** The ECU that detects it and reports it in its version report. */
  readonly detectedBy: string;
  /** Where the cycle result carries the code: the cycle error, or the install outcome of an ECU. */
  readonly in: 'cycle' | 'outcome';
  /** The ECU whose install outcome carries the code (default: the one that detects it). */
  readonly outcomeOf?: string;
}

/** The attack cycle: failed with the typed code, and every ECU's trusted state and installed image unchanged byte for byte. */
export async function expectCycleRejected(expected: Expected): Promise<CycleResult> {
  const { car } = scene();
  const stateBefore = trustedState(car);
  const installedBefore = installedImages(car);
  const result = await car.primary.runCycle();
  expect(result.status).toBe('failed');
  if (expected.in === 'cycle') expect(result.error?.code).toBe(expected.code);
  else expect(result.outcomes[expected.outcomeOf ?? expected.detectedBy]).toMatchObject({ status: 'failed', code: expected.code });
  expect(trustedState(car)).toEqual(stateBefore);
  expect(installedImages(car)).toEqual(installedBefore);
  return result;
}

/**
 * The attacker leaves; the next honest cycle installs, its vehicle version manifest carries the
 * attack in the detecting ECU's report, and the operator sees it.
 */
export async function expectReportedThenHonestUpdate(expected: Pick<Expected, 'code' | 'detectedBy'>): Promise<void> {
  const { net, bus, recorder } = scene();
  net.clear();
  bus.clear();
  const sent = recorder.manifests.length;
  await honestCycle('installed');
  const next = recorder.manifests[sent]!;
  expect(next.signed.ecu_version_reports[expected.detectedBy]!.signed.attacks_detected).toEqual(
    expect.arrayContaining([expect.objectContaining({ code: expected.code })]),
  );
  expect((await vehicleStatus()).attacks).toEqual(expect.arrayContaining([expect.objectContaining({ ecuSerial: expected.detectedBy, code: expected.code })]));
}

/** Both of the above: the whole verdict on one attack. */
export async function expectAttackRejected(expected: Expected): Promise<void> {
  await expectCycleRejected(expected);
  await expectReportedThenHonestUpdate(expected);
}

/**
 * A network that drops requests or answers: the cycle fails with `code` and changes nothing, as for
 * an attack, but it is a fault to the ECU, not an attack it can tell from an outage: it is not
 * reported in attacks_detected (which would halt campaigns on every flaky link). A drop-request is
 * detected at the Director instead, by the vehicle's missing or stale manifests
 * (docs/threat-model.md F5). The next honest cycle installs.
 */
export async function expectFaultThenHonestUpdate(code: string): Promise<void> {
  await expectCycleRejected({ code, detectedBy: PRIMARY, in: 'cycle' });
  const { net, bus, recorder } = scene();
  net.clear();
  bus.clear();
  const sent = recorder.manifests.length;
  await honestCycle('installed');
  for (const report of Object.values(recorder.manifests[sent]!.signed.ecu_version_reports)) {
    expect(report.signed.attacks_detected).toEqual([]);
  }
  expect((await vehicleStatus()).attacks).toEqual([]);
}

// -------------------------------------------------------------------------------------------------
// The attacker's moves on this scene.

/** Image repository metadata as served now (timestamp is only served unversioned: capture it early). */
export async function imageMetadataNow(): Promise<Record<string, Buffer>> {
  const { repos } = scene();
  const get = async (file: string) => Buffer.from(await (await fetch(`${repos.image.url}/metadata/${file}`)).arrayBuffer());
  const timestamp = await get('timestamp.json');
  const snapshotVersion = parseMetadata(timestamp, 'timestamp').signed.meta['snapshot.json'].version;
  const snapshot = await get(`${snapshotVersion}.snapshot.json`);
  const targetsVersion = parseMetadata(snapshot, 'snapshot').signed.meta['targets.json']!.version;
  return { 'timestamp.json': timestamp, [`${snapshotVersion}.snapshot.json`]: snapshot, [`${targetsVersion}.targets.json`]: await get(`${targetsVersion}.targets.json`) };
}

export const primaryDir = (): string => join(scene().dir, PRIMARY);

/** Changes the first hex digit of `hex` where it occurs in `text` (a hash in a metadata file). */
export const flipFirstHexDigit = (text: string, hex: string): string => text.replace(hex, `${hex[0] === '0' ? '1' : '0'}${hex.slice(1)}`);

export type ForgedTargets = Pick<TargetsSigned, 'targets'> & Partial<Pick<TargetsSigned, 'delegations' | 'custom'>>;

/** A compromised Director: the network serves this vehicle targets (and the snapshot and timestamp pinning them) signed with `keys`. */
export function serveForgedDirector(targets: ForgedTargets, keys: OnlineKeys = directorOnlineKeys(scene().repos)): void {
  scene().net.serveAll('director', forgeRepository(keys, primaryDir(), 'director', { custom: { vin: VIN }, ...targets }));
}

/** A hostile proxy in front of `repo` (closed after the test), and the vehicle's requests that `when` selects routed through it. */
export async function hostileNetwork(repo: 'director' | 'image', behaviour: ProxyBehaviour, when: (request: InterceptedRequest) => boolean): Promise<RunningProxy> {
  const { repos, net, cleanups } = scene();
  const upstream = () => (repo === 'director' ? repos.director.url : repos.image.url);
  const proxy = await startHostileProxy(upstream, () => behaviour);
  cleanups.push(() => proxy.close());
  net.routeThrough(proxy, (r) => r.repo === repo && when(r));
  return proxy;
}
