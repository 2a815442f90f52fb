// The Director's store on one SQLite file (schema.ts): the embedded default, for the demo, the
// simulator and small fleets. Each area is a synchronous class over prepared statements; the
// services see their promise-returning views, run outside units of work through the transaction
// gate, and inside a unit of work directly (transaction-gate.ts). The better-sqlite3 handle stays in
// this folder.
import { openDatabase, type Db } from '../../../shared/server/sqlite.js';
import { TokenTable } from '../../../shared/server/token-table.js';
import type { SignedRequestMarks } from '../../../shared/uptane/vehicle-auth.js';
import type { AlertOutbox } from '../alerts.js';
import type { AssignmentStore } from '../assignments.js';
import type { AuditLog } from '../audit.js';
import type { CampaignStore } from '../campaigns.js';
import type { DashboardStore } from '../dashboard.js';
import { SqliteDashboard } from './dashboard.js';
import type { DirectorStorage, DirectorTransaction } from '../director-store.js';
import type { EncryptedImageStore } from '../encrypted-images.js';
import type { InventoryStore } from '../inventory.js';
import type { ManifestIntake, ManifestStore } from '../manifests.js';
import type { OperatorScope, OperatorTokenRecord } from '../operator-tokens.js';
import type { RootStore, VehicleMetadataStore } from '../vehicle-metadata.js';
import { toOperatorToken, type OperatorTokenRow } from '../rows.js';
import { SqliteAlertOutbox } from './alerts.js';
import { SqliteUiSessionRevocations } from './ui-sessions.js';
import type { UiSessionRevocations } from '../ui-sessions.js';
import { SqliteAssignments } from './assignments.js';
import { SqliteInstallBundles } from './install-bundles.js';
import type { InstallBundleStore } from '../install-bundles.js';
import { SqliteAuditLog } from './audit.js';
import { SqliteCampaigns } from './campaigns.js';
import { SqliteEncryptedImages } from './encrypted-images.js';
import { SqliteManifestIntake } from './intake.js';
import { SqliteInventory } from './inventory.js';
import { SqliteManifests } from './manifests.js';
import { MIGRATIONS } from './schema.js';
import { SqliteSignedRequestMarks } from './signed-request-marks.js';
import { asyncView, TransactionGate, type Runner } from './transaction-gate.js';
import { SqliteRoots, SqliteVehicleMetadata } from './vehicle-metadata.js';

/** The synchronous classes behind the views, one connection for all. */
class Tables {
  readonly inventory: SqliteInventory;
  readonly assignments: SqliteAssignments;
  readonly manifests: SqliteManifests;
  readonly vehicleMetadata: SqliteVehicleMetadata;
  readonly roots: SqliteRoots;
  readonly campaigns: SqliteCampaigns;
  readonly encryptedImages: SqliteEncryptedImages;
  readonly installBundles: SqliteInstallBundles;
  readonly auditLog: SqliteAuditLog;

  constructor(db: Db) {
    this.inventory = new SqliteInventory(db);
    this.assignments = new SqliteAssignments(db);
    this.manifests = new SqliteManifests(db);
    this.vehicleMetadata = new SqliteVehicleMetadata(db);
    this.roots = new SqliteRoots(db);
    this.campaigns = new SqliteCampaigns(db);
    this.encryptedImages = new SqliteEncryptedImages(db);
    this.installBundles = new SqliteInstallBundles(db);
    this.auditLog = new SqliteAuditLog(db);
  }

  views(run: Runner): DirectorTransaction {
    return {
      inventory: asyncView<InventoryStore>(this.inventory, run),
      assignments: asyncView<AssignmentStore>(this.assignments, run),
      manifests: asyncView<ManifestStore>(this.manifests, run),
      vehicleMetadata: asyncView<VehicleMetadataStore>(this.vehicleMetadata, run),
      roots: asyncView<RootStore>(this.roots, run),
      campaigns: asyncView<CampaignStore>(this.campaigns, run),
      encryptedImages: asyncView<EncryptedImageStore>(this.encryptedImages, run),
      installBundles: asyncView<InstallBundleStore>(this.installBundles, run),
      auditLog: asyncView<AuditLog>(this.auditLog, run),
    };
  }
}

