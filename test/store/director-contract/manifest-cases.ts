// Manifest intake and history: a verdict is written whole or not at all, manifests of one vehicle
// are judged in order, history merges accepted and refused records in arrival order and is bounded
// per vehicle (docs/threat-model.md HR-4), attacks newest first.
import {
  MANIFEST_HISTORY,
  REFUSED_MANIFEST_HISTORY,
  REFUSED_MESSAGE_CHARS,
  type AcceptedManifest,
  type IntakeState,
} from '../../../director-repo/store/manifests.js';
import type { ContractStore } from './backends.js';
import type { ContractContext } from './context.js';
import { T0, accept, at, body, image, iso, outcomes, refuse, registerVehicle, sha256Hex } from './fixtures.js';

const receiveAccepted = (store: ContractStore, vin: string, minutes: number, changes: Partial<AcceptedManifest> = {}) =>
  store.intake.receive(vin, body(`accepted ${vin} ${minutes}`), 0, () => accept(minutes, minutes, changes));
const receiveRefused = (store: ContractStore, vin: string, minutes: number) =>
  store.intake.receive(vin, body(`refused ${vin} ${minutes}`), 0, () => refuse(minutes, minutes, 'manifest_signature', `refused at ${minutes}`));

/** Everything a vehicle's manifests can change, to compare before and after. */
async function vehicleView(store: ContractStore, vin: string) {
  return {
    ecus: await store.inventory.ecusOf(vin),
    assignments: await store.assignments.ofVehicle(vin, 100),
    history: await store.manifests.history(vin, 100),
    lastAcceptedAt: await store.manifests.lastAcceptedAt(vin),
    attacks: await store.manifests.attacksOf(vin, 100),
    state: await store.inventory.vehicleState(vin),
    files: await store.vehicleMetadata.files(vin),
    audit: await store.auditLog.entries(100),
  };
}

const TARGETS = { role: 'targets' as const, version: 1, expires: '2026-04-01T00:00:00Z', contentSha256: sha256Hex('targets v1'), bytes: Buffer.from('targets v1') };

