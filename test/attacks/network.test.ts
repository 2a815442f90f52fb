// Attacks on a simulated vehicle (primary tcu-1 with full verification, partial-verification
// secondary ecm-1, full-verification secondary abs-1) against a real Image repository and a real
// Director on loopback: one test per attack, named after it with its test-catalogue.md id. Each
// asserts the typed error code, the trusted state of every ECU unchanged byte for byte, the installed
// images unchanged, the attack carried by the next vehicle version manifest and visible to the
// operator, and the next honest update succeeding (STYLE.md 13). Attacker positions follow the threat
// model (uptane-requirements.md 8): the network outside the vehicle (a Fetcher in the middle), a
// compromised Director or Image repository (their keys), the in-vehicle bus, a compromised secondary.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/clock.js';
import { FetchError } from '../../shared/errors.js';
import { HttpFetcher } from '../../shared/fetcher.js';
import { digestBytes } from '../../shared/hashing.js';
import { signEnvelope } from '../../shared/manifest.js';
import { parseMetadata, SPEC_VERSION } from '../../shared/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/metadata/sign.js';
import type { TargetsSigned } from '../../shared/metadata/types.js';
import type { CycleResult } from '../../primary-ecu/primary.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import {
  AttackerFetcher,
  attackerKey,
  BusAttacker,
  bytesResponse,
  directorOnlineKeys,
  directorTarget,
  endlessResponse,
  forgeRepository,
  imageRepoKeys,
  installedImages,
  readAll,
  resign,
  startManifestRecorder,
  startTrickleProxy,
  streamOf,
  trustedState,
  type ManifestRecorder,
  type RunningProxy,
} from '../support/attacker.js';
import { FIXTURE_NOW, startRepositories, UPLOADER_TOKEN, type FixtureImage, type Repositories } from '../support/fleet-fixtures.js';

const VIN = 'VINATTACK0000001';
const PRIMARY = 'tcu-1';
const ECM = 'ecm-1'; // partial verification
const ABS = 'abs-1'; // full verification

const img = (name: string, text: string, hardwareIds: string[], releaseCounter: number): FixtureImage => ({ name, content: Buffer.from(text), hardwareIds, releaseCounter });
const IMAGES = {
  tcu: img('tcu/tcu-5.bin', 'telematics v5', ['tcu-a'], 5),
  ecmOld: img('engine/ecm-1.0.bin', 'engine ecu v1', ['ecm-x1'], 1),
  ecm: img('engine/ecm-2.0.bin', 'engine ecu v2', ['ecm-x1'], 2),
  ecm3: img('engine/ecm-3.0.bin', 'engine ecu v3', ['ecm-x1'], 3),
  ecm4: img('engine/ecm-4.0.bin', 'engine ecu v4', ['ecm-x1'], 4),
  abs: img('brake/abs-7.bin', 'brake ecu v7', ['abs-z'], 7),
};
/** Same length as IMAGES.ecm, other bytes: what an attacker would like installed. */
const EVIL = Buffer.from('engine ecu vX');

let clock: FixedClock;
let repos: Repositories;
let dir: string;
let car: SimulatedVehicle;
let net: AttackerFetcher;
let bus: BusAttacker;
let recorder: ManifestRecorder;
const cleanups: Array<() => Promise<void> | void> = [];

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages(Object.values(IMAGES));
  recorder = await startManifestRecorder(() => repos.director.url);
  // F4: the vehicle's own fetcher enforces a minimum speed; honest loopback traffic is far above it.
  net = new AttackerFetcher(new HttpFetcher({ minBytesPerSecond: 1000, speedGracePeriodMs: 500, idleTimeoutMs: 5000 }));
  bus = new BusAttacker();
  dir = mkdtempSync(join(tmpdir(), 'uptane-attacks-'));
  car = await createVehicle(dir, VIN, ['tcu-1', 'ecm-1', 'abs-1'], net);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await recorder.close();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

function createVehicle(directory: string, vin: string, serials: [string, string, string], fetcher: AttackerFetcher): Promise<SimulatedVehicle> {
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

async function assign(ecuSerial: string, image: Pick<FixtureImage, 'name'>, vin = VIN): Promise<void> {
  const response = await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial, image: image.name });
  expect(response).toMatchObject({ status: 201 });
}

