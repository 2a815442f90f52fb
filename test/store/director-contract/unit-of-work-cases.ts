// Units of work (director-store.ts): every change kept or none, a unit reads its own writes, work
// outside a unit never joins it, and of two units racing to create the same thing exactly one wins.
import { ConflictError } from '../../../shared/core/errors.js';
import type { VehicleRecord } from '../../../director-repo/store/inventory.js';
import type { ContractStore } from './backends.js';
import type { ContractContext } from './context.js';
import { T0, at, ecu, image, iso, outcomes, registerVehicle, sha256Hex } from './fixtures.js';

/** Everything the failing unit below writes, read from outside. */
async function traces(store: ContractStore) {
  return {
    vehicle: await store.inventory.vehicle('VIN-A'),
    ecu: await store.inventory.ecu('VIN-A-p'),
    assignments: await store.assignments.ofVehicle('VIN-A', 10),
    audit: await store.auditLog.entries(10),
    group: await store.campaigns.group('g'),
    campaigns: await store.campaigns.campaigns(10),
    root: await store.roots.latestRoot(),
    files: await store.vehicleMetadata.files('VIN-A'),
    encrypted: await store.encryptedImages.count(),
  };
}

const NOTHING = { vehicle: undefined, ecu: undefined, assignments: [], audit: [], group: undefined, campaigns: [], root: undefined, files: [], encrypted: 0 };

