// ECDSA over NIST P-256 and P-384 (schemes ecdsa-sha2-nistp256 and ecdsa-sha2-nistp384), as
// securesystemslib writes them: keytype "ecdsa" (python-tuf also reads the older keytype that
// repeats the scheme name), keyval.public a PEM SubjectPublicKeyInfo, and the signature the hex of
// the DER-encoded (r, s) pair over SHA-256 or SHA-384 of the canonical bytes. For ECUs whose secure
// element signs only with ECDSA, and for roles held in HSMs or cloud KMSs that offer no Ed25519.
import { generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { MalformedKeyError } from '../errors.js';
import type { PemScheme } from './pem-scheme.js';

function ecdsaScheme(scheme: 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384', curve: string, jwkCurve: string, hash: string): PemScheme {
  return {
    scheme,
    keytype: 'ecdsa',
    keytypes: ['ecdsa', scheme],
    check(key) {
      if (key.asymmetricKeyType !== 'ec') {
        throw new MalformedKeyError(`scheme ${scheme} needs an EC key, found ${key.asymmetricKeyType ?? 'an unknown key type'}`);
      }
      // Named curves only: a key with explicit curve parameters has no namedCurve, and could carry a
      // curve of the attacker's choosing.
      const named = key.asymmetricKeyDetails?.namedCurve;
      if (named !== curve) throw new MalformedKeyError(`scheme ${scheme} needs a key on ${jwkCurve}, found ${named ?? 'explicit curve parameters'}`);
    },
    identity(key) {
      const jwk = key.export({ format: 'jwk' });
      return `ec:${jwkCurve}:${jwk.x}:${jwk.y}`;
    },
    verify(key, message, signature) {
      // OpenSSL parses the DER strictly (no trailing bytes, minimal integers) and returns false for
      // anything else; the catch is for inputs it refuses by throwing instead.
      try {
        return nodeVerify(hash, message, { key, dsaEncoding: 'der' }, signature);
      } catch (err) {
        if (!(err instanceof Error)) throw err;
        return false;
      }
    },
    sign(privateKey, message) {
      return new Uint8Array(nodeSign(hash, message, { key: privateKey, dsaEncoding: 'der' }));
    },
    generate() {
      return generateKeyPairSync('ec', { namedCurve: curve }).privateKey;
    },
  };
}

export const ecdsaP256: PemScheme = ecdsaScheme('ecdsa-sha2-nistp256', 'prime256v1', 'P-256', 'sha256');
export const ecdsaP384: PemScheme = ecdsaScheme('ecdsa-sha2-nistp384', 'secp384r1', 'P-384', 'sha384');

/** The key object's curve check, for callers holding a KeyObject of unknown origin (key files). */
export function ecdsaSchemeForCurve(key: KeyObject): PemScheme | undefined {
  const named = key.asymmetricKeyDetails?.namedCurve;
  if (named === 'prime256v1') return ecdsaP256;
  if (named === 'secp384r1') return ecdsaP384;
  return undefined;
}