async function honestCycle(expected: CycleResult['status'] = 'installed'): Promise<CycleResult> {
  const result = await car.primary.runCycle();
  expect(result).toMatchObject({ status: expected });
  return result;
}

/** Runs the primary and its secondaries through verification and download while driving: nothing installs. */
async function verifyWhileDriving(): Promise<void> {
  car.state.set('driving');
  await honestCycle('deferred');
  car.state.set('parked');
}

interface Expected {
  /** The typed error code. */
  readonly code: string;
  /** The ECU that detects it and reports it in its version report. */
  readonly detectedBy: string;
  /** Where the cycle result carries the code: the cycle error, or the install outcome of an ECU. */
  readonly in: 'cycle' | 'outcome';
  /** The ECU whose install outcome carries the code (default: the one that detects it). */
  readonly outcomeOf?: string;
}

/**
 * The attack cycle, then the checks every attack shares: typed code, trusted state and installed
 * images unchanged, the attack in the next vehicle version manifest and at the operator, and the
 * next honest cycle (attacker gone) installing.
 */
async function expectAttackRejected(expected: Expected): Promise<void> {
  const stateBefore = trustedState(car);
  const installedBefore = installedImages(car);
  const result = await car.primary.runCycle();
  expect(result.status).toBe('failed');
  if (expected.in === 'cycle') expect(result.error?.code).toBe(expected.code);
  else expect(result.outcomes[expected.outcomeOf ?? expected.detectedBy]).toMatchObject({ status: 'failed', code: expected.code });
  expect(trustedState(car)).toEqual(stateBefore);
  expect(installedImages(car)).toEqual(installedBefore);

  net.clear();
  bus.clear();
  const sent = recorder.manifests.length;
  await honestCycle('installed');
  const next = recorder.manifests[sent]!;
  expect(next.signed.ecu_version_reports[expected.detectedBy]!.signed.attacks_detected).toEqual(
    expect.arrayContaining([expect.objectContaining({ code: expected.code })]),
  );
  const status = await repos.operator('GET', `/api/v1/vehicles/${VIN}`);
  expect(status.json.attacks).toEqual(expect.arrayContaining([expect.objectContaining({ ecuSerial: expected.detectedBy, code: expected.code })]));
}

/** Image repository metadata as served now (timestamp is only served unversioned: capture it early). */
async function imageMetadataNow(): Promise<Record<string, Buffer>> {
  const get = async (file: string) => Buffer.from(await (await fetch(`${repos.image.url}/metadata/${file}`)).arrayBuffer());
  const timestamp = await get('timestamp.json');
  const snapshotVersion = parseMetadata(timestamp, 'timestamp').signed.meta['snapshot.json'].version;
  const snapshot = await get(`${snapshotVersion}.snapshot.json`);
  const targetsVersion = parseMetadata(snapshot, 'snapshot').signed.meta['targets.json']!.version;
  return { 'timestamp.json': timestamp, [`${snapshotVersion}.snapshot.json`]: snapshot, [`${targetsVersion}.targets.json`]: await get(`${targetsVersion}.targets.json`) };
}

const primaryDir = () => join(dir, PRIMARY);
const flipFirstHexDigit = (text: string, hex: string) => text.replace(hex, `${hex[0] === '0' ? '1' : '0'}${hex.slice(1)}`);

// -------------------------------------------------------------------------------------------------

