// Per-ECU image encryption (Uptane: Director targets for encrypted images; docs/image-encryption.md).
// The Director encrypts an image ONCE under a random 32-byte content key with a chunked AEAD and, per
// ECU, wraps that key with HPKE (RFC 9180) to the ECU's X25519 encryption key, bound to the ECU's
// serial, the image's filename and the ciphertext's hash. Pure: no file or network I/O; images
// stream through async iterables, one chunk at a time.
//
// Why the chunked AEAD is written here: no maintained Node library offers a streaming AEAD file
// format over node:crypto's AES-GCM, which runs on AES-NI (age's JavaScript library, typage, is
// pure-JavaScript ChaCha20-Poly1305 with age's own recipient format; bench/figures/f10-image-encryption.ts
// measures ours). Core stays free of I/O either way. The
// construction is the STREAM of Hoang, Reyhanitabar, Rogaway and Vizar ("Online
// Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015) as age uses it: fixed 64 KiB
// plaintext chunks, nonce = 11-byte big-endian chunk counter || 1-byte last-chunk flag, so chunks
// cannot be reordered, dropped, truncated at a boundary or extended without a tag failing.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { canonicalBytes } from '../canonical.js';
import { ImageDecryptionError, ImageKeyUnwrapError, MalformedEncryptionKeyError } from '../errors.js';

/** The scheme name in Director targets metadata and in the HPKE info; a new format gets a new name. */
export const IMAGE_ENCRYPTION_SCHEME = 'uptane-hpke-x25519-aes256gcm-stream-v1';

/** Bytes of a content key; X25519 keys and HPKE's encapsulated key are 32 too, an AES-GCM tag 16. */
export const IMAGE_KEY_BYTES = 32;
const X25519_KEY_BYTES = 32;
const TAG_BYTES = 16;
const WRAPPED_KEY_BYTES = IMAGE_KEY_BYTES + TAG_BYTES;

/** Plaintext bytes per chunk: age's size, small enough to hold one in an ECU's RAM, large enough to amortise the tag. */
export const IMAGE_CHUNK_BYTES = 64 * 1024;
const CIPHERTEXT_CHUNK_BYTES = IMAGE_CHUNK_BYTES + TAG_BYTES;

// Header: magic (8) || version (1) || chunk size, big-endian uint32 (4) || salt (16). The whole header
// is the AAD of every chunk, so a flipped header byte fails the first tag even where it would not
// change the derived key.
const MAGIC = Buffer.from('UPTNIMGE', 'ascii');
const FORMAT_VERSION = 1;
const SALT_BYTES = 16;
/** Bytes before the first chunk. */
export const IMAGE_HEADER_BYTES = MAGIC.length + 1 + 4 + SALT_BYTES;
const PAYLOAD_KEY_INFO = Buffer.from(`${IMAGE_ENCRYPTION_SCHEME} payload key`, 'ascii');

const HEX = /^[0-9a-f]*$/;
// DER prefixes of X25519 keys (RFC 8410, OID 1.3.101.110): PKCS#8 private, SPKI public; the 32 raw bytes follow.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
// A throwaway key to try each registered public key against: X25519 with a small-order point (all
// zeros, one, ...) gives an all-zero shared secret, which OpenSSL refuses, so no wrap could ever be made.
const PROBE_KEY = generateKeyPairSync('x25519').privateKey;

type HpkeKey = Awaited<ReturnType<DhkemX25519HkdfSha256['deserializePrivateKey']>>;

// RFC 9180 mode base with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM: all in WebCrypto on Node.
const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });

/** An ECU's X25519 encryption public key as the inventory stores it: raw 32 bytes, hex, keyid. */
export interface EncryptionPublicKey {
  /** Hex SHA-256 of the 32 raw bytes. */
  readonly keyid: string;
  readonly raw: Uint8Array;
  readonly hex: string;
}

function decodeHex(hex: string, length: number): Buffer | null {
  if (typeof hex !== 'string' || hex.length !== length * 2 || !HEX.test(hex)) return null;
  return Buffer.from(hex, 'hex');
}

