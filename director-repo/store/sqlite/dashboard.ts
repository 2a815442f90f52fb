// The dashboard's reads on SQLite (../dashboard.ts; schema.ts, migration 9 for its indexes and the
// snapshots table, migrations 10 and 12 for the stored fleet states and their totals). A vehicle's
// state is its stored fleet_state unless its last_seen is before the cutoff (stale): the counts are
// the kept totals less the stale vehicles (a range of last_seen), the list's state filter a range
// of vehicles_by_fleet_state. Prepared once, one statement per filter shape, so each keeps its plan.
import type { Statement } from 'better-sqlite3';
import type { Db } from '../../../shared/server/sqlite.js';
import { countsOf, prefixEnd, STALE_LIST_SORT_LIMIT, storedStateSql, toAttack, toAudit, type AttackRow, type AuditRow, type AttackListEntry, type AuditListEntry, type DashboardStore, type FleetSnapshot, type FleetState, type FleetStateCounts, type VehicleFilter } from '../dashboard.js';
import type { VehicleRecord } from '../inventory.js';
import type { ManifestRecord } from '../manifests.js';
import { toManifestRecord, toVehicle, type ManifestHistoryRow, type VehicleRow } from '../rows.js';
import type { Synchronous } from './transaction-gate.js';

const NO_ID = Number.MAX_SAFE_INTEGER;
const PREFIX = ' AND v.vin >= :prefix AND v.vin < :prefixEnd';

/** The list's filter shapes: every vehicle, one state that is not stale, stale by the last_seen index (few), stale in VIN order (many). */
type Shape = 'all' | 'state' | 'staleFew' | 'staleMany';

export class SqliteDashboard implements Synchronous<DashboardStore> {
  private readonly s;

  constructor(private readonly db: Db) {
    const state = storedStateSql(':stale');
    const where: Record<Shape, string> = {
      all: 'v.vin > :after',
      state: 'v.fleet_state = :state AND v.last_seen >= :stale AND v.vin > :after',
      // Few stale vehicles: found by the last_seen index, then sorted (at most STALE_LIST_SORT_LIMIT).
      staleFew: 'v.last_seen < :stale AND v.vin > :after',
      // Many: walked in VIN order (the unary + keeps SQLite off the last_seen index), at least one
      // in STALE_LIST_SORT_LIMIT / fleet is stale, so a page reads a bounded stretch.
      staleMany: '+v.last_seen < :stale AND v.vin > :after',
    };
    const index: Record<Shape, string> = { all: '', state: 'INDEXED BY vehicles_by_fleet_state', staleFew: 'INDEXED BY vehicles_by_last_seen', staleMany: '' };
    const page = (shape: Shape, withPrefix: boolean) =>
      db.prepare(`SELECT v.vin, v.attributes, v.registered_at, ${state} AS state FROM vehicles v ${index[shape]} WHERE ${where[shape]}${withPrefix ? PREFIX : ''} ORDER BY v.vin LIMIT :limit`);
    const count = (shape: Shape, withPrefix: boolean) =>
      db.prepare(`SELECT COUNT(*) AS n FROM (SELECT 1 FROM vehicles v ${index[shape]} WHERE ${where[shape]}${withPrefix ? PREFIX : ''} LIMIT :cap)`);
    const shapes: Shape[] = ['all', 'state', 'staleFew', 'staleMany'];
    this.s = {
      // The totals the triggers keep (migration 12), less the stale vehicles by state: a range of the (last_seen, fleet_state) index.
      totals: db.prepare('SELECT state, n FROM fleet_state_totals'),
      staleByState: db.prepare('SELECT fleet_state AS state, COUNT(*) AS n FROM vehicles INDEXED BY vehicles_by_last_seen WHERE last_seen < :stale GROUP BY fleet_state'),
      staleCount: db.prepare("SELECT 'stale' AS state, COUNT(*) AS n FROM (SELECT 1 FROM vehicles INDEXED BY vehicles_by_last_seen WHERE last_seen < :stale LIMIT :cap)"),
      attacks: db.prepare('SELECT COUNT(*) AS n FROM attacks'),
      attacksSince: db.prepare('SELECT COUNT(*) AS n FROM attacks WHERE reported_at >= ?'),
      refused: db.prepare('SELECT COUNT(*) AS n FROM refused_manifests'),
      refusedSince: db.prepare('SELECT COUNT(*) AS n FROM refused_manifests WHERE received_at >= ?'),
      pages: Object.fromEntries(shapes.map((shape) => [shape, [page(shape, false), page(shape, true)]])) as Record<Shape, [Statement, Statement]>,
      counts: Object.fromEntries(shapes.map((shape) => [shape, [count(shape, false), count(shape, true)]])) as Record<Shape, [Statement, Statement]>,
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
    // Both read in this one synchronous call: no write of this connection comes between them.
    const counts = countsOf(this.s.totals.all() as Array<{ state: string; n: number }>);
    for (const { state, n } of this.s.staleByState.all({ stale: staleBefore.toISOString() }) as Array<{ state: FleetState; n: number }>) {
      counts[state] -= n;
      counts.stale += n;
    }
    return counts;
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
    const rows = this.statement(this.s.pages, filter).all({ ...params(filter), after, limit }) as Array<VehicleRow & { state: FleetState }>;
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

  /** The statement for this filter's shape, with or without a VIN prefix. */
  private statement(statements: Record<Shape, [Statement, Statement]>, filter: VehicleFilter): Statement {
    let shape: Shape = filter.state === undefined ? 'all' : 'state';
    if (filter.state === 'stale') {
      const few = this.s.staleCount.get({ stale: filter.staleBefore.toISOString(), cap: STALE_LIST_SORT_LIMIT + 1 }) as { n: number };
      shape = few.n <= STALE_LIST_SORT_LIMIT ? 'staleFew' : 'staleMany';
    }
    return statements[shape][filter.prefix === undefined ? 0 : 1];
  }
}

function params(filter: VehicleFilter): Record<string, string> {
  return {
    stale: filter.staleBefore.toISOString(),
    ...(filter.state === undefined || filter.state === 'stale' ? {} : { state: filter.state }),
    ...(filter.prefix === undefined ? {} : { prefix: filter.prefix, prefixEnd: prefixEnd(filter.prefix) }),
  };
}
