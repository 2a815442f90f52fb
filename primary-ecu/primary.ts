// The primary ECU (docs/uptane-conformance.md 6): one update cycle is the seven primary steps of
// the Standard, each a named method. It verifies both repositories in full (#full_verification),
// downloads and verifies images, hands metadata and images to its secondaries, and installs its own
// image, never while the vehicle is driving. Attacks it detects go into its next version report; the
// previous trusted metadata and images stay in place.
import { createReadStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbSlots, signVersionReport, slotIntegrityError, type AbSlotsOptions, type IntegrityFault } from '../shared/ecu/ab-slots.js';
import type { Clock } from '../shared/core/clock.js';
import { nobleBackend, withVerificationCache, type Ed25519Backend } from '../shared/core/crypto/ed25519.js';
import { loadEncryptionKeyPair, loadPrivateKey, saveEncryptionKeyPair, savePrivateKey } from '../shared/files/key-files.js';
import type { EncryptionKeyPair } from '../shared/core/crypto/image-encryption.js';
import { ENCRYPTION_KEY_FILE, isEncrypted, stageEncryptedImage, unwrapTargetKey, type EncryptedEcuTarget } from '../shared/ecu/encrypted-image.js';
import { ecuPublicKey } from '../shared/core/crypto/ecu-keys.js';
import type { PrivateKey } from '../shared/core/crypto/keys.js';
import { ExpiredMetadataError, FetchError, InstallBundleReplayError, ManifestSignatureError, SecondaryError, UptaneError, VehicleDrivingError } from '../shared/core/errors.js';
import { HttpFetcher, type Fetcher } from '../shared/client/fetcher.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import {
  isSignedBy,
  MANIFEST_LIMITS,
  parseEcuVersionReport,
  signEnvelope,
  type EcuVersionReport,
  type InstallOutcome,
  type ReportedAttack,
  type VehicleVersionManifest,
} from '../shared/uptane/manifest.js';
import { FileMetadataStore } from '../shared/client/metadata-store.js';
import { formatExpires } from '../shared/core/metadata/parse.js';
import { roleFileName } from '../shared/core/metadata/paths.js';
import type { TargetsSigned } from '../shared/core/metadata/types.js';
import type { MetadataBundle, SecondaryTransport } from '../shared/ecu/secondary-protocol.js';
import { StagedMetadataStore } from '../shared/client/staged-metadata-store.js';
import { isExpired, ParsedMetadataMemo } from '../shared/core/trusted-metadata-set.js';
import { DEFAULT_UPDATER_CONFIG, localTargetPath, type UpdaterConfig } from '../shared/client/updater.js';
import { checkDirectorTargets, type EcuTarget } from '../shared/uptane/uptane-checks.js';
import { bundleMembers, parseInstallBundle, type InstallBundle } from '../shared/uptane/install-bundle.js';
import { BundleJournalFile, InstallBundleRunner, type BundleMember, type BundleResult } from './install-bundle-run.js';
import { channelMetadataSource, type DirectorChannel, type DirectorChannelFactory, type ManifestDelivery } from '../shared/uptane/director-channel.js';
import { httpDirectorChannel } from '../shared/uptane/director-channel-http.js';
import { DirectorClient } from '../shared/uptane/director-client.js';
import { ImageRepositoryClient } from '../shared/uptane/image-repository-client.js';
import { ImageAccess } from '../shared/uptane/image-access.js';
import { fullVerification } from '../shared/uptane/full-verification.js';
import { storedEcuProfile } from '../shared/uptane/profile-check.js';
import type { SecurityProfile } from '../shared/core/security-profile.js';
import type { VehicleStateSource } from '../shared/ecu/vehicle-state.js';
import { RootHistoryStore } from './root-history.js';
import { downloadEncryptedImage, isEncryptedImageCached } from './encrypted-download.js';
import { downloadImageByDelta, isDeltaApplicable, type DeltaTarget } from './delta-download.js';
import { DEFAULT_DELTA_MAX_IMAGE_BYTES } from '../shared/files/zstd-delta.js';
import { isSuitReceiver } from '../shared/suit/transport.js';
import { SuitBridge } from './suit-bridge.js';
import type { SuitRotationReport } from './suit-rotation.js';
import { ImageLogCheck, targetsRolesOnPath, type LoggedRoleFile } from './log-check.js';

/** The provisioned security profile of `serial` (the primary or one of its secondaries) in the primary's identity.json. */
function ecuProfile(directory: string, identity: PrimaryIdentity, serial: string): SecurityProfile {
  const stored = serial === identity.serial ? identity.securityProfile : identity.secondaries[serial]?.securityProfile;
  return storedEcuProfile(stored, `${join(directory, 'identity.json')} (ECU ${serial})`);
}

/** Manifests sent per cycle while the Director answers that it could not judge them (503, connection lost). */
const MANIFEST_DELIVERY_ATTEMPTS = 3;
/** Longest wait between two of them, whatever Retry-After says (the server is not trusted to hold a cycle up). */
const MANIFEST_RETRY_MAX_WAIT_MS = 5_000;

export interface PrimaryIdentity {
  readonly vin: string;
  readonly serial: string;
  readonly hardwareId: string;
  readonly directorUrl: string;
  readonly imageRepoUrl: string;
  /**
   * Serial -> hardware id and signing public key of every secondary, as provisioned (#check_targets
   * step 8, H5); the key in the Director's stored form (shared/core/crypto/ecu-keys.ts).
   */
  readonly secondaries: Readonly<Record<string, { hardwareId: string; publicKey: string; securityProfile?: SecurityProfile }>>;
  /**
   * This ECU's security profile (docs/security-profiles.md); with each secondary's, held against the
   * Image repository's minimum for every image. Absent in folders provisioned before profiles: standard.
   */
  readonly securityProfile?: SecurityProfile;
}

export interface PrimaryProvisioning extends PrimaryIdentity {
  readonly key: PrivateKey;
  /** X25519, for images the Director encrypts for this ECU; separate from the signing key. */
  readonly encryptionKey?: EncryptionKeyPair;
  readonly directorRoot: Uint8Array;
  readonly imageRoot: Uint8Array;
  readonly factoryImage: { filename: string; content: Buffer };
}

