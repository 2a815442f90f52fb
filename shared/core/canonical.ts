// Canonical JSON: the bytes every signature and every keyid covers (docs/decisions.md Formats).
//
// The form is the one TUF tools sign (python-tuf through securesystemslib's `encode_canonical`,
// go-tuf through go-securesystemslib's cjson), the "OLPC" canonical JSON: no whitespace, object keys
// sorted by Unicode code point, integers only, and strings escaped for `"` and `\` alone, every
// other character (control characters included) written as raw UTF-8. A PEM public key's line
// breaks are therefore signed as the bytes 0x0A, exactly as python-tuf signs them.
//
// Raw control characters make such text invalid JSON, so it is only ever hashed or signed, never
// parsed. What the project serves and stores is `wireJson`: the same text with each control
// character escaped as JSON.stringify escapes it, which is valid JSON and, for every document whose
// strings hold no control character, byte for byte the canonical text (J9: stable bytes).
//
// The encoder is written here rather than taken from `@tufjs/canonical-json`: that package sorts keys
// by UTF-16 code unit (JavaScript's default sort), which differs from python-tuf and go-tuf for keys
// mixing characters above U+FFFF with characters in U+E000-U+FFFF, prints integers beyond 2^53 in
// exponent form, and passes lone surrogates through; each of these is decided below instead.
import { CanonicalJsonError } from './errors.js';

/** Nesting deeper than this is refused: metadata is shallow, and recursion must not exhaust the stack. */
export const MAX_JSON_DEPTH = 64;

const NEEDS_OLPC_ESCAPE = /["\\]/;
const SURROGATE = /[\ud800-\udfff]/;

/** OLPC string form: only `"` and `\` are escaped (securesystemslib `_canonical_string_encoder`). */
function olpcString(value: string): string {
  return NEEDS_OLPC_ESCAPE.test(value) ? `"${value.replace(/["\\]/g, '\\$&')}"` : `"${value}"`;
}

/**
 * Wire string form: JSON.stringify's, which escapes `"`, `\` and U+0000-U+001F (\b \t \n \f \r, and
 * \u00xx for the rest) and nothing else for a well-formed string, so it equals olpcString exactly
 * when the string holds no control character.
 */
function wireString(value: string): string {
  return JSON.stringify(value);
}

type StringForm = (value: string) => string;

function checkString(value: string, path: string): void {
  // A lone surrogate has no UTF-8 form: Python refuses to encode it, Buffer would silently write
  // U+FFFD, so a signature over it could never mean the same bytes to both sides.
  if (!value.isWellFormed()) throw new CanonicalJsonError(`${path}: string holds a lone surrogate`);
}

function checkNumber(value: number, path: string): void {
  // OLPC has no floats; beyond 2^53 JavaScript has already rounded what the document said.
  if (!Number.isSafeInteger(value)) throw new CanonicalJsonError(`${path}: numbers must be integers within +-(2^53-1), got ${value}`);
}

function checkDepth(depth: number, path: string): void {
  if (depth > MAX_JSON_DEPTH) throw new CanonicalJsonError(`${path}: nested deeper than ${MAX_JSON_DEPTH} levels (or circular)`);
}

/** Plain objects only (from any realm: Jest and vm contexts have their own Object.prototype). */
function checkPlainObject(value: object, path: string): void {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== null && Object.getPrototypeOf(proto) !== null) {
    throw new CanonicalJsonError(`${path}: only plain objects can be canonicalized`);
  }
}

/**
 * Orders by Unicode code point, as Python's sorted() and Go's sort.Strings do. JavaScript compares
 * UTF-16 code units, which agrees except where one string has a surrogate (U+10000 and above) and
 * the other a character in U+E000-U+FFFF at the first difference: mapping surrogates above that
 * range restores code point order without allocating.
 */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}

/** The keys of `value` in canonical order; only objects with a surrogate in some key pay for the slower compare. */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  return keys.some((key) => SURROGATE.test(key)) ? keys.sort(compareCodePoints) : keys.sort();
}

/** Throws CanonicalJsonError naming the first value that has no canonical form (same rules as canonicalJson). */
export function checkCanonicalizable(value: unknown, path = '$', depth = 0): void {
  switch (typeof value) {
    case 'string':
      checkString(value, path);
      return;
    case 'number':
      checkNumber(value, path);
      return;
    case 'boolean':
      return;
    case 'object':
      if (value === null) return;
      checkDepth(depth, path);
      if (Array.isArray(value)) {
        value.forEach((item, i) => checkCanonicalizable(item, `${path}[${i}]`, depth + 1));
        return;
      }
      checkPlainObject(value, path);
      for (const [key, item] of Object.entries(value)) {
        checkString(key, `${path}.<key>`);
        checkCanonicalizable(item, `${path}.${key}`, depth + 1);
      }
      return;
    default:
      throw new CanonicalJsonError(`${path}: a ${typeof value} has no JSON form`);
  }
}

