// The Director as app.ts, server.ts and campaign-routes.ts call it today: one object whose methods
// hand each call to the focused service that owns it (services/). Decisions live in the services,
// SQL behind the store interfaces (store/), per-vehicle signing in vehicle-metadata.ts.
// composeDirector builds the services and this facade from a store.
import type { Clock } from '../shared/core/clock.js';
import type { RequestToSign } from '../shared/uptane/vehicle-auth.js';
import { Campaigns } from './campaigns.js';
import type { ImageCatalog } from './image-catalog.js';
import type { ManifestCheckConfig } from './manifest-checks.js';
import { AssignmentService, type AssignmentRequest, type PlannedAssignment } from './services/assignments.js';
import { DirectorRoot } from './services/director-root.js';
import { VehicleInventory, type EcuRegistration, type VehicleRegistration } from './services/inventory.js';
import { ManifestIntakeService } from './services/manifest-intake.js';
import { VehicleAuthentication, type VehicleAuthOptions, type VehicleCredential } from './services/vehicle-auth.js';
import type { AssignmentRecord } from './store/assignments.js';
import type { DirectorStore } from './store/director-store.js';
import { VehicleMetadataSigner, type DirectorOnlineKeys, type VehicleMetadataConfig } from './vehicle-metadata.js';

export type { AssignmentRequest, EcuRegistration, PlannedAssignment, VehicleCredential, VehicleRegistration };

/** What composeDirector needs besides the store. */
export interface DirectorOptions extends VehicleAuthOptions {
  readonly images: ImageCatalog;
  readonly onlineKeys: DirectorOnlineKeys;
  readonly clock: Clock;
  readonly metadata?: Partial<VehicleMetadataConfig>;
  readonly manifestChecks?: ManifestCheckConfig;
  /** Largest number of VINs one assignment request may name. */
  readonly maxVinsPerAssignment?: number;
}

/** The Director's focused services, each depending on the store interfaces only. */
export interface DirectorServices {
  readonly authentication: VehicleAuthentication;
  readonly inventory: VehicleInventory;
  readonly assignments: AssignmentService;
  readonly intake: ManifestIntakeService;
  readonly metadata: VehicleMetadataSigner;
  readonly root: DirectorRoot;
  readonly campaigns: Campaigns;
}

/** Builds the Director's services on `store`, and the facade the routes call. */
export function composeDirector(store: DirectorStore, options: DirectorOptions): DirectorServices & { director: Director } {
  const { clock } = options;
  const authentication = new VehicleAuthentication(store, clock, options);
  const assignments = new AssignmentService(store, options.images, clock, options.maxVinsPerAssignment);
  const intake = new ManifestIntakeService(store, clock, options.manifestChecks);
  const services: DirectorServices = {
    authentication,
    inventory: new VehicleInventory(store, clock, () => authentication.forgetPrimaryKeys()),
    assignments,
    intake,
    metadata: new VehicleMetadataSigner(store, options.onlineKeys, clock, options.metadata),
    root: new DirectorRoot(store, options.onlineKeys, clock),
    campaigns: new Campaigns(store, assignments, intake, clock),
  };
  return { ...services, director: new Director(store, services, clock) };
}

export class Director {
  constructor(
    private readonly store: DirectorStore,
    private readonly services: DirectorServices,
    private readonly clock: Clock,
  ) {}

  // Vehicle authentication and sessions (services/vehicle-auth.ts).

  authenticateVehicle(authorization: string | undefined, request: RequestToSign): Promise<string> {
    return this.services.authentication.authenticate(authorization, request);
  }

  authenticateVehicleHeaders(authorization: string | undefined, request: { method: string; path: string }): Promise<VehicleCredential> {
    return this.services.authentication.authenticateHeaders(authorization, request);
  }

  issueSession(vin: string, lifetimeMs?: number): Promise<{ token: string; expires: string; expiresIn: number }> {
    return this.services.authentication.issueSession(vin, lifetimeMs);
  }

  // Inventory (services/inventory.ts).

  registerVehicle(registration: VehicleRegistration, actor: string): Promise<void> {
    return this.services.inventory.registerVehicle(registration, actor);
  }

  replaceEcu(vin: string, oldSerial: string, replacement: Omit<EcuRegistration, 'primary'>, actor: string): Promise<void> {
    return this.services.inventory.replaceEcu(vin, oldSerial, replacement, actor);
  }

  vehicleStatus(vin: string): ReturnType<VehicleInventory['vehicleStatus']> {
    return this.services.inventory.vehicleStatus(vin);
  }

  // Assignments (services/assignments.ts).

  planAssignments(request: AssignmentRequest): Promise<PlannedAssignment[]> {
    return this.services.assignments.planAssignments(request);
  }

  assign(request: AssignmentRequest, actor: string): Promise<AssignmentRecord[]> {
    return this.services.assignments.assign(request, actor);
  }

  cancelAssignment(id: number, actor: string): Promise<AssignmentRecord> {
    return this.services.assignments.cancelAssignment(id, actor);
  }

  /**
   * Records an operator request the Director refused, with who tried and why (issue 4: rejections
   * are recorded), so the audit log shows refused attempts as well as changes.
   */
  recordRefusal(actor: string, request: string, error: { code: string; message: string }): Promise<void> {
    return this.store.auditLog.record(actor, 'refused', { request, code: error.code, message: error.message }, this.clock.now());
  }

  // Vehicle-facing: metadata (vehicle-metadata.ts) and manifests (services/manifest-intake.ts).

  vehicleMetadata(vin: string, fileName: string): Promise<Buffer | undefined> {
    return this.services.metadata.file(vin, fileName);
  }

  receiveManifest(vin: string, body: Uint8Array): Promise<{ accepted: true; assignmentsChanged: number }> {
    return this.services.intake.receiveManifest(vin, body);
  }

  // The Director's own root (services/director-root.ts).

  submitRoot(bytes: Uint8Array, actor: string): Promise<{ version: number }> {
    return this.services.root.submitRoot(bytes, actor);
  }

  onlineKeysJson(): ReturnType<DirectorRoot['onlineKeysJson']> {
    return this.services.root.onlineKeysJson();
  }

  latestRootVersion(): Promise<number | undefined> {
    return this.services.root.latestRootVersion();
  }
}
