// A lease on work that one replica of a server does at a time (campaign rounds, pruning), on a
// PostgreSQL database the replicas share: a session-level advisory lock held on a connection of its
// own. PostgreSQL releases it when that session ends, so when the holder dies (its process killed,
// its host gone: the session's TCP keepalives, postgres.ts openSession) another replica takes the
// lease at its next try; nothing needs renewing and no clock is compared.
//
// A lease avoids duplicate work; it does not make the work safe to run twice. A holder cut off from
// the database learns it at its next check, and a round it already started may overlap the new
// holder's first: each round is units of work (SERIALIZABLE) that stay correct side by side.
import type pg from 'pg';
import { DatabaseUnavailableError } from '../core/errors.js';
import type { PostgresDatabase } from './postgres.js';

export class PostgresLease {
  private client: pg.Client | undefined;
  private holding = false;
  /** The check in progress: a replica's rounds never ask twice at once. */
  private checking: Promise<boolean> | undefined;
  private closed = false;

  /** `name` says what the lease is for; one per schema, so servers in other schemas hold their own. */
  constructor(
    private readonly db: PostgresDatabase,
    private readonly name: string,
  ) {}

  /** Whether this replica holds the lease now (confirmed on its session), trying to take it if not. */
  held(): Promise<boolean> {
    this.checking ??= this.check().finally(() => (this.checking = undefined));
    return this.checking;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.drop();
  }

  private async check(): Promise<boolean> {
    if (this.closed) return false;
    try {
      const client = this.client ?? (await this.connect());
      if (this.holding) {
        // The lock lives as long as the session: the session answering is the lease confirmed.
        await client.query('SELECT 1');
        return true;
      }
      const [row] = (await client.query<{ taken: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS taken', ['uptane-lease', `${this.db.schema}:${this.name}`])).rows;
      this.holding = row?.taken === true;
      return this.holding;
    } catch (err) {
      // Session lost (or never made): whatever it held is released by PostgreSQL; next time, a new one.
      await this.drop();
      if (this.db.translate(err) instanceof DatabaseUnavailableError || /Query read timeout/.test(String((err as Error).message))) return false;
      throw err;
    }
  }

  private async connect(): Promise<pg.Client> {
    const client = await this.db.openSession(`lease ${this.name}`);
    client.on('error', () => {
      if (this.client === client) void this.drop();
    });
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new DatabaseUnavailableError('the lease was closed', 1);
    }
    this.client = client;
    return client;
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.holding = false;
    await client?.end().catch(() => undefined);
  }
}
