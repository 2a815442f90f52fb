// The Image repository service: takes offline-signed root, targets and delegated targets metadata
// and images from uploaders, verifies everything as a client would before storing it, and keeps
// snapshot and timestamp current with its online keys (uptane-requirements.md section 3).
// Routes in app.ts stay thin; this is where the decisions are.
import type { Clock } from '../shared/core/clock.js';
import { nodeBackend } from '../shared/core/crypto/ed25519.js';
import type { PrivateKey } from '../shared/core/crypto/keys.js';
import {
  DelegationError,
  ExpiredMetadataError,
  MissingImageError,
  OfflineKeyOnServerError,
  RepositoryStateError,
  RollbackError,
  UnauthorizedTargetError,
  UnmetThresholdError,
} from '../shared/core/errors.js';
import { delegatedAuthority, isAuthorizedFor } from '../shared/core/metadata/delegation.js';
import { formatExpires, parseMetadata } from '../shared/core/metadata/parse.js';
import { verifyThreshold, type RoleAuthority } from '../shared/core/metadata/sign.js';
import type { RootSigned, TargetsSigned } from '../shared/core/metadata/types.js';
import { isExpired, TrustedMetadataSet } from '../shared/core/trusted-metadata-set.js';
import { buildSnapshot, buildTimestamp, type RoleFile } from '../shared/server/snapshot-timestamp.js';
import type { BlobStore, StoredBlob } from './blob-store.js';
import type { ImageRepoStorage, StoredMetadata } from './storage.js';

export interface OnlineKeys {
  readonly timestamp: PrivateKey;
  readonly snapshot: PrivateKey;
}

export interface ImageRepoConfig {
  /** Largest image an uploader may push, in bytes. */
  readonly maxImageBytes: number;
  /** Largest metadata file accepted, in bytes. */
  readonly maxMetadataBytes: number;
  readonly snapshotLifetimeMs: number;
  readonly timestampLifetimeMs: number;
  /** Re-sign snapshot or timestamp once less than this share of its lifetime is left. */
  readonly resignWhenRemaining: number;
}

const DAY = 24 * 60 * 60 * 1000;

export const DEFAULT_IMAGE_REPO_CONFIG: ImageRepoConfig = {
  maxImageBytes: 4 * 1024 * 1024 * 1024,
  maxMetadataBytes: 5_000_000,
  snapshotLifetimeMs: 7 * DAY,
  timestampLifetimeMs: 1 * DAY,
  resignWhenRemaining: 0.5,
};

const REPOSITORY = 'image';

export class ImageRepository {
  private readonly config: ImageRepoConfig;

  constructor(
    private readonly storage: ImageRepoStorage,
    private readonly blobs: BlobStore,
    private readonly keys: OnlineKeys,
    private readonly clock: Clock,
    config: Partial<ImageRepoConfig> = {},
  ) {
    this.config = { ...DEFAULT_IMAGE_REPO_CONFIG, ...config };
    const root = this.currentRoot();
    if (root !== undefined) this.checkOnlineKeysAgainst(root.signed);
  }

  get limits(): Pick<ImageRepoConfig, 'maxImageBytes' | 'maxMetadataBytes'> {
    return this.config;
  }

  /** The public online keys, for the release engineer to register in root. */
  onlineKeys(): { timestamp: PrivateKey['publicKey']; snapshot: PrivateKey['publicKey'] } {
    return { timestamp: this.keys.timestamp.publicKey, snapshot: this.keys.snapshot.publicKey };
  }

  // -------------------------------------------------------------------------------------------
  // Serving.

  /**
   * The stored bytes for a metadata file name (URL-decoded) as clients request it: `N.root.json`,
   * `timestamp.json`, `N.snapshot.json`, `N.<role>.json`, or an unversioned `<role>.json` (latest).
   */
  metadataFile(fileName: string): StoredMetadata | undefined {
    const match = /^(?:(\d{1,15})\.)?(.+)\.json$/.exec(fileName);
    if (match === null) return undefined;
    // `fileName` is already URL-decoded (shared/server/route-table.ts); decoding it again made `%25E0` a
    // malformed escape that ended the process (docs/threat-model.md HR-1).
    const role = match[2]!;
    if (match[1] === undefined) return this.storage.latest(role);
    if (role === 'timestamp') return undefined; // timestamp is only served unversioned
    return this.storage.get(role, Number(match[1]));
  }

  async imageFile(sha256: string): Promise<string | undefined> {
    if (!/^[0-9a-f]{64}$/.test(sha256) || this.storage.image(sha256) === undefined) return undefined;
    return this.blobs.pathOf(sha256);
  }

