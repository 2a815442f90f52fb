// The Director service: the inventory (vehicles, ECUs, keys), assignments of images to ECUs, the
// vehicles' manifests, and its own offline-signed root. Routes in app.ts are thin; decisions live
// here, SQL in storage.ts, per-vehicle signing in vehicle-metadata.ts.
import type { Clock } from '../shared/core/clock.js';
import { nodeBackend } from '../shared/core/crypto/ed25519.js';
import { PublicKey } from '../shared/core/crypto/keys.js';
import {
  AuthenticationError,
  BadRequestError,
  ConflictError,
  ExpiredMetadataError,
  ImageRollbackError,
  IncompatibleImageError,
  NotFoundError,
  RepositoryStateError,
  UnmetThresholdError,
  UptaneError,
} from '../shared/core/errors.js';
import { parseVehicleVersionManifest } from '../shared/uptane/manifest.js';
import type { RootSigned } from '../shared/core/metadata/types.js';
import { isExpired, TrustedMetadataSet } from '../shared/core/trusted-metadata-set.js';
import { checkVehicleRequestBody, NonceCache, parseVehicleAuth, verifyVehicleRequestHeaders, type RequestToSign } from '../shared/uptane/vehicle-auth.js';
import { GroupCommit } from './group-commit.js';
import { SqliteSignedRequestMarks } from './signed-request-marks.js';
import type { ImageCatalog } from './image-catalog.js';
import { checkManifest, DEFAULT_MANIFEST_CHECK_CONFIG, type ManifestCheckConfig } from './manifest-checks.js';
import { redeliverLostImage } from './slot-redelivery.js';
import type { AssignmentRecord, DirectorStorage, EcuRecord, NewAssignment } from './storage.js';
import type { DirectorOnlineKeys, VehicleMetadataSigner } from './vehicle-metadata.js';
import { isSessionRoute, VehicleSessionTokens } from './vehicle-sessions.js';

export interface EcuRegistration {
  readonly serial: string;
  readonly hardwareId: string;
  /** Ed25519 public key, hex. */
  readonly publicKey: string;
  readonly primary: boolean;
}

export interface VehicleRegistration {
  readonly vin: string;
  readonly attributes?: Readonly<Record<string, string>>;
  readonly ecus: readonly EcuRegistration[];
}

export interface AssignmentRequest {
  readonly vins: readonly string[];
  /** Image filename as the Image repository lists it. */
  readonly image: string;
  /** Which ECU: by serial (one vehicle), or every ECU with this hardware id in each vehicle. */
  readonly ecuSerial?: string;
  readonly hardwareId?: string;
}

/** A vehicle request's credential as its headers show it (Director.authenticateVehicleHeaders). */
export interface VehicleCredential {
  /** The vehicle the credential names; proven only once `complete` returned. */
  readonly vin: string;
  /** Checks what needs the body (a signed request's signature over it); returns the VIN or throws AuthenticationError. */
  complete(body: Uint8Array | undefined): string;
}

export interface PlannedAssignment extends NewAssignment {
  readonly installed: string | null;
}

const VIN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const SERIAL_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const REPOSITORY = 'director';
const MAX_REMEMBERED_PRIMARY_KEYS = 1_000_000;

export interface DirectorOptions {
  readonly storage: DirectorStorage;
  readonly signer: VehicleMetadataSigner;
  readonly images: ImageCatalog;
  readonly onlineKeys: DirectorOnlineKeys;
  readonly clock: Clock;
  readonly manifestChecks?: ManifestCheckConfig;
  /** Accepted clock skew of a vehicle's signed request. */
  readonly requestSkewMs?: number;
  /** Most signed-request nonces remembered per primary ECU key (NonceCache; tests set it small). */
  readonly maxSignedNoncesPerKey?: number;
  /** Largest number of VINs one assignment request may name. */
  readonly maxVinsPerAssignment?: number;
}

