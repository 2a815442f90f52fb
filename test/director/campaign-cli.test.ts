// `uptane director group ...` and `uptane director campaign ...` end to end: the built binary
// (dist/cli.js, from the global setup) against a real Director and Image repository on loopback,
// started in this process. Vehicles are TestVehicles registered through the operator API; their
// signed manifests move the campaign's counts. Each test registers vehicles of its own (their VINs
// and attributes carry the test's prefix), so no test depends on another.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { signEnvelope } from '../../shared/uptane/manifest.js';
import { runCli, type CliResult } from '../support/cli-runner.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { sqliteOf } from '../../sim/harness/sqlite-storage.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

const ECM_V2: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const ECM_V3: FixtureImage = { name: 'engine/ecm-3.0.bin', content: Buffer.from('engine ecu v3'), hardwareIds: ['ecm-x1'], releaseCounter: 3 };

interface Status {
  id: number;
  name: string;
  state: string;
  stage: number;
  vehicles: number;
  stages: Array<{ share?: number; count?: number; minSoakMs?: number; startAfterMs?: number; successThreshold?: number }>;
  perStage: Array<{ stage: number; vehicles: number; pending: number; downloading: number; deferredWhileDriving: number; installed: number; failed: number; rolledBack: number; cancelled: number; attackReported: number }>;
  failureReasons: Record<string, number>;
  history: Array<{ actor: string; kind: string; details: { reason?: string } }>;
}

let clock: FixedClock;
let repos: Repositories;
let dir: string;
const cars: TestVehicle[] = [];

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'campaign-cli');
  await repos.publishImages([ECM_V2, ECM_V3]);
}, 120_000);

afterAll(async () => {
  for (const car of cars) car.cleanup();
  await repos?.close();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-campaign-cli-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function env(): Record<string, string> {
  const clean = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('UPTANE_')));
  return { ...clean, UPTANE_DIRECTOR_URL: repos.director.url, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN };
}

const uptane = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: dir, env: env() });