  // -------------------------------------------------------------------------------------------
  // Writing.

  async uploadImage(body: AsyncIterable<Uint8Array>, uploader: string): Promise<StoredBlob> {
    const blob = await this.blobs.put(body, this.config.maxImageBytes);
    this.storage.recordImage({ sha256: blob.hashes.sha256, sha512: blob.hashes.sha512, length: blob.length }, uploader, this.clock.now());
    return blob;
  }

  /**
   * Root v1 must carry a threshold of its own keys' signatures; every later root is checked exactly
   * as a client checks it (#check_root: old and new thresholds, version N+1), so a root that clients
   * would reject is never published. The server's online keys must be the ones root names.
   */
  submitRoot(bytes: Uint8Array): { version: number } {
    const now = this.clock.now();
    const current = this.storage.latest('root');
    let root: RootSigned;
    if (current === undefined) {
      const set = new TrustedMetadataSet(bytes, now, { repository: REPOSITORY, backend: nodeBackend });
      root = set.root.signed;
      if (root.version !== 1) throw new RepositoryStateError(`the first root must be version 1, got ${root.version}`, { repository: REPOSITORY, role: 'root' });
    } else {
      const set = new TrustedMetadataSet(current.bytes, now, { repository: REPOSITORY, backend: nodeBackend });
      root = set.updateRoot(bytes).signed;
    }
    if (isExpired(root.expires, now)) throw new ExpiredMetadataError(`root expired at ${root.expires}`, { repository: REPOSITORY, role: 'root' });
    this.checkOnlineKeysAgainst(root);
    const published = [{ role: 'root', version: root.version, bytes }];
    // A new root may change the online keys' authority: re-sign snapshot and timestamp under it.
    if (this.storage.latest('targets') !== undefined) published.push(...this.signSnapshotAndTimestamp(new Map(), now));
    this.storage.publish(published, now);
    return { version: root.version };
  }

  /**
   * Accepts offline-signed targets metadata for `role` ('targets' or a delegated role) after checking
   * signatures against root or the delegating role, a strictly higher version, expiry, that every
   * image it lists is stored with the same length and hashes, and (for delegated roles) that every
   * image name lies inside the delegation. Then snapshot and timestamp are re-signed, all published
   * in one transaction.
   */
  async submitTargets(role: string, bytes: Uint8Array): Promise<{ version: number; snapshotVersion: number }> {
    const now = this.clock.now();
    const ctx = { repository: REPOSITORY, role };
    const root = this.currentRoot();
    if (root === undefined) throw new RepositoryStateError('push a root before any targets metadata', ctx);
    const metadata = parseMetadata(bytes, 'targets', ctx);
    const { authority, delegator } = this.authorityFor(role, root.signed);
    verifyThreshold(metadata, authority, nodeBackend, ctx);
    const previous = this.storage.latest(role);
    if (previous !== undefined && metadata.signed.version <= previous.version) {
      throw new RollbackError(`${role} version ${metadata.signed.version} must be above the published ${previous.version}`, ctx);
    }
    if (isExpired(metadata.signed.expires, now)) throw new ExpiredMetadataError(`${role} expired at ${metadata.signed.expires}`, ctx);
    for (const [name, target] of Object.entries(metadata.signed.targets)) {
      if (delegator !== undefined && !isAuthorizedFor(delegator, role, name)) {
        throw new UnauthorizedTargetError(`${role} may not sign for ${name}: outside its delegated paths`, ctx);
      }
      const sha256 = target.hashes.sha256;
      const stored = sha256 === undefined ? undefined : this.storage.image(sha256);
      if (stored === undefined) throw new MissingImageError(`${name}: no uploaded image has these hashes; upload the image first`, ctx);
      const sha512 = target.hashes.sha512;
      if (stored.length !== target.length || (sha512 !== undefined && sha512 !== stored.sha512)) {
        throw new MissingImageError(`${name}: the uploaded image differs in length or sha512 from the metadata`, ctx);
      }
    }
    const published = [{ role, version: metadata.signed.version, bytes }];
    const snapshotAndTimestamp = this.signSnapshotAndTimestamp(new Map([[role, { version: metadata.signed.version, bytes }]]), now);
    this.storage.publish([...published, ...snapshotAndTimestamp], now);
    return { version: metadata.signed.version, snapshotVersion: snapshotAndTimestamp[0]!.version };
  }

