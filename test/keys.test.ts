// Keys: the keyid rule, fixture keys, PKCS#8 PEM files (plain and passphrase-encrypted, mode 0600,
// never overwritten) and their interoperability with `openssl pkey` (docs/decisions.md Formats).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PKCS8_ED25519_PREFIX } from '../shared/core/crypto/ed25519.js';
import { computeKeyId, PrivateKey, PublicKey, publicKeyPem, type TufKey } from '../shared/core/crypto/keys.js';
import { loadPrivateKey, loadPublicKey, savePrivateKey } from '../shared/files/key-files.js';
import { KeyFileError, MalformedKeyError, UnsupportedKeyError, type UptaneError } from '../shared/core/errors.js';

const RFC8032_TEST1_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC8032_TEST1_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';

function thrownBy(action: () => unknown): UptaneError {
  try {
    action();
  } catch (err) {
    return err as UptaneError;
  }
  throw new Error('expected the call to throw');
}

function expectKeyFileError(action: () => unknown): KeyFileError {
  const err = thrownBy(action);
  expect(err).toBeInstanceOf(KeyFileError);
  expect(err.code).toBe('key_file');
  return err as KeyFileError;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-keys-test-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('keyid', () => {
  const tuf: TufKey = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: RFC8032_TEST1_PUBLIC } };
  // The canonical JSON written out by hand: keys sorted, no whitespace.
  const canonicalByHand = `{"keytype":"ed25519","keyval":{"public":"${RFC8032_TEST1_PUBLIC}"},"scheme":"ed25519"}`;
  const expected = createHash('sha256').update(canonicalByHand, 'utf8').digest('hex');

  it('is the SHA-256 of the canonical JSON of the key object', () => {
    expect(expected).toBe('74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916');
    expect(computeKeyId(tuf)).toBe(expected);
    expect(PublicKey.fromTuf(tuf).keyid).toBe(expected);
    expect(PublicKey.fromHex(RFC8032_TEST1_PUBLIC).keyid).toBe(expected);
    expect(PrivateKey.fromSeed(Buffer.from(RFC8032_TEST1_SEED, 'hex')).keyid).toBe(expected);
  });

  it('does not depend on property order', () => {
    const reordered = { keyval: { public: RFC8032_TEST1_PUBLIC }, scheme: 'ed25519', keytype: 'ed25519' };
    expect(computeKeyId(reordered)).toBe(expected);
  });

  it('covers extra fields, as python-tuf and go-tuf compute it', () => {
    const withExtra = { ...tuf, keyid_hash_algorithms: ['sha256', 'sha512'] };
    const byHand = `{"keyid_hash_algorithms":["sha256","sha512"],"keytype":"ed25519","keyval":{"public":"${RFC8032_TEST1_PUBLIC}"},"scheme":"ed25519"}`;
    expect(computeKeyId(withExtra)).toBe(createHash('sha256').update(byHand).digest('hex'));
    expect(computeKeyId(withExtra)).not.toBe(expected);
    // Same key material under both keyids (docs/threat-model.md A6).
    expect(PublicKey.fromTuf(withExtra).sameKeyAs(PublicKey.fromTuf(tuf))).toBe(true);
  });
});