/** An image already looked up in the Image repository, for the campaign engine's synchronous assigning. */
export interface ResolvedImage {
  readonly hardwareId: string;
  readonly filename: string;
  readonly target: Awaited<ReturnType<ImageCatalog['findImage']>>;
}

export class Director {
  private readonly storage: DirectorStorage;
  private readonly clock: Clock;
  private readonly nonces: NonceCache;
  private readonly requestSkewMs: number;
  private readonly sessions = new VehicleSessionTokens();
  /** primaryVinOf's memory: keyid to VIN (null: no primary ECU has it). */
  private readonly primaryKeys = new Map<string, string | null>();

  constructor(private readonly options: DirectorOptions) {
    this.storage = options.storage;
    this.clock = options.clock;
    this.requestSkewMs = options.requestSkewMs ?? 5 * 60 * 1000;
    // Per key, and with each key's newest accepted time in the database: no vehicle can crowd out
    // another's signed requests, and a restart forgets no replay (docs/threat-model.md HR-5, HR-9a).
    this.nonces = new NonceCache(this.requestSkewMs, { maxNoncesPerKey: options.maxSignedNoncesPerKey, marks: new SqliteSignedRequestMarks(options.storage.db) });
    this.manifestCommits = new GroupCommit(options.storage.db);
  }

  // -------------------------------------------------------------------------------------------
  // Vehicle authentication: the VIN comes from the key that signed the request, never the request.

  /**
   * The VIN of the vehicle whose primary ECU signed this request (Uptane-Ed25519 header), or that
   * holds this session token (Bearer, issued by `issueSession`). Either way the VIN comes from the
   * credential, never from the URL or the body (DESIGN.md "Servers"; test-catalogue.md L4, goal 19).
   */
  authenticateVehicle(authorization: string | undefined, request: RequestToSign): string {
    return this.authenticateVehicleHeaders(authorization, request).complete(request.body);
  }

  /**
   * What a vehicle request's headers prove before its body is read: a session token, or a signed
   * request (registered primary ECU key, time, signature over the body digest the header names,
   * nonce); `complete` then checks the body against that digest. Throws AuthenticationError for
   * anything else, so a request without valid credentials is refused before any byte of its body
   * is read (docs/threat-model.md HR-3).
   */
  authenticateVehicleHeaders(authorization: string | undefined, request: { method: string; path: string }): VehicleCredential {
    const claims = parseVehicleAuth(authorization);
    if (claims === undefined) {
      const vin = this.vinForSession(authorization, request);
      return { vin, complete: () => vin };
    }
    const ecu = this.storage.ecuByKeyid(claims.keyid);
    if (ecu === undefined || !ecu.isPrimary) throw new AuthenticationError('the signing key is not a registered primary ECU key');
    // The header names the body's digest: time, signature and nonce are all checked before any
    // byte of the body is read; the body must then be the one signed.
    verifyVehicleRequestHeaders(claims, request, PublicKey.fromHex(ecu.publicKey), {
      now: this.clock.now(),
      maxSkewMs: this.requestSkewMs,
      nonces: this.nonces,
      backend: nodeBackend,
    });
    return {
      vin: ecu.vin,
      complete: (body) => {
        checkVehicleRequestBody(claims, body);
        return ecu.vin;
      },
    };
  }

  /**
   * A short-lived bearer token for `vin`, so a polling vehicle's requests need no signature each.
   * Stateless (vehicle-sessions.ts): it names the vehicle's primary ECU key, and ends with it.
   * `expiresIn` (seconds) lets the vehicle time the token by its own clock, whatever its skew.
   */
  issueSession(vin: string, lifetimeMs = 15 * 60 * 1000): { token: string; expires: string; expiresIn: number } {
    const primary = this.storage.ecusOf(vin).find((ecu) => ecu.isPrimary);
    if (primary === undefined) throw new NotFoundError(`no vehicle ${vin}`, { repository: REPOSITORY });
    const expires = this.clock.now().getTime() + lifetimeMs;
    const token = this.sessions.issue({ vin, keyid: primary.keyid, expires });
    return { token, expires: new Date(expires).toISOString(), expiresIn: Math.floor(lifetimeMs / 1000) };
  }