async function ok(...args: string[]): Promise<string> {
  const run = await uptane(...args);
  if (run.status !== 0) throw new Error(`uptane ${args.join(' ')} exited ${String(run.status)}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run.stdout;
}

const statusJson = async (name: string) => JSON.parse(await ok('director', 'campaign', 'status', name, '--json')) as Status;

/** Registers `count` vehicles `<prefix>01...` (a primary and an engine ECU) with these attributes. */
async function register(prefix: string, count: number, attributes: (i: number) => Record<string, string>): Promise<TestVehicle[]> {
  const registered: TestVehicle[] = [];
  for (let i = 1; i <= count; i++) {
    const vin = `${prefix}${String(i).padStart(2, '0')}`;
    const car = new TestVehicle(vin, [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true }, { serial: `${vin}-ecm`, hardwareId: 'ecm-x1' }], clock);
    const result = await repos.operator('POST', '/api/v1/vehicles', { ...car.registration(), attributes: attributes(i) });
    if (result.status !== 201) throw new Error(JSON.stringify(result.json));
    cars.push(car);
    registered.push(car);
  }
  return registered;
}

/** The vehicles the campaign has given an assignment so far. */
async function assigned(fleet: readonly TestVehicle[]): Promise<TestVehicle[]> {
  const result: TestVehicle[] = [];
  for (const car of fleet) {
    const status = await repos.operator('GET', `/api/v1/vehicles/${car.vin}`);
    if ((status.json.assignments as unknown[]).length > 0) result.push(car);
  }
  return result;
}

/** A manifest from `car`, optionally saying it is driving. */
async function report(car: TestVehicle, options: { driving?: boolean; ecm?: Parameters<TestVehicle['report']>[1] } = {}): Promise<void> {
  const reports = Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e, e.primary ? {} : options.ecm)]));
  const manifest = signEnvelope(
    { _type: 'vehicle_version_manifest' as const, vin: car.vin, primary_ecu_serial: car.primary.serial, ecu_version_reports: reports, ...(options.driving ? { vehicle_state: 'driving' as const } : {}) },
    car.primary.key,
    nodeBackend,
  );
  const sent = await car.sendManifest(repos.director.url, manifest);
  if (sent.status !== 200) throw new Error(JSON.stringify(sent.json));
}

describe('uptane director group', () => {
  it('creates a static group from VINs, a VIN file and a CSV, and shows and lists it', async () => {
    await register('GRPS', 4, () => ({ model: 'grps-sedan' }));
    writeFileSync(join(dir, 'vins.txt'), '# reserved test vehicles\nGRPS02\nGRPS03\n');
    writeFileSync(join(dir, 'vins.csv'), 'vin,ecu_serial,hardware_id,public_key,primary\nGRPS03,GRPS03-tcu,tcu-a,00,yes\n"GRPS04",x,y,z,\n');
    const created = await ok('director', 'group', 'create', 'grps-testers', '--vin', 'GRPS01', '--vin', 'GRPS-NOT-YET', '--vins-file', 'vins.txt', '--csv', 'vins.csv');
    expect(created).toContain('created static group grps-testers: 5 VINs listed, 4 registered now');
    expect(created).toContain('the other 1 join the group once they are registered');
    expect(created).toContain('(1 repeated VIN ignored)');
    const duplicate = await uptane('director', 'group', 'create', 'grps-testers', '--vin', 'GRPS01');
    expect(duplicate.status).toBe(1);
    expect(duplicate.stderr).toContain('group grps-testers exists [conflict, HTTP 409]');
    expect(duplicate.stderr).toContain('`uptane director group show grps-testers` shows the existing one');

    const shown = JSON.parse(await ok('director', 'group', 'show', 'grps-testers', '--json')) as { kind: string; filter: unknown; members: string[] };
    expect(shown).toMatchObject({ kind: 'static', filter: null, members: ['GRPS01', 'GRPS02', 'GRPS03', 'GRPS04'] });
    const text = await ok('director', 'group', 'show', 'grps-testers');
    expect(text).toContain('kind      static: VIN list');
    expect(text).toContain('vehicles  4 registered');
    expect(text).toContain('  GRPS04');

    const list = await ok('director', 'group', 'list');
    expect(list).toMatch(/NAME\s+KIND\s+VEHICLES\s+DEFINITION\s+CREATED/);
    expect(list).toMatch(/grps-testers\s+static\s+4\s+VIN list\s+2026-06-01T/);
    const listJson = JSON.parse(await ok('director', 'group', 'list', '--json')) as { groups: Array<{ name: string; members: number }> };
    expect(listJson.groups).toContainEqual(expect.objectContaining({ name: 'grps-testers', kind: 'static', members: 4 }));
  }, 60_000);

  it('creates a dynamic group from a filter on attributes and hardware id', async () => {
    await register('GRPD', 5, (i) => ({ model: i <= 3 ? 'grpd-sedan' : 'grpd-suv', region: 'eu' }));
    const created = await ok('director', 'group', 'create', 'grpd-sedans', '--filter-attribute', 'model=grpd-sedan', '--filter-attribute', 'region=eu', '--filter-hardware-id', 'ecm-x1');
    expect(created).toContain('created dynamic group grpd-sedans (model=grpd-sedan, region=eu, has ECU ecm-x1): 3 vehicles match now');
    const shown = JSON.parse(await ok('director', 'group', 'show', 'grpd-sedans', '--json')) as { kind: string; filter: unknown; members: string[] };
    expect(shown).toEqual({ name: 'grpd-sedans', kind: 'dynamic', filter: { attributes: { model: 'grpd-sedan', region: 'eu' }, hardwareId: 'ecm-x1' }, createdAt: expect.any(String), members: ['GRPD01', 'GRPD02', 'GRPD03'] });
    // A vehicle registered later matches too.
    await register('GRPE', 1, () => ({ model: 'grpd-sedan', region: 'eu' }));
    expect((JSON.parse(await ok('director', 'group', 'show', 'grpd-sedans', '--json')) as { members: string[] }).members).toHaveLength(4);
  }, 60_000);

  it('explains what is wrong before sending anything, and names the next step on a refusal', async () => {
    const both = await uptane('director', 'group', 'create', 'bad', '--vin', 'X1', '--filter-hardware-id', 'ecm-x1');
    expect(both.status).toBe(1);
    expect(both.stderr).toContain('a group is either a list of VINs (--vin, --vins-file, --csv) or a filter (--filter-...), not both');
    const none = await uptane('director', 'group', 'create', 'bad');
    expect(none.stderr).toContain('name the members');
    const wide = await uptane('director', 'group', 'create', 'bad', ...Array.from({ length: 33 }, (_, i) => ['--filter-attribute', `a${i}=x`]).flat());
    expect(wide.status).toBe(1);
    expect(wide.stderr).toContain('--filter-attribute: 33 given, at most 32 (a vehicle has at most 32 attributes)');
    writeFileSync(join(dir, 'no-vin.csv'), 'serial,model\na,b\n');
    expect((await uptane('director', 'group', 'create', 'bad', '--csv', 'no-vin.csv')).stderr).toContain('the first line must be a header naming a vin column');
    const missing = await uptane('director', 'group', 'show', 'no-such-group');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('no group no-such-group [not_found, HTTP 404]');
    expect(missing.stderr).toContain('`uptane director group list` shows the groups');
  }, 60_000);
});

describe('uptane director campaign', () => {
  it('creates a campaign with percentage stages, starts it, and shows per-stage counts, failure reasons and decisions as text and JSON', async () => {
    const fleet = await register('CMPA', 6, () => ({ model: 'cmpa-sedan' }));
    await ok('director', 'group', 'create', 'cmpa-sedans', '--filter-attribute', 'model=cmpa-sedan');
    const created = await ok(
      'director', 'campaign', 'create', 'cmpa-ecm2', '--group', 'cmpa-sedans', '--image', `ecm-x1=${ECM_V2.name}`,
      '--stage', '50%', '--stage', '100%,after=1d', '--soak', '1h', '--success-threshold', '80%', '--max-failure-rate', '60%', '--min-sample', '3', '--maintenance-window', '1-5',
    );
    expect(created).toMatch(/created campaign cmpa-ecm2 \(#\d+, draft\) for group cmpa-sedans: ecm-x1=engine\/ecm-2\.0\.bin in 2 stages/);
    expect(created).toMatch(/1\s+50%, soak 1h, success 80%/);
    expect(created).toMatch(/2\s+100%, after 1d, soak 1h, success 80%/);
    expect(created).toContain('next: `uptane director campaign start cmpa-ecm2`');
    let status = await statusJson('cmpa-ecm2');
    expect(status).toMatchObject({ state: 'draft', perStage: [] });
    expect(status.stages).toEqual([
      { share: 0.5, minSoakMs: 3_600_000, successThreshold: 0.8 },
      { share: 1, startAfterMs: 86_400_000, minSoakMs: 3_600_000, successThreshold: 0.8 },
    ]);
    const stored = sqliteOf(repos.director.storage).db.prepare('SELECT spec FROM campaigns WHERE name = ?').get('cmpa-ecm2') as { spec: string };
    expect(JSON.parse(stored.spec)).toMatchObject({ halt: { maxFailureRate: 0.6, minSample: 3 }, includeNewVehicles: false, maintenanceWindow: { startHour: 1, endHour: 5 } });

    const started = await ok('director', 'campaign', 'start', 'cmpa-ecm2');
    expect(started).toContain('started campaign cmpa-ecm2: now running, stage 1 of 2');
    expect(started).toContain('6 vehicles in the campaign');
    // HR-11a: the clock says 00:00 UTC, outside the 1-5 window, so stage 1 waits; at 01:00 the engine
    // (the server's timer calls tick) starts it.
    expect(await assigned(fleet)).toHaveLength(0);
    const waiting = await ok('director', 'campaign', 'status', 'cmpa-ecm2');
    expect(waiting).toContain('waiting   stage 1 waits for the maintenance window 1-5 UTC');
    expect(waiting).toMatch(/fixture-operator\s+started\s+6 vehicles in the group; stage 1 waits for the maintenance window 1-5 UTC$/m);
    clock.set('2026-06-01T01:00:00Z');
    await repos.director.campaigns.tick();
    const [a, b, c] = await assigned(fleet);
    expect(await assigned(fleet)).toHaveLength(3);

    // One installs, one rolls back, one is driving and has not installed yet.
    a!.ecu(`${a!.vin}-ecm`).installed = { filename: ECM_V2.name, content: ECM_V2.content };
    await report(a!);
    await report(b!, { ecm: { lastInstall: { filename: ECM_V2.name, status: 'rolled_back', code: 'boot_check_failed', message: 'did not boot' } } });
    await report(c!, { driving: true });

    status = await statusJson('cmpa-ecm2');
    expect(status).toMatchObject({ state: 'running', stage: 1, vehicles: 6 });
    expect(status.perStage).toEqual([expect.objectContaining({ stage: 1, vehicles: 3, pending: 1, downloading: 0, deferredWhileDriving: 1, installed: 1, failed: 1, rolledBack: 1, attackReported: 0 })]);
    expect(status.failureReasons).toEqual({ 'rolled_back: boot_check_failed: did not boot': 1 });

    const text = await ok('director', 'campaign', 'status', 'cmpa-ecm2');
    const lines = text.split('\n');
    expect(text).toContain('state     running, stage 1 of 2');
    expect(text).toContain('group     cmpa-sedans: 6 vehicles in the campaign, 3 given the update so far');
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}STAGE\s+PLAN\s+VEHICLES\s+PENDING\s+DOWNLOADING\s+DEFERRED\s+INSTALLED\s+FAILED\s+ROLLED BACK\s+ATTACKS$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}1\*\s+50%, soak 1h, success 80%\s+3\s+1\s+0\s+1\s+1\s+1\s+1\s+0$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}2\s+100%, after 1d, soak 1h, success 80%\s+-$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}1\s+rolled_back: boot_check_failed: did not boot$/));
    expect(lines).toContainEqual(expect.stringMatching(/fixture-operator\s+created\s+group cmpa-sedans; ecm-x1=engine\/ecm-2\.0\.bin; 2 stages$/));
    expect(lines).toContainEqual(expect.stringMatching(/fixture-operator\s+started\s+6 vehicles in the group; stage 1 waits for the maintenance window 1-5 UTC$/));
    expect(lines).toContainEqual(expect.stringMatching(/engine\s+advanced\s+to stage 1: its start time and maintenance window came$/));
    expect(text).not.toContain('waiting   stage 1 waits');
    // Why stage 1 does not move on: a vehicle still to install, the success threshold, soak time, stage 2's start time.
    expect(text).toContain(
      [
        'waiting   1 of 3 vehicles of stage 1 have not finished: 1 pending, 0 downloading (1 deferred while driving)',
        '          stage 1 has 33.3% installed; stage 2 starts at 80%',
        '          soak time: 1h left in stage 1',
        '          stage 2 starts at 2026-06-02T00:00:00.000Z',
      ].join('\n'),
    );
    // The first VINs of each outcome, with the failed one's reason.
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ {2}1\\s+failed\\s+${b!.vin}\\s+rolled_back: boot_check_failed: did not boot$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ {2}1\\s+installed\\s+${a!.vin}\\s*$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ {2}1\\s+pending\\s+${c!.vin}\\s*$`)));

    // Every failed vehicle, a page at a time; then a retry gives it the update again, audited.
    const failed = await ok('director', 'campaign', 'status', 'cmpa-ecm2', '--outcome', 'failed');
    expect(failed).toMatch(new RegExp(`^ {2}${b!.vin}\\s+1\\s+failed \\(rolled back\\)\\s+rolled_back: boot_check_failed: did not boot$`, 'm'));
    expect(failed).toContain('1 vehicle shown, 1 in all (failed)');
    const page = JSON.parse(await ok('director', 'campaign', 'status', 'cmpa-ecm2', '--stage', '1', '--limit', '2', '--json')) as { total: number; next: string | null; vehicles: unknown[] };
    expect(page).toMatchObject({ total: 3, next: expect.any(String) });
    expect(page.vehicles).toHaveLength(2);
    const notFailed = await uptane('director', 'campaign', 'retry', 'cmpa-ecm2', '--vin', a!.vin);
    expect(notFailed.status).toBe(1);
    expect(notFailed.stderr).toContain(`vehicle ${a!.vin} has not failed in campaign cmpa-ecm2: it is installed; only failed vehicles are retried [conflict, HTTP 409]`);
    const retried = await ok('director', 'campaign', 'retry', 'cmpa-ecm2');
    expect(retried).toContain('retried 1 failed vehicle of campaign cmpa-ecm2: they get the update again at their next check');
    expect(retried).toContain(`  ${b!.vin}`);
    status = await statusJson('cmpa-ecm2');
    expect(status.perStage).toEqual([expect.objectContaining({ stage: 1, vehicles: 3, pending: 2, installed: 1, failed: 0, rolledBack: 0 })]);
    expect(status.history[status.history.length - 1]).toMatchObject({ actor: 'fixture-operator', kind: 'retried' });

    const list = await ok('director', 'campaign', 'list');
    expect(list).toMatch(/\d+\s+cmpa-ecm2\s+cmpa-sedans\s+running\s+1 of 2/);
    const listJson = JSON.parse(await ok('director', 'campaign', 'list', '--json')) as { campaigns: Array<{ name: string; state: string }> };
    expect(listJson.campaigns).toContainEqual(expect.objectContaining({ name: 'cmpa-ecm2', state: 'running', stage: 1, stages: 2 }));
  }, 120_000);

  it('pauses, resumes, advances and aborts on command; an attack report pauses it by itself, with the reason in the history', async () => {
    const fleet = await register('CMPB', 4, () => ({ model: 'cmpb-suv' }));
    await ok('director', 'group', 'create', 'cmpb-suvs', '--filter-attribute', 'model=cmpb-suv');
    await ok('director', 'campaign', 'create', 'cmpb-ecm2', '--group', 'cmpb-suvs', '--image', `ecm-x1=${ECM_V2.name}`, '--stage', 'count:1', '--stage', '100%');
    await ok('director', 'campaign', 'start', 'cmpb-ecm2');

    const paused = await ok('director', 'campaign', 'pause', 'cmpb-ecm2');
    expect(paused).toContain('paused campaign cmpb-ecm2: now paused, stage 1 of 2');
    const again = await uptane('director', 'campaign', 'pause', 'cmpb-ecm2');
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('campaign cmpb-ecm2 is paused; only a running campaign can pause [conflict, HTTP 409]');
    expect(await ok('director', 'campaign', 'resume', 'cmpb-ecm2')).toContain('resumed campaign cmpb-ecm2: now running, stage 1 of 2');

    // The one vehicle of stage 1 reports a detected attack: the engine pauses the campaign.
    const [first] = await assigned(fleet);
    await report(first!, { ecm: { attacks: [{ code: 'hash_mismatch', message: 'image tampered in transit' }] } });
    let status = await statusJson('cmpb-ecm2');
    expect(status.state).toBe('paused');
    expect(status.perStage[0]).toMatchObject({ vehicles: 1, attackReported: 1 });
    expect(status.history.map((e) => `${e.actor} ${e.kind}`)).toEqual(['fixture-operator created', 'fixture-operator started', 'fixture-operator paused', 'fixture-operator resumed', 'engine paused']);
    const text = await ok('director', 'campaign', 'status', 'cmpb-ecm2');
    expect(text).toMatch(/engine\s+paused\s+stage 1: security signal: vehicle CMPB\d\d ECU CMPB\d\d-ecm reported hash_mismatch: image tampered in transit/);
    expect(text).toMatch(/fixture-operator\s+paused\s+stage 1: paused by operator/);
    expect(text).toContain('next: look at the failure reasons and history, then `uptane director campaign resume cmpb-ecm2`');

    const advanced = await ok('director', 'campaign', 'advance', 'cmpb-ecm2');
    expect(advanced).toContain('advanced campaign cmpb-ecm2: now running, stage 2 of 2');
    expect(await assigned(fleet)).toHaveLength(4);
    const aborted = JSON.parse(await ok('director', 'campaign', 'abort', 'cmpb-ecm2', '--yes', '--json')) as Status;
    expect(aborted.state).toBe('aborted');
    expect(aborted.perStage.every((s) => s.pending + s.downloading === 0)).toBe(true);
    expect(aborted.history[aborted.history.length - 1]).toMatchObject({ actor: 'fixture-operator', kind: 'aborted' });
    status = await statusJson('cmpb-ecm2');
    expect(status.perStage.reduce((n, s) => n + s.cancelled, 0)).toBe(4);
    expect(await ok('director', 'campaign', 'status', 'cmpb-ecm2')).toMatch(/fixture-operator\s+aborted\s+4 open assignments cancelled/);
  }, 120_000);

  it('creates a campaign from the white-paper preset and from a ramp', async () => {
    await register('CMPC', 2, () => ({ model: 'cmpc' }));
    await ok('director', 'group', 'create', 'cmpc-all', '--filter-attribute', 'model=cmpc');
    const created = await ok('director', 'campaign', 'create', 'cmpc-world', '--group', 'cmpc-all', '--image', `ecm-x1=${ECM_V3.name}`, '--preset', 'white-paper', '--max-failures', '50', '--no-halt-on-attack');
    expect(created).toContain('in 8 stages');
    const lines = created.split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}1\s+0\.1%, soak 1d$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}3\s+11\.1%, after 2d, soak 1d$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}8\s+100%, after 7d$/));
    const status = await statusJson('cmpc-world');
    expect(status.stages.map((s) => s.share)).toEqual([0.001, 0.011, 0.111, 0.311, 0.511, 0.711, 0.911, 1]);
    const stored = sqliteOf(repos.director.storage).db.prepare('SELECT spec FROM campaigns WHERE name = ?').get('cmpc-world') as { spec: string };
    expect(JSON.parse(stored.spec)).toMatchObject({ halt: { maxFailures: 50, onAttack: false } });

    const ramp = JSON.parse(await ok('director', 'campaign', 'create', 'cmpc-ramp', '--group', 'cmpc-all', '--image', `ecm-x1=${ECM_V3.name}`, '--ramp', 'first=1%,factor=4', '--soak', '2h', '--json')) as Status;
    expect(ramp.stages).toEqual([0.01, 0.04, 0.16, 0.64, 1].map((share) => ({ share, minSoakMs: 7_200_000 })));
    expect(ramp.state).toBe('draft');
  }, 60_000);

  it('refuses a wrong group, a taken name, a conflicting campaign and malformed options, saying what to do', async () => {
    await register('CMPD', 3, () => ({ model: 'cmpd' }));
    await ok('director', 'group', 'create', 'cmpd-all', '--filter-attribute', 'model=cmpd');
    await ok('director', 'group', 'create', 'cmpd-two', '--vin', 'CMPD01', '--vin', 'CMPD02');

    const wrongGroup = await uptane('director', 'campaign', 'create', 'cmpd-x', '--group', 'cmpd-nope', '--image', `ecm-x1=${ECM_V2.name}`, '--stage', '100%');
    expect(wrongGroup.status).toBe(1);
    expect(wrongGroup.stderr).toContain('the Director refused to create campaign cmpd-x: no group cmpd-nope [not_found, HTTP 404]');
    expect(wrongGroup.stderr).toContain('`uptane director group list` shows the groups');

    await ok('director', 'campaign', 'create', 'cmpd-first', '--group', 'cmpd-all', '--image', `ecm-x1=${ECM_V2.name}`, '--stage', '100%');
    const taken = await uptane('director', 'campaign', 'create', 'cmpd-first', '--group', 'cmpd-all', '--image', `ecm-x1=${ECM_V2.name}`, '--stage', '100%');
    expect(taken.status).toBe(1);
    expect(taken.stderr).toContain('campaign cmpd-first exists [conflict, HTTP 409]');
    expect(taken.stderr).toContain('choose another name');

    // Two campaigns for the same ECUs of the same vehicles: the second cannot start while the first runs.
    await ok('director', 'campaign', 'start', 'cmpd-first');
    await ok('director', 'campaign', 'create', 'cmpd-second', '--group', 'cmpd-two', '--image', `ecm-x1=${ECM_V3.name}`, '--stage', '100%');
    const conflict = await uptane('director', 'campaign', 'start', 'cmpd-second');
    expect(conflict.status).toBe(1);
    expect(conflict.stderr).toMatch(/2 vehicle\(s\) of group cmpd-two \(e\.g\. CMPD0\d\) are in active campaign cmpd-first for hardware id ecm-x1; finish or abort it first \[conflict, HTTP 409\]/);
    expect(conflict.stderr).toContain('a vehicle belongs to at most one active campaign per hardware id');
    expect((await statusJson('cmpd-second')).state).toBe('draft');

    const unknown = await uptane('director', 'campaign', 'status', 'cmpd-nope');
    expect(unknown.stderr).toContain('no campaign cmpd-nope [not_found, HTTP 404]');
    expect(unknown.stderr).toContain('`uptane director campaign list` shows the campaigns');

    const cases: Array<[string[], string]> = [
      [['--stage', '150%'], '--stage 150%: a share is more than 0% and at most 100%'],
      [['--stage', '10%', '--stage', '5%'], '--stage 5%: stages are cumulative'],
      [['--stage', '10%,soak=soon'], '--stage 10%,soak=soon: soak soon: give a duration such as 30m'],
      [['--stage', '10%', '--preset', 'white-paper'], 'give the schedule one way'],
      [['--preset', 'white-paper', '--soak', '1h'], 'the white-paper preset has its own schedule'],
      [['--ramp', 'first=0.01,factor=1'], 'factor must be a number above 1'],
      [Array.from({ length: 101 }, () => ['--stage', '100%']).flat(), '--stage: 101 given, at most 100 stages'],
      // HR-7: refused before anything is sent (the Director refuses it too, before generating stages).
      [['--ramp', 'first=0.01,factor=1.000000001'], '--ramp first=0.01,factor=1.000000001: a ramp from 0.01 by a factor of 1.000000001 takes more than 100 stages'],
      [['--stage', '100%', '--maintenance-window', '5-5'], '--maintenance-window 5-5: write START-END in whole UTC hours'],
      [['--stage', '100%', '--max-failure-rate', '2'], '--max-failure-rate 2: give a share from 0 to 1'],
    ];
    for (const [options, message] of cases) {
      const run = await uptane('director', 'campaign', 'create', 'cmpd-bad', '--group', 'cmpd-all', '--image', `ecm-x1=${ECM_V2.name}`, ...options);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(message);
    }
    const badImage = await uptane('director', 'campaign', 'create', 'cmpd-bad', '--group', 'cmpd-all', '--image', ECM_V2.name, '--stage', '100%');
    expect(badImage.stderr).toContain('--image engine/ecm-2.0.bin: write HARDWARE_ID=IMAGE');
    expect((await repos.operator('GET', '/api/v1/campaigns/cmpd-bad')).status).toBe(404);
  }, 120_000);
});
