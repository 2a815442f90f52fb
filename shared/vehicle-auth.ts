// How a vehicle proves to the Director that it holds its primary ECU key, on every request:
//   Authorization: Uptane-Ed25519 keyid="<primary keyid>", time="<ISO>", nonce="<hex>", sig="<hex>"
// The signature covers the canonical JSON of {method, path, time, nonce, body_sha256}, so a captured
// header cannot be reused for another path or body, and the Director refuses stale times and nonces
// it has seen. The Director derives the VIN from the key, never from the URL or the body.
import { createHash, randomBytes } from 'node:crypto';
import { canonicalBytes } from './canonical.js';
import type { Ed25519Backend } from './crypto/ed25519.js';
import type { PrivateKey, PublicKey } from './crypto/keys.js';
import { AuthenticationError } from './errors.js';

export const VEHICLE_AUTH_SCHEME = 'Uptane-Ed25519';

export interface RequestToSign {
  readonly method: string;
  /** Path and query as sent, e.g. /vehicle/metadata/timestamp.json */
  readonly path: string;
  readonly body?: Uint8Array;
}

export interface VehicleAuthClaims {
  readonly keyid: string;
  readonly time: string;
  readonly nonce: string;
  readonly sig: string;
}

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

function signedPayload(request: RequestToSign, time: string, nonce: string): Buffer {
  return canonicalBytes({
    method: request.method.toUpperCase(),
    path: request.path,
    time,
    nonce,
    body_sha256: request.body === undefined ? EMPTY_SHA256 : createHash('sha256').update(request.body).digest('hex'),
  });
}

/** The Authorization header value for `request`, signed by the primary ECU's key. */
export function signVehicleRequest(key: PrivateKey, request: RequestToSign, now: Date, backend?: Ed25519Backend): string {
  const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const nonce = randomBytes(16).toString('hex');
  const sig = key.sign(signedPayload(request, time, nonce), backend);
  return `${VEHICLE_AUTH_SCHEME} keyid="${key.keyid}", time="${time}", nonce="${nonce}", sig="${sig}"`;
}

const HEADER = new RegExp(`^${VEHICLE_AUTH_SCHEME} keyid="([0-9a-f]{64})", time="([0-9TZ:-]{20})", nonce="([0-9a-f]{16,64})", sig="([0-9a-f]{128})"$`);

/** The claims of an Uptane-Ed25519 header, or undefined if the header uses another scheme. */
export function parseVehicleAuth(header: string | undefined): VehicleAuthClaims | undefined {
  if (header === undefined || !header.startsWith(`${VEHICLE_AUTH_SCHEME} `)) return undefined;
  const match = HEADER.exec(header);
  if (match === null) throw new AuthenticationError(`malformed ${VEHICLE_AUTH_SCHEME} authorization header`);
  return { keyid: match[1]!, time: match[2]!, nonce: match[3]!, sig: match[4]! };
}

/** Remembers nonces for the accepted time window, so a captured header cannot be replayed. */
export class NonceCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly windowMs: number, private readonly maxEntries = 1_000_000) {}

  /** Records `nonce`; false if it was already used within the window. */
  remember(keyid: string, nonce: string, nowMs: number): boolean {
    this.evict(nowMs);
    const id = `${keyid}:${nonce}`;
    if (this.seen.has(id)) return false;
    if (this.seen.size >= this.maxEntries) throw new AuthenticationError('too many signed requests in flight; retry shortly');
    this.seen.set(id, nowMs + 2 * this.windowMs);
    return true;
  }

  private evict(nowMs: number): void {
    // Insertion order is expiry order (a constant lifetime is added to a non-decreasing clock).
    for (const [id, expiry] of this.seen) {
      if (expiry > nowMs) break;
      this.seen.delete(id);
    }
  }
}

/**
 * Checks a vehicle's signed request: time within `maxSkewMs` of now, nonce fresh, signature by
 * `key` over this method, path and body. Throws AuthenticationError otherwise.
 */
export function verifyVehicleRequest(
  claims: VehicleAuthClaims,
  request: RequestToSign,
  key: PublicKey,
  options: { now: Date; maxSkewMs: number; nonces: NonceCache; backend: Ed25519Backend },
): void {
  const time = Date.parse(claims.time);
  if (!Number.isFinite(time) || Math.abs(time - options.now.getTime()) > options.maxSkewMs) {
    throw new AuthenticationError('signed request time is too far from the server time; check the vehicle clock');
  }
  const payload = signedPayload(request, claims.time, claims.nonce);
  if (!key.verify(payload, claims.sig, options.backend)) throw new AuthenticationError('signed request does not verify with the registered primary key');
  if (!options.nonces.remember(claims.keyid, claims.nonce, options.now.getTime())) {
    throw new AuthenticationError('signed request replayed (nonce already used)');
  }
}
