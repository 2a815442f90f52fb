// Who may read the Image repository (issue 16 item 3, docs/signed-urls.md). `public`: anyone, as a
// TUF repository meant to be public. `credential` (the CLI's default): a GET of metadata or an image
// needs a signed URL from the Director (a vehicle's, for its own assigned images, or the Director's
// own metadata grant), an uploader token (release engineers' pulls and pushes), or, once mutual TLS
// is in, a vehicle's client certificate. A refusal is 403 with a typed code, logged without the
// signature, and counted by the failed-authentication throttle (docs/threat-model.md HR-10).
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../shared/core/clock.js';
import { nodeBackend, withVerificationCache, type Ed25519Backend } from '../shared/core/crypto/ed25519.js';
import type { PublicKey } from '../shared/core/crypto/keys.js';
import { AuthenticationError, InsufficientScopeError, ReadAccessDeniedError, SignedUrlInvalidError, TooManyAttemptsError, UptaneError } from '../shared/core/errors.js';
import { matchesPathPattern } from '../shared/core/metadata/paths.js';
import { bearerToken, checkTokenUsable, tokenIdOf } from '../shared/server/access-tokens.js';
import type { FailedAuthThrottle } from '../shared/server/auth-throttle.js';
import { hasUrlSignature, verifySignedUrl } from '../shared/server/signed-urls.js';
import { escapeTerminalText } from '../shared/util/terminal-text.js';
import type { UploaderTokenStore } from './store/uploader-tokens.js';

export type ReadAccessMode = 'credential' | 'public';

export interface ReadAccessConfig {
  /** `public` serves everyone; `credential` needs a signed URL, an uploader token or a vehicle certificate. */
  readonly mode: ReadAccessMode;
  /** The Director's URL-signing public keys (more than one while a key is rotated). */
  readonly urlSigningKeys?: readonly PublicKey[];
  /** Longest signed-URL lifetime accepted from now (DEFAULT_MAX_SIGNED_URL_LIFETIME_SECONDS unless set). */
  readonly maxSignedUrlLifetimeSeconds?: number;
  /** Signatures remembered as valid (default 4096), so a vehicle polling with one grant costs one verification. */
  readonly verifiedSignatures?: number;
}

/** What is read: a metadata file, or an image under its target name (uploader paths are checked against it). */
export type ReadTarget = { readonly kind: 'metadata' } | { readonly kind: 'image'; readonly name: string };

export interface ReadAccessContext {
  readonly storage: UploaderTokenStore;
  readonly clock: Clock;
  readonly throttle: FailedAuthThrottle;
  readonly log?: ((line: string) => void) | undefined;
}

/**
 * The seam for vehicles that authenticate with a TLS client certificate instead of a signed URL
 * (issue 16 item 1, mutual TLS): a VIN whose verified certificate opens this read, or undefined.
 * Until the TLS work fills it in, no certificate opens anything here.
 */
export function readGrantFromClientCertificate(_req: IncomingMessage, _target: ReadTarget): string | undefined {
  return undefined;
}

export class ReadAccessGuard {
  private readonly keys: ReadonlyMap<string, PublicKey>;
  private readonly backend: Ed25519Backend;

  constructor(
    readonly config: ReadAccessConfig,
    private readonly context: ReadAccessContext,
  ) {
    this.keys = new Map((config.urlSigningKeys ?? []).map((key) => [key.keyid, key]));
    // A metadata grant is the same signed text for every file a vehicle polls in its lifetime: a
    // hash of key, signature and text then stands for the verification. Public values only, and
    // expiry is still checked on every request.
    this.backend = withVerificationCache(nodeBackend, config.verifiedSignatures ?? 4096);
  }

  /** The failed-authentication throttle, shared with the uploader check of the write API. */
  get throttle(): FailedAuthThrottle {
    return this.context.throttle;
  }

  get isPublic(): boolean {
    return this.config.mode === 'public';
  }

