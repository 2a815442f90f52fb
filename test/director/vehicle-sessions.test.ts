// Vehicle session tokens at the Director (director-repo/vehicle-sessions.ts), over real HTTP against
// a real Director on loopback: what a token opens, and every way a token is refused (401 with the
// JSON error shape, nothing recorded). docs/threat-model.md L4 (the VIN comes from the
// credential), L10 (expired or invalid tokens are refused; the vehicle re-authenticates).
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import type { TargetsSigned } from '../../shared/core/metadata/types.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

const ENGINE_V2: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const TARGETS = '/vehicle/metadata/targets.json';
const SESSION_MS = 15 * 60 * 1000;

let clock: FixedClock;
let repos: Repositories;
const vehicles: TestVehicle[] = [];

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'sessions');
  await repos.publishImages([ENGINE_V2]);
}, 60_000);

afterAll(async () => {
  for (const v of vehicles) v.cleanup();
  await repos.close();
});

const url = () => repos.director.url;

/** A registered vehicle (a primary and an engine ECU) with ENGINE_V2 assigned to its engine ECU. */
async function registered(vin: string): Promise<TestVehicle> {
  const car = new TestVehicle(vin, [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true }, { serial: `${vin}-ecm`, hardwareId: 'ecm-x1' }], clock);
  vehicles.push(car);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  expect((await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial: `${vin}-ecm`, image: ENGINE_V2.name })).status).toBe(201);
  return car;
}

async function openSession(car: TestVehicle): Promise<{ token: string; expires: string; expiresIn: number }> {
  const response = await fetch(`${url()}/vehicle/session`, { method: 'POST', headers: { authorization: car.authHeader('POST', '/vehicle/session') } });
  expect(response.status).toBe(201);
  return (await response.json()) as { token: string; expires: string; expiresIn: number };
}

interface Answer {
  readonly status: number;
  readonly body: Buffer;
}

async function request(method: string, path: string, authorization: string | undefined, body?: Uint8Array): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== undefined) headers.authorization = authorization;
  const response = await fetch(`${url()}${path}`, { method, headers, body });
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
}

const getTargets = (authorization: string) => request('GET', TARGETS, authorization);
const postManifest = (car: TestVehicle, authorization: string) => request('POST', '/vehicle/manifest', authorization, Buffer.from(JSON.stringify(car.manifest())));

/** 401 with the JSON error shape every error leaves with, and a message matching `message`. */
function expectUnauthorized(answer: Answer, message: RegExp): void {
  expect(answer.status).toBe(401);
  const json = JSON.parse(answer.body.toString('utf8')) as { error: { code: string; message: string } };
  expect(Object.keys(json)).toEqual(['error']);
  expect(json.error.code).toBe('unauthorized');
  expect(json.error.message).toMatch(message);
}

/** Everything the Director shows about a vehicle (ECUs, assignments, manifests, attacks) and its stored signed metadata. */
async function recordOf(vin: string): Promise<unknown> {
  const status = await repos.operator('GET', `/api/v1/vehicles/${vin}`);
  expect(status.status).toBe(200);
  const metadata = (await Promise.all((['timestamp', 'snapshot', 'targets'] as const).map((role) => repos.director.storage.vehicleMetadata.file(vin, role)))).map((file) => file?.bytes.toString('base64'));
  return { status: status.json, metadata };
}

const vinOf = (targets: Buffer) => (JSON.parse(targets.toString('utf8')) as { signed: TargetsSigned }).signed.custom?.vin;

