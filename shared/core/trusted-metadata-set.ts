// The trusted metadata of one repository, as a pure state machine: bytes and a reference time in,
// typed metadata or a typed error out. No I/O, no clock (docs/code-style.md R1). It implements the
// TUF 1.0 client workflow and Uptane's "how to check" steps for root, timestamp, snapshot and
// targets (docs/uptane-conformance.md 5.3-5.7). An updater around it fetches bytes and persists
// what verified.
//
// Order is enforced: root updates, then timestamp, then snapshot, then targets and delegated targets.
// Calling out of order is a programmer error (OutOfOrderError), not a repository error (E6).
import { type Ed25519Backend, nobleBackend } from './crypto/ed25519.js';
import {
  ExpiredMetadataError,
  HashMismatchError,
  LengthMismatchError,
  MissingMetaError,
  OutOfOrderError,
  RollbackError,
  UnmetThresholdError,
  VersionMismatchError,
  type ErrorContext,
} from './errors.js';
import { hashesMatch, requireSupportedHashes } from './hashing.js';
import { delegatedAuthority } from './metadata/delegation.js';
import { parseExpires, parseMetadata } from './metadata/parse.js';
import { verifyThreshold, type RoleAuthority } from './metadata/sign.js';
import type {
  MetaFile,
  Metadata,
  RoleType,
  RootSigned,
  SignedTypeMap,
  SnapshotSigned,
  TargetsSigned,
  TimestampSigned,
  TopLevelRole,
} from './metadata/types.js';

export interface TrustedSetOptions {
  /** 'director', 'image', or another name; carried into every error. */
  readonly repository: string;
  /** Signature backend; ECUs default to noble (docs/decisions.md Cryptography). */
  readonly backend?: Ed25519Backend;
  /**
   * Parses of earlier byte-identical metadata to reuse (an updater keeps one across its refreshes).
   * Unset: every file is parsed.
   */
  readonly parsed?: ParsedMetadataMemo;
}

/**
 * The last successful parse of each role's metadata, reused when exactly the same bytes come again.
 * An ECU re-reads its stored metadata every update cycle, and parsing a 5,000-entry targets file
 * (JSON, schema, canonical form of the signed part, deep freeze) cost more than its signature check
 * (bench/RESULTS.md, figure 7). Sound because parseMetadata is a deterministic function of the bytes
 * (the error context only names a failure, and failures are never kept) and its result is
 * deep-frozen; only the parse is saved: the trusted set still checks hashes, length, signatures,
 * versions and expiry of what the memo returns, exactly as of a fresh parse. One entry per role and
 * metadata type, at most `maxEntries` (a delegation tree of more roles re-parses the oldest).
 */
export class ParsedMetadataMemo {
  private readonly entries = new Map<string, Metadata>();

  constructor(private readonly maxEntries = 64) {}

  parse<K extends RoleType>(raw: Uint8Array, expectedType: K, context: ErrorContext = {}): Metadata<SignedTypeMap[K]> {
    const entry = `${expectedType}\n${context.role ?? expectedType}`;
    const known = this.entries.get(entry);
    if (known !== undefined && known.raw.length === raw.length && Buffer.from(known.raw.buffer, known.raw.byteOffset, known.raw.length).equals(raw)) {
      return known as Metadata<SignedTypeMap[K]>;
    }
    const parsed = parseMetadata(raw, expectedType, context);
    this.entries.delete(entry);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(entry, parsed);
    return parsed;
  }
}

interface LoadedTargets {
  readonly metadata: Metadata<TargetsSigned>;
  /** The role whose delegation it was verified against ('root' for top-level targets). */
  readonly delegator: string;
}

export function isExpired(expires: string, referenceTime: Date): boolean {
  return parseExpires(expires).getTime() <= referenceTime.getTime();
}

export class TrustedMetadataSet {
  private trustedRoot: Metadata<RootSigned>;
  private trustedTimestamp: Metadata<TimestampSigned> | undefined;
  private trustedSnapshot: Metadata<SnapshotSigned> | undefined;
  private readonly trustedTargets = new Map<string, LoadedTargets>();
  private readonly rotated = new Set<TopLevelRole>();
  private readonly backend: Ed25519Backend;
  private readonly parse: <K extends RoleType>(raw: Uint8Array, expectedType: K, context: ErrorContext) => Metadata<SignedTypeMap[K]>;
  readonly repository: string;

