// The Director's store on PostgreSQL (schema.ts): what replicas of the Director share. Each area is
// a class over a Queryable: outside a unit of work the pool (every call a statement, and a
// transaction, of its own), inside one the unit's connection. Nothing is cached in memory: another
// replica may change any row at any time.
import { PostgresDatabase, type PostgresOptions, type Queryable } from '../../../shared/server/postgres.js';
import { PostgresChangeFeed } from '../../../shared/server/postgres-changes.js';
import { PostgresLease } from '../../../shared/server/postgres-lease.js';
import type { ChangeTopic } from '../replicas.js';
import type { AssignmentStore } from '../assignments.js';
import type { AlertOutbox } from '../alerts.js';
import type { AuditLog } from '../audit.js';
import type { CampaignStore } from '../campaigns.js';
import type { DirectorStorage, DirectorTransaction } from '../director-store.js';
import type { EncryptedImageStore } from '../encrypted-images.js';
import type { InventoryStore } from '../inventory.js';
import type { ManifestIntake, ManifestStore } from '../manifests.js';
import type { OperatorScope, OperatorTokenRecord } from '../operator-tokens.js';
import type { RootStore, VehicleMetadataStore } from '../vehicle-metadata.js';
import { PostgresAlertOutbox } from './alerts.js';
import { PostgresUiSessionRevocations } from './ui-sessions.js';
import { PostgresAssignments } from './assignments.js';
import { PostgresInstallBundles } from './install-bundles.js';
import type { InstallBundleStore } from '../install-bundles.js';
import { PostgresAuditLog } from './audit.js';
import { PostgresCampaigns } from './campaigns.js';
import { PostgresDashboard } from './dashboard.js';
import { PostgresEncryptedImages } from './encrypted-images.js';
import { PostgresManifestIntake } from './intake.js';
import { PostgresInventory } from './inventory.js';
import { PostgresManifests } from './manifests.js';
import { PostgresOperatorTokens } from './operator-tokens.js';
import { MIGRATIONS } from './schema.js';
import { PostgresSignedRequestMarks } from './signed-request-marks.js';
import { PostgresSignedRequestNonces } from './signed-request-nonces.js';
import { PostgresRoots, PostgresVehicleMetadata } from './vehicle-metadata.js';

/** The component name of the Director's migrations (schema_migrations) and its default schema. */
export const DIRECTOR_COMPONENT = 'director';

/** Every area, its statements run through `q`. */
function areas(q: Queryable): DirectorTransaction {
  return {
    inventory: new PostgresInventory(q),
    assignments: new PostgresAssignments(q),
    manifests: new PostgresManifests(q),
    vehicleMetadata: new PostgresVehicleMetadata(q),
    roots: new PostgresRoots(q),
    campaigns: new PostgresCampaigns(q),
    encryptedImages: new PostgresEncryptedImages(q),
    installBundles: new PostgresInstallBundles(q),
    auditLog: new PostgresAuditLog(q),
  };
}

