// The fleet simulator against real repositories on loopback: a small fleet with every kind of fault,
// deterministic from its seed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { FixedClock } from '../../shared/core/clock.js';
import { Fleet, simSecondaryHardware } from '../../sim/fleet.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';

let clock: FixedClock;
let repos: Repositories;
let dir: string;

const IMAGE = { name: 'sim/ecu1-v2.bin', content: Buffer.from('simulated ECU image v2'), hardwareIds: [simSecondaryHardware(0)], releaseCounter: 2 };

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages([IMAGE]);
  dir = mkdtempSync(`${tmpdir()}/uptane-fleet-sim-`);
});

afterEach(async () => {
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

async function startFleet(size: number, faults = {}): Promise<Fleet> {
  return Fleet.start({
    size,
    secondariesPerVehicle: 2,
    seed: 'fleet-test',
    directory: dir,
    directorUrl: repos.director.url,
    imageRepoUrl: repos.image.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    clock,
    faults,
    concurrency: 4,
    register: async (registration) => {
      const result = await repos.operator('POST', '/api/v1/vehicles', registration);
      if (result.status !== 201) throw new Error(JSON.stringify(result.json));
    },
  });
}

async function assignToFleet(fleet: Fleet): Promise<void> {
  const vins = fleet.records.map((r) => r.vehicle.spec.vin);
  const result = await repos.operator('POST', '/api/v1/assignments', { vins, hardwareId: simSecondaryHardware(0), image: IMAGE.name });
  expect(result.status).toBe(201);
}

describe('fleet simulator', () => {
  it('is deterministic: the same seed gives the same VINs and keys', async () => {
    const fleet = await startFleet(3);
    expect(fleet.records.map((r) => r.vehicle.spec.vin)).toEqual([Fleet.vinFor('fleet-test', 0), Fleet.vinFor('fleet-test', 1), Fleet.vinFor('fleet-test', 2)]);
    // A second fleet from the same seed, elsewhere on disk, holds the same keys; another seed does not.
    const again = await Fleet.start({ ...fleet.options, directory: `${dir}/again`, register: undefined, size: 1 });
    const other = await Fleet.start({ ...fleet.options, directory: `${dir}/other`, register: undefined, size: 1, seed: 'another-seed' });
    const keys = (f: Fleet) => f.records[0]!.vehicle.registration().ecus.map((e) => e.publicKey);
    expect(keys(again)).toEqual(keys(fleet));
    expect(keys(other)).not.toEqual(keys(fleet));
  });

  it('updates a healthy fleet in one round', async () => {
    const fleet = await startFleet(6);
    await assignToFleet(fleet);
    await fleet.runRound();
    const summary = fleet.summary();
    expect(summary).toMatchObject({ vehicles: 6, cycles: 6, installs: 6, byStatus: { installed: 6, failed: 0 } });
    for (const { installed } of fleet.installedImages()) expect(Object.values(installed)).toContain(IMAGE.name);
  });

  it('survives driving, interrupted downloads, failing boots, power cuts and an attacker, and reports each', async () => {
    const fleet = await startFleet(20, { driving: 0.2, interruptedDownloads: 0.2, failingBoots: 0.15, powerCuts: 0.15, attacked: 0.1, attack: 'tamper-images' });
    const count = (trait: (r: Fleet['records'][number]) => boolean) => fleet.records.filter(trait).length;
    expect(count((r) => r.traits.driving)).toBeGreaterThan(0);
    expect(count((r) => r.traits.network === 'tamper-images')).toBeGreaterThan(0);
    await assignToFleet(fleet);
    await fleet.runRound();
    fleet.parkAll();
    await fleet.runRound();
    await fleet.runRound();
    const summary = fleet.summary();
    // Every vehicle that is neither attacked nor failing its boots ends with the image installed.
    for (const record of fleet.records) {
      const installed = Object.values(record.vehicle.installed());
      const healthy = record.traits.network !== 'tamper-images' && !record.traits.failingBoots;
      expect([record.vehicle.spec.vin, installed.includes(IMAGE.name)]).toEqual([record.vehicle.spec.vin, healthy]);
    }
    expect(summary.rolledBack).toBeGreaterThan(0);
    expect(summary.errors.hash_mismatch).toBeGreaterThan(0);
    // The Director saw the attacks in the attacked vehicles' next manifests.
    const attacked = fleet.records.find((r) => r.traits.network === 'tamper-images')!;
    const status = await repos.operator('GET', `/api/v1/vehicles/${attacked.vehicle.spec.vin}`);
    expect((status.json.attacks as Array<{ code: string }>).map((a) => a.code)).toContain('hash_mismatch');
  });
});
