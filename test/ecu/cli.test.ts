// `uptane vehicle ...` end to end: the real binary (dist/cli.js) provisions a vehicle folder,
// registers it with a real Director, flips parked/driving, runs update cycles against real
// repositories on loopback (started in this process) and shows status; and says what to do next
// when something is missing.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAIL_BOOT_MARKER } from '../../shared/ecu/ab-slots.js';
import { FixedClock } from '../../shared/core/clock.js';
import { formatExpires } from '../../shared/core/metadata/parse.js';
import { buildCli, runCli, type CliResult } from '../support/cli-runner.js';
import { OPERATOR_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';

const IMAGES = {
  tcu: { name: 'tcu/tcu-5.bin', content: Buffer.from('telematics v5'), hardwareIds: ['tcu-a'], releaseCounter: 5 },
  ecm: { name: 'engine/ecm-2.0.bin', content: Buffer.alloc(300_000, 7), hardwareIds: ['ecm-x1'], releaseCounter: 2 },
  absBad: { name: 'brake/abs-8.bin', content: Buffer.from(`${FAIL_BOOT_MARKER} brake ecu v8`), hardwareIds: ['abs-z'], releaseCounter: 8 },
};

interface StatusJson {
  vin: string;
  state: string;
  lastCycle: { status: string } | null;
  pendingSince: string | null;
  ecus: Array<{
    serial: string;
    role: string;
    verification: string;
    activeSlot: string;
    installed: { filename: string };
    pending: string | null;
    lastInstall: { status: string; filename: string; code?: string } | null;
    attacksToReport: Array<{ code: string }>;
  }>;
}

let repos: Repositories;
let work: string;
let dirCount = 0;

/** `uptane <args>` with the operator token in the environment, from the work folder. */
const uptane = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: work, env: { ...process.env, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN } });

