// The Director channel over HTTP: POST /vehicle/session, GET /vehicle/metadata/<file>, GET
// /vehicle/images/<file> (encrypted images), POST /vehicle/manifest. Every request proves the
// primary ECU key, by the session's bearer token or by a signature (vehicle-auth.ts); the Director
// derives the VIN from it.
import { FetchError } from '../core/errors.js';
import { HttpFetcher, requestIdNote, retryAfterMs, type Fetcher, type FetchResponse, type Poster } from '../client/fetcher.js';
import type { DirectorChannel, DirectorChannelContext, DirectorChannelFactory, ImageUrlGrants, ManifestDelivery } from './director-channel.js';
import { IMAGE_URLS_RESPONSE_MAX_BYTES, parseImageUrlGrants } from './image-access.js';
import { clockOffsetFromRefusal, signVehicleRequest } from './vehicle-auth.js';

/** A Director session (POST /vehicle/session): a bearer token, used until `expiresAt` by this ECU's clock. */
interface DirectorSession {
  readonly token: string;
  readonly expiresAt: number;
}

/** A session is renewed when less than this is left, so a cycle's requests never outlast it. */
const SESSION_RENEW_MARGIN_MS = 2 * 60 * 1000;
/** The Director's answer to POST /vehicle/session is a few hundred bytes. */
const SESSION_RESPONSE_MAX_BYTES = 4096;
/** Its answer to a manifest is a small JSON document; only its first 200 characters are ever shown. */
const MANIFEST_RESPONSE_MAX_BYTES = 65_536;
/** What a token may look like (RFC 6750 b64token): it goes into a header as it is. */
const SESSION_TOKEN = /^[A-Za-z0-9._~+/=-]{1,512}$/;
const DIRECTOR_POST_TIMEOUT_MS = 30_000;

export interface HttpDirectorChannelOptions extends DirectorChannelContext {
  /** Metadata GETs: the primary's fetcher, with its download limits (and what tests put in between). */
  readonly fetcher: Fetcher;
  /** Session and manifest POSTs. */
  readonly poster: Poster;
}

/**
 * The HTTP channel from the primary's own fetcher; POSTs through `poster`, else through the fetcher
 * when it can post (so a fetcher configured for TLS carries the session and the manifest too, with
 * the same CA and client certificate), else a default HttpFetcher.
 */
export function httpDirectorChannel(transport: { readonly fetcher: Fetcher; readonly poster?: Poster }): DirectorChannelFactory {
  const poster = transport.poster ?? (isPoster(transport.fetcher) ? transport.fetcher : new HttpFetcher());
  return (context) => new HttpDirectorChannel({ ...context, fetcher: transport.fetcher, poster });
}

function isPoster(fetcher: Fetcher): fetcher is Fetcher & Poster {
  return typeof (fetcher as Partial<Poster>).post === 'function';
}

export class HttpDirectorChannel implements DirectorChannel {
  readonly metadataLocation: string;
  /** In memory only: a restarted primary opens a new session. */
  private session: DirectorSession | undefined;
  /**
   * How far the Director's clock is ahead of this ECU's (ms), learned from a clock_skew refusal.
   * It stamps signed requests and nothing else: metadata expiry and report times stay on this
   * ECU's own clock, since the refusal that told it is not authenticated (docs/threat-model.md HR-9j).
   */
  private directorClockOffsetMs = 0;

  constructor(private readonly options: HttpDirectorChannelOptions) {
    this.metadataLocation = `${options.directorUrl}/vehicle/metadata`;
  }

  fetchMetadata(name: string, { maxBytes }: { readonly maxBytes: number }): Promise<FetchResponse> {
    const url = `${this.metadataLocation}/${name}`;
    return this.options.fetcher.fetch(url, { maxBytes, headers: { authorization: this.authorization('GET', new URL(url).pathname).header } });
  }

