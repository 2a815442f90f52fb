// Where each vehicle of a campaign stands, counted per stage, listed a page at a time, and why the
// current stage waits: the answers of campaign status (campaigns.ts) and the engine's own reading
// of a stage. One classification (vehicleStanding) serves the counts, the VIN lists and the halt
// rules, so they never disagree. The store keeps each vehicle's standing by these rules (SQLite
// migration 13, PostgreSQL 8), so requests read the stored standings and their totals
// (stageCountsOf); vehicleStanding, standings, stageCounts and standingsPage stay as the reference
// the store contract holds the stored ones to. Reads only; decisions stay with the engine.
import type { CampaignStageStatus, CampaignVehicleEntry, CampaignVehicleOutcome, CampaignWait } from './api/operator-api.js';
import type { CampaignAssignmentRow, CampaignEvent, CampaignRow, CampaignStandingRow, CampaignStandingTotal, CampaignVehicleRow } from './store/campaigns.js';

/** One vehicle's standing in a campaign (as the store keeps it). */
export type VehicleStanding = CampaignStandingRow;

/**
 * A vehicle counts by its least advanced ECU, each ECU by its newest campaign assignment (a retry's
 * new assignment stands for the failed one it replaced): failed if one failed, pending or
 * downloading while one is, installed once every one is; skipped when staged without assignments.
 * `assignments` are the vehicle's, oldest first.
 */
export function vehicleStanding(vehicle: CampaignVehicleRow, assignments: readonly CampaignAssignmentRow[]): VehicleStanding {
  const base = { vin: vehicle.vin, stage: vehicle.stage, deferredWhileDriving: false, rolledBack: false };
  if (vehicle.stage === null) return { ...base, outcome: 'unstaged', reason: null };
  if (vehicle.outcome?.startsWith('skipped') === true) return { ...base, outcome: 'skipped', reason: vehicle.outcome.replace(/^skipped:\s*/, '') };
  const newest = [...new Map(assignments.map((a) => [a.ecuSerial, a])).values()];
  const failed = newest.find((a) => a.state === 'failed');
  if (failed !== undefined) {
    return { ...base, outcome: 'failed', reason: failed.reason, rolledBack: newest.some((a) => a.state === 'failed' && a.reason?.startsWith('rolled_back') === true) };
  }
  const active = newest.filter((a) => a.state === 'pending' || a.state === 'in_flight');
  if (active.length > 0) {
    return { ...base, outcome: active.some((a) => a.state === 'in_flight') ? 'downloading' : 'pending', reason: null, deferredWhileDriving: active.some((a) => a.lastState === 'driving') };
  }
  if (newest.length > 0 && newest.every((a) => a.state === 'installed')) return { ...base, outcome: 'installed', reason: null };
  return { ...base, outcome: 'cancelled', reason: newest.find((a) => a.state === 'cancelled')?.reason ?? null };
}

/** Every vehicle's standing, in the order of `vehicles`. */
export function standings(vehicles: readonly CampaignVehicleRow[], assignments: readonly CampaignAssignmentRow[]): VehicleStanding[] {
  const byVin = new Map<string, CampaignAssignmentRow[]>();
  for (const a of assignments) {
    const list = byVin.get(a.vin);
    if (list === undefined) byVin.set(a.vin, [a]);
    else list.push(a);
  }
  return vehicles.map((v) => vehicleStanding(v, byVin.get(v.vin) ?? []));
}

/**
 * The code of a skip reason as stored (`conflict: ECU x already has ...`, `already installed`), so
 * that skips are counted by kind rather than by each ECU's own sentence.
 */
export function skipCode(reason: string | null): string {
  if (reason === null) return 'unknown';
  if (reason === 'already installed') return 'already_installed';
  if (reason === 'no ECU with a matching hardware id') return 'no_matching_ecu';
  const code = /^([a-z_]+):/.exec(reason)?.[1];
  return code ?? 'other';
}

/**
 * Counts per stage (each stage's own vehicles), with skip reasons by code and the first `sample` VINs
 * of each outcome in VIN order; `attacked` are the VINs that reported an attack since the start.
 */