export class PostgresDirectorStore implements DirectorStorage {
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
  readonly signedRequestMarks: PostgresSignedRequestMarks;
  readonly signedRequestNonces: PostgresSignedRequestNonces;
  readonly changes: PostgresChangeFeed<ChangeTopic>;
  readonly dashboard: PostgresDashboard;
  readonly alerts: AlertOutbox;
  readonly uiSessions: PostgresUiSessionRevocations;
  private readonly leases = new Map<string, PostgresLease>();
  private readonly operatorTable: PostgresOperatorTokens;
  /** The end of this replica's queue of units of work (unitOfWork). */
  private unitsTail: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: PostgresDatabase,
    log: ((line: string) => void) | undefined,
  ) {
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
    } = areas(db));
    this.intake = new PostgresManifestIntake(db);
    this.signedRequestMarks = new PostgresSignedRequestMarks(db);
    this.signedRequestNonces = new PostgresSignedRequestNonces(db);
    this.changes = new PostgresChangeFeed<ChangeTopic>(db, ['primary-keys', 'dashboard-events'], { log });
    this.operatorTable = new PostgresOperatorTokens(db);
    this.dashboard = new PostgresDashboard(db);
    this.alerts = new PostgresAlertOutbox(db);
    this.uiSessions = new PostgresUiSessionRevocations(db);
  }

  /**
   * Connects to `url` (postgres://user@host/db, its tables in `?schema=` or in schema `director`)
   * and brings the schema up to date (once, however many replicas start together).
   */
  static async open(url: string, options: PostgresOptions & { readonly log?: (line: string) => void } = {}): Promise<PostgresDirectorStore> {
    const store = new PostgresDirectorStore(await PostgresDatabase.open(url, DIRECTOR_COMPONENT, MIGRATIONS, options), options.log);
    // Listening before the first request is served; a failure here is retried in the background.
    await store.changes.start();
    return store;
  }

  /** The lease `name`, one per store (replicas.ts): a session of its own, opened on first use. */
  lease(name: string): PostgresLease {
    let lease = this.leases.get(name);
    if (lease === undefined) {
      lease = new PostgresLease(this.db, name);
      this.leases.set(name, lease);
    }
    return lease;
  }

  /**
   * SERIALIZABLE. The services' units of work read, decide and write: "no active assignment for
   * this ECU, so insert one" (services/assignments.ts), "the serial is free, so register it"
   * (services/inventory.ts), "the campaign is running and its stage is over, so advance it"
   * (campaigns.ts), "the targets are stale, so sign version n+1" (vehicle-metadata.ts). Across
   * replicas, only SERIALIZABLE makes each such decision as if no other unit ran alongside it:
   * READ COMMITTED would let two replicas both find the ECU free, REPEATABLE READ would let them
   * both decide on the same snapshot (write skew). When PostgreSQL finds two units that cannot be
   * ordered, one fails with 40001 and PostgresDatabase.transaction runs it again from the start, so
   * it decides again on what the other committed (and the service then answers, say, ConflictError).
   * That is safe because `work` only awaits the store's operations (director-store.ts: no network,
   * no timers); a unit that keeps failing becomes DatabaseUnavailableError (503, retry).
   *
   * One replica runs its units one at a time, in the order they were asked for, as the SQLite store
   * does. SERIALIZABLE tracks reads by index page, or by whole table where a small table is scanned,
   * so units running side by side on a young database conflict even on unrelated rows: eight vehicle
   * registrations at once used up their retries and answered 503. Queued, a replica's units never
   * conflict with each other; only units of different replicas can, and those are retried. Intake,
   * the busy path, does not queue here (intake.ts).
   */
  unitOfWork<T>(work: (tx: DirectorTransaction) => Promise<T>): Promise<T> {
    const mine = this.unitsTail.then(() => this.runUnit(work));
    this.unitsTail = mine.then(
      () => undefined,
      () => undefined,
    );
    return mine;
  }

  private runUnit<T>(work: (tx: DirectorTransaction) => Promise<T>): Promise<T> {
    return this.db.transaction('serializable', async (connection) => {
      // A handle kept past the end of its unit would run on a connection back in the pool, maybe
      // inside another unit's transaction: refused instead, as on SQLite.
      let open = true;
      const guarded: Queryable = {
        query: (text, params) => (open ? connection.query(text, params) : Promise.reject(new Error('a unit of work’s store handle was used after the unit ended'))),
      };
      try {
        return await work(areas(guarded));
      } finally {
        open = false;
      }
    });
  }

  poolStats(): { total: number; idle: number; waiting: number } {
    return this.db.poolStats();
  }

  async close(): Promise<void> {
    await this.changes.close();
    for (const lease of this.leases.values()) await lease.close();
    await this.db.close();
  }

  // Operator tokens, on the host ---------------------------------------------------------------

  addOperator(name: string, token: string, now: Date, options: { scope?: OperatorScope; expiresAt?: Date | null } = {}): Promise<string> {
    return this.operatorTable.add(name, token, now, options.scope ?? 'admin', options.expiresAt ?? null);
  }

  operatorToken(token: string): Promise<OperatorTokenRecord | undefined> {
    return this.operatorTable.byToken(token);
  }

  operatorTokenById(tokenId: string): Promise<OperatorTokenRecord | undefined> {
    return this.operatorTable.byId(tokenId);
  }

  operatorTokens(): Promise<OperatorTokenRecord[]> {
    return this.operatorTable.tokens();
  }

  revokeOperatorToken(tokenId: string, now: Date): Promise<boolean> {
    return this.operatorTable.revoke(tokenId, now);
  }

  removeOperator(name: string, now: Date): Promise<string[]> {
    return this.operatorTable.remove(name, now);
  }

  audit(actor: string, action: string, details: unknown, now: Date): Promise<void> {
    return this.auditLog.record(actor, action, details, now);
  }
}
