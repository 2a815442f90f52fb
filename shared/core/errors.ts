// The one error hierarchy of the project. Every failure that can come from untrusted input or a
// misbehaving repository is a subclass of UptaneError with a stable `code` string, so tests assert
// the class and the code, the CLI prints the message, and servers map classes to HTTP statuses in one
// place. Class names say which failure, or which attack, the error reveals, and each class declares
// its kind, so every ECU tells an attack from a fault by the same rule.

/** Which repository an error concerns: 'director', 'image', or any name an updater was given. */
export type RepositoryName = string;

export interface ErrorContext {
  readonly repository?: RepositoryName;
  readonly role?: string;
  readonly cause?: unknown;
}

/**
 * What an error reveals. An `attack`: something untrusted (a repository, the network, the bus, a
 * secondary) sent what must not be accepted; an ECU reports it in its next version report
 * (attacks_detected). A `fault`: something failed without anything being proved wrong (the network
 * failing plainly, local storage, a busy server, an operator's mistake); it is logged and retried,
 * since a flaky link must not read as an attack to the fleet's operators. A `bug`: the caller broke
 * the required order, a programmer error, neither reported nor retried into success.
 */
export type ErrorKind = 'attack' | 'fault' | 'bug';

export abstract class UptaneError extends Error {
  abstract readonly code: string;
  abstract readonly kind: ErrorKind;
  readonly repository: RepositoryName | undefined;
  readonly role: string | undefined;

  constructor(message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    this.repository = context.repository;
    this.role = context.role;
  }

