// Root rotations on both repositories followed by a whole vehicle (docs/threat-model.md B1, B12),
// image rollback refused by the ECUs even when the Director's inventory is wrong (C9), and an image
// download interrupted by the network and resumed with a Range request (F6). Real servers on
// loopback, real signatures, a FixedClock.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { FetchError, ImageRollbackError } from '../../shared/core/errors.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { formatExpires, parseMetadata, SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { RootSigned, TargetsSigned } from '../../shared/core/metadata/types.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { AttackerFetcher } from '../support/attacker.js';
import { registeredVehicle } from '../support/registered-vehicle.js';
import {
  FIXTURE_EXPIRES,
  FIXTURE_NOW,
  OPERATOR_TOKEN,
  rootMetadata,
  startRepositories,
  UPLOADER_TOKEN,
  type FixtureImage,
  type Repositories,
} from '../../sim/harness/fleet-fixtures.js';

const VIN = 'VINROTATE0000001';
const img = (name: string, text: string, hardwareIds: string[], releaseCounter: number): FixtureImage => ({ name, content: Buffer.from(text), hardwareIds, releaseCounter });
const IMAGES = {
  tcu5: img('tcu/tcu-5.bin', 'telematics v5', ['tcu-a'], 5),
  ecm1: img('engine/ecm-1.0.bin', 'engine ecu v1', ['ecm-x1'], 1),
  ecm2: img('engine/ecm-2.0.bin', 'engine ecu v2', ['ecm-x1'], 2),
  abs7: img('brake/abs-7.bin', 'brake ecu v7', ['abs-z'], 7),
};
/** Published after the Image repository rotated its root and targets keys. */
const AFTER_ROTATION = {
  tcu6: img('tcu/tcu-6.bin', 'telematics v6', ['tcu-a'], 6),
  ecm3: img('engine/ecm-3.0.bin', 'engine ecu v3', ['ecm-x1'], 3),
  abs8: img('brake/abs-8.bin', 'brake ecu v8', ['abs-z'], 8),
};

let clock: FixedClock;
let repos: Repositories;
let dir: string;
let car: SimulatedVehicle;
let net: AttackerFetcher;

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages(Object.values(IMAGES));
  net = new AttackerFetcher(new HttpFetcher());
  dir = mkdtempSync(join(tmpdir(), 'uptane-rotation-'));
  car = await registeredVehicle(repos, { directory: dir, vin: VIN, clock, fetcher: net });
});

afterEach(async () => {
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

async function assign(ecuSerial: string, image: FixtureImage): Promise<void> {
  expect(await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial, image: image.name })).toMatchObject({ status: 201 });
}

const entry = (key: PrivateKey) => ({ keyid: key.keyid, key: key.publicKey.tuf });

/** The trusted root version of `repo` in an ECU's folder. */
function rootVersion(serial: string, repo: 'director' | 'image'): number {
  return parseMetadata(readFileSync(join(dir, serial, repo, 'root.json')), 'root').signed.version;
}

/** Director root N+1 with a new root key, signed by the old and the new root keys (#check_root 2.3). */
class DirectorRootChain {
  private keys = [repos.directorRootKey];

