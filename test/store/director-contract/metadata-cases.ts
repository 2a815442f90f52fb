// Signed metadata (per-vehicle files with their stale mark, the Director's root versions) and the
// encrypted-image records.
import type { EncryptedImageRecord } from '../../../director-repo/store/encrypted-images.js';
import type { StoredVehicleMetadata } from '../../../director-repo/store/vehicle-metadata.js';
import type { ContractContext } from './context.js';
import { T0, at, iso, registerVehicle, sha256Hex } from './fixtures.js';

function metadata(role: StoredVehicleMetadata['role'], version: number): StoredVehicleMetadata {
  const bytes = Buffer.from(`{"signed":{"_type":"${role}","version":${version}}}`);
  return { role, version, expires: `2026-0${3 + version}-01T00:00:00Z`, contentSha256: sha256Hex(bytes), bytes };
}

/** A stored file as the cases compare it: bytes as a plain Buffer, stale false unless marked. */
const seen = (f: StoredVehicleMetadata | undefined) =>
  f === undefined ? undefined : { role: f.role, version: f.version, expires: f.expires, contentSha256: f.contentSha256, bytes: Buffer.from(f.bytes).toString('latin1'), stale: f.stale ?? false };
const expected = (f: StoredVehicleMetadata, stale = false) => ({ ...f, bytes: f.bytes.toString('latin1'), stale });

