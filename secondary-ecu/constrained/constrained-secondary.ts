// A simulated constrained secondary (docs/suit.md): it takes no Uptane metadata, only a SUIT envelope
// signed by its vehicle's primary and the image. It checks the COSE signature with the SUIT key it was
// provisioned with, its vendor and class ids, the sequence number against the one it installed last,
// then streams the image into its inactive A/B slot checking size and SHA-256, and installs. Nothing
// it reads from the bus or its own trust files is JSON: envelopes and trust anchors are CBOR through
// the bounded decoder of shared/suit/cbor.ts. It still signs an Uptane version report (written, never
// parsed), so the primary's vehicle version manifest stays complete for the Director. Its SUIT key
// rotates by key-update statements signed with the key it trusts (putSuitKey; docs/suit.md
// "Rotating the SUIT key"), key and epoch replaced together in one atomic write of its trust file.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbSlots, signVersionReport, slotIntegrityError, type AbSlotsOptions } from '../../shared/ecu/ab-slots.js';
import type { Clock } from '../../shared/core/clock.js';
import { nobleBackend, type Ed25519Backend } from '../../shared/core/crypto/ed25519.js';
import { ecuKeyText } from '../../shared/core/crypto/ecu-keys.js';
import type { PrivateKey } from '../../shared/core/crypto/keys.js';
import {
  DownloadLengthError,
  HashMismatchError,
  LengthMismatchError,
  OutOfOrderError,
  SuitDigestMismatchError,
  SuitMalformedError,
  SuitRollbackError,
  SuitTooLargeError,
  SuitWrongClassError,
  UptaneError,
  VehicleDrivingError,
} from '../../shared/core/errors.js';
import { loadPrivateKey, savePrivateKey } from '../../shared/files/key-files.js';
import { writeFileAtomic } from '../../shared/files/fs-atomic.js';
import { MANIFEST_LIMITS, type EcuVersionReport, type InstallOutcome, type ReportedAttack } from '../../shared/uptane/manifest.js';
import type { MetadataVerdict, SecondaryInfo, SecondaryTransport, TrialVerdict } from '../../shared/ecu/secondary-protocol.js';
import type { VehicleStateSource } from '../../shared/ecu/vehicle-state.js';
import { DEFAULT_SUIT_LIMITS, decodeStrict, encodeCbor, type SuitLimits } from '../../shared/suit/cbor.js';
import { verifySuitEnvelope, type SuitKey, type SuitManifest } from '../../shared/suit/envelope.js';
import { importSuitVerifyKey } from '../../shared/suit/identity.js';
import { verifySuitKeyUpdate } from '../../shared/suit/key-update.js';
import type { SuitKeyUpdateResult, SuitReceiver } from '../../shared/suit/transport.js';

/** What the factory provisions into a constrained ECU. */
export interface ConstrainedProvisioning {
  readonly serial: string;
  readonly hardwareId: string;
  /** Signs its version reports (the key the Director registered for it). */
  readonly key: PrivateKey;
  /** The trust anchors of the SUIT bridge: the primary's SUIT public key (raw Ed25519) and the ids it answers to. */
  readonly suitPublicKey: Uint8Array;
  /** The key epoch of `suitPublicKey` (0 unless the factory provisions a key that was rotated already). */
  readonly suitKeyEpoch?: number;
  readonly vendorId: Uint8Array;
  readonly classId: Uint8Array;
  readonly componentId: readonly Uint8Array[];
  /** The largest image its slot takes; a manifest declaring more is refused before any byte of the image. */
  readonly maxImageBytes: number;
  readonly factoryImage: { filename: string; content: Buffer };
}

export interface ConstrainedRuntime {
  readonly clock: Clock;
  readonly vehicleState: VehicleStateSource;
  readonly backend?: Ed25519Backend;
  readonly slots?: AbSlotsOptions;
  readonly limits?: SuitLimits;
  /**
   * Fault injection for the crash tests of a key update: called with the step about to happen
   * (`key-verified`: the statement passed every check, the trust file not yet written;
   * `key-persisted`: written, the ECU not yet switched in memory). A throw there is a power cut.
   */
  readonly keyUpdateFaultAt?: (step: KeyUpdateStep) => void;
}

export type KeyUpdateStep = 'key-verified' | 'key-persisted';