  /** The JSON shape servers send: `{ error: { code, message } }`. */
  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

// ---------------------------------------------------------------------------------------------
// Input shape: JSON, canonical form, schema.

/** Bytes that are not JSON, or JSON that is not the metadata shape expected (J1-J8). */
export class MalformedMetadataError extends UptaneError {
  readonly code = 'malformed_metadata';
  readonly kind = 'attack';
}

/** A value with no canonical JSON form: a fraction, an unsafe integer, a lone surrogate, a non-plain object, or nesting too deep. */
export class CanonicalJsonError extends UptaneError {
  readonly code = 'non_canonical_json';
  readonly kind = 'attack';
}

/** `_type` differs from the role the file was fetched as (A14). */
export class RoleTypeMismatchError extends UptaneError {
  readonly code = 'role_type_mismatch';
  readonly kind = 'attack';
}

// ---------------------------------------------------------------------------------------------
// Authenticity: keys, signatures, thresholds.

/** A keyid that is not the SHA-256 of its key, a key listed twice, or a role naming an unknown key. */
export class BadKeyIdError extends UptaneError {
  readonly code = 'bad_keyid';
  readonly kind = 'attack';
}

/** Threshold below 1, not an integer, or larger than the number of distinct keys (A3, A7). */
export class IllegalThresholdError extends UptaneError {
  readonly code = 'illegal_threshold';
  readonly kind = 'attack';
}

/** Two signatures under one keyid in the same file (A4). */
export class NonUniqueSignaturesError extends UptaneError {
  readonly code = 'non_unique_signatures';
  readonly kind = 'attack';
}

/** Fewer valid signatures from distinct authorized keys than the threshold (A1, A2, B2, B3). */
export class UnmetThresholdError extends UptaneError {
  readonly code = 'unmet_threshold';
  readonly kind = 'attack';
}

/** A key file that cannot be read: wrong format, wrong passphrase, not Ed25519. */
export class KeyFileError extends UptaneError {
  readonly code = 'key_file';
  readonly kind = 'fault';
}

/** A key of a type or scheme this project does not support. */
export class UnsupportedKeyError extends UptaneError {
  readonly code = 'unsupported_key';
  readonly kind = 'attack';
}

/**
 * An Ed25519 public key no signature can ever verify under: all zeros, the identity or another point
 * of small order, one with a torsion component, or a non-canonical encoding (docs/threat-model.md HR-9e).
 */
export class UnusableKeyError extends UptaneError {
  readonly code = 'unusable_key';
  readonly kind = 'attack';
}

/**
 * A public key of a supported scheme that cannot be used as written: not exactly one PEM
 * SubjectPublicKeyInfo block (a private key, a certificate, garbage, trailing data), a point off its
 * curve, or key material of another type or curve than its keytype and scheme name.
 */
export class MalformedKeyError extends UptaneError {
  readonly code = 'malformed_key';
  readonly kind = 'attack';
}

/** A well-formed key too weak to trust: an RSA modulus under 2048 bits or a degenerate exponent. */
export class WeakKeyError extends UptaneError {
  readonly code = 'weak_key';
  readonly kind = 'attack';
}

// ---------------------------------------------------------------------------------------------
// Rollback, freeze, mix-and-match.

/** A version lower than (or, for root, not above) the trusted one: a rollback attack (C1-C6, B5). */
export class RollbackError extends UptaneError {
  readonly code = 'rollback';
  readonly kind = 'attack';
}

/** A version that differs from the one another trusted file promised (E2, E3, E5, B5 skip). */
export class VersionMismatchError extends UptaneError {
  readonly code = 'version_mismatch';
  readonly kind = 'attack';
}

/** Metadata whose expiry is at or before the reference time: a freeze attack (D1). */
export class ExpiredMetadataError extends UptaneError {
  readonly code = 'expired';
  readonly kind = 'attack';
}

/** A file that another trusted file lists with a different length (E1, F3). */
export class LengthMismatchError extends UptaneError {
  readonly code = 'length_mismatch';
  readonly kind = 'attack';
}

/** A file whose hash differs from the one trusted metadata lists (E1, E3, F3). */
export class HashMismatchError extends UptaneError {
  readonly code = 'hash_mismatch';
  readonly kind = 'attack';
}

/**
 * A file whose signed hashes name no algorithm this client computes (so it can never be verified),
 * or a targets entry a repository of this project refuses to publish for lacking sha256 or sha512
 * (docs/threat-model.md G2). A fault: the listing is signed, nothing proves an attacker wrote it.
 */
export class UnsupportedHashAlgorithmError extends UptaneError {
  readonly code = 'unsupported_hash_algorithm';
  readonly kind = 'fault';
}

/** A file missing from the snapshot that must list it (C5, E4). */
export class MissingMetaError extends UptaneError {
  readonly code = 'missing_meta';
  readonly kind = 'attack';
}

// ---------------------------------------------------------------------------------------------
// Delegations and targets.

/** A delegated role that is not delegated, or a delegation graph past the configured limits. */
export class DelegationError extends UptaneError {
  readonly code = 'delegation';
  readonly kind = 'attack';
}

/** A delegated role listing a target outside the paths its delegation allows. */
export class UnauthorizedTargetError extends UptaneError {
  readonly code = 'unauthorized_target';
  readonly kind = 'attack';
}

/** No trusted targets metadata lists the requested target. */
export class TargetNotFoundError extends UptaneError {
  readonly code = 'target_not_found';
  readonly kind = 'attack';
}

/** A target or role name that could escape a directory or URL path (K1, K2). */
export class UnsafePathError extends UptaneError {
  readonly code = 'unsafe_path';
  readonly kind = 'attack';
}

// ---------------------------------------------------------------------------------------------
// Network and storage.

/**
 * A download that failed: connection refused, reset, HTTP error status. A fault, since nothing
 * wrong was received; the subclasses (a missing, slow or endless answer) are attacks (F1-F4).
 */
export class FetchError extends UptaneError {
  readonly code: string = 'fetch_failed';
  readonly kind: ErrorKind = 'fault';
}

/** The server answered 404: the file does not exist (ends the root walk, B1). */
export class RemoteNotFoundError extends FetchError {
  override readonly code = 'not_found';
  override readonly kind = 'attack';
}

/**
 * The server answered 403: it serves this file only to a credential (an Image repository read
 * through signed URLs, docs/signed-urls.md). A reader that can get one asks and tries once more.
 */
export class ReadForbiddenError extends FetchError {
  override readonly code = 'read_forbidden';
}

/** A download slower than the configured minimum, or silent past the timeout (F4). */
export class SlowRetrievalError extends FetchError {
  override readonly code = 'slow_retrieval';
  override readonly kind = 'attack';
}

/** A download that went past its byte limit: endless data (F1, F2). */
export class DownloadLengthError extends FetchError {
  override readonly code = 'download_length';
  override readonly kind = 'attack';
}

/**
 * A download sent in a content coding the client did not ask for, or whose compressed stream is
 * corrupt or cut short (F7). An attack: an honest repository sends only a coding it was offered.
 */
export class ContentEncodingError extends FetchError {
  override readonly code = 'bad_content_encoding';
  override readonly kind = 'attack';
}

// TLS on the client side (issue 16): a client given a CA bundle talks to its servers over TLS only,
// and tells a refused server certificate (an attack: someone else answered) from a plain failure.

/**
 * The server's certificate was refused: not issued by the configured CA, expired or not yet valid,
 * or not issued for the host name in the URL. Whoever answered could not prove to be the server.
 */
export class TlsCertificateError extends FetchError {
  override readonly code = 'tls_certificate_refused';
  override readonly kind = 'attack';
}

/** A plain http:// URL asked of a client configured for TLS: refused, never sent in clear. */
export class TlsDowngradeError extends FetchError {
  override readonly code = 'tls_downgrade';
  override readonly kind = 'attack';
}

/** The TLS handshake failed for another reason than the certificate (no TLS on the port, no common version). */
export class TlsHandshakeError extends FetchError {
  override readonly code = 'tls_handshake_failed';
  override readonly kind = 'fault';
}

/** A CA bundle, client certificate or client key that is not usable PEM, or a key that does not match its certificate. */
export class TlsConfigurationError extends UptaneError {
  readonly code = 'tls_configuration';
  readonly kind = 'fault';
}

// TLS on the server side and the development PKI (issue 16): an operator's file mistake is a fault
// with a message that says which file and what to do; the server never starts half-configured.

/** A certificate or private key that is not usable PEM (a server's TLS files, a CA handed to the PKI). */
export class MalformedCertificateError extends UptaneError {
  readonly code = 'malformed_certificate';
  readonly kind = 'fault';
}

/** A private key that does not belong to the certificate it is paired with. */
export class CertificateKeyMismatchError extends UptaneError {
  readonly code = 'certificate_key_mismatch';
  readonly kind = 'fault';
}

/** A TLS certificate, key or CA file that is missing or unreadable, or that a command would overwrite without --force. */
export class TlsFileError extends UptaneError {
  readonly code = 'tls_file';
  readonly kind = 'fault';
}

/** A server asked to listen in plain HTTP on an address other machines reach, without --insecure-http. */
export class PlainHttpRefusedError extends UptaneError {
  readonly code = 'plain_http_refused';
  readonly kind = 'fault';
}

/** A certificate asked of the development PKI with unusable fields (a VIN, serial or host name it cannot encode). */
export class CertificateRequestError extends UptaneError {
  readonly code = 'certificate_request';
  readonly kind = 'fault';
}

/** Local storage that cannot be read or written (K3, K4). */
export class StorageError extends UptaneError {
  readonly code = 'storage';
  readonly kind = 'fault';
}

/**
 * `db migrate` (SQLite to PostgreSQL) refused before copying anything: the target already holds
 * rows, or the source is not at this program's schema version. Nothing was changed on either side.
 */
export class MigrationRefusedError extends UptaneError {
  readonly code = 'migration_refused';
  readonly kind = 'fault';
}

/** `db migrate` copied, but the target did not match the source (row counts, signed bytes): rolled back, the target left empty. */
export class MigrationMismatchError extends UptaneError {
  readonly code = 'migration_mismatch';
  readonly kind = 'fault';
}

/** No trusted root to start from (A15): the client fails closed. */
export class MissingTrustedRootError extends UptaneError {
  readonly code = 'missing_trusted_root';
  readonly kind = 'attack';
}

// ---------------------------------------------------------------------------------------------
// Repository servers: requests refused before anything is stored.

/** A write request without valid uploader or operator credentials. */
export class AuthenticationError extends UptaneError {
  readonly code: string = 'unauthorized';
  readonly kind: ErrorKind = 'attack';
}

/** A known operator or uploader token past its expiry (docs/threat-model.md HR-10). */
export class TokenExpiredError extends AuthenticationError {
  override readonly code = 'token_expired';
  override readonly kind = 'fault';
}

/** A known operator or uploader token that was revoked (docs/threat-model.md HR-10). */
export class TokenRevokedError extends AuthenticationError {
  override readonly code = 'token_revoked';
  override readonly kind = 'attack';
}

/** A valid token whose scope (or uploader roles and paths) does not cover the request. */
export class InsufficientScopeError extends UptaneError {
  readonly code = 'insufficient_scope';
  readonly kind = 'attack';
}

/**
 * A read of a repository that serves only to credentials (`--read-access credential`) without one:
 * no signed URL, uploader token or vehicle certificate (docs/signed-urls.md). 403: nothing in the
 * request can be retried into access.
 */
export class ReadAccessDeniedError extends UptaneError {
  readonly code: string = 'read_credential_required';
  readonly kind: ErrorKind = 'attack';
}

/** A signed URL whose signature verified but whose time is over: the Director issues a new one. */
export class SignedUrlExpiredError extends ReadAccessDeniedError {
  override readonly code = 'signed_url_expired';
  override readonly kind = 'fault';
}

/** A signed URL that is forged, altered, for another path or method, or signed by an unknown key. */
export class SignedUrlInvalidError extends ReadAccessDeniedError {
  override readonly code = 'signed_url_invalid';
  override readonly kind = 'attack';
}

/** Too many failed authentications from one client address; retry after `retryAfterSeconds`. */
export class TooManyAttemptsError extends UptaneError {
  readonly code = 'too_many_attempts';
  readonly kind = 'attack';

  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    context: ErrorContext = {},
  ) {
    super(message, context);
  }
}

