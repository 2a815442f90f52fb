// The dashboard's reads on SQLite (../dashboard.ts; schema.ts, migration 9 for its indexes and the
// snapshots table). Prepared once; the vehicle list's filters make four statements (state or not,
// prefix or not), so each keeps a plan that uses the primary key's order.
import type { Db } from '../../../shared/server/sqlite.js';
import { countsOf, fleetStateSql, prefixEnd, toAttack, toAudit, type AttackRow, type AuditRow, type AttackListEntry, type AuditListEntry, type DashboardStore, type FleetSnapshot, type FleetState, type FleetStateCounts, type VehicleFilter } from '../dashboard.js';
import type { VehicleRecord } from '../inventory.js';
import type { ManifestRecord } from '../manifests.js';
import { toManifestRecord, toVehicle, type ManifestHistoryRow, type VehicleRow } from '../rows.js';
import type { Synchronous } from './transaction-gate.js';

const FROM_VEHICLES = 'FROM vehicles v LEFT JOIN ecus e ON e.vin = v.vin AND e.is_primary = 1';
const NO_ID = Number.MAX_SAFE_INTEGER;

export class SqliteDashboard implements Synchronous<DashboardStore> {
  private readonly s;

  constructor(private readonly db: Db) {
    const state = fleetStateSql(':stale');
    const where = (withState: boolean, withPrefix: boolean) =>
      `v.vin > :after${withPrefix ? ' AND v.vin >= :prefix AND v.vin < :prefixEnd' : ''}${withState ? ` AND (${state}) = :state` : ''}`;
    const page = (withState: boolean, withPrefix: boolean) =>
      db.prepare(`SELECT v.vin, v.attributes, v.registered_at, ${state} AS state ${FROM_VEHICLES} WHERE ${where(withState, withPrefix)} ORDER BY v.vin LIMIT :limit`);
    const count = (withState: boolean, withPrefix: boolean) =>
      db.prepare(`SELECT COUNT(*) AS n FROM (SELECT 1 ${FROM_VEHICLES} WHERE ${where(withState, withPrefix)} LIMIT :cap)`);
    this.s = {
      fleetStates: db.prepare(`SELECT state, COUNT(*) AS n FROM (SELECT ${state} AS state ${FROM_VEHICLES}) GROUP BY state`),
      attacks: db.prepare('SELECT COUNT(*) AS n FROM attacks'),
      attacksSince: db.prepare('SELECT COUNT(*) AS n FROM attacks WHERE reported_at >= ?'),
      refused: db.prepare('SELECT COUNT(*) AS n FROM refused_manifests'),
      refusedSince: db.prepare('SELECT COUNT(*) AS n FROM refused_manifests WHERE received_at >= ?'),
      pages: [page(false, false), page(false, true), page(true, false), page(true, true)],
      counts: [count(false, false), count(false, true), count(true, false), count(true, true)],
      manifests: db.prepare(
        `SELECT * FROM (
           SELECT * FROM (SELECT id, received_at, 1 AS accepted, NULL AS error_code, NULL AS error_message, NULL AS body_length, NULL AS body_sha256
                            FROM manifests WHERE vin = :vin AND id < :before ORDER BY id DESC LIMIT :limit)
           UNION ALL
           SELECT * FROM (SELECT id, received_at, 0 AS accepted, error_code, error_message, body_length, body_sha256
                            FROM refused_manifests WHERE vin = :vin AND id < :before ORDER BY id DESC LIMIT :limit)
         ) ORDER BY id DESC LIMIT :limit`,
      ),
      attacksAll: db.prepare('SELECT id, vin, ecu_serial, code, message, reported_at FROM attacks WHERE id < ? ORDER BY id DESC LIMIT ?'),
      attacksOf: db.prepare('SELECT id, vin, ecu_serial, code, message, reported_at FROM attacks WHERE vin = ? AND id < ? ORDER BY id DESC LIMIT ?'),
      audit: db.prepare(
        `SELECT id, at, actor, token_id, action, details FROM audit_log
          WHERE id < :before AND (:actor IS NULL OR actor = :actor) AND (:action IS NULL OR action = :action) ORDER BY id DESC LIMIT :limit`,
      ),
      insertSnapshot: db.prepare('INSERT OR REPLACE INTO fleet_snapshots (at, by_state) VALUES (?, ?)'),
      pruneSnapshots: db.prepare('DELETE FROM fleet_snapshots WHERE at NOT IN (SELECT at FROM fleet_snapshots ORDER BY at DESC LIMIT ?)'),
      snapshots: db.prepare('SELECT at, by_state FROM (SELECT at, by_state FROM fleet_snapshots ORDER BY at DESC LIMIT ?) ORDER BY at'),
    };
  }

