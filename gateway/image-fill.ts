// One image on its way from the Image repository into the gateway's cache, and every vehicle
// reading it while it arrives: the image is downloaded once, into a file, and each vehicle that
// asks meanwhile reads that file up to where it is filled and waits for more (request coalescing:
// a thousand vehicles asking for one image cause one upstream download). Nothing is held in memory
// but a reader's two small slabs. The fill hashes what it writes and keeps the image only if the
// bytes hash to the SHA-256 its consistent-snapshot path names.
import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayUpstreamError, GatewayUpstreamMismatchError, ReadAccessDeniedError, RemoteNotFoundError, StorageError } from '../shared/core/errors.js';
import { parseByteRange } from '../shared/server/blob-sender.js';
import type { CacheEntry, DiskCache } from './disk-cache.js';
import { discard, type Upstream } from './upstream.js';

/** A reader's slab, two per reader: a thousand vehicles reading a fill hold 128 MiB between them. */
const READER_SLAB_BYTES = 64 * 1024;

export interface ImageFillDeps {
  readonly cache: DiskCache;
  readonly upstream: Upstream;
  readonly upstreamHeaders: Readonly<Record<string, string>>;
  readonly maxImageBytes: number;
  readonly now: () => number;
  readonly log: (line: string) => void;
}

export class ImageFill {
  /** The file being filled; readers open it by name as soon as `started` resolves. */
  readonly partPath: string;
  /** Bytes written (and readable) so far. */
  written = 0;
  /** The image's length as the Image repository declared it. */
  total = 0;
  /** Resolves once the answer's headers were accepted and the file exists; rejects with the typed refusal. */
  readonly started: Promise<void>;
  /** Resolves with the cache entry (undefined when the image is larger than the whole cache); rejects if the fill failed. */
  readonly finished: Promise<CacheEntry | undefined>;
  private failure: Error | undefined;
  private done = false;
  private waiters: Array<() => void> = [];

  constructor(
    readonly key: string,
    /** The SHA-256 the path names. */
    readonly sha256: string,
    private readonly deps: ImageFillDeps,
  ) {
    this.partPath = deps.cache.fillPath();
    let markStarted!: () => void;
    let failStart!: (err: Error) => void;
    this.started = new Promise<void>((resolve, reject) => {
      markStarted = resolve;
      failStart = reject;
    });
    this.finished = this.run(markStarted).catch(async (err: unknown) => {
      this.failure = err as Error;
      failStart(err as Error);
      this.wake(); // readers waiting for more bytes learn of the failure and cut their answers
      await rm(this.partPath, { force: true });
      throw err;
    });
    this.finished.catch(() => undefined); // readers learn of a failure through `failure`
    this.started.catch(() => undefined);
  }