describe('PublicKey', () => {
  it('rejects key types and schemes it does not know with UnsupportedKeyError', () => {
    for (const key of [
      { keytype: 'rsa', scheme: 'rsa-pkcs1v15-sha256', keyval: { public: 'x' } },
      { keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp521', keyval: { public: 'x' } },
      { keytype: 'ED25519', scheme: 'ED25519', keyval: { public: RFC8032_TEST1_PUBLIC } },
    ]) {
      const err = thrownBy(() => PublicKey.fromTuf(key));
      expect(err).toBeInstanceOf(UnsupportedKeyError);
      expect(err.code).toBe('unsupported_key');
    }
  });

  it('rejects a known scheme under a keytype it does not go with, or a PEM key that is not one, with MalformedKeyError', () => {
    for (const key of [
      { keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: 'x' } },
      { keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: 'x' } },
      { keytype: 'ed25519', scheme: 'ecdsa-sha2-nistp256', keyval: { public: RFC8032_TEST1_PUBLIC } },
    ]) {
      const err = thrownBy(() => PublicKey.fromTuf(key));
      expect(err).toBeInstanceOf(MalformedKeyError);
      expect(err.code).toBe('malformed_key');
    }
  });

  it.each([
    ['upper case', RFC8032_TEST1_PUBLIC.toUpperCase()],
    ['too short', RFC8032_TEST1_PUBLIC.slice(2)],
    ['too long', `${RFC8032_TEST1_PUBLIC}00`],
    ['not hex', `zz${RFC8032_TEST1_PUBLIC.slice(2)}`],
  ])('rejects a %s public key hex', (_name, publicHex) => {
    expect(thrownBy(() => PublicKey.fromHex(publicHex))).toBeInstanceOf(UnsupportedKeyError);
  });
});

