// Image repository metadata through the gateway: each file is kept (on disk, and the few in use in
// memory), asked for again with If-None-Match once its freshness window is over, and asked for
// once however many vehicles want it at the same moment. A versioned file (`3.snapshot.json`,
// `2.root.json`) never changes under its name with consistent snapshots, so it is never asked for
// again. Files are served as bytes: a vehicle verifies them, the gateway does not (docs/gateway.md).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GatewayUpstreamError, ReadAccessDeniedError, RemoteNotFoundError, StorageError } from '../shared/core/errors.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import type { Clock } from '../shared/core/clock.js';
import type { DiskCache } from './disk-cache.js';
import type { GatewayLimits } from './limits.js';
import { discard, readUpstreamBody, type Upstream } from './upstream.js';

/** A metadata file as the gateway serves it. */
export interface MetadataCopy {
  readonly bytes: Buffer;
  readonly sha256: string;
}

/** In memory: the files vehicles are asking for now (a timestamp, a snapshot, a targets file, a root). */
const MEMORY_ENTRIES = 64;

/** A metadata file name the gateway asks for: one path segment, printable, bounded. */
const FILE_NAME = /^[A-Za-z0-9._%-]{1,255}$/;

export interface MetadataCacheDeps {
  readonly cache: DiskCache;
  readonly upstream: Upstream;
  readonly limits: Pick<GatewayLimits, 'metadataFreshMs' | 'maxMetadataBytes'>;
  readonly clock: Clock;
  /** Extra headers for the Image repository (the gateway's own read credential). */
  readonly upstreamHeaders: Readonly<Record<string, string>>;
  readonly log: (line: string) => void;
}

export class MetadataCache {
  private readonly memory = new Map<string, MetadataCopy>();
  private readonly inFlight = new Map<string, Promise<MetadataCopy>>();
  /** Files the Image repository does not have, and when it said so (the root walk asks for the next root every cycle). */
  private readonly missing = new Map<string, number>();
  /** Requests sent to the Image repository, by answer: for /healthz and the figures. */
  readonly counts = { fetched: 0, notModified: 0, notFound: 0, stale: 0 };

  constructor(private readonly deps: MetadataCacheDeps) {}

  /** Whether `file` is a metadata file name the gateway will ask the Image repository for. */
  static isFileName(file: string): boolean {
    return FILE_NAME.test(file) && file !== '.' && file !== '..';
  }

  /**
   * The file `file` as the gateway serves it now: kept and fresh, revalidated, or fetched.
   * RemoteNotFoundError when the Image repository has no such file, ReadAccessDeniedError when it
   * refuses the gateway, GatewayUpstreamError when it cannot answer and nothing is kept.
   */
  async get(file: string): Promise<MetadataCopy> {
    const key = `/metadata/${file}`;
    const now = this.deps.clock.now().getTime();
    const missingAt = this.missing.get(key);
    if (missingAt !== undefined && now - missingAt < this.deps.limits.metadataFreshMs) throw new RemoteNotFoundError(`no metadata ${file}`);
    const entry = this.deps.cache.get(key);
    if (entry !== undefined && (isVersioned(file) || now - entry.checkedAt < this.deps.limits.metadataFreshMs)) {
      const copy = await this.copyOf(key, entry.path, entry.sha256);
      if (copy !== undefined) return copy;
    }
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = this.refresh(key, file).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /** Asks the Image repository for `file`, conditionally when a copy is kept. */
  private async refresh(key: string, file: string): Promise<MetadataCopy> {
    const entry = this.deps.cache.get(key);
    const headers: Record<string, string> = { ...this.deps.upstreamHeaders, 'accept-encoding': 'identity' };
    if (entry?.upstreamEtag !== undefined) headers['if-none-match'] = entry.upstreamEtag;
    const what = `the Image repository's ${file}`;
    try {
      const answer = await this.deps.upstream.request('GET', key, headers);
      const now = this.deps.clock.now().getTime();
      if (answer.status === 304 && entry !== undefined) {
        discard(answer);
        this.counts.notModified++;
        this.deps.cache.confirm(key, now);
        const copy = await this.copyOf(key, entry.path, entry.sha256);
        if (copy !== undefined) return copy;
        return this.refresh(key, file); // the kept file went missing under us: fetch it whole
      }
      if (answer.status === 404) {
        discard(answer);
        this.counts.notFound++;
        this.missing.set(key, now);
        await this.forget(key);
        throw new RemoteNotFoundError(`no metadata ${file}`);
      }
      if (answer.status === 401 || answer.status === 403) {
        discard(answer);
        throw new ReadAccessDeniedError(`the Image repository refuses the gateway its ${file} (HTTP ${answer.status}); give the gateway a read credential (docs/gateway.md)`);
      }
      if (answer.status !== 200) {
        discard(answer);
        throw new GatewayUpstreamError(`${what}: HTTP ${answer.status}`);
      }
      if ((answer.headers['content-encoding'] ?? 'identity') !== 'identity') {
        discard(answer);
        throw new GatewayUpstreamError(`${what} came with Content-Encoding ${String(answer.headers['content-encoding']).slice(0, 40)}, which the gateway did not ask for`);
      }
      const bytes = await readUpstreamBody(answer, this.deps.limits.maxMetadataBytes, what);
      this.counts.fetched++;
      this.missing.delete(key);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const etag = answer.headers.etag;
      const filled = this.deps.cache.fillPath();
      writeFileAtomic(filled, bytes);
      await this.deps.cache.commit(filled, { key, size: bytes.length, sha256, upstreamEtag: typeof etag === 'string' && etag.length <= 256 ? etag : undefined, checkedAt: now });
      return this.remember(key, { bytes, sha256 });
    } catch (err) {
      // The Image repository is out of reach or misbehaving: a kept copy is served as it is. A vehicle
      // judges it as it judges any copy (its expiry and version checks); the gateway only says so in its log.
      if (!(err instanceof GatewayUpstreamError) || entry === undefined) throw err;
      const copy = await this.copyOf(key, entry.path, entry.sha256);
      if (copy === undefined) throw err;
      this.counts.stale++;
      this.deps.log(`serving the kept ${file}: ${err.message}`);
      return copy;
    }
  }

  /** The kept bytes of `key`, from memory or its data file; undefined if the file is gone. */
  private async copyOf(key: string, path: string, sha256: string): Promise<MetadataCopy | undefined> {
    const held = this.memory.get(key);
    if (held !== undefined && held.sha256 === sha256) return this.remember(key, held);
    try {
      const bytes = await readFile(path);
      // A copy changed on disk since it was kept (a restart over a damaged disk) is fetched again.
      if (createHash('sha256').update(bytes).digest('hex') !== sha256) {
        await this.forget(key);
        return undefined;
      }
      return this.remember(key, { bytes, sha256 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StorageError(`cannot read the gateway's copy of ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  private remember(key: string, copy: MetadataCopy): MetadataCopy {
    this.memory.delete(key); // re-inserted last: least recently used first
    this.memory.set(key, copy);
    if (this.memory.size > MEMORY_ENTRIES) this.memory.delete(this.memory.keys().next().value!);
    return copy;
  }

  private async forget(key: string): Promise<void> {
    this.memory.delete(key);
    await this.deps.cache.remove(key);
  }
}

/** `<version>.<role>.json`: a consistent-snapshot name, whose bytes never change. */
function isVersioned(file: string): boolean {
  return /^[1-9][0-9]{0,15}\./.test(file);
}
