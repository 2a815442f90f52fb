// Canonical JSON: the bytes every signature covers.
//
// We serialize with `canonicalize` (RFC 8785). TUF tools (python-tuf, go-tuf, tuf-js) use OLPC
// canonical JSON instead; the two produce identical bytes exactly when every string is free of
// control characters (U+0000-U+001F), every number is an integer and no object's keys sort differently
// by UTF-16 code unit and by code point. So we refuse anything else, on
// creation and on parsing, and signatures interoperate both ways (docs/decisions.md Formats).
import canonicalize from 'canonicalize';
import { CanonicalJsonError } from './errors.js';

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f]/;

/** Throws CanonicalJsonError naming the first value that OLPC and RFC 8785 would encode differently. */
/** Nesting deeper than this is refused: metadata is shallow, and recursion must not exhaust the stack. */
export const MAX_JSON_DEPTH = 64;

export function checkCanonicalizable(value: unknown, path = '$', depth = 0): void {
  if (depth > MAX_JSON_DEPTH) throw new CanonicalJsonError(`${path}: nested deeper than ${MAX_JSON_DEPTH} levels (or circular)`);
  switch (typeof value) {
    case 'string':
      if (CONTROL_CHARACTERS.test(value)) {
        throw new CanonicalJsonError(`${path}: strings must not contain control characters (U+0000-U+001F)`);
      }
      if (!value.isWellFormed()) throw new CanonicalJsonError(`${path}: string holds a lone surrogate`);
      return;
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new CanonicalJsonError(`${path}: numbers must be integers within +-(2^53-1), got ${value}`);
      }
      return;
    case 'boolean':
      return;
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        value.forEach((item, i) => checkCanonicalizable(item, `${path}[${i}]`, depth + 1));
        return;
      }
      checkPlainObject(value, path);
      for (const [key, item] of Object.entries(value)) {
        checkCanonicalizable(key, `${path}.<key>`);
        checkCanonicalizable(item, `${path}.${key}`, depth + 1);
      }
      checkKeyOrder(Object.keys(value), path);
      return;
    default:
      throw new CanonicalJsonError(`${path}: a ${typeof value} has no JSON form`);
  }
}

/** Plain objects only (from any realm: Jest and vm contexts have their own Object.prototype). */
function checkPlainObject(value: object, path: string): void {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== null && Object.getPrototypeOf(proto) !== null) {
    throw new CanonicalJsonError(`${path}: only plain objects can be canonicalized`);
  }
}

// RFC 8785 sorts keys by UTF-16 code units, OLPC (python-tuf, go-tuf) by code points. The two orders
// differ only when a key holds a surrogate pair (U+10000 and above) and another key has a character
// in U+E000-U+FFFF at the same position, so only objects with such keys pay for the second sort.
const SURROGATE = /[\ud800-\udfff]/;

function checkKeyOrder(keys: string[], path: string): void {
  if (!keys.some((key) => SURROGATE.test(key))) return;
  const byCodeUnit = [...keys].sort();
  // UTF-8 byte order is code point order.
  const byCodePoint = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  if (byCodeUnit.some((key, i) => key !== byCodePoint[i])) {
    throw new CanonicalJsonError(`${path}: keys sort differently by UTF-16 code units and by code points`);
  }
}

/** The canonical JSON text of `value`, after checking it is representable in both canonical forms. */
export function canonicalJson(value: unknown, path = '$'): string {
  checkCanonicalizable(value, path);
  const text = canonicalize(value);
  if (text === undefined) throw new CanonicalJsonError('value has no JSON form');
  return text;
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
  if (typeof value !== 'object' || value === null) return canonicalJson(value, path);
  const text = known.get(value);
  if (text !== undefined) return text;
  if (depth > MAX_JSON_DEPTH) throw new CanonicalJsonError(`${path}: nested deeper than ${MAX_JSON_DEPTH} levels (or circular)`);
  if (Array.isArray(value)) return `[${value.map((item, i) => canonicalJsonReusing(item, known, `${path}[${i}]`, depth + 1)).join(',')}]`;
  checkPlainObject(value, path);
  // RFC 8785 order: by UTF-16 code units, which is what sort() compares.
  const keys = Object.keys(value).sort();
  checkKeyOrder(keys, path);
  const members = keys.map((key) => `${canonicalJson(key, `${path}.<key>`)}:${canonicalJsonReusing((value as Record<string, unknown>)[key], known, `${path}.${key}`, depth + 1)}`);
  return `{${members.join(',')}}`;
}

/** The canonical JSON of `value` as UTF-8 bytes: what signatures are computed over. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}
