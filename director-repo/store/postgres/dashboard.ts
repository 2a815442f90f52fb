// The dashboard's reads on PostgreSQL (../dashboard.ts; schema.ts, migration 4 for its indexes and
// the snapshots table, migration 6 for the stored fleet states). A vehicle's state is its stored
// fleet_state unless its last_seen is before the cutoff (stale), so the counts and the list's state
// filter are ranges of the vehicles_by_fleet_state and vehicles_by_last_seen indexes.
import { countsOf, prefixEnd, STALE_LIST_SORT_LIMIT, storedStateSql, toAttack, toAudit, type AttackListEntry, type AttackRow, type AuditListEntry, type AuditRow, type DashboardStore, type FleetSnapshot, type FleetState, type FleetStateCounts, type VehicleFilter } from '../dashboard.js';
import type { VehicleRecord } from '../inventory.js';
import type { ManifestRecord } from '../manifests.js';
import { toManifestRecord, toVehicle, type ManifestHistoryRow, type VehicleRow } from '../rows.js';
import { limitParam, num, run, type Queryable } from './sql.js';

const NO_ID = Number.MAX_SAFE_INTEGER;

export class PostgresDashboard implements DashboardStore {
  constructor(private readonly q: Queryable) {}

  /** Non-stale vehicles grouped by fleet_state, stale ones a range of last_seen: index scans, no assignment read. */
  async fleetStates(staleBefore: Date): Promise<FleetStateCounts> {
    const rows = await run<{ state: string; n: string }>(
      this.q,
      `SELECT fleet_state AS state, COUNT(*) AS n FROM vehicles WHERE last_seen >= $1 GROUP BY fleet_state
       UNION ALL SELECT 'stale', COUNT(*) FROM vehicles WHERE last_seen < $1`,
      [staleBefore.toISOString()],
    );
    return countsOf(rows);
  }

  async securityCounts(since: Date): Promise<{ attacks: { total: number; since: number }; refusedManifests: { total: number; since: number } }> {
    const [row] = await run<Record<string, string>>(
      this.q,
      `SELECT (SELECT COUNT(*) FROM attacks) AS attacks, (SELECT COUNT(*) FROM attacks WHERE reported_at >= $1) AS attacks_since,
              (SELECT COUNT(*) FROM refused_manifests) AS refused, (SELECT COUNT(*) FROM refused_manifests WHERE received_at >= $1) AS refused_since`,
      [since.toISOString()],
    );
    return { attacks: { total: num(row!.attacks!), since: num(row!.attacks_since!) }, refusedManifests: { total: num(row!.refused!), since: num(row!.refused_since!) } };
  }

  async vehiclesPage(filter: VehicleFilter, after: string, limit: number): Promise<Array<VehicleRecord & { state: FleetState }>> {
    const { where, values } = await this.whereOf(filter, after);
    const rows = await run<VehicleRow & { state: FleetState }>(
      this.q,
      `SELECT v.vin, v.attributes, v.registered_at, ${storedStateSql(`$${values.length + 2}::text`)} AS state FROM vehicles v WHERE ${where} ORDER BY v.vin LIMIT $${values.length + 1}`,
      [...values, limitParam(limit), filter.staleBefore.toISOString()],
    );
    return rows.map((r) => ({ ...toVehicle(r), state: r.state }));
  }

  async countVehicles(filter: VehicleFilter, cap: number): Promise<{ count: number; capped: boolean }> {
    const { where, values } = await this.whereOf(filter, '');
    const [row] = await run<{ n: string }>(this.q, `SELECT COUNT(*) AS n FROM (SELECT 1 FROM vehicles v WHERE ${where} LIMIT $${values.length + 1}) AS m`, [...values, cap + 1]);
    const n = num(row!.n);
    return { count: Math.min(n, cap), capped: n > cap };
  }

