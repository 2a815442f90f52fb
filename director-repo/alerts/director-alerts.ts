// The Director's alerts, put together for its server (server.ts): the hub that raises and records
// them, the hooks on the events (campaign halts, attacks reported), the timer that checks expiry and
// stale vehicles and prunes finished alerts past their retention, the timer that delivers the outbox
// to the webhooks, and database.error for a request the database failed. With replicas the checks
// run on the holder of the `alerts` lease; every replica delivers, each claiming different rows
// (store/alerts.ts), so an alert is sent by one of them.
import type { Clock } from '../../shared/core/clock.js';
import { UptaneError } from '../../shared/core/errors.js';
import { BackgroundTask, type BackgroundStatus } from '../../shared/server/background-task.js';
import { DEFAULT_EXPIRY_WARNINGS, type ExpiryWarnings, type RoleLoader } from '../../shared/uptane/role-expiry.js';
import type { DirectorServices } from '../director.js';
import { repositoryHealth, type RepositoryHealth } from '../repository-health.js';
import type { DirectorStorage } from '../store/director-store.js';
import type { VehicleMetadataConfig } from '../vehicle-metadata.js';
import { AlertHub, isDatabaseFailure } from './alert-hub.js';
import { AlertMonitor } from './alert-monitor.js';
import { checkWebhookUrl, DEFAULT_WEBHOOK_OPTIONS, WebhookDelivery, type WebhookOptions } from './webhook-delivery.js';

export interface DirectorAlertOptions {
  /** Webhooks every alert is POSTed to (`--webhook`); none: alerts are recorded and listed only. */
  readonly webhooks?: readonly string[];
  /** The HMAC secret shared with the receivers (from `--webhook-secret-env`); required with webhooks. */
  readonly webhookSecret?: string;
  /** Timeouts, answer cap, attempts and backoff (DEFAULT_WEBHOOK_OPTIONS). */
  readonly delivery?: Partial<Omit<WebhookOptions, 'urls' | 'secret'>>;
  /** Warning windows (DEFAULT_EXPIRY_WARNINGS: 30 days offline, 6 hours online). */
  readonly expiryWarnings?: Partial<ExpiryWarnings>;
  /** A vehicle not reporting for this long raises vehicle.stale (default 7 days; 0 turns the check off). */
  readonly staleAfterMs?: number;
  /** How often expiry is checked (default 5 minutes). */
  readonly checkIntervalMs?: number;
  /** How often stale vehicles are counted (default an hour; alert-monitor.ts says why not every round). */
  readonly staleCheckMs?: number;
  /** How often due deliveries are sent (default 2 seconds). */
  readonly deliveryIntervalMs?: number;
  /**
   * Finished alerts (every delivery delivered or failed) older than this are removed on the check
   * timer (default 90 days, longer than the expiry warning window, so an expiry is not re-raised
   * while its warning is kept). 0 keeps every alert.
   */
  readonly retentionMs?: number;
  /** Alerts removed per statement when pruning, and statements per check round (defaults 1,000 and 10). */
  readonly pruneBatch?: number;
  readonly pruneBatchesPerRound?: number;
}

export const DEFAULT_STALE_AFTER_MS = 7 * 24 * 3_600_000;
export const DEFAULT_ALERT_RETENTION_MS = 90 * 24 * 3_600_000;
const DEFAULT_PRUNE_BATCH = 1_000;
const DEFAULT_PRUNE_BATCHES_PER_ROUND = 10;
const DEFAULT_CHECK_INTERVAL_MS = 5 * 60_000;
const DEFAULT_DELIVERY_INTERVAL_MS = 2_000;
/** The shortest secret accepted: an HMAC key a receiver cannot guess. */
const MIN_SECRET_LENGTH = 16;

export interface DirectorAlerts {
  /** Raise alerts, or subscribe to them (`alerts.hub.subscribe(notice => ...)`, e.g. the dashboard's live events). */
  readonly hub: AlertHub;
  /** Every role's expiry, as GET /api/v1/repositories/health answers. */
  health(): Promise<RepositoryHealth>;
  /** One round of the checks now (on the lease holder), as the timer runs it; never rejects. */
  checkNow(): Promise<void>;
  /** One delivery round now, as the timer runs it; never rejects. */
  deliverNow(): Promise<void>;
  /**
   * A request was answered with `err`: a failure of the database itself raises database.error (at
   * most once per DATABASE_ALERT_INTERVAL_MS, like the timers'); anything else is the request's own.
   * Never throws, never awaited.
   */
  requestFailed(err: unknown): void;
  checkStatus(): BackgroundStatus;
  deliveryStatus(): BackgroundStatus;
  /** Stops the timers; resolves once the round begun at start has ended. */
  stop(): Promise<void>;
}

/** Refuses a webhook setup that could not work: a bad URL, or webhooks without a (long enough) secret. */
export function checkAlertOptions(options: DirectorAlertOptions): void {
  for (const url of options.webhooks ?? []) checkWebhookUrl(url);
  if ((options.webhooks ?? []).length === 0) return;
  if (options.webhookSecret === undefined || options.webhookSecret.length < MIN_SECRET_LENGTH) {
    throw new Error(`webhooks need a shared secret of at least ${MIN_SECRET_LENGTH} characters: put one in an environment variable and name it with --webhook-secret-env`);
  }
}

