// How a primary reads an Image repository that serves only to credentials (docs/signed-urls.md): it
// asks the Director, through its DirectorChannel, for signed URLs of its assigned images and a grant
// for the repository's metadata, and hands the Image repository client the URL to request for each
// file (RepositoryUpdaterOptions.readAccess). Grants are renewed before they expire, by this ECU's
// own clock. Nothing here decides trust: every file is still verified against signed metadata.
//
// A primary learns that the repository needs credentials from its first 403, so a vehicle reading a
// public repository never asks the Director for grants it does not need (no extra request, no
// Director configured for signed URLs required), and one provisioned before signed URLs adapts.
import type { Clock } from '../core/clock.js';
import { FetchError } from '../core/errors.js';
import type { ReadAccess } from '../client/updater.js';
import type { DirectorChannel, ImageUrlGrants } from './director-channel.js';

export interface ImageAccessOptions {
  readonly channel: DirectorChannel;
  /** The Image repository's base URL, as the Image repository client is configured with it. */
  readonly imageRepoUrl: string;
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** A grant with less than this left is renewed before use (at most half its lifetime). */
  readonly renewMarginMs?: number;
  /** After the Director gave no grants, how long to read without before asking again. */
  readonly retryAfterFailureMs?: number;
  /** Known up front to serve only to credentials; otherwise learnt from the repository's first 403. */
  readonly credentialRequired?: boolean;
}

interface Held {
  readonly value: string;
  readonly expiresAt: number;
  readonly margin: number;
}

/** Longest answer read: 256 URLs of a few hundred characters each. */
export const IMAGE_URLS_RESPONSE_MAX_BYTES = 1_000_000;

export class ImageAccess implements ReadAccess {
  private credentialRequired: boolean;
  private readonly metadataBase: string;
  private readonly targetsBase: string;
  private metadataQuery: Held | undefined;
  private readonly imageUrls = new Map<string, Held>();
  private pending: Promise<void> | undefined;
  private failedAt = -Infinity;

  constructor(private readonly options: ImageAccessOptions) {
    const base = options.imageRepoUrl.replace(/\/+$/, '');
    this.metadataBase = `${base}/metadata/`;
    this.targetsBase = `${base}/targets/`;
    this.credentialRequired = options.credentialRequired ?? false;
  }

  /** Asks once for the URLs of a cycle's images (and the metadata grant), so each download needs no request of its own. */
  async prepare(filenames: readonly string[]): Promise<void> {
    if (!this.credentialRequired) return;
    const missing = filenames.filter((name) => !this.isFresh(this.imageUrls.get(name)));
    if (missing.length > 0 || !this.isFresh(this.metadataQuery)) await this.fetchGrants(missing);
  }

