// A primary requiring the Image log proves every targets role it used to find its images, not only
// the top-level targets (primary-ecu/log-check.ts): here a supplier's delegated role "acme", signed
// with the supplier's key, published through the real Image repository's API and assigned by the real
// Director, the log served by the front of log-front.ts. The attack (docs/threat-model.md TL4): a
// supplier release signed with the (stolen) supplier key and served by the Image repository, its
// role's version never appended to the log. The top-level targets, unchanged, are logged, so only the
// delegated check refuses it: without it the vehicle would install.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { succinctRoleFor } from '../../shared/core/metadata/paths.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { SuccinctRoles, TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { entryForFile } from '../../shared/transparency/entry.js';
import { IMAGE_LOG_NAME, type LogServer } from '../../shared/transparency/server-log.js';
import { Witness } from '../../shared/transparency/witness.js';
import type { ImageLogPolicy } from '../../primary-ecu/log-check.js';
import { FIXTURE_EXPIRES, FIXTURE_NOW, startRepositories, UPLOADER_TOKEN, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { LogFront, logCurrentTargets, openLog } from './log-front.js';

const logKey = PrivateKey.fromLabel('vehicle-log-delegated/log');
const witnessKey = PrivateKey.fromLabel('vehicle-log-delegated/witness');
const supplierKey = PrivateKey.fromLabel('vehicle-log-delegated/acme');
const binKey = PrivateKey.fromLabel('vehicle-log-delegated/acme-bins');

let clock: FixedClock;
let repos: Repositories;
let dir: string;
let vins = 0;
let acmeVersion = 0;
const acmeTargets: Record<string, TargetFile> = {};
const cars: SimulatedVehicle[] = [];
const fronts: LogFront[] = [];

async function uploader(method: string, path: string, body: string | Buffer): Promise<number> {
  const response = await fetch(`${repos.image.url}${path}`, { method, body, headers: { authorization: `Bearer ${UPLOADER_TOKEN}` } });
  return response.status;
}

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'vehicle-log-delegated');
  dir = mkdtempSync(join(tmpdir(), 'uptane-vehicle-log-delegated-'));
  // The OEM's top-level targets delegate acme/* to the supplier, once: every supplier release below
  // leaves the top-level targets as they are.
  const targets: TargetsSigned = {
    _type: 'targets',
    spec_version: SPEC_VERSION,
    version: 1,
    expires: FIXTURE_EXPIRES,
    targets: {},
    delegations: {
      keys: { [supplierKey.keyid]: supplierKey.publicKey.tuf },
      roles: [{ name: 'acme', keyids: [supplierKey.keyid], threshold: 1, terminating: true, paths: ['acme/*'] }],
    },
  };
  expect(await uploader('PUT', '/api/v1/metadata/targets/targets', serializeMetadata(signMetadata(targets, [repos.imageTargetsKey])))).toBe(201);
});

