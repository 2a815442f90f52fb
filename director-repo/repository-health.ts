// The expiry guardian's reader on the Director (issue 19, part 6): its own root (offline, from the
// store), the Image repository's roles as the Director last verified them (its client's folder,
// image-catalog.ts), and the lifetimes of the per-vehicle roles it signs online. GET
// /api/v1/repositories/health, `uptane director expiry` and the alert timer all read this.
import { judgeRoles, readRoleFacts, type ExpiryWarnings, type RoleExpiry, type RoleLoader } from '../shared/uptane/role-expiry.js';
import type { RootStore } from './store/vehicle-metadata.js';
import { DEFAULT_VEHICLE_METADATA_CONFIG, type VehicleMetadataConfig } from './vehicle-metadata.js';

/** The Image repository's roles its server signs online; root, targets and delegations are offline. */
export const IMAGE_ONLINE = new Set(['snapshot', 'timestamp']);
/** The Director's root is offline; its targets, snapshot and timestamp are per vehicle and online. */
const DIRECTOR_ONLINE = new Set(['targets', 'snapshot', 'timestamp']);

/** A per-vehicle role: each vehicle's copy is re-signed once half of this is gone, so only the lifetime is reported. */
export interface PerVehicleRole {
  readonly repository: 'director';
  readonly role: 'targets' | 'snapshot' | 'timestamp';
  readonly lifetimeSeconds: number;
  readonly online: true;
}

export interface RepositoryHealth {
  /** The warning window of offline roles, in days. */
  readonly warningDays: number;
  /** The warning window of online roles, in hours. */
  readonly onlineWarningHours: number;
  readonly checkedAt: string;
  readonly roles: readonly RoleExpiry[];
  readonly perVehicle: readonly PerVehicleRole[];
}

export interface HealthSources {
  readonly roots: Pick<RootStore, 'latestRoot'>;
  /** The Image repository's metadata as the Director verified it; absent when it has none to read (tests without a client). */
  readonly imageMetadata?: RoleLoader;
  readonly metadata?: Partial<VehicleMetadataConfig>;
}

export async function repositoryHealth(sources: HealthSources, now: Date, warnings: ExpiryWarnings): Promise<RepositoryHealth> {
  const root = await sources.roots.latestRoot();
  const director = await readRoleFacts('director', (role) => (role === 'root' ? root?.bytes : undefined), DIRECTOR_ONLINE);
  const image = sources.imageMetadata === undefined ? [] : await readRoleFacts('image', sources.imageMetadata, IMAGE_ONLINE);
  const lifetimes = { ...DEFAULT_VEHICLE_METADATA_CONFIG, ...sources.metadata };
  return {
    warningDays: warnings.offlineDays,
    onlineWarningHours: warnings.onlineHours,
    checkedAt: now.toISOString(),
    roles: judgeRoles([...image, ...director], now, warnings),
    perVehicle: [
      { repository: 'director', role: 'targets', lifetimeSeconds: lifetimes.targetsLifetimeMs / 1000, online: true },
      { repository: 'director', role: 'snapshot', lifetimeSeconds: lifetimes.snapshotLifetimeMs / 1000, online: true },
      { repository: 'director', role: 'timestamp', lifetimeSeconds: lifetimes.timestampLifetimeMs / 1000, online: true },
    ],
  };
}
