// The Director's own root: offline-signed, shared by every vehicle, and naming the online keys this
// Director signs vehicle metadata with.
import type { Clock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import type { PublicKey } from '../../shared/core/crypto/keys.js';
import { ExpiredMetadataError, RepositoryStateError, UnmetThresholdError } from '../../shared/core/errors.js';
import type { RootSigned } from '../../shared/core/metadata/types.js';
import { isExpired, TrustedMetadataSet } from '../../shared/core/trusted-metadata-set.js';
import type { DirectorStore } from '../store/director-store.js';
import type { DirectorOnlineKeys } from '../vehicle-metadata.js';

const REPOSITORY = 'director';

export class DirectorRoot {
  constructor(
    private readonly store: DirectorStore,
    private readonly onlineKeys: DirectorOnlineKeys,
    private readonly clock: Clock,
  ) {}

  /** Accepts root v1 (self-signed) or root N+1 checked exactly as a vehicle will check it. */
  async submitRoot(bytes: Uint8Array, actor: string): Promise<{ version: number }> {
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
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
      if (!root.roles[role].keyids.includes(this.onlineKeys[role].keyid)) {
        throw new UnmetThresholdError(`root does not authorize this Director's online ${role} key ${this.onlineKeys[role].keyid}; see GET /api/v1/online-keys`, ctx);
      }
    }
    await this.store.unitOfWork(async (tx) => {
      await tx.roots.insertRoot(root.version, bytes, now);
      await tx.auditLog.record(actor, 'publish_root', { version: root.version }, now);
    });
    return { version: root.version };
  }

  /** The Director's online public keys, for the offline root (targets, snapshot, timestamp). */
  onlineKeysJson(): Record<'targets' | 'snapshot' | 'timestamp', { keyid: string; key: PublicKey['tuf'] }> {
    const entry = (role: 'targets' | 'snapshot' | 'timestamp') => ({ keyid: this.onlineKeys[role].keyid, key: this.onlineKeys[role].publicKey.tuf });
    return { targets: entry('targets'), snapshot: entry('snapshot'), timestamp: entry('timestamp') };
  }

  async latestRootVersion(): Promise<number | undefined> {
    return (await this.store.roots.latestRoot())?.version;
  }
}