describe('PrivateKey.fromLabel', () => {
  it('is deterministic and the label is hashed into the seed', () => {
    const a = PrivateKey.fromLabel('director-root-1');
    const b = PrivateKey.fromLabel('director-root-1');
    expect(a.keyid).toBe(b.keyid);
    expect(a.sign(Buffer.from('m'))).toBe(b.sign(Buffer.from('m')));
    expect(PrivateKey.fromLabel('director-root-2').keyid).not.toBe(a.keyid);

    // Independently: seed = SHA-256("uptane-ts fixture key: <label>"), public key via OpenSSL.
    const seed = createHash('sha256').update('uptane-ts fixture key: director-root-1').digest();
    const viaOpenSsl = createPublicKey(createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' }));
    const x = viaOpenSsl.export({ format: 'jwk' }).x;
    expect(x).toBeDefined();
    expect(Buffer.from(a.publicKey.bytes).toString('base64url')).toBe(x);
    expect(a.keyid).toBe(PrivateKey.fromSeed(seed).keyid);
  });

  it('fromSeed refuses a seed of the wrong length', () => {
    expectKeyFileError(() => PrivateKey.fromSeed(new Uint8Array(31)));
    expectKeyFileError(() => PrivateKey.fromSeed(new Uint8Array(64)));
  });

  it('generate() gives fresh keys', () => {
    expect(PrivateKey.generate().keyid).not.toBe(PrivateKey.generate().keyid);
  });
});

describe('PEM round trip', () => {
  const key = PrivateKey.fromLabel('pem-round-trip');
  const message = Buffer.from('signed bytes');

  it('plain PKCS#8', () => {
    const pem = key.toPem();
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const back = PrivateKey.fromPem(pem);
    expect(back.keyid).toBe(key.keyid);
    expect(back.sign(message)).toBe(key.sign(message));
    expect(PrivateKey.fromPem(Buffer.from(pem)).keyid).toBe(key.keyid);
  });

  it('passphrase-encrypted PKCS#8', () => {
    const pem = key.toPem('correct horse');
    expect(pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    expect(pem).not.toBe(key.toPem('correct horse')); // fresh salt and IV each time
    const back = PrivateKey.fromPem(pem, 'correct horse');
    expect(back.keyid).toBe(key.keyid);
    expect(back.sign(message)).toBe(key.sign(message));
  });

  it('an empty passphrase means no encryption', () => {
    expect(key.toPem('')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('a wrong passphrase is a KeyFileError', () => {
    const pem = key.toPem('correct horse');
    const err = expectKeyFileError(() => PrivateKey.fromPem(pem, 'battery staple'));
    expect(err.message).toContain('cannot read private key');
  });

  it('a missing passphrase is a KeyFileError that says how to pass one', () => {
    const err = expectKeyFileError(() => PrivateKey.fromPem(key.toPem('correct horse')));
    expect(err.message).toContain('--passphrase-env');
  });

  it('garbage and keys of unsupported types or curves are KeyFileErrors', () => {
    expectKeyFileError(() => PrivateKey.fromPem('not a pem'));
    expectKeyFileError(() => PrivateKey.fromPem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'));
    const ec = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const err = expectKeyFileError(() => PrivateKey.fromPem(ec));
    expect(err.message).toContain('not an ed25519, ecdsa P-256/P-384 or rsa private key');
    const x25519 = generateKeyPairSync('x25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expectKeyFileError(() => PrivateKey.fromPem(x25519));
  });
});

describe('savePrivateKey and loadPrivateKey', () => {
  const key = PrivateKey.fromLabel('saved-key');

  it('writes mode 0600 and reads back', () => {
    const file = join(dir, 'key.pem');
    savePrivateKey(file, key);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(loadPrivateKey(file).keyid).toBe(key.keyid);
  });

  it('writes an encrypted key with a passphrase', () => {
    const file = join(dir, 'key.pem');
    savePrivateKey(file, key, 'xyz');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    expect(loadPrivateKey(file, 'xyz').keyid).toBe(key.keyid);
    expectKeyFileError(() => loadPrivateKey(file, 'abc'));
  });

  it('refuses to overwrite an existing file and leaves it unchanged', () => {
    const file = join(dir, 'key.pem');
    savePrivateKey(file, key);
    const before = readFileSync(file);
    const err = expectKeyFileError(() => savePrivateKey(file, PrivateKey.fromLabel('another key')));
    expect(err.message).toContain(file);
    expect(readFileSync(file)).toEqual(before);
    expect(loadPrivateKey(file).keyid).toBe(key.keyid);
  });

  it('refuses to overwrite a file that is not a key', () => {
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'keep me');
    expectKeyFileError(() => savePrivateKey(file, key));
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('a missing file is a KeyFileError', () => {
    expectKeyFileError(() => loadPrivateKey(join(dir, 'nope.pem')));
    expectKeyFileError(() => loadPublicKey(join(dir, 'nope.pem')));
  });
});

describe('loadPublicKey', () => {
  const key = PrivateKey.fromLabel('public-key-files');

  it('reads SPKI PEM, PKCS#8 PEM and TUF key JSON', () => {
    const spki = join(dir, 'key.pub.pem');
    writeFileSync(spki, publicKeyPem(key.publicKey));
    expect(readFileSync(spki, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(loadPublicKey(spki).keyid).toBe(key.keyid);

    const pkcs8 = join(dir, 'key.pem');
    savePrivateKey(pkcs8, key);
    expect(loadPublicKey(pkcs8).keyid).toBe(key.keyid);

    const json = join(dir, 'key.json');
    writeFileSync(json, `${JSON.stringify(key.publicKey.tuf, null, 2)}\n`);
    expect(loadPublicKey(json).keyid).toBe(key.keyid);
  });

  it('keeps extra fields of a TUF key JSON in the keyid', () => {
    const json = join(dir, 'key.json');
    const withExtra = { ...key.publicKey.tuf, keyid_hash_algorithms: ['sha256'] };
    writeFileSync(json, JSON.stringify(withExtra));
    expect(loadPublicKey(json).keyid).toBe(computeKeyId(withExtra));
    expect(loadPublicKey(json).keyid).not.toBe(key.keyid);
  });

  it.each([
    ['invalid JSON', '{"keytype": '],
    ['an empty object', '{}'],
    ['keyval without public', '{"keytype":"ed25519","scheme":"ed25519","keyval":{}}'],
    ['a numeric public key', '{"keytype":"ed25519","scheme":"ed25519","keyval":{"public":7}}'],
    ['a PEM of a curve no scheme uses (secp256k1)', generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ format: 'pem', type: 'spki' }).toString()],
    ['a PEM of an RSA key too small to trust', generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString()],
    ['random text', 'hello'],
  ])('rejects %s with a KeyFileError', (_name, content) => {
    const file = join(dir, 'bad');
    writeFileSync(file, content);
    expectKeyFileError(() => loadPublicKey(file));
  });

  it('reads ECDSA P-256/P-384 and RSA SPKI PEM files as keys of their scheme, the same as their private key files', () => {
    for (const type of ['ecdsa-p256', 'ecdsa-p384', 'rsa-3072'] as const) {
      const key = PrivateKey.generate(type);
      const file = join(dir, `${type}.pub.pem`);
      writeFileSync(file, key.publicKey.toPem());
      expect(loadPublicKey(file).tuf).toEqual(key.publicKey.tuf);
      const privateFile = join(dir, `${type}.pem`);
      writeFileSync(privateFile, key.toPem());
      expect(loadPublicKey(privateFile).tuf).toEqual(key.publicKey.tuf);
    }
  });

  it('rejects a TUF key JSON of another type with UnsupportedKeyError', () => {
    const file = join(dir, 'rsa.json');
    writeFileSync(file, '{"keytype":"rsa","scheme":"rsa-pkcs1v15-sha256","keyval":{"public":"abc"}}');
    expect(thrownBy(() => loadPublicKey(file))).toBeInstanceOf(UnsupportedKeyError);
  });

  it('rejects a TUF key JSON of a supported scheme whose key is not a PEM SubjectPublicKeyInfo with MalformedKeyError', () => {
    const file = join(dir, 'rsa-bad.json');
    writeFileSync(file, '{"keytype":"rsa","scheme":"rsassa-pss-sha256","keyval":{"public":"abc"}}');
    expect(thrownBy(() => loadPublicKey(file))).toBeInstanceOf(MalformedKeyError);
  });
});

describe('openssl interoperability', () => {
  beforeAll(() => {
    const probe = spawnSync('openssl', ['version'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      throw new Error(`these tests need the openssl command on PATH: ${probe.error?.message ?? probe.stderr}`);
    }
  });

  function openssl(args: string[]): string {
    return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  const key = PrivateKey.fromLabel('openssl-interop');

  it('openssl pkey reads a plain key file and prints the same public key', () => {
    const file = join(dir, 'plain.pem');
    savePrivateKey(file, key);
    expect(() => openssl(['pkey', '-in', file, '-noout'])).not.toThrow();
    expect(openssl(['pkey', '-in', file, '-pubout'])).toBe(publicKeyPem(key.publicKey));
  });

  it('openssl pkey reads an encrypted key file with the passphrase, and not without it', () => {
    const file = join(dir, 'encrypted.pem');
    savePrivateKey(file, key, 'xyz');
    expect(() => openssl(['pkey', '-in', file, '-passin', 'pass:xyz', '-noout'])).not.toThrow();
    expect(openssl(['pkey', '-in', file, '-passin', 'pass:xyz', '-pubout'])).toBe(publicKeyPem(key.publicKey));
    const wrong = spawnSync('openssl', ['pkey', '-in', file, '-passin', 'pass:abc', '-noout'], { encoding: 'utf8' });
    expect(wrong.status).not.toBe(0);
  });

  it('the public key openssl writes loads to the same keyid', () => {
    const file = join(dir, 'plain.pem');
    savePrivateKey(file, key);
    const pub = join(dir, 'pub.pem');
    openssl(['pkey', '-in', file, '-pubout', '-out', pub]);
    expect(loadPublicKey(pub).keyid).toBe(key.keyid);
  });

  it('keys made by openssl genpkey load, plain and encrypted', () => {
    const plain = join(dir, 'openssl.pem');
    openssl(['genpkey', '-algorithm', 'ed25519', '-out', plain]);
    const loaded = loadPrivateKey(plain);
    expect(openssl(['pkey', '-in', plain, '-pubout'])).toBe(publicKeyPem(loaded.publicKey));

    const encrypted = join(dir, 'openssl-encrypted.pem');
    openssl(['pkey', '-in', plain, '-aes256', '-passout', 'pass:xyz', '-out', encrypted]);
    expect(readFileSync(encrypted, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    expect(loadPrivateKey(encrypted, 'xyz').keyid).toBe(loaded.keyid);
    expectKeyFileError(() => loadPrivateKey(encrypted, 'abc'));
  });
});
