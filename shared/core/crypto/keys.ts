// Ed25519 keys in TUF form and the keyid (computed here and nowhere else). No file I/O: key files
// are read and written by files/key-files.ts, so this module stays in the pure core.
//
// Public keys appear in metadata as {"keytype":"ed25519","scheme":"ed25519","keyval":{"public":hex}}.
// The keyid is the hex SHA-256 of the canonical JSON of that whole object (extra fields included,
// as python-tuf and go-tuf compute it). Private keys live on disk as PKCS#8 PEM, optionally
// encrypted with a passphrase, mode 0600, readable by `openssl pkey`.
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { canonicalBytes } from '../canonical.js';
import { KeyFileError, UnsupportedKeyError, UnusableKeyError } from '../errors.js';
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

/** A public key this project can verify with: Ed25519 only (docs/decisions.md Cryptography). */
export class PublicKey {
  readonly bytes: Uint8Array;
  private cachedKeyid: string | undefined;

  private constructor(readonly tuf: TufKey) {
    const bytes = decodeHex(tuf.keyval.public, 32);
    if (bytes === null) throw new UnsupportedKeyError('ed25519 public key must be 64 lowercase hex characters');
    this.bytes = bytes;
  }

  /**
   * Computed on first use: the Director builds a key per ECU for every manifest it checks and never
   * needs the keyid there, and hashing the canonical key cost 5% of its manifest intake (figure 1).
   */
  get keyid(): string {
    this.cachedKeyid ??= computeKeyId(this.tuf);
    return this.cachedKeyid;
  }

  /** From a TUF key object whose shape has been checked; throws UnsupportedKeyError otherwise. */
  static fromTuf(key: TufKey): PublicKey {
    if (key.keytype !== 'ed25519' || key.scheme !== 'ed25519') {
      throw new UnsupportedKeyError(`unsupported key type/scheme ${key.keytype}/${key.scheme}: only ed25519 is supported`);
    }
    return new PublicKey(key);
  }

  static fromBytes(bytes: Uint8Array): PublicKey {
    return PublicKey.fromTuf({
      keytype: 'ed25519',
      scheme: 'ed25519',
      keyval: { public: Buffer.from(bytes).toString('hex') },
    });
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
   * could then never authenticate (docs/threat-model.md HR-9e).
   */
  assertUsable(what: string): this {
    const defect = publicKeyDefect(this.bytes);
    if (defect !== null) throw new UnusableKeyError(`${what}: the ed25519 public key ${this.tuf.keyval.public} can never verify a signature: ${defect}`);
    return this;
  }

  /** True only for a well-formed signature (hex, 64 bytes) that verifies; never throws. */
  verify(message: Uint8Array, signatureHex: string, backend: Ed25519Backend): boolean {
    const sig = decodeHex(signatureHex, SIGNATURE_LENGTH);
    return sig !== null && verifyEd25519(backend, this.bytes, message, sig);
  }

  /** Same key material, whatever extra fields or keyid the metadata wraps it in (A6). */
  sameKeyAs(other: PublicKey): boolean {
    return Buffer.compare(Buffer.from(this.bytes), Buffer.from(other.bytes)) === 0;
  }
}

export class PrivateKey {
  readonly publicKey: PublicKey;

  private constructor(private readonly seed: Uint8Array) {
    this.publicKey = PublicKey.fromBytes(publicKeyFromSeed(seed));
  }

  static generate(): PrivateKey {
    return new PrivateKey(Uint8Array.from(randomBytes(SEED_LENGTH)));
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

  /** The hex signature over `message`; Ed25519 is deterministic, so both backends give the same. */
  sign(message: Uint8Array, backend: Ed25519Backend = nodeBackend): string {
    return Buffer.from(backend.sign(this.seed, message)).toString('hex');
  }

  /** PKCS#8 PEM, AES-256-CBC encrypted when a passphrase is given. */
  toPem(passphrase?: string): string {
    const keyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, this.seed]), format: 'der', type: 'pkcs8' });
    if (passphrase === undefined || passphrase === '') {
      return keyObject.export({ format: 'pem', type: 'pkcs8' }).toString();
    }
    return keyObject.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase }).toString();
  }

  static fromPem(pem: string | Buffer, passphrase?: string): PrivateKey {
    let jwk: { crv?: string; d?: string };
    try {
      const keyObject = createPrivateKey(passphrase === undefined ? { key: pem } : { key: pem, passphrase });
      if (keyObject.asymmetricKeyType !== 'ed25519') {
        throw new KeyFileError(`not an ed25519 private key (found ${keyObject.asymmetricKeyType ?? 'unknown'})`);
      }
      jwk = keyObject.export({ format: 'jwk' });
    } catch (err) {
      if (err instanceof KeyFileError) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      // OpenSSL 3 reports a missing passphrase as "interrupted or cancelled".
      const hint = /passphrase|decrypt|bad decrypt|interrupted or cancelled/i.test(reason)
        ? ' (wrong or missing passphrase? pass --passphrase-env NAME)'
        : '';
      throw new KeyFileError(`cannot read private key: ${reason}${hint}`, { cause: err });
    }
    if (jwk.d === undefined) throw new KeyFileError('private key has no secret part');
    return new PrivateKey(Uint8Array.from(Buffer.from(jwk.d, 'base64url')));
  }
}

/** SPKI PEM of a public key, for `openssl pkey -pubin`. */
export function publicKeyPem(key: PublicKey): string {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(key.bytes).toString('base64url') }, format: 'jwk' })
    .export({ format: 'pem', type: 'spki' })
    .toString();
}
