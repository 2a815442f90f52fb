// The scene every attack plays on, in test/attacks/ and in `uptane sim attack`: a real Image
// repository and a real Director on loopback (behind a proxy that records the manifests the
// Director receives), and a simulated vehicle (primary tcu-1 with full verification,
// partial-verification secondary ecm-1, full-verification secondary abs-1) whose network and
// in-vehicle bus an attacker sits on. The honest operator's and vehicle's moves throw when the
// scene misbehaves; the checks of an attack's verdict are in checks.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import type { TargetsSigned } from '../../shared/core/metadata/types.js';
import type { CycleResult } from '../../primary-ecu/primary.js';
import { SimulatedVehicle } from '../vehicle.js';
import {
  AttackerFetcher,
  BusAttacker,
  directorOnlineKeys,
  forgeRepository,
  startHostileProxy,
  startManifestRecorder,
  type InterceptedRequest,
  type ManifestRecorder,
  type OnlineKeys,
  type ProxyBehaviour,
  type RunningProxy,
} from './attacker.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../harness/fleet-fixtures.js';

export const VIN = 'VINATTACK0000001';
export const PRIMARY = 'tcu-1';
export const ECM = 'ecm-1'; // partial verification
export const ABS = 'abs-1'; // full verification

export const img = (name: string, text: string, hardwareIds: string[], releaseCounter: number): FixtureImage => ({ name, content: Buffer.from(text), hardwareIds, releaseCounter });

/** Published when the scene starts. */
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

/** Thrown when the honest side of the scene does not behave (a server refusing the operator, a cycle ending otherwise). */
export class SceneError extends Error {}

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
  /** Run at close, the last added first. */
  readonly cleanups: Array<() => Promise<void> | void>;
}