afterAll(async () => {
  for (const car of cars) await car.close();
  for (const front of fronts) await front.close();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

function policy(overrides: Partial<ImageLogPolicy> = {}): ImageLogPolicy {
  return { log: IMAGE_LOG_NAME, logKey: logKey.publicKey.tuf, witnessKeys: [], witnessThreshold: 0, maxAgeSeconds: 86_400, ...overrides };
}

async function vehicle(log: LogServer, imageLog: ImageLogPolicy): Promise<{ car: SimulatedVehicle; front: LogFront }> {
  const front = await LogFront.start(repos.image.url, log);
  fronts.push(front);
  vins += 1;
  const vin = `VINDLG${String(vins).padStart(4, '0')}`;
  const car = await SimulatedVehicle.create({
    directorUrl: repos.director.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    directory: join(dir, vin),
    vin,
    clock,
    imageRepoUrl: front.url,
    primary: { serial: `${vin}-tcu`, hardwareId: 'tcu-a' },
    secondaries: [],
    backend: nodeBackend,
    imageLog,
  });
  cars.push(car);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  return { car, front };
}

/** A supplier release: the image uploaded, a new version of the acme role signed with the supplier key, assigned to `car`. */
async function supplierRelease(car: SimulatedVehicle): Promise<{ image: string; version: number }> {
  acmeVersion += 1;
  const image = `acme/tcu-${acmeVersion}.bin`;
  const content = Buffer.from(`acme telematics release ${acmeVersion}`);
  expect(await uploader('POST', '/api/v1/images', content)).toBe(201);
  acmeTargets[image] = { length: content.length, hashes: digestBytes(content), custom: { hardwareIds: ['tcu-a'], releaseCounter: acmeVersion } };
  const acme: TargetsSigned = { _type: 'targets', spec_version: SPEC_VERSION, version: acmeVersion, expires: FIXTURE_EXPIRES, targets: { ...acmeTargets } };
  expect(await uploader('PUT', '/api/v1/metadata/targets/acme', serializeMetadata(signMetadata(acme, [supplierKey])))).toBe(201);
  const assigned = await repos.operator('POST', '/api/v1/assignments', { vin: car.spec.vin, ecuSerial: car.spec.primary.serial, image });
  expect(assigned.status).toBe(201);
  return { image, version: acmeVersion };
}

/** Appends the version of `role` the Image repository serves now, as the repository's own publishing does. */
async function logCurrent(log: LogServer, role: string): Promise<number> {
  const response = await fetch(`${repos.image.url}/metadata/${role}.json`);
  expect(response.status).toBe(200);
  const bytes = Buffer.from(await response.arrayBuffer());
  const version = (JSON.parse(bytes.toString('utf8')) as { signed: { version: number } }).signed.version;
  await log.append([entryForFile({ repository: 'image', role, version }, bytes)]);
  return version;
}

const logCurrentAcme = (log: LogServer): Promise<number> => logCurrent(log, 'acme');

function imagePath(car: SimulatedVehicle, image: string): string {
  return join(car.spec.directory, car.spec.primary.serial, 'images', image);
}

describe('a primary requiring the Image log, installing an image released through a delegated role', () => {
  it('installs a supplier release when the log holds both the top-level targets and the acme version that lists it', async () => {
    const log = await openLog(logKey, clock);
    const { car, front } = await vehicle(log, policy());
    const { image } = await supplierRelease(car);
    await logCurrentTargets(log, repos.image.url);
    await logCurrentAcme(log);
    const result = await car.primary.runCycle();
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('installed');
    expect(car.installed()[car.spec.primary.serial]).toBe(image);
    // One head, one inclusion proof per role version: targets and acme.
    expect(front.requests.filter((r) => r.startsWith('/tree-head')).length).toBe(1);
    expect(front.requests.filter((r) => r.startsWith('/proof/inclusion?')).length).toBe(2);
  });

  it('TL4 a supplier release signed with the (stolen) supplier key, its acme version never appended to the log: log_entry_missing naming acme', async () => {
    const log = await openLog(logKey, clock);
    const { car } = await vehicle(log, policy());
    // The world sees the top-level targets and the acme version before the release, not the release's.
    await logCurrentTargets(log, repos.image.url);
    const logged = await supplierRelease(car);
    expect(await logCurrentAcme(log)).toBe(logged.version);
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect((await car.primary.runCycle()).status).toBe('no-update');
    const { image, version } = await supplierRelease(car);
    const before = car.installed();
    const result = await car.primary.runCycle();
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('log_entry_missing');
    expect(result.error?.message).toContain(`acme v${version}`);
    expect(car.installed()).toEqual(before);
    expect(existsSync(imagePath(car, image))).toBe(false);
    expect(car.primary.reportedAttacks.map((a) => a.code)).toContain('log_entry_missing');
    // The supplier's release made public: it installs.
    await logCurrentAcme(log);
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect(car.installed()[car.spec.primary.serial]).toBe(image);
  });

  it('a supplier release in the newest head that no witness has cosigned yet waits (log_witness_pending, not an attack), and installs once cosigned', async () => {
    const log = await openLog(logKey, clock, [witnessKey]);
    const witness = new Witness({ log: IMAGE_LOG_NAME, logKey: logKey.publicKey, signer: witnessKey, backend: nodeBackend });
    const { car } = await vehicle(log, policy({ witnessKeys: [witnessKey.publicKey.tuf], witnessThreshold: 1 }));
    const { image } = await supplierRelease(car);
    // The top-level targets in a cosigned head; the acme version only in the newer head.
    await logCurrentTargets(log, repos.image.url);
    const first = log.treeHead();
    await log.addCosignature(first, witness.cosign(first, { firstSize: 0, secondSize: first.head.size, hashes: [] }));
    await logCurrentAcme(log);
    const before = car.installed();
    const waiting = await car.primary.runCycle();
    expect([waiting.status, waiting.error?.code]).toEqual(['failed', 'log_witness_pending']);
    expect(waiting.error?.message).toContain('acme');
    expect(car.installed()).toEqual(before);
    expect(car.primary.reportedAttacks.map((a) => a.code)).not.toContain('log_witness_pending');
    // The witness polls: it cosigns the newer head, given the log's proof that it extends the first.
    const second = log.treeHead();
    await log.addCosignature(second, witness.cosign(second, await log.consistencyProof(first.head.size, second.head.size)));
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect(car.installed()[car.spec.primary.serial]).toBe(image);
  });
  it('TL4 through a TAP 15 hash bin under the supplier (targets, acme, acme-bin-N): the bin\'s version never appended is log_entry_missing naming the bin', async () => {
    const log = await openLog(logKey, clock);
    const { car, front } = await vehicle(log, policy());
    // The supplier hands its images to hash bins signed with another of its keys (TAP 15): acme
    // lists its earlier images and delegates the rest to 4 bins; the new image is in one of them.
    const succinct: SuccinctRoles = { keyids: [binKey.keyid], threshold: 1, bit_length: 2, name_prefix: 'acme-bin' };
    const image = 'acme/binned-tcu.bin';
    const bin = succinctRoleFor(succinct, image);
    const content = Buffer.from('acme telematics release in a hash bin');
    expect(await uploader('POST', '/api/v1/images', content)).toBe(201);
    acmeVersion += 1;
    const acme: TargetsSigned = {
      _type: 'targets',
      spec_version: SPEC_VERSION,
      version: acmeVersion,
      expires: FIXTURE_EXPIRES,
      targets: { ...acmeTargets },
      delegations: { keys: { [binKey.keyid]: binKey.publicKey.tuf }, succinct_roles: succinct },
    };
    expect(await uploader('PUT', '/api/v1/metadata/targets/acme', serializeMetadata(signMetadata(acme, [supplierKey])))).toBe(201);
    const binned: TargetsSigned = {
      _type: 'targets',
      spec_version: SPEC_VERSION,
      version: 1,
      expires: FIXTURE_EXPIRES,
      targets: { [image]: { length: content.length, hashes: digestBytes(content), custom: { hardwareIds: ['tcu-a'], releaseCounter: 100 } } },
    };
    expect(await uploader('PUT', `/api/v1/metadata/targets/${bin}`, serializeMetadata(signMetadata(binned, [binKey])))).toBe(201);
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: car.spec.vin, ecuSerial: car.spec.primary.serial, image })).status).toBe(201);
    // The world sees the top-level targets and acme's current version, not the bin's.
    await logCurrentTargets(log, repos.image.url);
    await logCurrentAcme(log);
    const before = car.installed();
    const result = await car.primary.runCycle();
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('log_entry_missing');
    expect(result.error?.message).toContain(`${bin} v1`);
    expect(car.installed()).toEqual(before);
    expect(existsSync(imagePath(car, image))).toBe(false);
    expect(car.primary.reportedAttacks.map((a) => a.code)).toContain('log_entry_missing');
    // The bin's version logged: the three roles on the path are proved at one head, and it installs.
    await logCurrent(log, bin);
    const proofsBefore = front.requests.filter((r) => r.startsWith('/proof/inclusion?')).length;
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect(car.installed()[car.spec.primary.serial]).toBe(image);
    expect(front.requests.filter((r) => r.startsWith('/proof/inclusion?')).length - proofsBefore).toBe(3);
  });
});
