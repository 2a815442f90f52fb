// Assignments: ids in batch order, at most one active per ECU, newest first, markInFlight counts.
import type { ImageEncryption } from '../../../director-repo/api/operator-api.js';
import type { ContractContext } from './context.js';
import { T0, at, image, iso, registerVehicle, sha256Hex } from './fixtures.js';

const ENCRYPTION: ImageEncryption = {
  scheme: 'x25519-hkdf-sha256-aes256gcm',
  keyid: sha256Hex('enc-key'),
  encapsulatedKey: 'aa'.repeat(32),
  wrappedKey: 'bb'.repeat(48),
  encryptedTarget: { filename: 'fw-1.0.bin.enc', length: 1052, hashes: { sha256: sha256Hex('ciphertext') } },
};

export function assignmentCases({ fresh }: ContractContext): void {
  it('stores a batch as pending, ids rising in batch order, every field as given', async () => {
    const store = await fresh();
    const a = await registerVehicle(store, 'VIN-A');
    const b = await registerVehicle(store, 'VIN-B');
    const batch = [image('VIN-A', a.secondary), { ...image('VIN-B', b.secondary, 'fw-2.bin', 2), encryption: ENCRYPTION }, image('VIN-A', a.primary, 'p.bin')];
    const ids = await store.assignments.insert(batch, { actor: 'alice', now: at(2) });
    expect(ids).toHaveLength(3);
    expect(ids[0]!).toBeLessThan(ids[1]!);
    expect(ids[1]!).toBeLessThan(ids[2]!);
    const first = await store.assignments.byId(ids[0]!);
    expect(first).toEqual({ ...batch[0], id: ids[0], state: 'pending', reason: null, createdAt: iso(2), updatedAt: iso(2) });
    // Only an encrypted assignment carries the field.
    expect(first).not.toHaveProperty('encryption');
    expect((await store.assignments.byId(ids[1]!))?.encryption).toEqual(ENCRYPTION);
    expect(await store.assignments.byId(ids[2]! + 1000)).toBeUndefined();
    const some = await store.assignments.byIds([ids[2]!, ids[2]! + 1000, ids[0]!]);
    expect(some.map((r) => r.id).sort((x, y) => x - y)).toEqual([ids[0], ids[2]]);
    expect(await store.assignments.insert([], { actor: 'alice', now: T0 })).toEqual([]);
  });

  it('lists a vehicle’s active assignments by ECU serial, and only pending or in-flight ones', async () => {
    const store = await fresh();
    const { primary, secondary } = await registerVehicle(store, 'VIN-A');
    await store.inventory.insertEcu({ serial: 'VIN-A-0', vin: 'VIN-A', hardwareId: 'hw', publicKey: 'k0', keyid: sha256Hex('k0'), isPrimary: false }, T0);
    const [s, p, zero] = await store.assignments.insert([image('VIN-A', secondary), image('VIN-A', primary), image('VIN-A', 'VIN-A-0')], { actor: 'op', now: T0 });
    await store.assignments.setState(zero!, 'installed', null, at(1));
    await store.assignments.markInFlight('VIN-A', at(2));
    const active = await store.assignments.active('VIN-A');
    expect(active.map((r) => [r.ecuSerial, r.id, r.state])).toEqual([
      [primary, p, 'in_flight'],
      [secondary, s, 'in_flight'],
    ]);
    expect(await store.assignments.active('VIN-NONE')).toEqual([]);
  });

  it('reads many vehicles’ active assignments at once, leaving out VINs without any', async () => {
    const store = await fresh();
    const a = await registerVehicle(store, 'VIN-A');
    const b = await registerVehicle(store, 'VIN-B');
    await registerVehicle(store, 'VIN-C');
    const [, bDone] = await store.assignments.insert([image('VIN-A', a.secondary), image('VIN-B', b.secondary)], { actor: 'op', now: T0 });
    await store.assignments.setState(bDone!, 'failed', 'no space', at(1));
    const found = await store.assignments.activeOfVehicles(['VIN-A', 'VIN-B', 'VIN-C', 'VIN-NONE']);
    expect([...found.keys()]).toEqual(['VIN-A']);
    expect(found.get('VIN-A')!.map((r) => r.ecuSerial)).toEqual([a.secondary]);
  });

  it('lists the active assignments a campaign made, not an operator’s own', async () => {
    const store = await fresh();
    const a = await registerVehicle(store, 'VIN-A');
    const b = await registerVehicle(store, 'VIN-B');
    await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
    const campaign = await store.campaigns.insertCampaign('c', 'g', '{}', 'op', T0);
    const [mine, done] = await store.assignments.insert([image('VIN-A', a.secondary), image('VIN-B', b.secondary)], { actor: 'campaign', now: T0, campaignId: campaign });
    await store.assignments.insert([image('VIN-A', a.primary)], { actor: 'op', now: T0, campaignId: null });
    await store.assignments.setState(done!, 'installed', null, at(1));
    expect((await store.assignments.activeOfCampaign(campaign)).map((r) => r.id)).toEqual([mine]);
    expect(await store.assignments.activeOfCampaign(campaign + 1)).toEqual([]);
  });

  it('lists a vehicle’s newest assignments first, any state, up to the limit', async () => {
    const store = await fresh();
    const { primary, secondary } = await registerVehicle(store, 'VIN-A');
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [id] = await store.assignments.insert([image('VIN-A', i % 2 === 0 ? secondary : primary, `fw-${i}.bin`)], { actor: 'op', now: at(i) });
      ids.push(id!);
      await store.assignments.setState(id!, i === 3 ? 'pending' : 'cancelled', i === 3 ? null : 'superseded', at(i));
    }
    expect((await store.assignments.ofVehicle('VIN-A', 3)).map((r) => r.id)).toEqual([ids[3], ids[2], ids[1]]);
    expect((await store.assignments.ofVehicle('VIN-A', 10)).map((r) => r.filename)).toEqual(['fw-3.bin', 'fw-2.bin', 'fw-1.bin', 'fw-0.bin']);
    expect(await store.assignments.ofVehicle('VIN-A', 0)).toEqual([]);
    expect(await store.assignments.ofVehicle('VIN-NONE', 5)).toEqual([]);
  });

  it('refuses a second active assignment for an ECU, and allows one once the first has ended', async () => {
    const store = await fresh();
    const { secondary } = await registerVehicle(store, 'VIN-A');
    const [first] = await store.assignments.insert([image('VIN-A', secondary, 'one.bin')], { actor: 'op', now: T0 });
    await expect(store.assignments.insert([image('VIN-A', secondary, 'two.bin')], { actor: 'op', now: at(1) })).rejects.toThrow();
    await store.assignments.markInFlight('VIN-A', at(2));
    await expect(store.assignments.insert([image('VIN-A', secondary, 'three.bin')], { actor: 'op', now: at(3) })).rejects.toThrow();
    expect((await store.assignments.ofVehicle('VIN-A', 10)).map((r) => r.filename)).toEqual(['one.bin']);
    await store.assignments.setState(first!, 'installed', null, at(4));
    const [next] = await store.assignments.insert([image('VIN-A', secondary, 'four.bin')], { actor: 'op', now: at(5) });
    expect((await store.assignments.active('VIN-A')).map((r) => r.id)).toEqual([next]);
  });

  it('changes a state with its reason and time, keeping the creation time', async () => {
    const store = await fresh();
    const { secondary } = await registerVehicle(store, 'VIN-A');
    const [id] = await store.assignments.insert([image('VIN-A', secondary)], { actor: 'op', now: at(1) });
    await store.assignments.setState(id!, 'failed', 'hash mismatch', at(7));
    expect(await store.assignments.byId(id!)).toMatchObject({ state: 'failed', reason: 'hash mismatch', createdAt: iso(1), updatedAt: iso(7) });
    await store.assignments.setState(id!, 'cancelled', null, at(8));
    expect(await store.assignments.byId(id!)).toMatchObject({ state: 'cancelled', reason: null, updatedAt: iso(8) });
  });

  it('marks only the vehicle’s pending assignments in flight, and counts them', async () => {
    const store = await fresh();
    const a = await registerVehicle(store, 'VIN-A');
    const b = await registerVehicle(store, 'VIN-B');
    const [ap, as, bs] = await store.assignments.insert([image('VIN-A', a.primary), image('VIN-A', a.secondary), image('VIN-B', b.secondary)], { actor: 'op', now: T0 });
    await store.assignments.setState(ap!, 'cancelled', 'operator', at(1));
    expect(await store.assignments.markInFlight('VIN-A', at(2))).toBe(1);
    expect(await store.assignments.byId(as!)).toMatchObject({ state: 'in_flight', updatedAt: iso(2) });
    expect(await store.assignments.byId(ap!)).toMatchObject({ state: 'cancelled', updatedAt: iso(1) });
    expect(await store.assignments.byId(bs!)).toMatchObject({ state: 'pending', updatedAt: iso(0) });
    // Already in flight: nothing changes, not even the time.
    expect(await store.assignments.markInFlight('VIN-A', at(3))).toBe(0);
    expect((await store.assignments.byId(as!))?.updatedAt).toBe(iso(2));
    expect(await store.assignments.markInFlight('VIN-NONE', at(3))).toBe(0);
    expect(await store.assignments.markInFlight('VIN-B', at(4))).toBe(1);
  });
}
