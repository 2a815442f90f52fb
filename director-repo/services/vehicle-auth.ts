// Vehicle authentication and sessions: the VIN of a vehicle request comes from the key that signed
// it, or from the session token that key opened, never from the request (docs/threat-model.md
// HR-3, HR-5, HR-9a).
import type { Clock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PublicKey } from '../../shared/core/crypto/keys.js';
import { AuthenticationError, NotFoundError } from '../../shared/core/errors.js';
import { checkVehicleRequestBody, NonceCache, parseVehicleAuth, verifyVehicleRequestHeaders, type RequestToSign } from '../../shared/uptane/vehicle-auth.js';
import type { DirectorStore } from '../store/director-store.js';
import { isSessionRoute, VehicleSessionTokens } from '../vehicle-sessions.js';

/** A vehicle request's credential as its headers show it (VehicleAuthentication.authenticateHeaders). */
export interface VehicleCredential {
  /** The vehicle the credential names; proven only once `complete` returned. */
  readonly vin: string;
  /** Checks what needs the body (a signed request's signature over it); returns the VIN or throws AuthenticationError. */
  complete(body: Uint8Array | undefined): string;
}

export interface VehicleAuthOptions {
  /** Accepted clock skew of a vehicle's signed request. */
  readonly requestSkewMs?: number;
  /** Most signed-request nonces remembered per primary ECU key (NonceCache; tests set it small). */
  readonly maxSignedNoncesPerKey?: number;
}

const MAX_REMEMBERED_PRIMARY_KEYS = 1_000_000;

export class VehicleAuthentication {
  private readonly nonces: NonceCache;
  private readonly requestSkewMs: number;
  private readonly sessions = new VehicleSessionTokens();
  /** primaryVinOf's memory: keyid to VIN (null: no primary ECU has it). */
  private readonly primaryKeys = new Map<string, string | null>();

  constructor(
    private readonly store: DirectorStore,
    private readonly clock: Clock,
    options: VehicleAuthOptions = {},
  ) {
    this.requestSkewMs = options.requestSkewMs ?? 5 * 60 * 1000;
    // Per key, and with each key's newest accepted time in the store: no vehicle can crowd out
    // another's signed requests, and a restart forgets no replay (docs/threat-model.md HR-5, HR-9a).
    this.nonces = new NonceCache(this.requestSkewMs, { maxNoncesPerKey: options.maxSignedNoncesPerKey, marks: store.signedRequestMarks });
  }

  /**
   * The VIN of the vehicle whose primary ECU signed this request (Uptane-Ed25519 header), or that
   * holds this session token (Bearer, issued by `issueSession`). Either way the VIN comes from the
   * credential, never from the URL or the body (docs/decisions.md Servers;
   * docs/threat-model.md L4).
   */
  async authenticate(authorization: string | undefined, request: RequestToSign): Promise<string> {
    return (await this.authenticateHeaders(authorization, request)).complete(request.body);
  }

  /**
   * What a vehicle request's headers prove before its body is read: a session token, or a signed
   * request (registered primary ECU key, time, signature over the body digest the header names,
   * nonce); `complete` then checks the body against that digest. Rejects with AuthenticationError
   * for anything else, so a request without valid credentials is refused before any byte of its
   * body is read (docs/threat-model.md HR-3).
   */
  async authenticateHeaders(authorization: string | undefined, request: { method: string; path: string }): Promise<VehicleCredential> {
    const claims = parseVehicleAuth(authorization);
    if (claims === undefined) {
      const vin = await this.vinForSession(authorization, request);
      return { vin, complete: () => vin };
    }
    const ecu = await this.store.inventory.ecuByKeyid(claims.keyid);
    if (ecu === undefined || !ecu.isPrimary) throw new AuthenticationError('the signing key is not a registered primary ECU key');
    // The header names the body's digest: time, signature and nonce are all checked before any
    // byte of the body is read; the body must then be the one signed.
    verifyVehicleRequestHeaders(claims, request, PublicKey.fromHex(ecu.publicKey), {
      now: this.clock.now(),
      maxSkewMs: this.requestSkewMs,
      nonces: this.nonces,
      backend: nodeBackend,
    });
    return {
      vin: ecu.vin,
      complete: (body) => {
        checkVehicleRequestBody(claims, body);
        return ecu.vin;
      },
    };
  }

  /**
   * A short-lived bearer token for `vin`, so a polling vehicle's requests need no signature each.
   * Stateless (vehicle-sessions.ts): it names the vehicle's primary ECU key, and ends with it.
   * `expiresIn` (seconds) lets the vehicle time the token by its own clock, whatever its skew.
   */
  async issueSession(vin: string, lifetimeMs = 15 * 60 * 1000): Promise<{ token: string; expires: string; expiresIn: number }> {
    const primary = (await this.store.inventory.ecusOf(vin)).find((ecu) => ecu.isPrimary);
    if (primary === undefined) throw new NotFoundError(`no vehicle ${vin}`, { repository: 'director' });
    const expires = this.clock.now().getTime() + lifetimeMs;
    const token = this.sessions.issue({ vin, keyid: primary.keyid, expires });
    return { token, expires: new Date(expires).toISOString(), expiresIn: Math.floor(lifetimeMs / 1000) };
  }

  /** ECUs were registered or replaced: which key is whose primary is read anew (sessions end with their key). */
  forgetPrimaryKeys(): void {
    this.primaryKeys.clear();
  }

  private async vinForSession(authorization: string | undefined, request: { method: string; path: string }): Promise<string> {
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    if (token === undefined) throw new AuthenticationError('sign the request with the primary ECU key (Uptane-Ed25519) or use a current session token (Bearer)');
    // A token opens only what a vehicle polls: its metadata and its manifest. Above all it cannot
    // open a new session, so only the primary ECU key extends access and a stolen token dies at its
    // expiry (docs/threat-model.md L10: expired tokens are refused, the device re-authenticates).
    if (!isSessionRoute(request)) throw new AuthenticationError(`a session token is not accepted for ${request.method} ${request.path}: sign the request with the primary ECU key (Uptane-Ed25519)`);
    const claims = this.sessions.verify(token, this.clock.now().getTime());
    // The session ends with the key that opened it: once an operator replaced the primary ECU
    // (VehicleInventory.replaceEcu), its earlier tokens are refused.
    if ((await this.primaryVinOf(claims.keyid)) !== claims.vin) {
      throw new AuthenticationError('the primary ECU key this session was opened with is no longer registered: open a new session with the current key');
    }
    return claims.vin;
  }

  /**
   * The VIN whose primary ECU holds the key `keyid`, or null; remembered until an ECU changes in
   * this Director (registration, replacement). Asked on every session request: the store read it
   * saves was a tenth of a metadata GET (bench figure 2).
   */
  private async primaryVinOf(keyid: string): Promise<string | null> {
    const remembered = this.primaryKeys.get(keyid);
    if (remembered !== undefined) return remembered;
    const ecu = await this.store.inventory.ecuByKeyid(keyid);
    const vin = ecu !== undefined && ecu.isPrimary ? ecu.vin : null;
    if (this.primaryKeys.size >= MAX_REMEMBERED_PRIMARY_KEYS) this.primaryKeys.clear();
    this.primaryKeys.set(keyid, vin);
    return vin;
  }
}
