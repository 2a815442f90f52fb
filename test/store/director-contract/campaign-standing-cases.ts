// The stored campaign standings (SQLite migration 13, PostgreSQL 8) against the rules they are kept
// by: after each event of a campaign's life (created, started, a stage taking vehicles with skips,
// fetches, installs, failures and rollbacks in manifests, driving, halt, resume, the next stage, a
// retry, an ECU replaced, abort, and a tool writing campaign vehicles directly) every vehicle's
// stored standing, the totals per stage, the failure reasons and the unstaged list must be what
// campaign-status.ts derives from the same rows (vehicleStanding, stageCounts). A write path that
// changes an input without its trigger following fails here. Both backends, the same cases.
import Database from 'better-sqlite3';
import pg from 'pg';
import { CAMPAIGN_VEHICLE_OUTCOMES } from '../../../director-repo/api/operator-api.js';
import { stageCounts, stageCountsOf, standings } from '../../../director-repo/campaign-status.js';
import { DIRECTOR_COMPONENT } from '../../../director-repo/store/postgres/director-store.js';
import { MIGRATIONS as POSTGRES_MIGRATIONS } from '../../../director-repo/store/postgres/schema.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../../../director-repo/store/sqlite/schema.js';
import { PostgresDatabase } from '../../../shared/server/postgres.js';
import { openDatabase } from '../../../shared/server/sqlite.js';
import { sqliteBackend, type ContractStore } from './backends.js';
import type { ContractContext } from './context.js';
import { T0, accept, at, body, ecu, image, iso, registerVehicle } from './fixtures.js';

/** A statement run on the store's database beside the store: what a tool (db migrate, a repair) may do. */
type RawWrite = (sql: string, params: readonly unknown[]) => Promise<void>;

function rawWriter(place: string, sqlite: boolean): RawWrite {
  if (sqlite) {
    return async (sql, params) => {
      const db = new Database(place);
      try {
        // $1 as @p1: a parameter may be used twice, as in PostgreSQL.
        db.prepare(sql.replace(/\$(\d+)/g, '@p$1')).run(Object.fromEntries(params.map((p, i) => [`p${i + 1}`, p])));
      } finally {
        db.close();
      }
    };
  }
  const parsed = new URL(place);
  const schema = parsed.searchParams.get('schema')!;
  parsed.searchParams.delete('schema');
  return async (sql, params) => {
    const client = new pg.Client({ connectionString: parsed.toString(), options: `-c search_path=${schema}` });
    await client.connect();
    try {
      await client.query(sql, [...params]);
    } finally {
      await client.end();
    }
  };
}

const byVin = <T extends { vin: string }>(rows: readonly T[]): T[] => [...rows].sort((a, b) => (a.vin < b.vin ? -1 : a.vin > b.vin ? 1 : 0));

/** Every stored answer about campaign `id` against the rules run on its vehicle and assignment rows. */
async function expectStoredEqualsRules(store: ContractStore, id: number, event: string): Promise<ReturnType<typeof standings>> {
  const vehicles = await store.campaigns.vehicles(id);
  const reference = standings(vehicles, await store.campaigns.assignments(id));
  const all = byVin(reference);
  expect({ event, standings: await store.campaigns.standingsPage(id, { limit: 1000 }) }).toEqual({ event, standings: all });
  const totals = await store.campaigns.standingTotals(id);
  expect({ event, stages: stageCountsOf(totals, new Map()) }).toEqual({ event, stages: stageCounts(reference, new Set(), 0) });
  expect({ event, vehicles: totals.reduce((n, t) => n + t.vehicles, 0), unstaged: totals.filter((t) => t.stage === null).reduce((n, t) => n + t.vehicles, 0) }).toEqual({
    event,
    vehicles: reference.length,
    unstaged: reference.filter((v) => v.stage === null).length,
  });
  const reasons = new Map<string | null, number>();
  for (const v of reference) if (v.outcome === 'failed') reasons.set(v.reason, (reasons.get(v.reason) ?? 0) + 1);
  const stored = (await store.campaigns.failureReasons(id)).map((r) => [r.reason, r.vehicles]);
  expect({ event, reasons: stored.sort((a, b) => String(a[0]).localeCompare(String(b[0]))) }).toEqual({
    event,
    reasons: [...reasons].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  });
  expect({ event, unstaged: await store.campaigns.unstaged(id, 1000) }).toEqual({ event, unstaged: vehicles.filter((v) => v.stage === null).map((v) => v.vin) });
  // Each filter shape the pages use: by stage, by outcome, both, and after a VIN.
  const stages = [...new Set(all.map((v) => v.stage).filter((s): s is number => s !== null))];
  for (const outcome of CAMPAIGN_VEHICLE_OUTCOMES) {
    const matching = all.filter((v) => v.outcome === outcome);
    expect({ event, outcome, page: await store.campaigns.standingsPage(id, { outcome, limit: 1000 }) }).toEqual({ event, outcome, page: matching });
    for (const stage of stages) {
      const page = await store.campaigns.standingsPage(id, { stage, outcome, limit: 1000 });
      expect({ event, outcome, stage, page }).toEqual({ event, outcome, stage, page: matching.filter((v) => v.stage === stage) });
    }
  }
  const after = all[0]?.vin ?? '';
  for (const stage of stages) {
    const page = await store.campaigns.standingsPage(id, { stage, after, limit: 2 });
    expect({ event, stage, page }).toEqual({ event, stage, page: all.filter((v) => v.stage === stage && v.vin > after).slice(0, 2) });
  }
  const some = [all[0]?.vin, all[all.length - 1]?.vin, 'NOT-IN-IT'].filter((v): v is string => v !== undefined);
  expect({ event, some: await store.campaigns.standingsOf(id, some) }).toEqual({ event, some: all.filter((v) => some.includes(v.vin)) });
  return reference;
}

