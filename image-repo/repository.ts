// The Image repository service: takes offline-signed root, targets and delegated targets metadata
// and images from uploaders, verifies everything as a client would before storing it, and keeps
// snapshot and timestamp current with its online keys (docs/uptane-conformance.md 3).
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
  UnsupportedHashAlgorithmError,
} from '../shared/core/errors.js';
import { PUBLISHED_HASHES } from '../shared/core/hashing.js';
import { delegatedAuthority, isAuthorizedFor } from '../shared/core/metadata/delegation.js';
import { formatExpires, parseMetadata } from '../shared/core/metadata/parse.js';
import { verifyThreshold, type RoleAuthority } from '../shared/core/metadata/sign.js';
import type { RootSigned, TargetsSigned } from '../shared/core/metadata/types.js';
import { isExpired, TrustedMetadataSet } from '../shared/core/trusted-metadata-set.js';
import { OnlineKeyRing, signedByAll } from '../shared/server/online-keys.js';
import { buildSnapshot, buildTimestamp, type RoleFile } from '../shared/server/snapshot-timestamp.js';
import type { BlobStore, StoredBlob } from './blob-store.js';
import type { ImageRecordStore } from './store/images.js';
import { PublishConflictError, type MetadataStore, type PublishedFile, type StoredMetadata } from './store/metadata.js';

export interface OnlineKeys {
  readonly timestamp: PrivateKey;
  readonly snapshot: PrivateKey;
}

/** The roles the Image repository signs online. */
export const IMAGE_ONLINE_ROLES = ['snapshot', 'timestamp'] as const;
export type ImageOnlineRole = (typeof IMAGE_ONLINE_ROLES)[number];

/** A rotation's answer: the pending keys made, and the keys still in use until the root that lists them is published. */
export interface StartedRotation {
  readonly pending: Partial<Record<ImageOnlineRole, PrivateKey['publicKey']>>;
  readonly current: Record<ImageOnlineRole, PrivateKey['publicKey']>;
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

/** How often a publication is run when other processes on the same database keep taking its versions (see exclusive). */
const PUBLICATION_ATTEMPTS = 3;

/** True if `bytes` (stored snapshot or timestamp) carries exactly the signatures of `keys`. */
function isSignedByExactly(bytes: Uint8Array, keys: readonly PrivateKey[]): boolean {
  const { signatures } = JSON.parse(Buffer.from(bytes).toString('utf8')) as { signatures: Array<{ keyid: string }> };
  const keyids = new Set(keys.map((key) => key.keyid));
  return signatures.length === keys.length && signatures.every((signature) => keyids.has(signature.keyid));
}

export class ImageRepository {
  private readonly config: ImageRepoConfig;
  /** The publication under way in this process (see exclusive). */
  private publishing: Promise<unknown> = Promise.resolve();
  private readonly keys: OnlineKeyRing<ImageOnlineRole>;
  /** Told of every publication once it is stored (the transparency log: image-repo/transparency-log.ts). */
  private readonly publishListeners: Array<(files: readonly PublishedFile[]) => Promise<void>> = [];

  constructor(
    private readonly storage: MetadataStore & ImageRecordStore,
    private readonly blobs: BlobStore,
    keys: OnlineKeys | OnlineKeyRing<ImageOnlineRole>,
    private readonly clock: Clock,
    config: Partial<ImageRepoConfig> = {},
  ) {
    this.config = { ...DEFAULT_IMAGE_REPO_CONFIG, ...config };
    this.keys = keys instanceof OnlineKeyRing ? keys : OnlineKeyRing.inMemory({ snapshot: keys.snapshot, timestamp: keys.timestamp }, REPOSITORY);
  }

  /**
   * Refuses online keys the published root does not authorize, and offline keys on the server. Run
   * before serving; every root published afterwards is checked as it comes (submitRoot).
   */
  async checkOnlineKeys(): Promise<string[]> {
    const root = await this.currentRoot();
    if (root === undefined) return [];
    // A crash between storing a root that lists a pending key and moving the key file: finish the switch.
    const completed = this.keys.completeSwitchOnStart(root.signed.roles, this.clock.now());
    this.checkOnlineKeysAgainst(root.signed);
    return completed;
  }

