// What outlives a store object: everything written is there when its place is opened again, and two
// stores open on one place at once (replicas, or the CLI beside the server) see each other's writes.
import type { ContractStore } from './backends.js';
import type { ContractContext } from './context.js';
import { T0, accept, at, body, image, iso, registerVehicle, sha256Hex } from './fixtures.js';

const TOKEN = 'd'.repeat(64);

/** One row in every area, through the store. */
async function populate(store: ContractStore): Promise<number> {
  const { secondary } = await registerVehicle(store, 'VIN-A', { model: 'sedan' });
  const [id] = await store.assignments.insert([image('VIN-A', secondary)], { actor: 'op', now: at(1) });
  await store.intake.receive('VIN-A', body('m'), 0, () => accept(2, null, { vehicleState: 'parked', attacks: [{ ecuSerial: secondary, code: 'c', message: 'm' }] }));
  await store.vehicleMetadata.put('VIN-A', { role: 'targets', version: 3, expires: iso(600), contentSha256: sha256Hex('t'), bytes: Buffer.from('t') });
  await store.roots.insertRoot(1, Buffer.from('root 1'), T0);
  await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
  await store.campaigns.addMembers('g', ['VIN-A']);
  await store.campaigns.insertCampaign('c', 'g', '{}', 'op', T0);
  await store.encryptedImages.insert({ filename: 'f', plaintextSha256: 'p', plaintextLength: 1, contentKey: 'k', ciphertextSha256: 'c', ciphertextLength: 2, createdAt: iso(3) });
  await store.auditLog.record('op', 'assign', { id }, at(1), null);
  await store.addOperator('alice', TOKEN, at(4));
  await store.signedRequestMarks.record('key-a', at(5).getTime());
  return id!;
}

async function expectPopulated(store: ContractStore, assignmentId: number): Promise<void> {
  expect(await store.inventory.vehicle('VIN-A')).toEqual({ vin: 'VIN-A', attributes: { model: 'sedan' }, registeredAt: iso(0) });
  expect((await store.inventory.ecusOf('VIN-A')).map((e) => e.serial)).toEqual(['VIN-A-p', 'VIN-A-s']);
  expect((await store.assignments.active('VIN-A')).map((a) => a.id)).toEqual([assignmentId]);
  expect(await store.manifests.lastAcceptedAt('VIN-A')).toBe(iso(2));
  expect(await store.manifests.attacksOf('VIN-A', 5)).toHaveLength(1);
  expect(await store.inventory.vehicleState('VIN-A')).toBe('parked');
  expect((await store.vehicleMetadata.file('VIN-A', 'targets'))?.version).toBe(3);
  expect(Buffer.from((await store.roots.latestRoot())!.bytes).toString()).toBe('root 1');
  expect(await store.campaigns.staticMembers('g')).toEqual(['VIN-A']);
  expect((await store.campaigns.campaignByName('c'))?.state).toBe('draft');
  expect(await store.encryptedImages.count()).toBe(1);
  expect(await store.auditLog.entries(5)).toEqual([{ at: iso(1), actor: 'op', tokenId: null, action: 'assign', details: { id: assignmentId } }]);
  expect((await store.operatorToken(TOKEN))?.name).toBe('alice');
  expect(await store.signedRequestMarks.newest('key-a')).toBe(at(5).getTime());
}

export function persistenceCases({ backend, open }: ContractContext): void {
  it('keeps everything when its place is opened again, and goes on from there', async () => {
    const place = backend.place();
    const first = await open(place);
    const id = await populate(first.store);
    await first.close();
    const again = await open(place);
    await expectPopulated(again.store, id);
    // Ids and constraints carry on: no new id reuses an old one, a taken name stays taken.
    const [next] = await again.store.assignments.insert([image('VIN-A', 'VIN-A-p')], { actor: 'op', now: at(9) });
    expect(next).toBeGreaterThan(id);
    await expect(again.store.inventory.insertVehicle('VIN-A', {}, at(9))).rejects.toThrow();
  });

  it('lets two stores open on one place at once, each seeing what the other wrote', async () => {
    const place = backend.place();
    const [one, two] = await Promise.all([open(place), open(place)]);
    await one!.store.inventory.insertVehicle('VIN-1', {}, T0);
    await two!.store.inventory.insertVehicle('VIN-2', {}, T0);
    expect((await one!.store.inventory.listVehicles('', 10)).map((v) => v.vin)).toEqual(['VIN-1', 'VIN-2']);
    expect((await two!.store.inventory.listVehicles('', 10)).map((v) => v.vin)).toEqual(['VIN-1', 'VIN-2']);
    await expect(two!.store.inventory.insertVehicle('VIN-1', {}, T0)).rejects.toThrow();
  });
}