export interface PrimaryRuntime {
  readonly clock: Clock;
  readonly vehicleState: VehicleStateSource;
  /** Transports to the secondaries, by serial. */
  readonly secondaries: ReadonlyMap<string, SecondaryTransport>;
  readonly fetcher?: Fetcher;
  /** The link to the Director; HTTP through `fetcher` unless another transport is given. */
  readonly directorChannel?: DirectorChannelFactory;
  readonly backend?: Ed25519Backend;
  readonly updaterConfig?: Partial<UpdaterConfig>;
  readonly slots?: AbSlotsOptions;
  /** Progress lines for people watching (CLI, demo). */
  readonly log?: (line: string) => void;
  /** Bytes received so far of an image download (CLI progress). */
  readonly onDownloadProgress?: (filename: string, received: number, total: number) => void;
  /** The largest image a delta is taken for (applying holds about twice it in memory); 0 takes none. */
  readonly deltaMaxImageBytes?: number;
}

/** Verified work waiting for the vehicle to park (survives restarts). */
export interface PendingInstall {
  readonly targets: readonly EcuTarget[];
  readonly verifiedAt: string;
  /** The install bundle the Director signed for some of `targets`: those install all or none. */
  readonly bundle?: InstallBundle;
}

/** Install bundles this vehicle finished that it remembers, to refuse one offered again (docs/threat-model.md M31). */
const FINISHED_BUNDLES_KEPT = 32;

/** What primary state.json holds (read-only by `uptane vehicle status`, which must not open the ECU). */
export interface PrimaryState {
  readonly counter: number;
  readonly attacks: readonly ReportedAttack[];
  readonly pending: PendingInstall | null;
  /** Release counters of the images each ECU installed from verified metadata (#full_verification 10.2.3). */
  readonly releaseCounters: Readonly<Record<string, number>>;
  /** The latest version report each secondary sent, for status and "already installed" decisions. */
  readonly secondaryImages: Readonly<Record<string, { filename: string; sha256: string | undefined }>>;
  /** Ids of the install bundles finished here (committed or rolled back), newest last; absent before bundles. */
  readonly finishedBundles?: readonly string[];
}

export type CycleStatus = 'no-update' | 'installed' | 'deferred' | 'failed';

export interface CycleResult {
  readonly status: CycleStatus;
  readonly manifestSent: boolean;
  /** The typed error that ended the cycle early, if any. */
  readonly error?: { code: string; message: string };
  readonly outcomes: Readonly<Record<string, InstallOutcome>>;
}

export class Primary {
  private state: PrimaryState;
  private readonly backend: Ed25519Backend;
  private readonly channel: DirectorChannel;
  private readonly directorStore: RootHistoryStore;
  private readonly imageStore: RootHistoryStore;
  /**
   * What this cycle's clients verified, kept back until the whole cycle verified
   * (docs/uptane-conformance.md 6.4).
   */
  private readonly directorStaging: StagedMetadataStore;
  private readonly imageStaging: StagedMetadataStore;
  private readonly director: DirectorClient;
  private readonly image: ImageRepositoryClient;
  /** Signed URLs from the Director, for an Image repository that serves only to credentials (docs/signed-urls.md). */
  private readonly imageAccess: ImageAccess;
  /**
   * Parses of the stored metadata, shared by each repository's client and the install's checks of
   * the same files: the Image repository's targets file can list thousands of images, and parsing
   * it again for every read cost a third of an update cycle (bench/RESULTS.md, figure 7).
   */
  private readonly parsed = { director: new ParsedMetadataMemo(), image: new ParsedMetadataMemo() };
  /** Every ECU of the vehicle, serial -> hardware id, as provisioned. */
  private readonly ecus: ReadonlyMap<string, string>;
  /** Installs the members of an install bundle all or none, and finishes one a power cut interrupted. */
  private readonly bundles: InstallBundleRunner;
  /** Its constrained secondaries and SUIT key (docs/suit.md); undefined when it has none. */
  private suit: SuitBridge | undefined;
  /** The Image log it requires inclusion proofs from (primary-ecu/log-check.ts); undefined when provisioned without one. */
  private imageLog: ImageLogCheck | undefined;

  private constructor(
    readonly directory: string,
    readonly identity: PrimaryIdentity,
    private readonly key: PrivateKey,
    /** Undefined for an ECU provisioned before image encryption: it refuses encrypted images. */
    private readonly encryptionKey: EncryptionKeyPair | undefined,
    readonly slots: AbSlots,
    private readonly runtime: PrimaryRuntime,
  ) {
    // Repeated checks of unchanged metadata cost no signature verification (bench figure 3).
    this.backend = withVerificationCache(runtime.backend ?? nobleBackend);
    const fetcher = runtime.fetcher ?? new HttpFetcher();
    const openChannel = runtime.directorChannel ?? httpDirectorChannel({ fetcher });
    this.channel = openChannel({ directorUrl: identity.directorUrl, key, backend: this.backend, clock: runtime.clock, log: (line) => this.log(line) });
    this.imageAccess = new ImageAccess({ channel: this.channel, imageRepoUrl: identity.imageRepoUrl, clock: runtime.clock, log: (line) => this.log(line) });
    this.state = JSON.parse(readFileSync(join(directory, 'state.json'), 'utf8')) as PrimaryState;
    this.directorStore = new RootHistoryStore(new FileMetadataStore(join(directory, 'director')), join(directory, 'director-roots'));
    this.imageStore = new RootHistoryStore(new FileMetadataStore(join(directory, 'image')), join(directory, 'image-roots'));
    this.directorStaging = new StagedMetadataStore(this.directorStore);
    this.imageStaging = new StagedMetadataStore(this.imageStore);
    // Step 8 of #check_targets: every ECU the Director names is one of this vehicle's, as provisioned.
    const ecus = new Map<string, string>([[identity.serial, identity.hardwareId]]);
    for (const [serial, { hardwareId }] of Object.entries(identity.secondaries)) ecus.set(serial, hardwareId);
    this.ecus = ecus;
    this.bundles = new InstallBundleRunner(new BundleJournalFile(join(directory, 'install-bundle.json')), { log: (line) => this.log(line) });
    this.director = new DirectorClient({
      ...channelMetadataSource(this.channel),
      vehicle: { vin: identity.vin, ecus },
      store: this.directorStaging,
      clock: runtime.clock,
      backend: this.backend,
      config: runtime.updaterConfig,
      parsed: this.parsed.director,
    });
    this.image = new ImageRepositoryClient({
      metadataUrl: `${identity.imageRepoUrl}/metadata`,
      targetsUrl: `${identity.imageRepoUrl}/targets`,
      store: this.imageStaging,
      fetcher,
      readAccess: this.imageAccess,
      clock: runtime.clock,
      backend: this.backend,
      config: runtime.updaterConfig,
      parsed: this.parsed.image,
    });
  }