/** A command that must succeed; on failure the test fails with its output. */
async function ok(...args: string[]): Promise<string> {
  const run = await uptane(...args);
  if (run.status !== 0 || run.stderr !== '') throw new Error(`uptane ${args.join(' ')} exited ${run.status}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run.stdout;
}

async function status(dir: string): Promise<StatusJson> {
  return JSON.parse(await ok('vehicle', 'status', '--dir', dir, '--json')) as StatusJson;
}

const ecu = (s: StatusJson, serial: string) => s.ecus.find((e) => e.serial === serial)!;

function provisionArgs(dir: string, vin: string, ...extra: string[]): string[] {
  return provisionArgsWith({}, dir, vin, ...extra);
}

/** The same, with some options' values replaced (each single-valued option may appear only once). */
function provisionArgsWith(replace: Record<string, string>, dir: string, vin: string, ...extra: string[]): string[] {
  const options: Record<string, string> = {
    '--director-url': repos.director.url,
    '--image-url': repos.image.url,
    '--director-root': 'director-root.json',
    '--image-root': 'image-root.json',
    ...replace,
  };
  return [
    'vehicle', 'provision', '--dir', dir, '--vin', vin,
    '--primary', 'tcu-1:tcu-a', '--secondary', 'ecm-1:ecm-x1', '--secondary', 'abs-1:abs-z:full',
    ...Object.entries(options).flat(),
    ...extra,
  ];
}

const newVehicle = () => {
  dirCount += 1;
  return { dir: join(work, `car${dirCount}`), vin: `VINCLI${String(dirCount).padStart(10, '0')}` };
};

const assign = (vin: string, ecuSerial: string, image: string) => repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial, image });

beforeAll(async () => {
  await buildCli();
}, 130_000);

// Fresh repositories for every test: the Director knows an ECU serial in one vehicle only.
beforeEach(async () => {
  // The CLI reads the system clock, so the repositories run at (a frozen) now.
  const now = new Date();
  repos = await startRepositories(new FixedClock(now), 'vehicle-cli', { expires: formatExpires(new Date(now.getTime() + 365 * 24 * 3600 * 1000)) });
  await repos.publishImages(Object.values(IMAGES));
  work = mkdtempSync(join(tmpdir(), 'uptane-vehicle-cli-'));
  writeFileSync(join(work, 'director-root.json'), repos.directorRoot);
  writeFileSync(join(work, 'image-root.json'), repos.imageRoot);
});

afterEach(async () => {
  await repos.close();
  rmSync(work, { recursive: true, force: true });
});

describe('uptane vehicle: provision, state, run, status', () => {
  it('provisions and registers a vehicle, defers an update while driving and installs it once parked', async () => {
    const { dir, vin } = newVehicle();
    const provisioned = await ok(...provisionArgs(dir, vin, '--register'));
    expect(provisioned).toContain(`provisioned vehicle ${vin}`);
    expect(provisioned).toContain(`registered with the Director at ${repos.director.url}`);
    for (const serial of ['tcu-1', 'ecm-1', 'abs-1']) expect(statSync(join(dir, serial, 'ecu-key.pem')).mode & 0o777).toBe(0o600);
    const registered = await repos.operator('GET', `/api/v1/vehicles/${vin}`);
    expect(registered.status).toBe(200);
    expect((registered.json.ecus as Array<{ serial: string }>).map((e) => e.serial).sort()).toEqual(['abs-1', 'ecm-1', 'tcu-1']);

    const fresh = await status(dir);
    expect(fresh).toMatchObject({ vin, state: 'parked', lastCycle: null, pendingSince: null });
    expect(fresh.ecus.map((e) => [e.serial, e.role, e.verification, e.activeSlot, e.installed.filename, e.pending])).toEqual([
      ['tcu-1', 'primary', 'full', 'a', 'factory/tcu-a.bin', null],
      ['ecm-1', 'secondary', 'partial', 'a', 'factory/ecm-x1.bin', null],
      ['abs-1', 'secondary', 'full', 'a', 'factory/abs-z.bin', null],
    ]);

    expect((await assign(vin, 'ecm-1', IMAGES.ecm.name)).status).toBe(201);
    expect((await assign(vin, 'tcu-1', IMAGES.tcu.name)).status).toBe(201);

    expect(await ok('vehicle', 'state', '--dir', dir, 'driving')).toContain(`vehicle ${vin} is now driving (was parked)`);
    expect(await ok('vehicle', 'state', '--dir', dir)).toContain(`vehicle ${vin} is driving`);
    const deferred = await ok('vehicle', 'run', '--dir', dir, '--once');
    expect(deferred).toContain('deferred: the update is downloaded and verified, but the vehicle is driving');
    expect(deferred).toContain(`${IMAGES.ecm.name}: 100% (300000 of 300000 bytes)`); // download progress
    expect(deferred).toContain(`waiting: ecm-1 ${IMAGES.ecm.name}`);
    const waiting = await status(dir);
    expect(waiting.lastCycle).toMatchObject({ status: 'deferred' });
    expect(ecu(waiting, 'ecm-1')).toMatchObject({ installed: { filename: 'factory/ecm-x1.bin' }, pending: IMAGES.ecm.name });
    expect(ecu(waiting, 'tcu-1')).toMatchObject({ installed: { filename: 'factory/tcu-a.bin' }, pending: IMAGES.tcu.name });

    const parked = await ok('vehicle', 'state', '--dir', dir, 'parked');
    expect(parked).toContain(`vehicle ${vin} is now parked (was driving)`);
    expect(parked).toContain('2 verified update(s) waiting: the next `uptane vehicle run');
    const installed = await ok('vehicle', 'run', '--dir', dir, '--once');
    expect(installed).toContain('installed: 2 ECUs updated');
    expect(installed).toContain(`ecm-1: installed ${IMAGES.ecm.name}`);
    expect(installed).toContain(`tcu-1: installed ${IMAGES.tcu.name}`);

    const after = await status(dir);
    expect(after.lastCycle).toMatchObject({ status: 'installed' });
    expect(after.pendingSince).toBeNull();
    expect(ecu(after, 'ecm-1')).toMatchObject({ activeSlot: 'b', installed: { filename: IMAGES.ecm.name }, pending: null, lastInstall: { status: 'installed', filename: IMAGES.ecm.name } });
    expect(ecu(after, 'tcu-1')).toMatchObject({ activeSlot: 'b', installed: { filename: IMAGES.tcu.name }, pending: null });
    expect(ecu(after, 'abs-1')).toMatchObject({ activeSlot: 'a', installed: { filename: 'factory/abs-z.bin' } });

    expect(await ok('vehicle', 'run', '--dir', dir, '--once')).toContain('no update');
    const director = await repos.operator('GET', `/api/v1/vehicles/${vin}`);
    expect((director.json.assignments as Array<{ ecuSerial: string; state: string }>).map((a) => `${a.ecuSerial}:${a.state}`).sort()).toEqual(['ecm-1:installed', 'tcu-1:installed']);

    const table = await ok('vehicle', 'status', '--dir', dir);
    expect(table).toContain(`vehicle ${vin}: parked`);
    expect(table).toMatch(/ECU\s+role\s+hardware id\s+slot\s+installed\s+pending\s+last install\s+attacks/);
    expect(table).toMatch(new RegExp(`ecm-1\\s+secondary\\s+ecm-x1\\s+b\\s+${IMAGES.ecm.name.replace(/\./g, '\\.')}`));
  }, 120_000);

  it('exits non-zero when a --once cycle fails, and status shows the rollback', async () => {
    const { dir, vin } = newVehicle();
    await ok(...provisionArgs(dir, vin, '--register'));
    expect((await assign(vin, 'abs-1', IMAGES.absBad.name)).status).toBe(201);
    const run = await uptane('vehicle', 'run', '--dir', dir, '--once');
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(`abs-1: rolled back ${IMAGES.absBad.name} (boot_check_failed`);
    expect(run.stderr).toContain('error: the update cycle failed');
    expect(run.stderr).toContain(`uptane vehicle status --dir ${dir}`);
    const after = await status(dir);
    expect(after.lastCycle).toMatchObject({ status: 'failed' });
    expect(ecu(after, 'abs-1')).toMatchObject({ activeSlot: 'a', installed: { filename: 'factory/abs-z.bin' }, lastInstall: { status: 'rolled_back', code: 'boot_check_failed' } });
  }, 60_000);

  it('installs the images an operator had encrypted for each ECU: provisioning made and registered every ECU its X25519 key', async () => {
    const { dir, vin } = newVehicle();
    await ok(...provisionArgs(dir, vin, '--register'));
    const registration = JSON.parse(readFileSync(join(dir, 'registration.json'), 'utf8')) as { ecus: Array<{ serial: string; encryptionPublicKey?: string }> };
    for (const { serial, encryptionPublicKey } of registration.ecus) {
      expect(encryptionPublicKey).toMatch(/^[0-9a-f]{64}$/);
      expect(statSync(join(dir, serial, 'encryption-key.pem')).mode & 0o777).toBe(0o600);
    }
    for (const [serial, image] of [['tcu-1', IMAGES.tcu], ['ecm-1', IMAGES.ecm]] as const) {
      expect((await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial: serial, image: image.name, encrypt: true })).status).toBe(201);
    }
    await ok('vehicle', 'run', '--dir', dir, '--once');
    for (const [serial, image] of [['tcu-1', IMAGES.tcu], ['ecm-1', IMAGES.ecm]] as const) {
      const slots = JSON.parse(readFileSync(join(dir, serial, 'slots', 'ab-state.json'), 'utf8')) as { active: string };
      expect(readFileSync(join(dir, serial, 'slots', `slot-${slots.active}.img`))).toEqual(image.content);
    }
  });

  it('without --register prints the registration for an operator; `vehicle register` sends it later', async () => {
    const { dir, vin } = newVehicle();
    const out = await ok(...provisionArgs(dir, vin));
    expect(out).toContain('not registered yet');
    const json = out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1);
    const registration = JSON.parse(json) as { vin: string; ecus: Array<{ serial: string; primary: boolean; publicKey: string }> };
    expect(registration.vin).toBe(vin);
    expect(registration.ecus.map((e) => [e.serial, e.primary])).toEqual([['tcu-1', true], ['ecm-1', false], ['abs-1', false]]);
    expect(registration.ecus.every((e) => /^[0-9a-f]{64}$/.test(e.publicKey))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'registration.json'), 'utf8'))).toEqual(registration);
    expect((await repos.operator('GET', `/api/v1/vehicles/${vin}`)).status).toBe(404);

    expect(await ok('vehicle', 'register', '--dir', dir)).toContain(`registered vehicle ${vin} (3 ECUs)`);
    expect((await repos.operator('GET', `/api/v1/vehicles/${vin}`)).status).toBe(200);
    expect(await ok('vehicle', 'run', '--dir', dir, '--once')).toContain('no update');
  }, 60_000);

  it('provisions ECDSA P-256 ECU keys with --key-type (one ECU keeping Ed25519), and the printed --ecu command registers them', async () => {
    const { dir, vin } = newVehicle();
    const args = provisionArgs(dir, vin, '--key-type', 'ecdsa-p256');
    args[args.indexOf('abs-1:abs-z:full')] = 'abs-1:abs-z:full:ed25519';
    const out = await ok(...args);
    expect(out).toMatch(/tcu-1\s+primary\s+tcu-a\s+full\s+ecdsa-p256/);
    expect(readFileSync(join(dir, 'ecm-1', 'ecu-key.pem'), 'utf8')).toContain('BEGIN PRIVATE KEY');
    const registration = JSON.parse(readFileSync(join(dir, 'registration.json'), 'utf8')) as { ecus: Array<{ serial: string; publicKey: string }> };
    const keys = Object.fromEntries(registration.ecus.map((e) => [e.serial, e.publicKey]));
    expect(keys['tcu-1']).toMatch(/^MFkw[A-Za-z0-9+/]+={0,2}$/); // a P-256 SubjectPublicKeyInfo in base64
    expect(keys['ecm-1']).toMatch(/^MFkw/);
    expect(keys['abs-1']).toMatch(/^[0-9a-f]{64}$/);
    // The operator's command, as provisioning printed it, with the base64 keys in --ecu.
    const command = out.split('\n').find((l) => l.startsWith('or: uptane director vehicle register'))!.slice('or: uptane '.length).split(' ');
    expect(await ok(...command, '--url', repos.director.url)).toContain(vin);
    const registered = (await repos.operator('GET', `/api/v1/vehicles/${vin}`)).json.ecus as Array<{ serial: string; keyType: string }>;
    expect(registered.map((e) => `${e.serial}:${e.keyType}`).sort()).toEqual(['abs-1:ed25519', 'ecm-1:ecdsa-p256', 'tcu-1:ecdsa-p256']);
    await assign(vin, 'ecm-1', IMAGES.ecm.name);
    expect(await ok('vehicle', 'run', '--dir', dir, '--once')).toContain('installed');
    expect(ecu(await status(dir), 'ecm-1').installed.filename).toBe(IMAGES.ecm.name);
  }, 60_000);
});

