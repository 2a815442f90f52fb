// The ECU key text form (shared/core/crypto/ecu-keys.ts): Ed25519 hex stays hex, an ECDSA key is one
// line of base64 SPKI, PEM and TUF key JSON normalize to it, and every unusable key is a typed error.
import { generateKeyPairSync } from 'node:crypto';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { ecuKeyText, ecuKeyType, ecuPublicKey } from '../../shared/core/crypto/ecu-keys.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { MalformedKeyError, UnsupportedKeyError, WeakKeyError } from '../../shared/core/errors.js';

const spkiBase64 = (der: Buffer) => der.toString('base64');
const ec = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve }).publicKey.export({ format: 'der', type: 'spki' });

/** A P-256 SPKI whose point is moved off the curve (last byte of y changed). */
function offCurveP256(): string {
  const der = Buffer.from(ec('prime256v1'));
  der.writeUInt8(der.readUInt8(der.length - 1) ^ 0x01, der.length - 1);
  return spkiBase64(der);
}

describe('ECU key text form', () => {
  it('keeps Ed25519 as 64 hex characters, and reads uppercase hex as the same key', () => {
    const key = PrivateKey.fromLabel('ecu-keys/ed').publicKey;
    const hex = key.tuf.keyval.public;
    expect(ecuKeyText(ecuPublicKey(hex))).toBe(hex);
    expect(ecuPublicKey(hex.toUpperCase()).sameKeyAs(key)).toBe(true);
    expect(ecuKeyType(ecuPublicKey(hex))).toBe('ed25519');
  });

  it.each(['ecdsa-p256', 'ecdsa-p384'] as const)('writes an %s key as one line of base64 SPKI and reads it, its PEM and its TUF key JSON back to the same key', (type) => {
    const key = PrivateKey.generate(type).publicKey;
    const text = ecuKeyText(key);
    expect(text).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    for (const form of [text, key.toPem(), JSON.stringify(key.tuf)]) {
      const read = ecuPublicKey(form);
      expect(read.sameKeyAs(key)).toBe(true);
      expect(read.keyid).toBe(key.keyid);
      expect(ecuKeyText(read)).toBe(text);
      expect(ecuKeyType(read)).toBe(type);
    }
    // A signature by the private key verifies under the key read from the stored form.
    const signer = PrivateKey.generate(type);
    const message = Buffer.from('report');
    expect(ecuPublicKey(ecuKeyText(signer.publicKey)).verify(message, signer.sign(message), nodeBackend)).toBe(true);
  });

  it('reads an Ed25519 SPKI (PEM body) as the hex form', () => {
    const key = PrivateKey.fromLabel('ecu-keys/ed-pem').publicKey;
    expect(ecuKeyText(ecuPublicKey(key.toPem()))).toBe(key.tuf.keyval.public);
  });

  it.each([
    ['garbage', 'notakey!'],
    ['a malformed PEM', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'],
    ['base64 of no key', Buffer.from('not a key at all').toString('base64')],
    ['non-canonical base64', `${spkiBase64(ec('prime256v1')).slice(0, -1)}B`],
    ['an EC point off its curve', offCurveP256()],
    ['a private key PEM', generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()],
    ['TUF key JSON whose scheme is not its curve', JSON.stringify({ ...PrivateKey.generate('ecdsa-p256').publicKey.tuf, scheme: 'ecdsa-sha2-nistp384' })],
    ['broken JSON', '{"keytype":'],
  ])('refuses %s as malformed_key', (_name, text) => {
    expect(() => ecuPublicKey(text)).toThrow(MalformedKeyError);
  });

  it('refuses a P-224 key and an RSA-1024 key as weak_key', () => {
    expect(() => ecuPublicKey(spkiBase64(ec('secp224r1')))).toThrow(WeakKeyError);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' });
    expect(() => ecuPublicKey(spkiBase64(rsa))).toThrow(WeakKeyError);
  });

  it('refuses sound keys no ECU signs with here (RSA-2048, P-521, X25519) as unsupported_key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' });
    expect(() => ecuPublicKey(spkiBase64(rsa))).toThrow(UnsupportedKeyError);
    expect(() => ecuPublicKey(spkiBase64(ec('secp521r1')))).toThrow(UnsupportedKeyError);
    const x25519 = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' });
    expect(() => ecuPublicKey(spkiBase64(x25519))).toThrow(UnsupportedKeyError);
    expect(() => ecuKeyText(PrivateKey.generate('rsa-3072').publicKey)).toThrow(UnsupportedKeyError);
  });
});