export function stageCounts(all: readonly VehicleStanding[], attacked: ReadonlySet<string>, sample: number): CampaignStageStatus[] {
  type Mutable = { -readonly [K in keyof CampaignStageStatus]: CampaignStageStatus[K] } & { skipReasons: Record<string, number>; vins: Partial<Record<CampaignVehicleOutcome, CampaignVehicleEntry[]>> };
  const stages = new Map<number, Mutable>();
  for (const v of all) {
    if (v.stage === null) continue;
    let s = stages.get(v.stage);
    if (s === undefined) {
      s = { stage: v.stage, vehicles: 0, pending: 0, downloading: 0, deferredWhileDriving: 0, installed: 0, failed: 0, rolledBack: 0, cancelled: 0, skipped: 0, attackReported: 0, skipReasons: {}, vins: {} };
      stages.set(v.stage, s);
    }
    s.vehicles++;
    if (attacked.has(v.vin)) s.attackReported++;
    if (v.deferredWhileDriving) s.deferredWhileDriving++;
    if (v.rolledBack) s.rolledBack++;
    if (v.outcome === 'skipped') {
      const code = skipCode(v.reason);
      s.skipReasons[code] = (s.skipReasons[code] ?? 0) + 1;
    }
    if (v.outcome !== 'unstaged') s[v.outcome]++;
    if (sample > 0) {
      const list = (s.vins[v.outcome] ??= []);
      list.push({ vin: v.vin, reason: v.reason });
    }
  }
  for (const s of stages.values()) {
    for (const [outcome, list] of Object.entries(s.vins) as Array<[CampaignVehicleOutcome, CampaignVehicleEntry[]]>) {
      s.vins[outcome] = list.sort((a, b) => (a.vin < b.vin ? -1 : a.vin > b.vin ? 1 : 0)).slice(0, sample);
    }
  }
  return [...stages.values()].sort((a, b) => a.stage - b.stage);
}

type MutableStage = { -readonly [K in keyof CampaignStageStatus]: CampaignStageStatus[K] } & { skipReasons: Record<string, number> };

/**
 * stageCounts from the stored standings' totals (store standingTotals) instead of every vehicle:
 * the same counts per stage, skip reasons by code; `attacked` is per stage (0-based) how many of its
 * vehicles reported an attack since the start. VIN lists are left empty for the caller to fill.
 */
export function stageCountsOf(totals: readonly CampaignStandingTotal[], attacked: ReadonlyMap<number, number>): CampaignStageStatus[] {
  const stages = new Map<number, MutableStage>();
  for (const t of totals) {
    if (t.stage === null || t.vehicles === 0) continue;
    let s = stages.get(t.stage);
    if (s === undefined) {
      const empty = { pending: 0, downloading: 0, deferredWhileDriving: 0, installed: 0, failed: 0, rolledBack: 0, cancelled: 0, skipped: 0 };
      s = { stage: t.stage, vehicles: 0, ...empty, attackReported: attacked.get(t.stage) ?? 0, skipReasons: {}, vins: {} };
      stages.set(t.stage, s);
    }
    s.vehicles += t.vehicles;
    s.deferredWhileDriving += t.deferredWhileDriving;
    s.rolledBack += t.rolledBack;
    if (t.outcome === 'skipped') s.skipReasons[t.skipCode ?? 'unknown'] = (s.skipReasons[t.skipCode ?? 'unknown'] ?? 0) + t.vehicles;
    if (t.outcome !== 'unstaged') s[t.outcome] += t.vehicles;
  }
  return [...stages.values()].sort((a, b) => a.stage - b.stage);
}

/** One page of standings matching the filters, in VIN order after `after`, and how many match in all. */
export function standingsPage(
  all: readonly VehicleStanding[],
  filter: { readonly stage?: number | undefined; readonly outcome?: CampaignVehicleOutcome | undefined; readonly after?: string | undefined; readonly limit: number },
): { total: number; page: VehicleStanding[]; next: string | null } {
  const matching = all.filter((v) => (filter.stage === undefined || v.stage === filter.stage) && (filter.outcome === undefined || v.outcome === filter.outcome));
  const after = filter.after;
  const sorted = matching.filter((v) => after === undefined || v.vin > after).sort((a, b) => (a.vin < b.vin ? -1 : a.vin > b.vin ? 1 : 0));
  const page = sorted.slice(0, filter.limit);
  return { total: matching.length, page, next: sorted.length > filter.limit ? page[page.length - 1]!.vin : null };
}

/** What the engine compares with a stage's rules (campaigns.ts evaluate), and what `waiting` explains. */
export interface StageProgress {
  /** No vehicle of the stage is still pending or downloading. */
  readonly finished: boolean;
  /** Installed share of the stage's vehicles that were given something (1 when none were). */
  readonly installedShare: number;
  readonly threshold: number;
  /** Milliseconds of soak time left (0 once soaked). */
  readonly soakLeftMs: number;
}

