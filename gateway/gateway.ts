// The caching gateway (issue 22; docs/gateway.md): one HTTP address that vehicles use as both their
// Image repository and their Director. Image repository metadata and images are kept on disk and
// shared by every vehicle (metadata-cache.ts, image-fill.ts, disk-cache.ts); Director requests are
// passed through, one vehicle's each, never kept (director-pass.ts). The gateway holds no key and
// signs nothing: a vehicle verifies everything it gets from it exactly as it would from the
// repositories, so the worst a gateway can do is what a network attacker can (test/attacks/gateway.test.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NotFoundError, RemoteNotFoundError, ServerBusyError } from '../shared/core/errors.js';
import { systemClock, type Clock } from '../shared/core/clock.js';
import { sendBlob } from '../shared/server/blob-sender.js';
import { sendRawError, sendRawJson } from '../shared/server/http-errors.js';
import { closeAfterAnswer, type RequestHandler } from '../shared/server/http-server.js';
import { sendMetadata } from '../shared/server/response-coding.js';
import { withFastRoutes, type FastRoute } from '../shared/server/route-table.js';
import { StreamSlots } from '../shared/server/stream-slots.js';
import { DiskCache } from './disk-cache.js';
import { DirectorPassThrough } from './director-pass.js';
import { ImageFill } from './image-fill.js';
import { DEFAULT_GATEWAY_LIMITS, type GatewayLimits } from './limits.js';
import { MetadataCache } from './metadata-cache.js';
import { Upstream } from './upstream.js';

export interface GatewayOptions {
  /** The Image repository's base URL. */
  readonly upstreamImage: string;
  /** The Director's base URL. */
  readonly upstreamDirector: string;
  /** The cache folder (created if missing; what it holds is taken back on start). */
  readonly cacheDir: string;
  readonly limits?: Partial<GatewayLimits>;
  /** PEM CA bundle the repositories' TLS certificates must chain to (https upstreams). */
  readonly upstreamCa?: string | undefined;
  /**
   * The gateway's own read credential for a credential-only Image repository (an uploader token with
   * read access, sent as a bearer token); unset for a public one.
   */
  readonly imageReadToken?: string | undefined;
  readonly clock?: Clock;
  readonly log?: (line: string) => void;
}

/** What /healthz reports, and the figures read. */
export interface GatewayStats {
  /** `damagedDropped`: copies a previous run left that no longer hashed to their record, dropped and fetched again. */
  readonly cache: { readonly bytes: number; readonly entries: number; readonly maxBytes: number; readonly damagedDropped: number };
  readonly metadata: MetadataCache['counts'];
  /** Images downloaded from the Image repository, and bytes of them. */
  readonly imageFills: number;
  readonly imageFillBytes: number;
  /** Image answers to vehicles: from a complete copy, and while a fill was on its way in. */
  readonly imageHits: number;
  readonly imageJoins: number;
  readonly directorRequests: number;
}