/** The token with its payload (the VIN, keyid and expiry, JSON) changed by `edit`, its MAC kept. */
function withPayload(token: string, edit: (claims: Record<string, unknown>) => void): string {
  const [payload, mac] = token.split('.') as [string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  edit(claims);
  return `${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${mac}`;
}

const NOT_ISSUED = /not issued by this Director/;
const MALFORMED = /malformed session token/;

describe('what a session token opens', () => {
  it("opens the vehicle's metadata GETs and its manifest POST, as often as it polls, for 15 minutes", async () => {
    const car = await registered('SESSION1');
    const session = await openSession(car);
    expect(session.expiresIn).toBe(SESSION_MS / 1000);
    expect(session.expires).toBe(new Date(clock.now().getTime() + SESSION_MS).toISOString());
    expect(session.token.length).toBeLessThanOrEqual(512);

    // The same token again and again: unlike a signed header, it is not single-use.
    for (const file of ['timestamp.json', 'snapshot.json', 'targets.json', 'targets.json']) {
      const answer = await request('GET', `/vehicle/metadata/${file}`, `Bearer ${session.token}`);
      expect(answer.status).toBe(200);
      const role = file.replace('.json', '') as 'timestamp' | 'snapshot' | 'targets';
      expect(answer.body.equals((await repos.director.storage.vehicleMetadata.file(car.vin, role))!.bytes)).toBe(true);
    }
    expect(vinOf((await getTargets(`Bearer ${session.token}`)).body)).toBe(car.vin);

    // The manifest is accepted with the token, and the assignment it reports installed is closed.
    car.ecu(`${car.vin}-ecm`).installed = { filename: ENGINE_V2.name, content: ENGINE_V2.content };
    const accepted = await postManifest(car, `Bearer ${session.token}`);
    expect(accepted.status).toBe(200);
    expect(JSON.parse(accepted.body.toString('utf8'))).toEqual({ accepted: true, assignmentsChanged: 1 });
    const status = await repos.operator('GET', `/api/v1/vehicles/${car.vin}`);
    expect((status.json.manifests as Array<{ accepted: boolean }>).map((m) => m.accepted)).toEqual([true]);
    expect((status.json.assignments as Array<{ state: string }>).map((a) => a.state)).toEqual(['installed']);

    // One millisecond before its expiry it still works.
    clock.advance(SESSION_MS - 1);
    expect((await getTargets(`Bearer ${session.token}`)).status).toBe(200);
  });

  it("never opens another vehicle's metadata: the VIN comes from the token, whatever the URL or body says", async () => {
    const a = await registered('SESSVICTIM');
    const b = await registered('SESSPOSER');
    const { token } = await openSession(b);
    const bearer = `Bearer ${token}`;
    // Signed on first read (vehicle-metadata.ts): what the Director serves each vehicle now.
    for (const v of [a, b]) await repos.director.services.metadata.file(v.vin, 'targets.json');
    const aTargets = (await repos.director.storage.vehicleMetadata.file(a.vin, 'targets'))!;
    const bTargets = (await repos.director.storage.vehicleMetadata.file(b.vin, 'targets'))!;
    expect(aTargets.bytes.equals(bTargets.bytes)).toBe(false);
    for (const path of [TARGETS, `${TARGETS}?vin=${a.vin}`, `/vehicle/metadata/${aTargets.version}.targets.json`]) {
      const answer = await request('GET', path, bearer);
      if (answer.status === 404) continue; // A's version number is not one of B's files
      expect(answer.status).toBe(200);
      expect(answer.body.equals(bTargets.bytes)).toBe(true);
    }
    expect((await request('GET', `/vehicle/${a.vin}/metadata/targets.json`, bearer)).status).toBe(404);

    // A's genuine manifest under B's token is checked against B, refused, and recorded against B only.
    const beforeA = await recordOf(a.vin);
    const refused = await postManifest(a, bearer);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body.toString('utf8')).error.code).toBe('manifest_inventory');
    expect(await recordOf(a.vin)).toEqual(beforeA);
  });
});