describe('man in the middle between the vehicle and the repositories (no keys)', () => {
  it('G1/G11 arbitrary software: an image modified in transit is refused', async () => {
    await assign(ECM, IMAGES.ecm);
    net.tamperTargets((genuine) => bytesResponse(Buffer.from(genuine.toString().replace('v2', 'vX'))));
    await expectAttackRejected({ code: 'hash_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F2 endless data: an image that never ends is cut off at its signed length', async () => {
    await assign(ECM, IMAGES.ecm);
    net.tamperTargets((genuine) => endlessResponse(genuine));
    await expectAttackRejected({ code: 'download_length', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F1 endless data: a Director timestamp that never ends is cut off at the timestamp limit', async () => {
    await assign(ECM, IMAGES.ecm);
    net.use((r) => (r.repo === 'director' && r.file === 'timestamp.json' ? endlessResponse() : undefined));
    await expectAttackRejected({ code: 'download_length', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F3 a truncated image is refused', async () => {
    await assign(PRIMARY, IMAGES.tcu);
    net.tamperTargets((genuine) => bytesResponse(genuine.subarray(0, genuine.length - 3)));
    await expectAttackRejected({ code: 'length_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F4 slow retrieval: an image trickled below the minimum speed is aborted', async () => {
    const big = img('tcu/tcu-6.bin', 'telematics v6 '.repeat(600), ['tcu-a'], 6); // 8.4 KB: 40 s at the trickle rate
    await repos.publishImages([big]);
    await assign(PRIMARY, big);
    const proxy: RunningProxy = await startTrickleProxy(repos.image.url, 10, 50); // 200 B/s, minimum 1000 B/s
    cleanups.push(() => proxy.close());
    net.use((r, options, inner) => (r.kind === 'target' ? inner.fetch(r.url.replace(repos.image.url, proxy.url), options) : undefined));
    await expectAttackRejected({ code: 'slow_retrieval', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G11 metadata tampering: Director targets altered in transit are refused (snapshot pins their hash)', async () => {
    await assign(ECM, IMAGES.ecm);
    const ecmSha = digestBytes(IMAGES.ecm.content).sha256!;
    net.use(async (r, options, inner) => {
      if (r.repo !== 'director' || !r.file.endsWith('.targets.json')) return undefined;
      const genuine = (await readAll((await inner.fetch(r.url, options)).body)).toString();
      return bytesResponse(Buffer.from(flipFirstHexDigit(genuine, ecmSha)));
    });
    await expectAttackRejected({ code: 'hash_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('C8 replay: older Director timestamp, snapshot and targets served again are refused', async () => {
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    const old = net.capturedSet('director'); // what the vehicle was told back then
    await honestCycle('no-update'); // the Director moved on: the vehicle now trusts newer versions
    await assign(ECM, IMAGES.ecm3);
    net.serveAll('director', old);
    await expectAttackRejected({ code: 'rollback', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('D1 freeze: Director metadata served after its timestamp expired is refused', async () => {
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    await honestCycle('no-update');
    const frozen = net.capturedSet('director');
    await assign(ECM, IMAGES.ecm3);
    clock.advance(2 * 24 * 60 * 60 * 1000); // past the 1-day Director timestamp the attacker keeps serving
    repos.image.repository.refreshOnlineMetadata(); // the honest Image repository keeps itself fresh
    net.serveAll('director', frozen);
    await expectAttackRejected({ code: 'expired', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('E8 mix-and-match: an older Image repository targets file listing another image under the same name is refused', async () => {
    const name = 'engine/ecm-latest.bin';
    await repos.publishImages([img(name, 'engine ecu build A', ['ecm-x1'], 4)]);
    const older = await imageMetadataNow(); // validly signed, never expired: only old
    await repos.publishImages([img(name, 'engine ecu build B', ['ecm-x1'], 4)]);
    await assign(ECM, { name });
    net.serveAll('image', older);
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('E3 mix-and-match: an older Image repository targets file under the current snapshot is refused', async () => {
    const older = await imageMetadataNow();
    const olderTargets = Object.entries(older).find(([file]) => file.endsWith('.targets.json'))![1];
    await repos.publishImages([img('engine/ecm-2.1.bin', 'engine ecu v2.1', ['ecm-x1'], 2)]);
    await assign(ECM, { name: 'engine/ecm-2.1.bin' });
    net.use((r) => (r.repo === 'image' && r.file.endsWith('.targets.json') ? bytesResponse(olderTargets) : undefined));
    await expectAttackRejected({ code: 'length_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it("G5 another vehicle's Director metadata (validly signed; other VIN, other ECUs) is refused", async () => {
    const otherDir = mkdtempSync(join(tmpdir(), 'uptane-other-'));
    cleanups.push(() => rmSync(otherDir, { recursive: true, force: true }));
    const otherNet = new AttackerFetcher(new HttpFetcher());
    const other = await createVehicle(otherDir, 'VINOTHER00000002', ['tcu-2', 'ecm-2', 'abs-2'], otherNet);
    expect((await repos.operator('POST', '/api/v1/vehicles', other.registration())).status).toBe(201);
    await assign('ecm-2', IMAGES.ecm, 'VINOTHER00000002');
    other.state.set('driving');
    expect((await other.primary.runCycle()).status).toBe('deferred');
    await assign(ECM, IMAGES.ecm);
    net.serveAll('director', otherNet.capturedSet('director'));
    await expectAttackRejected({ code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' });
  });
});

// -------------------------------------------------------------------------------------------------

describe('compromised Director (its online keys, served to the vehicle in the middle)', () => {
  const forgeDirector = (targets: Pick<TargetsSigned, 'targets'> & Partial<Pick<TargetsSigned, 'delegations' | 'custom'>>) =>
    net.serveAll('director', forgeRepository(directorOnlineKeys(repos), primaryDir(), 'director', { custom: { vin: VIN }, ...targets }));

  beforeEach(async () => {
    await assign(ECM, IMAGES.ecm); // what the honest Director wants; the forged targets say otherwise
  });

  it('E7 arbitrary software: Director targets assign an image the Image repository does not list', async () => {
    forgeDirector({ targets: { 'evil/payload.bin': directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 9) } });
    await expectAttackRejected({ code: 'target_not_found', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('E7/G1 arbitrary software: Director targets list a known image name with other hashes', async () => {
    forgeDirector({ targets: { [IMAGES.ecm.name]: directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 2) } });
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('E7/F2 Director targets list a known image with another length (oversized target)', async () => {
    forgeDirector({ targets: { [IMAGES.ecm.name]: { ...directorTarget(IMAGES.ecm.content, { [ECM]: 'ecm-x1' }, 2), length: 1_000_000 } } });
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G4 Director targets give an ECU an image signed for other hardware', async () => {
    forgeDirector({ targets: { [IMAGES.abs.name]: directorTarget(IMAGES.abs.content, { [ECM]: 'ecm-x1' }, 7) } });
    await expectAttackRejected({ code: 'incompatible_hardware', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G4 Director targets claim another hardware id for an ECU than the vehicle knows', async () => {
    forgeDirector({ targets: { [IMAGES.abs.name]: directorTarget(IMAGES.abs.content, { [ECM]: 'abs-z' }, 7) } });
    await expectAttackRejected({ code: 'incompatible_hardware', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('C9 image rollback: Director targets assign an image with a lower release counter than installed', async () => {
    await honestCycle('installed'); // ecm-2.0, release counter 2
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm3);
    forgeDirector({ targets: { [IMAGES.ecmOld.name]: directorTarget(IMAGES.ecmOld.content, { [ECM]: 'ecm-x1' }, 1) } });
    await expectAttackRejected({ code: 'image_rollback', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G5 Director targets name an ECU that is not in the vehicle', async () => {
    forgeDirector({ targets: { [IMAGES.ecm.name]: directorTarget(IMAGES.ecm.content, { 'ghost-9': 'ecm-x1' }, 2) } });
    await expectAttackRejected({ code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G6 Director targets list the same ECU twice', async () => {
    forgeDirector({
      targets: {
        [IMAGES.ecm.name]: directorTarget(IMAGES.ecm.content, { [ECM]: 'ecm-x1' }, 2),
        [IMAGES.ecm3.name]: directorTarget(IMAGES.ecm3.content, { [ECM]: 'ecm-x1' }, 3),
      },
    });
    await expectAttackRejected({ code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G7 Director targets that delegate are refused', async () => {
    forgeDirector({
      targets: { [IMAGES.ecm.name]: directorTarget(IMAGES.ecm.content, { [ECM]: 'ecm-x1' }, 2) },
      delegations: {
        keys: { [attackerKey.keyid]: attackerKey.publicKey.tuf },
        roles: [{ name: 'supplier', keyids: [attackerKey.keyid], threshold: 1, terminating: true, paths: ['*'] }],
      },
    });
    await expectAttackRejected({ code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G5 Director targets bound to another VIN are refused', async () => {
    forgeDirector({ targets: { [IMAGES.ecm.name]: directorTarget(IMAGES.ecm.content, { [ECM]: 'ecm-x1' }, 2) }, custom: { vin: 'VINOTHER00000002' } });
    await expectAttackRejected({ code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' });
  });
});

// -------------------------------------------------------------------------------------------------

describe('compromised Image repository (its targets and online keys), Director honest', () => {
  it('E7 the Image repository lists an assigned image with other hashes: no install without the Director agreeing', async () => {
    await assign(ECM, IMAGES.ecm);
    const listed = Object.fromEntries(
      Object.values(IMAGES).map((i) => [i.name, { length: i.content.length, hashes: digestBytes(i.content), custom: { hardwareIds: i.hardwareIds, releaseCounter: i.releaseCounter } }]),
    );
    listed[IMAGES.ecm.name] = { ...listed[IMAGES.ecm.name]!, hashes: digestBytes(EVIL) };
    net.serveAll('image', forgeRepository(imageRepoKeys(repos), primaryDir(), 'image', { targets: listed }, { minVersion: 10 }));
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });
});

// -------------------------------------------------------------------------------------------------

describe('in-vehicle bus between the primary and a secondary', () => {
  it('G1 a modified image sent to a partial-verification secondary is refused in its inactive slot', async () => {
    await assign(ECM, IMAGES.ecm);
    await verifyWhileDriving();
    bus.on(ECM, {
      putImage: async (filename, body, inner) => inner.putImage(filename, streamOf(Buffer.from((await readAll(body)).toString().replace('v2', 'vX')))),
    });
    await expectAttackRejected({ code: 'hash_mismatch', detectedBy: ECM, in: 'outcome' });
  });

  it('F2 an image with extra bytes sent to a full-verification secondary is cut off in its inactive slot', async () => {
    await assign(ABS, IMAGES.abs);
    await verifyWhileDriving();
    bus.on(ABS, { putImage: async (filename, body, inner) => inner.putImage(filename, streamOf(Buffer.concat([await readAll(body), Buffer.from('!')]))) });
    await expectAttackRejected({ code: 'download_length', detectedBy: ABS, in: 'outcome' });
  });

  it('A8 Director targets for a partial-verification secondary re-signed with a wrong key are refused', async () => {
    await assign(ECM, IMAGES.ecm);
    await verifyWhileDriving();
    bus.on(ECM, {
      putMetadata: (bundle, inner) => {
        const name = Object.keys(bundle.director).find((n) => n.endsWith('.targets.json'))!;
        const forged = resign(Buffer.from(bundle.director[name]!, 'base64'), [attackerKey], (signed) => {
          (signed.targets as Record<string, unknown>)[IMAGES.ecm.name] = directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 2);
        });
        return inner.putMetadata({ ...bundle, director: { ...bundle.director, [name]: forged.toString('base64') } });
      },
    });
    await expectAttackRejected({ code: 'unmet_threshold', detectedBy: ECM, in: 'outcome' });
  });

  it('E1 Image metadata altered on the bus for a full-verification secondary is refused', async () => {
    await assign(ABS, IMAGES.abs);
    await verifyWhileDriving();
    const absSha = digestBytes(IMAGES.abs.content).sha256!;
    bus.on(ABS, {
      putMetadata: (bundle, inner) => {
        const image = { ...bundle.image! };
        const name = Object.keys(image).find((n) => n.endsWith('.targets.json'))!;
        image[name] = Buffer.from(flipFirstHexDigit(Buffer.from(image[name]!, 'base64').toString(), absSha)).toString('base64');
        return inner.putMetadata({ ...bundle, image });
      },
    });
    await expectAttackRejected({ code: 'hash_mismatch', detectedBy: ABS, in: 'outcome' });
  });

  it('E7 stolen Director keys on the bus: a full-verification secondary refuses Director targets the Image repository does not back', async () => {
    await assign(ABS, IMAGES.abs);
    await verifyWhileDriving();
    const forged = forgeRepository(directorOnlineKeys(repos), join(dir, ABS), 'director', {
      targets: { [IMAGES.abs.name]: directorTarget(Buffer.from('brake ecu vX'), { [ABS]: 'abs-z' }, 7) },
      custom: { vin: VIN },
    });
    const forgedB64 = Object.fromEntries(Object.entries(forged).map(([file, bytes]) => [file, bytes.toString('base64')]));
    bus.on(ABS, { putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: { ...bundle.director, ...forgedB64 } }) });
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: ABS, in: 'outcome' });
  });

  it('H3 a secondary is sent an image it was not assigned', async () => {
    await assign(ECM, IMAGES.ecm);
    await verifyWhileDriving();
    bus.on(ECM, { putImage: (_filename, _body, inner) => inner.putImage(IMAGES.abs.name, streamOf(IMAGES.abs.content)) });
    await expectAttackRejected({ code: 'target_not_found', detectedBy: ECM, in: 'outcome' });
  });

  it('C8 older Director targets replayed on the bus to a partial-verification secondary are refused', async () => {
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    const first = bus.bundles.get(ECM)![0]!;
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm3);
    await honestCycle('installed'); // the secondary now trusts newer Director targets
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm4);
    await verifyWhileDriving();
    bus.on(ECM, { putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: first.director }) });
    await expectAttackRejected({ code: 'rollback', detectedBy: ECM, in: 'outcome' });
  });

  it('D1 freeze on the bus: the secondary is kept on the Director targets it already trusts', async () => {
    // The replayed file is the secondary's current one: no rollback, and it names the image the
    // secondary runs, so the secondary sees nothing to do. Only the primary, which verified the new
    // assignment itself, can tell that the answer contradicts the Director.
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    const current = bus.bundles.get(ECM)![0]!;
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm3);
    await verifyWhileDriving();
    bus.on(ECM, { putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: current.director }) });
    await expectAttackRejected({ code: 'secondary_failed', detectedBy: PRIMARY, in: 'outcome', outcomeOf: ECM });
  });
});

// -------------------------------------------------------------------------------------------------

describe('compromised secondary', () => {
  it('H5 a corrupt version report is dropped; the incomplete manifest is refused and the operator sees it', async () => {
    bus.on(ABS, {
      versionReport: async (genuine) => {
        const report = await genuine();
        // Claims another image under the genuine signature.
        return { ...report, signed: { ...report.signed, installed_image: { ...report.signed.installed_image, filename: IMAGES.abs.name } } };
      },
    });
    const sent = recorder.manifests.length;
    const result = await car.primary.runCycle();
    // The cycle goes on (metadata checked, nothing assigned) but no manifest was accepted.
    expect(result).toMatchObject({ status: 'no-update', manifestSent: false });
    const manifest = recorder.manifests[sent]!;
    expect(Object.keys(manifest.signed.ecu_version_reports).sort()).toEqual([ECM, PRIMARY]); // the bad report dropped
    expect(car.primary.reportedAttacks).toEqual([expect.objectContaining({ code: 'manifest_signature' })]);
    let status = await repos.operator('GET', `/api/v1/vehicles/${VIN}`);
    expect((status.json.manifests as Array<Record<string, unknown>>)[0]).toMatchObject({ accepted: false, errorCode: 'manifest_inventory' });
    expect((status.json.manifests as Array<{ errorMessage: string }>)[0]!.errorMessage).toContain(ABS);

    // The secondary behaves again: the next manifest is complete and carries the primary's report of it.
    bus.clear();
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    status = await repos.operator('GET', `/api/v1/vehicles/${VIN}`);
    expect(status.json.attacks).toEqual(expect.arrayContaining([expect.objectContaining({ ecuSerial: PRIMARY, code: 'manifest_signature' })]));
    expect((status.json.manifests as Array<Record<string, unknown>>)[0]).toMatchObject({ accepted: true });
  });

  it('H5 a version report signed by another key is dropped the same way', async () => {
    bus.on(ABS, { versionReport: async (genuine) => signEnvelope((await genuine()).signed, attackerKey) });
    const result = await car.primary.runCycle();
    expect(result.manifestSent).toBe(false);
    expect(car.primary.reportedAttacks).toEqual([expect.objectContaining({ code: 'manifest_signature' })]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('what the design cannot stop', () => {
  it('G12 both repositories compromised: an arbitrary image signed by both IS installed', async () => {
    // The attacker holds the Image repository's offline targets key and uploader access, and the
    // Director's operator access: both repositories now say the same thing, and every check passes.
    const evil = img(IMAGES.ecm.name.replace('2.0', '9.9'), 'engine ecu owned', ['ecm-x1'], 99);
    const upload = await fetch(`${repos.image.url}/api/v1/images`, { method: 'POST', body: evil.content, headers: { authorization: `Bearer ${UPLOADER_TOKEN}` } });
    expect(upload.status).toBe(201);
    const listed = Object.fromEntries(
      [...Object.values(IMAGES), evil].map((i) => [i.name, { length: i.content.length, hashes: digestBytes(i.content), custom: { hardwareIds: [...i.hardwareIds], releaseCounter: i.releaseCounter } }]),
    );
    const targets: TargetsSigned = { _type: 'targets', spec_version: SPEC_VERSION, version: 50, expires: '2027-01-01T00:00:00Z', targets: listed };
    const put = await fetch(`${repos.image.url}/api/v1/metadata/targets/targets`, {
      method: 'PUT',
      body: serializeMetadata(signMetadata(targets, [repos.imageTargetsKey])),
      headers: { authorization: `Bearer ${UPLOADER_TOKEN}` },
    });
    expect(put.status).toBe(201);
    await assign(ECM, evil);
    const result = await car.primary.runCycle();
    expect(result.status).toBe('installed');
    expect(car.installed()[ECM]).toBe(evil.name);
    expect(readFileSync(car.secondaries.get(ECM)!.slots.slotPath(car.secondaries.get(ECM)!.slots.current.active)).toString()).toBe('engine ecu owned');
  });

  it('partial verification with stolen Director keys and bus access: the secondary installs the attacker image (BP ecus.md); the primary puts the genuine one back next cycle', async () => {
    await assign(ECM, IMAGES.ecm);
    await verifyWhileDriving();
    const { targets: directorTargetsKey } = directorOnlineKeys(repos);
    bus.on(ECM, {
      putMetadata: (bundle, inner) => {
        const name = Object.keys(bundle.director).find((n) => n.endsWith('.targets.json'))!;
        const forged = resign(Buffer.from(bundle.director[name]!, 'base64'), [directorTargetsKey], (signed) => {
          (signed.targets as Record<string, unknown>)[IMAGES.ecm.name] = directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 2);
        });
        return inner.putMetadata({ ...bundle, director: { ...bundle.director, [name]: forged.toString('base64') } });
      },
      putImage: (filename, _body, inner) => inner.putImage(filename, streamOf(EVIL)),
    });
    const ecm = car.secondaries.get(ECM)!;
    const running = () => readFileSync(ecm.slots.slotPath(ecm.slots.current.active));
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect(running()).toEqual(EVIL); // partial verification checks one signature: the stolen key's

    // The secondary's truthful report names the attacker's hashes: the primary sees the ECU does not
    // run the assigned image and installs it again; the Director recorded what ran in between.
    bus.clear();
    await honestCycle('installed');
    expect(running()).toEqual(IMAGES.ecm.content);
    const status = await repos.operator('GET', `/api/v1/vehicles/${VIN}`);
    const recorded = (status.json.ecus as Array<{ serial: string; installed: { hashes: Record<string, string> } }>).find((e) => e.serial === ECM)!;
    expect(recorded.installed.hashes.sha256).toBe(digestBytes(EVIL).sha256);
  });

  it('F6 (weak spot) a partial download poisoned before the connection drops costs the next honest cycle, then recovers', async () => {
    // Resuming trusts the bytes already on disk: nothing can check a prefix against a hash of the
    // whole file. The forged prefix is caught when the file is complete, and the next try starts over.
    await assign(PRIMARY, IMAGES.tcu);
    net.use((r) => (r.kind === 'target' ? { offset: 0, body: (async function* () { yield Buffer.from('XXXXX'); throw new FetchError(`${r.url}: connection reset`); })() } : undefined));
    expect(await car.primary.runCycle()).toMatchObject({ status: 'failed', error: { code: 'fetch_failed' } });
    net.clear();
    expect(await car.primary.runCycle()).toMatchObject({ status: 'failed', error: { code: 'hash_mismatch' } });
    expect(net.requests.filter((r) => r.kind === 'target').map((r) => r.offset)).toEqual([0, 5]);
    expect(car.installed()[PRIMARY]).toBe('factory/tcu-a.bin');
    await honestCycle('installed');
    expect(car.installed()[PRIMARY]).toBe(IMAGES.tcu.name);
  });
});
