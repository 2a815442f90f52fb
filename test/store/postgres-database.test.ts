// shared/server/postgres.ts against a real PostgreSQL: migrations applied exactly once when replicas
// start together, a newer schema refused, failures of the database typed as DatabaseUnavailableError
// (503, retryable) and nothing else, and transactions retried on serialization failures.
import { DatabaseUnavailableError, StorageError } from '../../shared/core/errors.js';
import { errorResponse } from '../../shared/server/http-errors.js';
import { PostgresDatabase, redactUrl, sqlState, UNIQUE_VIOLATION } from '../../shared/server/postgres.js';
import { adminQuery, describePostgres, dropSchemas, uniqueSchema, urlWithSchema } from '../support/postgres.js';

const schemas: string[] = [];
const opened: PostgresDatabase[] = [];

function fresh(prefix: string): string {
  const schema = uniqueSchema(prefix);
  schemas.push(schema);
  return urlWithSchema(schema);
}

async function open(url: string, migrations: readonly string[], options = {}): Promise<PostgresDatabase> {
  const db = await PostgresDatabase.open(url, 'widgets', migrations, options);
  opened.push(db);
  return db;
}

const MIGRATIONS = [
  'CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)',
  'ALTER TABLE widgets ADD COLUMN colour TEXT',
];

afterAll(async () => {
  await Promise.all(opened.map((db) => db.close().catch(() => undefined)));
  await dropSchemas(schemas);
});

describePostgres('PostgresDatabase', () => {
  it('applies each migration once when three replicas open the same schema at the same time', async () => {
    const url = fresh('pgdb_migrate');
    const dbs = await Promise.all([open(url, MIGRATIONS), open(url, MIGRATIONS), open(url, MIGRATIONS)]);
    const rows = await dbs[0]!.query<{ version: number }>('SELECT version FROM schema_migrations WHERE component = $1 ORDER BY version', ['widgets']);
    expect(rows.map((r) => r.version)).toEqual([1, 2]);
    expect(await dbs[1]!.schemaVersion('widgets')).toBe(2);
    // The tables are in the schema the URL named, not in public.
    const [table] = await adminQuery<{ schemaname: string }>("SELECT schemaname FROM pg_tables WHERE tablename = 'widgets' AND schemaname = $1", [dbs[0]!.schema]);
    expect(table?.schemaname).toBe(dbs[0]!.schema);
  });

  it('applies only the new migrations to a populated database, keeping its rows', async () => {
    const url = fresh('pgdb_upgrade');
    const v1 = await open(url, MIGRATIONS.slice(0, 1));
    await v1.query('INSERT INTO widgets (id, name) VALUES (1, $1)', ['kept']);
    const v2 = await open(url, MIGRATIONS);
    expect(await v2.query('SELECT id, name, colour FROM widgets')).toEqual([{ id: 1, name: 'kept', colour: null }]);
  });

  it('refuses a schema newer than the program: an older replica must not write to it', async () => {
    const url = fresh('pgdb_newer');
    await open(url, MIGRATIONS);
    await expect(open(url, MIGRATIONS.slice(0, 1))).rejects.toThrow(StorageError);
    await expect(open(url, MIGRATIONS.slice(0, 1))).rejects.toThrow(/version 2, newer than this program \(1\)/);
  });

  it('refuses a schema parameter that is not a plain SQL name', async () => {
    await expect(PostgresDatabase.open(urlWithSchema('x"; DROP TABLE y; --'), 'widgets', MIGRATIONS)).rejects.toThrow(StorageError);
  });

  it('types a database that does not answer as DatabaseUnavailableError: 503 with Retry-After', async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const err = await PostgresDatabase.open('postgres://root@127.0.0.1:1/test', 'widgets', MIGRATIONS, { connectTimeoutMs: 1_000, retryAfterSeconds: 7 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseUnavailableError);
    const answer = errorResponse(err);
    expect(answer.status).toBe(503);
    expect(answer.headers['Retry-After']).toBe('7');
    expect(answer.body.error.code).toBe('database_unavailable');
  });

  it('cancels a statement past the statement timeout, typed as unavailable, and the pool goes on', async () => {
    const db = await open(fresh('pgdb_timeout'), MIGRATIONS, { statementTimeoutMs: 200 });
    await expect(db.query('SELECT pg_sleep(2)')).rejects.toThrow(DatabaseUnavailableError);
    expect(await db.query<{ one: number }>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('leaves a constraint violation as the driver error, for the store to translate', async () => {
    const db = await open(fresh('pgdb_unique'), MIGRATIONS);
    await db.query("INSERT INTO widgets (id, name) VALUES (1, 'a')");
    const err = await db.query("INSERT INTO widgets (id, name) VALUES (2, 'a')").catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(DatabaseUnavailableError);
    expect(sqlState(err)).toBe(UNIQUE_VIOLATION);
  });

  it('rolls a throwing unit of work back whole', async () => {
    const db = await open(fresh('pgdb_rollback'), MIGRATIONS);
    await expect(
      db.transaction('read committed', async (tx) => {
        await tx.query("INSERT INTO widgets (id, name) VALUES (1, 'gone')");
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await db.query('SELECT * FROM widgets')).toEqual([]);
  });

  it('runs a serializable unit of work again after a serialization failure, so both increments count', async () => {
    const db = await open(fresh('pgdb_serial'), MIGRATIONS);
    await db.query("INSERT INTO widgets (id, name, colour) VALUES (1, 'counter', '0')");
    let attempts = 0;
    // Two read-modify-write units at once: under SERIALIZABLE one fails with 40001 and is run again.
    // Both first attempts read before either writes (a barrier, not a sleep: a sleep let one unit
    // finish before the other started on a loaded machine, and nothing conflicted).
    let reads = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((resolve) => (bothRead = resolve));
    const increment = () =>
      db.transaction('serializable', async (tx) => {
        const attempt = ++attempts;
        const [row] = await tx.query<{ colour: string }>('SELECT colour FROM widgets WHERE id = 1');
        if (attempt <= 2) {
          if (++reads === 2) bothRead();
          await barrier;
        }
        await tx.query('UPDATE widgets SET colour = $1 WHERE id = 1', [String(Number(row!.colour) + 1)]);
      });
    await Promise.all([increment(), increment()]);
    expect(await db.query('SELECT colour FROM widgets WHERE id = 1')).toEqual([{ colour: '2' }]);
    expect(attempts).toBeGreaterThan(2);
  });
});

describe('redactUrl', () => {
  it('hides the password of a database URL in messages', () => {
    expect(redactUrl('postgres://app:s3cret@db.example:5432/fleet')).toBe('postgres://app:***@db.example:5432/fleet');
  });
});
