// The Director's part of an offline bundle (POST /api/v1/vehicles/:vin/offline-metadata): the
// vehicle's Director metadata exactly as the vehicle would fetch it now (its root chain and the
// timestamp, snapshot and targets signed for it), so a primary with no connection verifies it as it
// would online (docs/decisions.md "Offline updates"). Like the vehicle's own targets fetch, an
// export puts the vehicle's pending assignments in flight; it is audit-logged, since it hands a
// vehicle's update to whoever carries the bundle.
import type { Clock } from '../shared/core/clock.js';
import { ConflictError } from '../shared/core/errors.js';
import { parseMetadata } from '../shared/core/metadata/parse.js';
import type { OfflineMetadataExport } from './api/operator-api.js';
import type { DirectorStore } from './store/director-store.js';
import type { StoredVehicleMetadata } from './store/vehicle-metadata.js';
import type { VehicleMetadataSigner } from './vehicle-metadata.js';
import type { ImageUrlIssuer } from './services/image-urls.js';

/** Reads of the three files that find them of one generation; a vehicle whose assignments change this often gets an error to retry. */
const CONSISTENT_READ_ATTEMPTS = 3;

export interface OfflineMetadataDeps {
  readonly store: DirectorStore;
  readonly metadata: VehicleMetadataSigner;
  /** Throws NotFoundError for a VIN not registered (the inventory service's check). */
  readonly checkRegistered: (vin: string) => Promise<unknown>;
  readonly clock: Clock;
  /** The Director's signed-URL issuer, when it has a URL-signing key (services/image-urls.ts). */
  readonly imageUrls?: Pick<ImageUrlIssuer, 'issue'> | undefined;
}

/** The version a timestamp or snapshot pins for `file` (its `meta` entry), from bytes the Director signed itself. */
function pinnedVersion(bytes: Uint8Array, role: 'timestamp' | 'snapshot', file: string): number | undefined {
  const meta: Readonly<Record<string, { readonly version: number }>> = parseMetadata(bytes, role, { repository: 'director' }).signed.meta;
  return meta[file]?.version;
}

/**
 * The vehicle's Director metadata for an offline bundle, by the names the vehicle asks for them
 * (`N.root.json` for every root version, `timestamp.json`, and snapshot and targets by version when
 * the root says consistent_snapshot), base64. Audited as `export_offline_bundle` with the versions.
 */
export async function exportOfflineMetadata(deps: OfflineMetadataDeps, vin: string, actor: string): Promise<OfflineMetadataExport> {
  await deps.checkRegistered(vin);
  const files = await consistentFiles(deps, vin);
  const latest = await deps.store.roots.latestRoot();
  if (latest === undefined) throw new ConflictError('the Director has no root yet: publish one (`uptane director root push`) before exporting', { repository: 'director' });
  const consistent = parseMetadata(latest.bytes, 'root', { repository: 'director' }).signed.consistent_snapshot === true;
  const out: Record<string, string> = {};
  for (let version = 1; version <= latest.version; version++) {
    const root = await deps.store.roots.root(version);
    if (root !== undefined) out[`${version}.root.json`] = root.bytes.toString('base64');
  }
  out['timestamp.json'] = Buffer.from(files.timestamp.bytes).toString('base64');
  out[consistent ? `${files.snapshot.version}.snapshot.json` : 'snapshot.json'] = Buffer.from(files.snapshot.bytes).toString('base64');
  out[consistent ? `${files.targets.version}.targets.json` : 'targets.json'] = Buffer.from(files.targets.bytes).toString('base64');
  const now = deps.clock.now();
  await deps.store.unitOfWork(async (tx) => {
    // As the vehicle's own targets fetch does: what is assigned is now on its way to the vehicle.
    await tx.assignments.markInFlight(vin, now);
    await tx.auditLog.record(actor, 'export_offline_bundle', { vin, timestampVersion: files.timestamp.version, targetsVersion: files.targets.version }, now);
  });
  // The same grants the vehicle would ask for (POST /vehicle/image-urls), for the images its targets list.
  const filenames = Object.keys(parseMetadata(files.targets.bytes, 'targets', { repository: 'director' }).signed.targets);
  const imageAccess = deps.imageUrls === undefined ? undefined : await deps.imageUrls.issue(vin, filenames);
  return { vin, exportedAt: now.toISOString(), files: out, ...(imageAccess === undefined ? {} : { imageAccess }) };
}

/**
 * Timestamp, snapshot and targets of one generation: each read re-signs what is due, and an
 * assignment made between two reads would pair a timestamp with a snapshot it does not pin, which
 * the vehicle would refuse. So the pins are checked, and the reads repeated when they differ.
 */
async function consistentFiles(deps: OfflineMetadataDeps, vin: string): Promise<Record<'timestamp' | 'snapshot' | 'targets', StoredVehicleMetadata>> {
  for (let attempt = 1; ; attempt++) {
    const timestamp = await deps.metadata.current(vin, 'timestamp');
    const snapshot = await deps.metadata.current(vin, 'snapshot');
    const targets = await deps.metadata.current(vin, 'targets');
    if (pinnedVersion(timestamp.bytes, 'timestamp', 'snapshot.json') === snapshot.version && pinnedVersion(snapshot.bytes, 'snapshot', 'targets.json') === targets.version) {
      return { timestamp, snapshot, targets };
    }
    if (attempt >= CONSISTENT_READ_ATTEMPTS) throw new ConflictError(`vehicle ${vin}'s metadata changed during the export ${attempt} times: export again`, { repository: 'director' });
  }
}
