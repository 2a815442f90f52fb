// Public and private keys in TUF form and the keyid (computed here and nowhere else). No file I/O:
// key files are read and written by files/key-files.ts, so this module stays in the pure core.
//
// Ed25519 keys appear in metadata as {"keytype":"ed25519","scheme":"ed25519","keyval":{"public":hex}};
// ECDSA (P-256, P-384) and RSA-PSS keys as securesystemslib writes them, keyval.public a PEM
// SubjectPublicKeyInfo (signature-schemes.ts). The keyid this project writes is the hex SHA-256 of
// the canonical JSON of the whole key object (extra fields included, as python-tuf and go-tuf compute
// it); a keyid read from metadata is a name only, and keys are compared by their material
// (docs/decisions.md Cryptography, "Keyids"). Private keys live on disk as PKCS#8 PEM, optionally
// encrypted with a passphrase, mode 0600, readable by `openssl pkey`.
import { createHash, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { canonicalBytes } from '../canonical.js';
import { KeyFileError, MalformedKeyError, UnsupportedKeyError, UnusableKeyError, WeakKeyError } from '../errors.js';
import { ecdsaP256, ecdsaP384, ecdsaSchemeForCurve } from './ecdsa.js';
import {
  type Ed25519Backend,
  nodeBackend,
  PKCS8_ED25519_PREFIX,
  publicKeyDefect,
  publicKeyFromSeed,
  SEED_LENGTH,
  SIGNATURE_LENGTH,
  verifyEd25519,
} from './ed25519.js';
import { rsaPssSha256 } from './rsa-pss.js';
import { type PemScheme, pemSchemeFor, readSpkiPem, type SchemeName } from './signature-schemes.js';

/** A public key as it appears in TUF metadata. Unknown extra fields are kept as received. */
export interface TufKey {
  readonly keytype: string;
  readonly scheme: string;
  readonly keyval: { readonly public: string };
}

const HEX = /^[0-9a-f]*$/;

/** The one place a keyid is computed: hex SHA-256 over the canonical JSON of the key object. */
export function computeKeyId(key: TufKey): string {
  return createHash('sha256').update(canonicalBytes(key)).digest('hex');
}

/** Decodes lowercase hex of an exact byte length, or returns null. */
export function decodeHex(hex: string, length: number): Uint8Array | null {
  if (hex.length !== length * 2 || !HEX.test(hex)) return null;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

const fromHexCache = new Map<string, PublicKey>();
const MAX_CACHED_HEX_KEYS = 100_000;

/** A PEM public key once read and checked: OpenSSL's import is many times a signature check's cost. */
interface PemKey {
  readonly scheme: PemScheme;
  readonly key: KeyObject;
  readonly identity: string;
  readonly der: Uint8Array;
}
const pemKeyCache = new Map<string, PemKey>();
const MAX_CACHED_PEM_KEYS = 10_000;

function readPemKey(scheme: PemScheme, pem: string): PemKey {
  const entry = `${scheme.scheme}\n${pem}`;
  const cached = pemKeyCache.get(entry);
  if (cached !== undefined) return cached;
  const key = readSpkiPem(pem);
  scheme.check(key);
  const read: PemKey = { scheme, key, identity: scheme.identity(key), der: new Uint8Array(key.export({ format: 'der', type: 'spki' })) };
  if (pemKeyCache.size >= MAX_CACHED_PEM_KEYS) pemKeyCache.clear();
  pemKeyCache.set(entry, read);
  return read;
}

/** A signature of a PEM scheme: lowercase hex, at most this many bytes (a 16384-bit RSA signature). */
const MAX_PEM_SIGNATURE_BYTES = 2048;

function decodeAnyHex(hex: string): Uint8Array | null {
  if (hex.length === 0 || hex.length % 2 !== 0 || hex.length > MAX_PEM_SIGNATURE_BYTES * 2 || !HEX.test(hex)) return null;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/**
 * A public key this project can verify with: Ed25519, ECDSA P-256/P-384 or RSA-PSS-SHA256
 * (docs/decisions.md Cryptography). Building one checks the key: an unknown scheme is an
 * UnsupportedKeyError, a PEM key that is malformed, of the wrong type or curve, or weak is a
 * MalformedKeyError or WeakKeyError.
 */
export class PublicKey {
  /** Ed25519: the 32 key bytes. Other schemes: the SubjectPublicKeyInfo DER. */
  readonly bytes: Uint8Array;
  readonly scheme: SchemeName;
  private readonly pem: PemKey | undefined;
  private cachedKeyid: string | undefined;

  private constructor(readonly tuf: TufKey) {
    const pemScheme = pemSchemeFor(tuf.keytype, tuf.scheme);
    if (pemScheme !== undefined) {
      this.pem = readPemKey(pemScheme, tuf.keyval.public);
      this.bytes = this.pem.der;
      this.scheme = pemScheme.scheme;
      return;
    }
    if (tuf.keytype !== 'ed25519' || tuf.scheme !== 'ed25519') {
      throw new UnsupportedKeyError(`unsupported key type/scheme ${tuf.keytype}/${tuf.scheme}: ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384 and rsassa-pss-sha256 are supported`);
    }
    const bytes = decodeHex(tuf.keyval.public, 32);
    if (bytes === null) throw new UnsupportedKeyError('ed25519 public key must be 64 lowercase hex characters');
    this.bytes = bytes;
    this.scheme = 'ed25519';
    this.pem = undefined;
  }

  /**
   * Computed on first use: the Director builds a key per ECU for every manifest it checks and never
   * needs the keyid there, and hashing the canonical key cost 5% of its manifest intake (figure 1).
   */
  get keyid(): string {
    this.cachedKeyid ??= computeKeyId(this.tuf);
    return this.cachedKeyid;
  }

  /** From a TUF key object whose shape has been checked; throws as the class comment says. */
  static fromTuf(key: TufKey): PublicKey {
    return new PublicKey(key);
  }

  static fromBytes(bytes: Uint8Array): PublicKey {
    return PublicKey.fromTuf({
      keytype: 'ed25519',
      scheme: 'ed25519',
      keyval: { public: Buffer.from(bytes).toString('hex') },
    });
  }

  /** A PEM SubjectPublicKeyInfo of a key node:crypto holds, under `scheme`'s keytype. */
  static fromPem(pem: string, scheme: PemScheme): PublicKey {
    return PublicKey.fromTuf({ keytype: scheme.keytype, scheme: scheme.scheme, keyval: { public: pem } });
  }

  /**
   * A hex public key as printed by `uptane keys show`, and as the Director stores ECU keys. Kept in
   * a bounded cache (a PublicKey never changes): the Director looks up six keys per manifest, and
   * building each one again, keyid included, was 3-5% of its intake (bench figure 1).
   */
  static fromHex(hex: string): PublicKey {
    const cached = fromHexCache.get(hex);
    if (cached !== undefined) return cached;
    const bytes = decodeHex(hex, 32);
    if (bytes === null) throw new UnsupportedKeyError('ed25519 public key must be 64 lowercase hex characters');
    const key = PublicKey.fromBytes(bytes);
    if (fromHexCache.size >= MAX_CACHED_HEX_KEYS) fromHexCache.clear();
    fromHexCache.set(hex, key);
    return key;
  }

  /**
   * This key, or UnusableKeyError (naming `what`) if no signature can ever verify under it: all
   * zeros, small order, a torsion component, non-canonical. Metadata may list such a key (it never
   * counts towards a threshold); a server registering a device's key refuses it, since the device
   * could then never authenticate (docs/threat-model.md HR-9e). A PEM key was checked when it was
   * built.
   */
  assertUsable(what: string): this {
    if (this.pem !== undefined) return this;
    const defect = publicKeyDefect(this.bytes);
    if (defect !== null) throw new UnusableKeyError(`${what}: the ed25519 public key ${this.tuf.keyval.public} can never verify a signature: ${defect}`);
    return this;
  }

  /**
   * True only for a well-formed signature that verifies; never throws. `backend` serves Ed25519 (the
   * ECU's strict choice and its verification cache); ECDSA and RSA-PSS always go through node:crypto.
   */
  verify(message: Uint8Array, signatureHex: string, backend: Ed25519Backend): boolean {
    if (this.pem === undefined) {
      const sig = decodeHex(signatureHex, SIGNATURE_LENGTH);
      return sig !== null && verifyEd25519(backend, this.bytes, message, sig);
    }
    const sig = decodeAnyHex(signatureHex);
    return sig !== null && this.pem.scheme.verify(this.pem.key, message, sig);
  }

  /**
   * Same key material, whatever keyid, extra fields, keytype spelling or point encoding the metadata
   * wraps it in (A6): thresholds count distinct keys by this.
   */
  sameKeyAs(other: PublicKey): boolean {
    if (this.pem === undefined || other.pem === undefined) {
      return this.pem === other.pem && Buffer.compare(Buffer.from(this.bytes), Buffer.from(other.bytes)) === 0;
    }
    return this.pem.identity === other.pem.identity;
  }

  /** SPKI PEM of this key, for `openssl pkey -pubin`. */
  toPem(): string {
    if (this.pem !== undefined) return this.pem.key.export({ format: 'pem', type: 'spki' }).toString();
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(this.bytes).toString('base64url') }, format: 'jwk' })
      .export({ format: 'pem', type: 'spki' })
      .toString();
  }
}

