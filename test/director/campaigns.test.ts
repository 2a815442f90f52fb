// Campaigns with the fleet simulator on loopback (issue 8's bar): staged rollouts complete, halt on
// failures and on attacks, resume and abort, survive a Director restart, and pick up new vehicles.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { FAIL_BOOT_MARKER } from '../../shared/ecu/ab-slots.js';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { Fleet, simSecondaryHardware } from '../../sim/fleet.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';

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
    // The status says why it waits: halted, and by which rule.
    expect((paused as unknown as { waiting: Array<{ code: string; message: string }> }).waiting).toEqual([
      { code: 'halted', message: expect.stringMatching(/^halted by its rules: failure rate .* passed 0\.3 .*; `uptane director campaign resume bad` once it is dealt with$/) },
    ]);
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

  it('refuses at creation a campaign that could only skip every vehicle, naming why, and records campaign actions in the audit log', async () => {
    await fleetOf(3);
    await ok('POST', '/api/v1/groups', { name: 'three', filter: { attributes: { model: 'sim-x' } } });
    await ok('POST', '/api/v1/groups', { name: 'nobody', filter: { attributes: { model: 'no-such-model' } } });
    const create = (name: string, group: string, images: unknown[], extra: Record<string, unknown> = {}) =>
      repos.operator('POST', '/api/v1/campaigns', { name, group, images, stages: [{ share: 1 }], ...extra });
    // An image whose hardware ids do not include the one named for it.
    let refused = await create('wrong-hw', 'three', [{ hardwareId: 'sim-tcu', image: GOOD.name }]);
    expect(refused).toMatchObject({ status: 400, json: { error: { code: 'incompatible_hardware' } } });
    expect(JSON.stringify(refused.json)).toContain('not sim-tcu');
    // A hardware id no vehicle of the group has, with an image that fits it.
    await repos.publishImages([{ name: 'other/x.bin', content: Buffer.from('for a unit nobody has'), hardwareIds: ['no-such-unit'], releaseCounter: 1 }]);
    refused = await create('no-ecus', 'three', [{ hardwareId: 'no-such-unit', image: 'other/x.bin' }]);
    expect(refused).toMatchObject({ status: 400, json: { error: { code: 'bad_request' } } });
    expect((refused.json as { error: { message: string } }).error.message).toContain('no vehicle of group three has an ECU with hardware id no-such-unit');
    // An empty group, unless the campaign takes vehicles that join later.
    refused = await create('empty', 'nobody', [{ hardwareId: simSecondaryHardware(0), image: GOOD.name }]);
    expect((refused.json as { error: { message: string } }).error.message).toContain('group nobody has no vehicles');
    expect((await create('later', 'nobody', [{ hardwareId: simSecondaryHardware(0), image: GOOD.name }], { includeNewVehicles: true })).status).toBe(201);
    expect((await ok('GET', '/api/v1/campaigns')).campaigns).toEqual([expect.objectContaining({ name: 'later' })]);

    // What the operator does to a campaign is in the audit log, by whom.
    await createCampaign('audited', 'three', GOOD.name, [{ share: 1 }]);
    await ok('POST', '/api/v1/campaigns/audited/pause');
    await ok('POST', '/api/v1/campaigns/audited/abort');
    const actions = ((await ok('GET', '/api/v1/audit?limit=20')).entries as Array<{ action: string; details: { campaign?: string } }>).filter((e) => e.details.campaign === 'audited').map((e) => e.action);
    expect(actions.sort()).toEqual(['campaign_aborted', 'campaign_created', 'campaign_paused', 'campaign_started']);
  });

  it('shows per stage the VINs of each outcome with reasons, why the stage waits, and retries failed vehicles (operator only, audited; not an aborted campaign)', async () => {
    const fleet = await fleetOf(6, 'retry');
    const vins = fleet.records.map((r) => r.vehicle.spec.vin).sort();
    // A vehicle without the campaign's hardware id: skipped, and the status says why.
    const lone = PrivateKey.fromLabel('retry/LONE1/tcu').publicKey.tuf.keyval.public;
    await ok('POST', '/api/v1/vehicles', { vin: 'LONE1', ecus: [{ serial: 'LONE1-tcu', hardwareId: 'sim-tcu', publicKey: lone, primary: true }] });
    await ok('POST', '/api/v1/groups', { name: 'retry-group', vins: [...vins, 'LONE1'] });
    // Stage 1 takes everyone and soaks an hour; failures never halt it here (the retry is the point).
    await createCampaign('retry', 'retry-group', BAD.name, [{ share: 1, minSoakMs: 3_600_000 }, { share: 1 }], { halt: { maxFailureRate: 1, minSample: 1000 } });
    type Full = Status & {
      waiting: Array<{ code: string; message: string }>;
      perStage: Array<Status['perStage'][number] & { skipped: number; skipReasons: Record<string, number>; vins: Record<string, Array<{ vin: string; reason: string | null }>> }>;
    };
    let current = (await ok('GET', '/api/v1/campaigns/retry')) as unknown as Full;
    expect(current.perStage[0]).toMatchObject({ vehicles: 7, pending: 6, skipped: 1, skipReasons: { no_matching_ecu: 1 } });
    expect(current.perStage[0]!.vins.skipped).toEqual([{ vin: 'LONE1', reason: 'no ECU with a matching hardware id' }]);
    expect(current.perStage[0]!.vins.pending!.map((v) => v.vin)).toEqual(vins);
    expect(current.waiting.map((w) => w.code)).toEqual(['vehicles', 'success_threshold', 'soak']);
    expect(current.waiting[0]!.message).toBe('6 of 7 vehicles of stage 1 have not finished: 6 pending, 0 downloading');
    expect(current.waiting[2]!.message).toBe('soak time: 1h left in stage 1');
    // The sample is bounded by the request; counts stay whole.
    const small = (await ok('GET', '/api/v1/campaigns/retry?vins=2')) as unknown as Full;
    expect(small.perStage[0]!.vins.pending).toHaveLength(2);
    expect(small.perStage[0]!.pending).toBe(6);

    // Every simulated vehicle installs the image that fails its boot check: all six fail.
    expect(await fleet.waitUntil(async () => ((await ok('GET', '/api/v1/campaigns/retry')) as unknown as Full).perStage[0]!.failed === 6, 6)).toBe(true);
    current = (await ok('GET', '/api/v1/campaigns/retry')) as unknown as Full;
    expect(current.state).toBe('running');
    expect(current.perStage[0]!.vins.failed!.every((v) => v.reason?.startsWith('rolled_back') === true)).toBe(true);
    expect(current.waiting.find((w) => w.code === 'success_threshold')?.message).toContain('none is still installing: `uptane director campaign retry retry`');

    // Paged, with reasons: failed vehicles 4 at a time.
    const page1 = await ok('GET', '/api/v1/campaigns/retry/vehicles?outcome=failed&limit=4');
    expect(page1).toMatchObject({ campaign: 'retry', total: 6, next: vins[3] });
    expect((page1.vehicles as Array<{ vin: string; stage: number; outcome: string; rolledBack: boolean }>).map((v) => [v.vin, v.stage, v.outcome, v.rolledBack])).toEqual(vins.slice(0, 4).map((v) => [v, 1, 'failed', true]));
    const page2 = await ok('GET', `/api/v1/campaigns/retry/vehicles?outcome=failed&limit=4&after=${vins[3]}`);
    expect(page2).toMatchObject({ total: 6, next: null });
    expect((page2.vehicles as Array<{ vin: string }>).map((v) => v.vin)).toEqual(vins.slice(4));
    expect(await ok('GET', '/api/v1/campaigns/retry/vehicles?stage=1&outcome=skipped')).toMatchObject({ total: 1, vehicles: [{ vin: 'LONE1', outcome: 'skipped', reason: 'no ECU with a matching hardware id' }] });
    expect(await repos.operator('GET', '/api/v1/campaigns/retry/vehicles?outcome=broken')).toMatchObject({ status: 400 });
    expect(await repos.operator('GET', '/api/v1/campaigns/retry/vehicles?limit=1001')).toMatchObject({ status: 400 });

    // Retry refuses what is not a failed vehicle of the campaign, changing nothing.
    expect(await repos.operator('POST', '/api/v1/campaigns/retry/retry', { vins: ['LONE1'] })).toMatchObject({ status: 409 });
    expect(await repos.operator('POST', '/api/v1/campaigns/retry/retry', { vins: ['NOT-IN-IT'] })).toMatchObject({ status: 404 });
    expect(await repos.operator('POST', '/api/v1/campaigns/retry/retry', { vins: 'LONE1' })).toMatchObject({ status: 400 });
    expect(((await ok('GET', '/api/v1/campaigns/retry')) as unknown as Full).perStage[0]!.failed).toBe(6);

    // One named vehicle, then every other failed one: each gets a new assignment, and counts as pending again.
    const one = await ok('POST', '/api/v1/campaigns/retry/retry', { vins: [vins[0]] });
    expect(one).toMatchObject({ retried: [vins[0]], notRetried: [], remaining: 0 });
    const rest = await ok('POST', '/api/v1/campaigns/retry/retry');
    expect(rest).toMatchObject({ retried: vins.slice(1), notRetried: [], remaining: 0 });
    current = (rest as { status: Full }).status;
    expect(current.perStage[0]).toMatchObject({ failed: 0, pending: 6 });
    expect(await repos.operator('POST', '/api/v1/campaigns/retry/retry')).toMatchObject({ status: 409 }); // nothing failed now
    const audit = (await ok('GET', '/api/v1/audit?limit=10')).entries as Array<{ action: string; details: { campaign?: string; retried?: number } }>;
    expect(audit.filter((e) => e.action === 'campaign_retried').map((e) => e.details.retried)).toEqual([5, 1]);

    // An aborted campaign is not retried, with the reason and what to do instead.
    await ok('POST', '/api/v1/campaigns/retry/abort');
    const refused = await repos.operator('POST', '/api/v1/campaigns/retry/retry');
    expect(refused).toMatchObject({ status: 409, json: { error: { code: 'conflict' } } });
    expect((refused.json as { error: { message: string } }).error.message).toContain('campaign retry was aborted: it gives no vehicle anything more; create a new campaign');
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

  // HR-11a: the first stage keeps --maintenance-window and after= like every later one. The
  // Director's clock is the fixture's FixedClock; campaigns.tick() is what the server's timer calls.
  const HOUR = 60 * 60 * 1000;
  const assigned = (fleet: Fleet) => assignedOf(fleet.records.map((r) => r.vehicle.spec.vin));
  const assignedOf = async (vins: readonly string[]) => (await Promise.all(vins.map((vin) => repos.director.storage.assignments.active(vin)))).filter((active) => active.length > 0).length;

  it('holds the first stage outside the maintenance window and starts it when the window opens', async () => {
    clock.set('2026-06-01T14:00:00Z');
    const fleet = await fleetOf(10, 'window');
    await ok('POST', '/api/v1/groups', { name: 'window-group', vins: fleet.records.map((r) => r.vehicle.spec.vin) });
    await createCampaign('nightly', 'window-group', GOOD.name, [{ share: 0.5 }, { share: 1 }], { maintenanceWindow: { startHour: 1, endHour: 5 } });
    let current = (await status('nightly')) as Status & { stageStartedAt: string | null };
    expect(current).toMatchObject({ state: 'running', stage: 1, stageStartedAt: null, perStage: [] });
    expect((current.history.find((e) => e.kind === 'started')?.details as { waiting?: string } | undefined)?.waiting).toBe('stage 1 waits for the maintenance window 1-5 UTC');
    expect(await assigned(fleet)).toBe(0);
    clock.set('2026-06-01T23:30:00Z'); // still outside
    await repos.director.campaigns.tick();
    expect(await assigned(fleet)).toBe(0);
    clock.set('2026-06-02T01:00:00Z'); // the window opens
    await repos.director.campaigns.tick();
    current = (await status('nightly')) as typeof current;
    expect(current.stageStartedAt).toBe('2026-06-02T01:00:00.000Z');
    expect(current.perStage).toEqual([expect.objectContaining({ stage: 1, vehicles: 5 })]);
    expect(await assigned(fleet)).toBe(5);
    expect(current.history.map((e) => e.kind)).toEqual(['created', 'started', 'advanced']);
  }, 120_000);

  it('starts a first stage with after= only once that time has passed; advance starts it at once', async () => {
    const fleet = await fleetOf(6, 'later');
    const vins = fleet.records.map((r) => r.vehicle.spec.vin);
    await ok('POST', '/api/v1/groups', { name: 'later-group', vins: vins.slice(0, 4) });
    await ok('POST', '/api/v1/groups', { name: 'later-group-2', vins: vins.slice(4) });
    await createCampaign('later', 'later-group', GOOD.name, [{ share: 0.5, startAfterMs: 24 * HOUR }, { share: 1 }]);
    await createCampaign('later-2', 'later-group-2', GOOD.name, [{ share: 1, startAfterMs: 7 * 24 * HOUR }]);
    expect((await status('later')).perStage).toEqual([]);
    expect((await status('later-2')).perStage).toEqual([]);
    expect(await assignedOf(vins)).toBe(0);

    // The operator may start a held stage now, whatever its schedule.
    const advanced = (await ok('POST', '/api/v1/campaigns/later-2/advance')) as unknown as Status;
    expect(advanced.perStage).toEqual([expect.objectContaining({ stage: 1, vehicles: 2 })]);
    expect(await assignedOf(vins.slice(4))).toBe(2);

    clock.advance(24 * HOUR - 1);
    await repos.director.campaigns.tick();
    expect(await assignedOf(vins.slice(0, 4))).toBe(0);
    clock.advance(1);
    await repos.director.campaigns.tick();
    expect((await status('later')).perStage).toEqual([expect.objectContaining({ stage: 1, vehicles: 2 })]);
    expect(await assignedOf(vins.slice(0, 4))).toBe(2);
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
