// Which database an Image repository runs on: SQLite in its data folder (the default, or
// `sqlite:PATH`), or PostgreSQL for a postgres:// URL (`--database`, or UPTANE_DATABASE_URL), shared
// by replicas. Every opener of the storage (the server, the uploader commands) goes through here.
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StorageError } from '../../shared/core/errors.js';
import { isPostgresUrl, redactUrl, type PostgresOptions } from '../../shared/server/postgres.js';
import { PostgresImageRepoStorage } from './postgres.js';
import { SqliteImageRepoStorage } from './sqlite.js';
import type { ImageRepoStorage } from './storage.js';

/** The SQLite file in a data folder, when no --database says otherwise. */
export const SQLITE_FILE = 'image-repo.sqlite';

export type ImageDatabase = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

/**
 * What `database` (a --database value; undefined or empty: the default) names. A relative
 * `sqlite:PATH` is inside the data folder, as the Director reads it (director-repo/store/open-store.ts).
 */
export function parseImageDatabase(dataDir: string, database: string | undefined): ImageDatabase {
  if (database === undefined || database === '') return { kind: 'sqlite', path: join(dataDir, SQLITE_FILE) };
  if (isPostgresUrl(database)) return { kind: 'postgres', url: database };
  if (database.startsWith('sqlite:')) {
    const path = database.slice('sqlite:'.length);
    if (path === '') throw new StorageError('--database sqlite: needs a file, e.g. sqlite:/var/lib/uptane/image-repo.sqlite (a relative path is inside the data folder)');
    return { kind: 'sqlite', path: resolve(dataDir, path) };
  }
  throw new StorageError(`--database ${redactUrl(database)}: give postgres://user@host:5432/database (optionally ?schema=NAME) or sqlite:PATH`);
}

/** The database for messages: a SQLite path, or the URL without its password. */
export function describeImageDatabase(database: ImageDatabase): string {
  return database.kind === 'sqlite' ? `SQLite ${database.path}` : `PostgreSQL ${redactUrl(database.url)}`;
}

/** Opens (creating and migrating as needed) the Image repository's storage that `database` names. */
export async function openImageRepoStorage(dataDir: string, database?: string, options: PostgresOptions = {}): Promise<ImageRepoStorage> {
  const chosen = parseImageDatabase(dataDir, database);
  if (chosen.kind === 'postgres') return PostgresImageRepoStorage.open(chosen.url, options);
  // Owner-only, like the data folder (docs/threat-model.md HR-9h).
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(dirname(chosen.path), { recursive: true, mode: 0o700 });
  return new SqliteImageRepoStorage(chosen.path);
}
