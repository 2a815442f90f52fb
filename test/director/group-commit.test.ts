// Group commit (director-repo/store/sqlite/group-commit.ts): manifests that arrive together share one transaction
// and one fsync. What must still hold: each piece of work succeeds or fails alone, nothing is
// acknowledged before its commit, and a manifest checked in a batch sees the changes of the
// manifests before it (a replayed counter inside one batch is still a replay).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FixedClock } from '../../shared/core/clock.js';
import { GroupCommit } from '../../director-repo/store/sqlite/group-commit.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { sqliteOf } from '../../sim/harness/sqlite-storage.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

describe('GroupCommit on a real database file', () => {
  let dir: string;
  let db: Database.Database;
  let observer: Database.Database;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
    db = new Database(join(dir, 'db.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (name TEXT PRIMARY KEY)');
    // A second connection sees only what is committed.
    observer = new Database(join(dir, 'db.sqlite'), { readonly: true });
  });

  afterEach(() => {
    observer.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const insert = (name: string) => db.prepare('INSERT INTO t (name) VALUES (?)').run(name);
  const committed = () => (observer.prepare('SELECT name FROM t ORDER BY name').all() as Array<{ name: string }>).map((r) => r.name);

  test('work queued in the same turn shares one commit, and nothing is visible before it', async () => {
    const commits = new GroupCommit(db);
    const seenBySecond: string[][] = [];
    const first = commits.run(() => insert('a'));
    const second = commits.run(() => {
      insert('b');
      // Inside the batch, the first piece of work is written but not yet committed.
      seenBySecond.push(committed());
      return 'b done';
    });
    expect(committed()).toEqual([]); // queued, not run: not acknowledged either
    await expect(second).resolves.toBe('b done');
    await first;
    expect(seenBySecond).toEqual([[]]);
    expect(committed()).toEqual(['a', 'b']);
  });

  test('a piece of work that throws is rolled back alone; the others commit', async () => {
    const commits = new GroupCommit(db);
    const results = await Promise.allSettled([
      commits.run(() => insert('a')),
      commits.run(() => {
        insert('doomed');
        throw new Error('refused');
      }),
      commits.run(() => insert('c')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('refused'));
    expect(committed()).toEqual(['a', 'c']);
  });

  test('a failed commit rejects every caller of the batch and keeps nothing', async () => {
    const commits = new GroupCommit(db);
    // A deferred foreign key is only checked at COMMIT, so the commit itself fails.
    db.exec('PRAGMA foreign_keys = ON; CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)');
    const results = await Promise.allSettled([
      commits.run(() => insert('a')),
      commits.run(() => db.prepare('INSERT INTO child (p) VALUES (42)').run()),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(committed()).toEqual([]);
  });

  test('batches are capped; the rest commit in the next turn', async () => {
    const commits = new GroupCommit(db, 2);
    const seen: number[] = [];
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => commits.run(() => {
      insert(n);
      seen.push(committed().length);
    })));
    // Two per commit: the third sees the first two committed, the fifth the first four.
    expect(seen).toEqual([0, 0, 2, 2, 4]);
    expect(committed()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});

describe('the Director with group commit', () => {
  let clock: FixedClock;
  let repos: Repositories;
  const vehicles: TestVehicle[] = [];

  beforeAll(async () => {
    clock = new FixedClock(FIXTURE_NOW);
    repos = await startRepositories(clock, 'group-commit');
  }, 60_000);

  afterAll(async () => {
    for (const v of vehicles) v.cleanup();
    await repos.close();
  });

  async function registered(vin: string): Promise<TestVehicle> {
    const car = new TestVehicle(vin, [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true }, { serial: `${vin}-ecm`, hardwareId: 'ecm-x1' }], clock);
    vehicles.push(car);
    expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
    return car;
  }

  const history = (vin: string) => repos.director.storage.manifests.history(vin, 100);

  test('the same manifest twice in one batch: the second is a replay, checked against the first', async () => {
    const car = await registered('GROUPCOMMIT000001');
    const body = Buffer.from(JSON.stringify(car.manifest()));
    const results = await Promise.allSettled([repos.director.services.intake.receiveManifest(car.vin, body), repos.director.services.intake.receiveManifest(car.vin, body)]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: { accepted: true, assignmentsChanged: 0 } });
    expect(results[1]!.status).toBe('rejected');
    expect(((results[1] as PromiseRejectedResult).reason as { code: string }).code).toBe('replayed_report');
    expect((await history(car.vin)).map((m) => [m.accepted, m.errorCode])).toEqual([
      [false, 'replayed_report'],
      [true, null],
    ]);
    expect((await repos.director.storage.inventory.ecusOf(car.vin)).map((e) => e.lastCounter)).toEqual([1, 1]);
  });

  test('a vehicle\'s manifest history is capped, newest kept; bodies are kept only for manifests with news', async () => {
    const car = await registered('GROUPCOMMIT000002');
    const { intake } = repos.director.services;
    const send = (manifest: unknown) => intake.receiveManifest(car.vin, Buffer.from(JSON.stringify(manifest)));
    await send(car.manifest()); // first report: the installed images are news
    for (let i = 0; i < 120; i++) await send(car.manifest()); // nothing changed
    const ecm = car.ecu(`${car.vin}-ecm`);
    await send(car.manifest({ [car.primary.serial]: car.report(car.primary), [ecm.serial]: car.report(ecm, { attacks: [{ code: 'rollback', message: 'replayed targets' }] }) }));
    await expect(send(car.manifest({ [car.primary.serial]: car.report(car.primary) }))).rejects.toMatchObject({ code: 'manifest_inventory' });

    const { db } = sqliteOf(repos.director.storage);
    const rows = db.prepare('SELECT accepted, body IS NOT NULL AS kept FROM manifests WHERE vin = ? ORDER BY id').all(car.vin) as Array<{ accepted: number; kept: number }>;
    // 122 accepted recorded, pruned in steps of 20 once 120 are held: 102 left, the newest.
    expect(rows).toHaveLength(102);
    expect(rows.at(-1)).toEqual({ accepted: 1, kept: 1 }); // reported an attack: kept as signed evidence
    expect(rows.slice(0, -1).every((r) => r.accepted === 1 && r.kept === 0)).toBe(true);
    // The refusal is kept apart, with its reason and an excerpt of its body.
    expect(db.prepare('SELECT error_code, length(excerpt) > 0 AS kept FROM refused_manifests WHERE vin = ?').all(car.vin)).toEqual([{ error_code: 'manifest_inventory', kept: 1 }]);
    expect((await history(car.vin))[0]).toMatchObject({ accepted: false, errorCode: 'manifest_inventory' });
  });

  test('many vehicles at once over HTTP: every manifest is answered after it is stored', async () => {
    const cars = await Promise.all(Array.from({ length: 12 }, (_, i) => registered(`GROUPCOMMIT1000${String(i).padStart(2, '0')}`)));
    const forged = cars[5]!;
    const answers = await Promise.all(
      cars.map((car) => {
        const manifest = car.manifest();
        if (car === forged) (manifest.signed as { vin: string }).vin = cars[0]!.vin; // breaks its signature and VIN
        return car.sendManifest(repos.director.url, manifest);
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(cars.map((car) => (car === forged ? 400 : 200)));
    for (const car of cars) {
      const [last] = await history(car.vin);
      expect(last?.accepted).toBe(car !== forged);
      expect((await repos.director.storage.inventory.ecusOf(car.vin)).every((e) => e.lastCounter === (car === forged ? null : 1))).toBe(true);
    }
  });
});