  /**
   * Undefined when `req` may read `target`, else the typed refusal. Synchronous for a public
   * repository and for signed URLs (one Ed25519 verification), so the metadata fast route keeps
   * its speed; an uploader token needs its store.
   */
  check(req: IncomingMessage, target: ReadTarget): Promise<UptaneError | undefined> | UptaneError | undefined {
    if (this.config.mode === 'public') return undefined;
    const address = req.socket.remoteAddress;
    const wait = this.context.throttle.retryAfter(address);
    if (wait > 0) return new TooManyAttemptsError(`too many failed authentications from this address; try again in ${wait} s`, wait);
    const url = req.url ?? '/';
    if (hasUrlSignature(url)) {
      try {
        const grant = verifySignedUrl({ method: req.method ?? 'GET', url }, this.keys, this.context.clock.now().getTime(), {
          maxLifetimeSeconds: this.config.maxSignedUrlLifetimeSeconds,
          backend: this.backend,
        });
        // A prefix grant opens metadata only, never the images (docs/signed-urls.md).
        if (target.kind === 'image' && grant.scope !== 'path') throw new SignedUrlInvalidError('a prefix grant opens metadata, never images');
        return undefined;
      } catch (err) {
        if (!(err instanceof ReadAccessDeniedError)) throw err;
        return this.refuse(req, `signed URL (${signedUrlSummary(url)})`, err);
      }
    }
    const token = bearerToken(req.headers.authorization);
    if (token !== undefined) return this.checkUploader(req, token, target);
    if (readGrantFromClientCertificate(req, target) !== undefined) return undefined;
    // Nothing was presented, so nothing was guessed: not counted against the address.
    return new ReadAccessDeniedError(
      'this Image repository serves only to credentials: a signed URL from the Director (vehicles), or an uploader token (Authorization: Bearer)',
    );
  }

  private async checkUploader(req: IncomingMessage, token: string, target: ReadTarget): Promise<UptaneError | undefined> {
    const stored = await this.context.storage.uploaderToken(token);
    try {
      if (stored === undefined) throw new AuthenticationError('a valid uploader token is required to read this Image repository (Authorization: Bearer <token>)');
      checkTokenUsable('uploader', stored, this.context.clock.now(), '`uptane image uploader add NAME` on the Image repository host');
      // A supplier's token limited to its paths reads its own images only; metadata is everyone's to pull.
      if (target.kind === 'image' && stored.paths !== null && !stored.paths.some((pattern) => matchesPathPattern(target.name, pattern))) {
        throw new InsufficientScopeError(`uploader token ${stored.tokenId} (${stored.name}) may read images under ${stored.paths.join(', ')}, not ${target.name}`);
      }
      return undefined;
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      return this.refuse(req, `token id ${tokenIdOf(token)}${stored === undefined ? '' : ` (${stored.name})`}`, err);
    }
  }

  /** Counts the failure against the client's address and logs it: the path and who, never the signature or token. */
  private refuse(req: IncomingMessage, presented: string, err: UptaneError): UptaneError {
    const address = req.socket.remoteAddress;
    const blocked = this.context.throttle.recordFailure(address);
    const path = (req.url ?? '/').split('?', 1)[0]!.slice(0, 300);
    // Escaped: the path and the fields are the client's, and this log is the operator's terminal (HR-6).
    this.context.log?.(
      `read refused from ${address ?? 'an unknown address'}: ${escapeTerminalText(`${req.method} ${path}, ${presented}`)}, ${err.code}` +
        (blocked ? `; this address is refused for ${this.context.throttle.retryAfter(address)} s` : ''),
    );
    return err;
  }
}

/** The fields of a signed URL a log may show: VIN, key and expiry as sent, never `sig`. */
function signedUrlSummary(url: string): string {
  const params = new URLSearchParams(url.slice(url.indexOf('?') + 1));
  const field = (name: string) => JSON.stringify((params.get(name) ?? '-').slice(0, 64));
  return `vin ${field('vin')}, key ${field('keyid')}, expires ${field('expires')}`;
}
