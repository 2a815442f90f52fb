// Opening PostgreSQL the way every server here needs it: a pool of connections with a statement
// timeout, numbered migrations applied once however many replicas start together, transactions at
// the isolation each unit of work asks for (retried when PostgreSQL reports a serialization failure
// or a deadlock), and every failure of the database itself turned into DatabaseUnavailableError:
// a fault the server answers with 503 and Retry-After, never a verdict on the request.
//
// The embedded default is SQLite (sqlite.ts); `--database postgres://...` (or UPTANE_DATABASE_URL)
// selects this. A `schema` query parameter (postgres://host/db?schema=director) puts a server's
// tables in a schema of their own, so the Director and the Image repository can share a database.
import pg from 'pg';
import { DatabaseUnavailableError, StorageError } from '../core/errors.js';

export type Isolation = 'read committed' | 'repeatable read' | 'serializable';

/** What a unit of work runs its statements through: one connection, inside its transaction. */
export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface PostgresOptions {
  /** Connections in the pool (default 10): each replica holds at most this many. */
  readonly poolSize?: number;
  /** Longest a statement may run before PostgreSQL cancels it (default 15 s). */
  readonly statementTimeoutMs?: number;
  /** Longest to wait for a connection, from the pool or a new one (default 5 s). */
  readonly connectTimeoutMs?: number;
  /** Shown in pg_stat_activity, so an operator sees which server holds a connection. */
  readonly applicationName?: string;
  /** Seconds a client is told to wait (Retry-After) when the database is unavailable (default 5). */
  readonly retryAfterSeconds?: number;
}

/** SQLSTATEs after which the same transaction, run again, may well succeed. */
const RETRY_SQLSTATES = new Set(['40001', '40P01']);
/** How often a unit of work is tried when it keeps meeting serialization failures. */
const MAX_ATTEMPTS = 5;

/**
 * SQLSTATE classes and codes that say the database, not the request, failed: connection lost or
 * refused (08), insufficient resources such as a full disk (53), operator intervention such as a
 * shutdown or a cancelled (timed out) statement (57), a system I/O error (58), a read-only server
 * (25006), and serialization failures that kept coming after every retry (40).
 */
function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e.code !== 'string') {
    // Errors of the driver or the socket rather than of PostgreSQL: no SQLSTATE.
    return err instanceof Error && /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended/i.test(String(e.message));
  }
  if (e.code.startsWith('E')) return true; // ECONNREFUSED and its kin, as the driver passes them on
  return ['08', '53', '57', '58', '40'].includes(e.code.slice(0, 2)) || e.code === '25006';
}

/** The statement failed because of a constraint (unique, foreign key, check): a verdict on the data, for the store to translate. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** PostgreSQL's SQLSTATE for a unique violation: the stores turn it into their ConflictError. */
export const UNIQUE_VIOLATION = '23505';

export class PostgresDatabase {
  private constructor(
    private readonly pool: pg.Pool,
    /** The schema the tables live in (search_path of every connection). */
    readonly schema: string,
    private readonly retryAfterSeconds: number,
    /** What a dedicated session (openSession) connects with: the pool's own settings. */
    private readonly sessionConfig: pg.ClientConfig,
  ) {}

  /**
   * Connects, creates the schema if needed and applies the migrations `component` has not yet
   * applied. Migration N (1-based) is `migrations[N-1]`; never edit one that has shipped. A database
   * whose schema is newer than this program is refused: an older replica must not write to it.
   */
  static async open(url: string, component: string, migrations: readonly string[], options: PostgresOptions = {}): Promise<PostgresDatabase> {
    const { connectionString, schema } = splitSchema(url, component);
    const statementTimeoutMs = options.statementTimeoutMs ?? 15_000;
    const sessionConfig: pg.ClientConfig = {
      connectionString,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      application_name: options.applicationName ?? `uptane ${component}`,
      // Statement timeouts and the search path are set at connection start, so no unit of work runs without them.
      options: `-c search_path=${schema} -c statement_timeout=${statementTimeoutMs} -c idle_in_transaction_session_timeout=${statementTimeoutMs * 2}`,
    };
    const pool = new pg.Pool({ ...sessionConfig, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    // A pooled connection that dies while idle (PostgreSQL restarted) must not end the process: the
    // pool drops it, and the next query opens a new one.
    pool.on('error', () => undefined);
    const db = new PostgresDatabase(pool, schema, options.retryAfterSeconds ?? 5, sessionConfig);
    try {
      await db.migrate(component, migrations);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return db;
  }

  /** The pool's connections for /metrics: open, idle, and requests waiting for one. */
  poolStats(): { total: number; idle: number; waiting: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  /** One statement on any pooled connection, in a transaction of its own. */
  async query<R extends object = Record<string, unknown>>(text: string, params: readonly unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, params as unknown[])).rows;
    } catch (err) {
      throw this.translate(err);
    }
  }

  /**
   * Runs `work` in one transaction at `isolation`: committed when it resolves (and only then does
   * this resolve: durable acknowledgement), rolled back when it throws. A serialization failure or
   * a deadlock runs the whole of `work` again, up to MAX_ATTEMPTS times, so `work` must do nothing
   * but statements through `tx` (no network, no timers, no side effects outside the database).
   */
  async transaction<T>(isolation: Isolation, work: (tx: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw this.translate(err);
      }
      let broken = false;
      // The pool listens for a connection's death only while it is idle: checked out here, a
      // terminated backend would emit 'error' with no listener and end the process. The failed
      // statement rejects on its own; this marks the connection for the pool to drop.
      const onError = () => (broken = true);
      client.on('error', onError);
      try {
        await client.query(`BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`);
        const tx: Queryable = { query: async (text, params = []) => (await client.query(text, params as unknown[])).rows as never };
        const result = await work(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => (broken = true));
        const state = sqlState(err);
        if (state === undefined || !RETRY_SQLSTATES.has(state) || attempt >= MAX_ATTEMPTS) throw this.translate(err);
      } finally {
        client.removeListener('error', onError);
        client.release(broken);
      }
      // Rivals that failed together would collide again if they retried together: each waits a
      // random while, growing with the attempt (up to 10, 20, 40, 80 ms), connection released.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * 2 ** (attempt - 1)));
    }
  }

