// The Director's PostgreSQL store where it differs from SQLite: two stores on one schema are two
// replicas of the Director, and what SQLite's single writer made impossible is raced here — the same
// ECU serial registered from both, two active assignments for one ECU, manifests of one vehicle
// arriving at both at once, one operator name added twice, rival decisions on different rows (write
// skew, which only SERIALIZABLE units of work refuse). Then the database going away in the
// middle of an operation: DatabaseUnavailableError (503, retry), and the store works again after.
// What both backends must do alike is the contract suite's (director-store.contract.test.ts).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { BadRequestError, ConflictError, DatabaseUnavailableError } from '../../shared/core/errors.js';
import type { NewAssignment } from '../../director-repo/store/assignments.js';
import type { NewEcu } from '../../director-repo/store/inventory.js';
import type { AcceptedManifest, IntakeVerdict } from '../../director-repo/store/manifests.js';
import { PostgresDirectorStore } from '../../director-repo/store/postgres/director-store.js';
import { adminQuery, describePostgres, dropSchemas, TEST_DATABASE_URL, uniqueSchema, urlWithSchema } from '../support/postgres.js';

const schemas: string[] = [];
const opened: PostgresDirectorStore[] = [];
const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);

async function open(url: string, applicationName?: string): Promise<PostgresDirectorStore> {
  const store = await PostgresDirectorStore.open(url, applicationName === undefined ? {} : { applicationName });
  opened.push(store);
  return store;
}

/** Two replicas of the Director on one fresh schema. */
async function replicas(prefix: string): Promise<[PostgresDirectorStore, PostgresDirectorStore]> {
  const schema = uniqueSchema(prefix);
  schemas.push(schema);
  const url = urlWithSchema(schema);
  return Promise.all([open(url), open(url)]);
}

const ecu = (vin: string, serial: string, isPrimary: boolean): NewEcu => ({
  serial,
  vin,
  hardwareId: isPrimary ? 'hw-primary' : 'hw-secondary',
  publicKey: `pub-${serial}`,
  keyid: `keyid-${serial}`,
  isPrimary,
});

const image = (vin: string, ecuSerial: string, filename: string): NewAssignment => ({
  vin,
  ecuSerial,
  filename,
  length: 1024,
  hashes: { sha256: 'ab'.repeat(32) },
  hardwareId: 'hw-secondary',
  releaseCounter: 1,
});

