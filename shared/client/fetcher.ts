// Fetching bytes from a repository, with the limits that defeat endless-data and slow-retrieval
// attacks (docs/threat-model.md F1-F6): a hard byte cap per request, a timeout before the first
// byte and between chunks, and a minimum average speed. The Fetcher interface lets tests and the
// simulator supply bytes from memory; HttpFetcher is the real thing, over TLS when it is given a CA
// bundle (shared/client/tls-client.ts).
import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream';
import { ContentEncodingError, DownloadLengthError, FetchError, ReadForbiddenError, RemoteNotFoundError, SlowRetrievalError } from '../core/errors.js';
import { ACCEPT_ENCODING, compressedCapFor, createInflater, isCodecError, transferCodingOf, type TransferCoding } from './content-coding.js';
import { ClientTls, tlsFailureOf, type ClientTlsConfig } from './tls-client.js';

export interface FetchOptions {
  /**
   * Hard cap: reading stops and DownloadLengthError is thrown past this many bytes from `offset` on
   * (F1, F2). If the server ignores the range, the body starts at 0 and may be `offset` bytes longer.
   */
  readonly maxBytes: number;
  /** Resume: ask for bytes from this offset on (HTTP Range). */
  readonly offset?: number;
  /** Extra request headers, e.g. a vehicle's signed authentication header. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface FetchResponse {
  /** Offset the body starts at: `options.offset` if the server honoured the range, else 0. */
  readonly offset: number;
  readonly body: AsyncIterable<Uint8Array>;
}

export interface Fetcher {
  /** Starts a download. 404 is RemoteNotFoundError; other failures are FetchError subclasses. */
  fetch(url: string, options: FetchOptions): Promise<FetchResponse>;
}

/** A small request with a body, whose small answer is read whole (a vehicle's POSTs to the Director). */
export interface PostOptions {
  readonly body?: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
  /** A longer answer is cut off and refused. */
  readonly maxBytes: number;
  /** For the whole exchange, the answer included. */
  readonly timeoutMs: number;
}

/** A request of any method (the operator API's GET, PUT, DELETE), answered like a POST. */
export interface SendOptions extends PostOptions {
  readonly method: string;
}

export interface PostResponse {
  readonly status: number;
  readonly body: Buffer;
  /** The answer's headers (names in lower case), where the transport has them. */
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
}

export interface Poster {
  /** Any HTTP status is an answer; a failed exchange, or an answer past its cap, is FetchError. */
  post(url: string, options: PostOptions): Promise<PostResponse>;
}

export interface HttpFetcherConfig {
  /** Time allowed to connect and receive response headers. */
  readonly connectTimeoutMs: number;
  /** Longest silence allowed between two chunks of a body (F4: trickle or stall). */
  readonly idleTimeoutMs: number;
  /** Average speed a download must keep after the grace period, in bytes per second (F4). */
  readonly minBytesPerSecond: number;
  /** Time before the minimum speed is enforced (slow start, small files). */
  readonly speedGracePeriodMs: number;
  /**
   * How often a request answered 503 (a repository at its download cap, server_busy) is tried
   * again, after the Retry-After the server asks for, capped at maxBusyWaitMs: a busy server is
   * a fault, and a cycle that waits a few seconds still completes.
   */
  readonly busyRetries: number;
  /** Longest wait before one such retry, whatever Retry-After says (the server is not trusted). */
  readonly maxBusyWaitMs: number;
  /**
   * TLS: the CA bundle servers must chain to and the client certificate to present, as PEM text.
   * When set, every request goes over TLS through one keep-alive agent, and an http:// URL is
   * refused (TlsDowngradeError); unset, https:// URLs use the system's CAs.
   */
  readonly tls?: ClientTlsConfig;
}

export const DEFAULT_HTTP_FETCHER_CONFIG: HttpFetcherConfig = {
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 10_000,
  minBytesPerSecond: 1024,
  speedGracePeriodMs: 5_000,
  busyRetries: 3,
  maxBusyWaitMs: 10_000,
};

/** Reads a whole (small) response into memory, enforcing the cap: for metadata only. */
export async function fetchBytes(fetcher: Fetcher, url: string, options: FetchOptions): Promise<Buffer> {
  const { body } = await fetcher.fetch(url, options);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > options.maxBytes) {
      throw new DownloadLengthError(`${url} exceeds the ${options.maxBytes}-byte limit (endless data?)`);
    }
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  }
  return Buffer.concat(chunks, total);
}

/** node:http(s) fetcher; no redirects are followed (a repository serves its files directly). */
export class HttpFetcher implements Fetcher, Poster {
  private readonly config: HttpFetcherConfig;
  private readonly tls: ClientTls | undefined;

  /** Throws TlsConfigurationError for unusable PEM in `config.tls`, before any request. */
  constructor(config: Partial<HttpFetcherConfig> = {}) {
    this.config = { ...DEFAULT_HTTP_FETCHER_CONFIG, ...config };
    this.tls = config.tls === undefined ? undefined : new ClientTls(config.tls);
  }