  /** RepositoryUpdaterOptions.requestUrl: the URL to request for an Image repository URL. */
  readonly requestUrl = async (url: string): Promise<string> => {
    if (!this.credentialRequired) return url;
    if (url.startsWith(this.metadataBase)) {
      if (!this.isFresh(this.metadataQuery)) await this.fetchGrants([]);
      const held = this.metadataQuery;
      return held === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}${held.value}`;
    }
    if (url.startsWith(this.targetsBase)) {
      const filename = targetFilename(url.slice(this.targetsBase.length));
      if (filename === undefined) return url;
      if (!this.isFresh(this.imageUrls.get(filename))) await this.fetchGrants([filename]);
      const signed = this.imageUrls.get(filename)?.value;
      if (signed === undefined) return url;
      // The grant goes to the host this ECU was provisioned with (a CDN's, if so): the Director
      // chooses what may be read, never where the vehicle connects. It must be for this very path.
      const grant = new URL(signed);
      if (grant.pathname !== new URL(url).pathname) {
        this.options.log(`the Director's signed URL for ${filename} names another path; requesting it without a grant`);
        return url;
      }
      return `${url}${grant.search}`;
    }
    return url;
  };

  /**
   * RepositoryUpdaterOptions.readAccess: the repository refused `url`. From now on it is read with
   * grants; one it refused (past its time by the server's clock, or under a retired key) is dropped,
   * so the request is sent once more with a new one. False if no new grant can come of it.
   */
  forbidden(url: string): boolean {
    if (this.options.channel.imageUrls === undefined) return false;
    this.credentialRequired = true;
    if (url.startsWith(this.metadataBase)) this.metadataQuery = undefined;
    else if (url.startsWith(this.targetsBase)) {
      const filename = targetFilename(url.slice(this.targetsBase.length));
      if (filename !== undefined) this.imageUrls.delete(filename);
    }
    // A refusal is new information: ask the Director now, not after the wait that follows a failure.
    this.failedAt = -Infinity;
    return true;
  }

  private isFresh(held: Held | undefined): held is Held {
    return held !== undefined && held.expiresAt - this.options.clock.now().getTime() > held.margin;
  }

  /** One request at a time; a failure is logged, never thrown: the repository's answer decides. */
  private async fetchGrants(filenames: readonly string[]): Promise<void> {
    while (this.pending !== undefined) await this.pending;
    // The request just waited for may have brought what this one needs.
    if (this.isFresh(this.metadataQuery) && filenames.every((name) => this.isFresh(this.imageUrls.get(name)))) return;
    this.pending = this.requestGrants(filenames).finally(() => (this.pending = undefined));
    await this.pending;
  }

  private async requestGrants(filenames: readonly string[]): Promise<void> {
    const { channel, clock } = this.options;
    const now = clock.now().getTime();
    if (channel.imageUrls === undefined || now - this.failedAt < (this.options.retryAfterFailureMs ?? 30_000)) return;
    let grants: ImageUrlGrants;
    try {
      grants = await channel.imageUrls(filenames);
    } catch (err) {
      if (!(err instanceof FetchError)) throw err;
      this.failedAt = now;
      this.options.log(`no signed Image repository URLs from the Director (${err.message}); reading without`);
      return;
    }
    const lifetimeMs = grants.expiresIn * 1000;
    const held = (value: string): Held => ({ value, expiresAt: now + lifetimeMs, margin: Math.min(this.options.renewMarginMs ?? 60_000, lifetimeMs / 2) });
    this.metadataQuery = held(grants.metadata.query);
    for (const [name, url] of Object.entries(grants.images)) this.imageUrls.set(name, held(url));
  }
}

/**
 * The Director's answer to POST /vehicle/image-urls, read strictly (docs/code-style.md R9): throws
 * FetchError naming the first wrong field.
 */
export function parseImageUrlGrants(bytes: Uint8Array): ImageUrlGrants {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new FetchError('POST /vehicle/image-urls: the answer is not JSON');
  }
  const answer = value as { expiresIn?: unknown; metadata?: { prefix?: unknown; query?: unknown }; images?: unknown } | null;
  const fail = (field: string) => new FetchError(`POST /vehicle/image-urls: the answer's ${field} is missing or malformed`);
  if (typeof answer !== 'object' || answer === null) throw fail('body');
  if (typeof answer.expiresIn !== 'number' || !Number.isSafeInteger(answer.expiresIn) || answer.expiresIn <= 0) throw fail('expiresIn');
  const { metadata, images } = answer;
  if (typeof metadata !== 'object' || metadata === null || typeof metadata.prefix !== 'string' || typeof metadata.query !== 'string' || !QUERY.test(metadata.query)) throw fail('metadata');
  if (typeof images !== 'object' || images === null || Array.isArray(images)) throw fail('images');
  const urls: Record<string, string> = {};
  for (const [name, url] of Object.entries(images)) {
    if (typeof url !== 'string' || !isHttpUrl(url)) throw fail(`images[${JSON.stringify(name.slice(0, 64))}]`);
    urls[name] = url;
  }
  return { expiresIn: answer.expiresIn, metadata: { prefix: metadata.prefix, query: metadata.query }, images: urls };
}

// A query string that goes into a URL as it is: no space, no fragment, no control character.
const QUERY = /^[A-Za-z0-9%._~!*'()=&/+-]{1,2048}$/;

function isHttpUrl(text: string): boolean {
  if (text.length > 4096) return false;
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch (err) {
    if (err instanceof TypeError) return false;
    throw err;
  }
}

/** The target name of `<dir>/<sha256>.<basename>` (as the updater builds it), or undefined. */
function targetFilename(encodedPath: string): string | undefined {
  const path = encodedPath.split('?', 1)[0]!;
  try {
    const segments = path.split('/').map(decodeURIComponent);
    const last = segments.length - 1;
    segments[last] = segments[last]!.replace(/^[0-9a-f]{64}\./, '');
    return segments.join('/');
  } catch (err) {
    if (err instanceof URIError) return undefined;
    throw err;
  }
}
