// A secondary ECU (docs/uptane-conformance.md 7): it verifies what the primary hands it for itself
// (partial verification by default, full on request), writes the image into its inactive slot and
// verifies it there, installs through an A/B switch with a boot check and rollback, and signs a
// version report with a fresh counter each cycle. It never trusts the primary: a compromised primary
// or bus can only make it refuse, and report the attempt.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbSlots, signVersionReport, slotIntegrityError, type AbSlotsOptions, type IntegrityFault } from '../shared/ecu/ab-slots.js';
import type { Clock } from '../shared/core/clock.js';
import { nobleBackend, type Ed25519Backend } from '../shared/core/crypto/ed25519.js';
import { loadEncryptionKeyPair, loadPrivateKey, saveEncryptionKeyPair, savePrivateKey } from '../shared/files/key-files.js';
import type { EncryptionKeyPair } from '../shared/core/crypto/image-encryption.js';
import { ENCRYPTION_KEY_FILE, isEncrypted, stageEncryptedImage } from '../shared/ecu/encrypted-image.js';
import { ecuKeyText } from '../shared/core/crypto/ecu-keys.js';
import { type PrivateKey } from '../shared/core/crypto/keys.js';
import { ImageRollbackError, InstallBundleOrderError, OutOfOrderError, TargetNotFoundError, UptaneError, VehicleDrivingError } from '../shared/core/errors.js';
import { parseInstallBundle, type InstallBundle } from '../shared/uptane/install-bundle.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import { MANIFEST_LIMITS, type EcuVersionReport, type InstallOutcome, type ReportedAttack } from '../shared/uptane/manifest.js';
import { FileMetadataStore } from '../shared/client/metadata-store.js';
import { parseMetadata } from '../shared/core/metadata/parse.js';
import type { Metadata, TargetsSigned } from '../shared/core/metadata/types.js';
import { bundleFetcher, bundleFile, type BundleFailure, type MetadataBundle, type MetadataVerdict, type SecondaryInfo, type SecondaryTransport, type TrialVerdict } from '../shared/ecu/secondary-protocol.js';
import { StagedMetadataStore } from '../shared/client/staged-metadata-store.js';
import { TrustedMetadataSet } from '../shared/core/trusted-metadata-set.js';
import { DirectorClient } from '../shared/uptane/director-client.js';
import { ImageRepositoryClient } from '../shared/uptane/image-repository-client.js';
import { fullVerification } from '../shared/uptane/full-verification.js';
import { targetOfThisEcu, verifyDirectorTargetsPartial, type EcuTarget } from '../shared/uptane/uptane-checks.js';
import { storedEcuProfile } from '../shared/uptane/profile-check.js';
import type { SecurityProfile } from '../shared/core/security-profile.js';
import type { VehicleStateSource } from '../shared/ecu/vehicle-state.js';

export interface SecondaryIdentity {
  readonly serial: string;
  readonly hardwareId: string;
  readonly vin: string;
  readonly verification: 'partial' | 'full';
  /** Partial verification: also walk the Director root chain, so Director key rotations are accepted. */
  readonly checkDirectorRoot: boolean;
  /**
   * Its security profile (docs/security-profiles.md). With full verification it refuses an image whose
   * Image repository minimum is higher; with partial it cannot see that minimum, and its primary checks
   * for it. Absent in folders provisioned before profiles: standard.
   */
  readonly securityProfile?: SecurityProfile;
}

/** What secondary state.json holds (read-only by status tools, which must not open the ECU). */
export interface SecondaryState {
  readonly counter: number;
  readonly attacks: readonly ReportedAttack[];
  /** The target the last verified metadata assigned to this ECU, awaiting image and install. */
  readonly expected: EcuTarget | null;
  /** Release counter of the image installed from Director metadata, for the no-rollback rule. */
  readonly trustedReleaseCounter: number | null;
  /**
   * The install bundle the last verified metadata made this ECU a member of (docs/decisions.md
   * "Install bundles"): its install then goes only through beginTrial / commitTrial / rollBackTrial
   * naming this id. Absent in state files written before bundles existed.
   */
  readonly bundle?: InstallBundle | null;
}

export interface SecondaryRuntime {
  readonly clock: Clock;
  readonly vehicleState: VehicleStateSource;
  readonly backend?: Ed25519Backend;
  readonly slots?: AbSlotsOptions;
}

