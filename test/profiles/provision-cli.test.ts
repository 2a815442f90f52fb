// `uptane vehicle provision --ecu-profile SERIAL=PROFILE` through the real binary (dist/cli.js):
// each ECU's profile in vehicle.json, in its own folder, in `vehicle status` and in the registration the Director stores
// (a real Director on port 0); a profile the ECU cannot meet, an unknown serial or profile, and a
// serial named twice are refused before any folder is made, each saying what to do
// (docs/security-profiles.md "Setting an ECU's profile").
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { formatExpires } from '../../shared/core/metadata/parse.js';
import { OPERATOR_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { buildCli, runCli, type CliResult } from '../support/cli-runner.js';

let repos: Repositories;
let work: string;

const uptane = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: work, env: { ...process.env, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN } });

/** A vehicle with a primary, a partial and a full secondary, its serials derived from `vin`. */
const provision = (vin: string, ...extra: string[]) =>
  uptane(
    'vehicle', 'provision', '--dir', vin, '--vin', vin,
    '--primary', `${vin}-tcu:tcu-a`, '--secondary', `${vin}-ecm:ecm-x1`, '--secondary', `${vin}-abs:abs-z:full`,
    '--director-url', repos.director.url, '--image-url', repos.image.url,
    '--director-root', 'director-root.json', '--image-root', 'image-root.json', '--offline',
    ...extra,
  );

beforeAll(async () => {
  await buildCli();
  work = mkdtempSync(join(tmpdir(), 'uptane-profile-provision-'));
  // The CLI reads the system clock: roots valid from now on.
  repos = await startRepositories(new FixedClock(new Date()), 'profile-provision', { expires: formatExpires(new Date(Date.now() + 365 * 86_400_000)) });
  writeFileSync(join(work, 'director-root.json'), repos.directorRoot);
  writeFileSync(join(work, 'image-root.json'), repos.imageRoot);
}, 60_000);

afterAll(async () => {
  await repos.close();
  rmSync(work, { recursive: true, force: true });
});

describe('uptane vehicle provision --ecu-profile', () => {
  it('records each ECU profile in vehicle.json, in its folder and at the Director; unnamed ECUs get the default of their verification', async () => {
    const vin = 'VINPROFCLI000001';
    const run = await provision(vin, '--ecu-profile', `${vin}-abs=basic`, '--register');
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(new RegExp(`${vin}-abs +secondary +abs-z +full +ed25519 +[0-9a-f]{12} +basic `));
    expect(run.stdout).toMatch(new RegExp(`${vin}-ecm +secondary +ecm-x1 +partial +ed25519 +[0-9a-f]{12} +basic `));
    expect(run.stdout).toMatch(new RegExp(`${vin}-tcu +primary +tcu-a +full +ed25519 +[0-9a-f]{12} +standard `));
    const config = JSON.parse(readFileSync(join(work, vin, 'vehicle.json'), 'utf8')) as { primary: { securityProfile: string }; secondaries: Array<{ serial: string; securityProfile: string }> };
    expect([config.primary.securityProfile, ...config.secondaries.map((s) => `${s.serial}=${s.securityProfile}`)]).toEqual(['standard', `${vin}-ecm=basic`, `${vin}-abs=basic`]);
    expect((JSON.parse(readFileSync(join(work, vin, `${vin}-abs`, 'identity.json'), 'utf8')) as { securityProfile: string }).securityProfile).toBe('basic');
    const status = await uptane('vehicle', 'status', '--dir', vin, '--json');
    expect((JSON.parse(status.stdout) as { ecus: Array<{ serial: string; securityProfile: string }> }).ecus.map((e) => [e.serial, e.securityProfile])).toEqual([
      [`${vin}-tcu`, 'standard'],
      [`${vin}-ecm`, 'basic'],
      [`${vin}-abs`, 'basic'],
    ]);
    expect((await uptane('vehicle', 'status', '--dir', vin)).stdout).toMatch(new RegExp(`${vin}-abs +secondary +abs-z .* basic\n`));
    const registered = await repos.operator('GET', `/api/v1/vehicles/${vin}`);
    expect(registered.status).toBe(200);
    const ecus = registered.json.ecus as Array<{ serial: string; securityProfile: string }>;
    expect(Object.fromEntries(ecus.map((e) => [e.serial, e.securityProfile]))).toEqual({ [`${vin}-tcu`]: 'standard', [`${vin}-ecm`]: 'basic', [`${vin}-abs`]: 'basic' });
  });

  it.each([
    ['high, which no ECU provisioned here can meet', 'VINPROFCLI000002', (vin: string) => [`${vin}-tcu=high`], /ECU VINPROFCLI000002-tcu: profile high needs the ECU's signing key held in hardware \(a PKCS#11 token\).*secure time source.*provision it with a lower profile/],
    ['standard on a partial-verification secondary', 'VINPROFCLI000003', (vin: string) => [`${vin}-ecm=standard`], /ECU VINPROFCLI000003-ecm: profile standard needs full verification \(both repositories\)/],
    ['a serial not in the vehicle', 'VINPROFCLI000004', () => ['VINOTHER-ecm=basic'], /VINOTHER-ecm is not one of this vehicle's ECUs \(VINPROFCLI000004-tcu, VINPROFCLI000004-ecm, VINPROFCLI000004-abs\)/],
    ['a name that is no profile', 'VINPROFCLI000005', (vin: string) => [`${vin}-abs=medium`], /"medium" is not a security profile; give one of basic, standard, high/],
    ['one ECU named twice', 'VINPROFCLI000006', (vin: string) => [`${vin}-abs=basic`, `${vin}-abs=standard`], /--ecu-profile VINPROFCLI000006-abs=\.\.\. is given twice/],
    ['no =', 'VINPROFCLI000007', () => ['high'], /--ecu-profile high: write SERIAL=PROFILE/],
  ])('refuses %s, making no folder', async (_what, vin, profiles, message) => {
    const run = await provision(vin, ...profiles(vin).flatMap((p) => ['--ecu-profile', p]));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(existsSync(join(work, vin))).toBe(false);
  });
});
