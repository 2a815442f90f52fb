// RSASSA-PSS with SHA-256 (scheme rsassa-pss-sha256, keytype "rsa"), as securesystemslib writes it:
// keyval.public a PEM SubjectPublicKeyInfo, the signature the hex of the raw RSA signature. PSS uses
// MGF1 with SHA-256. We sign with a salt as long as the digest (32 bytes, securesystemslib's choice)
// and verify with the salt length read from the signature, as securesystemslib and OpenSSL's "auto"
// do, so signatures made with the maximum salt length (other tools' default) verify too.
import { constants, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { MalformedKeyError, WeakKeyError } from '../errors.js';
import type { PemScheme } from './pem-scheme.js';

/** Below this an RSA key is factorable by well-funded attackers within a key's lifetime (NIST SP 800-57). */
export const MIN_RSA_BITS = 2048;
/** Above this, verifying one signature costs milliseconds: a key in metadata must not be a CPU sink. */
export const MAX_RSA_BITS = 16384;
const SALT_LENGTH = 32;

export const rsaPssSha256: PemScheme = {
  scheme: 'rsassa-pss-sha256',
  keytype: 'rsa',
  keytypes: ['rsa'],
  check(key) {
    // Plain RSA keys only: an "RSA-PSS" SubjectPublicKeyInfo carries its own parameter restrictions,
    // which securesystemslib never writes and which would be a second place the hash is chosen.
    if (key.asymmetricKeyType !== 'rsa') {
      throw new MalformedKeyError(`scheme rsassa-pss-sha256 needs an RSA key, found ${key.asymmetricKeyType ?? 'an unknown key type'}`);
    }
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new WeakKeyError(`an RSA modulus of ${bits} bits is too small: at least ${MIN_RSA_BITS} are required`);
    if (bits > MAX_RSA_BITS) throw new WeakKeyError(`an RSA modulus of ${bits} bits is above the ${MAX_RSA_BITS} this project verifies`);
    // e = 1 makes every "signature" its own message encoding (anyone can forge); an even e is no RSA key.
    const e = key.asymmetricKeyDetails?.publicExponent ?? 0n;
    if (e < 3n || e % 2n === 0n) throw new WeakKeyError(`an RSA public exponent of ${e} is not usable (it must be odd and at least 3)`);
  },
  identity(key) {
    const jwk = key.export({ format: 'jwk' });
    return `rsa:${jwk.n}:${jwk.e}`;
  },
  verify(key, message, signature) {
    try {
      return nodeVerify('sha256', message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature);
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      return false;
    }
  },
  sign(privateKey, message) {
    return new Uint8Array(nodeSign('sha256', message, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: SALT_LENGTH }));
  },
  generate() {
    return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
  },
};
