// How a vehicle proves to the Director that it holds its primary ECU key, on every request:
//   Authorization: Uptane-Ed25519 keyid="<primary keyid>", time="<ISO>", nonce="<hex>", digest="<body sha256>", sig="<hex>"
// or, from a primary whose key is ECDSA P-256/P-384, the same with Uptane-ECDSA and the hex of the
// DER signature (docs/decisions.md Cryptography, "ECU keys"). The scheme must be the registered key's.
// The signature covers the canonical JSON of {method, path, time, nonce, body_sha256}, so a captured
// header cannot be reused for another path or body, and the Director refuses stale times and nonces
// it has seen. The Director derives the VIN from the key, never from the URL or the body. The
// header names the body's digest, so the signature is checked from the headers alone, before any
// byte of the body is read (docs/threat-model.md HR-3); the body must then match the digest.
import { createHash, randomBytes } from 'node:crypto';
import { canonicalBytes } from '../core/canonical.js';
import type { Ed25519Backend } from '../core/crypto/ed25519.js';
import type { PrivateKey, PublicKey } from '../core/crypto/keys.js';
import { AuthenticationError, ClockSkewError } from '../core/errors.js';

export const VEHICLE_AUTH_SCHEME = 'Uptane-Ed25519';
/** The header scheme of a primary whose key is ECDSA (its signatures are DER, of varying length). */
export const VEHICLE_AUTH_SCHEME_ECDSA = 'Uptane-ECDSA';

export interface RequestToSign {
  readonly method: string;
  /** Path and query as sent, e.g. /vehicle/metadata/timestamp.json */
  readonly path: string;
  readonly body?: Uint8Array;
}

export interface VehicleAuthClaims {
  /** The header's scheme: the signature must be of the registered primary key's type. */
  readonly scheme: typeof VEHICLE_AUTH_SCHEME | typeof VEHICLE_AUTH_SCHEME_ECDSA;
  readonly keyid: string;
  readonly time: string;
  readonly nonce: string;
  /** SHA-256 (hex) of the request body the signature covers; of the empty string without a body. */
  readonly digest: string;
  readonly sig: string;
}

const sha256Hex = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');
const EMPTY_SHA256 = sha256Hex('');

function signedPayload(request: { method: string; path: string }, time: string, nonce: string, bodySha256: string): Buffer {
  return canonicalBytes({ method: request.method.toUpperCase(), path: request.path, time, nonce, body_sha256: bodySha256 });
}

/** The Authorization header value for `request`, signed by the primary ECU's key. */
export function signVehicleRequest(key: PrivateKey, request: RequestToSign, now: Date, backend?: Ed25519Backend): string {
  const time = formatRequestTime(now);
  const nonce = randomBytes(16).toString('hex');
  const digest = request.body === undefined ? EMPTY_SHA256 : sha256Hex(request.body);
  const sig = key.sign(signedPayload(request, time, nonce, digest), backend);
  const scheme = key.scheme === 'ed25519' ? VEHICLE_AUTH_SCHEME : VEHICLE_AUTH_SCHEME_ECDSA;
  return `${scheme} keyid="${key.keyid}", time="${time}", nonce="${nonce}", digest="${digest}", sig="${sig}"`;
}

const header = (scheme: string, sig: string) =>
  new RegExp(`^${scheme} keyid="([0-9a-f]{64})", time="([0-9TZ:-]{20})", nonce="([0-9a-f]{16,64})", digest="([0-9a-f]{64})", sig="(${sig})"$`);
// Ed25519 signatures are 64 bytes; an ECDSA DER signature at most 104 bytes (P-384), bounded here
// so a header cannot carry an arbitrary amount of hex into the verifier.
const HEADERS = {
  [VEHICLE_AUTH_SCHEME]: header(VEHICLE_AUTH_SCHEME, '[0-9a-f]{128}'),
  [VEHICLE_AUTH_SCHEME_ECDSA]: header(VEHICLE_AUTH_SCHEME_ECDSA, '[0-9a-f]{16,256}'),
} as const;

