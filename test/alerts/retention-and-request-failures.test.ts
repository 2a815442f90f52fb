// Two gaps of the alerts outbox closed (issue 19): finished alerts past their retention leave the
// outbox on the check timer, a bounded batch at a time, while a pending one stays; and a request the
// database fails (a manifest while another process holds SQLite's write lock) raises database.error,
// once per interval however many requests fail, sent straight to the webhook since the outbox is in
// the same locked database; on PostgreSQL, a manifest whose statements wait on a table another session
// holds locked until the statement timeout ends them. Real Directors, Image repository, SQLite,
// PostgreSQL and webhook receiver on loopback.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FixedClock } from '../../shared/core/clock.js';
import { verifyWebhook } from '../../director-repo/alerts/webhook-signature.js';
import { isDatabaseFailure } from '../../director-repo/alerts/alert-hub.js';
import { DatabaseUnavailableError, StorageError } from '../../shared/core/errors.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';
import pg from 'pg';
import type { RunningDirector } from '../../director-repo/server.js';
import { describePostgres, TEST_DATABASE_URL } from '../support/postgres.js';
import { startWebhookReceiver, type ReceivedHook } from '../support/webhook-receiver.js';
import { startReplicas, type ReplicaSet } from '../replicas/replica-harness.js';

const SECRET = 'the-webhook-secret-for-tests';
const DAY = 86_400_000;

let clock: FixedClock;
let repos: Repositories;
const received: ReceivedHook[] = [];
let receiverClose: () => Promise<void>;

beforeEach(async () => {
  received.length = 0;
  const receiver = await startWebhookReceiver(received);
  receiverClose = receiver.close;
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'alert-retention', {
    alerts: {
      webhooks: [receiver.url],
      webhookSecret: SECRET,
      checkIntervalMs: 3_600_000,
      deliveryIntervalMs: 3_600_000,
      retentionMs: 30 * DAY,
      pruneBatch: 2,
      pruneBatchesPerRound: 2,
    },
  });
});

afterEach(async () => {
  await repos.close();
  await receiverClose();
});

describe('alert retention', () => {
  it('prunes finished alerts older than the retention on the check timer, at most a bounded number per round; a pending one stays', async () => {
    const hub = repos.director.alerts.hub;
    for (let i = 0; i < 5; i++) await hub.raise('campaign.halted', { test: 'old', i }, null);
    await repos.director.alerts.deliverNow();
    await receiverClose(); // the next one cannot be delivered: it stays pending
    await hub.raise('campaign.halted', { test: 'undelivered' }, null);
    await repos.director.alerts.deliverNow();
    const all = async () => repos.director.storage.alerts.recent(1_000);
    const ours = async (test: string) => (await all()).filter((a) => (JSON.parse(a.body) as { data: { test?: string } }).data.test === test);
    expect((await ours('old')).map((a) => a.deliveries[0]!.state)).toEqual(Array(5).fill('delivered'));
    expect((await ours('undelivered'))[0]!.deliveries[0]).toMatchObject({ state: 'pending', attempts: 1 });

    // A day short of the retention: nothing goes.
    clock.advance(29 * DAY);
    await repos.director.alerts.checkNow();
    expect((await ours('old')).length).toBe(5);

    clock.advance(2 * DAY);
    const cutoff = clock.now().getTime() - 30 * DAY;
    const old = async () => (await all()).filter((a) => Date.parse(a.createdAt) < cutoff);
    const oldBefore = (await old()).length;
    expect(oldBefore).toBeGreaterThanOrEqual(6); // ours, and the expiry warnings raised at start
    await repos.director.alerts.checkNow();
    // Two batches of two per round.
    expect((await old()).length).toBe(oldBefore - 4);
    for (let round = 0; round < 5; round++) await repos.director.alerts.checkNow();
    expect(await ours('old')).toEqual([]);
    expect((await ours('undelivered')).length).toBe(1);
    expect((await old()).every((a) => a.deliveries.some((d) => d.state === 'pending'))).toBe(true);
  }, 60_000);
});

describe('what counts as a failure of the database (isDatabaseFailure)', () => {
  it('the database unavailable or read-only, also when wrapped in another error; never a constraint or another error', async () => {
    // Real errors of better-sqlite3, by the statements that raise them.
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    db.exec('INSERT INTO t VALUES (1)');
    const thrown = (work: () => unknown): unknown => {
      try {
        work();
      } catch (err) {
        return err;
      }
      throw new Error('nothing thrown');
    };
    const constraint = thrown(() => db.exec('INSERT INTO t VALUES (1)'));
    db.pragma('query_only = 1');
    const readOnly = thrown(() => db.exec('INSERT INTO t VALUES (2)'));
    db.close();
    expect((constraint as { code: string }).code).toBe('SQLITE_CONSTRAINT_PRIMARYKEY');
    expect((readOnly as { code: string }).code).toBe('SQLITE_READONLY');
    expect(isDatabaseFailure(readOnly)).toBe(true);
    expect(isDatabaseFailure(new StorageError('could not write', { cause: readOnly }))).toBe(true);
    expect(isDatabaseFailure(new DatabaseUnavailableError('the database is unavailable', 5))).toBe(true);
    expect(isDatabaseFailure(constraint)).toBe(false);
    expect(isDatabaseFailure(new StorageError('a file of the server'))).toBe(false);
    expect(isDatabaseFailure(new Error('anything'))).toBe(false);
    expect(isDatabaseFailure(undefined)).toBe(false);
  });
});

