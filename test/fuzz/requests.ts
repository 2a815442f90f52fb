// A fuzz request is generated as a symbolic description (this file's FuzzRequest): credentials,
// times, counters and signatures are named, not embedded, so a seed replays the same requests
// against servers whose tokens and keys are new each run. `materialize` turns one into the exact
// bytes sent, and `sendRaw` sends them on a socket of its own: node's HTTP client would refuse the
// malformed paths, lying Content-Length headers and truncated bodies the fuzzer needs to send.
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { canonicalBytes } from '../../shared/core/canonical.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { signVehicleRequest } from '../../shared/uptane/vehicle-auth.js';

export type ServerName = 'image' | 'director';

export type AuthKind =
  | 'none'
  | 'operator' // the Director operator token
  | 'uploader' // the Image repository uploader token
  | 'session' // the vehicle's session token (Bearer)
  | 'signed' // Uptane-Ed25519 by the registered primary, over this request
  | 'signed-other-path' // ... over another path (a captured header reused)
  | 'signed-stale' // ... with a time an hour old
  | 'signed-unknown-key' // ... by a key no vehicle registered
  | 'signed-secondary' // ... by the vehicle's secondary ECU key
  | 'truncated' // the route's own token, three characters short
  | 'lowercase-scheme' // "bearer <token>"
  | 'garbage-bearer'
  | 'basic'
  | 'empty'
  | 'uptane-malformed'
  | 'huge';

export type Encoding = 'none' | 'identity' | 'gzip' | 'deflate' | 'br' | 'gzip-undeclared' | 'gzip-declared-raw' | 'unknown' | 'gzip-bomb' | 'gzip-twice-declared';
export type LengthMode = 'exact' | 'omit' | 'chunked' | 'less' | 'more' | 'huge' | 'negative' | 'nonnumeric' | 'duplicate';

/** Values replaced when the request is sent (so generation stays independent of the run). */
export const NOW = '$NOW';
export const FUTURE = '$FUTURE';
export const PAST = '$PAST';
export const COUNTER = '$COUNTER';
/** A targets version above every one sent before (each materialized one takes the next). */
export const TARGETS_VERSION = '$TARGETS_VERSION';
export const IMAGE_SHA256 = '$IMAGE_SHA256';
export const IMAGE_SHA512 = '$IMAGE_SHA512';
export const IMAGE_LENGTH = '$IMAGE_LENGTH';
export const KEY_PREFIX = '$KEY:'; // $KEY:<label>: the hex public key of PrivateKey.fromLabel(label)
export const KEYID_PREFIX = '$KEYID:'; // $KEYID:<label>: its keyid (also as an object key)
export const DEEP_PREFIX = '$DEEP:'; // $DEEP:<n>: arrays and objects nested n deep
export const HUGE_PREFIX = '$HUGE:'; // $HUGE:<n>: an array of n small items
export const HUGE_OBJECT_PREFIX = '$HUGEOBJ:'; // $HUGEOBJ:<n>: an object of n string-valued keys

/** Who signs a generated document: a key label (see FuzzKeys) or nobody. */
export type Signer = string;

export type BodySpec =
  | { readonly kind: 'none' }
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'bytes'; readonly bytes: readonly number[] }
  /** A TUF/Uptane envelope {signed, signatures} signed by `signers` over the canonical `signed`. */
  | { readonly kind: 'envelope'; readonly signed: unknown; readonly signers: readonly Signer[]; readonly extra?: unknown }
  /** A vehicle manifest: each report signed by its ECU's key (when `signReports`), then the manifest. */
  | {
      readonly kind: 'manifest';
      readonly signed: Record<string, unknown>;
      readonly reports: ReadonlyArray<{ readonly serial: string; readonly signed: unknown; readonly signer: Signer }>;
      readonly signer: Signer;
    };

export interface FuzzRequest {
  readonly server: ServerName;
  /** The route table entry this request was generated from ("METHOD path"). */
  readonly route: string;
  readonly method: string;
  /** Path and query as sent on the request line (raw; may hold bad escapes or raw UTF-8). */
  readonly path: string;
  readonly auth: AuthKind;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: BodySpec;
  readonly encoding: Encoding;
  readonly length: LengthMode;
  /**
   * The client address: 'fresh' is one no earlier request used (failed-authentication limits are
   * per address, HR-10, and would otherwise answer most of a run with 429); 'repeat' is one address
   * shared by those requests, which the limit meets.
   */
  readonly source: 'fresh' | 'repeat';
}