/** The claims of an Uptane-Ed25519 or Uptane-ECDSA header, or undefined if the header uses another scheme. */
export function parseVehicleAuth(header: string | undefined): VehicleAuthClaims | undefined {
  const scheme = header === undefined ? undefined : ([VEHICLE_AUTH_SCHEME, VEHICLE_AUTH_SCHEME_ECDSA] as const).find((s) => header.startsWith(`${s} `));
  if (scheme === undefined) return undefined;
  const match = HEADERS[scheme].exec(header!);
  if (match === null) throw new AuthenticationError(`malformed ${scheme} authorization header`);
  return { scheme, keyid: match[1]!, time: match[2]!, nonce: match[3]!, digest: match[4]!, sig: match[5]! };
}

/**
 * Where the newest signed-request time accepted from each key outlives the process (the Director's
 * database), so that a restart forgets no replay protection (docs/threat-model.md HR-9a). Promises,
 * as a network database answers; NonceCache never asks twice at once for one key.
 */
export interface SignedRequestMarks {
  /** The newest request time (ms since the epoch) accepted from `keyid`, or undefined if none. */
  newest(keyid: string): Promise<number | undefined>;
  /** Makes `timeMs` the newest accepted from `keyid` (never lowering it); it survives the process once this resolves. */
  record(keyid: string, timeMs: number): Promise<void>;
}

/**
 * A record of signed-request nonces that every replica of the Director shares (its database), so a
 * header one replica accepted is refused by all the others within the window, as one process's
 * memory refuses it (docs/decisions.md "Replicas"). NonceCache asks it once a request passed every
 * check of its own, while the key's turn is held.
 */
export interface SharedNonceRecord {
  /**
   * Records `nonce` of `keyid` until `expiresMs`, atomically: false, and nothing changed, when it is
   * recorded already and still unexpired at `nowMs` (another replica, or this one, accepted it).
   */
  claim(keyid: string, nonce: string, expiresMs: number, nowMs: number): Promise<boolean>;
}

export interface NonceCacheOptions {
  /**
   * Most nonces remembered per key (each for twice the window): past it, that key's signed
   * requests are refused until its oldest expire. Per key, so one vehicle's flood never touches
   * another's requests (docs/threat-model.md HR-5).
   */
  readonly maxNoncesPerKey?: number;
  readonly marks?: SignedRequestMarks;
  /**
   * Nonces shared with other processes (replicas on one database). With it, every nonce is kept for
   * the whole window where all processes see it, which refuses a replay across replicas and across
   * restarts; `marks` is then not needed (and, written by live rivals, its floor would refuse an
   * honest second request stamped the same second on another replica).
   */
  readonly shared?: SharedNonceRecord;
}

/**
 * A primary signs a handful of requests per update cycle when it has no session, and one per
 * session otherwise; a thousand in ten minutes is far beyond any honest vehicle.
 */
export const DEFAULT_MAX_NONCES_PER_KEY = 1_000;

interface KeyNonces {
  /**
   * Request times at or before this were accepted before this process knew the key (by an earlier
   * process, whose nonces are gone): all refused, so a captured header cannot be replayed after a
   * restart (docs/threat-model.md HR-9a).
   */
  readonly floor: number;
  /** The newest time recorded in the marks. */
  stored: number;
  /** Nonce to when it may be forgotten; insertion order is expiry order. */
  readonly nonces: Map<string, number>;
  /** When the newest nonce may be forgotten: from then on, the key's whole entry can go. */
  expiry: number;
}

/**
 * Refuses a signed request seen before: the same nonce from the same key within the window; with
 * `shared`, also one that another process sharing the record accepted; with `marks`, a time not
 * newer than the newest the key had accepted before this process started. Memory is bounded per key
 * (maxNoncesPerKey), and a key's entry goes once its nonces expired.
 */
export class NonceCache {
  /** Per key, least recently used first (an entry moves to the end on each use). */
  private readonly keys = new Map<string, KeyNonces>();
  /** Per key with a request being judged: the turn of the last one queued (see remember). */
  private readonly turns = new Map<string, Promise<void>>();
  private readonly maxNoncesPerKey: number;
  private readonly marks: SignedRequestMarks | undefined;
  private readonly shared: SharedNonceRecord | undefined;

