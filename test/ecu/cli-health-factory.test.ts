// `uptane vehicle provision --health` and `uptane vehicle factory-reset` end to end: the real binary
// (dist/cli.js) against a real Director and Image repository on loopback. A secondary provisioned with
// a probe process that fails rolls a new image back after its boot check (health_check_failed, the
// probe's output as the reason) and the Director records the failed install; a factory reset puts an
// ECU back on its factory image, the next cycle reports it and the Director shows it; a corrupted
// factory image is refused, typed, and nothing changes (docs/threat-model.md M20, M21).
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { formatExpires } from '../../shared/core/metadata/parse.js';
import { buildCli, runCli, type CliResult } from '../support/cli-runner.js';
import { OPERATOR_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';

const ECM = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const TCU = { name: 'tcu/tcu-5.bin', content: Buffer.from('telematics v5'), hardwareIds: ['tcu-a'], releaseCounter: 5 };

let repos: Repositories;
let work: string;

const uptane = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: work, env: { ...process.env, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN } });

async function ok(...args: string[]): Promise<string> {
  const run = await uptane(...args);
  if (run.status !== 0 || run.stderr !== '') throw new Error(`uptane ${args.join(' ')} exited ${run.status}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run.stdout;
}

interface StatusJson {
  ecus: Array<{ serial: string; installed: { filename: string }; lastInstall: { status: string; filename: string; code?: string; message?: string } | null }>;
}
const ecuStatus = async (dir: string, serial: string) => (JSON.parse(await ok('vehicle', 'status', '--dir', dir, '--json')) as StatusJson).ecus.find((e) => e.serial === serial)!;

async function provision(dir: string, vin: string, ...extra: string[]): Promise<void> {
  await ok(
    'vehicle', 'provision', '--dir', dir, '--vin', vin, '--primary', `${vin}-tcu:tcu-a`, '--secondary', `${vin}-ecm:ecm-x1`,
    '--director-url', repos.director.url, '--image-url', repos.image.url, '--director-root', 'director-root.json', '--image-root', 'image-root.json',
    '--register', ...extra,
  );
}

const assign = async (vin: string, ecuSerial: string, image: string) => expect((await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial, image })).status).toBe(201);

async function directorView(vin: string, serial: string) {
  const status = await repos.operator('GET', `/api/v1/vehicles/${vin}`);
  const installed = (status.json.ecus as Array<{ serial: string; installed: { filename: string } }>).find((e) => e.serial === serial)!.installed.filename;
  const assignments = (status.json.assignments as Array<{ ecuSerial: string; state: string; reason: string | null }>).filter((a) => a.ecuSerial === serial);
  return { installed, assignments };
}

beforeAll(async () => {
  await buildCli();
}, 130_000);

beforeEach(async () => {
  const now = new Date();
  repos = await startRepositories(new FixedClock(now), 'vehicle-health', { expires: formatExpires(new Date(now.getTime() + 365 * 24 * 3600 * 1000)) });
  await repos.publishImages([ECM, TCU]);
  work = mkdtempSync(join(tmpdir(), 'uptane-cli-health-'));
  writeFileSync(join(work, 'director-root.json'), repos.directorRoot);
  writeFileSync(join(work, 'image-root.json'), repos.imageRoot);
});

afterEach(async () => {
  await repos.close();
  rmSync(work, { recursive: true, force: true });
});

describe('uptane vehicle provision --health', () => {
  it('M20 a probe process that fails rolls the new image back; status and the Director show health_check_failed with its reason', async () => {
    const dir = join(work, 'car1');
    const vin = 'VINHEALTH0000001';
    // The probe: a Node one-liner that says why it fails and exits 3.
    const probe = { soakMs: 200, pollMs: 100, probe: { kind: 'exit', command: process.execPath, args: ['-e', 'console.error("CAN bus silent after boot"); process.exit(3)'] } };
    await provision(dir, vin, '--health', `${vin}-ecm=${JSON.stringify(probe)}`);
    expect(JSON.parse(readFileSync(join(dir, `${vin}-ecm`, 'health.json'), 'utf8'))).toEqual(probe);
    await assign(vin, `${vin}-ecm`, ECM.name);
    const run = await uptane('vehicle', 'run', '--dir', dir, '--once');
    expect(run.stdout + run.stderr).toContain('health_check_failed');
    const ecm = await ecuStatus(dir, `${vin}-ecm`);
    expect(ecm.installed.filename).toBe('factory/ecm-x1.bin');
    expect(ecm.lastInstall).toMatchObject({ filename: ECM.name, status: 'rolled_back', code: 'health_check_failed' });
    expect(ecm.lastInstall!.message).toContain('exit probe, poll 1 of 2');
    expect(ecm.lastInstall!.message).toContain('exited 3: CAN bus silent after boot');
    await uptane('vehicle', 'run', '--dir', dir, '--once'); // the manifest that tells the Director
    const view = await directorView(vin, `${vin}-ecm`);
    expect(view.assignments).toEqual([expect.objectContaining({ state: 'failed', reason: expect.stringMatching(/^rolled_back: health_check_failed: .*CAN bus silent after boot/) })]);
  }, 120_000);

  it('refuses a bad --health before any file is written, naming the field', async () => {
    const dir = join(work, 'car2');
    const bad = await uptane('vehicle', 'provision', '--dir', dir, '--vin', 'VINHEALTH0000002', '--primary', 'VINHEALTH0000002-tcu:tcu-a',
      '--director-url', repos.director.url, '--image-url', repos.image.url, '--director-root', 'director-root.json', '--image-root', 'image-root.json', '--offline',
      '--health', 'VINHEALTH0000002-tcu={"soakMs":1000,"probe":{"kind":"shell"}}');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('--health VINHEALTH0000002-tcu.probe.kind: must be one of exit, heartbeat-file, self-test-file, simulated');
    const unknown = await uptane('vehicle', 'provision', '--dir', dir, '--vin', 'VINHEALTH0000002', '--primary', 'VINHEALTH0000002-tcu:tcu-a',
      '--director-url', repos.director.url, '--image-url', repos.image.url, '--director-root', 'director-root.json', '--image-root', 'image-root.json', '--offline',
      '--health', 'nobody={"soakMs":1000,"probe":{"kind":"simulated"}}');
    expect(unknown.stderr).toContain('no ECU nobody in this vehicle');
    expect(() => readFileSync(join(dir, 'vehicle.json'))).toThrow();
  }, 60_000);
});

describe('uptane vehicle factory-reset', () => {
  it('M21 puts an ECU back on its factory image; the next cycle reports it and the Director records it', async () => {
    const dir = join(work, 'car3');
    const vin = 'VINFACTORYCLI001';
    await provision(dir, vin);
    await assign(vin, `${vin}-ecm`, ECM.name);
    await ok('vehicle', 'run', '--dir', dir, '--once');
    await ok('vehicle', 'run', '--dir', dir, '--once');
    expect((await directorView(vin, `${vin}-ecm`)).installed).toBe(ECM.name);

    // Without --yes and no terminal to ask on: refused, nothing changed.
    const unconfirmed = await uptane('vehicle', 'factory-reset', '--dir', dir, '--ecu', `${vin}-ecm`);
    expect(unconfirmed.status).not.toBe(0);
    expect(unconfirmed.stderr).toContain('pass --yes');
    expect((await ecuStatus(dir, `${vin}-ecm`)).installed.filename).toBe(ECM.name);

    const reset = JSON.parse(await ok('vehicle', 'factory-reset', '--dir', dir, '--ecu', `${vin}-ecm`, '--yes', '--json')) as Record<string, unknown>;
    expect(reset).toMatchObject({ vin, ecu: `${vin}-ecm`, previous: ECM.name, installed: 'factory/ecm-x1.bin', outcome: { filename: 'factory/ecm-x1.bin', status: 'installed' } });
    expect((await ecuStatus(dir, `${vin}-ecm`)).installed.filename).toBe('factory/ecm-x1.bin');
    await ok('vehicle', 'run', '--dir', dir, '--once');
    expect((await directorView(vin, `${vin}-ecm`)).installed).toBe('factory/ecm-x1.bin');

    // The primary too, in text.
    const text = await ok('vehicle', 'factory-reset', '--dir', dir, '--ecu', `${vin}-tcu`, '--yes');
    expect(text).toContain(`ECU ${vin}-tcu runs its factory image factory/tcu-a.bin`);
    expect(text).toContain(`next: \`uptane vehicle run --dir ${dir} --once\``);
  }, 120_000);

  it('M21 a corrupted factory image is refused with factory_image_corrupted and nothing changes; driving and unknown ECUs are refused too', async () => {
    const dir = join(work, 'car4');
    const vin = 'VINFACTORYCLI002';
    await provision(dir, vin);
    const factory = join(dir, `${vin}-ecm`, 'slots', 'factory.img');
    const bytes = readFileSync(factory);
    bytes[0] = bytes[0]! ^ 0xff;
    writeFileSync(factory, bytes);
    const state = readFileSync(join(dir, `${vin}-ecm`, 'slots', 'ab-state.json'));
    const refused = await uptane('vehicle', 'factory-reset', '--dir', dir, '--ecu', `${vin}-ecm`, '--yes');
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/factory_image_corrupted|no longer matches its recorded/);
    expect(readFileSync(join(dir, `${vin}-ecm`, 'slots', 'ab-state.json')).equals(state)).toBe(true);

    const unknown = await uptane('vehicle', 'factory-reset', '--dir', dir, '--ecu', 'nobody', '--yes');
    expect(unknown.stderr).toContain(`vehicle ${vin} has no such ECU (its ECUs: ${vin}-tcu, ${vin}-ecm)`);
    await ok('vehicle', 'state', '--dir', dir, 'driving');
    const driving = await uptane('vehicle', 'factory-reset', '--dir', dir, '--ecu', `${vin}-tcu`, '--yes');
    expect(driving.stderr).toContain('park it first');

    const help = await ok('vehicle', 'factory-reset', '--help');
    // yargs lays the example out in two columns: its command wraps around the description.
    expect(help).toMatch(/vehicle factory-reset --dir car1 --ecu\s+VIN0001-ecm runs its factory image[^\n]*\n\s+VIN0001-ecm --yes/);
  }, 120_000);
});
