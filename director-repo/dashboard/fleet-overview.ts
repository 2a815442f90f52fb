// The fleet overview (GET /api/v1/fleet/overview; docs/dashboard.md): vehicles by state, attacks and
// refused manifests in all and in the last 24 hours, and the states over time from stored snapshots.
// The states are counted from what the store keeps per vehicle (docs/dashboard.md "Fleet states at
// scale"), not derived from every vehicle's rows; the answer is still cached for a few seconds and
// concurrent requests share one computation: a hundred open dashboards cost what one does.
import type { Clock } from '../../shared/core/clock.js';
import type { FleetOverview as FleetOverviewContract } from '../api/operator-api.js';
import type { DashboardStore, FleetSnapshot } from '../store/dashboard.js';

export interface FleetOverviewOptions {
  /** A vehicle without a report for this long is stale (default 24 hours). */
  readonly staleAfterMs?: number;
  /** How long one computed overview is served (real time, default 10 s; 0 computes every request, as bench figure 17 measures it). */
  readonly cacheMs?: number;
  /** Snapshots kept and shown (default 288: a day at one per 5 minutes). */
  readonly historyPoints?: number;
}

/** The answer of GET /api/v1/fleet/overview, as the operator API contract defines it. */
export type FleetOverviewAnswer = FleetOverviewContract;

export const DEFAULT_STALE_AFTER_MS = 24 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export class FleetOverview {
  readonly staleAfterMs: number;
  private readonly cacheMs: number;
  private readonly historyPoints: number;
  private cached: { readonly at: number; readonly answer: Promise<FleetOverviewAnswer> } | undefined;

  constructor(
    private readonly store: DashboardStore,
    private readonly clock: Clock,
    options: FleetOverviewOptions = {},
  ) {
    this.staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.cacheMs = options.cacheMs ?? 10_000;
    this.historyPoints = options.historyPoints ?? 288;
  }

  /** The cutoff of "stale" now. */
  staleBefore(): Date {
    return new Date(this.clock.now().getTime() - this.staleAfterMs);
  }

  /** The overview, computed at most once per cacheMs (a failed computation is not kept). */
  overview(): Promise<FleetOverviewAnswer> {
    const now = performance.now();
    if (this.cached !== undefined && now - this.cached.at < this.cacheMs) return this.cached.answer;
    const answer = this.compute();
    const entry = { at: now, answer };
    this.cached = entry;
    answer.catch(() => {
      if (this.cached === entry) this.cached = undefined;
    });
    return answer;
  }

  /** Stores the fleet's states now as one point of the overview's history (the server's timer). */
  async snapshot(): Promise<FleetSnapshot> {
    const snapshot = { at: this.clock.now().toISOString(), byState: await this.store.fleetStates(this.staleBefore()) };
    await this.store.recordFleetSnapshot(snapshot, this.historyPoints);
    return snapshot;
  }

  private async compute(): Promise<FleetOverviewAnswer> {
    const now = this.clock.now();
    const byState = await this.store.fleetStates(this.staleBefore());
    const security = await this.store.securityCounts(new Date(now.getTime() - DAY_MS));
    const history = await this.store.fleetSnapshots(this.historyPoints);
    return {
      vehicles: { total: Object.values(byState).reduce((a, b) => a + b, 0), byState },
      attacks: { total: security.attacks.total, last24h: security.attacks.since },
      refusedManifests: { total: security.refusedManifests.total, last24h: security.refusedManifests.since },
      history,
      computedAt: now.toISOString(),
      staleAfterSeconds: Math.round(this.staleAfterMs / 1000),
    };
  }
}
