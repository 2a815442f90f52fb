// The simulator's HTTP control API (`uptane sim serve`): the SimulatedFleet's controls over HTTP, for
// integration tests written in any language. It listens on loopback by default; off loopback it
// needs a bearer token, and on loopback without one it answers only requests addressed to a
// loopback name (a web page's DNS-rebound name is refused). Bodies are capped, errors are typed JSON.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { AuthenticationError, BadRequestError, BodyTooLargeError, NotFoundError, SimulationStateError } from '../../shared/core/errors.js';
import { bearerToken } from '../../shared/server/access-tokens.js';
import { readCappedBody } from '../../shared/server/http-body.js';
import { sendError } from '../../shared/server/http-errors.js';
import { closeAfterAnswer, DEFAULT_HTTP_SERVER_LIMITS, listenHttp, serverUrl } from '../../shared/server/http-server.js';
import type { OperatorClient } from '../../director-repo/operator-client.js';
import { parseFleetProfile, parseFleetProfileText, type FleetProfile } from './profile.js';
import { resultsJunit, resultsNdjson } from './results.js';
import type { SimulatedFleet } from './simulated-fleet.js';

export interface ControlServerOptions {
  /** Starts the fleet a POST /fleet describes (the caller knows the repositories and the data folder). */
  readonly startFleet: (profile: FleetProfile) => Promise<SimulatedFleet>;
  /** Makes POST /assignments possible: the Director's operator API. */
  readonly operator?: OperatorClient;
  /** Required as `Authorization: Bearer <token>` on every request when set. */
  readonly token?: string;
  /** Largest request body (default 64 KiB: a profile, a list of VINs). */
  readonly maxBodyBytes?: number;
}

export const DEFAULT_CONTROL_BODY_BYTES = 64 * 1024;
/** At most this many VINs in one selection. */
const MAX_SELECTION = 10_000;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

type Json = Record<string, unknown>;

/** The one fleet the server drives, and whether it is being started. */
class FleetSlot {
  fleet: SimulatedFleet | undefined;
  starting = false;

  get(): SimulatedFleet {
    if (this.fleet === undefined) throw new SimulationStateError('no fleet is running: POST /fleet with a profile first');
    return this.fleet;
  }
}

function selection(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > MAX_SELECTION || !value.every((v) => typeof v === 'string')) {
    throw new BadRequestError(`vins: give a list of at most ${MAX_SELECTION} VINs, or leave it out for every vehicle`);
  }
  return value as string[];
}

