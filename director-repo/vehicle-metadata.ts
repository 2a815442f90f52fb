// Per-vehicle Director metadata: targets listing at most one image per ECU (from the vehicle's active
// assignments), and the snapshot and timestamp that pin it, signed with the Director's online keys.
// Signed lazily, on the vehicle's next read: when its assignments changed (the unit of work that
// changed them marks the targets stale), when less than half of a file's life is left, or when the
// keys it is signed with are not the ones the Director signs with now (an online key rotation,
// docs/decisions.md "Online key rotation").
// That costs nothing for vehicles that do not ask (a fleet of millions): assigning an image to
// 100,000 vehicles marks rows instead of making 300,000 signatures while every vehicle waits (bench
// figure 5). Identical assignments give byte-identical targets and no version bump (issue 4).
import { createHash } from 'node:crypto';
import type { Clock } from '../shared/core/clock.js';
import type { PrivateKey } from '../shared/core/crypto/keys.js';
import { formatExpires, SPEC_VERSION } from '../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../shared/core/metadata/sign.js';
import type { TargetFile, TargetsSigned } from '../shared/core/metadata/types.js';
import type { ImageEncryption } from './api/operator-api.js';
import type { EcuImageDelta } from '../shared/uptane/image-delta.js';
import type { ImageDeltas } from './image-deltas.js';
import { OnlineKeyRing, signedByAll } from '../shared/server/online-keys.js';
import { buildSnapshot, buildTimestamp } from '../shared/server/snapshot-timestamp.js';
import type { AssignmentRecord } from './store/assignments.js';
import { INSTALL_BUNDLE_FIELD, type InstallBundle } from '../shared/uptane/install-bundle.js';
import { installBundleId } from './services/install-bundles.js';
import type { DirectorStore, DirectorTransaction } from './store/director-store.js';
import type { StoredVehicleMetadata } from './store/vehicle-metadata.js';

export interface DirectorOnlineKeys {
  readonly targets: PrivateKey;
  readonly snapshot: PrivateKey;
  readonly timestamp: PrivateKey;
}

/** The roles the Director signs online, per vehicle. */
export const DIRECTOR_SIGNING_ROLES = ['targets', 'snapshot', 'timestamp'] as const;
export type DirectorSigningRole = (typeof DIRECTOR_SIGNING_ROLES)[number];
export type DirectorKeyRing = OnlineKeyRing<DirectorSigningRole>;

/** The ring of `keys`: itself, or plain keys held in memory (tests of a service alone). */
export function directorKeyRing(keys: DirectorOnlineKeys | DirectorKeyRing): DirectorKeyRing {
  return keys instanceof OnlineKeyRing ? keys : OnlineKeyRing.inMemory({ targets: keys.targets, snapshot: keys.snapshot, timestamp: keys.timestamp }, 'director');
}

export interface VehicleMetadataConfig {
  readonly targetsLifetimeMs: number;
  readonly snapshotLifetimeMs: number;
  readonly timestampLifetimeMs: number;
}

const DAY = 24 * 60 * 60 * 1000;

export const DEFAULT_VEHICLE_METADATA_CONFIG: VehicleMetadataConfig = {
  targetsLifetimeMs: 30 * DAY,
  snapshotLifetimeMs: 7 * DAY,
  timestampLifetimeMs: 1 * DAY,
};

type Role = StoredVehicleMetadata['role'];

/** A file the Director signed and stored: its root, or a vehicle's targets (with the VIN). */
export interface SignedDirectorFile {
  readonly role: string;
  readonly version: number;
  readonly bytes: Uint8Array;
  readonly vin?: string;
}

/** Told of files once the unit of work that stored them committed (the transparency log: director-repo/transparency-log.ts). */
export type SignedFilesListener = (files: readonly SignedDirectorFile[]) => Promise<void>;

/** Calls each listener in turn; a listener's failure is its own to report, never the caller's. */
export async function notifySigned(listeners: readonly SignedFilesListener[], files: readonly SignedDirectorFile[]): Promise<void> {
  if (files.length === 0) return;
  for (const listener of listeners) {
    try {
      await listener(files);
    } catch {
      // Stored is stored: the listener reports and recovers (the log catches up on start).
    }
  }
}

type EcuIdentifier = { hardwareId: string; encryption?: ImageEncryption; delta?: EcuImageDelta };

/**
 * The targets entries for a vehicle's active assignments: one image per ECU, keyed by filename. An
 * image encrypted for an ECU names, under that ECU, its wrapped key and the ciphertext to download
 * (docs/image-encryption.md); the entry's length and hashes stay the plaintext's, the Image
 * repository's, so the ECU checks what it decrypted against them (#full_verification step 10.2.1).
 */