  /** Ends the kept-alive TLS connections (an idle one never holds the process open). */
  close(): void {
    this.tls?.close();
  }

  /** node:http or node:https and the agent for `url`; with TLS configured, http:// is a downgrade and refused. */
  private transportFor(url: URL): { client: typeof http | typeof https; agent: http.Agent | undefined } {
    if (this.tls !== undefined) return { client: https, agent: this.tls.agentFor(url) };
    if (url.protocol === 'https:') return { client: https, agent: undefined };
    if (url.protocol === 'http:') return { client: http, agent: undefined };
    throw new FetchError(`unsupported URL scheme in ${url.href}`);
  }

  /** A failed exchange as a FetchError: a TLS failure by its kind, anything else as a plain network failure. */
  private failureOf(err: unknown, url: string): FetchError {
    return tlsFailureOf(err, url) ?? (err instanceof FetchError ? err : new FetchError(`${url}: ${(err as Error).message}`, { cause: err }));
  }

  async fetch(url: string, options: FetchOptions): Promise<FetchResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.fetchOnce(url, options);
      } catch (err) {
        if (!(err instanceof ServerBusyAnswer) || attempt >= this.config.busyRetries) throw err instanceof ServerBusyAnswer ? err.failure : err;
        await new Promise((resolve) => setTimeout(resolve, Math.min(err.retryAfterMs, this.config.maxBusyWaitMs)));
      }
    }
  }

  private fetchOnce(url: string, options: FetchOptions): Promise<FetchResponse> {
    const parsed = new URL(url);
    let transport: ReturnType<HttpFetcher['transportFor']>;
    try {
      transport = this.transportFor(parsed);
    } catch (err) {
      return Promise.reject(err);
    }
    const { client, agent } = transport;
    const headers: Record<string, string> = { ...options.headers };
    const offset = options.offset ?? 0;
    if (offset > 0) headers.range = `bytes=${offset}-`;
    // A whole file may come compressed (content-coding.ts); a resumed one comes as it is stored.
    const offered = offset === 0;
    headers['accept-encoding'] = offered ? ACCEPT_ENCODING : 'identity';

    return new Promise((resolve, reject) => {
      const request = client.get(parsed, { headers, agent, timeout: this.config.connectTimeoutMs }, (response) => {
        request.setTimeout(0);
        const status = response.statusCode ?? 0;
        if (status === 404) {
          response.resume();
          reject(new RemoteNotFoundError(`${url}: 404 not found`));
          return;
        }
        if (status === 403) {
          response.resume();
          reject(new ReadForbiddenError(`${url}: HTTP 403 (the server serves this file only to a credential)${requestIdNote(response.headers)}`));
          return;
        }
        if (status === 503) {
          response.resume();
          reject(new ServerBusyAnswer(new FetchError(`${url}: HTTP 503 (server busy)${requestIdNote(response.headers)}`), retryAfterMs(response.headers['retry-after'])));
          return;
        }
        if (status !== 200 && status !== 206) {
          response.resume();
          reject(new FetchError(`${url}: HTTP ${status}${requestIdNote(response.headers)}`));
          return;
        }
        const bodyOffset = status === 206 ? offset : 0;
        // F6: `maxBytes` counts from the requested offset. A server that ignores the range sends the
        // file from byte 0, so the cap grows by the bytes it repeats; without this a resumed download
        // from such a server failed as "endless data" every time (test/tuf/http-loopback.test.ts).
        const maxBytes = options.maxBytes + (offset - bodyOffset);
        let coding: TransferCoding;
        try {
          coding = transferCodingOf(response.headers['content-encoding'], offered && status === 200, url);
        } catch (err) {
          response.destroy();
          reject(err);
          return;
        }
        const declared = Number(response.headers['content-length']);
        const declaredCap = coding === 'identity' ? maxBytes : compressedCapFor(maxBytes);
        if (Number.isFinite(declared) && declared > declaredCap) {
          response.destroy();
          reject(new DownloadLengthError(`${url} declares ${declared} bytes, over the ${declaredCap}-byte limit`));
          return;
        }
        const body = coding === 'identity' ? this.guardedBody(url, response, maxBytes) : this.inflatedBody(url, response, coding, maxBytes);
        resolve({ offset: bodyOffset, body });
      });
      request.on('timeout', () => request.destroy(new SlowRetrievalError(`${url}: no response within ${this.config.connectTimeoutMs} ms`)));
      request.on('error', (err) => reject(this.failureOf(err, url)));
    });
  }

  post(url: string, options: PostOptions): Promise<PostResponse> {
    return this.send(url, { ...options, method: 'POST' });
  }

  /** One request of any method whose small answer is read whole, as `post` does. */
  send(url: string, options: SendOptions): Promise<PostResponse> {
    const parsed = new URL(url);
    let transport: ReturnType<HttpFetcher['transportFor']>;
    try {
      transport = this.transportFor(parsed);
    } catch (err) {
      return Promise.reject(err);
    }
    const { client, agent } = transport;
    const body = options.body ?? new Uint8Array(0);
    return new Promise((resolve, reject) => {
      // Set by a limit this side enforces, so the error it caused is the one reported.
      let failure: FetchError | undefined;
      const fail = (err: unknown) => {
        clearTimeout(timer);
        reject(failure ?? this.failureOf(err, url));
      };
      const request = client.request(parsed, { method: options.method, agent, headers: { ...options.headers, 'content-length': String(body.length) } }, (response) => {
        void (async () => {
          const chunks: Buffer[] = [];
          let total = 0;
          for await (const chunk of response as AsyncIterable<Buffer>) {
            total += chunk.length;
            if (total > options.maxBytes) {
              failure = new FetchError(`${url}: the answer exceeds ${options.maxBytes} bytes`);
              response.destroy();
              throw failure;
            }
            chunks.push(chunk);
          }
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks, total), headers: response.headers });
        })().catch(fail);
      });
      const timer = setTimeout(() => {
        failure = new FetchError(`${url}: no answer within ${options.timeoutMs} ms`);
        request.destroy(failure);
      }, options.timeoutMs);
      request.on('error', fail);
      request.end(body);
    });
  }

  /**
   * Yields a compressed body inflated, as it arrives: the cap counts inflated bytes (a decompression
   * bomb stops at `maxBytes`, download_length), the compressed bytes keep their own cap and the
   * idle timeout and minimum speed (guardedBody), and a corrupt or cut stream is ContentEncodingError.
   */
  private async *inflatedBody(url: string, response: http.IncomingMessage, coding: Exclude<TransferCoding, 'identity'>, maxBytes: number): AsyncGenerator<Uint8Array> {
    const inflater = createInflater(coding);
    // Errors of either side reach the loop below through the inflater, which pipeline destroys with them.
    pipeline(this.guardedBody(url, response, compressedCapFor(maxBytes)), inflater, () => {});
    let inflated = 0;
    try {
      for await (const chunk of inflater as AsyncIterable<Buffer>) {
        inflated += chunk.length;
        if (inflated > maxBytes) throw new DownloadLengthError(`${url} inflates past ${maxBytes} bytes (${coding}; a decompression bomb?)`);
        yield chunk;
      }
    } catch (err) {
      if (err instanceof FetchError) throw err;
      if (isCodecError(err)) throw new ContentEncodingError(`${url}: the ${coding} stream is corrupt or cut short: ${(err as Error).message}`, { cause: err });
      throw new FetchError(`${url}: ${(err as Error).message}`, { cause: err });
    } finally {
      inflater.destroy();
      response.destroy();
    }
  }

  /** Yields the body while enforcing the byte cap, the idle timeout and the minimum speed. */
  private async *guardedBody(url: string, response: http.IncomingMessage, maxBytes: number): AsyncGenerator<Uint8Array> {
    const { idleTimeoutMs, minBytesPerSecond, speedGracePeriodMs } = this.config;
    const started = performance.now();
    let received = 0;
    let timedOut = false;
    response.setTimeout(idleTimeoutMs, () => {
      timedOut = true;
      response.destroy(new SlowRetrievalError(`${url}: no data for ${idleTimeoutMs} ms (slow retrieval?)`));
    });
    // The speed check also runs on a timer, so a server that sends nothing at all is caught too.
    const speedCheck = setInterval(() => {
      const elapsed = performance.now() - started;
      if (elapsed > speedGracePeriodMs && (received * 1000) / elapsed < minBytesPerSecond) {
        response.destroy(new SlowRetrievalError(`${url}: slower than ${minBytesPerSecond} B/s (slow retrieval?)`));
      }
    }, Math.min(1000, Math.max(50, speedGracePeriodMs / 4)));
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > maxBytes) throw new DownloadLengthError(`${url} sends more than ${maxBytes} bytes (endless data?)`);
        yield chunk;
      }
      if (!response.complete) throw new FetchError(`${url}: connection closed before the body was complete`);
    } catch (err) {
      if (err instanceof FetchError) throw err;
      if (timedOut) throw new SlowRetrievalError(`${url}: no data for ${idleTimeoutMs} ms (slow retrieval?)`);
      throw new FetchError(`${url}: ${(err as Error).message}`, { cause: err });
    } finally {
      clearInterval(speedCheck);
      response.destroy();
    }
  }
}

/** A 503 answer: retried after `retryAfterMs` while retries are left, else `failure` is thrown. */
class ServerBusyAnswer extends Error {
  constructor(readonly failure: FetchError, readonly retryAfterMs: number) {
    super(failure.message);
  }
}

/**
 * " (request <id>)" for an answer that carries the server's X-Request-Id, so the vehicle's error
 * report names the server's log line; "" when it carries none or one that is not a short safe token.
 */
export function requestIdNote(headers: Readonly<Record<string, string | string[] | undefined>> | undefined): string {
  const id = headers?.['x-request-id'];
  return typeof id === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(id) ? ` (request ${id})` : '';
}

/** Retry-After in delta-seconds (what the repositories send) as ms; one second when absent or in another form. */
export function retryAfterMs(header: string | undefined): number {
  return header !== undefined && /^\d{1,6}$/.test(header) ? Number(header) * 1000 : 1000;
}
