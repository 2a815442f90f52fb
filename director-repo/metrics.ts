// The Director's own metrics beside the shared ones (shared/server/metrics.ts): manifests accepted
// and refused by code, attacks reported by code, vehicles by state and campaign stages by state
// (counted from the database at most every few seconds, however often /metrics is scraped), and the
// seconds left before each role of the metadata it serves expires.
import { Counter, Gauge } from 'prom-client';
import type { Clock } from '../shared/core/clock.js';
import { CachedValue, expiresOf, secondsUntil, type ServerMetrics } from '../shared/server/metrics.js';
import type { ManifestIntakeService } from './services/manifest-intake.js';
import type { DirectorStorage } from './store/director-store.js';
import type { VehicleMetadataConfig } from './vehicle-metadata.js';

export interface DirectorMetricsOptions {
  /** How long a count of the fleet is reused (default 15 s): at a million vehicles it is a scan of the vehicles' primary key. */
  readonly countsTtlMs?: number;
}

/** Attack codes are sent by vehicles: at most this many distinct ones become labels, the rest count as "other". */
const MAX_ATTACK_CODES = 64;
const CODE = /^[a-z][a-z0-9_]{0,47}$/;

export function addDirectorMetrics(
  metrics: ServerMetrics,
  deps: { storage: DirectorStorage; intake: ManifestIntakeService; clock: Clock; lifetimes: VehicleMetadataConfig },
  options: DirectorMetricsOptions = {},
): void {
  const { storage, intake, clock, lifetimes } = deps;
  const registers = [metrics.registry];
  const accepted = new Counter({ name: 'uptane_director_manifests_accepted_total', help: 'Vehicle version manifests accepted', registers });
  const refused = new Counter({ name: 'uptane_director_manifests_refused_total', help: 'Vehicle version manifests refused, by error code', labelNames: ['code'], registers });
  const attacks = new Counter({ name: 'uptane_director_attacks_reported_total', help: 'Attacks ECUs reported in accepted manifests, by code', labelNames: ['code'], registers });
  const attackCodes = new Set<string>();
  const attackLabel = (code: string) => {
    if (attackCodes.has(code)) return code;
    if (!CODE.test(code) || attackCodes.size >= MAX_ATTACK_CODES) return 'other';
    attackCodes.add(code);
    return code;
  };
  intake.onVerdict((verdict) => {
    if ('refused' in verdict) {
      refused.inc({ code: verdict.refused });
      return;
    }
    accepted.inc();
    for (const code of verdict.attackCodes) attacks.inc({ code: attackLabel(code) });
  });

  const ttl = options.countsTtlMs ?? 15_000;
  const fleet = new CachedValue(() => storage.inventory.fleetCounts(), ttl);
  new Gauge({
    name: 'uptane_director_vehicles',
    help: 'Registered vehicles by state: up_to_date (no active assignment), pending (an assignment not yet fetched), downloading (fetched, not yet reported); counted at most every few seconds',
    labelNames: ['state'],
    registers,
    async collect() {
      const counts = await fleet.get();
      if (counts === undefined) return;
      this.set({ state: 'up_to_date' }, counts.registered - counts.active);
      this.set({ state: 'pending' }, counts.pending);
      this.set({ state: 'downloading' }, counts.inFlight);
    },
  });
  new Gauge({
    name: 'uptane_director_vehicles_registered',
    help: 'Registered vehicles',
    registers,
    async collect() {
      const counts = await fleet.get();
      if (counts !== undefined) this.set(counts.registered);
    },
  });

  const stages = new CachedValue(() => campaignStageCounts(storage), ttl);
  new Gauge({
    name: 'uptane_director_campaign_stages',
    help: 'Stages of running and paused campaigns by state: done, running, paused (the current stage of a paused campaign), waiting',
    labelNames: ['state'],
    registers,
    async collect() {
      const counts = await stages.get();
      if (counts === undefined) return;
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });

  const root = new CachedValue(async () => {
    const latest = await storage.roots.latestRoot();
    return latest === undefined ? undefined : expiresOf(latest.bytes);
  }, ttl);
  new Gauge({
    name: 'uptane_metadata_expiry_seconds',
    help: 'Seconds until each role of the served metadata expires (negative once expired); for the per-vehicle targets, snapshot and timestamp, the lifetime they are signed with',
    labelNames: ['repository', 'role'],
    registers,
    async collect() {
      const now = clock.now();
      const rootSeconds = secondsUntil(await root.get(), now);
      if (rootSeconds !== undefined) this.set({ repository: 'director', role: 'root' }, rootSeconds);
      // Per-vehicle metadata is signed when asked for and re-signed before it expires
      // (vehicle-metadata.ts): what a vehicle gets has this long to live.
      this.set({ repository: 'director', role: 'targets' }, lifetimes.targetsLifetimeMs / 1000);
      this.set({ repository: 'director', role: 'snapshot' }, lifetimes.snapshotLifetimeMs / 1000);
      this.set({ repository: 'director', role: 'timestamp' }, lifetimes.timestampLifetimeMs / 1000);
    },
  });

  if (storage.poolStats !== undefined) metrics.addPoolGauge(() => storage.poolStats?.());
}

/** Stages of the running and paused campaigns (a handful at a time), by state. */
async function campaignStageCounts(storage: DirectorStorage): Promise<Record<string, number>> {
  const counts = { done: 0, running: 0, paused: 0, waiting: 0 };
  for (const campaign of await storage.campaigns.activeCampaigns()) {
    const total = stageCountOf(campaign.spec);
    const current = Math.min(Math.max(campaign.stage, 1), total);
    counts.done += current - 1;
    counts[campaign.state === 'paused' ? 'paused' : 'running'] += 1;
    counts.waiting += total - current;
  }
  return counts;
}

function stageCountOf(spec: string): number {
  const stages = (JSON.parse(spec) as { stages?: unknown }).stages;
  return Array.isArray(stages) ? Math.max(stages.length, 1) : 1;
}
