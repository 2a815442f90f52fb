// Key types (issue 17 items 2 and 3; docs/decisions.md Cryptography; docs/threat-model.md A6, A8,
// A13): Ed25519, ECDSA P-256/P-384 and RSA-PSS-SHA256 verify their own signatures and nothing else;
// malformed, mismatched and weak keys are typed errors; a keyid is a name, and thresholds count
// distinct key material across key types.
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { canonicalBytes } from '../../shared/core/canonical.js';
import { nobleBackend, nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { KEY_TYPES, PrivateKey, PublicKey, type KeyType, type TufKey } from '../../shared/core/crypto/keys.js';
import {
  KeyFileError,
  MalformedKeyError,
  UnmetThresholdError,
  UnsupportedKeyError,
  WeakKeyError,
  type UptaneError,
} from '../../shared/core/errors.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata, validSigners } from '../../shared/core/metadata/sign.js';
import type { RootSigned, Signature, TopLevelRole } from '../../shared/core/metadata/types.js';
import { TrustedMetadataSet } from '../../shared/core/trusted-metadata-set.js';

const MESSAGE = new TextEncoder().encode('canonical bytes of some signed metadata');
const NOW = new Date('2026-06-01T00:00:00Z');
const EXPIRES = '2027-06-01T00:00:00Z';

function thrownBy(action: () => unknown): UptaneError {
  try {
    action();
  } catch (err) {
    return err as UptaneError;
  }
  throw new Error('expected the call to throw');
}

function spkiPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'spki' }).toString();
}

function flipHexBit(hex: string, index = 10): string {
  const bytes = Buffer.from(hex, 'hex');
  bytes[index]! ^= 0x01;
  return bytes.toString('hex');
}

// Generated once per file: RSA-3072 generation costs about a second.
const keys = Object.fromEntries(KEY_TYPES.map((type) => [type, PrivateKey.generate(type)])) as Record<KeyType, PrivateKey>;

describe('each key type verifies its own signatures and nothing else', () => {
  const expected: Record<KeyType, { keytype: string; scheme: string }> = {
    ed25519: { keytype: 'ed25519', scheme: 'ed25519' },
    'ecdsa-p256': { keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256' },
    'ecdsa-p384': { keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp384' },
    'rsa-3072': { keytype: 'rsa', scheme: 'rsassa-pss-sha256' },
  };

  for (const type of KEY_TYPES) {
    it(`${type}: written as TUF 1.0 writes it, verifies its signature, refuses a flipped bit`, () => {
      const key = keys[type];
      expect(key.publicKey.tuf).toMatchObject(expected[type]);
      if (type !== 'ed25519') expect(key.publicKey.tuf.keyval.public).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/);
      const sig = key.sign(MESSAGE);
      // Read back from its TUF form, as a client does.
      const publicKey = PublicKey.fromTuf(structuredClone(key.publicKey.tuf));
      for (const backend of [nodeBackend, nobleBackend]) expect(publicKey.verify(MESSAGE, sig, backend)).toBe(true);
      expect(publicKey.verify(MESSAGE, flipHexBit(sig), nodeBackend)).toBe(false);
      expect(publicKey.verify(Buffer.concat([MESSAGE, Buffer.from('x')]), sig, nodeBackend)).toBe(false);
      expect(publicKey.verify(MESSAGE, sig.toUpperCase(), nodeBackend)).toBe(false); // lowercase hex only
      expect(publicKey.verify(MESSAGE, '', nodeBackend)).toBe(false);
      expect(publicKey.verify(MESSAGE, `${sig}00`, nodeBackend)).toBe(false);
    });

    it(`${type}: a signature by a key of every other type does not verify under it`, () => {
      for (const other of KEY_TYPES.filter((t) => t !== type)) {
        expect(keys[type].publicKey.verify(MESSAGE, keys[other].sign(MESSAGE), nodeBackend)).toBe(false);
      }
      expect(keys[type].publicKey.verify(MESSAGE, PrivateKey.generate(type === 'rsa-3072' ? 'ecdsa-p256' : type).sign(MESSAGE), nodeBackend)).toBe(false);
    });
  }

  it('signatures made by pyca/cryptography as securesystemslib makes them verify (DER ECDSA; PSS with digest-length and maximum salt)', () => {
    const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('../fixtures/key-types/vectors.json', import.meta.url)), 'utf8')) as {
      message: string;
      vectors: Array<{ scheme: string; keytype: string; public: string; sig: string }>;
    };
    const message = new TextEncoder().encode(fixture.message);
    expect(fixture.vectors.map((v) => v.scheme)).toEqual(['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'rsassa-pss-sha256', 'rsassa-pss-sha256']);
    for (const v of fixture.vectors) {
      const key = PublicKey.fromTuf({ keytype: v.keytype, scheme: v.scheme, keyval: { public: v.public } });
      expect(key.verify(message, v.sig, nodeBackend)).toBe(true);
      expect(key.verify(message, flipHexBit(v.sig, 20), nodeBackend)).toBe(false);
    }
  });

  it('python-tuf\'s legacy keytype "ecdsa-sha2-nistp256" reads as the same key as keytype "ecdsa"', () => {
    const tuf = keys['ecdsa-p256'].publicKey.tuf;
    const legacy = PublicKey.fromTuf({ ...tuf, keytype: 'ecdsa-sha2-nistp256' });
    expect(legacy.verify(MESSAGE, keys['ecdsa-p256'].sign(MESSAGE), nodeBackend)).toBe(true);
    expect(legacy.sameKeyAs(keys['ecdsa-p256'].publicKey)).toBe(true);
    // The legacy form exists for P-256 only, as in python-tuf.
    expect(thrownBy(() => PublicKey.fromTuf({ ...keys['ecdsa-p384'].publicKey.tuf, keytype: 'ecdsa-sha2-nistp256' }))).toBeInstanceOf(MalformedKeyError);
  });
});

