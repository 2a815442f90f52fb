// Campaigns and vehicle groups on PostgreSQL (schema.ts). Same answers as ../sqlite/campaigns.ts;
// batches (members, vehicles, stages) go in as arrays, one statement per BATCH_ROWS.
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
import { chunks, limitParam, num, run, type Queryable } from './sql.js';
import type { CampaignVehicleOutcome } from '../../api/operator-api.js';


const CAMPAIGN_COLUMNS = 'c.id, c.name, c.group_name, c.spec, c.state, c.stage, c.stage_started_at, c.created_at, c.updated_at';

export class PostgresCampaigns implements CampaignStore {
  constructor(private readonly q: Queryable) {}

  async insertGroup(name: string, kind: 'static' | 'dynamic', filter: GroupFilter | null, actor: string, now: Date): Promise<void> {
    await run(this.q, 'INSERT INTO vehicle_groups (name, kind, filter, created_at, created_by) VALUES ($1, $2, $3, $4, $5)', [
      name,
      kind,
      filter === null ? null : JSON.stringify(filter),
      now.toISOString(),
      actor,
    ]);
  }

  async group(name: string): Promise<GroupRecord | undefined> {
    const [row] = await run<GroupRow>(this.q, 'SELECT name, kind, filter, created_at FROM vehicle_groups WHERE name = $1', [name]);
    return row === undefined ? undefined : toGroup(row);
  }

  async groups(): Promise<GroupRecord[]> {
    return (await run<GroupRow>(this.q, 'SELECT name, kind, filter, created_at FROM vehicle_groups ORDER BY name')).map(toGroup);
  }

  async addMembers(group: string, vins: readonly string[]): Promise<void> {
    for (const part of chunks(vins)) {
      await run(this.q, 'INSERT INTO group_members (group_name, vin) SELECT $1::text, v FROM unnest($2::text[]) AS v ON CONFLICT DO NOTHING', [group, part]);
    }
  }

  async staticMembers(group: string): Promise<string[]> {
    const rows = await run<{ vin: string }>(this.q, 'SELECT m.vin FROM group_members m JOIN vehicles v ON v.vin = m.vin WHERE m.group_name = $1 ORDER BY m.vin', [group]);
    return rows.map((r) => r.vin);
  }

  /**
   * The attribute terms go in as one JSON parameter walked by json_each_text, as on SQLite: however
   * many a stored filter holds, the statement stays the same size (docs/threat-model.md HR-9b). The
   * stored attributes are cast to json (not jsonb), which reads them as SQLite's json_extract does.
   */
  async dynamicMembers(filter: GroupFilter): Promise<string[]> {
    const attributes = filter.attributes !== undefined && Object.keys(filter.attributes).length > 0 ? JSON.stringify(filter.attributes) : null;
    const rows = await run<{ vin: string }>(
      this.q,
      `SELECT v.vin FROM vehicles v
        WHERE ($1::json IS NULL OR NOT EXISTS (SELECT 1 FROM json_each_text($1::json) f WHERE (v.attributes::json ->> f.key) IS DISTINCT FROM f.value))
          AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM ecus e WHERE e.vin = v.vin AND e.hardware_id = $2::text))
          AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM ecus e WHERE e.vin = v.vin AND e.installed_filename = $3::text))
        ORDER BY v.vin`,
      [attributes, filter.hardwareId ?? null, filter.installedImage ?? null],
    );
    return rows.map((r) => r.vin);
  }

  async insertCampaign(name: string, group: string, spec: string, actor: string, now: Date): Promise<number> {
    const at = now.toISOString();
    const [row] = await run<{ id: string }>(
      this.q,
      "INSERT INTO campaigns (name, group_name, spec, state, stage, created_at, created_by, updated_at) VALUES ($1, $2, $3, 'draft', 0, $4, $5, $4) RETURNING id",
      [name, group, spec, at, actor],
    );
    return num(row!.id);
  }

  async campaign(id: number): Promise<CampaignRow | undefined> {
    const [row] = await run<CampaignTableRow>(this.q, `SELECT ${CAMPAIGN_COLUMNS} FROM campaigns c WHERE c.id = $1`, [id]);
    return row === undefined ? undefined : toCampaign(row);
  }

  async campaignByName(name: string): Promise<CampaignRow | undefined> {
    const [row] = await run<CampaignTableRow>(this.q, `SELECT ${CAMPAIGN_COLUMNS} FROM campaigns c WHERE c.name = $1`, [name]);
    return row === undefined ? undefined : toCampaign(row);
  }

  async campaigns(limit: number): Promise<CampaignRow[]> {
    return (await run<CampaignTableRow>(this.q, `SELECT ${CAMPAIGN_COLUMNS} FROM campaigns c ORDER BY c.id DESC LIMIT $1`, [limitParam(limit)])).map(toCampaign);
  }