export interface SecondaryProvisioning extends SecondaryIdentity {
  readonly key: PrivateKey;
  /** X25519, for images the Director encrypts for this ECU; separate from the signing key. */
  readonly encryptionKey?: EncryptionKeyPair;
  readonly directorRoot: Uint8Array;
  /** Needed for full verification. */
  readonly imageRoot?: Uint8Array;
  readonly factoryImage: { filename: string; content: Buffer };
}

export class Secondary implements SecondaryTransport {
  private state: SecondaryState;
  private readonly backend: Ed25519Backend;
  private readonly directorStore: FileMetadataStore;
  private readonly imageStore: FileMetadataStore;
  /**
   * Metadata verified by putMetadata, kept back until the image it assigns verified in the inactive
   * slot: if the image fails, the previous trusted metadata stays (#download_image: "keep its
   * previous Targets metadata"). Lost on a restart; the primary sends metadata again before an image.
   */
  private readonly directorStaging: StagedMetadataStore;
  private readonly imageStaging: StagedMetadataStore;

  private constructor(
    readonly directory: string,
    readonly identity: SecondaryIdentity,
    private readonly key: PrivateKey,
    /** Undefined for an ECU provisioned before image encryption: it refuses encrypted images. */
    private readonly encryptionKey: EncryptionKeyPair | undefined,
    readonly slots: AbSlots,
    private readonly runtime: SecondaryRuntime,
  ) {
    this.backend = runtime.backend ?? nobleBackend;
    this.state = JSON.parse(readFileSync(join(directory, 'state.json'), 'utf8')) as SecondaryState;
    this.directorStore = new FileMetadataStore(join(directory, 'director'));
    this.imageStore = new FileMetadataStore(join(directory, 'image'));
    this.directorStaging = new StagedMetadataStore(this.directorStore);
    this.imageStaging = new StagedMetadataStore(this.imageStore);
  }

  /**
   * Factory provisioning (docs/uptane-conformance.md 7.1): identity key, trusted roots, first
   * image.
   */
  static provision(directory: string, p: SecondaryProvisioning): void {
    mkdirSync(directory, { recursive: true });
    const identity: SecondaryIdentity = {
      serial: p.serial,
      hardwareId: p.hardwareId,
      vin: p.vin,
      verification: p.verification,
      checkDirectorRoot: p.checkDirectorRoot,
      ...(p.securityProfile === undefined ? {} : { securityProfile: p.securityProfile }),
    };
    writeFileAtomic(join(directory, 'identity.json'), Buffer.from(JSON.stringify(identity)));
    savePrivateKey(join(directory, 'ecu-key.pem'), p.key);
    if (p.encryptionKey !== undefined) saveEncryptionKeyPair(join(directory, ENCRYPTION_KEY_FILE), p.encryptionKey);
    new FileMetadataStore(join(directory, 'director')).persist('root', p.directorRoot);
    if (p.imageRoot !== undefined) new FileMetadataStore(join(directory, 'image')).persist('root', p.imageRoot);
    AbSlots.provision(join(directory, 'slots'), p.factoryImage);
    const state: SecondaryState = { counter: 0, attacks: [], expected: null, trustedReleaseCounter: null };
    writeFileAtomic(join(directory, 'state.json'), Buffer.from(JSON.stringify(state)));
  }

  /**
   * Opens a provisioned secondary (after a restart too: the slots finish an interrupted install),
   * and re-verifies the image it boots (docs/threat-model.md HR-11b).
   */
  static async open(directory: string, runtime: SecondaryRuntime): Promise<Secondary> {
    const identity = JSON.parse(readFileSync(join(directory, 'identity.json'), 'utf8')) as SecondaryIdentity;
    // A damaged profile fails the open, not the first update that would be checked against it.
    storedEcuProfile(identity.securityProfile, join(directory, 'identity.json'));
    const key = loadPrivateKey(join(directory, 'ecu-key.pem'));
    const encryptionKeyPath = join(directory, ENCRYPTION_KEY_FILE);
    const encryptionKey = existsSync(encryptionKeyPath) ? loadEncryptionKeyPair(encryptionKeyPath) : undefined;
    const slots = await AbSlots.open(join(directory, 'slots'), runtime.slots);
    const secondary = new Secondary(directory, identity, key, encryptionKey, slots, runtime);
    await secondary.checkSlotIntegrity();
    return secondary;
  }

