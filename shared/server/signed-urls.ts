// Signed URLs: a short-lived grant, signed by the Director's online URL-signing key, to read one path
// (an image of the Image repository) or every file under a prefix (its metadata), carried in the
// query string so that a plain static server or a CDN edge can check it as well as the Image
// repository itself (docs/signed-urls.md gives the format). Pure: no I/O, the time comes in as an
// argument, one Ed25519 signature per check and nothing secret kept.
import type { Ed25519Backend } from '../core/crypto/ed25519.js';
import { nodeBackend } from '../core/crypto/ed25519.js';
import type { PrivateKey, PublicKey } from '../core/crypto/keys.js';
import { SignedUrlExpiredError, SignedUrlInvalidError } from '../core/errors.js';

/** First line of every signed message: a signature over anything else can never pass for a grant. */
export const SIGNED_URL_CONTEXT = 'UPTANE-SIGNED-URL-V1';

/** What a grant opens: one path exactly, or every single-segment file under a prefix. */
export type SignedUrlScope = 'path' | 'prefix';

export interface UrlGrant {
  /** The HTTP method the grant is for (GET for downloads). */
  readonly method: string;
  /**
   * The path as the client sends it (percent-encoded, no query), e.g. `/targets/<sha256>.ecm.bin`;
   * for a prefix grant the prefix, ending in `/` (`/metadata/`).
   */
  readonly path: string;
  readonly scope: SignedUrlScope;
  /** Whom the grant was issued to, for the logs: a VIN, or '' for the Director's own reads. */
  readonly vin: string;
  /** Unix time in seconds at which the grant stops opening anything. */
  readonly expires: number;
}

export interface VerifiedGrant extends UrlGrant {
  readonly keyid: string;
}

export interface SignedUrlVerifyOptions {
  /**
   * Longest lifetime accepted, counted from now: a grant expiring later is refused, so a
   * misconfigured or compromised issuer cannot hand out grants that last for ever.
   */
  readonly maxLifetimeSeconds?: number;
  readonly backend?: Ed25519Backend;
}

export const DEFAULT_MAX_SIGNED_URL_LIFETIME_SECONDS = 24 * 60 * 60;