  /**
   * Starts from the locally trusted root (A15). It must parse and carry a threshold of its own keys'
   * signatures; it may be expired (D2): expiry is checked on the final root, before timestamp.
   */
  constructor(
    rootBytes: Uint8Array,
    private readonly referenceTime: Date,
    options: TrustedSetOptions,
  ) {
    this.repository = options.repository;
    this.backend = options.backend ?? nobleBackend;
    const memo = options.parsed;
    this.parse = memo === undefined ? parseMetadata : (raw, expectedType, context) => memo.parse(raw, expectedType, context);
    const root = this.parse(rootBytes, 'root', this.context('root'));
    this.verifyRole(root, this.rootAuthority(root.signed, 'root'), this.context('root'));
    this.trustedRoot = root;
  }

  get root(): Metadata<RootSigned> {
    return this.trustedRoot;
  }

  get timestamp(): Metadata<TimestampSigned> | undefined {
    return this.trustedTimestamp;
  }

  get snapshot(): Metadata<SnapshotSigned> | undefined {
    return this.trustedSnapshot;
  }

  get targets(): Metadata<TargetsSigned> | undefined {
    return this.trustedTargets.get('targets')?.metadata;
  }

  /** Trusted targets metadata of `role` ('targets' or a delegated role), if loaded. */
  getTargets(role: string): Metadata<TargetsSigned> | undefined {
    return this.trustedTargets.get(role)?.metadata;
  }

  /** Whether root updates in this set changed the keys or threshold of `role`. */
  keysRotated(role: TopLevelRole): boolean {
    return this.rotated.has(role);
  }

  // -------------------------------------------------------------------------------------------
  // Root: Uptane #check_root (docs/uptane-conformance.md 5.3), TUF 5.3.

  /** Verifies root N+1 against root N and itself, and makes it the trusted root. */
  updateRoot(bytes: Uint8Array): Metadata<RootSigned> {
    if (this.trustedTimestamp !== undefined) throw new OutOfOrderError('root cannot be updated after timestamp', this.context('root'));
    const ctx = this.context('root');
    const next = this.parse(bytes, 'root', ctx);
    const current = this.trustedRoot;
    // #check_root step 2.3: signed by a threshold of the old root's keys (B2) ...
    this.verifyRole(next, this.rootAuthority(current.signed, 'root'), { ...ctx, role: 'root (previous keys)' });
    // #check_root step 2.4: the version is exactly N+1 (B5; tough CVE-2025-2885).
    const expected = current.signed.version + 1;
    if (next.signed.version < expected) {
      throw new RollbackError(`root version ${next.signed.version} does not follow trusted version ${current.signed.version}`, ctx);
    }
    if (next.signed.version > expected) {
      throw new VersionMismatchError(`root version ${next.signed.version} skips ahead of ${expected}`, ctx);
    }
    // ... and by a threshold of its own keys (B3; python-tuf CVE-2020-15163, GMS-2022-4197).
    this.verifyRole(next, this.rootAuthority(next.signed, 'root'), { ...ctx, role: 'root (new keys)' });
    for (const role of ['timestamp', 'snapshot', 'targets', 'root'] as const) {
      if (!sameAuthority(this.rootAuthority(current.signed, role), this.rootAuthority(next.signed, role))) this.rotated.add(role);
    }
    this.trustedRoot = next;
    return next;
  }

  // -------------------------------------------------------------------------------------------
  // Timestamp: Uptane #check_timestamp (5.4).

  /**
   * Verifies a new timestamp. An equal version keeps the trusted copy and returns it (policy for C7:
   * same version, other content, is not an update). An expired timestamp becomes trusted (it is the
   * reference for rollback checks, C3) but ExpiredMetadataError is thrown, so an updater persists it
   * only when it was already local.
   */
  updateTimestamp(bytes: Uint8Array): Metadata<TimestampSigned> {
    if (this.trustedSnapshot !== undefined) throw new OutOfOrderError('timestamp cannot be updated after snapshot', this.context('timestamp'));
    // #check_root step 3: the final root must not be expired (B7, freeze).
    this.checkNotExpired(this.trustedRoot, 'root');
    const ctx = this.context('timestamp');
    const next = this.parse(bytes, 'timestamp', ctx);
    // Step 2: signatures (arbitrary software).
    this.verifyRole(next, this.rootAuthority(this.trustedRoot.signed, 'timestamp'), ctx);
    const previous = this.trustedTimestamp;
    if (previous !== undefined) {
      // Step 3: rollback of the timestamp (C1) or of the snapshot version it names (C2).
      if (next.signed.version < previous.signed.version) {
        throw new RollbackError(`timestamp version ${next.signed.version} is below trusted ${previous.signed.version}`, ctx);
      }
      if (next.signed.version === previous.signed.version) return previous;
      const nextSnapshot = next.signed.meta['snapshot.json'].version;
      const previousSnapshot = previous.signed.meta['snapshot.json'].version;
      if (nextSnapshot < previousSnapshot) {
        throw new RollbackError(`timestamp names snapshot version ${nextSnapshot}, below trusted ${previousSnapshot}`, ctx);
      }
    }
    this.trustedTimestamp = next;
    // Step 4: expiry (freeze, D1).
    this.checkNotExpired(next, 'timestamp');
    return next;
  }

