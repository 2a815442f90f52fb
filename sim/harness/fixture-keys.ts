// Deterministic ECU signing keys of every ECU key type for the simulator and the tests
// (docs/code-style.md R14: keys from fixed seeds). Ed25519 keys come from PrivateKey.fromLabel; an
// ECDSA key is the private scalar SHA-256 (P-256) or SHA-384 (P-384) of the label, handed to OpenSSL
// as a SEC1 structure without its public point, which OpenSSL computes. Signatures stay randomized.
import { createHash, createPrivateKey } from 'node:crypto';
import type { EcuKeyType } from '../../shared/core/crypto/ecu-keys.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';

/** DER OIDs of the named curves (prime256v1, secp384r1), as SEC1's [0] parameters carry them. */
const CURVES = {
  'ecdsa-p256': { hash: 'sha256', oid: Buffer.from('06082a8648ce3d030107', 'hex') },
  'ecdsa-p384': { hash: 'sha384', oid: Buffer.from('06052b81040022', 'hex') },
} as const;

/** The same key for the same label and type, every run. */
export function fixtureEcuKey(label: string, type: EcuKeyType = 'ed25519'): PrivateKey {
  if (type === 'ed25519') return PrivateKey.fromLabel(label);
  const { hash, oid } = CURVES[type];
  // A digest is below the curve order with overwhelming probability; OpenSSL refuses it otherwise.
  const d = createHash(hash).update(`uptane-ts fixture ${type} key: ${label}`).digest();
  const body = Buffer.concat([Buffer.from([0x02, 0x01, 0x01, 0x04, d.length]), d, Buffer.from([0xa0, oid.length]), oid]);
  const sec1 = Buffer.concat([Buffer.from([0x30, body.length]), body]);
  const key = createPrivateKey({ key: sec1, format: 'der', type: 'sec1' });
  return PrivateKey.fromPem(key.export({ format: 'pem', type: 'pkcs8' }));
}
