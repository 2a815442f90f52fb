// The alerts outbox's SQL on SQLite (schema.ts, migration 8). One process serves a SQLite Director,
// so a claim is a plain UPDATE; it still sets claimed_until, so a claim made just before a crash is
// released after its lease like on PostgreSQL.
import type { Db } from '../../../shared/server/sqlite.js';
import { toDeliveryRecord, type AlertEvent, type AlertOutbox, type AlertRecord, type AttemptOutcome, type AttemptRecord, type ClaimedDelivery, type DeliveryRow, type DeliveryState, type NewAlert, type StaleVehicles } from '../alerts.js';
import type { Synchronous } from './transaction-gate.js';

/** Vehicles whose primary ECU last reported (or which registered, never reporting) before the parameter. */
const STALE = 'LEFT JOIN ecus e ON e.vin = v.vin AND e.is_primary = 1 WHERE coalesce(e.reported_at, v.registered_at) < ?';

export class SqliteAlertOutbox implements Synchronous<AlertOutbox> {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      insertAlert: db.prepare<[string, string | null, string, string], { id: number }>(
        'INSERT INTO alerts (event, dedupe_key, body, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id',
      ),
      insertDelivery: db.prepare("INSERT INTO alert_deliveries (alert_id, delivery_id, url, state, attempts, next_attempt_at) VALUES (?, ?, ?, 'pending', 0, ?)"),
      due: db.prepare<[string, string, number], { id: number }>(
        `SELECT id FROM alert_deliveries
          WHERE state = 'pending' AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
          ORDER BY next_attempt_at, id LIMIT ?`,
      ),
      claim: db.prepare<[string, number], { id: number; delivery_id: string; alert_id: number; event: AlertEvent; url: string; body: string; attempts: number }>(
        `UPDATE alert_deliveries SET claimed_until = ? WHERE id = ?
         RETURNING id, delivery_id, alert_id, url, attempts, (SELECT event FROM alerts WHERE alerts.id = alert_id) AS event, (SELECT body FROM alerts WHERE alerts.id = alert_id) AS body`,
      ),
      attempt: db.prepare('INSERT INTO alert_attempts (delivery_row, attempt, at, status, error, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)'),
      attemptsOf: db.prepare<[number], { attempts: number }>('SELECT attempts FROM alert_deliveries WHERE id = ?'),
      update: db.prepare(
        `UPDATE alert_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?, next_attempt_at = ?, delivered_at = ?, claimed_until = NULL WHERE id = ?`,
      ),
      recent: db.prepare<[number], { id: number; event: AlertEvent; created_at: string; body: string }>('SELECT id, event, created_at, body FROM alerts ORDER BY id DESC LIMIT ?'),
      deliveriesOf: db.prepare<[number], DeliveryRow>(
        'SELECT alert_id, delivery_id, url, state, attempts, last_status, last_error, next_attempt_at, delivered_at FROM alert_deliveries WHERE alert_id = ? ORDER BY id',
      ),
      attemptsByDelivery: db.prepare<[string], { attempt: number; at: string; status: number | null; error: string | null; next_attempt_at: string | null }>(
        `SELECT a.attempt, a.at, a.status, a.error, a.next_attempt_at FROM alert_attempts a JOIN alert_deliveries d ON d.id = a.delivery_row
          WHERE d.delivery_id = ? ORDER BY a.attempt`,
      ),
      staleCount: db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM vehicles v ${STALE}`),
      staleSample: db.prepare<[string, number], { vin: string }>(`SELECT v.vin FROM vehicles v ${STALE} ORDER BY v.vin LIMIT ?`),
      // Deliveries and attempts go with their alert (ON DELETE CASCADE).
      pruneFinished: db.prepare<[string, number]>(
        `DELETE FROM alerts WHERE id IN (
           SELECT a.id FROM alerts a
            WHERE a.created_at < ? AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id AND d.state = 'pending')
            ORDER BY a.created_at LIMIT ?)`,
      ),
    };
  }

  pruneFinished(before: Date, limit: number): number {
    return this.s.pruneFinished.run(before.toISOString(), limit).changes;
  }

  staleVehicles(before: Date, sample: number): StaleVehicles {
    const at = before.toISOString();
    return { count: this.s.staleCount.get(at)!.n, sample: this.s.staleSample.all(at, sample).map((r) => r.vin) };
  }

  enqueue(alert: NewAlert): number | undefined {
    return this.db.transaction(() => {
      const row = this.s.insertAlert.get(alert.event, alert.dedupeKey, alert.body, alert.createdAt.toISOString());
      if (row === undefined) return undefined;
      for (const d of alert.deliveries) this.s.insertDelivery.run(row.id, d.deliveryId, d.url, alert.createdAt.toISOString());
      return row.id;
    })();
  }

  claimDue(now: Date, claimUntil: Date, limit: number): ClaimedDelivery[] {
    return this.db.transaction(() => {
      const at = now.toISOString();
      return this.s.due.all(at, at, limit).map(({ id }) => {
        const r = this.s.claim.get(claimUntil.toISOString(), id)!;
        return { id: r.id, deliveryId: r.delivery_id, alertId: r.alert_id, event: r.event, url: r.url, body: r.body, attempts: r.attempts };
      });
    })();
  }

  recordAttempt(id: number, outcome: AttemptOutcome): void {
    this.db.transaction(() => {
      const current = this.s.attemptsOf.get(id);
      if (current === undefined) return;
      const next = outcome.nextAttemptAt?.toISOString() ?? null;
      const state: DeliveryState = outcome.delivered ? 'delivered' : next === null ? 'failed' : 'pending';
      this.s.attempt.run(id, current.attempts + 1, outcome.at.toISOString(), outcome.status, outcome.error, outcome.delivered ? null : next);
      this.s.update.run(state, outcome.status, outcome.error, outcome.delivered ? null : next, outcome.delivered ? outcome.at.toISOString() : null, id);
    })();
  }

  recent(limit: number): AlertRecord[] {
    return this.s.recent.all(limit).map((a) => ({ id: a.id, event: a.event, createdAt: a.created_at, body: a.body, deliveries: this.s.deliveriesOf.all(a.id).map(toDeliveryRecord) }));
  }

  attempts(deliveryId: string): AttemptRecord[] {
    return this.s.attemptsByDelivery.all(deliveryId).map((r) => ({ attempt: r.attempt, at: r.at, status: r.status, error: r.error, nextAttemptAt: r.next_attempt_at }));
  }
}