  /** Runs `work` while holding the session-level advisory lock `key` on one connection. */
  private async withMigrationLock<T>(key: string, work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.transaction('read committed', async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
      return work(tx);
    });
  }

  private async migrate(component: string, migrations: readonly string[]): Promise<void> {
    // Several replicas starting together: the first applies the migrations, the others wait for its
    // lock and then find nothing left to do.
    await this.withMigrationLock(`uptane-migrate:${this.schema}:${component}`, async (tx) => {
      await tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.schema)}`);
      await tx.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           component TEXT NOT NULL,
           version INTEGER NOT NULL,
           applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
           PRIMARY KEY (component, version)
         )`,
      );
      const [row] = await tx.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations WHERE component = $1', [component]);
      const current = row?.version ?? 0;
      if (current > migrations.length) {
        throw new StorageError(
          `the ${component} schema in PostgreSQL (${this.schema}) is at version ${current}, newer than this program (${migrations.length}): upgrade the program`,
        );
      }
      for (let version = current + 1; version <= migrations.length; version++) {
        await tx.query(migrations[version - 1]!);
        await tx.query('INSERT INTO schema_migrations (component, version) VALUES ($1, $2)', [component, version]);
      }
    });
  }

  /**
   * A connection of its own, outside the pool, for what lives as long as a session: LISTEN, and
   * session-level advisory locks, which PostgreSQL releases when the session ends (the holder died).
   * Both sides probe the peer (TCP keepalives every few seconds), so a holder whose host vanished
   * without closing the socket loses its session, and its locks, within about 15 s. The caller
   * listens for 'error' and ends the client; DatabaseUnavailableError when it cannot connect.
   */
  async openSession(purpose: string): Promise<pg.Client> {
    const client = new pg.Client({
      ...this.sessionConfig,
      application_name: `${this.sessionConfig.application_name ?? 'uptane'} ${purpose}`.slice(0, 63),
      // A session holds no statement open (LISTEN and lock calls are short): the server's probes
      // (tcp_keepalives_*) end a session whose client host is gone; the client's own notice a server gone.
      options: `${this.sessionConfig.options ?? ''} -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3`,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5_000,
      // A session's own statements are instant; one unanswered this long means the server is out of reach.
      query_timeout: 5_000,
    });
    // A connection lost before (or besides) the caller's own 'error' listener must not end the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw this.translate(err);
    }
    return client;
  }

  /** Applied migrations of `component` (tests, `db status`). */
  async schemaVersion(component: string): Promise<number> {
    const [row] = await this.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations WHERE component = $1', [component]);
    return row?.version ?? 0;
  }

  /** Turns a failure of the database into DatabaseUnavailableError; leaves every other error as it is. */
  translate(err: unknown): unknown {
    if (err instanceof DatabaseUnavailableError || !isUnavailable(err)) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new DatabaseUnavailableError(`the database is unavailable (${message}): retry later`, this.retryAfterSeconds, { cause: err });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Is `url` one this module opens (postgres:// or postgresql://)? */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Takes the `schema` query parameter out of `url` (the driver would pass it on to PostgreSQL as a
 * setting it does not know); without one, the tables go to the schema named after the component.
 */
function splitSchema(url: string, component: string): { connectionString: string; schema: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StorageError(`--database ${redactUrl(url)} is not a URL: give postgres://user@host:5432/database`);
  }
  const schema = parsed.searchParams.get('schema') ?? component;
  parsed.searchParams.delete('schema');
  if (!SCHEMA_NAME.test(schema)) throw new StorageError(`schema ${JSON.stringify(schema)} in --database is not a plain lower-case SQL name ([a-z_][a-z0-9_]*)`);
  return { connectionString: parsed.toString(), schema };
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