/** Slot capacity of a simulated constrained ECU unless provisioned otherwise. */
export const DEFAULT_CONSTRAINED_MAX_IMAGE_BYTES = 16 * 1024 * 1024;

const FILES = {
  trust: 'suit-trust.cbor',
  /** The sequence number of the installed image: 8 bytes, big-endian. */
  sequence: 'suit-sequence',
  /**
   * The sequence number of the image being staged and its SHA-256 (8 + 32 bytes), written before it
   * is staged: the install takes the number only for the staged image it names, so a crash between
   * staging and this file can never pair an image with another envelope's number.
   */
  staged: 'suit-staged-sequence',
  counter: 'report-counter',
  attacks: 'attacks.cbor',
} as const;

/**
 * Keys of the trust file's CBOR map. 8 and 9 came with key rotation: a trust file without them is at
 * epoch 0 and has applied no statement.
 */
const TRUST = { serial: 1, hardwareId: 2, vendorId: 3, classId: 4, componentId: 5, suitKey: 6, maxImageBytes: 7, keyEpoch: 8, lastKeyUpdate: 9 } as const;

interface Trust {
  readonly serial: string;
  readonly hardwareId: string;
  readonly vendorId: Uint8Array;
  readonly classId: Uint8Array;
  readonly componentId: readonly Uint8Array[];
  readonly suitKey: Uint8Array;
  readonly maxImageBytes: number;
  /** The epoch of `suitKey`: a key-update statement must carry a greater one. */
  readonly keyEpoch: number;
  /** SHA-256 of the statement that installed `suitKey` (null: the factory's key), to recognise it repeated. */
  readonly lastKeyUpdate: Uint8Array | null;
}

/** The trust file's bytes: the whole trust in one CBOR map, so one atomic write replaces key and epoch together. */
function encodeTrust(t: Trust): Uint8Array {
  return encodeCbor(
    new Map<number, unknown>([
      [TRUST.serial, t.serial],
      [TRUST.hardwareId, t.hardwareId],
      [TRUST.vendorId, t.vendorId],
      [TRUST.classId, t.classId],
      [TRUST.componentId, [...t.componentId]],
      [TRUST.suitKey, t.suitKey],
      [TRUST.maxImageBytes, t.maxImageBytes],
      [TRUST.keyEpoch, t.keyEpoch],
      ...(t.lastKeyUpdate === null ? [] : [[TRUST.lastKeyUpdate, t.lastKeyUpdate] as [number, unknown]]),
    ]),
  );
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

function uint64(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(value));
  return bytes;
}

function writeUint(path: string, value: number): void {
  writeFileAtomic(path, uint64(value));
}

function readUint(path: string): number | null {
  if (!existsSync(path)) return null;
  const bytes = readFileSync(path);
  if (bytes.length !== 8) throw new RangeError(`${path} is not an 8-byte counter`);
  return Number(bytes.readBigUInt64BE());
}

export class ConstrainedSecondary implements SecondaryTransport, SuitReceiver {
  private readonly backend: Ed25519Backend;
  private readonly limits: SuitLimits;
  private attacks: ReportedAttack[];

  private constructor(
    readonly directory: string,
    private trust: Trust,
    private trustedKey: SuitKey,
    private readonly key: PrivateKey,
    readonly slots: AbSlots,
    private readonly runtime: ConstrainedRuntime,
  ) {
    this.backend = runtime.backend ?? nobleBackend;
    this.limits = runtime.limits ?? DEFAULT_SUIT_LIMITS;
    this.attacks = this.loadAttacks();
  }

  static provision(directory: string, p: ConstrainedProvisioning): void {
    mkdirSync(directory, { recursive: true });
    const trust: Trust = {
      serial: p.serial,
      hardwareId: p.hardwareId,
      vendorId: p.vendorId,
      classId: p.classId,
      componentId: p.componentId,
      suitKey: p.suitPublicKey,
      maxImageBytes: p.maxImageBytes,
      keyEpoch: p.suitKeyEpoch ?? 0,
      lastKeyUpdate: null,
    };
    writeFileAtomic(join(directory, FILES.trust), encodeTrust(trust));
    savePrivateKey(join(directory, 'ecu-key.pem'), p.key);
    AbSlots.provision(join(directory, 'slots'), p.factoryImage);
    // The factory image is sequence 0: any release counter installs over it, none goes below.
    writeUint(join(directory, FILES.sequence), 0);
    writeUint(join(directory, FILES.counter), 0);
  }