describe('malformed, mismatched and weak keys are typed errors', () => {
  const p256 = keys['ecdsa-p256'].publicKey.tuf.keyval.public;

  function expectKeyError(tuf: TufKey, errorClass: typeof MalformedKeyError | typeof WeakKeyError, code: string, text?: RegExp): void {
    const err = thrownBy(() => PublicKey.fromTuf(tuf));
    expect(err).toBeInstanceOf(errorClass);
    expect(err.code).toBe(code);
    expect(err.kind).toBe('attack');
    if (text !== undefined) expect(err.message).toMatch(text);
  }

  it('a P-256 key under scheme ecdsa-sha2-nistp384 (and the reverse) is mismatched', () => {
    expectKeyError({ keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp384', keyval: { public: p256 } }, MalformedKeyError, 'malformed_key', /P-384/);
    const p384 = keys['ecdsa-p384'].publicKey.tuf.keyval.public;
    expectKeyError({ keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: p384 } }, MalformedKeyError, 'malformed_key', /P-256/);
  });

  it('an RSA key under an ECDSA scheme, an EC key under RSA-PSS, an Ed25519 SPKI under either, are mismatched', () => {
    const rsa = keys['rsa-3072'].publicKey.tuf.keyval.public;
    expectKeyError({ keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: rsa } }, MalformedKeyError, 'malformed_key', /needs an EC key/);
    expectKeyError({ keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: p256 } }, MalformedKeyError, 'malformed_key', /needs an RSA key/);
    const ed = keys.ed25519.publicKey.toPem();
    expectKeyError({ keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: ed } }, MalformedKeyError, 'malformed_key');
    expectKeyError({ keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: ed } }, MalformedKeyError, 'malformed_key');
  });

  it('a keytype that does not go with a known scheme is mismatched, whatever the key', () => {
    expectKeyError({ keytype: 'rsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: p256 } }, MalformedKeyError, 'malformed_key', /does not go with/);
    expectKeyError({ keytype: 'ecdsa', scheme: 'ed25519', keyval: { public: keys.ed25519.publicKey.tuf.keyval.public } }, MalformedKeyError, 'malformed_key');
  });

  it('an RSA modulus under 2048 bits is weak; 2048 is enough', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expectKeyError({ keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: spkiPem(small) } }, WeakKeyError, 'weak_key', /1024 bits is too small/);
    const ok = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    expect(PublicKey.fromTuf({ keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: spkiPem(ok) } }).scheme).toBe('rsassa-pss-sha256');
  });

  it('an RSA public exponent of 1 (every signature forgeable) is weak', () => {
    const jwk = keys['rsa-3072'].publicKey.toPem();
    const n = createPublicKey(jwk).export({ format: 'jwk' }).n!;
    let pem: string;
    try {
      pem = spkiPem(createPublicKey({ key: { kty: 'RSA', n, e: 'AQ' }, format: 'jwk' }));
    } catch {
      return; // OpenSSL refused to build such a key at all: nothing to feed the check
    }
    expectKeyError({ keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: pem } }, WeakKeyError, 'weak_key', /exponent/);
  });

  it('an EC point off its curve is malformed', () => {
    const der = Buffer.from(createPublicKey(p256).export({ format: 'der', type: 'spki' }));
    der[der.length - 1]! ^= 0x01; // y no longer satisfies the curve equation
    const pem = `-----BEGIN PUBLIC KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PUBLIC KEY-----\n`;
    expectKeyError({ keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: pem } }, MalformedKeyError, 'malformed_key', /not on its curve/);
  });

  it('a PEM holding a private key, a certificate-like block, garbage, trailing data or a one-line body is malformed', () => {
    const privatePem = keys['ecdsa-p256'].toPem();
    const der = Buffer.from(createPublicKey(p256).export({ format: 'der', type: 'spki' }));
    const wrap = (bytes: Buffer, label = 'PUBLIC KEY') =>
      `-----BEGIN ${label}-----\n${bytes.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END ${label}-----\n`;
    for (const pem of [
      privatePem, // node would derive the public half; metadata must never carry a private key
      wrap(der, 'CERTIFICATE'),
      wrap(Buffer.concat([der, Buffer.from([0])])), // OpenSSL ignores trailing bytes; we do not
      wrap(Buffer.from('not a key at all')),
      'garbage',
      '',
      p256.replace(/\n(?!-----END)/g, ''), // the body on one line
      `${p256}${p256}`, // two blocks
      `junk\n${p256}`,
    ]) {
      expectKeyError({ keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: pem } }, MalformedKeyError, 'malformed_key');
    }
  });

  it('schemes this project does not know are UnsupportedKeyError (listed in metadata, never counted)', () => {
    for (const scheme of ['ecdsa-sha2-nistp521', 'rsa-pkcs1v15-sha256', 'rsassa-pss-sha384']) {
      expect(thrownBy(() => PublicKey.fromTuf({ keytype: 'rsa', scheme, keyval: { public: p256 } }))).toBeInstanceOf(UnsupportedKeyError);
    }
  });

  it('private key files: P-256, P-384 and RSA PKCS#8 (also encrypted) sign; a weak RSA or secp256k1 file is a KeyFileError', () => {
    for (const type of ['ecdsa-p256', 'ecdsa-p384', 'rsa-3072'] as const) {
      for (const passphrase of [undefined, 'correct horse']) {
        const read = PrivateKey.fromPem(keys[type].toPem(passphrase), passphrase);
        expect(read.publicKey.sameKeyAs(keys[type].publicKey)).toBe(true);
        expect(read.keyid === keys[type].keyid || read.publicKey.tuf.keyval.public === keys[type].publicKey.tuf.keyval.public).toBe(true);
        expect(keys[type].publicKey.verify(MESSAGE, read.sign(MESSAGE), nodeBackend)).toBe(true);
      }
    }
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const err = thrownBy(() => PrivateKey.fromPem(weak));
    expect(err).toBeInstanceOf(KeyFileError);
    expect(err.message).toMatch(/too small/);
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(thrownBy(() => PrivateKey.fromPem(k1))).toBeInstanceOf(KeyFileError);
  });
});