  static provision(directory: string, p: PrimaryProvisioning): void {
    mkdirSync(directory, { recursive: true });
    const identity: PrimaryIdentity = {
      vin: p.vin,
      serial: p.serial,
      hardwareId: p.hardwareId,
      directorUrl: p.directorUrl,
      imageRepoUrl: p.imageRepoUrl,
      secondaries: p.secondaries,
      ...(p.securityProfile === undefined ? {} : { securityProfile: p.securityProfile }),
    };
    writeFileAtomic(join(directory, 'identity.json'), Buffer.from(JSON.stringify(identity)));
    savePrivateKey(join(directory, 'ecu-key.pem'), p.key);
    if (p.encryptionKey !== undefined) saveEncryptionKeyPair(join(directory, ENCRYPTION_KEY_FILE), p.encryptionKey);
    new RootHistoryStore(new FileMetadataStore(join(directory, 'director')), join(directory, 'director-roots')).persist('root', p.directorRoot);
    new RootHistoryStore(new FileMetadataStore(join(directory, 'image')), join(directory, 'image-roots')).persist('root', p.imageRoot);
    AbSlots.provision(join(directory, 'slots'), p.factoryImage);
    mkdirSync(join(directory, 'images'), { recursive: true });
    const state: PrimaryState = { counter: 0, attacks: [], pending: null, releaseCounters: {}, secondaryImages: {} };
    writeFileAtomic(join(directory, 'state.json'), Buffer.from(JSON.stringify(state)));
  }

  static async open(directory: string, runtime: PrimaryRuntime): Promise<Primary> {
    const identity = JSON.parse(readFileSync(join(directory, 'identity.json'), 'utf8')) as PrimaryIdentity;
    // A damaged profile fails the open, not the first update that would be checked against it.
    for (const serial of [identity.serial, ...Object.keys(identity.secondaries)]) ecuProfile(directory, identity, serial);
    const key = loadPrivateKey(join(directory, 'ecu-key.pem'));
    const encryptionKeyPath = join(directory, ENCRYPTION_KEY_FILE);
    const encryptionKey = existsSync(encryptionKeyPath) ? loadEncryptionKeyPair(encryptionKeyPath) : undefined;
    const slots = await AbSlots.open(join(directory, 'slots'), runtime.slots);
    const primary = new Primary(directory, identity, key, encryptionKey, slots, runtime);
    primary.suit = await SuitBridge.open(directory);
    primary.imageLog = ImageLogCheck.open(directory, { imageRepoUrl: identity.imageRepoUrl, fetcher: runtime.fetcher ?? new HttpFetcher(), clock: runtime.clock, backend: primary.backend, log: (line) => primary.log(line) });
    // The image this ECU boots is re-verified, not taken on trust from its install (docs/threat-model.md HR-11b).
    await primary.checkSlotIntegrity();
    return primary;
  }

  /**
   * Re-hashes the active slot against the image recorded at install (`ifDue`: only when the
   * configured interval has passed since the last check) and recovers from a mismatch: the fault
   * goes into the next version report, as a detected failure and as its integrity_fault.
   */
  checkSlotIntegrity({ ifDue = false } = {}): Promise<IntegrityFault | null> {
    return this.slots.checkIntegrity(this.runtime.clock.now(), (fault) => this.recordAttack(slotIntegrityError(fault)), { ifDue, log: (line) => this.log(line), onFactoryCorrupted: (err) => this.recordAttack(err) });
  }

  get pending(): PendingInstall | null {
    return this.state.pending;
  }

  get reportedAttacks(): readonly ReportedAttack[] {
    return this.state.attacks;
  }

  private persist(next: PrimaryState): void {
    writeFileAtomic(join(this.directory, 'state.json'), Buffer.from(JSON.stringify(next)));
    this.state = next;
  }

  private log(line: string): void {
    this.runtime.log?.(`[${this.identity.vin}] ${line}`);
  }

  /**
   * What ended a cycle early, by the error's kind (as a secondary decides): an attack is recorded for
   * the next manifest (attacks_detected, which also halts campaigns); a fault (the network failing
   * plainly, this ECU's own storage) or a bug is only logged, and the next cycle retries. A refused
   * request also drops the Director session, so the next cycle opens a new one (the Director may
   * have restarted).
   */
  private recordFailure(err: UptaneError): void {
    if (err.kind === 'attack') {
      this.recordAttack(err);
      return;
    }
    if (err instanceof FetchError) this.channel.resetSession();
    this.log(`cycle failed (${err.kind === 'bug' ? 'programmer error' : 'fault'}, not an attack): ${err.code}: ${err.message}`);
  }

  private recordAttack(err: UptaneError): void {
    const attack = { code: err.code, message: `${err.repository ?? ''}${err.role === undefined ? '' : ` ${err.role}`}: ${err.message}`.trim().slice(0, MANIFEST_LIMITS.maxTextLength) };
    this.persist({ ...this.state, attacks: [...this.state.attacks, attack].slice(-MANIFEST_LIMITS.maxAttacks) });
    this.log(`detected: ${err.code}: ${err.message}`);
  }

  // -------------------------------------------------------------------------------------------
  // The update cycle.

  /** Rotates the vehicle's SUIT key across its constrained ECUs (primary-ecu/suit-rotation.ts). */
  async rotateSuitKey(): Promise<SuitRotationReport> {
    if (this.suit === undefined) throw new SecondaryError(`primary ${this.identity.serial} has no constrained ECUs, so no SUIT key to rotate`);
    return this.suit.rotateKey(this.runtime.secondaries, { log: (line) => this.log(line) });
  }