  fleetStates(staleBefore: Date): FleetStateCounts {
    return countsOf(this.s.fleetStates.all({ stale: staleBefore.toISOString() }) as Array<{ state: string; n: number }>);
  }

  securityCounts(since: Date): { attacks: { total: number; since: number }; refusedManifests: { total: number; since: number } } {
    const n = (row: unknown) => (row as { n: number }).n;
    const at = since.toISOString();
    return {
      attacks: { total: n(this.s.attacks.get()), since: n(this.s.attacksSince.get(at)) },
      refusedManifests: { total: n(this.s.refused.get()), since: n(this.s.refusedSince.get(at)) },
    };
  }

  vehiclesPage(filter: VehicleFilter, after: string, limit: number): Array<VehicleRecord & { state: FleetState }> {
    const rows = this.statement(this.s.pages, filter).all({ ...params(filter), stale: filter.staleBefore.toISOString(), after, limit }) as Array<VehicleRow & { state: FleetState }>;
    return rows.map((r) => ({ ...toVehicle(r), state: r.state }));
  }

  countVehicles(filter: VehicleFilter, cap: number): { count: number; capped: boolean } {
    const n = (this.statement(this.s.counts, filter).get({ ...params(filter), after: '', cap: cap + 1 }) as { n: number }).n;
    return { count: Math.min(n, cap), capped: n > cap };
  }

  manifestPage(vin: string, limit: number, beforeId?: number): ManifestRecord[] {
    return (this.s.manifests.all({ vin, limit, before: beforeId ?? NO_ID }) as ManifestHistoryRow[]).map(toManifestRecord);
  }

  attackPage({ limit, beforeId, vin }: { limit: number; beforeId?: number | undefined; vin?: string | undefined }): AttackListEntry[] {
    const before = beforeId ?? NO_ID;
    const rows = (vin === undefined ? this.s.attacksAll.all(before, limit) : this.s.attacksOf.all(vin, before, limit)) as AttackRow[];
    return rows.map(toAttack);
  }

  auditPage({ limit, beforeId, actor, action }: { limit: number; beforeId?: number | undefined; actor?: string | undefined; action?: string | undefined }): AuditListEntry[] {
    const rows = this.s.audit.all({ limit, before: beforeId ?? NO_ID, actor: actor ?? null, action: action ?? null }) as AuditRow[];
    return rows.map(toAudit);
  }

  recordFleetSnapshot(snapshot: FleetSnapshot, keep: number): void {
    this.db.transaction(() => {
      this.s.insertSnapshot.run(snapshot.at, JSON.stringify(snapshot.byState));
      this.s.pruneSnapshots.run(keep);
    })();
  }

  fleetSnapshots(limit: number): FleetSnapshot[] {
    return (this.s.snapshots.all(limit) as Array<{ at: string; by_state: string }>).map((r) => ({ at: r.at, byState: JSON.parse(r.by_state) as FleetStateCounts }));
  }

  /** The statement for this filter's shape: [none, prefix, state, state and prefix]. */
  private statement<T>(statements: readonly T[], filter: VehicleFilter): T {
    return statements[(filter.state !== undefined ? 2 : 0) + (filter.prefix !== undefined ? 1 : 0)]!;
  }
}

function params(filter: VehicleFilter): Record<string, string> {
  return {
    ...(filter.state === undefined ? {} : { state: filter.state, stale: filter.staleBefore.toISOString() }),
    ...(filter.prefix === undefined ? {} : { prefix: filter.prefix, prefixEnd: prefixEnd(filter.prefix) }),
  };
}