/** A consistent-snapshot image path under /targets/: printable, bounded, no dot segments, its basename `<sha256>.<name>`. */
const IMAGE_PATH = /^\/targets\/((?:[A-Za-z0-9._~%+!'()*-]+\/)*)([0-9a-f]{64})\.[A-Za-z0-9._~%+!'()*-]+$/;
const MAX_PATH_CHARS = 2048;

export class Gateway {
  readonly limits: GatewayLimits;
  readonly cache: DiskCache;
  readonly metadata: MetadataCache;
  private readonly imageUpstream: Upstream;
  private readonly directorUpstream: Upstream;
  private readonly director: DirectorPassThrough;
  private readonly fills = new Map<string, ImageFill>();
  private readonly downloads: StreamSlots;
  private readonly upstreamHeaders: Readonly<Record<string, string>>;
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private readonly counts = { imageFills: 0, imageFillBytes: 0, imageHits: 0, imageJoins: 0 };

  constructor(options: GatewayOptions) {
    this.limits = { ...DEFAULT_GATEWAY_LIMITS, ...options.limits };
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? (() => undefined);
    const upstreamOptions = { connectTimeoutMs: this.limits.upstreamConnectTimeoutMs, idleTimeoutMs: this.limits.upstreamIdleTimeoutMs, ca: options.upstreamCa };
    this.imageUpstream = new Upstream(options.upstreamImage, 'Image repository', upstreamOptions);
    this.directorUpstream = new Upstream(options.upstreamDirector, 'Director', { ...upstreamOptions, maxSockets: this.limits.maxDirectorRequests });
    this.upstreamHeaders = options.imageReadToken === undefined ? {} : { authorization: `Bearer ${options.imageReadToken}` };
    this.cache = new DiskCache(options.cacheDir, this.limits.cacheMaxBytes);
    this.metadata = new MetadataCache({ cache: this.cache, upstream: this.imageUpstream, limits: this.limits, clock: this.clock, upstreamHeaders: this.upstreamHeaders, log: this.log });
    this.director = new DirectorPassThrough(this.directorUpstream, this.limits);
    // Every vehicle of a depot may sit behind one address (a NAT): the cap is the gateway's total only.
    this.downloads = new StreamSlots({ total: this.limits.maxDownloads, perAddress: this.limits.maxDownloads });
  }

  stats(): GatewayStats {
    return {
      cache: { ...this.cache.usage, maxBytes: this.cache.maxBytes, damagedDropped: this.cache.damagedDropped },
      metadata: { ...this.metadata.counts },
      ...this.counts,
      directorRequests: this.director.passed,
    };
  }

  /** Ends the kept-alive connections to the repositories. */
  close(): void {
    this.imageUpstream.close();
    this.directorUpstream.close();
  }

  /** The gateway's one request handler: metadata on the fast route table, images, Director pass-through, /healthz. */
  handler(): RequestHandler {
    const routes: FastRoute[] = [
      { method: 'GET', path: '/metadata/:file', handle: (req, res, { file }) => this.serveMetadata(req, res, file!) },
      { method: 'GET', path: '/healthz', handle: (_req, res) => sendRawJson(res, 200, { status: 'ok', ...this.stats() }) },
    ];
    return withFastRoutes(routes, (req, res) => this.route(req, res));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = req.url ?? '/';
      if (url.length > MAX_PATH_CHARS) throw new NotFoundError(`a path of ${url.length} characters (the gateway takes ${MAX_PATH_CHARS})`);
      if (url.startsWith('/vehicle/')) {
        await this.director.handle(req, res);
        return;
      }
      const path = url.split('?', 1)[0]!;
      if (path.startsWith('/targets/') && (req.method === 'GET' || req.method === 'HEAD')) {
        await this.serveImage(req, res, path);
        return;
      }
      throw new NotFoundError(`no route ${String(req.method).slice(0, 16)} ${path.slice(0, 200)} (the gateway serves /metadata/, /targets/ and /vehicle/)`);
    } catch (err) {
      closeAfterAnswer(req, res);
      sendRawError(res, err);
    }
  }

  private async serveMetadata(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
    try {
      if (!MetadataCache.isFileName(file)) throw new NotFoundError(`no metadata ${file.slice(0, 200)}`);
      const copy = await this.metadata.get(file);
      // Compressed for the vehicle when it asks, the ETag naming the coding (Vary: Accept-Encoding):
      // one copy per file is kept, its codings made from it, never one coding served for another.
      await sendMetadata(req, res, copy.bytes, copy.sha256, { 'Cache-Control': 'no-cache', 'Content-Type': 'application/json; charset=utf-8' });
    } catch (err) {
      sendRawError(res, err instanceof RemoteNotFoundError ? new NotFoundError(err.message) : err);
    }
  }

  /** GET or HEAD of a consistent-snapshot image: from the cache, joining a fill under way, or starting one. */
  private async serveImage(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const match = IMAGE_PATH.exec(path);
    if (match === null || path.split('/').some((segment) => segment === '.' || segment === '..')) {
      throw new NotFoundError(`no image ${path.slice(0, 200)} (the gateway serves consistent-snapshot paths: <dir>/<sha256>.<name>)`);
    }
    const sha256 = match[2]!;
    const release = req.method === 'HEAD' ? () => undefined : this.downloads.tryTake('');
    if (release === undefined) {
      throw new ServerBusyError(`the gateway serves ${this.limits.maxDownloads} image downloads at once; retry in ${this.limits.busyRetryAfterSeconds} s`, this.limits.busyRetryAfterSeconds);
    }
    res.once('close', release);
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        if (await this.serveKept(req, res, path)) return;
        const fill = this.fillFor(path, sha256);
        if ((await fill.serve(req, res, () => this.counts.imageJoins++)) === 'served') return;
      }
      if (await this.serveKept(req, res, path)) return;
      throw new NotFoundError(`the gateway could not keep ${path}`);
    } catch (err) {
      throw err instanceof RemoteNotFoundError ? new NotFoundError(err.message) : err;
    }
  }

  /** Answers from the complete copy of `path`, if there is one; false if there is none. */
  private async serveKept(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    const entry = await this.cache.getScrubbed(path);
    if (entry === undefined) return false;
    const unpin = this.cache.pin(path);
    try {
      // Compressed for the vehicle when worth it and asked for; a Range gets the stored bytes.
      this.counts.imageHits++;
      await sendBlob(req, res, entry.path, entry.sha256, { compress: true });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.counts.imageHits--;
        await this.cache.remove(path);
        return false;
      }
      throw err;
    } finally {
      unpin();
    }
  }

  /** The fill of `path` under way, or a new one (ServerBusyError at the cap of distinct images being fetched). */
  private fillFor(path: string, sha256: string): ImageFill {
    const existing = this.fills.get(path);
    // A fill that already failed is still in the map until its clean-up runs; a new reader starts afresh.
    if (existing !== undefined && existing.failed === undefined) return existing;
    if (existing === undefined && this.fills.size >= this.limits.maxUpstreamFills) {
      throw new ServerBusyError(`the gateway is fetching ${this.fills.size} images already; retry in ${this.limits.busyRetryAfterSeconds} s`, this.limits.busyRetryAfterSeconds);
    }
    const fill = new ImageFill(path, sha256, {
      cache: this.cache,
      upstream: this.imageUpstream,
      upstreamHeaders: this.upstreamHeaders,
      maxImageBytes: this.limits.maxImageBytes,
      now: () => this.clock.now().getTime(),
      log: this.log,
    });
    this.fills.set(path, fill);
    this.counts.imageFills++;
    fill.finished.then(
      () => {
        this.counts.imageFillBytes += fill.total;
      },
      (err: unknown) => this.log(`image ${path} not kept: ${(err as Error).message}`),
    ).finally(() => {
      if (this.fills.get(path) === fill) this.fills.delete(path);
    });
    return fill;
  }

  /**
   * Brings the image at `path` into the cache without a vehicle asking (prefetch.ts); resolves once
   * it is kept, rejects with the fill's typed error.
   */
  async prefetchImage(path: string): Promise<'kept' | 'fetched'> {
    const match = IMAGE_PATH.exec(path);
    if (match === null) throw new NotFoundError(`${path.slice(0, 200)} is not a consistent-snapshot image path (/targets/<dir>/<sha256>.<name>)`);
    if (this.cache.get(path) !== undefined) return 'kept';
    await this.fillFor(path, match[2]!).finished;
    return 'fetched';
  }
}
