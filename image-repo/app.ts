// The Image repository's HTTP face: express app from a factory, no listen() inside (tests bind port
// 0). Read routes serve the TUF layout any TUF 1.0 client understands; write routes need an uploader
// token and hand the bytes to the ImageRepository service. Errors leave as {error: {code, message}}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { ImageTooLargeError, ServerBusyError } from '../shared/core/errors.js';
import { asClientGone, ClientGoneError, declaresMoreThan, readCappedBody } from '../shared/server/http-body.js';
import { sendError, sendRawError, sendRawJson } from '../shared/server/http-errors.js';
import { closeAfterAnswer, type RequestHandler } from '../shared/server/http-server.js';
import { withFastRoutes, type FastRoute } from '../shared/server/route-table.js';
import { observedHandler, type Observability } from '../shared/server/observability.js';
import { StreamSlots } from '../shared/server/stream-slots.js';
import { sendBlob } from './blob-sender.js';
import { sendMetadata } from '../shared/server/response-coding.js';
import { DEFAULT_IMAGE_SERVER_LIMITS } from './limits.js';
import { IMAGE_ONLINE_ROLES, type ImageRepository } from './repository.js';
import { MAX_ROTATION_REQUEST_BYTES, parseRotationRequest } from '../shared/server/online-keys.js';
import type { ImageRepoStorage } from './store/storage.js';
import { checkMayPublishPaths, checkMayPublishRole, requireUploader, type UploaderRequest } from './uploader-auth.js';
import { FailedAuthThrottle, type ThrottleOptions } from '../shared/server/auth-throttle.js';
import { systemClock, type Clock } from '../shared/core/clock.js';
import { ReadAccessGuard, type ReadAccessConfig } from './read-access.js';
import { logRouter } from '../shared/transparency/routes.js';
import type { LogServer } from '../shared/transparency/server-log.js';

export interface ImageAppDeps {
  readonly repository: ImageRepository;
  readonly storage: ImageRepoStorage;
  readonly log?: (line: string) => void;
  /** Token expiry and failed-attempt refills are judged by this clock (default: the system's). */
  readonly clock?: Clock;
  /** Failed uploader authentications allowed per client address (docs/threat-model.md HR-10). */
  readonly authThrottle?: Partial<ThrottleOptions>;
  /** The cap on image downloads in flight (docs/threat-model.md HR-2); by default DEFAULT_IMAGE_SERVER_LIMITS'. */
  readonly downloads?: StreamSlots;
  /** Retry-After on a download refused at the cap. */
  readonly busyRetryAfterSeconds?: number;
  /** Who may read metadata and images (read-access.ts); public unless set. */
  readonly readAccess?: ReadAccessConfig;
  /** The read check built once for both the fast routes and the app (createHandler builds it). */
  readonly readGuard?: ReadAccessGuard;
  /** /metrics, /healthz and /readyz as fast routes, and request ids, metrics and log lines around every request. */
  readonly observability?: Observability;
  /** The transparency log served at /log (`--log-key`); without it the /log routes answer 404. */
  readonly transparencyLog?: LogServer;
}

/** The read check of `deps`, with the throttle the uploader check shares: a guess at either counts against both. */
export function readGuardOf(deps: Pick<ImageAppDeps, 'storage' | 'clock' | 'authThrottle' | 'log' | 'readAccess' | 'readGuard'>): ReadAccessGuard {
  const clock = deps.clock ?? systemClock;
  return (
    deps.readGuard ??
    new ReadAccessGuard(deps.readAccess ?? { mode: 'public' }, { storage: deps.storage, clock, throttle: new FailedAuthThrottle(clock, deps.authThrottle), log: deps.log })
  );
}


