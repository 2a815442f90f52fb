// The operator API of a running Director as the CLI uses it: --url and --token-env, one client that
// turns refusals into OperatorRequestError with the server's code and a next step, and the small
// table and JSON printers every operator command shares (vehicles, campaigns, root).
import type { Argv } from 'yargs';
import { escapeTerminalText } from '../shared/util/terminal-text.js';
import { FetchError, OperatorRequestError, TlsCertificateError, TlsDowngradeError, TlsHandshakeError } from '../shared/core/errors.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { HttpFetcher, type PostResponse } from '../shared/client/fetcher.js';
import type { ClientTlsConfig } from '../shared/client/tls-client.js';
import { caOption, clientTlsFromFiles } from '../shared/cli/tls-args.js';
import { ANSWER_FIELDS, operatorPath, type OperatorAnswer, type OperatorRequest, type OperatorRoute } from './api/operator-api.js';

export const DEFAULT_PORT = 8082;
export const DEFAULT_TOKEN_ENV = 'UPTANE_OPERATOR_TOKEN';
const REQUEST_TIMEOUT_MS = 60_000;
/** The largest answer read (a page of vehicles or audit entries is far smaller); a longer one is refused. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Output helpers.

export { printJson, printTable, table } from '../shared/cli/cli-output.js';
export const shortId = (keyid: string) => keyid.slice(0, 12);
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

// ---------------------------------------------------------------------------------------------
// The client.

export interface RemoteArgs {
  readonly url: string;
  readonly tokenEnv: string;
  /** CA certificate file the Director's TLS certificate must chain to (--ca, env UPTANE_CA). */
  readonly ca?: string | undefined;
}

export function checkUrl(url: string, option: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${option} ${url}: not a URL; give one like http://127.0.0.1:8082`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`${option} ${url}: use an http:// or https:// URL`);
  return parsed;
}

