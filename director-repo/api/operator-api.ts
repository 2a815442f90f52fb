// The Director's operator API (/api/v1) as a contract: for every route, the body it takes, the query
// it reads and the answer it sends, as JSON on the wire. The routes (app.ts, campaign-routes.ts)
// answer with these types, so the compiler holds the services to them; the CLI's client
// (operator-client.ts) and any other client (a dashboard) read them. Types only, and a table of the
// fields each answer must have: nothing here imports the server, so a web client can take this file
// alone. Who may call each route: operator-auth.ts (OPERATOR_ROUTE_SCOPES, keyed by OperatorRoute).

import type { ProfileRequirements, SecurityProfile } from '../../shared/core/security-profile.js';

/** Where the operator API is mounted on the Director. */
export const OPERATOR_API_PREFIX = '/api/v1';

// --- Request bodies ------------------------------------------------------------------------------

export interface EcuBody {
  readonly serial: string;
  readonly hardwareId: string;
  /**
   * The ECU's signing key: Ed25519 as 64 hex digits, or ECDSA P-256/P-384 as one line of base64
   * SubjectPublicKeyInfo (its PEM body), a PEM block or TUF key JSON; stored as hex or base64
   * (docs/decisions.md Cryptography, "ECU keys").
   */
  readonly publicKey: string;
  /**
   * The ECU's X25519 image-encryption public key, 64 hex digits (raw), separate from its signing key;
   * without one the Director cannot encrypt images for it (docs/image-encryption.md).
   */
  readonly encryptionPublicKey?: string;
  /**
   * The ECU's security profile (docs/security-profiles.md): 'basic', 'standard' or 'high'. Absent at
   * registration means 'standard'; absent on a replacement keeps the replaced ECU's profile.
   */
  readonly securityProfile?: SecurityProfile;
}

/** PUT /vehicles/:vin/ecus/:serial/profile: the ECU's new security profile. */
export interface EcuProfileBody {
  readonly securityProfile: SecurityProfile;
}

/** PATCH /vehicles/:vin/attributes: names to set (or change) and names to remove, in one change. */
export interface VehicleAttributesBody {
  readonly set?: Readonly<Record<string, string>>;
  readonly remove?: readonly string[];
}

export interface VehicleRegistrationBody {
  readonly vin: string;
  readonly attributes?: Readonly<Record<string, string>>;
  readonly ecus: ReadonlyArray<EcuBody & { readonly primary?: boolean }>;
}

/**
 * POST /inventory/lookup: VINs, ECU serials and signing keyids to look up, at most
 * INVENTORY_LOOKUP_MAX of each; a registration file's dry run asks before anything is written.
 */
export interface InventoryLookupBody {
  readonly vins?: readonly string[];
  readonly serials?: readonly string[];
  readonly keyids?: readonly string[];
}

/** Items of each list one inventory lookup takes (three full lists stay well under the 1 MB body cap); a client asks a larger file in several calls. */
export const INVENTORY_LOOKUP_MAX = 1_000;

/** One vehicle (vin) or many (vins); one ECU by serial, or every ECU with the hardware id. */
export type AssignmentBody = ({ readonly vin: string; readonly vins?: never } | { readonly vins: readonly string[]; readonly vin?: never }) & {
  readonly image: string;
  readonly ecuSerial?: string;
  readonly hardwareId?: string;
  /** Plan only: the answer is an AssignmentPlan and nothing is assigned. */
  readonly dryRun?: boolean;
  /**
   * Encrypt the image for each ECU (its content key wrapped to the ECU's encryption key). The
   * operator's choice alone; an ECU without an encryption key refuses the whole request (409
   * no_encryption_key).
   */
  readonly encrypt?: boolean;
};

/** A dynamic group's members: every vehicle that meets all of the given terms. */
export interface GroupFilterBody {
  /** Every named vehicle attribute must equal the value (model, region, ...). */
  readonly attributes?: Readonly<Record<string, string>>;
  /** The vehicle has an ECU with this hardware id. */
  readonly hardwareId?: string;
  /** An ECU of the vehicle reports this image installed. */
  readonly installedImage?: string;
}

