// The alerts outbox (issue 19, part 5; docs/decisions.md "Alerts outbox"): every alert the Director
// raises is a row before anyone is told, with one delivery per webhook, so an alert survives a
// restart, is retried with backoff, and its every attempt is recorded. Replicas share the rows; a
// delivery is claimed by one of them at a time (claimDue), so one replica sends it.

/** What raised an alert: the webhook's X-Uptane-Event. */
export const ALERT_EVENTS = ['campaign.halted', 'attack.reported', 'vehicle.stale', 'metadata.expiring', 'metadata.expired', 'database.error'] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface NewAlert {
  readonly event: AlertEvent;
  /**
   * Raised at most once: a second alert with the same key is not stored (an expiry warning per role
   * version, an attack per manifest). Null: always stored.
   */
  readonly dedupeKey: string | null;
  /** The JSON body every webhook receives, exactly as signed. */
  readonly body: string;
  readonly createdAt: Date;
  /** One delivery per webhook: its URL and the delivery id receivers see (X-Uptane-Delivery). */
  readonly deliveries: ReadonlyArray<{ readonly url: string; readonly deliveryId: string }>;
}

/** A delivery claimed for one attempt. */
export interface ClaimedDelivery {
  readonly id: number;
  readonly deliveryId: string;
  readonly alertId: number;
  readonly event: AlertEvent;
  readonly url: string;
  readonly body: string;
  /** Attempts made before this one. */
  readonly attempts: number;
}

/** The outcome of one attempt. */
export interface AttemptOutcome {
  readonly at: Date;
  /** The receiver's HTTP status, or null when none came (refused, timed out). */
  readonly status: number | null;
  readonly error: string | null;
  readonly delivered: boolean;
  /** When to try again; null with `delivered` false: attempts are used up (failed). */
  readonly nextAttemptAt: Date | null;
}

export interface DeliveryRecord {
  readonly deliveryId: string;
  readonly url: string;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly nextAttemptAt: string | null;
  readonly deliveredAt: string | null;
}

export interface AlertRecord {
  readonly id: number;
  readonly event: AlertEvent;
  readonly createdAt: string;
  readonly body: string;
  readonly deliveries: readonly DeliveryRecord[];
}

export interface AttemptRecord {
  readonly attempt: number;
  readonly at: string;
  readonly status: number | null;
  readonly error: string | null;
  readonly nextAttemptAt: string | null;
}

export interface AlertOutbox {
  /** Stores the alert and its deliveries (due now) in one transaction; its id, or undefined when `dedupeKey` was taken. */
  enqueue(alert: NewAlert): Promise<number | undefined>;
  /**
   * Claims up to `limit` pending deliveries due at `now` that no one holds, oldest first, until
   * `claimUntil`: another replica's claimDue skips them until then (a claimer that died releases
   * them that way).
   */
  claimDue(now: Date, claimUntil: Date, limit: number): Promise<ClaimedDelivery[]>;
  /** Records an attempt of the delivery `id` and moves it on: delivered, due again, or failed. */
  recordAttempt(id: number, outcome: AttemptOutcome): Promise<void>;
  /** The newest `limit` alerts, newest first, each with its deliveries. */
  recent(limit: number): Promise<AlertRecord[]>;
  /** The attempts of a delivery (by its public id), oldest first. */
  attempts(deliveryId: string): Promise<AttemptRecord[]>;
  /**
   * What the vehicle.stale alert reads: how many vehicles have not reported (their primary ECU) since
   * `before` (one never reporting counts from its registration, as the dashboard counts stale), and
   * the first `sample` of their VINs. One counting statement on the timer; no fleet is loaded.
   */
  staleVehicles(before: Date, sample: number): Promise<StaleVehicles>;
  /**
   * Removes up to `limit` alerts raised before `before` whose deliveries are all finished (delivered,
   * or failed with their attempts used up; an alert without webhooks has none), oldest first, with
   * their deliveries and attempts; how many. An alert with a delivery still pending is kept, however old.
   */
  pruneFinished(before: Date, limit: number): Promise<number>;
}

export interface StaleVehicles {
  readonly count: number;
  readonly sample: readonly string[];
}

/** A delivery as both backends read it (numbers may come as strings from PostgreSQL). */
export interface DeliveryRow {
  alert_id: number;
  delivery_id: string;
  url: string;
  state: DeliveryState;
  attempts: number | string;
  last_status: number | string | null;
  last_error: string | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
}

export const toDeliveryRecord = (r: DeliveryRow): DeliveryRecord => ({
  deliveryId: r.delivery_id,
  url: r.url,
  state: r.state,
  attempts: Number(r.attempts),
  lastStatus: r.last_status === null ? null : Number(r.last_status),
  lastError: r.last_error,
  nextAttemptAt: r.next_attempt_at,
  deliveredAt: r.delivered_at,
});

