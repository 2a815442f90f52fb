// Copying a server's tables from its SQLite file to PostgreSQL (`uptane director|image db migrate`),
// generic over a plan each repository writes for its own schema: the source read in one SQLite read
// transaction (one consistent snapshot, even while a server writes to it: WAL lets readers be), the
// rows streamed and inserted in bounded batches inside one PostgreSQL transaction (a failure leaves
// the target as it was: empty), ids kept and sequences set past them, then verified before commit.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { MigrationMismatchError, MigrationRefusedError, StorageError } from '../core/errors.js';
import { sqlState, type PostgresDatabase, type Queryable } from './postgres.js';
import type { Db } from './sqlite.js';

/**
 * How a SQLite value becomes the PostgreSQL parameter its column expects. `text` also serves JSON
 * kept as text, JSONB and TIMESTAMPTZ, which PostgreSQL parses from the text SQLite holds;
 * `integer` is an INTEGER read exactly (as a bigint) for BIGINT or INTEGER; `boolean` is SQLite's
 * INTEGER 0/1; `bytes` is a BLOB for BYTEA.
 */
export type ColumnType = 'text' | 'integer' | 'boolean' | 'bytes';

export interface CopiedTable {
  /** The table's name, the same on both sides (a constant of the plan, never input). */
  readonly name: string;
  readonly columns: ReadonlyArray<readonly [name: string, type: ColumnType]>;
  /** An identity column (GENERATED ALWAYS needs OVERRIDING SYSTEM VALUE to take the copied ids). */
  readonly identity?: string;
  /** A named sequence the table's `id` takes its default from (shared by several tables), instead of an identity's own. */
  readonly sequence?: string;
  /** A column of signed files, compared by SHA-256 row by row, in the order of `key` (the primary key). */
  readonly signed?: { readonly column: string; readonly key: readonly string[] };
}

export interface TableReport {
  readonly table: string;
  readonly sourceRows: number;
  readonly targetRows: number;
  /** Rows whose signed bytes were compared (0 for a table without signed files), and how many differed or were missing. */
  readonly signedCompared: number;
  readonly signedMismatches: number;
  /** The first few keys (joined by /) whose signed bytes differed or were missing. */
  readonly mismatchedKeys: readonly string[];
}

export interface CopyOptions {
  /** Rows copied so far in `table`, after each batch and when it is done. */
  readonly onProgress?: (table: string, rows: number, done: boolean) => void;
  /** Most rows in one INSERT (default 4000; fewer when the table's columns would pass PostgreSQL's 65,535 parameters). */
  readonly batchRows?: number;
  /** Most bytes of values in one INSERT (default 16 MiB): signed files can be large. */
  readonly batchBytes?: number;
}

const MAX_PARAMETERS = 65_535;
const VERIFY_FETCH_ROWS = 2000;
/** Differing rows named in a mismatch message; the rest are counted. */
const NAMED_MISMATCHES = 5;

/** What a source is, for its messages: "Director", its usual file name, the command that migrates it. */
export interface SourceKind {
  readonly what: string;
  readonly defaultFile: string;
  readonly serveCommand: string;
}

/**
 * Opens the SQLite source read-only, after checking it exists and that its schema is this
 * program's (`migrations.length`): an older one must first be migrated by starting its server once
 * on it, a newer one belongs to a newer program.
 */
export function openMigrationSource(path: string, migrations: readonly string[], kind: SourceKind): Db {
  if (!existsSync(path)) throw new MigrationRefusedError(`--from sqlite:${path}: no such file (give the ${kind.what} SQLite file, e.g. <data-dir>/${kind.defaultFile})`);
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const version = readSchemaVersion(db, path, kind);
    if (version === migrations.length) return db;
    if (version === 0) throw new MigrationRefusedError(`--from sqlite:${path} is not a ${kind.what} database (it has no schema version)`);
    if (version < migrations.length) {
      throw new MigrationRefusedError(
        `--from sqlite:${path} has schema version ${version}, older than this program's ${migrations.length}: start \`${kind.serveCommand}\` on it once (it migrates the file), stop it, then run db migrate again`,
      );
    }
    throw new MigrationRefusedError(`--from sqlite:${path} has schema version ${version}, newer than this program's ${migrations.length}: upgrade this program first`);
  } catch (err) {
    db.close();
    throw err;
  }
}

function readSchemaVersion(db: Db, path: string, kind: SourceKind): number {
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } catch (err) {
    // By code, not by class: better-sqlite3's SqliteError class can differ between module instances.
    if ((err as { code?: unknown }).code === 'SQLITE_NOTADB') throw new MigrationRefusedError(`--from sqlite:${path} is not a ${kind.what} database (not SQLite)`, { cause: err });
    throw err;
  }
}

/**
 * Copies every table of `tables` (in order: a table after those its foreign keys name) from
 * `source` into `target`, verifies, and commits; or changes nothing and throws. Refused with
 * MigrationRefusedError when any target table holds a row.
 */
