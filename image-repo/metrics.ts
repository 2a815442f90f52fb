// The Image repository's own metrics beside the shared ones (shared/server/metrics.ts): the seconds
// left before each top-level role it serves expires (read from the stored files at most every few
// seconds: targets can be large), and its database pool.
import { Gauge } from 'prom-client';
import type { Clock } from '../shared/core/clock.js';
import { CachedValue, expiresOf, secondsUntil, type ServerMetrics } from '../shared/server/metrics.js';
import type { ImageRepoStorage } from './store/storage.js';

const ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;

export function addImageMetrics(metrics: ServerMetrics, deps: { storage: ImageRepoStorage; clock: Clock }, options: { readonly ttlMs?: number } = {}): void {
  const { storage, clock } = deps;
  const expiries = new CachedValue(async () => {
    const found: Partial<Record<(typeof ROLES)[number], unknown>> = {};
    for (const role of ROLES) {
      const stored = await storage.latest(role);
      if (stored !== undefined) found[role] = expiresOf(stored.bytes);
    }
    return found;
  }, options.ttlMs ?? 15_000);
  new Gauge({
    name: 'uptane_metadata_expiry_seconds',
    help: 'Seconds until each top-level role the Image repository serves expires (negative once expired)',
    labelNames: ['repository', 'role'],
    registers: [metrics.registry],
    async collect() {
      const found = await expiries.get();
      const now = clock.now();
      for (const role of ROLES) {
        const seconds = secondsUntil(found?.[role], now);
        if (seconds !== undefined) this.set({ repository: 'image', role }, seconds);
      }
    },
  });
  if (storage.poolStats !== undefined) metrics.addPoolGauge(() => storage.poolStats?.());
}
