// Security profiles, the Director's part (docs/security-profiles.md "The Director's part"): each ECU is
// registered with a profile (standard when the registration names none), an operator changes it
// (audited), and the Director refuses to assign an image whose Image repository minimum
// (custom.minimumSecurityProfile) is above the ECU's profile: a single assignment or an install bundle
// with a typed 422 naming the ECU, its profile and the minimum; a campaign by skipping the vehicle
// with the reason, counted in its dry run, at creation and per stage. A real Director and Image
// repository on loopback; the CLI is the built binary.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { PROFILE_REQUIREMENTS } from '../../shared/core/security-profile.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { runCli } from '../support/cli-runner.js';

/** Only ECUs of the high profile may install it. */
const SECURE: FixtureImage = { name: 'prof/ecm-secure.bin', content: Buffer.from('ecm image for high ECUs'), hardwareIds: ['ecm-x1'], releaseCounter: 2, custom: { minimumSecurityProfile: 'high' } };
/** Standard or high. */
const STANDARD: FixtureImage = { name: 'prof/ecm-standard.bin', content: Buffer.from('ecm image for standard ECUs'), hardwareIds: ['ecm-x1'], releaseCounter: 2, custom: { minimumSecurityProfile: 'standard' } };
/** No minimum: any profile. */
const ANY: FixtureImage = { name: 'prof/ecm-any.bin', content: Buffer.from('ecm image for any ECU'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const TCU: FixtureImage = { name: 'prof/tcu.bin', content: Buffer.from('tcu image'), hardwareIds: ['tcu-a'], releaseCounter: 2 };

let repos: Repositories;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-profiles-'));
  repos = await startRepositories(new FixedClock(FIXTURE_NOW), 'profiles');
  await repos.publishImages([SECURE, STANDARD, ANY, TCU]);
}, 60_000);

afterAll(async () => {
  await repos?.close();
  rmSync(dir, { recursive: true, force: true });
});

const key = (label: string) => PrivateKey.fromLabel(`profiles/${label}`).publicKey.tuf.keyval.public;

/** A vehicle with a primary `<vin>-tcu` (tcu-a) and a secondary `<vin>-ecm` (ecm-x1), each with the profile given (none: left out). */
function vehicle(vin: string, profiles: { tcu?: string; ecm?: string } = {}) {
  return {
    vin,
    ecus: [
      { serial: `${vin}-tcu`, hardwareId: 'tcu-a', publicKey: key(`${vin}/tcu`), primary: true, ...(profiles.tcu === undefined ? {} : { securityProfile: profiles.tcu }) },
      { serial: `${vin}-ecm`, hardwareId: 'ecm-x1', publicKey: key(`${vin}/ecm`), ...(profiles.ecm === undefined ? {} : { securityProfile: profiles.ecm }) },
    ],
  };
}

async function ok(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const result = await repos.operator(method, path, body);
  if (result.status >= 300) throw new Error(`${method} ${path}: ${result.status} ${JSON.stringify(result.json)}`);
  return result.json;
}

type Ecu = { serial: string; securityProfile: string; profileRequirements: unknown; pending: unknown };
const ecusOf = async (vin: string) => (await ok('GET', `/api/v1/vehicles/${vin}`)).ecus as Ecu[];
const profilesOf = async (vin: string) => (await ecusOf(vin)).map((e) => [e.serial, e.securityProfile]);
const auditOf = async (action: string) => ((await ok('GET', `/api/v1/audit?limit=100&action=${action}`)).entries as Array<{ details: Record<string, unknown> }>).map((e) => e.details);

function uptane(...args: string[]) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('UPTANE_')));
  return runCli(args, { cwd: dir, env: { ...env, UPTANE_DIRECTOR_URL: repos.director.url, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN } });
}

