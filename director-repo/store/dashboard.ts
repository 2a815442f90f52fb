// What the web dashboard reads (docs/dashboard.md): the fleet by state, paged and filtered vehicle,
// attack, manifest and audit lists, and periodic snapshots of the fleet's states for the overview's
// chart. Every read is one query with a bounded page; nothing loads the fleet. The rules of a
// vehicle's state are fleetStateSql's; both backends store each vehicle's state by those rules
// (fleet_state, kept by triggers in the transaction of every write to its inputs) with the time of
// its last report (last_seen), and read stale from last_seen at the request's cutoff. The store
// contract's cases hold the stored states to fleetStateSql's answers after every kind of event.
import type { AuditEntry } from './audit.js';
import type { VehicleRecord } from './inventory.js';
import type { AttackRecord, ManifestRecord } from './manifests.js';

/** A vehicle's state as the dashboard shows it, exactly one per vehicle (docs/dashboard.md). */
export type FleetState = 'up_to_date' | 'pending' | 'downloading' | 'deferred' | 'installing' | 'failed' | 'rolled_back' | 'stale';
export const FLEET_STATES: readonly FleetState[] = ['up_to_date', 'pending', 'downloading', 'deferred', 'installing', 'failed', 'rolled_back', 'stale'];
export type FleetStateCounts = Record<FleetState, number>;

export interface VehicleFilter {
  /** Only vehicles in this state. */
  readonly state?: FleetState | undefined;
  /** Only VINs starting with this (a range of the primary key). */
  readonly prefix?: string | undefined;
  /** A vehicle whose last report (or registration, if it never reported) is older is stale. */
  readonly staleBefore: Date;
}

export interface AttackListEntry extends AttackRecord {
  readonly id: number;
  readonly vin: string;
}

export interface AuditListEntry extends AuditEntry {
  readonly id: number;
}

export interface FleetSnapshot {
  readonly at: string;
  readonly byState: FleetStateCounts;
}

export interface DashboardStore {
  /** Every registered vehicle counted in exactly one state. */
  fleetStates(staleBefore: Date): Promise<FleetStateCounts>;
  /** Attacks reported and manifests refused, in all and since `since` (as stored: refused records are pruned per vehicle). */
  securityCounts(since: Date): Promise<{ attacks: { total: number; since: number }; refusedManifests: { total: number; since: number } }>;
  /** Vehicles in VIN order after `after` that match the filter, each with its state. */
  vehiclesPage(filter: VehicleFilter, after: string, limit: number): Promise<Array<VehicleRecord & { state: FleetState }>>;
  /** How many vehicles match, counting no further than `cap` (capped: true when more match). */
  countVehicles(filter: VehicleFilter, cap: number): Promise<{ count: number; capped: boolean }>;
  /** The vehicle's manifests, accepted and refused, newest first, with ids below `beforeId` (if given). */
  manifestPage(vin: string, limit: number, beforeId?: number): Promise<ManifestRecord[]>;
  /** Reported attacks, newest first, of one vehicle or all, with ids below `beforeId` (if given). */
  attackPage(options: { limit: number; beforeId?: number | undefined; vin?: string | undefined }): Promise<AttackListEntry[]>;
  /** Audit entries, newest first, filtered by exact actor and action, with ids below `beforeId`. */
  auditPage(options: { limit: number; beforeId?: number | undefined; actor?: string | undefined; action?: string | undefined }): Promise<AuditListEntry[]>;
  /** Stores one snapshot of the fleet's states and keeps only the newest `keep`. */
  recordFleetSnapshot(snapshot: FleetSnapshot, keep: number): Promise<void>;
  /** The newest `limit` snapshots, oldest first (for a chart). */
  fleetSnapshots(limit: number): Promise<FleetSnapshot[]>;
}

/**
 * The rules of the fleet states, the reference the stored states are held to (the store contract
 * runs it beside them; the triggers are its copy without the stale case: SQLite's schema.ts
 * migration 10, PostgreSQL's migration 6). The state of vehicle `v` (joined with its primary ECU `e`), first match wins:
 * stale (no report since the cutoff, parameter `stale`), deferred (an active assignment while the
 * last manifest said driving), installing (an in-flight assignment and a report since it went in
 * flight: the vehicle has it and has not confirmed it yet), downloading (in flight, nothing reported
 * since), pending (an assignment the vehicle has not fetched), then the newest finished assignment:
 * failed with a rolled_back reason, failed, or else up to date. `stale` writes the cutoff's parameter.
 */
export function fleetStateSql(stale: string): string {
  const active = (states: string, extra = '') => `EXISTS (SELECT 1 FROM assignments a WHERE a.vin = v.vin AND a.state IN (${states})${extra})`;
  return `CASE
      WHEN coalesce(e.reported_at, v.registered_at) < ${stale} THEN 'stale'
      WHEN v.last_state = 'driving' AND ${active("'pending', 'in_flight'")} THEN 'deferred'
      WHEN ${active("'in_flight'", ' AND a.updated_at < e.reported_at')} THEN 'installing'
      WHEN ${active("'in_flight'")} THEN 'downloading'
      WHEN ${active("'pending'")} THEN 'pending'
      ELSE coalesce((SELECT CASE WHEN a.state = 'failed' AND a.reason LIKE 'rolled_back%' THEN 'rolled_back' WHEN a.state = 'failed' THEN 'failed' END
                       FROM assignments a WHERE a.vin = v.vin AND a.state IN ('installed', 'failed') ORDER BY a.id DESC LIMIT 1), 'up_to_date')
    END`;
}

/**
 * A vehicle's state from its stored columns: stale when its last report is before the cutoff (`stale`,
 * the parameter), else the fleet_state the triggers keep (SQLite migration 10, PostgreSQL 5).
 */
export function storedStateSql(stale: string): string {
  return `CASE WHEN v.last_seen < ${stale} THEN 'stale' ELSE v.fleet_state END`;
}

/**
 * Stale vehicles listed in VIN order: up to this many are found by the last_seen index and sorted;
 * more are found by walking the fleet in VIN order, where at least one in (fleet / this) is stale,
 * so a page of 50 at 1,000,000 vehicles reads about 5,000 rows at most on average either way.
 */
export const STALE_LIST_SORT_LIMIT = 10_000;

/** The first string after every string that starts with `prefix` (bytewise), for a primary-key range. */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/** Counts by state from rows of (state, n), every state present. */
export function countsOf(rows: ReadonlyArray<{ state: string; n: number | string }>): FleetStateCounts {
  const counts = Object.fromEntries(FLEET_STATES.map((s) => [s, 0])) as FleetStateCounts;
  for (const row of rows) if ((FLEET_STATES as readonly string[]).includes(row.state)) counts[row.state as FleetState] = Number(row.n);
  return counts;
}

/** The rows both backends read attacks and audit entries from (ids are BIGINT strings on PostgreSQL). */
export interface AttackRow {
  id: number | string;
  vin: string;
  ecu_serial: string;
  code: string;
  message: string;
  reported_at: string;
}

export interface AuditRow {
  id: number | string;
  at: string;
  actor: string;
  token_id: string | null;
  action: string;
  details: string;
}

export const toAttack = (r: AttackRow): AttackListEntry => ({ id: Number(r.id), vin: r.vin, ecuSerial: r.ecu_serial, code: r.code, message: r.message, reportedAt: r.reported_at });
export const toAudit = (r: AuditRow): AuditListEntry => ({ id: Number(r.id), at: r.at, actor: r.actor, tokenId: r.token_id, action: r.action, details: JSON.parse(r.details) as unknown });