// ---------------------------------------------------------------------------------------------
// Metadata: keys in root, thresholds across key types, the keyid rule.

interface Named {
  readonly keyid: string;
  readonly tuf: TufKey;
  readonly key: PrivateKey;
}

function named(key: PrivateKey, keyid = key.keyid, tuf: TufKey = key.publicKey.tuf): Named {
  return { keyid, tuf, key };
}

type RoleSpec = { readonly keys: readonly Named[]; readonly threshold: number };

function rootWith(roles: Record<TopLevelRole, RoleSpec>, version = 1): Record<string, unknown> {
  const keyTable: Record<string, TufKey> = {};
  for (const spec of Object.values(roles)) for (const k of spec.keys) keyTable[k.keyid] = k.tuf;
  return {
    _type: 'root',
    spec_version: '1.0.31',
    version,
    expires: EXPIRES,
    consistent_snapshot: true,
    keys: keyTable,
    roles: Object.fromEntries(
      Object.entries(roles).map(([role, spec]) => [role, { keyids: spec.keys.map((k) => k.keyid), threshold: spec.threshold }]),
    ),
  };
}

/** Files are plain JSON (a PEM's line breaks escaped); signatures cover the canonical form of `signed`. */
function fileOf(signed: object, signatures: readonly Signature[]): Uint8Array {
  return Buffer.from(JSON.stringify({ signed, signatures }));
}