  get limits(): Pick<ImageRepoConfig, 'maxImageBytes' | 'maxMetadataBytes'> {
    return this.config;
  }

  /** The public online keys, for the release engineer to register in root. */
  onlineKeys(): { timestamp: PrivateKey['publicKey']; snapshot: PrivateKey['publicKey'] } {
    return { timestamp: this.keys.key('timestamp').publicKey, snapshot: this.keys.key('snapshot').publicKey };
  }

  /** The keys a rotation made that wait for a root listing them (docs/decisions.md "Online key rotation"). */
  pendingOnlineKeys(): Partial<Record<ImageOnlineRole, PrivateKey['publicKey']>> {
    const pending: Partial<Record<ImageOnlineRole, PrivateKey['publicKey']>> = {};
    for (const role of IMAGE_ONLINE_ROLES) {
      const key = this.keys.pendingKey(role);
      if (key !== undefined) pending[role] = key.publicKey;
    }
    return pending;
  }

  /**
   * Starts a rotation of `roles`: a new key for each waits in keys/pending/ beside the one in use,
   * which keeps signing until a root listing the new key is published (submitRoot switches then). A
   * role already pending is refused (RotationPendingError) unless `replace`.
   */
  rotateOnlineKeys(roles: readonly ImageOnlineRole[], replace: boolean): Promise<StartedRotation> {
    return this.exclusive(async () => {
      if ((await this.storage.latest('root')) === undefined) {
        throw new RepositoryStateError('no root is published yet, so no vehicle trusts these online keys: nothing to rotate (a first root simply lists the keys in use)', {
          repository: REPOSITORY,
          role: 'root',
        });
      }
      this.keys.createPending([...new Set(roles)], replace);
      return { pending: this.pendingOnlineKeys(), current: this.onlineKeys() };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Serving.

  /**
   * The stored bytes for a metadata file name (URL-decoded) as clients request it: `N.root.json`,
   * `timestamp.json`, `N.snapshot.json`, `N.<role>.json`, or an unversioned `<role>.json` (latest).
   */
  async metadataFile(fileName: string): Promise<StoredMetadata | undefined> {
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
    if (!/^[0-9a-f]{64}$/.test(sha256) || (await this.storage.image(sha256)) === undefined) return undefined;
    return this.blobs.pathOf(sha256);
  }

  // -------------------------------------------------------------------------------------------
  // Writing.

  async uploadImage(body: AsyncIterable<Uint8Array>, uploader: string): Promise<StoredBlob> {
    const blob = await this.blobs.put(body, this.config.maxImageBytes);
    await this.storage.recordImages([{ sha256: blob.hashes.sha256, sha512: blob.hashes.sha512, length: blob.length }], uploader, this.clock.now());
    return blob;
  }

  /**
   * Root v1 must carry a threshold of its own keys' signatures; every later root is checked exactly
   * as a client checks it (#check_root: old and new thresholds, version N+1), so a root that clients
   * would reject is never published. The server's online keys must be the ones root names.
   */
  submitRoot(bytes: Uint8Array): Promise<{ version: number; switched: ImageOnlineRole[] }> {
    return this.exclusive(async () => {
      const now = this.clock.now();
      const timestamp = await this.storage.latest('timestamp'); // first: see exclusive
      const current = await this.storage.latest('root');
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
      const { switching } = this.checkOnlineKeysAgainst(root);
      // The switch to a pending key this root lists happens in this publication: snapshot and
      // timestamp stored with the root are signed by the new key (and, during the handover, by the
      // replaced one too), so no client ever holds this root beside metadata it cannot verify.
      const undo = this.keys.switchTo(switching, now);
      try {
        const published: PublishedFile[] = [{ role: 'root', version: root.version, bytes }];
        // A new root may change the online keys' authority: re-sign snapshot and timestamp under it.
        if ((await this.storage.latest('targets')) !== undefined) published.push(...(await this.signSnapshotAndTimestamp(new Map(), timestamp, now)));
        await this.publish(published, now);
      } catch (err) {
        undo(); // the root was not stored: the key in use stays, the new one stays pending
        throw err;
      }
      this.keys.persistSwitch(switching);
      return { version: root.version, switched: switching };
    });
  }

  /**
   * Accepts offline-signed targets metadata for `role` ('targets' or a delegated role) after checking
   * signatures against root or the delegating role, a strictly higher version, expiry, that every
   * image it lists is stored with the same length and hashes, and (for delegated roles) that every
   * image name lies inside the delegation. Then snapshot and timestamp are re-signed, all published
   * in one transaction.
   */
  submitTargets(role: string, bytes: Uint8Array): Promise<{ version: number; snapshotVersion: number }> {
    return this.exclusive(async () => {
      const now = this.clock.now();
      const ctx = { repository: REPOSITORY, role };
      const timestamp = await this.storage.latest('timestamp'); // first: see exclusive
      const root = await this.currentRoot();
      if (root === undefined) throw new RepositoryStateError('push a root before any targets metadata', ctx);
      this.checkMaySign(root.signed);
      const metadata = parseMetadata(bytes, 'targets', ctx);
      const { authority, delegator } = await this.authorityFor(role, root.signed);
      verifyThreshold(metadata, authority, nodeBackend, ctx);
      const previous = await this.storage.latest(role);
      if (previous !== undefined && metadata.signed.version <= previous.version) {
        throw new RollbackError(`${role} version ${metadata.signed.version} must be above the published ${previous.version}`, ctx);
      }
      if (isExpired(metadata.signed.expires, now)) throw new ExpiredMetadataError(`${role} expired at ${metadata.signed.expires}`, ctx);
      const targets = Object.entries(metadata.signed.targets);
      for (const [name, target] of targets) {
        // This repository publishes sha256 and sha512 for every image (docs/decisions.md "Hash
        // algorithms"), so a client that computes either one can verify it, and the Director copies both.
        const missing = PUBLISHED_HASHES.filter((algorithm) => !Object.hasOwn(target.hashes, algorithm));
        if (missing.length > 0) {
          throw new UnsupportedHashAlgorithmError(`${name} lists no ${missing.join(' and no ')}: this repository publishes every image with ${PUBLISHED_HASHES.join(' and ')}`, ctx);
        }
      }
      const images = await this.storage.images(targets.flatMap(([, target]) => (target.hashes.sha256 === undefined ? [] : [target.hashes.sha256])));
      for (const [name, target] of targets) {
        if (delegator !== undefined && !isAuthorizedFor(delegator, role, name)) {
          throw new UnauthorizedTargetError(`${role} may not sign for ${name}: outside its delegated paths`, ctx);
        }
        const sha256 = target.hashes.sha256;
        const stored = sha256 === undefined ? undefined : images.get(sha256);
        if (stored === undefined) throw new MissingImageError(`${name}: no uploaded image has these hashes; upload the image first`, ctx);
        if (stored.length !== target.length || target.hashes.sha512 !== stored.sha512) {
          throw new MissingImageError(`${name}: the uploaded image differs in length or sha512 from the metadata`, ctx);
        }
      }
      const published = { role, version: metadata.signed.version, bytes };
      const snapshotAndTimestamp = await this.signSnapshotAndTimestamp(new Map([[role, published]]), timestamp, now);
      await this.publish([published, ...snapshotAndTimestamp], now);
      return { version: metadata.signed.version, snapshotVersion: snapshotAndTimestamp[0]!.version };
    });
  }

  /**
   * Keeps snapshot and timestamp from expiring (docs/threat-model.md D5): re-signs whichever has
   * less than the configured share of its lifetime left. Returns the roles re-signed.
   */
  refreshOnlineMetadata(): Promise<string[]> {
    return this.exclusive(async () => {
      const now = this.clock.now();
      const timestamp = await this.storage.latest('timestamp'); // first: see exclusive
      this.keys.endHandovers(now);
      if ((await this.storage.latest('targets')) === undefined) return [];
      const root = await this.currentRoot();
      if (root !== undefined) this.checkMaySign(root.signed);
      const snapshot = await this.storage.latest('snapshot');
      // Signed by other keys than the server signs with now: a handover that ended (in this process
      // or with a restart), so the replaced key's signature leaves snapshot and timestamp.
      const keysChanged = (stored: StoredMetadata | undefined, role: ImageOnlineRole) => stored !== undefined && !isSignedByExactly(stored.bytes, this.keys.signingKeys(role, now));
      if (snapshot === undefined || keysChanged(snapshot, 'snapshot') || keysChanged(timestamp, 'timestamp') || this.isDueForResigning(snapshot, this.config.snapshotLifetimeMs, now)) {
        await this.publish(await this.signSnapshotAndTimestamp(new Map(), timestamp, now), now);
        return ['snapshot', 'timestamp'];
      }
      if (timestamp === undefined || this.isDueForResigning(timestamp, this.config.timestampLifetimeMs, now)) {
        await this.publish([this.signTimestamp(snapshot, timestamp, now)], now);
        return ['timestamp'];
      }
      return [];
    });
  }

  /**
   * Runs the publications of this process one at a time, each reading, signing and storing with no
   * other slipping in between. A publisher in another process sharing the database is caught by the
   * store instead (PublishConflictError): every publication that changes what snapshot and timestamp
   * pin takes the next timestamp version, and each reads timestamp before anything else, so one that
   * read a state another has since changed fails rather than overwrite it. Such a publication is run
   * again from the start, reading the new state, a few times: another replica's re-signing of
   * timestamp is no reason to refuse an uploader's targets, and what the new state no longer allows
   * (the same targets version published meanwhile) is refused by the checks as any late publication.
   */
  private exclusive<T>(publication: () => Promise<T>): Promise<T> {
    const attempts = async (): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await publication();
        } catch (err) {
          if (!(err instanceof PublishConflictError) || attempt >= PUBLICATION_ATTEMPTS) throw err;
        }
      }
    };
    const result = this.publishing.then(attempts);
    this.publishing = result.catch(() => undefined);
    return result;
  }