function publicKeyFromRaw(raw: Uint8Array): EncryptionPublicKey {
  const copy = Uint8Array.from(raw);
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, copy]), format: 'der', type: 'spki' });
    diffieHellman({ privateKey: PROBE_KEY, publicKey });
  } catch (err) {
    throw new MalformedEncryptionKeyError('unusable X25519 encryption public key: a point of small order, no shared secret', { cause: err });
  }
  return Object.freeze({
    keyid: createHash('sha256').update(copy).digest('hex'),
    raw: copy,
    hex: Buffer.from(copy).toString('hex'),
  });
}

/** Parses a registered encryption public key (64 lowercase hex characters, raw X25519). */
export function encryptionPublicKeyFromHex(hex: string): EncryptionPublicKey {
  const raw = decodeHex(hex, X25519_KEY_BYTES);
  if (raw === null) throw new MalformedEncryptionKeyError('an X25519 encryption public key must be 64 lowercase hex characters');
  return publicKeyFromRaw(raw);
}

/**
 * An ECU's X25519 key pair for image encryption, separate from its Ed25519 signing key (Uptane best
 * practice: a key that decrypts never signs). The private key lives on disk as PKCS#8 PEM, mode 0600
 * (shared/files/key-files.ts), readable by `openssl pkey`.
 */
export class EncryptionKeyPair {
  readonly publicKey: EncryptionPublicKey;
  private hpkeKey: Promise<HpkeKey> | undefined;

  private readonly privateKey: KeyObject;
  private readonly privateRaw: Buffer;

  private constructor(privateKey: KeyObject) {
    if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'x25519') {
      throw new MalformedEncryptionKeyError(`not an X25519 private key (${privateKey.asymmetricKeyType ?? privateKey.type})`);
    }
    this.privateKey = privateKey;
    // Both DER encodings end in the 32 raw bytes (RFC 8410).
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    this.privateRaw = pkcs8.subarray(pkcs8.length - X25519_KEY_BYTES);
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    this.publicKey = publicKeyFromRaw(spki.subarray(spki.length - X25519_KEY_BYTES));
  }

  static generate(): EncryptionKeyPair {
    return new EncryptionKeyPair(generateKeyPairSync('x25519').privateKey);
  }

  /** From 32 private bytes: fixed keys for tests and simulated fleets (docs/code-style.md R14). */
  static fromPrivateBytes(raw: Uint8Array): EncryptionKeyPair {
    if (raw.length !== X25519_KEY_BYTES) throw new MalformedEncryptionKeyError(`an X25519 private key is ${X25519_KEY_BYTES} bytes, got ${raw.length}`);
    const der = Buffer.concat([PKCS8_X25519_PREFIX, raw]);
    return new EncryptionKeyPair(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  }

  /** From an unencrypted PKCS#8 PEM, as `openssl genpkey -algorithm X25519` writes it. */
  static fromPem(pem: string): EncryptionKeyPair {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: pem, format: 'pem' });
    } catch (err) {
      throw new MalformedEncryptionKeyError(`cannot read X25519 private key PEM: ${(err as Error).message}`, { cause: err });
    }
    return new EncryptionKeyPair(key);
  }

  toPem(): string {
    return this.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  /** The key in WebCrypto form for @hpke/core, imported once per key pair. */
  hpkePrivateKey(): Promise<HpkeKey> {
    this.hpkeKey ??= suite.kem.deserializePrivateKey(this.privateRaw);
    return this.hpkeKey;
  }
}

/** A fresh random content key: one per image (and per re-encryption), never reused across images. */
export function generateImageKey(): Uint8Array {
  return Uint8Array.from(randomBytes(IMAGE_KEY_BYTES));
}

/** What a wrapped key is bound to: only this ECU, this image and this ciphertext can use it. */
export interface ImageKeyBinding {
  readonly ecuSerial: string;
  readonly filename: string;
  /** Hex SHA-256 of the whole ciphertext (header and chunks), as in encryptedTarget.hashes.sha256. */
  readonly ciphertextSha256: string;
}