export function unitOfWorkCases({ fresh }: ContractContext): void {
  it('keeps nothing of a unit of work that throws, in any area, and rejects with its error', async () => {
    const store = await fresh();
    const failure = new Error('changed my mind');
    await expect(
      store.unitOfWork(async (tx) => {
        await tx.inventory.insertVehicle('VIN-A', {}, T0);
        await tx.inventory.insertEcu(ecu('VIN-A', 'VIN-A-p', true), T0);
        await tx.assignments.insert([image('VIN-A', 'VIN-A-p')], { actor: 'op', now: T0 });
        await tx.auditLog.record('op', 'assign', {}, T0);
        await tx.campaigns.insertGroup('g', 'static', null, 'op', T0);
        await tx.campaigns.insertCampaign('c', 'g', '{}', 'op', T0);
        await tx.roots.insertRoot(1, Buffer.from('root'), T0);
        await tx.vehicleMetadata.put('VIN-A', { role: 'targets', version: 1, expires: iso(60), contentSha256: sha256Hex('t'), bytes: Buffer.from('t') });
        await tx.encryptedImages.insert({ filename: 'f', plaintextSha256: 'p', plaintextLength: 1, contentKey: 'k', ciphertextSha256: 'c', ciphertextLength: 1, createdAt: iso(0) });
        // Read inside the unit: a store that remembers reads must not keep these after the rollback.
        expect(await tx.vehicleMetadata.files('VIN-A')).toHaveLength(1);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await traces(store)).toEqual(NOTHING);
  });

  it('rolls back the writes before a statement that fails inside a unit of work', async () => {
    const store = await fresh();
    await store.inventory.insertVehicle('VIN-B', {}, T0);
    await expect(
      store.unitOfWork(async (tx) => {
        await tx.inventory.insertVehicle('VIN-A', {}, T0);
        await tx.inventory.insertVehicle('VIN-B', {}, T0);
      }),
    ).rejects.toThrow();
    expect(await store.inventory.vehicle('VIN-A')).toBeUndefined();
    expect(await store.inventory.countVehicles()).toBe(1);
  });

  it('reads its own writes inside, resolves with the work’s value, and keeps every change', async () => {
    const store = await fresh();
    await registerVehicle(store, 'VIN-B');
    const result = await store.unitOfWork(async (tx) => {
      await tx.inventory.insertVehicle('VIN-A', { model: 'sedan' }, T0);
      await tx.inventory.insertEcu(ecu('VIN-A', 'VIN-A-p', true), T0);
      const seenVehicle = await tx.inventory.vehicle('VIN-A');
      const [id] = await tx.assignments.insert([image('VIN-A', 'VIN-A-p')], { actor: 'op', now: at(1) });
      const active = await tx.assignments.active('VIN-A');
      await tx.assignments.setState(id!, 'cancelled', 'test', at(2));
      const afterCancel = await tx.assignments.active('VIN-A');
      const count = await tx.inventory.countVehicles();
      return { seenVehicle, active: active.map((a) => a.id), afterCancel, count, id: id! };
    });
    expect(result.seenVehicle).toEqual({ vin: 'VIN-A', attributes: { model: 'sedan' }, registeredAt: iso(0) });
    expect(result.active).toEqual([result.id]);
    expect(result.afterCancel).toEqual([]);
    expect(result.count).toBe(2);
    expect(await store.assignments.byId(result.id)).toMatchObject({ state: 'cancelled', reason: 'test' });
    expect(await store.inventory.ecusOf('VIN-A')).toHaveLength(1);
  });

  it('never shows work outside a unit what the unit later rolls back, nor rolls that work back with it', async () => {
    const store = await fresh();
    const failure = new Error('rolled back');
    let outsideRead: Promise<VehicleRecord | undefined> | undefined;
    let outsideWrite: Promise<void> | undefined;
    await expect(
      store.unitOfWork(async (tx) => {
        await tx.inventory.insertVehicle('VIN-A', {}, T0);
        outsideRead = store.inventory.vehicle('VIN-A');
        outsideWrite = store.inventory.insertVehicle('VIN-B', {}, T0);
        await tx.inventory.countVehicles();
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await outsideRead).toBeUndefined();
    await outsideWrite;
    expect(await store.inventory.vehicle('VIN-A')).toBeUndefined();
    expect((await store.inventory.vehicle('VIN-B'))?.vin).toBe('VIN-B');
  });

  it('refuses a unit’s handle used after the unit ended, writing nothing through it', async () => {
    const store = await fresh();
    const kept = await store.unitOfWork(async (tx) => tx);
    await expect(kept.inventory.insertVehicle('VIN-LATE', {}, T0)).rejects.toThrow();
    await expect(kept.auditLog.entries(1)).rejects.toThrow();
    expect(await store.inventory.vehicle('VIN-LATE')).toBeUndefined();
  });

  it('lets exactly one of two units racing to register the same vehicle win, whole', async () => {
    const store = await fresh();
    const register = (model: string) =>
      store.unitOfWork(async (tx) => {
        if ((await tx.inventory.vehicle('VIN-A')) !== undefined) throw new ConflictError('vehicle VIN-A is already registered');
        await tx.inventory.insertVehicle('VIN-A', { model }, T0);
        await tx.inventory.insertEcu(ecu('VIN-A', `${model}-p`, true), T0);
        await tx.auditLog.record('op', 'register', { model }, T0);
        return model;
      });
    const raced = await outcomes([register('sedan'), register('truck'), register('van')]);
    expect(raced.fulfilled).toHaveLength(1);
    expect(raced.rejected).toHaveLength(2);
    const winner = raced.fulfilled[0]!;
    expect((await store.inventory.vehicle('VIN-A'))?.attributes).toEqual({ model: winner });
    expect((await store.inventory.ecusOf('VIN-A')).map((e) => e.serial)).toEqual([`${winner}-p`]);
    expect((await store.auditLog.entries(10)).map((e) => e.details)).toEqual([{ model: winner }]);
  });

  it('loses no update when units read, decide and write the same row at once (as if one after another)', async () => {
    const store = await fresh();
    await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
    const id = await store.campaigns.insertCampaign('c', 'g', '{"advanced":0}', 'op', T0);
    // What the campaign engine does: read the campaign, decide from it, write the decision.
    const advance = (minutes: number) =>
      store.unitOfWork(async (tx) => {
        const campaign = await tx.campaigns.campaign(id);
        const spec = JSON.parse(campaign!.spec) as { advanced: number };
        await tx.campaigns.setSpec(id, JSON.stringify({ advanced: spec.advanced + 1 }));
        await tx.campaigns.setStage(id, campaign!.stage + 1, at(minutes));
      });
    await Promise.all([1, 2, 3, 4, 5].map(advance));
    expect(await store.campaigns.campaign(id)).toMatchObject({ spec: '{"advanced":5}', stage: 5 });
  });

  it('lets exactly one of two units racing to assign the same ECU win', async () => {
    const store = await fresh();
    const { secondary } = await registerVehicle(store, 'VIN-A');
    const assign = (filename: string) =>
      store.unitOfWork(async (tx) => {
        const active = await tx.assignments.active('VIN-A');
        if (active.some((a) => a.ecuSerial === secondary)) throw new ConflictError(`ECU ${secondary} already has an assignment`);
        await tx.assignments.insert([image('VIN-A', secondary, filename)], { actor: 'op', now: T0 });
        await tx.vehicleMetadata.markStale(['VIN-A']);
        await tx.auditLog.record('op', 'assign', { filename }, T0);
        return filename;
      });
    const raced = await outcomes(['a.bin', 'b.bin', 'c.bin', 'd.bin'].map(assign));
    expect(raced.fulfilled).toHaveLength(1);
    expect(raced.rejected).toHaveLength(3);
    expect((await store.assignments.ofVehicle('VIN-A', 10)).map((a) => a.filename)).toEqual(raced.fulfilled);
    expect((await store.auditLog.entries(10)).map((e) => e.details)).toEqual([{ filename: raced.fulfilled[0] }]);
  });
}