export function targetsFor(assignments: readonly AssignmentRecord[], deltas: ReadonlyMap<string, EcuImageDelta> = new Map()): Record<string, TargetFile> {
  const targets: Record<string, { length: number; hashes: Record<string, string>; custom: { ecuIdentifiers: Record<string, EcuIdentifier>; releaseCounter: number } }> = {};
  for (const a of assignments) {
    // Two ECUs may get the same image: one entry names both (ecuIdentifiers is a map).
    const entry = (targets[a.filename] ??= { length: a.length, hashes: a.hashes, custom: { ecuIdentifiers: {}, releaseCounter: a.releaseCounter } });
    const delta = deltas.get(a.ecuSerial);
    entry.custom.ecuIdentifiers[a.ecuSerial] =
      a.encryption === undefined || a.encryption === null ? { hardwareId: a.hardwareId, ...(delta === undefined ? {} : { delta }) } : { hardwareId: a.hardwareId, encryption: a.encryption };
  }
  return targets;
}

/**
 * The install bundle among a vehicle's active assignments, as its targets carry it: the bundle's id,
 * the VIN, and each member ECU with its image's filename and SHA-256 (shared/uptane/install-bundle.ts
 * reads it). The Director keeps one pending bundle per vehicle; with fewer than two members active
 * (the others ended) there is nothing left to hold together.
 */
export function installBundleFor(vin: string, assignments: readonly AssignmentRecord[]): InstallBundle | undefined {
  const byBundle = new Map<number, AssignmentRecord[]>();
  for (const a of assignments) if (a.bundleId !== undefined) byBundle.set(a.bundleId, [...(byBundle.get(a.bundleId) ?? []), a]);
  const [id, members] = [...byBundle.entries()].sort(([x], [y]) => x - y)[0] ?? [];
  if (id === undefined || members === undefined || members.length < 2) return undefined;
  const ecus: Record<string, { filename: string; sha256: string }> = {};
  for (const m of members) ecus[m.ecuSerial] = { filename: m.filename, sha256: m.hashes.sha256 ?? '' };
  return { id: installBundleId(id), vin, ecus };
}

/**
 * True if stored metadata `bytes` is signed by exactly `keys`: each key's signature is there and no
 * other. The files are canonical JSON, so "signatures" comes first and holds those keyids; no signed
 * field of Director metadata is named keyid, so the marker cannot appear elsewhere. (Checked on every
 * read: no parsing.)
 */
function isSignedWithExactly(bytes: Buffer, keys: readonly PrivateKey[]): boolean {
  let signatures = 0;
  for (let at = bytes.indexOf(SIGNATURE_MARKER); at !== -1; at = bytes.indexOf(SIGNATURE_MARKER, at + 1)) signatures++;
  return signatures === keys.length && keys.every((key) => bytes.includes(`${SIGNATURE_MARKER}${key.keyid}"`));
}

const SIGNATURE_MARKER = '{"keyid":"';

const contentHash = (content: unknown) => createHash('sha256').update(JSON.stringify(content)).digest('hex');

export class VehicleMetadataSigner {
  private readonly config: VehicleMetadataConfig;
  private readonly keys: DirectorKeyRing;
  private readonly listeners: SignedFilesListener[] = [];

  constructor(
    private readonly store: DirectorStore,
    keys: DirectorOnlineKeys | DirectorKeyRing,
    private readonly clock: Clock,
    config: Partial<VehicleMetadataConfig> = {},
    /** Deltas from the image each ECU reports to its assigned one; none offered without it. */
    private readonly deltas?: ImageDeltas,
  ) {
    this.config = { ...DEFAULT_VEHICLE_METADATA_CONFIG, ...config };
    this.keys = directorKeyRing(keys);
  }