export function createApp(deps: ImageAppDeps): express.Express {
  const {
    repository,
    storage,
    log,
    clock = systemClock,
    downloads = new StreamSlots({ total: DEFAULT_IMAGE_SERVER_LIMITS.maxDownloads, perAddress: DEFAULT_IMAGE_SERVER_LIMITS.maxDownloadsPerAddress }),
    busyRetryAfterSeconds = DEFAULT_IMAGE_SERVER_LIMITS.busyRetryAfterSeconds,
  } = deps;
  const readGuard = readGuardOf(deps);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags below are content hashes we already have

  // --- Reads: the TUF repository layout ------------------------------------------------------
  // GET /metadata/:file is answered before this router (metadataFastRoutes, below).

  // Consistent snapshots: /targets/<dir>/<sha256>.<basename>; the blob is found by its hash.
  app.get(/^\/targets\/(.+)$/, async (req, res, next) => {
    try {
      const path = String((req.params as Record<string, string>)[0]);
      const base = path.slice(path.lastIndexOf('/') + 1);
      const sha256 = /^([0-9a-f]{64})\./.exec(base)?.[1];
      // Checked before the image is looked up: without a credential, no answer tells what is stored.
      const refused = await readGuard.check(req, { kind: 'image', name: targetNameOf(path) });
      if (refused !== undefined) throw refused;
      const file = sha256 === undefined ? undefined : await repository.imageFile(sha256);
      if (sha256 === undefined || file === undefined) {
        sendError(res, 404, 'not_found', `no image ${path}`);
        return;
      }
      // Each download holds slabs until its client has read them: a capped number at a time. A HEAD
      // (`uptane image push` asking whether an image is there) holds none.
      if (req.method !== 'HEAD') {
        const release = downloads.tryTake(req.socket.remoteAddress ?? '');
        if (release === undefined) {
          throw new ServerBusyError(`too many image downloads in flight; retry in ${busyRetryAfterSeconds} s`, busyRetryAfterSeconds);
        }
        res.once('close', release);
      }
      await sendBlob(req, res, file, sha256, { compress: true });
    } catch (err) {
      next(err);
    }
  });

  app.get('/api/v1/online-keys', (_req, res) => {
    const keys = repository.onlineKeys();
    const pending = repository.pendingOnlineKeys();
    res.json({
      timestamp: { keyid: keys.timestamp.keyid, key: keys.timestamp.tuf },
      snapshot: { keyid: keys.snapshot.keyid, key: keys.snapshot.tuf },
      // Keys a rotation made, waiting for a root that lists them, only while one waits, so the answer
      // is otherwise what it always was (docs/decisions.md "Online key rotation").
      ...(Object.keys(pending).length === 0 ? {} : { pending: Object.fromEntries(Object.entries(pending).map(([role, key]) => [role, { keyid: key.keyid, key: key.tuf }])) }),
    });
  });

  // --- The transparency log: public reads and witnesses' cosignatures (shared/transparency/routes.ts) --
  app.use('/log', logRouter(deps.transparencyLog));

  // --- Writes: uploader token required, limited to its roles and paths (uploader-auth.ts, HR-10) --
  const uploaderAuth = requireUploader({ storage, clock, throttle: readGuard.throttle, log });
  /** Who published, for the log: the uploader's name and token id, never the token. */
  const by = (req: UploaderRequest) => `${req.uploader} (token ${req.uploaderToken!.tokenId})`;
  // Bodies are read only once the uploader is known, and refused as soon as they pass the limit,
  // declared or sent (docs/threat-model.md HR-3); the error handler then closes the connection.
  const metadataBody = (req: Request, _res: Response, next: NextFunction) => {
    readCappedBody(req, repository.limits.maxMetadataBytes).then((body) => {
      req.body = body;
      next();
    }, next);
  };

  app.post('/api/v1/images', uploaderAuth, async (req: UploaderRequest, res, next) => {
    try {
      const max = repository.limits.maxImageBytes;
      if (declaresMoreThan(req, max)) throw new ImageTooLargeError(`image exceeds the ${max}-byte upload limit`);
      // Once the whole body is in, the connection's idle limit stops: what is left (the fsync of up
      // to maxImageBytes, the database) is the server's own work, and the client waits for it in
      // silence. Node restores the limit for the connection's next request.
      req.once('end', () => req.socket.setTimeout(0));
      // On a refusal mid-body the request stays open (not destroyed) so the client reads the answer.
      const blob = await repository.uploadImage(req.iterator({ destroyOnReturn: false }), req.uploader!);
      log?.(`image ${blob.hashes.sha256} (${blob.length} bytes) uploaded by ${by(req)}`);
      res.status(201).json(blob);
    } catch (err) {
      next(asClientGone(req, err));
    }
  });

  // A rotation is the Image repository's admin action: only a token that may publish root may start
  // one, since only a root publication ever makes the new key count (docs/threat-model.md HR-10).
  const rotationBody = (req: Request, _res: Response, next: NextFunction) => {
    readCappedBody(req, MAX_ROTATION_REQUEST_BYTES).then((body) => {
      req.body = body;
      next();
    }, next);
  };
  app.post('/api/v1/online-keys/rotate', uploaderAuth, (req: UploaderRequest, _res, next) => {
    try {
      checkMayPublishRole(req.uploaderToken!, 'root');
      next();
    } catch (err) {
      next(err);
    }
  }, rotationBody, async (req: UploaderRequest, res, next) => {
    try {
      const { roles, replace } = parseRotationRequest(req.body as Buffer, IMAGE_ONLINE_ROLES);
      const started = await repository.rotateOnlineKeys(roles, replace);
      log?.(`online ${roles.join(' and ')} key rotation started by ${by(req)}: pending ${Object.values(started.pending).map((k) => k.keyid).join(', ')}`);
      const entry = (key: { keyid: string; tuf: unknown }) => ({ keyid: key.keyid, key: key.tuf });
      res.status(201).json({
        pending: Object.fromEntries(Object.entries(started.pending).map(([role, key]) => [role, entry(key)])),
        current: { snapshot: entry(started.current.snapshot), timestamp: entry(started.current.timestamp) },
      });
    } catch (err) {
      next(err);
    }
  });

  app.put('/api/v1/metadata/root', uploaderAuth, metadataBody, async (req: UploaderRequest, res, next) => {
    try {
      checkMayPublishRole(req.uploaderToken!, 'root');
      const result = await repository.submitRoot(req.body as Buffer);
      log?.(`root v${result.version} published by ${by(req)}${result.switched.length > 0 ? `; now signing ${result.switched.join(' and ')} with the new key` : ''}`);
      res.status(201).json(result);
    } catch (err) {
      next(err);
    }
  });

  app.put('/api/v1/metadata/targets/:role', uploaderAuth, metadataBody, async (req: UploaderRequest, res, next) => {
    try {
      const role = String(req.params.role);
      checkMayPublishRole(req.uploaderToken!, role);
      checkMayPublishPaths(req.uploaderToken!, role, req.body as Buffer, (await storage.latest(role))?.bytes);
      const result = await repository.submitTargets(role, req.body as Buffer);
      log?.(`${role} v${result.version} published by ${by(req)}`);
      res.status(201).json(result);
    } catch (err) {
      next(err);
    }
  });

  // A refusal never waits for (or reads) the rest of a body the client is still sending: the
  // connection closes after the answer (docs/threat-model.md HR-3).
  app.use((req, res) => {
    closeAfterAnswer(req, res);
    sendError(res, 404, 'not_found', `no route ${req.method} ${req.path}`);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ClientGoneError) {
      // Nobody is left to answer, and it is no fault of the server's: one plain line (HR-3).
      log?.(`${req.method} ${req.path}: ${err.message}`);
      res.destroy();
      return;
    }
    closeAfterAnswer(req, res);
    sendError(res, err);
  });
  return app;
}