/** A static group (vins) or a dynamic one (filter). */
export type GroupBody = { readonly name: string } & ({ readonly vins: readonly string[]; readonly filter?: never } | { readonly filter: GroupFilterBody; readonly vins?: never });

/** One stage of a campaign; stages are cumulative. */
export interface CampaignStage {
  /** Cumulative share of the group (0 < share <= 1) that has the update once this stage is reached. */
  readonly share?: number;
  /** Or a cumulative number of vehicles. */
  readonly count?: number;
  /** The stage starts no earlier than this long after the campaign started (a schedule). */
  readonly startAfterMs?: number;
  /** The stage runs at least this long before the next one may start (soak time). */
  readonly minSoakMs?: number;
  /** Share of the stage's vehicles that must have installed before the next stage (default 0.9). */
  readonly successThreshold?: number;
}

export interface CampaignHaltRules {
  /** Pause when failures / finished installs in the campaign pass this share (default 0.2). */
  readonly maxFailureRate?: number;
  /** ... once at least this many installs finished (default 5), so one early failure is not a rate. */
  readonly minSample?: number;
  /** Pause at this many failures, whatever the rate. */
  readonly maxFailures?: number;
  /** Pause when any vehicle in the campaign reports a detected attack or verification failure (default true). */
  readonly onAttack?: boolean;
}

export interface CampaignImage {
  readonly hardwareId: string;
  readonly image: string;
}

/** A campaign's stages, given one way: a list, the "white-paper" preset, or an exponential ramp. */
export type CampaignSchedule =
  | { readonly stages: readonly CampaignStage[]; readonly preset?: never; readonly ramp?: never }
  | { readonly preset: 'white-paper'; readonly stages?: never; readonly ramp?: never }
  | { readonly ramp: { readonly first: number; readonly factor: number; readonly minSoakMs?: number }; readonly stages?: never; readonly preset?: never };

export type CampaignBody = {
  readonly name: string;
  readonly group: string;
  readonly images: readonly CampaignImage[];
  readonly halt?: CampaignHaltRules;
  readonly includeNewVehicles?: boolean;
  readonly maintenanceWindow?: { readonly startHour: number; readonly endHour: number };
  /**
   * Encrypt the images for each ECU (as an assignment's `encrypt`): each image is encrypted once
   * when the campaign starts; a vehicle with a target ECU that has no encryption key is skipped.
   */
  readonly encrypt?: boolean;
} & CampaignSchedule;

export type CampaignAction = 'start' | 'pause' | 'resume' | 'advance' | 'abort';

// --- Answers -------------------------------------------------------------------------------------

export interface VehicleSummary {
  readonly vin: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly registeredAt: string;
}

export interface InstalledImage {
  readonly filename: string;
  readonly length: number;
  readonly hashes: Readonly<Record<string, string>>;
  readonly releaseCounter: number | null;
}

export type AssignmentState = 'pending' | 'in_flight' | 'installed' | 'failed' | 'cancelled';

/**
 * How an image is encrypted for one ECU, exactly as the Director's targets list it under
 * custom.ecuIdentifiers[serial].encryption (docs/image-encryption.md): the content key wrapped to the
 * ECU's encryption key, and the ciphertext the vehicle downloads from GET /vehicle/images/<file>.
 */
export interface ImageEncryption {
  readonly scheme: string;
  /** The keyid (hex SHA-256 of the raw key) of the ECU's encryption public key the key is wrapped to. */
  readonly keyid: string;
  readonly encapsulatedKey: string;
  readonly wrappedKey: string;
  readonly encryptedTarget: { readonly filename: string; readonly length: number; readonly hashes: { readonly sha256: string } };
}

/** An image for one ECU of one vehicle, as an assignment or its plan names it. */
export interface AssignedImage {
  readonly vin: string;
  readonly ecuSerial: string;
  readonly filename: string;
  /** The plaintext image's, as the Image repository signs them, encrypted or not. */
  readonly length: number;
  readonly hashes: Readonly<Record<string, string>>;
  readonly hardwareId: string;
  readonly releaseCounter: number;
  /** Present (not null) when the operator had the image encrypted for this ECU. */
  readonly encryption?: ImageEncryption | null;
}

export interface Assignment extends AssignedImage {
  readonly id: number;
  readonly state: AssignmentState;
  readonly reason: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Present when the assignment is a member of an install bundle (docs/decisions.md "Install bundles"). */
  readonly bundleId?: number;
}