describe('session tokens the Director refuses (401, nothing recorded)', () => {
  it('refuses altered, truncated, overlong and garbage tokens, for metadata and manifests alike', async () => {
    const a = await registered('SESSALTA');
    const b = await registered('SESSALTB');
    const { token } = await openSession(b);
    const [payload, mac] = token.split('.') as [string, string];
    const { token: tokenOfA } = await openSession(a);
    const flipFirst = (text: string) => `${text[0] === 'A' ? 'B' : 'A'}${text.slice(1)}`;
    const cases: Array<[string, string, RegExp]> = [
      // The MAC check: a payload naming another vehicle (its VIN, and its VIN and key) or a later expiry.
      ['payload VIN changed', `Bearer ${withPayload(token, (c) => (c.vin = a.vin))}`, NOT_ISSUED],
      ['payload VIN and keyid changed to another vehicle', `Bearer ${withPayload(token, (c) => ((c.vin = a.vin), (c.keyid = a.primary.key.keyid)))}`, NOT_ISSUED],
      ['payload expiry extended', `Bearer ${withPayload(token, (c) => (c.expires = (c.expires as number) + 24 * 3600_000))}`, NOT_ISSUED],
      ['MAC changed', `Bearer ${payload}.${flipFirst(mac)}`, NOT_ISSUED],
      ["another vehicle's MAC", `Bearer ${payload}.${tokenOfA.split('.')[1]}`, NOT_ISSUED],
      // The format check: nothing is hashed or decoded.
      ['MAC truncated', `Bearer ${token.slice(0, -1)}`, MALFORMED],
      ['MAC missing', `Bearer ${payload}`, MALFORMED],
      ['payload missing', `Bearer .${mac}`, MALFORMED],
      ['garbage', 'Bearer !!not-a-token!!', MALFORMED],
      ['three parts', `Bearer ${payload}.${payload}.${mac}`, MALFORMED],
      // The length limit: well formed but overlong, refused before the MAC is computed.
      ['overlong', `Bearer ${'A'.repeat(600)}.${mac}`, MALFORMED],
      // No token at all.
      ['empty Bearer', 'Bearer ', /sign the request with the primary ECU key/],
      ['another scheme', `Basic ${token}`, /sign the request with the primary ECU key/],
    ];
    const beforeA = await recordOf(a.vin);
    const beforeB = await recordOf(b.vin);
    for (const [name, authorization, message] of cases) {
      const get = await getTargets(authorization);
      expect({ name, status: get.status }).toEqual({ name, status: 401 });
      expectUnauthorized(get, message);
      expectUnauthorized(await postManifest(b, authorization), message);
    }
    expect(await recordOf(a.vin)).toEqual(beforeA);
    expect(await recordOf(b.vin)).toEqual(beforeB);
    // The genuine token still works.
    expect(vinOf((await getTargets(`Bearer ${token}`)).body)).toBe(b.vin);
  });

  it('refuses an expired token, and the vehicle gets a new one with its key', async () => {
    const car = await registered('SESSEXPIRE');
    const { token } = await openSession(car);
    clock.advance(SESSION_MS);
    const before = await recordOf(car.vin);
    expectUnauthorized(await getTargets(`Bearer ${token}`), /session token expired at .*open a new session/);
    expectUnauthorized(await postManifest(car, `Bearer ${token}`), /session token expired/);
    expect(await recordOf(car.vin)).toEqual(before);
    const renewed = await openSession(car);
    expect(vinOf((await getTargets(`Bearer ${renewed.token}`)).body)).toBe(car.vin);
  });

  it('refuses a token to open a new session: only the primary ECU key extends access', async () => {
    const car = await registered('SESSRENEW');
    const { token } = await openSession(car);
    for (const path of ['/vehicle/session', '/vehicle/session/', '/vehicle/session?renew=1', '/Vehicle/Session']) {
      expectUnauthorized(await request('POST', path, `Bearer ${token}`), /not accepted for POST/);
    }
    expect((await getTargets(`Bearer ${token}`)).status).toBe(200);
  });

  it('refuses tokens issued before the Director restarted (its secret is per process)', async () => {
    const car = await registered('SESSRESTART');
    const { token } = await openSession(car);
    expect((await getTargets(`Bearer ${token}`)).status).toBe(200);
    await repos.restartDirector();
    const before = await recordOf(car.vin);
    expectUnauthorized(await getTargets(`Bearer ${token}`), NOT_ISSUED);
    expectUnauthorized(await postManifest(car, `Bearer ${token}`), NOT_ISSUED);
    expect(await recordOf(car.vin)).toEqual(before);
    const renewed = await openSession(car);
    expect(vinOf((await getTargets(`Bearer ${renewed.token}`)).body)).toBe(car.vin);
  });

  it('ends a session with the primary ECU key that opened it, even once that key is registered to another vehicle', async () => {
    const car = await registered('SESSREPLACED');
    const { token } = await openSession(car);
    // Used first, so whatever the Director remembers about the key is in place when it is replaced.
    expect((await getTargets(`Bearer ${token}`)).status).toBe(200);
    const newKey = PrivateKey.fromLabel('sessions/replacement-tcu');
    const replaced = await repos.operator('POST', `/api/v1/vehicles/${car.vin}/ecus/${car.vin}-tcu/replace`, {
      serial: `${car.vin}-tcu2`,
      hardwareId: 'tcu-a',
      publicKey: newKey.publicKey.tuf.keyval.public,
    });
    expect(replaced.status).toBe(200);
    expectUnauthorized(await getTargets(`Bearer ${token}`), /no longer registered/);

    // The old key, now the primary key of another vehicle: the old token still names the old VIN.
    const other = new TestVehicle('SESSREUSED', [{ serial: 'SESSREUSED-tcu', hardwareId: 'tcu-a', primary: true }], clock);
    vehicles.push(other);
    const registration = other.registration();
    registration.ecus[0]!.publicKey = car.primary.key.publicKey.tuf.keyval.public;
    expect((await repos.operator('POST', '/api/v1/vehicles', registration)).status).toBe(201);
    expectUnauthorized(await getTargets(`Bearer ${token}`), /no longer registered/);
  });
});