  constructor(private readonly windowMs: number, options: NonceCacheOptions = {}) {
    this.maxNoncesPerKey = options.maxNoncesPerKey ?? DEFAULT_MAX_NONCES_PER_KEY;
    this.marks = options.marks;
    this.shared = options.shared;
  }

  /**
   * Records `nonce` of a request from `keyid` stamped `timeMs`, whose signature verified; rejects
   * with AuthenticationError (and records nothing) for a replay or past the key's limit.
   *
   * One key's requests are judged one after another, in arrival order, while other keys' go on: the
   * marks are read and written between the check and the record, and two requests of one key must
   * not interleave there. Otherwise the same nonce sent twice at once could pass twice, and a
   * request could be accepted before the mark covering its time is stored (docs/threat-model.md
   * HR-5, HR-9a).
   */
  async remember(keyid: string, nonce: string, timeMs: number, nowMs: number): Promise<void> {
    const previous = this.turns.get(keyid);
    let done!: () => void;
    const turn = new Promise<void>((resolve) => (done = resolve));
    this.turns.set(keyid, turn);
    try {
      if (previous !== undefined) await previous;
      await this.judge(keyid, nonce, timeMs, nowMs);
    } finally {
      done();
      if (this.turns.get(keyid) === turn) this.turns.delete(keyid);
    }
  }

  /** remember's check and record, run while the key's turn is held. */
  private async judge(keyid: string, nonce: string, timeMs: number, nowMs: number): Promise<void> {
    this.forgetIdleKeys(nowMs);
    const entry = this.keys.get(keyid) ?? (await this.loadEntry(keyid));
    this.use(keyid, entry);
    for (const [seen, expiry] of entry.nonces) {
      if (expiry > nowMs) break;
      entry.nonces.delete(seen);
    }
    if (timeMs <= entry.floor) {
      throw new AuthenticationError('signed request replayed (not newer than the newest this Director accepted from this key before it restarted)');
    }
    if (entry.nonces.has(nonce)) throw new AuthenticationError('signed request replayed (nonce already used)');
    if (entry.nonces.size >= this.maxNoncesPerKey) {
      throw new AuthenticationError(
        `too many signed requests from this key within ${Math.round((2 * this.windowMs) / 60_000)} minutes: ` +
          'open a session (POST /vehicle/session) and send the others with its token',
      );
    }
    // Kept for twice the window: a time accepted now is acceptable until window after it at most.
    const expiry = nowMs + 2 * this.windowMs + 1000;
    // Last, once every local check passed: a refused request takes no place in the shared record.
    if (this.shared !== undefined && !(await this.shared.claim(keyid, nonce, expiry, nowMs))) {
      throw new AuthenticationError('signed request replayed (nonce already used, at this or another replica of the Director)');
    }
    // Stored before the request is answered, and only when the time moves on: at most once a second
    // per key (times are whole seconds), however fast the key sends.
    if (timeMs > entry.stored) {
      if (this.marks !== undefined) {
        await this.marks.record(keyid, timeMs);
      }
      entry.stored = timeMs;
    }
    entry.expiry = expiry;
    // Other keys' requests, run while the shared record or the marks answered, may have dropped this
    // entry (it was idle): it is in use again.
    this.use(keyid, entry);
    entry.nonces.set(nonce, entry.expiry);
  }

  /** A key new here (or forgotten while idle) starts from its mark, if any. */
  private async loadEntry(keyid: string): Promise<KeyNonces> {
    // Also when this process forgot an idle key: its last accepted time is then more than a
    // window before any acceptable time, so the floor from the marks refuses nothing honest.
    const newest = (this.marks === undefined ? undefined : await this.marks.newest(keyid)) ?? Number.NEGATIVE_INFINITY;
    return { floor: newest, stored: newest, nonces: new Map(), expiry: 0 };
  }

  /** Puts the key's entry at the end of the use order. */
  private use(keyid: string, entry: KeyNonces): void {
    this.keys.delete(keyid);
    this.keys.set(keyid, entry);
  }

  /** Drops the entries of keys whose every nonce expired, least recently used first. */
  private forgetIdleKeys(nowMs: number): void {
    for (const [keyid, entry] of this.keys) {
      if (entry.expiry > nowMs) break;
      this.keys.delete(keyid);
    }
  }
}

