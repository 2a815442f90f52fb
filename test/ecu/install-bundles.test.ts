// Install bundles end to end (docs/decisions.md "Install bundles"): the operator bundles images for
// the primary and both secondaries of one vehicle at the real Director; the vehicle installs them
// all or none, over the in-process and the HTTP secondary transport, and the Director records the
// bundle's one outcome. A member that fails its boot check after the others already booted their
// new image sends every member back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAIL_BOOT_MARKER } from '../../shared/ecu/ab-slots.js';
import { FixedClock } from '../../shared/core/clock.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import type { SimulatedVehicle } from '../../sim/vehicle.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

const VIN = 'VINBUNDLE0000001';
const FACTORY = { 'tcu-1': 'factory/tcu-a.bin', 'ecm-1': 'factory/ecm-x1.bin', 'abs-1': 'factory/abs-z.bin' } as const;
const NEW: Record<string, FixtureImage> = {
  'tcu-1': { name: 'tcu/tcu-5.bin', content: Buffer.from('telematics v5'), hardwareIds: ['tcu-a'], releaseCounter: 5 },
  'ecm-1': { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 },
  'abs-1': { name: 'brake/abs-7.bin', content: Buffer.from('brakes v7'), hardwareIds: ['abs-z'], releaseCounter: 7 },
};
/** For the primary, which switches last (members go in serial order: abs-1, ecm-1, tcu-1). */
const FAILS_BOOT: FixtureImage = { name: 'tcu/tcu-6.bin', content: Buffer.from(`${FAIL_BOOT_MARKER} telematics v6`), hardwareIds: ['tcu-a'], releaseCounter: 6 };

let clock: FixedClock;
let repos: Repositories;
let dir: string;

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages([...Object.values(NEW), FAILS_BOOT]);
});

afterAll(async () => {
  await repos.close();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-bundle-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A vehicle with primary tcu-1 and secondaries ecm-1 (partial) and abs-1 (full), serials prefixed with `tag` (serials are unique across the fleet). */
async function vehicle(vin: string, tag: string, transport: 'in-process' | 'http' = 'in-process'): Promise<SimulatedVehicle> {
  return registeredVehicle(repos, {
    directory: join(dir, vin),
    vin,
    clock,
    transport,
    primary: { serial: `${tag}tcu-1`, hardwareId: 'tcu-a' },
    secondaries: [
      { serial: `${tag}ecm-1`, hardwareId: 'ecm-x1' },
      { serial: `${tag}abs-1`, hardwareId: 'abs-z', verification: 'full' },
    ],
  });
}

/** `images` by plain serial, keyed by the vehicle's serials. */
const tagged = (tag: string, images: Readonly<Record<string, string>>) => Object.fromEntries(Object.entries(images).map(([serial, image]) => [`${tag}${serial}`, image]));

async function bundle(vin: string, members: Record<string, string>): Promise<Record<string, unknown>> {
  const answer = await repos.operator('POST', '/api/v1/install-bundles', { vin, members: Object.entries(members).map(([ecuSerial, image]) => ({ ecuSerial, image })) });
  expect(answer.status).toBe(201);
  return answer.json;
}

/** The image each ECU runs, by plain serial. */
function runs(car: SimulatedVehicle, tag: string): Record<string, string> {
  return Object.fromEntries(Object.entries(car.installed()).map(([serial, image]) => [serial.slice(tag.length), image]));
}

describe.each([['in-process'], ['http']] as const)('install bundles over the %s transport', (transport) => {
  it('installs every member, and the Director records the bundle installed once', async () => {
    const tag = transport === 'http' ? 'h1-' : 'p1-';
    const vin = `${VIN.slice(0, 14)}${tag.slice(0, 2).toUpperCase()}`;
    const car = await vehicle(vin, tag, transport);
    try {
      const created = await bundle(vin, tagged(tag, { 'tcu-1': NEW['tcu-1']!.name, 'ecm-1': NEW['ecm-1']!.name, 'abs-1': NEW['abs-1']!.name }));
      expect(created).toMatchObject({ vin, state: 'pending', bundleId: `ib-${String(created.id)}` });
      const result = await car.primary.runCycle();
      expect(result.status).toBe('installed');
      expect(runs(car, tag)).toEqual({ 'tcu-1': NEW['tcu-1']!.name, 'ecm-1': NEW['ecm-1']!.name, 'abs-1': NEW['abs-1']!.name });
      expect((await car.primary.runCycle()).status).toBe('no-update'); // the manifest reports it
      const view = await repos.operator('GET', `/api/v1/install-bundles/${String(created.id)}`);
      expect(view.json).toMatchObject({ state: 'installed', failingEcu: null });
      expect((view.json.members as Array<{ state: string }>).map((m) => m.state)).toEqual(['installed', 'installed', 'installed']);
    } finally {
      await car.close();
    }
  });

  it('M9 rolls every member back when the last one fails its boot check after the others booted their new image', async () => {
    const tag = transport === 'http' ? 'h2-' : 'p2-';
    const vin = `${VIN.slice(0, 14)}${tag.slice(0, 2).toUpperCase()}`;
    const car = await vehicle(vin, tag, transport);
    try {
      const created = await bundle(vin, tagged(tag, { 'tcu-1': FAILS_BOOT.name, 'ecm-1': NEW['ecm-1']!.name, 'abs-1': NEW['abs-1']!.name }));
      const result = await car.primary.runCycle();
      expect(result.status).toBe('failed');
      // The secondaries passed and held their trials; the primary failed; all three went back.
      expect(result.outcomes[`${tag}tcu-1`]).toMatchObject({ status: 'rolled_back', code: 'boot_check_failed' });
      expect(result.outcomes[`${tag}ecm-1`]).toMatchObject({ status: 'rolled_back', code: 'install_bundle_rolled_back' });
      expect(result.outcomes[`${tag}abs-1`]).toMatchObject({ status: 'rolled_back', code: 'install_bundle_rolled_back' });
      for (const serial of ['ecm-1', 'abs-1']) expect(car.secondaries.get(`${tag}${serial}`)!.slots.current.trial).toBeNull();
      expect(runs(car, tag)).toEqual(FACTORY);
      await car.primary.runCycle(); // reports it
      const view = await repos.operator('GET', `/api/v1/install-bundles/${String(created.id)}`);
      expect(view.json).toMatchObject({ state: 'rolled_back', failingEcu: `${tag}tcu-1` });
      expect(String(view.json.reason)).toContain('boot_check_failed');
      expect((view.json.members as Array<{ state: string }>).map((m) => m.state)).toEqual(['failed', 'failed', 'failed']);
    } finally {
      await car.close();
    }
  });
});