// The characters encodeURIComponent leaves as they are, plus `%` for what it encodes: a VIN in a
// signed URL is always in this form, and the signature covers that text, so nothing is decoded first.
const ENCODED_VALUE = /^[A-Za-z0-9%._~!*'()-]{0,256}$/;
// Printable ASCII without space: what a request path as sent may hold.
const PATH = /^\/[\x21-\x7e]{0,2047}$/;
// A prefix is plain: no percent-encoding, no dot segments, ends in `/`.
const PREFIX = /^\/(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*\/)*$/;
const METHOD = /^[A-Z]{1,16}$/;
const KEYID = /^[0-9a-f]{64}$/;
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;
const EXPIRES = /^[1-9][0-9]{0,11}$/;

/** The exact text a grant's signature covers (docs/signed-urls.md): one field per line. */
export function signedUrlMessage(grant: UrlGrant): string {
  return [SIGNED_URL_CONTEXT, grant.method, grant.scope, grant.path, encodeURIComponent(grant.vin), String(grant.expires)].join('\n');
}

/**
 * The query string (without `?`) that carries `grant`, signed with `key`. Parameters: `vin`,
 * `expires`, `scope` (`prefix` only; a path grant leaves it out), `keyid`, `sig`.
 */
export function signUrlGrant(key: PrivateKey, grant: UrlGrant, backend: Ed25519Backend = nodeBackend): string {
  checkGrantShape(grant);
  const signature = Buffer.from(key.sign(Buffer.from(signedUrlMessage(grant), 'utf8'), backend), 'hex').toString('base64url');
  const scope = grant.scope === 'prefix' ? `&scope=prefix&prefix=${grant.path}` : '';
  return `vin=${encodeURIComponent(grant.vin)}&expires=${grant.expires}${scope}&keyid=${key.keyid}&sig=${signature}`;
}

/** Whether a request's query carries a signed-URL signature at all (else another credential decides). */
export function hasUrlSignature(url: string): boolean {
  const query = url.indexOf('?');
  return query >= 0 && /(?:^|&)sig=/.test(url.slice(query + 1));
}

/**
 * The grant of a request `method` for `url` (the request target as sent: path and query), if its
 * signature verifies under one of `keys` (by keyid) and it opens this method and path now.
 * SignedUrlExpiredError past its expiry; SignedUrlInvalidError for anything else (forged, another
 * path or method, unknown key, malformed, lifetime over the limit).
 */
export function verifySignedUrl(
  request: { readonly method: string; readonly url: string },
  keys: ReadonlyMap<string, PublicKey>,
  nowMs: number,
  options: SignedUrlVerifyOptions = {},
): VerifiedGrant {
  const queryAt = request.url.indexOf('?');
  const path = queryAt < 0 ? request.url : request.url.slice(0, queryAt);
  const params = queryParams(queryAt < 0 ? '' : request.url.slice(queryAt + 1));
  const vinText = params.get('vin');
  const expiresText = params.get('expires');
  const keyid = params.get('keyid');
  const sig = params.get('sig');
  const scopeText = params.get('scope') ?? 'path';
  if (vinText === undefined || expiresText === undefined || keyid === undefined || sig === undefined) {
    throw new SignedUrlInvalidError('a signed URL needs vin, expires, keyid and sig');
  }
  if (!ENCODED_VALUE.test(vinText) || !EXPIRES.test(expiresText) || !KEYID.test(keyid) || !SIGNATURE.test(sig) || !PATH.test(path) || !METHOD.test(request.method)) {
    throw new SignedUrlInvalidError('malformed signed URL');
  }
  if (scopeText !== 'path' && scopeText !== 'prefix') throw new SignedUrlInvalidError(`unknown signed URL scope ${JSON.stringify(scopeText.slice(0, 16))}`);
  const scope: SignedUrlScope = scopeText;
  let grantPath = path;
  if (scope === 'prefix') {
    const prefix = params.get('prefix');
    if (prefix === undefined || !PREFIX.test(prefix)) throw new SignedUrlInvalidError('a prefix grant needs a plain prefix ending in /');
    if (!path.startsWith(prefix) || !isOneSegment(path.slice(prefix.length))) throw new SignedUrlInvalidError('the signed URL is for another path');
    grantPath = prefix;
  }
  const vin = decodedOrUndefined(vinText);
  // The signature covers the VIN as encodeURIComponent writes it: any other spelling is refused.
  if (vin === undefined || encodeURIComponent(vin) !== vinText) throw new SignedUrlInvalidError('malformed signed URL: vin is not in canonical encoding');
  const key = keys.get(keyid);
  if (key === undefined) throw new SignedUrlInvalidError(`the signed URL names key ${keyid.slice(0, 12)}, which this server does not trust`);
  const grant: VerifiedGrant = { method: request.method, path: grantPath, scope, vin, expires: Number(expiresText), keyid };
  const signatureHex = Buffer.from(sig, 'base64url').toString('hex');
  // Another path, another method, another VIN or another expiry than signed all end here.
  if (!key.verify(Buffer.from(signedUrlMessage(grant), 'utf8'), signatureHex, options.backend ?? nodeBackend)) {
    throw new SignedUrlInvalidError('the signed URL does not verify for this method and path');
  }
  const nowSeconds = Math.floor(nowMs / 1000);
  if (grant.expires <= nowSeconds) throw new SignedUrlExpiredError(`the signed URL expired at ${new Date(grant.expires * 1000).toISOString()}; ask the Director for a new one`);
  const maxLifetime = options.maxLifetimeSeconds ?? DEFAULT_MAX_SIGNED_URL_LIFETIME_SECONDS;
  if (grant.expires - nowSeconds > maxLifetime) throw new SignedUrlInvalidError(`the signed URL lasts longer than the ${maxLifetime} s this server accepts`);
  return grant;
}

/** A signer's own mistakes are bugs, not requests: refused before anything is signed. */
function checkGrantShape(grant: UrlGrant): void {
  const ok =
    METHOD.test(grant.method) &&
    Number.isSafeInteger(grant.expires) &&
    EXPIRES.test(String(grant.expires)) &&
    (grant.scope === 'prefix' ? PREFIX.test(grant.path) : PATH.test(grant.path) && !grant.path.includes('?')) &&
    ENCODED_VALUE.test(encodeURIComponent(grant.vin));
  if (!ok) throw new TypeError(`cannot sign a URL grant for ${grant.method} ${JSON.stringify(grant.path)} (${grant.scope})`);
}

/** The raw (still encoded) values of a query, first of each name; a repeated name is refused. */
function queryParams(query: string): Map<string, string> {
  const params = new Map<string, string>();
  if (query.length > 4096) throw new SignedUrlInvalidError('malformed signed URL: the query is too long');
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    // Two values for one name would let a checker and a server read different grants.
    if (params.has(name)) throw new SignedUrlInvalidError(`malformed signed URL: ${name.slice(0, 16)} appears twice`);
    params.set(name, eq < 0 ? '' : part.slice(eq + 1));
  }
  return params;
}

/** One path segment under a prefix: no `/` or `\` (encoded or not) and no dot segment. */
function isOneSegment(rest: string): boolean {
  const decoded = decodedOrUndefined(rest);
  return decoded !== undefined && decoded.length > 0 && !/[/\\]/.test(rest) && !/[/\\]/.test(decoded) && decoded !== '.' && decoded !== '..';
}

function decodedOrUndefined(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch (err) {
    if (err instanceof URIError) return undefined;
    throw err;
  }
}
