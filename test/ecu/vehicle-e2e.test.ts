// Honest update cycles of a simulated vehicle (primary + two secondaries) against a real Image
// repository and a real Director on loopback.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { FixedClock } from '../../shared/core/clock.js';
import { FAIL_BOOT_MARKER } from '../../shared/ecu/ab-slots.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

const IMAGES = {
  tcu: { name: 'tcu/tcu-5.bin', content: Buffer.from('telematics v5'), hardwareIds: ['tcu-a'], releaseCounter: 5 },
  ecm: { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 },
  abs: { name: 'brake/abs-7.bin', content: Buffer.from('brake ecu v7'), hardwareIds: ['abs-z'], releaseCounter: 7 },
  absBad: { name: 'brake/abs-8.bin', content: Buffer.from(`${FAIL_BOOT_MARKER} brake ecu v8`), hardwareIds: ['abs-z'], releaseCounter: 8 },
};

let clock: FixedClock;
let repos: Repositories;
let dir: string;
let car: SimulatedVehicle;

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages(Object.values(IMAGES));
  dir = mkdtempSync(`${tmpdir()}/uptane-car-`);
  car = await registeredVehicle(repos, { directory: dir, vin: 'VINSIM0000000001', clock });
});

afterEach(async () => {
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

const assign = (ecuSerial: string, image: string) => repos.operator('POST', '/api/v1/assignments', { vin: car.spec.vin, ecuSerial, image });

async function assignmentStates(): Promise<string[]> {
  const status = await repos.operator('GET', `/api/v1/vehicles/${car.spec.vin}`);
  return (status.json.assignments as Array<{ ecuSerial: string; state: string }>).map((a) => `${a.ecuSerial}:${a.state}`).sort();
}

describe('vehicle update cycles', () => {
  it('reports and finds nothing new when nothing is assigned', async () => {
    const result = await car.primary.runCycle();
    expect(result).toMatchObject({ status: 'no-update', manifestSent: true });
  });

  it('updates every ECU at once, and the Director sees them installed', async () => {
    for (const [serial, image] of [['tcu-1', IMAGES.tcu], ['ecm-1', IMAGES.ecm], ['abs-1', IMAGES.abs]] as const) expect((await assign(serial, image.name)).status).toBe(201);
    const result = await car.primary.runCycle();
    expect(result.status).toBe('installed');
    expect(car.installed()).toEqual({ 'tcu-1': IMAGES.tcu.name, 'ecm-1': IMAGES.ecm.name, 'abs-1': IMAGES.abs.name });
    const next = await car.primary.runCycle();
    expect(next).toMatchObject({ status: 'no-update', manifestSent: true });
    expect(await assignmentStates()).toEqual(['abs-1:installed', 'ecm-1:installed', 'tcu-1:installed']);
  });

  it('downloads and verifies while driving, installs only after parking, and keeps the deferral over a restart', async () => {
    await assign('ecm-1', IMAGES.ecm.name);
    car.state.set('driving');
    const deferred = await car.primary.runCycle();
    expect(deferred.status).toBe('deferred');
    expect(car.installed()['ecm-1']).toBe('factory/ecm-x1.bin');
    expect(car.primary.pending?.targets.map((t) => t.filename)).toEqual([IMAGES.ecm.name]);
    await car.start(); // restart every ECU
    expect(car.primary.pending?.targets.map((t) => t.filename)).toEqual([IMAGES.ecm.name]);
    expect((await car.primary.runCycle()).status).toBe('deferred');
    car.state.set('parked');
    const installed = await car.primary.runCycle();
    expect(installed.status).toBe('installed');
    expect(car.installed()['ecm-1']).toBe(IMAGES.ecm.name);
  });

  it('rolls a secondary back when its new image fails the boot check, and says so to the Director', async () => {
    await assign('abs-1', IMAGES.absBad.name);
    const result = await car.primary.runCycle();
    expect(result.status).toBe('failed');
    expect(result.outcomes['abs-1']).toMatchObject({ status: 'rolled_back', code: 'boot_check_failed' });
    expect(car.installed()['abs-1']).toBe('factory/abs-z.bin');
    expect(await car.secondaries.get('abs-1')!.slots.isIntact(car.secondaries.get('abs-1')!.slots.current.active)).toBe(true);
    await car.primary.runCycle();
    expect(await assignmentStates()).toEqual(['abs-1:failed']);
  });

  it('refuses to install on a secondary that sees the vehicle driving', async () => {
    await assign('ecm-1', IMAGES.ecm.name);
    car.state.set('driving');
    await car.primary.runCycle();
    const secondary = car.secondaries.get('ecm-1')!;
    await expect(secondary.install()).rejects.toMatchObject({ code: 'vehicle_driving' });
  });
});

describe('the driving rule once installing has begun', () => {
  it('lets an ECU whose install started finish it, and defers the ECUs not yet started', async () => {
    // Start again with a hook: the vehicle starts driving the moment the first secondary switches slots.
    await repos.close();
    rmSync(dir, { recursive: true, force: true });
    repos = await startRepositories(clock);
    await repos.publishImages(Object.values(IMAGES));
    dir = mkdtempSync(`${tmpdir()}/uptane-car-`);
    let vehicle: SimulatedVehicle | undefined;
    vehicle = await registeredVehicle(repos, {
      directory: dir,
      vin: 'VINSIM0000000002',
      secondaries: [
        { serial: 'ecm-1', hardwareId: 'ecm-x1' },
        { serial: 'abs-1', hardwareId: 'abs-z' },
      ],
      clock,
      slots: { 'abs-1': { faultAt: (step) => (step === 'switch' ? vehicle?.state.set('driving') : undefined) } },
    });
    for (const [serial, image] of [['ecm-1', IMAGES.ecm], ['abs-1', IMAGES.abs]] as const) {
      expect((await repos.operator('POST', '/api/v1/assignments', { vin: 'VINSIM0000000002', ecuSerial: serial, image: image.name })).status).toBe(201);
    }
    const result = await vehicle.primary.runCycle();
    // abs-1 (first in the Director's list: brake/ sorts before engine/) had begun: it finished.
    // ecm-1 had not: it waits for the next parked cycle.
    expect(result.status).toBe('deferred');
    expect(result.outcomes['abs-1']?.status).toBe('installed');
    expect(result.outcomes['ecm-1']).toBeUndefined();
    expect(vehicle.installed()).toMatchObject({ 'abs-1': IMAGES.abs.name, 'ecm-1': 'factory/ecm-x1.bin' });
    expect(vehicle.primary.pending?.targets.map((t) => t.ecuSerial)).toEqual(['ecm-1']);
    vehicle.state.set('parked');
    const parked = await vehicle.primary.runCycle();
    expect(parked.status).toBe('installed');
    expect(vehicle.installed()['ecm-1']).toBe(IMAGES.ecm.name);
  });
});