/** Checks and encodes in one walk; `known` holds texts to splice in by object identity. */
function encode(value: unknown, form: StringForm, known: ReadonlyMap<object, string> | undefined, path: string, depth: number): string {
  switch (typeof value) {
    case 'string':
      checkString(value, path);
      return form(value);
    case 'number':
      checkNumber(value, path);
      // String(-0) is "0", as Python prints the integer JSON's -0 parses to.
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      const text = known?.get(value);
      if (text !== undefined) return text;
      checkDepth(depth, path);
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += encode(value[i], form, known, `${path}[${i}]`, depth + 1);
        }
        return `${out}]`;
      }
      checkPlainObject(value, path);
      const record = value as Record<string, unknown>;
      let out = '{';
      let first = true;
      for (const key of sortedKeys(value)) {
        checkString(key, `${path}.<key>`);
        if (!first) out += ',';
        first = false;
        out += `${form(key)}:${encode(record[key], form, known, `${path}.${key}`, depth + 1)}`;
      }
      return `${out}}`;
    }
    default:
      throw new CanonicalJsonError(`${path}: a ${typeof value} has no JSON form`);
  }
}

/**
 * The canonical (OLPC) JSON text of `value`: what signatures and keyids are computed over. Not
 * always valid JSON (control characters stay raw), so never parse it: serve `wireJson`.
 */
export function canonicalJson(value: unknown, path = '$'): string {
  return encode(value, olpcString, undefined, path, 0);
}

/**
 * canonicalJson(value), reusing the canonical text of objects inside `value` that the caller has
 * already canonicalized with canonicalJson (`known`, by identity): the Director canonicalizes each
 * version report for its own signature, and the manifest's signature covers those same reports, so
 * serializing them again cost a tenth of a manifest's intake (bench figure 1). Everything else is
 * checked and serialized as canonicalJson does, with the same result (test/canonical.test.ts).
 * The caller must not have changed a known object since canonicalizing it.
 */
export function canonicalJsonReusing(value: unknown, known: ReadonlyMap<object, string>, path = '$', depth = 0): string {
  return encode(value, olpcString, known, path, depth);
}

/** The canonical JSON of `value` as UTF-8 bytes: what signatures are computed over. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

/**
 * The JSON text the project serves and stores for `value`: canonicalJson with U+0000-U+001F
 * escaped, so it parses as JSON. Equal to canonicalJson whenever no string (key or value) holds a
 * control character; otherwise the signature still covers canonicalJson of what this parses to.
 */
export function wireJson(value: unknown, path = '$'): string {
  return encode(value, wireString, undefined, path, 0);
}

/** wireJson(value) as UTF-8 bytes: what a repository serves and what is parsed back. */
export function wireBytes(value: unknown): Buffer {
  return Buffer.from(wireJson(value), 'utf8');
}

const SHORT_ESCAPES: Readonly<Record<number, string>> = { 0x08: '\\b', 0x09: '\\t', 0x0a: '\\n', 0x0c: '\\f', 0x0d: '\\r' };

/**
 * The wire form of canonical bytes, without parsing them: wireBytes(v) for the `v` that
 * `canonical` encodes. Canonical text has no whitespace, so a byte below 0x20 can only stand inside
 * a string (and never inside a multi-byte UTF-8 sequence); escaping each one is all that differs.
 * This lets a signer parse the exact bytes it is asked to sign; the caller still checks that they are
 * canonical by re-encoding what it parsed.
 */
export function wireBytesOfCanonical(canonical: Uint8Array): Buffer {
  if (!canonical.some((byte) => byte < 0x20)) return Buffer.from(canonical);
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < canonical.length; i++) {
    const byte = canonical[i]!;
    if (byte >= 0x20) continue;
    parts.push(Buffer.from(canonical.subarray(start, i)), Buffer.from(SHORT_ESCAPES[byte] ?? `\\u00${byte.toString(16).padStart(2, '0')}`, 'latin1'));
    start = i + 1;
  }
  parts.push(Buffer.from(canonical.subarray(start)));
  return Buffer.concat(parts);
}