/**
 * A fault of the server's own that passes: nothing was judged or written, and the same request may
 * succeed after `retryAfterSeconds` (503 with Retry-After, shared/server/http-errors.ts).
 */
export abstract class RetryLaterError extends UptaneError {
  readonly kind = 'fault';

  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    context: ErrorContext = {},
  ) {
    super(message, context);
  }
}

/**
 * The server is at its limit for this kind of request (concurrent image downloads, docs/threat-model.md
 * HR-2) and refused it before holding anything for it: retry after `retryAfterSeconds`.
 */
export class ServerBusyError extends RetryLaterError {
  readonly code = 'server_busy';
}

/**
 * The server's database is down, restarting, full, read-only or too slow (its statement timeout
 * passed): nothing was written, and the same request may succeed later. A fault, answered 503 with
 * Retry-After, never a verdict on the request (shared/server/postgres.ts).
 */
export class DatabaseUnavailableError extends RetryLaterError {
  readonly code = 'database_unavailable';
}

/**
 * GET /readyz: the server cannot serve now (its database did not answer a trivial query in time, or
 * an online signing key did not sign): a load balancer should send requests elsewhere and ask again.
 */
export class ServerNotReadyError extends RetryLaterError {
  readonly code = 'not_ready';
}

/**
 * A worker thread of the server's (one verifying signatures, shared/server/worker-pool.ts) stopped
 * before it answered, or the pool is closing: nothing was judged and nothing written. A fault of the
 * server's, never a verdict on the request, answered 503 with Retry-After (the thread is replaced).
 */
export class WorkerFailedError extends RetryLaterError {
  readonly code = 'worker_failed';
}

/** An uploaded image larger than the server's configured limit. */
export class ImageTooLargeError extends UptaneError {
  readonly code = 'image_too_large';
  readonly kind = 'fault';
}

/**
 * A request body past the server's limit, declared or as sent: refused as soon as it passes, without
 * reading the rest (docs/threat-model.md HR-3).
 */
export class BodyTooLargeError extends UptaneError {
  readonly code = 'body_too_large';
  readonly kind = 'attack';
}

/** A request body in a Content-Encoding the server does not inflate (gzip, deflate and br are; 415). */
export class UnsupportedEncodingError extends UptaneError {
  readonly code = 'unsupported_encoding';
  readonly kind = 'fault';
}

/** Metadata lists an image the server does not hold, or holds with another length or hashes. */
export class MissingImageError extends UptaneError {
  readonly code = 'missing_image';
  readonly kind = 'fault';
}

