// Ed25519 behind one interface, with two interchangeable backends: node:crypto (OpenSSL; fast, used
// by the servers) and @noble/ed25519 (pure JS, self-contained like firmware crypto; the ECU default).
//
// Both must give the same verdict on every input, or an attacker could craft a signature that one
// side of the system accepts and the other rejects. The backends differ at the edges (OpenSSL checks
// the cofactorless equation, noble's strict mode the cofactored one, and they treat small-order and
// mixed-order points differently), so the edges are decided here, once, for both:
//  - a public key must be a canonical encoding of a point in the prime-order subgroup (checked once
//    per key, when it is imported);
//  - a signature must be 64 bytes with S < L (checked on every call);
//  - the noble backend additionally requires R to be torsion-free, which makes its cofactored check
//    equal to OpenSSL's cofactorless one.
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import * as noble from '@noble/ed25519';

// noble needs a synchronous SHA-512; node:crypto provides it.
noble.hashes.sha512 = (message: Uint8Array) => new Uint8Array(createHash('sha512').update(message).digest());

export const PUBLIC_KEY_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;
export const SEED_LENGTH = 32;

/** The order L of the Ed25519 base point as 32 little-endian bytes, for the S < L check. */
const GROUP_ORDER_LE = Buffer.from((2n ** 252n + 27742317777372353535851937790883648493n).toString(16).padStart(64, '0'), 'hex').reverse();

export type BackendName = 'node' | 'noble';

/**
 * A verified Ed25519 public key: canonical encoding, in the prime-order subgroup. Only
 * `importPublicKey` makes these, so holding one means the edge checks have passed.
 */
export interface Ed25519PublicKey {
  readonly bytes: Uint8Array;
  /** Lazily created OpenSSL key object, cached with the key. */
  nodeKey?: KeyObject;
}

export interface Ed25519Backend {
  readonly name: BackendName;
  /** Signature bytes for `message` under the private key with this 32-byte seed. */
  sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /** The backend's own check, called only after the shared edge checks passed. */
  verifyChecked(publicKey: Ed25519PublicKey, message: Uint8Array, signature: Uint8Array): boolean;
}

const publicKeyCache = new Map<string, Ed25519PublicKey | null>();
const MAX_CACHED_KEYS = 100_000;

/**
 * Returns the key if `bytes` is an acceptable Ed25519 public key, or null (never throws): wrong
 * length, non-canonical encoding, not a point, small order, or a torsion component.
 */
export function importPublicKey(bytes: Uint8Array): Ed25519PublicKey | null {
  if (bytes.length !== PUBLIC_KEY_LENGTH) return null;
  const hex = Buffer.from(bytes).toString('hex');
  const cached = publicKeyCache.get(hex);
  if (cached !== undefined) return cached;
  const key = publicKeyDefect(bytes) === null ? { bytes: Uint8Array.from(bytes) } : null;
  if (publicKeyCache.size >= MAX_CACHED_KEYS) publicKeyCache.clear();
  publicKeyCache.set(hex, key);
  return key;
}

/**
 * Why no signature can ever verify under `bytes` (importPublicKey refuses it), or null for a usable
 * key. Servers ask this when a key is registered, so a key that could never sign anything is
 * refused with its reason instead of failing every request later (docs/threat-model.md HR-9e).
 */
export function publicKeyDefect(bytes: Uint8Array): string | null {
  if (bytes.length !== PUBLIC_KEY_LENGTH) return `${bytes.length} bytes, not ${PUBLIC_KEY_LENGTH}`;
  if (bytes.every((b) => b === 0)) return 'all zeros (a point of small order)';
  let point: InstanceType<typeof noble.Point>;
  try {
    point = noble.Point.fromBytes(bytes, false);
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    return 'not a canonical encoding of a curve point';
  }
  if (point.is0()) return 'the identity point';
  if (point.isSmallOrder()) return 'a point of small order';
  if (!point.isTorsionFree()) return 'a point with a torsion component (not in the prime-order subgroup)';
  return null;
}