  static async open(directory: string, runtime: ConstrainedRuntime): Promise<ConstrainedSecondary> {
    const trust = ConstrainedSecondary.loadTrust(directory, runtime.limits ?? DEFAULT_SUIT_LIMITS);
    const slots = await AbSlots.open(join(directory, 'slots'), runtime.slots);
    const secondary = new ConstrainedSecondary(directory, trust, await importSuitVerifyKey(trust.suitKey), loadPrivateKey(join(directory, 'ecu-key.pem')), slots, runtime);
    await slots.checkIntegrity(runtime.clock.now(), (fault) => secondary.recordAttack(slotIntegrityError(fault)), { onFactoryCorrupted: (err) => secondary.recordAttack(err) });
    return secondary;
  }

  /** The trust file, read with the same bounded decoder as envelopes (a corrupted flash is no excuse for unbounded parsing). */
  private static loadTrust(directory: string, limits: SuitLimits): Trust {
    const map = decodeStrict(readFileSync(join(directory, FILES.trust)), 'SUIT trust file', limits, { items: 0 }, 0);
    const field = (key: number) => (map instanceof Map ? map.get(key) : undefined);
    const componentId = field(TRUST.componentId);
    const trust = {
      serial: field(TRUST.serial),
      hardwareId: field(TRUST.hardwareId),
      vendorId: field(TRUST.vendorId),
      classId: field(TRUST.classId),
      componentId,
      suitKey: field(TRUST.suitKey),
      maxImageBytes: field(TRUST.maxImageBytes),
      keyEpoch: field(TRUST.keyEpoch) ?? 0,
      lastKeyUpdate: field(TRUST.lastKeyUpdate) ?? null,
    };
    const valid =
      typeof trust.serial === 'string' &&
      typeof trust.hardwareId === 'string' &&
      trust.vendorId instanceof Uint8Array &&
      trust.classId instanceof Uint8Array &&
      Array.isArray(componentId) &&
      componentId.every((part) => part instanceof Uint8Array) &&
      trust.suitKey instanceof Uint8Array &&
      trust.suitKey.length === 32 &&
      typeof trust.maxImageBytes === 'number' &&
      typeof trust.keyEpoch === 'number' &&
      Number.isSafeInteger(trust.keyEpoch) &&
      trust.keyEpoch >= 0 &&
      (trust.lastKeyUpdate === null || (trust.lastKeyUpdate instanceof Uint8Array && trust.lastKeyUpdate.length === 32));
    if (!valid) throw new RangeError(`${join(directory, FILES.trust)} is not a SUIT trust file`);
    return trust as Trust;
  }

  get serial(): string {
    return this.trust.serial;
  }

  /** The epoch of the SUIT key it trusts (0: the factory's). */
  get suitKeyEpoch(): number {
    return this.trust.keyEpoch;
  }

  /** The SUIT public key it trusts (raw Ed25519). */
  get suitPublicKey(): Uint8Array {
    return this.trust.suitKey;
  }

  /** The sequence number of the image installed last (0: the factory image). */
  get sequenceNumber(): number {
    return readUint(join(this.directory, FILES.sequence)) ?? 0;
  }

  private loadAttacks(): ReportedAttack[] {
    const path = join(this.directory, FILES.attacks);
    if (!existsSync(path)) return [];
    const list = decodeStrict(readFileSync(path), 'attack list', { ...this.limits, maxItems: 4 * MANIFEST_LIMITS.maxAttacks + 8 }, { items: 0 }, 0);
    if (!Array.isArray(list)) return [];
    return list.filter((a): a is [string, string] => Array.isArray(a) && typeof a[0] === 'string' && typeof a[1] === 'string').map(([code, message]) => ({ code, message }));
  }

  private recordAttack(err: UptaneError): void {
    this.attacks = [...this.attacks, { code: err.code, message: err.message.slice(0, MANIFEST_LIMITS.maxTextLength) }].slice(-MANIFEST_LIMITS.maxAttacks);
    writeFileAtomic(join(this.directory, FILES.attacks), encodeCbor(this.attacks.map((a) => [a.code, a.message])));
  }

