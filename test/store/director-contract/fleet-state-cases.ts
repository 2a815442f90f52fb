// The stored fleet states (SQLite migration 10, PostgreSQL 6) against the rules they are kept by:
// after each event of a fleet's life (registration, assignments made, fetched, reported, failed,
// rolled back, cancelled, driving, ECUs replaced, reports going quiet) every vehicle's stored state
// must be what fleetStateSql derives from the same rows, read beside it with SQL of its own. A write
// path that changes an input without the state following fails here. Both backends, the same cases.
import Database from 'better-sqlite3';
import pg from 'pg';
import { fleetStateSql, type FleetState } from '../../../director-repo/store/dashboard.js';
import { sqliteBackend } from './backends.js';
import type { ContractContext } from './context.js';
import { accept, at, body, ecu, image, registerVehicle } from './fixtures.js';

const report = (minute: number) => ({ counter: minute, filename: 'factory.bin', length: 10, hashes: { sha256: 'ab'.repeat(32) }, releaseCounter: null });

/** Every vehicle's state by fleetStateSql, run on the store's own rows outside the store. */
type ReferenceStates = (staleBefore: Date) => Promise<Record<string, FleetState>>;

function sqliteReference(path: string): ReferenceStates {
  return async (staleBefore) => {
    const db = new Database(path, { readonly: true });
    try {
      const rows = db
        .prepare(`SELECT v.vin, ${fleetStateSql(':stale')} AS state FROM vehicles v LEFT JOIN ecus e ON e.vin = v.vin AND e.is_primary = 1 ORDER BY v.vin`)
        .all({ stale: staleBefore.toISOString() }) as Array<{ vin: string; state: FleetState }>;
      return Object.fromEntries(rows.map((r) => [r.vin, r.state]));
    } finally {
      db.close();
    }
  };
}

function postgresReference(url: string): ReferenceStates {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema')!;
  parsed.searchParams.delete('schema');
  return async (staleBefore) => {
    const client = new pg.Client({ connectionString: parsed.toString(), options: `-c search_path=${schema}` });
    await client.connect();
    try {
      const { rows } = await client.query<{ vin: string; state: FleetState }>(
        `SELECT v.vin, ${fleetStateSql('$1::text')} AS state FROM vehicles v LEFT JOIN ecus e ON e.vin = v.vin AND e.is_primary ORDER BY v.vin`,
        [staleBefore.toISOString()],
      );
      return Object.fromEntries(rows.map((r) => [r.vin, r.state]));
    } finally {
      await client.end();
    }
  };
}

export function fleetStateCases({ backend, open }: ContractContext): void {
  it('keeps every vehicle\'s stored state equal to the rules\' answer after every kind of event', async () => {
    const place = backend.place();
    const { store } = await open(place);
    const reference = backend === sqliteBackend ? sqliteReference(place) : postgresReference(place);
    const stored = async (staleBefore: Date): Promise<Record<string, FleetState>> =>
      Object.fromEntries((await store.dashboard.vehiclesPage({ staleBefore }, '', 1000)).map((v) => [v.vin, v.state]));
    const seen = new Set<FleetState>();
    /** Stored against derived at two cutoffs: before every report (nothing stale, the stored state shows) and now - 30 minutes. */
    const check = async (event: string, minute: number) => {
      for (const staleBefore of [at(-1), at(minute - 30)]) {
        const expected = await reference(staleBefore);
        expect({ event, states: await stored(staleBefore) }).toEqual({ event, states: expected });
        for (const state of Object.values(expected)) seen.add(state);
        const counts = await store.dashboard.fleetStates(staleBefore);
        for (const [state, n] of Object.entries(counts)) expect({ event, state, n }).toEqual({ event, state, n: Object.values(expected).filter((s) => s === state).length });
      }
    };
    const manifest = (vin: string, primary: string, minute: number, changes: Parameters<typeof accept>[2] = {}) =>
      store.intake.receive(vin, body(`${vin} ${minute}`), 0, () => accept(minute, null, { ecuReports: [{ serial: primary, report: report(minute) }], ...changes }));

    const vins = ['F-A', 'F-B', 'F-C', 'F-D', 'F-E'];
    const ecus = new Map<string, { primary: string; secondary: string }>();
    for (const vin of vins) ecus.set(vin, await registerVehicle(store, vin));
    await check('registered', 0);
    for (const vin of vins) await manifest(vin, ecus.get(vin)!.primary, 10);
    await check('first reports', 10);

    const ids = new Map<string, number>();
    for (const vin of vins) ids.set(vin, (await store.assignments.insert([image(vin, ecus.get(vin)!.secondary)], { actor: 'op', now: at(20) }))[0]!);
    await check('assigned', 20);
    await manifest('F-B', ecus.get('F-B')!.primary, 21, { vehicleState: 'driving' });
    await check('driving with an assignment', 21);
    await store.assignments.markInFlight('F-A', at(22));
    await store.assignments.markInFlight('F-C', at(22));
    await check('fetched (downloading)', 22);
    await manifest('F-C', ecus.get('F-C')!.primary, 23);
    await check('reported after fetching (installing)', 23);
    await manifest('F-C', ecus.get('F-C')!.primary, 24, { assignmentStates: [{ id: ids.get('F-C')!, state: 'failed', reason: 'rolled_back: boot_check_failed' }] });
    await manifest('F-A', ecus.get('F-A')!.primary, 24, { assignmentStates: [{ id: ids.get('F-A')!, state: 'installed', reason: null }] });
    await check('outcomes in manifests (rolled back, installed)', 24);
    await store.assignments.setState(ids.get('F-D')!, 'failed', 'failed: download_timeout', at(25));
    await store.assignments.setState(ids.get('F-E')!, 'cancelled', 'cancelled by op', at(25));
    await check('failed and cancelled by the Director', 25);
    await manifest('F-B', ecus.get('F-B')!.primary, 26, { vehicleState: 'parked' });
    await check('parked again', 26);
    await manifest('F-D', ecus.get('F-D')!.primary, 27, {
      newAssignments: [{ assignment: image('F-D', ecus.get('F-D')!.secondary, 'fw-2.0.bin', 2), reason: 'retry', actor: 'director', action: 'assign', details: {} }],
    });
    await check('assigned again in a manifest after a failure', 27);
    await store.inventory.deleteEcu(ecus.get('F-E')!.primary);
    await check('primary removed (its reports no longer count)', 28);
    await store.inventory.insertEcu(ecu('F-E', 'F-E-p2', true), at(29));
    await manifest('F-E', 'F-E-p2', 29);
    await check('new primary reported', 29);
    await store.inventory.insertVehicle('F-NEW', {}, at(30));
    await check('registered without ECUs', 30);
    // Time passes: only some report again, the rest go stale at the later cutoff.
    await manifest('F-A', ecus.get('F-A')!.primary, 100);
    await manifest('F-D', ecus.get('F-D')!.primary, 100);
    await check('reports going quiet', 100);
    expect([...seen].sort()).toEqual(['deferred', 'downloading', 'failed', 'installing', 'pending', 'rolled_back', 'stale', 'up_to_date']);
  });
}
