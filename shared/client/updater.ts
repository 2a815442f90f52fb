// The repository updater: the I/O around the pure TrustedMetadataSet. It fetches with per-role byte
// limits, feeds bytes to the set, and persists exactly the bytes that verified (never before). It
// resolves targets through delegations and downloads images as a stream, capped at the signed length
// and checked against every listed hash. One updater per repository (Director, Image repository).
import { createReadStream, writeSync } from 'node:fs';
import { rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import type { Ed25519Backend } from '../core/crypto/ed25519.js';
import {
  DelegationError,
  DownloadLengthError,
  HashMismatchError,
  LengthMismatchError,
  MissingMetaError,
  MissingTrustedRootError,
  OutOfOrderError,
  ReadForbiddenError,
  RemoteNotFoundError,
  StorageError,
  TargetNotFoundError,
  UptaneError,
} from '../core/errors.js';
import { fetchBytes, type Fetcher, type FetchResponse } from './fetcher.js';
import { fsyncDirectory } from '../files/fs-atomic.js';
import { openPartFile, resumePartFile } from '../files/part-file.js';
import { MultiHasher, requireSupportedHashes } from '../core/hashing.js';
import { downloadHasher } from './parallel-hasher.js';
import type { MetadataStore } from './metadata-store.js';
import { applicableDelegations } from '../core/metadata/delegation.js';
import { checkTargetName, roleFileName } from '../core/metadata/paths.js';
import type { Metadata, TargetFile, TargetsSigned } from '../core/metadata/types.js';
import { ParsedMetadataMemo, TrustedMetadataSet } from '../core/trusted-metadata-set.js';

/**
 * Limits of one updater (docs/code-style.md R10); the defaults are python-tuf's, which peers
 * converged on.
 */
export interface UpdaterConfig {
  /** Root versions walked per refresh (B8). */
  readonly maxRootRotations: number;
  /** Delegated roles visited per target lookup (I6). */
  readonly maxDelegations: number;
  /** Byte limits per role when no trusted file states the length (F1). */
  readonly maxRootBytes: number;
  readonly maxTimestampBytes: number;
  readonly maxSnapshotBytes: number;
  readonly maxTargetsBytes: number;
  /** Images from this size up are hashed on a second thread while downloading (parallel-hasher.ts). */
  readonly hashThreadMinBytes: number;
}

export const DEFAULT_UPDATER_CONFIG: UpdaterConfig = {
  maxRootRotations: 32,
  maxDelegations: 32,
  maxRootBytes: 512_000,
  maxTimestampBytes: 16_384,
  maxSnapshotBytes: 2_000_000,
  maxTargetsBytes: 5_000_000,
  hashThreadMinBytes: 8 * 1024 * 1024,
};

export interface RepositoryUpdaterOptions {
  /** 'director', 'image', or another name carried into errors. */
  readonly repository: string;
  /** Base URL of the metadata, e.g. http://127.0.0.1:8080/metadata */
  readonly metadataUrl: string;
  /** Base URL of the target files, e.g. http://127.0.0.1:8080/targets */
  readonly targetsUrl?: string;
  readonly store: MetadataStore;
  readonly fetcher: Fetcher;
  readonly clock?: Clock;
  readonly backend?: Ed25519Backend;
  readonly config?: Partial<UpdaterConfig>;
  /** Extra headers per request (the Director authenticates vehicles this way). */
  readonly requestHeaders?: (url: string) => Record<string, string>;
  /**
   * How to read a repository that serves only to credentials (shared/uptane/image-access.ts).
   * Unset: every URL as it is.
   */
  readonly readAccess?: ReadAccess;
  /**
   * Parses to reuse when the same bytes are read again (stored metadata, every refresh). Unset: the
   * updater keeps its own; an ECU passes one it also reads its stored files through.
   */
  readonly parsed?: ParsedMetadataMemo;
}

/** Chooses the URL each request goes to, and learns from a refusal (RepositoryUpdaterOptions.readAccess). */
export interface ReadAccess {
  /** The URL to request for a repository URL; asked before every request, a resumed download included, so an expired grant is renewed. */
  requestUrl(url: string): string | Promise<string>;
  /** The server answered 403 to `url`: true if the next requestUrl may succeed, so the request is sent once more. */
  forbidden(url: string): boolean;
}

export interface RefreshResult {
  readonly rootVersion: number;
  readonly timestampVersion: number;
  /** False when the stored snapshot already matched the new timestamp: nothing new (Uptane #full_verification step 4). */
  readonly snapshotChanged: boolean;
  readonly targetsVersion: number;
}

export interface TargetLookup {
  readonly name: string;
  readonly target: TargetFile;
  /** The role whose signed metadata lists the target. */
  readonly role: string;
}

export interface DownloadProgress {
  readonly received: number;
  readonly total: number;
}

export class RepositoryUpdater {
  readonly repository: string;
  private readonly config: UpdaterConfig;
  private readonly clock: Clock;
  private trustedSet: TrustedMetadataSet | undefined;
  /**
   * Every refresh starts a new trusted set from the stored files; their parses carry over (the
   * checks do not: each set verifies what it is given). Figure 7 of bench/RESULTS.md: re-parsing the
   * stored 5,000-entry targets file was a third of an update cycle.
   */
  private readonly parsed: ParsedMetadataMemo;

  constructor(private readonly options: RepositoryUpdaterOptions) {
    this.repository = options.repository;
    this.parsed = options.parsed ?? new ParsedMetadataMemo();
    this.config = { ...DEFAULT_UPDATER_CONFIG, ...options.config };
    this.clock = options.clock ?? systemClock;
  }

  /** The trusted metadata after the last successful (or partially successful) refresh. */
  get trusted(): TrustedMetadataSet {
    if (this.trustedSet === undefined) throw new OutOfOrderError('refresh() first', { repository: this.repository });
    return this.trustedSet;
  }

  /**
   * The TUF client workflow (and Uptane #check_root .. #check_targets): root chain, timestamp,
   * snapshot, top-level targets. Throws the first typed error; what verified before it stays stored.
   */
  async refresh(): Promise<RefreshResult> {
    const set = this.loadTrustedRoot();
    await this.updateRoot();
    await this.updateTimestamp();
    const snapshotChanged = await this.updateSnapshot();
    const targets = await this.updateTargets();
    return {
      rootVersion: set.root.signed.version,
      timestampVersion: set.timestamp!.signed.version,
      snapshotChanged,
      targetsVersion: targets.signed.version,
    };
  }

  // The steps of refresh(), public so that Uptane's full verification can name each one; they must
  // run in this order, each after the previous one succeeded.

  /** #check_root step 1: a new trusted set starts from the root in local storage, never from none (A15). */
  loadTrustedRoot(): TrustedMetadataSet {
    const rootBytes = this.options.store.load('root');
    if (rootBytes === undefined) {
      throw new MissingTrustedRootError(`no trusted ${this.repository} root in local storage: provision one first`, { repository: this.repository });
    }
    this.trustedSet = new TrustedMetadataSet(rootBytes, this.clock.now(), { repository: this.repository, backend: this.options.backend, parsed: this.parsed });
    return this.trustedSet;
  }

  /** #check_root: walks the root chain from the trusted root. */
  async updateRoot(): Promise<void> {
    const set = this.trusted;
    for (let i = 0; i < this.config.maxRootRotations; i++) {
      const next = set.root.signed.version + 1;
      let bytes: Buffer;
      try {
        bytes = await this.fetchMetadata(`${next}.root.json`, this.config.maxRootBytes);
      } catch (err) {
        if (err instanceof RemoteNotFoundError) return; // #check_root 2.2: no N+1, N is the latest
        throw err;
      }
      set.updateRoot(bytes);
      // #check_root step 4: timestamp or snapshot keys rotated -> forget the stored timestamp and
      // snapshot, which is how a client recovers from a fast-forward attack (B10). Done before this
      // root is stored, not after the walk: a walk that fails later leaves this root as the next
      // starting point, from which the rotation is no longer visible, and a stale timestamp naming
      // a fast-forwarded snapshot would then freeze the client for good.
      if (set.keysRotated('timestamp') || set.keysRotated('snapshot')) {
        this.options.store.remove('timestamp');
        this.options.store.remove('snapshot');
      }
      this.options.store.persist('root', bytes);
    }
    // B8: the cap ends this refresh's walk; the next refresh continues from the root stored here.
  }

  /** #check_timestamp. */
  async updateTimestamp(): Promise<void> {
    const set = this.trusted;
    this.loadLocal('timestamp', (bytes) => set.updateTimestamp(bytes));
    const before = set.timestamp;
    const bytes = await this.fetchMetadata('timestamp.json', this.config.maxTimestampBytes);
    const after = set.updateTimestamp(bytes);
    if (after !== before) this.options.store.persist('timestamp', bytes);
  }

  /** #check_snapshot. Returns false if the stored snapshot is the one timestamp names (nothing new). */
  async updateSnapshot(): Promise<boolean> {
    const set = this.trusted;
    if (this.loadLocal('snapshot', (bytes) => set.updateSnapshot(bytes, { trusted: true }))) return false;
    const meta = set.timestamp!.signed.meta['snapshot.json'];
    const name = set.root.signed.consistent_snapshot ? `${meta.version}.snapshot.json` : 'snapshot.json';
    const bytes = await this.fetchMetadata(name, meta.length ?? this.config.maxSnapshotBytes);
    set.updateSnapshot(bytes);
    this.options.store.persist('snapshot', bytes);
    return true;
  }

  /** #check_targets: the top-level targets metadata. */
  updateTargets(): Promise<Metadata<TargetsSigned>> {
    return this.loadTargetsRole(this.trusted, 'targets', 'root');
  }

  /** Trusted targets metadata of `role`: already in the set, or stored locally and still current, or fetched. */
  private async loadTargetsRole(set: TrustedMetadataSet, role: string, delegator: string): Promise<Metadata<TargetsSigned>> {
    const loaded = set.verifyLoadedAgainst(role, delegator);
    if (loaded !== undefined) return loaded;
    let local: Metadata<TargetsSigned> | undefined;
    this.loadLocal(role, (bytes) => (local = set.updateDelegatedTargets(bytes, role, delegator)));
    if (local !== undefined) return local;
    const meta = set.snapshot!.signed.meta[`${role}.json`];
    if (meta === undefined) throw new MissingMetaError(`snapshot does not list ${role}.json`, { repository: this.repository, role });
    const name = set.root.signed.consistent_snapshot ? roleFileName(role, meta.version) : roleFileName(role);
    const bytes = await this.fetchMetadata(name, meta.length ?? this.config.maxTargetsBytes);
    const verified = set.updateDelegatedTargets(bytes, role, delegator);
    this.options.store.persist(role, bytes);
    return verified;
  }

  /**
   * Offers stored bytes to the set. Stored metadata that no longer verifies (keys rotated, expired,
   * superseded) is not an error: the repository's current copy is fetched instead. Returns whether
   * the stored copy was accepted as current.
   */
  private loadLocal(role: string, update: (bytes: Uint8Array) => unknown): boolean {
    const bytes = this.options.store.load(role);
    if (bytes === undefined) return false;
    try {
      update(bytes);
      return true;
    } catch (err) {
      if (err instanceof OutOfOrderError || !(err instanceof UptaneError)) throw err;
      return false;
    }
  }

  private async fetchMetadata(name: string, maxBytes: number): Promise<Buffer> {
    const url = `${this.options.metadataUrl}/${name}`;
    return this.withReadAccess(url, (requested) => fetchBytes(this.options.fetcher, requested, { maxBytes, headers: this.options.requestHeaders?.(url) }));
  }

  /** Sends a request to the URL readAccess chooses, once more after a 403 it can answer. */
  private async withReadAccess<T>(url: string, send: (requested: string) => Promise<T>): Promise<T> {
    const access = this.options.readAccess;
    if (access === undefined) return send(url);
    try {
      return await send(await access.requestUrl(url));
    } catch (err) {
      if (!(err instanceof ReadForbiddenError) || !access.forbidden(url)) throw err;
      return send(await access.requestUrl(url));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Targets.

  /**
   * Finds `name` by delegation resolution (docs/uptane-conformance.md 5.7, TUF 5.6.7): depth-first
   * preorder from top-level targets, delegations in listed order, a terminating delegation ends the
   * search, cycles are cut, at most `maxDelegations` roles are visited (I1-I6).
   */
  async findTarget(name: string, hardwareIds?: readonly string[]): Promise<TargetLookup> {
    checkTargetName(name, { repository: this.repository });
    const set = this.trusted;
    const toVisit: Array<{ role: string; delegator: string }> = [{ role: 'targets', delegator: 'root' }];
    const visited = new Set<string>();
    while (toVisit.length > 0) {
      const { role, delegator } = toVisit.pop()!;
      if (visited.has(role)) continue; // I4: a cycle
      // I6: at most maxDelegations delegated roles, top-level targets not counted (as python-tuf's
      // max_delegations). Giving up with roles left to visit is not "not found": DelegationError.
      if (visited.size > this.config.maxDelegations) {
        throw new DelegationError(
          `${this.repository} repository: looking up ${JSON.stringify(name)} needs more than ${this.config.maxDelegations} delegated roles`,
          { repository: this.repository, role },
        );
      }
      const metadata = await this.loadTargetsRole(set, role, delegator);
      visited.add(role);
      // Own entries only (#delegation_resolution step 2: the file "has signed metadata about the
      // image"): a name like "constructor" must not find an Object.prototype member (J10).
      const target = Object.hasOwn(metadata.signed.targets, name) ? metadata.signed.targets[name] : undefined;
      if (target !== undefined) return { name, target, role };
      const children: Array<{ role: string; delegator: string }> = [];
      for (const step of applicableDelegations(metadata.signed, name, hardwareIds)) {
        children.push({ role: step.name, delegator: role });
        if (step.terminating) {
          toVisit.length = 0; // I2: nothing past a terminating delegation (tough CVE-2025-2886)
          break;
        }
      }
      toVisit.push(...children.reverse());
    }
    throw new TargetNotFoundError(`${this.repository} repository has no trusted target ${JSON.stringify(name)}`, {
      repository: this.repository,
    });
  }

  /** The URL of a target file: `<dir>/<sha256>.<basename>` with consistent snapshots (TUF 5.7.3). */
  targetUrl(lookup: Pick<TargetLookup, 'name' | 'target'>): string {
    if (this.options.targetsUrl === undefined) throw new OutOfOrderError('no targetsUrl configured', { repository: this.repository });
    const segments = lookup.name.split('/');
    if (this.trusted.root.signed.consistent_snapshot) {
      const hash = lookup.target.hashes.sha256 ?? Object.values(lookup.target.hashes)[0]!;
      segments[segments.length - 1] = `${hash}.${segments[segments.length - 1]}`;
    }
    return `${this.options.targetsUrl}/${segments.map(encodeURIComponent).join('/')}`;
  }

  /**
   * Downloads a target to `destination`, streaming: at most the signed length is accepted (F2), a
   * short or altered file is refused (F3), and an interrupted download resumes from the `.part`
   * file with a range request (F6). The destination appears only once every hash matched.
   */
  async downloadTarget(
    lookup: Pick<TargetLookup, 'name' | 'target'>,
    destination: string,
    onProgress?: (progress: DownloadProgress) => void,
  ): Promise<void> {
    const { target } = lookup;
    const ctx = { repository: this.repository, role: lookup.name };
    const partial = `${destination}.part`;
    // G2: a target listing no algorithm this client computes is refused before any byte is fetched.
    const algorithms = requireSupportedHashes(target.hashes, lookup.name, ctx);
    let hasher = downloadHasher(algorithms, target.length, this.config.hashThreadMinBytes);
    try {
      let offset = await resumePartFile(partial, target.length, (chunk) => hasher.update(chunk), ctx);
      const url = this.targetUrl(lookup);
      // K4, CVE-2026-6968: the .part file is opened before fetching, never through a symlink, and an
      // unusable target directory is a StorageError (test/tuf/path-safety.test.ts).
      const file = await openPartFile(partial, offset, ctx);
      let response: FetchResponse;
      try {
        response = await this.withReadAccess(url, (requested) =>
          this.options.fetcher.fetch(requested, { maxBytes: target.length - offset, offset, headers: this.options.requestHeaders?.(url) }),
        );
      } catch (err) {
        await file.close();
        if (offset === 0) await rm(partial, { force: true }); // nothing worth keeping for a resume
        throw err;
      }
      if (response.offset !== offset) {
        // The server ignored the range: start over.
        offset = 0;
        hasher.abandon();
        hasher = downloadHasher(algorithms, target.length, this.config.hashThreadMinBytes);
        await file.truncate(0);
      }
      let received = offset;
      const writeBack = new BackgroundWriteBack(file);
      try {
        for await (const chunk of response.body) {
          received += chunk.length;
          if (received > target.length) {
            throw new DownloadLengthError(`${lookup.name} is longer than its signed ${target.length} bytes (endless data?)`, ctx);
          }
          const hashing = hasher.update(chunk);
          // Written synchronously: a chunk (a socket read, 64 KiB) goes into the page cache in
          // microseconds, while a thread-pool round trip per chunk competed with the hashing for the
          // CPU and cost a quarter of the throughput on a 2-core machine (bench/RESULTS.md, figure 4).
          for (let written = 0; written < chunk.length; ) written += writeSync(file.fd, chunk, written);
          writeBack.wrote(chunk.length);
          onProgress?.({ received, total: target.length });
          if (hashing !== undefined) await hashing; // the hashing thread is 4 MiB behind
        }
        await writeBack.settle();
        await file.sync();
      } catch (err) {
        await writeBack.settle().catch(() => undefined);
        await file.close();
        if (err instanceof DownloadLengthError) await rm(partial, { force: true });
        throw err; // a network failure keeps the .part file for resuming
      }
      await file.close();
      if (received !== target.length) {
        await rm(partial, { force: true });
        throw new LengthMismatchError(`${lookup.name} is ${received} bytes; ${target.length} signed`, ctx);
      }
      if (!(await hasher.matches(target.hashes))) {
        await rm(partial, { force: true });
        throw new HashMismatchError(`${lookup.name} does not match its signed hashes`, ctx);
      }
      try {
        await rename(partial, destination);
      } catch (err) {
        throw new StorageError(`cannot move ${lookup.name} into place: ${(err as Error).message}`, { ...ctx, cause: err });
      }
      fsyncDirectory(join(destination, '..'));
    } finally {
      hasher.abandon(); // a no-op once its digests were taken; otherwise frees the hashing thread
    }
  }

  /** True if `path` already holds exactly this target (same length and hashes): no download needed. */
  async isTargetCached(lookup: Pick<TargetLookup, 'target'>, path: string): Promise<boolean> {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    if (size !== lookup.target.length) return false;
    const hasher = new MultiHasher(Object.keys(lookup.target.hashes));
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      hasher.update(chunk);
    }
    return hasher.matches(lookup.target.hashes);
  }
}

/** A flat, safe local file name for a target: percent-encoded, so `a/../b` cannot escape (K2). */
export function localTargetPath(directory: string, targetName: string): string {
  checkTargetName(targetName);
  return join(directory, encodeURIComponent(targetName));
}

/**
 * Flushes a download's dirty pages to the disk while it is still arriving: one datasync in the
 * thread pool per WRITE_BACK_BYTES written, never two at once. The disk then writes while the
 * primary hashes, and the final fsync, which the install needs before it may trust the file
 * (power cut), finds little left to do; with a single fsync at the end the whole image waited for
 * the disk after the last byte (bench figure 4).
 */
class BackgroundWriteBack {
  private static readonly WRITE_BACK_BYTES = 8 * 1024 * 1024;
  private pending: Promise<void> | undefined;
  private failure: unknown;
  private unflushed = 0;

  constructor(private readonly file: FileHandle) {}

  wrote(bytes: number): void {
    this.unflushed += bytes;
    if (this.unflushed < BackgroundWriteBack.WRITE_BACK_BYTES || this.pending !== undefined) return;
    this.unflushed = 0;
    this.pending = this.file.datasync().then(
      () => { this.pending = undefined; },
      (err: unknown) => { this.failure ??= err; this.pending = undefined; },
    );
  }

  /** Waits for the write-back in flight; a failed one fails the download (the disk is in trouble). */
  async settle(): Promise<void> {
    await this.pending;
    if (this.failure !== undefined) throw this.failure;
  }
}
