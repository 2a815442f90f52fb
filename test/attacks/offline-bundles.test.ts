// Offline bundles (docs/threat-model.md OB1-OB6, docs/decisions.md "Offline updates"): a bundle
// written by the exporter against a real Director and Image repository on loopback, installed by a
// simulated vehicle's primary with no network, then tampered with as a workshop tool or a USB stick
// could. Each attack is refused with its typed code, nothing is installed on any ECU, the trusted
// metadata stays byte for byte, the attack reaches the Director with the next online manifest, and
// an honest bundle installs afterwards (docs/code-style.md R13).
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { exportOfflineBundle } from '../../director-repo/offline-bundle-writer.js';
import type { OfflineMetadataExport } from '../../director-repo/api/operator-api.js';
import { offlineBundleTransport } from '../../vehicle/offline-transport.js';
import { OFFLINE_BUNDLE_INDEX, type OfflineBundleIndex } from '../../shared/uptane/offline-bundle-format.js';
import type { CycleResult } from '../../primary-ecu/primary.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

// Two images of one length, so one can stand in for the other byte count for byte count.
const IMAGES = {
  tcu: { name: 'tcu/tcu-5.bin', content: Buffer.from('telematics v5.0'), hardwareIds: ['tcu-a'], releaseCounter: 5 },
  ecm: { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2.0'), hardwareIds: ['ecm-x1'], releaseCounter: 2 },
  ecm3: { name: 'engine/ecm-3.0.bin', content: Buffer.from('engine ecu v3.0'), hardwareIds: ['ecm-x1'], releaseCounter: 3 },
};
const VIN = 'VINOFFLINE000001';
const OTHER_VIN = 'VINOFFLINE000002';
const FACTORY = { 'tcu-1': 'factory/tcu-a.bin', 'ecm-1': 'factory/ecm-x1.bin', 'abs-1': 'factory/abs-z.bin' };

let clock: FixedClock;
let repos: Repositories;
let dir: string;
let car: SimulatedVehicle;

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'offline');
  await repos.publishImages(Object.values(IMAGES));
  dir = mkdtempSync(join(tmpdir(), 'uptane-offline-'));
  car = await registeredVehicle(repos, { directory: join(dir, 'car'), vin: VIN, clock });
});

afterEach(async () => {
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

const assign = async (vin: string, ecuSerial: string, image: string) => expect((await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial, image })).status).toBe(201);

/** A second vehicle, its ECUs serials of their own (serials are unique across the fleet), assigned ecm-3.0. */
async function registerOtherVehicle(): Promise<void> {
  await registeredVehicle(repos, {
    directory: join(dir, 'other'),
    vin: OTHER_VIN,
    clock,
    primary: { serial: 'tcu-2', hardwareId: 'tcu-a' },
    secondaries: [{ serial: 'ecm-2', hardwareId: 'ecm-x1' }],
  });
  await assign(OTHER_VIN, 'ecm-2', IMAGES.ecm3.name);
}

let exports = 0;
/** Exports a bundle for `vin` with the exporter the CLI runs, into a new folder. */
async function exportBundle(vin = VIN): Promise<string> {
  const out = join(dir, `bundle-${++exports}`);
  await exportOfflineBundle({
    vin,
    out,
    imageRepoUrl: repos.image.url,
    clock,
    minValidMs: 60 * 60 * 1000,
    directorMetadata: async (v) => {
      const answer = await repos.operator('POST', `/api/v1/vehicles/${v}/offline-metadata`);
      expect(answer.status).toBe(200);
      return answer.json as unknown as OfflineMetadataExport;
    },
  });
  return out;
}

/** One cycle of the vehicle's primary on the bundle in `from`, with no network; the vehicle is reopened online after. */
async function installOffline(from: string): Promise<CycleResult> {
  const transport = offlineBundleTransport(from, join(car.spec.directory, car.spec.primary.serial), { vin: VIN, imageRepoUrl: repos.image.url });
  const offline = await SimulatedVehicle.open({ ...car.spec, ...transport });
  const result = await offline.primary.runCycle();
  await offline.close();
  await car.start(); // the online vehicle reads what the offline cycle left in its folders
  return result;
}

/** The primary's trusted metadata of both repositories, file by file (none before its first verified cycle). */
function trustedDirectorMetadata(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const repository of ['director', 'image']) {
    const folder = join(car.spec.directory, car.spec.primary.serial, repository);
    for (const name of readdirSync(folder)) files[`${repository}/${name}`] = readFileSync(join(folder, name)).toString('base64');
  }
  return files;
}
const readIndex = (bundle: string) => JSON.parse(readFileSync(join(bundle, OFFLINE_BUNDLE_INDEX), 'utf8')) as OfflineBundleIndex;
const writeIndex = (bundle: string, index: unknown) => writeFileSync(join(bundle, OFFLINE_BUNDLE_INDEX), JSON.stringify(index));
const bundleFile = (bundle: string, section: 'director' | 'imageMetadata' | 'imageTargets', name: string) => join(bundle, readIndex(bundle)[section][name]!);
const imagePath = (bundle: string, image: { name: string }) => {
  const index = readIndex(bundle);
  const key = Object.keys(index.imageTargets).find((k) => k.endsWith(image.name.split('/').pop()!))!;
  return join(bundle, index.imageTargets[key]!);
};