function envelope(signed: object, signers: readonly Named[], extra: readonly Signature[] = []): Uint8Array {
  const bytes = canonicalBytes(signed);
  return fileOf(signed, [...signers.map((s) => ({ keyid: s.keyid, sig: s.key.sign(bytes) })), ...extra]);
}

const ed = named(PrivateKey.fromLabel('key-types/ed25519'));
const p256 = named(keys['ecdsa-p256']);
const p384 = named(keys['ecdsa-p384']);
const rsa = named(keys['rsa-3072']);

function simpleRoles(rootSpec: RoleSpec, others: readonly Named[] = [ed]): Record<TopLevelRole, RoleSpec> {
  return { root: rootSpec, timestamp: { keys: others, threshold: 1 }, snapshot: { keys: others, threshold: 1 }, targets: { keys: others, threshold: 1 } };
}

describe('ECDSA and RSA keys in metadata (PEM keyval.public)', () => {
  it('a whole repository whose every role is signed by ECDSA P-256, P-384 and RSA keys verifies through the TrustedMetadataSet', () => {
    const roles: Record<TopLevelRole, RoleSpec> = {
      root: { keys: [p256], threshold: 1 },
      timestamp: { keys: [p384], threshold: 1 },
      snapshot: { keys: [rsa], threshold: 1 },
      targets: { keys: [p256], threshold: 1 },
    };
    const root = rootWith(roles);
    const set = new TrustedMetadataSet(envelope(root, [p256]), NOW, { repository: 'image' });
    const targets = envelope({ _type: 'targets', spec_version: '1.0.31', version: 1, expires: EXPIRES, targets: {} }, [p256]);
    const snapshot = envelope({ _type: 'snapshot', spec_version: '1.0.31', version: 1, expires: EXPIRES, meta: { 'targets.json': { version: 1 } } }, [rsa]);
    const timestamp = envelope({ _type: 'timestamp', spec_version: '1.0.31', version: 1, expires: EXPIRES, meta: { 'snapshot.json': { version: 1 } } }, [p384]);
    set.updateTimestamp(timestamp);
    set.updateSnapshot(snapshot);
    expect(set.updateTargets(targets).signed.version).toBe(1);

    // Root v2 signed by the old ECDSA root key and a new RSA root key (#check_root 2.3, 2.4).
    const v2 = rootWith({ ...roles, root: { keys: [rsa], threshold: 1 } }, 2);
    const fresh = new TrustedMetadataSet(envelope(root, [p256]), NOW, { repository: 'image' });
    expect(fresh.updateRoot(envelope(v2, [p256, rsa])).signed.version).toBe(2);
    // Signed by the new key alone it is refused: the old root's ECDSA key did not sign.
    const again = new TrustedMetadataSet(envelope(root, [p256]), NOW, { repository: 'image' });
    expect(() => again.updateRoot(envelope(v2, [rsa]))).toThrow(UnmetThresholdError);
  });

  it('the project signs a root listing PEM keys and a custom string with a newline: served bytes parse, signatures verify', () => {
    // signMetadata checks what it signs by parsing its wire form; the canonical text itself holds raw
    // newlines (OLPC form), which no JSON parser reads, so checking that text refused every PEM key.
    const roles: Record<TopLevelRole, RoleSpec> = {
      root: { keys: [p256, rsa], threshold: 2 },
      timestamp: { keys: [p384], threshold: 1 },
      snapshot: { keys: [ed], threshold: 1 },
      targets: { keys: [p256], threshold: 1 },
    };
    const signed = { ...rootWith(roles), custom: { note: 'line one\nline two' } } as unknown as RootSigned;
    const served = serializeMetadata(signMetadata(signed, [p256.key, rsa.key]));
    expect(served.includes(Buffer.from('\n'))).toBe(false); // escaped on the wire, so the file parses
    const set = new TrustedMetadataSet(served, NOW, { repository: 'image' });
    expect(set.root.signed.version).toBe(1);
    expect(validSigners(set.root.signedBytes, set.root.signatures, { keys: set.root.signed.keys, keyids: set.root.signed.roles.root.keyids, threshold: 2 }, nodeBackend)).toHaveLength(2);
  });

  it('a timestamp whose ECDSA signature has a flipped bit, or is by another P-256 key, is refused', () => {
    const root = rootWith(simpleRoles({ keys: [ed], threshold: 1 }, [p256]));
    const timestampSigned = { _type: 'timestamp', spec_version: '1.0.31', version: 1, expires: EXPIRES, meta: { 'snapshot.json': { version: 1 } } };
    const sig = p256.key.sign(canonicalBytes(timestampSigned));
    for (const bad of [flipHexBit(sig), PrivateKey.generate('ecdsa-p256').sign(canonicalBytes(timestampSigned))]) {
      const set = new TrustedMetadataSet(envelope(root, [ed]), NOW, { repository: 'director' });
      expect(() => set.updateTimestamp(fileOf(timestampSigned, [{ keyid: p256.keyid, sig: bad }]))).toThrow(UnmetThresholdError);
    }
  });

  it('a root listing a malformed, mismatched or weak key of a known scheme is refused at parse, naming the key', () => {
    const weak = spkiPem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
    const cases: Array<[TufKey, string]> = [
      [{ keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: weak } }, 'weak_key'],
      [{ keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp384', keyval: { public: p256.tuf.keyval.public } }, 'malformed_key'],
      [{ keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: p256.key.toPem() } }, 'malformed_key'],
    ];
    for (const [tuf, code] of cases) {
      const root = rootWith(simpleRoles({ keys: [ed, named(ed.key, 'the-bad-key', tuf)], threshold: 1 }));
      const err = thrownBy(() => parseMetadata(envelope(root, [ed]), 'root', { repository: 'image' }));
      expect(err.code).toBe(code);
      expect(err.kind).toBe('attack');
      expect(err.repository).toBe('image');
      expect(err.message).toContain('signed.keys.the-bad-key');
    }
  });
});