describe('uptane vehicle: errors say what to do next', () => {
  it('a missing vehicle folder', async () => {
    const missing = join(work, 'no-such-car');
    for (const args of [['status'], ['run', '--once'], ['state'], ['state', 'parked'], ['register']]) {
      const run = await uptane('vehicle', args[0]!, '--dir', missing, ...args.slice(1));
      expect(run.status).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(`error: no vehicle folder at ${missing}: provision one with \`uptane vehicle provision --dir ${missing}`);
    }
    expect(existsSync(missing)).toBe(false); // and nothing was created
    const serve = await uptane('vehicle', 'secondary', 'serve', '--dir', join(missing, 'ecm-1'));
    expect(serve.status).toBe(1);
    expect(serve.stderr).toContain('no secondary ECU folder at');
  });

  it('a folder that is not a vehicle', async () => {
    const other = join(work, 'not-a-car');
    mkdirSync(other);
    const run = await uptane('vehicle', 'status', '--dir', other);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`${other} is not a vehicle folder (it has no vehicle.json)`);
  });

  it('provisioning refuses a used folder, bad ECU specs, a file that is not a root, and --register without a token, writing nothing', async () => {
    const { dir, vin } = newVehicle();
    mkdirSync(dir);
    writeFileSync(join(dir, 'something'), 'x');
    let run = await uptane(...provisionArgs(dir, vin));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('already exists and is not empty');

    const fresh = join(work, 'fresh-car');
    run = await uptane(...provisionArgs(fresh, vin, '--secondary', 'ecm-1'));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('--secondary ecm-1: write serial:hardwareId[:full]');
    run = await uptane(...provisionArgs(fresh, vin, '--secondary', 'ecm-1:ecm-x1'));
    expect(run.stderr).toContain('ECU serial ecm-1 is given twice');
    run = await uptane(...provisionArgsWith({ '--director-root': 'missing.json' }, fresh, vin));
    expect(run.stderr).toContain('--director-root missing.json: cannot read it (ENOENT)');
    run = await uptane(...provisionArgsWith({ '--director-url': 'ftp://example' }, fresh, vin));
    expect(run.stderr).toContain('--director-url ftp://example: use an http:// or https:// URL');
    writeFileSync(join(work, 'not-root.json'), '{"signed": {}, "signatures": []}');
    run = await uptane(...provisionArgsWith({ '--image-root': 'not-root.json' }, fresh, vin));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('--image-root not-root.json is not a root this vehicle can trust');

    run = await runCli(provisionArgs(fresh, vin, '--register', '--operator-token-env', 'NO_SUCH_TOKEN_VAR'), { cwd: work, env: { ...process.env, NO_SUCH_TOKEN_VAR: undefined } });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('environment variable NO_SUCH_TOKEN_VAR is not set');
    expect(existsSync(fresh)).toBe(false);
  });

  it('provisioning refuses trust anchors given the wrong way round, or the same root twice, naming the fix and writing nothing', async () => {
    const { dir, vin } = newVehicle();
    // Swapped: each root verifies on its own; only the servers can tell which is which.
    let run = await uptane(...provisionArgsWith({ '--director-root': 'image-root.json', '--image-root': 'director-root.json' }, dir, vin));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("--director-root image-root.json is the Image repository's root");
    expect(run.stderr).toContain('look swapped');
    expect(existsSync(dir)).toBe(false);
    // The same root for both: refused offline, before any server is asked.
    run = await uptane(...provisionArgsWith({ '--image-root': 'director-root.json' }, dir, vin, '--offline'));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('are the same root');
    expect(existsSync(dir)).toBe(false);
    // The right way round: both checked against their servers, and said so.
    const out = await ok(...provisionArgs(dir, vin, '--json'));
    expect((JSON.parse(out) as { trustAnchors: unknown }).trustAnchors).toEqual([
      { repository: 'director', checked: true },
      { repository: 'image', checked: true },
    ]);
  });

  it('a serial another vehicle holds is refused naming that vehicle, never a `vehicle show` of the unregistered VIN; an identical second registration is unchanged', async () => {
    const first = newVehicle();
    await ok(...provisionArgs(first.dir, first.vin, '--register'));
    expect(await ok('vehicle', 'register', '--dir', first.dir)).toContain(`already registered (unchanged): vehicle ${first.vin} (3 ECUs)`);
    // The same serials (tcu-1, ...) in a second vehicle: ECU serials are unique across the fleet.
    const second = newVehicle();
    const run = await uptane(...provisionArgs(second.dir, second.vin, '--register'));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`ECU tcu-1 is already registered to vehicle ${first.vin}; ECU serials are unique across the fleet`);
    expect(run.stderr).toContain('[conflict, HTTP 409]');
    expect(run.stderr).not.toContain(`vehicle show ${second.vin}`);
    expect((await repos.operator('GET', `/api/v1/vehicles/${second.vin}`)).status).toBe(404);
  });

  it('a refused registration leaves a provisioned folder and says how to register it later', async () => {
    const { dir, vin } = newVehicle();
    const run = await runCli(provisionArgs(dir, vin, '--register'), { cwd: work, env: { ...process.env, UPTANE_OPERATOR_TOKEN: 'wrong-token' } });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`the Director refused to register vehicle ${vin}`);
    expect(run.stderr).toContain('[unauthorized, HTTP 401]');
    expect(run.stderr).toContain(`register it with \`uptane vehicle register --dir ${dir}\``);
    expect(existsSync(join(dir, 'vehicle.json'))).toBe(true);
  });

  it('an unreachable Director at registration is named by the option that set its URL', async () => {
    const { dir, vin } = newVehicle();
    const run = await runCli(provisionArgsWith({ '--director-url': 'http://127.0.0.1:1' }, dir, vin, '--register'), { cwd: work, env: { ...process.env, UPTANE_OPERATOR_TOKEN: 'any-token' } });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('cannot reach the Director at http://127.0.0.1:1');
    expect(run.stderr).toContain('is --director-url right?');
    expect(run.stderr).not.toContain('--url (env UPTANE_DIRECTOR_URL)');
  });

  it('--secondary-url naming an ECU the vehicle does not have, and a bad --interval', async () => {
    const { dir, vin } = newVehicle();
    await ok(...provisionArgs(dir, vin));
    let run = await uptane('vehicle', 'run', '--dir', dir, '--once', '--secondary-url', 'brake-9=http://127.0.0.1:1');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`brake-9 is not a secondary of vehicle ${vin} (its secondaries: ecm-1, abs-1)`);
    run = await uptane('vehicle', 'run', '--dir', dir, '--interval', 'soon');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('--interval soon: write a duration such as 30s');
  });
});