  /**
   * Calls `listener` with the files of each publication after it is stored, inside the publication's
   * turn (exclusive), so listeners see publications in the order they were stored. A listener's
   * failure does not undo or fail the publication: it is the listener's to report and recover
   * (the transparency log catches up on start).
   */
  onPublished(listener: (files: readonly PublishedFile[]) => Promise<void>): void {
    this.publishListeners.push(listener);
  }

  private async publish(files: readonly PublishedFile[], now: Date): Promise<void> {
    await this.storage.publish(files, now);
    for (const listener of this.publishListeners) {
      try {
        await listener(files);
      } catch {
        // Stored is stored: see onPublished.
      }
    }
  }

  // -------------------------------------------------------------------------------------------

  private async currentRoot() {
    const stored = await this.storage.latest('root');
    return stored === undefined ? undefined : parseMetadata(stored.bytes, 'root', { repository: REPOSITORY });
  }

  /** Keys and threshold for `role`, and the delegating targets metadata when it is delegated. */
  private async authorityFor(role: string, root: RootSigned): Promise<{ authority: RoleAuthority; delegator?: TargetsSigned }> {
    const ctx = { repository: REPOSITORY, role };
    if (role === 'targets') return { authority: { keys: root.keys, ...root.roles.targets } };
    // Top-level targets first: it delegates to most roles (every hash bin), and a store that lists
    // names in order would otherwise parse every published bin (`bins-*` < `targets`) for each one.
    const roles = await this.storage.targetsRoles();
    for (const name of roles.includes('targets') ? ['targets', ...roles.filter((r) => r !== 'targets')] : roles) {
      const stored = (await this.storage.latest(name))!;
      const delegator = parseMetadata(stored.bytes, 'targets', { repository: REPOSITORY, role: name }).signed;
      try {
        return { authority: delegatedAuthority(delegator, name, role, ctx), delegator };
      } catch (err) {
        if (!(err instanceof DelegationError)) throw err; // this role does not delegate to `role`
      }
    }
    throw new DelegationError(`no published targets metadata delegates to ${role}`, ctx);
  }