  async activeCampaigns(): Promise<CampaignRow[]> {
    return (await run<CampaignTableRow>(this.q, `SELECT ${CAMPAIGN_COLUMNS} FROM campaigns c WHERE c.state IN ('running', 'paused') ORDER BY c.id`)).map(toCampaign);
  }

  async activeCampaignsOf(vin: string): Promise<CampaignRow[]> {
    const rows = await run<CampaignTableRow>(
      this.q,
      `SELECT ${CAMPAIGN_COLUMNS} FROM campaigns c JOIN campaign_vehicles cv ON cv.campaign_id = c.id
        WHERE cv.vin = $1 AND c.state IN ('running', 'paused') ORDER BY c.id`,
      [vin],
    );
    return rows.map(toCampaign);
  }

  async setSpec(id: number, spec: string): Promise<void> {
    await run(this.q, 'UPDATE campaigns SET spec = $1 WHERE id = $2', [spec, id]);
  }

  async setState(id: number, state: CampaignState, now: Date): Promise<void> {
    await run(this.q, 'UPDATE campaigns SET state = $1, updated_at = $2 WHERE id = $3', [state, now.toISOString(), id]);
  }

  async setStage(id: number, stage: number, now: Date): Promise<void> {
    await run(this.q, 'UPDATE campaigns SET stage = $1, stage_started_at = $2, updated_at = $2 WHERE id = $3', [stage, now.toISOString(), id]);
  }

  async holdStage(id: number, stage: number, now: Date): Promise<void> {
    await run(this.q, 'UPDATE campaigns SET stage = $1, stage_started_at = NULL, updated_at = $2 WHERE id = $3', [stage, now.toISOString(), id]);
  }

  async addVehicles(id: number, vehicles: ReadonlyArray<{ readonly vin: string; readonly rank: string }>): Promise<void> {
    for (const part of chunks(vehicles)) {
      await run(
        this.q,
        `INSERT INTO campaign_vehicles (campaign_id, vin, rank)
         SELECT $1::bigint, u.vin, u.rank FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(vin, rank, n) ORDER BY u.n
         ON CONFLICT DO NOTHING`,
        [id, part.map((v) => v.vin), part.map((v) => v.rank)],
      );
    }
  }

  async vehicles(id: number): Promise<CampaignVehicleRow[]> {
    const rows = await run<CampaignVehicleRow>(this.q, 'SELECT vin, rank, stage, outcome FROM campaign_vehicles WHERE campaign_id = $1 ORDER BY rank', [id]);
    return rows.map((r) => ({ vin: r.vin, rank: r.rank, stage: r.stage, outcome: r.outcome }));
  }

  async setVehicleStages(id: number, stages: ReadonlyArray<{ readonly vin: string; readonly stage: number; readonly outcome: string | null }>): Promise<void> {
    for (const part of chunks(stages)) {
      // A VIN given twice: the last one counts, as the SQLite store's updates one by one leave it.
      const last = new Map(part.map((s) => [s.vin, s]));
      const rows = [...last.values()];
      await run(
        this.q,
        `UPDATE campaign_vehicles cv SET stage = u.stage, outcome = u.outcome
           FROM unnest($2::text[], $3::int[], $4::text[]) AS u(vin, stage, outcome)
          WHERE cv.campaign_id = $1 AND cv.vin = u.vin`,
        [id, rows.map((s) => s.vin), rows.map((s) => s.stage), rows.map((s) => s.outcome)],
      );
    }
  }

  /** An index-only scan of campaign_vehicles_standing_totals (schema.ts migration 8 says why no totals are kept here). */
  async standingTotals(id: number): Promise<CampaignStandingTotal[]> {
    const rows = await run<{ stage: number | null; standing: CampaignVehicleOutcome; skip_code: string; vehicles: string; deferred: string; rolled_back: string }>(
      this.q,
      `SELECT stage, standing, skip_code, COUNT(*) AS vehicles, SUM(deferred_while_driving) AS deferred, SUM(rolled_back) AS rolled_back
         FROM campaign_vehicles WHERE campaign_id = $1 GROUP BY stage, standing, skip_code ORDER BY stage NULLS FIRST, standing, skip_code`,
      [id],
    );
    return rows.map((r) => ({
      stage: r.stage,
      outcome: r.standing,
      skipCode: r.skip_code === '' ? null : r.skip_code,
      vehicles: num(r.vehicles),
      deferredWhileDriving: num(r.deferred),
      rolledBack: num(r.rolled_back),
    }));
  }

