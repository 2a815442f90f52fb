// The Director's store: every area its services read and write, and units of work over them. The
// services depend on these interfaces only; sqlite/ is the embedded implementation, and a network
// database (PostgreSQL) fits the same shape: every operation is a promise, and a transaction is a
// unit of work the store runs, never a handle the services hold open.
import type { SignedRequestMarks } from '../../shared/uptane/vehicle-auth.js';
import type { AlertOutbox } from './alerts.js';
import type { AssignmentStore } from './assignments.js';
import type { InstallBundleStore } from './install-bundles.js';
import type { AuditLog } from './audit.js';
import type { EncryptedImageStore } from './encrypted-images.js';
import type { CampaignStore } from './campaigns.js';
import type { DashboardStore } from './dashboard.js';
import type { InventoryStore } from './inventory.js';
import type { ManifestIntake, ManifestStore } from './manifests.js';
import type { OperatorTokenStore } from './operator-tokens.js';
import type { ChangeFeed, Lease, SignedRequestNonces } from './replicas.js';
import type { RootStore, VehicleMetadataStore } from './vehicle-metadata.js';
import type { UiSessionRevocations } from './ui-sessions.js';

/** The store's areas; inside a unit of work, the same areas bound to its transaction. */
export interface DirectorTransaction {
  readonly inventory: InventoryStore;
  readonly assignments: AssignmentStore;
  readonly manifests: ManifestStore;
  readonly vehicleMetadata: VehicleMetadataStore;
  readonly roots: RootStore;
  readonly campaigns: CampaignStore;
  readonly encryptedImages: EncryptedImageStore;
  readonly installBundles: InstallBundleStore;
  readonly auditLog: AuditLog;
}

export interface DirectorStore extends DirectorTransaction {
  /** Manifest intake: one unit of work per manifest, which the store may batch (sqlite/group-commit.ts). */
  readonly intake: ManifestIntake;
  /**
   * Each primary ECU key's newest accepted signed-request time (docs/threat-model.md HR-9a), read and
   * written by NonceCache (shared/uptane/vehicle-auth.ts) while it judges a request, outside any
   * unit of work: a mark is kept even when a unit running at the same time rolls back.
   */
  readonly signedRequestMarks: SignedRequestMarks;
  /**
   * Where replicas share a database (PostgreSQL): every signed-request nonce accepted, so a header is
   * accepted once by all replicas together (replicas.ts). Absent on SQLite, where one process serves.
   */
  readonly signedRequestNonces?: SignedRequestNonces;
  /** Where replicas share a database: word of changes to what services keep in memory (replicas.ts). */
  readonly changes?: ChangeFeed;
  /** The alerts outbox (alerts.ts): written and claimed outside units of work, so an alert never rolls back with one. */
  readonly alerts: AlertOutbox;
  /**
   * Runs `work` as one transaction: every change made through `tx` is kept, or none (a throw rolls
   * all back). `work` awaits only `tx`'s operations, never the network or a timer, and units do not
   * nest: the transaction is held from start to end.
   */
  unitOfWork<T>(work: (tx: DirectorTransaction) => Promise<T>): Promise<T>;
}

/**
 * What the Director server holds (server.ts, open-store.ts): the store its services use, the
 * operator tokens its API checks and its host commands manage, and the connection to close.
 */
export interface DirectorStorage extends DirectorStore, OperatorTokenStore {
  /** The web dashboard's paged reads and fleet snapshots (dashboard.ts), outside any unit of work. */
  readonly dashboard: DashboardStore;
  /** Dashboard sessions signed out (ui-sessions.ts), outside any unit of work. */
  readonly uiSessions: UiSessionRevocations;
  /**
   * Where replicas share a database: the lease `name` (one replica at a time does that work,
   * replicas.ts). Absent on SQLite, whose one serving process does all of it.
   */
  lease?(name: string): Lease;
  /** The connection pool's counts (/metrics), where there is a pool (PostgreSQL). */
  poolStats?(): { total: number; idle: number; waiting: number };
  /** Ends the connection (a pool's, on a network database); nothing may use the storage after. */
  close(): Promise<void>;
}