/** The repository cannot take this request in its current state (no root yet, and the like). */
export class RepositoryStateError extends UptaneError {
  readonly code = 'repository_state';
  readonly kind = 'fault';
}

/** A server asked to start with an offline private key (root, targets) in its key directory. */
export class OfflineKeyOnServerError extends UptaneError {
  readonly code = 'offline_key_on_server';
  readonly kind = 'fault';
}

// ---------------------------------------------------------------------------------------------
// The release engineer's offline workspace: refused before anything is signed or pushed.

/** A workspace folder that is missing, already initialized, or lacks what a command needs (no root, nothing staged). */
export class WorkspaceError extends UptaneError {
  readonly code = 'workspace';
  readonly kind = 'fault';
}

/**
 * A staged file of a signing workspace that cannot be read as metadata (edited by hand, truncated):
 * `file` names it. Status reports it and discard still removes it, so it never blocks the workspace.
 */
export class DamagedStagedFileError extends UptaneError {
  readonly code = 'damaged_staged_file';
  readonly kind = 'fault';

  constructor(
    message: string,
    readonly file: string,
    context: ErrorContext = {},
  ) {
    super(message, context);
  }
}

/** A command that cannot be undone was not confirmed: the operator said no, or could not be asked and gave no --yes. */
export class ConfirmationRequiredError extends UptaneError {
  readonly code = 'confirmation_required';
  readonly kind = 'fault';
}

/**
 * A line of an image manifest (`targets add --from-manifest`) that is not a valid image entry: the
 * whole manifest is refused and the workspace left unchanged. `line` is 1-based (0: the file itself).
 */
export class ImageManifestError extends UptaneError {
  readonly code = 'image_manifest';
  readonly kind = 'fault';
  constructor(
    message: string,
    readonly file: string,
    readonly line: number,
    context: ErrorContext = {},
  ) {
    super(message, context);
  }
}

/**
 * A hash-bin delegation (TAP 15 succinct_roles) the workspace cannot create: a bin count that is not
 * a power of two or exceeds the limit, a bad name prefix, or a targets role that already delegates.
 */
export class HashBinError extends UptaneError {
  readonly code = 'hash_bins';
  readonly kind = 'fault';
}

/** An expiry that is neither a duration (`90d`, `12h`, `1y`) nor a `YYYY-MM-DDTHH:MM:SSZ` date, or lies in the past. */
export class InvalidExpiryError extends UptaneError {
  readonly code = 'invalid_expiry';
  readonly kind = 'fault';
}

/** A key asked to sign (or a signature imported for) a role whose authority does not include that key. */
export class UnauthorizedSignerError extends UptaneError {
  readonly code = 'unauthorized_signer';
  readonly kind = 'fault';
}

/** A signing request or detached signature that is malformed, altered in transit, or for other bytes than those staged. */
export class SigningRequestError extends UptaneError {
  readonly code = 'signing_request';
  readonly kind = 'attack';
}

/** The repository server refused a push; `remoteCode` is the server's own error code. */
export class PushRejectedError extends UptaneError {
  readonly code = 'push_rejected';
  readonly kind = 'fault';

  constructor(
    message: string,
    readonly status: number,
    readonly remoteCode: string,
    context: ErrorContext = {},
  ) {
    super(message, context);
  }
}

// ---------------------------------------------------------------------------------------------
// Director: manifests, inventory, assignments.

/** A vehicle version manifest or ECU version report not signed by the registered key (H-group). */
export class ManifestSignatureError extends UptaneError {
  readonly code = 'manifest_signature';
  readonly kind = 'attack';
}

/** A manifest that does not match the inventory: wrong VIN or primary, ECU missing or unknown. */
export class ManifestInventoryError extends UptaneError {
  readonly code = 'manifest_inventory';
  readonly kind = 'attack';
}

/** An ECU version report whose counter was already used: a replayed report. */
export class ReplayedReportError extends UptaneError {
  readonly code = 'replayed_report';
  readonly kind = 'attack';
}

/** An ECU version report whose time is implausible (in the future, or far in the past). */
export class ReportTimeError extends UptaneError {
  readonly code = 'report_time';
  readonly kind = 'attack';
}

/** An image whose hardware ids do not include the ECU's. */
export class IncompatibleImageError extends UptaneError {
  readonly code = 'incompatible_hardware';
  readonly kind = 'attack';
}

/** An image whose release counter is below the one installed or trusted (image rollback, C9). */
export class ImageRollbackError extends UptaneError {
  readonly code = 'image_rollback';
  readonly kind = 'attack';
}

/** A change that conflicts with the current state (ECU already has an active assignment, VIN registered). */
export class ConflictError extends UptaneError {
  readonly code: string = 'conflict';
  readonly kind = 'fault';
}

/** A vehicle, ECU or assignment that does not exist. */
export class NotFoundError extends UptaneError {
  readonly code = 'not_found';
  readonly kind = 'fault';
}

/** A request body that breaks the API's rules (missing field, wrong type, over a limit). */
export class BadRequestError extends UptaneError {
  readonly code = 'bad_request';
  readonly kind = 'fault';
}

/** A fleet simulator profile (YAML or JSON) that breaks its rules; the message names the first wrong field (sim/control/profile.ts). */
export class SimulationProfileError extends UptaneError {
  readonly code = 'invalid_profile';
  readonly kind = 'fault';
}

/** A simulator control request that does not fit the fleet as it is now (no fleet started, one already running, a step under way). */
export class SimulationStateError extends ConflictError {
  override readonly code: string = 'simulation_state';
}

