// The signed metadata's SQL (schema.ts, migrations 1 and 3): per-vehicle files, and the Director's
// root versions.
import type { Db } from '../../../shared/server/sqlite.js';
import type { RootStore, StoredRoot, StoredVehicleMetadata, VehicleMetadataStore } from '../vehicle-metadata.js';
import { toMetadata, type MetadataRow } from '../rows.js';
import type { Synchronous } from './transaction-gate.js';

/** How many vehicles' metadata files `files` keeps (a few KiB each). */
const RECENT_METADATA_VEHICLES = 4096;

export class SqliteVehicleMetadata implements Synchronous<VehicleMetadataStore> {
  private readonly s;
  private readonly recent = new Map<string, readonly StoredVehicleMetadata[]>();

  constructor(private readonly db: Db) {
    this.s = {
      file: db.prepare('SELECT role, version, expires, content_sha256, bytes, stale FROM vehicle_metadata WHERE vin = ? AND role = ?'),
      files: db.prepare('SELECT role, version, expires, content_sha256, bytes, stale FROM vehicle_metadata WHERE vin = ? ORDER BY role'),
      markStale: db.prepare("UPDATE vehicle_metadata SET stale = 1 WHERE vin = ? AND role = 'targets' AND stale = 0"),
      put: db.prepare(
        `INSERT INTO vehicle_metadata (vin, role, version, expires, content_sha256, bytes, stale) VALUES (?, ?, ?, ?, ?, ?, 0)
         ON CONFLICT(vin, role) DO UPDATE SET version = excluded.version, expires = excluded.expires,
           content_sha256 = excluded.content_sha256, bytes = excluded.bytes, stale = 0`,
      ),
      clearStale: db.prepare("UPDATE vehicle_metadata SET stale = 0 WHERE vin = ? AND role = 'targets'"),
      targetsPage: db.prepare("SELECT vin, version, bytes FROM vehicle_metadata WHERE role = 'targets' AND vin > ? ORDER BY vin LIMIT ?"),
    };
  }

  file(vin: string, role: StoredVehicleMetadata['role']): StoredVehicleMetadata | undefined {
    const row = this.s.file.get(vin, role) as MetadataRow | undefined;
    return row === undefined ? undefined : toMetadata(row);
  }

  /**
   * A vehicle's check reads its files two or three times in a row (timestamp, then snapshot and
   * targets when new), so the files of recently read vehicles are kept in memory (bench figure 2:
   * the SELECT was a third of a metadata GET). Every write of a vehicle's metadata below drops its
   * entry first, and only rows read outside a transaction are kept, so a rolled-back change is never
   * remembered. Only the running Director writes vehicle metadata (the CLI's offline commands touch
   * operator tokens).
   */
  files(vin: string): readonly StoredVehicleMetadata[] {
    const cached = this.recent.get(vin);
    if (cached !== undefined) return cached;
    const files = (this.s.files.all(vin) as MetadataRow[]).map(toMetadata);
    if (!this.db.inTransaction) {
      if (this.recent.size >= RECENT_METADATA_VEHICLES) this.recent.delete(this.recent.keys().next().value!);
      this.recent.set(vin, files);
    }
    return files;
  }

  markStale(vins: readonly string[]): void {
    for (const vin of vins) {
      this.recent.delete(vin);
      this.s.markStale.run(vin);
    }
  }

  clearStale(vin: string): void {
    this.recent.delete(vin);
    this.s.clearStale.run(vin);
  }

  targetsPage(afterVin: string, limit: number): Array<{ vin: string; version: number; bytes: Buffer }> {
    return this.s.targetsPage.all(afterVin, limit) as Array<{ vin: string; version: number; bytes: Buffer }>;
  }

  put(vin: string, file: StoredVehicleMetadata): void {
    this.recent.delete(vin);
    this.s.put.run(vin, file.role, file.version, file.expires, file.contentSha256, file.bytes);
  }
}

export class SqliteRoots implements Synchronous<RootStore> {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      root: db.prepare('SELECT version, bytes FROM director_roots WHERE version = ?'),
      latest: db.prepare('SELECT version, bytes FROM director_roots ORDER BY version DESC LIMIT 1'),
      insert: db.prepare('INSERT INTO director_roots (version, bytes, published_at) VALUES (?, ?, ?)'),
    };
  }

  root(version: number): StoredRoot | undefined {
    return this.s.root.get(version) as StoredRoot | undefined;
  }

  latestRoot(): StoredRoot | undefined {
    return this.s.latest.get() as StoredRoot | undefined;
  }

  insertRoot(version: number, bytes: Uint8Array, now: Date): void {
    this.s.insert.run(version, Buffer.from(bytes), now.toISOString());
  }
}
