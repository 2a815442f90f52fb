// Director requests through the gateway: passed on as they came, one at a time per request, and
// never kept. A Director answer is one vehicle's (its targets, its session, its encrypted image),
// so the gateway has nothing to share between vehicles; it only forwards the vehicle's signed
// headers and body under a cap, and the answer back under another (docs/gateway.md "Director").
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BodyTooLargeError, GatewayUpstreamError, ServerBusyError } from '../shared/core/errors.js';
import { declaresMoreThan } from '../shared/server/http-body.js';
import type { GatewayLimits } from './limits.js';
import type { Upstream } from './upstream.js';

/** Headers of one connection only (RFC 9110 7.6.1), never forwarded either way. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

/** The request headers passed on to the Director: the end-to-end ones the vehicle sent, nothing the gateway adds. */
function forwardedRequestHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  return headers;
}

/** A byte counter that fails the stream past `max` bytes. */
function capped(max: number, failure: () => Error): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(seen > max ? failure() : null, chunk);
    },
  });
}

export class DirectorPassThrough {
  private inFlight = 0;
  /** Requests passed on, for /healthz and the figures. */
  passed = 0;

  constructor(
    private readonly upstream: Upstream,
    private readonly limits: Pick<GatewayLimits, 'maxRequestBodyBytes' | 'maxDirectorAnswerBytes' | 'maxImageBytes' | 'maxDirectorRequests' | 'busyRetryAfterSeconds'>,
  ) {}

  /**
   * Passes `req` (a /vehicle/... request) to the Director and its answer back. Throws (before
   * anything is sent) ServerBusyError at the cap of requests in flight, BodyTooLargeError for a
   * body declared past the cap, GatewayUpstreamError when the Director cannot be reached; past the
   * status line a failure cuts the answer, which the vehicle's own checks refuse.
   */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.inFlight >= this.limits.maxDirectorRequests) {
      throw new ServerBusyError(`the gateway has ${this.inFlight} Director requests in flight; retry in ${this.limits.busyRetryAfterSeconds} s`, this.limits.busyRetryAfterSeconds);
    }
    const maxBody = this.limits.maxRequestBodyBytes;
    if (declaresMoreThan(req, maxBody)) throw new BodyTooLargeError(`request body over the gateway's ${maxBody}-byte limit`);
    this.inFlight++;
    this.passed++;
    try {
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
      const body = hasBody ? req.pipe(capped(maxBody, () => new BodyTooLargeError(`request body over the gateway's ${maxBody}-byte limit`))) : undefined;
      const answer = await this.upstream.request(req.method ?? 'GET', req.url ?? '/', forwardedRequestHeaders(req), body);
      const headers: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
      // One vehicle's answer: no shared cache along the way may keep it for another.
      if (headers['cache-control'] === undefined) headers['cache-control'] = 'private, no-store';
      // An encrypted image (GET /vehicle/images/...) is image-sized; everything else is metadata or a small answer.
      const max = (req.url ?? '').startsWith('/vehicle/images/') ? this.limits.maxImageBytes : this.limits.maxDirectorAnswerBytes;
      const declared = Number(answer.headers['content-length']);
      if (Number.isFinite(declared) && declared > max) {
        answer.body.destroy();
        throw new GatewayUpstreamError(`the Director's answer declares ${declared} bytes, over the gateway's ${max}-byte limit`);
      }
      res.writeHead(answer.status, headers);
      try {
        await pipeline(answer.body, capped(max, () => new GatewayUpstreamError(`the Director's answer passes the gateway's ${max}-byte limit`)), res);
      } catch {
        // The status line left: a cut answer is all that can be said (the vehicle's checks refuse it).
        res.destroy();
      }
    } finally {
      this.inFlight--;
    }
  }
}
