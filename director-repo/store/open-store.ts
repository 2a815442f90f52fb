// Which database the Director keeps its state in, chosen by one string: none (or `sqlite:PATH`) for
// the embedded SQLite file, `postgres://...` for PostgreSQL, which replicas of the Director can share.
// The rest of the server sees only the DirectorStorage it gets back (director-store.ts).
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StorageError } from '../../shared/core/errors.js';
import type { DirectorStorage } from './director-store.js';
import { PostgresDirectorStore } from './postgres/director-store.js';
import { SqliteDirectorStore } from './sqlite/director-store.js';

/** The SQLite file of a data folder when no database is named. */
export const DEFAULT_SQLITE_FILE = 'director.sqlite';

const SQLITE_PREFIX = 'sqlite:';
const POSTGRES_URL = /^postgres(?:ql)?:\/\//;

/**
 * Opens the Director's storage: `database` undefined is `<dataDir>/director.sqlite`; `sqlite:PATH`
 * another SQLite file (a relative PATH is inside the data folder); `postgres://` or `postgresql://`
 * a PostgreSQL database. Anything else is refused with StorageError before anything is opened.
 */
export async function openDirectorStore(dataDir: string, database: string | undefined): Promise<DirectorStorage> {
  if (database === undefined) return openSqlite(dataDir, join(dataDir, DEFAULT_SQLITE_FILE));
  if (database.startsWith(SQLITE_PREFIX)) {
    const path = database.slice(SQLITE_PREFIX.length);
    if (path.length === 0) throw new StorageError('database sqlite: names no file: give sqlite:PATH (a relative PATH is inside the data folder)');
    return openSqlite(dataDir, resolve(dataDir, path));
  }
  if (POSTGRES_URL.test(database)) return PostgresDirectorStore.open(database);
  // Only the scheme is echoed: a URL may carry a password.
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(database)?.[0] ?? 'a value without a scheme';
  throw new StorageError(`database ${scheme} is not one the Director knows: give postgres://USER@HOST/DATABASE or sqlite:PATH`);
}

function openSqlite(dataDir: string, file: string): DirectorStorage {
  // Owner-only like the data folder (docs/threat-model.md HR-9h).
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  return new SqliteDirectorStore(file);
}