export function startDirectorAlerts(deps: {
  readonly storage: DirectorStorage;
  readonly services: Pick<DirectorServices, 'campaigns' | 'intake'>;
  readonly clock: Clock;
  readonly options: DirectorAlertOptions;
  /** The Image repository's metadata as the Director verified it (its client's folder). */
  readonly imageMetadata?: RoleLoader;
  /** Refreshes that metadata from the Image repository before each check (image-catalog.ts refreshMetadata). */
  readonly refreshImageMetadata?: () => Promise<void>;
  readonly metadata?: Partial<VehicleMetadataConfig>;
  readonly warn: (line: string) => void;
}): DirectorAlerts {
  const { storage, services, clock, options, warn } = deps;
  checkAlertOptions(options);
  const warnings = { ...DEFAULT_EXPIRY_WARNINGS, ...options.expiryWarnings };
  const webhook: WebhookOptions | undefined =
    (options.webhooks ?? []).length === 0 ? undefined : { ...DEFAULT_WEBHOOK_OPTIONS, ...options.delivery, urls: [...options.webhooks!], secret: options.webhookSecret! };
  const hub = new AlertHub(storage.alerts, clock, webhook, warn);
  const health = () => repositoryHealth({ roots: storage.roots, imageMetadata: deps.imageMetadata, metadata: deps.metadata }, clock.now(), warnings);
  const staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const monitor = new AlertMonitor(hub, health, storage.alerts, clock, { staleAfterMs: staleAfterMs > 0 ? staleAfterMs : undefined, staleCheckMs: options.staleCheckMs });

  // The events: raised after their commit, never awaited by what raised them, a failure logged.
  const raise = (event: Parameters<AlertHub['raise']>[0], data: Record<string, unknown>, key: string | null) =>
    void hub.raise(event, data, key).catch((err: unknown) => noteFailure(`raising ${event}`, err));
  services.campaigns.onHalted((halt) => raise('campaign.halted', { ...halt }, null));
  services.intake.onVerdict((verdict, { vin }) => {
    if (!('accepted' in verdict) || verdict.attackCodes.length === 0) return;
    const codes = [...new Set(verdict.attackCodes)].sort();
    // A vehicle repeats its attack reports every cycle until they clear: once an hour per vehicle and set of codes.
    raise('attack.reported', { vin, attacks: codes }, `attack:${vin}:${codes.join(',')}:${clock.now().toISOString().slice(0, 13)}`);
  });

  const databaseAlert = (err: unknown) => void hub.databaseError(err as Error).catch((failed: unknown) => warn(`database alert failed: ${(failed as Error).message}`));
  const noteFailure = (what: string, err: unknown) => {
    if (isDatabaseFailure(err)) databaseAlert(err);
    else warn(`${what} failed: ${(err as Error).message}`);
  };
  const databaseWatched = (work: () => Promise<unknown>) => async () => {
    try {
      await work();
    } catch (err) {
      if (isDatabaseFailure(err)) await hub.databaseError(err as Error);
      throw err;
    }
  };

  // Bounded batches, oldest first, a bounded number per round: a backlog (a first start after an
  // upgrade) is worked off over rounds without holding SQLite's one connection for long.
  const retentionMs = options.retentionMs ?? DEFAULT_ALERT_RETENTION_MS;
  const pruneFinished = async () => {
    if (retentionMs <= 0) return;
    const before = new Date(clock.now().getTime() - retentionMs);
    const batch = options.pruneBatch ?? DEFAULT_PRUNE_BATCH;
    for (let i = 0; i < (options.pruneBatchesPerRound ?? DEFAULT_PRUNE_BATCHES_PER_ROUND); i++) {
      if ((await storage.alerts.pruneFinished(before, batch)) < batch) return;
    }
  };

  const lease = storage.lease?.('alerts');
  let lastRefreshFailure: string | undefined;
  const refreshImageMetadata = async () => {
    try {
      await deps.refreshImageMetadata?.();
      lastRefreshFailure = undefined;
    } catch (err) {
      // What the Director last verified is judged either way: a refresh that fails (the Image
      // repository down, or its metadata refused) is logged once while it keeps failing the same
      // way, without the signed read URL's query (a credential), and expiry shows in what is stored.
      if (!(err instanceof UptaneError)) throw err;
      const message = err.message.replace(/\?[^\s:]*/g, '?…');
      if (message !== lastRefreshFailure) warn(`refreshing the Image repository's metadata before the expiry check failed: ${message}`);
      lastRefreshFailure = message;
    }
  };
  let rounds = 0;
  const checks = new BackgroundTask(
    'checking expiry and stale vehicles',
    databaseWatched(async () => {
      if (lease !== undefined && !(await lease.held())) return;
      // Not in the round at start: the Director has just verified (or is about to) what it trusts,
      // and a fresh Image repository may have published nothing yet.
      if (rounds++ > 0) await refreshImageMetadata();
      await pruneFinished();
      await monitor.round();
    }),
    warn,
  );
  const delivery = new WebhookDelivery(storage.alerts, webhook ?? { ...DEFAULT_WEBHOOK_OPTIONS, urls: [], secret: '' }, clock);
  const deliveries = new BackgroundTask('delivering alerts', databaseWatched(() => delivery.deliverDue()), warn);
  const stopChecks = checks.every(options.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS);
  // Nothing to send without webhooks: no delivery timer.
  const stopDeliveries = webhook === undefined ? () => undefined : deliveries.every(options.deliveryIntervalMs ?? DEFAULT_DELIVERY_INTERVAL_MS);
  // The first check at start: an expired root should not wait a period to be told.
  const initial = checks.runOnce();
  return {
    hub,
    health,
    checkNow: () => checks.runOnce(),
    deliverNow: () => deliveries.runOnce(),
    requestFailed: (err) => {
      if (isDatabaseFailure(err)) databaseAlert(err);
    },
    checkStatus: () => checks.status,
    deliveryStatus: () => deliveries.status,
    stop: async () => {
      stopChecks();
      stopDeliveries();
      await initial;
    },
  };
}