/** Starts both servers in a temporary folder, publishes IMAGES and registers the scene's vehicle. */
export async function startAttackScene(): Promise<AttackScene> {
  const clock = new FixedClock(FIXTURE_NOW);
  const repos = await startRepositories(clock);
  const cleanups: AttackScene['cleanups'] = [];
  try {
    await repos.publishImages(Object.values(IMAGES));
    const recorder = await startManifestRecorder(() => repos.director.url);
    cleanups.push(() => recorder.close());
    // F4: the vehicle's own fetcher enforces a minimum speed; honest loopback traffic is far above it.
    const net = new AttackerFetcher(new HttpFetcher({ minBytesPerSecond: 1000, speedGracePeriodMs: 500, idleTimeoutMs: 5000 }));
    const bus = new BusAttacker();
    const dir = mkdtempSync(join(tmpdir(), 'uptane-attacks-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const car = await newVehicle({ repos, recorder, clock, bus }, dir, VIN, [PRIMARY, ECM, ABS], net);
    const registered = await repos.operator('POST', '/api/v1/vehicles', car.registration());
    if (registered.status !== 201) throw new SceneError(`the Director refused the scene's vehicle: HTTP ${registered.status} ${JSON.stringify(registered.json)}`);
    // Cleanups added later (proxies) run first; the servers go last.
    return { clock, repos, recorder, net, bus, dir, car, cleanups };
  } catch (err) {
    await closeAttackScene({ repos, cleanups });
    throw err;
  }
}

/** Stops what the scene started and removes its folders. */
export async function closeAttackScene(s: Pick<AttackScene, 'repos' | 'cleanups'>): Promise<void> {
  for (const cleanup of s.cleanups.splice(0).reverse()) await cleanup();
  await s.repos.close();
}

/** A vehicle shaped like the scene's (a primary, a partial and a full secondary) on the scene's servers and bus. */
export function createVehicle(s: AttackScene, directory: string, vin: string, serials: readonly [string, string, string], fetcher: AttackerFetcher): Promise<SimulatedVehicle> {
  return newVehicle(s, directory, vin, serials, fetcher);
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

export async function assign(s: AttackScene, ecuSerial: string, image: Pick<FixtureImage, 'name'>, vin = VIN): Promise<void> {
  const response = await s.repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial, image: image.name });
  if (response.status !== 201) throw new SceneError(`assigning ${image.name} to ${ecuSerial}: HTTP ${response.status} ${JSON.stringify(response.json)}`);
}

/** One cycle of the vehicle, which must end `expected`. */
export async function honestCycle(s: AttackScene, expected: CycleResult['status'] = 'installed'): Promise<CycleResult> {
  const result = await s.car.primary.runCycle();
  if (result.status !== expected) throw new SceneError(`an honest cycle ended ${result.status}${result.error === undefined ? '' : ` (${result.error.code}: ${result.error.message})`}, expected ${expected}`);
  return result;
}

/** Runs the primary and its secondaries through verification and download while driving: nothing installs. */
export async function verifyWhileDriving(s: AttackScene): Promise<void> {
  s.car.state.set('driving');
  await honestCycle(s, 'deferred');
  s.car.state.set('parked');
}

/** What the operator sees of the vehicle (GET /api/v1/vehicles/:vin). */
export async function vehicleStatus(s: AttackScene, vin = VIN): Promise<Record<string, unknown>> {
  const status = await s.repos.operator('GET', `/api/v1/vehicles/${vin}`);
  if (status.status !== 200) throw new SceneError(`GET /api/v1/vehicles/${vin}: HTTP ${status.status}`);
  return status.json;
}

// -------------------------------------------------------------------------------------------------
// The attacker's moves on this scene.

/** Image repository metadata as served now (timestamp is only served unversioned: capture it early). */
export async function imageMetadataNow(s: AttackScene): Promise<Record<string, Buffer>> {
  const get = async (file: string) => Buffer.from(await (await fetch(`${s.repos.image.url}/metadata/${file}`)).arrayBuffer());
  const timestamp = await get('timestamp.json');
  const snapshotVersion = parseMetadata(timestamp, 'timestamp').signed.meta['snapshot.json'].version;
  const snapshot = await get(`${snapshotVersion}.snapshot.json`);
  const targetsVersion = parseMetadata(snapshot, 'snapshot').signed.meta['targets.json']!.version;
  return { 'timestamp.json': timestamp, [`${snapshotVersion}.snapshot.json`]: snapshot, [`${targetsVersion}.targets.json`]: await get(`${targetsVersion}.targets.json`) };
}

export const primaryDir = (s: AttackScene): string => join(s.dir, PRIMARY);

/** Changes the first hex digit of `hex` where it occurs in `text` (a hash in a metadata file). */
export const flipFirstHexDigit = (text: string, hex: string): string => text.replace(hex, `${hex[0] === '0' ? '1' : '0'}${hex.slice(1)}`);

export type ForgedTargets = Pick<TargetsSigned, 'targets'> & Partial<Pick<TargetsSigned, 'delegations' | 'custom'>>;

/** A compromised Director: the network serves this vehicle targets (and the snapshot and timestamp pinning them) signed with `keys`. */
export function serveForgedDirector(s: AttackScene, targets: ForgedTargets, keys: OnlineKeys = directorOnlineKeys(s.repos)): void {
  s.net.serveAll('director', forgeRepository(keys, primaryDir(s), 'director', { custom: { vin: VIN }, ...targets }));
}

/** A hostile proxy in front of `repo` (closed with the scene), and the vehicle's requests that `when` selects routed through it. */
export async function hostileNetwork(s: AttackScene, repo: 'director' | 'image', behaviour: ProxyBehaviour, when: (request: InterceptedRequest) => boolean): Promise<RunningProxy> {
  const upstream = () => (repo === 'director' ? s.repos.director.url : s.repos.image.url);
  const proxy = await startHostileProxy(upstream, () => behaviour);
  s.cleanups.push(() => proxy.close());
  s.net.routeThrough(proxy, (r) => r.repo === repo && when(r));
  return proxy;
}