  /**
   * The server signs only with the online keys root authorizes, and never holds offline ones. Root
   * must list, per online role, the key in use or the pending one (then the server switches to it).
   */
  private checkOnlineKeysAgainst(root: RootSigned): { switching: ImageOnlineRole[] } {
    const { switching, unauthorized } = this.keys.judgeRoot(root.roles);
    for (const role of unauthorized) {
      const pending = this.keys.pendingKey(role);
      throw new UnmetThresholdError(
        `root does not authorize this server's ${role} key ${this.keys.key(role).keyid}${pending === undefined ? '' : ` nor its pending ${role} key ${pending.keyid}`}: ` +
          "register the server's online keys (GET /api/v1/online-keys) in root",
        { repository: REPOSITORY, role },
      );
    }
    for (const role of IMAGE_ONLINE_ROLES) {
      if (root.roles[role].threshold !== 1) {
        throw new RepositoryStateError(`root must give the online ${role} role threshold 1 (one server key)`, { repository: REPOSITORY, role });
      }
    }
    for (const role of ['root', 'targets'] as const) {
      for (const key of this.keys.allKeys()) {
        if (root.roles[role].keyids.includes(key.keyid)) {
          throw new OfflineKeyOnServerError(`the server holds a ${role} key (${key.keyid}); offline keys never live on the server`, {
            repository: REPOSITORY,
            role,
          });
        }
      }
    }
    return { switching };
  }