  /** An attack the primary's request reveals is reported in the next version report, as a full secondary does. */
  private async guard<T>(action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (err) {
      if (err instanceof UptaneError && err.kind === 'attack') this.recordAttack(err);
      throw err;
    }
  }

  // SuitReceiver --------------------------------------------------------------------------------

  putSuit(envelope: Uint8Array, image: AsyncIterable<Uint8Array>): Promise<void> {
    return this.guard(async () => {
      const manifest = await verifySuitEnvelope(envelope, this.trustedKey, this.limits);
      this.checkManifest(manifest);
      writeFileAtomic(join(this.directory, FILES.staged), Buffer.concat([uint64(manifest.sequenceNumber), manifest.imageDigest]));
      try {
        // AbSlots streams into the inactive slot, capped at the signed size, and hashes on the way:
        // memory stays one chunk whatever the image's size; the active slot is never touched.
        await this.slots.stage({ filename: manifest.uri, length: manifest.imageSize, hashes: { sha256: Buffer.from(manifest.imageDigest).toString('hex') } }, image);
      } catch (err) {
        if (err instanceof HashMismatchError || err instanceof LengthMismatchError || err instanceof DownloadLengthError) {
          throw new SuitDigestMismatchError(`${manifest.uri}: the image does not match the SUIT manifest's digest and size (${err.message})`, { cause: err });
        }
        throw err;
      }
    });
  }

  putSuitKey(statement: Uint8Array): Promise<SuitKeyUpdateResult> {
    return this.guard(async () => {
      // Size before anything, even hashing: the statement has the envelope's limit.
      if (statement.length > this.limits.maxEnvelopeBytes) throw new SuitTooLargeError(`SUIT key update: ${statement.length} bytes, more than the ${this.limits.maxEnvelopeBytes} allowed`);
      const digest = new Uint8Array(createHash('sha256').update(statement).digest());
      // The statement applied last, sent again (the primary lost the answer, or crashed before it
      // recorded it): already done, and no longer verifiable under the key that replaced its signer.
      if (this.trust.lastKeyUpdate !== null && sameBytes(digest, this.trust.lastKeyUpdate)) return { epoch: this.trust.keyEpoch, status: 'unchanged' };
      const update = await verifySuitKeyUpdate(statement, this.trustedKey, this.limits);
      const t = this.trust;
      if (!sameBytes(update.vendorId, t.vendorId)) throw new SuitWrongClassError(`the SUIT key update is for vendor ${Buffer.from(update.vendorId).toString('hex')}, not this ECU's`);
      if (!sameBytes(update.classId, t.classId)) throw new SuitWrongClassError(`the SUIT key update is for class ${Buffer.from(update.classId).toString('hex')}, not this ECU's (${t.hardwareId})`);
      // Strictly greater: an older statement, or another one of the same epoch, is a rollback.
      if (update.epoch <= t.keyEpoch) throw new SuitRollbackError(`SUIT key update to epoch ${update.epoch}; this ECU's key is at epoch ${t.keyEpoch}`);
      let nextKey: SuitKey;
      try {
        nextKey = await importSuitVerifyKey(update.publicKey);
      } catch (err) {
        // Trusting a key that cannot verify would leave the ECU unable to take any update at all.
        throw new SuitMalformedError('the SUIT key update names no usable Ed25519 public key', { cause: err });
      }
      const next: Trust = { ...t, suitKey: update.publicKey, keyEpoch: update.epoch, lastKeyUpdate: digest };
      this.runtime.keyUpdateFaultAt?.('key-verified');
      // One atomic write of the whole trust file: a crash leaves the old key and epoch or the new ones, never a mix.
      writeFileAtomic(join(this.directory, FILES.trust), encodeTrust(next));
      this.runtime.keyUpdateFaultAt?.('key-persisted');
      this.trust = next;
      this.trustedKey = nextKey;
      return { epoch: next.keyEpoch, status: 'updated' };
    });
  }