/** S (the signature's second half, little-endian) < L, compared from the most significant byte. */
function isCanonicalScalar(signature: Uint8Array): boolean {
  for (let i = PUBLIC_KEY_LENGTH - 1; i >= 0; i--) {
    const s = signature[PUBLIC_KEY_LENGTH + i]!;
    const l = GROUP_ORDER_LE[i]!;
    if (s !== l) return s < l;
  }
  return false; // S = L
}

/** Verifies with the shared edge rules, then the backend. Never throws on malformed input. */
export function verifyEd25519(
  backend: Ed25519Backend,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== SIGNATURE_LENGTH || !isCanonicalScalar(signature)) return false;
  const key = importPublicKey(publicKey);
  if (key === null) return false;
  return backend.verifyChecked(key, message, signature);
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

// Importing the PKCS#8 key cost several times more than the signature itself (bench/RESULTS.md,
// figure 1: 90% of signing time), so the imported key is kept per seed buffer. PrivateKey holds its
// own copy of the seed for its lifetime, and a WeakMap lets the KeyObject go with it.
const nodePrivateKeys = new WeakMap<Uint8Array, KeyObject>();

export const nodeBackend: Ed25519Backend = {
  name: 'node',
  sign(seed, message) {
    let key = nodePrivateKeys.get(seed);
    if (key === undefined) {
      key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
      nodePrivateKeys.set(seed, key);
    }
    return new Uint8Array(nodeSign(null, message, key));
  },
  verifyChecked(publicKey, message, signature) {
    publicKey.nodeKey ??= createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey.bytes).toString('base64url') },
      format: 'jwk',
    });
    return nodeVerify(null, message, publicKey.nodeKey, signature);
  },
};

export const nobleBackend: Ed25519Backend = {
  name: 'noble',
  sign(seed, message) {
    return noble.sign(message, seed);
  },
  verifyChecked(publicKey, message, signature) {
    if (!noble.verify(signature, message, publicKey.bytes, { zip215: false })) return false;
    // noble checks [8]SB = [8]R + [8]kA; with A and R torsion-free that equals OpenSSL's SB = R + kA.
    try {
      return noble.Point.fromBytes(signature.subarray(0, PUBLIC_KEY_LENGTH), false).isTorsionFree();
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      return false;
    }
  },
};

export function backendByName(name: BackendName): Ed25519Backend {
  return name === 'node' ? nodeBackend : nobleBackend;
}

/**
 * `backend`, remembering the last `maxEntries` (key, signature, message) triples it found valid. An
 * ECU re-checks the same stored root, timestamp, snapshot and targets on every update cycle; with
 * this, a cycle where nothing changed repeats no curve arithmetic (bench/RESULTS.md, figure 3: 5
 * verifications per "nothing new" check before, 0 after). Sound because verification is
 * deterministic: the entry is a SHA-256 over the fixed-length key and signature and the message, so
 * a hit means the very same bytes were verified before. Only valid results are kept.
 */
export function withVerificationCache(backend: Ed25519Backend, maxEntries = 256): Ed25519Backend {
  const valid = new Set<string>();
  return {
    name: backend.name,
    sign: (seed, message) => backend.sign(seed, message),
    verifyChecked(publicKey, message, signature) {
      const entry = createHash('sha256').update(publicKey.bytes).update(signature).update(message).digest('base64');
      if (valid.has(entry)) return true;
      if (!backend.verifyChecked(publicKey, message, signature)) return false;
      if (valid.size >= maxEntries) valid.delete(valid.values().next().value!);
      valid.add(entry);
      return true;
    },
  };
}

/** The public key of a 32-byte seed, derived by noble (same on both backends). */
export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  return noble.getPublicKey(seed);
}

// Exported for the PEM module, which converts between seeds and PKCS#8.
export { SPKI_ED25519_PREFIX, PKCS8_ED25519_PREFIX };
