// Signed URLs for a vehicle's downloads (issue 16 item 3, docs/signed-urls.md): a vehicle asks for
// the images it was assigned, and gets for each a short-lived URL of the Image repository signed
// with the Director's online URL-signing key, plus a grant to read the repository's metadata. Only
// the vehicle's active assignments get a URL: a filename it was not assigned is left out of the
// answer exactly as one that does not exist, so the answer tells nothing about other images.
import type { Clock } from '../../shared/core/clock.js';
import type { PrivateKey } from '../../shared/core/crypto/keys.js';
import { BadRequestError } from '../../shared/core/errors.js';
import { signUrlGrant } from '../../shared/server/signed-urls.js';
import type { DirectorStore } from '../store/director-store.js';

export interface ImageUrlConfig {
  /** The Director's URL-signing key (<data-dir>/keys/url-signing.pem). */
  readonly key: PrivateKey;
  /** Base URL the signed URLs point at: the Image repository, or a CDN in front of it with the same paths. */
  readonly baseUrl: string;
  /** How long a signed URL opens its image, in seconds (default 600). */
  readonly lifetimeSeconds?: number;
}

export const DEFAULT_IMAGE_URL_LIFETIME_SECONDS = 600;
/** Most filenames one request may name (a vehicle has one assignment per ECU). */
export const MAX_IMAGE_URL_FILENAMES = 256;
const MAX_FILENAME_LENGTH = 1024;

/** The Director's answer to POST /vehicle/image-urls. */
export interface ImageUrls {
  /** Seconds the URLs and the grant stay valid, for the vehicle to time them by its own clock. */
  readonly expiresIn: number;
  /** When they expire, by the Director's clock. */
  readonly expires: string;
  /** Read access to the repository's metadata: the query to append to each `<base>/metadata/<file>`. */
  readonly metadata: { readonly prefix: string; readonly query: string };
  /** A signed URL per requested filename that is among the vehicle's active assignments. */
  readonly images: Readonly<Record<string, string>>;
}

export class ImageUrlIssuer {
  readonly lifetimeSeconds: number;
  private readonly base: URL;

  constructor(
    private readonly store: DirectorStore,
    private readonly clock: Clock,
    private readonly config: ImageUrlConfig,
  ) {
    this.lifetimeSeconds = config.lifetimeSeconds ?? DEFAULT_IMAGE_URL_LIFETIME_SECONDS;
    this.base = new URL(config.baseUrl.replace(/\/+$/, ''));
  }

  get keyid(): string {
    return this.config.key.keyid;
  }

  /** URLs for those of `filenames` that `vin` is assigned now (the VIN comes from the vehicle's credential). */
  async issue(vin: string, filenames: readonly string[]): Promise<ImageUrls> {
    const assigned = new Map<string, string>();
    for (const assignment of await this.store.assignments.active(vin)) {
      const sha256 = assignment.hashes.sha256;
      if (sha256 !== undefined) assigned.set(assignment.filename, sha256);
    }
    const expires = Math.floor(this.clock.now().getTime() / 1000) + this.lifetimeSeconds;
    const images: Record<string, string> = {};
    for (const filename of new Set(filenames)) {
      const sha256 = assigned.get(filename);
      if (sha256 === undefined) continue;
      const url = this.imageUrl(filename, sha256);
      images[filename] = `${url.href}?${signUrlGrant(this.config.key, { method: 'GET', path: url.pathname, scope: 'path', vin, expires })}`;
    }
    return { expiresIn: this.lifetimeSeconds, expires: new Date(expires * 1000).toISOString(), metadata: this.metadataGrant(vin, expires), images };
  }

  /** A metadata grant: for a vehicle, or (vin '') for the Director's own reads of the Image repository. */
  metadataGrant(vin: string, expires = Math.floor(this.clock.now().getTime() / 1000) + this.lifetimeSeconds): { prefix: string; query: string } {
    const prefix = new URL(`${this.base.href.replace(/\/+$/, '')}/metadata/`).pathname;
    return { prefix, query: signUrlGrant(this.config.key, { method: 'GET', path: prefix, scope: 'prefix', vin, expires }) };
  }

  /** `<base>/targets/<dir>/<sha256>.<basename>`, each segment encoded as the TUF client encodes it. */
  private imageUrl(filename: string, sha256: string): URL {
    const segments = filename.split('/');
    segments[segments.length - 1] = `${sha256}.${segments[segments.length - 1]}`;
    return new URL(`${this.base.href.replace(/\/+$/, '')}/targets/${segments.map(encodeURIComponent).join('/')}`);
  }
}

/** The body of POST /vehicle/image-urls: `{"filenames": [...]}`, at most MAX_IMAGE_URL_FILENAMES names. */
export function parseImageUrlRequest(body: Uint8Array): string[] {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new BadRequestError('the body must be JSON: {"filenames": [...]}');
  }
  const filenames = (value as { filenames?: unknown } | null)?.filenames;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Array.isArray(filenames)) {
    throw new BadRequestError('the body must be {"filenames": [...]}');
  }
  if (filenames.length > MAX_IMAGE_URL_FILENAMES) throw new BadRequestError(`filenames has ${filenames.length} items; at most ${MAX_IMAGE_URL_FILENAMES}`);
  return filenames.map((name, i) => {
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_FILENAME_LENGTH) {
      throw new BadRequestError(`filenames[${i}] must be a non-empty string of at most ${MAX_FILENAME_LENGTH} characters`);
    }
    return name;
  });
}

/**
 * The Director's own reads of the Image repository (its catalog, and the images it encrypts): each
 * URL signed for exactly its path, for no vehicle (vin ''), with the same key; a repository that
 * serves only to credentials then needs no other credential for the Director.
 */
export function directorReadUrl(key: PrivateKey, clock: Clock, lifetimeSeconds = DEFAULT_IMAGE_URL_LIFETIME_SECONDS): (url: string) => string {
  return (url) => {
    const parsed = new URL(url);
    const expires = Math.floor(clock.now().getTime() / 1000) + lifetimeSeconds;
    return `${parsed.origin}${parsed.pathname}?${signUrlGrant(key, { method: 'GET', path: parsed.pathname, scope: 'path', vin: '', expires })}`;
  };
}