  /**
   * The vehicle list's WHERE clause and its parameters ($1...). One state that is not stale: a range
   * of vehicles_by_fleet_state in VIN order. Stale: found by the last_seen index and sorted while
   * there are at most STALE_LIST_SORT_LIMIT, else walked in the primary key's VIN order (last_seen
   * behind `|| ''`, so the planner cannot take its index and sort the many).
   */
  private async whereOf(filter: VehicleFilter, after: string): Promise<{ where: string; values: unknown[] }> {
    const values: unknown[] = [after];
    let where = 'v.vin > $1';
    if (filter.prefix !== undefined) {
      values.push(filter.prefix, prefixEnd(filter.prefix));
      where += ` AND v.vin >= $${values.length - 1} AND v.vin < $${values.length}`;
    }
    const stale = filter.staleBefore.toISOString();
    if (filter.state === 'stale') {
      const [few] = await run<{ n: string }>(this.q, 'SELECT COUNT(*) AS n FROM (SELECT 1 FROM vehicles WHERE last_seen < $1 LIMIT $2) AS s', [stale, STALE_LIST_SORT_LIMIT + 1]);
      values.push(stale);
      where += num(few!.n) <= STALE_LIST_SORT_LIMIT ? ` AND v.last_seen < $${values.length}` : ` AND v.last_seen || '' < $${values.length}`;
    } else if (filter.state !== undefined) {
      values.push(filter.state, stale);
      where += ` AND v.fleet_state = $${values.length - 1} AND v.last_seen >= $${values.length}`;
    }
    return { where, values };
  }

  async manifestPage(vin: string, limit: number, beforeId?: number): Promise<ManifestRecord[]> {
    const rows = await run<ManifestHistoryRow>(
      this.q,
      `SELECT * FROM (
         (SELECT id, received_at, true AS accepted, NULL::text AS error_code, NULL::text AS error_message, NULL::bigint AS body_length, NULL::text AS body_sha256
            FROM manifests WHERE vin = $1 AND id < $3 ORDER BY id DESC LIMIT $2)
         UNION ALL
         (SELECT id, received_at, false AS accepted, error_code, error_message, body_length, body_sha256
            FROM refused_manifests WHERE vin = $1 AND id < $3 ORDER BY id DESC LIMIT $2)
       ) AS merged ORDER BY id DESC LIMIT $2`,
      [vin, limitParam(limit), beforeId ?? NO_ID],
    );
    return rows.map(toManifestRecord);
  }

  async attackPage({ limit, beforeId, vin }: { limit: number; beforeId?: number | undefined; vin?: string | undefined }): Promise<AttackListEntry[]> {
    const before = beforeId ?? NO_ID;
    const rows =
      vin === undefined
        ? await run<AttackRow>(this.q, 'SELECT id, vin, ecu_serial, code, message, reported_at FROM attacks WHERE id < $1 ORDER BY id DESC LIMIT $2', [before, limitParam(limit)])
        : await run<AttackRow>(this.q, 'SELECT id, vin, ecu_serial, code, message, reported_at FROM attacks WHERE vin = $1 AND id < $2 ORDER BY id DESC LIMIT $3', [vin, before, limitParam(limit)]);
    return rows.map(toAttack);
  }

  async auditPage({ limit, beforeId, actor, action }: { limit: number; beforeId?: number | undefined; actor?: string | undefined; action?: string | undefined }): Promise<AuditListEntry[]> {
    const rows = await run<AuditRow>(
      this.q,
      `SELECT id, at, actor, token_id, action, details FROM audit_log
        WHERE id < $1 AND ($2::text IS NULL OR actor = $2) AND ($3::text IS NULL OR action = $3) ORDER BY id DESC LIMIT $4`,
      [beforeId ?? NO_ID, actor ?? null, action ?? null, limitParam(limit)],
    );
    return rows.map(toAudit);
  }

  async recordFleetSnapshot(snapshot: FleetSnapshot, keep: number): Promise<void> {
    await run(this.q, 'INSERT INTO fleet_snapshots (at, by_state) VALUES ($1, $2) ON CONFLICT (at) DO UPDATE SET by_state = EXCLUDED.by_state', [snapshot.at, JSON.stringify(snapshot.byState)]);
    await run(this.q, 'DELETE FROM fleet_snapshots WHERE at < (SELECT min(at) FROM (SELECT at FROM fleet_snapshots ORDER BY at DESC LIMIT $1) AS kept)', [keep]);
  }

  async fleetSnapshots(limit: number): Promise<FleetSnapshot[]> {
    const rows = await run<{ at: string; by_state: string }>(this.q, 'SELECT at, by_state FROM (SELECT at, by_state FROM fleet_snapshots ORDER BY at DESC LIMIT $1) AS s ORDER BY at', [limitParam(limit)]);
    return rows.map((r) => ({ at: r.at, byState: JSON.parse(r.by_state) as FleetStateCounts }));
  }
}
