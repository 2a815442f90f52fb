// The Director's image deltas (issue 21 item 2; docs/transport.md "Delta updates"). The Director
// knows the image each ECU reports and the one it is assigned, so it makes the delta between them:
// once per (from, to) pair, with the zstd "patch-from" of shared/files/zstd-delta.ts, from both
// images downloaded from the Image repository and verified against its signed length and hashes (as
// encrypted-images.ts does), checked by applying it before it is kept, and kept in
// <data-dir>/deltas/ as <from sha256>-<to sha256>.delta beside a small record of its length and
// hash. Deltas are made lazily: the first time a vehicle's targets would list one, the targets are
// signed without it and the delta is made in the background; when it is ready the targets of the
// vehicles that asked are marked stale, so their next read lists it. The folder is bounded: past
// its byte budget the least recently used deltas go (a vehicle whose signed delta went gets it
// made again on its request, or falls back to the full image).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../shared/core/clock.js';
import { ConflictError } from '../shared/core/errors.js';
import type { TargetFile } from '../shared/core/metadata/types.js';
import { fsyncDirectory } from '../shared/files/fs-atomic.js';
import { createDeltaApplier, createDeltaStream, DEFAULT_DELTA_MAX_IMAGE_BYTES, DELTA_SCHEME, isDeltaBase } from '../shared/files/zstd-delta.js';
import { deltaFileName, type EcuImageDelta } from '../shared/uptane/image-delta.js';
import type { ImageCatalog } from './image-catalog.js';
import type { DirectorStore } from './store/director-store.js';

export interface ImageDeltaConfig {
  /** Images larger than this (from or to) get no delta: making one holds about three times this in memory. */
  readonly maxImageBytes: number;
  /** The deltas folder's budget; past it the least recently used deltas are removed. */
  readonly maxCacheBytes: number;
  /** A delta not smaller than this share of the full image is not worth offering (recorded as such). */
  readonly maxDeltaShare: number;
  /** After a failed attempt (an image the Image repository does not list), the pair is tried again only after this. */
  readonly retryAfterMs: number;
}

export const DEFAULT_IMAGE_DELTA_CONFIG: ImageDeltaConfig = {
  maxImageBytes: DEFAULT_DELTA_MAX_IMAGE_BYTES,
  maxCacheBytes: 2 * 1024 * 1024 * 1024,
  maxDeltaShare: 0.8,
  retryAfterMs: 10 * 60 * 1000,
};

/** An image on one side of a delta: its name in the Image repository and what was signed or reported for it. */
export interface DeltaEnd {
  readonly filename: string;
  readonly length: number;
  readonly sha256: string;
}

/** What is kept beside a delta: its length and hash, or that it was not worth offering. */
interface DeltaRecord {
  readonly length: number;
  readonly sha256: string;
  readonly offered: boolean;
}

const DELTA_FILE = /^([0-9a-f]{64})-([0-9a-f]{64})\.delta$/;
const recordName = (name: string): string => name.replace(/\.delta$/, '.json');

export class ImageDeltas {
  private readonly config: ImageDeltaConfig;
  /** Deltas being made, by file name: concurrent requests for one pair wait for one making. */
  private readonly making = new Map<string, Promise<DeltaRecord | undefined>>();
  /** One making at a time: each holds both images in memory. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Pairs that could not be made, and when they may be tried again. */
  private readonly failed = new Map<string, number>();
  /** VINs whose targets went out without a delta being made for them: marked stale when it is ready. */
  private readonly waiting = new Map<string, Set<string>>();

  /**
   * @param dir `<data-dir>/deltas`, or undefined for a Director without a data folder, which offers none.
   */
  constructor(
    private readonly store: DirectorStore,
    private readonly images: ImageCatalog,
    private readonly clock: Clock,
    private readonly dir: string | undefined,
    config: Partial<ImageDeltaConfig> = {},
  ) {
    this.config = { ...DEFAULT_IMAGE_DELTA_CONFIG, ...config };
  }

  /**
   * The delta to sign for an ECU that reports `from` and is assigned `to` (hardware `hardwareId`) in
   * vehicle `vin`'s targets, if it is made and worth offering; otherwise undefined, and the delta is
   * made in the background, after which `vin`'s targets are marked stale.
   */
  offer(vin: string, hardwareId: string, from: DeltaEnd, to: DeltaEnd): EcuImageDelta | undefined {
    if (!this.isWanted(from, to)) return undefined;
    const name = deltaFileName(from.sha256, to.sha256);
    const record = this.readRecord(name);
    if (record !== undefined) return record.offered ? this.entry(from, name, record) : undefined;
    if ((this.failed.get(name) ?? -Infinity) > this.clock.now().getTime()) return undefined;
    const waiting = this.waiting.get(name) ?? new Set<string>();
    this.waiting.set(name, waiting.add(vin));
    void this.prepare(hardwareId, from, to).catch(() => undefined); // the failure is recorded in `failed`
    return undefined;
  }

