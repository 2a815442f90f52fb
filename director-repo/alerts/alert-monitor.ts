// What the Director checks on a timer to raise alerts (issue 19, parts 5 and 6): every role's expiry
// (repository-health.ts) and vehicles that stopped reporting. Each alert carries a dedupe key, so a
// condition is alerted once however many rounds (or replicas) see it: an expiry once per role
// version and state, stale vehicles once per day and each doubling of their count.
import type { Clock } from '../../shared/core/clock.js';
import type { AlertOutbox } from '../store/alerts.js';
import type { RepositoryHealth } from '../repository-health.js';
import type { AlertSink } from './alert-hub.js';

export interface AlertMonitorOptions {
  /** A vehicle whose primary has not reported for this long is stale; undefined: not checked. */
  readonly staleAfterMs?: number;
  /** VINs named in a stale alert. */
  readonly staleSample?: number;
  /**
   * How often stale vehicles are counted (default an hour, the first an hour after start): the count
   * reads every vehicle's primary, about a second at a million vehicles, so it is not run every round.
   */
  readonly staleCheckMs?: number;
}

export const DEFAULT_STALE_SAMPLE = 20;

export const DEFAULT_STALE_CHECK_MS = 3_600_000;

export class AlertMonitor {
  private lastStaleCheck: number;

  constructor(
    private readonly sink: AlertSink,
    private readonly health: () => Promise<RepositoryHealth>,
    private readonly outbox: Pick<AlertOutbox, 'staleVehicles'>,
    private readonly clock: Clock,
    private readonly options: AlertMonitorOptions = {},
  ) {
    this.lastStaleCheck = clock.now().getTime();
  }

  /** One round: expiry of every role, then stale vehicles. The alerts it raised, by event. */
  async round(): Promise<string[]> {
    const raised: string[] = [];
    const health = await this.health();
    for (const role of health.roles) {
      if (role.state === 'ok') continue;
      const event = role.state === 'expired' ? 'metadata.expired' : 'metadata.expiring';
      const data = { repository: role.repository, role: role.role, version: role.version, expires: role.expires, secondsLeft: role.secondsLeft, online: role.online, threshold: role.threshold, keyids: role.keyids };
      if (await this.sink.raise(event, data, `expiry:${role.repository}:${role.role}:v${role.version}:${role.state}`)) raised.push(event);
    }
    const now = this.clock.now();
    if (this.options.staleAfterMs !== undefined && now.getTime() - this.lastStaleCheck >= (this.options.staleCheckMs ?? DEFAULT_STALE_CHECK_MS)) {
      this.lastStaleCheck = now.getTime();
      const stale = await this.outbox.staleVehicles(new Date(now.getTime() - this.options.staleAfterMs), this.options.staleSample ?? DEFAULT_STALE_SAMPLE);
      if (stale.count > 0) {
        // Once a day, and again whenever the count reaches the next power of two that day.
        const bucket = 2 ** Math.floor(Math.log2(stale.count));
        const data = { count: stale.count, staleAfterSeconds: Math.round(this.options.staleAfterMs / 1000), sample: stale.sample };
        if (await this.sink.raise('vehicle.stale', data, `vehicle-stale:${now.toISOString().slice(0, 10)}:${bucket}`)) raised.push('vehicle.stale');
      }
    }
    return raised;
  }
}