  /**
   * One update cycle: the seven primary steps (docs/uptane-conformance.md 6.1), then the install.
   */
  async runCycle(): Promise<CycleResult> {
    // An install bundle a power cut interrupted is finished first, so this cycle's manifest reports
    // every member as it ends: all on the new image or all on the previous one.
    const resumed = await this.finishInterruptedBundle();
    // A SUIT key rotation an unreachable ECU or a crash left unfinished goes on (docs/suit.md).
    await this.suit?.resumeRotation(this.runtime.secondaries, { log: (line) => this.log(line) });
    // Step 1 first opens or renews the Director session the cycle's Director requests use.
    const manifestSent = await this.sendVehicleVersionManifest();
    if (resumed?.status === 'unfinished') {
      // A member could not be reached to finish the bundle: no other install starts before it is.
      return { status: 'failed', manifestSent, error: { code: 'install_bundle_unfinished', message: 'an interrupted install bundle could not be finished yet; the next cycle tries again' }, outcomes: resumed.outcomes };
    }
    // Step 2: the updaters read the same clock; the time is also recorded with the pending install.
    const now = this.loadTime();
    let work: readonly EcuTarget[];
    try {
      work = await this.verifyMetadata();
      // Before anything is downloaded: the Image targets roles that found the images must be in the public log.
      if (work.length > 0) await this.requireImageTargetsLogged(work);
      let bundle: InstallBundle | undefined;
      ({ work, bundle } = this.installBundleOf(work, manifestSent));
      if (work.length > 0) await this.downloadAndVerifyImages(work);
      // Only now, with metadata and images verified, does what this cycle fetched become trusted: a
      // failure anywhere before leaves the previous trusted metadata byte for byte
      // (docs/uptane-conformance.md 6.4; docs/threat-model.md C11). Kept metadata from a failed
      // cycle (forged Director targets with a valid signature, another vehicle's metadata) would
      // otherwise be the rollback reference and freeze the vehicle.
      this.directorStaging.commit();
      this.imageStaging.commit();
      // What the Director says now replaces any pending work: an assignment cancelled or failed while
      // the install waited, or an install a power cut interrupted after it completed, must not be
      // installed (again) from a stale list. A re-install would even overwrite the fallback slot.
      this.persist({ ...this.state, pending: work.length === 0 ? null : { targets: work, verifiedAt: formatExpires(now), ...(bundle === undefined ? {} : { bundle }) } });
      if (work.length === 0) return { status: 'no-update', manifestSent, outcomes: {} };
    } catch (err) {
      this.directorStaging.discard();
      this.imageStaging.discard();
      if (!(err instanceof UptaneError)) throw err;
      this.recordFailure(err);
      return { status: 'failed', manifestSent, error: { code: err.code, message: err.message }, outcomes: {} };
    }
    return this.installPending(manifestSent);
  }

