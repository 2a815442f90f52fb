// The Director's HTTP face. Vehicle routes (/vehicle/...) authenticate the primary ECU's key and take
// the VIN from it; operator routes (/api/v1/...) need an operator token. express app from a factory,
// no listen() inside. Errors leave as {error: {code, message}}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { NotFoundError, ServerBusyError, UptaneError } from '../shared/core/errors.js';
import { sendBlob } from '../shared/server/blob-sender.js';
import { sendMetadata } from '../shared/server/response-coding.js';
import { DEFAULT_BUSY_RETRY_AFTER_SECONDS, DEFAULT_DOWNLOAD_SLOTS, StreamSlots } from '../shared/server/stream-slots.js';
import { sendError, sendRawError, sendRawJson } from '../shared/server/http-errors.js';
import { ClientGoneError, readSentBody } from '../shared/server/http-body.js';
import { contentCodingOf, inflateBody } from '../shared/server/compressed-body.js';
import { answerFailure, type RequestHandler } from '../shared/server/http-server.js';
import { withFastRoutes, type FastRoute } from '../shared/server/route-table.js';
import { observedHandler, type Observability } from '../shared/server/observability.js';
import { peerCertificateOf } from '../shared/server/tls.js';
import type { DirectorServices } from './director.js';
import { campaignRoutes } from './campaign-routes.js';
import type { VehicleCredential } from './services/vehicle-auth.js';
import { parseImageUrlRequest } from './services/image-urls.js';
import type { DirectorStorage } from './store/director-store.js';
import { cappedBody, closeIfUnread } from './request-body.js';
import { FailedAuthThrottle, type ThrottleOptions } from '../shared/server/auth-throttle.js';
import { systemClock, type Clock } from '../shared/core/clock.js';
import { requireOperator } from './operator-auth.js';
import { UiSessionCookies, uiSessionRouter } from './dashboard/ui-session.js';
import { DashboardEvents, publishVerdict, type DashboardEventOptions } from './dashboard/events.js';
import { FleetOverview, type FleetOverviewOptions } from './dashboard/fleet-overview.js';
import { campaignDryRun, dashboardRoutes } from './dashboard/fleet-routes.js';
import { LIMITS, parseAssignment, parseInstallBundle, parseAttributeChange, parseEcu, parseEcuProfile, parseInventoryLookup, parseRegistration, pathId, pathText } from './operator-input.js';
import { onlineKeyRoutes, operatorRoute, type OperatorHttpRequest } from './operator-routes.js';
import { exportOfflineMetadata } from './offline-bundle-export.js';
import { alertRoutes } from './alerts/alert-routes.js';
import { repositoryHealth, type RepositoryHealth } from './repository-health.js';
import { DEFAULT_EXPIRY_WARNINGS } from '../shared/uptane/role-expiry.js';
import { dashboardStatic } from './dashboard/static.js';
import { logRouter } from '../shared/transparency/routes.js';
import type { LogServer } from '../shared/transparency/server-log.js';

export interface DirectorAppDeps {
  /** Each route calls the service that owns its work (director.ts composes them). */
  readonly services: DirectorServices;
  readonly storage: DirectorStorage;
  readonly log?: (line: string) => void;
  /** Largest request body accepted, in bytes (manifests, registrations). */
  readonly maxBodyBytes?: number;
  /** Token expiry, failed-attempt refills and refused requests' audit entries go by this clock (default: the system's). */
  readonly clock?: Clock;
  /** Failed operator authentications allowed per client address (docs/threat-model.md HR-10). */
  readonly authThrottle?: Partial<ThrottleOptions>;
  /** The cap on encrypted-image downloads in flight (docs/threat-model.md HR-2); the Image repository's defaults otherwise. */
  readonly downloads?: StreamSlots;
  /** Retry-After on a download refused at the cap. */
  readonly busyRetryAfterSeconds?: number;
  /** /metrics, /healthz and /readyz as fast routes, and request ids, metrics and log lines around every request. */
  readonly observability?: Observability;
  /**
   * The key dashboard session cookies are MACed with (dashboard/ui-session.ts): the replicas' shared
   * session secret, so every replica accepts them; one of its own per process otherwise.
   */
  readonly uiSessionSecret?: Uint8Array;
  /** The web dashboard's built bundle served at /ui (dashboard/static.ts; dist/ui by default). */
  readonly dashboardDir?: string;
  /** The dashboard's stale period, overview cache and event stream limits (dashboard/*.ts). */
  readonly dashboard?: FleetOverviewOptions & DashboardEventOptions;
  /** The overview whose snapshots the server's timer writes; one of the app's own otherwise. */
  readonly fleetOverview?: FleetOverview;
  /**
   * The dashboard's address as operators' browsers see it (`--public-origin`, parsePublicOrigin in
   * dashboard/ui-session.ts): a cookie write's Origin must be this. Absent: the request's own Host.
   */
  readonly publicOrigin?: string;
  /**
   * Told of every failure a request is answered with (after the answer is decided, never awaited):
   * the alerts raise database.error for the database's own (alerts/director-alerts.ts requestFailed).
   */
  readonly onRequestFailure?: (err: unknown) => void;
  /** The transparency log served at /log (`--log-key`); without it the /log routes answer 404. */
  readonly transparencyLog?: LogServer;
}