export class SqliteDirectorStore implements DirectorStorage {
  /**
   * The connection, for SQLite-specific checks in tests and benchmarks only (pragmas, checkpoints,
   * rows written behind the store's back); the services never see it.
   */
  readonly db: Db;
  readonly inventory: InventoryStore;
  readonly assignments: AssignmentStore;
  readonly manifests: ManifestStore;
  readonly vehicleMetadata: VehicleMetadataStore;
  readonly roots: RootStore;
  readonly campaigns: CampaignStore;
  readonly encryptedImages: EncryptedImageStore;
  readonly installBundles: InstallBundleStore;
  readonly auditLog: AuditLog;
  readonly intake: ManifestIntake;
  readonly signedRequestMarks: SignedRequestMarks;
  readonly dashboard: DashboardStore;
  readonly alerts: AlertOutbox;
  readonly uiSessions: UiSessionRevocations;
  private readonly tables: Tables;
  private readonly gate: TransactionGate;
  private readonly inside: DirectorTransaction;
  private readonly operatorTable: TokenTable<OperatorTokenRecord, OperatorTokenRow>;

  constructor(path: string) {
    this.db = openDatabase(path, MIGRATIONS);
    this.gate = new TransactionGate(this.db);
    this.tables = new Tables(this.db);
    ({
      inventory: this.inventory,
      assignments: this.assignments,
      manifests: this.manifests,
      vehicleMetadata: this.vehicleMetadata,
      roots: this.roots,
      campaigns: this.campaigns,
      encryptedImages: this.encryptedImages,
      installBundles: this.installBundles,
      auditLog: this.auditLog,
    } = this.tables.views(this.gate.outside));
    this.inside = this.tables.views(this.gate.inside);
    this.intake = new SqliteManifestIntake(this.db, this.tables);
    this.signedRequestMarks = new SqliteSignedRequestMarks(this.db, this.gate.outside);
    this.alerts = asyncView<AlertOutbox>(new SqliteAlertOutbox(this.db), this.gate.outside);
    this.operatorTable = new TokenTable(this.db, 'operator', 'operator_tokens', ['scope'], toOperatorToken);
    this.dashboard = asyncView<DashboardStore>(new SqliteDashboard(this.db), this.gate.outside);
    this.uiSessions = asyncView<UiSessionRevocations>(new SqliteUiSessionRevocations(this.db), this.gate.outside);
  }

  unitOfWork<T>(work: (tx: DirectorTransaction) => Promise<T>): Promise<T> {
    return this.gate.unitOfWork(() => work(this.inside));
  }

  async close(): Promise<void> {
    this.db.close();
  }

  // Operator tokens, on the host ---------------------------------------------------------------
  // Through the gate like the areas: a token written while a unit of work is open must not join (and
  // roll back with) that unit's transaction.

  addOperator(name: string, token: string, now: Date, options: { scope?: OperatorScope; expiresAt?: Date | null } = {}): Promise<string> {
    return this.gate.outside(() => this.operatorTable.add(name, token, now, [options.scope ?? 'admin'], options.expiresAt ?? null));
  }

  operatorToken(token: string): Promise<OperatorTokenRecord | undefined> {
    return this.gate.outside(() => this.operatorTable.byToken(token));
  }

  operatorTokenById(tokenId: string): Promise<OperatorTokenRecord | undefined> {
    return this.gate.outside(() => this.operatorTable.byId(tokenId));
  }

  operatorTokens(): Promise<OperatorTokenRecord[]> {
    return this.gate.outside(() => this.operatorTable.tokens());
  }

  revokeOperatorToken(tokenId: string, now: Date): Promise<boolean> {
    return this.gate.outside(() => this.operatorTable.revoke(tokenId, now));
  }

  removeOperator(name: string, now: Date): Promise<string[]> {
    return this.gate.outside(() => this.operatorTable.remove(name, now));
  }

  audit(actor: string, action: string, details: unknown, now: Date): Promise<void> {
    return this.auditLog.record(actor, action, details, now);
  }
}
