// Which database the Director keeps its state in, chosen by one string: none (or `sqlite:PATH`) for
// the embedded SQLite file, `postgres://...` for PostgreSQL, which replicas of the Director can share.
// The rest of the server sees only the DirectorStorage it gets back (director-store.ts).
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StorageError } from '../../shared/core/errors.js';
import { redactUrl } from '../../shared/server/postgres.js';
import type { DirectorStorage } from './director-store.js';
import { PostgresDirectorStore } from './postgres/director-store.js';
import { SqliteDirectorStore } from './sqlite/director-store.js';

/** The SQLite file of a data folder when no database is named. */
export const DEFAULT_SQLITE_FILE = 'director.sqlite';

const SQLITE_PREFIX = 'sqlite:';
const POSTGRES_URL = /^postgres(?:ql)?:\/\//;

export type DirectorDatabase = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

/**
 * What `database` names: undefined (or empty) is `<dataDir>/director.sqlite`; `sqlite:PATH` another
 * SQLite file (a relative PATH is inside the data folder); `postgres://` or `postgresql://` a
 * PostgreSQL database. Anything else is refused with StorageError.
 */
export function parseDirectorDatabase(dataDir: string, database: string | undefined): DirectorDatabase {
  if (database === undefined || database === '') return { kind: 'sqlite', path: join(dataDir, DEFAULT_SQLITE_FILE) };
  if (database.startsWith(SQLITE_PREFIX)) {
    const path = database.slice(SQLITE_PREFIX.length);
    if (path.length === 0) throw new StorageError('database sqlite: names no file: give sqlite:PATH (a relative PATH is inside the data folder)');
    return { kind: 'sqlite', path: resolve(dataDir, path) };
  }
  if (POSTGRES_URL.test(database)) return { kind: 'postgres', url: database };
  // Only the scheme is echoed: a URL may carry a password.
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(database)?.[0] ?? 'a value without a scheme';
  throw new StorageError(`database ${scheme} is not one the Director knows: give postgres://USER@HOST/DATABASE or sqlite:PATH`);
}

/** The database for messages and the serve banner: a SQLite path, or the URL without its password. */
export function describeDirectorDatabase(database: DirectorDatabase): string {
  return database.kind === 'sqlite' ? `SQLite ${database.path}` : `PostgreSQL ${redactUrl(database.url)} (replicas may share it)`;
}

/**
 * Opens the Director's storage that `database` names (parseDirectorDatabase), creating a SQLite
 * file or migrating PostgreSQL as needed; refused with StorageError before anything is opened.
 */
export async function openDirectorStore(dataDir: string, database: string | undefined, options: { readonly log?: (line: string) => void } = {}): Promise<DirectorStorage> {
  const chosen = parseDirectorDatabase(dataDir, database);
  if (chosen.kind === 'postgres') return PostgresDirectorStore.open(chosen.url, { log: options.log });
  // Owner-only like the data folder (docs/threat-model.md HR-9h).
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(dirname(chosen.path), { recursive: true, mode: 0o700 });
  return new SqliteDirectorStore(chosen.path);
}