/** The content key wrapped for one ECU: the HPKE encapsulated key and the sealed content key, hex. */
export interface WrappedImageKey {
  readonly encapsulatedKey: string;
  readonly wrappedKey: string;
}

/** The HPKE info: canonical JSON of the scheme and the binding, so a wrap moved to another ECU, image or ciphertext fails. */
export function imageKeyInfo(binding: ImageKeyBinding): Buffer {
  return canonicalBytes({
    scheme: IMAGE_ENCRYPTION_SCHEME,
    ecuSerial: binding.ecuSerial,
    filename: binding.filename,
    ciphertextSha256: binding.ciphertextSha256,
  });
}

function checkContentKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== IMAGE_KEY_BYTES) {
    throw new MalformedEncryptionKeyError(`an image content key is ${IMAGE_KEY_BYTES} bytes`);
  }
}

/** Wraps `key` for the ECU whose encryption public key is `to`, bound to `binding`. */
export async function wrapImageKey(key: Uint8Array, to: EncryptionPublicKey, binding: ImageKeyBinding): Promise<WrappedImageKey> {
  checkContentKey(key);
  const info = imageKeyInfo(binding);
  let sealed: Awaited<ReturnType<typeof suite.seal>>;
  try {
    const recipientPublicKey = await suite.kem.deserializePublicKey(to.raw);
    sealed = await suite.seal({ recipientPublicKey, info }, key);
  } catch (err) {
    // A key that came in through encryptionPublicKeyFromHex never fails here; one built by hand may.
    throw new MalformedEncryptionKeyError(`unusable X25519 encryption public key ${to.keyid}`, { cause: err });
  }
  return {
    encapsulatedKey: Buffer.from(sealed.enc).toString('hex'),
    wrappedKey: Buffer.from(sealed.ct).toString('hex'),
  };
}

/**
 * Opens a wrapped content key with this ECU's own key pair. Throws ImageKeyUnwrapError if the wrap
 * was made for another key, under another binding, or altered: HPKE's AEAD tag covers all three.
 */
export async function unwrapImageKey(wrapped: WrappedImageKey, own: EncryptionKeyPair, binding: ImageKeyBinding): Promise<Uint8Array> {
  const enc = decodeHex(wrapped.encapsulatedKey, X25519_KEY_BYTES);
  const ciphertext = decodeHex(wrapped.wrappedKey, WRAPPED_KEY_BYTES);
  if (enc === null || ciphertext === null) {
    throw new ImageKeyUnwrapError(`wrapped image key for ${binding.filename} is malformed: encapsulatedKey must be ${X25519_KEY_BYTES * 2} and wrappedKey ${WRAPPED_KEY_BYTES * 2} hex characters`);
  }
  let info: Buffer;
  try {
    info = imageKeyInfo(binding);
  } catch (err) {
    throw new ImageKeyUnwrapError(`wrapped image key binding for ${JSON.stringify(binding.filename)} cannot be encoded`, { cause: err });
  }
  const recipientKey = await own.hpkePrivateKey();
  let opened: ArrayBuffer;
  try {
    opened = await suite.open({ recipientKey, enc, info }, ciphertext);
  } catch (err) {
    // Not for this ECU's key, or bound to another ECU, image or ciphertext: one answer for all, no oracle.
    throw new ImageKeyUnwrapError(`wrapped image key for ${binding.filename} does not open with ECU ${binding.ecuSerial}'s encryption key ${own.publicKey.keyid}`, { cause: err });
  }
  // 48 ciphertext bytes (checked above) open to exactly the 32-byte content key.
  return new Uint8Array(opened);
}

/** Ciphertext length of an image of `plaintextLength` bytes: header plus one tag per chunk (at least one chunk). */
export function encryptedLength(plaintextLength: number): number {
  if (!Number.isSafeInteger(plaintextLength) || plaintextLength < 0) {
    throw new ImageDecryptionError(`an image length must be a non-negative safe integer, got ${plaintextLength}`);
  }
  const chunks = Math.max(1, Math.ceil(plaintextLength / IMAGE_CHUNK_BYTES));
  return IMAGE_HEADER_BYTES + plaintextLength + chunks * TAG_BYTES;
}