describe('thresholds count distinct key material, across key types', () => {
  const mixed = simpleRoles({ keys: [ed, p256, rsa], threshold: 3 });

  it('Ed25519 + ECDSA + RSA keys in one role: three of three verify; two of three do not', () => {
    const root = rootWith(mixed);
    expect(new TrustedMetadataSet(envelope(root, [ed, p256, rsa]), NOW, { repository: 'image' }).root.signed.version).toBe(1);
    for (const two of [[ed, p256], [p256, rsa], [ed, rsa]]) {
      expect(() => new TrustedMetadataSet(envelope(root, two), NOW, { repository: 'image' })).toThrow(UnmetThresholdError);
    }
    // A bad third signature does not count either.
    const bytes = canonicalBytes(root);
    const badRsa = { keyid: rsa.keyid, sig: flipHexBit(rsa.key.sign(bytes)) };
    expect(() => new TrustedMetadataSet(envelope(root, [ed, p256], [badRsa]), NOW, { repository: 'image' })).toThrow(UnmetThresholdError);
  });

  it('one ECDSA key under two keyids (keytype "ecdsa" and the legacy "ecdsa-sha2-nistp256") counts once', () => {
    const alias = named(p256.key, 'legacy-name', { ...p256.tuf, keytype: 'ecdsa-sha2-nistp256' });
    const root = rootWith(simpleRoles({ keys: [ed, p256, alias], threshold: 2 }));
    const err = thrownBy(() => new TrustedMetadataSet(envelope(root, [p256, alias]), NOW, { repository: 'image' }));
    expect(err).toBeInstanceOf(UnmetThresholdError);
    expect(err.message).toContain('1 valid signature(s) from distinct authorized keys; 2 required');
    expect(new TrustedMetadataSet(envelope(root, [p256, ed]), NOW, { repository: 'image' }).root).toBeDefined();
  });

  it('one EC key written with a compressed and an uncompressed point counts once', () => {
    const jwk = createPublicKey(p256.tuf.keyval.public).export({ format: 'jwk' });
    const x = Buffer.from(jwk.x!, 'base64url');
    const y = Buffer.from(jwk.y!, 'base64url');
    const compressed = Buffer.concat([Buffer.from([2 + (y[y.length - 1]! & 1)]), x]);
    const der = Buffer.concat([Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'), compressed]);
    const pem = `-----BEGIN PUBLIC KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PUBLIC KEY-----\n`;
    const compressedKey = PublicKey.fromTuf({ ...p256.tuf, keyval: { public: pem } });
    expect(compressedKey.verify(MESSAGE, p256.key.sign(MESSAGE), nodeBackend)).toBe(true);
    expect(compressedKey.sameKeyAs(p256.key.publicKey)).toBe(true);
    const alias = named(p256.key, 'compressed', { ...p256.tuf, keyval: { public: pem } });
    const authority = { keys: { [p256.keyid]: p256.tuf, compressed: alias.tuf }, keyids: [p256.keyid, 'compressed'], threshold: 2 };
    const bytes = canonicalBytes({ any: 'thing' });
    const sigs = [p256, alias].map((s) => ({ keyid: s.keyid, sig: s.key.sign(bytes) }));
    expect(validSigners(bytes, sigs, authority, nodeBackend)).toHaveLength(1);
  });

  it('keys of different types never count as one, and an Ed25519 key is never the same as a PEM key', () => {
    for (const [a, b] of [[ed, p256], [p256, p384], [p384, rsa], [rsa, ed]] as const) {
      expect(a.key.publicKey.sameKeyAs(b.key.publicKey)).toBe(false);
    }
  });
});

describe('the keyid rule: a keyid is a name in its key table (docs/decisions.md Cryptography)', () => {
  it('a keyid that is not the SHA-256 of its key verifies, under that name', () => {
    const odd = named(p256.key, 'b3f2a1 not a digest');
    const edOdd = named(ed.key, 'A'.repeat(64));
    const root = rootWith(simpleRoles({ keys: [odd, edOdd], threshold: 2 }));
    expect(new TrustedMetadataSet(envelope(root, [odd, edOdd]), NOW, { repository: 'image' }).root.signed.keys).toHaveProperty(['b3f2a1 not a digest']);
  });

  it('the same signatures filed under the computed keyids do not count: keyids are compared exactly, not recomputed', () => {
    const odd = named(p256.key, 'b3f2a1 not a digest');
    const root = rootWith(simpleRoles({ keys: [odd], threshold: 1 }));
    const bytes = canonicalBytes(root);
    for (const keyid of [p256.keyid, 'B3F2A1 NOT A DIGEST', 'b3f2a1 not a digest ', 'b3f2a1']) {
      const signed = fileOf(root, [{ keyid, sig: p256.key.sign(bytes) }]);
      expect(() => new TrustedMetadataSet(signed, NOW, { repository: 'image' })).toThrow(UnmetThresholdError);
    }
  });

  it('one Ed25519 key under two names still counts once (A6)', () => {
    const second = named(ed.key, 'second-name');
    const root = rootWith(simpleRoles({ keys: [ed, second], threshold: 2 }));
    expect(() => new TrustedMetadataSet(envelope(root, [ed, second]), NOW, { repository: 'image' })).toThrow(UnmetThresholdError);
  });

  it('a foreign key filed under an authorized name does not count (A8)', () => {
    const root = rootWith(simpleRoles({ keys: [named(p256.key, 'root-key')], threshold: 1 }));
    const impostor = named(PrivateKey.generate('ecdsa-p256'), 'root-key');
    expect(() => new TrustedMetadataSet(envelope(root, [impostor]), NOW, { repository: 'image' })).toThrow(UnmetThresholdError);
  });
});