  /**
   * Signs snapshot and timestamp only with keys the published root lists for them. A replica on the
   * same database whose keys another replica rotated away (the ring lives in each process) would
   * otherwise publish a snapshot or timestamp that fails every client's threshold check, and take
   * turns with the other replica re-signing over each other's.
   */
  private checkMaySign(root: RootSigned): void {
    for (const role of IMAGE_ONLINE_ROLES) {
      const key = this.keys.key(role);
      if (!root.roles[role].keyids.includes(key.keyid)) {
        throw new RepositoryStateError(
          `the published root v${root.version} does not list this server's ${role} key ${key.keyid}: another server on the same database rotated the online keys; restart this server to load them from the shared data folder`,
          { repository: REPOSITORY, role },
        );
      }
    }
  }

  private isDueForResigning(stored: StoredMetadata, lifetimeMs: number, now: Date): boolean {
    const { expires } = parseMetadata(stored.bytes, stored.role === 'timestamp' ? 'timestamp' : 'snapshot', { repository: REPOSITORY }).signed;
    return new Date(expires).getTime() - now.getTime() < lifetimeMs * this.config.resignWhenRemaining;
  }

  /**
   * New snapshot listing every published targets role (with `pending` ones not yet stored) and its
   * timestamp, the successor of `timestamp` (read first by the caller: see exclusive).
   */
  private async signSnapshotAndTimestamp(pending: Map<string, RoleFile>, timestamp: StoredMetadata | undefined, now: Date): Promise<PublishedFile[]> {
    const previous = await this.storage.latest('snapshot');
    // A removed delegation stays listed (docs/uptane-conformance.md 9.1): every role ever
    // published.
    const roles = new Set([...(await this.storage.targetsRoles()), ...pending.keys()]);
    const files = await Promise.all([...roles].map(async (role) => [role, pending.get(role) ?? (await this.storage.latest(role))!] as const));
    const keys = this.keys.signingKeys('snapshot', now);
    const signed = signedByAll(
      buildSnapshot(files, {
        version: (previous?.version ?? 0) + 1,
        expires: formatExpires(new Date(now.getTime() + this.config.snapshotLifetimeMs)),
        key: keys[0]!,
      }),
      keys,
    );
    const snapshot = { role: 'snapshot', version: signed.version, bytes: signed.bytes };
    return [snapshot, this.signTimestamp(snapshot, timestamp, now)];
  }

  /** A timestamp pinning `snapshot`, the successor of `timestamp`. */
  private signTimestamp(snapshot: RoleFile, timestamp: StoredMetadata | undefined, now: Date): PublishedFile {
    const keys = this.keys.signingKeys('timestamp', now);
    const signed = signedByAll(
      buildTimestamp(snapshot, {
        version: (timestamp?.version ?? 0) + 1,
        expires: formatExpires(new Date(now.getTime() + this.config.timestampLifetimeMs)),
        key: keys[0]!,
      }),
      keys,
    );
    return { role: 'timestamp', version: signed.version, bytes: signed.bytes };
  }
}
