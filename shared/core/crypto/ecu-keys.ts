// An ECU's signing key in the one text form the Director stores and operators type
// (docs/decisions.md Cryptography, "ECU keys"): Ed25519 as 64 lowercase hex characters, as it always
// was, so existing inventories and CSV files keep working; ECDSA P-256 or P-384 as the base64 of its
// DER SubjectPublicKeyInfo on one line (the body of its PEM), which names its algorithm and curve
// itself and holds no ':' or ',' (the separators of `--ecu` and the registration CSV). Input may also
// be a PEM block or TUF key JSON; both are normalized to that form before anything is stored.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { MalformedKeyError, UnsupportedKeyError, WeakKeyError } from '../errors.js';
import { ecdsaSchemeForCurve } from './ecdsa.js';
import { PublicKey, type TufKey } from './keys.js';
import { rsaPssSha256 } from './rsa-pss.js';
import { readSpkiPem } from './signature-schemes.js';

/** The key types an ECU's signing key may have, named as `uptane keys generate --type` names them. */
export const ECU_KEY_TYPES = ['ed25519', 'ecdsa-p256', 'ecdsa-p384'] as const;
export type EcuKeyType = (typeof ECU_KEY_TYPES)[number];

const ED25519_HEX = /^[0-9a-fA-F]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Named curves below 128-bit security: refused as weak rather than merely unknown. */
const WEAK_CURVES = new Set(['prime192v1', 'secp192k1', 'secp224r1', 'secp224k1', 'secp160r1', 'secp160k1', 'secp112r1', 'secp128r1']);

const cache = new Map<string, PublicKey>();
const MAX_CACHED = 100_000;

/**
 * The ECU public key written as `text` (stored form, PEM block or TUF key JSON). Throws
 * MalformedKeyError (not a key, an EC point off its curve, trailing bytes), WeakKeyError (a curve
 * under 128-bit security, RSA under 2048 bits) or UnsupportedKeyError (a sound key of a type no ECU
 * uses here: RSA, P-521, X25519). An Ed25519 key that can never verify is refused by the caller with
 * `assertUsable`. Cached, bounded, like `PublicKey.fromHex`: the Director reads every ECU's key for
 * every manifest it checks (bench figure 1).
 */
export function ecuPublicKey(text: string): PublicKey {
  const cached = cache.get(text);
  if (cached !== undefined) return cached;
  const key = readEcuKey(text);
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(text, key);
  return key;
}

/** The stored form of an ECU key: Ed25519 hex, or the base64 SPKI DER of an ECDSA key. */
export function ecuKeyText(key: PublicKey): string {
  if (key.scheme === 'ed25519') return key.tuf.keyval.public;
  if (key.scheme !== 'ecdsa-sha2-nistp256' && key.scheme !== 'ecdsa-sha2-nistp384') {
    throw new UnsupportedKeyError(`an ECU signing key is ed25519 or ecdsa P-256/P-384, not ${key.scheme}`);
  }
  return Buffer.from(key.bytes).toString('base64');
}

/** The `uptane keys generate --type` name of an ECU key's type. */
export function ecuKeyType(key: PublicKey): EcuKeyType {
  if (key.scheme === 'ed25519') return 'ed25519';
  if (key.scheme === 'ecdsa-sha2-nistp256') return 'ecdsa-p256';
  if (key.scheme === 'ecdsa-sha2-nistp384') return 'ecdsa-p384';
  throw new UnsupportedKeyError(`an ECU signing key is ed25519 or ecdsa P-256/P-384, not ${key.scheme}`);
}

const FORMS =
  'an ECU public key is 64 hex characters (Ed25519, as `uptane keys show` prints it), or an ECDSA P-256/P-384 SubjectPublicKeyInfo as one line of base64 (its PEM body), a PEM block or TUF key JSON';

function readEcuKey(text: string): PublicKey {
  if (ED25519_HEX.test(text)) return PublicKey.fromHex(text.toLowerCase());
  if (text.trimStart().startsWith('{')) return fromTufJson(text);
  let pem: string;
  if (text.startsWith('-----BEGIN')) {
    pem = text;
  } else if (BASE64.test(text)) {
    const der = Buffer.from(text, 'base64');
    // One spelling per key: a non-canonical base64 body would be a second stored form of the same key.
    if (der.toString('base64') !== text) throw new MalformedKeyError(`the key is not canonical base64; ${FORMS}`);
    pem = `-----BEGIN PUBLIC KEY-----\n${text.replace(/.{1,64}/g, '$&\n')}-----END PUBLIC KEY-----\n`;
  } else {
    throw new MalformedKeyError(FORMS);
  }
  return fromKeyObject(readSpkiPem(pem));
}

/** A checked key object as an ECU key: its type and curve decide the scheme (the SPKI names both). */
function fromKeyObject(key: KeyObject): PublicKey {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') {
    const x = key.export({ format: 'jwk' }).x!;
    return PublicKey.fromBytes(Uint8Array.from(Buffer.from(x, 'base64url')));
  }
  if (type === 'ec') {
    const scheme = ecdsaSchemeForCurve(key);
    const curve = key.asymmetricKeyDetails?.namedCurve ?? 'explicit curve parameters';
    if (scheme === undefined) {
      if (WEAK_CURVES.has(curve)) throw new WeakKeyError(`an ECDSA key on ${curve} is too weak for an ECU: use P-256 or P-384`);
      throw new UnsupportedKeyError(`an ECDSA key on ${curve} is not one this project verifies for ECUs: use P-256 or P-384`);
    }
    return PublicKey.fromPem(key.export({ format: 'pem', type: 'spki' }).toString(), scheme);
  }
  // A weak RSA key is named weak (the more urgent news); a sound one is still no ECU key here.
  if (type === 'rsa') rsaPssSha256.check(key);
  if (type === 'x25519') throw new UnsupportedKeyError('that is an X25519 key, which only decrypts: give it as the ECU\'s encryption key, and its Ed25519 or ECDSA key as its signing key');
  throw new UnsupportedKeyError(`an ECU signing key is ed25519 or ecdsa P-256/P-384, not ${type ?? 'an unknown key type'}`);
}

/** TUF key JSON (`uptane keys generate --public-out`): its keytype and scheme must be what the key is. */
function fromTufJson(text: string): PublicKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    if (err instanceof SyntaxError) throw new MalformedKeyError(`the key is not valid JSON; ${FORMS}`, { cause: err });
    throw err;
  }
  const tuf = parsed as Partial<TufKey> | null;
  if (typeof tuf?.keytype !== 'string' || typeof tuf.scheme !== 'string' || typeof tuf.keyval?.public !== 'string') {
    throw new MalformedKeyError('TUF key JSON needs keytype, scheme and keyval.public strings');
  }
  // fromTuf refuses a label that disagrees with the material; the stored form keeps the material only.
  const key = PublicKey.fromTuf({ keytype: tuf.keytype, scheme: tuf.scheme, keyval: { public: tuf.keyval.public } });
  if (key.scheme === 'ed25519') return PublicKey.fromHex(key.tuf.keyval.public);
  return fromKeyObject(createPublicKey({ key: Buffer.from(key.bytes), format: 'der', type: 'spki' }));
}
