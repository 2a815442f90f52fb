// The gateway's store on disk: one data file and one small record per cached URL path, a byte cap
// with least-recently-used eviction, and writes that are atomic (a file is complete under its
// final name or not there at all), so a gateway that crashed or restarted serves what it had.
// Nothing here is trusted by a vehicle: a vehicle verifies every byte the gateway sends
// (docs/gateway.md "Trust"); the records only let the gateway itself skip work.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from '../shared/core/errors.js';
import { fsyncDirectory, writeFileAtomic } from '../shared/files/fs-atomic.js';

/** What the gateway knows about one cached answer of the Image repository. */
export interface CacheRecord {
  /** The URL path it answers (`/metadata/timestamp.json`, `/targets/engine/<sha256>.ecm.bin`). */
  readonly key: string;
  readonly size: number;
  /** SHA-256 of the stored bytes: the gateway's own ETag for them. */
  readonly sha256: string;
  /** The Image repository's ETag for them, sent back as If-None-Match when the gateway revalidates. */
  readonly upstreamEtag?: string | undefined;
  /** When the Image repository last confirmed them (ms since the epoch). */
  readonly checkedAt: number;
}

export interface CacheEntry extends CacheRecord {
  /** The data file. */
  readonly path: string;
}

/** A record file larger than this is not one of ours (a record is a few hundred bytes). */
const MAX_RECORD_BYTES = 16 * 1024;

/** The file name stem of a key: its SHA-256, so any path maps to a safe, fixed-length name. */
const stemOf = (key: string): string => createHash('sha256').update(key).digest('hex');

export class DiskCache {
  private readonly entriesDir: string;
  private readonly fillsDir: string;
  /** Map order is use order: least recently used first. */
  private readonly entries = new Map<string, CacheEntry>();
  /** Readers of an entry's data file; an entry in use is never evicted (its file stays whole under them). */
  private readonly pins = new Map<string, number>();
  private total = 0;
  /**
   * Keys whose data file this process wrote, or hashed and found whole. A file taken back from a
   * previous run is hashed once before it is served again (scrub): a copy damaged while the gateway
   * was down (a disk fault, someone with the disk) is dropped and fetched again rather than served
   * to every vehicle until evicted. Vehicles would refuse it either way; this only spares them.
   */
  private readonly scrubbed = new Set<string>();
  private readonly scrubbing = new Map<string, Promise<boolean>>();
  /** Copies taken back from disk that did not hash to their record, and were dropped. */
  damagedDropped = 0;

