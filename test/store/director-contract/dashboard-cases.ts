// The web dashboard's reads (director-repo/store/dashboard.ts): each vehicle counted in exactly one
// state by the shared state expression, the vehicle list filtered by state and VIN prefix with a
// capped count, manifest, attack and audit pages, fleet snapshots kept to a bound, and operator
// tokens found by id. Both backends, the same cases.
import type { FleetStateCounts } from '../../../director-repo/store/dashboard.js';
import type { ContractStore } from './backends.js';
import type { ContractContext } from './context.js';
import { accept, at, body, image, iso, refuse, registerVehicle } from './fixtures.js';

const report = (filename = 'factory.bin') => ({ counter: 1, filename, length: 10, hashes: { sha256: 'ab'.repeat(32) }, releaseCounter: null });

const zero: FleetStateCounts = { up_to_date: 0, pending: 0, downloading: 0, deferred: 0, installing: 0, failed: 0, rolled_back: 0, stale: 0 };

/** A vehicle whose primary reported at minute `reported` (through intake, as a manifest would). */
async function reported(store: ContractStore, vin: string, minute: number, changes: Parameters<typeof accept>[2] = {}): Promise<{ primary: string; secondary: string }> {
  const ecus = await registerVehicle(store, vin);
  await store.intake.receive(vin, body(`${vin} ${minute}`), 0, () => accept(minute, null, { ecuReports: [{ serial: ecus.primary, report: report() }], ...changes }));
  return ecus;
}