/** The Director refused an operator's request (CLI side); `remoteCode` is the server's own error code. */
export class OperatorRequestError extends UptaneError {
  readonly code = 'operator_request_refused';
  readonly kind = 'fault';

  constructor(
    message: string,
    readonly status: number,
    readonly remoteCode: string,
    context: ErrorContext = {},
  ) {
    super(message, context);
  }
}

/**
 * A vehicle's signed request stamped too far from the Director's clock. It carries the Director's
 * time, so the vehicle can stamp its next request right; the vehicle uses that time for nothing
 * else (docs/threat-model.md HR-9j).
 */
export class ClockSkewError extends AuthenticationError {
  override readonly code = 'clock_skew';
  override readonly kind = 'fault';

  constructor(
    message: string,
    /** The Director's time when it refused the request, ISO 8601. */
    readonly serverTime: string,
    context: ErrorContext = {},
  ) {
    super(message, context);
  }

  override toJSON(): { error: { code: string; message: string; serverTime: string } } {
    return { error: { code: this.code, message: this.message, serverTime: this.serverTime } };
  }
}

/**
 * A vehicle request on a Director that requires mutual TLS, over a connection without a client
 * certificate its client CA accepts (none, expired, another CA's): 403, whatever the session says.
 */
export class ClientCertificateRequiredError extends UptaneError {
  readonly code = 'client_certificate_required';
  readonly kind = 'attack';
}

/**
 * A valid client certificate that names another vehicle, or another primary ECU, than the one the
 * request authenticates as: one vehicle's certificate never opens another vehicle's routes (403).
 */
export class ClientCertificateMismatchError extends UptaneError {
  readonly code = 'client_certificate_mismatch';
  readonly kind = 'attack';
}

// ---------------------------------------------------------------------------------------------
// ECUs: Uptane checks beyond TUF, installation, the vehicle state gate.

/** Director targets that break an Uptane rule: delegations, an ECU twice, a foreign ECU or VIN (G5-G7). */
export class DirectorTargetsError extends UptaneError {
  readonly code = 'director_targets';
  readonly kind = 'attack';
}

/** Director and Image repository disagree on an image: mix-and-match or arbitrary software (E7, G11). */
export class TargetMismatchError extends UptaneError {
  readonly code = 'target_mismatch';
  readonly kind = 'attack';
}

/** An install refused because the vehicle is driving (the vehicle state gate). */
export class VehicleDrivingError extends UptaneError {
  readonly code = 'vehicle_driving';
  readonly kind = 'fault';
}

/** A new image that failed its boot check; the ECU rolled back to the previous slot (M9). */
export class BootCheckError extends UptaneError {
  readonly code = 'boot_check_failed';
  readonly kind = 'fault';
}

/**
 * A new image that booted but failed its post-install health check during the soak (a probe that
 * failed, a heartbeat that stopped, a failed self-test, or a soak cut short by restarts); the ECU
 * rolled back to the previous slot before committing (docs/threat-model.md M20).
 */
export class HealthCheckError extends UptaneError {
  readonly code = 'health_check_failed';
  readonly kind = 'fault';
}

/**
 * An ECU's factory image (its recovery partition, factory.img) no longer matches the length and
 * hashes recorded at provisioning: it is never booted or copied (docs/threat-model.md M21).
 */
export class FactoryImageCorruptedError extends UptaneError {
  readonly code = 'factory_image_corrupted';
  readonly kind = 'attack';
}

/** A factory reset of an ECU provisioned before factory images were kept: it has none to go back to. */
export class NoFactoryImageError extends UptaneError {
  readonly code = 'no_factory_image';
  readonly kind = 'fault';
}

/** A health-check configuration (vehicle folder, provisioning flag, simulator profile) that cannot be used. */
export class HealthCheckConfigError extends UptaneError {
  readonly code = 'health_check_config';
  readonly kind = 'fault';
}

/**
 * The image in an ECU's active slot no longer matches the length and hashes recorded when it was
 * verified and installed (flash corruption, or tampering with the stored image): docs/threat-model.md HR-11b.
 */
export class SlotIntegrityError extends UptaneError {
  readonly code = 'slot_corrupted';
  readonly kind = 'attack';
}

/**
 * A secondary that cannot be reached, or answered the primary wrongly. An attack, as a missing or
 * slow answer from a repository is: the primary cannot tell a failing bus from a hostile one (H5).
 */
export class SecondaryError extends UptaneError {
  readonly code: string = 'secondary_failed';
  readonly kind: ErrorKind = 'attack';
}

// ---------------------------------------------------------------------------------------------
// Install bundles (docs/decisions.md "Install bundles"): several ECUs of one vehicle that the Director
// binds to move together; every member commits the new image or every member keeps its previous one.

/**
 * The install bundle the Director signed into a vehicle's targets does not hold together: malformed,
 * too many members, or a member whose image differs from that ECU's targets entry (one ECU's image
 * swapped). Nothing of the bundle is installed (docs/threat-model.md M30).
 */
export class InstallBundleError extends UptaneError {
  readonly code: string = 'install_bundle_invalid';
  readonly kind: ErrorKind = 'attack';
}

/** An install bundle made for another vehicle (docs/threat-model.md M30). */
export class InstallBundleVehicleError extends InstallBundleError {
  override readonly code: string = 'install_bundle_wrong_vehicle';
}

/**
 * An install bundle this vehicle already finished (installed or rolled back), offered again after
 * the Director heard its outcome: a replay (docs/threat-model.md M31).
 */