/** Every role's expiry for GET /repositories/health (the server's alerts, alerts/director-alerts.ts); the Director's root alone otherwise. */
type HealthDeps = { readonly repositoryHealth?: () => Promise<RepositoryHealth> };

type VehicleRequest = Request & { vin?: string };

/** Largest request body (manifests, registrations) read unless the deps say otherwise. */
const DEFAULT_MAX_BODY_BYTES = 1_000_000;

export function createApp({
  services,
  storage,
  log,
  maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
  clock = systemClock,
  authThrottle,
  dashboardDir,
  uiSessionSecret,
  dashboard,
  fleetOverview,
  publicOrigin,
  onRequestFailure,
  repositoryHealth: health,
  transparencyLog,
}: DirectorAppDeps & HealthDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Refused as soon as the declared or received size passes the limit, not after the whole body
  // (docs/threat-model.md HR-3); requireOperator runs first, so no body of an anonymous request is read.
  const rawBody = cappedBody('raw', maxBodyBytes);
  const jsonBody = cappedBody('json', maxBodyBytes);

  // --- Public: the Director root chain, the same for every vehicle ----------------------------
  app.get('/metadata/:file', async (req, res) => {
    const match = /^(\d{1,15})\.root\.json$/.exec(String(req.params.file));
    const bytes = match === null ? undefined : (await storage.roots.root(Number(match[1])))?.bytes;
    if (bytes === undefined) {
      sendError(res, 404, 'not_found', `no metadata ${req.params.file}`);
      return;
    }
    res.type('application/json').send(bytes);
  });

  // --- Vehicle-facing --------------------------------------------------------------------------
  const authenticateVehicle = async (req: VehicleRequest, _res: Response, next: NextFunction) => {
    try {
      const body = Buffer.isBuffer(req.body) ? req.body : undefined;
      req.vin = await services.authentication.authenticate(req.headers.authorization, {
        // Mutual TLS: with a client CA, the connection's certificate must name this vehicle (vehicle-auth.ts).
        clientCertificate: peerCertificateOf(req),
        method: req.method,
        path: req.originalUrl,
        body,
      });
      next();
    } catch (err) {
      next(err);
    }
  };

  app.post('/vehicle/session', authenticateVehicle, async (req: VehicleRequest, res) => {
    // The signature covers an empty body: one sent anyway is not read, and not drained either.
    closeIfUnread(req, res);
    res.status(201).json(await services.authentication.issueSession(req.vin!));
  });

  // GET /vehicle/metadata/:file, GET /vehicle/images/:file, POST /vehicle/manifest and POST
  // /vehicle/image-urls are answered before this router (vehicleFastRoutes, below).

  // --- Operator API ----------------------------------------------------------------------------
  // Token, expiry, revocation, scope per route and failed-attempt limits: operator-auth.ts (HR-10).
  // The dashboard's sign-in exchanges a token for a cookie (dashboard/ui-session.ts); the operator API
  // accepts either, with one failed-attempt budget per client address for both.
  const throttle = new FailedAuthThrottle(clock, authThrottle);
  const uiSession = { cookies: new UiSessionCookies(uiSessionSecret), tokens: storage, revocations: storage.uiSessions, clock, throttle, log, publicOrigin };
  app.use('/ui/api', uiSessionRouter(uiSession));
  const operator = express.Router();
  operator.use(requireOperator({ storage, clock, throttle, log, session: uiSession }));

  onlineKeyRoutes(operator, services, rawBody, log);

  operatorRoute(operator, 'PUT /metadata/root', rawBody, async (req) => ({ status: 201, answer: await services.root.submitRoot(req.body as Buffer, req.operator!) }));

  operatorRoute(operator, 'POST /vehicles', jsonBody, async (req) => {
    const registration = parseRegistration(req.body);
    await services.inventory.registerVehicle(registration, req.operator!);
    log?.(`vehicle ${registration.vin} registered by ${req.operator}`);
    return { status: 201, answer: await services.inventory.vehicleStatus(registration.vin) };
  });

  // GET /vehicles (filtered by state and VIN prefix), GET /audit (filtered) and the dashboard's
  // reads, dry run and live events: dashboard/fleet-routes.ts.
  const overview = fleetOverview ?? new FleetOverview(storage.dashboard, clock, dashboard);
  const events = new DashboardEvents(() => services.campaigns.list(), dashboard, log);
  // Replicas hear each other's events (PostgreSQL NOTIFY through the store's change feed).
  const changes = storage.changes;
  if (changes !== undefined) {
    events.shareThrough({ send: (payload) => changes.announceMessage('dashboard-events', payload), subscribe: (listener) => changes.subscribeMessages('dashboard-events', listener) });
  }
  services.intake.onVerdict((verdict, { vin, assignmentStates }) => publishVerdict(events, verdict, vin, assignmentStates));
  dashboardRoutes(operator, { services, storage, overview, events });

  operatorRoute(operator, 'GET /vehicles/:vin', undefined, async (req) => ({ answer: await services.inventory.vehicleStatus(pathText(req.params.vin, 'the VIN', LIMITS.name)) }));

  operatorRoute(operator, 'POST /inventory/lookup', jsonBody, async (req) => ({ answer: await services.inventory.registered(parseInventoryLookup(req.body)) }));

  operatorRoute(operator, 'PATCH /vehicles/:vin/attributes', jsonBody, async (req) => {
    const vin = pathText(req.params.vin, 'the VIN', LIMITS.name);
    await services.inventory.changeAttributes(vin, parseAttributeChange(req.body), req.operator!);
    return { answer: await services.inventory.vehicleStatus(vin) };
  });

  // An offline bundle's Director metadata: what the vehicle would fetch now, audited (offline-bundle-export.ts).
  operatorRoute(operator, 'POST /vehicles/:vin/offline-metadata', undefined, async (req) => {
    const vin = pathText(req.params.vin, 'the VIN', LIMITS.name);
    const deps = { store: storage, metadata: services.metadata, checkRegistered: (v: string) => services.inventory.vehicleStatus(v), clock, imageUrls: services.imageUrls };
    return { answer: await exportOfflineMetadata(deps, vin, req.operator!) };
  });

  operatorRoute(operator, 'POST /vehicles/:vin/ecus/:serial/replace', jsonBody, async (req) => {
    const vin = pathText(req.params.vin, 'the VIN', LIMITS.name);
    const serial = pathText(req.params.serial, 'the ECU serial', LIMITS.serial);
    await services.inventory.replaceEcu(vin, serial, parseEcu(req.body, 'the request body'), req.operator!);
    return { answer: await services.inventory.vehicleStatus(vin) };
  });

  operatorRoute(operator, 'PUT /vehicles/:vin/ecus/:serial/profile', jsonBody, async (req) => {
    const vin = pathText(req.params.vin, 'the VIN', LIMITS.name);
    const serial = pathText(req.params.serial, 'the ECU serial', LIMITS.serial);
    const { from, to } = await services.inventory.setEcuProfile(vin, serial, parseEcuProfile(req.body), req.operator!);
    log?.(`ECU ${serial} of ${vin}: security profile ${from} -> ${to} by ${req.operator}`);
    return { answer: await services.inventory.vehicleStatus(vin) };
  });

  operatorRoute(operator, 'POST /assignments', jsonBody, async (req) => {
    const { vin, vins, image, ecuSerial, hardwareId, dryRun, encrypt } = parseAssignment(req.body);
    const request = { vins: vins ?? [vin!], image, ecuSerial, hardwareId, encrypt };
    if (dryRun === true) return { answer: { dryRun: true, plan: await services.assignments.planAssignments(request) } };
    const created = await services.assignments.assign(request, req.operator!);
    log?.(`${created.length} assignment(s) of ${request.image} by ${req.operator}`);
    return { status: 201, answer: { assignments: created } };
  });

  // Strict decimal: Number('0x1') is 1, so a loose parse would cancel another assignment (HR-9d).
  operatorRoute(operator, 'DELETE /assignments/:id', undefined, async (req) => ({ answer: await services.assignments.cancelAssignment(pathId(req.params.id, 'the assignment id'), req.operator!) }));

  // Install bundles: several ECUs of one vehicle, all or none (docs/decisions.md "Install bundles").
  operatorRoute(operator, 'POST /install-bundles', jsonBody, async (req) => {
    const created = await services.installBundles.create(parseInstallBundle(req.body), req.operator!);
    log?.(`install bundle ${created.id} of ${created.members.length} ECUs of ${created.vin} by ${req.operator}`);
    return { status: 201, answer: created };
  });
  operatorRoute(operator, 'GET /install-bundles/:id', undefined, async (req) => ({ answer: await services.installBundles.view(pathId(req.params.id, 'the install bundle id')) }));


  // Refused operator writes are recorded with who tried and why (issue 4); reads and dry runs are
  // not, and neither are requests without a valid token (anyone could fill the log with those).
  operator.use((err: unknown, req: OperatorHttpRequest, _res: Response, next: NextFunction) => {
    // A client that went away mid-body was refused nothing: it left.
    if (err instanceof ClientGoneError) {
      next(err);
      return;
    }
    const dryRun = typeof req.body === 'object' && req.body !== null && (req.body as { dryRun?: unknown }).dryRun === true;
    if (req.operator !== undefined && req.method !== 'GET' && !dryRun) {
      const { code, message } = refusalOf(err);
      storage.auditLog.record(req.operator, 'refused', { request: `${req.method} ${req.baseUrl}${req.path}`, code, message }, clock.now()).then(() => next(err), next);
      return;
    }
    next(err);
  });

  // GET /repositories/health and GET /alerts: the expiry guardian and the alerts outbox (read scope).
  alertRoutes(operator, { alerts: storage.alerts, health: health ?? (() => repositoryHealth({ roots: storage.roots }, clock.now(), DEFAULT_EXPIRY_WARNINGS)) });
  operator.use(campaignRoutes(services.campaigns, jsonBody, (body) => campaignDryRun(services, storage, body)));
  app.use('/api/v1', operator);
  // The transparency log: public reads and witnesses' cosignatures (shared/transparency/routes.ts).
  app.use('/log', logRouter(transparencyLog));
  // The web dashboard's files (GET /ui, /ui/assets/...); other /ui paths go on to their routes or the 404.
  app.use(dashboardStatic({ dir: dashboardDir }));
  app.use((req, res) => {
    closeIfUnread(req, res);
    sendError(res, 404, 'not_found', `no route ${req.method} ${req.path}`);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ClientGoneError) {
      log?.(`${req.method} ${req.path}: ${err.message}`);
      return;
    }
    onRequestFailure?.(err);
    // A refusal before or while reading the body (401, 413, ...) ends the connection unread.
    closeIfUnread(req, res);
    sendError(res, err);
  });
  return app;
}

