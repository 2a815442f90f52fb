// Raw r || s (what a PKCS#11 token returns for CKM_ECDSA) to the strict DER that ecdsa.ts verifies:
// checked against node:crypto's own P1363 signatures, including r and s with a high bit (a 0x00 is
// prepended) and with leading zero bytes (dropped), which a careless conversion gets wrong.
import { generateKeyPairSync, sign } from 'node:crypto';
import { ecdsaRawToDer } from '../../shared/core/crypto/ecdsa-raw.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { ecdsaP256, ecdsaP384 } from '../../shared/core/crypto/ecdsa.js';
import { PublicKey } from '../../shared/core/crypto/keys.js';
import { TokenSigningError } from '../../shared/core/errors.js';

const message = Buffer.from('canonical bytes');

test.each([
  ['P-256', 'prime256v1', 'sha256', 32, ecdsaP256],
  ['P-384', 'secp384r1', 'sha384', 48, ecdsaP384],
] as const)('%s: 200 converted signatures all verify as DER, and equal node\'s own DER', (_name, curve, hash, bytes, scheme) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  const key = PublicKey.fromPem(publicKey.export({ format: 'pem', type: 'spki' }).toString(), scheme);
  let highBit = 0;
  for (let i = 0; i < 200; i++) {
    const raw = sign(hash, message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    if ((raw[0]! & 0x80) !== 0 || (raw[bytes]! & 0x80) !== 0) highBit++;
    const der = Buffer.from(ecdsaRawToDer(raw, bytes));
    expect(key.verify(message, der.toString('hex'), nodeBackend)).toBe(true);
  }
  expect(highBit).toBeGreaterThan(0);
});

test('leading zero bytes are dropped and a high bit gets a 0x00, as DER requires', () => {
  const raw = Buffer.alloc(64);
  raw[31] = 0x01; // r = 1: 31 leading zero bytes
  raw[32] = 0x80; // s has its high bit set
  const der = Buffer.from(ecdsaRawToDer(raw, 32));
  expect(der.subarray(0, 5).toString('hex')).toBe('3026020101');
  expect(der.subarray(5, 8).toString('hex')).toBe('022100');
  expect(der.length).toBe(2 + 3 + 35);
});

test('a raw signature of the wrong length is a typed error', () => {
  expect(() => ecdsaRawToDer(Buffer.alloc(63), 32)).toThrow(TokenSigningError);
});