  private vinForSession(authorization: string | undefined, request: { method: string; path: string }): string {
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    if (token === undefined) throw new AuthenticationError('sign the request with the primary ECU key (Uptane-Ed25519) or use a current session token (Bearer)');
    // A token opens only what a vehicle polls: its metadata and its manifest. Above all it cannot
    // open a new session, so only the primary ECU key extends access and a stolen token dies at
    // its expiry (test-catalogue.md L10: expired tokens are refused, the device re-authenticates).
    if (!isSessionRoute(request)) throw new AuthenticationError(`a session token is not accepted for ${request.method} ${request.path}: sign the request with the primary ECU key (Uptane-Ed25519)`);
    const claims = this.sessions.verify(token, this.clock.now().getTime());
    // The session ends with the key that opened it: once an operator replaced the primary ECU
    // (replaceEcu), its earlier tokens are refused.
    if (this.primaryVinOf(claims.keyid) !== claims.vin) {
      throw new AuthenticationError('the primary ECU key this session was opened with is no longer registered: open a new session with the current key');
    }
    return claims.vin;
  }

  /**
   * The VIN whose primary ECU holds the key `keyid`, or null; remembered until an ECU changes in
   * this Director (registration, replacement). Asked on every session request: the database read it
   * saves was a tenth of a metadata GET (bench figure 2).
   */
  private primaryVinOf(keyid: string): string | null {
    let vin = this.primaryKeys.get(keyid);
    if (vin === undefined) {
      const ecu = this.storage.ecuByKeyid(keyid);
      vin = ecu !== undefined && ecu.isPrimary ? ecu.vin : null;
      if (this.primaryKeys.size >= MAX_REMEMBERED_PRIMARY_KEYS) this.primaryKeys.clear();
      this.primaryKeys.set(keyid, vin);
    }
    return vin;
  }

  // -------------------------------------------------------------------------------------------
  // Inventory.

  registerVehicle(registration: VehicleRegistration, actor: string): void {
    const now = this.clock.now();
    const ctx = { repository: REPOSITORY };
    if (!VIN_PATTERN.test(registration.vin)) throw new BadRequestError(`VIN ${JSON.stringify(registration.vin)} must be 1-64 letters, digits, _ or -`, ctx);
    if (registration.ecus.filter((e) => e.primary).length !== 1) throw new BadRequestError('a vehicle has exactly one primary ECU', ctx);
    if (registration.ecus.length > 64) throw new BadRequestError('at most 64 ECUs per vehicle', ctx);
    const keys = registration.ecus.map((ecu) => {
      if (!SERIAL_PATTERN.test(ecu.serial)) throw new BadRequestError(`ECU serial ${JSON.stringify(ecu.serial)} is not valid`, ctx);
      if (!SERIAL_PATTERN.test(ecu.hardwareId)) throw new BadRequestError(`hardware id ${JSON.stringify(ecu.hardwareId)} is not valid`, ctx);
      let key: PublicKey;
      try {
        key = PublicKey.fromHex(ecu.publicKey);
      } catch (err) {
        if (err instanceof UptaneError) throw new BadRequestError(`ECU ${ecu.serial}: ${err.message}`, ctx);
        throw err;
      }
      // A key no signature verifies under would leave the ECU unable to report, or the vehicle to
      // authenticate, ever (docs/threat-model.md HR-9e).
      return key.assertUsable(`ECU ${ecu.serial}`);
    });
    if (new Set(registration.ecus.map((e) => e.serial)).size !== registration.ecus.length) throw new BadRequestError('ECU serials repeat', ctx);
    if (new Set(keys.map((k) => k.keyid)).size !== keys.length) throw new BadRequestError('two ECUs share a key: every ECU has its own', ctx);
    this.storage.transaction(() => {
      if (this.storage.vehicle(registration.vin) !== undefined) throw new ConflictError(`vehicle ${registration.vin} is already registered`, ctx);
      registration.ecus.forEach((ecu, i) => {
        if (this.storage.ecu(ecu.serial) !== undefined) throw new ConflictError(`ECU ${ecu.serial} is already registered`, ctx);
        if (this.storage.ecuByKeyid(keys[i]!.keyid) !== undefined) throw new ConflictError(`ECU ${ecu.serial}'s key is already registered to another ECU`, ctx);
      });
      this.storage.insertVehicle(registration.vin, registration.attributes ?? {}, now);
      registration.ecus.forEach((ecu, i) =>
        this.storage.insertEcu({ serial: ecu.serial, vin: registration.vin, hardwareId: ecu.hardwareId, publicKey: keys[i]!.tuf.keyval.public, keyid: keys[i]!.keyid, isPrimary: ecu.primary }, now),
      );
      // Nothing is signed yet: the vehicle's metadata is signed on its first read (vehicle-metadata.ts).
      this.primaryKeys.clear();
      this.storage.audit(actor, 'register_vehicle', { vin: registration.vin, ecus: registration.ecus.map((e) => e.serial) }, now);
    });
  }

