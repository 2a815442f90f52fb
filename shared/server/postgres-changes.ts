// Word between replicas of a server on one PostgreSQL database that something they keep in memory
// changed: NOTIFY on a channel per topic, heard by every replica on a connection of its own that
// LISTENs. A replica that loses that connection (PostgreSQL restarted, a network cut) cannot know
// what it missed: it is told, so its caches empty, stays "not listening" (callers keep nothing in
// memory meanwhile) and connects again with a growing delay.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { DatabaseUnavailableError } from '../core/errors.js';
import type { PostgresDatabase } from './postgres.js';

export interface ChangeFeedOptions {
  /** First wait before connecting again after a loss; doubles up to maxRetryMs (defaults 250 ms and 5 s). */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
  /** Where losses and recoveries are told. */
  readonly log?: (line: string) => void;
}

export class PostgresChangeFeed<T extends string> {
  private client: pg.Client | undefined;
  private readonly listeners = new Map<T, Array<() => void>>();
  private readonly messageListeners = new Map<T, Array<(payload: string) => void>>();
  private readonly channels = new Map<string, T>();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private closed = false;

  constructor(
    private readonly db: PostgresDatabase,
    topics: readonly T[],
    private readonly options: ChangeFeedOptions = {},
  ) {
    this.retryMs = options.retryMs ?? 250;
    for (const topic of topics) this.channels.set(channelOf(db.schema, topic), topic);
  }

  /** Connects and listens; a failure is not thrown but retried in the background (`listening` says). */
  async start(): Promise<void> {
    await this.connect();
  }

  get listening(): boolean {
    return this.client !== undefined;
  }

  subscribe(topic: T, listener: () => void): void {
    const list = this.listeners.get(topic) ?? [];
    list.push(listener);
    this.listeners.set(topic, list);
  }

  /**
   * Calls `listener` with the payload of every non-empty announcement of `topic` (announceMessage):
   * word that carries its news, such as the dashboard's live events. Missed ones are not told again.
   */
  subscribeMessages(topic: T, listener: (payload: string) => void): void {
    const list = this.messageListeners.get(topic) ?? [];
    list.push(listener);
    this.messageListeners.set(topic, list);
  }

  /** NOTIFY with a payload (under PostgreSQL's 8000 bytes), to every listening replica, this one included. */
  async announceMessage(topic: T, payload: string): Promise<void> {
    await this.db.query('SELECT pg_notify($1, $2)', [channelOf(this.db.schema, topic), payload]);
  }

  /** NOTIFY through the pool: delivered to every listening replica once sent (it runs in a transaction of its own). */
  async announce(topic: T): Promise<void> {
    await this.db.query('SELECT pg_notify($1, $2)', [channelOf(this.db.schema, topic), '']);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    let client: pg.Client;
    try {
      client = await this.db.openSession('changes');
    } catch (err) {
      if (!(err instanceof DatabaseUnavailableError)) throw err;
      this.scheduleRetry(err.message);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    client.on('notification', (message) => {
      const topic = this.channels.get(message.channel);
      if (topic === undefined) return;
      if (message.payload !== undefined && message.payload !== '') for (const listener of this.messageListeners.get(topic) ?? []) listener(message.payload);
      this.tell(topic);
    });
    client.on('error', () => this.lost(client, 'its connection failed'));
    client.on('end', () => this.lost(client, 'its connection ended'));
    try {
      for (const channel of this.channels.keys()) await client.query(`LISTEN "${channel}"`);
    } catch (err) {
      await client.end().catch(() => undefined);
      this.scheduleRetry((err as Error).message);
      return;
    }
    this.client = client;
    this.retryMs = this.options.retryMs ?? 250;
    // Whatever was announced while nobody here listened is unknown: everything is told.
    for (const topic of this.channels.values()) this.tell(topic);
  }

  private lost(client: pg.Client, why: string): void {
    if (this.client !== client) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    for (const topic of this.channels.values()) this.tell(topic);
    if (!this.closed) this.scheduleRetry(why);
  }

  private scheduleRetry(why: string): void {
    if (this.closed || this.retryTimer !== undefined) return;
    this.options.log?.(`not hearing changes from other replicas (${why}); connecting again in ${this.retryMs} ms, keeping nothing in memory meanwhile`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      // Anything else than an unavailable database (a password changed meanwhile) is retried too: a
      // background loop has no caller to fail, and the replica keeps nothing in memory meanwhile.
      this.connect().catch((err: unknown) => this.scheduleRetry(err instanceof Error ? err.message : String(err)));
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(2 * this.retryMs, this.options.maxRetryMs ?? 5_000);
  }

  private tell(topic: T): void {
    for (const listener of this.listeners.get(topic) ?? []) listener();
  }
}

/**
 * A channel per schema and topic: LISTEN reaches the whole database, where other servers (or test
 * files) keep their tables in other schemas. Hashed, since a channel name is at most 63 bytes.
 */
function channelOf(schema: string, topic: string): string {
  return `uptane_${createHash('sha256').update(`${schema}\0${topic}`).digest('hex').slice(0, 40)}`;
}
