// What a server tells its operators about itself: GET /metrics, /healthz and /readyz as rows of its
// fast route table (answered before express, docs/code-style.md R20), and around the whole handler
// the request id, the per-request histogram and the one log line per request.
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from './http-server.js';
import { serveHealthz, serveReadyz, type ReadinessChecks } from './health.js';
import { serveMetrics, type MetricsAccess, type ServerMetrics } from './metrics.js';
import { logRequest, requestIdOf, type Logger } from './request-log.js';
import { markRoutePattern, routePatternOf, withFastRoutes, type FastRoute } from './route-table.js';

/** What a server is started with (its options' `observability`; `false` leaves all of it out, as the benchmark's baseline). */
export interface ObservabilityOptions {
  /** Where request lines go; none when absent (silentLogger), as tests start servers. */
  readonly logger?: Logger;
  /** Who may read /metrics: open by default. */
  readonly metricsAccess?: MetricsAccess;
}

export interface Observability {
  readonly metrics: ServerMetrics;
  /** Request lines and the server's other lines go here (request-log.ts silentLogger for none). */
  readonly logger: Logger;
  readonly readiness: ReadinessChecks;
}

/** The operator's three routes, first in a server's fast route table. */
export function observabilityRoutes({ metrics, readiness }: Observability): FastRoute[] {
  return [
    { method: 'GET', path: '/metrics', handle: (req, res) => serveMetrics(metrics, req, res) },
    { method: 'GET', path: '/healthz', handle: (req, res) => serveHealthz(req, res) },
    { method: 'GET', path: '/readyz', handle: (req, res) => serveReadyz(readiness, req, res) },
  ];
}

/** Label of a request no route took (a 404): its path is the client's choice, so never a label. */
const UNMATCHED = 'unmatched';

/**
 * Wraps a server's handler: each request gets its id (sent back as X-Request-Id, put in error
 * bodies by http-errors.ts), and when its connection is done, one histogram sample and one log line
 * under its route pattern.
 */
export function observeRequests(handler: RequestHandler, { metrics, logger }: Pick<Observability, 'metrics' | 'logger'>): RequestHandler {
  return (req, res) => {
    const started = performance.now();
    const requestId = requestIdOf(req);
    res.setHeader('X-Request-Id', requestId);
    res.once('close', () => {
      const seconds = (performance.now() - started) / 1000;
      const route = routePatternOf(req) ?? UNMATCHED;
      // An answer cut before its end (the client left, a failure mid-body) is counted under 499, nginx's "client closed".
      const status = res.writableFinished ? res.statusCode : 499;
      const method = req.method ?? 'OTHER';
      metrics.observeRequest(method, route, status, seconds);
      const vin = (req as { vin?: unknown }).vin;
      logRequest(logger, { requestId, method, route, status, durationMs: Math.round(seconds * 1e6) / 1000, ...(typeof vin === 'string' ? { vin } : {}) });
    });
    return handler(req, res);
  };
}

/**
 * A server's one handler with observability: its operator routes and `fastRoutes` on plain
 * node:http, then `app` (express), whose matched route patterns are followed for the labels.
 */
export function observedHandler(observability: Observability, fastRoutes: readonly FastRoute[], app: RequestHandler): RequestHandler {
  const fallback: RequestHandler = (req, res) => {
    followExpressRoute(req);
    return app(req, res);
  };
  return observeRequests(withFastRoutes([...observabilityRoutes(observability), ...fastRoutes], fallback), observability);
}

/**
 * Express's router sets `req.route` when a route matches, while `req.baseUrl` is still the mount
 * point (it is restored when an error leaves the router): the pattern is taken at that moment.
 */
function followExpressRoute(req: IncomingMessage): void {
  let route: unknown;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set: (value: unknown) => {
      route = value;
      const path = (value as { path?: unknown } | undefined)?.path;
      const base = (req as { baseUrl?: unknown }).baseUrl;
      // A route given as a regular expression (the Image repository's /targets/...) is labelled by its source, code not input.
      if (path !== undefined) markRoutePattern(req, `${typeof base === 'string' ? base : ''}${typeof path === 'string' ? path : String(path)}`);
    },
  });
}