  /** The delta from `from` to `to`, made now if needed (once, however many ask); undefined if none can or should be. */
  prepare(hardwareId: string, from: DeltaEnd, to: DeltaEnd): Promise<DeltaRecord | undefined> {
    const name = deltaFileName(from.sha256, to.sha256);
    const record = this.readRecord(name);
    if (record !== undefined && (!record.offered || existsSync(join(this.dir!, name)))) return Promise.resolve(record);
    let making = this.making.get(name);
    if (making === undefined) {
      const run = this.queue.then(() => this.make(hardwareId, from, to, name));
      this.queue = run.catch(() => undefined);
      making = run
        .then(async (made) => {
          this.failed.delete(name);
          await this.notifyWaiting(name);
          return made;
        })
        .catch(async (err: unknown) => {
          this.failed.set(name, this.clock.now().getTime() + this.config.retryAfterMs);
          await this.notifyWaiting(name);
          throw err;
        })
        .finally(() => this.making.delete(name));
      this.making.set(name, making);
    }
    return making;
  }

  /** Resolves when no delta is being made (tests and benchmarks wait on it instead of sleeping). */
  async idle(): Promise<void> {
    while (this.making.size > 0) await Promise.allSettled([...this.making.values()]);
  }

  /**
   * The delta file vehicle `vin` asks for (`<from>-<to>.delta`), if one of its ECUs reports `from`
   * and has an active assignment of `to` not encrypted; undefined otherwise, whether or not the file
   * exists (no oracle, as for ciphertexts). A signed delta evicted since, or asked of another
   * replica, is made again now.
   */
  async servable(vin: string, file: string): Promise<{ path: string; sha256: string } | undefined> {
    const match = DELTA_FILE.exec(file);
    if (match === null || this.dir === undefined) return undefined;
    const [, fromSha256, toSha256] = match as unknown as [string, string, string];
    const [assignments, ecus] = await Promise.all([this.store.assignments.active(vin), this.store.inventory.ecusOf(vin)]);
    const assignment = assignments.find((a) => a.hashes.sha256 === toSha256 && (a.encryption === undefined || a.encryption === null));
    const installed = ecus.find((e) => e.serial === assignment?.ecuSerial)?.installed;
    if (assignment === undefined || installed === null || installed === undefined || installed.hashes.sha256 !== fromSha256) return undefined;
    const from = { filename: installed.filename, length: installed.length, sha256: fromSha256 };
    const to = { filename: assignment.filename, length: assignment.length, sha256: toSha256 };
    if (!this.isWanted(from, to) || (this.failed.get(file) ?? -Infinity) > this.clock.now().getTime()) return undefined;
    const record = await this.prepare(assignment.hardwareId, from, to).catch(() => undefined);
    if (record === undefined || !record.offered) return undefined;
    const path = join(this.dir, file);
    await utimes(path, new Date(), new Date()).catch(() => undefined); // recently used: evicted last
    return { path, sha256: record.sha256 };
  }

  private isWanted(from: DeltaEnd, to: DeltaEnd): boolean {
    return this.dir !== undefined && this.images.downloadImage !== undefined && from.sha256 !== to.sha256 && from.length <= this.config.maxImageBytes && to.length <= this.config.maxImageBytes;
  }

  private entry(from: DeltaEnd, name: string, record: DeltaRecord): EcuImageDelta {
    return { scheme: DELTA_SCHEME, from: { length: from.length, hashes: { sha256: from.sha256 } }, filename: name, length: record.length, hashes: { sha256: record.sha256 } };
  }