export class InstallBundleReplayError extends InstallBundleError {
  override readonly code: string = 'install_bundle_replayed';
}

/**
 * A request that would break an install bundle apart: a lone install of a member, or a trial, commit
 * or rollback naming a bundle this ECU is not in (a compromised primary or bus, docs/threat-model.md M32).
 */
export class InstallBundleOrderError extends InstallBundleError {
  override readonly code: string = 'install_bundle_order';
}

/**
 * Why a member of an install bundle went back to its previous image although its own install was
 * fine: another member failed (the message names it and its reason). A fault of the bundle, not an
 * attack on this ECU.
 */
export class InstallBundleRolledBackError extends UptaneError {
  readonly code: string = 'install_bundle_rolled_back';
  readonly kind: ErrorKind = 'fault';
}

/** Power was lost while the members of an install bundle were on trial: every member went back. */
export class InstallBundleInterruptedError extends InstallBundleRolledBackError {
  override readonly code: string = 'install_bundle_interrupted';
}

// ---------------------------------------------------------------------------------------------
// Image encryption (docs/image-encryption.md): the Director encrypts an image once and wraps its key
// per ECU; the ECU unwraps with its own X25519 key and decrypts chunk by chunk.

/**
 * An encrypted image that does not decrypt under its key: a flipped byte in the header or any chunk,
 * truncation, bytes or chunks after the final chunk, chunks reordered or dropped, the wrong content
 * key, or more plaintext than the metadata's length allows. Nothing past the failing chunk is yielded.
 */
export class ImageDecryptionError extends UptaneError {
  readonly code = 'image_decryption_failed';
  readonly kind = 'attack';
}

/**
 * A wrapped image key that does not open with this ECU's encryption key under this binding (ECU
 * serial, filename, ciphertext hash): made for another ECU's key, moved to another image or ECU, or
 * altered. The ciphertext served to one ECU is useless to every other.
 */
export class ImageKeyUnwrapError extends UptaneError {
  readonly code = 'image_key_unwrap_failed';
  readonly kind = 'attack';
}

/**
 * Encryption key material that is not what it claims: a public key that is not 64 hex characters, a
 * PEM that is not an X25519 private key, a content key that is not 32 bytes. A fault: it comes from an
 * operator's input or a local key file, not from the network (wrapped keys from the Director's
 * metadata fail as ImageKeyUnwrapError instead).
 */
export class MalformedEncryptionKeyError extends UptaneError {
  readonly code = 'malformed_encryption_key';
  readonly kind = 'fault';
}

/**
 * An operator asked the Director to encrypt an image for an ECU that has no registered encryption
 * public key (HTTP 409): nothing is assigned. Register the ECU's X25519 key first, or assign without
 * encryption. Only the operator decides about encryption, never the ECU.
 */
export class NoEncryptionKeyError extends ConflictError {
  override readonly code: string = 'no_encryption_key';
}

// ---------------------------------------------------------------------------------------------
// Hardware key custody: offline roles signed through a PKCS#11 token (docs/decisions.md "PKCS#11").
// Each is the operator's or the machine's mistake, never the repository's: kind fault. Nothing is
// written to the workspace when one is thrown.

/** A `--key pkcs11:...` value outside the RFC 7512 subset this project accepts (unknown attribute, bad percent-encoding, a PIN in the URI). */
export class Pkcs11UriError extends UptaneError {
  readonly code = 'pkcs11_uri';
  readonly kind = 'fault';
}

/** No PKCS#11 module named, or the named one is missing, not loadable, or fails to initialize. */
export class Pkcs11ModuleError extends UptaneError {
  readonly code = 'pkcs11_module';
  readonly kind = 'fault';
}

/** No token present matches the URI's token attributes (or several do). */
export class TokenNotFoundError extends UptaneError {
  readonly code = 'token_not_found';
  readonly kind = 'fault';
}

/** The token refused the PIN (wrong, empty, of the wrong length), or no PIN was given. */
export class TokenPinError extends UptaneError {
  readonly code: string = 'token_pin';
  readonly kind = 'fault';
}

/** The token's user PIN is locked after too many wrong tries: only its security officer can unlock it. */
export class TokenPinLockedError extends TokenPinError {
  override readonly code: string = 'token_pin_locked';
}

/** The token holds no private key matching the URI's object/id (or several do), or no public key beside it. */
export class TokenKeyNotFoundError extends UptaneError {
  readonly code = 'token_key_not_found';
  readonly kind = 'fault';
}

/** A token key of a type or size this project cannot sign with (only ECDSA P-256/P-384, RSA of 2048 bits or more, Ed25519). */
export class UnsupportedTokenKeyError extends UptaneError {
  readonly code = 'token_key_unsupported';
  readonly kind = 'fault';
}

/** The token failed to sign, or its signature did not verify under the key it reports (a broken or misbehaving token). */
export class TokenSigningError extends UptaneError {
  readonly code = 'token_signing';
  readonly kind = 'fault';
}

// ---------------------------------------------------------------------------------------------
// Programmer errors: the caller broke the required order, not the repository.

/** Asking for snapshot before timestamp and the like (E6). Not an attack: a bug in the caller. */
export class OutOfOrderError extends UptaneError {
  readonly code = 'out_of_order';
  readonly kind = 'bug';
}

/** True when `err` is one of ours; narrows for `catch` clauses that handle one known class. */
export function isUptaneError(err: unknown): err is UptaneError {
  return err instanceof UptaneError;
}