  /**
   * Primary step 1: collect every secondary's signed report, add its own, sign, send. A manifest the
   * Director could not judge (503, or the connection lost before an answer) is built again, with new
   * report counters, and sent again, up to MANIFEST_DELIVERY_ATTEMPTS times: the same bytes again
   * would reuse counters, which the Director refuses as replayed if the first had in fact been
   * committed before the answer was lost.
   */
  async sendVehicleVersionManifest(): Promise<boolean> {
    // The cycle's first Director request: the session it and the metadata requests use starts here.
    await this.channel.openSession();
    for (let attempt = 1; ; attempt++) {
      const { body, complete, attacksReported } = await this.signVehicleVersionManifest();
      let delivery: ManifestDelivery;
      try {
        delivery = await this.channel.sendManifest(body);
      } catch (err) {
        this.log(`could not send the manifest: ${(err as Error).message}`);
        return false;
      }
      if (delivery.accepted) {
        // The attacks this manifest reported reached the Director; until then they stay to be reported.
        // (Attacks recorded before were cleared when the report was built, so one refused or lost
        // manifest lost them, the H5 attack included.)
        this.persist({ ...this.state, attacks: this.state.attacks.slice(attacksReported) });
        return complete;
      }
      if (delivery.retryable === undefined || attempt >= MANIFEST_DELIVERY_ATTEMPTS) {
        this.log(`Director refused the manifest: ${delivery.refusal}`);
        return false;
      }
      const waitMs = Math.min(delivery.retryable.afterMs, MANIFEST_RETRY_MAX_WAIT_MS);
      this.log(`the manifest was not judged (${delivery.refusal.slice(0, 80)}); sending a new one in ${waitMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }

  /** The vehicle version manifest as sent: every report collected now, so each carries a new counter. */
  private async signVehicleVersionManifest(): Promise<{ body: Buffer; complete: boolean; attacksReported: number }> {
    const reports: Record<string, EcuVersionReport> = {};
    let complete = true;
    for (const [serial, secondary] of this.runtime.secondaries) {
      try {
        // H5: a report that is not one (corrupt, or flooded past the manifest limits), or that is not
        // signed by that secondary's provisioned key, is dropped and reported.
        const report = parseEcuVersionReport(await secondary.versionReport(), { role: serial });
        // Ed25519 hex or ECDSA base64 SPKI, as provisioned: the report verifies with that key's scheme only.
        const key = ecuPublicKey(this.identity.secondaries[serial]!.publicKey);
        if (report.signed.ecu_serial !== serial || !isSignedBy(report, key, this.backend)) {
          throw new ManifestSignatureError(`secondary ${serial} sent a version report not signed by its key`, { role: serial });
        }
        reports[serial] = report;
        const installed = report.signed.installed_image;
        this.persist({ ...this.state, secondaryImages: { ...this.state.secondaryImages, [serial]: { filename: installed.filename, sha256: installed.hashes.sha256 } } });
      } catch (err) {
        if (!(err instanceof UptaneError)) throw err;
        if (err.kind === 'attack') this.recordAttack(err);
        else this.log(`secondary ${serial}: no version report (${err.kind}): ${err.code}: ${err.message}`);
        complete = false;
      }
    }
    const own = await this.ownVersionReport();
    reports[this.identity.serial] = own;
    // H5: a dropped report makes the manifest incomplete, and the Director will refuse it; it is sent
    // anyway, so the Director records the refusal (which ECU is missing) and the operator sees it.
    if (!complete) this.log('vehicle version manifest incomplete: a secondary report was dropped; the Director will refuse it');
    const manifest: VehicleVersionManifest = signEnvelope(
      {
        _type: 'vehicle_version_manifest' as const,
        vin: this.identity.vin,
        primary_ecu_serial: this.identity.serial,
        ecu_version_reports: reports,
        vehicle_state: this.runtime.vehicleState.current(),
      },
      this.key,
      this.backend,
    );
    return { body: Buffer.from(JSON.stringify(manifest)), complete, attacksReported: own.signed.attacks_detected.length };
  }

  /** This ECU's own signed version report, with every attack not yet accepted by the Director. */
  private async ownVersionReport(): Promise<EcuVersionReport> {
    // Never report an image as installed that has not been re-verified within the configured interval.
    await this.checkSlotIntegrity({ ifDue: true });
    const counter = this.state.counter + 1;
    const attacks = this.state.attacks;
    this.persist({ ...this.state, counter });
    return signVersionReport(this.slots, { serial: this.identity.serial, key: this.key, backend: this.backend }, { counter, attacks, time: this.runtime.clock.now() });
  }

  /** Primary step 2: the current time from the (secure) clock source. */
  loadTime(): Date {
    return this.runtime.clock.now();
  }

  /**
   * Primary step 3, #full_verification: Director root, timestamp, snapshot, targets with the
   * Director-only checks; then, if any ECU has something new to install, the Image repository and
   * step 10 for every such image. Returns the images to install (empty: nothing new).
   */
  async verifyMetadata(): Promise<EcuTarget[]> {
    // Nothing staged by an earlier, interrupted cycle may slip into this one.
    this.directorStaging.discard();
    this.imageStaging.discard();
    return fullVerification(
      { director: this.director, image: this.image },
      {
        imagesToConsider: (directorTargets) => directorTargets,
        isInstalled: (t) => this.isInstalled(t),
        trustedReleaseCounter: (serial) => this.state.releaseCounters[serial],
        // Every ECU's, the secondaries' too: a partial-verification secondary never sees the Image
        // repository's minimum, and a full one is checked twice (docs/security-profiles.md).
        securityProfile: (serial) => ecuProfile(this.directory, this.identity, serial),
      },
    );
  }

  /**
   * The exact bytes of every Image targets role verified this cycle to find `work`'s images (top-level
   * targets and the delegated roles on each image's delegation path), proved to be in the Image log
   * at one head (log-check.ts): a release signed with a stolen supplier key must be as public as one
   * signed with the targets key.
   */
  private async requireImageTargetsLogged(work: readonly EcuTarget[]): Promise<void> {
    if (this.imageLog === undefined) return;
    // Each role's verified bytes read once, however many images' paths go through it.
    const loaded = new Map<string, { bytes: Uint8Array; signed: TargetsSigned } | undefined>();
    const load = (role: string) => {
      if (!loaded.has(role)) {
        const bytes = this.imageStaging.load(role);
        loaded.set(role, bytes === undefined ? undefined : { bytes, signed: this.parsed.image.parse(bytes, 'targets', { repository: 'image', role }).signed });
      }
      return loaded.get(role);
    };
    const maxDelegations = { ...DEFAULT_UPDATER_CONFIG, ...this.runtime.updaterConfig }.maxDelegations;
    const files = new Map<string, LoggedRoleFile>();
    for (const t of work) {
      for (const role of targetsRolesOnPath(t.filename, [t.hardwareId], (r) => load(r)?.signed, maxDelegations)) {
        const file = load(role)!; // the walk only names roles it could load
        files.set(role, { role, version: file.signed.version, bytes: file.bytes });
      }
    }
    await this.imageLog.requireRolesLogged([...files.values()]);
  }

  private isInstalled(t: EcuTarget): boolean {
    const installed = t.ecuSerial === this.identity.serial ? { filename: this.slots.installed.filename, sha256: this.slots.installed.hashes.sha256 } : this.state.secondaryImages[t.ecuSerial];
    return installed !== undefined && installed.filename === t.filename && installed.sha256 === t.target.hashes.sha256;
  }

  private imagePath(filename: string): string {
    return localTargetPath(join(this.directory, 'images'), filename);
  }

  /** Where an encrypted image's ciphertext is kept, apart from the Image repository's images (its own name space). */
  private encryptedImagePath(t: EncryptedEcuTarget): string {
    const directory = join(this.directory, 'encrypted-images');
    mkdirSync(directory, { recursive: true }); // a primary provisioned before image encryption has none
    return localTargetPath(directory, t.encryption.encryptedTarget.filename);
  }

  /**
   * Primary step 4: download every image (resuming, capped at the signed length) and check all
   * hashes. An image the Director encrypted for an ECU comes from the Director as ciphertext,
   * checked against the encrypted length and hash the Director signed; the Image repository's
   * plaintext is never fetched for it (docs/image-encryption.md).
   */
  async downloadAndVerifyImages(work: readonly EcuTarget[]): Promise<void> {
    const encrypted = work.filter(isEncrypted);
    await this.downloadEncryptedImages(encrypted);
    const plain = work.filter((w) => !isEncrypted(w));
    // Encrypted images come from the Director; only plaintext ones are read from the Image repository.
    if (plain.length > 0) await this.imageAccess.prepare(plain.map((w) => w.filename));
    for (const t of new Map(plain.map((w) => [w.filename, w])).values()) {
      const lookup = { name: t.filename, target: t.target };
      const path = this.imagePath(t.filename);
      if (await this.image.isImageCached(lookup, path)) continue;
      if (await this.downloadOwnImageByDelta(plain, t.filename, path)) continue;
      this.log(`downloading ${t.filename} (${t.target.length} bytes)`);
      const progress = this.runtime.onDownloadProgress;
      await this.image.downloadImage(lookup, path, progress === undefined ? undefined : (p) => progress(t.filename, p.received, p.total));
    }
  }

  /**
   * This ECU's own image `filename` from the delta its Director targets offer, when it starts from
   * exactly the active slot (docs/transport.md "Delta updates"); false when there is none or it
   * failed, and the caller downloads the full image. A failure is reported like any other: an attack
   * (a delta that gives another image, one cut short or altered) goes into the next version report.
   */
  private async downloadOwnImageByDelta(work: readonly EcuTarget[], filename: string, path: string): Promise<boolean> {
    const maxImageBytes = this.runtime.deltaMaxImageBytes ?? DEFAULT_DELTA_MAX_IMAGE_BYTES;
    const t = work.find((w): w is DeltaTarget => w.ecuSerial === this.identity.serial && w.filename === filename && w.delta !== undefined);
    if (t === undefined || !isDeltaApplicable(t, this.slots, maxImageBytes)) return false;
    this.log(`downloading ${filename} as a delta from the installed image (${t.delta.filename}, ${t.delta.length} bytes) from the Director`);
    const progress = this.runtime.onDownloadProgress;
    try {
      await downloadImageByDelta(t, path, {
        channel: this.channel,
        slots: this.slots,
        directory: join(this.directory, 'deltas'),
        maxImageBytes,
        onProgress: progress === undefined ? undefined : (received, total) => progress(t.delta.filename, received, total),
      });
      return true;
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      if (err.kind === 'attack') this.recordAttack(err);
      this.log(`delta for ${filename} failed (${err.code}): downloading the full image instead`);
      return false;
    }
  }

  /**
   * The ciphertexts of the encrypted images, one download per ciphertext (the Director encrypts an
   * image once and wraps its key per ECU). The primary's own key is unwrapped here, before this
   * cycle's metadata is trusted, so a wrap made for another ECU or key fails the cycle (an attack)
   * and leaves the previous trusted metadata; a secondary unwraps its own when its image arrives.
   */
  private async downloadEncryptedImages(work: readonly EncryptedEcuTarget[]): Promise<void> {
    for (const t of new Map(work.map((w) => [w.encryption.encryptedTarget.filename, w])).values()) {
      const encryptedTarget = t.encryption.encryptedTarget;
      const path = this.encryptedImagePath(t);
      if (await isEncryptedImageCached(encryptedTarget, path)) continue;
      this.log(`downloading ${t.filename} encrypted (${encryptedTarget.filename}, ${encryptedTarget.length} bytes) from the Director`);
      const progress = this.runtime.onDownloadProgress;
      await downloadEncryptedImage(this.channel, encryptedTarget, path, progress === undefined ? undefined : (received, total) => progress(t.filename, received, total));
    }
    const own = work.find((w) => w.ecuSerial === this.identity.serial);
    if (own !== undefined) await unwrapTargetKey(own, this.encryptionKey);
  }

  /**
   * Primary steps 5-7 and the installs, behind the vehicle state gate. While driving, everything
   * stays pending (persisted). The rule once installing has begun: an ECU whose install started
   * finishes it; an ECU not yet started waits (each secondary also refuses on its own while it sees
   * the vehicle driving).
   */
  async installPending(manifestSent = false): Promise<CycleResult> {
    const pending = this.state.pending;
    if (pending === null) return { status: 'no-update', manifestSent, outcomes: {} };
    if (this.runtime.vehicleState.current() === 'driving') {
      this.log(`update verified and downloaded; install deferred while driving (${pending.targets.length} image(s))`);
      return { status: 'deferred', manifestSent, outcomes: {} };
    }
    try {
      // Re-check, with the time now, that the metadata the install rests on has not expired (D4a).
      this.checkTrustedMetadataFresh(this.loadTime());
      const outcomes: Record<string, InstallOutcome> = {};
      // Built for the first secondary that needs it: a primary installing only its own image never
      // reads the files again (for a 5,000-entry targets file, 16 ms of an update cycle, figure 7).
      let bundle: MetadataBundle | undefined;
      const remaining: EcuTarget[] = [];
      let bundleUnfinished = false;
      const installBundle = pending.bundle;
      const members = installBundle === undefined ? [] : pending.targets.filter((t) => installBundle.ecus[t.ecuSerial] !== undefined);
      if (installBundle !== undefined && members.length > 0) {
        const result = await this.installBundle(installBundle, members, (bundle ??= this.metadataBundle()));
        Object.assign(outcomes, result.outcomes);
        // Driving: the bundle waits for the next parked cycle. Aborted before any switch (a member
        // refused its image) or rolled back: the next cycle's Director targets say what comes next.
        if (result.status === 'deferred') remaining.push(...members);
        if (result.status === 'unfinished') bundleUnfinished = true;
      }
      for (const t of pending.targets) {
        if (members.includes(t)) continue;
        if (this.runtime.vehicleState.current() === 'driving') {
          remaining.push(t);
          continue;
        }
        try {
          outcomes[t.ecuSerial] = t.ecuSerial === this.identity.serial ? await this.installOwn(t) : await this.installOnSecondary(t, (bundle ??= this.metadataBundle()));
        } catch (err) {
          // The secondary sees the vehicle driving (its own view may be ahead of ours): not an attack,
          // not a failure; that ECU waits for the next parked cycle.
          if (!(err instanceof VehicleDrivingError || (err instanceof UptaneError && err.code === 'vehicle_driving'))) throw err;
          this.log(`ECU ${t.ecuSerial} refused to install while it sees the vehicle driving; deferred`);
          remaining.push(t);
          continue;
        }
        if (outcomes[t.ecuSerial]!.status === 'installed') {
          this.persist({ ...this.state, releaseCounters: { ...this.state.releaseCounters, [t.ecuSerial]: t.target.custom?.releaseCounter ?? 0 } });
        }
      }
      this.persist({ ...this.state, pending: remaining.length === 0 ? null : { ...pending, targets: remaining } });
      if (remaining.length > 0) return { status: 'deferred', manifestSent, outcomes };
      const failed = bundleUnfinished || Object.values(outcomes).some((o) => o.status !== 'installed');
      return { status: failed ? 'failed' : 'installed', manifestSent, outcomes };
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      this.recordFailure(err);
      if (err instanceof ExpiredMetadataError) this.persist({ ...this.state, pending: null });
      return { status: 'failed', manifestSent, error: { code: err.code, message: err.message }, outcomes: {} };
    }
  }

  /** Steps 6-7 for one secondary: it verifies the metadata itself, receives the image, installs. */
  private async installOnSecondary(t: EcuTarget, bundle: MetadataBundle): Promise<InstallOutcome> {
    const secondary = this.runtime.secondaries.get(t.ecuSerial);
    if (secondary === undefined) throw new SecondaryError(`no transport to secondary ${t.ecuSerial}`);
    try {
      const installed = await this.stageOnSecondary(secondary, t, bundle);
      if (installed !== undefined) return installed;
      const outcome = await secondary.install();
      this.log(`ECU ${t.ecuSerial}: ${outcome.status} ${t.filename}`);
      return outcome;
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      if (err instanceof VehicleDrivingError || (err as { code?: string }).code === 'vehicle_driving') throw err;
      this.log(`ECU ${t.ecuSerial}: ${err.code}: ${err.message}`);
      return { filename: t.filename, status: 'failed', code: err.code, message: err.message.slice(0, MANIFEST_LIMITS.maxTextLength) };
    }
  }

  /**
   * Steps 6 and 7 up to the install: the secondary verifies the metadata itself and receives its
   * image into its inactive slot. Returns the outcome when it already runs the image (an install
   * finished before a restart), else undefined: staged.
   */
  private async stageOnSecondary(secondary: SecondaryTransport, t: EcuTarget, bundle: MetadataBundle): Promise<InstallOutcome | undefined> {
    if (this.suit?.isConstrained(t.ecuSerial) === true) return this.stageOnConstrained(secondary, t);
    {
      const verdict = await secondary.putMetadata(bundle);
      if (verdict.target === null) {
        // "Nothing to install" is true only if the secondary's latest report shows this image (an
        // install finished before a restart). Otherwise the secondary verified other metadata than
        // the primary did: stale metadata replayed on the bus (a freeze), and "installed" would be a lie.
        const reported = this.state.secondaryImages[t.ecuSerial];
        if (reported?.filename === t.filename && reported.sha256 === t.target.hashes.sha256) return { filename: t.filename, status: 'installed' };
        const err = new SecondaryError(`secondary ${t.ecuSerial} verified no new image, but the Director assigned it ${t.filename} (stale metadata on the bus?)`, { role: t.ecuSerial });
        this.recordAttack(err);
        throw err;
      }
      if (verdict.target.filename !== t.filename) throw new SecondaryError(`secondary ${t.ecuSerial} expects ${verdict.target.filename}, not ${t.filename}`);
      // Both read the same Director entry, so both agree on whether the image is encrypted for the
      // secondary; if not, they verified different metadata, and no image is sent.
      const encryptedLength = t.encryption?.encryptedTarget.length;
      if (verdict.target.encryptedLength !== encryptedLength) {
        throw new SecondaryError(`secondary ${t.ecuSerial} expects ${t.filename} ${verdict.target.encryptedLength === undefined ? 'in plaintext' : 'encrypted'}, the Director's targets say otherwise`);
      }
      // An encrypted image goes to the secondary as the ciphertext checked above: only it can decrypt it.
      const image = createReadStream(isEncrypted(t) ? this.encryptedImagePath(t) : this.imagePath(t.filename), { highWaterMark: 1024 * 1024 });
      try {
        await secondary.putImage(t.filename, image);
      } finally {
        image.destroy(); // a secondary that refused before reading to the end leaves the file open otherwise
      }
      return undefined;
    }
  }

