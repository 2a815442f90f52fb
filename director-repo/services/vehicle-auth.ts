// Vehicle authentication and sessions: the VIN of a vehicle request comes from the key that signed
// it, or from the session token that key opened, never from the request (docs/threat-model.md
// HR-3, HR-5, HR-9a). On a Director with mutual TLS, the connection's client certificate must also
// name that VIN and its registered primary ECU (docs/threat-model.md L16).
import type { X509Certificate } from 'node:crypto';
import type { Clock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { ecuPublicKey } from '../../shared/core/crypto/ecu-keys.js';
import { AuthenticationError, ClientCertificateMismatchError, ClientCertificateRequiredError, NotFoundError } from '../../shared/core/errors.js';
import { vehicleIdentityOf } from '../../shared/pki/dev-ca.js';
import { checkVehicleRequestBody, NonceCache, parseVehicleAuth, verifyVehicleRequestHeaders, type RequestToSign } from '../../shared/uptane/vehicle-auth.js';
import { DatabaseUnavailableError } from '../../shared/core/errors.js';
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
  /**
   * Mutual TLS (the server runs with a client CA): every vehicle request must come over a connection
   * whose client certificate, accepted by that CA, names the VIN the request authenticates as and
   * the primary ECU registered for it. Default false (no client CA, nothing to check).
   */
  readonly requireClientCertificate?: boolean;
  /**
   * The secret session tokens are MACed with, shared by replicas (session-secret.ts); one of its own
   * per process when absent (vehicle-sessions.ts).
   */
  readonly sessionSecret?: Uint8Array;
}

/** What a vehicle request shows besides its Authorization header. */
export interface VehicleRequestFacts {
  readonly method: string;
  readonly path: string;
  /**
   * The client certificate the TLS server accepted for this connection (shared/server/tls.ts
   * peerCertificateOf), undefined when there is none or it was not accepted (expired, another CA).
   */
  readonly clientCertificate?: X509Certificate | undefined;
}

const MAX_REMEMBERED_PRIMARY_KEYS = 1_000_000;
/**
 * With replicas, the longest primaryOf's memory is kept even if no word of a change came (an
 * announcement lost because the database failed right after the change committed).
 */
const REPLICA_PRIMARY_KEYS_MAX_AGE_MS = 30_000;

export class VehicleAuthentication {
  private readonly nonces: NonceCache;
  private readonly requestSkewMs: number;
  private readonly sessions: VehicleSessionTokens;
  /** primaryOf's memory: keyid to the VIN and serial of the primary ECU that holds it (null: none). */
  private readonly primaryKeys = new Map<string, { vin: string; serial: string } | null>();
  /** Bumped whenever primaryKeys is emptied: a read begun before must not put what it read back in. */
  private primaryKeysGeneration = 0;
  /** When primaryKeys was last emptied (monotonic ms), for REPLICA_PRIMARY_KEYS_MAX_AGE_MS. */
  private primaryKeysSince = performance.now();
  private readonly requireClientCertificate: boolean;

  constructor(
    private readonly store: DirectorStore,
    private readonly clock: Clock,
    options: VehicleAuthOptions = {},
  ) {
    this.requestSkewMs = options.requestSkewMs ?? 5 * 60 * 1000;
    this.requireClientCertificate = options.requireClientCertificate ?? false;
    // Per key, and with each key's newest accepted time in the store: no vehicle can crowd out
    // another's signed requests, and a restart forgets no replay (docs/threat-model.md HR-5, HR-9a).
    // Replicas share every nonce instead (store/replicas.ts): a header one accepted, none accepts again.
    this.nonces = new NonceCache(
      this.requestSkewMs,
      store.signedRequestNonces === undefined
        ? { maxNoncesPerKey: options.maxSignedNoncesPerKey, marks: store.signedRequestMarks }
        : { maxNoncesPerKey: options.maxSignedNoncesPerKey, shared: store.signedRequestNonces },
    );
    this.sessions = new VehicleSessionTokens(options.sessionSecret);
    // Another replica registered or replaced ECUs (or word may have been missed): read keys anew.
    store.changes?.subscribe('primary-keys', () => this.clearPrimaryKeys());
  }

  /**
   * The VIN of the vehicle whose primary ECU signed this request (Uptane-Ed25519 or Uptane-ECDSA header), or that
   * holds this session token (Bearer, issued by `issueSession`). Either way the VIN comes from the
   * credential, never from the URL or the body (docs/decisions.md Servers;
   * docs/threat-model.md L4).
   */
  async authenticate(authorization: string | undefined, request: RequestToSign & Pick<VehicleRequestFacts, 'clientCertificate'>): Promise<string> {
    return (await this.authenticateHeaders(authorization, request)).complete(request.body);
  }

