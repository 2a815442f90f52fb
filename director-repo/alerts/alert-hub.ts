// Where the Director raises alerts (issue 19, part 5): campaign halted, attack reported, vehicles
// stale, metadata expiring or expired, database errors. raise() stores the alert in the outbox
// (store/alerts.ts) with a delivery per webhook, which WebhookDelivery sends; then it tells the
// subscribers in this process (the dashboard's live events subscribe here: `hub.subscribe(fn)`).
// An alert with a dedupe key already stored is neither stored nor told again.
import type { Clock } from '../../shared/core/clock.js';
import { DatabaseUnavailableError } from '../../shared/core/errors.js';
import type { AlertEvent, AlertOutbox } from '../store/alerts.js';
import { newDeliveryId, postWebhook, type WebhookOptions } from './webhook-delivery.js';
import { signedWebhookHeaders } from './webhook-signature.js';

/** What every webhook receives as its JSON body, and what subscribers are told. */
export interface AlertNotice {
  readonly event: AlertEvent;
  /** ISO time the Director raised it. */
  readonly raisedAt: string;
  /** The event's details (a campaign's id and reason, a VIN and its attack codes, a role's expiry, ...). */
  readonly data: Readonly<Record<string, unknown>>;
}

/** Raising alerts, for the services that see the events. */
export interface AlertSink {
  /**
   * Raises `event` once per `dedupeKey` (null: every time). True when it was new. Rejects only when
   * the outbox cannot be written; callers on a request's path catch that (an alert never fails a
   * manifest or an operator's request).
   */
  raise(event: AlertEvent, data: Readonly<Record<string, unknown>>, dedupeKey: string | null): Promise<boolean>;
}

export type AlertListener = (notice: AlertNotice) => void;

/** Database errors are told at most this often (they come in bursts: every request fails at once). */
export const DATABASE_ALERT_INTERVAL_MS = 10 * 60_000;

/** SQLite's codes that are a fault in the SQL or the data sent, not of the database: a bug or bad input, never a database.error. */
const NOT_DATABASE_FAILURES = /^SQLITE_(CONSTRAINT|MISMATCH|RANGE|TOOBIG)/;

/**
 * Whether `err` (or what it wraps) is a failure of the database itself: PostgreSQL's, already
 * DatabaseUnavailableError (shared/server/postgres.ts); SQLite's, better-sqlite3's error by its code
 * (read-only, locked past the busy timeout, full, I/O, corrupt, ...). By code, not class: the class
 * can differ between module instances.
 */
export function isDatabaseFailure(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DatabaseUnavailableError) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_') && !NOT_DATABASE_FAILURES.test(code)) return true;
  }
  return false;
}

export class AlertHub implements AlertSink {
  private readonly listeners = new Set<AlertListener>();
  private lastDatabaseAlert = -Infinity;
  private databaseErrorsSince = 0;

  constructor(
    private readonly outbox: AlertOutbox,
    private readonly clock: Clock,
    /** The webhooks and their secret; none: alerts are recorded (and told to subscribers) only. */
    private readonly webhook: WebhookOptions | undefined,
    private readonly warn: (line: string) => void = () => undefined,
  ) {}

  /** Calls `listener` with every new alert raised in this process; returns the unsubscribe. A listener's throw is logged, never passed on. */
  subscribe(listener: AlertListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async raise(event: AlertEvent, data: Readonly<Record<string, unknown>>, dedupeKey: string | null): Promise<boolean> {
    const now = this.clock.now();
    const notice: AlertNotice = { event, raisedAt: now.toISOString(), data };
    const body = JSON.stringify(notice);
    const id = await this.outbox.enqueue({ event, dedupeKey, body, createdAt: now, deliveries: (this.webhook?.urls ?? []).map((url) => ({ url, deliveryId: newDeliveryId() })) });
    if (id === undefined) return false;
    this.tell(notice);
    return true;
  }

  /**
   * A failure of the database seen (isDatabaseFailure: a failed background round, a failed claim, a
   * request the database failed): at most one alert per DATABASE_ALERT_INTERVAL_MS, counting those in
   * between. The outbox is in that database, so when it cannot be written the alert is sent straight
   * to each webhook, once, unrecorded.
   */
  async databaseError(err: Error): Promise<void> {
    const now = this.clock.now();
    this.databaseErrorsSince++;
    if (now.getTime() - this.lastDatabaseAlert < DATABASE_ALERT_INTERVAL_MS) return;
    this.lastDatabaseAlert = now.getTime();
    const data = { message: err.message, errorsSinceLastAlert: this.databaseErrorsSince };
    this.databaseErrorsSince = 0;
    try {
      await this.raise('database.error', data, null);
    } catch (failed) {
      if (!isDatabaseFailure(failed)) throw failed;
      const notice: AlertNotice = { event: 'database.error', raisedAt: now.toISOString(), data };
      this.tell(notice);
      await this.sendUnrecorded(notice);
    }
  }

  private async sendUnrecorded(notice: AlertNotice): Promise<void> {
    if (this.webhook === undefined) return;
    const body = JSON.stringify(notice);
    const webhook = this.webhook;
    await Promise.all(
      webhook.urls.map(async (url) => {
        const { error } = await postWebhook(url, signedWebhookHeaders(webhook.secret, notice.event, newDeliveryId(), body, this.clock.now()), body, webhook);
        if (error !== null) this.warn(`database alert to ${url} not delivered: ${error}`);
      }),
    );
  }

  private tell(notice: AlertNotice): void {
    for (const listener of this.listeners) {
      try {
        listener(notice);
      } catch (err) {
        this.warn(`an alert listener failed: ${(err as Error).message}`);
      }
    }
  }
}
