// Issue 14, vehicle authentication at the Director, over real HTTP against real servers on loopback:
// per-key replay bounds (docs/threat-model.md HR-5), replay protection that survives a restart
// (HR-9a), a vehicle whose clock is off (HR-9j), and ECU keys that can never verify (HR-9e).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as noble from '@noble/ed25519';
import { startDirector, type RunningDirector } from '../../director-repo/server.js';
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { AuthenticationError, StorageError } from '../../shared/core/errors.js';
import { clockOffsetFromRefusal, NonceCache, signVehicleRequest, VEHICLE_AUTH_SCHEME, type SignedRequestMarks } from '../../shared/uptane/vehicle-auth.js';
import { authScheme, startManifestRecorder, type ManifestRecorder } from '../support/attacker.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { registeredVehicle } from '../support/registered-vehicle.js';
import { sqliteOf } from '../../sim/harness/sqlite-storage.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

let clock: FixedClock;
let repos: Repositories;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'vehicle-auth');
}, 60_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await repos.close();
});

interface Answer {
  readonly status: number;
  readonly json: { error?: { code: string; message: string; serverTime?: string }; token?: string };
}

async function call(baseUrl: string, method: string, path: string, authorization: string): Promise<Answer> {
  const response = await fetch(`${baseUrl}${path}`, { method, headers: { authorization } });
  return { status: response.status, json: (await response.json()) as Answer['json'] };
}

/** POST /vehicle/session signed by the vehicle's primary at `at` (default: now by the test clock). */
function openSession(baseUrl: string, car: TestVehicle, at = clock.now()): Promise<Answer> {
  return call(baseUrl, 'POST', '/vehicle/session', signVehicleRequest(car.primary.key, { method: 'POST', path: '/vehicle/session' }, at, nodeBackend));
}

function testVehicle(vin: string): TestVehicle {
  const car = new TestVehicle(vin, [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true }, { serial: `${vin}-ecm`, hardwareId: 'ecm-x1' }], clock);
  cleanups.push(() => car.cleanup());
  return car;
}

async function registered(vin: string): Promise<TestVehicle> {
  const car = testVehicle(vin);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  return car;
}

// ---------------------------------------------------------------------------------------------

describe('HR-5: one vehicle flooding signed requests cannot lock out another', () => {
  const CAP = 6;
  let capped: RunningDirector;

  beforeAll(async () => {
    // A second Director on the fixture's Image repository, with a small per-key nonce cap so the
    // flood is short (the default is DEFAULT_MAX_NONCES_PER_KEY).
    capped = await startDirector({
      dataDir: join(repos.dataDir, 'capped-director'),
      imageRepoUrl: repos.image.url,
      imageRootFile: join(repos.dataDir, 'image-root.json'),
      clock,
      vehicleAuth: { maxSignedNoncesPerKey: CAP },
    });
    cleanups.push(() => capped.close());
  });

  it("refuses the flooding key past its own cap while every other key's signed requests still pass, and forgets none of them", async () => {
    const flooder = testVehicle('FLOOD1');
    const victim = testVehicle('VICTIM1');
    for (const car of [flooder, victim]) await capped.services.inventory.registerVehicle(car.registration(), 'test');

    // The victim's first request, accepted before the flood; its header is replayed afterwards.
    const victimHeader = signVehicleRequest(victim.primary.key, { method: 'POST', path: '/vehicle/session' }, clock.now(), nodeBackend);
    expect((await call(capped.url, 'POST', '/vehicle/session', victimHeader)).status).toBe(201);

    // The flood: fresh, validly signed requests until refused (bounded).
    const statuses: number[] = [];
    let refusal: Answer | undefined;
    for (let i = 0; i < 4 * CAP && refusal === undefined; i++) {
      const answer = await openSession(capped.url, flooder);
      statuses.push(answer.status);
      if (answer.status !== 201) refusal = answer;
    }
    expect(statuses).toEqual([...Array<number>(CAP).fill(201), 401]);
    expect(refusal!.json.error).toMatchObject({ code: 'unauthorized', message: expect.stringMatching(/too many signed requests from this key/) });

    // The victim is untouched: its own cap's worth of new signed requests passes...
    for (let i = 1; i < CAP; i++) expect((await openSession(capped.url, victim)).status).toBe(201);
    // ...and the flood evicted none of its nonces: its first header is still a replay.
    const replayed = await call(capped.url, 'POST', '/vehicle/session', victimHeader);
    expect(replayed.status).toBe(401);
    expect(replayed.json.error!.message).toMatch(/replayed/);

    // Once its nonces expire (twice the 5-minute window), the flooding key signs again.
    clock.advance(2 * 5 * 60_000 + 2000);
    expect((await openSession(capped.url, flooder)).status).toBe(201);
  });
});