  // -------------------------------------------------------------------------------------------
  // Snapshot: Uptane #check_snapshot (5.5).

  /**
   * Verifies a snapshot. `trusted` marks bytes from local storage: they skip the hash and length
   * check against timestamp (they were verified when stored) but still serve as the rollback
   * reference for the next snapshot even when timestamp has moved on (C10).
   */
  updateSnapshot(bytes: Uint8Array, { trusted = false }: { trusted?: boolean } = {}): Metadata<SnapshotSigned> {
    const timestamp = this.trustedTimestamp;
    if (timestamp === undefined) throw new OutOfOrderError('snapshot needs a trusted timestamp first', this.context('snapshot'));
    if (this.trustedTargets.size > 0) throw new OutOfOrderError('snapshot cannot be updated after targets', this.context('snapshot'));
    this.checkNotExpired(timestamp, 'timestamp');
    const ctx = this.context('snapshot');
    const snapshotMeta = timestamp.signed.meta['snapshot.json'];
    // Step 2: hashes (and length) as timestamp lists them (mix-and-match, E1).
    if (!trusted) this.checkAgainstMeta(bytes, snapshotMeta, ctx);
    const next = this.parse(bytes, 'snapshot', ctx);
    // Step 3: signatures.
    this.verifyRole(next, this.rootAuthority(this.trustedRoot.signed, 'snapshot'), ctx);
    const previous = this.trustedSnapshot;
    if (previous !== undefined) {
      // Step 4: snapshot rollback (C4).
      if (next.signed.version < previous.signed.version) {
        throw new RollbackError(`snapshot version ${next.signed.version} is below trusted ${previous.signed.version}`, ctx);
      }
      // Steps 5 and 6: no targets file removed (C5) or rolled back, delegated ones included (C4, C6;
      // tough CVE-2025-2887).
      for (const [name, meta] of Object.entries(previous.signed.meta)) {
        const now = next.signed.meta[name];
        if (now === undefined) throw new RollbackError(`snapshot no longer lists ${name}`, ctx);
        if (now.version < meta.version) {
          throw new RollbackError(`snapshot lists ${name} version ${now.version}, below trusted ${meta.version}`, ctx);
        }
      }
    }
    this.trustedSnapshot = next;
    this.checkFinalSnapshot();
    return next;
  }

  // -------------------------------------------------------------------------------------------
  // Targets: Uptane #check_targets (5.6), top-level and delegated.

  updateTargets(bytes: Uint8Array): Metadata<TargetsSigned> {
    return this.updateDelegatedTargets(bytes, 'targets', 'root');
  }

  /**
   * Verifies targets metadata of `role`, delegated by `delegator` ('root' for top-level targets).
   * Delegated metadata gets exactly the checks top-level targets gets (I11; tough CVE-2026-6967).
   */
  updateDelegatedTargets(bytes: Uint8Array, role: string, delegator: string): Metadata<TargetsSigned> {
    const ctx = this.context(role);
    const snapshot = this.trustedSnapshot;
    if (snapshot === undefined) throw new OutOfOrderError(`${role} needs a trusted snapshot first`, ctx);
    this.checkFinalSnapshot();
    const authority = this.authorityFor(role, delegator, ctx);
    const meta = snapshot.signed.meta[`${role}.json`];
    // E4: every targets file must be listed in snapshot.
    if (meta === undefined) throw new MissingMetaError(`snapshot does not list ${role}.json`, ctx);
    this.checkAgainstMeta(bytes, meta, ctx);
    const next = this.parse(bytes, 'targets', ctx);
    // Step 3: signatures, threshold from root or from the delegating targets file.
    this.verifyRole(next, authority, ctx);
    // Step 2: the version snapshot promised (mix-and-match, E3); with snapshot's own monotonic
    // per-file versions this is also the rollback check of step 4 (C6).
    if (next.signed.version !== meta.version) {
      throw new VersionMismatchError(`${role} version ${next.signed.version} differs from snapshot's ${meta.version}`, ctx);
    }
    // Step 5: expiry (freeze).
    this.checkNotExpired(next, role);
    this.trustedTargets.set(role, { metadata: next, delegator });
    return next;
  }