export function dashboardCases({ fresh }: ContractContext): void {
  it('counts every vehicle in exactly one state, and lists and filters by it', async () => {
    const store = await fresh();
    await registerVehicle(store, 'V-NEVER'); // registered at T0, never reported: stale once T0 is past the cutoff
    await reported(store, 'V-OLD', 1);
    await reported(store, 'V-UP', 100);
    const pend = await reported(store, 'V-PEND', 100);
    await store.assignments.insert([image('V-PEND', pend.secondary)], { actor: 'op', now: at(100) });
    const down = await reported(store, 'V-DOWN', 100);
    await store.assignments.insert([image('V-DOWN', down.secondary)], { actor: 'op', now: at(100) });
    await store.assignments.markInFlight('V-DOWN', at(101));
    const inst = await reported(store, 'V-INST', 100);
    await store.assignments.insert([image('V-INST', inst.secondary)], { actor: 'op', now: at(100) });
    await store.assignments.markInFlight('V-INST', at(101));
    await store.intake.receive('V-INST', body('V-INST later'), 0, () => accept(102, null, { ecuReports: [{ serial: inst.primary, report: report() }] }));
    const drive = await reported(store, 'V-DRIVE', 100, { vehicleState: 'driving' });
    await store.assignments.insert([image('V-DRIVE', drive.secondary)], { actor: 'op', now: at(100) });
    for (const [vin, reason] of [['V-FAIL', 'failed: boot_check_failed'], ['V-ROLL', 'rolled_back: boot_check_failed']] as const) {
      const ecus = await reported(store, vin, 100);
      const [id] = await store.assignments.insert([image(vin, ecus.secondary)], { actor: 'op', now: at(100) });
      await store.assignments.setState(id!, 'failed', reason, at(101));
    }
    const fixed = await reported(store, 'V-FIXED', 100);
    const [old] = await store.assignments.insert([image('V-FIXED', fixed.secondary)], { actor: 'op', now: at(100) });
    await store.assignments.setState(old!, 'failed', 'failed: x', at(101));
    const [again] = await store.assignments.insert([image('V-FIXED', fixed.secondary, 'fw-2.0.bin', 2)], { actor: 'op', now: at(102) });
    await store.assignments.setState(again!, 'installed', null, at(103)); // the newest outcome counts

    const staleBefore = at(50);
    const expected: Record<string, keyof FleetStateCounts> = {
      'V-NEVER': 'stale',
      'V-OLD': 'stale',
      'V-UP': 'up_to_date',
      'V-FIXED': 'up_to_date',
      'V-PEND': 'pending',
      'V-DOWN': 'downloading',
      'V-INST': 'installing',
      'V-DRIVE': 'deferred',
      'V-FAIL': 'failed',
      'V-ROLL': 'rolled_back',
    };
    expect(await store.dashboard.fleetStates(staleBefore)).toEqual({ ...zero, stale: 2, up_to_date: 2, pending: 1, downloading: 1, installing: 1, deferred: 1, failed: 1, rolled_back: 1 });
    const page = await store.dashboard.vehiclesPage({ staleBefore }, '', 100);
    expect(Object.fromEntries(page.map((v) => [v.vin, v.state]))).toEqual(expected);
    expect(page.map((v) => v.vin)).toEqual(Object.keys(expected).sort());
    expect((await store.dashboard.vehiclesPage({ staleBefore, state: 'stale' }, '', 100)).map((v) => v.vin)).toEqual(['V-NEVER', 'V-OLD']);
    expect((await store.dashboard.vehiclesPage({ staleBefore, state: 'stale' }, 'V-NEVER', 100)).map((v) => v.vin)).toEqual(['V-OLD']);
    expect((await store.dashboard.vehiclesPage({ staleBefore, state: 'up_to_date', prefix: 'V-U' }, '', 100)).map((v) => v.vin)).toEqual(['V-UP']);
    expect((await store.dashboard.vehiclesPage({ staleBefore, prefix: 'V-D' }, '', 1)).map((v) => v.vin)).toEqual(['V-DOWN']);
    expect(await store.dashboard.countVehicles({ staleBefore, prefix: 'V-' }, 100)).toEqual({ count: 10, capped: false });
    expect(await store.dashboard.countVehicles({ staleBefore, prefix: 'V-' }, 4)).toEqual({ count: 4, capped: true });
    expect(await store.dashboard.countVehicles({ staleBefore, prefix: 'V-F', state: 'failed' }, 100)).toEqual({ count: 1, capped: false });
    expect(await store.dashboard.countVehicles({ staleBefore, prefix: 'W' }, 100)).toEqual({ count: 0, capped: false });
  });

  it('pages a vehicle\'s manifests newest first across accepted and refused, and attacks by vehicle or all', async () => {
    const store = await fresh();
    const a = await registerVehicle(store, 'VIN-A');
    await registerVehicle(store, 'VIN-B');
    await store.intake.receive('VIN-A', body('1'), 0, () => accept(1, null));
    await store.intake.receive('VIN-A', body('2'), 0, () => refuse(2, null, 'replayed_report', 'counter went back'));
    await store.intake.receive('VIN-A', body('3'), 0, () => accept(3, null, { attacks: [{ ecuSerial: a.secondary, code: 'hash_mismatch', message: '<b>x</b>' }] }));
    await store.intake.receive('VIN-B', body('4'), 0, () => accept(4, null, { attacks: [{ ecuSerial: 'VIN-B-s', code: 'rollback', message: 'old' }] }));
    const newest = await store.dashboard.manifestPage('VIN-A', 2);
    expect(newest.map((m) => [m.accepted, m.errorCode, m.receivedAt])).toEqual([[true, null, iso(3)], [false, 'replayed_report', iso(2)]]);
    const older = await store.dashboard.manifestPage('VIN-A', 2, newest[1]!.id);
    expect(older.map((m) => [m.accepted, m.receivedAt])).toEqual([[true, iso(1)]]);
    expect(await store.dashboard.manifestPage('VIN-A', 2, older[0]!.id)).toEqual([]);

    const all = await store.dashboard.attackPage({ limit: 10 });
    expect(all.map((x) => [x.vin, x.code, x.message, x.reportedAt])).toEqual([['VIN-B', 'rollback', 'old', iso(4)], ['VIN-A', 'hash_mismatch', '<b>x</b>', iso(3)]]);
    expect((await store.dashboard.attackPage({ limit: 10, vin: 'VIN-A' })).map((x) => x.code)).toEqual(['hash_mismatch']);
    expect((await store.dashboard.attackPage({ limit: 10, beforeId: all[0]!.id })).map((x) => x.vin)).toEqual(['VIN-A']);
    expect(await store.dashboard.securityCounts(at(3))).toEqual({ attacks: { total: 2, since: 2 }, refusedManifests: { total: 1, since: 0 } });
    expect(await store.dashboard.securityCounts(at(0))).toEqual({ attacks: { total: 2, since: 2 }, refusedManifests: { total: 1, since: 1 } });
  });

  it('pages the audit log by id, filtered by exact actor and action', async () => {
    const store = await fresh();
    await store.auditLog.record('alice', 'assign', { n: 1 }, at(1));
    await store.auditLog.record('bob', 'assign', { n: 2 }, at(2));
    await store.auditLog.record('alice', 'cancel', { n: 3 }, at(3));
    await store.auditLog.record('alice', 'assign', { n: 4 }, at(4));
    const byAlice = await store.dashboard.auditPage({ limit: 10, actor: 'alice', action: 'assign' });
    expect(byAlice.map((e) => e.details)).toEqual([{ n: 4 }, { n: 1 }]);
    expect(byAlice[0]).toMatchObject({ at: iso(4), actor: 'alice', action: 'assign', tokenId: null, id: expect.any(Number) });
    expect((await store.dashboard.auditPage({ limit: 1, action: 'assign', beforeId: byAlice[0]!.id })).map((e) => e.details)).toEqual([{ n: 2 }]);
    expect((await store.dashboard.auditPage({ limit: 10 })).map((e) => e.details)).toEqual([{ n: 4 }, { n: 3 }, { n: 2 }, { n: 1 }]);
    expect(await store.dashboard.auditPage({ limit: 10, actor: 'alice%' })).toEqual([]);
  });

  it('keeps the newest fleet snapshots up to the bound, oldest first', async () => {
    const store = await fresh();
    for (let minute = 1; minute <= 5; minute++) await store.dashboard.recordFleetSnapshot({ at: iso(minute), byState: { ...zero, up_to_date: minute } }, 3);
    expect(await store.dashboard.fleetSnapshots(10)).toEqual([3, 4, 5].map((m) => ({ at: iso(m), byState: { ...zero, up_to_date: m } })));
    expect((await store.dashboard.fleetSnapshots(2)).map((s) => s.byState.up_to_date)).toEqual([4, 5]);
  });

  it('finds an operator token by its id, revoked ones too', async () => {
    const store = await fresh();
    const id = await store.addOperator('alice', 'd'.repeat(64), at(1), { scope: 'read', expiresAt: null });
    expect(await store.operatorTokenById(id)).toMatchObject({ tokenId: id, name: 'alice', scope: 'read', revokedAt: null });
    await store.revokeOperatorToken(id, at(2));
    expect(await store.operatorTokenById(id)).toMatchObject({ revokedAt: iso(2) });
    expect(await store.operatorTokenById('000000000000')).toBeUndefined();
  });
}