  /**
   * Keeps snapshot and timestamp from expiring (catalogue D5): re-signs whichever has less than the
   * configured share of its lifetime left. Returns the roles re-signed.
   */
  refreshOnlineMetadata(): string[] {
    const now = this.clock.now();
    if (this.storage.latest('targets') === undefined) return [];
    const snapshot = this.storage.latest('snapshot');
    if (snapshot === undefined || this.isDueForResigning(snapshot, this.config.snapshotLifetimeMs, now)) {
      this.storage.publish(this.signSnapshotAndTimestamp(new Map(), now), now);
      return ['snapshot', 'timestamp'];
    }
    const timestamp = this.storage.latest('timestamp');
    if (timestamp === undefined || this.isDueForResigning(timestamp, this.config.timestampLifetimeMs, now)) {
      this.storage.publish([this.signTimestamp(snapshot, now)], now);
      return ['timestamp'];
    }
    return [];
  }

  // -------------------------------------------------------------------------------------------

  private currentRoot() {
    const stored = this.storage.latest('root');
    return stored === undefined ? undefined : parseMetadata(stored.bytes, 'root', { repository: REPOSITORY });
  }

  /** Keys and threshold for `role`, and the delegating targets metadata when it is delegated. */
  private authorityFor(role: string, root: RootSigned): { authority: RoleAuthority; delegator?: TargetsSigned } {
    const ctx = { repository: REPOSITORY, role };
    if (role === 'targets') return { authority: { keys: root.keys, ...root.roles.targets } };
    for (const name of this.storage.targetsRoles()) {
      const stored = this.storage.latest(name)!;
      const delegator = parseMetadata(stored.bytes, 'targets', { repository: REPOSITORY, role: name }).signed;
      try {
        return { authority: delegatedAuthority(delegator, name, role, ctx), delegator };
      } catch (err) {
        if (!(err instanceof DelegationError)) throw err; // this role does not delegate to `role`
      }
    }
    throw new DelegationError(`no published targets metadata delegates to ${role}`, ctx);
  }

  /** The server signs only with the online keys root authorizes, and never holds offline ones. */
  private checkOnlineKeysAgainst(root: RootSigned): void {
    for (const role of ['timestamp', 'snapshot'] as const) {
      if (!root.roles[role].keyids.includes(this.keys[role].keyid)) {
        throw new UnmetThresholdError(
          `root does not authorize this server's ${role} key ${this.keys[role].keyid}: register the server's online keys (GET /api/v1/online-keys) in root`,
          { repository: REPOSITORY, role },
        );
      }
      if (root.roles[role].threshold !== 1) {
        throw new RepositoryStateError(`root must give the online ${role} role threshold 1 (one server key)`, { repository: REPOSITORY, role });
      }
    }
    for (const role of ['root', 'targets'] as const) {
      for (const key of [this.keys.timestamp, this.keys.snapshot]) {
        if (root.roles[role].keyids.includes(key.keyid)) {
          throw new OfflineKeyOnServerError(`the server holds a ${role} key (${key.keyid}); offline keys never live on the server`, {
            repository: REPOSITORY,
            role,
          });
        }
      }
    }
  }

  private isDueForResigning(stored: StoredMetadata, lifetimeMs: number, now: Date): boolean {
    const { expires } = parseMetadata(stored.bytes, stored.role === 'timestamp' ? 'timestamp' : 'snapshot', { repository: REPOSITORY }).signed;
    return new Date(expires).getTime() - now.getTime() < lifetimeMs * this.config.resignWhenRemaining;
  }

  /** New snapshot listing every published targets role (with `pending` ones not yet stored) and its timestamp. */
  private signSnapshotAndTimestamp(pending: Map<string, RoleFile>, now: Date) {
    // A removed delegation stays listed (uptane-requirements.md 9.1): every role ever published.
    const roles = new Set([...this.storage.targetsRoles(), ...pending.keys()]);
    const previous = this.storage.latest('snapshot');
    const signed = buildSnapshot(
      [...roles].map((role) => [role, pending.get(role) ?? this.storage.latest(role)!] as const),
      { version: (previous?.version ?? 0) + 1, expires: formatExpires(new Date(now.getTime() + this.config.snapshotLifetimeMs)), key: this.keys.snapshot },
    );
    const snapshot = { role: 'snapshot', version: signed.version, bytes: signed.bytes };
    return [snapshot, this.signTimestamp(snapshot, now)];
  }

  private signTimestamp(snapshot: RoleFile, now: Date) {
    const previous = this.storage.latest('timestamp');
    const signed = buildTimestamp(snapshot, {
      version: (previous?.version ?? 0) + 1,
      expires: formatExpires(new Date(now.getTime() + this.config.timestampLifetimeMs)),
      key: this.keys.timestamp,
    });
    return { role: 'timestamp', version: signed.version, bytes: signed.bytes };
  }
}