  /** The record kept beside a delta, if it is complete (the record is written after the delta). */
  private readRecord(name: string): DeltaRecord | undefined {
    if (this.dir === undefined) return undefined;
    try {
      return JSON.parse(readFileSync(join(this.dir, recordName(name)), 'utf8')) as DeltaRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async notifyWaiting(name: string): Promise<void> {
    const vins = this.waiting.get(name);
    this.waiting.delete(name);
    if (vins === undefined || vins.size === 0) return;
    await this.store.unitOfWork((tx) => tx.vehicleMetadata.markStale([...vins]));
  }

  private async make(hardwareId: string, from: DeltaEnd, to: DeltaEnd, name: string): Promise<DeltaRecord | undefined> {
    const dir = this.dir!;
    const download = this.images.downloadImage!.bind(this.images);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const base = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const paths = { from: `${base}.from`, to: `${base}.to`, delta: `${base}.delta` };
    try {
      // Both ends verified against the Image repository's signed length and hashes first: the
      // Director makes deltas only between images the Image repository signed, and the "from" it
      // signs into targets is the image the ECU reported, byte for byte.
      const fromTarget = await this.images.findImage(from.filename, hardwareId);
      if (fromTarget.hashes.sha256 !== from.sha256 || fromTarget.length !== from.length) throw noDelta(name, `the Image repository signs ${from.filename} with other hashes than the ECU reported`);
      const toTarget: TargetFile = await this.images.findImage(to.filename, hardwareId);
      if (toTarget.hashes.sha256 !== to.sha256) throw noDelta(name, `the Image repository signs ${to.filename} with other hashes than the assignment`);
      await download(from.filename, fromTarget, paths.from);
      await download(to.filename, toTarget, paths.to);
      // Whole in memory (zstd takes the reference as one buffer), within maxImageBytes.
      const reference = await readFile(paths.from);
      if (!isDeltaBase(reference)) throw noDelta(name, `${from.filename} starts with zstd's dictionary magic`);
      const made = await writeDelta(createDeltaStream(reference, paths.to, to.length), paths.delta);
      // Applied once before it is kept: a delta that does not give the image is never signed.
      if ((await sha256Of(createReadStream(paths.delta).pipe(createDeltaApplier(reference, this.config.maxImageBytes)))) !== to.sha256) {
        throw noDelta(name, 'applied to its base it did not give the image');
      }
      if (made.length >= to.length * this.config.maxDeltaShare) return await this.keep(name, { ...made, offered: false });
      await rename(paths.delta, join(dir, name));
      const record = await this.keep(name, { ...made, offered: true });
      await this.evict(name);
      return record;
    } finally {
      await Promise.all(Object.values(paths).flatMap((p) => [p, `${p}.part`]).map((p) => rm(p, { force: true })));
    }
  }

  /** Writes the record beside the delta (after it, durably): its presence says the delta is complete. */
  private async keep(name: string, record: DeltaRecord): Promise<DeltaRecord> {
    const dir = this.dir!;
    const temp = join(dir, `.tmp-${randomBytes(8).toString('hex')}.json`);
    await writeFile(temp, JSON.stringify(record), { mode: 0o600 });
    await rename(temp, join(dir, recordName(name)));
    fsyncDirectory(dir);
    return record;
  }

  /** Removes the least recently used deltas (and their records) until the folder is within its budget; never `keep`. */
  private async evict(keep: string): Promise<void> {
    const dir = this.dir!;
    const files = await Promise.all(
      (await readdir(dir)).filter((f) => DELTA_FILE.test(f)).map(async (f) => ({ name: f, ...(await stat(join(dir, f)).then((s) => ({ size: s.size, used: s.mtimeMs }))) })),
    );
    let total = files.reduce((sum, f) => sum + f.size, 0);
    for (const f of files.sort((a, b) => a.used - b.used)) {
      if (total <= this.config.maxCacheBytes) break;
      if (f.name === keep) continue;
      await rm(join(dir, recordName(f.name)), { force: true });
      await rm(join(dir, f.name), { force: true });
      total -= f.size;
    }
  }

  /** True if the delta file of a pair is in the cache (tests). */
  hasDelta(fromSha256: string, toSha256: string): boolean {
    const name = deltaFileName(fromSha256, toSha256);
    return this.dir !== undefined && existsSync(join(this.dir, name)) && statSync(join(this.dir, name)).size > 0;
  }
}

/** Why no delta is made for a pair (the pair is tried again after retryAfterMs). */
const noDelta = (name: string, why: string): ConflictError => new ConflictError(`no delta ${name}: ${why}`, { repository: 'director' });

async function sha256Of(stream: AsyncIterable<Buffer>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest('hex');
}

/** Streams `delta` into a new owner-only file, synced; its length and SHA-256. */
async function writeDelta(delta: AsyncIterable<Buffer>, to: string): Promise<{ length: number; sha256: string }> {
  const hash = createHash('sha256');
  let length = 0;
  const file = await open(to, 'wx', 0o600);
  try {
    for await (const chunk of delta) {
      hash.update(chunk);
      length += chunk.length;
      for (let written = 0; written < chunk.length; ) written += (await file.write(chunk, written)).bytesWritten;
    }
    await file.sync();
  } finally {
    await file.close();
  }
  return { length, sha256: hash.digest('hex') };
}
