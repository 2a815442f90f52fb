// The Director end to end on loopback with a real Image repository: register a vehicle with a
// primary and two secondaries, assign, fetch targets as that vehicle, send manifests, and see the
// assignments reach installed.
import { FixedClock } from '../../shared/core/clock.js';
import type { TargetsSigned } from '../../shared/core/metadata/types.js';
import { startRepositories, FIXTURE_NOW, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

let clock: FixedClock;
let repos: Repositories;
let car: TestVehicle;

const ENGINE_V2 = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const BRAKE_V7 = { name: 'brake/abs-7.bin', content: Buffer.from('brake ecu v7'), hardwareIds: ['abs-z'], releaseCounter: 7 };

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages([ENGINE_V2, BRAKE_V7]);
  car = new TestVehicle(
    'VIN0000000000001',
    [
      { serial: 'tcu-1', hardwareId: 'tcu-a', primary: true },
      { serial: 'ecm-1', hardwareId: 'ecm-x1' },
      { serial: 'abs-1', hardwareId: 'abs-z' },
    ],
    clock,
  );
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
});

afterEach(async () => {
  car.cleanup();
  await repos.close();
});

describe('Director end to end', () => {
  it('takes an assignment through pending, in flight and installed', async () => {
    const assigned = await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: 'ecm-1', image: ENGINE_V2.name });
    expect(assigned.status).toBe(201);

    const updater = car.directorUpdater(repos.director.url, repos.directorRoot);
    await updater.refresh();
    const targets = updater.trusted.targets!.signed as TargetsSigned;
    expect(Object.keys(targets.targets)).toEqual([ENGINE_V2.name]);
    expect(targets.targets[ENGINE_V2.name]!.custom).toEqual({ ecuIdentifiers: { 'ecm-1': { hardwareId: 'ecm-x1' } }, releaseCounter: 2 });
    expect(targets.custom?.vin).toBe(car.vin);

    let status = await repos.operator('GET', `/api/v1/vehicles/${car.vin}`);
    const pending = (status.json.ecus as Array<{ serial: string; pending: { state: string } | null }>).find((e) => e.serial === 'ecm-1')!.pending;
    expect(pending?.state).toBe('in_flight');

    car.ecu('ecm-1').installed = { filename: ENGINE_V2.name, content: ENGINE_V2.content };
    const sent = await car.sendManifest(repos.director.url, car.manifest());
    expect(sent).toEqual({ status: 200, json: { accepted: true, assignmentsChanged: 1 } });

    status = await repos.operator('GET', `/api/v1/vehicles/${car.vin}`);
    const ecm = (status.json.ecus as Array<{ serial: string; installed: { filename: string; releaseCounter: number } }>).find((e) => e.serial === 'ecm-1')!;
    expect(ecm.installed).toMatchObject({ filename: ENGINE_V2.name, releaseCounter: 2 });
    expect((status.json.assignments as Array<{ state: string }>)[0]!.state).toBe('installed');

    // Installed: the vehicle's targets are empty again and carry the VIN.
    await updater.refresh();
    expect(Object.keys(updater.trusted.targets!.signed.targets)).toEqual([]);
  });

  it('gives byte-identical targets and no version bump when the assignments do not change', async () => {
    const first = car.directorUpdater(repos.director.url, repos.directorRoot);
    const a = await first.refresh();
    const b = await first.refresh();
    expect(b.targetsVersion).toBe(a.targetsVersion);
    expect(b.snapshotChanged).toBe(false);
    await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, hardwareId: 'abs-z', image: BRAKE_V7.name });
    const c = await first.refresh();
    expect(c.targetsVersion).toBe(a.targetsVersion + 1);
  });

  it('signs lazily: nothing at registration or assignment, everything on the next read; a cancel before it bumps nothing', async () => {
    const stored = () => Promise.all((['targets', 'snapshot', 'timestamp'] as const).map((role) => repos.director.storage.vehicleMetadata.file(car.vin, role)));
    const signedVersions = async () => (await stored()).map((file) => file?.version);
    const read = async (file: string) => {
      const response = await fetch(`${repos.director.url}/vehicle/metadata/${file}`, { headers: { authorization: car.authHeader('GET', `/vehicle/metadata/${file}`) } });
      expect(response.status).toBe(200);
      return Buffer.from(await response.arrayBuffer());
    };
    // Registered, never read: nothing signed yet.
    expect(await signedVersions()).toEqual([undefined, undefined, undefined]);
    await read('timestamp.json');
    expect(await signedVersions()).toEqual([1, 1, 1]);

    // An assignment marks the targets; the signed files stay as they were until the vehicle reads.
    const assigned = await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: 'ecm-1', image: ENGINE_V2.name });
    expect(assigned.status).toBe(201);
    expect(await signedVersions()).toEqual([1, 1, 1]);
    expect((await stored())[0]!.stale).toBe(true);
    const timestamp = JSON.parse((await read('timestamp.json')).toString()) as { signed: { version: number; meta: Record<string, { version: number }> } };
    expect(timestamp.signed.version).toBe(2);
    expect(await signedVersions()).toEqual([2, 2, 2]);
    const targets = JSON.parse((await read('2.targets.json')).toString()) as { signed: TargetsSigned };
    expect(Object.keys(targets.signed.targets)).toEqual([ENGINE_V2.name]);
    expect((await stored())[0]!.stale).toBe(false);

    // Assigned and cancelled before the vehicle read: the targets come back to what is signed, so the
    // next read re-signs nothing and bumps no version.
    const brake = await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: 'abs-1', image: BRAKE_V7.name });
    expect(brake.status).toBe(201);
    const id = (brake.json as { assignments: Array<{ id: number }> }).assignments[0]!.id;
    expect((await repos.operator('DELETE', `/api/v1/assignments/${id}`)).status).toBe(200);
    const before = (await stored()).map((file) => file!.bytes.toString('base64'));
    await read('timestamp.json');
    expect((await stored()).map((file) => file!.bytes.toString('base64'))).toEqual(before);
    expect((await stored())[0]!.stale).toBe(false);
  });

  it('records a failed install and reported attacks, visible to the operator', async () => {
    await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: 'abs-1', image: BRAKE_V7.name });
    const abs = car.ecu('abs-1');
    const reports = Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e)]));
    reports['abs-1'] = car.report(abs, {
      lastInstall: { filename: BRAKE_V7.name, status: 'rolled_back', code: 'boot_check_failed', message: 'new image did not boot' },
      attacks: [{ code: 'hash_mismatch', message: 'image tampered in transit' }],
    });
    expect((await car.sendManifest(repos.director.url, car.manifest(reports))).status).toBe(200);
    const status = await repos.operator('GET', `/api/v1/vehicles/${car.vin}`);
    expect((status.json.assignments as Array<{ state: string; reason: string }>)[0]).toMatchObject({ state: 'failed', reason: 'rolled_back: boot_check_failed: new image did not boot' });
    expect(status.json.attacks).toEqual([expect.objectContaining({ ecuSerial: 'abs-1', code: 'hash_mismatch' })]);
  });

  it('survives a restart between every step without losing anything acknowledged', async () => {
    await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: 'ecm-1', image: ENGINE_V2.name });
    await repos.restartDirector();
    const updater = car.directorUpdater(repos.director.url, repos.directorRoot);
    await updater.refresh();
    expect(Object.keys(updater.trusted.targets!.signed.targets)).toEqual([ENGINE_V2.name]);
    await repos.restartDirector();
    car.ecu('ecm-1').installed = { filename: ENGINE_V2.name, content: ENGINE_V2.content };
    expect((await car.sendManifest(repos.director.url, car.manifest())).status).toBe(200);
    await repos.restartDirector();
    const status = await repos.operator('GET', `/api/v1/vehicles/${car.vin}`);
    expect((status.json.assignments as Array<{ state: string }>)[0]!.state).toBe('installed');
    // The counters survived too: replaying the last report counter is refused after the restart.
    const replay = car.manifest({ ...Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e, { counter: e.counter })])) });
    expect((await car.sendManifest(repos.director.url, replay)).json).toMatchObject({ error: { code: 'replayed_report' } });
  });
});
