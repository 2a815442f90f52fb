// Opening a SQLite database the way every server here needs it: WAL, synchronous=FULL (an
// acknowledged write survives power loss), a busy timeout, foreign keys, and numbered migrations
// applied in one transaction each, tracked in PRAGMA user_version.
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** Migration N (1-based) is `migrations[N-1]`; never edit one that has shipped, append a new one. */
export function openDatabase(path: string, migrations: readonly string[]): Db {
  restrictToOwner(path);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    db.close();
    throw new Error(`database ${path} has schema version ${current}, newer than this program (${migrations.length}): upgrade the program`);
  }
  for (let version = current + 1; version <= migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version - 1]!);
      db.pragma(`user_version = ${version}`);
    })();
  }
  return db;
}

/**
 * Databases hold tokens' hashes, inventories and audit logs: owner-only (docs/threat-model.md HR-9h).
 * SQLite gives its -wal and -shm files the database file's mode, so the file is created 0600
 * before SQLite opens it; files left 0644 by an older version are tightened.
 */
function restrictToOwner(path: string): void {
  if (path === ':memory:' || path === '') return;
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}
