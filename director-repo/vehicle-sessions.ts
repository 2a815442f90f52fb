// Vehicle session tokens (POST /vehicle/session): one request signed with the primary ECU key buys
// a bearer token for the vehicle's polling, so the Director checks an HMAC instead of an Ed25519
// signature per request. Stateless: a token is base64url(payload).base64url(HMAC-SHA256(payload))
// under a secret, so nothing is stored per session and nothing needs pruning. On SQLite (one
// process) the secret is random per process: a restarted Director refuses earlier tokens, and the
// primary then opens a new session. Replicas on PostgreSQL share one from their key folder
// (session-secret.ts), so any replica accepts a token another issued, and restarts keep sessions
// (docs/decisions.md "Replicas"). A bearer token suffices: Uptane leaves how vehicles authenticate to the Director open
// (its public API's authentication is optional, docs/uptane-conformance.md 2), and everything
// served is verified by signatures anyway. What the token guards is which vehicle's metadata and
// manifests it opens, and that comes from the token, never the request (docs/decisions.md Servers,
// docs/threat-model.md L4).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError } from '../shared/core/errors.js';

export interface VehicleSessionClaims {
  readonly vin: string;
  /** Keyid of the primary ECU key that opened the session (the Director ends the session with the key). */
  readonly keyid: string;
  /** When the token stops being accepted, in ms since the epoch by the Director's clock. */
  readonly expires: number;
}

/** Longest token looked at. Tokens this module issues stay under 300 characters (VINs are at most 64). */
export const MAX_SESSION_TOKEN_LENGTH = 512;

// The payload, then the 32-byte MAC: 43 base64url characters, no padding.
const TOKEN = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;
const KEYID = /^[0-9a-f]{64}$/;
const MAX_REMEMBERED_TOKENS = 100_000;

const RENEW = 'open a new session (POST /vehicle/session, signed with the primary ECU key) or sign each request (Uptane-Ed25519)';

export class VehicleSessionTokens {
  private readonly secret: Buffer;
  private readonly verified = new Map<string, VehicleSessionClaims>();

  /**
   * `secret`: the replicas' shared one (session-secret.ts). Without it, one per process, never
   * stored: a leaked data folder yields no way to mint tokens, and a restart revokes every token.
   */
  constructor(secret?: Uint8Array) {
    if (secret !== undefined && secret.length < 32) throw new RangeError('a session secret has at least 32 bytes');
    this.secret = secret === undefined ? randomBytes(32) : Buffer.from(secret);
  }

  issue(claims: VehicleSessionClaims): string {
    const payload = Buffer.from(JSON.stringify({ vin: claims.vin, keyid: claims.keyid, expires: claims.expires })).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /**
   * The claims of a token this process issued that is unexpired at `nowMs`; AuthenticationError
   * otherwise. The MAC is checked over the payload exactly as received, before the payload is read.
   */
  verify(token: string, nowMs: number): VehicleSessionClaims {
    const claims = this.verified.get(token) ?? this.remember(token, this.authentic(token));
    if (claims.expires <= nowMs) throw new AuthenticationError(`session token expired at ${new Date(claims.expires).toISOString()}: ${RENEW}`);
    return claims;
  }

  /** The claims of a token whose MAC is this process's; AuthenticationError otherwise. */
  private authentic(token: string): VehicleSessionClaims {
    // An overlong or malformed token is refused before any hashing or decoding.
    const match = token.length <= MAX_SESSION_TOKEN_LENGTH ? TOKEN.exec(token) : null;
    if (match === null) throw new AuthenticationError(`malformed session token: ${RENEW}`);
    const payload = match[1]!;
    // Both sides are 43 ASCII characters, so timingSafeEqual compares equal lengths and leaks no
    // prefix length through timing.
    if (!timingSafeEqual(Buffer.from(this.mac(payload), 'latin1'), Buffer.from(match[2]!, 'latin1'))) {
      throw new AuthenticationError(`session token not issued by this Director (altered, or from before a restart or a change of its session secret): ${RENEW}`);
    }
    return parseClaims(payload);
  }

  /**
   * Tokens already found authentic, so a vehicle's polling repeats no MAC and no parsing (bench
   * figure 2). Only tokens this process issued get in, so the memory is bounded by what it issued;
   * the cap bounds it anyway.
   */
  private remember(token: string, claims: VehicleSessionClaims): VehicleSessionClaims {
    if (this.verified.size >= MAX_REMEMBERED_TOKENS) this.verified.clear();
    this.verified.set(token, claims);
    return claims;
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.secret).update(payload, 'latin1').digest('base64url');
  }
}

/**
 * Whether a session token may authenticate this request: the vehicle's polling, metadata GETs,
 * manifest POSTs and its requests for signed download URLs, exactly as the primary sends them. Anything else, POST /vehicle/session above
 * all, needs the primary ECU key's signature.
 */
export function isSessionRoute(request: { readonly method: string; readonly path: string }): boolean {
  const pathname = request.path.split('?', 1)[0]!;
  // Encrypted images are downloads a vehicle polls for, like its metadata (docs/image-encryption.md).
  if (request.method === 'GET' || request.method === 'HEAD') return pathname.startsWith('/vehicle/metadata/') || pathname.startsWith('/vehicle/images/');
  return request.method === 'POST' && (pathname === '/vehicle/manifest' || pathname === '/vehicle/image-urls');
}

/** The payload of a token whose MAC verified: only this module wrote it, but it is still read strictly. */
function parseClaims(payload: string): VehicleSessionClaims {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
  }
  const claims = value as Partial<Record<keyof VehicleSessionClaims, unknown>> | null | undefined;
  if (
    typeof claims !== 'object' || claims === null || Object.keys(claims).length !== 3 ||
    typeof claims.vin !== 'string' || claims.vin.length === 0 || claims.vin.length > 64 ||
    typeof claims.keyid !== 'string' || !KEYID.test(claims.keyid) ||
    typeof claims.expires !== 'number' || !Number.isSafeInteger(claims.expires)
  ) {
    throw new AuthenticationError(`malformed session token: ${RENEW}`);
  }
  return { vin: claims.vin, keyid: claims.keyid, expires: claims.expires };
}