  /**
   * The file a vehicle asks for by name (`N.root.json`, `timestamp.json`, `[N.]snapshot.json`,
   * `[N.]targets.json`), or undefined; fetching targets puts its pending assignments in flight.
   */
  async file(vin: string, fileName: string): Promise<Buffer | undefined> {
    const root = /^(\d{1,15})\.root\.json$/.exec(fileName);
    if (root !== null) return (await this.store.roots.root(Number(root[1])))?.bytes;
    const match = /^(?:(\d{1,15})\.)?(timestamp|snapshot|targets)\.json$/.exec(fileName);
    if (match === null) return undefined;
    const role = match[2] as Role;
    if (role === 'timestamp' && match[1] !== undefined) return undefined;
    if (match[1] !== undefined) {
      // A vehicle asks for version N because the timestamp (or snapshot) it already holds pins N. If
      // N is still stored and its content current, it is served as it is, even when due for
      // re-signing: re-signing now would replace N under the vehicle mid-cycle (a key rotation's
      // switch, or a file nearing expiry), and its next fetch would find no N. Its next cycle gets
      // the re-signed files through timestamp.json.
      const stored = await this.store.vehicleMetadata.file(vin, role);
      if (stored !== undefined && stored.version === Number(match[1]) && stored.stale !== true && !this.isExpiredAt(stored, this.clock.now())) {
        if (role === 'targets') await this.store.assignments.markInFlight(vin, this.clock.now());
        return stored.bytes;
      }
    }
    const file = await this.current(vin, role);
    if (match[1] !== undefined && Number(match[1]) !== file.version) return undefined;
    if (role === 'targets') await this.store.assignments.markInFlight(vin, this.clock.now());
    return file.bytes;
  }

  /**
   * Calls `listener` with each vehicle targets version signed, once the unit of work that stored it
   * committed. Snapshot and timestamp are not reported: they only pin the targets, and are re-signed
   * for every vehicle that asks, every few hours.
   */
  onTargetsSigned(listener: SignedFilesListener): void {
    this.listeners.push(listener);
  }

  /**
   * Makes the vehicle's stored targets match its active assignments, inside `tx`. No version bump
   * when the content is unchanged and still fresh (a cancel before the vehicle read).
   */
  private async generate(tx: DirectorTransaction, vin: string, now: Date, signedFiles: SignedDirectorFile[]): Promise<void> {
    const assignments = await tx.assignments.active(vin);
    const targets = targetsFor(assignments, await this.deltasFor(tx, vin, assignments));
    const installBundle = installBundleFor(vin, assignments);
    const content = installBundle === undefined ? { targets, vin } : { targets, vin, installBundle };
    const hash = contentHash(content);
    const stored = await tx.vehicleMetadata.file(vin, 'targets');
    if (stored !== undefined && stored.contentSha256 === hash && !this.isDue(stored, 'targets', now)) {
      if (stored.stale === true) await tx.vehicleMetadata.clearStale(vin);
      return;
    }
    const signed: TargetsSigned = {
      _type: 'targets',
      spec_version: SPEC_VERSION,
      version: (stored?.version ?? 0) + 1,
      expires: this.expiry('targets', now),
      targets,
      // The VIN binds the file to one vehicle; with no images it is required (#targets_images_meta).
      // An install bundle names the ECUs that install all or none (docs/decisions.md "Install bundles").
      custom: installBundle === undefined ? { vin } : { vin, [INSTALL_BUNDLE_FIELD]: installBundle },
    };
    const bytes = serializeMetadata(signMetadata(signed, this.keys.signingKeys('targets', now)));
    await tx.vehicleMetadata.put(vin, { role: 'targets', version: signed.version, expires: signed.expires, contentSha256: hash, bytes });
    signedFiles.push({ role: 'targets', version: signed.version, bytes, vin });
    await this.signSnapshot(tx, vin, signed.version, bytes, now);
  }

  /**
   * The deltas to offer, by ECU serial: for each assignment not encrypted (a delta of an encrypted
   * image would be a second, plaintext-derived download; docs/image-encryption.md), from the image
   * the ECU last reported to the assigned one, when the delta is made (image-deltas.ts).
   */
  private async deltasFor(tx: DirectorTransaction, vin: string, assignments: readonly AssignmentRecord[]): Promise<Map<string, EcuImageDelta>> {
    const deltas = new Map<string, EcuImageDelta>();
    const plain = assignments.filter((a) => a.encryption === undefined || a.encryption === null);
    if (this.deltas === undefined || plain.length === 0) return deltas;
    const ecus = new Map((await tx.inventory.ecusOf(vin)).map((e) => [e.serial, e]));
    for (const a of plain) {
      const installed = ecus.get(a.ecuSerial)?.installed;
      const fromSha256 = installed?.hashes.sha256;
      const toSha256 = a.hashes.sha256;
      if (installed === null || installed === undefined || fromSha256 === undefined || toSha256 === undefined) continue;
      const delta = this.deltas.offer(vin, a.hardwareId, { filename: installed.filename, length: installed.length, sha256: fromSha256 }, { filename: a.filename, length: a.length, sha256: toSha256 });
      if (delta !== undefined) deltas.set(a.ecuSerial, delta);
    }
    return deltas;
  }