export async function copySqliteToPostgres(source: Db, target: PostgresDatabase, tables: readonly CopiedTable[], options: CopyOptions = {}): Promise<TableReport[]> {
  // One read transaction: every statement below reads the same snapshot of the source.
  source.exec('BEGIN');
  try {
    return await target.transaction('read committed', async (tx) => {
      // Two migrations into one schema at once: the second waits, then finds rows and is refused.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`uptane-db-migrate:${target.schema}`]);
      await refuseNonEmpty(tx, target.schema, tables);
      for (const table of tables) await copyTable(source, tx, table, options);
      await continueSequences(tx, tables);
      const reports: TableReport[] = [];
      for (const table of tables) reports.push(await verifyTable(source, tx, table));
      const wrong = reports.filter((r) => r.sourceRows !== r.targetRows || r.signedMismatches > 0);
      if (wrong.length > 0) {
        throw new MigrationMismatchError(
          `the copy differs from the source in ${wrong.map((r) => `${r.table} (${r.sourceRows} rows in SQLite, ${r.targetRows} copied, ${r.signedMismatches} signed files differing${r.mismatchedKeys.length > 0 ? `: ${r.mismatchedKeys.join(', ')}` : ''})`).join('; ')}: rolled back, the target is unchanged`,
        );
      }
      return reports;
    });
  } finally {
    source.exec('COMMIT');
  }
}

