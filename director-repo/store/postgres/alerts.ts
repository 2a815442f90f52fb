// The alerts outbox on PostgreSQL (schema.ts, migration 3), shared by replicas: a delivery is claimed
// with FOR UPDATE SKIP LOCKED and a claimed_until lease in one statement, so two replicas claiming
// at once take different rows, and a replica that dies mid-delivery releases its rows when the
// lease runs out.
import { toDeliveryRecord, type AlertEvent, type AlertOutbox, type AlertRecord, type AttemptOutcome, type AttemptRecord, type ClaimedDelivery, type DeliveryState, type NewAlert, type StaleVehicles } from '../alerts.js';
import { num, run, storableText, type Queryable } from './sql.js';
import type { PostgresDatabase } from '../../../shared/server/postgres.js';

export class PostgresAlertOutbox implements AlertOutbox {
  constructor(private readonly db: PostgresDatabase) {}

  private get q(): Queryable {
    return this.db;
  }

  enqueue(alert: NewAlert): Promise<number | undefined> {
    return this.db.transaction('read committed', async (tx) => {
      const rows = await run<{ id: string }>(
        tx,
        'INSERT INTO alerts (event, dedupe_key, body, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id',
        [alert.event, alert.dedupeKey, storableText(alert.body), alert.createdAt.toISOString()],
      );
      if (rows.length === 0) return undefined;
      const id = num(rows[0]!.id);
      for (const d of alert.deliveries) {
        await run(tx, "INSERT INTO alert_deliveries (alert_id, delivery_id, url, state, attempts, next_attempt_at) VALUES ($1, $2, $3, 'pending', 0, $4)", [
          id,
          d.deliveryId,
          d.url,
          alert.createdAt.toISOString(),
        ]);
      }
      return id;
    });
  }

  async claimDue(now: Date, claimUntil: Date, limit: number): Promise<ClaimedDelivery[]> {
    const rows = await run<{ id: string; delivery_id: string; alert_id: string; url: string; attempts: number; event: AlertEvent; body: string }>(
      this.q,
      `WITH due AS (
         SELECT id FROM alert_deliveries
          WHERE state = 'pending' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
          ORDER BY next_attempt_at, id LIMIT $3
          FOR UPDATE SKIP LOCKED
       )
       UPDATE alert_deliveries d SET claimed_until = $2 FROM due, alerts a
        WHERE d.id = due.id AND a.id = d.alert_id
       RETURNING d.id, d.delivery_id, d.alert_id, d.url, d.attempts, a.event, a.body`,
      [now.toISOString(), claimUntil.toISOString(), limit],
    );
    return rows
      .map((r) => ({ id: num(r.id), deliveryId: r.delivery_id, alertId: num(r.alert_id), event: r.event, url: r.url, body: r.body, attempts: Number(r.attempts) }))
      .sort((a, b) => a.id - b.id);
  }

  recordAttempt(id: number, outcome: AttemptOutcome): Promise<void> {
    return this.db.transaction('read committed', async (tx) => {
      const current = await run<{ attempts: number }>(tx, 'SELECT attempts FROM alert_deliveries WHERE id = $1 FOR UPDATE', [id]);
      if (current.length === 0) return;
      const next = outcome.delivered ? null : (outcome.nextAttemptAt?.toISOString() ?? null);
      const state: DeliveryState = outcome.delivered ? 'delivered' : next === null ? 'failed' : 'pending';
      const error = outcome.error === null ? null : storableText(outcome.error);
      await run(tx, 'INSERT INTO alert_attempts (delivery_row, attempt, at, status, error, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        id,
        Number(current[0]!.attempts) + 1,
        outcome.at.toISOString(),
        outcome.status,
        error,
        next,
      ]);
      await run(
        tx,
        'UPDATE alert_deliveries SET state = $1, attempts = attempts + 1, last_status = $2, last_error = $3, next_attempt_at = $4, delivered_at = $5, claimed_until = NULL WHERE id = $6',
        [state, outcome.status, error, next, outcome.delivered ? outcome.at.toISOString() : null, id],
      );
    });
  }

  async recent(limit: number): Promise<AlertRecord[]> {
    const alerts = await run<{ id: string; event: AlertEvent; created_at: string; body: string }>(this.q, 'SELECT id, event, created_at, body FROM alerts ORDER BY id DESC LIMIT $1', [limit]);
    if (alerts.length === 0) return [];
    const deliveries = await run<{
      alert_id: string;
      delivery_id: string;
      url: string;
      state: DeliveryState;
      attempts: number;
      last_status: number | null;
      last_error: string | null;
      next_attempt_at: string | null;
      delivered_at: string | null;
    }>(
      this.q,
      'SELECT alert_id, delivery_id, url, state, attempts, last_status, last_error, next_attempt_at, delivered_at FROM alert_deliveries WHERE alert_id = ANY($1::bigint[]) ORDER BY id',
      [alerts.map((a) => a.id)],
    );
    return alerts.map((a) => ({
      id: num(a.id),
      event: a.event,
      createdAt: a.created_at,
      body: a.body,
      deliveries: deliveries.filter((d) => d.alert_id === a.id).map((d) => toDeliveryRecord({ ...d, alert_id: num(d.alert_id) })),
    }));
  }

  async staleVehicles(before: Date, sample: number): Promise<StaleVehicles> {
    const stale = 'LEFT JOIN ecus e ON e.vin = v.vin AND e.is_primary WHERE coalesce(e.reported_at, v.registered_at) < $1';
    const [count] = await run<{ n: string }>(this.q, `SELECT count(*) AS n FROM vehicles v ${stale}`, [before.toISOString()]);
    const rows = await run<{ vin: string }>(this.q, `SELECT v.vin FROM vehicles v ${stale} ORDER BY v.vin LIMIT $2`, [before.toISOString(), sample]);
    return { count: num(count!.n), sample: rows.map((r) => r.vin) };
  }

  async pruneFinished(before: Date, limit: number): Promise<number> {
    // Deliveries and attempts go with their alert (ON DELETE CASCADE).
    const rows = await run<{ id: string }>(
      this.q,
      `DELETE FROM alerts WHERE id IN (
         SELECT a.id FROM alerts a
          WHERE a.created_at < $1 AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id AND d.state = 'pending')
          ORDER BY a.created_at LIMIT $2)
       RETURNING id`,
      [before.toISOString(), limit],
    );
    return rows.length;
  }

  async attempts(deliveryId: string): Promise<AttemptRecord[]> {
    const rows = await run<{ attempt: number; at: string; status: number | null; error: string | null; next_attempt_at: string | null }>(
      this.q,
      `SELECT a.attempt, a.at, a.status, a.error, a.next_attempt_at FROM alert_attempts a JOIN alert_deliveries d ON d.id = a.delivery_row
        WHERE d.delivery_id = $1 ORDER BY a.attempt`,
      [deliveryId],
    );
    return rows.map((r) => ({ attempt: Number(r.attempt), at: r.at, status: r.status, error: r.error, nextAttemptAt: r.next_attempt_at }));
  }
}