  /**
   * Replaces an ECU (new serial and key) by explicit operator action: a new key must never appear
   * in a manifest without this (uptane-requirements.md 9.4, "replacing ECUs").
   */
  replaceEcu(vin: string, oldSerial: string, replacement: Omit<EcuRegistration, 'primary'>, actor: string): void {
    const now = this.clock.now();
    const ctx = { repository: REPOSITORY };
    // The same rules as registration: a replacement must not bring in a serial or hardware id a
    // registration would refuse.
    if (!SERIAL_PATTERN.test(replacement.serial)) throw new BadRequestError(`ECU serial ${JSON.stringify(replacement.serial)} is not valid`, ctx);
    if (!SERIAL_PATTERN.test(replacement.hardwareId)) throw new BadRequestError(`hardware id ${JSON.stringify(replacement.hardwareId)} is not valid`, ctx);
    const key = PublicKey.fromHex(replacement.publicKey).assertUsable(`ECU ${replacement.serial}`);
    this.storage.transaction(() => {
      const old = this.storage.ecu(oldSerial);
      if (old === undefined || old.vin !== vin) throw new NotFoundError(`vehicle ${vin} has no ECU ${oldSerial}`, ctx);
      if (replacement.serial !== oldSerial && this.storage.ecu(replacement.serial) !== undefined) throw new ConflictError(`ECU ${replacement.serial} is already registered`, ctx);
      if (this.storage.ecuByKeyid(key.keyid) !== undefined) throw new ConflictError('that key is already registered to an ECU', ctx);
      for (const a of this.storage.activeAssignments(vin).filter((x) => x.ecuSerial === oldSerial)) {
        this.storage.setAssignmentState(a.id, 'cancelled', 'ECU replaced', now);
      }
      this.storage.deleteEcu(oldSerial);
      this.storage.insertEcu({ serial: replacement.serial, vin, hardwareId: replacement.hardwareId, publicKey: key.tuf.keyval.public, keyid: key.keyid, isPrimary: old.isPrimary }, now);
      // Sessions end with the key that opened them (vinForSession).
      this.primaryKeys.clear();
      this.options.signer.invalidate(vin);
      this.storage.audit(actor, 'replace_ecu', { vin, oldSerial, newSerial: replacement.serial, keyid: key.keyid }, now);
    });
  }

