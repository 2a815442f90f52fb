// What "a refused request changed nothing" is checked against: every table of a server's SQLite
// database, read through a second, read-only connection, and the names and sizes of every file in
// its data folder. Compared before and after each refused request.
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';

/**
 * Columns that change on reads or accepted requests only and are ignored in the comparison, by
 * table. Empty today: a vehicle's metadata is signed lazily on its reads (vehicle_metadata) and a
 * targets read marks assignments in flight, but both happen on answered (2xx) reads only, and the
 * harness reads the vehicle's metadata after every accepted request (so a later refused read finds
 * nothing left to sign). A column added for last-seen times or rate-limit counters belongs here,
 * with the reason it may change on a refused request.
 */
export const IGNORED_COLUMNS: Readonly<Record<string, readonly string[]>> = {};

/**
 * Files whose size changes without any change of state: SQLite's write-ahead log and shared-memory
 * index grow and shrink on checkpoints and reads; the database file itself is compared by content.
 */
const IGNORED_FILES = /(\.sqlite|\.sqlite-wal|\.sqlite-shm|\.sqlite-journal)$/;

export interface StateSnapshot {
  /** table -> rowid -> the row as JSON (blobs as their sha256). */
  readonly tables: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** path relative to the data folder -> size in bytes ('dir' for folders). */
  readonly files: ReadonlyMap<string, string>;
}

export interface RowChange {
  readonly table: string;
  readonly rowid: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly before?: string;
  readonly after?: string;
}

export interface StateDiff {
  readonly rows: readonly RowChange[];
  readonly files: ReadonlyArray<{ readonly path: string; readonly before?: string; readonly after?: string }>;
}

/** A read-only view of one server's data folder and database. */
export class StateReader {
  private readonly db: Database.Database;

  constructor(private readonly dataDir: string, databaseFile: string) {
    this.db = new Database(join(dataDir, databaseFile), { readonly: true, fileMustExist: true });
  }

  snapshot(): StateSnapshot {
    const tables = new Map<string, Map<string, string>>();
    const names = this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>;
    for (const { name } of names) {
      const ignored = new Set(IGNORED_COLUMNS[name] ?? []);
      const rows = new Map<string, string>();
      for (const row of this.rowsOf(name)) {
        const kept: Record<string, unknown> = {};
        for (const [column, value] of Object.entries(row)) {
          if (column === '$rowid' || ignored.has(column)) continue;
          kept[column] = Buffer.isBuffer(value) ? `blob:${createHash('sha256').update(value).digest('hex')}` : typeof value === 'bigint' ? String(value) : value;
        }
        rows.set(String(row.$rowid), JSON.stringify(kept));
      }
      tables.set(name, rows);
    }
    const files = new Map<string, string>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        const rel = relative(this.dataDir, path);
        if (entry.isDirectory()) {
          files.set(rel, 'dir');
          walk(path);
        } else if (!IGNORED_FILES.test(entry.name)) {
          try {
            files.set(rel, String(statSync(path).size));
          } catch {
            // removed between the listing and the stat: absent
          }
        }
      }
    };
    walk(this.dataDir);
    return { tables, files };
  }

  /** Every row with its identity as "$rowid": the rowid, or the primary key of a WITHOUT ROWID table. */
  private rowsOf(table: string): Array<Record<string, unknown>> {
    const quoted = `"${table.replaceAll('"', '""')}"`;
    const withoutRowid = /\bWITHOUT\s+ROWID\b/i.test((this.db.prepare("SELECT sql FROM sqlite_master WHERE name = ?").get(table) as { sql: string }).sql);
    if (!withoutRowid) return this.db.prepare(`SELECT rowid AS "$rowid", * FROM ${quoted}`).all() as Array<Record<string, unknown>>;
    const key = (this.db.prepare(`PRAGMA table_info(${quoted})`).all() as Array<{ name: string; pk: number }>).filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
    return (this.db.prepare(`SELECT * FROM ${quoted}`).all() as Array<Record<string, unknown>>).map((row) => ({ ...row, $rowid: JSON.stringify(key.map((k) => row[k])) }));
  }

  close(): void {
    this.db.close();
  }
}

export function diffState(before: StateSnapshot, after: StateSnapshot): StateDiff {
  const rows: RowChange[] = [];
  for (const table of new Set([...before.tables.keys(), ...after.tables.keys()])) {
    const a = before.tables.get(table) ?? new Map<string, string>();
    const b = after.tables.get(table) ?? new Map<string, string>();
    for (const [rowid, row] of a) {
      const now = b.get(rowid);
      if (now === undefined) rows.push({ table, rowid, kind: 'removed', before: row });
      else if (now !== row) rows.push({ table, rowid, kind: 'changed', before: row, after: now });
    }
    for (const [rowid, row] of b) if (!a.has(rowid)) rows.push({ table, rowid, kind: 'added', after: row });
  }
  const files: Array<{ path: string; before?: string; after?: string }> = [];
  for (const path of new Set([...before.files.keys(), ...after.files.keys()])) {
    const x = before.files.get(path);
    const y = after.files.get(path);
    if (x !== y) files.push({ path, before: x, after: y });
  }
  return { rows, files };
}

export function describeDiff(diff: StateDiff, limit = 8): string {
  const lines = [
    ...diff.rows.map((r) => `  ${r.table} row ${r.rowid} ${r.kind}: ${r.before ?? ''}${r.before !== undefined && r.after !== undefined ? ' -> ' : ''}${r.after ?? ''}`),
    ...diff.files.map((f) => `  file ${f.path}: ${f.before ?? '(absent)'} -> ${f.after ?? '(absent)'}`),
  ];
  const cut = lines.slice(0, limit).map((l) => (l.length > 400 ? `${l.slice(0, 400)}...` : l));
  return cut.join('\n') + (lines.length > limit ? `\n  ... and ${lines.length - limit} more` : '');
}