  async rotate(): Promise<number> {
    const online = (await repos.operator('GET', '/api/v1/online-keys')).json as Record<'targets' | 'snapshot' | 'timestamp', { keyid: string; key: RootSigned['keys'][string] }>;
    const next = PrivateKey.fromLabel(`rotation/director-root-${this.keys.length + 1}`);
    const version = this.keys.length + 1;
    const root = rootMetadata(version, { root: [entry(next)], targets: [online.targets], snapshot: [online.snapshot], timestamp: [online.timestamp] });
    const bytes = serializeMetadata(signMetadata(root, [this.keys[this.keys.length - 1]!, next]));
    const response = await fetch(`${repos.director.url}/api/v1/metadata/root`, { method: 'PUT', body: bytes, headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    expect(response.status).toBe(201);
    this.keys.push(next);
    return version;
  }
}

/**
 * Image repository root v2 with new root and targets keys (signed by old and new root keys), then
 * targets re-signed by the new targets key listing every image plus `extra`.
 */
async function rotateImageRepository(extra: readonly FixtureImage[]): Promise<void> {
  const put = (path: string, body: Uint8Array) => fetch(`${repos.image.url}${path}`, { method: 'PUT', body, headers: { authorization: `Bearer ${UPLOADER_TOKEN}` } });
  for (const image of extra) {
    const upload = await fetch(`${repos.image.url}/api/v1/images`, { method: 'POST', body: image.content, headers: { authorization: `Bearer ${UPLOADER_TOKEN}` } });
    expect(upload.status).toBe(201);
  }
  const online = repos.image.repository.onlineKeys();
  const newRoot = PrivateKey.fromLabel('rotation/image-root-2');
  const newTargets = PrivateKey.fromLabel('rotation/image-targets-2');
  const root = rootMetadata(2, {
    root: [entry(newRoot)],
    targets: [entry(newTargets)],
    snapshot: [{ keyid: online.snapshot.keyid, key: online.snapshot.tuf }],
    timestamp: [{ keyid: online.timestamp.keyid, key: online.timestamp.tuf }],
  });
  expect((await put('/api/v1/metadata/root', serializeMetadata(signMetadata(root, [repos.imageRootKey, newRoot])))).status).toBe(201);
  const current = parseMetadata(Buffer.from(await (await fetch(`${repos.image.url}/metadata/targets.json`)).arrayBuffer()), 'targets').signed;
  const targets: TargetsSigned = {
    _type: 'targets',
    spec_version: SPEC_VERSION,
    version: current.version + 1,
    expires: FIXTURE_EXPIRES,
    targets: {
      ...current.targets,
      ...Object.fromEntries(extra.map((i) => [i.name, { length: i.content.length, hashes: digestBytes(i.content), custom: { hardwareIds: [...i.hardwareIds], releaseCounter: i.releaseCounter } }])),
    },
  };
  expect((await put('/api/v1/metadata/targets/targets', serializeMetadata(signMetadata(targets, [newTargets])))).status).toBe(201);
}

describe('root rotation on both repositories', () => {
  it('B1/B12 the vehicle follows a Director root v1->v3 and an Image repository root and targets key rotation, and still installs on every ECU', async () => {
    await assign('tcu-1', IMAGES.tcu5);
    await assign('ecm-1', IMAGES.ecm2);
    await assign('abs-1', IMAGES.abs7);
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect((await car.primary.runCycle()).status).toBe('no-update');

    const director = new DirectorRootChain();
    await director.rotate();
    await director.rotate(); // the vehicle walks 2 and 3 in one cycle
    await rotateImageRepository(Object.values(AFTER_ROTATION));
    await assign('tcu-1', AFTER_ROTATION.tcu6);
    await assign('ecm-1', AFTER_ROTATION.ecm3);
    await assign('abs-1', AFTER_ROTATION.abs8);

    const result = await car.primary.runCycle();
    expect(result).toMatchObject({ status: 'installed' });
    expect(car.installed()).toEqual({ 'tcu-1': AFTER_ROTATION.tcu6.name, 'ecm-1': AFTER_ROTATION.ecm3.name, 'abs-1': AFTER_ROTATION.abs8.name });
    // The primary trusts both new roots and kept every version for its secondaries.
    expect(rootVersion('tcu-1', 'director')).toBe(3);
    expect(rootVersion('tcu-1', 'image')).toBe(2);
    expect(readdirSync(join(dir, 'tcu-1', 'director-roots')).sort()).toEqual(['1.root.json', '2.root.json', '3.root.json']);
    // The partial-verification secondary walked the Director chain; the full one walked both.
    expect(rootVersion('ecm-1', 'director')).toBe(3);
    expect(rootVersion('abs-1', 'director')).toBe(3);
    expect(rootVersion('abs-1', 'image')).toBe(2);
    expect((await car.primary.runCycle()).status).toBe('no-update');
  });

  it('B12 a partial-verification secondary that missed a rotation catches up from the root history the primary keeps', async () => {
    const director = new DirectorRootChain();
    await director.rotate(); // v2: only the primary is updated
    await assign('tcu-1', IMAGES.tcu5);
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect(rootVersion('tcu-1', 'director')).toBe(2);
    expect(rootVersion('ecm-1', 'director')).toBe(1); // it was not part of that update

    await director.rotate(); // v3
    await assign('ecm-1', IMAGES.ecm2);
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect(rootVersion('ecm-1', 'director')).toBe(3); // 1 -> 2 -> 3 from the primary's bundle
    expect(car.installed()['ecm-1']).toBe(IMAGES.ecm2.name);
    expect(rootVersion('abs-1', 'director')).toBe(1); // untouched secondaries keep their root until their next update
  });
});

describe('image rollback', () => {
  it('C9 an ECU whose release counter would decrease is refused even after the Director was told otherwise', async () => {
    await assign('ecm-1', IMAGES.ecm2);
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect((await car.primary.runCycle()).status).toBe('no-update');

    // The Director's inventory is told the ECU still runs its factory image (a restored backup, an
    // operator's mistake), so it accepts an assignment with a lower release counter.
    const record = (await repos.director.storage.inventory.ecu('ecm-1'))!;
    const factory = Buffer.from('factory image of ecm-x1\n');
    await repos.director.storage.inventory.recordEcuReport('ecm-1', { counter: record.lastCounter!, filename: 'factory/ecm-x1.bin', length: factory.length, hashes: digestBytes(factory), releaseCounter: null }, clock.now());
    await assign('ecm-1', IMAGES.ecm1);

    await car.start(); // the counters the ECUs trust survive a restart
    const result = await car.primary.runCycle();
    expect(result).toMatchObject({ status: 'failed', error: { code: 'image_rollback' } });
    expect(car.installed()['ecm-1']).toBe(IMAGES.ecm2.name);

    // The secondary refuses on its own as well, were the primary to hand it those Director targets.
    const targetsFile = Object.keys(net.capturedSet('director')).filter((f) => f.endsWith('.targets.json')).sort((a, b) => parseInt(b, 10) - parseInt(a, 10))[0]!;
    const targets = net.capturedMetadata('director', targetsFile);
    expect(Object.keys(parseMetadata(targets, 'targets').signed.targets)).toEqual([IMAGES.ecm1.name]);
    const secondary = car.secondaries.get('ecm-1')!;
    await expect(secondary.putMetadata({ director: { [targetsFile]: targets.toString('base64') }, time: formatExpires(clock.now()) })).rejects.toBeInstanceOf(ImageRollbackError);
    expect(secondary.slots.installed.filename).toBe(IMAGES.ecm2.name);

    // The next manifest tells the operator.
    await car.primary.runCycle();
    const status = await repos.operator('GET', `/api/v1/vehicles/${VIN}`);
    expect(status.json.attacks).toEqual(expect.arrayContaining([expect.objectContaining({ ecuSerial: 'tcu-1', code: 'image_rollback' }), expect.objectContaining({ ecuSerial: 'ecm-1', code: 'image_rollback' })]));
  });
});

describe('interrupted download', () => {
  it('F6 a download cut by the network resumes with a Range request on the next cycle', async () => {
    const big = img('tcu/tcu-9.bin', 'telematics v9 '.repeat(200_000), ['tcu-a'], 9); // 2.8 MB
    await repos.publishImages([big]);
    await assign('tcu-1', big);
    const cutAt = net.cutFirstImageDownload(1024 * 1024, (url) => new FetchError(`${url}: connection reset by peer`));
    const cut = await car.primary.runCycle();
    expect(cut).toMatchObject({ status: 'failed', error: { code: 'fetch_failed' } });
    expect(car.installed()['tcu-1']).toBe('factory/tcu-a.bin');

    const resumed = await car.primary.runCycle();
    expect(resumed.status).toBe('installed');
    const downloads = net.requests.filter((r) => r.kind === 'target');
    expect(downloads.map((d) => [d.offset, d.servedFrom])).toEqual([
      [0, 0],
      [cutAt(), cutAt()],
    ]);
    expect(car.installed()['tcu-1']).toBe(big.name);
    const slot = readFileSync(car.primary.slots.slotPath(car.primary.slots.current.active));
    expect(digestBytes(slot)).toEqual(digestBytes(big.content)); // (toEqual on 2.8 MB buffers is slow)
  });
});