// ---------------------------------------------------------------------------------------------

describe('HR-9a: a signed request header accepted before a restart is refused after it', () => {
  it('the same header sent many times at once, by a key the Director has not seen since it started, opens one session', async () => {
    const car = await registered('SAMENONCE1');
    const header = car.authHeader('POST', '/vehicle/session');
    const answers = await Promise.all(Array.from({ length: 6 }, () => call(repos.director.url, 'POST', '/vehicle/session', header)));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 401, 401, 401, 401, 401]);
    for (const refused of answers.filter((a) => a.status === 401)) expect(refused.json.error!.message).toMatch(/replayed/);
  });

  it('refuses the very same headers after a restart on the same data folder; new ones pass', async () => {
    const car = await registered('RESTART1');
    const sessionHeader = car.authHeader('POST', '/vehicle/session');
    const metadataHeader = car.authHeader('GET', '/vehicle/metadata/timestamp.json');
    // Never sent before the restart: stamped before the newest accepted one, with a fresh nonce.
    const olderUnsent = signVehicleRequest(car.primary.key, { method: 'POST', path: '/vehicle/session' }, new Date(clock.now().getTime() - 30_000), nodeBackend);
    expect((await call(repos.director.url, 'POST', '/vehicle/session', sessionHeader)).status).toBe(201);
    expect((await fetch(`${repos.director.url}/vehicle/metadata/timestamp.json`, { headers: { authorization: metadataHeader } })).status).toBe(200);

    // The mark was written without an fsync of its own; every other commit still has one.
    expect(sqliteOf(repos.director.storage).db.pragma('synchronous', { simple: true })).toBe(2);
    await repos.restartDirector(); // the fixture's clock moves on by a second, as a restart takes time
    const url = repos.director.url;
    for (const [method, path, header] of [
      ['POST', '/vehicle/session', sessionHeader],
      ['GET', '/vehicle/metadata/timestamp.json', metadataHeader],
      ['POST', '/vehicle/session', olderUnsent],
    ] as const) {
      const answer = await call(url, method, path, header);
      expect({ method, path, status: answer.status, code: answer.json.error?.code }).toEqual({ method, path, status: 401, code: 'unauthorized' });
      expect(answer.json.error!.message).toMatch(/replayed/);
    }

    // The honest vehicle's next requests, stamped after the restart, pass; a key that never signed before is not affected.
    expect((await openSession(url, car)).status).toBe(201);
    const other = await registered('RESTART2');
    expect((await openSession(url, other)).status).toBe(201);
  });
});

// ---------------------------------------------------------------------------------------------