/**
 * The next online cycle, driving (so it reports and verifies but installs nothing itself): the
 * Director's view of the vehicle's assignments and its attacks after it.
 */
async function nextOnlineCycle(): Promise<{ states: string[]; attacks: string[] }> {
  clock.advance(1000); // a new signed session request, a second after the last one (docs/threat-model.md HR-9a)
  car.state.set('driving');
  expect((await car.primary.runCycle()).manifestSent).toBe(true);
  car.state.set('parked');
  const status = await repos.operator('GET', `/api/v1/vehicles/${VIN}`);
  return {
    states: (status.json.assignments as Array<{ ecuSerial: string; state: string }>).map((a) => `${a.ecuSerial}:${a.state}`).sort(),
    attacks: (status.json.attacks as Array<{ code: string }>).map((a) => a.code),
  };
}

/** R13: refused with `code`, nothing installed anywhere, trusted metadata unchanged, reported online, and an honest bundle installs next. */
async function expectRefused(bundle: string, code: string, trustedBefore: Record<string, string>, installedBefore: Record<string, string> = FACTORY, honestStatus = 'installed'): Promise<void> {
  const result = await installOffline(bundle);
  expect(result.status).toBe('failed');
  expect(result.error?.code).toBe(code);
  expect(result.outcomes).toEqual({});
  expect(car.installed()).toEqual(installedBefore);
  expect(trustedDirectorMetadata()).toEqual(trustedBefore);
  expect(car.primary.reportedAttacks.map((a) => a.code)).toContain(code);
  const online = await nextOnlineCycle();
  expect(online.attacks).toContain(code);
  expect(car.primary.reportedAttacks).toEqual([]);
  const honest = await installOffline(await exportBundle());
  expect(honest.status).toBe(honestStatus);
}

describe('offline bundles: the honest path', () => {
  it('installs every assigned ECU from a bundle with no network, and the next online manifest tells the Director', async () => {
    await assign(VIN, 'tcu-1', IMAGES.tcu.name);
    await assign(VIN, 'ecm-1', IMAGES.ecm.name);
    const bundle = await exportBundle();
    const index = readIndex(bundle);
    expect(index.vin).toBe(VIN);
    expect(index.images.map((i) => `${i.ecuSerial}:${i.filename}`).sort()).toEqual(['ecm-1:engine/ecm-2.0.bin', 'tcu-1:tcu/tcu-5.bin']);
    // The horizon is the Director timestamp's expiry (a day by default), the earliest of the bundle's metadata.
    expect(new Date(index.expires).getTime()).toBeLessThanOrEqual(FIXTURE_NOW.getTime() + 24 * 3600 * 1000);

    const result = await installOffline(bundle);
    expect(result).toMatchObject({ status: 'installed', manifestSent: false });
    expect(car.installed()).toEqual({ ...FACTORY, 'tcu-1': IMAGES.tcu.name, 'ecm-1': IMAGES.ecm.name });

    const audit = await repos.operator('GET', '/api/v1/audit?action=export_offline_bundle');
    expect((audit.json.entries as Array<{ action: string; details: { vin: string } }>).map((e) => e.details.vin)).toEqual([VIN]);
    const online = await nextOnlineCycle();
    expect(online.states).toEqual(['ecm-1:installed', 'tcu-1:installed']);
    expect(online.attacks).toEqual([]);
  });

  it('exports from an Image repository that serves only to credentials, with the signed URLs the Director issues for the vehicle', async () => {
    await repos.close();
    repos = await startRepositories(clock, 'offline', { imageReadAccess: 'credential' });
    await repos.publishImages(Object.values(IMAGES));
    car = await registeredVehicle(repos, { directory: join(dir, 'car-credential'), vin: VIN, clock });
    await assign(VIN, 'ecm-1', IMAGES.ecm.name);
    const anonymous = await fetch(`${repos.image.url}/metadata/1.root.json`);
    expect(anonymous.status).toBe(403);
    const result = await installOffline(await exportBundle());
    expect(result.status).toBe('installed');
    expect(car.installed()['ecm-1']).toBe(IMAGES.ecm.name);
  });

  it('finds nothing to install in the same bundle twice', async () => {
    await assign(VIN, 'ecm-1', IMAGES.ecm.name);
    const bundle = await exportBundle();
    expect((await installOffline(bundle)).status).toBe('installed');
    expect((await installOffline(bundle)).status).toBe('no-update');
  });

  it('refuses a bundle whose metadata expired by the vehicle clock (no attack: time passed)', async () => {
    await assign(VIN, 'ecm-1', IMAGES.ecm.name);
    const bundle = await exportBundle();
    clock.advance(2 * 24 * 3600 * 1000);
    const result = await installOffline(bundle);
    expect(result.error?.code).toBe('expired');
    expect(car.installed()).toEqual(FACTORY);
  });

  it('will not write a bundle that expires sooner than the exporter asks', async () => {
    await expect(
      exportOfflineBundle({
        vin: VIN,
        out: join(dir, 'too-short'),
        imageRepoUrl: repos.image.url,
        clock,
        minValidMs: 30 * 24 * 3600 * 1000,
        directorMetadata: async (v) => (await repos.operator('POST', `/api/v1/vehicles/${v}/offline-metadata`)).json as unknown as OfflineMetadataExport,
      }),
    ).rejects.toThrow(/sooner than --min-valid/);
  });
});