describe('the inventory keeps each ECU’s security profile', () => {
  it('registers the profiles given, standard for an ECU without one, and shows what each requires', async () => {
    await ok('POST', '/api/v1/vehicles', vehicle('REG1', { tcu: 'high', ecm: 'basic' }));
    await ok('POST', '/api/v1/vehicles', vehicle('REG2'));
    expect(await profilesOf('REG1')).toEqual([['REG1-tcu', 'high'], ['REG1-ecm', 'basic']]);
    expect(await profilesOf('REG2')).toEqual([['REG2-tcu', 'standard'], ['REG2-ecm', 'standard']]);
    const [tcu, ecm] = await ecusOf('REG1');
    expect(tcu!.profileRequirements).toEqual(PROFILE_REQUIREMENTS.high);
    expect(ecm!.profileRequirements).toEqual(PROFILE_REQUIREMENTS.basic);
    expect((await auditOf('register_vehicle')).find((d) => d.vin === 'REG1')).toMatchObject({ ecus: ['REG1-tcu', 'REG1-ecm'], securityProfiles: ['high', 'basic'] });
  });

  it('refuses a profile that is not one of the three with a typed 400, registering nothing', async () => {
    for (const bad of ['ultra', 'HIGH', '', 3, null]) {
      const refused = await repos.operator('POST', '/api/v1/vehicles', vehicle('BAD1', { ecm: bad as string }));
      expect(refused.status).toBe(400);
      expect(refused.json).toMatchObject({ error: { code: 'bad_request', message: expect.stringContaining('securityProfile must be one of basic, standard, high') } });
    }
    expect((await repos.operator('GET', '/api/v1/vehicles/BAD1')).status).toBe(404);
  });

  it('changes one ECU’s profile by operator command, audited with the old and new profile; a bad request changes nothing', async () => {
    await ok('POST', '/api/v1/vehicles', vehicle('SET1'));
    const changed = await ok('PUT', '/api/v1/vehicles/SET1/ecus/SET1-ecm/profile', { securityProfile: 'high' });
    expect((changed.ecus as Ecu[]).map((e) => [e.serial, e.securityProfile])).toEqual([['SET1-tcu', 'standard'], ['SET1-ecm', 'high']]);
    expect((await auditOf('set_ecu_profile')).filter((d) => d.vin === 'SET1')).toEqual([{ vin: 'SET1', serial: 'SET1-ecm', from: 'standard', to: 'high' }]);

    expect(await repos.operator('PUT', '/api/v1/vehicles/SET1/ecus/SET1-ecm/profile', { securityProfile: 'ultra' })).toMatchObject({ status: 400, json: { error: { code: 'bad_request' } } });
    expect(await repos.operator('PUT', '/api/v1/vehicles/SET1/ecus/SET1-ecm/profile', {})).toMatchObject({ status: 400 });
    // The serial of another vehicle's ECU, and a serial no vehicle has: 404, nothing changed.
    await ok('POST', '/api/v1/vehicles', vehicle('SET2'));
    expect(await repos.operator('PUT', '/api/v1/vehicles/SET1/ecus/SET2-ecm/profile', { securityProfile: 'basic' })).toMatchObject({ status: 404 });
    expect(await repos.operator('PUT', '/api/v1/vehicles/SET1/ecus/NOPE/profile', { securityProfile: 'basic' })).toMatchObject({ status: 404 });
    expect(await profilesOf('SET1')).toEqual([['SET1-tcu', 'standard'], ['SET1-ecm', 'high']]);
    expect(await profilesOf('SET2')).toEqual([['SET2-tcu', 'standard'], ['SET2-ecm', 'standard']]);
    expect((await auditOf('set_ecu_profile')).filter((d) => d.vin === 'SET1' || d.vin === 'SET2')).toHaveLength(1);
  });

  it('keeps the replaced ECU’s profile on a replacement unless the operator names another', async () => {
    await ok('POST', '/api/v1/vehicles', vehicle('REP1', { ecm: 'high' }));
    await ok('POST', '/api/v1/vehicles/REP1/ecus/REP1-ecm/replace', { serial: 'REP1-ecm2', hardwareId: 'ecm-x1', publicKey: key('REP1/ecm2') });
    expect(await profilesOf('REP1')).toEqual([['REP1-tcu', 'standard'], ['REP1-ecm2', 'high']]);
    await ok('POST', '/api/v1/vehicles/REP1/ecus/REP1-ecm2/replace', { serial: 'REP1-ecm3', hardwareId: 'ecm-x1', publicKey: key('REP1/ecm3'), securityProfile: 'basic' });
    expect(await profilesOf('REP1')).toEqual([['REP1-tcu', 'standard'], ['REP1-ecm3', 'basic']]);
  });
});