  /**
   * Re-hashes the active slot against the image recorded at install (`ifDue`: only when the
   * configured interval has passed since the last check) and recovers from a mismatch: the fault
   * goes into the next version report, as a detected failure and as its integrity_fault.
   */
  checkSlotIntegrity({ ifDue = false } = {}): Promise<IntegrityFault | null> {
    return this.slots.checkIntegrity(this.runtime.clock.now(), (fault) => this.recordAttack(slotIntegrityError(fault)), { ifDue, onFactoryCorrupted: (err) => this.recordAttack(err) });
  }


  private persist(next: SecondaryState): void {
    writeFileAtomic(join(this.directory, 'state.json'), Buffer.from(JSON.stringify(next)));
    this.state = next;
  }

  /** Remembers a detected attack for the next version report (bounded: the report has a limit). */
  private recordAttack(err: UptaneError): void {
    const attacks = [...this.state.attacks, { code: err.code, message: err.message.slice(0, MANIFEST_LIMITS.maxTextLength) }];
    this.persist({ ...this.state, attacks: attacks.slice(-MANIFEST_LIMITS.maxAttacks) });
  }

  /** Runs a request of the primary; an attack it reveals is reported (by the error's kind, as the primary decides). */
  private async guard<T>(action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (err) {
      if (err instanceof UptaneError && err.kind === 'attack') this.recordAttack(err);
      throw err;
    }
  }

  // SecondaryTransport ---------------------------------------------------------------------------

  async info(): Promise<SecondaryInfo> {
    return { serial: this.identity.serial, hardwareId: this.identity.hardwareId, publicKey: ecuKeyText(this.key.publicKey), verification: this.identity.verification };
  }

  /** #ecu_version_report: installed image, attacks since the last report, time, a fresh counter. */
  async versionReport(): Promise<EcuVersionReport> {
    // Never report an image as installed that has not been re-verified lately.
    await this.checkSlotIntegrity({ ifDue: true });
    const counter = this.state.counter + 1;
    const attacks = this.state.attacks;
    // The counter is stored before the report leaves, so a crash can never make it repeat.
    this.persist({ ...this.state, counter, attacks: [] });
    return signVersionReport(this.slots, { serial: this.identity.serial, key: this.key, backend: this.backend }, { counter, attacks, time: this.runtime.clock.now() });
  }

  /** Uptane #install step 2: verify metadata (partial or full). On failure the previous metadata stays. */
  putMetadata(bundle: MetadataBundle): Promise<MetadataVerdict> {
    return this.guard(async () => {
      this.discardStagedMetadata();
      let target: EcuTarget | undefined;
      try {
        target = this.identity.verification === 'full' ? await this.verifyFull(bundle) : this.verifyPartial(bundle);
      } catch (err) {
        this.discardStagedMetadata();
        throw err;
      }
      if (target === undefined || this.isInstalled(target)) {
        // Nothing to download: the metadata is all this cycle brings, and it verified.
        this.commitStagedMetadata();
        this.persist({ ...this.state, expected: null, bundle: null });
        return { target: null };
      }
      let installBundle: InstallBundle | undefined;
      try {
        installBundle = this.installBundleOf(target);
      } catch (err) {
        this.discardStagedMetadata();
        throw err;
      }
      this.persist({ ...this.state, expected: target, bundle: installBundle ?? null });
      const encrypted = target.encryption?.encryptedTarget;
      return { target: { filename: target.filename, length: target.target.length, ...(encrypted === undefined ? {} : { encryptedLength: encrypted.length }) } };
    });
  }

  /**
   * The install bundle the verified (staged) Director targets put this ECU in, if any: for this
   * vehicle, and pinning this ECU's own image (docs/threat-model.md M30). A bundle this ECU is not a
   * member of does not concern it.
   */
  private installBundleOf(target: EcuTarget): InstallBundle | undefined {
    const signed = parseMetadata(this.directorStaging.load('targets')!, 'targets', { repository: 'director' }).signed;
    const bundle = parseInstallBundle(signed, this.identity.vin, [target], { onlyMember: this.identity.serial });
    return bundle !== undefined && bundle.ecus[this.identity.serial] !== undefined ? bundle : undefined;
  }

  private commitStagedMetadata(): void {
    this.directorStaging.commit();
    this.imageStaging.commit();
  }

  private discardStagedMetadata(): void {
    this.directorStaging.discard();
    this.imageStaging.discard();
  }

  private isInstalled(target: EcuTarget): boolean {
    const installed = this.slots.installed;
    return installed.filename === target.filename && installed.hashes.sha256 === target.target.hashes.sha256;
  }