  /** The device checks of the manifest (RFC 9124 4.3): component, vendor, class, sequence number, size. */
  private checkManifest(m: SuitManifest): void {
    const t = this.trust;
    if (m.componentId.length !== t.componentId.length || m.componentId.some((part, i) => !sameBytes(part, t.componentId[i]!))) {
      throw new SuitWrongClassError(`the SUIT manifest names another component than this ECU's`);
    }
    if (!sameBytes(m.vendorId, t.vendorId)) throw new SuitWrongClassError(`the SUIT manifest is for vendor ${Buffer.from(m.vendorId).toString('hex')}, not this ECU's`);
    if (!sameBytes(m.classId, t.classId)) throw new SuitWrongClassError(`the SUIT manifest is for class ${Buffer.from(m.classId).toString('hex')}, not this ECU's (${t.hardwareId})`);
    // The sequence number is the image's Uptane release counter: never below the installed one
    // (#full_verification 10.2.3 carried over). Equal is allowed, as for release counters.
    const installed = this.sequenceNumber;
    if (m.sequenceNumber < installed) throw new SuitRollbackError(`SUIT sequence number ${m.sequenceNumber} is below the installed image's ${installed}`);
    if (m.imageSize > t.maxImageBytes) throw new SuitTooLargeError(`the SUIT manifest declares ${m.imageSize} bytes; this ECU's slot takes ${t.maxImageBytes}`);
  }

  // SecondaryTransport --------------------------------------------------------------------------

  async info(): Promise<SecondaryInfo> {
    // The protocol's verification names only Uptane's two; a constrained ECU verifies neither, and
    // the primary knows it as constrained from its SUIT bridge file, not from here.
    return { serial: this.trust.serial, hardwareId: this.trust.hardwareId, publicKey: ecuKeyText(this.key.publicKey), verification: 'partial' };
  }

  async versionReport(): Promise<EcuVersionReport> {
    await this.slots.checkIntegrity(this.runtime.clock.now(), (fault) => this.recordAttack(slotIntegrityError(fault)), { ifDue: true, onFactoryCorrupted: (err) => this.recordAttack(err) });
    const counter = (readUint(join(this.directory, FILES.counter)) ?? 0) + 1;
    const attacks = this.attacks;
    // Stored before the report leaves, so a crash never repeats a counter.
    writeUint(join(this.directory, FILES.counter), counter);
    this.attacks = [];
    writeFileAtomic(join(this.directory, FILES.attacks), encodeCbor([]));
    return signVersionReport(this.slots, { serial: this.trust.serial, key: this.key, backend: this.backend }, { counter, attacks, time: this.runtime.clock.now() });
  }

  /** A constrained ECU parses no JSON: Uptane metadata is the primary's mistake, refused. */
  putMetadata(): Promise<MetadataVerdict> {
    return Promise.reject(new OutOfOrderError(`ECU ${this.trust.serial} is constrained: it takes a SUIT envelope (putSuit), not Uptane metadata`));
  }

  putImage(): Promise<void> {
    return Promise.reject(new OutOfOrderError(`ECU ${this.trust.serial} is constrained: its image comes with its SUIT envelope (putSuit)`));
  }

  async install(): Promise<InstallOutcome> {
    if (this.runtime.vehicleState.current() === 'driving') throw new VehicleDrivingError(`ECU ${this.trust.serial} refuses to install while the vehicle is driving`);
    const image = this.slots.current.staged;
    const path = join(this.directory, FILES.staged);
    const record = existsSync(path) ? readFileSync(path) : undefined;
    if (image === null || record?.length !== 40 || record.subarray(8).toString('hex') !== image.hashes.sha256) throw new OutOfOrderError('no image verified against a SUIT envelope is staged for install');
    const outcome = await this.slots.install();
    if (outcome.status === 'installed') writeUint(join(this.directory, FILES.sequence), Number(record.readBigUInt64BE(0)));
    return outcome;
  }

  // Install bundles need the secondary's own check of the bundle against verified Director metadata,
  // which a constrained ECU does not have: a bundle naming one fails at its first phase (docs/suit.md).
  beginTrial(): Promise<TrialVerdict> {
    return Promise.reject(new OutOfOrderError(`ECU ${this.trust.serial} is constrained: it cannot be a member of an install bundle`));
  }

  commitTrial(): Promise<InstallOutcome> {
    return Promise.reject(new OutOfOrderError(`ECU ${this.trust.serial} is constrained: it cannot be a member of an install bundle`));
  }

  async rollBackTrial(): Promise<InstallOutcome | null> {
    return null;
  }
}
