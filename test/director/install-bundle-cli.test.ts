// `uptane director assign --atomic` and `uptane director install-bundle show` end to end: the built
// binary (dist/cli.js, from the global setup) against a real Director and Image repository on
// loopback, started in this process. Vehicles are TestVehicles registered through the operator API;
// their signed manifests give a bundle its outcome. Each test has vehicles of its own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import type { InstallOutcome } from '../../shared/uptane/manifest.js';
import { runCli, type CliResult } from '../support/cli-runner.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

const ECM_V2: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const ABS_V7: FixtureImage = { name: 'brake/abs-7.bin', content: Buffer.from('brake ecu v7'), hardwareIds: ['abs-z'], releaseCounter: 7 };

interface BundleJson {
  id: number;
  bundleId: string;
  vin: string;
  state: string;
  failingEcu: string | null;
  reason: string | null;
  members: Array<{ id: number; ecuSerial: string; filename: string; state: string; bundleId?: number }>;
}

let repos: Repositories;
let dir: string;
const cars: TestVehicle[] = [];

beforeAll(async () => {
  repos = await startRepositories(new FixedClock(FIXTURE_NOW), 'install-bundle-cli');
  await repos.publishImages([ECM_V2, ABS_V7]);
}, 120_000);

afterAll(async () => {
  for (const car of cars) car.cleanup();
  await repos?.close();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-install-bundle-cli-'));
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

async function refused(...args: string[]): Promise<string> {
  const run = await uptane(...args);
  if (run.status !== 1) throw new Error(`uptane ${args.join(' ')} exited ${String(run.status)}, not 1\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  expect(run.stdout).toBe('');
  return run.stderr;
}

/** A vehicle `vin` with a primary, an engine ECU and a brake ECU, registered. */
async function register(vin: string): Promise<TestVehicle> {
  const car = new TestVehicle(vin, [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true }, { serial: `${vin}-ecm`, hardwareId: 'ecm-x1' }, { serial: `${vin}-abs`, hardwareId: 'abs-z' }], new FixedClock(FIXTURE_NOW));
  const result = await repos.operator('POST', '/api/v1/vehicles', car.registration());
  if (result.status !== 201) throw new Error(JSON.stringify(result.json));
  cars.push(car);
  return car;
}

/** A manifest in which each ECU reports what it runs, and the ECUs in `outcomes` their last install. */
async function report(car: TestVehicle, outcomes: Record<string, InstallOutcome> = {}): Promise<void> {
  const reports = Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e, outcomes[e.serial] === undefined ? {} : { lastInstall: outcomes[e.serial]! })]));
  const sent = await car.sendManifest(repos.director.url, car.manifest(reports));
  if (sent.status !== 200) throw new Error(JSON.stringify(sent.json));
}

const members = (vin: string) => ['--member', `${vin}-ecm=${ECM_V2.name}`, '--member', `${vin}-abs=${ABS_V7.name}`];

const bundlesOfVehicle = async (vin: string) =>
  ((await repos.operator('GET', `/api/v1/vehicles/${vin}`)).json.assignments as Array<{ bundleId?: number }>).filter((a) => a.bundleId !== undefined).length;

describe('uptane director assign --atomic', () => {
  it('assigns an install bundle, shows it pending, and after the manifest installed', async () => {
    const car = await register('IBC1');
    const out = await ok('director', 'assign', '--atomic', '--vin', 'IBC1', ...members('IBC1'));
    const id = Number(/install bundle (\d+) \(ib-\1\) for IBC1: 2 ECUs, all or none/.exec(out)?.[1]);
    expect(id).toBeGreaterThan(0);
    expect(out).toMatch(/ASSIGNMENT\s+ECU\s+IMAGE\s+RELEASE\s+STATE\s+REASON/);
    expect(out).toMatch(/IBC1-abs\s+brake\/abs-7\.bin\s+7\s+pending/);
    expect(out).toMatch(/IBC1-ecm\s+engine\/ecm-2\.0\.bin\s+2\s+pending/);
    expect(out).toContain(`\`uptane director install-bundle show ${id}\` shows its outcome`);

    const shown = await ok('director', 'install-bundle', 'show', String(id));
    expect(shown).toContain(`install bundle  ${id} (ib-${id})`);
    expect(shown).toContain('vehicle         IBC1');
    expect(shown).toContain('state           pending: not every member has reported its image installed yet');
    const vehicle = await ok('director', 'vehicle', 'show', 'IBC1');
    expect(vehicle).toMatch(/STATE\s+INSTALL BUNDLE\s+UPDATED/);
    expect(vehicle).toMatch(new RegExp(`IBC1-ecm\\s+engine/ecm-2\\.0\\.bin\\s+2\\s+pending\\s+${id}\\s`));

    // The vehicle installed both members and says so.
    car.ecu('IBC1-ecm').installed = { filename: ECM_V2.name, content: ECM_V2.content };
    car.ecu('IBC1-abs').installed = { filename: ABS_V7.name, content: ABS_V7.content };
    await report(car);
    const done = JSON.parse(await ok('director', 'install-bundle', 'show', `ib-${id}`, '--json')) as BundleJson;
    expect(done).toMatchObject({ id, bundleId: `ib-${id}`, vin: 'IBC1', state: 'installed', failingEcu: null });
    expect(done.members.map((m) => [m.ecuSerial, m.state])).toEqual([['IBC1-abs', 'installed'], ['IBC1-ecm', 'installed']]);
    expect(await ok('director', 'install-bundle', 'show', String(id))).toContain('state           installed: every member runs its new image');
  }, 60_000);

  it('prints the bundle as JSON, and shows a rolled-back bundle with the ECU that failed', async () => {
    const car = await register('IBC2');
    const created = JSON.parse(await ok('director', 'assign', '--atomic', '--vin', 'IBC2', ...members('IBC2'), '--json')) as BundleJson;
    expect(created).toMatchObject({ bundleId: `ib-${created.id}`, vin: 'IBC2', state: 'pending', failingEcu: null, reason: null });
    expect(created.members.map((m) => [m.ecuSerial, m.filename, m.state, m.bundleId])).toEqual([
      ['IBC2-abs', ABS_V7.name, 'pending', created.id],
      ['IBC2-ecm', ECM_V2.name, 'pending', created.id],
    ]);

    // The brake ECU failed its boot check; the engine ECU went back with it.
    await report(car, {
      'IBC2-abs': { filename: ABS_V7.name, status: 'rolled_back', code: 'boot_check_failed', message: 'did not boot' },
      'IBC2-ecm': { filename: ECM_V2.name, status: 'rolled_back', code: 'install_bundle_rolled_back', message: 'member IBC2-abs failed' },
    });
    const shown = await ok('director', 'install-bundle', 'show', String(created.id));
    expect(shown).toContain('state           rolled_back: a member failed, so every member went back to its previous image');
    expect(shown).toContain('failing ECU     IBC2-abs');
    expect(shown).toMatch(/reason\s+.*boot_check_failed/);
  }, 60_000);

  it('refuses a bad bundle with the reason and a next step, storing nothing', async () => {
    await register('IBC3');
    // Checked before the Director is asked.
    expect(await refused('director', 'assign', '--atomic', '--vin', 'IBC3', '--member', `IBC3-ecm=${ECM_V2.name}`)).toContain(
      'an install bundle needs at least two --member ECU=IMAGE (1 given): for one ECU, assign without --atomic',
    );
    expect(await refused('director', 'assign', '--atomic', '--vin', 'IBC3', '--member', `IBC3-ecm=${ECM_V2.name}`, '--member', `IBC3-ecm=${ECM_V2.name}`)).toContain(
      '--member: ECU IBC3-ecm is named twice',
    );
    expect(await refused('director', 'assign', '--atomic', '--vin', 'IBC3', '--member', 'IBC3-ecm', '--member', `IBC3-abs=${ABS_V7.name}`)).toContain('--member IBC3-ecm: write ECU_SERIAL=IMAGE');
    expect(await refused('director', 'assign', '--atomic', '--vin', 'IBC3', '--image', ECM_V2.name, ...members('IBC3'))).toContain('--atomic names each ECU\'s image with --member ECU=IMAGE; it takes no --image');
    expect(await refused('director', 'assign', '--atomic', '--vin', 'IBC3', ...members('IBC3'), '--encrypt')).toContain('it takes no --encrypt');
    expect(await refused('director', 'assign', '--atomic', '--vin', 'IBC3', '--vin', 'IBC1', ...members('IBC3'))).toContain('give exactly one --vin');
    expect(await refused('director', 'assign', '--vin', 'IBC3', ...members('IBC3'))).toContain('--member names an ECU of an install bundle: add --atomic');

    // Refused by the Director, with its code.
    const noEcu = await refused('director', 'assign', '--atomic', '--vin', 'IBC3', '--member', `IBC3-ecm=${ECM_V2.name}`, '--member', `IBC1-abs=${ABS_V7.name}`);
    expect(noEcu).toContain('the Director refused to make the install bundle for IBC3: vehicle IBC3 has no ECU IBC1-abs [not_found, HTTP 404]');
    expect(noEcu).toContain('`uptane director vehicle show IBC3` lists its ECUs');
    const noImage = await refused('director', 'assign', '--atomic', '--vin', 'IBC3', '--member', `IBC3-ecm=engine/ecm-9.bin`, '--member', `IBC3-abs=${ABS_V7.name}`);
    expect(noImage).toMatch(/engine\/ecm-9\.bin.*\[target_not_found, HTTP 400\]/);
    expect(noImage).toContain('the Image repository does not list that image');
    const noVehicle = await refused('director', 'assign', '--atomic', '--vin', 'IBC-NONE', ...members('IBC-NONE'));
    expect(noVehicle).toContain('[not_found, HTTP 404]');
    expect(noVehicle).toContain('`uptane director vehicle list` shows the registered VINs');
    expect(await bundlesOfVehicle('IBC3')).toBe(0);

    // One pending bundle per vehicle: a second is refused and the first named.
    const first = JSON.parse(await ok('director', 'assign', '--atomic', '--vin', 'IBC3', ...members('IBC3'), '--json')) as BundleJson;
    const second = await refused('director', 'assign', '--atomic', '--vin', 'IBC3', '--member', `IBC3-ecm=${ECM_V2.name}`, '--member', `IBC3-abs=${ABS_V7.name}`);
    expect(second).toContain('vehicle IBC3 has a pending install bundle');
    expect(second).toContain('[conflict, HTTP 409]');
    expect(second).toContain(`\`uptane director install-bundle show ${first.id}\` shows the pending one`);
    expect(await bundlesOfVehicle('IBC3')).toBe(2);

    // Cancelling one member cancels the bundle whole.
    await ok('director', 'cancel', String(first.members[0]!.id), '--yes');
    const cancelled = JSON.parse(await ok('director', 'install-bundle', 'show', String(first.id), '--json')) as BundleJson;
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.members.map((m) => m.state)).toEqual(['cancelled', 'cancelled']);
    expect(await refused('director', 'install-bundle', 'show', 'ib-x')).toContain('give its number or its id as the vehicle\'s targets carry it (3 or ib-3)');
    expect(await refused('director', 'install-bundle', 'show', '999999')).toContain('no install bundle 999999 [not_found, HTTP 404]');
  }, 90_000);

  it('explains --atomic in --help with a working example', async () => {
    const help = await ok('director', 'assign', '--help');
    expect(help).toContain('--atomic');
    expect(help).toContain('--member');
    // The example is the README's (run by its walkthrough test); yargs wraps it beside its description, so it is matched in parts.
    for (const part of ['director assign --atomic --vin WVW127', '--member WVW127-ecm=engine/ecm-2.1.bin', 'WVW127-bcm=body/front.bin']) expect(help).toContain(part);
    expect(await ok('director', 'install-bundle', '--help')).toContain('director install-bundle show 3');
  }, 30_000);
});