/**
 * An install bundle's one outcome: pending until every member installed (installed) or one failed,
 * when every member went back to its previous image (rolled_back, naming the failing ECU and why);
 * cancelled when a member was cancelled (every member is).
 */
export type InstallBundleState = 'pending' | 'installed' | 'rolled_back' | 'cancelled';

export interface InstallBundleRecord {
  readonly id: number;
  readonly vin: string;
  readonly campaignId: number | null;
  readonly state: InstallBundleState;
  readonly failingEcu: string | null;
  readonly reason: string | null;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** POST /install-bundles: images for several ECUs of one vehicle that install all or none. */
export interface InstallBundleBody {
  readonly vin: string;
  readonly members: ReadonlyArray<{ readonly ecuSerial: string; readonly image: string }>;
  readonly encrypt?: boolean;
}

/** An install bundle and its member assignments. */
export interface InstallBundleView extends InstallBundleRecord {
  /** The id the vehicle's targets carry (custom.installBundle.id). */
  readonly bundleId: string;
  readonly members: readonly Assignment[];
}

export interface EcuStatus {
  readonly serial: string;
  readonly hardwareId: string;
  readonly primary: boolean;
  readonly keyid: string;
  /** The type of the ECU's signing key (docs/decisions.md Cryptography, "ECU keys"). */
  readonly keyType: 'ed25519' | 'ecdsa-p256' | 'ecdsa-p384';
  /** The ECU's X25519 image-encryption public key (hex) and its keyid, or null when it has none. */
  readonly encryptionPublicKey: string | null;
  readonly encryptionKeyid: string | null;
  /** The ECU's security profile and what that profile requires of it (docs/security-profiles.md). */
  readonly securityProfile: SecurityProfile;
  readonly profileRequirements: ProfileRequirements;
  readonly installed: InstalledImage | null;
  readonly reportedAt: string | null;
  /** The ECU's active assignment, if any. */
  readonly pending: Assignment | null;
}

export interface ReportedAttack {
  readonly ecuSerial: string;
  readonly code: string;
  readonly message: string;
  readonly reportedAt: string;
}

/** One manifest the vehicle sent, accepted or refused (a refused one with its body's length and digest). */
export interface ManifestEntry {
  readonly id: number;
  readonly receivedAt: string;
  readonly accepted: boolean;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly bodyLength?: number | null;
  readonly bodySha256?: string | null;
}

export interface VehicleStatus extends VehicleSummary {
  readonly lastManifestAt: string | null;
  readonly ecus: readonly EcuStatus[];
  readonly assignments: readonly Assignment[];
  readonly attacks: readonly ReportedAttack[];
  readonly manifests: readonly ManifestEntry[];
}

export interface VehicleList {
  /** The vehicles the filter matches (all registered ones without a filter), whatever the page. */
  readonly total: number;
  /** True when `total` stopped counting at its cap (a VIN prefix matching very many: docs/dashboard.md). */
  readonly totalCapped?: boolean;
  readonly vehicles: ReadonlyArray<VehicleSummary & { readonly state?: FleetState }>;
}

// --- The web dashboard's reads (docs/dashboard.md) ---------------------------------------------

/** A vehicle's state as the dashboard derives it, one per vehicle (docs/dashboard.md has the rules). */
export type FleetState = 'up_to_date' | 'pending' | 'downloading' | 'deferred' | 'installing' | 'failed' | 'rolled_back' | 'stale';
export type FleetStateCounts = Readonly<Record<FleetState, number>>;

export interface FleetOverview {
  readonly vehicles: { readonly total: number; readonly byState: FleetStateCounts };
  readonly attacks: { readonly total: number; readonly last24h: number };
  /** Refused manifests as stored (each vehicle's newest are kept). */
  readonly refusedManifests: { readonly total: number; readonly last24h: number };
  /** Snapshots of the states, oldest first (one per snapshot period). */
  readonly history: ReadonlyArray<{ readonly at: string; readonly byState: FleetStateCounts }>;
  readonly computedAt: string;
  readonly staleAfterSeconds: number;
}

export interface VehicleManifests {
  readonly vin: string;
  /** Accepted and refused, newest first; page on with `before` = the last id. */
  readonly manifests: readonly ManifestEntry[];
  /** The vehicle's newest reported attacks, newest first. */
  readonly attacks: readonly AttackEntry[];
}

export interface AttackEntry extends ReportedAttack {
  readonly id: number;
  readonly vin: string;
}

export interface AttackList {
  /** Newest first; page on with `before` = the last id. */
  readonly attacks: readonly AttackEntry[];
}

export interface CatalogImage {
  readonly filename: string;
  readonly length: number;
  readonly sha256: string | null;
  readonly hardwareIds: readonly string[];
  readonly releaseCounter: number | null;
  /** The lowest ECU security profile the Image repository allows to install it; null for any (docs/security-profiles.md). */
  readonly minimumSecurityProfile: SecurityProfile | null;
}

/**
 * The answer of POST /inventory/lookup: the asked VINs that are registered, and every registered ECU
 * whose serial or signing keyid was asked, with the vehicle that holds it (ECU serials are unique
 * across the fleet: docs/decisions.md "ECU identity").
 */
export interface RegisteredIdentities {
  readonly vins: readonly string[];
  readonly ecus: ReadonlyArray<{ readonly serial: string; readonly vin: string; readonly hardwareId: string; readonly primary: boolean; readonly keyid: string }>;
}

export interface ImageList {
  readonly images: readonly CatalogImage[];
  readonly total: number;
}

/** POST /campaigns with `dryRun: true`: what each stage would take, nothing created. */
export interface CampaignDryRun {
  readonly dryRun: true;
  /** The group's members now. */
  readonly vehicles: number;
  /** 1-based, as CampaignStatus numbers stages; each stage's own vehicles (stages are cumulative). */
  readonly stages: ReadonlyArray<{ readonly index: number; readonly vehicles: number }>;
  /** Vehicles the campaign would skip, by reason (their stage slot is still taken, as when it runs). */
  readonly skipped: Readonly<Record<string, number>>;
  /** False when the group is too large for the per-vehicle check: `skipped` is then empty, not zero. */
  readonly skippedChecked: boolean;
}

export interface PlannedAssignment extends AssignedImage {
  /** What the ECU reports installed now. */
  readonly installed: string | null;
  /** The image would be encrypted for this ECU (the plan checked that it has an encryption key). */
  readonly encrypt?: boolean;
}

export interface AssignmentPlan {
  readonly dryRun: true;
  readonly plan: readonly PlannedAssignment[];
}

export interface AssignmentsCreated {
  readonly assignments: readonly Assignment[];
}

/** A TUF public key as root metadata lists it. */
export interface TufPublicKey {
  readonly keytype: string;
  readonly scheme: string;
  readonly keyval: { readonly public: string };
}

export type OnlineKeyRole = 'targets' | 'snapshot' | 'timestamp';
export type OnlineKeyEntry = { readonly keyid: string; readonly key: TufPublicKey };

/** The keys in use per role and, under `pending`, the keys a rotation made that wait for a root listing them. */
export type OnlineKeys = Readonly<Record<OnlineKeyRole, OnlineKeyEntry>> & { readonly pending?: Readonly<Partial<Record<OnlineKeyRole, OnlineKeyEntry>>> };

/** POST /online-keys/rotate: the roles to rotate (default all three) and whether a pending key may be replaced. */
export interface OnlineKeyRotationBody {
  readonly roles?: readonly OnlineKeyRole[];
  readonly replace?: boolean;
}

/** A started rotation: the pending keys (for the root to list) and the keys still in use until that root is published. */
export interface OnlineKeyRotation {
  readonly pending: Readonly<Partial<Record<OnlineKeyRole, OnlineKeyEntry>>>;
  readonly current: Readonly<Record<OnlineKeyRole, OnlineKeyEntry>>;
}

export interface RootAccepted {
  readonly version: number;
}

/**
 * What the dashboard's POST and GET /ui/api/session answer (dashboard/ui-session.ts): the operator
 * signed in, the token's scope and public id, the CSRF token every write with the cookie sends, and
 * when the session ends. Not an /api/v1 route: the session lives beside the API, for browsers only.
 */
export interface DashboardSession {
  readonly operator: string;
  readonly scope: 'read' | 'operator' | 'admin';
  readonly tokenId: string;
  readonly csrfToken: string;
  readonly expiresAt: string;
}

export interface AuditEntry {
  /** The entry's id (GET /audit pages with `before` = the last id). */
  readonly id?: number;
  readonly at: string;
  readonly actor: string;
  /** The operator token's public id (null for actions on the Director host). */
  readonly tokenId: string | null;
  readonly action: string;
  readonly details: unknown;
}

export interface AuditLog {
  readonly entries: readonly AuditEntry[];
}

export interface GroupCreated {
  readonly name: string;
  readonly members: number;
}

export interface GroupSummary {
  readonly name: string;
  readonly kind: 'static' | 'dynamic';
  readonly filter: GroupFilterBody | null;
  readonly createdAt: string;
  /** Null when the group cannot be evaluated; `problem` says why. */
  readonly members: number | null;
  readonly problem?: string;
}

export interface GroupList {
  readonly groups: readonly GroupSummary[];
}

export interface GroupMembers {
  readonly name: string;
  readonly members: readonly string[];
}

export type CampaignState = 'draft' | 'running' | 'paused' | 'completed' | 'aborted';

export interface CampaignStageStatus {
  readonly stage: number;
  readonly vehicles: number;
  readonly pending: number;
  readonly downloading: number;
  readonly deferredWhileDriving: number;
  readonly installed: number;
  readonly failed: number;
  readonly rolledBack: number;
  readonly cancelled: number;
  readonly skipped: number;
  readonly attackReported: number;
  /** Skipped vehicles by the reason's code (no_matching_ecu, already_installed, vehicle_unknown, conflict, ...). */
  readonly skipReasons: Readonly<Record<string, number>>;
  /**
   * The first VINs (in VIN order) of each outcome of the stage, at most the status request's `vins`
   * (default 10) each; GET /campaigns/:campaign/vehicles pages through all of them.
   */
  readonly vins: Readonly<Partial<Record<CampaignVehicleOutcome, readonly CampaignVehicleEntry[]>>>;
}

/**
 * Where a vehicle of a campaign stands, by its ECUs' newest campaign assignments: failed if one
 * failed, pending or downloading while one is, installed once all are; skipped when the campaign
 * gave it nothing (see its reason); unstaged while no stage has taken it yet.
 */
export type CampaignVehicleOutcome = 'pending' | 'downloading' | 'installed' | 'failed' | 'cancelled' | 'skipped' | 'unstaged';

export const CAMPAIGN_VEHICLE_OUTCOMES: readonly CampaignVehicleOutcome[] = ['pending', 'downloading', 'installed', 'failed', 'cancelled', 'skipped', 'unstaged'];

export interface CampaignVehicleEntry {
  readonly vin: string;
  /** Skipped: why (`no_matching_ecu: ...`); failed: the failed assignment's reason; else null. */
  readonly reason: string | null;
}

/** Why the current stage does not move on yet, one entry per reason; empty when nothing holds it. */
export interface CampaignWait {
  /** draft, halted, schedule, maintenance_window, soak, vehicles, success_threshold. */
  readonly code: string;
  readonly message: string;
}

/** GET /campaigns/:campaign/vehicles: one page of the campaign's vehicles, in VIN order. */
export interface CampaignVehiclePage {
  readonly campaign: string;
  /** Vehicles matching the filters, on every page. */
  readonly total: number;
  readonly vehicles: ReadonlyArray<CampaignVehicleEntry & { readonly stage: number | null; readonly outcome: CampaignVehicleOutcome; readonly deferredWhileDriving: boolean; readonly rolledBack: boolean }>;
  /** The `after` of the next page; null on the last. */
  readonly next: string | null;
}

/** POST /campaigns/:campaign/retry: the failed vehicles to try again; none named: every failed one (at most 100,000 per request). */
export interface CampaignRetryBody {
  readonly vins?: readonly string[];
}

export interface CampaignRetry {
  /** Vehicles given new assignments for the ECUs whose install failed. */
  readonly retried: readonly string[];
  /** Failed vehicles the retry could not give anything, with why (an ECU has another active assignment, ...). */
  readonly notRetried: readonly CampaignVehicleEntry[];
  /** Failed vehicles left for another request past the per-request bound. */
  readonly remaining: number;
  readonly status: CampaignStatus;
}

export interface CampaignEvent {
  readonly at: string;
  readonly actor: string;
  readonly kind: string;
  readonly details: unknown;
}

export interface CampaignStatus {
  readonly id: number;
  readonly name: string;
  readonly group: string;
  readonly state: CampaignState;
  /** 1-based. */
  readonly stage: number;
  /** Null while the stage waits for its schedule or maintenance window. */
  readonly stageStartedAt: string | null;
  readonly stages: readonly CampaignStage[];
  readonly images: readonly CampaignImage[];
  readonly vehicles: number;
  readonly perStage: readonly CampaignStageStatus[];
  /** Why the current stage waits (soak time left, vehicles still installing, a halt and its reason, ...). */
  readonly waiting: readonly CampaignWait[];
  readonly failureReasons: Readonly<Record<string, number>>;
  readonly history: readonly CampaignEvent[];
}

export interface CampaignSummary {
  readonly id: number;
  readonly name: string;
  readonly group: string;
  readonly state: CampaignState;
  readonly stage: number;
  readonly stages: number;
}

export interface CampaignList {
  readonly campaigns: readonly CampaignSummary[];
}

// --- Expiry and alerts (README "Expiry and alerts") ---------------------------------------------

/** One role's expiry, judged against the Director's warning windows (shared/uptane/role-expiry.ts). */
export interface RoleExpiryEntry {
  readonly repository: 'image' | 'director';
  readonly role: string;
  readonly version: number;
  readonly expires: string;
  /** Negative once expired. */
  readonly secondsLeft: number;
  readonly state: 'ok' | 'warning' | 'expired';
  readonly threshold: number;
  readonly keyids: readonly string[];
  /** Signed by a key the server holds and re-signs with; false: offline keys, people must re-sign it. */
  readonly online: boolean;
}

export interface RepositoryHealth {
  /** Warning window of offline roles (root, the Image repository's targets and delegations), days. */
  readonly warningDays: number;
  /** Warning window of online roles, hours. */
  readonly onlineWarningHours: number;
  readonly checkedAt: string;
  /** The Image repository's roles as the Director last verified them, then the Director's root. */
  readonly roles: readonly RoleExpiryEntry[];
  /** The Director's per-vehicle roles: each vehicle's copy is re-signed at half this lifetime. */
  readonly perVehicle: ReadonlyArray<{ readonly repository: 'director'; readonly role: string; readonly lifetimeSeconds: number; readonly online: true }>;
}

export interface AlertDelivery {
  readonly deliveryId: string;
  /** The webhook's scheme and host only: its path may hold a secret. */
  readonly webhook: string;
  readonly state: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly nextAttemptAt: string | null;
  readonly deliveredAt: string | null;
}

export interface AlertEntry {
  readonly id: number;
  readonly event: string;
  readonly raisedAt: string;
  readonly data: unknown;
  readonly deliveries: readonly AlertDelivery[];
}

export interface AlertList {
  /** Newest first. */
  readonly alerts: readonly AlertEntry[];
}

/**
 * POST /vehicles/:vin/offline-metadata: the vehicle's Director metadata as it would fetch it now, for
 * an offline bundle (docs/decisions.md "Offline updates"), each file base64 by the name the vehicle
 * asks for it (`1.root.json` ... `timestamp.json`, `[N.]snapshot.json`, `[N.]targets.json`).
 */
export interface OfflineMetadataExport {
  readonly vin: string;
  readonly exportedAt: string;
  readonly files: Readonly<Record<string, string>>;
  /**
   * Signed URLs for the vehicle's assigned images and a grant for the Image repository's metadata,
   * as the vehicle itself would get them (docs/signed-urls.md), when the Director has a URL-signing
   * key: the exporter reads an Image repository that serves only to credentials with them.
   */
  readonly imageAccess?: {
    readonly expiresIn: number;
    readonly expires: string;
    readonly metadata: { readonly prefix: string; readonly query: string };
    readonly images: Readonly<Record<string, string>>;
  };
}

// --- The routes ----------------------------------------------------------------------------------

/**
 * Every route, `METHOD /path` under OPERATOR_API_PREFIX with `:name` for one path segment, with its
 * body (a Uint8Array for raw bytes), query and answer.
 */
export interface OperatorApi {
  'GET /online-keys': { answer: OnlineKeys };
  'POST /online-keys/rotate': { body: OnlineKeyRotationBody; answer: OnlineKeyRotation };
  'PUT /metadata/root': { body: Uint8Array; answer: RootAccepted };
  'POST /vehicles': { body: VehicleRegistrationBody; answer: VehicleStatus };
  'GET /vehicles': { query: { readonly limit?: number; readonly after?: string; readonly state?: FleetState; readonly q?: string }; answer: VehicleList };
  'GET /vehicles/:vin/manifests': { query: { readonly limit?: number; readonly before?: number }; answer: VehicleManifests };
  'GET /fleet/overview': { answer: FleetOverview };
  'GET /attacks': { query: { readonly limit?: number; readonly before?: number; readonly vin?: string }; answer: AttackList };
  'GET /images': { query: { readonly limit?: number; readonly after?: string }; answer: ImageList };
  /** Server-Sent Events (text/event-stream), not JSON: manifest, attack, campaign and assignment events. */
  'GET /events': { answer: never };
  'GET /vehicles/:vin': { answer: VehicleStatus };
  /** Read-only, though a POST: the lists would not fit a query string. */
  'POST /inventory/lookup': { body: InventoryLookupBody; answer: RegisteredIdentities };
  'POST /vehicles/:vin/ecus/:serial/replace': { body: EcuBody; answer: VehicleStatus };
  /** Changes one ECU's security profile; audited (set_ecu_profile). */
  'PUT /vehicles/:vin/ecus/:serial/profile': { body: EcuProfileBody; answer: VehicleStatus };
  'PATCH /vehicles/:vin/attributes': { body: VehicleAttributesBody; answer: VehicleStatus };
  /** A POST: it puts the vehicle's pending assignments in flight and is audit-logged. */
  'POST /vehicles/:vin/offline-metadata': { answer: OfflineMetadataExport };
  'POST /assignments': { body: AssignmentBody; answer: AssignmentsCreated | AssignmentPlan };
  'DELETE /assignments/:id': { answer: Assignment };
  /** Several ECUs of one vehicle, all or none (docs/decisions.md "Install bundles"). */
  'POST /install-bundles': { body: InstallBundleBody; answer: InstallBundleView };
  'GET /install-bundles/:id': { answer: InstallBundleView };
  'GET /audit': { query: { readonly limit?: number; readonly before?: number; readonly actor?: string; readonly action?: string }; answer: AuditLog };
  'POST /groups': { body: GroupBody; answer: GroupCreated };
  'GET /groups': { answer: GroupList };
  'GET /groups/:name': { answer: GroupMembers };
  /** With `dryRun: true` the answer is a CampaignDryRun and nothing is created. */
  'POST /campaigns': { body: CampaignBody & { readonly dryRun?: boolean }; answer: CampaignStatus | CampaignDryRun };
  'GET /campaigns': { answer: CampaignList };
  'GET /campaigns/:campaign': { query: { readonly vins?: number }; answer: CampaignStatus };
  'GET /campaigns/:campaign/vehicles': {
    query: { readonly stage?: number; readonly outcome?: CampaignVehicleOutcome; readonly after?: string; readonly limit?: number };
    answer: CampaignVehiclePage;
  };
  /** Mounted before the :action route, which would otherwise take `retry` for an action. */
  'POST /campaigns/:campaign/retry': { body: CampaignRetryBody; answer: CampaignRetry };
  'POST /campaigns/:campaign/:action': { answer: CampaignStatus };
  'GET /repositories/health': { answer: RepositoryHealth };
  'GET /alerts': { query: { readonly limit?: number }; answer: AlertList };
}

export type OperatorRoute = keyof OperatorApi;
export type OperatorAnswer<R extends OperatorRoute> = OperatorApi[R]['answer'];
export type OperatorBody<R extends OperatorRoute> = OperatorApi[R] extends { body: infer B } ? B : undefined;
export type OperatorQuery<R extends OperatorRoute> = OperatorApi[R] extends { query: infer Q } ? Q : undefined;

/** The `:name` segments of a route's path, each a string. */
export type OperatorPathParams<R extends string> = R extends `${string}:${infer Name}/${infer Rest}`
  ? { readonly [K in Name]: string } & OperatorPathParams<Rest>
  : R extends `${string}:${infer Name}`
    ? { readonly [K in Name]: string }
    : Record<never, never>;

/** What a client gives for one request of `R`: its path parameters, its body and its query, as the route has them. */
export type OperatorRequest<R extends OperatorRoute> = (keyof OperatorPathParams<R> extends never ? { readonly params?: never } : { readonly params: OperatorPathParams<R> }) &
  (OperatorBody<R> extends undefined ? { readonly body?: never } : { readonly body: OperatorBody<R> }) &
  (OperatorQuery<R> extends undefined ? { readonly query?: never } : { readonly query?: OperatorQuery<R> });

/**
 * Fields every answer of a route has: a client checks them before trusting the shape (the Director
 * is ours; this only tells a client that reached something else). A dry-run assignment answers
 * `plan` instead of `assignments`, so that route's check is the client's own.
 */
const CAMPAIGN_STATUS_FIELDS = ['id', 'name', 'state', 'stage', 'stages', 'perStage', 'waiting', 'failureReasons', 'history'];

export const ANSWER_FIELDS: { readonly [R in OperatorRoute]: readonly string[] } = {
  'GET /online-keys': ['targets', 'snapshot', 'timestamp'],
  'POST /online-keys/rotate': ['pending', 'current'],
  'PUT /metadata/root': ['version'],
  'POST /vehicles': ['vin', 'ecus'],
  'GET /vehicles': ['total', 'vehicles'],
  'GET /vehicles/:vin/manifests': ['vin', 'manifests', 'attacks'],
  'GET /fleet/overview': ['vehicles', 'attacks', 'refusedManifests', 'history'],
  'GET /attacks': ['attacks'],
  'GET /images': ['images', 'total'],
  'GET /events': [],
  'GET /vehicles/:vin': ['vin', 'ecus', 'assignments', 'attacks', 'manifests'],
  'POST /inventory/lookup': ['vins', 'ecus'],
  'POST /vehicles/:vin/ecus/:serial/replace': ['vin', 'ecus'],
  'PUT /vehicles/:vin/ecus/:serial/profile': ['vin', 'ecus'],
  'PATCH /vehicles/:vin/attributes': ['vin', 'ecus'],
  'POST /vehicles/:vin/offline-metadata': ['vin', 'exportedAt', 'files'],
  'POST /assignments': [],
  'DELETE /assignments/:id': ['id', 'state'],
  'POST /install-bundles': ['id', 'vin', 'state', 'members'],
  'GET /install-bundles/:id': ['id', 'vin', 'state', 'members'],
  'GET /audit': ['entries'],
  'POST /groups': ['name', 'members'],
  'GET /groups': ['groups'],
  'GET /groups/:name': ['members'],
  // A dry run answers CampaignDryRun instead: that request's check is the client's own.
  'POST /campaigns': CAMPAIGN_STATUS_FIELDS,
  'GET /campaigns': ['campaigns'],
  'GET /campaigns/:campaign': CAMPAIGN_STATUS_FIELDS,
  'GET /campaigns/:campaign/vehicles': ['campaign', 'total', 'vehicles', 'next'],
  'POST /campaigns/:campaign/retry': ['retried', 'notRetried', 'remaining', 'status'],
  'POST /campaigns/:campaign/:action': CAMPAIGN_STATUS_FIELDS,
  'GET /repositories/health': ['warningDays', 'roles'],
  'GET /alerts': ['alerts'],
};

/** The URL path of `route` under OPERATOR_API_PREFIX, each parameter percent-encoded, and the query. */
export function operatorPath<R extends OperatorRoute>(route: R, params: OperatorPathParams<R>, query?: Readonly<Record<string, string | number | undefined>>): string {
  const path = route
    .slice(route.indexOf(' ') + 1)
    .replace(/:(\w+)/g, (_all, name: string) => encodeURIComponent((params as Readonly<Record<string, string>>)[name]!));
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined) search.set(name, String(value));
  const text = search.toString();
  return `${OPERATOR_API_PREFIX}${path}${text === '' ? '' : `?${text}`}`;
}