/**
 * A signed request's headers, before its body is read: the time, the signature over the claimed
 * body digest, and the nonce (remembered from here on, so a request refused later for its body
 * cannot be replayed either). Rejects with AuthenticationError or ClockSkewError;
 * checkVehicleRequestBody then checks the body against the digest.
 */
export async function verifyVehicleRequestHeaders(
  claims: VehicleAuthClaims,
  request: { method: string; path: string },
  key: PublicKey,
  options: { now: Date; maxSkewMs: number; nonces: NonceCache; backend: Ed25519Backend },
): Promise<void> {
  const time = checkVehicleRequestTime(claims, options.now, options.maxSkewMs);
  // A header of the other scheme would fail to verify anyway; saying why helps a misprovisioned primary.
  const expected = key.scheme === 'ed25519' ? VEHICLE_AUTH_SCHEME : VEHICLE_AUTH_SCHEME_ECDSA;
  if (claims.scheme !== expected) throw new AuthenticationError(`signed request uses ${claims.scheme}, but the registered primary key is ${key.scheme}: sign with ${expected}`);
  const payload = signedPayload(request, claims.time, claims.nonce, claims.digest);
  if (!key.verify(payload, claims.sig, options.backend)) throw new AuthenticationError('signed request does not verify with the registered primary key');
  await options.nonces.remember(claims.keyid, claims.nonce, time, options.now.getTime());
}

/** The body of a signed request must be the one its signature names. */
export function checkVehicleRequestBody(claims: Pick<VehicleAuthClaims, 'digest'>, body: Uint8Array | undefined): void {
  const digest = body === undefined ? EMPTY_SHA256 : sha256Hex(body);
  if (digest !== claims.digest) throw new AuthenticationError('the request body is not the one its signature covers');
}

/**
 * The request's time (ms since the epoch) if it is within `maxSkewMs` of `now`; ClockSkewError
 * otherwise, carrying the server's time, so a vehicle whose clock is off can stamp its next request
 * right (docs/threat-model.md HR-9j). Telling the time gives nothing away: every answer's Date
 * header does too.
 */
export function checkVehicleRequestTime(claims: Pick<VehicleAuthClaims, 'time'>, now: Date, maxSkewMs: number): number {
  const time = Date.parse(claims.time);
  if (!Number.isFinite(time)) throw new AuthenticationError('malformed signed request time');
  if (Math.abs(time - now.getTime()) > maxSkewMs) {
    const serverTime = formatRequestTime(now);
    throw new ClockSkewError(
      `signed request time ${claims.time} is more than ${Math.round(maxSkewMs / 1000)} s from the Director's time ${serverTime}: ` +
        "check the vehicle clock, or stamp signed requests with the Director's time (serverTime)",
      serverTime,
    );
  }
  return time;
}

/** A request time as the header carries it: ISO 8601 in whole seconds. */
function formatRequestTime(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * How far the Director's clock is ahead of the vehicle's (ms; negative if behind), from its answer
 * to a signed request: a clock_skew refusal carrying the Director's time. Undefined for any other
 * answer. The vehicle uses it only to stamp its signed requests, never to judge metadata expiry
 * (that stays on its own clock), because the answer is not authenticated: whoever forges it gets
 * the vehicle's signed requests refused (as blocking them would) or stamped ahead, so that a header
 * it captures stays acceptable for longer. Such a header opens a session, which reads only metadata
 * the vehicle verifies anyway and sends only manifests its ECUs must sign.
 */
export function clockOffsetFromRefusal(status: number, body: Uint8Array, receivedAtMs: number): number | undefined {
  if (status !== 401) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
  const error = (parsed as { error?: { code?: unknown; serverTime?: unknown } } | null)?.error;
  if (error?.code !== 'clock_skew' || typeof error.serverTime !== 'string' || !REQUEST_TIME.test(error.serverTime)) return undefined;
  const serverMs = Date.parse(error.serverTime);
  return Number.isFinite(serverMs) ? serverMs - receivedAtMs : undefined;
}

const REQUEST_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