  /** The failure that ended the fill, once it ended in one. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Resolves when more than `offset` bytes are written, or the fill ended (either way). */
  waitBeyond(offset: number): Promise<void> {
    if (this.written > offset || this.done || this.failure !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private async run(markStarted: () => void): Promise<CacheEntry | undefined> {
    const { upstream, maxImageBytes } = this.deps;
    const answer = await upstream.request('GET', this.key, { ...this.deps.upstreamHeaders, 'accept-encoding': 'identity' });
    const what = `the Image repository's ${this.key}`;
    if (answer.status !== 200) {
      discard(answer);
      if (answer.status === 404) throw new RemoteNotFoundError(`no image ${this.key}`);
      if (answer.status === 401 || answer.status === 403) throw new ReadAccessDeniedError(`the Image repository refuses the gateway ${this.key} (HTTP ${answer.status}); give the gateway a read credential (docs/gateway.md)`);
      throw new GatewayUpstreamError(`${what}: HTTP ${answer.status}`);
    }
    const declared = Number(answer.headers['content-length']);
    const coding = answer.headers['content-encoding'] ?? 'identity';
    if (coding !== 'identity' || !Number.isSafeInteger(declared) || declared < 0 || declared > maxImageBytes) {
      discard(answer);
      throw new GatewayUpstreamError(
        coding !== 'identity'
          ? `${what} came with Content-Encoding ${String(coding).slice(0, 40)}, which the gateway did not ask for`
          : `${what} declares no usable length (${String(answer.headers['content-length']).slice(0, 20)}; the gateway takes images of known length up to ${maxImageBytes} bytes)`,
      );
    }
    this.total = declared;
    let file: FileHandle;
    try {
      file = await open(this.partPath, 'wx');
    } catch (err) {
      discard(answer);
      throw new StorageError(`cannot start ${this.partPath}: ${(err as Error).message}`, { cause: err });
    }
    markStarted();
    const hash = createHash('sha256');
    try {
      for await (const chunk of answer.body as AsyncIterable<Buffer>) {
        if (this.written + chunk.length > declared) throw new GatewayUpstreamError(`${what} sends more than the ${declared} bytes it declared`);
        hash.update(chunk);
        let at = 0;
        while (at < chunk.length) at += (await file.write(chunk, at, chunk.length - at, this.written + at)).bytesWritten;
        this.written += chunk.length;
        this.wake();
      }
      if (this.written !== declared) throw new GatewayUpstreamError(`${what} ended after ${this.written} of the ${declared} bytes it declared`);
      const sha256 = hash.digest('hex');
      if (sha256 !== this.sha256) throw new GatewayUpstreamMismatchError(`${what} hashes to ${sha256}, not the ${this.sha256} its path names: not kept`);
      await file.sync();
    } catch (err) {
      answer.body.destroy();
      throw err instanceof GatewayUpstreamError || err instanceof StorageError ? err : new GatewayUpstreamError(`${what} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      await file.close();
    }
    this.done = true;
    this.wake();
    // An image larger than the whole cache is passed on to the vehicles reading it now and not kept.
    if (declared > this.deps.cache.maxBytes) {
      await rm(this.partPath, { force: true });
      return undefined;
    }
    return this.deps.cache.commit(this.partPath, { key: this.key, size: declared, sha256: this.sha256, checkedAt: this.deps.now() });
  }

  /**
   * Answers `req` from the file while it fills: 200 with the declared length, or 206 for a single
   * range (a vehicle resuming). The answer is the stored bytes, never compressed (a reader joins
   * mid-stream; compression is for a complete copy: sendBlob). When the fill fails, the answer is
   * cut: the vehicle's length and hash checks refuse what it got, and it resumes or retries.
   */
  async serve(req: IncomingMessage, res: ServerResponse, onAnswer: () => void = () => undefined): Promise<'served' | 'in-cache'> {
    await this.started;
    // The file is opened before anything is written to the client: a fill that already failed and
    // removed it is then a clean error answer instead of a cut one, and one that completed (renamed
    // into the cache) is served from there.
    let file: FileHandle;
    try {
      file = await open(this.partPath, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (this.failure !== undefined) throw this.failure;
      return 'in-cache';
    }
    try {
      const range = parseByteRange(typeof req.headers.range === 'string' ? req.headers.range : undefined, this.total);
      const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', Vary: 'Accept-Encoding', 'Cache-Control': 'no-store' };
      if (range === 'unsatisfiable') {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${this.total}`, 'Content-Length': 0 }).end();
        return 'served';
      }
      onAnswer();
      const start = range?.start ?? 0;
      const end = range?.end ?? this.total - 1;
      const length = end - start + 1;
      if (range !== null) headers['Content-Range'] = `bytes ${start}-${end}/${this.total}`;
      res.writeHead(range === null ? 200 : 206, { ...headers, 'Content-Length': length });
      if (req.method !== 'HEAD' && length > 0) await this.stream(file, res, start, end + 1);
      else res.end();
      return 'served';
    } finally {
      await file.close();
    }
  }

  /** Copies [start, stop) of the file to `res` as it fills, through two reused slabs, waiting for the client to take each. */
  private async stream(file: FileHandle, res: ServerResponse, start: number, stop: number): Promise<void> {
    let closed = false;
    const gone = new Promise<void>((resolve) => res.once('close', () => {
      closed = true;
      resolve();
    }));
    const slabs = [0, 1].map(() => ({ bytes: Buffer.allocUnsafeSlow(Math.min(READER_SLAB_BYTES, stop - start)), sent: Promise.resolve() }));
    let position = start;
    for (let i = 0; position < stop && !closed; i++) {
      if (position >= this.written) {
        if (this.failure !== undefined) {
          res.destroy(); // the status line left: a cut body is all that can be said
          return;
        }
        await Promise.race([this.waitBeyond(position), gone]);
        continue;
      }
      const slab = slabs[i % 2]!;
      await slab.sent;
      if (closed) return;
      const want = Math.min(slab.bytes.length, stop - position, this.written - position);
      // The image's last bytes wait for the fill's verdict (a client with the Content-Length counts
      // the answer complete at its last byte): an image that failed the gateway's hash check, or
      // could not be kept, is cut short, never delivered whole.
      if (position + want === this.total && !(await this.settledWell())) {
        res.destroy();
        return;
      }
      const { bytesRead } = await file.read(slab.bytes, 0, want, position);
      if (bytesRead === 0) {
        res.destroy();
        return;
      }
      position += bytesRead;
      slab.sent = new Promise((resolve) => res.write(slab.bytes.subarray(0, bytesRead), () => resolve()));
    }
    if (!closed) res.end();
  }

  /** Whether the fill ended kept (or passed on whole, for an image larger than the cache), once it ended. */
  private async settledWell(): Promise<boolean> {
    try {
      await this.finished;
      return true;
    } catch {
      return false;
    }
  }
}
