// End-to-end test of `uptane director ...`: the built binary (dist/cli.js) run as a child process
// against a real Director and Image repository on loopback (started in this process by
// startRepositories), and `director serve` itself started as a child process. Children run with
// execFile (asynchronous): the in-process servers must keep answering while a command waits.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, rootMetadata, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const BUILT = [CLI, join(REPO_ROOT, 'dist', 'director-repo', 'cli.js')];

const ENGINE_V2: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const BRAKE_V7: FixtureImage = { name: 'brake/abs-7.bin', content: Buffer.from('brake ecu v7'), hardwareIds: ['abs-z'], releaseCounter: 7 };

interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let repos: Repositories;
let dir: string;

/** This process's environment without UPTANE_* variables, so the developer's own settings never leak in. */
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('UPTANE_')));
}

/** Runs `uptane <args>` against the in-process Director, with its URL and the operator token in the environment. */
function uptane(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  const merged: Record<string, string> = { ...cleanEnv(), UPTANE_DIRECTOR_URL: repos.director.url, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete merged[name];
    else merged[name] = value;
  }
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: dir, env: merged, timeout: 30_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const publicHex = (label: string) => PrivateKey.fromLabel(label).publicKey.tuf.keyval.public;

async function vehicle(vin: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return repos.operator('GET', `/api/v1/vehicles/${vin}`);
}

beforeAll(async () => {
  // test/global-setup.js built the CLI once for the whole run.
  if (!BUILT.every((file) => existsSync(file))) throw new Error('dist/ is missing: run the tests with npm test (its global setup builds the CLI)');
  repos = await startRepositories(new FixedClock(FIXTURE_NOW), 'cli');
  await repos.publishImages([ENGINE_V2, BRAKE_V7]);
}, 120_000);

afterAll(async () => {
  await repos?.close();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-cli-director-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('uptane director vehicle register', () => {
  it('registers a vehicle from --vin and --ecu, and calls an identical second run unchanged', async () => {
    const ecus = [`CLI1-tcu:tcu-a:${publicHex('CLI1/tcu')}:primary`, `CLI1-ecm:ecm-x1:${publicHex('CLI1/ecm')}`, `CLI1-abs:abs-z:${publicHex('CLI1/abs')}`];
    const args = ['director', 'vehicle', 'register', '--vin', 'CLI1', ...ecus.flatMap((e) => ['--ecu', e])];
    const run = await uptane(args);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('registered vehicle CLI1 with 3 ECUs');
    expect(run.stdout).toMatch(/CLI1-tcu\s+tcu-a\s+primary\s+standard\s+[0-9a-f]{12}\s+-\s+-\s+never/);
    expect(run.stdout).toMatch(/CLI1-abs\s+abs-z\s+secondary/);
    const stored = await vehicle('CLI1');
    expect((stored.json.ecus as Array<{ serial: string; keyid: string }>).map((e) => [e.serial, e.keyid])).toEqual([
      ['CLI1-tcu', PrivateKey.fromLabel('CLI1/tcu').keyid],
      ['CLI1-abs', PrivateKey.fromLabel('CLI1/abs').keyid],
      ['CLI1-ecm', PrivateKey.fromLabel('CLI1/ecm').keyid],
    ]);

    const again = await uptane([...args, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ result: 'unchanged', vehicle: { vin: 'CLI1' } });

    // The same VIN with another key: refused, and told how ECUs are changed.
    const other = await uptane(['director', 'vehicle', 'register', '--vin', 'CLI1', '--ecu', `CLI1-tcu:tcu-a:${publicHex('CLI1/other')}:primary`]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('vehicle CLI1 is already registered [conflict, HTTP 409]');
    expect(other.stderr).toContain('uptane director replace-ecu');
  });

  it('explains a malformed --ecu before sending anything', async () => {
    const run = await uptane(['director', 'vehicle', 'register', '--vin', 'CLI2', '--ecu', 'CLI2-tcu:tcu-a:notakey:primary']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('64 lowercase hex characters');
    expect(run.stderr).toContain('uptane keys show');
    expect((await vehicle('CLI2')).status).toBe(404);
  });

  it('registers a CSV fleet vehicle by vehicle: bad rows fail alone, the exit status says so, and a fixed file can be run again', async () => {
    const row = (vin: string, serial: string, hw: string, key: string, primary = '') => `${vin},${serial},${hw},${key},${primary}`;
    const header = 'vin,ecu_serial,hardware_id,public_key,primary';
    const good1 = [row('CSV1', 'CSV1-tcu', 'tcu-a', publicHex('CSV1/tcu'), 'yes'), row('CSV1', 'CSV1-ecm', 'ecm-x1', publicHex('CSV1/ecm'))];
    const bad2 = [row('CSV2', 'CSV2-tcu', 'tcu-a', publicHex('CSV2/tcu'), 'yes'), row('CSV2', 'CSV2-ecm', 'ecm-x1', 'not-a-key')];
    const fixed2 = [bad2[0]!, row('CSV2', 'CSV2-ecm', 'ecm-x1', publicHex('CSV2/ecm'))];
    // A row that repeats another vehicle's ECU key.
    const taken3 = [row('CSV3', 'CSV3-tcu', 'tcu-a', publicHex('CSV1/ecm'), 'yes')];
    const good4 = [`"CSV4","CSV4-tcu","tcu-a","${publicHex('CSV4/tcu')}","yes"`, row('CSV4', 'CSV4-ecm', 'ecm-x1', publicHex('CSV4/ecm'))];
    const file = join(dir, 'fleet.csv');
    writeFileSync(file, [header, ...good1, ...bad2, '', '# the brake supplier sends its rows later', ...taken3, ...good4, ''].join('\n'));

    const check = await uptane(['director', 'vehicle', 'register', '--csv', file, '--dry-run']);
    expect(check.code).toBe(1);
    // CSV3 repeats CSV1's ECM key: found in the file itself, before the Director would refuse it.
    expect(check.stdout).toContain('line 8  CSV3  FAILED: line 8: ECU CSV3-tcu has the same public_key as ECU CSV1-ecm on line 3 (vehicle CSV1): every ECU has its own key');
    expect(check.stdout).toContain('dry run: 2 vehicles valid, 0 already registered, 2 failed; checked against the Director; nothing was registered');
    expect((await vehicle('CSV1')).status).toBe(404);

    const run = await uptane(['director', 'vehicle', 'register', '--csv', file]);
    expect(run.code).toBe(1);
    const lines = run.stdout.split('\n');
    expect(lines).toContain('lines 2-3  CSV1  registered (2 ECUs)');
    const failed2 = lines.find((l) => l.startsWith('lines 4-5  CSV2  FAILED: line 5: public_key: '));
    expect(failed2).toContain('[malformed_key]');
    expect(failed2).toContain('64 lowercase hex characters for an Ed25519 key');
    // The repeated key fails its row before anything is sent: the Director is never asked to refuse it.
    expect(lines).toContain('line 8  CSV3  FAILED: line 8: ECU CSV3-tcu has the same public_key as ECU CSV1-ecm on line 3 (vehicle CSV1): every ECU has its own key');
    expect(lines).toContain('lines 9-10  CSV4  registered (2 ECUs)');
    expect(run.stdout).toContain('2 vehicles registered, 0 already registered, 2 failed');
    expect(run.stderr).toContain(`error: 2 of 4 vehicles in ${file} failed (see above); fix those rows and run the file again`);
    expect((await vehicle('CSV1')).status).toBe(200);
    expect((await vehicle('CSV2')).status).toBe(404);
    expect((await vehicle('CSV3')).status).toBe(404);
    expect((await vehicle('CSV4')).status).toBe(200);

    writeFileSync(file, [header, ...good1, ...fixed2, ...good4].join('\r\n'));
    const rerun = await uptane(['director', 'vehicle', 'register', '--csv', file, '--json']);
    expect(rerun).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(rerun.stdout) as { registered: number; unchanged: number; failed: number; results: Array<{ vin: string; result: string }> };
    expect(report).toMatchObject({ registered: 1, unchanged: 2, failed: 0 });
    expect(report.results.map((r) => [r.vin, r.result])).toEqual([
      ['CSV1', 'unchanged'],
      ['CSV2', 'registered'],
      ['CSV4', 'unchanged'],
    ]);
  });

  it('keeps ECU serials unique across the fleet: a dry run names every row the Director would refuse, and a refusal names the vehicle holding the serial', async () => {
    const row = (vin: string, serial: string, hw: string, primary = '') => `${vin},${serial},${hw},${publicHex(`${vin}/${serial}`)},${primary}`;
    const header = 'vin,ecu_serial,hardware_id,public_key,primary';
    // UNIQ0 holds tcu-1; the file reuses it for UNIQ2 (the README's old tcu-1 mistake), repeats a
    // serial inside itself, gives UNIQ1 as it is registered, and two vehicles that are fine.
    let run = await uptane(['director', 'vehicle', 'register', '--vin', 'UNIQ0', '--ecu', `tcu-1:tcu-a:${publicHex('UNIQ0/tcu-1')}:primary`]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    run = await uptane(['director', 'vehicle', 'register', '--vin', 'UNIQ1', '--ecu', `UNIQ1-tcu:tcu-a:${publicHex('UNIQ1/UNIQ1-tcu')}:primary`]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const file = join(dir, 'fleet.csv');
    writeFileSync(
      file,
      [header, row('UNIQ1', 'UNIQ1-tcu', 'tcu-a', 'yes'), row('UNIQ2', 'tcu-1', 'tcu-a', 'yes'), row('UNIQ3', 'UNIQ3-tcu', 'tcu-a', 'yes'), row('UNIQ4', 'UNIQ3-tcu', 'tcu-a', 'yes'), row('UNIQ5', 'UNIQ5-tcu', 'tcu-a', 'yes')].join('\n'),
    );
    const before = (await repos.operator('GET', '/api/v1/audit?limit=1')).json.entries;

    const check = await uptane(['director', 'vehicle', 'register', '--csv', file, '--dry-run']);
    expect(check.code).toBe(1);
    const lines = check.stdout.split('\n');
    expect(lines).toContain('line 2  UNIQ1  unchanged (1 ECU)');
    expect(lines).toContain('line 3  UNIQ2  FAILED: line 3: ECU tcu-1 is already registered to vehicle UNIQ0; ECU serials are unique across the fleet: register each ECU under its own hardware serial; if this ECU was moved out of UNIQ0, first take it out of UNIQ0 with `uptane director replace-ecu UNIQ0 tcu-1 --serial SERIAL_FITTED_INSTEAD ...`');
    expect(lines).toContain('line 4  UNIQ3  valid (1 ECU)');
    expect(lines).toContain('line 5  UNIQ4  FAILED: line 5: ECU serial UNIQ3-tcu is also on line 4 (vehicle UNIQ3): ECU serials are unique across the fleet, give each ECU its own hardware serial');
    expect(lines).toContain('line 6  UNIQ5  valid (1 ECU)');
    expect(check.stdout).toContain('dry run: 2 vehicles valid, 1 already registered, 2 failed; checked against the Director; nothing was registered');
    // Nothing written: no vehicle, no audit entry.
    expect((await vehicle('UNIQ3')).status).toBe(404);
    expect((await repos.operator('GET', '/api/v1/audit?limit=1')).json.entries).toEqual(before);

    const json = await uptane(['director', 'vehicle', 'register', '--csv', file, '--dry-run', '--json']);
    const report = JSON.parse(json.stdout) as { valid: number; unchanged: number; failed: number; results: Array<{ vin: string; result: string; error?: { code: string } }> };
    expect(report).toMatchObject({ valid: 2, unchanged: 1, failed: 2 });
    expect(report.results.find((r) => r.vin === 'UNIQ2')?.error?.code).toBe('conflict');

    // --offline checks the file alone: the taken serial is not known there.
    const offline = await uptane(['director', 'vehicle', 'register', '--csv', file, '--dry-run', '--offline'], { UPTANE_OPERATOR_TOKEN: undefined });
    expect(offline.stdout).toContain('dry run: 4 vehicles valid, 0 already registered, 1 failed; the file alone was checked (--offline)');
    const noToken = await uptane(['director', 'vehicle', 'register', '--csv', file, '--dry-run'], { UPTANE_OPERATOR_TOKEN: undefined });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('UPTANE_OPERATOR_TOKEN is not set');
    expect(noToken.stderr).toContain('or check the file alone with --dry-run --offline');

    // The real run: the Director's refusal names the vehicle that holds the serial, and no `vehicle show` of the unregistered VIN is suggested.
    run = await uptane(['director', 'vehicle', 'register', '--vin', 'UNIQ2', '--ecu', `tcu-1:tcu-a:${publicHex('UNIQ2/tcu-1')}:primary`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('ECU tcu-1 is already registered to vehicle UNIQ0; ECU serials are unique across the fleet');
    expect(run.stderr).toContain('[conflict, HTTP 409]');
    expect(run.stderr).not.toContain('vehicle show UNIQ2');
    // A replacement ECU under a serial another vehicle holds: the same refusal, naming that vehicle.
    const replaced = await repos.operator('POST', '/api/v1/vehicles/UNIQ1/ecus/UNIQ1-tcu/replace', { serial: 'tcu-1', hardwareId: 'tcu-a', publicKey: publicHex('UNIQ1/new-tcu') });
    expect(replaced).toMatchObject({ status: 409, json: { error: { code: 'conflict' } } });
    expect((replaced.json as { error: { message: string } }).error.message).toContain('ECU tcu-1 is already registered to vehicle UNIQ0; ECU serials are unique across the fleet');
    // A key another ECU holds is named with its ECU and vehicle.
    run = await uptane(['director', 'vehicle', 'register', '--vin', 'UNIQ6', '--ecu', `UNIQ6-tcu:tcu-a:${publicHex('UNIQ0/tcu-1')}:primary`]);
    expect(run.stderr).toContain("ECU UNIQ6-tcu's key is already registered to ECU tcu-1 of vehicle UNIQ0: every ECU has its own key");
  });

  it('answers the inventory lookup with what is registered and to which vehicle, read scope, lists bounded', async () => {
    await uptane(['director', 'vehicle', 'register', '--vin', 'LOOK1', '--ecu', `LOOK1-tcu:tcu-a:${publicHex('LOOK1/tcu')}:primary`]);
    const keyid = PrivateKey.fromLabel('LOOK1/tcu').keyid;
    const found = await repos.operator('POST', '/api/v1/inventory/lookup', { vins: ['LOOK1', 'LOOK-NONE'], serials: ['LOOK1-tcu', 'nope'], keyids: [keyid] });
    expect(found).toMatchObject({ status: 200, json: { vins: ['LOOK1'], ecus: [{ serial: 'LOOK1-tcu', vin: 'LOOK1', hardwareId: 'tcu-a', primary: true, keyid }] } });
    expect(await repos.operator('POST', '/api/v1/inventory/lookup', { serials: Array.from({ length: 1001 }, (_, i) => `s${i}`) })).toMatchObject({ status: 400 });
    expect(await repos.operator('POST', '/api/v1/inventory/lookup', { serials: [42] })).toMatchObject({ status: 400 });
  });

  it('sets vehicle attributes at registration (--attribute, the CSV column) and later (vehicle attributes), and a dynamic group selects on them', async () => {
    const ecus = (vin: string) => [`${vin}-tcu:tcu-a:${publicHex(`${vin}/tcu`)}:primary`];
    let run = await uptane(['director', 'vehicle', 'register', '--vin', 'ATTR1', ...ecus('ATTR1').flatMap((e) => ['--ecu', e]), '--attribute', 'model=sedan-2026', '--attribute', 'region=eu']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    writeFileSync(join(dir, 'fleet.csv'), `vin,ecu_serial,hardware_id,public_key,primary,attributes\nATTR2,ATTR2-tcu,tcu-a,${publicHex('ATTR2/tcu')},yes,model=truck;region=eu\n`);
    run = await uptane(['director', 'vehicle', 'register', '--csv', 'fleet.csv']);
    expect(run.code).toBe(0);
    expect((await vehicle('ATTR1')).json.attributes).toEqual({ model: 'sedan-2026', region: 'eu' });
    expect((await vehicle('ATTR2')).json.attributes).toEqual({ model: 'truck', region: 'eu' });

    run = await uptane(['director', 'group', 'create', 'attr-sedans', '--filter-attribute', 'model=sedan-2026']);
    expect(run.code).toBe(0);
    const members = async () => (await repos.operator('GET', '/api/v1/groups/attr-sedans')).json.members as string[];
    expect(await members()).toEqual(['ATTR1']);

    // The truck becomes a sedan and loses its region: the dynamic group takes it at once.
    run = await uptane(['director', 'vehicle', 'attributes', 'ATTR2', '--set', 'model=sedan-2026', '--remove', 'region', '--json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(run.stdout)).toEqual({ vin: 'ATTR2', attributes: { model: 'sedan-2026' } });
    expect(await members()).toEqual(['ATTR1', 'ATTR2']);
    run = await uptane(['director', 'vehicle', 'attributes', 'ATTR2']);
    expect(run.stdout).toBe('vehicle ATTR2:\n  model=sedan-2026\n');
    const audit = (await repos.operator('GET', '/api/v1/audit?limit=5')).json.entries as Array<{ action: string; details: Record<string, unknown> }>;
    expect(audit).toContainEqual(expect.objectContaining({ action: 'set_attributes', details: { vin: 'ATTR2', set: { model: 'sedan-2026' }, remove: ['region'] } }));

    // Bad input changes nothing: a name both set and removed, no change at all, an unknown VIN, a malformed pair.
    const patch = (body: unknown, vin = 'ATTR2') => repos.operator('PATCH', `/api/v1/vehicles/${vin}/attributes`, body);
    expect(await patch({ set: { model: 'x' }, remove: ['model'] })).toMatchObject({ status: 400 });
    expect(await patch({})).toMatchObject({ status: 400 });
    expect(await patch({ set: { model: 'x' } }, 'NO-SUCH-VIN')).toMatchObject({ status: 404 });
    expect(await patch({ set: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`a${i}`, 'v'])) })).toMatchObject({ status: 400 });
    run = await uptane(['director', 'vehicle', 'attributes', 'ATTR2', '--set', 'no-equals']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('--set no-equals: write NAME=VALUE');
    expect((await vehicle('ATTR2')).json.attributes).toEqual({ model: 'sedan-2026' });
  });

  it('refuses a CSV whose header does not name the columns', async () => {
    const file = join(dir, 'bad.csv');
    writeFileSync(file, 'vin,serial,hardware_id,public_key,primary\nX,Y,Z,K,yes\n');
    const run = await uptane(['director', 'vehicle', 'register', '--csv', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the header must name the columns vin,ecu_serial,hardware_id,public_key,primary once each; missing ecu_serial; unknown serial');
  });
});

describe('uptane director vehicle list and show', () => {
  beforeAll(async () => {
    for (const vin of ['LIST1', 'LIST2', 'LIST3']) {
      const answer = await repos.operator('POST', '/api/v1/vehicles', { vin, attributes: { model: 'sedan' }, ecus: [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', publicKey: publicHex(`${vin}/tcu`), primary: true }] });
      expect(answer.status).toBe(201);
    }
  });

  it('lists vehicles as a table, a page at a time, and as JSON', async () => {
    const run = await uptane(['director', 'vehicle', 'list', '--after', 'LIST0', '--limit', '2']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ {2}VIN\s+REGISTERED\s+ATTRIBUTES$/);
    expect(lines[1]).toMatch(/^ {2}LIST1\s+2026-06-01T00:00:00\.000Z\s+model=sedan$/);
    expect(lines[2]).toMatch(/^ {2}LIST2\s/);
    expect(run.stdout).toContain('next page: uptane director vehicle list --after LIST2 --limit 2');

    const json = await uptane(['director', 'vehicle', 'list', '--after', 'LIST2', '--json']);
    expect(json.code).toBe(0);
    const page = JSON.parse(json.stdout) as { total: number; vehicles: Array<{ vin: string }> };
    expect(page.vehicles[0]).toEqual({ vin: 'LIST3', attributes: { model: 'sedan' }, registeredAt: '2026-06-01T00:00:00.000Z', state: 'up_to_date' });
    expect(page.total).toBeGreaterThanOrEqual(3);

    const bad = await uptane(['director', 'vehicle', 'list', '--limit', '0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--limit 0: give a whole number from 1 to 1000');
  });

  it('shows one vehicle as a summary and as JSON, and points to the list for an unknown VIN', async () => {
    const run = await uptane(['director', 'vehicle', 'show', 'LIST1']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('vehicle        LIST1');
    expect(run.stdout).toContain('last manifest  never');
    expect(run.stdout).toContain('attributes     model=sedan');
    expect(run.stdout).toMatch(/LIST1-tcu\s+tcu-a\s+primary/);
    expect(run.stdout).toMatch(/manifests \(latest 0\)\n {2}\(none\)/);

    const json = await uptane(['director', 'vehicle', 'show', 'LIST1', '--json']);
    expect(JSON.parse(json.stdout)).toEqual((await vehicle('LIST1')).json);

    const missing = await uptane(['director', 'vehicle', 'show', 'NOSUCHVIN']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no vehicle NOSUCHVIN [not_found, HTTP 404]');
    expect(missing.stderr).toContain('`uptane director vehicle list` shows the registered VINs');
  });
});

describe('uptane director assign and cancel', () => {
  const vins = ['ASSIGN1', 'ASSIGN2'];
  beforeAll(async () => {
    for (const vin of vins) {
      const answer = await repos.operator('POST', '/api/v1/vehicles', {
        vin,
        ecus: [
          { serial: `${vin}-tcu`, hardwareId: 'tcu-a', publicKey: publicHex(`${vin}/tcu`), primary: true },
          { serial: `${vin}-ecm`, hardwareId: 'ecm-x1', publicKey: publicHex(`${vin}/ecm`) },
        ],
      });
      expect(answer.status).toBe(201);
    }
  });

  it('plans with --dry-run (nothing stored), assigns for real, shows it, and cancels it', async () => {
    const dry = await uptane(['director', 'assign', '--image', ENGINE_V2.name, '--vin', 'ASSIGN1', '--ecu', 'ASSIGN1-ecm', '--dry-run']);
    expect(dry).toMatchObject({ code: 0, stderr: '' });
    expect(dry.stdout).toContain(`dry run, nothing stored: ${ENGINE_V2.name} would go to 1 ECU in 1 vehicle`);
    expect(dry.stdout).toMatch(/ASSIGN1\s+ASSIGN1-ecm\s+ecm-x1\s+unknown\s+2/);
    expect((await vehicle('ASSIGN1')).json.assignments).toEqual([]);

    const run = await uptane(['director', 'assign', '--image', ENGINE_V2.name, '--vin', 'ASSIGN1', '--ecu', 'ASSIGN1-ecm']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain(`assigned ${ENGINE_V2.name} to 1 ECU in 1 vehicle`);
    const assignments = (await vehicle('ASSIGN1')).json.assignments as Array<{ id: number; state: string; filename: string }>;
    expect(assignments).toEqual([expect.objectContaining({ state: 'pending', filename: ENGINE_V2.name })]);
    const id = assignments[0]!.id;
    expect(run.stdout).toMatch(new RegExp(`\\n {2}${id}\\s+ASSIGN1\\s+ASSIGN1-ecm\\s+2\\s+pending\\n`));

    const show = await uptane(['director', 'vehicle', 'show', 'ASSIGN1']);
    expect(show.stdout).toContain(`#${id} pending: ${ENGINE_V2.name}`);

    const again = await uptane(['director', 'assign', '--image', ENGINE_V2.name, '--vin', 'ASSIGN1', '--ecu', 'ASSIGN1-ecm']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('cancel it first [conflict, HTTP 409]');

    const cancel = await uptane(['director', 'cancel', String(id), '--yes']);
    expect(cancel).toMatchObject({ code: 0, stderr: '' });
    expect(cancel.stdout).toContain(`cancelled assignment ${id}: ${ENGINE_V2.name} for ECU ASSIGN1-ecm of ASSIGN1`);
    expect(((await vehicle('ASSIGN1')).json.assignments as Array<{ state: string }>)[0]!.state).toBe('cancelled');

    const twice = await uptane(['director', 'cancel', String(id), '--yes', '--json']);
    expect(twice.code).toBe(1);
    expect(twice.stdout).toBe('');
    expect(twice.stderr).toContain(`assignment ${id} is cancelled; only pending or in-flight assignments can be cancelled [conflict, HTTP 409]`);
  });

  it('assigns one image to every ECU with a hardware id in the vehicles of a VIN file', async () => {
    const file = join(dir, 'vins.txt');
    writeFileSync(file, '# spring campaign\nASSIGN1\n\nASSIGN2\nASSIGN2\n');
    const dry = await uptane(['director', 'assign', '--image', ENGINE_V2.name, '--vins-file', file, '--hardware-id', 'ecm-x1', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as { dryRun: boolean; plan: Array<{ vin: string; ecuSerial: string }> };
    expect(plan.dryRun).toBe(true);
    expect(plan.plan.map((p) => [p.vin, p.ecuSerial])).toEqual([
      ['ASSIGN1', 'ASSIGN1-ecm'],
      ['ASSIGN2', 'ASSIGN2-ecm'],
    ]);

    const wrongHardware = await uptane(['director', 'assign', '--image', BRAKE_V7.name, '--vins-file', file, '--hardware-id', 'ecm-x1']);
    expect(wrongHardware.code).toBe(1);
    expect(wrongHardware.stderr).toContain('[incompatible_hardware, HTTP 400]');

    const missing = await uptane(['director', 'assign', '--image', 'engine/nope.bin', '--vin', 'ASSIGN2', '--ecu', 'ASSIGN2-ecm']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('the Image repository does not list that image');

    const usage = await uptane(['director', 'assign', '--image', ENGINE_V2.name, '--vins-file', file, '--ecu', 'ASSIGN1-ecm']);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain('--ecu names an ECU of one vehicle: give exactly one --vin; for many vehicles use --hardware-id');
    expect(((await vehicle('ASSIGN2')).json.assignments as unknown[]).length).toBe(0);
  });
});

describe('operator credentials and errors', () => {
  it('says what to do about a wrong, missing or unreachable token and Director', async () => {
    const wrong = await uptane(['director', 'vehicle', 'list'], { UPTANE_OPERATOR_TOKEN: 'not-a-token' });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toContain('error: the Director refused to list vehicles: a valid operator token is required');
    expect(wrong.stderr).toContain('[unauthorized, HTTP 401]');
    expect(wrong.stderr).toContain('the operator token in UPTANE_OPERATOR_TOKEN was not accepted');
    expect(wrong.stderr).toContain('uptane director operator add NAME');
    expect(wrong.stderr).not.toContain('not-a-token');

    const missing = await uptane(['director', 'vehicle', 'list'], { UPTANE_OPERATOR_TOKEN: undefined });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('environment variable UPTANE_OPERATOR_TOKEN is not set');

    const named = await uptane(['director', 'vehicle', 'list', '--token-env', 'FLEET_TOKEN', '--json'], { UPTANE_OPERATOR_TOKEN: undefined, FLEET_TOKEN: OPERATOR_TOKEN });
    expect(named.code).toBe(0);

    const unreachable = await uptane(['director', 'vehicle', 'list', '--url', 'http://127.0.0.1:9']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('cannot reach the Director at http://127.0.0.1:9');
    expect(unreachable.stderr).toContain('is `uptane director serve` running there');

    const noToken = await uptane(['director', 'vehicle', 'list', '--token', OPERATOR_TOKEN]);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('Unknown argument: token');
  });
});

describe('uptane director replace-ecu, online-keys, audit and root push', () => {
  it('replaces an ECU, shows the online keys and the audit log, and publishes a new root', async () => {
    const registered = await repos.operator('POST', '/api/v1/vehicles', { vin: 'REPL1', ecus: [{ serial: 'REPL1-tcu', hardwareId: 'tcu-a', publicKey: publicHex('REPL1/tcu'), primary: true }, { serial: 'REPL1-abs', hardwareId: 'abs-z', publicKey: publicHex('REPL1/abs') }] });
    expect(registered.status).toBe(201);
    const replaced = await uptane(['director', 'replace-ecu', 'REPL1', 'REPL1-abs', '--serial', 'REPL1-abs2', '--hardware-id', 'abs-z', '--public-key', publicHex('REPL1/abs2')]);
    expect(replaced).toMatchObject({ code: 0, stderr: '' });
    expect(replaced.stdout).toContain(`replaced ECU REPL1-abs of REPL1 by REPL1-abs2 (keyid ${PrivateKey.fromLabel('REPL1/abs2').keyid})`);
    expect(((await vehicle('REPL1')).json.ecus as Array<{ serial: string }>).map((e) => e.serial)).toEqual(['REPL1-tcu', 'REPL1-abs2']);

    const keys = await uptane(['director', 'online-keys']);
    expect(keys.code).toBe(0);
    const online = repos.director.services.root.onlineKeysJson();
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) expect(keys.stdout).toMatch(new RegExp(`${role}\\s+${online[role].keyid}\\s+${online[role].key.keyval.public}`));
    expect(JSON.parse((await uptane(['director', 'online-keys', '--json'])).stdout)).toEqual(online);

    const audit = await uptane(['director', 'audit', '--limit', '5']);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(/fixture-operator\s+replace_ecu\s+\{"vin":"REPL1","oldSerial":"REPL1-abs","newSerial":"REPL1-abs2"/);
    const auditJson = JSON.parse((await uptane(['director', 'audit', '--json'])).stdout) as { entries: Array<{ action: string }> };
    expect(auditJson.entries[0]!.action).toBe('replace_ecu');

    // Root: v1 again is refused; v2, signed by the current root key, is published.
    const v1File = join(dir, '1.root.json');
    writeFileSync(v1File, repos.directorRoot);
    const stale = await uptane(['director', 'root', 'push', v1File]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('the Director refused to publish root');
    const rootKey = repos.directorRootKey;
    const v2 = rootMetadata(2, {
      root: [{ keyid: rootKey.keyid, key: rootKey.publicKey.tuf }],
      targets: [online.targets],
      snapshot: [online.snapshot],
      timestamp: [online.timestamp],
    });
    const v2File = join(dir, '2.root.json');
    writeFileSync(v2File, serializeMetadata(signMetadata(v2, [rootKey])));
    const pushed = await uptane(['director', 'root', 'push', v2File]);
    expect(pushed).toMatchObject({ code: 0, stderr: '' });
    expect(pushed.stdout).toContain('published Director root version 2; vehicles fetch it as /metadata/2.root.json');
    expect((await fetch(`${repos.director.url}/metadata/2.root.json`)).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------

describe('uptane director serve and operator tokens', () => {
  let server: ChildProcess | undefined;

  afterEach(async () => {
    if (server !== undefined && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    server = undefined;
  });

  /** Starts `director serve` and resolves with its stdout once it printed the root line. */
  function serve(args: readonly string[]): Promise<string> {
    const child = spawn(process.execPath, [CLI, 'director', 'serve', ...args], { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (/Director root version|no Director root yet/.test(out)) resolve(out);
      });
      child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.once('exit', (code) => reject(new Error(`director serve exited with ${code}: ${err}`)));
    });
  }

  it('refuses a first start without the Image repository root, saying which option gives it', async () => {
    const run = await uptane(['director', 'serve', '--data-dir', join(dir, 'data'), '--port', '0', '--image-repo', repos.image.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the Director needs the Image repository root on first start: pass --image-root <1.root.json>');
  });

  it('serves, prints its URL, data folder and online keys; operator tokens are added and removed on its data folder', async () => {
    const dataDir = join(dir, 'data');
    const imageRoot = join(dir, 'image-root.json');
    writeFileSync(imageRoot, repos.imageRoot);
    const out = await serve(['--data-dir', dataDir, '--port', '0', '--image-repo', repos.image.url, '--image-root', imageRoot]);
    const url = /Director listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    expect(url).toBeDefined();
    expect(out).toContain(`data folder: ${dataDir}`);
    const keyids = /online keys: targets ([0-9a-f]{64}), snapshot ([0-9a-f]{64}), timestamp ([0-9a-f]{64})/.exec(out);
    expect(keyids).not.toBeNull();
    expect(out).toContain('no Director root yet');

    // admin: alice pushes the Director root below (docs/threat-model.md HR-10).
    const add = await uptane(['director', 'operator', 'add', 'alice', '--scope', 'admin', '--data-dir', dataDir]);
    expect(add.code).toBe(0);
    expect(add.stderr).toMatch(/^token id [0-9a-f]{12} for alice: scope admin, expires \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
    const token = add.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const duplicate = await uptane(['director', 'operator', 'add', 'alice', '--data-dir', dataDir]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('operator alice already exists; to issue a new token, `uptane director operator remove alice` first');

    const asAlice = { UPTANE_DIRECTOR_URL: url!, UPTANE_OPERATOR_TOKEN: token };
    const keys = await uptane(['director', 'online-keys', '--json'], asAlice);
    expect(keys.code).toBe(0);
    const online = JSON.parse(keys.stdout) as Record<'targets' | 'snapshot' | 'timestamp', { keyid: string; key: { keytype: 'ed25519'; scheme: 'ed25519'; keyval: { public: string } } }>;
    expect([online.targets.keyid, online.snapshot.keyid, online.timestamp.keyid]).toEqual(keyids!.slice(1, 4));

    // The offline root ceremony, in miniature: a root listing the online keys, signed by a root key kept here.
    const rootKey = PrivateKey.fromLabel('cli/serve-root');
    const root = rootMetadata(1, { root: [{ keyid: rootKey.keyid, key: rootKey.publicKey.tuf }], targets: [online.targets], snapshot: [online.snapshot], timestamp: [online.timestamp] });
    const rootFile = join(dir, '1.root.json');
    writeFileSync(rootFile, serializeMetadata(signMetadata(root, [rootKey])));
    const pushed = await uptane(['director', 'root', 'push', rootFile], asAlice);
    expect(pushed).toMatchObject({ code: 0, stderr: '' });
    expect(pushed.stdout).toContain('published Director root version 1');

    const audit = await uptane(['director', 'audit', '--json'], asAlice);
    expect((JSON.parse(audit.stdout) as { entries: Array<{ actor: string; action: string }> }).entries.slice(0, 2)).toEqual([
      expect.objectContaining({ actor: 'alice', action: 'publish_root' }),
      expect.objectContaining({ actor: 'cli', action: 'add_operator' }),
    ]);

    const removed = await uptane(['director', 'operator', 'remove', 'alice', '--yes', '--data-dir', dataDir]);
    expect(removed).toMatchObject({ code: 0, stdout: 'removed operator alice; its token no longer works\n' });
    const refused = await uptane(['director', 'vehicle', 'list'], asAlice);
    expect(refused.code).toBe(1);
    // A removed operator's token is revoked, and says so (docs/threat-model.md HR-10).
    expect(refused.stderr).toContain('[token_revoked, HTTP 401]');
  }, 60_000);
});