describe('the Director refuses to assign below an image’s minimum profile', () => {
  it('refuses a single assignment (and its dry run) with a 422 naming the ECU, its profile and the minimum, storing nothing', async () => {
    await ok('POST', '/api/v1/vehicles', vehicle('ASG1', { ecm: 'standard' }));
    for (const dryRun of [true, false]) {
      const refused = await repos.operator('POST', '/api/v1/assignments', { vin: 'ASG1', ecuSerial: 'ASG1-ecm', image: SECURE.name, dryRun });
      expect(refused.status).toBe(422);
      expect(refused.json).toMatchObject({
        error: {
          code: 'profile_assignment_refused',
          message:
            `${SECURE.name} requires security profile high or higher; ECU ASG1-ecm of ASG1 is registered as standard: assign an image whose minimum it meets, ` +
            'or, once the ECU meets high, raise its profile (uptane director vehicle set-profile ASG1 ASG1-ecm high)',
        },
      });
    }
    // By hardware id over several vehicles: one ECU below the minimum refuses the whole request.
    await ok('POST', '/api/v1/vehicles', vehicle('ASG2', { ecm: 'high' }));
    expect(await repos.operator('POST', '/api/v1/assignments', { vins: ['ASG2', 'ASG1'], hardwareId: 'ecm-x1', image: SECURE.name })).toMatchObject({ status: 422 });
    expect((await ecusOf('ASG1')).every((e) => e.pending === null)).toBe(true);
    expect((await ecusOf('ASG2')).every((e) => e.pending === null)).toBe(true);
    expect((await auditOf('assign')).filter((d) => d.image === SECURE.name)).toEqual([]);
  });

  it('assigns when the profile meets the minimum, or the image has none', async () => {
    await ok('POST', '/api/v1/vehicles', vehicle('ASG3', { ecm: 'high' }));
    await ok('POST', '/api/v1/vehicles', vehicle('ASG4', { ecm: 'basic' }));
    expect(await repos.operator('POST', '/api/v1/assignments', { vin: 'ASG3', ecuSerial: 'ASG3-ecm', image: SECURE.name })).toMatchObject({ status: 201 });
    expect(await repos.operator('POST', '/api/v1/assignments', { vin: 'ASG4', ecuSerial: 'ASG4-ecm', image: ANY.name })).toMatchObject({ status: 201 });
    // Raised by the operator, the basic ECU may then take a standard image (once its ANY assignment is cancelled).
    const [pending] = (await ecusOf('ASG4')).filter((e) => e.pending !== null).map((e) => e.pending as { id: number });
    await ok('DELETE', `/api/v1/assignments/${pending!.id}`);
    expect(await repos.operator('POST', '/api/v1/assignments', { vin: 'ASG4', ecuSerial: 'ASG4-ecm', image: STANDARD.name })).toMatchObject({ status: 422 });
    await ok('PUT', '/api/v1/vehicles/ASG4/ecus/ASG4-ecm/profile', { securityProfile: 'standard' });
    expect(await repos.operator('POST', '/api/v1/assignments', { vin: 'ASG4', ecuSerial: 'ASG4-ecm', image: STANDARD.name })).toMatchObject({ status: 201 });
  });

  it('refuses an install bundle one of whose members is below its image’s minimum, storing no member', async () => {
    await ok('POST', '/api/v1/vehicles', vehicle('BUN1', { ecm: 'basic' }));
    const refused = await repos.operator('POST', '/api/v1/install-bundles', { vin: 'BUN1', members: [{ ecuSerial: 'BUN1-tcu', image: TCU.name }, { ecuSerial: 'BUN1-ecm', image: STANDARD.name }] });
    expect(refused).toMatchObject({ status: 422, json: { error: { code: 'profile_assignment_refused', message: expect.stringContaining('ECU BUN1-ecm of BUN1 is registered as basic') } } });
    expect((await ecusOf('BUN1')).every((e) => e.pending === null)).toBe(true);
  });

  it('skips a campaign’s vehicles whose ECU is below the minimum, saying why, and counts them in the dry run and at creation', async () => {
    await ok('POST', '/api/v1/vehicles', vehicle('CMP1'));
    await ok('POST', '/api/v1/vehicles', vehicle('CMP2', { ecm: 'high' }));
    await ok('POST', '/api/v1/vehicles', vehicle('CMP3', { ecm: 'basic' }));
    await ok('POST', '/api/v1/groups', { name: 'profile-group', vins: ['CMP1', 'CMP2', 'CMP3'] });
    const body = { name: 'profile-rollout', group: 'profile-group', images: [{ hardwareId: 'ecm-x1', image: STANDARD.name }], stages: [{ share: 1 }] };

    const dry = await ok('POST', '/api/v1/campaigns', { ...body, dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, vehicles: 3, skipped: { profile_assignment_refused: 1 }, skippedChecked: true });

    const created = await ok('POST', '/api/v1/campaigns', body);
    const history = created.history as Array<{ kind: string; details: Record<string, unknown> }>;
    expect(history.find((e) => e.kind === 'created')?.details).toMatchObject({ belowMinimumProfile: 1 });

    await ok('POST', '/api/v1/campaigns/profile-rollout/start');
    const status = await ok('GET', '/api/v1/campaigns/profile-rollout');
    const [stage] = status.perStage as Array<{ vehicles: number; pending: number; skipped: number; skipReasons: Record<string, number>; vins: Record<string, Array<{ vin: string; reason: string }>> }>;
    expect(stage).toMatchObject({ vehicles: 3, pending: 2, skipped: 1, skipReasons: { profile_assignment_refused: 1 } });
    expect(stage!.vins.skipped).toEqual([{ vin: 'CMP3', reason: expect.stringMatching(/^profile_assignment_refused: prof\/ecm-standard\.bin requires security profile standard or higher; ECU CMP3-ecm of CMP3 is registered as basic/) }]);
    expect((await ecusOf('CMP3')).every((e) => e.pending === null)).toBe(true);
    expect((await ecusOf('CMP2')).find((e) => e.serial === 'CMP2-ecm')!.pending).not.toBeNull();
  });
});

