// An in-memory TUF/Uptane repository for tests (docs/code-style.md R12): it signs on demand,
// rotates keys, publishes roots, and records every fetch. It implements the Fetcher interface, so
// the real RepositoryUpdater runs against it unchanged; `exportTo()` writes the same repository to
// a folder for the static HTTP server in ./static-server.ts.
//
// Tests change the repository by mutating the plain objects (`sim.timestamp.version = 7`), then
// fetches sign them as they are. Published roots are frozen bytes, as on a real repository.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { canonicalBytes, wireBytes } from '../../shared/core/canonical.js';
import { PrivateKey, type TufKey } from '../../shared/core/crypto/keys.js';
import { RemoteNotFoundError, DownloadLengthError } from '../../shared/core/errors.js';
import type { Fetcher, FetchOptions, FetchResponse } from '../../shared/client/fetcher.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { formatExpires, SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { roleFileName } from '../../shared/core/metadata/paths.js';
import { metaFileFor } from '../../shared/server/snapshot-timestamp.js';
import type {
  DelegatedRole,
  MetaFile,
  RootSigned,
  SnapshotSigned,
  TargetCustom,
  TargetFile,
  TargetsSigned,
  TimestampSigned,
  TopLevelRole,
} from '../../shared/core/metadata/types.js';

type Mutable<T> = T extends readonly (infer U)[] ? Mutable<U>[] : T extends object ? { -readonly [K in keyof T]: Mutable<T[K]> } : T;
export type MutableRoot = Mutable<RootSigned>;
export type MutableTimestamp = Mutable<TimestampSigned>;
export type MutableSnapshot = Mutable<SnapshotSigned>;
export type MutableTargets = Mutable<TargetsSigned>;

export const SIM_BASE = 'mem://repo';
export const SIM_METADATA_URL = `${SIM_BASE}/metadata`;
export const SIM_TARGETS_URL = `${SIM_BASE}/targets`;
/** The simulator's reference "now"; metadata expires a year later unless a test says otherwise. */
export const SIM_NOW = new Date('2026-06-01T00:00:00Z');
export const SIM_EXPIRES = '2027-06-01T00:00:00Z';

export interface SimulatorOptions {
  /** Prefix for deterministic key labels, so two simulators (Director, Image) have different keys. */
  readonly name?: string;
  readonly consistentSnapshot?: boolean;
  /** Also list length and hashes of snapshot in timestamp and of targets files in snapshot. */
  readonly computeMetafileHashesAndLength?: boolean;
}

export class RepositorySimulator implements Fetcher {
  readonly name: string;
  /** Keys signing each role, top-level and delegated, by role name. */
  readonly signers = new Map<string, PrivateKey[]>();
  root: MutableRoot;
  timestamp: MutableTimestamp;
  snapshot: MutableSnapshot;
  targets: MutableTargets;
  readonly delegated = new Map<string, MutableTargets>();
  /** Published root versions, signed once when published: index 0 is version 1. */
  readonly publishedRoots: Buffer[] = [];
  readonly targetFiles = new Map<string, Buffer>();
  /** Every URL fetched, in order. */
  readonly fetchLog: string[] = [];
  /** When set, bytes served for a path (relative to SIM_BASE) instead of the honest ones: attacks. */
  override: ((path: string) => Uint8Array | 'not-found' | undefined) | undefined;
  computeMetafileHashesAndLength: boolean;
  private keyCounter = 0;

  constructor(options: SimulatorOptions = {}) {
    this.name = options.name ?? 'sim';
    this.computeMetafileHashesAndLength = options.computeMetafileHashesAndLength ?? false;
    this.root = {
      _type: 'root',
      spec_version: SPEC_VERSION,
      version: 1,
      expires: SIM_EXPIRES,
      consistent_snapshot: options.consistentSnapshot ?? true,
      keys: {},
      roles: {
        root: { keyids: [], threshold: 1 },
        timestamp: { keyids: [], threshold: 1 },
        snapshot: { keyids: [], threshold: 1 },
        targets: { keyids: [], threshold: 1 },
      },
    };
    for (const role of ['root', 'timestamp', 'snapshot', 'targets'] as const) this.addKey(role);
    this.targets = { _type: 'targets', spec_version: SPEC_VERSION, version: 1, expires: SIM_EXPIRES, targets: {} };
    this.snapshot = {
      _type: 'snapshot',
      spec_version: SPEC_VERSION,
      version: 1,
      expires: SIM_EXPIRES,
      meta: { 'targets.json': { version: 1 } },
    };
    this.timestamp = {
      _type: 'timestamp',
      spec_version: SPEC_VERSION,
      version: 1,
      expires: SIM_EXPIRES,
      meta: { 'snapshot.json': { version: 1 } },
    };
    this.publishRoot();
  }

  /** A new deterministic key, distinct per simulator and per call. */
  newKey(label = 'key'): PrivateKey {
    this.keyCounter += 1;
    return PrivateKey.fromLabel(`${this.name}/${label}/${this.keyCounter}`);
  }