  /**
   * Steps 6 and 7 for a constrained secondary (docs/suit.md): in place of the metadata it cannot
   * verify, a SUIT envelope signed with the vehicle's SUIT key for the image verified in full here,
   * sent with the image. The secondary checks envelope and image and stages it.
   */
  private async stageOnConstrained(secondary: SecondaryTransport, t: EcuTarget): Promise<undefined> {
    if (!isSuitReceiver(secondary)) throw new SecondaryError(`secondary ${t.ecuSerial} is constrained, but its transport takes no SUIT envelope`, { role: t.ecuSerial });
    // Only the ECU holding the key can decrypt an image encrypted for it, and a constrained ECU holds none.
    if (isEncrypted(t)) throw new SecondaryError(`secondary ${t.ecuSerial} is constrained and cannot decrypt ${t.filename}; assign it unencrypted`, { role: t.ecuSerial });
    const envelope = await this.suit!.envelopeFor(t);
    const image = createReadStream(this.imagePath(t.filename), { highWaterMark: 64 * 1024 });
    try {
      await secondary.putSuit(envelope, image);
    } finally {
      image.destroy(); // a secondary that refused the envelope never read the image
    }
    return undefined;
  }

  /**
   * The primary's own install; a failure is its outcome, as for a secondary (the next cycle
   * retries). An encrypted image is decrypted from its checked ciphertext into the inactive slot,
   * where the plaintext is checked against the Image repository's length and hashes; an attack that
   * shows only here (a Director that encrypted another image for this ECU) goes into the next report.
   */
  private async installOwn(t: EcuTarget): Promise<InstallOutcome> {
    try {
      await this.stageOwn(t);
      const outcome = await this.slots.install();
      this.log(`ECU ${this.identity.serial} (primary): ${outcome.status} ${t.filename}`);
      return outcome;
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err; // a power cut: the cycle ends here
      if (err.kind === 'attack') this.recordAttack(err);
      this.log(`ECU ${this.identity.serial} (primary): ${err.code}: ${err.message}`);
      return { filename: t.filename, status: 'failed', code: err.code, message: err.message.slice(0, MANIFEST_LIMITS.maxTextLength) };
    }
  }