  /** GET /vehicle/images/<name>, through the primary's fetcher: its byte cap, range resume and slow-retrieval limits (F1-F6). */
  fetchImage(name: string, { maxBytes, offset }: { readonly maxBytes: number; readonly offset?: number }): Promise<FetchResponse> {
    const url = `${this.options.directorUrl}/vehicle/images/${encodeURIComponent(name)}`;
    return this.options.fetcher.fetch(url, { maxBytes, offset, headers: { authorization: this.authorization('GET', new URL(url).pathname).header } });
  }

  resetSession(): void {
    this.session = undefined;
  }

  /**
   * Opens a Director session unless the current one has SESSION_RENEW_MARGIN_MS left: one signed
   * request, then the Director checks a MAC instead of an Ed25519 signature per request. Without a
   * session each request is signed, as before: dearer for the Director, never weaker, and no
   * attack, so the failure is only logged.
   */
  async openSession(): Promise<void> {
    const now = this.options.clock.now().getTime();
    if (this.session !== undefined && this.session.expiresAt - now >= SESSION_RENEW_MARGIN_MS) return;
    this.session = undefined;
    try {
      this.session = await this.requestSession(now);
    } catch (err) {
      // Whatever failed (the network, a refusal, an answer that is not a session), signing each
      // request is the safe way on, and the Director's answers to those decide what happens next.
      this.options.log(`no Director session (${(err as Error).message}); signing each request instead`);
    }
  }

  /**
   * POST /vehicle/manifest. A 401 to a session token means the Director no longer knows it (it
   * restarted, and its token secret with it): the token is dropped, a new session opened, and the
   * manifest sent once more. The Director recorded nothing for the refused request.
   */
  async sendManifest(body: Uint8Array): Promise<ManifestDelivery> {
    try {
      return await this.postManifest(body);
    } catch (err) {
      // The connection refused or cut before an answer (a replica killed behind the load balancer,
      // the Director restarting): another attempt may reach a live one. A timeout is not retried: the
      // Director may be slow, and the cycle would only wait twice as long.
      if (err instanceof FetchError && isConnectionFailure(err)) return { accepted: false, refusal: err.message, retryable: { afterMs: 0 } };
      throw err;
    }
  }

  private async postManifest(body: Uint8Array): Promise<ManifestDelivery> {
    const post = (authorization: string) =>
      this.options.poster.post(`${this.options.directorUrl}/vehicle/manifest`, {
        body,
        headers: { authorization, 'content-type': 'application/json' },
        maxBytes: MANIFEST_RESPONSE_MAX_BYTES,
        timeoutMs: DIRECTOR_POST_TIMEOUT_MS,
      });
    const first = this.authorization('POST', '/vehicle/manifest', body);
    let response = await post(first.header);
    if (response.status === 401 && first.bearer) {
      this.options.log('the Director refused the session token (restarted?); opening a new session');
      this.session = undefined;
      await this.openSession();
      response = await post(this.authorization('POST', '/vehicle/manifest', body).header);
    }
    if (response.status >= 200 && response.status < 300) return { accepted: true };
    const refusal = `HTTP ${response.status}${requestIdNote(response.headers)} ${response.body.toString('utf8').slice(0, 200)}`;
    // 503: the Director judged nothing (database away, verification threads busy) and says when to come back.
    if (response.status === 503) return { accepted: false, refusal, retryable: { afterMs: retryAfterMs(headerText(response.headers?.['retry-after'])) } };
    return { accepted: false, refusal };
  }

