// The Director's own root: offline-signed, shared by every vehicle, and naming the online keys this
// Director signs vehicle metadata with; and the rotation of those keys, whose new keys take over in
// the step that stores the root listing them (docs/decisions.md "Online key rotation").
import type { Clock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import type { PublicKey } from '../../shared/core/crypto/keys.js';
import { ExpiredMetadataError, RepositoryStateError, UnmetThresholdError } from '../../shared/core/errors.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import type { RootSigned } from '../../shared/core/metadata/types.js';
import { isExpired, TrustedMetadataSet } from '../../shared/core/trusted-metadata-set.js';
import type { DirectorStore } from '../store/director-store.js';
import { DIRECTOR_SIGNING_ROLES, directorKeyRing, notifySigned, type DirectorKeyRing, type DirectorOnlineKeys, type DirectorSigningRole, type SignedFilesListener } from '../vehicle-metadata.js';

const REPOSITORY = 'director';

type KeyEntry = { keyid: string; key: PublicKey['tuf'] };

export class DirectorRoot {
  private readonly onlineKeys: DirectorKeyRing;
  private readonly listeners: SignedFilesListener[] = [];

  constructor(
    private readonly store: DirectorStore,
    onlineKeys: DirectorOnlineKeys | DirectorKeyRing,
    private readonly clock: Clock,
  ) {
    this.onlineKeys = directorKeyRing(onlineKeys);
  }

  /**
   * Starts a rotation of `roles`: a new key for each waits in keys/pending/ while the key in use keeps
   * signing, until a root listing the new key is published (submitRoot). A role already pending is
   * refused (RotationPendingError) unless `replace`.
   */
  async rotateOnlineKeys(roles: readonly DirectorSigningRole[], replace: boolean, actor: string): Promise<{ pending: Partial<Record<DirectorSigningRole, KeyEntry>>; current: Record<DirectorSigningRole, KeyEntry> }> {
    if ((await this.store.roots.latestRoot()) === undefined) {
      throw new RepositoryStateError('no Director root is published yet, so no vehicle trusts these online keys: nothing to rotate (a first root simply lists the keys in use)', {
        repository: REPOSITORY,
        role: 'root',
      });
    }
    const made = this.onlineKeys.createPending([...new Set(roles)], replace);
    const now = this.clock.now();
    await this.store.unitOfWork((tx) => tx.auditLog.record(actor, 'rotate_online_keys', { pending: Object.fromEntries(Object.entries(made).map(([role, key]) => [role, key.keyid])), replace }, now));
    return { pending: this.pendingKeysJson(), current: this.onlineKeysJson() };
  }

  /** The keys a rotation made that wait for a root listing them. */
  pendingKeysJson(): Partial<Record<DirectorSigningRole, KeyEntry>> {
    const pending: Partial<Record<DirectorSigningRole, KeyEntry>> = {};
    for (const role of DIRECTOR_SIGNING_ROLES) {
      const key = this.onlineKeys.pendingKey(role);
      if (key !== undefined) pending[role] = { keyid: key.keyid, key: key.publicKey.tuf };
    }
    return pending;
  }

  /** At start: completes a switch whose key file move a crash interrupted (the published root lists a pending key). */
  async completeInterruptedSwitch(): Promise<DirectorSigningRole[]> {
    const latest = await this.store.roots.latestRoot();
    if (latest === undefined) return [];
    // The stored root was checked when it was published; an expired one must not stop the start.
    const root = parseMetadata(latest.bytes, 'root', { repository: REPOSITORY, role: 'root' }).signed;
    return this.onlineKeys.completeSwitchOnStart(root.roles, this.clock.now());
  }

  /** Accepts root v1 (self-signed) or root N+1 checked exactly as a vehicle will check it. */
  async submitRoot(bytes: Uint8Array, actor: string): Promise<{ version: number; switched: DirectorSigningRole[] }> {
    const now = this.clock.now();
    const ctx = { repository: REPOSITORY, role: 'root' };
    const current = await this.store.roots.latestRoot();
    let root: RootSigned;
    if (current === undefined) {
      root = new TrustedMetadataSet(bytes, now, { repository: REPOSITORY, backend: nodeBackend }).root.signed;
      if (root.version !== 1) throw new RepositoryStateError(`the first root must be version 1, got ${root.version}`, ctx);
    } else {
      root = new TrustedMetadataSet(current.bytes, now, { repository: REPOSITORY, backend: nodeBackend }).updateRoot(bytes).signed;
    }
    if (isExpired(root.expires, now)) throw new ExpiredMetadataError(`root expired at ${root.expires}`, ctx);
    const { switching, unauthorized } = this.onlineKeys.judgeRoot(root.roles);
    for (const role of unauthorized) {
      const pending = this.onlineKeys.pendingKey(role);
      throw new UnmetThresholdError(
        `root does not authorize this Director's online ${role} key ${this.onlineKeys.key(role).keyid}${pending === undefined ? '' : ` nor its pending ${role} key ${pending.keyid}`}; see GET /api/v1/online-keys`,
        ctx,
      );
    }
    // The switch to the pending keys this root lists is made before the root is committed: from that
    // instant every file re-signed carries the new key's signature (and, during the handover, the
    // replaced key's), so a vehicle that reads the new root finds nothing signed by the old key
    // alone, and one that has not read it yet still verifies (vehicle-metadata.ts isDue).
    const undo = this.onlineKeys.switchTo(switching, now);
    try {
      await this.store.unitOfWork(async (tx) => {
        await tx.roots.insertRoot(root.version, bytes, now);
        await tx.auditLog.record(actor, 'publish_root', switching.length === 0 ? { version: root.version } : { version: root.version, switchedOnlineKeys: switching }, now);
      });
    } catch (err) {
      undo(); // the root was not stored: the keys in use stay, the new ones stay pending
      throw err;
    }
    this.onlineKeys.persistSwitch(switching);
    await notifySigned(this.listeners, [{ role: 'root', version: root.version, bytes }]);
    return { version: root.version, switched: switching };
  }

  /** Calls `listener` with each root version once it is stored (the transparency log). */
  onPublished(listener: SignedFilesListener): void {
    this.listeners.push(listener);
  }

  /** The Director's online public keys, for the offline root (targets, snapshot, timestamp). */
  onlineKeysJson(): Record<DirectorSigningRole, KeyEntry> {
    const entry = (role: DirectorSigningRole) => ({ keyid: this.onlineKeys.key(role).keyid, key: this.onlineKeys.key(role).publicKey.tuf });
    return { targets: entry('targets'), snapshot: entry('snapshot'), timestamp: entry('timestamp') };
  }

  async latestRootVersion(): Promise<number | undefined> {
    return (await this.store.roots.latestRoot())?.version;
  }
}