  async standingsPage(id: number, filter: CampaignStandingFilter): Promise<CampaignStandingRow[]> {
    const where = ['campaign_id = $1'];
    const params: unknown[] = [id];
    if (filter.stage !== undefined) (params.push(filter.stage), where.push(`stage = $${params.length}`));
    if (filter.outcome !== undefined) (params.push(filter.outcome), where.push(`standing = $${params.length}`));
    if (filter.after !== undefined) (params.push(filter.after), where.push(`vin > $${params.length}`));
    params.push(limitParam(filter.limit));
    const rows = await run<StandingTableRow>(this.q, `SELECT ${STANDING_COLUMNS} FROM campaign_vehicles WHERE ${where.join(' AND ')} ORDER BY vin LIMIT $${params.length}`, params);
    return rows.map(toStanding);
  }

  async standingsOf(id: number, vins: readonly string[]): Promise<CampaignStandingRow[]> {
    const rows: CampaignStandingRow[] = [];
    for (const part of chunks([...new Set(vins)])) {
      rows.push(...(await run<StandingTableRow>(this.q, `SELECT ${STANDING_COLUMNS} FROM campaign_vehicles WHERE campaign_id = $1 AND vin = ANY ($2::text[])`, [id, part])).map(toStanding));
    }
    return rows.sort((a, b) => (a.vin < b.vin ? -1 : a.vin > b.vin ? 1 : 0));
  }

  async failureReasons(id: number): Promise<Array<{ reason: string | null; vehicles: number }>> {
    const rows = await run<{ reason: string | null; vehicles: string }>(
      this.q,
      "SELECT standing_reason AS reason, COUNT(*) AS vehicles FROM campaign_vehicles WHERE campaign_id = $1 AND standing = 'failed' GROUP BY standing_reason",
      [id],
    );
    return rows.map((r) => ({ reason: r.reason, vehicles: num(r.vehicles) }));
  }

  async unstaged(id: number, limit: number): Promise<string[]> {
    const rows = await run<{ vin: string }>(this.q, 'SELECT vin FROM campaign_vehicles WHERE campaign_id = $1 AND stage IS NULL ORDER BY rank LIMIT $2', [id, limitParam(limit)]);
    return rows.map((r) => r.vin);
  }

  async assignments(id: number): Promise<CampaignAssignmentRow[]> {
    const rows = await run<{ vin: string; ecu_serial: string; state: AssignmentState; reason: string | null; updated_at: string; last_state: string | null }>(
      this.q,
      `SELECT a.vin, a.ecu_serial, a.state, a.reason, a.updated_at, v.last_state FROM assignments a
         JOIN vehicles v ON v.vin = a.vin WHERE a.campaign_id = $1 ORDER BY a.id`,
      [id],
    );
    return rows.map((r) => ({ vin: r.vin, ecuSerial: r.ecu_serial, state: r.state, reason: r.reason, updatedAt: r.updated_at, lastState: r.last_state }));
  }

  async attacksAfter(id: number, afterId: number): Promise<CampaignAttackRow[]> {
    return run<CampaignAttackRow>(
      this.q,
      // From the attacks after the watermark (their key's range), each checked against the campaign by
      // its key, as on SQLite: the cost follows the attacks since the watermark, not the campaign.
      `SELECT a.vin, a.ecu_serial, a.code, a.message, a.reported_at FROM attacks a
        WHERE a.id > $2 AND EXISTS (SELECT 1 FROM campaign_vehicles cv WHERE cv.campaign_id = $1 AND cv.vin = a.vin AND cv.stage IS NOT NULL)
        ORDER BY a.id`,
      [id, afterId],
    );
  }

  /**
   * The newest attack row. Attack ids come from a sequence, so across replicas a row with a smaller
   * id can commit just after this is read; a halt rule may then miss an attack reported at the very
   * moment its campaign started or resumed (on SQLite, with one writer, it cannot).
   */
  async lastAttackId(): Promise<number> {
    const [row] = await run<{ id: string }>(this.q, 'SELECT COALESCE(MAX(id), 0) AS id FROM attacks');
    return num(row!.id);
  }

  async event(id: number, actor: string, kind: string, details: unknown, now: Date): Promise<void> {
    await run(this.q, 'INSERT INTO campaign_events (campaign_id, at, actor, kind, details) VALUES ($1, $2, $3, $4, $5)', [id, now.toISOString(), actor, kind, JSON.stringify(details)]);
  }

  async events(id: number): Promise<CampaignEvent[]> {
    const rows = await run<{ at: string; actor: string; kind: string; details: string }>(this.q, 'SELECT at, actor, kind, details FROM campaign_events WHERE campaign_id = $1 ORDER BY id', [id]);
    return rows.map((e) => ({ at: e.at, actor: e.actor, kind: e.kind, details: JSON.parse(e.details) as unknown }));
  }
}

