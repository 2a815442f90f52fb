// The gateway's side of the link to a repository (the Image repository or the Director): one
// keep-alive agent per repository, a time limit to get an answer's headers and another on silence
// in its body, and bodies read only under a byte cap. Every failure is a GatewayUpstreamError, so
// a misbehaving repository is a 502 to the vehicle and never an exception that ends the gateway.
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { GatewayUpstreamError, UptaneError } from '../shared/core/errors.js';

export interface UpstreamOptions {
  /** Time to connect and receive the answer's headers. */
  readonly connectTimeoutMs: number;
  /** Longest silence allowed in the answer's body. */
  readonly idleTimeoutMs: number;
  /** PEM CA bundle an https repository must chain to (the system's CAs when unset). */
  readonly ca?: string | undefined;
  /** Sockets kept to this repository at most. */
  readonly maxSockets?: number;
}

export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body, still to be read (or dropped with `discard`). */
  readonly body: IncomingMessage;
}

/** One repository behind the gateway, at `base` (its path prefix kept). */
export class Upstream {
  readonly base: URL;
  private readonly agent: http.Agent;
  private readonly client: typeof http | typeof https;

  constructor(
    base: string,
    readonly name: string,
    private readonly options: UpstreamOptions,
  ) {
    this.base = new URL(base);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new GatewayUpstreamError(`${name} URL ${base} is not http:// or https://`);
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
    this.client = this.base.protocol === 'https:' ? https : http;
    this.agent = this.base.protocol === 'https:' ? new https.Agent({ ...agentOptions, ...(options.ca === undefined ? {} : { ca: options.ca }) }) : new http.Agent(agentOptions);
  }

  /** The repository's URL for `pathAndQuery` (which starts with '/'). */
  urlOf(pathAndQuery: string): URL {
    return new URL(this.base.pathname.replace(/\/$/, '') + pathAndQuery, this.base);
  }

  /**
   * Sends one request and resolves with the answer's status and headers once they arrive (within
   * connectTimeoutMs); the body is left to the caller, watched for silence (idleTimeoutMs). `body`,
   * when given, is streamed as the request body.
   */
  request(method: string, pathAndQuery: string, headers: OutgoingHttpHeaders, body?: Readable): Promise<UpstreamAnswer> {
    const url = this.urlOf(pathAndQuery);
    const { connectTimeoutMs, idleTimeoutMs } = this.options;
    return new Promise((resolve, reject) => {
      const request = this.client.request(url, { method, headers, agent: this.agent, timeout: connectTimeoutMs }, (response) => {
        // From here on, silence in the body is what is limited (slow retrieval behind the gateway).
        request.setTimeout(idleTimeoutMs);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: response });
      });
      request.on('timeout', () => request.destroy(new GatewayUpstreamError(`the ${this.name} sent nothing for ${connectTimeoutMs} ms (answer headers) or ${idleTimeoutMs} ms (body)`)));
      request.on('error', (err) => reject(err instanceof UptaneError ? err : new GatewayUpstreamError(`the ${this.name} could not be reached: ${err.message}`, { cause: err })));
      if (body === undefined) request.end();
      else {
        body.on('error', (err) => request.destroy(err));
        body.pipe(request);
      }
    });
  }

  /** Ends the kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}

/** Reads an answer's body whole, refusing it past `maxBytes` (declared or sent) with GatewayUpstreamError. */
export async function readUpstreamBody(answer: UpstreamAnswer, maxBytes: number, what: string): Promise<Buffer> {
  const declared = Number(answer.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    answer.body.destroy();
    throw new GatewayUpstreamError(`${what} declares ${declared} bytes, over the gateway's ${maxBytes}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of answer.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) throw new GatewayUpstreamError(`${what} sends more than the gateway's ${maxBytes}-byte limit (endless data?)`);
      chunks.push(chunk);
    }
    if (!answer.body.complete) throw new GatewayUpstreamError(`${what} was cut off before its end`);
  } catch (err) {
    answer.body.destroy();
    if (err instanceof GatewayUpstreamError) throw err;
    throw new GatewayUpstreamError(`${what} failed: ${(err as Error).message}`, { cause: err });
  }
  return Buffer.concat(chunks, total);
}

/** Drops an answer's body unread (its socket is not reused: the body may be endless). */
export function discard(answer: UpstreamAnswer): void {
  answer.body.destroy();
}
