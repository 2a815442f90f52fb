// Every operator input to the Director is typed and bounded (issue 14): a real Director on loopback
// (port 0) with an operator token, refusing with a typed 400 and storing nothing; and what was
// stored before the bounds existed still lists (docs/threat-model.md HR-7, HR-9b, HR-9c, HR-9d).
import { FixedClock } from '../../shared/core/clock.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { sqliteOf } from '../../sim/harness/sqlite-storage.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

const ECM: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };

let clock: FixedClock;
let repos: Repositories;
const cars: TestVehicle[] = [];

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'operator-input');
  await repos.publishImages([ECM]);
  for (const vin of ['OPIN01', 'OPIN02']) {
    const car = new TestVehicle(vin, [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true }, { serial: `${vin}-ecm`, hardwareId: 'ecm-x1' }], clock);
    cars.push(car);
    const answer = await repos.operator('POST', '/api/v1/vehicles', { ...car.registration(), attributes: { model: 'opin' } });
    if (answer.status !== 201) throw new Error(JSON.stringify(answer.json));
  }
  await ok('POST', '/api/v1/groups', { name: 'opin-all', filter: { attributes: { model: 'opin' } } });
}, 120_000);

afterAll(async () => {
  for (const car of cars) car.cleanup();
  await repos?.close();
});