describe("HR-9j: a primary whose clock is off learns the Director's time for its signed requests only", () => {
  let recorder: ManifestRecorder;

  beforeAll(async () => {
    recorder = await startManifestRecorder(() => repos.director.url);
    cleanups.push(() => recorder.close());
  });

  /** A simulated vehicle (a primary and a secondary) whose every ECU reads `vehicleClock`, talking to the Director through the recorder. */
  async function vehicleWithClock(vin: string, vehicleClock: FixedClock, log: string[]) {
    const directory = mkdtempSync(join(tmpdir(), 'uptane-skewed-car-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    return registeredVehicle(repos, {
      directory,
      vin,
      clock: vehicleClock,
      directorUrl: recorder.url,
      log: (line) => log.push(line),
      // ECU serials are unique across the fleet.
      primary: { serial: `${vin}-tcu`, hardwareId: 'tcu-a' },
      secondaries: [{ serial: `${vin}-ecm`, hardwareId: 'ecm-x1' }],
    });
  }

  const since = (mark: number) => recorder.requests.slice(mark).map((r) => `${r.method} ${r.path.split('?')[0]} ${authScheme(r) ?? '-'} ${r.status}`);

  it('the Director answers a skewed signed request with clock_skew and its time', async () => {
    const car = await registered('SKEWED0');
    const answer = await openSession(repos.director.url, car, new Date(clock.now().getTime() - 60 * 60_000));
    expect(answer.status).toBe(401);
    expect(answer.json.error).toMatchObject({ code: 'clock_skew', serverTime: clock.now().toISOString().replace(/\.\d{3}Z$/, 'Z') });
  });

  it('a primary one hour behind opens its session, and its cycle completes', async () => {
    const log: string[] = [];
    const car = await vehicleWithClock('SKEWEDBEHIND1', new FixedClock(clock.now().getTime() - 60 * 60_000), log);
    const mark = recorder.requests.length;
    expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    const requests = since(mark);
    // Refused once for its clock, then the session with the Director's time, then only the token.
    expect(requests.slice(0, 3)).toEqual([
      `POST /vehicle/session ${VEHICLE_AUTH_SCHEME} 401`,
      `POST /vehicle/session ${VEHICLE_AUTH_SCHEME} 201`,
      'POST /vehicle/manifest Bearer 200',
    ]);
    expect(requests.slice(3).every((r) => r.startsWith('GET /vehicle/metadata/') && r.includes(' Bearer '))).toBe(true);
    expect(log.some((line) => /the Director's clock is 3600 s ahead of this ECU's/.test(line))).toBe(true);
  });

  it("a primary a day and an hour ahead opens its session too, yet judges metadata expiry by its own clock", async () => {
    const log: string[] = [];
    // The Director signs timestamps for one day: by this vehicle's clock, they have expired.
    const car = await vehicleWithClock('SKEWEDAHEAD1', new FixedClock(clock.now().getTime() + 25 * 60 * 60_000), log);
    const mark = recorder.requests.length;
    const result = await car.primary.runCycle();
    const requests = since(mark);
    expect(requests.slice(0, 2)).toEqual([`POST /vehicle/session ${VEHICLE_AUTH_SCHEME} 401`, `POST /vehicle/session ${VEHICLE_AUTH_SCHEME} 201`]);
    // Had the offset reached the freshness checks, the Director's timestamp would have looked current.
    expect(result).toMatchObject({ status: 'failed', error: { code: 'expired' } });
    expect(requests.some((r) => r.startsWith('GET /vehicle/metadata/timestamp.json Bearer 200'))).toBe(true);
    expect(log.some((line) => /the Director's clock is 90000 s behind this ECU's/.test(line))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

describe('HR-9e: ECU keys that can never verify are refused at registration and replacement', () => {
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
  const ORDER_8 = 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a';
  const honest = PrivateKey.fromLabel('vehicle-auth/honest').publicKey.bytes;
  const UNUSABLE: ReadonlyArray<readonly [string, string]> = [
    ['all zeros', '00'.repeat(32)],
    ['the identity', `01${'00'.repeat(31)}`],
    ['small order (2)', `ec${'ff'.repeat(30)}7f`],
    ['small order (8)', ORDER_8],
    ['non-canonical y (p + 1, the identity again)', `ee${'ff'.repeat(30)}7f`],
    ['non-canonical sign of x = 0', `01${'00'.repeat(30)}80`],
    ['not a curve point', `02${'00'.repeat(31)}`],
    ['mixed order (a real key plus a torsion point)', hex(noble.Point.fromBytes(honest).add(noble.Point.fromHex(ORDER_8)).toBytes())],
  ];

  it.each(UNUSABLE)('registration refuses %s (400 unusable_key), and registers nothing', async (_name, publicKey) => {
    const vin = `BADKEY${UNUSABLE.findIndex(([, key]) => key === publicKey)}`;
    const good = testVehicle(vin).registration();
    const body = { ...good, ecus: good.ecus.map((ecu) => (ecu.primary ? ecu : { ...ecu, publicKey })) };
    const refused = await repos.operator('POST', '/api/v1/vehicles', body);
    expect({ status: refused.status, code: (refused.json.error as { code?: string } | undefined)?.code }).toEqual({ status: 400, code: 'unusable_key' });
    expect((refused.json.error as { message: string }).message).toMatch(new RegExp(`${vin}-ecm.*can never verify`));
    expect((await repos.operator('GET', `/api/v1/vehicles/${vin}`)).status).toBe(404);
    // The same vehicle with the ECU's real key registers.
    expect((await repos.operator('POST', '/api/v1/vehicles', good)).status).toBe(201);
  });

  it('ECU replacement refuses each of them (400 unusable_key), and the ECU keeps its key', async () => {
    const car = await registered('BADKEYREPLACE');
    const before = await repos.operator('GET', `/api/v1/vehicles/${car.vin}`);
    for (const [name, publicKey] of UNUSABLE) {
      const refused = await repos.operator('POST', `/api/v1/vehicles/${car.vin}/ecus/${car.vin}-ecm/replace`, { serial: `${car.vin}-ecm2`, hardwareId: 'ecm-x1', publicKey });
      expect({ name, status: refused.status, code: (refused.json.error as { code?: string } | undefined)?.code }).toEqual({ name, status: 400, code: 'unusable_key' });
    }
    expect((await repos.operator('GET', `/api/v1/vehicles/${car.vin}`)).json.ecus).toEqual(before.json.ecus);
  });
});

// ---------------------------------------------------------------------------------------------

describe('the pieces on their own', () => {
  /**
   * Marks in memory, counting how often a key's mark was read (once per key the cache holds). Each
   * answer comes a turn of the event loop later, as a database's would, and a write can be made to
   * fail (the database gone).
   */
  class MemoryMarks implements SignedRequestMarks {
    readonly marks = new Map<string, number>();
    readonly reads: string[] = [];
    failWrites = false;
    async newest(keyid: string): Promise<number | undefined> {
      this.reads.push(keyid);
      await new Promise((resolve) => setImmediate(resolve));
      return this.marks.get(keyid);
    }
    async record(keyid: string, timeMs: number): Promise<void> {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.failWrites) throw new StorageError('the marks database is gone');
      this.marks.set(keyid, Math.max(timeMs, this.marks.get(keyid) ?? timeMs));
    }
  }

  const windowMs = 5 * 60_000;
  const t0 = FIXTURE_NOW.getTime();

  it('NonceCache drops a key once all its nonces expired (idle vehicles hold no memory), and its mark still refuses old times', async () => {
    const marks = new MemoryMarks();
    const cache = new NonceCache(windowMs, { marks, maxNoncesPerKey: 4 });
    await cache.remember('key-a', 'n1', t0, t0);
    await cache.remember('key-a', 'n2', t0, t0);
    expect(marks.reads).toEqual(['key-a']);
    expect(marks.marks.get('key-a')).toBe(t0);
    // Another key's request after key-a's nonces expired drops key-a's entry...
    const later = t0 + 2 * windowMs + 2000;
    await cache.remember('key-b', 'n1', later, later);
    // ...so key-a's next request reads its mark again, which refuses a time at or before it.
    await expect(cache.remember('key-a', 'n3', t0, later)).rejects.toThrow(/replayed/);
    expect(marks.reads).toEqual(['key-a', 'key-b', 'key-a']);
    await cache.remember('key-a', 'n3', later, later);
    expect(marks.marks.get('key-a')).toBe(later);
  });

  it('NonceCache accepts exactly one of the same nonce sent many times at once, the marks answering slowly (HR-5)', async () => {
    for (const known of [false, true]) {
      const marks = new MemoryMarks();
      const cache = new NonceCache(windowMs, { marks });
      // A key new to the cache (its mark read first) and one it holds already.
      if (known) await cache.remember('key-a', 'earlier', t0 - 1000, t0);
      const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => cache.remember('key-a', 'n1', t0, t0)));
      expect({ known, accepted: outcomes.filter((o) => o.status === 'fulfilled').length }).toEqual({ known, accepted: 1 });
      for (const outcome of outcomes.filter((o) => o.status === 'rejected')) expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(AuthenticationError);
      expect(marks.reads).toEqual(['key-a']); // one read, however many requests came together
    }
  });

  it('NonceCache accepts no request of a key before the mark covering its time is stored (HR-9a), and keeps other keys going', async () => {
    const marks = new MemoryMarks();
    const cache = new NonceCache(windowMs, { marks });
    const order: string[] = [];
    const settle = (name: string, done: Promise<void>) => done.then(() => order.push(`${name} accepted, mark ${marks.marks.get(name.split('/')[0]!) ?? 'none'}`));
    await cache.remember('key-a', 'n0', t0 - 1000, t0);
    // Two requests of key-a in a new second: the second needs no write of its own, but must not be
    // accepted while the first's write is still on its way.
    await Promise.all([settle('key-a/1', cache.remember('key-a', 'n1', t0, t0)), settle('key-a/2', cache.remember('key-a', 'n2', t0, t0)), settle('key-b/1', cache.remember('key-b', 'n1', t0, t0))]);
    expect(order.filter((line) => line.startsWith('key-a'))).toEqual([`key-a/1 accepted, mark ${t0}`, `key-a/2 accepted, mark ${t0}`]);
    expect(order).toContain(`key-b/1 accepted, mark ${t0}`);
  });

  it('NonceCache records nothing when the mark cannot be stored: the request is refused with the store\'s error, and its retry is judged anew', async () => {
    const marks = new MemoryMarks();
    const cache = new NonceCache(windowMs, { marks });
    marks.failWrites = true;
    await expect(cache.remember('key-a', 'n1', t0, t0)).rejects.toBeInstanceOf(StorageError);
    expect(marks.marks.has('key-a')).toBe(false);
    marks.failWrites = false;
    await cache.remember('key-a', 'n1', t0, t0); // the nonce was not kept: the vehicle's retry passes
    await expect(cache.remember('key-a', 'n1', t0, t0)).rejects.toThrow(/nonce already used/);
    expect(marks.marks.get('key-a')).toBe(t0);
  });

  it('clockOffsetFromRefusal reads only a 401 clock_skew answer with a well-formed serverTime', () => {
    const body = (value: unknown) => Buffer.from(JSON.stringify(value));
    const at = Date.parse('2026-06-01T01:00:00Z');
    expect(clockOffsetFromRefusal(401, body({ error: { code: 'clock_skew', message: 'x', serverTime: '2026-06-01T00:00:00Z' } }), at)).toBe(-3_600_000);
    for (const [status, answer] of [
      [400, body({ error: { code: 'clock_skew', serverTime: '2026-06-01T00:00:00Z' } })],
      [401, body({ error: { code: 'unauthorized', serverTime: '2026-06-01T00:00:00Z' } })],
      [401, body({ error: { code: 'clock_skew', serverTime: 'yesterday' } })],
      [401, body({ error: { code: 'clock_skew', serverTime: 1_780_000_000 } })],
      [401, body({ error: { code: 'clock_skew', serverTime: '2026-13-45T99:99:99Z' } })],
      [401, body(null)],
      [401, Buffer.from('not json')],
    ] as const) {
      expect(clockOffsetFromRefusal(status, answer, at)).toBeUndefined();
    }
  });
});