/** What materializing needs from the running servers. */
export interface FuzzContext {
  readonly image: { url: string; uploaderToken: string };
  readonly director: { url: string; operatorToken: string; sessionToken: string };
  readonly primaryKeyLabel: string;
  readonly secondaryKeyLabel: string;
  readonly imageFile: { sha256: string; sha512: string; length: number };
  /** Report counters handed out so far (each materialized COUNTER takes the next). */
  counter: number;
  /** The highest targets version handed out (TARGETS_VERSION). */
  targetsVersion: number;
}

const keyCache = new Map<string, PrivateKey>();
export function fuzzKey(label: string): PrivateKey {
  let key = keyCache.get(label);
  if (key === undefined) {
    key = PrivateKey.fromLabel(label);
    keyCache.set(label, key);
  }
  return key;
}

/** Replaces the placeholders in a generated value (own __proto__ keys kept as own properties). */
function resolvePlaceholders(value: unknown, ctx: FuzzContext, now: Date): unknown {
  if (typeof value === 'string') {
    if (value === NOW) return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (value === FUTURE) return new Date(now.getTime() + 365 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (value === PAST) return '2020-01-01T00:00:00Z';
    if (value === IMAGE_SHA256) return ctx.imageFile.sha256;
    if (value === IMAGE_SHA512) return ctx.imageFile.sha512;
    if (value.startsWith(KEY_PREFIX)) return fuzzKey(value.slice(KEY_PREFIX.length)).publicKey.tuf.keyval.public;
    if (value.startsWith(KEYID_PREFIX)) return fuzzKey(value.slice(KEYID_PREFIX.length)).keyid;
    if (value.startsWith(DEEP_PREFIX)) {
      let nested: unknown = 'bottom';
      for (let i = Number(value.slice(DEEP_PREFIX.length)); i > 0; i--) nested = i % 2 === 0 ? [nested] : { a: nested };
      return nested;
    }
    if (value.startsWith(HUGE_OBJECT_PREFIX)) return Object.fromEntries(Array.from({ length: Number(value.slice(HUGE_OBJECT_PREFIX.length)) }, (_, i) => [`k${i}`, `v${i}`]));
    if (value.startsWith(HUGE_PREFIX)) return Array.from({ length: Number(value.slice(HUGE_PREFIX.length)) }, (_, i) => (i % 2 === 0 ? 0 : 'x'));
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => resolvePlaceholders(v, ctx, now));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const resolved = v === COUNTER ? ++ctx.counter : v === TARGETS_VERSION ? ++ctx.targetsVersion : v === IMAGE_LENGTH ? ctx.imageFile.length : resolvePlaceholders(v, ctx, now);
      const key = k.startsWith(KEYID_PREFIX) ? fuzzKey(k.slice(KEYID_PREFIX.length)).keyid : k;
      Object.defineProperty(out, key, { value: resolved, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** {keyid, sig} by each signer over the canonical bytes of `signed`; a bogus one when it has no canonical form. */
function signaturesOver(signed: unknown, signers: readonly Signer[]): Array<{ keyid: string; sig: string }> {
  let bytes: Buffer | undefined;
  try {
    bytes = canonicalBytes(signed);
  } catch {
    bytes = undefined;
  }
  return signers.map((label) => {
    const key = fuzzKey(label);
    return { keyid: key.keyid, sig: bytes === undefined ? '00'.repeat(64) : key.sign(bytes) };
  });
}

function bodyBytes(body: BodySpec, ctx: FuzzContext, now: Date): Buffer {
  switch (body.kind) {
    case 'none':
      return Buffer.alloc(0);
    case 'json':
      return Buffer.from(JSON.stringify(resolvePlaceholders(body.value, ctx, now)) ?? 'undefined');
    case 'text':
      return Buffer.from(body.text);
    case 'bytes':
      return Buffer.from(body.bytes);
    case 'envelope': {
      const signed = resolvePlaceholders(body.signed, ctx, now);
      const extra = (resolvePlaceholders(body.extra ?? {}, ctx, now) ?? {}) as object;
      return Buffer.from(JSON.stringify({ signed, signatures: signaturesOver(signed, body.signers), ...extra }));
    }
    case 'manifest': {
      const reports: Record<string, unknown> = {};
      for (const report of body.reports) {
        const signed = resolvePlaceholders(report.signed, ctx, now);
        Object.defineProperty(reports, report.serial, {
          value: { signed, signatures: report.signer === '' ? [] : signaturesOver(signed, [report.signer]) },
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      const signed = { ...(resolvePlaceholders(body.signed, ctx, now) as object), ecu_version_reports: reports };
      return Buffer.from(JSON.stringify({ signed, signatures: body.signer === '' ? [] : signaturesOver(signed, [body.signer]) }));
    }
  }
}

function encode(bytes: Buffer, encoding: Encoding): { bytes: Buffer; header?: string } {
  switch (encoding) {
    case 'none':
      return { bytes };
    case 'identity':
      return { bytes, header: 'identity' };
    case 'gzip':
      return { bytes: gzipSync(bytes), header: 'gzip' };
    case 'deflate':
      return { bytes: deflateSync(bytes), header: 'deflate' };
    case 'br':
      return { bytes: brotliCompressSync(bytes), header: 'br' };
    case 'gzip-undeclared':
      return { bytes: gzipSync(bytes) };
    case 'gzip-declared-raw':
      return { bytes, header: 'gzip' };
    case 'unknown':
      return { bytes, header: 'x-fuzz-compress' };
    case 'gzip-bomb':
      // 4 MB of zeros in a few KB: decompressed past every body limit the servers set.
      return { bytes: gzipSync(Buffer.alloc(4_000_000)), header: 'gzip' };
    case 'gzip-twice-declared':
      return { bytes: gzipSync(gzipSync(bytes)), header: 'gzip, gzip' };
  }
}

/** The credential for an auth kind, on the server the request goes to. */
function authorization(req: FuzzRequest, ctx: FuzzContext, path: string, body: Buffer, now: Date): string | undefined {
  const routeToken = req.server === 'image' ? ctx.image.uploaderToken : req.route.includes('/vehicle/') ? ctx.director.sessionToken : ctx.director.operatorToken;
  const sign = (label: string, signedPath: string, at: Date) =>
    signVehicleRequest(fuzzKey(label), { method: req.method, path: signedPath, body }, at);
  switch (req.auth) {
    case 'none':
      return undefined;
    case 'operator':
      return `Bearer ${ctx.director.operatorToken}`;
    case 'uploader':
      return `Bearer ${ctx.image.uploaderToken}`;
    case 'session':
      return `Bearer ${ctx.director.sessionToken}`;
    case 'signed':
      return sign(ctx.primaryKeyLabel, path, now);
    case 'signed-other-path':
      return sign(ctx.primaryKeyLabel, path === '/vehicle/manifest' ? '/vehicle/session' : '/vehicle/manifest', now);
    case 'signed-stale':
      return sign(ctx.primaryKeyLabel, path, new Date(now.getTime() - 3_600_000));
    case 'signed-unknown-key':
      return sign('fuzz/unregistered', path, now);
    case 'signed-secondary':
      return sign(ctx.secondaryKeyLabel, path, now);
    case 'truncated':
      return `Bearer ${routeToken.slice(0, -3)}`;
    case 'lowercase-scheme':
      return `bearer ${routeToken}`;
    case 'garbage-bearer':
      return 'Bearer AAAA.BBBB.CCCC';
    case 'basic':
      return `Basic ${Buffer.from('admin:admin').toString('base64')}`;
    case 'empty':
      return '';
    case 'uptane-malformed':
      return 'Uptane-Ed25519 keyid="zz", time="now", nonce="", sig=""';
    case 'huge':
      return `Bearer ${'A'.repeat(12_000)}`;
  }
}

/** The body as the request sends it, before any Content-Length lie (for signing and for reports). */
export interface Materialized {
  readonly head: string;
  readonly body: Buffer;
  /** The body was cut short of its declared length: the socket is half-closed after it. */
  readonly truncated: boolean;
}

export function materialize(req: FuzzRequest, ctx: FuzzContext, now = new Date()): Materialized {
  const url = new URL(req.server === 'image' ? ctx.image.url : ctx.director.url);
  const plain = bodyBytes(req.body, ctx, now);
  const { bytes: encoded, header: encodingHeader } = encode(plain, req.encoding);
  const credential = authorization(req, ctx, req.path, encoded, now);
  const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close'];
  if (credential !== undefined) lines.push(`Authorization: ${credential}`);
  if (encodingHeader !== undefined) lines.push(`Content-Encoding: ${encodingHeader}`);
  for (const [name, value] of req.headers) lines.push(`${name}: ${value}`);
  let body = encoded;
  let truncated = false;
  const hasBody = encoded.length > 0;
  switch (req.length) {
    case 'exact':
      if (hasBody || req.method === 'POST' || req.method === 'PUT') lines.push(`Content-Length: ${encoded.length}`);
      break;
    case 'omit':
      body = Buffer.alloc(0); // nothing declared, nothing sent
      break;
    case 'chunked':
      lines.push('Transfer-Encoding: chunked');
      body = Buffer.concat([hasBody ? Buffer.from(`${encoded.length.toString(16)}\r\n`) : Buffer.alloc(0), encoded, hasBody ? Buffer.from('\r\n') : Buffer.alloc(0), Buffer.from('0\r\n\r\n')]);
      break;
    case 'less':
      lines.push(`Content-Length: ${Math.floor(encoded.length / 2)}`);
      body = encoded.subarray(0, Math.floor(encoded.length / 2));
      break;
    case 'more':
      lines.push(`Content-Length: ${encoded.length + 100}`);
      truncated = true;
      break;
    case 'huge':
      lines.push('Content-Length: 99999999999');
      truncated = true;
      break;
    case 'negative':
      lines.push('Content-Length: -1');
      break;
    case 'nonnumeric':
      lines.push('Content-Length: 12abc');
      break;
    case 'duplicate':
      lines.push(`Content-Length: ${encoded.length}`, `Content-Length: ${encoded.length + 1}`);
      break;
  }
  return { head: `${lines.join('\r\n')}\r\n\r\n`, body, truncated };
}

export interface RawResponse {
  /** undefined when the server closed the connection without an answer. */
  readonly status: number | undefined;
  readonly text: string;
  readonly timedOut: boolean;
  readonly error?: string;
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (let guard = 0; guard < 100_000 && at < body.length; guard++) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = Number.parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Sends the bytes on a new connection and reads the answer to its end (the request says Connection: close). */
export function sendRaw(baseUrl: string, request: Materialized, timeoutMs: number, localAddress?: string): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connect({ port: Number(url.port), host: url.hostname, ...(localAddress === undefined ? {} : { localAddress }) });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (timedOut: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const headText = (split < 0 ? all : all.subarray(0, split)).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(headText)?.[1];
      let body: Buffer = split < 0 ? Buffer.alloc(0) : all.subarray(split + 4);
      if (/\r\ntransfer-encoding:\s*chunked/i.test(headText)) body = dechunk(body);
      resolve({ status: status === undefined ? undefined : Number(status), text: `${headText}\r\n\r\n${body.toString('utf8')}`, timedOut, error });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      if (chunks.reduce((n, c) => n + c.length, 0) < 2_000_000) chunks.push(chunk);
      // An event stream (the dashboard's GET /api/v1/events) never ends: its head is the answer.
      const head = Buffer.concat(chunks).toString('latin1');
      if (head.includes('\r\n\r\n') && /\r\ncontent-type: text\/event-stream/i.test(head.slice(0, head.indexOf('\r\n\r\n')))) finish(false);
    });
    // A write error (EPIPE: the server stopped reading a body it refused) does not end the read:
    // its answer may already be on the way.
    let failure: string | undefined;
    socket.on('end', () => finish(false, failure));
    socket.on('close', () => finish(false, failure));
    socket.on('error', (err) => (failure = err.message));
    socket.write(request.head);
    socket.write(request.body, () => {
      // A truncated body: the peer half-closes, as a client that dies mid-upload does.
      if (request.truncated) socket.end();
    });
  });
}

/** A short, printable description of a request, for failure reports (bodies cut at 600 characters). */
export function describeRequest(req: FuzzRequest, sent: Materialized): string {
  const body = sent.body.length === 0 ? '(no body)' : /^[\x09\x0a\x0d\x20-\x7e]*$/.test(sent.body.subarray(0, 600).toString('latin1'))
    ? sent.body.subarray(0, 600).toString('latin1') + (sent.body.length > 600 ? `... (${sent.body.length} bytes)` : '')
    : `${sent.body.length} bytes, sha256 ${createHash('sha256').update(sent.body).digest('hex').slice(0, 16)}..., first: ${sent.body.subarray(0, 48).toString('hex')}`;
  const head = sent.head.length > 1500 ? `${sent.head.slice(0, 1500)}...` : sent.head;
  return `${req.server} ${req.route} [auth ${req.auth}, encoding ${req.encoding}, length ${req.length}, source ${req.source}]\n${head.trimEnd()}\n\n${body}`;
}