async function ok(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const answer = await repos.operator(method, path, body);
  if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.json)}`);
  return answer.json;
}

/** A request with a raw path (no encoding by a URL helper) and an optional raw body. */
async function raw(method: string, path: string, body?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${repos.director.url}${path}`, { method, body, headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' } });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

function expectBadRequest(answer: { status: number; json: Record<string, unknown> }, message?: RegExp): void {
  const error = answer.json.error as { code?: string; message?: string } | undefined;
  expect({ status: answer.status, code: error?.code }).toEqual({ status: 400, code: 'bad_request' });
  expect(Object.keys(answer.json)).toEqual(['error']);
  if (message !== undefined) expect(error?.message).toMatch(message);
}

/** What a refused request must leave as it was: vehicles, groups, campaigns, assignments. */
async function snapshot() {
  return {
    vehicles: await ok('GET', '/api/v1/vehicles?limit=1000'),
    groups: await ok('GET', '/api/v1/groups'),
    campaigns: await ok('GET', '/api/v1/campaigns'),
    assignments: await Promise.all(cars.slice(0, 2).map(async (car) => (await ok('GET', `/api/v1/vehicles/${car.vin}`)).assignments)),
  };
}

const many = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
const campaign = (extra: Record<string, unknown>) => ({ name: 'opin-c', group: 'opin-all', images: [{ hardwareId: 'ecm-x1', image: ECM.name }], stages: [{ share: 1 }], ...extra });

describe('a campaign ramp (HR-7)', () => {
  it('refuses a ramp of more than 100 stages before generating them, and keeps serving', async () => {
    // factor 1.000000001 from 1% is about 4.6 billion stages: generated first, this request held the
    // Director (and this test's process) for minutes. Refused first, it is answered like any other.
    const refused = await repos.operator('POST', '/api/v1/campaigns', campaign({ name: 'opin-ramp', stages: undefined, ramp: { first: 0.01, factor: 1.000000001 } }));
    expectBadRequest(refused, /more than 100 stages/);
    expect((await repos.operator('GET', '/api/v1/campaigns/opin-ramp')).status).toBe(404);
    expect((await repos.operator('GET', '/api/v1/campaigns')).status).toBe(200);
    // A ramp within the limit is taken, its stages as generated.
    const taken = await ok('POST', '/api/v1/campaigns', campaign({ name: 'opin-ramp-ok', stages: undefined, ramp: { first: 0.25, factor: 2 } }));
    expect(taken.stages).toEqual([{ share: 0.25, minSoakMs: 0 }, { share: 0.5, minSoakMs: 0 }, { share: 1, minSoakMs: 0 }]);
  });
});

describe('dynamic groups (HR-9b)', () => {
  it('refuses a filter of 1,100 terms with a 400 and stores nothing; the listing keeps working', async () => {
    const terms = Object.fromEntries(many(1100, (i) => [`a${i}`, 'x'] as const));
    const refused = await repos.operator('POST', '/api/v1/groups', { name: 'opin-huge', filter: { attributes: terms } });
    expectBadRequest(refused, /filter\.attributes has 1100 entries; at most 32/);
    expect((await repos.operator('GET', '/api/v1/groups/opin-huge')).status).toBe(404);
    const listed = await repos.operator('GET', '/api/v1/groups');
    expect(listed.status).toBe(200);
    expect((listed.json.groups as Array<{ name: string }>).map((g) => g.name)).not.toContain('opin-huge');
  });

  it('lists groups stored before the bounds: a 1,100-term filter is evaluated, an unreadable one is named, not a 500', async () => {
    // What an earlier Director stored (it stored first, then failed): written straight to its database.
    const stored = repos.director.storage.campaigns;
    const terms = Object.fromEntries([['model', 'opin'], ...many(1099, (i) => [`a${i}`, 'x'] as const)]);
    await stored.insertGroup('opin-legacy-huge', 'dynamic', { attributes: terms }, 'legacy', clock.now());
    await stored.insertGroup('opin-legacy-wide', 'dynamic', { attributes: Object.fromEntries([['model', 'opin'], ...many(40, (i) => [`b${i}`, 'y'] as const)]) }, 'legacy', clock.now());
    sqliteOf(repos.director.storage).db.prepare("INSERT INTO vehicle_groups (name, kind, filter, created_at, created_by) VALUES ('opin-legacy-broken', 'dynamic', '{not json', ?, 'legacy')").run(clock.now().toISOString());
    try {
      const listed = await repos.operator('GET', '/api/v1/groups');
      expect(listed.status).toBe(200);
      const byName = new Map((listed.json.groups as Array<{ name: string; members: number | null; problem?: string }>).map((g) => [g.name, g]));
      expect(byName.get('opin-legacy-huge')).toMatchObject({ members: 0 });
      expect(byName.get('opin-legacy-wide')).toMatchObject({ members: 0 });
      expect(byName.get('opin-legacy-broken')).toMatchObject({ members: null, problem: expect.stringMatching(/not readable JSON/) });
      expect(byName.get('opin-all')).toMatchObject({ members: 2 });
      // The broken group is refused with a typed error (never "every vehicle", never a 500).
      const broken = await repos.operator('GET', '/api/v1/groups/opin-legacy-broken');
      expect(broken.status).toBeGreaterThanOrEqual(400);
      expect(broken.status).toBeLessThan(500);
      expect((broken.json.error as { code: string }).code).toBe('repository_state');
      expect(await ok('GET', '/api/v1/groups/opin-legacy-huge')).toEqual({ name: 'opin-legacy-huge', members: [] });
    } finally {
      sqliteOf(repos.director.storage).db.prepare("DELETE FROM vehicle_groups WHERE name LIKE 'opin-legacy-%'").run();
    }
  });
});

describe('query parameters (HR-9c)', () => {
  it.each([
    ['/api/v1/audit?limit=1.5'],
    ['/api/v1/audit?limit=-1'],
    ['/api/v1/audit?limit=0'],
    ['/api/v1/audit?limit=1001'],
    ['/api/v1/audit?limit=1e2'],
    ['/api/v1/audit?limit=0x10'],
    ['/api/v1/audit?limit=010'],
    ['/api/v1/audit?limit='],
    ['/api/v1/audit?limit=%2010'],
    ['/api/v1/audit?limit=1&limit=2'],
    ['/api/v1/vehicles?limit=1.5'],
    ['/api/v1/vehicles?limit=-1'],
    ['/api/v1/vehicles?limit=abc'],
    [`/api/v1/vehicles?after=${'V'.repeat(65)}`],
    ['/api/v1/vehicles?after=a&after=b'],
  ])('refuses %s with a 400', async (path) => {
    expectBadRequest(await raw('GET', path), /query parameter (limit|after)/);
  });

  it('answers well-formed limits, within them', async () => {
    const entries = (await ok('GET', '/api/v1/audit?limit=2')).entries as unknown[];
    expect(entries).toHaveLength(2);
    expect(Array.isArray((await ok('GET', '/api/v1/audit?limit=1000')).entries)).toBe(true);
    expect(((await ok('GET', '/api/v1/vehicles?limit=1')).vehicles as unknown[]).length).toBe(1);
    expect(((await ok('GET', '/api/v1/vehicles?limit=1&after=OPIN01')).vehicles as Array<{ vin: string }>)[0]!.vin).toBe('OPIN02');
  });
});

describe('assignment ids (HR-9d)', () => {
  it('refuses DELETE /assignments/0x<id> and other non-decimal spellings; the assignment stays', async () => {
    const car = cars[0]!;
    const created = await ok('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: `${car.vin}-ecm`, image: ECM.name });
    const id = (created.assignments as Array<{ id: number }>)[0]!.id;
    for (const spelling of [`0x${id.toString(16)}`, `0${id}`, `${id}.0`, `${id}e0`, `+${id}`, `%20${id}`, `0b${id.toString(2)}`, '0', '-1', '9'.repeat(20)]) {
      expectBadRequest(await raw('DELETE', `/api/v1/assignments/${spelling}`), /assignment id must be a whole number/);
    }
    const status = await ok('GET', `/api/v1/vehicles/${car.vin}`);
    expect((status.assignments as Array<{ id: number; state: string }>).find((a) => a.id === id)?.state).toBe('pending');
    expect((await ok('DELETE', `/api/v1/assignments/${id}`)).state).toBe('cancelled');
  });
});

describe('every operator body field and path parameter is typed and bounded', () => {
  it('refuses each out-of-bounds input with a typed 400 and stores nothing', async () => {
    const car = cars[1]!;
    const fresh = new TestVehicle('OPIN99', [{ serial: 'OPIN99-tcu', hardwareId: 'tcu-a', primary: true }], clock);
    cars.push(fresh);
    const registration = fresh.registration();
    const publicKey = registration.ecus[0]!.publicKey;
    const cases: Array<[string, string, unknown, RegExp]> = [
      // Vehicles
      ['POST', '/api/v1/vehicles', { ...registration, attributes: Object.fromEntries(many(33, (i) => [`k${i}`, 'v'] as const)) }, /attributes has 33 entries/],
      ['POST', '/api/v1/vehicles', { ...registration, attributes: { note: 'x'.repeat(257) } }, /attributes\.note is longer than 256/],
      ['POST', '/api/v1/vehicles', { ...registration, attributes: { ['k'.repeat(65)]: 'v' } }, /longer than 64/],
      ['POST', '/api/v1/vehicles', { ...registration, attributes: { n: 1 } }, /attributes\.n must be a string/],
      ['POST', '/api/v1/vehicles', { ...registration, ecus: many(65, () => registration.ecus[0]) }, /ecus has 65 items; at most 64/],
      ['POST', '/api/v1/vehicles', { ...registration, vin: 'V'.repeat(65) }, /vin is longer than 64/],
      ['POST', '/api/v1/vehicles', { ...registration, ecus: [{ ...registration.ecus[0], publicKey: 'a'.repeat(1025) }] }, /publicKey is longer than 1024/],
      ['POST', '/api/v1/vehicles', { ...registration, ecus: [{ ...registration.ecus[0], primary: 'yes' }] }, /primary must be true or false/],
      ['POST', `/api/v1/vehicles/${car.vin}/ecus/${car.vin}-ecm/replace`, { serial: 's'.repeat(129), hardwareId: 'ecm-x1', publicKey }, /serial is longer than 128/],
      ['POST', `/api/v1/vehicles/${car.vin}/ecus/${'s'.repeat(129)}/replace`, { serial: 'OPIN02-ecm2', hardwareId: 'ecm-x1', publicKey }, /ECU serial is longer than 128/],
      ['GET', `/api/v1/vehicles/${'V'.repeat(65)}`, undefined, /VIN is longer than 64/],
      // Assignments
      ['POST', '/api/v1/assignments', { vins: many(100_001, () => 'V'), hardwareId: 'ecm-x1', image: ECM.name }, /vins has 100001 items; at most 100000/],
      ['POST', '/api/v1/assignments', { vins: [car.vin, 7], hardwareId: 'ecm-x1', image: ECM.name }, /vins\[1\] must be a non-empty string/],
      ['POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: `${car.vin}-ecm`, image: 'i'.repeat(1025) }, /image is longer than 1024/],
      ['POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: `${car.vin}-ecm`, image: ECM.name, dryRun: 'no' }, /dryRun must be true or false/],
      ['POST', '/api/v1/assignments', { vin: car.vin, vins: [car.vin], ecuSerial: `${car.vin}-ecm`, image: ECM.name }, /vin or vins/],
      // Groups
      ['POST', '/api/v1/groups', { name: 'g'.repeat(65), vins: [car.vin] }, /name is longer than 64/],
      ['POST', '/api/v1/groups', { name: 'opin-g', vins: many(100_001, () => 'V') }, /vins has 100001 items/],
      ['POST', '/api/v1/groups', { name: 'opin-g', vins: ['V'.repeat(65)] }, /vins\[0\] is longer than 64/],
      ['POST', '/api/v1/groups', { name: 'opin-g', filter: { hardwareId: 'h'.repeat(129) } }, /filter\.hardwareId is longer than 128/],
      ['POST', '/api/v1/groups', { name: 'opin-g', filter: { installedImage: 5 } }, /filter\.installedImage must be a non-empty string/],
      ['POST', '/api/v1/groups', { name: 'opin-g', vins: [car.vin], filter: {} }, /either a list of VINs/],
      ['GET', `/api/v1/groups/${'g'.repeat(65)}`, undefined, /group name is longer than 64/],
      // Campaigns
      ['POST', '/api/v1/campaigns', campaign({ name: 'c'.repeat(65) }), /name is longer than 64/],
      ['POST', '/api/v1/campaigns', campaign({ stages: many(101, () => ({ share: 1 })) }), /stages has 101 items; at most 100/],
      ['POST', '/api/v1/campaigns', campaign({ stages: [{ share: '0.5' }] }), /stages\[0\]\.share must be a number/],
      ['POST', '/api/v1/campaigns', campaign({ stages: [{ share: 2 }] }), /stages\[0\]\.share must be from 0 to 1/],
      ['POST', '/api/v1/campaigns', campaign({ stages: [{ count: 1.5 }] }), /stages\[0\]\.count must be a whole number/],
      ['POST', '/api/v1/campaigns', campaign({ stages: [{ share: 1, startAfterMs: 1e13 }] }), /startAfterMs must be from 0 to/],
      ['POST', '/api/v1/campaigns', campaign({ stages: [{ share: 1, minSoakMs: -1 }] }), /minSoakMs must be from 0 to/],
      ['POST', '/api/v1/campaigns', campaign({ stages: [{ share: 1, successThreshold: 1.5 }] }), /successThreshold must be from 0 to 1/],
      ['POST', '/api/v1/campaigns', campaign({ images: many(65, (i) => ({ hardwareId: `hw-${i}`, image: ECM.name })) }), /images has 65 items; at most 64/],
      ['POST', '/api/v1/campaigns', campaign({ images: [{ hardwareId: 'ecm-x1', image: 'i'.repeat(1025) }] }), /images\[0\]\.image is longer than 1024/],
      ['POST', '/api/v1/campaigns', campaign({ halt: { minSample: 0.5 } }), /halt\.minSample must be a whole number/],
      ['POST', '/api/v1/campaigns', campaign({ halt: { maxFailures: 0 } }), /halt\.maxFailures must be from 1/],
      ['POST', '/api/v1/campaigns', campaign({ halt: { maxFailureRate: 'high' } }), /halt\.maxFailureRate must be a number/],
      ['POST', '/api/v1/campaigns', campaign({ halt: { onAttack: 'no' } }), /halt\.onAttack must be true or false/],
      ['POST', '/api/v1/campaigns', campaign({ includeNewVehicles: 'yes' }), /includeNewVehicles must be true or false/],
      ['POST', '/api/v1/campaigns', campaign({ maintenanceWindow: { startHour: 1.5, endHour: 5 } }), /startHour must be a whole number/],
      ['POST', '/api/v1/campaigns', campaign({ maintenanceWindow: { startHour: 5, endHour: 5 } }), /holds no hour/],
      ['POST', '/api/v1/campaigns', campaign({ maintenanceWindow: { startHour: 24, endHour: 0 } }), /holds no hour/],
      ['POST', '/api/v1/campaigns', campaign({ stages: undefined, preset: 'fast' }), /preset "fast" is unknown/],
      ['POST', '/api/v1/campaigns', campaign({ preset: 'white-paper' }), /give the stages one way/],
      ['POST', '/api/v1/campaigns', campaign({ stages: undefined, ramp: { first: '1%', factor: 4 } }), /ramp\.first must be a number/],
      ['POST', '/api/v1/campaigns', campaign({ stages: undefined, ramp: { first: 0.1, factor: 4, minSoakMs: 1e13 } }), /ramp\.minSoakMs must be from 0/],
      ['POST', `/api/v1/campaigns/${'c'.repeat(65)}/start`, undefined, /campaign name or id is longer than 64/],
      ['GET', `/api/v1/campaigns/${'c'.repeat(65)}`, undefined, /campaign name or id is longer than 64/],
      ['POST', `/api/v1/campaigns/opin-ramp-ok/${'x'.repeat(1000)}`, undefined, /unknown action "x{40}\.\.\."/],
    ];
    const before = await snapshot();
    for (const [method, path, body, message] of cases) {
      const answer = await raw(method, path, body === undefined ? undefined : JSON.stringify(body));
      const error = answer.json.error as { code?: string; message?: string } | undefined;
      // The request named in the result, so a failure says which case broke.
      expect({ method, path: path.slice(0, 80), status: answer.status, code: error?.code }).toEqual({ method, path: path.slice(0, 80), status: 400, code: 'bad_request' });
      expect({ path: path.slice(0, 80), message: error?.message }).toEqual({ path: path.slice(0, 80), message: expect.stringMatching(message) });
      // A refusal quotes at most a short piece of what it refused.
      expect(error!.message!.length).toBeLessThan(300);
    }
    expect(await snapshot()).toEqual(before);
    expect((await repos.operator('GET', `/api/v1/vehicles/${fresh.vin}`)).status).toBe(404);
  }, 60_000);
});
