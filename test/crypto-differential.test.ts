// Differential test of the two Ed25519 backends (docs/decisions.md Cryptography): the same valid
// and malformed signatures go through verifyEd25519 with node:crypto (OpenSSL, cofactorless) and
// with @noble/ed25519 (strict, cofactored), and both must give the same, expected verdict. The edge
// cases are the ones where Ed25519 implementations are known to disagree: non-canonical S,
// small-order and non-canonical public keys, and mixed-order public keys and R points
// (docs/threat-model.md A9, A12).
import { createHash, createPublicKey, verify as nodeCryptoVerify } from 'node:crypto';
import * as noble from '@noble/ed25519';
import {
  type Ed25519Backend,
  importPublicKey,
  nobleBackend,
  nodeBackend,
  publicKeyFromSeed,
  verifyEd25519,
} from '../shared/core/crypto/ed25519.js';
import { PrivateKey, PublicKey } from '../shared/core/crypto/keys.js';

const { Point } = noble;
const L = Point.CURVE().n;
const BACKENDS: readonly Ed25519Backend[] = [nodeBackend, nobleBackend];

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const unhex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'));
const utf8 = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'utf8'));

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

function leToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function bigIntToLe32(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let rest = n;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  if (rest !== 0n) throw new Error('scalar does not fit in 32 bytes');
  return out;
}

/** SHA-512 of the parts, read little-endian and reduced mod L, as RFC 8032 does for k and r. */
function hashModL(...parts: Uint8Array[]): bigint {
  return leToBigInt(Uint8Array.from(createHash('sha512').update(concat(...parts)).digest())) % L;
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

/** Both backends' verdicts, so a disagreement shows up in the assertion message. */
function verdicts(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): { node: boolean; noble: boolean } {
  return {
    node: verifyEd25519(nodeBackend, publicKey, message, signature),
    noble: verifyEd25519(nobleBackend, publicKey, message, signature),
  };
}

function expectVerdict(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, expected: boolean): void {
  expect(verdicts(publicKey, message, signature)).toEqual({ node: expected, noble: expected });
}

/** OpenSSL alone, without the shared edge checks: the premise the edge checks are there for. */
function rawOpenSslVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
  return nodeCryptoVerify(null, message, key, signature);
}

/** [L]P: zero for points in the prime-order subgroup, P's torsion component (times L) otherwise. */
function timesL(p: noble.Point): noble.Point {
  return p.multiply(L / 2n, false).double().add(p);
}

/** An order-8 point, found without reference to the base point: [L]P for the first suitable P. */
function findOrder8Point(): noble.Point {
  for (let y = 2n; y < 1000n; y++) {
    let p: noble.Point;
    try {
      p = Point.fromBytes(bigIntToLe32(y), false);
    } catch {
      continue; // y is not the coordinate of a curve point
    }
    const t = timesL(p);
    if (!t.double().double().is0()) return t;
  }
  throw new Error('no order-8 point found');
}

const T8 = findOrder8Point();
/** The 8-torsion subgroup: [i]T8 for i = 0..7. */
const TORSION: noble.Point[] = [Point.ZERO];
for (let i = 1; i < 8; i++) TORSION.push(TORSION[i - 1]!.add(T8));

/** Signs with an explicit scalar and nonce, hashing the given R and A encodings (RFC 8032 5.1.6). */
function signRaw(opts: { scalar: bigint; nonce: bigint; rBytes: Uint8Array; aBytes: Uint8Array; message: Uint8Array }): Uint8Array {
  const k = hashModL(opts.rBytes, opts.aBytes, opts.message);
  const s = (opts.nonce + k * opts.scalar) % L;
  return concat(opts.rBytes, bigIntToLe32(s));
}

const SEED = unhex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const SIGNER = PrivateKey.fromSeed(SEED);
const PUB = SIGNER.publicKey.bytes;
const MESSAGE = utf8('{"signed":{"_type":"timestamp","version":1}}');
const SIG = unhex(SIGNER.sign(MESSAGE, nodeBackend));