  vehicleStatus(vin: string) {
    const vehicle = this.storage.vehicle(vin);
    if (vehicle === undefined) throw new NotFoundError(`no vehicle ${vin}`, { repository: REPOSITORY });
    const active = this.storage.activeAssignments(vin);
    return {
      ...vehicle,
      lastManifestAt: this.storage.lastManifestTime(vin),
      ecus: this.storage.ecusOf(vin).map((ecu) => ({
        serial: ecu.serial,
        hardwareId: ecu.hardwareId,
        primary: ecu.isPrimary,
        keyid: ecu.keyid,
        installed: ecu.installed,
        reportedAt: ecu.reportedAt,
        pending: active.find((a) => a.ecuSerial === ecu.serial) ?? null,
      })),
      assignments: this.storage.assignmentsOf(vin, 50),
      attacks: this.storage.attacksOf(vin, 50),
      manifests: this.storage.manifestsOf(vin, 20),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Assignments.

  /**
   * Works out which ECU of which vehicle would get what, after checking that the image exists in the
   * Image repository, fits the ECU's hardware id, and does not lower its release counter.
   */
  async planAssignments(request: AssignmentRequest): Promise<PlannedAssignment[]> {
    const ctx = { repository: REPOSITORY };
    const max = this.options.maxVinsPerAssignment ?? 100_000;
    if (request.vins.length === 0 || request.vins.length > max) throw new BadRequestError(`name 1 to ${max} VINs`, ctx);
    if ((request.ecuSerial === undefined) === (request.hardwareId === undefined)) throw new BadRequestError('name either ecuSerial or hardwareId', ctx);
    if (request.ecuSerial !== undefined && request.vins.length !== 1) throw new BadRequestError('ecuSerial applies to one vehicle; use hardwareId for many', ctx);
    const plans: PlannedAssignment[] = [];
    const imagesByHardware = new Map<string, Awaited<ReturnType<ImageCatalog['findImage']>>>();
    for (const vin of request.vins) {
      const ecus = this.storage.ecusOf(vin);
      if (ecus.length === 0) throw new NotFoundError(`no vehicle ${vin}`, ctx);
      const chosen = ecus.filter((e) => (request.ecuSerial !== undefined ? e.serial === request.ecuSerial : e.hardwareId === request.hardwareId));
      if (chosen.length === 0) throw new NotFoundError(`vehicle ${vin} has no ECU ${request.ecuSerial ?? `with hardware id ${request.hardwareId}`}`, ctx);
      for (const ecu of chosen) {
        let image = imagesByHardware.get(ecu.hardwareId);
        if (image === undefined) {
          image = await this.options.images.findImage(request.image, ecu.hardwareId);
          imagesByHardware.set(ecu.hardwareId, image);
        }
        plans.push(this.planOne(vin, ecu, request.image, image));
      }
    }
    return plans;
  }

  private planOne(vin: string, ecu: EcuRecord, filename: string, image: Awaited<ReturnType<ImageCatalog['findImage']>>): PlannedAssignment {
    const ctx = { repository: REPOSITORY, role: ecu.serial };
    const hardwareIds = image.custom?.hardwareIds ?? [];
    if (!hardwareIds.includes(ecu.hardwareId)) {
      throw new IncompatibleImageError(`${filename} is for hardware ${hardwareIds.join(', ') || '(none listed)'}, not ${ecu.hardwareId} (ECU ${ecu.serial} of ${vin})`, ctx);
    }
    const releaseCounter = image.custom?.releaseCounter ?? 0;
    const installedCounter = ecu.installed?.releaseCounter ?? null;
    if (installedCounter !== null && releaseCounter < installedCounter) {
      throw new ImageRollbackError(`${filename} has release counter ${releaseCounter}, below ${installedCounter} installed on ECU ${ecu.serial} of ${vin}`, ctx);
    }
    return { vin, ecuSerial: ecu.serial, filename, length: image.length, hashes: image.hashes, hardwareId: ecu.hardwareId, releaseCounter, installed: ecu.installed?.filename ?? null };
  }

  /** Plans, then stores every assignment and marks each vehicle's targets for re-signing, all in one transaction. */
  async assign(request: AssignmentRequest, actor: string): Promise<AssignmentRecord[]> {
    const plans = await this.planAssignments(request);
    const now = this.clock.now();
    return this.storage.transaction(() => {
      const ids: number[] = [];
      for (const plan of plans) {
        const active = this.storage.activeAssignments(plan.vin).find((a) => a.ecuSerial === plan.ecuSerial);
        if (active !== undefined) {
          throw new ConflictError(`ECU ${plan.ecuSerial} of ${plan.vin} already has ${active.state} assignment ${active.id} (${active.filename}); cancel it first`, { repository: REPOSITORY });
        }
        ids.push(this.storage.insertAssignment(plan, actor, now));
      }
      for (const vin of new Set(plans.map((p) => p.vin))) this.options.signer.invalidate(vin);
      this.storage.audit(actor, 'assign', { image: request.image, vins: request.vins.length, ecus: plans.length, ids }, now);
      return ids.map((id) => this.storage.assignment(id)!);
    });
  }

  /** Accepted and rejected manifests are recorded in shared commits (receiveManifest). */
  private readonly manifestCommits: GroupCommit;

  /** Listeners told (after the manifest's commit) that a vehicle's manifest was accepted. */
  private readonly manifestListeners: Array<(vin: string) => void> = [];

  onManifestAccepted(listener: (vin: string) => void): void {
    this.manifestListeners.push(listener);
  }

  /** Looks up each image once in the Image repository, for every hardware id it will go to. */
  async resolveImages(images: ReadonlyArray<{ hardwareId: string; image: string }>): Promise<ResolvedImage[]> {
    const resolved: ResolvedImage[] = [];
    for (const { hardwareId, image } of images) resolved.push({ hardwareId, filename: image, target: await this.options.images.findImage(image, hardwareId) });
    return resolved;
  }

  /**
   * Assigns resolved images to every ECU of `vin` whose hardware id they are for, with the same checks
   * as an operator's assignment; call inside a transaction. Returns how many were assigned, or why
   * the vehicle was skipped (no such ECU, incompatible, a lower release counter, already assigned).
   */
  assignResolved(vin: string, images: readonly ResolvedImage[], actor: string, campaignId: number): { assigned: number } | { skipped: string } {
    const now = this.clock.now();
    const ecus = this.storage.ecusOf(vin);
    const active = this.storage.activeAssignments(vin);
    const plans: PlannedAssignment[] = [];
    for (const image of images) {
      for (const ecu of ecus.filter((e) => e.hardwareId === image.hardwareId)) {
        if (active.some((a) => a.ecuSerial === ecu.serial)) return { skipped: `conflict: ECU ${ecu.serial} already has an active assignment` };
        if (ecu.installed?.filename === image.filename && ecu.installed.hashes.sha256 === image.target.hashes.sha256) continue; // already runs it
        try {
          plans.push(this.planOne(vin, ecu, image.filename, image.target));
        } catch (err) {
          if (err instanceof UptaneError) return { skipped: `${err.code}: ${err.message}` };
          throw err;
        }
      }
    }
    if (plans.length === 0) return { skipped: ecus.some((e) => images.some((i) => i.hardwareId === e.hardwareId)) ? 'already installed' : 'no ECU with a matching hardware id' };
    for (const plan of plans) this.storage.insertAssignment(plan, actor, now, campaignId);
    this.options.signer.invalidate(vin);
    return { assigned: plans.length };
  }

  /** Marks the vehicle's targets for re-signing after its assignments changed outside this class (campaign abort). */
  invalidateVehicleMetadata(vin: string): void {
    this.options.signer.invalidate(vin);
  }

  cancelAssignment(id: number, actor: string): AssignmentRecord {
    const now = this.clock.now();
    return this.storage.transaction(() => {
      const assignment = this.storage.assignment(id);
      if (assignment === undefined) throw new NotFoundError(`no assignment ${id}`, { repository: REPOSITORY });
      if (assignment.state !== 'pending' && assignment.state !== 'in_flight') {
        throw new ConflictError(`assignment ${id} is ${assignment.state}; only pending or in-flight assignments can be cancelled`, { repository: REPOSITORY });
      }
      this.storage.setAssignmentState(id, 'cancelled', `cancelled by ${actor}`, now);
      this.options.signer.invalidate(assignment.vin);
      this.storage.audit(actor, 'cancel_assignment', { id, vin: assignment.vin }, now);
      return this.storage.assignment(id)!;
    });
  }

  /**
   * Records an operator request the Director refused, with who tried and why (issue 4: rejections
   * are recorded), so the audit log shows refused attempts as well as changes.
   */
  recordRefusal(actor: string, request: string, error: { code: string; message: string }): void {
    this.storage.audit(actor, 'refused', { request, code: error.code, message: error.message }, this.clock.now());
  }

  // -------------------------------------------------------------------------------------------
  // Vehicle-facing.

  /** The vehicle's current signed metadata file; fetching targets puts pending assignments in flight. */
  vehicleMetadata(vin: string, fileName: string): Buffer | undefined {
    const root = /^(\d{1,15})\.root\.json$/.exec(fileName);
    if (root !== null) return this.storage.root(Number(root[1]))?.bytes;
    const match = /^(?:(\d{1,15})\.)?(timestamp|snapshot|targets)\.json$/.exec(fileName);
    if (match === null) return undefined;
    const role = match[2] as 'timestamp' | 'snapshot' | 'targets';
    if (role === 'timestamp' && match[1] !== undefined) return undefined;
    const file = this.options.signer.current(vin, role);
    if (match[1] !== undefined && Number(match[1]) !== file.version) return undefined;
    if (role === 'targets') this.storage.markInFlight(vin, this.clock.now());
    return file.bytes;
  }

  /**
   * Checks a vehicle version manifest (uptane-requirements.md 2, steps 1-4) and records it: accepted,
   * with installed images, counters, attacks and assignment outcomes; or rejected, with the reason,
   * and nothing else changed. Manifests arriving together share one commit (group-commit.ts); the
   * promise settles once this manifest's outcome is durable.
   */
  async receiveManifest(vin: string, body: Uint8Array): Promise<{ accepted: true; assignmentsChanged: number }> {
    const outcome = await this.manifestCommits.run(() => {
      const now = this.clock.now();
      try {
        // Checked inside the commit, after any earlier manifest of the same batch: its counters count.
        return { accepted: this.storage.transaction(() => this.applyManifest(vin, body, now)) };
      } catch (err) {
        if (!(err instanceof UptaneError)) throw err;
        // Rejected manifests are kept with their reason (issue 4), and nothing else changes: apart
        // from the accepted history, capped, and with a digest and an excerpt of the body rather
        // than the body (docs/threat-model.md HR-4).
        this.storage.recordRefusedManifest(vin, { code: err.code, message: err.message }, body, now);
        return { rejected: err };
      }
    });
    if ('rejected' in outcome) throw outcome.rejected;
    // After the commit: what listens (the campaign engine) can never undo an acknowledged manifest.
    for (const listener of this.manifestListeners) listener(vin);
    return outcome.accepted;
  }

  /** receiveManifest's checks and changes, inside a transaction; throws a typed error to reject. */
  private applyManifest(vin: string, body: Uint8Array, now: Date): { accepted: true; assignmentsChanged: number } {
    const manifest = parseVehicleVersionManifest(body, { repository: REPOSITORY });
    const reports = checkManifest(manifest, vin, this.storage.ecusOf(vin), now, nodeBackend, this.options.manifestChecks ?? DEFAULT_MANIFEST_CHECK_CONFIG);
    let changed = 0;
    // Whether this manifest tells anything new: its body is then kept as signed evidence.
    let news = false;
    const active = this.storage.activeAssignments(vin);
    for (const { ecu, report } of reports) {
      const image = report.installed_image;
      const assignment = active.find((a) => a.ecuSerial === ecu.serial);
      const installsAssignment = assignment !== undefined && assignment.filename === image.filename && assignment.hashes.sha256 === image.hashes.sha256;
      const sameAsBefore = ecu.installed !== null && ecu.installed.filename === image.filename && ecu.installed.hashes.sha256 === image.hashes.sha256;
      if (!sameAsBefore || report.attacks_detected.length > 0) news = true;
      const releaseCounter = installsAssignment ? assignment.releaseCounter : sameAsBefore ? ecu.installed!.releaseCounter : null;
      this.storage.recordEcuReport(ecu.serial, { counter: report.report_counter, filename: image.filename, length: image.length, hashes: image.hashes, releaseCounter }, now);
      for (const attack of report.attacks_detected) this.storage.recordAttack(vin, ecu.serial, attack.code, attack.message, now);
      if (assignment === undefined) {
        // An ECU that lost its installed image to a corrupted slot gets it again (docs/threat-model.md HR-11b).
        if (redeliverLostImage(this.storage, ecu, report, now)) changed++;
        continue;
      }
      if (installsAssignment) {
        this.storage.setAssignmentState(assignment.id, 'installed', null, now);
        changed++;
      } else if (report.last_install?.filename === assignment.filename && report.last_install.status !== 'installed') {
        const reason = [report.last_install.status, report.last_install.code, report.last_install.message].filter(Boolean).join(': ');
        this.storage.setAssignmentState(assignment.id, 'failed', reason, now);
        changed++;
      }
    }
    // A vehicle reports every cycle, mostly that nothing changed: those are recorded without their
    // body, which kept each commit several pages smaller (bench figure 1). What the body said is in
    // the ECU records (counters, installed images) either way.
    this.storage.recordManifest(vin, news || changed > 0 ? body : null, now);
    this.storage.setVehicleState(vin, manifest.signed.vehicle_state ?? null);
    if (changed > 0) this.options.signer.invalidate(vin);
    return { accepted: true as const, assignmentsChanged: changed };
  }

  // -------------------------------------------------------------------------------------------
  // The Director's own root: offline-signed, shared by every vehicle.

  /** Accepts root v1 (self-signed) or root N+1 checked exactly as a vehicle will check it. */
  submitRoot(bytes: Uint8Array, actor: string): { version: number } {
    const now = this.clock.now();
    const ctx = { repository: REPOSITORY, role: 'root' };
    const current = this.storage.latestRoot();
    let root: RootSigned;
    if (current === undefined) {
      root = new TrustedMetadataSet(bytes, now, { repository: REPOSITORY, backend: nodeBackend }).root.signed;
      if (root.version !== 1) throw new RepositoryStateError(`the first root must be version 1, got ${root.version}`, ctx);
    } else {
      root = new TrustedMetadataSet(current.bytes, now, { repository: REPOSITORY, backend: nodeBackend }).updateRoot(bytes).signed;
    }
    if (isExpired(root.expires, now)) throw new ExpiredMetadataError(`root expired at ${root.expires}`, ctx);
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
      if (!root.roles[role].keyids.includes(this.options.onlineKeys[role].keyid)) {
        throw new UnmetThresholdError(`root does not authorize this Director's online ${role} key ${this.options.onlineKeys[role].keyid}; see GET /api/v1/online-keys`, ctx);
      }
    }
    this.storage.transaction(() => {
      this.storage.insertRoot(root.version, bytes, now);
      this.storage.audit(actor, 'publish_root', { version: root.version }, now);
    });
    return { version: root.version };
  }

  /** The Director's online public keys, for the offline root (targets, snapshot, timestamp). */
  onlineKeysJson(): Record<'targets' | 'snapshot' | 'timestamp', { keyid: string; key: PublicKey['tuf'] }> {
    const entry = (role: 'targets' | 'snapshot' | 'timestamp') => ({ keyid: this.options.onlineKeys[role].keyid, key: this.options.onlineKeys[role].publicKey.tuf });
    return { targets: entry('targets'), snapshot: entry('snapshot'), timestamp: entry('timestamp') };
  }

  /** True once a root is published: vehicles cannot be served before. */
  hasRoot(): boolean {
    return this.storage.latestRoot() !== undefined;
  }

  latestRootVersion(): number | undefined {
    return this.storage.latestRoot()?.version;
  }
}
