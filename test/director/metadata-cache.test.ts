// The Director keeps recently read vehicles' signed metadata in memory (store/sqlite/vehicle-metadata.ts,
// files): every write of a vehicle's metadata must drop its entry, and nothing read inside a unit of
// work that is then rolled back may be remembered, or vehicles would be served files the database
// no longer holds. A real SQLite file; each test fails if its invalidation goes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteDirectorStore } from '../../director-repo/store/sqlite/director-store.js';
import type { StoredVehicleMetadata, VehicleMetadataStore } from '../../director-repo/store/vehicle-metadata.js';

const VIN = 'VINCACHE00000001';
const NOW = new Date('2026-01-01T00:00:00Z');

let dir: string;
let storage: SqliteDirectorStore;

const file = (role: StoredVehicleMetadata['role'], version: number): StoredVehicleMetadata => ({
  role,
  version,
  expires: '2027-01-01T00:00:00Z',
  contentSha256: `content-${version}`,
  bytes: Buffer.from(`{"${role}":${version}}`),
});
const versions = async (metadata: VehicleMetadataStore = storage.vehicleMetadata) => Object.fromEntries((await metadata.files(VIN)).map((f) => [f.role, f.version]));
const targetsStale = async () => (await storage.vehicleMetadata.files(VIN)).find((f) => f.role === 'targets')!.stale;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'metadata-cache-'));
  storage = new SqliteDirectorStore(join(dir, 'director.sqlite'));
  await storage.inventory.insertVehicle(VIN, {}, NOW);
  for (const role of ['targets', 'snapshot', 'timestamp'] as const) await storage.vehicleMetadata.put(VIN, file(role, 1));
  expect(await versions()).toEqual({ targets: 1, snapshot: 1, timestamp: 1 }); // now remembered
});

afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('recently read vehicle metadata', () => {
  it('serves a repeated read from memory, the same files as the database', async () => {
    const first = await storage.vehicleMetadata.files(VIN);
    expect(await storage.vehicleMetadata.files(VIN)).toBe(first);
    for (const cached of first) expect(cached.bytes).toEqual((await storage.vehicleMetadata.file(VIN, cached.role))!.bytes);
    expect(first).toHaveLength(3);
  });

  it('forgets a vehicle whose file is re-signed', async () => {
    await storage.vehicleMetadata.put(VIN, file('timestamp', 2));
    expect(await versions()).toEqual({ targets: 1, snapshot: 1, timestamp: 2 });
  });

  it('forgets a vehicle whose targets are marked stale, and again when the mark is cleared', async () => {
    await storage.vehicleMetadata.markStale([VIN]);
    expect(await targetsStale()).toBe(true);
    await storage.vehicleMetadata.clearStale(VIN);
    expect(await targetsStale()).toBe(false);
  });

  it('does not remember files read inside a unit of work that is rolled back', async () => {
    await expect(
      storage.unitOfWork(async (tx) => {
        await tx.vehicleMetadata.put(VIN, file('targets', 2));
        expect(await versions(tx.vehicleMetadata)).toEqual({ targets: 2, snapshot: 1, timestamp: 1 });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await versions()).toEqual({ targets: 1, snapshot: 1, timestamp: 1 });
  });
});