async function refuseNonEmpty(tx: Queryable, schema: string, tables: readonly CopiedTable[]): Promise<void> {
  const holding: string[] = [];
  for (const table of tables) {
    const [row] = await tx.query<{ held: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${table.name}) AS held`);
    if (row?.held === true) holding.push(table.name);
  }
  if (holding.length > 0) {
    throw new MigrationRefusedError(
      `the target schema ${schema} already holds rows (${holding.join(', ')}): nothing was copied; migrate into a fresh database, or a new schema with ?schema=NAME in the --to URL`,
    );
  }
}

async function copyTable(source: Db, tx: Queryable, table: CopiedTable, options: CopyOptions): Promise<void> {
  const names = table.columns.map(([name]) => name);
  const batchRows = Math.max(1, Math.min(options.batchRows ?? 4000, Math.floor(MAX_PARAMETERS / names.length)));
  const batchBytes = options.batchBytes ?? 16 * 1024 * 1024;
  const overriding = table.identity === undefined ? '' : ' OVERRIDING SYSTEM VALUE';
  const statement = source.prepare(`SELECT ${names.join(', ')} FROM ${table.name}`).raw(true).safeIntegers(true);
  let params: unknown[] = [];
  let bytes = 0;
  let copied = 0;
  const flush = async (): Promise<void> => {
    if (params.length === 0) return;
    const rows = params.length / names.length;
    const values = Array.from({ length: rows }, (_, r) => `(${names.map((_, c) => `$${r * names.length + c + 1}`).join(', ')})`).join(', ');
    try {
      await tx.query(`INSERT INTO ${table.name} (${names.join(', ')})${overriding} VALUES ${values}`, params);
    } catch (err) {
      throw refusedRows(err, table.name, copied + 1, copied + rows);
    }
    copied += rows;
    params = [];
    bytes = 0;
    options.onProgress?.(table.name, copied, false);
  };
  let rowNumber = 0;
  for (const row of statement.iterate() as Iterable<unknown[]>) {
    rowNumber++;
    table.columns.forEach(([name, type], i) => {
      const value = toParameter(row[i], type, () => `${table.name} row ${rowNumber} column ${name}`);
      bytes += Buffer.isBuffer(value) ? value.length : typeof value === 'string' ? value.length : 8;
      params.push(value);
    });
    if (params.length / names.length >= batchRows || bytes >= batchBytes) await flush();
  }
  await flush();
  options.onProgress?.(table.name, copied, true);
}

/** A value PostgreSQL refused (a constraint, a type): which rows, and that nothing was kept. */
function refusedRows(err: unknown, table: string, first: number, last: number): unknown {
  const state = sqlState(err);
  // Classes 22 (data) and 23 (constraints) are verdicts on the rows; anything else (the database down) passes as it is.
  if (state === undefined || !(state.startsWith('22') || state.startsWith('23'))) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StorageError(`PostgreSQL refused a row of ${table} (rows ${first}-${last} of the source): ${message}; rolled back, the target is unchanged`, { cause: err });
}

/** SQLite's value as the parameter of a column of `type`; anything else is refused, naming where it is. */
function toParameter(value: unknown, type: ColumnType, where: () => string): unknown {
  if (value === null) return null;
  switch (type) {
    case 'text':
      if (typeof value !== 'string') break;
      if (value.includes('\u0000')) throw new StorageError(`${where()} holds a NUL character, which PostgreSQL text cannot: nothing was copied`);
      return value;
    case 'integer':
      if (typeof value === 'bigint') return value.toString();
      break;
    case 'boolean':
      if (value === 0n || value === 1n) return value === 1n;
      break;
    case 'bytes':
      if (Buffer.isBuffer(value)) return value;
      break;
  }
  const shown = Buffer.isBuffer(value) ? `a ${value.length}-byte BLOB` : `${typeof value} ${String(value).slice(0, 40)}`;
  throw new StorageError(`${where()} holds ${shown} where ${type} is expected: nothing was copied`);
}

/**
 * Every sequence a copied id came from continues past the largest copied id (a sequence shared by
 * several tables, past the largest of them all), so the first row the server adds gets a new id.
 */
async function continueSequences(tx: Queryable, tables: readonly CopiedTable[]): Promise<void> {
  const largest = new Map<string, bigint>();
  for (const table of tables) {
    const column = table.identity ?? (table.sequence === undefined ? undefined : 'id');
    if (column === undefined) continue;
    let sequence = table.sequence;
    if (sequence === undefined) {
      const [row] = await tx.query<{ name: string }>('SELECT pg_get_serial_sequence($1, $2) AS name', [table.name, column]);
      sequence = row!.name;
    }
    const [max] = await tx.query<{ max: string | null }>(`SELECT max(${column})::text AS max FROM ${table.name}`);
    const id = BigInt(max?.max ?? 0);
    const before = largest.get(sequence) ?? 0n;
    largest.set(sequence, id > before ? id : before);
  }
  for (const [sequence, id] of largest) {
    // setval(seq, n, true): the next id is n + 1; with no rows, the next is 1.
    await tx.query('SELECT setval($1::regclass, $2, $3)', [sequence, id === 0n ? '1' : id.toString(), id !== 0n]);
  }
}

async function verifyTable(source: Db, tx: Queryable, table: CopiedTable): Promise<TableReport> {
  const sourceRows = Number(source.prepare(`SELECT count(*) FROM ${table.name}`).pluck().get());
  const [row] = await tx.query<{ count: string }>(`SELECT count(*) AS count FROM ${table.name}`);
  const targetRows = Number(row!.count);
  if (table.signed === undefined) return { table: table.name, sourceRows, targetRows, signedCompared: 0, signedMismatches: 0, mismatchedKeys: [] };
  const { compared, mismatches, named } = await compareSigned(source, tx, table, table.signed);
  return { table: table.name, sourceRows, targetRows, signedCompared: compared, signedMismatches: mismatches, mismatchedKeys: named };
}

/**
 * Walks both sides in primary-key order (text bytewise: SQLite's BINARY, PostgreSQL's "C") side by
 * side, comparing each row's key and the SHA-256 of its signed bytes; the target is read through a
 * cursor a page at a time, so neither side is held in memory.
 */
async function compareSigned(source: Db, tx: Queryable, table: CopiedTable, signed: NonNullable<CopiedTable['signed']>): Promise<{ compared: number; mismatches: number; named: string[] }> {
  const isText = (key: string) => table.columns.some(([name, type]) => name === key && type === 'text');
  // Qualified: a bare name in ORDER BY means the output column of that name first, which here is the
  // key cast to text, and versions 10 and up would then sort before 2 (SQLite sorts them as numbers).
  const pgOrder = signed.key.map((k) => (isText(k) ? `${table.name}.${k} COLLATE "C"` : `${table.name}.${k}`)).join(', ');
  const pgKeys = signed.key.map((k) => `${k}::text AS ${k}`).join(', ');
  const cursor = `uptane_verify_${table.name}`;
  await tx.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR SELECT ${pgKeys}, encode(sha256(${signed.column}), 'hex') AS digest FROM ${table.name} ORDER BY ${pgOrder}`);
  const keyList = signed.key.join(', ');
  const rows = source.prepare(`SELECT ${keyList}, ${signed.column} FROM ${table.name} ORDER BY ${keyList}`).raw(true).safeIntegers(true).iterate() as IterableIterator<unknown[]>;
  let page: Array<Record<string, string>> = [];
  let index = 0;
  let compared = 0;
  let mismatches = 0;
  const named: string[] = [];
  const nextTarget = async (): Promise<Record<string, string> | undefined> => {
    if (index >= page.length) {
      page = await tx.query<Record<string, string>>(`FETCH ${VERIFY_FETCH_ROWS} FROM ${cursor}`);
      index = 0;
    }
    return page[index++];
  };
  try {
    for (;;) {
      const sourceRow = rows.next();
      const targetRow = await nextTarget();
      if (sourceRow.done === true && targetRow === undefined) break;
      compared++;
      const sourceKey = sourceRow.done === true ? undefined : signed.key.map((_, i) => String(sourceRow.value[i])).join('/');
      const targetKey = targetRow === undefined ? undefined : signed.key.map((k) => targetRow[k]).join('/');
      const sourceBytes = sourceRow.done === true ? undefined : sourceRow.value[signed.key.length];
      const sourceDigest = Buffer.isBuffer(sourceBytes) ? createHash('sha256').update(sourceBytes).digest('hex') : undefined;
      if (sourceKey === targetKey && sourceDigest !== undefined && sourceDigest === targetRow?.digest) continue;
      mismatches++;
      if (named.length < NAMED_MISMATCHES) named.push(sourceKey ?? targetKey ?? '?');
      // Keys out of step cannot be paired further; the row counts tell the rest.
      if (sourceKey !== targetKey) break;
    }
  } finally {
    rows.return?.();
  }
  await tx.query(`CLOSE ${cursor}`);
  return { compared, mismatches, named };
}