  /**
   * Opens (or creates) the cache in `dir` and takes back what a previous run left: every complete
   * entry (record and data file of the recorded size); anything else (a fill cut by a crash, a data
   * file without its record, a record that does not parse) is removed.
   */
  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    this.entriesDir = join(dir, 'entries');
    this.fillsDir = join(dir, 'fills');
    try {
      mkdirSync(this.entriesDir, { recursive: true });
      rmSync(this.fillsDir, { recursive: true, force: true });
      mkdirSync(this.fillsDir, { recursive: true });
    } catch (err) {
      throw new StorageError(`cannot use ${dir} as the gateway's cache folder: ${(err as Error).message}`, { cause: err });
    }
    this.load();
    this.evict();
  }

  private load(): void {
    const found: CacheEntry[] = [];
    const names = new Set(readdirSync(this.entriesDir));
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const stem = name.slice(0, -'.json'.length);
      const record = readRecord(join(this.entriesDir, name));
      const path = join(this.entriesDir, `${stem}.data`);
      const size = names.has(`${stem}.data`) ? statSync(path).size : -1;
      if (record === undefined || stemOf(record.key) !== stem || size !== record.size) {
        rmSync(join(this.entriesDir, name), { force: true });
        continue;
      }
      found.push({ ...record, path });
    }
    // Data files whose record is gone (a crash between the two writes) are dropped too.
    for (const name of names) {
      if (name.endsWith('.data') && !found.some((e) => e.path.endsWith(name))) rmSync(join(this.entriesDir, name), { force: true });
    }
    // The order of use is not kept across a restart; the order of last confirmation stands in for it.
    for (const entry of found.sort((a, b) => a.checkedAt - b.checkedAt)) {
      this.entries.set(entry.key, entry);
      this.total += entry.size;
    }
  }

  /** Bytes held, entries held. */
  get usage(): { readonly bytes: number; readonly entries: number } {
    return { bytes: this.total, entries: this.entries.size };
  }

  /** Whether `key` is kept (its place in the order of use unchanged). */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The entry for `key`, marked as just used; undefined when not cached. */
  get(key: string): CacheEntry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /**
   * The entry for `key` (marked as just used) once its data file is known whole: at once for a copy
   * this process wrote or already hashed, after one streaming hash for a copy a previous run left.
   * A copy that does not hash to its record is removed and undefined returned, as for no copy.
   */
  async getScrubbed(key: string): Promise<CacheEntry | undefined> {
    const entry = this.get(key);
    if (entry === undefined || this.scrubbed.has(key)) return entry;
    let pending = this.scrubbing.get(key);
    if (pending === undefined) {
      pending = hashFile(entry.path).then(
        (sha256) => sha256 === entry.sha256,
        (err: unknown) => {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
          throw new StorageError(`cannot read the gateway's copy of ${key}: ${(err as Error).message}`, { cause: err });
        },
      );
      pending.finally(() => this.scrubbing.delete(key)).catch(() => undefined);
      this.scrubbing.set(key, pending);
    }
    const whole = await pending;
    // The entry may have been replaced by a fresh fill while hashing: judge only the copy hashed.
    if (this.entries.get(key) !== entry) return this.getScrubbed(key);
    if (whole) {
      this.scrubbed.add(key);
      return entry;
    }
    this.damagedDropped++;
    await this.remove(key);
    return undefined;
  }

  /** Keeps `key`'s entry (and its data file) in place until the returned release is called. */
  pin(key: string): () => void {
    this.pins.set(key, (this.pins.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.pins.get(key) ?? 1) - 1;
      if (left > 0) this.pins.set(key, left);
      else {
        this.pins.delete(key);
        this.evict();
      }
    };
  }

  /** A fresh path in the fills folder for an answer on its way in (same file system: renamed into place). */
  fillPath(): string {
    return join(this.fillsDir, `${randomBytes(12).toString('hex')}.part`);
  }

  /**
   * Makes the complete, synced file at `filled` the entry for `record.key` (replacing any before it),
   * then evicts past the cap. The data file is renamed into place before its record is written, so
   * a crash between the two leaves a data file that the next start removes.
   */
  async commit(filled: string, record: CacheRecord): Promise<CacheEntry> {
    const stem = stemOf(record.key);
    const path = join(this.entriesDir, `${stem}.data`);
    // A reader already streaming the old file keeps it through its open descriptor.
    const previous = this.entries.get(record.key);
    try {
      await rename(filled, path);
      writeFileAtomic(join(this.entriesDir, `${stem}.json`), Buffer.from(JSON.stringify(record)));
    } catch (err) {
      await rm(filled, { force: true });
      throw new StorageError(`cannot keep ${record.key} in the gateway's cache: ${(err as Error).message}`, { cause: err });
    }
    if (previous !== undefined) {
      this.entries.delete(record.key);
      this.total -= previous.size;
    }
    const entry: CacheEntry = { ...record, path };
    this.entries.set(record.key, entry);
    this.total += entry.size;
    // A fill checks the bytes' hash as they arrive (image-fill.ts, metadata-cache.ts) before committing.
    this.scrubbed.add(record.key);
    this.evict();
    return entry;
  }

  /** Records that the Image repository confirmed `key`'s copy at `checkedAt` (a 304). */
  confirm(key: string, checkedAt: number): CacheEntry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const confirmed: CacheEntry = { ...entry, checkedAt };
    this.entries.set(key, confirmed);
    // Only the record changes; a crash losing it means one more revalidation after the restart.
    try {
      const { path: _path, ...record } = confirmed;
      writeFileAtomic(join(this.entriesDir, `${stemOf(key)}.json`), Buffer.from(JSON.stringify(record)));
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
    }
    return confirmed;
  }

  /** Drops `key` (its copy turned out wrong or gone upstream). */
  async remove(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.scrubbed.delete(key);
    this.total -= entry.size;
    await this.unlink(entry);
  }

  /** Evicts least recently used entries that no reader holds until the cache is within its cap. */
  private evict(): void {
    if (this.total <= this.maxBytes) return;
    for (const [key, entry] of this.entries) {
      if (this.total <= this.maxBytes) break;
      if ((this.pins.get(key) ?? 0) > 0) continue;
      this.entries.delete(key);
      this.scrubbed.delete(key);
      this.total -= entry.size;
      void this.unlink(entry);
    }
  }

  private async unlink(entry: CacheEntry): Promise<void> {
    const stem = stemOf(entry.key);
    // The record first: a crash in between leaves a data file without a record, which start-up removes.
    await rm(join(this.entriesDir, `${stem}.json`), { force: true });
    await rm(entry.path, { force: true });
    try {
      fsyncDirectory(this.entriesDir);
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
    }
  }
}

/** SHA-256 (hex) of a file, read as a stream (an image is never held whole). */
function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** A record file's content, or undefined when it is not one (too large, not JSON, a field missing). */
function readRecord(path: string): CacheRecord | undefined {
  try {
    if (statSync(path).size > MAX_RECORD_BYTES) return undefined;
    const value = JSON.parse(readFileSync(path, 'utf8')) as Partial<CacheRecord>;
    const { key, size, sha256, upstreamEtag, checkedAt } = value;
    if (typeof key !== 'string' || typeof size !== 'number' || typeof sha256 !== 'string' || typeof checkedAt !== 'number') return undefined;
    if (upstreamEtag !== undefined && typeof upstreamEtag !== 'string') return undefined;
    return { key, size, sha256, upstreamEtag, checkedAt };
  } catch (err) {
    if (err instanceof SyntaxError || (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