/** The Image repository's one request handler: its fast routes on plain node:http, then the express app. */
export function createHandler(deps: ImageAppDeps): RequestHandler {
  const withGuard = { ...deps, readGuard: readGuardOf(deps) };
  const { observability } = deps;
  if (observability === undefined) return withFastRoutes(metadataFastRoutes(withGuard), createApp(withGuard));
  return observedHandler(observability, metadataFastRoutes(withGuard), createApp(withGuard));
}

/**
 * What every client asks on every refresh, answered on plain node:http before express's router,
 * whose routing cost more than the work itself (bench/RESULTS.md, figure 2).
 */
export function metadataFastRoutes({ repository, readGuard }: Pick<ImageAppDeps, 'repository' | 'readGuard'>): FastRoute[] {
  return [{ method: 'GET', path: '/metadata/:file', handle: (req, res, { file }) => serveMetadata(repository, readGuard, req, res, file!) }];
}

/** GET /metadata/:file: a TUF metadata file, with its content hash as ETag. */
async function serveMetadata(repository: ImageRepository, readGuard: ReadAccessGuard | undefined, req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
  if (readGuard !== undefined && !readGuard.isPublic) {
    const refused = await readGuard.check(req, { kind: 'metadata' });
    if (refused !== undefined) {
      sendRawError(res, refused);
      return;
    }
  }
  const stored = await repository.metadataFile(file);
  if (stored === undefined) {
    sendRawJson(res, 404, { error: { code: 'not_found', message: `no metadata ${file}` } });
    return;
  }
  // The ETag is the content hash we already have; an unchanged file costs the client no body.
  // Sent compressed when the client asks (response-coding.ts).
  await sendMetadata(req, res, stored.bytes, stored.sha256, { 'Cache-Control': 'no-cache', 'Content-Type': 'application/json; charset=utf-8' });
}

/** The target name of a consistent-snapshot image path `<dir>/<sha256>.<basename>` (the hash prefix dropped). */
function targetNameOf(path: string): string {
  const slash = path.lastIndexOf('/');
  const base = path.slice(slash + 1);
  return path.slice(0, slash + 1) + base.replace(/^[0-9a-f]{64}\./, '');
}