// ---------------------------------------------------------------------------------------------
// Online key rotation (docs/decisions.md "Online key rotation").

/**
 * A rotation was asked for a role whose new key is already waiting for its root (HTTP 409): nothing
 * changed. Publish the staged root that lists the pending key, or ask again with `replace` to throw
 * the pending key away and make another.
 */
export class RotationPendingError extends ConflictError {
  override readonly code: string = 'rotation_pending';
}

/**
 * A pending online key file (`<data-dir>/keys/pending/<role>.pem`) the server will not start with:
 * not a regular file, readable by others than its owner, not a private key, or the same key as one
 * the server already signs with. A fault of the host: the server refuses to start and changes nothing.
 */
export class PendingOnlineKeyError extends UptaneError {
  readonly code = 'pending_online_key';
  readonly kind = 'fault';
}

// Test vectors (docs/test-vectors.md).

/**
 * A folder given as an Uptane test vector that is not one: a file missing, too large or not JSON, or
 * a field of the wrong shape (a serial that would name a folder outside the replay). Nothing is replayed.
 */
export class TestVectorFormatError extends UptaneError {
  readonly code = 'test_vector_format';
  readonly kind = 'fault';
}

// The caching gateway (gateway/, docs/gateway.md).

/**
 * The gateway could not get an answer from the repository behind it: unreachable, too slow, an
 * answer past the gateway's size cap, or a status it does not pass on. A fault: nothing was cached,
 * and the vehicle retries (HTTP 502).
 */
export class GatewayUpstreamError extends UptaneError {
  readonly code: string = 'gateway_upstream';
  readonly kind: ErrorKind = 'fault';
}

/**
 * The Image repository (or the network behind the gateway) sent an image whose bytes do not hash
 * to the SHA-256 its consistent-snapshot path names: the gateway keeps none of it (docs/gateway.md).
 * The vehicles would refuse it anyway; refusing it here keeps a poisoned copy out of the cache.
 */
export class GatewayUpstreamMismatchError extends GatewayUpstreamError {
  override readonly code: string = 'gateway_upstream_mismatch';
  override readonly kind: ErrorKind = 'attack';
}

// MQTT, between vehicle and Director and between primary and secondaries (shared/transport-mqtt/,
// docs/transport.md "MQTT"). The broker is trusted for delivery only, as a network is.

/**
 * An MQTT message that breaks the transport's framing: a payload or property that does not parse, a
 * message past its size limit, or an image chunk nobody asked for (outside the requested range, at
 * an offset that is not a chunk boundary, past the size first announced). An attack: an honest
 * Director or secondary sends none of these (docs/threat-model.md F21).
 */
export class MqttMessageError extends FetchError {
  override readonly code = 'mqtt_bad_message';
  override readonly kind = 'attack';
}

/**
 * No answer to an MQTT request within its time, after the retries it is allowed: the broker or the
 * Director lost it, or nobody subscribes. A fault, like a refused connection (docs/threat-model.md F23).
 */
export class MqttTimeoutError extends FetchError {
  override readonly code = 'mqtt_timeout';
}

/** The broker could not be reached, refused the credentials, or the TLS handshake to it failed. */
export class MqttConnectionError extends FetchError {
  override readonly code = 'mqtt_connection';
}

// Delta updates (issue 21 item 2; docs/transport.md "Delta updates").

/**
 * A Director-signed delta that does not give the image it was signed for: zstd refused it against the
 * installed image (corrupt, made from another base, or asking for a window past the ECU's cap), or
 * what it gave differs from the target's signed length or hashes. An attack: the delta's own length
 * and hash had already matched what the Director signed, so the Director signed a wrong delta. The
 * ECU falls back to the full image (docs/threat-model.md F9).
 */
export class DeltaMismatchError extends UptaneError {
  readonly code = 'delta_mismatch';
  readonly kind = 'attack';
}

// ---------------------------------------------------------------------------------------------
// Offline bundles (docs/decisions.md "Offline updates"): a folder a workshop tool or USB stick
// brings to a vehicle with no connection. Everything in it is untrusted input: the signed metadata
// in it is verified as online, and these errors name what the folder itself got wrong.

/** No offline bundle in the folder given (no index file): an operator's mistake, nothing untrusted was read. */
export class OfflineBundleNotFoundError extends UptaneError {
  readonly code = 'offline_bundle_not_found';
  readonly kind = 'fault';
}

/** An index file that is not an offline bundle index: not JSON, over its size cap, a field of the wrong shape. */
export class OfflineBundleFormatError extends UptaneError {
  readonly code = 'offline_bundle_format';
  readonly kind = 'attack';
}

/** A bundle exported for another VIN than this vehicle's (docs/threat-model.md OB1). */
export class OfflineBundleVehicleError extends UptaneError {
  readonly code = 'offline_bundle_other_vehicle';
  readonly kind = 'attack';
}

/** An older bundle than the Director metadata this vehicle already trusts: a replay (docs/threat-model.md OB2). */
export class OfflineBundleReplayError extends UptaneError {
  readonly code = 'offline_bundle_replayed';
  readonly kind = 'attack';
}

/** A path in the index that would leave the bundle folder, or name a link or a folder (docs/threat-model.md OB6). */
export class OfflineBundleUnsafePathError extends UptaneError {
  readonly code = 'offline_bundle_unsafe_path';
  readonly kind = 'attack';
}

/** A file of the bundle larger than the most its role or signed length allows; refused before it is read (docs/threat-model.md OB5). */
export class OfflineBundleFileTooLargeError extends UptaneError {
  readonly code = 'offline_bundle_file_too_large';
  readonly kind = 'attack';
}