/** The schema as it stood before the stored standings (SQLite migration 13, PostgreSQL 8), at `place`. */
async function schemaBeforeStandings(place: string, sqlite: boolean): Promise<void> {
  const before = (migrations: readonly string[]) => migrations.slice(0, migrations.findIndex((m) => m.includes('standing_reason')));
  if (sqlite) {
    openDatabase(place, before(SQLITE_MIGRATIONS)).close();
    return;
  }
  await (await PostgresDatabase.open(place, DIRECTOR_COMPONENT, before(POSTGRES_MIGRATIONS))).close();
}

export function campaignStandingCases({ backend, open }: ContractContext): void {
  it("backfills the standings of campaigns written before the migration as the rules give them, every outcome among them", async () => {
    const place = backend.place();
    const sqlite = backend === sqliteBackend;
    await schemaBeforeStandings(place, sqlite);
    const raw = rawWriter(place, sqlite);
    const t = T0.toISOString();
    // B-1 two ECUs, one installed and one rolled back; B-2 installed; B-3 pending while driving; B-4
    // skipped (already installed); B-5 skipped with blanks after the colon; B-6 downloading; B-7
    // failed, then retried (pending); B-8 cancelled by an abort; B-9 staged with nothing (cancelled,
    // no reason); B-10 not staged; B-11 failed on its own.
    const vins = ['B-1', 'B-2', 'B-3', 'B-4', 'B-5', 'B-6', 'B-7', 'B-8', 'B-9', 'B-10', 'B-11'];
    for (const vin of vins) {
      await raw('INSERT INTO vehicles (vin, registered_at, last_state) VALUES ($1, $2, $3)', [vin, t, vin === 'B-3' ? 'driving' : 'parked']);
      await raw("INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at) VALUES ($1, $2, 'hw', $3, $4, $5, $6)", [`${vin}-p`, vin, `pk-${vin}`, `kid-${vin}`, 1, t]);
    }
    await raw("INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at) VALUES ('B-1-s', 'B-1', 'hw', 'pk-B-1-s', 'kid-B-1-s', $1, $2)", [0, t]);
    await raw("INSERT INTO vehicle_groups (name, kind, filter, created_at, created_by) VALUES ('gb', 'static', NULL, $1, 'op')", [t]);
    await raw("INSERT INTO campaigns (name, group_name, spec, state, stage, stage_started_at, created_at, created_by, updated_at) VALUES ('old', 'gb', '{}', 'running', 1, $1, $1, 'op', $1)", [t]);
    const outcome: Record<string, string> = { 'B-4': 'skipped: already installed', 'B-5': 'skipped: \t conflict: ECU B-5-p already has an active assignment' };
    for (const [i, vin] of vins.entries()) {
      const stage = vin === 'B-10' ? null : i < 5 ? 0 : 1;
      await raw('INSERT INTO campaign_vehicles (campaign_id, vin, rank, stage, outcome) VALUES ((SELECT id FROM campaigns WHERE name = $1), $2, $3, $4, $5)', ['old', vin, String(50 - i), stage, outcome[vin] ?? null]);
    }
    const assigned: Array<[string, string, string, string | null]> = [
      ['B-1', 'B-1-p', 'installed', null],
      ['B-1', 'B-1-s', 'failed', 'rolled_back: boot_check_failed'],
      ['B-2', 'B-2-p', 'installed', null],
      ['B-3', 'B-3-p', 'pending', null],
      ['B-6', 'B-6-p', 'in_flight', null],
      ['B-7', 'B-7-p', 'failed', 'failed: download_timeout'],
      ['B-7', 'B-7-p', 'pending', null],
      ['B-8', 'B-8-p', 'cancelled', 'campaign old aborted by op'],
      ['B-11', 'B-11-p', 'failed', 'failed: no_space'],
    ];
    for (const [vin, serial, state, reason] of assigned) {
      await raw(
        `INSERT INTO assignments (vin, ecu_serial, filename, length, hashes, hardware_id, release_counter, state, reason, created_at, updated_at, created_by, campaign_id)
         VALUES ($1, $2, 'fw.bin', 10, '{"sha256":"ab"}', 'hw', 1, $3, $4, $5, $5, 'engine', (SELECT id FROM campaigns WHERE name = 'old'))`,
        [vin, serial, state, reason, iso(1)],
      );
    }

    const { store } = await open(place);
    const [campaign] = await store.campaigns.activeCampaigns();
    const reference = await expectStoredEqualsRules(store, campaign!.id, 'backfilled');
    const seen = new Set(reference.flatMap((v) => [v.outcome, ...(v.deferredWhileDriving ? ['deferred'] : []), ...(v.rolledBack ? ['rolled_back'] : [])]));
    expect([...seen].sort()).toEqual([...CAMPAIGN_VEHICLE_OUTCOMES, 'deferred', 'rolled_back'].sort());
    // And the triggers work on the backfilled rows.
    const [retried] = await store.assignments.active('B-7');
    await store.assignments.setState(retried!.id, 'installed', null, at(2));
    await expectStoredEqualsRules(store, campaign!.id, 'installed after the backfill');
  });

  it('keeps every campaign vehicle\'s stored standing and the totals equal to the rules\' answer after every event of a campaign\'s life', async () => {
    const place = backend.place();
    const { store } = await open(place);
    const raw = rawWriter(place, backend === sqliteBackend);
    const vins = ['C-1', 'C-2', 'C-3', 'C-4', 'C-5', 'C-6', 'C-7', 'C-8'];
    const ecus = new Map<string, { primary: string; secondary: string }>();
    for (const vin of vins) ecus.set(vin, await registerVehicle(store, vin));
    const secondary = (vin: string) => ecus.get(vin)!.secondary;
    const primary = (vin: string) => ecus.get(vin)!.primary;
    const manifest = (vin: string, minute: number, changes: Parameters<typeof accept>[2] = {}) => store.intake.receive(vin, body(`${vin} ${minute}`), 0, () => accept(minute, null, changes));

    await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
    await store.campaigns.addMembers('g', vins);
    const id = await store.campaigns.insertCampaign('life', 'g', '{}', 'op', at(1));
    // Another campaign holding one of the same vehicles: its rows must not move this one's.
    const other = await store.campaigns.insertCampaign('other', 'g', '{}', 'op', at(1));
    /** Every outcome and flag the checks met, so the case cannot pass by never reaching one. */
    const seen = new Set<string>();
    const check = async (event: string) => {
      for (const campaign of [id, other]) {
        for (const v of await expectStoredEqualsRules(store, campaign, event)) {
          seen.add(v.outcome);
          if (v.deferredWhileDriving) seen.add('deferred');
          if (v.rolledBack) seen.add('rolled_back');
        }
      }
    };
    await check('created');

    // Started: every member added in rank order (reverse VIN order here), none staged yet.
    await store.campaigns.addVehicles(id, vins.map((vin, i) => ({ vin, rank: String(90 - i) })));
    await store.campaigns.addVehicles(other, [{ vin: 'C-1', rank: '00' }]);
    await store.campaigns.setState(id, 'running', at(2));
    await store.campaigns.setStage(id, 0, at(2));
    await check('started');

    // Stage 1 takes five vehicles: C-1 on two ECUs, two skipped.
    const stage1 = await store.assignments.insert(
      [image('C-1', secondary('C-1')), image('C-1', primary('C-1')), image('C-2', secondary('C-2')), image('C-3', secondary('C-3'))],
      { actor: 'engine (campaign life)', now: at(3), campaignId: id },
    );
    await store.inventory.insertEcu(ecu('C-1', 'C-1-t', false), at(3));
    await store.assignments.insert([image('C-1', 'C-1-t', 'other.bin')], { actor: 'engine (campaign other)', now: at(3), campaignId: other });
    await store.campaigns.setVehicleStages(other, [{ vin: 'C-1', stage: 0, outcome: null }]);
    await store.campaigns.setVehicleStages(id, [
      { vin: 'C-1', stage: 0, outcome: null },
      { vin: 'C-2', stage: 0, outcome: null },
      { vin: 'C-3', stage: 0, outcome: null },
      { vin: 'C-4', stage: 0, outcome: 'skipped: already installed' },
      { vin: 'C-5', stage: 0, outcome: 'skipped: conflict: ECU C-5-s already has an active assignment' },
    ]);
    await check('stage 1 started');
    const [c1s, c1p, c2s, c3s] = stage1 as [number, number, number, number];

    await store.assignments.markInFlight('C-1', at(4));
    await store.assignments.markInFlight('C-2', at(4));
    await check('fetched (downloading)');
    await manifest('C-3', 5, { vehicleState: 'driving' });
    await manifest('C-1', 5, { vehicleState: 'driving' });
    await check('driving (deferred)');
    await manifest('C-1', 6, {
      vehicleState: 'parked',
      assignmentStates: [
        { id: c1s, state: 'installed', reason: null },
        { id: c1p, state: 'failed', reason: 'rolled_back: boot_check_failed' },
      ],
    });
    await manifest('C-2', 6, { assignmentStates: [{ id: c2s, state: 'installed', reason: null }] });
    await check('reported install and rollback');
    await store.assignments.setState(c3s, 'failed', 'failed: download_timeout', at(7));
    await check('failed by the Director');

    await store.campaigns.setState(id, 'paused', at(8));
    await store.campaigns.event(id, 'engine', 'paused', { reason: 'failure rate' }, at(8));
    await check('halted');
    await store.campaigns.setState(id, 'running', at(9));
    await check('resumed');

    // Stage 2 takes two more; C-8 stays unstaged.
    await store.campaigns.setStage(id, 1, at(10));
    const [c6s, c7s] = (await store.assignments.insert([image('C-6', secondary('C-6')), image('C-7', secondary('C-7'))], { actor: 'engine', now: at(10), campaignId: id })) as [number, number];
    await store.campaigns.setVehicleStages(id, [
      { vin: 'C-6', stage: 1, outcome: null },
      { vin: 'C-7', stage: 1, outcome: null },
    ]);
    await check('stage 2 started');
    await manifest('C-6', 11, { vehicleState: 'driving' });
    await check('driving in stage 2');

    // Retry: new assignments for the failed ECUs stand for the failed ones.
    const [r1, r3] = (await store.assignments.insert([image('C-1', primary('C-1'), 'fw-1.1.bin', 2), image('C-3', secondary('C-3'), 'fw-1.1.bin', 2)], { actor: 'op (campaign life retry)', now: at(12), campaignId: id })) as [
      number,
      number,
    ];
    await check('retried');
    await manifest('C-3', 13, { vehicleState: 'parked', assignmentStates: [{ id: r3, state: 'installed', reason: null }] });
    await store.assignments.setState(r1, 'failed', 'failed: no_space', at(13));
    await check('retries reported');
    // An assignment outside any campaign changes nothing here.
    await store.assignments.insert([image('C-8', secondary('C-8'))], { actor: 'op', now: at(14) });
    await check('assigned outside the campaign');
    // C-7's ECU replaced: its assignment goes with it.
    await store.inventory.deleteEcu(secondary('C-7'));
    await check('ECU removed');
    await manifest('C-6', 15, { vehicleState: 'parked' });
    await check('parked again');

    // Abort: every open assignment cancelled.
    for (const a of await store.assignments.activeOfCampaign(id)) await store.assignments.setState(a.id, 'cancelled', 'campaign life aborted by op', at(16));
    await store.campaigns.setState(id, 'aborted', at(16));
    await check('aborted');
    expect(c6s).toBeGreaterThan(0);
    expect(c7s).toBeGreaterThan(0);

    // A tool writing campaign vehicles directly (db migrate copies staged rows; a repair deletes one).
    await raw('INSERT INTO campaign_vehicles (campaign_id, vin, rank, stage, outcome) VALUES ($1, $2, $3, $4, $5)', [other, 'C-3', '01', 0, null]);
    await raw('INSERT INTO campaign_vehicles (campaign_id, vin, rank, stage, outcome) VALUES ($1, $2, $3, $4, $5)', [other, 'C-4', '02', 0, 'skipped: vehicle_unknown: gone']);
    await check('staged rows written by a tool');
    await raw('DELETE FROM campaign_vehicles WHERE campaign_id = $1 AND vin = $2', [id, 'C-2']);
    await check('a row deleted by a tool');
    expect([...seen].sort()).toEqual([...CAMPAIGN_VEHICLE_OUTCOMES, 'deferred', 'rolled_back'].sort());
  });
}