function payloadKey(key: Uint8Array, salt: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', key, salt, PAYLOAD_KEY_INFO, IMAGE_KEY_BYTES));
}

/** 11-byte big-endian counter || last-chunk flag (age's STREAM nonce). */
function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  // The counter stays below 2^53: bytes 0..2 stay zero, bytes 3..6 take the high 32 bits, 7..10 the low.
  nonce.writeUInt32BE(Math.floor(counter / 2 ** 32), 3);
  nonce.writeUInt32BE(counter % 2 ** 32, 7);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

function sealChunk(key: Buffer, header: Buffer, counter: number, last: boolean, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(counter, last), { authTagLength: TAG_BYTES });
  cipher.setAAD(header);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([body, final, cipher.getAuthTag()], plaintext.length + TAG_BYTES);
}

/**
 * Encrypts a plaintext stream under `key`, yielding the header and then one sealed chunk at a time.
 * Holds at most one plaintext chunk: a full chunk waits only to learn whether it is the last one.
 */
export async function* encryptImage(key: Uint8Array, plaintext: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  checkContentKey(key);
  const header = Buffer.alloc(IMAGE_HEADER_BYTES);
  MAGIC.copy(header, 0);
  header[MAGIC.length] = FORMAT_VERSION;
  header.writeUInt32BE(IMAGE_CHUNK_BYTES, MAGIC.length + 1);
  randomBytes(SALT_BYTES).copy(header, MAGIC.length + 5);
  const derived = payloadKey(key, header.subarray(MAGIC.length + 5));
  yield Uint8Array.from(header);

  const pending = Buffer.alloc(IMAGE_CHUNK_BYTES);
  let filled = 0;
  let counter = 0;
  for await (const piece of plaintext) {
    let offset = 0;
    while (offset < piece.length) {
      if (filled === IMAGE_CHUNK_BYTES) {
        // More plaintext follows a full chunk, so that chunk is not the last.
        yield sealChunk(derived, header, counter, false, pending);
        counter += 1;
        filled = 0;
      }
      if (filled === 0 && piece.length - offset > IMAGE_CHUNK_BYTES) {
        // A whole chunk inside the piece with more after it: sealed where it lies, without a copy.
        yield sealChunk(derived, header, counter, false, piece.subarray(offset, offset + IMAGE_CHUNK_BYTES));
        counter += 1;
        offset += IMAGE_CHUNK_BYTES;
        continue;
      }
      const take = Math.min(IMAGE_CHUNK_BYTES - filled, piece.length - offset);
      pending.set(piece.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
    }
  }
  // The last chunk: full if the length is a multiple of the chunk size, empty only for an empty image.
  yield sealChunk(derived, header, counter, true, pending.subarray(0, filled));
}

/** Limits on a ciphertext from the network (docs/code-style.md R10): the plaintext length the metadata allows. */
export interface ImageDecryptionLimits {
  readonly maxPlaintextBytes: number;
}

/**
 * Decrypts a ciphertext stream under `key`, yielding each plaintext chunk only after its tag has
 * verified, so nothing past a tampered chunk ever reaches the caller. Holds at most one ciphertext
 * chunk. Throws ImageDecryptionError on a bad header, any altered, reordered, dropped or appended
 * chunk, truncation, the wrong key, or more plaintext than `limits.maxPlaintextBytes`.
 */
export async function* decryptImage(key: Uint8Array, ciphertext: AsyncIterable<Uint8Array>, limits: ImageDecryptionLimits): AsyncGenerator<Uint8Array> {
  checkContentKey(key);
  const { maxPlaintextBytes } = limits;
  if (!Number.isSafeInteger(maxPlaintextBytes) || maxPlaintextBytes < 0) {
    throw new ImageDecryptionError(`maxPlaintextBytes must be a non-negative safe integer, got ${maxPlaintextBytes}`);
  }
  const header = Buffer.alloc(IMAGE_HEADER_BYTES);
  let headerFilled = 0;
  let derived: Buffer | undefined;
  const pending = Buffer.alloc(CIPHERTEXT_CHUNK_BYTES);
  let filled = 0;
  let counter = 0;
  let produced = 0;

  const open = (chunk: Uint8Array, last: boolean): Buffer => {
    const bodyLength = chunk.length - TAG_BYTES;
    if (bodyLength < 0) throw new ImageDecryptionError(`encrypted image truncated: chunk ${counter} is shorter than its tag`);
    // An empty final chunk is only the encoding of an empty image; elsewhere it is a truncation.
    if (last && bodyLength === 0 && counter > 0) throw new ImageDecryptionError(`encrypted image truncated: empty final chunk ${counter}`);
    if (produced + bodyLength > maxPlaintextBytes) {
      throw new ImageDecryptionError(`encrypted image holds more than the ${maxPlaintextBytes} bytes its metadata allows`);
    }
    const decipher = createDecipheriv('aes-256-gcm', derived as Buffer, chunkNonce(counter, last), { authTagLength: TAG_BYTES });
    decipher.setAAD(header);
    decipher.setAuthTag(chunk.subarray(bodyLength));
    const body = decipher.update(chunk.subarray(0, bodyLength));
    try {
      decipher.final();
    } catch (err) {
      // One message for every cause (altered, reordered, dropped, truncated, extended, wrong key): no oracle.
      throw new ImageDecryptionError(`encrypted image chunk ${counter} failed authentication${last ? ' as the final chunk' : ''}`, { cause: err });
    }
    produced += bodyLength;
    counter += 1;
    return body;
  };

  for await (const piece of ciphertext) {
    let offset = 0;
    if (derived === undefined) {
      const take = Math.min(IMAGE_HEADER_BYTES - headerFilled, piece.length);
      header.set(piece.subarray(0, take), headerFilled);
      headerFilled += take;
      offset = take;
      if (headerFilled < IMAGE_HEADER_BYTES) continue;
      derived = checkHeaderAndDeriveKey(key, header);
    }
    while (offset < piece.length) {
      if (filled === CIPHERTEXT_CHUNK_BYTES) {
        // Bytes follow a full chunk, so it must open as a non-final chunk.
        yield open(pending, false);
        filled = 0;
      }
      if (filled === 0 && piece.length - offset > CIPHERTEXT_CHUNK_BYTES) {
        // A whole chunk inside the piece with bytes after it: opened where it lies, without a copy.
        yield open(piece.subarray(offset, offset + CIPHERTEXT_CHUNK_BYTES), false);
        offset += CIPHERTEXT_CHUNK_BYTES;
        continue;
      }
      const take = Math.min(CIPHERTEXT_CHUNK_BYTES - filled, piece.length - offset);
      pending.set(piece.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
    }
  }
  if (derived === undefined) throw new ImageDecryptionError(`encrypted image truncated: ${headerFilled} of ${IMAGE_HEADER_BYTES} header bytes`);
  yield open(pending.subarray(0, filled), true);
}

function checkHeaderAndDeriveKey(key: Uint8Array, header: Buffer): Buffer {
  if (!header.subarray(0, MAGIC.length).equals(MAGIC)) throw new ImageDecryptionError('not an encrypted image: bad magic');
  const version = header[MAGIC.length];
  if (version !== FORMAT_VERSION) throw new ImageDecryptionError(`unsupported encrypted image version ${version}`);
  // Only the one chunk size is accepted: a header must not make the ECU buffer more than it planned for.
  const chunkBytes = header.readUInt32BE(MAGIC.length + 1);
  if (chunkBytes !== IMAGE_CHUNK_BYTES) throw new ImageDecryptionError(`unsupported encrypted image chunk size ${chunkBytes}`);
  return payloadKey(key, header.subarray(MAGIC.length + 5));
}