  /** Authorizes a (new) key for a top-level role in root; call publishRoot() to publish. */
  addKey(role: TopLevelRole, key: PrivateKey = this.newKey(role)): PrivateKey {
    this.root.keys[key.keyid] = key.publicKey.tuf as Mutable<TufKey>;
    if (!this.root.roles[role].keyids.includes(key.keyid)) this.root.roles[role].keyids.push(key.keyid);
    this.signers.set(role, [...(this.signers.get(role) ?? []), key]);
    return key;
  }

  /** Replaces every key of `role` with one new key (threshold 1). */
  rotateKeys(role: TopLevelRole): PrivateKey {
    for (const keyid of this.root.roles[role].keyids) {
      if (!this.isKeyUsedElsewhere(keyid, role)) delete this.root.keys[keyid];
    }
    this.root.roles[role].keyids = [];
    this.root.roles[role].threshold = 1;
    this.signers.set(role, []);
    return this.addKey(role);
  }

  private isKeyUsedElsewhere(keyid: string, except: TopLevelRole): boolean {
    return (['root', 'timestamp', 'snapshot', 'targets'] as const).some((r) => r !== except && this.root.roles[r].keyids.includes(keyid));
  }

  /**
   * Publishes the current root as the next version, signed by the current root keys plus
   * `extraSigners` (pass the previous root keys when rotating root keys, to cross-sign).
   */
  publishRoot({ extraSigners = [], bumpVersion = true }: { extraSigners?: PrivateKey[]; bumpVersion?: boolean } = {}): Buffer {
    if (bumpVersion && this.publishedRoots.length > 0) this.root.version = this.publishedRoots.length + 1;
    const signers = [...(this.signers.get('root') ?? []), ...extraSigners];
    const bytes = this.sign(this.root, signers);
    this.publishedRoots[this.root.version - 1] = bytes;
    return bytes;
  }

  /**
   * Signs `signed` with `keys` over its canonical bytes and serves the envelope as a repository of
   * this project does, in wire form (control characters escaped; otherwise the canonical bytes).
   * No validity checks: tests sign bad things too.
   */
  sign(signed: object, keys: readonly PrivateKey[]): Buffer {
    const bytes = canonicalBytes(signed);
    return wireBytes({ signed, signatures: keys.map((k) => ({ keyid: k.keyid, sig: k.sign(bytes) })) });
  }

  signedRole(role: string): Buffer {
    const signed = role === 'timestamp' ? this.timestamp : role === 'snapshot' ? this.snapshot : role === 'targets' ? this.targets : this.delegated.get(role);
    if (signed === undefined) throw new Error(`simulator has no role ${role}`);
    return this.sign(signed, this.signers.get(role) ?? []);
  }

  /** Adds a target file to `role`'s metadata (top-level targets by default). */
  addTarget(name: string, content: Buffer | string, custom?: TargetCustom, role = 'targets'): TargetFile {
    const data = Buffer.from(content);
    const target: TargetFile = { length: data.length, hashes: digestBytes(data), ...(custom === undefined ? {} : { custom }) };
    const metadata = role === 'targets' ? this.targets : this.delegated.get(role);
    if (metadata === undefined) throw new Error(`simulator has no role ${role}`);
    metadata.targets[name] = target as Mutable<TargetFile>;
    this.targetFiles.set(name, data);
    return target;
  }

  /** Delegates from `delegator` to a new role with one new key; returns the delegated metadata. */
  addDelegation(delegator: string, role: Omit<DelegatedRole, 'keyids' | 'threshold'> & { threshold?: number }): MutableTargets {
    const parent = delegator === 'targets' ? this.targets : this.delegated.get(delegator);
    if (parent === undefined) throw new Error(`simulator has no role ${delegator}`);
    const key = this.newKey(role.name);
    parent.delegations ??= { keys: {}, roles: [] };
    parent.delegations.keys[key.keyid] = key.publicKey.tuf as Mutable<TufKey>;
    parent.delegations.roles ??= [];
    parent.delegations.roles.push({ ...role, keyids: [key.keyid], threshold: role.threshold ?? 1 } as Mutable<DelegatedRole>);
    this.signers.set(role.name, [key]);
    const metadata: MutableTargets = { _type: 'targets', spec_version: SPEC_VERSION, version: 1, expires: SIM_EXPIRES, targets: {} };
    this.delegated.set(role.name, metadata);
    return metadata;
  }

  /** Re-lists every targets file in snapshot and bumps snapshot's version. */
  updateSnapshot(): void {
    const meta: Record<string, Mutable<MetaFile>> = { 'targets.json': this.metaFor('targets') };
    for (const name of this.delegated.keys()) meta[`${name}.json`] = this.metaFor(name);
    this.snapshot.meta = meta;
    this.snapshot.version += 1;
    this.updateTimestamp();
  }

  /** Points timestamp at the current snapshot and bumps timestamp's version. */
  updateTimestamp(): void {
    this.timestamp.meta['snapshot.json'] = this.metaFor('snapshot');
    this.timestamp.version += 1;
  }