export function manifestCases({ fresh }: ContractContext): void {
  it('hands the judge the vehicle’s ECUs (primary first), active assignments and newest assignments', async () => {
    const store = await fresh();
    const { primary, secondary } = await registerVehicle(store, 'VIN-A');
    const [old] = await store.assignments.insert([image('VIN-A', secondary, 'old.bin')], { actor: 'op', now: at(1) });
    await store.assignments.setState(old!, 'installed', null, at(2));
    const [mid] = await store.assignments.insert([image('VIN-A', primary, 'mid.bin')], { actor: 'op', now: at(3) });
    const [now] = await store.assignments.insert([image('VIN-A', secondary, 'new.bin')], { actor: 'op', now: at(4) });
    const seen: IntakeState[] = [];
    await store.intake.receive('VIN-A', body('m1'), 2, (state) => (seen.push(state), accept(5, null)));
    await store.intake.receive('VIN-A', body('m2'), 0, (state) => (seen.push(state), accept(6, null)));
    expect(seen[0]!.ecus.map((e) => e.serial)).toEqual([primary, secondary]);
    expect(seen[0]!.active.map((a) => a.id)).toEqual([mid, now]);
    expect(seen[0]!.recent.map((a) => a.id)).toEqual([now, mid]);
    expect(seen[1]!.recent).toEqual([]);
    expect(await store.intake.receive('VIN-NONE', body('m3'), 5, (state) => refuse(7, state))).toEqual({ ecus: [], active: [], recent: [] });
  });

  it('writes everything an accepted manifest changes, with its record, and resolves with the result', async () => {
    const store = await fresh();
    const { primary, secondary } = await registerVehicle(store, 'VIN-A');
    await store.vehicleMetadata.put('VIN-A', TARGETS);
    // Read before, so a store that remembers recent reads must forget them when intake marks them stale.
    expect((await store.vehicleMetadata.files('VIN-A'))[0]?.stale).toBe(false);
    const [done] = await store.assignments.insert([image('VIN-A', secondary)], { actor: 'op', now: T0 });
    const report = { counter: 3, filename: 'fw-9.bin', length: 99, hashes: { sha256: sha256Hex('fw-9') }, releaseCounter: 9 };
    const result = await store.intake.receive('VIN-A', body('{"signed":{}}'), 0, () =>
      accept(5, 'accepted!', {
        ecuReports: [{ serial: primary, report }],
        attacks: [{ ecuSerial: secondary, code: 'hash_mismatch', message: 'image hash differs' }],
        assignmentStates: [{ id: done!, state: 'installed', reason: 'reported installed' }],
        newAssignments: [
          { assignment: image('VIN-A', primary, 'slot.bin'), reason: 'slot re-delivery', actor: 'director', action: 'redeliver_slot', details: { vin: 'VIN-A', slot: 'b' } },
        ],
        evidence: body('{"signed":{}}'),
        vehicleState: 'parked',
        metadataStale: true,
      }),
    );
    expect(result).toBe('accepted!');
    expect(await store.inventory.ecu(primary)).toMatchObject({ lastCounter: 3, installed: { filename: 'fw-9.bin', length: 99, hashes: report.hashes, releaseCounter: 9 }, reportedAt: iso(5) });
    expect(await store.manifests.attacksOf('VIN-A', 10)).toEqual([{ ecuSerial: secondary, code: 'hash_mismatch', message: 'image hash differs', reportedAt: iso(5) }]);
    expect(await store.assignments.byId(done!)).toMatchObject({ state: 'installed', reason: 'reported installed', updatedAt: iso(5) });
    const [made] = await store.assignments.active('VIN-A');
    expect(made).toMatchObject({ ecuSerial: primary, filename: 'slot.bin', state: 'pending', reason: 'slot re-delivery', createdAt: iso(5) });
    const [entry, ...others] = await store.auditLog.entries(10);
    expect(others).toEqual([]);
    expect(entry).toEqual({ at: iso(5), actor: 'director', tokenId: null, action: 'redeliver_slot', details: { id: made!.id, vin: 'VIN-A', slot: 'b' } });
    expect(Object.keys(entry!.details as object)[0]).toBe('id');
    const history = await store.manifests.history('VIN-A', 10);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ receivedAt: iso(5), accepted: true, errorCode: null, errorMessage: null });
    expect(await store.manifests.lastAcceptedAt('VIN-A')).toBe(iso(5));
    expect(await store.inventory.vehicleState('VIN-A')).toBe('parked');
    expect((await store.vehicleMetadata.file('VIN-A', 'targets'))?.stale).toBe(true);
    expect((await store.vehicleMetadata.files('VIN-A')).find((f) => f.role === 'targets')?.stale).toBe(true);
  });

  it('sets the vehicle state each accepted manifest reports, null included', async () => {
    const store = await fresh();
    await registerVehicle(store, 'VIN-A');
    await receiveAccepted(store, 'VIN-A', 1, { vehicleState: 'driving' });
    expect(await store.inventory.vehicleState('VIN-A')).toBe('driving');
    await receiveAccepted(store, 'VIN-A', 2, { vehicleState: 'parked' });
    expect(await store.inventory.vehicleState('VIN-A')).toBe('parked');
    await receiveAccepted(store, 'VIN-A', 3, { vehicleState: null });
    expect(await store.inventory.vehicleState('VIN-A')).toBeNull();
  });

  it('writes only the refusal for a refused manifest: reason, bounded message, body length and digest', async () => {
    const store = await fresh();
    const { secondary } = await registerVehicle(store, 'VIN-A');
    await store.vehicleMetadata.put('VIN-A', TARGETS);
    const [id] = await store.assignments.insert([image('VIN-A', secondary)], { actor: 'op', now: T0 });
    const before = await vehicleView(store, 'VIN-A');
    const refusedBody = new Uint8Array(3000).fill(0x41);
    const message = 'x'.repeat(REFUSED_MESSAGE_CHARS + 500);
    const result = await store.intake.receive('VIN-A', refusedBody, 0, () => refuse(5, 'refused!', 'manifest_signature', message));
    expect(result).toBe('refused!');
    const after = await vehicleView(store, 'VIN-A');
    expect(after.history).toEqual([
      { id: after.history[0]!.id, receivedAt: iso(5), accepted: false, errorCode: 'manifest_signature', errorMessage: message.slice(0, REFUSED_MESSAGE_CHARS), bodyLength: 3000, bodySha256: sha256Hex(refusedBody) },
    ]);
    expect({ ...after, history: [] }).toEqual({ ...before, history: [] });
    expect(await store.assignments.byId(id!)).toMatchObject({ state: 'pending' });
  });

  it('writes nothing when the judge throws, rejects with its error, and goes on with the next manifest', async () => {
    const store = await fresh();
    const { primary } = await registerVehicle(store, 'VIN-A');
    const before = await vehicleView(store, 'VIN-A');
    const failure = new Error('the judge failed');
    await expect(
      store.intake.receive('VIN-A', body('m'), 0, () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await vehicleView(store, 'VIN-A')).toEqual(before);
    // One manifest of a batch that throws takes none of the others down with it.
    const report = (counter: number) => ({ ecuReports: [{ serial: primary, report: { counter, filename: 'f.bin', length: 1, hashes: {}, releaseCounter: null } }] });
    const results = await outcomes([
      store.intake.receive('VIN-A', body('1'), 0, () => accept(1, 1, report(1))),
      store.intake.receive('VIN-A', body('2'), 0, () => {
        throw failure;
      }),
      store.intake.receive('VIN-A', body('3'), 0, (state) => accept(3, state.ecus[0]!.lastCounter, report(3))),
    ]);
    expect(results.fulfilled).toEqual([1, 1]);
    expect(results.rejected).toEqual([failure]);
    expect((await store.manifests.history('VIN-A', 10)).map((h) => h.receivedAt)).toEqual([iso(3), iso(1)]);
    expect((await store.inventory.ecu(primary))?.lastCounter).toBe(3);
  });

  /** Sends `n` manifests of VIN-A at once; each judge answers the primary's counter it saw and adds one. */
  async function counterRace(n: number) {
    const store = await fresh();
    const { primary } = await registerVehicle(store, 'VIN-A');
    const seen = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        store.intake.receive('VIN-A', body(`m${i}`), 0, (state) => {
          const counter = state.ecus[0]!.lastCounter ?? 0;
          return accept(i + 1, counter, { ecuReports: [{ serial: primary, report: { counter: counter + 1, filename: 'f.bin', length: 1, hashes: {}, releaseCounter: null } }] });
        }),
      ),
    );
    return { store, primary, seen };
  }

  it('judges manifests of one vehicle sent together one at a time, each seeing the state the one before left', async () => {
    const n = 12;
    const { store, primary, seen } = await counterRace(n);
    expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect((await store.inventory.ecu(primary))?.lastCounter).toBe(n);
    expect(await store.manifests.history('VIN-A', 100)).toHaveLength(n);
  });

  it('judges manifests of one vehicle sent together in the order they were sent', async () => {
    const n = 30;
    const { seen } = await counterRace(n);
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('merges accepted and refused records newest first in arrival order, per vehicle, up to the limit', async () => {
    const store = await fresh();
    await registerVehicle(store, 'VIN-A');
    await registerVehicle(store, 'VIN-B');
    await receiveAccepted(store, 'VIN-A', 1);
    await receiveRefused(store, 'VIN-A', 2);
    await receiveAccepted(store, 'VIN-B', 3);
    await receiveAccepted(store, 'VIN-A', 4);
    await receiveRefused(store, 'VIN-B', 5);
    await receiveRefused(store, 'VIN-A', 6);
    await receiveRefused(store, 'VIN-A', 7);
    const history = await store.manifests.history('VIN-A', 10);
    expect(history.map((h) => [h.receivedAt, h.accepted])).toEqual([
      [iso(7), false],
      [iso(6), false],
      [iso(4), true],
      [iso(2), false],
      [iso(1), true],
    ]);
    const ids = history.map((h) => h.id);
    expect([...ids].sort((x, y) => y - x)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(history[1]).toMatchObject({ errorCode: 'manifest_signature', errorMessage: 'refused at 6', bodySha256: sha256Hex('refused VIN-A 6'), bodyLength: 'refused VIN-A 6'.length });
    expect((await store.manifests.history('VIN-A', 3)).map((h) => h.receivedAt)).toEqual([iso(7), iso(6), iso(4)]);
    expect((await store.manifests.history('VIN-B', 10)).map((h) => h.receivedAt)).toEqual([iso(5), iso(3)]);
    expect(await store.manifests.history('VIN-NONE', 10)).toEqual([]);
    expect(await store.manifests.lastAcceptedAt('VIN-A')).toBe(iso(4));
    expect(await store.manifests.lastAcceptedAt('VIN-NONE')).toBeNull();
  });

  it(`keeps a vehicle’s newest ${MANIFEST_HISTORY} accepted records and drops older ones`, async () => {
    const store = await fresh();
    await registerVehicle(store, 'VIN-A');
    await registerVehicle(store, 'VIN-B');
    await receiveAccepted(store, 'VIN-B', 0);
    const sent = MANIFEST_HISTORY + 30;
    // One after another: this case is about what is kept, not about the order of manifests sent together.
    for (let i = 1; i <= sent; i++) await receiveAccepted(store, 'VIN-A', i);
    const kept = await store.manifests.history('VIN-A', 10 * sent);
    // Pruning may run in steps (SQLite deletes every 20), never beyond what the bound allows.
    expect(kept.length).toBeGreaterThanOrEqual(MANIFEST_HISTORY);
    expect(kept.length).toBeLessThan(MANIFEST_HISTORY + 20);
    const newest = Array.from({ length: MANIFEST_HISTORY }, (_, i) => iso(sent - i));
    expect(kept.slice(0, MANIFEST_HISTORY).map((h) => h.receivedAt)).toEqual(newest);
    expect(kept.every((h) => h.accepted)).toBe(true);
    // Another vehicle's history is its own.
    expect((await store.manifests.history('VIN-B', 10)).map((h) => h.receivedAt)).toEqual([iso(0)]);
  });

  it(`keeps at most about ${REFUSED_MANIFEST_HISTORY} refused records, and a flood of them never pushes accepted ones out (HR-4)`, async () => {
    const store = await fresh();
    await registerVehicle(store, 'VIN-A');
    for (let i = 1; i <= 5; i++) await receiveAccepted(store, 'VIN-A', i);
    const flood = 60;
    for (let i = 0; i < flood; i++) await receiveRefused(store, 'VIN-A', 10 + i);
    const kept = await store.manifests.history('VIN-A', 1000);
    const refused = kept.filter((h) => !h.accepted);
    const accepted = kept.filter((h) => h.accepted);
    expect(accepted.map((h) => h.receivedAt)).toEqual([iso(5), iso(4), iso(3), iso(2), iso(1)]);
    expect(refused.length).toBeGreaterThanOrEqual(REFUSED_MANIFEST_HISTORY);
    expect(refused.length).toBeLessThan(REFUSED_MANIFEST_HISTORY + 5);
    expect(refused.slice(0, REFUSED_MANIFEST_HISTORY).map((h) => h.receivedAt)).toEqual(Array.from({ length: REFUSED_MANIFEST_HISTORY }, (_, i) => iso(10 + flood - 1 - i)));
    expect(await store.manifests.lastAcceptedAt('VIN-A')).toBe(iso(5));
  });

  it('lists a vehicle’s reported attacks newest first, up to the limit', async () => {
    const store = await fresh();
    const a = await registerVehicle(store, 'VIN-A');
    const b = await registerVehicle(store, 'VIN-B');
    await receiveAccepted(store, 'VIN-A', 1, { attacks: [{ ecuSerial: a.primary, code: 'c1', message: 'first' }, { ecuSerial: a.secondary, code: 'c2', message: 'second' }] });
    await receiveAccepted(store, 'VIN-B', 2, { attacks: [{ ecuSerial: b.primary, code: 'cb', message: 'other vehicle' }] });
    await receiveAccepted(store, 'VIN-A', 3, { attacks: [{ ecuSerial: a.primary, code: 'c3', message: 'third' }] });
    expect(await store.manifests.attacksOf('VIN-A', 10)).toEqual([
      { ecuSerial: a.primary, code: 'c3', message: 'third', reportedAt: iso(3) },
      { ecuSerial: a.secondary, code: 'c2', message: 'second', reportedAt: iso(1) },
      { ecuSerial: a.primary, code: 'c1', message: 'first', reportedAt: iso(1) },
    ]);
    expect((await store.manifests.attacksOf('VIN-A', 1)).map((x) => x.code)).toEqual(['c3']);
    expect(await store.manifests.attacksOf('VIN-NONE', 10)).toEqual([]);
  });
}