/** The Director's one request handler: its fast routes on plain node:http, then the express app. */
export function createHandler(deps: DirectorAppDeps & HealthDeps): RequestHandler {
  const { observability } = deps;
  if (observability === undefined) return withFastRoutes(vehicleFastRoutes(deps), createApp(deps));
  return observedHandler(observability, vehicleFastRoutes(deps), createApp(deps));
}

/**
 * What every vehicle sends on every cycle, answered on plain node:http before express's router,
 * whose routing cost more than the work itself (bench/RESULTS.md, figures 1 and 2).
 */
export function vehicleFastRoutes({
  services,
  maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
  log,
  downloads = new StreamSlots(DEFAULT_DOWNLOAD_SLOTS),
  busyRetryAfterSeconds = DEFAULT_BUSY_RETRY_AFTER_SECONDS,
  onRequestFailure,
}: Pick<DirectorAppDeps, 'services' | 'maxBodyBytes' | 'log' | 'downloads' | 'busyRetryAfterSeconds' | 'onRequestFailure'>): FastRoute[] {
  const downloadLimits = { downloads, busyRetryAfterSeconds };
  const refuse: Refuse = (req, res, err) => {
    onRequestFailure?.(err);
    closeIfUnread(req, res);
    sendRawError(res, err);
  };
  return [
    { method: 'GET', path: '/vehicle/metadata/:file', handle: (req, res, { file }) => serveVehicleMetadata(services, req, res, file!, refuse).catch((err: unknown) => answerFailure(res, err)) },
    {
      method: 'GET',
      path: '/vehicle/images/:file',
      handle: (req, res, { file }) => serveEncryptedImage(services, req, res, file!, downloadLimits, refuse).catch((err: unknown) => answerFailure(res, err)),
    },
    { method: 'POST', path: '/vehicle/manifest', handle: (req, res) => serveVehicleManifest(services, req, res, { maxBodyBytes, log }, refuse) },
    { method: 'POST', path: '/vehicle/image-urls', handle: (req, res) => serveImageUrls(services, req, res, refuse).catch((err: unknown) => answerFailure(res, err)) },
  ];
}

