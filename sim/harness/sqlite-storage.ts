// The SQLite store behind a Director's storage, for the tests and benchmarks that check what only
// SQLite has (pragmas, checkpoints, rows written behind the store's back). Here rather than in
// test/support because the benchmarks need it too and may not import tests (docs/ARCHITECTURE.md).
import type { DirectorStorage } from '../../director-repo/store/director-store.js';
import { SqliteDirectorStore } from '../../director-repo/store/sqlite/director-store.js';

/** `storage` as the SQLite store it is; throws when the Director runs on another database. */
export function sqliteOf(storage: DirectorStorage): SqliteDirectorStore {
  if (!(storage instanceof SqliteDirectorStore)) throw new Error(`this needs the Director's SQLite store, not ${storage.constructor.name}`);
  return storage;
}
