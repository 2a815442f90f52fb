// The Director's HTTP face. Vehicle routes (/vehicle/...) authenticate the primary ECU's key and take
// the VIN from it; operator routes (/api/v1/...) need an operator token. express app from a factory,
// no listen() inside. Errors leave as {error: {code, message}}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { BadRequestError, UptaneError } from '../shared/core/errors.js';
import { sendError, sendRawError, sendRawJson } from '../shared/server/http-errors.js';
import { ClientGoneError, readSentBody } from '../shared/server/http-body.js';
import { contentCodingOf, inflateBody } from '../shared/server/compressed-body.js';
import { answerFailure, type RequestHandler } from '../shared/server/http-server.js';
import { withFastRoutes, type FastRoute } from '../shared/server/route-table.js';
import type { AssignmentRequest, Director, VehicleCredential, VehicleRegistration } from './director.js';
import { campaignRoutes } from './campaign-routes.js';
import type { Campaigns } from './campaigns.js';
import type { SqliteDirectorStore as DirectorStorage } from './store/sqlite/director-store.js';
import { cappedBody, closeIfUnread } from './request-body.js';
import { FailedAuthThrottle, type ThrottleOptions } from '../shared/server/auth-throttle.js';
import { systemClock, type Clock } from '../shared/core/clock.js';
import { requireOperator } from './operator-auth.js';
import { attributes, flag, LIMITS, list, object, optional, pathId, pathText, queryInteger, queryText, text, texts } from './operator-input.js';

export interface DirectorAppDeps {
  readonly director: Director;
  readonly storage: DirectorStorage;
  readonly log?: (line: string) => void;
  /** Campaigns and groups; their routes are mounted when given. */
  readonly campaigns?: Campaigns;
  /** Largest request body accepted, in bytes (manifests, registrations). */
  readonly maxBodyBytes?: number;
  /** Token expiry and failed-attempt refills are judged by this clock (default: the system's). */
  readonly clock?: Clock;
  /** Failed operator authentications allowed per client address (docs/threat-model.md HR-10). */
  readonly authThrottle?: Partial<ThrottleOptions>;
}

type VehicleRequest = Request & { vin?: string };
type OperatorRequest = Request & { operator?: string };


/** Largest request body (manifests, registrations) read unless the deps say otherwise. */
const DEFAULT_MAX_BODY_BYTES = 1_000_000;

