// PostgreSQL for the tests: the server in UPTANE_TEST_DATABASE_URL (default: the local one, trust
// auth, database `test`), one fresh schema per test file so files running side by side never see
// each other's rows. test/global-setup.js checks once whether PostgreSQL answers: without it the
// PostgreSQL suites are skipped with a notice, except under CI=true, where its absence fails the run.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL = process.env.UPTANE_TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** Set by test/global-setup.js: '1' when PostgreSQL answered, '0' when it did not (and CI is not set). */
export const postgresAvailable = process.env.UPTANE_TEST_POSTGRES !== '0';

/** `describe` when PostgreSQL is there, `describe.skip` otherwise (global-setup printed why). */
export const describePostgres: jest.Describe = postgresAvailable ? describe : describe.skip;

/** A schema name no other test file uses: `<prefix>_<random>`. */
export function uniqueSchema(prefix: string): string {
  return `${prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 40)}_${randomBytes(6).toString('hex')}`;
}

/** TEST_DATABASE_URL with its tables in `schema` (shared/server/postgres.ts reads the parameter). */
export function urlWithSchema(schema: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
}

/** Runs one statement on the test database outside any store (setup, inspection, clean-up). */
export async function adminQuery<R extends object = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** Drops the schemas a test file made; call from afterAll. */
export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (!postgresAvailable || schemas.length === 0) return;
  // One schema per statement: dropping dozens in one takes a lock per table at once, and beside other
  // suites that ran PostgreSQL out of lock slots ("out of shared memory").
  for (const schema of schemas) await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
