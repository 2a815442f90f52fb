// The signed metadata on PostgreSQL (schema.ts): per-vehicle files and the Director's root versions.
// Unlike ../sqlite/vehicle-metadata.ts, nothing is kept in memory: another replica may re-sign a
// vehicle's files at any time, and a file remembered here would then be served stale.
import type { RootStore, StoredRoot, StoredVehicleMetadata, VehicleMetadataStore } from '../vehicle-metadata.js';
import { toMetadata, type MetadataRow } from '../rows.js';
import { chunks, num, run, type Queryable } from './sql.js';

const METADATA_COLUMNS = 'role, version, expires, content_sha256, bytes, stale';

export class PostgresVehicleMetadata implements VehicleMetadataStore {
  constructor(private readonly q: Queryable) {}

  async file(vin: string, role: StoredVehicleMetadata['role']): Promise<StoredVehicleMetadata | undefined> {
    const [row] = await run<MetadataRow>(this.q, `SELECT ${METADATA_COLUMNS} FROM vehicle_metadata WHERE vin = $1 AND role = $2`, [vin, role]);
    return row === undefined ? undefined : toMetadata(row);
  }

  async files(vin: string): Promise<readonly StoredVehicleMetadata[]> {
    return (await run<MetadataRow>(this.q, `SELECT ${METADATA_COLUMNS} FROM vehicle_metadata WHERE vin = $1 ORDER BY role COLLATE "C"`, [vin])).map(toMetadata);
  }

  async put(vin: string, file: StoredVehicleMetadata): Promise<void> {
    await run(
      this.q,
      `INSERT INTO vehicle_metadata (vin, role, version, expires, content_sha256, bytes, stale) VALUES ($1, $2, $3, $4, $5, $6, false)
       ON CONFLICT (vin, role) DO UPDATE SET version = excluded.version, expires = excluded.expires,
         content_sha256 = excluded.content_sha256, bytes = excluded.bytes, stale = false`,
      [vin, file.role, file.version, file.expires, file.contentSha256, Buffer.from(file.bytes)],
    );
  }

  async markStale(vins: readonly string[]): Promise<void> {
    for (const part of chunks([...new Set(vins)])) {
      await run(this.q, "UPDATE vehicle_metadata SET stale = true WHERE vin = ANY($1::text[]) AND role = 'targets' AND NOT stale", [part]);
    }
  }

  async clearStale(vin: string): Promise<void> {
    await run(this.q, "UPDATE vehicle_metadata SET stale = false WHERE vin = $1 AND role = 'targets'", [vin]);
  }

  async targetsPage(afterVin: string, limit: number): Promise<Array<{ vin: string; version: number; bytes: Buffer }>> {
    // Bytewise, as SQLite orders them, so a page ends where the next begins whatever the locale.
    const rows = await run<{ vin: string; version: string | number; bytes: Buffer }>(
      this.q,
      `SELECT vin, version, bytes FROM vehicle_metadata WHERE role = 'targets' AND vin COLLATE "C" > $1 ORDER BY vin COLLATE "C" LIMIT $2`,
      [afterVin, limit],
    );
    return rows.map((row) => ({ vin: row.vin, version: Number(row.version), bytes: row.bytes }));
  }
}

export class PostgresRoots implements RootStore {
  constructor(private readonly q: Queryable) {}

  async root(version: number): Promise<StoredRoot | undefined> {
    const [row] = await run<{ version: string; bytes: Buffer }>(this.q, 'SELECT version, bytes FROM director_roots WHERE version = $1', [version]);
    return row === undefined ? undefined : { version: num(row.version), bytes: row.bytes };
  }

  async latestRoot(): Promise<StoredRoot | undefined> {
    const [row] = await run<{ version: string; bytes: Buffer }>(this.q, 'SELECT version, bytes FROM director_roots ORDER BY version DESC LIMIT 1');
    return row === undefined ? undefined : { version: num(row.version), bytes: row.bytes };
  }

  async insertRoot(version: number, bytes: Uint8Array, now: Date): Promise<void> {
    await run(this.q, 'INSERT INTO director_roots (version, bytes, published_at) VALUES ($1, $2, $3)', [version, Buffer.from(bytes), now.toISOString()]);
  }
}