  /**
   * POST /vehicle/image-urls: signed URLs for these assigned images and a grant for the Image
   * repository's metadata (docs/signed-urls.md). A 401 to a session token opens a new session and
   * asks once more, as sendManifest does; any other refusal is a FetchError.
   */
  async imageUrls(filenames: readonly string[]): Promise<ImageUrlGrants> {
    const body = Buffer.from(JSON.stringify({ filenames }));
    const post = (authorization: string) =>
      this.options.poster.post(`${this.options.directorUrl}/vehicle/image-urls`, {
        body,
        headers: { authorization, 'content-type': 'application/json' },
        maxBytes: IMAGE_URLS_RESPONSE_MAX_BYTES,
        timeoutMs: DIRECTOR_POST_TIMEOUT_MS,
      });
    const first = this.authorization('POST', '/vehicle/image-urls', body);
    let response = await post(first.header);
    if (response.status === 401 && first.bearer) {
      this.session = undefined;
      await this.openSession();
      response = await post(this.authorization('POST', '/vehicle/image-urls', body).header);
    }
    if (response.status !== 200) throw new FetchError(`POST /vehicle/image-urls: HTTP ${response.status}${requestIdNote(response.headers)} ${response.body.toString('utf8', 0, 200)}`);
    return parseImageUrlGrants(response.body);
  }

  private signRequest(method: string, path: string, body?: Uint8Array): string {
    const stamp = new Date(this.options.clock.now().getTime() + this.directorClockOffsetMs);
    return signVehicleRequest(this.options.key, { method, path, body }, stamp, this.options.backend);
  }

  /**
   * The Authorization header of a Director request: the session's bearer token while it lasts,
   * else the request signed with the primary ECU key. A bearer token is acceptable because nothing
   * the primary trusts depends on it: every metadata file fetched is verified against the
   * repositories' signatures (#full_verification), and a manifest carries the ECUs' own signatures
   * and report counters, which the Director checks. A stolen token lets its holder read this
   * vehicle's Director metadata, or send manifests the Director refuses, until it expires.
   */
  private authorization(method: string, path: string, body?: Uint8Array): { header: string; bearer: boolean } {
    const session = this.session;
    if (session !== undefined && this.options.clock.now().getTime() < session.expiresAt) return { header: `Bearer ${session.token}`, bearer: true };
    return { header: this.signRequest(method, path, body), bearer: false };
  }

  private async requestSession(now: number): Promise<DirectorSession> {
    const post = () =>
      this.options.poster.post(`${this.options.directorUrl}/vehicle/session`, {
        headers: { authorization: this.signRequest('POST', '/vehicle/session') },
        maxBytes: SESSION_RESPONSE_MAX_BYTES,
        timeoutMs: DIRECTOR_POST_TIMEOUT_MS,
      });
    let { status, body, headers } = await post();
    // This ECU's clock is off from the Director's: stamp with the Director's time, and ask once more.
    const offset = clockOffsetFromRefusal(status, body, this.options.clock.now().getTime());
    if (offset !== undefined) {
      this.directorClockOffsetMs = offset;
      const seconds = Math.round(offset / 1000);
      this.options.log(`the Director's clock is ${Math.abs(seconds)} s ${seconds >= 0 ? 'ahead of' : 'behind'} this ECU's: signed requests carry the Director's time from now on`);
      ({ status, body, headers } = await post());
    }
    if (status !== 201) throw new FetchError(`POST /vehicle/session: HTTP ${status}${requestIdNote(headers)} ${body.toString('utf8', 0, 200)}`);
    const answer = JSON.parse(body.toString('utf8')) as { token?: unknown; expiresIn?: unknown };
    const { token, expiresIn } = answer;
    if (typeof token !== 'string' || !SESSION_TOKEN.test(token) || typeof expiresIn !== 'number' || !Number.isSafeInteger(expiresIn) || expiresIn <= 0) {
      throw new FetchError('POST /vehicle/session: the answer is not a session');
    }
    // Timed by this ECU's clock from before the request left, whatever the Director's clock says.
    return { token, expiresAt: now + expiresIn * 1000 };
  }
}

/** A failure to connect, or a connection cut before the answer: nothing was answered, so nothing was judged. */
function isConnectionFailure(err: FetchError): boolean {
  const code = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE';
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