  /** #partial_verification: Director targets (and optionally the Director root chain). */
  private verifyPartial(bundle: MetadataBundle): EcuTarget | undefined {
    const now = this.runtime.clock.now();
    let rootBytes = this.directorStaging.load('root')!;
    if (this.identity.checkDirectorRoot) {
      const set = new TrustedMetadataSet(rootBytes, now, { repository: 'director', backend: this.backend });
      const accepted: Uint8Array[] = [];
      for (;;) {
        const next = bundleFile(bundle.director, `${set.root.signed.version + 1}.root.json`);
        if (next === undefined) break;
        set.updateRoot(next);
        accepted.push(next);
      }
      // Persist only once the whole chain verified, so a bad link leaves the trusted root as it was.
      if (accepted.length > 0) {
        rootBytes = accepted[accepted.length - 1]!;
        this.directorStaging.persist('root', rootBytes);
      }
    }
    const root = parseMetadata(rootBytes, 'root', { repository: 'director' }).signed;
    const name = Object.keys(bundle.director).find((n) => /^(\d+\.)?targets\.json$/.test(n));
    if (name === undefined) throw new TargetNotFoundError('the primary sent no Director targets', { repository: 'director' });
    const previousBytes = this.directorStaging.load('targets');
    const previousTargets: Metadata<TargetsSigned> | undefined = previousBytes === undefined ? undefined : parseMetadata(previousBytes, 'targets');
    const { target } = verifyDirectorTargetsPartial({
      root,
      targetsBytes: bundleFile(bundle.director, name)!,
      previousTargets,
      ecuSerial: this.identity.serial,
      hardwareId: this.identity.hardwareId,
      vin: this.identity.vin,
      now,
      backend: this.backend,
    });
    this.checkNotRolledBack(target);
    this.directorStaging.persist('targets', bundleFile(bundle.director, name)!);
    return target;
  }

  /** #full_verification on the primary's bundle: both repositories, then step 10 for this ECU's image. */
  private async verifyFull(bundle: MetadataBundle): Promise<EcuTarget | undefined> {
    const source = (repository: 'director' | 'image', files: Readonly<Record<string, string>> | undefined) => ({
      metadataUrl: `bundle://${repository}`,
      fetcher: bundleFetcher(files),
      clock: this.runtime.clock,
      backend: this.backend,
    });
    // Step 8 (every ECU in the vehicle) is the primary's: a secondary checks only its own entry.
    const director = new DirectorClient({ ...source('director', bundle.director), store: this.directorStaging, vehicle: { vin: this.identity.vin, ecus: undefined } });
    const image = new ImageRepositoryClient({ ...source('image', bundle.image), store: this.imageStaging });
    const [target] = await fullVerification(
      { director, image },
      {
        imagesToConsider: (directorTargets) => {
          const mine = targetOfThisEcu(directorTargets, this.identity, { repository: 'director' });
          this.checkNotRolledBack(mine);
          return mine === undefined ? [] : [mine];
        },
        isInstalled: (t) => this.isInstalled(t),
        trustedReleaseCounter: () => this.state.trustedReleaseCounter ?? undefined,
        // Its own check, not the primary's: a compromised primary could skip that one (SP2).
        securityProfile: () => storedEcuProfile(this.identity.securityProfile, `${join(this.directory, 'identity.json')}`),
      },
    );
    return target;
  }

  /** #verify_image step 5, against what this ECU last installed (the Director may have moved on since). */
  private checkNotRolledBack(target: EcuTarget | undefined): void {
    if (target === undefined || this.state.trustedReleaseCounter === null) return;
    const counter = target.target.custom?.releaseCounter ?? 0;
    if (counter < this.state.trustedReleaseCounter) {
      throw new ImageRollbackError(`${target.filename} has release counter ${counter}, below the installed ${this.state.trustedReleaseCounter}`, {
        repository: 'director',
        role: this.identity.serial,
      });
    }
  }

  /**
   * Uptane #install steps 3-4: the image into the inactive slot, verified there against the
   * metadata. An image the Director encrypted for this ECU arrives as its ciphertext (capped at the
   * encrypted length) and is decrypted on the way into the slot with this ECU's own key
   * (#full_verification step 10.2.1 for encrypted images: the plaintext is checked, not the ciphertext).
   */
  putImage(filename: string, body: AsyncIterable<Uint8Array>): Promise<void> {
    return this.guard(async () => {
      const expected = this.state.expected;
      if (expected === null || expected.filename !== filename) {
        // H3: an image this ECU was not assigned.
        throw new TargetNotFoundError(`this ECU was not assigned ${filename}`, { repository: 'director', role: this.identity.serial });
      }
      try {
        if (isEncrypted(expected)) await stageEncryptedImage(this.slots, expected, this.encryptionKey, body);
        else await this.slots.stage({ filename, length: expected.target.length, hashes: expected.target.hashes }, body);
      } catch (err) {
        this.discardStagedMetadata();
        throw err;
      }
      // The image verified in the inactive slot: the metadata that assigned it becomes trusted.
      this.commitStagedMetadata();
    });
  }