describe('database errors in request handling', () => {
  it('raises database.error when a manifest fails on a locked database, once per interval, sent straight to the webhook', async () => {
    const car = new TestVehicle('VIN0000000000077', [{ serial: 'tcu-1', hardwareId: 'tcu-a', primary: true }], clock);
    try {
      expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
      const told: string[] = [];
      repos.director.alerts.hub.subscribe((notice) => told.push(notice.event));
      // Another process holds the write lock past the Director's busy timeout (5 s).
      const other = new Database(join(repos.dataDir, 'director', 'director.sqlite'));
      try {
        other.exec('BEGIN EXCLUSIVE');
        const first = await car.sendManifest(repos.director.url, car.manifest());
        expect(first.status).toBeGreaterThanOrEqual(500);
        // The outbox is in the locked database too: the alert goes to the webhook unrecorded.
        const deadline = Date.now() + 30_000;
        while (!received.some((r) => r.headers['x-uptane-event'] === 'database.error')) {
          if (Date.now() > deadline) throw new Error('no database.error reached the webhook');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const hook = received.find((r) => r.headers['x-uptane-event'] === 'database.error')!;
        expect(verifyWebhook(SECRET, hook.headers, hook.body, clock.now())).toMatchObject({ ok: true, event: 'database.error' });
        expect(JSON.parse(hook.body.toString())).toMatchObject({ event: 'database.error', data: { message: expect.stringMatching(/locked|busy/i), errorsSinceLastAlert: 1 } });

        // The next failing request, within the interval: counted, not alerted again.
        clock.advance(1_000);
        const second = await car.sendManifest(repos.director.url, car.manifest());
        expect(second.status).toBeGreaterThanOrEqual(500);
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      expect(received.filter((r) => r.headers['x-uptane-event'] === 'database.error').length).toBe(1);
      expect(told).toEqual(['database.error']);

      // The lock gone, intake works again, and nothing about it is an alert.
      clock.advance(1_000);
      expect((await car.sendManifest(repos.director.url, car.manifest())).status).toBe(200);
      expect(told).toEqual(['database.error']);
    } finally {
      car.cleanup();
    }
  }, 90_000);

  it('a request refused for its own reasons (a wrong token, bad input, a duplicate) raises nothing', async () => {
    const told: string[] = [];
    repos.director.alerts.hub.subscribe((notice) => told.push(notice.event));
    expect((await fetch(`${repos.director.url}/api/v1/vehicles`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${repos.director.url}/vehicle/manifest`, { method: 'POST', body: '{}' })).status).toBe(401);
    expect((await repos.operator('POST', '/api/v1/vehicles', { vin: '<script>' })).status).toBe(400);
    // A vehicle registered twice: the database refuses the duplicate (a constraint), a conflict, not a failure of it.
    const car = new TestVehicle('VIN0000000000078', [{ serial: 'tcu-9', hardwareId: 'tcu-a', primary: true }], clock);
    try {
      expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
      expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(409);
    } finally {
      car.cleanup();
    }
    expect(told).toEqual([]);
  });
});

describePostgres('database errors in request handling, on PostgreSQL', () => {
  let set: ReplicaSet;
  let director: RunningDirector;

  beforeAll(async () => {
    const started = await startReplicas('alert_request_failures', 1);
    set = started.set;
    director = started.replicas[0]!;
  }, 60_000);

  afterAll(async () => {
    await set?.close();
  });

  it('raises database.error into the outbox when a manifest times out on a locked table', async () => {
    const car = await set.vehicle(director, 'PG-DB-FAIL-1');
    const told: string[] = [];
    director.alerts.hub.subscribe((notice) => told.push(notice.event));
    const locker = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${set.schema}".vehicles IN ACCESS EXCLUSIVE MODE`);
      const refused = await car.sendManifest(director.url, car.manifest());
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ error: { code: 'database_unavailable' } });
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    const deadline = Date.now() + 10_000;
    while (!told.includes('database.error')) {
      if (Date.now() > deadline) throw new Error('database.error not raised');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const [alert] = (await director.storage.alerts.recent(10)).filter((a) => a.event === 'database.error');
    expect(JSON.parse(alert!.body)).toMatchObject({ data: { message: expect.stringMatching(/database is unavailable/), errorsSinceLastAlert: 1 } });
    expect((await car.sendManifest(director.url, car.manifest())).status).toBe(200);
  }, 60_000);
});