function field<T>(body: Json, name: string, check: (v: unknown) => v is T, expected: string): T {
  const value = body[name];
  if (!check(value)) throw new BadRequestError(`${name}: expected ${expected}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';

/** The body as JSON (an object), or as YAML text for POST /fleet. */
async function readBody(req: Request, maxBytes: number): Promise<{ json?: Json; yaml?: string }> {
  const bytes = await readCappedBody(req, maxBytes);
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (bytes.length === 0) return { json: {} };
  if (type === 'application/yaml' || type === 'text/yaml' || type === 'application/x-yaml') return { yaml: bytes.toString('utf8') };
  if (type !== 'application/json') throw new BadRequestError(`Content-Type ${type || '(none)'}: send application/json (or application/yaml for POST /fleet)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new BadRequestError(`the request body is not valid JSON: ${err.message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadRequestError('the request body must be a JSON object');
  return { json: parsed as Json };
}

/** The app, and the fleet it drives now (for the CLI's results when it stops). */
export function createControlApp(options: ControlServerOptions): { readonly app: express.Express; current(): SimulatedFleet | undefined } {
  const slot = new FleetSlot();
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_CONTROL_BODY_BYTES;
  const tokenDigest = options.token === undefined ? undefined : createHash('sha256').update(options.token).digest();
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    if (tokenDigest === undefined) {
      if (!LOOPBACK_HOSTS.has((req.headers.host ?? '').replace(/:\d+$/, ''))) {
        closeAfterAnswer(req, res);
        next(new AuthenticationError('without a token this server answers only requests to 127.0.0.1, localhost or [::1]'));
        return;
      }
      next();
      return;
    }
    const given = bearerToken(req.headers.authorization);
    const ok = given !== undefined && timingSafeEqual(createHash('sha256').update(given).digest(), tokenDigest);
    if (!ok) {
      closeAfterAnswer(req, res);
      next(new AuthenticationError('send the control token as Authorization: Bearer <token> (the variable `uptane sim serve --control-token-env` names)'));
      return;
    }
    next();
  });

  // Every route answers JSON (or NDJSON, XML) from a handler that may throw a typed error.
  const route = (handler: (req: Request, res: Response) => Promise<unknown>) => (req: Request, res: Response, next: NextFunction) => {
    handler(req, res).then((answer) => {
      // One answer a line: a shell script's successive curl calls print one JSON document each.
      if (answer !== undefined && !res.headersSent) res.type('application/json').send(`${JSON.stringify(answer)}\n`);
    }, next);
  };
  const body = async (req: Request) => {
    const sent = await readBody(req, maxBodyBytes);
    if (sent.json === undefined) throw new BadRequestError(`${req.method} ${req.path} takes application/json (only POST /fleet takes YAML)`);
    return sent.json;
  };
  const refuseIfRunning = () => {
    if (slot.fleet !== undefined || slot.starting) throw new SimulationStateError('a fleet is already running: DELETE /fleet first');
  };

  // Up and answering (a script waits for it with curl --retry-connrefused); says whether a fleet runs.
  app.get('/healthz', route(async () => ({ ok: true, fleet: slot.fleet !== undefined })));
  app.post(
    '/fleet',
    route(async (req, res) => {
      refuseIfRunning();
      const sent = await readBody(req, maxBodyBytes);
      const profile = sent.yaml !== undefined ? parseFleetProfileText(sent.yaml) : parseFleetProfile(sent.json?.profile ?? sent.json);
      // Checked again: another POST /fleet may have started one while this body was read.
      refuseIfRunning();
      slot.starting = true;
      try {
        slot.fleet = await options.startFleet(profile);
      } finally {
        slot.starting = false;
      }
      res.status(201);
      return { vehicles: slot.fleet.vins, continued: slot.fleet.fleet.continued, alreadyRegistered: slot.fleet.alreadyRegistered, attacks: slot.fleet.attackNames() };
    }),
  );
  app.get('/fleet', route(async () => ({ clock: slot.get().clock.now().toISOString(), vehicles: slot.get().vehicles() })));
  app.delete(
    '/fleet',
    route(async () => {
      const fleet = slot.get();
      slot.fleet = undefined;
      await fleet.close();
      return { closed: fleet.vins.length };
    }),
  );
  app.get('/vehicles/:vin', route(async (req) => slot.get().vehicle(String(req.params.vin))));
  app.put(
    '/vehicles/:vin/state',
    route(async (req) => {
      const fleet = slot.get();
      const state = field(await body(req), 'state', isString, '"parked" or "driving"');
      fleet.setVehicleState(String(req.params.vin), state as 'parked');
      return fleet.vehicle(String(req.params.vin));
    }),
  );
  app.put(
    '/faults',
    route(async (req) => {
      const fleet = slot.get();
      const sent = await body(req);
      const vins = selection(sent.vins);
      fleet.setFault(field(sent, 'fault', isString, 'a fault name'), field(sent, 'on', isBoolean, 'true or false'), vins);
      return { vehicles: vins?.length ?? fleet.vins.length };
    }),
  );
  app.put(
    '/attacks',
    route(async (req) => {
      const fleet = slot.get();
      const sent = await body(req);
      const vins = selection(sent.vins);
      fleet.setAttack(field(sent, 'attack', isString, 'an attack name'), field(sent, 'on', isBoolean, 'true or false'), vins);
      return { vehicles: vins?.length ?? fleet.vins.length };
    }),
  );
  app.post(
    '/clock',
    route(async (req) => {
      const { clock } = slot.get();
      const sent = await body(req);
      if (sent.reset === true) clock.reset();
      else if (sent.set !== undefined) {
        const time = typeof sent.set === 'string' ? new Date(sent.set) : new Date(NaN);
        if (!Number.isFinite(time.getTime())) throw new BadRequestError('set: expected an ISO 8601 time, e.g. 2027-07-01T00:00:00Z');
        clock.set(time);
      } else if (typeof sent.advanceSeconds === 'number' && Number.isFinite(sent.advanceSeconds) && Math.abs(sent.advanceSeconds) <= 100 * 365 * 86_400) {
        clock.advance(sent.advanceSeconds * 1000);
      } else {
        throw new BadRequestError('give {"set": ISO time}, {"advanceSeconds": n} (up to 100 years either way) or {"reset": true}');
      }
      return { now: clock.now().toISOString(), offsetSeconds: Math.round(clock.offset / 1000) };
    }),
  );
  app.post(
    '/step',
    route(async (req) => {
      const fleet = slot.get();
      const cycles = await fleet.step(selection((await body(req)).vins));
      return { round: fleet.fleet.rounds, cycles };
    }),
  );
  app.post(
    '/assignments',
    route(async (req) => {
      const fleet = slot.get();
      if (options.operator === undefined) throw new SimulationStateError('this server has no operator token: start it with --token-env naming one, or assign with `uptane director`');
      const sent = await body(req);
      return fleet.assign(options.operator, field(sent, 'hardwareId', isString, 'a hardware id'), field(sent, 'image', isString, 'an image name'));
    }),
  );
  app.get('/results', route(async () => slot.get().results()));
  app.get(
    '/results/ndjson',
    route(async (_req, res) => {
      res.type('application/x-ndjson').send(resultsNdjson(slot.get().results()));
    }),
  );
  app.get(
    '/results/junit',
    route(async (_req, res) => {
      res.type('application/xml').send(resultsJunit(slot.get().results()));
    }),
  );

  app.use((req: Request, _res: Response, next: NextFunction) => next(new NotFoundError(`no route ${req.method} ${req.path}: the control API is in docs/simulator.md`)));
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    // A body refused unread is not read to its end either: the connection closes after the answer.
    if (err instanceof BodyTooLargeError) closeAfterAnswer(req, res);
    sendError(res, err);
  });
  return { app, current: () => slot.fleet };
}

export interface RunningControlServer {
  readonly url: string;
  /** The fleet the server drives, if one is running (for the CLI's results on shutdown). */
  fleet(): SimulatedFleet | undefined;
  close(): Promise<void>;
}

export async function startControlServer(options: ControlServerOptions & { readonly host?: string; readonly port?: number }): Promise<RunningControlServer> {
  const host = options.host ?? '127.0.0.1';
  if (options.token === undefined && !['127.0.0.1', '::1', 'localhost'].includes(host)) {
    throw new BadRequestError(`listening on ${host} needs a control token (--token-env): off loopback anyone who reaches the port could drive the fleet`);
  }
  const { app, current } = createControlApp(options);
  // A step of a large fleet moves no byte for minutes: the idle limit is longer than the servers'.
  const server: Server = await listenHttp(app, { host, port: options.port ?? 0, limits: { ...DEFAULT_HTTP_SERVER_LIMITS, idleTimeoutMs: 30 * 60_000 } });
  const { port } = server.address() as AddressInfo;
  return {
    url: serverUrl(host, port, false),
    fleet: current,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await current()?.close();
    },
  };
}
