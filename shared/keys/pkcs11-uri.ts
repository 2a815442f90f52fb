// The `--key pkcs11:...` value: the RFC 7512 subset this project accepts (docs/decisions.md
// "PKCS#11"). Parsing is strict, since a URI that silently matched another token or key than the
// operator meant would sign with the wrong authority: an attribute this project does not act on is
// refused rather than ignored, and a PIN never travels in the URI (it would sit in shell history and
// the process list).
import { Pkcs11UriError } from '../core/errors.js';

/** What a PKCS#11 URI names: the token (any of its attributes), the private key, and how to reach them. */
export interface Pkcs11Uri {
  /** Token attributes to match (CK_TOKEN_INFO label, manufacturerID, serialNumber, model); absent ones match any token. */
  readonly token?: string;
  readonly manufacturer?: string;
  readonly serial?: string;
  readonly model?: string;
  /** CK_SLOT_ID as a decimal number. */
  readonly slotId?: bigint;
  /** The key object's CKA_LABEL. */
  readonly object?: string;
  /** The key object's CKA_ID bytes (percent-encoded in the URI). */
  readonly id?: Uint8Array;
  /** The PKCS#11 module to load (query attribute module-path). */
  readonly modulePath?: string;
  /** Absolute path of a file whose first line is the PIN (query attribute pin-source=file:...). */
  readonly pinFile?: string;
}

/** Path attributes this project acts on, and what it does with each. */
const PATH_ATTRIBUTES = ['token', 'manufacturer', 'serial', 'model', 'slot-id', 'object', 'id', 'type'] as const;
const QUERY_ATTRIBUTES = ['module-path', 'pin-source'] as const;

/** True when a --key value is a PKCS#11 URI rather than a key file path (the scheme is case-insensitive, RFC 3986). */
export function isPkcs11Uri(value: string): boolean {
  return /^pkcs11:/i.test(value);
}

function fail(uri: string, what: string): never {
  throw new Pkcs11UriError(`${what} in --key ${redact(uri)}. Accepted: pkcs11:token=LABEL;object=LABEL (or id=%01%02, slot-id=N, serial=..., manufacturer=..., model=...; type=private) with optional ?module-path=/path/to/module.so and pin-source=file:/path; see docs/decisions.md "PKCS#11"`);
}

/** The URI as shown in errors: a pin-value is replaced, so a mistaken PIN never reaches a log. */
function redact(uri: string): string {
  return uri.replace(/(pin-value=)[^&;]*/gi, '$1***');
}

/** Percent-decodes one attribute value to bytes; refuses stray `%`, control characters and non-ASCII (RFC 7512 values are ASCII, anything else percent-encoded). */
function decodeBytes(uri: string, name: string, value: string): Buffer {
  if (value.length === 0) fail(uri, `attribute ${name} is empty`);
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (value[i] === '%') {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) fail(uri, `attribute ${name} has a "%" not followed by two hex digits`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c <= 0x20 || c >= 0x7f) {
      fail(uri, `attribute ${name} holds a raw space, control or non-ASCII character (percent-encode it)`);
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes);
}

function decodeText(uri: string, name: string, value: string): string {
  const bytes = decodeBytes(uri, name, value);
  // Invalid UTF-8 decodes to replacement characters, which do not encode back to the same bytes.
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) fail(uri, `attribute ${name} is not UTF-8 once percent-decoded`);
  return text;
}

/** Splits `name=value` pairs, refusing a pair without `=` and a name given twice (which value would win is a guess). */
function pairs(uri: string, part: string, separator: string, where: string): Map<string, string> {
  const seen = new Map<string, string>();
  if (part === '') return seen;
  for (const item of part.split(separator)) {
    const eq = item.indexOf('=');
    if (eq <= 0) fail(uri, `${where} attribute ${JSON.stringify(item)} is not name=value`);
    const name = item.slice(0, eq);
    if (seen.has(name)) fail(uri, `attribute ${name} is given twice`);
    seen.set(name, item.slice(eq + 1));
  }
  return seen;
}