export function createApp({ director, storage, log, campaigns, maxBodyBytes = DEFAULT_MAX_BODY_BYTES, clock = systemClock, authThrottle }: DirectorAppDeps): express.Express {
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
      req.vin = await director.authenticateVehicle(req.headers.authorization, {
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
    res.status(201).json(await director.issueSession(req.vin!));
  });

  // GET /vehicle/metadata/:file and POST /vehicle/manifest are answered before this router
  // (vehicleFastRoutes, below).

  // --- Operator API ----------------------------------------------------------------------------
  // Token, expiry, revocation, scope per route and failed-attempt limits: operator-auth.ts (HR-10).
  const operator = express.Router();
  operator.use(requireOperator({ storage, clock, throttle: new FailedAuthThrottle(clock, authThrottle), log }));

  operator.get('/online-keys', (_req, res) => {
    res.json(director.onlineKeysJson());
  });

  operator.put('/metadata/root', rawBody, async (req: OperatorRequest, res, next) => {
    try {
      res.status(201).json(await director.submitRoot(req.body as Buffer, req.operator!));
    } catch (err) {
      next(err);
    }
  });

  operator.post('/vehicles', jsonBody, async (req: OperatorRequest, res, next) => {
    try {
      const registration = parseRegistration(req.body);
      await director.registerVehicle(registration, req.operator!);
      log?.(`vehicle ${registration.vin} registered by ${req.operator}`);
      res.status(201).json(await director.vehicleStatus(registration.vin));
    } catch (err) {
      next(err);
    }
  });

  operator.get('/vehicles', async (req, res) => {
    const limit = queryInteger(req.query, 'limit', { min: 1, max: LIMITS.pageRows, fallback: 100 });
    const after = queryText(req.query, 'after', LIMITS.name) ?? '';
    res.json({ total: await storage.inventory.countVehicles(), vehicles: await storage.inventory.listVehicles(after, limit) });
  });

  operator.get('/vehicles/:vin', async (req, res, next) => {
    try {
      res.json(await director.vehicleStatus(pathText(req.params.vin, 'the VIN', LIMITS.name)));
    } catch (err) {
      next(err);
    }
  });

  operator.post('/vehicles/:vin/ecus/:serial/replace', jsonBody, async (req: OperatorRequest, res, next) => {
    try {
      const vin = pathText(req.params.vin, 'the VIN', LIMITS.name);
      const serial = pathText(req.params.serial, 'the ECU serial', LIMITS.serial);
      await director.replaceEcu(vin, serial, parseEcu(req.body, 'the request body'), req.operator!);
      res.json(await director.vehicleStatus(vin));
    } catch (err) {
      next(err);
    }
  });

  operator.post('/assignments', jsonBody, async (req: OperatorRequest, res, next) => {
    try {
      const body = object(req.body, 'the request body');
      const request = parseAssignment(body);
      if (optional(body.dryRun, (v) => flag(v, 'dryRun')) === true) {
        res.json({ dryRun: true, plan: await director.planAssignments(request) });
        return;
      }
      const created = await director.assign(request, req.operator!);
      log?.(`${created.length} assignment(s) of ${request.image} by ${req.operator}`);
      res.status(201).json({ assignments: created });
    } catch (err) {
      next(err);
    }
  });

  operator.delete('/assignments/:id', async (req: OperatorRequest, res, next) => {
    try {
      // Strict decimal: Number('0x1') is 1, so a loose parse would cancel another assignment (HR-9d).
      res.json(await director.cancelAssignment(pathId(req.params.id, 'the assignment id'), req.operator!));
    } catch (err) {
      next(err);
    }
  });

  operator.get('/audit', async (req, res) => {
    // limit=-1 would be SQLite's "no limit", and 1.5 a type error (docs/threat-model.md HR-9c).
    res.json({ entries: await storage.auditLog.entries(queryInteger(req.query, 'limit', { min: 1, max: LIMITS.pageRows, fallback: 100 })) });
  });

  // Refused operator writes are recorded with who tried and why (issue 4); reads and dry runs are
  // not, and neither are requests without a valid token (anyone could fill the log with those).
  operator.use((err: unknown, req: OperatorRequest, _res: Response, next: NextFunction) => {
    // A client that went away mid-body was refused nothing: it left.
    if (err instanceof ClientGoneError) {
      next(err);
      return;
    }
    const dryRun = typeof req.body === 'object' && req.body !== null && (req.body as { dryRun?: unknown }).dryRun === true;
    if (req.operator !== undefined && req.method !== 'GET' && !dryRun) {
      director.recordRefusal(req.operator, `${req.method} ${req.baseUrl}${req.path}`, refusalOf(err)).then(() => next(err), next);
      return;
    }
    next(err);
  });

  if (campaigns !== undefined) operator.use(campaignRoutes(campaigns, jsonBody));
  app.use('/api/v1', operator);
  app.use((req, res) => {
    closeIfUnread(req, res);
    sendError(res, 404, 'not_found', `no route ${req.method} ${req.path}`);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ClientGoneError) {
      log?.(`${req.method} ${req.path}: ${err.message}`);
      return;
    }
    // A refusal before or while reading the body (401, 413, ...) ends the connection unread.
    closeIfUnread(req, res);
    sendError(res, err);
  });
  return app;
}

/** The Director's one request handler: its fast routes on plain node:http, then the express app. */
export function createHandler(deps: DirectorAppDeps): RequestHandler {
  return withFastRoutes(vehicleFastRoutes(deps), createApp(deps));
}

/**
 * What every vehicle sends on every cycle, answered on plain node:http before express's router,
 * whose routing cost more than the work itself (bench/RESULTS.md, figures 1 and 2).
 */