export function withRemote<T>(yargs: Argv<T>, io: CliEnvironment): Argv<T & RemoteArgs> {
  return yargs
    .option('url', {
      type: 'string',
      default: io.env.UPTANE_DIRECTOR_URL ?? `http://127.0.0.1:${DEFAULT_PORT}`,
      describe: 'URL of the Director (env UPTANE_DIRECTOR_URL)',
    })
    .option('token-env', {
      type: 'string',
      default: DEFAULT_TOKEN_ENV,
      requiresArg: true,
      describe: 'environment variable holding the operator token (never pass a token as an argument)',
    })
    .option('ca', caOption(io, 'the Director'))
    .check((argv) => {
      checkUrl(argv.url as string, '--url');
      return true;
    }) as unknown as Argv<T & RemoteArgs>;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The operator API over HTTP, or over TLS with a CA bundle (then http:// is refused as a
 * downgrade, and the token never crosses the network in clear); a refusal becomes
 * OperatorRequestError with the server's code and a next step.
 */
export class OperatorClient {
  private readonly base: string;
  private readonly http: HttpFetcher;

  constructor(
    url: string,
    private readonly token: string,
    private readonly tokenEnv: string,
    /** Where the user set the Director's URL, for the hints of a failed request (a command may name it otherwise). */
    private readonly urlSource = '--url (env UPTANE_DIRECTOR_URL)',
    tls?: ClientTlsConfig,
  ) {
    this.base = url.replace(/\/+$/, '');
    this.http = new HttpFetcher({ tls });
  }

  /** Ends kept-alive connections (a CLI's process exits anyway; tests and the demo call it). */
  close(): void {
    this.http.close();
  }

  /** The client for --url and --token-env; TLS from `tls` when the caller read it already, else from --ca. */
  static from(io: CliEnvironment, args: RemoteArgs, tls?: ClientTlsConfig): OperatorClient {
    const token = io.env[args.tokenEnv];
    if (token === undefined || token === '') {
      throw new Error(
        `environment variable ${args.tokenEnv} is ${token === undefined ? 'not set' : 'empty'}: put an operator token in it ` +
          '(`uptane director operator add NAME` on the Director host prints one); tokens are never taken as arguments',
      );
    }
    return new OperatorClient(args.url, token, args.tokenEnv, undefined, tls ?? clientTlsFromFiles({ ca: args.ca }));
  }

  /**
   * One request of the operator API, typed by its route (api/operator-api.ts): the path is built from
   * the route and its parameters, and the answer checked for its route's fields. `what` completes
   * "the Director refused to ..." in error messages.
   */
  async send<R extends OperatorRoute>(route: R, what: string, ...[request]: {} extends OperatorRequest<R> ? [OperatorRequest<R>?] : [OperatorRequest<R>]): Promise<OperatorAnswer<R>> {
    const parts = (request ?? {}) as { params?: object; query?: Readonly<Record<string, string | number | undefined>>; body?: unknown };
    const path = operatorPath(route, (parts.params ?? {}) as never, parts.query);
    const json = await this.call(route.slice(0, route.indexOf(' ')), path, what, parts.body);
    return expectAnswer<OperatorAnswer<R>>(json, ANSWER_FIELDS[route], what);
  }

  /** One request by method and path (send, typed, is the usual way); `what` completes "the Director refused to ..." in error messages. */
  async call(method: string, path: string, what: string, body?: unknown): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    let payload: Uint8Array | undefined;
    if (body instanceof Uint8Array) {
      payload = body;
      headers['content-type'] = 'application/octet-stream';
    } else if (body !== undefined) {
      payload = Buffer.from(JSON.stringify(body));
      headers['content-type'] = 'application/json';
    }
    const url = `${this.base}${path}`;
    let answer: PostResponse;
    try {
      answer = await this.http.send(url, { method, headers, body: payload, maxBytes: MAX_ANSWER_BYTES, timeoutMs: REQUEST_TIMEOUT_MS });
    } catch (err) {
      // A refused certificate or a downgrade says what to check itself; it is no unreachable Director.
      if (err instanceof TlsCertificateError || err instanceof TlsDowngradeError || err instanceof TlsHandshakeError) throw err;
      if (!(err instanceof FetchError)) throw err;
      throw new FetchError(`cannot reach the Director at ${this.base} (${err.message}); is \`uptane director serve\` running there, and is ${this.urlSource} right?`, { cause: err });
    }
    const response = { ok: answer.status >= 200 && answer.status < 300, status: answer.status };
    let json: unknown;
    try {
      json = JSON.parse(answer.body.toString('utf8'));
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      json = undefined;
    }
    if (response.ok && isRecord(json)) return json;
    const error = isRecord(json) && isRecord(json.error) ? json.error : {};
    const code = typeof error.code === 'string' ? error.code : `http_${response.status}`;
    const message = typeof error.message === 'string' ? error.message : response.ok ? 'the answer is not a JSON object' : `HTTP ${response.status}`;
    // The Director's words are quoted escaped: only this CLI's own hints may break the line (docs/threat-model.md HR-6).
    throw new OperatorRequestError(
      `the Director refused to ${what}: ${escapeTerminalText(message)} [${escapeTerminalText(code)}, HTTP ${response.status}]${this.hint(response.status, code, message)}`,
      response.status,
      code,
    );
  }

  private hint(status: number, code: string, message: string): string {
    if (status === 404 && message.startsWith('no route')) return `
${this.base} has no such route: is ${this.urlSource} the Director, not the Image repository?`;
    // Expired and revoked tokens (docs/threat-model.md HR-10): the Director's message names the token and what to do.
    if (code === 'token_expired' || code === 'token_revoked') return `\nput a new operator token in ${this.tokenEnv}`;
    if (status === 401) {
      return `\nthe operator token in ${this.tokenEnv} was not accepted: check it, or create one on the Director host with \`uptane director operator add NAME\``;
    }
    if (code === 'insufficient_scope') return `\nthe operator token in ${this.tokenEnv} may not do this; \`uptane director operator list\` on the Director host shows each token's scope`;
    if (status === 429) return '\ntoo many failed authentications came from this address: wait, then try again with a valid token';
    if (status === 413) return '\nthe request is larger than the Director accepts: split it into smaller ones';
    if (code === 'target_not_found') return '\nthe Image repository does not list that image: check the name (it is the target path, e.g. engine/ecm-2.0.bin) or publish it first';
    return '';
  }
}

/** The answer must be an object with these fields; the Director is ours, so this only guards against talking to something else. */
export function expectAnswer<T>(json: object, fields: readonly string[], what: string): T {
  const missing = fields.filter((f) => !(f in json));
  if (missing.length > 0) throw new FetchError(`unexpected answer to ${what}: no ${missing.join(', ')}; is --url a Director?`);
  return json as T;
}
