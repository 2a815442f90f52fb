// The signed metadata the Director serves: per-vehicle targets, snapshot and timestamp, and its own
// offline-signed root versions, shared by every vehicle.

export interface StoredVehicleMetadata {
  readonly role: 'targets' | 'snapshot' | 'timestamp';
  readonly version: number;
  readonly expires: string;
  readonly contentSha256: string;
  readonly bytes: Buffer;
  /** Targets only: the assignments changed since it was signed (markStale). */
  readonly stale?: boolean;
}

export interface VehicleMetadataStore {
  file(vin: string, role: StoredVehicleMetadata['role']): Promise<StoredVehicleMetadata | undefined>;
  /** Every stored file of `vin` (targets, snapshot, timestamp) in one read: what each metadata GET asks first. */
  files(vin: string): Promise<readonly StoredVehicleMetadata[]>;
  put(vin: string, file: StoredVehicleMetadata): Promise<void>;
  /** Marks each vehicle's stored targets for re-signing on its next read (no-op before the first). */
  markStale(vins: readonly string[]): Promise<void>;
  /** The stored targets are current after all (the assignments came back to what was signed). */
  clearStale(vin: string): Promise<void>;
  /**
   * Up to `limit` vehicles' stored targets, by VIN (bytewise) after `afterVin`: the transparency log's
   * catch-up pages through them (director-repo/transparency-log.ts).
   */
  targetsPage(afterVin: string, limit: number): Promise<ReadonlyArray<{ readonly vin: string; readonly version: number; readonly bytes: Buffer }>>;
}

export interface StoredRoot {
  readonly version: number;
  readonly bytes: Buffer;
}

export interface RootStore {
  root(version: number): Promise<StoredRoot | undefined>;
  latestRoot(): Promise<StoredRoot | undefined>;
  insertRoot(version: number, bytes: Uint8Array, now: Date): Promise<void>;
}