  /**
   * The stored metadata file of `role` for `vin` (a registered vehicle), regenerated first if it is
   * missing or due for re-signing.
   */
  async current(vin: string, role: Role): Promise<StoredVehicleMetadata> {
    const now = this.clock.now();
    this.keys.endHandovers(now); // a replaced key stops signing, and the files it signed become due
    // The common case, on every vehicle's every check: all three files stored and none due, so one
    // read answers and no transaction is opened (bench/RESULTS.md, figure 2).
    const files = await this.store.vehicleMetadata.files(vin);
    if (files.length === 3 && files.every((file) => !file.stale && !this.isDue(file, file.role, now))) return files.find((file) => file.role === role)!;
    let signedFiles: SignedDirectorFile[] = [];
    const file = await this.store.unitOfWork(async (tx) => {
      signedFiles = []; // a unit of work run again starts over
      const targets = await tx.vehicleMetadata.file(vin, 'targets');
      if (targets === undefined || targets.stale === true || this.isDue(targets, 'targets', now)) await this.generate(tx, vin, now, signedFiles);
      const snapshot = (await tx.vehicleMetadata.file(vin, 'snapshot'))!;
      if (this.isDue(snapshot, 'snapshot', now)) {
        const t = (await tx.vehicleMetadata.file(vin, 'targets'))!;
        await this.signSnapshot(tx, vin, t.version, t.bytes, now);
      }
      const timestamp = (await tx.vehicleMetadata.file(vin, 'timestamp'))!;
      if (this.isDue(timestamp, 'timestamp', now)) {
        const s = (await tx.vehicleMetadata.file(vin, 'snapshot'))!;
        await this.signTimestamp(tx, vin, s.version, s.bytes, now);
      }
      return (await tx.vehicleMetadata.file(vin, role))!;
    });
    await notifySigned(this.listeners, signedFiles);
    return file;
  }

  private async signSnapshot(tx: DirectorTransaction, vin: string, targetsVersion: number, targetsBytes: Uint8Array, now: Date): Promise<void> {
    const previous = await tx.vehicleMetadata.file(vin, 'snapshot');
    const keys = this.keys.signingKeys('snapshot', now);
    const { version, expires, bytes } = signedByAll(
      buildSnapshot([['targets', { version: targetsVersion, bytes: targetsBytes }]], {
        version: (previous?.version ?? 0) + 1,
        expires: this.expiry('snapshot', now),
        key: keys[0]!,
      }),
      keys,
    );
    await tx.vehicleMetadata.put(vin, { role: 'snapshot', version, expires, contentSha256: '', bytes });
    await this.signTimestamp(tx, vin, version, bytes, now);
  }

  private async signTimestamp(tx: DirectorTransaction, vin: string, snapshotVersion: number, snapshotBytes: Uint8Array, now: Date): Promise<void> {
    const previous = await tx.vehicleMetadata.file(vin, 'timestamp');
    const keys = this.keys.signingKeys('timestamp', now);
    const { version, expires, bytes } = signedByAll(
      buildTimestamp({ version: snapshotVersion, bytes: snapshotBytes }, { version: (previous?.version ?? 0) + 1, expires: this.expiry('timestamp', now), key: keys[0]! }),
      keys,
    );
    await tx.vehicleMetadata.put(vin, { role: 'timestamp', version, expires, contentSha256: '', bytes });
  }

  private isExpiredAt(file: StoredVehicleMetadata, now: Date): boolean {
    return new Date(file.expires).getTime() <= now.getTime();
  }

  private lifetime(role: Role): number {
    return role === 'targets' ? this.config.targetsLifetimeMs : role === 'snapshot' ? this.config.snapshotLifetimeMs : this.config.timestampLifetimeMs;
  }

  private expiry(role: Role, now: Date): string {
    return formatExpires(new Date(now.getTime() + this.lifetime(role)));
  }

  /**
   * Less than half the file's lifetime left: re-sign now, so vehicles never see stale metadata
   * (docs/threat-model.md D5). Or not signed by exactly the keys the Director signs with now: when
   * the root that lists a rotated key is published (docs/uptane-conformance.md 9.2), every stored
   * file is re-signed with the new key (and the replaced one, during the handover) on its next read,
   * and once more without the replaced key when the handover ends.
   */
  private isDue(file: StoredVehicleMetadata, role: Role, now: Date): boolean {
    return new Date(file.expires).getTime() - now.getTime() < this.lifetime(role) / 2 || !isSignedWithExactly(file.bytes, this.keys.signingKeys(role, now));
  }
}