export function stageProgress(stage: CampaignStageStatus | undefined, spec: { readonly successThreshold?: number; readonly minSoakMs?: number }, stageStartedAt: string, now: Date): StageProgress {
  const given = stage === undefined ? 0 : stage.vehicles - stage.skipped;
  return {
    finished: stage === undefined || stage.pending + stage.downloading === 0,
    installedShare: given === 0 ? 1 : stage!.installed / given,
    threshold: spec.successThreshold ?? 0.9,
    soakLeftMs: Math.max(0, Date.parse(stageStartedAt) + (spec.minSoakMs ?? 0) - now.getTime()),
  };
}

/**
 * Why the current stage does not move on, each reason with a code: the campaign is a draft, halted
 * (and why), waits for its schedule or window, for soak time, or for vehicles. `held` is why the
 * current (not yet started) or next stage may not start now, if it may not.
 */
export function waitingReasons(args: {
  readonly campaign: CampaignRow;
  readonly stages: number;
  readonly current: CampaignStageStatus | undefined;
  readonly progress: StageProgress | undefined;
  readonly held: string | undefined;
  readonly history: readonly CampaignEvent[];
}): CampaignWait[] {
  const { campaign, current, progress, held } = args;
  const n = campaign.stage + 1;
  switch (campaign.state) {
    case 'draft':
      return [{ code: 'draft', message: `not started: \`uptane director campaign start ${campaign.name}\`` }];
    case 'completed':
    case 'aborted':
      return [];
    case 'paused': {
      const last = [...args.history].reverse().find((e) => e.kind === 'paused' || e.kind === 'error');
      const details = (last?.details ?? {}) as { reason?: string; code?: string; message?: string };
      const byEngine = last === undefined || last.actor === 'engine';
      const why = last?.kind === 'error' ? `: an error: ${details.code}: ${details.message}` : byEngine || details.reason !== 'paused by operator' ? `: ${details.reason ?? 'paused'}` : '';
      const by = byEngine ? 'halted by its rules' : `paused by ${last.actor}`;
      return [{ code: 'halted', message: `${by}${why}; \`uptane director campaign resume ${campaign.name}\` once it is dealt with` }];
    }
    default:
      break;
  }
  if (campaign.stageStartedAt === null) return [{ code: held?.includes('maintenance window') === true ? 'maintenance_window' : 'schedule', message: held ?? `stage ${n} waits to start` }];
  if (progress === undefined) return [];
  const waits: CampaignWait[] = [];
  const stillInstalling = current === undefined ? 0 : current.pending + current.downloading;
  const last = n >= args.stages;
  if (!progress.finished) {
    const driving = current!.deferredWhileDriving > 0 ? ` (${current!.deferredWhileDriving} deferred while driving)` : '';
    waits.push({ code: 'vehicles', message: `${stillInstalling} of ${current!.vehicles} vehicles of stage ${n} have not finished: ${current!.pending} pending, ${current!.downloading} downloading${driving}` });
  }
  if (last) return waits;
  if (progress.installedShare < progress.threshold) {
    const share = `${Math.round(progress.installedShare * 1000) / 10}%`;
    const stuck = progress.finished && current !== undefined && current.failed > 0 ? `; none is still installing: \`uptane director campaign retry ${campaign.name}\` tries the failed ones again, \`advance ${campaign.name}\` moves on anyway` : '';
    waits.push({ code: 'success_threshold', message: `stage ${n} has ${share} installed; stage ${n + 1} starts at ${Math.round(progress.threshold * 1000) / 10}%${stuck}` });
  }
  if (progress.soakLeftMs > 0) waits.push({ code: 'soak', message: `soak time: ${describeMs(progress.soakLeftMs)} left in stage ${n}` });
  if (held !== undefined) waits.push({ code: held.includes('maintenance window') ? 'maintenance_window' : 'schedule', message: held });
  return waits;
}

/** 90061000 ms as "1d 1h 1m", rounded up to the minute. */
export function describeMs(ms: number): string {
  let minutes = Math.ceil(ms / 60_000);
  const days = Math.floor(minutes / 1440);
  minutes -= days * 1440;
  const hours = Math.floor(minutes / 60);
  minutes -= hours * 60;
  const parts = [days > 0 ? `${days}d` : '', hours > 0 ? `${hours}h` : '', minutes > 0 || (days === 0 && hours === 0) ? `${minutes}m` : ''];
  return parts.filter((p) => p !== '').join(' ');
}
