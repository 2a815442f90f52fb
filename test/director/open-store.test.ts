// Which database a Director opens (director-repo/store/open-store.ts): its data folder's SQLite file
// by default, another SQLite file with sqlite:PATH, PostgreSQL with a postgres:// URL, and a clear
// StorageError, with nothing opened and no password echoed, for anything else.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURE_NOW } from '../../sim/harness/fleet-fixtures.js';
import { sqliteOf } from '../../sim/harness/sqlite-storage.js';
import { StorageError } from '../../shared/core/errors.js';
import { openDirectorStorage } from '../../director-repo/server.js';
import type { DirectorStorage } from '../../director-repo/store/director-store.js';
import { PostgresDirectorStore } from '../../director-repo/store/postgres/director-store.js';
import { describePostgres, dropSchemas, uniqueSchema, urlWithSchema } from '../support/postgres.js';

let dir: string;
const schemas: string[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-open-store-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

afterAll(async () => {
  await dropSchemas(schemas);
});

/** Stores a token and reads it back: the storage answers, and keeps what it is given. */
async function roundTrip(storage: DirectorStorage): Promise<void> {
  const tokenId = await storage.addOperator('open-store', 'open-store-token', FIXTURE_NOW, { scope: 'read', expiresAt: null });
  expect(await storage.operatorToken('open-store-token')).toMatchObject({ tokenId, name: 'open-store', scope: 'read' });
}

describe('openDirectorStorage', () => {
  it('opens <data-dir>/director.sqlite when no database is named, making the data folder', async () => {
    const dataDir = join(dir, 'director');
    const storage = await openDirectorStorage(dataDir);
    try {
      await roundTrip(storage);
      expect(sqliteOf(storage).db.name).toBe(join(dataDir, 'director.sqlite'));
    } finally {
      await storage.close();
    }
  });

  it('opens the SQLite file sqlite:PATH names, a relative PATH inside the data folder', async () => {
    const dataDir = join(dir, 'director');
    for (const [database, file] of [
      [`sqlite:${join(dir, 'elsewhere', 'state.sqlite')}`, join(dir, 'elsewhere', 'state.sqlite')],
      ['sqlite:db/state.sqlite', join(dataDir, 'db', 'state.sqlite')],
    ] as const) {
      const storage = await openDirectorStorage(dataDir, database);
      try {
        await roundTrip(storage);
        expect(sqliteOf(storage).db.name).toBe(file);
      } finally {
        await storage.close();
      }
    }
    expect(existsSync(join(dataDir, 'director.sqlite'))).toBe(false);
  });

  it('refuses an empty sqlite: and a database of another kind with StorageError, opening nothing and echoing no password', async () => {
    const dataDir = join(dir, 'director');
    for (const [database, message] of [
      ['sqlite:', /names no file/],
      ['mysql://admin:s3cret-pw@db.example/uptane', /database mysql: is not one the Director knows/],
      ['s3cret-pw', /database a value without a scheme is not one the Director knows/],
      ['postgres:/no-slashes', /database postgres: is not one the Director knows/],
    ] as const) {
      const refused = openDirectorStorage(dataDir, database);
      await expect(refused).rejects.toBeInstanceOf(StorageError);
      await expect(refused).rejects.toThrow(message);
      await expect(refused).rejects.not.toThrow(/s3cret/);
    }
    expect(existsSync(dataDir) ? readdirSync(dataDir) : []).toEqual([]);
  });
});

describePostgres('openDirectorStorage with a postgres:// URL', () => {
  it('opens the PostgreSQL store, whose tokens outlive the connection', async () => {
    const schema = uniqueSchema('open_store');
    schemas.push(schema);
    const url = urlWithSchema(schema);
    const storage = await openDirectorStorage(join(dir, 'director'), url);
    try {
      expect(storage).toBeInstanceOf(PostgresDirectorStore);
      await roundTrip(storage);
      expect(() => sqliteOf(storage)).toThrow(/SQLite store/);
    } finally {
      await storage.close();
    }
    const again = await openDirectorStorage(join(dir, 'director'), url.replace(/^postgres:/, 'postgresql:'));
    try {
      expect((await again.operatorTokens()).map((t) => t.name)).toEqual(['open-store']);
    } finally {
      await again.close();
    }
  });
});
