// Campaigns with the fleet simulator on loopback (issue 8's bar): staged rollouts complete, halt on
// failures and on attacks, resume and abort, survive a Director restart, and pick up new vehicles.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { FAIL_BOOT_MARKER } from '../../shared/ab-slots.js';
import { FixedClock } from '../../shared/clock.js';
import { Fleet, simSecondaryHardware } from '../../sim/fleet.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../support/fleet-fixtures.js';

const GOOD = { name: 'sim/ecu1-v2.bin', content: Buffer.from('simulated ECU image v2'), hardwareIds: [simSecondaryHardware(0)], releaseCounter: 2 };
const BAD = { name: 'sim/ecu1-v3.bin', content: Buffer.from(`${FAIL_BOOT_MARKER} simulated ECU image v3`), hardwareIds: [simSecondaryHardware(0)], releaseCounter: 3 };

let clock: FixedClock;
let repos: Repositories;
let dir: string;

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages([GOOD, BAD]);
  dir = mkdtempSync(`${tmpdir()}/uptane-campaign-`);
});

afterEach(async () => {
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

async function fleetOf(size: number, seed = 'campaign', faults = {}): Promise<Fleet> {
  return Fleet.start({
    size,
    secondariesPerVehicle: 1,
    seed,
    directory: `${dir}/${seed}`,
    directorUrl: repos.director.url,
    imageRepoUrl: repos.image.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    clock,
    faults,
    concurrency: 8,
    register: async (registration) => {
      const result = await repos.operator('POST', '/api/v1/vehicles', { ...registration, attributes: { model: 'sim-x', region: 'eu' } });
      if (result.status !== 201) throw new Error(JSON.stringify(result.json));
    },
  });
}

async function ok(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const result = await repos.operator(method, path, body);
  if (result.status >= 300) throw new Error(`${method} ${path}: ${result.status} ${JSON.stringify(result.json)}`);
  return result.json;
}

interface Status {
  state: string;
  stage: number;
  perStage: Array<{ stage: number; vehicles: number; installed: number; failed: number; rolledBack: number; pending: number; downloading: number; attackReported: number }>;
  history: Array<{ kind: string; details: { reason?: string } }>;
}

const status = async (name: string) => (await ok('GET', `/api/v1/campaigns/${name}`)) as unknown as Status;

async function createCampaign(name: string, group: string, image: string, stages: unknown[], extra: Record<string, unknown> = {}): Promise<void> {
  await ok('POST', '/api/v1/campaigns', { name, group, images: [{ hardwareId: simSecondaryHardware(0), image }], stages, ...extra });
  await ok('POST', `/api/v1/campaigns/${name}/start`);
}

const receivedImage = (fleet: Fleet, image: string) => fleet.records.filter((r) => Object.values(r.vehicle.installed()).includes(image) || r.results.some((c) => Object.values(c.outcomes).some((o) => o.filename === image)));

describe('campaigns', () => {
  it('rolls a 200-vehicle campaign through 1%, 10%, 50% and 100% to completion', async () => {
    const fleet = await fleetOf(200);
    await ok('POST', '/api/v1/groups', { name: 'all-sim', filter: { attributes: { model: 'sim-x' } } });
    await createCampaign('rollout', 'all-sim', GOOD.name, [{ share: 0.01 }, { share: 0.1 }, { share: 0.5 }, { share: 1 }]);
    expect((await status('rollout')).perStage).toEqual([expect.objectContaining({ stage: 1, vehicles: 2 })]);
    const done = await fleet.waitUntil(async () => (await status('rollout')).state === 'completed', 12);
    expect(done).toBe(true);
    const final = await status('rollout');
    expect(final.perStage.map((s) => s.vehicles)).toEqual([2, 18, 80, 100]);
    expect(final.perStage.every((s) => s.installed === s.vehicles)).toBe(true);
    expect(fleet.installedImages().every(({ installed }) => Object.values(installed).includes(GOOD.name))).toBe(true);
    expect(final.history.map((e) => e.kind)).toEqual(['created', 'started', 'advanced', 'advanced', 'advanced', 'completed']);
  }, 300_000);

  it('pauses in its first stage when the image fails its boot check, and the rest never receive it; abort cancels', async () => {
    const fleet = await fleetOf(40);
    await ok('POST', '/api/v1/groups', { name: 'bad-group', vins: fleet.records.map((r) => r.vehicle.spec.vin) });
    await createCampaign('bad', 'bad-group', BAD.name, [{ share: 0.25 }, { share: 1 }], { halt: { maxFailureRate: 0.3, minSample: 5 } });
    await fleet.waitUntil(async () => (await status('bad')).state === 'paused', 6);
    const paused = await status('bad');
    expect(paused.state).toBe('paused');
    expect(paused.stage).toBe(1);
    expect(paused.perStage[0]).toMatchObject({ vehicles: 10 });
    expect(paused.perStage[0]!.rolledBack).toBeGreaterThanOrEqual(5);
    expect(paused.history.find((e) => e.kind === 'paused')?.details.reason).toMatch(/failure rate/);
    await fleet.runRound();
    await fleet.runRound();
    expect(receivedImage(fleet, BAD.name).length).toBeLessThanOrEqual(10);
    // Abort: the campaign ends, nothing it assigned is still pending.
    const aborted = (await ok('POST', '/api/v1/campaigns/bad/abort')) as unknown as Status;
    expect(aborted.state).toBe('aborted');
    expect(aborted.perStage.every((s) => s.pending + s.downloading === 0)).toBe(true);
  }, 240_000);

  it('pauses when a vehicle reports an attack, resumes on command, and survives a Director restart mid-stage', async () => {
    const fleet = await fleetOf(20, 'attacked', { attacked: 0.25, attack: 'tamper-images' });
    await ok('POST', '/api/v1/groups', { name: 'attacked-group', filter: { hardwareId: simSecondaryHardware(0) } });
    await createCampaign('guarded', 'attacked-group', GOOD.name, [{ share: 1 }]);
    await fleet.runRound(); // attacked vehicles detect the tampered image ...
    await fleet.runRound(); // ... and report it in their next manifest
    let current = await status('guarded');
    expect(current.state).toBe('paused');
    expect(current.history.find((e) => e.kind === 'paused')?.details.reason).toMatch(/security signal: .*hash_mismatch/);
    await repos.restartDirector();
    current = await status('guarded');
    expect(current.state).toBe('paused'); // the decision survived the restart
    await ok('POST', '/api/v1/campaigns/guarded/resume');
    expect((await status('guarded')).state).toBe('running');
  }, 240_000);

  it('refuses a second active campaign for the same ECUs of the same vehicles', async () => {
    const fleet = await fleetOf(5, 'conflict');
    const vins = fleet.records.map((r) => r.vehicle.spec.vin);
    await ok('POST', '/api/v1/groups', { name: 'g1', vins });
    await ok('POST', '/api/v1/groups', { name: 'g2', vins: vins.slice(0, 2) });
    await createCampaign('first', 'g1', GOOD.name, [{ share: 0.2 }, { share: 1 }]);
    await ok('POST', '/api/v1/campaigns', { name: 'second', group: 'g2', images: [{ hardwareId: simSecondaryHardware(0), image: BAD.name }], stages: [{ share: 1 }] });
    const refused = await repos.operator('POST', '/api/v1/campaigns/second/start');
    expect(refused.status).toBe(409);
    expect(JSON.stringify(refused.json)).toMatch(/active campaign first/);
  }, 120_000);

  it('gives the update to vehicles registered after the start when the campaign asks for it', async () => {
    const fleet = await fleetOf(4, 'early');
    await ok('POST', '/api/v1/groups', { name: 'dynamic', filter: { attributes: { region: 'eu' } } });
    await createCampaign('growing', 'dynamic', GOOD.name, [{ share: 1 }], { includeNewVehicles: true });
    await fleet.runRound();
    const late = await fleetOf(3, 'late');
    await fleet.runRound(); // a manifest re-evaluates the campaign, which adds the new members
    await late.runRound();
    expect(late.installedImages().every(({ installed }) => Object.values(installed).includes(GOOD.name))).toBe(true);
    expect((await status('growing')).perStage[0]!.vehicles).toBe(7);
  }, 180_000);
});