  /** Uptane #install step 5, behind the vehicle state gate: never while this ECU sees the vehicle driving. */
  async install(): Promise<InstallOutcome> {
    if (this.runtime.vehicleState.current() === 'driving') {
      throw new VehicleDrivingError(`ECU ${this.identity.serial} refuses to install while the vehicle is driving`);
    }
    const expected = this.state.expected;
    if (expected === null || this.slots.current.staged === null) throw new OutOfOrderError('no verified image is staged for install');
    const bundle = this.state.bundle ?? null;
    if (bundle !== null) {
      // A member installed alone would break the bundle apart: only the bundle's phases install it.
      return this.guard(() => Promise.reject(new InstallBundleOrderError(`ECU ${this.identity.serial} is a member of install bundle ${bundle.id}: it installs only with the bundle's trial and commit`, { repository: 'director', role: this.identity.serial })));
    }
    const outcome = await this.slots.install();
    this.persist({
      ...this.state,
      expected: null,
      trustedReleaseCounter: outcome.status === 'installed' ? (expected.target.custom?.releaseCounter ?? 0) : this.state.trustedReleaseCounter,
    });
    return outcome;
  }

  // Install bundles (docs/decisions.md "Install bundles") -----------------------------------------

  /** The bundle this ECU's verified metadata names, which a request must name too (docs/threat-model.md M32). */
  private memberOf(bundleId: string): InstallBundle {
    const bundle = this.state.bundle ?? null;
    if (bundle === null || bundle.id !== bundleId) {
      throw new InstallBundleOrderError(`ECU ${this.identity.serial} is not a member of install bundle ${bundleId}${bundle === null ? '' : ` (its metadata names ${bundle.id})`}`, { repository: 'director', role: this.identity.serial });
    }
    return bundle;
  }

  /** Switch, boot check and health soak of the staged image; the trial is then held for the primary's decision. */
  beginTrial(bundleId: string): Promise<TrialVerdict> {
    return this.guard(async () => {
      this.memberOf(bundleId);
      if (this.runtime.vehicleState.current() === 'driving') {
        throw new VehicleDrivingError(`ECU ${this.identity.serial} refuses to install while the vehicle is driving`);
      }
      const held = this.slots.heldBundle === bundleId; // asked again: the slots answer the same
      if (!held && (this.state.expected === null || this.slots.current.staged === null)) throw new OutOfOrderError('no verified image is staged for the install bundle');
      const outcome = await this.slots.beginBundleTrial(bundleId);
      if (outcome === null) return { passed: true };
      this.persist({ ...this.state, expected: null });
      return { passed: false, outcome };
    });
  }

  /** The primary recorded that every member passed: the held trial becomes this ECU's image. */
  commitTrial(bundleId: string): Promise<InstallOutcome> {
    return this.guard(async () => {
      this.memberOf(bundleId);
      // Asked again after it committed (the primary resumes after a power cut): the slots answer the same.
      const expected = this.state.expected;
      const outcome = await this.slots.commitBundleTrial(bundleId);
      this.persist({
        ...this.state,
        expected: null,
        trustedReleaseCounter: expected === null ? this.state.trustedReleaseCounter : (expected.target.custom?.releaseCounter ?? 0),
      });
      return outcome;
    });
  }

  /** Back to the previous image, for `reason` (null: the bundle stopped before any switch, no outcome). */
  rollBackTrial(bundleId: string, reason: BundleFailure | null): Promise<InstallOutcome | null> {
    return this.guard(async () => {
      this.memberOf(bundleId);
      const outcome = await this.slots.rollBackBundle(bundleId, reason);
      this.persist({ ...this.state, expected: null });
      return outcome;
    });
  }

  /** What the previous trusted Director targets gave this ECU (for tests and status). */
  trustedDirectorTargets(): Metadata<TargetsSigned> | undefined {
    const bytes = this.directorStore.load('targets');
    return bytes === undefined ? undefined : parseMetadata(bytes, 'targets');
  }
}