export function vehicleFastRoutes({ director, maxBodyBytes = DEFAULT_MAX_BODY_BYTES, log }: Pick<DirectorAppDeps, 'director' | 'maxBodyBytes' | 'log'>): FastRoute[] {
  return [
    { method: 'GET', path: '/vehicle/metadata/:file', handle: (req, res, { file }) => serveVehicleMetadata(director, req, res, file!).catch((err: unknown) => answerFailure(res, err)) },
    { method: 'POST', path: '/vehicle/manifest', handle: (req, res) => serveVehicleManifest(director, req, res, { maxBodyBytes, log }) },
  ];
}

/** GET /vehicle/metadata/:file: the vehicle's own Director metadata, for its credential's VIN. */
async function serveVehicleMetadata(director: Director, req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
  try {
    const vin = await director.authenticateVehicle(req.headers.authorization, { method: req.method!, path: req.url! });
    const bytes = await director.vehicleMetadata(vin, file);
    if (bytes === undefined) {
      sendRawJson(res, 404, { error: { code: 'not_found', message: `no metadata ${file}` } });
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': bytes.length });
    res.end(bytes);
  } catch (err) {
    closeIfUnread(req, res);
    sendRawError(res, err);
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
function serveVehicleManifest(director: Director, req: IncomingMessage, res: ServerResponse, options: { maxBodyBytes: number; log?: (line: string) => void }): void {
  let credential: VehicleCredential | undefined;
  let vin: string | undefined;
  director
    .authenticateVehicleHeaders(req.headers.authorization, { method: 'POST', path: req.url! })
    .then(async (authenticated) => {
      credential = authenticated;
      const coding = contentCodingOf(req);
      const sent = await readSentBody(req, options.maxBodyBytes);
      vin = credential.complete(sent);
      return director.receiveManifest(vin, await inflateBody(sent, coding, options.maxBodyBytes));
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

/** Answers a refused request; a body it did not read is not drained either (its connection closes). */
function refuse(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  closeIfUnread(req, res);
  sendRawError(res, err);
}

/** The code and message a refused operator request is recorded with (the client gets the same). */
function refusalOf(err: unknown): { code: string; message: string } {
  if (err instanceof UptaneError) return { code: err.code, message: err.message };
  const http = err as { type?: unknown; message?: unknown };
  const code = http.type === 'entity.too.large' ? 'body_too_large' : http.type === 'entity.parse.failed' ? 'bad_request' : 'internal';
  return { code, message: typeof http.message === 'string' ? http.message : 'request refused' };
}

// --- Request bodies: checked at the boundary, every field typed and bounded (operator-input.ts) --

/** An ECU as registration and replacement take it. */
function parseEcu(raw: unknown, what: string): { serial: string; hardwareId: string; publicKey: string } {
  const ecu = object(raw, what);
  return {
    serial: text(ecu.serial, 'serial', LIMITS.serial),
    hardwareId: text(ecu.hardwareId, 'hardwareId', LIMITS.serial),
    publicKey: text(ecu.publicKey, 'publicKey', LIMITS.publicKey),
  };
}

function parseRegistration(raw: unknown): VehicleRegistration {
  const body = object(raw, 'the request body');
  const ecus = list(body.ecus, 'ecus', LIMITS.ecus);
  return {
    vin: text(body.vin, 'vin', LIMITS.name),
    attributes: optional(body.attributes, (v) => attributes(v, 'attributes')) ?? {},
    ecus: ecus.map((e, i) => {
      const ecu = object(e, `ecus[${i}]`);
      return { ...parseEcu(ecu, `ecus[${i}]`), primary: optional(ecu.primary, (v) => flag(v, `ecus[${i}].primary`)) === true };
    }),
  };
}

function parseAssignment(body: Record<string, unknown>): AssignmentRequest {
  if ((body.vins === undefined) === (body.vin === undefined)) throw new BadRequestError('name the vehicles as vin or vins');
  const vins = body.vins !== undefined ? texts(body.vins, 'vins', LIMITS.vins, LIMITS.name) : [text(body.vin, 'vin', LIMITS.name)];
  return {
    vins,
    image: text(body.image, 'image', LIMITS.image),
    ecuSerial: optional(body.ecuSerial, (v) => text(v, 'ecuSerial', LIMITS.serial)),
    hardwareId: optional(body.hardwareId, (v) => text(v, 'hardwareId', LIMITS.serial)),
  };
}
