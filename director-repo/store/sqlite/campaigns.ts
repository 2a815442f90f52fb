// The campaigns' and vehicle groups' SQL (schema.ts, migration 2; the stored standings and their
// totals, migration 13).
import type { Db } from '../../../shared/server/sqlite.js';
import type { AssignmentState } from '../assignments.js';
import type {
  CampaignAssignmentRow,
  CampaignAttackRow,
  CampaignEvent,
  CampaignRow,
  CampaignStandingFilter,
  CampaignStandingRow,
  CampaignStandingTotal,
  CampaignState,
  CampaignStore,
  CampaignVehicleRow,
  GroupFilter,
  GroupRecord,
} from '../campaigns.js';
import { STANDING_COLUMNS, toCampaign, toGroup, toStanding, type CampaignTableRow, type GroupRow, type StandingTableRow } from '../rows.js';
import type { Synchronous } from './transaction-gate.js';
import type { CampaignVehicleOutcome } from '../../api/operator-api.js';
import type { Statement } from 'better-sqlite3';


export class SqliteCampaigns implements Synchronous<CampaignStore> {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      insertGroup: db.prepare('INSERT INTO vehicle_groups (name, kind, filter, created_at, created_by) VALUES (?, ?, ?, ?, ?)'),
      group: db.prepare('SELECT name, kind, filter, created_at FROM vehicle_groups WHERE name = ?'),
      groups: db.prepare('SELECT name, kind, filter, created_at FROM vehicle_groups ORDER BY name'),
      addMember: db.prepare('INSERT OR IGNORE INTO group_members (group_name, vin) VALUES (?, ?)'),
      staticMembers: db.prepare('SELECT m.vin FROM group_members m JOIN vehicles v ON v.vin = m.vin WHERE m.group_name = ? ORDER BY m.vin'),
      insertCampaign: db.prepare(
        "INSERT INTO campaigns (name, group_name, spec, state, stage, created_at, created_by, updated_at) VALUES (?, ?, ?, 'draft', 0, ?, ?, ?)",
      ),
      campaign: db.prepare('SELECT * FROM campaigns WHERE id = ?'),
      campaignByName: db.prepare('SELECT * FROM campaigns WHERE name = ?'),
      campaigns: db.prepare('SELECT * FROM campaigns ORDER BY id DESC LIMIT ?'),
      activeCampaigns: db.prepare("SELECT * FROM campaigns WHERE state IN ('running', 'paused') ORDER BY id"),
      setSpec: db.prepare('UPDATE campaigns SET spec = ? WHERE id = ?'),
      setState: db.prepare('UPDATE campaigns SET state = ?, updated_at = ? WHERE id = ?'),
      setStage: db.prepare('UPDATE campaigns SET stage = ?, stage_started_at = ?, updated_at = ? WHERE id = ?'),
      holdStage: db.prepare('UPDATE campaigns SET stage = ?, stage_started_at = NULL, updated_at = ? WHERE id = ?'),
      addVehicle: db.prepare('INSERT OR IGNORE INTO campaign_vehicles (campaign_id, vin, rank) VALUES (?, ?, ?)'),
      vehicles: db.prepare('SELECT vin, rank, stage, outcome FROM campaign_vehicles WHERE campaign_id = ? ORDER BY rank'),
      setVehicleStage: db.prepare('UPDATE campaign_vehicles SET stage = ?, outcome = ? WHERE campaign_id = ? AND vin = ?'),
      campaignsOfVin: db.prepare(
        "SELECT c.* FROM campaigns c JOIN campaign_vehicles cv ON cv.campaign_id = c.id WHERE cv.vin = ? AND c.state IN ('running', 'paused')",
      ),
      assignments: db.prepare(
        `SELECT a.vin, a.ecu_serial, a.state, a.reason, a.updated_at, v.last_state FROM assignments a
         JOIN vehicles v ON v.vin = a.vin WHERE a.campaign_id = ? ORDER BY a.id`,
      ),
      // From the attacks after the watermark, each checked against the campaign by its key: as a join,
      // SQLite walked every staged vehicle of the campaign into the attacks' index (O(campaign) per
      // status request and engine round, 20 ms at 90,000 staged).
      attacksAfter: db.prepare(
        `SELECT a.vin, a.ecu_serial, a.code, a.message, a.reported_at FROM attacks a
          WHERE a.id > @afterId AND EXISTS (SELECT 1 FROM campaign_vehicles cv WHERE cv.campaign_id = @id AND cv.vin = a.vin AND cv.stage IS NOT NULL)
          ORDER BY a.id`,
      ),
      standingTotals: db.prepare(
        `SELECT stage, standing, skip_code, vehicles, deferred_while_driving, rolled_back FROM campaign_stage_totals
          WHERE campaign_id = ? AND vehicles <> 0 ORDER BY stage, standing, skip_code`,
      ),
      standingOf: db.prepare(`SELECT ${STANDING_COLUMNS} FROM campaign_vehicles WHERE campaign_id = ? AND vin = ?`),
      failureReasons: db.prepare("SELECT standing_reason AS reason, COUNT(*) AS vehicles FROM campaign_vehicles WHERE campaign_id = ? AND standing = 'failed' GROUP BY standing_reason"),
      unstaged: db.prepare('SELECT vin FROM campaign_vehicles WHERE campaign_id = ? AND stage IS NULL ORDER BY rank LIMIT ?'),
      lastAttackId: db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM attacks'),
      insertEvent: db.prepare('INSERT INTO campaign_events (campaign_id, at, actor, kind, details) VALUES (?, ?, ?, ?, ?)'),
      events: db.prepare('SELECT at, actor, kind, details FROM campaign_events WHERE campaign_id = ? ORDER BY id'),
    };
  }

  insertGroup(name: string, kind: 'static' | 'dynamic', filter: GroupFilter | null, actor: string, now: Date): void {
    this.s.insertGroup.run(name, kind, filter === null ? null : JSON.stringify(filter), now.toISOString(), actor);
  }

  group(name: string): GroupRecord | undefined {
    const row = this.s.group.get(name) as GroupRow | undefined;
    return row === undefined ? undefined : toGroup(row);
  }

  groups(): GroupRecord[] {
    return (this.s.groups.all() as GroupRow[]).map(toGroup);
  }

  addMembers(group: string, vins: readonly string[]): void {
    for (const vin of vins) this.s.addMember.run(group, vin);
  }

  staticMembers(group: string): string[] {
    return (this.s.staticMembers.all(group) as Array<{ vin: string }>).map((r) => r.vin);
  }

  /**
   * The attribute terms
   * go in as one JSON parameter walked by json_each, not one SQL term each: however many a stored
   * filter holds, the statement stays the same size (1,100 ANDed terms passed SQLite's expression
   * depth limit of 1,000; docs/threat-model.md HR-9b).
   */
  dynamicMembers(filter: GroupFilter): string[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.attributes !== undefined && Object.keys(filter.attributes).length > 0) {
      where.push(`NOT EXISTS (SELECT 1 FROM json_each(?) f WHERE json_extract(v.attributes, '$.' || json_quote(f.key)) IS NOT f.value)`);
      params.push(JSON.stringify(filter.attributes));
    }
    if (filter.hardwareId !== undefined) {
      where.push('EXISTS (SELECT 1 FROM ecus e WHERE e.vin = v.vin AND e.hardware_id = ?)');
      params.push(filter.hardwareId);
    }
    if (filter.installedImage !== undefined) {
      where.push('EXISTS (SELECT 1 FROM ecus e WHERE e.vin = v.vin AND e.installed_filename = ?)');
      params.push(filter.installedImage);
    }
    const sql = `SELECT v.vin FROM vehicles v ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY v.vin`;
    return (this.db.prepare(sql).all(...params) as Array<{ vin: string }>).map((r) => r.vin);
  }

  insertCampaign(name: string, group: string, spec: string, actor: string, now: Date): number {
    const at = now.toISOString();
    return Number(this.s.insertCampaign.run(name, group, spec, at, actor, at).lastInsertRowid);
  }

  campaign(id: number): CampaignRow | undefined {
    const row = this.s.campaign.get(id) as CampaignTableRow | undefined;
    return row === undefined ? undefined : toCampaign(row);
  }

  campaignByName(name: string): CampaignRow | undefined {
    const row = this.s.campaignByName.get(name) as CampaignTableRow | undefined;
    return row === undefined ? undefined : toCampaign(row);
  }

  campaigns(limit: number): CampaignRow[] {
    return (this.s.campaigns.all(limit) as CampaignTableRow[]).map(toCampaign);
  }

  activeCampaigns(): CampaignRow[] {
    return (this.s.activeCampaigns.all() as CampaignTableRow[]).map(toCampaign);
  }

  activeCampaignsOf(vin: string): CampaignRow[] {
    return (this.s.campaignsOfVin.all(vin) as CampaignTableRow[]).map(toCampaign);
  }

  setSpec(id: number, spec: string): void {
    this.s.setSpec.run(spec, id);
  }

  setState(id: number, state: CampaignState, now: Date): void {
    this.s.setState.run(state, now.toISOString(), id);
  }

  setStage(id: number, stage: number, now: Date): void {
    this.s.setStage.run(stage, now.toISOString(), now.toISOString(), id);
  }

  holdStage(id: number, stage: number, now: Date): void {
    this.s.holdStage.run(stage, now.toISOString(), id);
  }

  addVehicles(id: number, vehicles: ReadonlyArray<{ readonly vin: string; readonly rank: string }>): void {
    for (const { vin, rank } of vehicles) this.s.addVehicle.run(id, vin, rank);
  }

  vehicles(id: number): CampaignVehicleRow[] {
    return this.s.vehicles.all(id) as CampaignVehicleRow[];
  }

  setVehicleStages(id: number, stages: ReadonlyArray<{ readonly vin: string; readonly stage: number; readonly outcome: string | null }>): void {
    for (const { vin, stage, outcome } of stages) this.s.setVehicleStage.run(stage, outcome, id, vin);
  }

  standingTotals(id: number): CampaignStandingTotal[] {
    const rows = this.s.standingTotals.all(id) as Array<{ stage: number; standing: CampaignVehicleOutcome; skip_code: string; vehicles: number; deferred_while_driving: number; rolled_back: number }>;
    return rows.map((r) => ({
      stage: r.stage < 0 ? null : r.stage,
      outcome: r.standing,
      skipCode: r.skip_code === '' ? null : r.skip_code,
      vehicles: r.vehicles,
      deferredWhileDriving: r.deferred_while_driving,
      rolledBack: r.rolled_back,
    }));
  }

  /** One prepared statement per filter shape, so each keeps the plan of its own index. */
  private readonly pages = new Map<string, Statement>();

  standingsPage(id: number, filter: CampaignStandingFilter): CampaignStandingRow[] {
    const where = ['campaign_id = ?'];
    const params: unknown[] = [id];
    if (filter.stage !== undefined) (where.push('stage = ?'), params.push(filter.stage));
    if (filter.outcome !== undefined) (where.push('standing = ?'), params.push(filter.outcome));
    if (filter.after !== undefined) (where.push('vin > ?'), params.push(filter.after));
    const sql = `SELECT ${STANDING_COLUMNS} FROM campaign_vehicles WHERE ${where.join(' AND ')} ORDER BY vin LIMIT ?`;
    let statement = this.pages.get(sql);
    if (statement === undefined) this.pages.set(sql, (statement = this.db.prepare(sql)));
    return (statement.all(...params, filter.limit) as StandingTableRow[]).map(toStanding);
  }

  standingsOf(id: number, vins: readonly string[]): CampaignStandingRow[] {
    const rows: CampaignStandingRow[] = [];
    for (const vin of [...new Set(vins)].sort()) {
      const row = this.s.standingOf.get(id, vin) as StandingTableRow | undefined;
      if (row !== undefined) rows.push(toStanding(row));
    }
    return rows;
  }

  failureReasons(id: number): Array<{ reason: string | null; vehicles: number }> {
    return this.s.failureReasons.all(id) as Array<{ reason: string | null; vehicles: number }>;
  }

  unstaged(id: number, limit: number): string[] {
    return (this.s.unstaged.all(id, limit) as Array<{ vin: string }>).map((r) => r.vin);
  }

  assignments(id: number): CampaignAssignmentRow[] {
    return (
      this.s.assignments.all(id) as Array<{ vin: string; ecu_serial: string; state: AssignmentState; reason: string | null; updated_at: string; last_state: string | null }>
    ).map((r) => ({ vin: r.vin, ecuSerial: r.ecu_serial, state: r.state, reason: r.reason, updatedAt: r.updated_at, lastState: r.last_state }));
  }

  attacksAfter(id: number, afterId: number): CampaignAttackRow[] {
    return this.s.attacksAfter.all({ id, afterId }) as CampaignAttackRow[];
  }

  lastAttackId(): number {
    return (this.s.lastAttackId.get() as { id: number }).id;
  }

  event(id: number, actor: string, kind: string, details: unknown, now: Date): void {
    this.s.insertEvent.run(id, now.toISOString(), actor, kind, JSON.stringify(details));
  }

  events(id: number): CampaignEvent[] {
    return (this.s.events.all(id) as Array<{ at: string; actor: string; kind: string; details: string }>).map((e) => ({ ...e, details: JSON.parse(e.details) as unknown }));
  }
}
