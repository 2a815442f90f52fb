// The operator API's reads of the expiry guardian and the alerts (read scope, operator-auth.ts):
// GET /repositories/health (every role's expiry, for the dashboard and scripts) and GET /alerts
// (recent alerts and their delivery state, `uptane director alerts list`).
import type { Router } from 'express';
import type { AlertDelivery } from '../api/operator-api.js';
import { LIMITS, queryInteger } from '../operator-input.js';
import { operatorRoute } from '../operator-routes.js';
import type { RepositoryHealth } from '../repository-health.js';
import type { AlertOutbox, DeliveryRecord } from '../store/alerts.js';

/** A webhook as operators see it: scheme and host. Its path and query may carry the receiver's secret (chat webhooks do). */
export function redactWebhook(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' && parsed.search === '' ? '/' : '/…'}`;
}

const deliveryOf = (d: DeliveryRecord): AlertDelivery => ({
  deliveryId: d.deliveryId,
  webhook: redactWebhook(d.url),
  state: d.state,
  attempts: d.attempts,
  lastStatus: d.lastStatus,
  lastError: d.lastError,
  nextAttemptAt: d.nextAttemptAt,
  deliveredAt: d.deliveredAt,
});

export function alertRoutes(router: Router, deps: { readonly alerts: Pick<AlertOutbox, 'recent'>; readonly health: () => Promise<RepositoryHealth> }): void {
  operatorRoute(router, 'GET /repositories/health', undefined, async () => ({ answer: await deps.health() }));
  operatorRoute(router, 'GET /alerts', undefined, async (req) => {
    const limit = queryInteger(req.query, 'limit', { min: 1, max: LIMITS.pageRows, fallback: 50 });
    const alerts = await deps.alerts.recent(limit);
    return {
      answer: {
        alerts: alerts.map((a) => {
          const notice = JSON.parse(a.body) as { raisedAt?: string; data?: unknown };
          return { id: a.id, event: a.event, raisedAt: notice.raisedAt ?? a.createdAt, data: notice.data ?? null, deliveries: a.deliveries.map(deliveryOf) };
        }),
      },
    };
  });
}