describe('both backends sign the same bytes', () => {
  // RFC 8032 section 7.1, TEST 1 and TEST 2.
  it.each([
    {
      name: 'TEST 1 (empty message)',
      seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
      publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
      message: '',
      signature:
        'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    },
    {
      name: 'TEST 2 (one byte 0x72)',
      seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
      publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
      message: '72',
      signature:
        '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    },
  ])('RFC 8032 $name', (vector) => {
    const seed = unhex(vector.seed);
    const message = unhex(vector.message);
    expect(hex(publicKeyFromSeed(seed))).toBe(vector.publicKey);
    expect(hex(PrivateKey.fromSeed(seed).publicKey.bytes)).toBe(vector.publicKey);
    for (const backend of BACKENDS) {
      expect({ backend: backend.name, sig: hex(backend.sign(seed, message)) }).toEqual({ backend: backend.name, sig: vector.signature });
      expect(PrivateKey.fromSeed(seed).sign(message, backend)).toBe(vector.signature);
    }
    expectVerdict(unhex(vector.publicKey), message, unhex(vector.signature), true);
    expectVerdict(unhex(vector.publicKey), concat(message, Uint8Array.of(0)), unhex(vector.signature), false);
  });

  it('gives identical signatures for several keys and messages', () => {
    for (const label of ['director-root-1', 'image-targets-1', 'ecu-7']) {
      const key = PrivateKey.fromLabel(label);
      for (const message of [new Uint8Array(0), Uint8Array.of(0), utf8('x'.repeat(1000))]) {
        const viaNode = key.sign(message, nodeBackend);
        expect(key.sign(message, nobleBackend)).toBe(viaNode);
        expect(viaNode).toMatch(/^[0-9a-f]{128}$/);
        expectVerdict(key.publicKey.bytes, message, unhex(viaNode), true);
      }
    }
  });
});

describe('valid and malformed signatures get the same verdict from both backends', () => {
  it('accepts a valid signature', () => {
    expectVerdict(PUB, MESSAGE, SIG, true);
  });

  it.each([0, 31, 63, 65, 128])('rejects a signature of %i bytes', (length) => {
    const sig = new Uint8Array(length);
    sig.set(SIG.subarray(0, Math.min(length, 64)));
    if (length > 64) sig.set(SIG.subarray(0, length - 64), 64);
    expectVerdict(PUB, MESSAGE, sig, false);
  });

  it('rejects all 512 single-bit flips of the signature', () => {
    const disagreements: string[] = [];
    let accepted = 0;
    for (let bit = 0; bit < 512; bit++) {
      const v = verdicts(PUB, MESSAGE, flipBit(SIG, bit));
      if (v.node !== v.noble) disagreements.push(`bit ${bit}: node=${v.node} noble=${v.noble}`);
      if (v.node || v.noble) accepted++;
    }
    expect(disagreements).toEqual([]);
    expect(accepted).toBe(0);
  });

  it.each([0, 7, 100, 8 * MESSAGE.length - 1])('rejects a flip of message bit %i', (bit) => {
    expectVerdict(PUB, flipBit(MESSAGE, bit), SIG, false);
  });

  it('rejects a truncated or extended message', () => {
    expectVerdict(PUB, MESSAGE.subarray(0, MESSAGE.length - 1), SIG, false);
    expectVerdict(PUB, concat(MESSAGE, utf8(' ')), SIG, false);
  });

  it.each([0, 1, 100, 200, 254, 255])('rejects a flip of public key bit %i', (bit) => {
    expectVerdict(flipBit(PUB, bit), MESSAGE, SIG, false);
  });

  it.each([0, 31, 33, 64])('rejects a public key of %i bytes', (length) => {
    const key = new Uint8Array(length);
    key.set(PUB.subarray(0, Math.min(length, 32)));
    expectVerdict(key, MESSAGE, SIG, false);
  });

  it('rejects a signature by another key', () => {
    const other = PrivateKey.fromLabel('someone else');
    expectVerdict(PUB, MESSAGE, unhex(other.sign(MESSAGE)), false);
    expectVerdict(other.publicKey.bytes, MESSAGE, SIG, false);
  });

  it('rejects non-canonical S = S + L, which OpenSSL and strict noble both refuse on their own too', () => {
    const s = leToBigInt(SIG.subarray(32));
    const malleated = concat(SIG.subarray(0, 32), bigIntToLe32(s + L));
    expectVerdict(PUB, MESSAGE, malleated, false);
    // Without the shared S < L check, each library still refuses it.
    expect(rawOpenSslVerify(PUB, MESSAGE, malleated)).toBe(false);
    expect(noble.verify(malleated, MESSAGE, PUB, { zip215: false })).toBe(false);
    const key = importPublicKey(PUB);
    expect(key).not.toBeNull();
    for (const backend of BACKENDS) expect(backend.verifyChecked(key!, MESSAGE, malleated)).toBe(false);
  });

  it.each([
    ['S = L', L],
    ['S = L + 1', L + 1n],
    ['S = 2^256 - 1', 2n ** 256n - 1n],
    ['S = L - 1', L - 1n],
  ])('rejects %s', (_name, s) => {
    expectVerdict(PUB, MESSAGE, concat(SIG.subarray(0, 32), bigIntToLe32(s)), false);
  });

  it('rejects S = 0 with R = identity, and the all-zero signature', () => {
    const identity = Point.ZERO.toBytes();
    expect(hex(identity)).toBe('01' + '00'.repeat(31));
    expectVerdict(PUB, MESSAGE, concat(identity, new Uint8Array(32)), false);
    expectVerdict(PUB, new Uint8Array(0), concat(identity, new Uint8Array(32)), false);
    expectVerdict(PUB, MESSAGE, new Uint8Array(64), false);
  });
});

describe('small-order public keys', () => {
  // The eight points of the 8-torsion subgroup, as listed in "Taming the many EdDSAs" (Chalkias et
  // al., 2020) and libsodium's blocklist; derived here from the point found above.
  const CANONICAL_SMALL_ORDER = [
    '0100000000000000000000000000000000000000000000000000000000000000', // identity
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2
    '0000000000000000000000000000000000000000000000000000000000000000', // order 4
    '0000000000000000000000000000000000000000000000000000000000000080', // order 4
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  ];
  // Non-canonical encodings of small-order points: y >= p (y = p is y = 0, y = p + 1 is y = 1) and
  // x = 0 with the sign bit set.
  const NON_CANONICAL_SMALL_ORDER = [
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p: order 4
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // y = p, sign bit: order 4
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1: identity
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // y = p + 1, sign bit: identity
    '0100000000000000000000000000000000000000000000000000000000000080', // identity, x = 0 with sign bit
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // order 2, x = 0 with sign bit
  ];

  it('derives exactly the 8 known torsion encodings', () => {
    expect(TORSION.map((p) => hex(p.toBytes())).sort()).toEqual([...CANONICAL_SMALL_ORDER].sort());
    for (const p of TORSION) expect(p.isSmallOrder()).toBe(true);
    expect(TORSION.filter((p) => !p.double().double().is0())).toHaveLength(4); // four of order 8
  });

  it('the non-canonical encodings decode (leniently) to small-order points', () => {
    for (const encoding of NON_CANONICAL_SMALL_ORDER) {
      expect(Point.fromBytes(unhex(encoding), true).isSmallOrder()).toBe(true);
      expect(() => Point.fromBytes(unhex(encoding), false)).toThrow();
    }
  });

  it.each([...CANONICAL_SMALL_ORDER, ...NON_CANONICAL_SMALL_ORDER])('rejects public key %s', (encoding) => {
    const publicKey = unhex(encoding);
    // R = identity, S = 0 satisfies the cofactored equation [8]SB = [8]R + [8]kA for every message
    // when A has small order: a forgery under a permissive (ZIP-215) verifier.
    const forged = concat(Point.ZERO.toBytes(), new Uint8Array(32));
    for (const message of [MESSAGE, new Uint8Array(0)]) {
      expect(noble.verify(forged, message, publicKey)).toBe(true); // the premise: ZIP-215 accepts it
      expectVerdict(publicKey, message, forged, false);
    }
    // R = the key itself, S = 0 also verifies cofactored; and a real signature never does.
    expectVerdict(publicKey, MESSAGE, concat(publicKey, new Uint8Array(32)), false);
    expectVerdict(publicKey, MESSAGE, SIG, false);
    expect(importPublicKey(publicKey)).toBeNull();
  });
});

describe('mixed-order points (prime-order point plus an 8-torsion component)', () => {
  const ext = noble.utils.getExtendedPublicKey(SEED);
  const A = ext.point;

  it('the raw signing helper reproduces a normal signature', () => {
    // With no torsion component, signRaw with the RFC 8032 nonce is ordinary Ed25519.
    const nonce = hashModL(ext.prefix, MESSAGE);
    const rBytes = Point.BASE.multiply(nonce).toBytes();
    expect(hex(signRaw({ scalar: ext.scalar, nonce, rBytes, aBytes: A.toBytes(), message: MESSAGE }))).toBe(hex(SIG));
    expect(hex(A.toBytes())).toBe(hex(PUB));
  });

  /** A signature by the secret scalar under the mixed-order key A' = A + T8, for `message`. */
  function signUnderMixedKey(message: Uint8Array): { mixedKey: Uint8Array; sig: Uint8Array; kMod8: bigint } {
    const mixedKey = A.add(T8).toBytes();
    const nonce = hashModL(ext.prefix, message);
    const rBytes = Point.BASE.multiply(nonce).toBytes();
    const sig = signRaw({ scalar: ext.scalar, nonce, rBytes, aBytes: mixedKey, message });
    return { mixedKey, sig, kMod8: hashModL(rBytes, mixedKey, message) % 8n };
  }

  /** The first message "prefix-i" whose challenge k satisfies the predicate. */
  function findMessage(prefix: string, wanted: (kMod8: bigint) => boolean): Uint8Array {
    for (let i = 0; i < 1000; i++) {
      const message = utf8(`${prefix}-${i}`);
      if (wanted(signUnderMixedKey(message).kMod8)) return message;
    }
    throw new Error('no suitable message');
  }

  it('the mixed-order key is a valid point outside the prime-order subgroup', () => {
    const mixed = Point.fromBytes(A.add(T8).toBytes(), false);
    expect(mixed.isSmallOrder()).toBe(false);
    expect(mixed.isTorsionFree()).toBe(false);
    expect(importPublicKey(A.add(T8).toBytes())).toBeNull();
  });

  it('key A + T with k not divisible by 8: OpenSSL and cofactored checks disagree; both backends reject', () => {
    const message = findMessage('mixed key, k mod 8 != 0', (k) => k !== 0n);
    const { mixedKey, sig } = signUnderMixedKey(message);
    // The premise: SB - kA' = R - kT != R, so cofactorless OpenSSL rejects, while the cofactored
    // equation ignores T and strict noble (which only refuses small-order keys) accepts.
    expect(rawOpenSslVerify(mixedKey, message, sig)).toBe(false);
    expect(noble.verify(sig, message, mixedKey, { zip215: false })).toBe(true);
    expectVerdict(mixedKey, message, sig, false);
  });

  it('key A + T with k divisible by 8: even OpenSSL alone accepts; both backends reject', () => {
    const message = findMessage('mixed key, k mod 8 == 0', (k) => k === 0n);
    const { mixedKey, sig } = signUnderMixedKey(message);
    expect(rawOpenSslVerify(mixedKey, message, sig)).toBe(true);
    expect(noble.verify(sig, message, mixedKey, { zip215: false })).toBe(true);
    expectVerdict(mixedKey, message, sig, false);
  });

  it.each([1, 2, 4, 7])('R + [%i]T with S recomputed for the new challenge: both backends reject', (multiple) => {
    const torsion = TORSION[multiple]!;
    const nonce = hashModL(ext.prefix, MESSAGE);
    const mixedR = Point.BASE.multiply(nonce).add(torsion).toBytes();
    const sig = signRaw({ scalar: ext.scalar, nonce, rBytes: mixedR, aBytes: PUB, message: MESSAGE });
    // The premise: cofactorless OpenSSL gets SB - k'A = R != R' and rejects; the cofactored equation
    // alone (noble strict) accepts, which is why the noble backend also demands a torsion-free R.
    expect(rawOpenSslVerify(PUB, MESSAGE, sig)).toBe(false);
    expect(noble.verify(sig, MESSAGE, PUB, { zip215: false })).toBe(true);
    expectVerdict(PUB, MESSAGE, sig, false);
  });
});

describe('PublicKey.verify with malformed signature strings', () => {
  const key = PublicKey.fromBytes(PUB);
  const good = hex(SIG);

  it('accepts the well-formed lowercase hex signature on both backends', () => {
    for (const backend of BACKENDS) expect(key.verify(MESSAGE, good, backend)).toBe(true);
  });

  it.each([
    ['upper case hex', good.toUpperCase()],
    ['mixed case hex', good.slice(0, 64) + good.slice(64).toUpperCase()],
    ['odd length (one character short)', good.slice(0, 127)],
    ['odd length (one character extra)', `${good}0`],
    ['one byte extra', `${good}00`],
    ['one byte short', good.slice(0, 126)],
    ['empty', ''],
    ['non-hex characters', `zz${good.slice(2)}`],
    ['0x prefix', `0x${good.slice(2)}`],
    ['trailing newline', `${good.slice(0, 127)}\n`],
    ['leading space', ` ${good.slice(1)}`],
    ['base64 of the signature', Buffer.from(SIG).toString('base64')],
    ['non-ASCII digits', `${good.slice(0, 126)}٠٠`],
  ])('returns false, without throwing, for %s', (_name, sigHex) => {
    for (const backend of BACKENDS) {
      let result: boolean | undefined;
      expect(() => {
        result = key.verify(MESSAGE, sigHex, backend);
      }).not.toThrow();
      expect(result).toBe(false);
    }
  });
});