describe('operators see and set profiles from the CLI', () => {
  it('registers with --ecu-profile, shows the profiles with what they require, and changes one with set-profile', async () => {
    const registered = await uptane(
      'director', 'vehicle', 'register', '--vin', 'CLI1',
      '--ecu', `CLI1-tcu:tcu-a:${key('CLI1/tcu')}:primary`, '--ecu', `CLI1-ecm:ecm-x1:${key('CLI1/ecm')}`, '--ecu-profile', 'CLI1-ecm=high',
    );
    expect(registered.stderr).toBe('');
    expect(registered.status).toBe(0);
    expect(await profilesOf('CLI1')).toEqual([['CLI1-tcu', 'standard'], ['CLI1-ecm', 'high']]);

    const shown = await uptane('director', 'vehicle', 'show', 'CLI1');
    expect(shown.status).toBe(0);
    expect(shown.stdout).toMatch(/SERIAL\s+HARDWARE\s+ROLE\s+PROFILE\s+KEYID/);
    expect(shown.stdout).toMatch(/CLI1-ecm\s+ecm-x1\s+secondary\s+high\s/);
    expect(shown.stdout).toContain('profile standard full verification, asymmetric key, A/B slots');
    expect(shown.stdout).toContain('profile high     full verification, key in hardware (PKCS#11), images encrypted per ECU, A/B slots, secure time');
    const json = JSON.parse((await uptane('director', 'vehicle', 'show', 'CLI1', '--json')).stdout) as { ecus: Ecu[] };
    expect(json.ecus.map((e) => [e.serial, e.securityProfile, e.profileRequirements])).toEqual([
      ['CLI1-tcu', 'standard', PROFILE_REQUIREMENTS.standard],
      ['CLI1-ecm', 'high', PROFILE_REQUIREMENTS.high],
    ]);

    const set = await uptane('director', 'vehicle', 'set-profile', 'CLI1', 'CLI1-tcu', 'basic');
    expect(set.status).toBe(0);
    expect(set.stdout).toContain('ECU CLI1-tcu of CLI1 is now basic: partial verification, symmetric or asymmetric key');
    expect(await profilesOf('CLI1')).toEqual([['CLI1-tcu', 'basic'], ['CLI1-ecm', 'high']]);

    const bad = await uptane('director', 'vehicle', 'set-profile', 'CLI1', 'CLI1-tcu', 'ultra');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('"ultra" is not a security profile; write one of basic, standard, high');
    const badFlag = await uptane('director', 'vehicle', 'register', '--vin', 'CLI2', '--ecu', `CLI2-tcu:tcu-a:${key('CLI2/tcu')}:primary`, '--ecu-profile', 'CLI2-nope=high');
    expect(badFlag.status).toBe(1);
    expect(badFlag.stderr).toContain('--ecu-profile CLI2-nope=high: no --ecu has the serial CLI2-nope');
    expect((await repos.operator('GET', '/api/v1/vehicles/CLI2')).status).toBe(404);
  });

  it('reads a security_profile column from a registration CSV (empty: standard) and refuses an unknown one for its vehicle only', async () => {
    const csv = join(dir, 'fleet.csv');
    writeFileSync(
      csv,
      [
        'vin,ecu_serial,hardware_id,public_key,primary,security_profile',
        `CSV1,CSV1-tcu,tcu-a,${key('CSV1/tcu')},yes,`,
        `CSV1,CSV1-ecm,ecm-x1,${key('CSV1/ecm')},,high`,
        `CSV2,CSV2-tcu,tcu-a,${key('CSV2/tcu')},yes,medium`,
        '',
      ].join('\n'),
    );
    const run = await uptane('director', 'vehicle', 'register', '--csv', csv);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('CSV2  FAILED: line 4: security_profile: "medium" is not a security profile');
    expect(await profilesOf('CSV1')).toEqual([['CSV1-tcu', 'standard'], ['CSV1-ecm', 'high']]);
    expect((await repos.operator('GET', '/api/v1/vehicles/CSV2')).status).toBe(404);
  });
});