/** The key types `uptane keys generate --type` makes, named by what an operator picks. */
export const KEY_TYPES = ['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa-3072'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

const PEM_SCHEME_OF_TYPE: Record<Exclude<KeyType, 'ed25519'>, PemScheme> = {
  'ecdsa-p256': ecdsaP256,
  'ecdsa-p384': ecdsaP384,
  'rsa-3072': rsaPssSha256,
};

export class PrivateKey {
  readonly publicKey: PublicKey;

  /** Exactly one of `seed` (Ed25519) and `pem` (a scheme node:crypto signs). */
  private constructor(
    private readonly seed: Uint8Array | undefined,
    private readonly pem?: { readonly scheme: PemScheme; readonly key: KeyObject },
  ) {
    if (pem !== undefined) {
      this.publicKey = PublicKey.fromPem(createPublicKey(pem.key).export({ format: 'pem', type: 'spki' }).toString(), pem.scheme);
    } else {
      this.publicKey = PublicKey.fromBytes(publicKeyFromSeed(seed!));
    }
  }

  /** A new random key, Ed25519 unless `type` says otherwise. */
  static generate(type: KeyType = 'ed25519'): PrivateKey {
    if (type === 'ed25519') return new PrivateKey(Uint8Array.from(randomBytes(SEED_LENGTH)));
    const scheme = PEM_SCHEME_OF_TYPE[type];
    return new PrivateKey(undefined, { scheme, key: scheme.generate() });
  }

  /** Deterministic keys for tests and the simulator: the seed is the private key. */
  static fromSeed(seed: Uint8Array): PrivateKey {
    if (seed.length !== SEED_LENGTH) throw new KeyFileError(`an ed25519 seed is ${SEED_LENGTH} bytes, got ${seed.length}`);
    return new PrivateKey(Uint8Array.from(seed));
  }

  /** A key derived from a text label, for reproducible fixtures ("director-root-1"). */
  static fromLabel(label: string): PrivateKey {
    return PrivateKey.fromSeed(Uint8Array.from(createHash('sha256').update(`uptane-ts fixture key: ${label}`).digest()));
  }

  get keyid(): string {
    return this.publicKey.keyid;
  }

  get scheme(): SchemeName {
    return this.publicKey.scheme;
  }

  /**
   * The hex signature over `message`. Ed25519 is deterministic, so both backends give the same;
   * ECDSA and RSA-PSS are randomized (every signature differs, each verifies) and use node:crypto.
   */
  sign(message: Uint8Array, backend: Ed25519Backend = nodeBackend): string {
    if (this.pem !== undefined) return Buffer.from(this.pem.scheme.sign(this.pem.key, message)).toString('hex');
    return Buffer.from(backend.sign(this.seed!, message)).toString('hex');
  }

  /** PKCS#8 PEM, AES-256-CBC encrypted when a passphrase is given. */
  toPem(passphrase?: string): string {
    const keyObject =
      this.pem?.key ?? createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, this.seed!]), format: 'der', type: 'pkcs8' });
    if (passphrase === undefined || passphrase === '') {
      return keyObject.export({ format: 'pem', type: 'pkcs8' }).toString();
    }
    return keyObject.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase }).toString();
  }

  /**
   * An Ed25519, ECDSA P-256/P-384 or RSA (2048 bits or more, signing RSA-PSS-SHA256) private key
   * from PEM (PKCS#8, or the SEC1 and PKCS#1 forms OpenSSL also reads); KeyFileError otherwise.
   */
  static fromPem(pem: string | Buffer, passphrase?: string): PrivateKey {
    let keyObject: KeyObject;
    try {
      keyObject = createPrivateKey(passphrase === undefined ? { key: pem } : { key: pem, passphrase });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      // OpenSSL 3 reports a missing passphrase as "interrupted or cancelled".
      const hint = /passphrase|decrypt|bad decrypt|interrupted or cancelled/i.test(reason)
        ? ' (wrong or missing passphrase? pass --passphrase-env NAME)'
        : '';
      throw new KeyFileError(`cannot read private key: ${reason}${hint}`, { cause: err });
    }
    const type = keyObject.asymmetricKeyType;
    if (type === 'ed25519') {
      const jwk = keyObject.export({ format: 'jwk' });
      if (jwk.d === undefined) throw new KeyFileError('private key has no secret part');
      return new PrivateKey(Uint8Array.from(Buffer.from(jwk.d, 'base64url')));
    }
    const scheme = type === 'ec' ? ecdsaSchemeForCurve(keyObject) : type === 'rsa' ? rsaPssSha256 : undefined;
    if (scheme === undefined) {
      const curve = keyObject.asymmetricKeyDetails?.namedCurve;
      throw new KeyFileError(`not an ed25519, ecdsa P-256/P-384 or rsa private key (found ${type ?? 'unknown'}${curve === undefined ? '' : ` on ${curve}`})`);
    }
    try {
      scheme.check(keyObject);
    } catch (err) {
      if (err instanceof MalformedKeyError || err instanceof WeakKeyError) throw new KeyFileError(`unusable private key: ${err.message}`, { cause: err });
      throw err;
    }
    return new PrivateKey(undefined, { scheme, key: keyObject });
  }
}

/** SPKI PEM of a public key, for `openssl pkey -pubin`. */
export function publicKeyPem(key: PublicKey): string {
  return key.toPem();
}
