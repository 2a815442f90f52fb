// The caching gateway's limits and periods (docs/code-style.md R10): what it keeps, how long it trusts
// a copy before asking again, and the caps on everything it accepts from vehicles and from the
// repositories behind it (docs/gateway.md "Limits"). One options object with documented defaults.
import { DEFAULT_HTTP_SERVER_LIMITS, type HttpServerLimits } from '../shared/server/http-server.js';

export interface GatewayLimits {
  /** Bytes of images and metadata kept on disk; least recently used entries go first past it. */
  readonly cacheMaxBytes: number;
  /**
   * How long a metadata copy is served without asking the Image repository again. The repository
   * says no-cache (ask every time); a fleet asking within this window shares one revalidation. A
   * vehicle's own checks bound what an older copy can do (docs/gateway.md "Freshness").
   */
  readonly metadataFreshMs: number;
  /** The largest metadata file taken from the Image repository (a targets file with many images). */
  readonly maxMetadataBytes: number;
  /** The largest image taken from the Image repository. */
  readonly maxImageBytes: number;
  /** The largest Director answer passed through to a vehicle (its metadata; an encrypted image is an image). */
  readonly maxDirectorAnswerBytes: number;
  /** The largest request body a vehicle may send through (a manifest, a session request). */
  readonly maxRequestBodyBytes: number;
  /** Time allowed to connect to a repository and get its answer's headers. */
  readonly upstreamConnectTimeoutMs: number;
  /** Longest silence allowed in a repository's answer body (slow retrieval, behind the gateway). */
  readonly upstreamIdleTimeoutMs: number;
  /** Image downloads from the Image repository at once (distinct images; vehicles asking for one share it). */
  readonly maxUpstreamFills: number;
  /** Director requests in flight through the gateway at once; more are answered 503. */
  readonly maxDirectorRequests: number;
  /** Vehicle downloads being served at once (from cache or a fill); more are answered 503. */
  readonly maxDownloads: number;
  /** Retry-After of a 503. */
  readonly busyRetryAfterSeconds: number;
  /** Connections, header and request timeouts of the listening server. */
  readonly server: HttpServerLimits;
}

/**
 * Defaults: 10 GiB of cache, a one-second metadata window (a fleet polling at once shares one
 * revalidation, a new timestamp reaches vehicles at most a second later), 32 MiB per metadata file
 * and 4 GiB per image as the Image repository itself allows, 16 MiB for a Director answer, 1 MiB
 * per vehicle request body.
 */
export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  cacheMaxBytes: 10 * 1024 ** 3,
  metadataFreshMs: 1_000,
  maxMetadataBytes: 32 * 1024 ** 2,
  maxImageBytes: 4 * 1024 ** 3,
  maxDirectorAnswerBytes: 16 * 1024 ** 2,
  maxRequestBodyBytes: 1024 ** 2,
  upstreamConnectTimeoutMs: 10_000,
  upstreamIdleTimeoutMs: 30_000,
  maxUpstreamFills: 16,
  maxDirectorRequests: 512,
  maxDownloads: 2048,
  busyRetryAfterSeconds: 5,
  server: { ...DEFAULT_HTTP_SERVER_LIMITS, maxConnections: 4096 },
};