describe('offline bundle replay', () => {
  it('OB2: refuses an old bundle replayed after a newer one', async () => {
    await assign(VIN, 'tcu-1', IMAGES.tcu.name);
    const old = await exportBundle();
    await assign(VIN, 'ecm-1', IMAGES.ecm3.name); // a newer assignment: a new targets, snapshot and timestamp
    const newer = await exportBundle();
    expect((await installOffline(newer)).status).toBe('installed');
    const installed = car.installed();
    expect(installed['ecm-1']).toBe(IMAGES.ecm3.name);
    // The newer bundle is installed already: an honest export now finds nothing new.
    await expectRefused(old, 'offline_bundle_replayed', trustedDirectorMetadata(), installed, 'no-update');
  });

});

describe('offline bundle attacks', () => {
  beforeEach(async () => {
    await assign(VIN, 'tcu-1', IMAGES.tcu.name);
    await assign(VIN, 'ecm-1', IMAGES.ecm.name);
  });

  it('OB1: refuses a bundle exported for another vehicle', async () => {
    await registerOtherVehicle();
    const other = await exportBundle(OTHER_VIN);
    await expectRefused(other, 'offline_bundle_other_vehicle', trustedDirectorMetadata());
  });

  it("OB1: refuses another vehicle's bundle whose index claims this VIN (the signed targets name the other)", async () => {
    await registerOtherVehicle();
    const other = await exportBundle(OTHER_VIN);
    writeIndex(other, { ...readIndex(other), vin: VIN });
    await expectRefused(other, 'director_targets', trustedDirectorMetadata());
  });

  it("OB3: refuses a bundle with one ECU's image swapped for another of the same length", async () => {
    const bundle = await exportBundle();
    writeFileSync(imagePath(bundle, IMAGES.ecm), IMAGES.ecm3.content);
    await expectRefused(bundle, 'hash_mismatch', trustedDirectorMetadata());
  });

  it('OB3: refuses a truncated image', async () => {
    const bundle = await exportBundle();
    truncateSync(imagePath(bundle, IMAGES.tcu), 4);
    await expectRefused(bundle, 'length_mismatch', trustedDirectorMetadata());
  });

  it('OB4: refuses a tampered metadata file (the Director targets, one field changed)', async () => {
    const bundle = await exportBundle();
    const targetsName = Object.keys(readIndex(bundle).director).find((n) => /targets\.json$/.test(n))!;
    const path = bundleFile(bundle, 'director', targetsName);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"releaseCounter":2', '"releaseCounter":9'));
    await expectRefused(bundle, 'hash_mismatch', trustedDirectorMetadata());
  });

  it('OB5: refuses an oversized file before reading it (an image past its signed length)', async () => {
    const bundle = await exportBundle();
    appendFileSync(imagePath(bundle, IMAGES.ecm), Buffer.alloc(1024 * 1024));
    await expectRefused(bundle, 'offline_bundle_file_too_large', trustedDirectorMetadata());
  });

  it('OB5: refuses an oversized Director timestamp', async () => {
    const bundle = await exportBundle();
    writeFileSync(bundleFile(bundle, 'director', 'timestamp.json'), Buffer.alloc(4 * 1024 * 1024, 0x20));
    await expectRefused(bundle, 'offline_bundle_file_too_large', trustedDirectorMetadata());
  });

  it('OB6: refuses a path traversal in the index', async () => {
    const bundle = await exportBundle();
    // The file the index points to exists outside the bundle, and is even the genuine one.
    mkdirSync(join(dir, 'outside'));
    writeFileSync(join(dir, 'outside', 'timestamp.json'), readFileSync(bundleFile(bundle, 'director', 'timestamp.json')));
    const index = readIndex(bundle);
    writeIndex(bundle, { ...index, director: { ...index.director, 'timestamp.json': '../outside/timestamp.json' } });
    await expectRefused(bundle, 'offline_bundle_unsafe_path', trustedDirectorMetadata());
  });

  it('OB6: refuses a file that is a link out of the bundle', async () => {
    const bundle = await exportBundle();
    const path = bundleFile(bundle, 'director', 'timestamp.json');
    writeFileSync(join(dir, 'elsewhere.json'), readFileSync(path));
    rmSync(path);
    symlinkSync(join(dir, 'elsewhere.json'), path);
    await expectRefused(bundle, 'offline_bundle_unsafe_path', trustedDirectorMetadata());
  });
});
