// The Director keeps recently read vehicles' signed metadata in memory (storage.ts,
// vehicleMetadataFiles): every write of a vehicle's metadata must drop its entry, and nothing read
// inside a transaction that is then rolled back may be remembered, or vehicles would be served
// files the database no longer holds. A real SQLite file; each test fails if its invalidation goes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectorStorage, type StoredVehicleMetadata } from '../../director-repo/storage.js';

const VIN = 'VINCACHE00000001';
const NOW = new Date('2026-01-01T00:00:00Z');

let dir: string;
let storage: DirectorStorage;

const file = (role: StoredVehicleMetadata['role'], version: number): StoredVehicleMetadata => ({
  role,
  version,
  expires: '2027-01-01T00:00:00Z',
  contentSha256: `content-${version}`,
  bytes: Buffer.from(`{"${role}":${version}}`),
});
const versions = () => Object.fromEntries(storage.vehicleMetadataFiles(VIN).map((f) => [f.role, f.version]));
const targetsStale = () => storage.vehicleMetadataFiles(VIN).find((f) => f.role === 'targets')!.stale;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'metadata-cache-'));
  storage = new DirectorStorage(join(dir, 'director.sqlite'));
  storage.insertVehicle(VIN, {}, NOW);
  for (const role of ['targets', 'snapshot', 'timestamp'] as const) storage.putVehicleMetadata(VIN, file(role, 1));
  expect(versions()).toEqual({ targets: 1, snapshot: 1, timestamp: 1 }); // now remembered
});

afterEach(() => {
  storage.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('recently read vehicle metadata', () => {
  it('serves a repeated read from memory, the same files as the database', () => {
    const first = storage.vehicleMetadataFiles(VIN);
    expect(storage.vehicleMetadataFiles(VIN)).toBe(first);
    for (const cached of first) expect(cached.bytes).toEqual(storage.vehicleMetadata(VIN, cached.role)!.bytes);
    expect(first).toHaveLength(3);
  });

  it('forgets a vehicle whose file is re-signed', () => {
    storage.putVehicleMetadata(VIN, file('timestamp', 2));
    expect(versions()).toEqual({ targets: 1, snapshot: 1, timestamp: 2 });
  });

  it('forgets a vehicle whose targets are marked stale, and again when the mark is cleared', () => {
    storage.markVehicleMetadataStale(VIN);
    expect(targetsStale()).toBe(true);
    storage.clearVehicleMetadataStale(VIN);
    expect(targetsStale()).toBe(false);
  });

  it('does not remember files read inside a transaction that is rolled back', () => {
    expect(() =>
      storage.transaction(() => {
        storage.putVehicleMetadata(VIN, file('targets', 2));
        expect(versions()).toEqual({ targets: 2, snapshot: 1, timestamp: 1 });
        throw new Error('roll back');
      }),
    ).toThrow('roll back');
    expect(versions()).toEqual({ targets: 1, snapshot: 1, timestamp: 1 });
  });
});