/** Answers a refused request; a body it did not read is not drained either (its connection closes). */
type Refuse = (req: IncomingMessage, res: ServerResponse, err: unknown) => void;

/** GET /vehicle/metadata/:file: the vehicle's own Director metadata, for its credential's VIN. */
async function serveVehicleMetadata({ authentication, metadata }: DirectorServices, req: IncomingMessage, res: ServerResponse, file: string, refuse: Refuse): Promise<void> {
  try {
    const vin = await authentication.authenticate(req.headers.authorization, { method: req.method!, path: req.url!, clientCertificate: peerCertificateOf(req) });
    const bytes = await metadata.file(vin, file);
    if (bytes === undefined) {
      sendRawJson(res, 404, { error: { code: 'not_found', message: `no metadata ${file}` } });
      return;
    }
    await sendMetadata(req, res, Buffer.from(bytes), undefined, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  } catch (err) {
    refuse(req, res, err);
  }
}

/**
 * GET /vehicle/images/<ciphertext sha256>.enc and /vehicle/images/<from sha256>-<to sha256>.delta (a
 * delta the Director signed into this vehicle's targets, docs/transport.md "Delta updates"), and:
 * an image the operator had encrypted for an ECU of this
 * vehicle (docs/image-encryption.md), with the same authentication as its metadata, streamed from
 * the Director's cache with a single Range honoured (a cut download resumes) and the Image
 * repository's caps on downloads in flight (docs/threat-model.md HR-2). Only a ciphertext one of the
 * vehicle's own active assignments lists is served: any other, another vehicle's included, is the
 * same 404 as one that does not exist, so no vehicle learns what others are sent.
 */
async function serveEncryptedImage(
  { authentication, encryptedImages, deltas }: DirectorServices,
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  limits: { readonly downloads: StreamSlots; readonly busyRetryAfterSeconds: number },
  refuse: Refuse,
): Promise<void> {
  try {
    const vin = await authentication.authenticate(req.headers.authorization, { method: req.method!, path: req.url!, clientCertificate: peerCertificateOf(req) });
    // A ciphertext (<sha256>.enc) or a delta (<from>-<to>.delta, image-deltas.ts): the names cannot collide.
    const found = (await encryptedImages.servable(vin, file)) ?? (await deltas.servable(vin, file));
    if (found === undefined) {
      sendRawJson(res, 404, { error: { code: 'not_found', message: `no encrypted image or delta ${file} for this vehicle` } });
      return;
    }
    // Each download holds slabs until its client has read them: a capped number at a time.
    if (req.method !== 'HEAD') {
      const release = limits.downloads.tryTake(req.socket.remoteAddress ?? '');
      if (release === undefined) throw new ServerBusyError(`too many image downloads in flight; retry in ${limits.busyRetryAfterSeconds} s`, limits.busyRetryAfterSeconds);
      res.once('close', release);
    }
    // Meant for one vehicle: no shared cache may keep it.
    await sendBlob(req, res, found.path, found.sha256, { cacheControl: 'private, no-store' });
  } catch (err) {
    refuse(req, res, err);
  }
}

/**
 * POST /vehicle/manifest: the vehicle is authenticated from the headers before any body byte is
 * read (an anonymous sender gets 401 and a closed connection; docs/threat-model.md HR-3), the body
 * is read with a cap, a signed request's signature is checked over it, and the answer is sent once
 * the manifest's commit is durable. A body may come compressed (gzip, deflate or br); the cap then
 * applies to the bytes as sent and again to the inflated bytes, so a decompression bomb is refused
 * with 413 once it inflates past the cap. The body digest a signed request names covers the body
 * as sent, before inflating (as HTTP's Content-Digest does): the signature is checked before any
 * inflating work, and an uncompressed body, sent as is, is checked exactly as before.
 */
function serveVehicleManifest(
  { authentication, intake }: DirectorServices,
  req: IncomingMessage,
  res: ServerResponse,
  options: { maxBodyBytes: number; log?: ((line: string) => void) | undefined },
  refuse: Refuse,
): void {
  let credential: VehicleCredential | undefined;
  let vin: string | undefined;
  authentication
    .authenticateHeaders(req.headers.authorization, { method: 'POST', path: req.url!, clientCertificate: peerCertificateOf(req) })
    .then(async (authenticated) => {
      credential = authenticated;
      const coding = contentCodingOf(req);
      const sent = await readSentBody(req, options.maxBodyBytes);
      vin = credential.complete(sent);
      return intake.receiveManifest(vin, await inflateBody(sent, coding, options.maxBodyBytes));
    })
    .then(
      (result) => sendRawJson(res, 200, result),
      (err: unknown) => {
        if (err instanceof ClientGoneError) {
          // Nobody is left to answer, and it is no fault of the server's: one plain line.
          options.log?.(`manifest upload for ${credential?.vin} ended by the client: ${err.message}`);
          return;
        }
        if (vin !== undefined) options.log?.(`manifest from ${vin} rejected: ${(err as Error).message}`);
        refuse(req, res, err);
      },
    )
    // Nothing awaits this chain: a throw while answering must end here, not as an unhandled
    // rejection that would end the process (HR-1).
    .catch((err: unknown) => answerFailure(res, err));
}

/** Largest body of POST /vehicle/image-urls: MAX_IMAGE_URL_FILENAMES names and their quoting. */
const IMAGE_URLS_MAX_BODY_BYTES = 64 * 1024;

/**
 * POST /vehicle/image-urls: signed download URLs for the vehicle's own assigned images, and a grant
 * to read the Image repository's metadata (docs/signed-urls.md). The VIN comes from the credential,
 * checked from the headers before any body byte is read (HR-3); a filename the vehicle was not
 * assigned gets no URL, and no word on whether it exists.
 */
async function serveImageUrls({ authentication, imageUrls }: DirectorServices, req: IncomingMessage, res: ServerResponse, refuse: Refuse): Promise<void> {
  try {
    const credential = await authentication.authenticateHeaders(req.headers.authorization, { method: 'POST', path: req.url!, clientCertificate: peerCertificateOf(req) });
    const body = await readSentBody(req, IMAGE_URLS_MAX_BODY_BYTES);
    const vin = credential.complete(body);
    if (imageUrls === undefined) throw new NotFoundError('this Director issues no signed image URLs (it has no URL-signing key)', { repository: 'director' });
    const answer = await imageUrls.issue(vin, parseImageUrlRequest(body));
    const text = JSON.stringify(answer);
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  } catch (err) {
    if (err instanceof ClientGoneError) return;
    refuse(req, res, err);
  }
}


/** The code and message a refused operator request is recorded with (the client gets the same). */
function refusalOf(err: unknown): { code: string; message: string } {
  if (err instanceof UptaneError) return { code: err.code, message: err.message };
  const http = err as { type?: unknown; message?: unknown };
  const code = http.type === 'entity.too.large' ? 'body_too_large' : http.type === 'entity.parse.failed' ? 'bad_request' : 'internal';
  return { code, message: typeof http.message === 'string' ? http.message : 'request refused' };
}