/** Parses a PKCS#11 URI (RFC 7512) into what it names; Pkcs11UriError for anything outside the accepted subset. */
export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (!isPkcs11Uri(uri)) fail(uri, 'not a PKCS#11 URI (it must start with pkcs11:)');
  const rest = uri.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q + 1);
  if (query.includes('?')) fail(uri, 'a second "?"');
  const pathAttrs = pairs(uri, path, ';', 'path');
  const queryAttrs = pairs(uri, query, '&', 'query');

  const result: { -readonly [K in keyof Pkcs11Uri]: Pkcs11Uri[K] } = {};
  for (const [name, value] of pathAttrs) {
    if (QUERY_ATTRIBUTES.includes(name as (typeof QUERY_ATTRIBUTES)[number])) fail(uri, `${name} belongs in the query (after "?")`);
    switch (name as (typeof PATH_ATTRIBUTES)[number]) {
      case 'token':
      case 'manufacturer':
      case 'serial':
      case 'model':
      case 'object':
        result[name as 'token' | 'manufacturer' | 'serial' | 'model' | 'object'] = decodeText(uri, name, value);
        break;
      case 'slot-id': {
        const text = decodeText(uri, name, value);
        if (!/^[0-9]{1,20}$/.test(text)) fail(uri, `slot-id must be a decimal number, got ${JSON.stringify(text)}`);
        result.slotId = BigInt(text);
        break;
      }
      case 'id':
        result.id = new Uint8Array(decodeBytes(uri, name, value));
        break;
      case 'type': {
        // Only the private key signs; naming a public key or certificate is a mistake worth saying.
        const type = decodeText(uri, name, value);
        if (type !== 'private') fail(uri, `type=${type} names no signing key: use type=private or leave type out`);
        break;
      }
      default:
        if (name === 'pin-value') fail(uri, 'a PIN in the URI (pin-value) is refused: it would be visible in the process list and shell history; use --pin-env NAME or the prompt');
        fail(uri, `attribute ${JSON.stringify(name)} is not one this tool acts on`);
    }
  }
  for (const [name, value] of queryAttrs) {
    switch (name) {
      case 'module-path': {
        const modulePath = decodeText(uri, name, value);
        if (!modulePath.startsWith('/')) fail(uri, 'module-path must be an absolute path to the PKCS#11 module (.so)');
        result.modulePath = modulePath;
        break;
      }
      case 'pin-source': {
        const source = decodeText(uri, name, value);
        const file = /^file:(\/\/)?(\/.*)$/.exec(source);
        if (file === null) fail(uri, 'pin-source must be a file: URI with an absolute path (file:/path/to/pin)');
        result.pinFile = file[2]!;
        break;
      }
      case 'pin-value':
        fail(uri, 'a PIN in the URI (pin-value) is refused: it would be visible in the process list and shell history; use --pin-env NAME or the prompt');
        break;
      case 'module-name':
        fail(uri, 'module-name is not searched for: give the module file with module-path=/path/to/module.so or --pkcs11-module');
        break;
      default:
        fail(uri, `query attribute ${JSON.stringify(name)} is not one this tool acts on`);
    }
  }
  if (result.object === undefined && result.id === undefined) fail(uri, 'no key named: give object=LABEL or id=%XX');
  return result;
}

/** The URI's token and key in words, for messages ("token release, object root-1"). */
export function describePkcs11Uri(uri: Pkcs11Uri): string {
  const parts: string[] = [];
  if (uri.token !== undefined) parts.push(`token ${JSON.stringify(uri.token)}`);
  if (uri.serial !== undefined) parts.push(`serial ${JSON.stringify(uri.serial)}`);
  if (uri.manufacturer !== undefined) parts.push(`manufacturer ${JSON.stringify(uri.manufacturer)}`);
  if (uri.model !== undefined) parts.push(`model ${JSON.stringify(uri.model)}`);
  if (uri.slotId !== undefined) parts.push(`slot ${uri.slotId}`);
  if (uri.object !== undefined) parts.push(`object ${JSON.stringify(uri.object)}`);
  if (uri.id !== undefined) parts.push(`id ${Buffer.from(uri.id).toString('hex')}`);
  return parts.join(', ');
}