  /**
   * What a vehicle request's headers prove before its body is read: a session token, or a signed
   * request (registered primary ECU key, time, signature over the body digest the header names,
   * nonce); `complete` then checks the body against that digest. Rejects with AuthenticationError
   * for anything else, so a request without valid credentials is refused before any byte of its
   * body is read (docs/threat-model.md HR-3).
   */
  async authenticateHeaders(authorization: string | undefined, request: VehicleRequestFacts): Promise<VehicleCredential> {
    // No certificate, no further work: refused before the signature or token is even looked at.
    if (this.requireClientCertificate && request.clientCertificate === undefined) {
      throw new ClientCertificateRequiredError(
        'this Director requires mutual TLS for vehicle requests: connect with the client certificate issued to this vehicle at provisioning (a current one, from the Director\'s client CA)',
      );
    }
    const claims = parseVehicleAuth(authorization);
    if (claims === undefined) {
      const { vin, serial } = await this.primaryForSession(authorization, request);
      this.checkClientCertificate(request.clientCertificate, vin, serial);
      return { vin, complete: () => vin };
    }
    const ecu = await this.store.inventory.ecuByKeyid(claims.keyid);
    if (ecu === undefined || !ecu.isPrimary) throw new AuthenticationError('the signing key is not a registered primary ECU key');
    this.checkClientCertificate(request.clientCertificate, ecu.vin, ecu.serial);
    // The header names the body's digest: time, signature and nonce are all checked before any
    // byte of the body is read; the body must then be the one signed.
    await verifyVehicleRequestHeaders(claims, request, ecuPublicKey(ecu.publicKey), {
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

  /**
   * ECUs were registered or replaced (the unit of work committed): which key is whose primary is read
   * anew (sessions end with their key), here and, told through the store, on every other replica.
   */
  async forgetPrimaryKeys(): Promise<void> {
    this.clearPrimaryKeys();
    if (this.store.changes === undefined) return;
    try {
      await this.store.changes.announce('primary-keys');
    } catch (err) {
      // The change is committed and must not be reported failed: other replicas forget within
      // REPLICA_PRIMARY_KEYS_MAX_AGE_MS anyway, or at once if they too lost the database.
      if (!(err instanceof DatabaseUnavailableError)) throw err;
    }
  }

  private clearPrimaryKeys(): void {
    this.primaryKeys.clear();
    this.primaryKeysGeneration++;
    this.primaryKeysSince = performance.now();
  }

  /**
   * With mutual TLS, the client certificate must name `vin` and its registered primary ECU `serial`:
   * a vehicle holding another vehicle's certificate (valid, from the same CA) is refused even with
   * a valid session or signature of its own, and so is a thief of a session token without the
   * vehicle's certificate and key (docs/threat-model.md L16).
   */
  private checkClientCertificate(certificate: X509Certificate | undefined, vin: string, serial: string): void {
    if (!this.requireClientCertificate) return;
    if (certificate === undefined) throw new ClientCertificateRequiredError('this Director requires mutual TLS for vehicle requests: connect with the client certificate issued to this vehicle');
    const identity = vehicleIdentityOf(certificate);
    if (identity === undefined) throw new ClientCertificateMismatchError('the client certificate names no vehicle (CN = VIN and a urn:uptane:vehicle URI): present the certificate issued to this vehicle');
    if (identity.vin !== vin) throw new ClientCertificateMismatchError(`the client certificate is issued to vehicle ${identity.vin}, not to ${vin}, whose credential this request carries`);
    if (identity.primarySerial !== serial) {
      throw new ClientCertificateMismatchError(`the client certificate names primary ECU ${identity.primarySerial}, but vehicle ${vin}'s registered primary ECU is ${serial}: issue a certificate for the current primary`);
    }
  }

  private async primaryForSession(authorization: string | undefined, request: { method: string; path: string }): Promise<{ vin: string; serial: string }> {
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    if (token === undefined) throw new AuthenticationError('sign the request with the primary ECU key (Uptane-Ed25519 or Uptane-ECDSA) or use a current session token (Bearer)');
    // A token opens only what a vehicle polls: its metadata and its manifest. Above all it cannot
    // open a new session, so only the primary ECU key extends access and a stolen token dies at its
    // expiry (docs/threat-model.md L10: expired tokens are refused, the device re-authenticates).
    if (!isSessionRoute(request)) throw new AuthenticationError(`a session token is not accepted for ${request.method} ${request.path}: sign the request with the primary ECU key (Uptane-Ed25519 or Uptane-ECDSA)`);
    const claims = this.sessions.verify(token, this.clock.now().getTime());
    // The session ends with the key that opened it: once an operator replaced the primary ECU
    // (VehicleInventory.replaceEcu), its earlier tokens are refused.
    const primary = await this.primaryOf(claims.keyid);
    if (primary === null || primary.vin !== claims.vin) {
      throw new AuthenticationError('the primary ECU key this session was opened with is no longer registered: open a new session with the current key');
    }
    return primary;
  }

  /**
   * The VIN and serial of the primary ECU that holds the key `keyid`, or null; remembered until an
   * ECU changes in this Director (registration, replacement). Asked on every session request: the
   * store read it saves was a tenth of a metadata GET (bench figure 2).
   */
  private async primaryOf(keyid: string): Promise<{ vin: string; serial: string } | null> {
    const changes = this.store.changes;
    // With replicas, memory is trusted only while word of other replicas' changes comes in.
    if (changes !== undefined && (!changes.listening || performance.now() - this.primaryKeysSince > REPLICA_PRIMARY_KEYS_MAX_AGE_MS)) this.clearPrimaryKeys();
    const remembered = this.primaryKeys.get(keyid);
    if (remembered !== undefined) return remembered;
    const generation = this.primaryKeysGeneration;
    const ecu = await this.store.inventory.ecuByKeyid(keyid);
    const primary = ecu !== undefined && ecu.isPrimary ? { vin: ecu.vin, serial: ecu.serial } : null;
    // Emptied while the read ran (a change, here or told by another replica): what it read may be old.
    if (generation !== this.primaryKeysGeneration || (changes !== undefined && !changes.listening)) return primary;
    if (this.primaryKeys.size >= MAX_REMEMBERED_PRIMARY_KEYS) this.clearPrimaryKeys();
    this.primaryKeys.set(keyid, primary);
    return primary;
  }
}
