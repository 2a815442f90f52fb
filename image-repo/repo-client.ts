// The release engineer's side of the Image repository's HTTP API: online keys for root, whether an
// image is already stored, streaming image uploads, and metadata submissions. A server refusal
// becomes PushRejectedError carrying the server's own error code and message.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { escapeTerminalText } from '../shared/util/terminal-text.js';
import { PublicKey } from '../shared/core/crypto/keys.js';
import { FetchError, PushRejectedError, UnsupportedKeyError, WorkspaceError } from '../shared/core/errors.js';
import { ClientTls, tlsFailureOf, type ClientTlsConfig } from '../shared/client/tls-client.js';

export interface OnlineKeys {
  readonly timestamp: PublicKey;
  readonly snapshot: PublicKey;
}

/** The online keys in use, and those a rotation made that wait for a root listing them. */
export interface OnlineKeyState {
  readonly current: OnlineKeys;
  readonly pending: Partial<OnlineKeys>;
}

export interface UploadedImage {
  readonly length: number;
  readonly hashes: { readonly sha256: string; readonly sha512: string };
}

interface RawResponse {
  readonly status: number;
  readonly body: Buffer;
}

/** How long a request may stay silent (no bytes either way) before it is abandoned. */
const IDLE_TIMEOUT_MS = 60_000;
const MAX_RESPONSE_BYTES = 1_000_000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class ImageRepoClient {
  /** With a CA bundle every request goes over TLS, and an http:// server URL is refused as a downgrade. */
  private readonly tls: ClientTls | undefined;

  constructor(
    readonly serverUrl: string,
    private readonly token?: string,
    tls?: ClientTlsConfig,
  ) {
    this.tls = tls === undefined ? undefined : new ClientTls(tls);
  }

  /** Ends kept-alive TLS connections. */
  close(): void {
    this.tls?.close();
  }

  /** The server's online timestamp and snapshot keys, for root; each keyid is recomputed here, not trusted. */
  async onlineKeys(): Promise<OnlineKeys> {
    return (await this.onlineKeyState()).current;
  }

  /** The online keys in use and pending (docs/decisions.md "Online key rotation"); no token needed. */
  async onlineKeyState(): Promise<OnlineKeyState> {
    const json = await this.json('GET', '/api/v1/online-keys', 'fetch the online keys');
    return { current: this.readKeys(json, '/api/v1/online-keys'), pending: this.readKeys(isRecord(json.pending) ? json.pending : {}, '/api/v1/online-keys', true) };
  }

  /**
   * Asks the server (with a token that may publish root) for a new pending key for each of `roles`;
   * `replace` throws away a key already pending. Answers the pending keys and the keys in use.
   */
  async rotateOnlineKeys(roles: readonly ('timestamp' | 'snapshot')[], replace: boolean): Promise<OnlineKeyState> {
    const body = new TextEncoder().encode(JSON.stringify({ roles, replace }));
    const json = await this.json('POST', '/api/v1/online-keys/rotate', `rotate its online ${roles.join(' and ')} key`, body, 'application/json');
    return {
      current: this.readKeys(isRecord(json.current) ? json.current : {}, '/api/v1/online-keys/rotate'),
      pending: this.readKeys(isRecord(json.pending) ? json.pending : {}, '/api/v1/online-keys/rotate', true),
    };
  }

  private readKeys(json: Record<string, unknown>, path: string, optional?: false): OnlineKeys;
  private readKeys(json: Record<string, unknown>, path: string, optional: true): Partial<OnlineKeys>;
  private readKeys(json: Record<string, unknown>, path: string, optional = false): Partial<OnlineKeys> {
    const read = (role: 'timestamp' | 'snapshot'): PublicKey => {
      const entry = json[role];
      if (!isRecord(entry) || !isRecord(entry.key)) throw new FetchError(`${this.serverUrl}${path}: no ${role} key in the answer`);
      const keyval = entry.key.keyval;
      if (typeof entry.key.keytype !== 'string' || typeof entry.key.scheme !== 'string' || !isRecord(keyval) || typeof keyval.public !== 'string') {
        throw new FetchError(`${this.serverUrl}${path}: the ${role} key is not a TUF key object`);
      }
      const key = PublicKey.fromTuf({ keytype: entry.key.keytype, scheme: entry.key.scheme, keyval: { public: keyval.public } });
      if (entry.keyid !== key.keyid) throw new UnsupportedKeyError(`the server's ${role} keyid ${String(entry.keyid)} is not the digest of its key`);
      return key;
    };
    const keys: { timestamp?: PublicKey; snapshot?: PublicKey } = {};
    for (const role of ['timestamp', 'snapshot'] as const) if (!optional || json[role] !== undefined) keys[role] = read(role);
    return keys;
  }

  /** Is the image already served under its consistent-snapshot name? (The blob store is content-addressed.) */
  async hasImage(targetName: string, sha256: string): Promise<boolean> {
    const segments = targetName.split('/');
    segments[segments.length - 1] = `${sha256}.${segments[segments.length - 1]}`;
    const response = await this.request('HEAD', `/targets/${segments.map(encodeURIComponent).join('/')}`);
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw new FetchError(`${this.serverUrl}: HEAD of image ${targetName} answered HTTP ${response.status}`);
  }

  /** Streams a file to POST /api/v1/images (never read whole), reporting bytes sent. */
  async uploadImage(path: string, onProgress?: (sent: number, total: number) => void): Promise<UploadedImage> {
    let total: number;
    try {
      total = (await stat(path)).size;
    } catch (err) {
      throw new WorkspaceError(`cannot read image ${path}: ${(err as Error).message}`, { cause: err });
    }
    const response = await this.request('POST', '/api/v1/images', { path, total, onProgress });
    const json = this.decode(response, `upload ${path}`);
    const hashes = json.hashes;
    if (typeof json.length !== 'number' || !isRecord(hashes) || typeof hashes.sha256 !== 'string' || typeof hashes.sha512 !== 'string') {
      throw new FetchError(`${this.serverUrl}: unexpected answer to an image upload`);
    }
    return { length: json.length, hashes: { sha256: hashes.sha256, sha512: hashes.sha512 } };
  }

  putRoot(bytes: Uint8Array): Promise<Record<string, unknown>> {
    return this.json('PUT', '/api/v1/metadata/root', 'publish root', bytes);
  }

  putTargets(role: string, bytes: Uint8Array): Promise<Record<string, unknown>> {
    return this.json('PUT', `/api/v1/metadata/targets/${encodeURIComponent(role)}`, `publish ${role}`, bytes);
  }

  private async json(method: string, path: string, what: string, body?: Uint8Array, contentType?: string): Promise<Record<string, unknown>> {
    return this.decode(await this.request(method, path, body, contentType), what);
  }

  private decode(response: RawResponse, what: string): Record<string, unknown> {
    let json: unknown;
    try {
      json = JSON.parse(response.body.toString('utf8'));
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      json = undefined;
    }
    if (response.status >= 200 && response.status < 300 && isRecord(json)) return json;
    const error = isRecord(json) && isRecord(json.error) ? json.error : {};
    const code = typeof error.code === 'string' ? error.code : `http_${response.status}`;
    const message = typeof error.message === 'string' ? error.message : `HTTP ${response.status}`;
    const hint =
      response.status === 401
        ? ' (check the uploader token: `uptane image uploader add NAME` prints one)'
        : code === 'insufficient_scope' && what.startsWith('rotate its online')
          ? ' (a rotation needs a token that may publish root: `uptane image uploader add NAME --role root`, or one without --role)'
          : code === 'rollback'
          ? ' (someone published since this change was staged: `uptane image pull`, then `uptane image discard --role ROLE` and stage the change again)'
          : '';
    // The server's words are quoted escaped: only this CLI's own hints may break the line (docs/threat-model.md HR-6).
    throw new PushRejectedError(`the server refused to ${what}: ${escapeTerminalText(message)} [${escapeTerminalText(code)}, HTTP ${response.status}]${hint}`, response.status, code);
  }

  /** One HTTP request; the body is bytes or a file streamed from disk. */
  private request(
    method: string,
    path: string,
    body?: Uint8Array | { path: string; total: number; onProgress?: ((sent: number, total: number) => void) | undefined },
    contentType = 'application/octet-stream',
  ): Promise<RawResponse> {
    const url = new URL(`${this.serverUrl}${path}`);
    let agent: http.Agent | undefined;
    try {
      agent = this.tls?.agentFor(url);
    } catch (err) {
      return Promise.reject(err);
    }
    const client = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = String(body instanceof Uint8Array ? body.length : body.total);
    }
    return new Promise<RawResponse>((resolve, reject) => {
      const request = client.request(url, { method, headers, agent }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            response.destroy(new FetchError(`${url.origin}: answer larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
        response.on('error', (err) => reject(err instanceof FetchError ? err : new FetchError(`${url.href}: ${err.message}`, { cause: err })));
      });
      request.setTimeout(IDLE_TIMEOUT_MS, () => request.destroy(new FetchError(`${url.href}: no progress for ${IDLE_TIMEOUT_MS / 1000} s`)));
      request.on('error', (err) =>
        reject(
          tlsFailureOf(err, url.href) ??
            (err instanceof FetchError ? err : new FetchError(`cannot reach the repository server at ${url.origin} (${err.message}); is it running, and is the URL right?`, { cause: err })),
        ),
      );
      if (body === undefined) {
        request.end();
      } else if (body instanceof Uint8Array) {
        request.end(body);
      } else {
        const file = createReadStream(body.path, { highWaterMark: 1024 * 1024 });
        let sent = 0;
        file.on('data', (chunk) => {
          sent += chunk.length;
          body.onProgress?.(sent, body.total);
        });
        file.on('error', (err) => request.destroy(new WorkspaceError(`cannot read image ${body.path}: ${err.message}`, { cause: err })));
        file.pipe(request);
      }
    });
  }
}