// ---------------------------------------------------------------------------------------------
// The transparency log (issue 23 item 3; docs/transparency-log.md): a Merkle tree of everything the
// repositories sign, its signed tree heads, inclusion and consistency proofs, witness cosignatures.

/** A proof or tree head that is not the shape the log's format allows: not hex, a hash not 32 bytes, too many hashes, a size that is not a safe integer. */
export class MalformedLogDataError extends UptaneError {
  readonly code = 'log_malformed';
  readonly kind = 'attack';
}

/** An inclusion or consistency proof that does not prove what it claims: wrong hashes, wrong length, an index or size out of bounds. */
export class LogProofInvalidError extends UptaneError {
  readonly code = 'log_proof_invalid';
  readonly kind = 'attack';
}

/** Two tree heads of one log that no honest append-only log could both sign: a split view, a rewritten or shrunk log. */
export class LogInconsistentError extends UptaneError {
  readonly code = 'log_inconsistent';
  readonly kind = 'attack';
}

/** A tree head whose log signature does not verify, or that lacks the witness cosignatures required. */
export class LogTreeHeadSignatureError extends UptaneError {
  readonly code = 'log_tree_head_signature';
  readonly kind = 'attack';
}

/** A log that holds no entry for a file version a vehicle verified: a release signed but never made public (or a log that dropped it). */
export class LogEntryMissingError extends UptaneError {
  readonly code = 'log_entry_missing';
  readonly kind = 'attack';
}

/** A tree head older than a reader accepts: a log frozen in the past, or one hiding what it appended since. */
export class LogTreeHeadStaleError extends UptaneError {
  readonly code = 'log_tree_head_stale';
  readonly kind = 'attack';
}

/** A proof or entry asked of a log for an index or size it does not hold (yet): the caller's request, nothing untrusted. */
export class LogRangeError extends UptaneError {
  readonly code = 'log_range';
  readonly kind = 'fault';
}

/** A cosignature offered to a log's server under a key that is not one of its configured witnesses (403). */
export class LogWitnessUnknownError extends UptaneError {
  readonly code = 'log_witness_unknown';
  readonly kind = 'attack';
}

/**
 * No head of the log carries the witness cosignatures asked for yet, or the release a vehicle
 * verified is in the log's newest head but in no head the witnesses have cosigned: the witnesses have
 * not polled since it was published. Not an attack: the vehicle installs nothing and asks again next
 * cycle (docs/transparency-log.md "Witness lag").
 */
export class LogWitnessPendingError extends UptaneError {
  readonly code = 'log_witness_pending';
  readonly kind = 'fault';
}

/** A cosignature of a head the log signed but has since replaced with a newer one: fetch the current head, check and cosign it (409). */
export class LogTreeHeadSupersededError extends ConflictError {
  override readonly code = 'log_tree_head_superseded';
}

// ---------------------------------------------------------------------------------------------
// The SUIT bridge to constrained secondaries (issue 23 item 2; docs/suit.md): a CBOR SUIT envelope,
// COSE_Sign1-signed by the primary, that a constrained secondary verifies without JSON.

/** Bytes that are not the SUIT envelope subset this project uses: bad CBOR, a wrong COSE structure, a missing or mistyped field, nesting too deep, too many items. */
export class SuitMalformedError extends UptaneError {
  readonly code = 'suit_malformed';
  readonly kind = 'attack';
}

/** An envelope (or a SUIT image) larger than the constrained secondary accepts; refused before it is decoded or read. */
export class SuitTooLargeError extends UptaneError {
  readonly code = 'suit_too_large';
  readonly kind = 'attack';
}

/** A COSE_Sign1 that does not verify under the trusted key, or one that signs another manifest than the envelope carries. */
export class SuitSignatureError extends UptaneError {
  readonly code = 'suit_signature';
  readonly kind = 'attack';
}

/** An image whose SHA-256 or size differs from the signed manifest's. */
export class SuitDigestMismatchError extends UptaneError {
  readonly code = 'suit_digest_mismatch';
  readonly kind = 'attack';
}

/** A manifest sequence number not above the one the secondary last installed. */
export class SuitRollbackError extends UptaneError {
  readonly code = 'suit_rollback';
  readonly kind = 'attack';
}

/** A manifest whose vendor or class identifier (or component) is not this secondary's. */
export class SuitWrongClassError extends UptaneError {
  readonly code = 'suit_wrong_class';
  readonly kind = 'attack';
}

// ---------------------------------------------------------------------------------------------
// Tiered security profiles (issue 23 item 1; shared/core/security-profile.ts).

/**
 * An image assigned to, or offered for installation on, an ECU whose profile is below the image's
 * minimum. On an ECU this is an attack (a Director that should have refused the assignment); the
 * Director raises its own operator-facing error for the same rule.
 */
export class SecurityProfileTooLowError extends UptaneError {
  readonly code = 'security_profile_too_low';
  readonly kind = 'attack';
}

/**
 * The Director's refusal to assign an image to an ECU whose registered security profile is below
 * the image's minimum (the Image repository's custom.minimumSecurityProfile): an operator's mistake,
 * not an attack; nothing is assigned. The message names the ECU, its profile and the minimum, and
 * what to do (another image, or the ECU's profile changed once the ECU meets it). 422.
 */
export class ProfileAssignmentRefusedError extends UptaneError {
  readonly code = 'profile_assignment_refused';
  readonly kind = 'fault';
}
