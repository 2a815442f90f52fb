// Prometheus metrics of one server instance: its own prom-client Registry (never the global one, so
// several servers in one process, as in the tests, keep apart), the per-request histogram, Node's
// default process metrics (event-loop lag among them), and who may read GET /metrics. Labels carry
// route patterns, methods, status codes, error codes and role names only: never a VIN, serial,
// token or filename (docs/threat-model.md HR-6 keeps what a client sent out of operator output).
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { sendRawJson } from './http-errors.js';

/** Who may read /metrics: anyone who reaches the port (default), a bearer of `token`, or nobody (404, as if absent). */
export type MetricsAccess = { readonly mode: 'open' } | { readonly mode: 'token'; readonly token: string } | { readonly mode: 'off' };

/** Request latency buckets, in seconds: a metadata GET takes well under a millisecond, a manifest a few, an upload seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The connection pool's counts, where the database has a pool (PostgreSQL). */
export interface PoolStats {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Histogram<'method' | 'route' | 'status'>;

  constructor(
    /** `director` or `image`: the prefix of this server's own metrics. */
    readonly component: string,
    readonly access: MetricsAccess = { mode: 'open' },
  ) {
    // Event-loop lag, heap, CPU and file descriptors, all read on scrape.
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Histogram({
      name: 'uptane_http_request_duration_seconds',
      help: 'HTTP requests by method, route pattern and status, with their latency (from the first byte of the request to the last of the answer)',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
  }

  /** One answered request; `route` is a route pattern from the code (or "unmatched"), never the request's path. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requests.observe({ method: knownMethod(method), route, status: String(status) }, seconds);
  }

  /** A gauge of the connection pool, read on scrape. */
  addPoolGauge(stats: () => PoolStats | undefined): void {
    new Gauge({
      name: 'uptane_db_pool_connections',
      help: 'Database pool connections: total open, idle, and requests waiting for one (PostgreSQL only)',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const now = stats();
        if (now === undefined) return;
        this.set({ state: 'total' }, now.total);
        this.set({ state: 'idle' }, now.idle);
        this.set({ state: 'waiting' }, now.waiting);
      },
    });
  }

  /** The text of GET /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** A method name as a label: the standard ones as they are, anything else one value (a client chooses the method). */
function knownMethod(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
}
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

/**
 * GET /metrics, under `metrics.access`: 404 when off (as if there were no such route), 401 without
 * the bearer secret when restricted, compared in constant time.
 */
export async function serveMetrics(metrics: ServerMetrics, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { access } = metrics;
  if (access.mode === 'off') {
    sendRawJson(res, 404, { error: { code: 'not_found', message: 'no route GET /metrics' } });
    return;
  }
  if (access.mode === 'token' && !bearerMatches(req.headers.authorization, access.token)) {
    sendRawJson(res, 401, { error: { code: 'authentication', message: 'GET /metrics needs Authorization: Bearer <the metrics token>' } }, { 'WWW-Authenticate': 'Bearer' });
    return;
  }
  const text = await metrics.text();
  res.writeHead(200, { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (\S{1,512})$/.exec(header ?? '');
  if (match === null) return false;
  const sent = Buffer.from(match[1]!);
  const wanted = Buffer.from(token);
  return sent.length === wanted.length && timingSafeEqual(sent, wanted);
}

/**
 * A value computed at most once per `ttlMs` and by one caller at a time, for gauges whose query must
 * stay cheap however often /metrics is scraped (vehicles by state at a million vehicles). A scrape
 * waits at most `waitMs` for a fresh value, else reports the last one; a failed refresh keeps it too.
 */
export class CachedValue<T> {
  private value: T | undefined;
  private fetchedAt = -Infinity;
  private running: Promise<void> | undefined;

  constructor(
    private readonly compute: () => Promise<T>,
    private readonly ttlMs = 15_000,
    private readonly waitMs = 2_000,
  ) {}

  async get(): Promise<T | undefined> {
    if (performance.now() - this.fetchedAt >= this.ttlMs && this.running === undefined) {
      this.running = this.compute().then(
        (value) => {
          this.value = value;
          this.fetchedAt = performance.now();
        },
        // The database is away: the gauge keeps its last value, and /readyz says why.
        () => {
          this.fetchedAt = performance.now();
        },
      );
      void this.running.finally(() => (this.running = undefined));
    }
    if (this.running !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.running, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.waitMs)))]);
      clearTimeout(timer);
    }
    return this.value;
  }
}

/** Seconds until the ISO date in a signed role's `expires` (negative once expired); undefined when absent. */
export function secondsUntil(expires: unknown, now: Date): number | undefined {
  if (typeof expires !== 'string') return undefined;
  const at = Date.parse(expires);
  return Number.isFinite(at) ? (at - now.getTime()) / 1000 : undefined;
}

/** `signed.expires` of a stored metadata file's bytes (JSON), undefined when it does not parse. */
export function expiresOf(bytes: Uint8Array): unknown {
  try {
    return (JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed?: { expires?: unknown } }).signed?.expires;
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}