async function registerVehicle(store: PostgresDirectorStore, vin: string): Promise<void> {
  await store.inventory.insertVehicle(vin, {}, at(0));
  await store.inventory.insertEcu(ecu(vin, `${vin}-p`, true), at(0));
  await store.inventory.insertEcu(ecu(vin, `${vin}-s`, false), at(0));
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` (what PostgreSQL shows of another session) until it holds; fails after 5 s. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await condition()) return;
    await pause(50);
  }
  throw new Error('the condition never held');
}

/**
 * Resolves every arrival once `parties` have arrived (later arrivals, such as a unit of work run
 * again after a serialization failure, pass at once): two units each check before either writes.
 */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return () => {
    if (++arrived >= parties) open();
    return opened;
  };
}

const NOTHING_NEW: AcceptedManifest = { ecuReports: [], attacks: [], assignmentStates: [], newAssignments: [], evidence: null, vehicleState: null, metadataStale: false };

afterAll(async () => {
  await Promise.all(opened.map((store) => store.close().catch(() => undefined)));
  await dropSchemas(schemas);
});

describePostgres('PostgresDirectorStore: two replicas on one database', () => {
  it('registers an ECU serial once when both replicas register it at the same time', async () => {
    const [a, b] = await replicas('director_pg_ecu');
    await a.inventory.insertVehicle('VIN-1', {}, at(0));
    // As services/inventory.ts does: check the serial is free, then insert, in one unit of work.
    // The barrier holds both units open together, so each checks before the other inserts.
    const checked = barrier(2);
    const register = (store: PostgresDirectorStore, keyid: string) =>
      store.unitOfWork(async (tx) => {
        if ((await tx.inventory.ecu('ECU-X')) !== undefined) throw new ConflictError('ECU ECU-X is already registered');
        await checked();
        await tx.inventory.insertEcu({ ...ecu('VIN-1', 'ECU-X', true), keyid }, at(1));
      });
    const outcomes = await Promise.allSettled([register(a, 'keyid-from-a'), register(b, 'keyid-from-b')]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!;
    expect(refused.reason).toBeInstanceOf(ConflictError);
    expect((await b.inventory.ecusOf('VIN-1')).map((e) => e.serial)).toEqual(['ECU-X']);

    // Without a unit of work, the primary key alone refuses the second, typed as a conflict.
    const plain = await Promise.allSettled([a.inventory.insertEcu(ecu('VIN-1', 'ECU-Y', false), at(2)), b.inventory.insertEcu(ecu('VIN-1', 'ECU-Y', false), at(2))]);
    expect(plain.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect((plain.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
  });

  it('keeps one active assignment per ECU when both replicas assign it at the same time', async () => {
    const [a, b] = await replicas('director_pg_assign');
    await registerVehicle(a, 'VIN-1');
    // As services/assignments.ts does: no active assignment for the ECU, so insert one.
    const checked = barrier(2);
    const assign = (store: PostgresDirectorStore, filename: string) =>
      store.unitOfWork(async (tx) => {
        const active = await tx.assignments.activeOfVehicles(['VIN-1']);
        if (active.get('VIN-1')?.some((x) => x.ecuSerial === 'VIN-1-s') === true) throw new ConflictError('VIN-1-s already has an active assignment');
        await checked();
        return tx.assignments.insert([image('VIN-1', 'VIN-1-s', filename)], { actor: 'op', now: at(1) });
      });
    const outcomes = await Promise.allSettled([assign(a, 'fw-a.bin'), assign(b, 'fw-b.bin')]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect((outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
    expect(await a.assignments.active('VIN-1')).toHaveLength(1);

    // Straight inserts from both, no check: the partial unique index refuses one, as a ConflictError.
    await a.assignments.setState((await a.assignments.active('VIN-1'))[0]!.id, 'cancelled', null, at(2));
    const plain = await Promise.allSettled([
      a.assignments.insert([image('VIN-1', 'VIN-1-s', 'fw-c.bin')], { actor: 'op', now: at(3) }),
      b.assignments.insert([image('VIN-1', 'VIN-1-s', 'fw-d.bin')], { actor: 'op', now: at(3) }),
    ]);
    expect(plain.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const reason = (plain.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason as Error;
    expect(reason).toBeInstanceOf(ConflictError);
    expect(reason.message).toMatch(/pending or in-flight assignment/);
    expect((await b.assignments.active('VIN-1')).map((x) => x.ecuSerial)).toEqual(['VIN-1-s']);
  });

  it('runs units of work as if one after the other: two replicas starting rival campaigns at once start one (no write skew)', async () => {
    const [a, b] = await replicas('director_pg_skew');
    await a.campaigns.insertGroup('fleet', 'static', null, 'op', at(0));
    const first = await a.campaigns.insertCampaign('first', 'fleet', '{}', 'op', at(0));
    const second = await a.campaigns.insertCampaign('second', 'fleet', '{}', 'op', at(0));
    // Each unit reads that no campaign runs and starts its own: different rows, so only
    // SERIALIZABLE (not READ COMMITTED, not REPEATABLE READ) sees that the two decisions clash.
    const checked = barrier(2);
    const start = (store: PostgresDirectorStore, id: number) =>
      store.unitOfWork(async (tx) => {
        if ((await tx.campaigns.activeCampaigns()).length > 0) throw new ConflictError('another campaign is running');
        await checked();
        await tx.campaigns.setState(id, 'running', at(1));
      });
    const outcomes = await Promise.allSettled([start(a, first), start(b, second)]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect((outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
    expect(await b.campaigns.activeCampaigns()).toHaveLength(1);
  });

  it('runs many units of work asked of one replica at once, each to its end (none gives up on conflicts)', async () => {
    const [a] = await replicas('director_pg_many_units');
    // As services/inventory.ts registers a vehicle: check the VIN is free, insert it, audit.
    const register = (vin: string) =>
      a.unitOfWork(async (tx) => {
        if ((await tx.inventory.vehicle(vin)) !== undefined) throw new ConflictError(`vehicle ${vin} is already registered`);
        await tx.inventory.insertVehicle(vin, {}, at(1));
        await tx.inventory.insertEcu(ecu(vin, `${vin}-p`, true), at(1));
        await tx.auditLog.record('op', 'register_vehicle', { vin }, at(1));
      });
    const outcomes = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => register(`VIN-${String(i).padStart(2, '0')}`)));
    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    expect(await a.inventory.countVehicles()).toBe(16);
  });

  it('judges manifests of one vehicle arriving at both replicas at once one after the other, each on the state the last left', async () => {
    const [a, b] = await replicas('director_pg_intake');
    await registerVehicle(a, 'VIN-1');
    const seen: number[] = [];
    // Each manifest's judge reads the primary's counter and reports the next one: judged together
    // on the same state, two would write the same counter and one report would be lost.
    const manifest = (store: PostgresDirectorStore) =>
      store.intake.receive('VIN-1', Buffer.from('{}'), 0, (state): IntakeVerdict<number> => {
        const last = state.ecus.find((e) => e.isPrimary)!.lastCounter ?? 0;
        seen.push(last);
        const report = { counter: last + 1, filename: 'fw.bin', length: 1, hashes: { sha256: '00' }, releaseCounter: null };
        return { at: at(last + 1), accepted: { ...NOTHING_NEW, ecuReports: [{ serial: 'VIN-1-p', report }] }, result: last + 1 };
      });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => manifest(i % 2 === 0 ? a : b)));
    expect([...results].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect((await b.inventory.ecu('VIN-1-p'))!.lastCounter).toBe(12);
    // The history is in the order they were judged: the newest record is the twelfth report.
    const history = await a.manifests.history('VIN-1', 100);
    expect(history).toHaveLength(12);
    expect(history.map((h) => h.receivedAt)).toEqual(Array.from({ length: 12 }, (_, i) => at(12 - i).toISOString()));
    expect(history.map((h) => h.id)).toEqual([...history.map((h) => h.id)].sort((x, y) => y - x));
  });

  it('makes no re-delivery when a manifest meets an assignment another replica has not yet committed', async () => {
    const schema = uniqueSchema('director_pg_redelivery');
    schemas.push(schema);
    const application = `uptane-test-${randomBytes(4).toString('hex')}`;
    const store = await open(urlWithSchema(schema), application);
    await registerVehicle(store, 'VIN-1');
    // Another replica's assignment for VIN-1-s, inserted but not yet committed when the manifest is judged.
    const other = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(
        `INSERT INTO "${schema}".assignments (vin, ecu_serial, filename, length, hashes, hardware_id, release_counter, state, created_at, updated_at, created_by)
         VALUES ('VIN-1', 'VIN-1-s', 'fw-operator.bin', 1, '{}', 'hw-secondary', 1, 'pending', 'x', 'x', 'op')`,
      );
      const judged: number[] = [];
      const receiving = store.intake.receive('VIN-1', Buffer.from('{}'), 5, (state): IntakeVerdict<string> => {
        judged.push(state.active.length);
        const redelivery = { assignment: image('VIN-1', 'VIN-1-s', 'fw-again.bin'), reason: 'slot lost', actor: 'director', action: 'redeliver', details: {} };
        return { at: at(1), accepted: { ...NOTHING_NEW, newAssignments: state.active.length === 0 ? [redelivery] : [] }, result: 'accepted' };
      });
      // The other insert's fleet-state trigger (schema.ts migration 6) holds the vehicle's row, so the
      // manifest waits for that row before it judges; the other transaction then commits.
      await until(async () => Number((await adminQuery<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [application]))[0]!.n) > 0);
      await other.query('COMMIT');
      expect(await receiving).toBe('accepted');
      // Judged once, on the committed assignment: no re-delivery is made. (Had the other insert come
      // after the manifest took the row, the two would deadlock and PostgreSQL's retry of the loser
      // would judge again on what the winner committed.)
      expect(judged).toEqual([1]);
    } finally {
      await other.end();
    }
    expect((await store.assignments.active('VIN-1')).map((x) => x.filename)).toEqual(['fw-operator.bin']);
    expect(await store.manifests.history('VIN-1', 10)).toHaveLength(1);
  });

  it('keeps a signed-request mark at the newest time either replica recorded', async () => {
    const [a, b] = await replicas('director_pg_marks');
    await a.signedRequestMarks.record('key-1', 2_000);
    await b.signedRequestMarks.record('key-1', 1_000);
    await Promise.all([a.signedRequestMarks.record('key-1', 5_000), b.signedRequestMarks.record('key-1', 3_000)]);
    expect(await b.signedRequestMarks.newest('key-1')).toBe(5_000);
    expect(await a.signedRequestMarks.newest('key-2')).toBeUndefined();
  });

  it('gives an operator name one active token when two hosts add it at once', async () => {
    const [a, b] = await replicas('director_pg_tokens');
    const outcomes = await Promise.allSettled([a.addOperator('alice', 'token-a', new Date(T0)), b.addOperator('alice', 'token-b', new Date(T0))]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect((outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
    expect((await a.operatorTokens()).map((t) => t.name)).toEqual(['alice']);
  });

  it('keeps a refused manifest whose reason holds a NUL character (PostgreSQL text cannot)', async () => {
    const [a] = await replicas('director_pg_nul');
    await a.intake.receive('VIN-9', Buffer.from('x'), 0, () => ({ at: at(1), refused: { code: 'bad_json', message: 'unexpected \u0000 at 3' }, result: 'refused' }));
    expect((await a.manifests.history('VIN-9', 5))[0]).toMatchObject({ accepted: false, errorCode: 'bad_json', errorMessage: 'unexpected \uFFFD at 3', bodyLength: 1 });
  });

  it('refuses values PostgreSQL cannot store as bad input, writing nothing', async () => {
    const [a] = await replicas('director_pg_unstorable');
    await a.inventory.insertVehicle('VIN-1', {}, at(0));
    await expect(a.inventory.insertEcu(ecu('VIN-1', 'ECU\u0000X', true), at(1))).rejects.toThrow(BadRequestError);
    const tooBig = { counter: 2 ** 64, filename: 'fw.bin', length: 1, hashes: {}, releaseCounter: null };
    await a.inventory.insertEcu(ecu('VIN-1', 'ECU-1', true), at(1));
    await expect(a.inventory.recordEcuReport('ECU-1', tooBig, at(2))).rejects.toThrow(BadRequestError);
    await expect(a.inventory.recordEcuReport('ECU-1', { ...tooBig, counter: 1.5 }, at(2))).rejects.toThrow(BadRequestError);
    expect((await a.inventory.ecusOf('VIN-1')).map((e) => [e.serial, e.lastCounter])).toEqual([['ECU-1', null]]);
  });

  it('refuses a unit of work’s handle used after the unit ended', async () => {
    const [a] = await replicas('director_pg_handle');
    const kept = await a.unitOfWork(async (tx) => tx);
    await expect(kept.inventory.countVehicles()).rejects.toThrow(/after the unit ended/);
  });
});

describePostgres('PostgresDirectorStore: the database going away', () => {
  it('fails an operation whose connection is terminated with DatabaseUnavailableError, and serves the next one', async () => {
    const schema = uniqueSchema('director_pg_gone');
    schemas.push(schema);
    const application = `uptane-test-${randomBytes(4).toString('hex')}`;
    const store = await open(urlWithSchema(schema), application);
    await registerVehicle(store, 'VIN-1');

    // Another session holds the vehicle's row, so the manifest's transaction waits on it: the
    // operation is under way, on a connection of its own, when its backend is terminated.
    const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await holder.connect();
    try {
      await holder.query(`BEGIN; SELECT 1 FROM "${schema}".vehicles WHERE vin = 'VIN-1' FOR UPDATE`);
      const receiving = store.intake.receive('VIN-1', Buffer.from('{}'), 0, () => ({ at: at(1), accepted: NOTHING_NEW, result: 'accepted' }));
      receiving.catch(() => undefined);
      // Wait until the store's session is blocked on the lock, then end it.
      await until(async () => Number((await adminQuery<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [application]))[0]!.n) > 0);
      const killed = await adminQuery<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [application]);
      expect(killed.length).toBeGreaterThan(0);
      const err = await receiving.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DatabaseUnavailableError);
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
    }

    // Nothing of the failed manifest was written; the pool opens new connections and goes on.
    expect(await store.manifests.history('VIN-1', 10)).toEqual([]);
    expect(await store.intake.receive('VIN-1', Buffer.from('{}'), 0, () => ({ at: at(2), accepted: NOTHING_NEW, result: 'accepted' }))).toBe('accepted');
    expect(await store.manifests.lastAcceptedAt('VIN-1')).toBe(at(2).toISOString());

    // Every pooled connection terminated while idle (a restart of PostgreSQL): an operation that
    // meets a dead connection before the pool noticed fails as unavailable, never otherwise, and
    // the one after it is served on a new connection.
    await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [application]);
    const first = await store.inventory.countVehicles().catch((e: unknown) => e);
    if (first !== 1) expect(first).toBeInstanceOf(DatabaseUnavailableError);
    expect(await store.inventory.countVehicles()).toBe(1);
  });

  it('types a database that cannot be reached as DatabaseUnavailableError', async () => {
    const err = await PostgresDirectorStore.open('postgres://root@127.0.0.1:1/test', { connectTimeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseUnavailableError);
  });
});