export function metadataCases({ fresh }: ContractContext): void {
  it('keeps one file per vehicle and role, replaced by the next put', async () => {
    const store = await fresh();
    await registerVehicle(store, 'VIN-A');
    await registerVehicle(store, 'VIN-B');
    expect(await store.vehicleMetadata.file('VIN-A', 'targets')).toBeUndefined();
    expect(await store.vehicleMetadata.files('VIN-A')).toEqual([]);
    const [targets, snapshot, timestamp] = [metadata('targets', 1), metadata('snapshot', 1), metadata('timestamp', 1)];
    for (const f of [targets, snapshot, timestamp]) await store.vehicleMetadata.put('VIN-A', f);
    await store.vehicleMetadata.put('VIN-B', metadata('targets', 4));
    expect(seen(await store.vehicleMetadata.file('VIN-A', 'snapshot'))).toEqual(expected(snapshot));
    expect(Buffer.isBuffer((await store.vehicleMetadata.file('VIN-A', 'targets'))!.bytes)).toBe(true);
    const files = (await store.vehicleMetadata.files('VIN-A')).map(seen).sort((x, y) => x!.role.localeCompare(y!.role));
    expect(files).toEqual([expected(snapshot), expected(targets), expected(timestamp)]);
    const next = metadata('targets', 2);
    await store.vehicleMetadata.put('VIN-A', next);
    expect(seen(await store.vehicleMetadata.file('VIN-A', 'targets'))).toEqual(expected(next));
    expect((await store.vehicleMetadata.files('VIN-A')).find((f) => f.role === 'targets')?.version).toBe(2);
    expect(seen(await store.vehicleMetadata.file('VIN-B', 'targets'))).toEqual(expected(metadata('targets', 4)));
  });

  it("pages through every vehicle's stored targets by VIN, bytewise, and nothing else (the transparency log's catch-up)", async () => {
    const store = await fresh();
    // Upper case sorts before lower case bytewise, whatever a database's locale says.
    for (const vin of ['VIN-b', 'VIN-A', 'VIN-C', 'VIN-NONE']) await registerVehicle(store, vin);
    for (const vin of ['VIN-b', 'VIN-A', 'VIN-C']) await store.vehicleMetadata.put(vin, metadata('targets', vin === 'VIN-C' ? 3 : 1));
    await store.vehicleMetadata.put('VIN-A', metadata('snapshot', 1));
    const first = await store.vehicleMetadata.targetsPage('', 2);
    expect(first.map((row) => [row.vin, row.version])).toEqual([['VIN-A', 1], ['VIN-C', 3]]);
    expect(Buffer.from(first[1]!.bytes).toString()).toBe(metadata('targets', 3).bytes.toString());
    expect((await store.vehicleMetadata.targetsPage('VIN-C', 2)).map((row) => row.vin)).toEqual(['VIN-b']);
    expect(await store.vehicleMetadata.targetsPage('VIN-b', 2)).toEqual([]);
  });

  it('marks stored targets stale for re-signing, clears the mark, and a new put is current', async () => {
    const store = await fresh();
    await registerVehicle(store, 'VIN-A');
    await registerVehicle(store, 'VIN-B');
    await store.vehicleMetadata.put('VIN-A', metadata('targets', 1));
    await store.vehicleMetadata.put('VIN-A', metadata('timestamp', 1));
    // Read first, so a store that remembers recent reads must forget them on the mark.
    expect((await store.vehicleMetadata.files('VIN-A')).every((f) => !(f.stale ?? false))).toBe(true);
    await store.vehicleMetadata.markStale(['VIN-A', 'VIN-B', 'VIN-NONE']);
    expect((await store.vehicleMetadata.file('VIN-A', 'targets'))?.stale).toBe(true);
    const files = await store.vehicleMetadata.files('VIN-A');
    expect(files.find((f) => f.role === 'targets')?.stale).toBe(true);
    // Only targets carry the mark; a vehicle without stored targets gets no file.
    expect(files.find((f) => f.role === 'timestamp')?.stale ?? false).toBe(false);
    expect(await store.vehicleMetadata.files('VIN-B')).toEqual([]);
    await store.vehicleMetadata.clearStale('VIN-A');
    expect((await store.vehicleMetadata.files('VIN-A')).find((f) => f.role === 'targets')?.stale).toBe(false);
    await store.vehicleMetadata.markStale(['VIN-A']);
    await store.vehicleMetadata.put('VIN-A', metadata('targets', 2));
    expect(await store.vehicleMetadata.file('VIN-A', 'targets')).toMatchObject({ version: 2, stale: false });
    await store.vehicleMetadata.markStale([]);
  });

  it('never shows a put or a stale mark that a unit of work rolled back, and shows a committed one', async () => {
    const store = await fresh();
    await registerVehicle(store, 'VIN-A');
    const v1 = metadata('targets', 1);
    const v2 = metadata('targets', 2);
    await store.vehicleMetadata.put('VIN-A', v1);
    expect((await store.vehicleMetadata.files('VIN-A')).map(seen)).toEqual([expected(v1)]);
    const failure = new Error('rolled back');
    await expect(
      store.unitOfWork(async (tx) => {
        await tx.vehicleMetadata.put('VIN-A', v2);
        await tx.vehicleMetadata.markStale(['VIN-A']);
        expect((await tx.vehicleMetadata.files('VIN-A')).map(seen)).toEqual([expected(v2, true)]);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect((await store.vehicleMetadata.files('VIN-A')).map(seen)).toEqual([expected(v1)]);
    expect(seen(await store.vehicleMetadata.file('VIN-A', 'targets'))).toEqual(expected(v1));
    await store.unitOfWork(async (tx) => {
      await tx.vehicleMetadata.put('VIN-A', v2);
      await tx.vehicleMetadata.markStale(['VIN-A']);
    });
    expect((await store.vehicleMetadata.files('VIN-A')).map(seen)).toEqual([expected(v2, true)]);
  });

  it('keeps the Director’s root versions, latest by version, and refuses a version twice', async () => {
    const store = await fresh();
    expect(await store.roots.latestRoot()).toBeUndefined();
    expect(await store.roots.root(1)).toBeUndefined();
    await store.roots.insertRoot(1, Buffer.from('root v1'), T0);
    await store.roots.insertRoot(3, new TextEncoder().encode('root v3'), at(2));
    await store.roots.insertRoot(2, Buffer.from('root v2'), at(1));
    const latest = await store.roots.latestRoot();
    expect(latest?.version).toBe(3);
    expect(Buffer.from(latest!.bytes).toString()).toBe('root v3');
    expect(Buffer.isBuffer(latest!.bytes)).toBe(true);
    expect(Buffer.from((await store.roots.root(2))!.bytes).toString()).toBe('root v2');
    await expect(store.roots.insertRoot(2, Buffer.from('another v2'), at(3))).rejects.toThrow();
    expect(Buffer.from((await store.roots.root(2))!.bytes).toString()).toBe('root v2');
    expect(await store.roots.root(4)).toBeUndefined();
  });

  it('keeps encrypted-image records, found by plaintext and by ciphertext, one per image and per ciphertext', async () => {
    const store = await fresh();
    const record: EncryptedImageRecord = {
      filename: 'fw-1.0.bin',
      plaintextSha256: sha256Hex('plain 1'),
      plaintextLength: 1000,
      contentKey: '5a'.repeat(32),
      ciphertextSha256: sha256Hex('cipher 1'),
      ciphertextLength: 1028,
      createdAt: iso(4),
    };
    expect(await store.encryptedImages.count()).toBe(0);
    expect(await store.encryptedImages.byPlaintext(record.filename, record.plaintextSha256)).toBeUndefined();
    await store.encryptedImages.insert(record);
    // The same name with other contents is another image.
    const other = { ...record, plaintextSha256: sha256Hex('plain 2'), ciphertextSha256: sha256Hex('cipher 2') };
    await store.encryptedImages.insert(other);
    expect(await store.encryptedImages.byPlaintext(record.filename, record.plaintextSha256)).toEqual(record);
    expect(await store.encryptedImages.byCiphertext(other.ciphertextSha256)).toEqual(other);
    expect(await store.encryptedImages.byPlaintext('fw-2.0.bin', record.plaintextSha256)).toBeUndefined();
    expect(await store.encryptedImages.byCiphertext(sha256Hex('unknown'))).toBeUndefined();
    await expect(store.encryptedImages.insert({ ...record, ciphertextSha256: sha256Hex('cipher 3') })).rejects.toThrow();
    await expect(store.encryptedImages.insert({ ...record, filename: 'elsewhere.bin', plaintextSha256: sha256Hex('plain 3') })).rejects.toThrow();
    expect(await store.encryptedImages.count()).toBe(2);
  });
}