  /** The primary's own image into its inactive slot, verified there (decrypted on the way if encrypted for it). */
  private async stageOwn(t: EcuTarget): Promise<void> {
    if (isEncrypted(t)) {
      const ciphertext = createReadStream(this.encryptedImagePath(t), { highWaterMark: 1024 * 1024 });
      try {
        await stageEncryptedImage(this.slots, t, this.encryptionKey, ciphertext);
      } finally {
        ciphertext.destroy(); // refused before the first byte (no key to unwrap with): the file must not stay open
      }
    } else {
      await this.slots.stage({ filename: t.filename, length: t.target.length, hashes: t.target.hashes }, createReadStream(this.imagePath(t.filename), { highWaterMark: 1024 * 1024 }));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Install bundles (docs/decisions.md "Install bundles").

  /**
   * The install bundle of this cycle's verified Director targets, and the work left to do. The
   * bundle is checked against this vehicle and every member's targets entry (docs/threat-model.md
   * M30). A bundle this vehicle already finished, offered again after the Director heard its outcome
   * (this cycle's manifest was accepted), is a replay (M31); with the manifest not delivered the
   * Director may simply not know yet, so its members are left out of this cycle unreported.
   */
  private installBundleOf(work: readonly EcuTarget[], manifestSent: boolean): { work: readonly EcuTarget[]; bundle: InstallBundle | undefined } {
    const bytes = this.directorStaging.load('targets');
    if (bytes === undefined) return { work, bundle: undefined };
    const signed = this.parsed.director.parse(bytes, 'targets', { repository: 'director' }).signed;
    const bundle = parseInstallBundle(signed, this.identity.vin, checkDirectorTargets(signed, { vin: this.identity.vin, ecus: this.ecus }));
    if (bundle === undefined || !work.some((t) => bundle.ecus[t.ecuSerial] !== undefined)) return { work, bundle: undefined };
    if ((this.state.finishedBundles ?? []).includes(bundle.id)) {
      if (manifestSent) {
        throw new InstallBundleReplayError(`install bundle ${bundle.id} was finished on this vehicle already and reported; it is offered again`, { repository: 'director', role: 'targets' });
      }
      this.log(`install bundle ${bundle.id} was finished here already; its members wait until the Director has this vehicle's manifest`);
      return { work: work.filter((t) => bundle.ecus[t.ecuSerial] === undefined), bundle: undefined };
    }
    return { work, bundle };
  }

  /** The members of a bundle as the runner drives them: this ECU through its slots, the others over their transports. */
  private bundleMembers(bundleId: string, targets: readonly EcuTarget[], metadata: () => MetadataBundle): BundleMember[] {
    return targets.map((t): BundleMember => {
      if (t.ecuSerial === this.identity.serial) {
        return {
          serial: t.ecuSerial,
          filename: t.filename,
          stage: () => this.guardOwn(() => this.stageOwn(t)),
          beginTrial: async () => {
            const outcome = await this.slots.beginBundleTrial(bundleId);
            return outcome === null ? { passed: true } : { passed: false, outcome };
          },
          commit: () => this.slots.commitBundleTrial(bundleId),
          rollBack: (reason) => this.slots.rollBackBundle(bundleId, reason),
        };
      }
      const secondary = this.runtime.secondaries.get(t.ecuSerial);
      const missing = () => Promise.reject(new SecondaryError(`no transport to secondary ${t.ecuSerial}`, { role: t.ecuSerial }));
      if (secondary === undefined) return { serial: t.ecuSerial, filename: t.filename, stage: missing, beginTrial: missing, commit: missing, rollBack: missing };
      return {
        serial: t.ecuSerial,
        filename: t.filename,
        stage: async () => {
          const installed = await this.stageOnSecondary(secondary, t, metadata());
          // The secondary already runs it but the bundle's other members do not: the Director would not
          // bundle an installed image, so the two views differ; nothing of the bundle is installed.
          if (installed !== undefined) throw new SecondaryError(`secondary ${t.ecuSerial} already runs ${t.filename}, which install bundle ${bundleId} gives it`, { role: t.ecuSerial });
        },
        beginTrial: () => secondary.beginTrial(bundleId),
        commit: () => secondary.commitTrial(bundleId),
        rollBack: (reason) => secondary.rollBackTrial(bundleId, reason),
      };
    });
  }

  /** This ECU's own staging: an attack it reveals goes into the next report, as in installOwn. */
  private async guardOwn(action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (err) {
      if (err instanceof UptaneError && err.kind === 'attack') this.recordAttack(err);
      throw err;
    }
  }

  /** Installs the bundle's members all or none (primary-ecu/install-bundle-run.ts), then records it as finished. */
  private async installBundle(bundle: InstallBundle, targets: readonly EcuTarget[], metadata: MetadataBundle): Promise<BundleResult> {
    const ordered = bundleMembers(bundle).map((serial) => targets.find((t) => t.ecuSerial === serial)).filter((t): t is EcuTarget => t !== undefined);
    const result = await this.bundles.run(bundle.id, this.bundleMembers(bundle.id, ordered, () => metadata));
    this.recordBundleResult(bundle.id, result, ordered);
    return result;
  }

  /** Finishes the install bundle a power cut (or an unreachable member) left unfinished, from its journal. */
  async finishInterruptedBundle(): Promise<BundleResult | undefined> {
    const journal = this.bundles.unfinished;
    if (journal === undefined) return undefined;
    const targets = this.state.pending?.bundle?.id === journal.bundleId ? this.state.pending.targets : [];
    const result = await this.bundles.resume((serials) =>
      this.bundleMembers(
        journal.bundleId,
        // The member's target only serves staging, which a resumed bundle never does again.
        serials.map((serial) => targets.find((t) => t.ecuSerial === serial) ?? ({ ecuSerial: serial, filename: '', hardwareId: '', target: { length: 0, hashes: {} } } as EcuTarget)),
        () => this.metadataBundle(),
      ),
    );
    if (result !== undefined) this.recordBundleResult(journal.bundleId, result, targets);
    return result;
  }

  /** A finished bundle is remembered (a replay is refused) and its work is done; the release counters of committed members are trusted. */
  private recordBundleResult(bundleId: string, result: BundleResult, targets: readonly EcuTarget[]): void {
    if (result.status !== 'installed' && result.status !== 'rolled_back') return;
    const releaseCounters = { ...this.state.releaseCounters };
    if (result.status === 'installed') for (const t of targets) releaseCounters[t.ecuSerial] = t.target.custom?.releaseCounter ?? 0;
    const finishedBundles = [...(this.state.finishedBundles ?? []).filter((id) => id !== bundleId), bundleId].slice(-FINISHED_BUNDLES_KEPT);
    const pending = this.state.pending;
    const left = pending === null ? null : pending.targets.filter((t) => pending.bundle?.ecus[t.ecuSerial] === undefined || pending.bundle.id !== bundleId);
    this.persist({ ...this.state, releaseCounters, finishedBundles, pending: pending === null || left!.length === 0 ? null : { ...pending, targets: left!, bundle: undefined } });
  }

  /** Every stored Director and Image metadata file the pending install rests on is still unexpired. */
  private checkTrustedMetadataFresh(now: Date): void {
    for (const [repository, store] of [['director', this.directorStore], ['image', this.imageStore]] as const) {
      for (const role of ['root', 'timestamp', 'snapshot', 'targets'] as const) {
        const bytes = store.load(role);
        if (bytes === undefined) continue;
        const { expires } = this.parsed[repository].parse(bytes, role, { repository }).signed;
        if (isExpired(expires, now)) {
          throw new ExpiredMetadataError(`${repository} ${role} expired at ${expires} before the install could start`, { repository, role });
        }
      }
    }
  }

  /**
   * Primary steps 5 and 6: the time and every verified metadata file a secondary may need, by the
   * names a repository serves them under. Partial-verification secondaries read the Director root
   * chain and targets; full ones run the whole workflow on it.
   */
  metadataBundle(): MetadataBundle {
    return { director: this.filesOf(this.directorStore, this.parsed.director), image: this.filesOf(this.imageStore, this.parsed.image), time: formatExpires(this.loadTime()) };
  }

  private filesOf(store: RootHistoryStore, parsed: ParsedMetadataMemo): Record<string, string> {
    const files: Record<string, string> = {};
    for (const [version, bytes] of store.rootHistory()) files[`${version}.root.json`] = Buffer.from(bytes).toString('base64');
    const timestamp = store.load('timestamp');
    if (timestamp !== undefined) files['timestamp.json'] = Buffer.from(timestamp).toString('base64');
    const snapshotBytes = store.load('snapshot');
    if (snapshotBytes === undefined) return files;
    const snapshot = parsed.parse(snapshotBytes, 'snapshot');
    files[`${snapshot.signed.version}.snapshot.json`] = Buffer.from(snapshotBytes).toString('base64');
    for (const [name, meta] of Object.entries(snapshot.signed.meta)) {
      const role = decodeURIComponent(name.replace(/\.json$/, ''));
      const bytes = store.load(role);
      if (bytes !== undefined) files[roleFileName(role, meta.version)] = Buffer.from(bytes).toString('base64');
    }
    return files;
  }

  /** Status for people: per ECU, installed image and pending work. */
  status() {
    return {
      vin: this.identity.vin,
      primary: { serial: this.identity.serial, activeSlot: this.slots.current.active, installed: this.slots.installed.filename, lastInstall: this.slots.current.lastInstall },
      secondaries: this.state.secondaryImages,
      pending: this.state.pending,
      attacksToReport: this.state.attacks,
    };
  }
}