  /** Bumps `role`'s version (targets or delegated), then snapshot and timestamp: a normal release. */
  release(role = 'targets'): void {
    const metadata = role === 'targets' ? this.targets : this.delegated.get(role)!;
    metadata.version += 1;
    this.updateSnapshot();
  }

  private metaFor(role: string): Mutable<MetaFile> {
    const version = role === 'snapshot' ? this.snapshot.version : role === 'targets' ? this.targets.version : this.delegated.get(role)!.version;
    return this.computeMetafileHashesAndLength ? metaFileFor({ version, bytes: this.signedRole(role) }) : { version };
  }

  /** The bytes served at `path` (relative to SIM_BASE), or undefined for 404. */
  serve(path: string): Uint8Array | undefined {
    const overridden = this.override?.(path);
    if (overridden === 'not-found') return undefined;
    if (overridden !== undefined) return overridden;
    const metadata = /^\/metadata\/(.+)$/.exec(path);
    if (metadata !== null) return this.serveMetadata(decodeURIComponent(metadata[1]!));
    const target = /^\/targets\/(.+)$/.exec(path);
    if (target !== null) return this.serveTarget(target[1]!.split('/').map(decodeURIComponent).join('/'));
    return undefined;
  }

  private serveMetadata(file: string): Uint8Array | undefined {
    const versioned = /^(\d+)\.(.+)\.json$/.exec(file);
    if (versioned !== null && versioned[2] === 'root') return this.publishedRoots[Number(versioned[1]) - 1];
    if (file === 'timestamp.json') return this.signedRole('timestamp');
    const role = versioned !== null ? versioned[2]! : file.replace(/\.json$/, '');
    const version = versioned !== null ? Number(versioned[1]) : undefined;
    if (role === 'snapshot') return version === undefined || version === this.snapshot.version ? this.signedRole('snapshot') : undefined;
    const metadata = role === 'targets' ? this.targets : this.delegated.get(role);
    if (metadata === undefined || (version !== undefined && version !== metadata.version)) return undefined;
    return this.signedRole(role);
  }

  private serveTarget(file: string): Uint8Array | undefined {
    for (const [name, data] of this.targetFiles) {
      const slash = name.lastIndexOf('/');
      const dir = name.slice(0, slash + 1);
      const base = name.slice(slash + 1);
      if (file === name && !this.root.consistent_snapshot) return data;
      const hash = digestBytes(data, ['sha256']).sha256!;
      if (file === `${dir}${hash}.${base}`) return data;
    }
    return undefined;
  }

  // Fetcher --------------------------------------------------------------------------------------

  async fetch(url: string, options: FetchOptions): Promise<FetchResponse> {
    this.fetchLog.push(url);
    if (!url.startsWith(SIM_BASE)) throw new RemoteNotFoundError(`${url}: not this simulator`);
    const bytes = this.serve(url.slice(SIM_BASE.length));
    if (bytes === undefined) throw new RemoteNotFoundError(`${url}: 404 not found`);
    const offset = Math.min(options.offset ?? 0, bytes.length);
    const body = bytes.subarray(offset);
    const maxBytes = options.maxBytes;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      // Like the HTTP fetcher: bytes beyond the cap are never handed over.
      for (let i = 0; i < body.length; i += 64 * 1024) {
        if (i + 64 * 1024 > maxBytes && body.length > maxBytes) {
          yield body.subarray(i, maxBytes);
          throw new DownloadLengthError(`${url} sends more than ${maxBytes} bytes (endless data?)`);
        }
        yield body.subarray(i, i + 64 * 1024);
      }
    }
    return { offset, body: chunks() };
  }

  /** Fetches of paths matching `pattern`, for asserting what a client asked for. */
  fetched(pattern: RegExp): string[] {
    return this.fetchLog.filter((url) => pattern.test(url));
  }

  // Export ---------------------------------------------------------------------------------------

  /** Writes the repository as a static file tree: metadata/ and targets/ under `directory`. */
  exportTo(directory: string): void {
    const write = (path: string, bytes: Uint8Array) => {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, bytes);
    };
    const metadataDir = join(directory, 'metadata');
    this.publishedRoots.forEach((bytes, i) => write(join(metadataDir, `${i + 1}.root.json`), bytes));
    write(join(metadataDir, 'timestamp.json'), this.signedRole('timestamp'));
    const consistent = this.root.consistent_snapshot;
    write(join(metadataDir, consistent ? `${this.snapshot.version}.snapshot.json` : 'snapshot.json'), this.signedRole('snapshot'));
    write(join(metadataDir, consistent ? `${this.targets.version}.targets.json` : 'targets.json'), this.signedRole('targets'));
    for (const [role, metadata] of this.delegated) {
      write(join(metadataDir, roleFileName(role, consistent ? metadata.version : undefined)), this.signedRole(role));
    }
    for (const [name, data] of this.targetFiles) {
      const slash = name.lastIndexOf('/');
      const file = consistent ? `${name.slice(0, slash + 1)}${digestBytes(data, ['sha256']).sha256}.${name.slice(slash + 1)}` : name;
      write(join(directory, 'targets', file), data);
    }
  }
}

export { formatExpires };