  /**
   * A delegated role already loaded through one delegator, reached now through another (a diamond):
   * re-verify it against the current delegator's keys before use (I5).
   */
  verifyLoadedAgainst(role: string, delegator: string): Metadata<TargetsSigned> | undefined {
    const loaded = this.trustedTargets.get(role);
    if (loaded === undefined) return undefined;
    if (loaded.delegator !== delegator) {
      const ctx = this.context(role);
      this.verifyRole(loaded.metadata, this.authorityFor(role, delegator, ctx), ctx);
    }
    return loaded.metadata;
  }

  // -------------------------------------------------------------------------------------------

  private authorityFor(role: string, delegator: string, ctx: ErrorContext): RoleAuthority {
    if (delegator === 'root') {
      if (role !== 'targets') throw new OutOfOrderError(`root delegates only to targets, not ${role}`, ctx);
      return this.rootAuthority(this.trustedRoot.signed, 'targets');
    }
    const parent = this.trustedTargets.get(delegator);
    if (parent === undefined) throw new OutOfOrderError(`${role} needs its delegator ${delegator} loaded first`, ctx);
    return delegatedAuthority(parent.metadata.signed, delegator, role, ctx);
  }

  /**
   * A threshold of distinct authorized keys signed `metadata` (A1, A2). A threshold above the role's
   * distinct keys parses (A3, see checkRoleKeys) and is refused here, for this role only, with a
   * message that says it can never be met: the rest of the root stays usable, so a repaired root can
   * follow. verifyThreshold alone would refuse it too; this only names the cause.
   */
  private verifyRole(metadata: Pick<Metadata, 'signedBytes' | 'signatures'>, authority: RoleAuthority, ctx: ErrorContext): void {
    const distinct = new Set(authority.keyids.flatMap((id) => (Object.hasOwn(authority.keys, id) ? [authority.keys[id]!.keyval.public] : []))).size;
    if (authority.threshold > distinct) {
      const who = [ctx.repository, ctx.role].filter(Boolean).join(' ');
      throw new UnmetThresholdError(
        `${who} metadata can never be verified: its threshold ${authority.threshold} exceeds the ${distinct} distinct key(s) authorized for it; the repository must publish a root or delegation that repairs it`,
        ctx,
      );
    }
    verifyThreshold(metadata, authority, this.backend, ctx);
  }

  private rootAuthority(root: RootSigned, role: TopLevelRole): RoleAuthority {
    return { keys: root.keys, keyids: root.roles[role].keyids, threshold: root.roles[role].threshold };
  }

  /** Length and hashes as the referring file lists them, when it lists them (E1, E3). */
  private checkAgainstMeta(bytes: Uint8Array, meta: MetaFile, ctx: ErrorContext): void {
    if (meta.length !== undefined && bytes.length !== meta.length) {
      throw new LengthMismatchError(`${ctx.role} is ${bytes.length} bytes; ${meta.length} expected`, ctx);
    }
    if (meta.hashes !== undefined) {
      // G2, G3: every listed algorithm this client computes must match, and one must be listed.
      requireSupportedHashes(meta.hashes, `the entry for ${ctx.role}`, ctx);
      if (!hashesMatch(bytes, meta.hashes)) throw new HashMismatchError(`${ctx.role} does not match the hashes its referrer lists`, ctx);
    }
  }

  /** The snapshot in use must be unexpired and the version timestamp names (python-tuf's final check). */
  private checkFinalSnapshot(): void {
    const snapshot = this.trustedSnapshot!;
    const ctx = this.context('snapshot');
    this.checkNotExpired(snapshot, 'snapshot');
    const expected = this.trustedTimestamp!.signed.meta['snapshot.json'].version;
    if (snapshot.signed.version !== expected) {
      throw new VersionMismatchError(`snapshot version ${snapshot.signed.version} differs from timestamp's ${expected}`, ctx);
    }
  }

  private checkNotExpired(metadata: Metadata, role: string): void {
    if (isExpired(metadata.signed.expires, this.referenceTime)) {
      throw new ExpiredMetadataError(
        `${this.repository} ${role} metadata expired at ${metadata.signed.expires} (possible freeze attack)`,
        this.context(role),
      );
    }
  }

  private context(role: string): ErrorContext {
    return { repository: this.repository, role };
  }
}

function sameAuthority(a: RoleAuthority, b: RoleAuthority): boolean {
  const publicKeys = (r: RoleAuthority) =>
    r.keyids
      .map((id) => r.keys[id]!.keyval.public)
      .sort()
      .join(',');
  return a.threshold === b.threshold && publicKeys(a) === publicKeys(b);
}
