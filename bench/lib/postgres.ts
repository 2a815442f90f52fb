// PostgreSQL for the benchmarks: the server in UPTANE_BENCH_DATABASE_URL (default: the local one,
// trust auth, database `test`), a fresh schema per run (dropped at the end), what its tables weigh,
// and how much CPU the PostgreSQL backends serving a Director used (to split a request's cost between
// the Director and its database).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';

export const BENCH_DATABASE_URL = process.env.UPTANE_BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** Why PostgreSQL cannot be used (the figure then skips itself), or undefined when it answers. */
export async function postgresAbsence(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A schema name no other run uses: `bench_<label>_<random>`. */
export function freshSchema(label: string): string {
  return `bench_${label}_${randomBytes(5).toString('hex')}`;
}

/** BENCH_DATABASE_URL with the tables in `schema` (shared/server/postgres.ts reads the parameter). */
export function urlWithSchema(schema: string): string {
  const url = new URL(BENCH_DATABASE_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
}

/** A pool of connections whose tables are those of `schema` (the bulk loader, size queries). */
export function schemaPool(schema: string, max = 4): pg.Pool {
  return new pg.Pool({ connectionString: BENCH_DATABASE_URL, max, options: `-c search_path=${schema}` });
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Each table of `schema` with its size on disk, indexes and TOAST included (pg_total_relation_size), largest first. */
export async function tableSizes(pool: pg.Pool, schema: string): Promise<Array<{ table: string; bytes: number }>> {
  const { rows } = await pool.query<{ table: string; bytes: string }>(
    `SELECT c.relname AS table, pg_total_relation_size(c.oid) AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 2 DESC`,
    [schema],
  );
  return rows.map((r) => ({ table: r.table, bytes: Number(r.bytes) }));
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** BENCH_DATABASE_URL with the tables in `schema`, its connections named `application` (pg_stat_activity.application_name). */
export function urlWithSchemaAs(schema: string, application: string): string {
  const url = new URL(urlWithSchema(schema));
  url.searchParams.set('application_name', application);
  return url.toString();
}

/** CPU time (user + system, ms) of one process, from /proc; undefined when it cannot be read (ended, or no /proc). */
function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * The CPU time PostgreSQL spends serving the connections named `application`: read the backends' pids
 * from pg_stat_activity, their CPU from /proc (PostgreSQL on this machine). `sample()` returns the
 * total since the first sample of the backends seen so far; a backend that ends between samples takes
 * its last interval with it (the Director's pools keep their connections while busy). Undefined where
 * /proc shows none of them (PostgreSQL on another machine).
 */
export class BackendCpu {
  private readonly client: pg.Client;
  /** CPU of each backend when first seen, ms. */
  private readonly first = new Map<number, number>();
  /** Each backend's last reading. */
  private readonly last = new Map<number, number>();

  private constructor(private readonly application: string) {
    this.client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  }

  static async open(application: string): Promise<BackendCpu> {
    const tracker = new BackendCpu(application);
    await tracker.client.connect();
    return tracker;
  }

  async sample(): Promise<number | undefined> {
    const { rows } = await this.client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [this.application]);
    let readable = false;
    for (const { pid } of rows) {
      const ms = processCpuMs(pid);
      if (ms === undefined) continue;
      readable = true;
      // Counted from 0: the difference of two samples is what matters, and a backend first seen in
      // the later one started between them.
      if (!this.first.has(pid)) this.first.set(pid, 0);
      this.last.set(pid, ms);
    }
    if (!readable && this.last.size === 0) return undefined;
    let total = 0;
    for (const [pid, ms] of this.last) total += ms - this.first.get(pid)!;
    return total;
  }

  close(): Promise<void> {
    return this.client.end();
  }
}
