// Fleet-sized batches: an assignment or a campaign names up to 100,000 vehicles, and a store may
// split a batch into several statements (PostgreSQL: 5,000 rows each). Every batch operation must
// answer as one call would, whatever side of a split a row falls on. The writes run in a unit of
// work, as the services make them (one commit, not one per row).
import type { ContractContext } from './context.js';
import { T0, ecu, image, iso, sha256Hex } from './fixtures.js';

/** Four statements' worth of rows on PostgreSQL (director-repo/store/postgres/sql.ts BATCH_ROWS). */
const MANY = 20_000;
const vinAt = (i: number) => `VIN-${String(i).padStart(6, '0')}`;

export function batchCases({ fresh }: ContractContext): void {
  it(`reads ECUs and active assignments of ${MANY.toLocaleString('en')} VINs in one call, registered ones on both sides of any split`, async () => {
    const store = await fresh();
    const registered = [0, 4_999, 5_000, 5_001, 10_000, MANY - 1].map(vinAt);
    for (const vin of registered) {
      await store.inventory.insertVehicle(vin, {}, T0);
      await store.inventory.insertEcu(ecu(vin, `${vin}-p`, true), T0);
    }
    const ids = await store.assignments.insert(registered.map((vin) => image(vin, `${vin}-p`)), { actor: 'op', now: T0 });
    const vins = Array.from({ length: MANY }, (_, i) => vinAt(i));
    const ecus = await store.inventory.ecusOfVehicles(vins);
    expect([...ecus.keys()].sort()).toEqual(registered);
    expect(ecus.get(vinAt(5_000))!.map((e) => e.serial)).toEqual([`${vinAt(5_000)}-p`]);
    const active = await store.assignments.activeOfVehicles(vins);
    expect([...active.keys()].sort()).toEqual(registered);
    expect(active.get(vinAt(MANY - 1))!.map((a) => a.id)).toEqual([ids.at(-1)]);
    const manyIds = [...Array.from({ length: MANY }, (_, i) => ids.at(-1)! + 1 + i), ...ids];
    expect((await store.assignments.byIds(manyIds)).map((a) => a.id).sort((x, y) => x - y)).toEqual(ids);
  });

  it('marks stale the stored targets of every VIN in a long list', async () => {
    const store = await fresh();
    const registered = [1, 5_003, 12_000].map(vinAt);
    for (const vin of registered) {
      await store.inventory.insertVehicle(vin, {}, T0);
      await store.vehicleMetadata.put(vin, { role: 'targets', version: 1, expires: iso(60), contentSha256: sha256Hex(vin), bytes: Buffer.from(vin) });
    }
    await store.unitOfWork((tx) => tx.vehicleMetadata.markStale(Array.from({ length: 12_001 }, (_, i) => vinAt(i))));
    for (const vin of registered) expect((await store.vehicleMetadata.file(vin, 'targets'))?.stale).toBe(true);
  });

  it('adds thousands of members and campaign vehicles in one call, every one of them, in order', async () => {
    const store = await fresh();
    const count = 12_001;
    const vins = Array.from({ length: count }, (_, i) => vinAt(i));
    const registered = [2, 5_000, 11_999].map(vinAt);
    for (const vin of registered) await store.inventory.insertVehicle(vin, {}, T0);
    const id = await store.unitOfWork(async (tx) => {
      await tx.campaigns.insertGroup('g', 'static', null, 'op', T0);
      await tx.campaigns.addMembers('g', vins);
      const made = await tx.campaigns.insertCampaign('c', 'g', '{}', 'op', T0);
      // Ranks in the reverse of VIN order, so rank order is not insertion order.
      await tx.campaigns.addVehicles(made, vins.map((vin, i) => ({ vin, rank: String(count - i).padStart(6, '0') })));
      await tx.campaigns.setVehicleStages(made, vins.map((vin, i) => ({ vin, stage: i % 3, outcome: i === 7_777 ? 'skipped' : null })));
      return made;
    });
    expect(await store.campaigns.staticMembers('g')).toEqual(registered);
    const rows = await store.campaigns.vehicles(id);
    expect(rows).toHaveLength(count);
    expect(rows[0]).toEqual({ vin: vinAt(count - 1), rank: '000001', stage: (count - 1) % 3, outcome: null });
    expect(rows.at(-1)).toEqual({ vin: vinAt(0), rank: String(count).padStart(6, '0'), stage: 0, outcome: null });
    expect(rows.find((r) => r.vin === vinAt(7_777))).toEqual({ vin: vinAt(7_777), rank: String(count - 7_777).padStart(6, '0'), stage: 7_777 % 3, outcome: 'skipped' });
    expect(rows.map((r) => r.rank)).toEqual([...rows.map((r) => r.rank)].sort());
  });
}
