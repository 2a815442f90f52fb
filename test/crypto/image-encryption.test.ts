// Image encryption (docs/image-encryption.md): the STREAM chunked AES-256-GCM image format round
// trips at the sizes around a chunk boundary, refuses every tampering with a typed error and yields
// nothing past the tampered chunk, streams in flat memory; the HPKE key wrap opens only for its ECU
// key and binding, and interoperates with a direct RFC 9180 call (@hpke/core); key files are 0600
// PKCS#8 PEM readable by `openssl pkey`.
import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import fc from 'fast-check';
import {
  decryptImage,
  encryptedLength,
  EncryptionKeyPair,
  encryptImage,
  encryptionPublicKeyFromHex,
  generateImageKey,
  IMAGE_CHUNK_BYTES,
  IMAGE_ENCRYPTION_SCHEME,
  IMAGE_HEADER_BYTES,
  type ImageKeyBinding,
  unwrapImageKey,
  wrapImageKey,
} from '../../shared/core/crypto/image-encryption.js';
import {
  ImageDecryptionError,
  ImageKeyUnwrapError,
  KeyFileError,
  MalformedEncryptionKeyError,
  type UptaneError,
} from '../../shared/core/errors.js';
import { loadEncryptionKeyPair, saveEncryptionKeyPair } from '../../shared/files/key-files.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CT_CHUNK = IMAGE_CHUNK_BYTES + 16;

// Fixed keys (docs/code-style.md R14).
const CONTENT_KEY = Uint8Array.from(createHash('sha256').update('content key').digest());
const OTHER_CONTENT_KEY = Uint8Array.from(createHash('sha256').update('other content key').digest());
const ECU_A = EncryptionKeyPair.fromPrivateBytes(createHash('sha256').update('ecu A encryption key').digest());
const ECU_B = EncryptionKeyPair.fromPrivateBytes(createHash('sha256').update('ecu B encryption key').digest());
const BINDING: ImageKeyBinding = { ecuSerial: 'ecu-a', filename: 'firmware-1.0.bin', ciphertextSha256: 'ab'.repeat(32) };

/** Deterministic pseudo-random bytes: SHA-256 in counter mode from `seed`. */
function pattern(length: number, seed = 'image'): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0, block = 0; offset < length; offset += 32, block += 1) {
    createHash('sha256').update(`${seed}:${block}`).digest().copy(out, offset);
  }
  return out;
}

/** Feeds `bytes` in pieces of `pieceBytes`, as a download would. */
async function* pieces(bytes: Uint8Array, pieceBytes = 7777): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += pieceBytes) yield bytes.subarray(offset, offset + pieceBytes);
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of stream) out.push(Buffer.from(chunk));
  return out;
}

async function encrypt(plaintext: Uint8Array, key = CONTENT_KEY): Promise<Buffer> {
  return Buffer.concat(await collect(encryptImage(key, pieces(plaintext))));
}

interface Outcome {
  readonly yielded: Buffer[];
  readonly error: unknown;
}

/** Decrypts, keeping what was yielded before the error, so tests can see nothing came past a bad chunk. */
async function decryptOutcome(ciphertext: Uint8Array, options: { key?: Uint8Array; max?: number; pieceBytes?: number } = {}): Promise<Outcome> {
  const yielded: Buffer[] = [];
  try {
    const stream = decryptImage(options.key ?? CONTENT_KEY, pieces(ciphertext, options.pieceBytes), { maxPlaintextBytes: options.max ?? 64 * MiB });
    for await (const chunk of stream) yielded.push(Buffer.from(chunk));
    return { yielded, error: undefined };
  } catch (err) {
    return { yielded, error: err };
  }
}

/** Expects ImageDecryptionError and exactly the plaintext chunks before `goodChunks`, byte for byte. */
function expectRefused(outcome: Outcome, plaintext: Buffer, goodChunks: number): ImageDecryptionError {
  expect(outcome.error).toBeInstanceOf(ImageDecryptionError);
  const err = outcome.error as ImageDecryptionError;
  expect(err.code).toBe('image_decryption_failed');
  expect(err.kind).toBe('attack');
  expect(outcome.yielded).toHaveLength(goodChunks);
  expect(Buffer.concat(outcome.yielded).equals(plaintext.subarray(0, goodChunks * IMAGE_CHUNK_BYTES))).toBe(true);
  return err;
}

async function rejection(promise: Promise<unknown>): Promise<UptaneError> {
  try {
    await promise;
  } catch (err) {
    return err as UptaneError;
  }
  throw new Error('expected a rejection');
}

function thrownBy(action: () => unknown): UptaneError {
  try {
    action();
  } catch (err) {
    return err as UptaneError;
  }
  throw new Error('expected the call to throw');
}

function chunkStart(index: number): number {
  return IMAGE_HEADER_BYTES + index * CT_CHUNK;
}

function flip(bytes: Buffer, offset: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[offset] = copy[offset]! ^ 0x01;
  return copy;
}

/**
 * An independent encoder written from docs/image-encryption.md, not from the module: HKDF-SHA256
 * payload key, nonce = 11-byte big-endian counter || last flag, the whole header as AAD. It pins the
 * format, and crafts validly sealed streams the module must still refuse.
 */
function referenceEncode(key: Uint8Array, header: Buffer, chunks: ReadonlyArray<{ plaintext: Buffer; last: boolean }>): Buffer {
  const salt = header.subarray(13, 29);
  const payloadKey = Buffer.from(hkdfSync('sha256', key, salt, Buffer.from(`${IMAGE_ENCRYPTION_SCHEME} payload key`), 32));
  const parts = [header];
  chunks.forEach(({ plaintext, last }, counter) => {
    const nonce = Buffer.alloc(12);
    nonce.writeBigUInt64BE(BigInt(counter), 3);
    nonce[11] = last ? 1 : 0;
    const cipher = createCipheriv('aes-256-gcm', payloadKey, nonce);
    cipher.setAAD(header);
    parts.push(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
  });
  return Buffer.concat(parts);
}

/**
 * RFC 9180 base-mode open written from the RFC with node:crypto alone (sections 4, 4.1, 5.1, 5.2):
 * DHKEM(X25519, HKDF-SHA256) = 0x0020, HKDF-SHA256 = 0x0001, AES-256-GCM = 0x0002. A second,
 * independent reading of the standard, so the wrap is checked against RFC 9180, not only against
 * the library that made it.
 */
function rfc9180Open(privateRaw: Buffer, enc: Buffer, info: Buffer, ciphertext: Buffer): Buffer {
  const i2osp = (value: number, length: number): Buffer => {
    const out = Buffer.alloc(length);
    out.writeUIntBE(value, 0, length);
    return out;
  };
  const extract = (salt: Buffer, ikm: Buffer): Buffer => createHmac('sha256', salt).update(ikm).digest();
  const expand = (prk: Buffer, info: Buffer, length: number): Buffer => createHmac('sha256', prk).update(Buffer.concat([info, Buffer.from([1])])).digest().subarray(0, length);
  const labeledExtract = (suite: Buffer, salt: Buffer, label: string, ikm: Buffer): Buffer =>
    extract(salt, Buffer.concat([Buffer.from('HPKE-v1'), suite, Buffer.from(label), ikm]));
  const labeledExpand = (suite: Buffer, prk: Buffer, label: string, info: Buffer, length: number): Buffer =>
    expand(prk, Buffer.concat([i2osp(length, 2), Buffer.from('HPKE-v1'), suite, Buffer.from(label), info]), length);
  const empty = Buffer.alloc(0);

  // Decap: dh = DH(skR, pkE); kem_context = enc || pkRm; shared_secret = ExtractAndExpand(dh, kem_context).
  const skR = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), privateRaw]), format: 'der', type: 'pkcs8' });
  const pkE = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), enc]), format: 'der', type: 'spki' });
  const spkiR = createPublicKey(skR).export({ format: 'der', type: 'spki' });
  const dh = diffieHellman({ privateKey: skR, publicKey: pkE });
  const kemSuite = Buffer.concat([Buffer.from('KEM'), i2osp(0x0020, 2)]);
  const eaePrk = labeledExtract(kemSuite, empty, 'eae_prk', dh);
  const sharedSecret = labeledExpand(kemSuite, eaePrk, 'shared_secret', Buffer.concat([enc, spkiR.subarray(spkiR.length - 32)]), 32);

  // KeySchedule, mode_base: no PSK.
  const suite = Buffer.concat([Buffer.from('HPKE'), i2osp(0x0020, 2), i2osp(0x0001, 2), i2osp(0x0002, 2)]);
  const context = Buffer.concat([Buffer.from([0x00]), labeledExtract(suite, empty, 'psk_id_hash', empty), labeledExtract(suite, empty, 'info_hash', info)]);
  const secret = labeledExtract(suite, sharedSecret, 'secret', empty);
  const key = labeledExpand(suite, secret, 'key', context, 32);
  const baseNonce = labeledExpand(suite, secret, 'base_nonce', context, 12);

  // Open with sequence number 0: nonce = base_nonce, empty aad.
  const decipher = createDecipheriv('aes-256-gcm', key, baseNonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  return Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
}

describe('image format: round trips', () => {
  it('G13: an eavesdropper sees no plaintext: neither a marker of the image nor the content key appears in the ciphertext or the wrap', async () => {
    const marker = Buffer.from('SECRET-CALIBRATION-TABLE-');
    const plaintext = Buffer.concat(Array.from({ length: 20_000 }, () => marker)); // 500 KB, several chunks
    const ciphertext = await encrypt(plaintext);
    expect(ciphertext.includes(marker)).toBe(false);
    expect(ciphertext.includes(marker.subarray(0, 8))).toBe(false);
    // Equal plaintext chunks give unrelated ciphertext chunks (each has its own nonce).
    expect(ciphertext.subarray(chunkStart(0), chunkStart(0) + 64).equals(ciphertext.subarray(chunkStart(1), chunkStart(1) + 64))).toBe(false);
    const wrapped = await wrapImageKey(CONTENT_KEY, ECU_A.publicKey, BINDING);
    const onTheWire = JSON.stringify(wrapped);
    expect(onTheWire.includes(Buffer.from(CONTENT_KEY).toString('hex'))).toBe(false);
    expect(Buffer.from(wrapped.wrappedKey, 'hex').includes(Buffer.from(CONTENT_KEY).subarray(0, 8))).toBe(false);
  });

  const sizes = [0, 1, IMAGE_CHUNK_BYTES - 1, IMAGE_CHUNK_BYTES, IMAGE_CHUNK_BYTES + 1, 3 * MiB];
  it.each(sizes)('an image of %i bytes decrypts to itself, at the length encryptedLength gives', async (size) => {
    const plaintext = pattern(size);
    const ciphertext = await encrypt(plaintext);
    expect(ciphertext.length).toBe(encryptedLength(size));
    for (const pieceBytes of [1 + (size % 13), 7777, MiB]) {
      if (pieceBytes === 1 + (size % 13) && size > IMAGE_CHUNK_BYTES + 1) continue; // byte-by-byte only on small images
      const outcome = await decryptOutcome(ciphertext, { max: size, pieceBytes });
      expect(outcome.error).toBeUndefined();
      expect(Buffer.concat(outcome.yielded).equals(plaintext)).toBe(true);
      expect(outcome.yielded.length).toBe(Math.max(1, Math.ceil(size / IMAGE_CHUNK_BYTES)));
    }
  });

  it('the header is magic, version 1, chunk size 65536 and a fresh 16-byte salt; an empty image is one empty final chunk', async () => {
    const first = await encrypt(Buffer.alloc(0));
    const second = await encrypt(Buffer.alloc(0));
    expect(first.subarray(0, 8).toString('ascii')).toBe('UPTNIMGE');
    expect(first[8]).toBe(1);
    expect(first.readUInt32BE(9)).toBe(IMAGE_CHUNK_BYTES);
    expect(first.length).toBe(IMAGE_HEADER_BYTES + 16);
    expect(first.subarray(13, 29).equals(second.subarray(13, 29))).toBe(false);
  });

  it('the ciphertext is byte for byte what an independent encoder of the documented format produces', async () => {
    const plaintext = pattern(2 * IMAGE_CHUNK_BYTES + 5);
    const ciphertext = await encrypt(plaintext);
    const header = ciphertext.subarray(0, IMAGE_HEADER_BYTES);
    const expected = referenceEncode(CONTENT_KEY, header, [
      { plaintext: plaintext.subarray(0, IMAGE_CHUNK_BYTES), last: false },
      { plaintext: plaintext.subarray(IMAGE_CHUNK_BYTES, 2 * IMAGE_CHUNK_BYTES), last: false },
      { plaintext: plaintext.subarray(2 * IMAGE_CHUNK_BYTES), last: true },
    ]);
    expect(ciphertext.equals(expected)).toBe(true);
  });

  it('encryptedLength counts one tag per chunk and at least one chunk', () => {
    expect(encryptedLength(0)).toBe(IMAGE_HEADER_BYTES + 16);
    expect(encryptedLength(IMAGE_CHUNK_BYTES)).toBe(IMAGE_HEADER_BYTES + IMAGE_CHUNK_BYTES + 16);
    expect(encryptedLength(IMAGE_CHUNK_BYTES + 1)).toBe(IMAGE_HEADER_BYTES + IMAGE_CHUNK_BYTES + 1 + 32);
    expect(thrownBy(() => encryptedLength(-1))).toBeInstanceOf(ImageDecryptionError);
    expect(thrownBy(() => encryptedLength(1.5))).toBeInstanceOf(ImageDecryptionError);
  });
});

describe('image format: tampering is refused, nothing yielded past the tampered chunk', () => {
  // Five full chunks and a short sixth: first = 0, middle = 2, last = 5.
  const plaintext = pattern(5 * IMAGE_CHUNK_BYTES + 1000);
  // A multiple of the chunk size: the final chunk is full, so only the last-chunk flag marks it.
  const exact = pattern(3 * IMAGE_CHUNK_BYTES, 'exact');
  let ciphertext: Buffer;
  let exactCiphertext: Buffer;
  let otherCiphertext: Buffer;

  beforeAll(async () => {
    ciphertext = await encrypt(plaintext);
    exactCiphertext = await encrypt(exact);
    otherCiphertext = await encrypt(plaintext); // same key and plaintext, another salt
  });

  it('the untampered ciphertext decrypts (the baseline every case below changes one thing of)', async () => {
    const outcome = await decryptOutcome(ciphertext, { max: plaintext.length });
    expect(outcome.error).toBeUndefined();
    expect(Buffer.concat(outcome.yielded).equals(plaintext)).toBe(true);
  });

  it.each([
    ['magic', 0, /magic/],
    ['version', 8, /version/],
    ['chunk size', 11, /chunk size/],
    ['salt', 20, /chunk 0 failed authentication/],
  ])('G15: a flipped header byte (%s) is refused before any plaintext', async (_field, offset, message) => {
    const err = expectRefused(await decryptOutcome(flip(ciphertext, offset as number)), plaintext, 0);
    expect(err.message).toMatch(message as RegExp);
  });

  it.each([
    ['first', 0],
    ['middle', 2],
    ['last', 5],
  ])('G15: a flipped byte in the %s chunk (body and tag) is refused at that chunk', async (_name, index) => {
    expectRefused(await decryptOutcome(flip(ciphertext, chunkStart(index) + 100)), plaintext, index);
    const tagOffset = index === 5 ? ciphertext.length - 1 : chunkStart(index + 1) - 1;
    expectRefused(await decryptOutcome(flip(ciphertext, tagOffset)), plaintext, index);
  });

  it('G15: truncated at a chunk boundary: the last remaining chunk does not open as final', async () => {
    expectRefused(await decryptOutcome(ciphertext.subarray(0, chunkStart(5))), plaintext, 4);
    expectRefused(await decryptOutcome(exactCiphertext.subarray(0, chunkStart(2))), exact, 1);
    expectRefused(await decryptOutcome(ciphertext.subarray(0, chunkStart(1))), plaintext, 0);
  });

  it('G15: truncated mid-chunk, inside a tag, right after the header, or inside the header', async () => {
    expectRefused(await decryptOutcome(ciphertext.subarray(0, chunkStart(2) + 5000)), plaintext, 2);
    expectRefused(await decryptOutcome(ciphertext.subarray(0, ciphertext.length - 1)), plaintext, 5);
    expectRefused(await decryptOutcome(ciphertext.subarray(0, IMAGE_HEADER_BYTES + 10)), plaintext, 0);
    expectRefused(await decryptOutcome(ciphertext.subarray(0, IMAGE_HEADER_BYTES)), plaintext, 0);
    const inHeader = expectRefused(await decryptOutcome(ciphertext.subarray(0, 20)), plaintext, 0);
    expect(inHeader.message).toMatch(/header/);
    expectRefused(await decryptOutcome(Buffer.alloc(0)), plaintext, 0);
  });

  it('G15: bytes appended after the final chunk are refused', async () => {
    expectRefused(await decryptOutcome(Buffer.concat([ciphertext, Buffer.from([0])])), plaintext, 5);
    expectRefused(await decryptOutcome(Buffer.concat([exactCiphertext, Buffer.from([0])])), exact, 2);
  });

  it('G15: a whole extra chunk appended after the final chunk is refused', async () => {
    const extra = ciphertext.subarray(chunkStart(1), chunkStart(2));
    expectRefused(await decryptOutcome(Buffer.concat([ciphertext, extra])), plaintext, 5);
    const exactExtra = exactCiphertext.subarray(chunkStart(1), chunkStart(2));
    expectRefused(await decryptOutcome(Buffer.concat([exactCiphertext, exactExtra])), exact, 2);
  });

  it('G15: two chunks swapped are refused at the first swapped position', async () => {
    const swapped = Buffer.concat([
      ciphertext.subarray(0, chunkStart(1)),
      ciphertext.subarray(chunkStart(2), chunkStart(3)),
      ciphertext.subarray(chunkStart(1), chunkStart(2)),
      ciphertext.subarray(chunkStart(3)),
    ]);
    expectRefused(await decryptOutcome(swapped), plaintext, 1);
  });

  it('G15: a dropped middle chunk is refused at its position', async () => {
    const dropped = Buffer.concat([ciphertext.subarray(0, chunkStart(2)), ciphertext.subarray(chunkStart(3))]);
    expectRefused(await decryptOutcome(dropped), plaintext, 2);
  });

  it('G15: a chunk spliced in from another encryption of the same image under the same key is refused', async () => {
    const spliced = Buffer.concat([ciphertext.subarray(0, chunkStart(3)), otherCiphertext.subarray(chunkStart(3))]);
    expectRefused(await decryptOutcome(spliced), plaintext, 3);
  });

  it('G15: the wrong content key is refused at the first chunk', async () => {
    expectRefused(await decryptOutcome(ciphertext, { key: OTHER_CONTENT_KEY }), plaintext, 0);
  });

  it('G15: more plaintext than maxPlaintextBytes is refused before the chunk that would exceed it is yielded', async () => {
    const err = expectRefused(await decryptOutcome(ciphertext, { max: plaintext.length - 1 }), plaintext, 5);
    expect(err.message).toMatch(/more than/);
    expectRefused(await decryptOutcome(ciphertext, { max: 3 * IMAGE_CHUNK_BYTES }), plaintext, 3);
  });

  it('a maxPlaintextBytes that is not a non-negative integer is refused before anything is yielded', async () => {
    expectRefused(await decryptOutcome(ciphertext, { max: -1 }), plaintext, 0);
    expectRefused(await decryptOutcome(ciphertext, { max: Number.NaN }), plaintext, 0);
  });

  it('G15: a correctly sealed but empty final chunk after data is refused (one encoding per image)', async () => {
    const header = exactCiphertext.subarray(0, IMAGE_HEADER_BYTES);
    const crafted = referenceEncode(CONTENT_KEY, header, [
      { plaintext: exact.subarray(0, IMAGE_CHUNK_BYTES), last: false },
      { plaintext: Buffer.alloc(0), last: true },
    ]);
    const err = expectRefused(await decryptOutcome(crafted), exact, 1);
    expect(err.message).toMatch(/empty final chunk/);
  });

  it('a content key of the wrong length is refused with a typed error before anything is read', async () => {
    let pulled = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      pulled += 1;
      yield ciphertext;
    }
    const outcome = { yielded: [] as Buffer[], error: undefined as unknown };
    try {
      for await (const chunk of decryptImage(CONTENT_KEY.subarray(0, 16), counted(), { maxPlaintextBytes: 1 })) outcome.yielded.push(Buffer.from(chunk));
    } catch (err) {
      outcome.error = err;
    }
    expect(outcome.error).toBeInstanceOf(MalformedEncryptionKeyError);
    expect((outcome.error as UptaneError).code).toBe('malformed_encryption_key');
    expect(outcome.yielded).toHaveLength(0);
    expect(pulled).toBe(0);
    const encryptErr = await rejection(collect(encryptImage(new Uint8Array(31), pieces(plaintext))));
    expect(encryptErr).toBeInstanceOf(MalformedEncryptionKeyError);
  });
});

describe('image format: properties over random sizes, download pieces and tampering (seeded)', () => {
  const sizes = fc.oneof(fc.integer({ min: 0, max: 3 * IMAGE_CHUNK_BYTES + 10 }), fc.constantFrom(0, IMAGE_CHUNK_BYTES, 2 * IMAGE_CHUNK_BYTES, 2 * IMAGE_CHUNK_BYTES + 1));

  it('any image, cut into any download pieces, decrypts to itself', async () => {
    await fc.assert(
      fc.asyncProperty(sizes, fc.integer({ min: 1, max: 3 * CT_CHUNK }), fc.integer({ min: 1, max: 3 * IMAGE_CHUNK_BYTES }), async (size, pieceBytes, plainPieceBytes) => {
        const plaintext = pattern(size, `p${size}`);
        const ciphertext = Buffer.concat(await collect(encryptImage(CONTENT_KEY, pieces(plaintext, plainPieceBytes))));
        expect(ciphertext.length).toBe(encryptedLength(size));
        const outcome = await decryptOutcome(ciphertext, { max: size, pieceBytes });
        expect(outcome.error).toBeUndefined();
        expect(Buffer.concat(outcome.yielded).equals(plaintext)).toBe(true);
      }),
      { seed: 20261205, numRuns: 40 },
    );
  });

  it('G15: any single flipped bit, cut or appended byte is refused, and what was yielded is a whole-chunk prefix of the image', async () => {
    const change = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), bit: fc.constant(0) }),
      fc.record({ kind: fc.constant('append' as const), at: fc.nat({ max: 255 }), bit: fc.constant(0) }),
    );
    await fc.assert(
      fc.asyncProperty(sizes, change, fc.integer({ min: 1, max: 2 * CT_CHUNK }), async (size, { kind, at, bit }, pieceBytes) => {
        const plaintext = pattern(size, `t${size}`);
        const ciphertext = await encrypt(plaintext);
        let tampered: Buffer;
        if (kind === 'flip') {
          tampered = Buffer.from(ciphertext);
          const offset = at % ciphertext.length;
          tampered[offset] = tampered[offset]! ^ (1 << bit);
        } else if (kind === 'cut') {
          tampered = ciphertext.subarray(0, at % ciphertext.length);
        } else {
          tampered = Buffer.concat([ciphertext, Buffer.from([at])]);
        }
        const outcome = await decryptOutcome(tampered, { max: size, pieceBytes });
        expect(outcome.error).toBeInstanceOf(ImageDecryptionError);
        const yielded = Buffer.concat(outcome.yielded);
        expect(yielded.length % IMAGE_CHUNK_BYTES).toBe(0);
        expect(yielded.equals(plaintext.subarray(0, yielded.length))).toBe(true);
      }),
      { seed: 20261205, numRuns: 120 },
    );
  });
});

describe('image format: streaming in flat memory', () => {
  it('a 64 MiB image streams through encrypt and decrypt one chunk at a time, never far ahead of its source', async () => {
    const total = 64 * MiB;
    const piece = MiB;
    const seedBlock = pattern(piece, 'stream');
    let produced = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let offset = 0; offset < total; offset += piece) {
        // A fresh buffer per piece, varied so a chunk repeated or skipped would change the hash.
        const block = Buffer.from(seedBlock);
        block.writeUInt32BE(offset / piece, 0);
        produced += block.length;
        yield block;
      }
    }
    const expected = createHash('sha256');
    async function* hashedSource(): AsyncGenerator<Uint8Array> {
      for await (const block of source()) {
        expected.update(block);
        yield block;
      }
    }
    let largestCiphertextChunk = 0;
    async function* measuredCiphertext(): AsyncGenerator<Uint8Array> {
      for await (const chunk of encryptImage(CONTENT_KEY, hashedSource())) {
        largestCiphertextChunk = Math.max(largestCiphertextChunk, chunk.length);
        yield chunk;
      }
    }
    const actual = createHash('sha256');
    let consumed = 0;
    let largestPlaintextChunk = 0;
    let largestLag = 0;
    for await (const chunk of decryptImage(CONTENT_KEY, measuredCiphertext(), { maxPlaintextBytes: total })) {
      actual.update(chunk);
      consumed += chunk.length;
      largestPlaintextChunk = Math.max(largestPlaintextChunk, chunk.length);
      // What the source has produced but the consumer not yet received: what the pipeline holds.
      largestLag = Math.max(largestLag, produced - consumed);
    }
    expect(consumed).toBe(total);
    expect(actual.digest('hex')).toBe(expected.digest('hex'));
    expect(largestCiphertextChunk).toBeLessThanOrEqual(CT_CHUNK);
    expect(largestPlaintextChunk).toBeLessThanOrEqual(IMAGE_CHUNK_BYTES);
    // One source piece plus a chunk held in each stage; a pipeline that buffered would lag by the image.
    expect(largestLag).toBeLessThanOrEqual(piece + 2 * CT_CHUNK);
  });
});

describe('HPKE key wrap (RFC 9180, bound to ECU serial, filename and ciphertext hash)', () => {
  it('a wrap opens with its ECU key and binding and gives back the content key', async () => {
    const key = generateImageKey();
    expect(key).toHaveLength(32);
    const wrapped = await wrapImageKey(key, ECU_A.publicKey, BINDING);
    expect(wrapped.encapsulatedKey).toMatch(/^[0-9a-f]{64}$/);
    expect(wrapped.wrappedKey).toMatch(/^[0-9a-f]{96}$/);
    expect(Buffer.from(await unwrapImageKey(wrapped, ECU_A, BINDING)).equals(Buffer.from(key))).toBe(true);
    const again = await wrapImageKey(key, ECU_A.publicKey, BINDING);
    expect(again.encapsulatedKey).not.toBe(wrapped.encapsulatedKey); // a fresh ephemeral key per wrap
  });

  async function expectUnwrapRefused(promise: Promise<unknown>): Promise<ImageKeyUnwrapError> {
    const err = await rejection(promise);
    expect(err).toBeInstanceOf(ImageKeyUnwrapError);
    expect(err.code).toBe('image_key_unwrap_failed');
    expect(err.kind).toBe('attack');
    return err as ImageKeyUnwrapError;
  }

  it('G14: a wrap for ECU A does not open with ECU B key, even under ECU A binding', async () => {
    const wrapped = await wrapImageKey(CONTENT_KEY, ECU_A.publicKey, BINDING);
    await expectUnwrapRefused(unwrapImageKey(wrapped, ECU_B, BINDING));
    await expectUnwrapRefused(unwrapImageKey(wrapped, ECU_B, { ...BINDING, ecuSerial: 'ecu-b' }));
  });

  it.each([
    ['another ECU serial', { ecuSerial: 'ecu-b' }],
    ['another filename', { filename: 'firmware-0.9.bin' }],
    ['another ciphertext hash', { ciphertextSha256: 'cd'.repeat(32) }],
  ])('G14: the right key with %s is refused', async (_name, change) => {
    const wrapped = await wrapImageKey(CONTENT_KEY, ECU_A.publicKey, BINDING);
    await expectUnwrapRefused(unwrapImageKey(wrapped, ECU_A, { ...BINDING, ...change }));
  });

  it('G14: an altered or malformed wrap is refused typed', async () => {
    const wrapped = await wrapImageKey(CONTENT_KEY, ECU_A.publicKey, BINDING);
    const flipHex = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1);
    await expectUnwrapRefused(unwrapImageKey({ ...wrapped, wrappedKey: flipHex(wrapped.wrappedKey) }, ECU_A, BINDING));
    await expectUnwrapRefused(unwrapImageKey({ ...wrapped, encapsulatedKey: flipHex(wrapped.encapsulatedKey) }, ECU_A, BINDING));
    // Malformed hex is named as such, before any HPKE work.
    for (const malformed of [
      { ...wrapped, wrappedKey: wrapped.wrappedKey.slice(2) },
      { ...wrapped, encapsulatedKey: wrapped.encapsulatedKey.toUpperCase() },
      { ...wrapped, encapsulatedKey: 'zz'.repeat(32) },
      { ...wrapped, wrappedKey: `${wrapped.wrappedKey}00` },
    ]) {
      expect((await expectUnwrapRefused(unwrapImageKey(malformed, ECU_A, BINDING))).message).toMatch(/malformed/);
    }
    await expectUnwrapRefused(unwrapImageKey(wrapped, ECU_A, { ...BINDING, filename: 'bad\u0001name' }));
  });

  it('interoperates with a direct @hpke/core call: mode base, X25519, HKDF-SHA256, AES-256-GCM, info = canonical JSON', async () => {
    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
    // The info written out by hand: canonical JSON (keys sorted) of the scheme and the binding.
    const info = Buffer.from(
      `{"ciphertextSha256":"${'ab'.repeat(32)}","ecuSerial":"ecu-a","filename":"firmware-1.0.bin","scheme":"uptane-hpke-x25519-aes256gcm-stream-v1"}`,
    );
    const privateRaw = createHash('sha256').update('ecu A encryption key').digest();
    const recipientKey = await suite.kem.deserializePrivateKey(privateRaw);
    const wrapped = await wrapImageKey(CONTENT_KEY, ECU_A.publicKey, BINDING);
    const opened = await suite.open(
      { recipientKey, enc: Buffer.from(wrapped.encapsulatedKey, 'hex'), info },
      Buffer.from(wrapped.wrappedKey, 'hex'),
    );
    expect(Buffer.from(opened).equals(Buffer.from(CONTENT_KEY))).toBe(true);

    // And the other way: a key sealed by @hpke/core to the ECU's raw public key unwraps here.
    const recipientPublicKey = await suite.kem.deserializePublicKey(ECU_A.publicKey.raw);
    const sealed = await suite.seal({ recipientPublicKey, info }, OTHER_CONTENT_KEY);
    const unwrapped = await unwrapImageKey(
      { encapsulatedKey: Buffer.from(sealed.enc).toString('hex'), wrappedKey: Buffer.from(sealed.ct).toString('hex') },
      ECU_A,
      BINDING,
    );
    expect(Buffer.from(unwrapped).equals(Buffer.from(OTHER_CONTENT_KEY))).toBe(true);

    // And against RFC 9180 itself, read independently with node:crypto.
    const independent = rfc9180Open(privateRaw, Buffer.from(wrapped.encapsulatedKey, 'hex'), info, Buffer.from(wrapped.wrappedKey, 'hex'));
    expect(independent.equals(Buffer.from(CONTENT_KEY))).toBe(true);
  });

  it('a content key of the wrong length, or a hand-built public key of the wrong length or of small order, is not wrapped', async () => {
    expect(await rejection(wrapImageKey(new Uint8Array(16), ECU_A.publicKey, BINDING))).toBeInstanceOf(MalformedEncryptionKeyError);
    const short = { ...ECU_A.publicKey, raw: ECU_A.publicKey.raw.subarray(0, 31) };
    expect(await rejection(wrapImageKey(CONTENT_KEY, short, BINDING))).toBeInstanceOf(MalformedEncryptionKeyError);
    const zero = { ...ECU_A.publicKey, raw: new Uint8Array(32) };
    expect(await rejection(wrapImageKey(CONTENT_KEY, zero, BINDING))).toBeInstanceOf(MalformedEncryptionKeyError);
  });
});

describe('X25519 encryption keys and key files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'enc-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the public key is raw 32 bytes, hex and keyid = sha256 of the raw bytes; hex parses back', () => {
    const { publicKey } = ECU_A;
    expect(publicKey.raw).toHaveLength(32);
    expect(publicKey.hex).toBe(Buffer.from(publicKey.raw).toString('hex'));
    expect(publicKey.keyid).toBe(createHash('sha256').update(publicKey.raw).digest('hex'));
    expect(encryptionPublicKeyFromHex(publicKey.hex)).toEqual(publicKey);
  });

  it.each([
    ['too short', 'ab'.repeat(31)],
    ['too long', 'ab'.repeat(33)],
    ['not hex', 'zz'.repeat(32)],
    ['uppercase', 'AB'.repeat(32)],
    ['empty', ''],
    ['all zeros (small order: no shared secret)', '00'.repeat(32)],
    ['one (small order)', '01' + '00'.repeat(31)],
  ])('a public key hex that is %s is refused typed', (_name, hex) => {
    const err = thrownBy(() => encryptionPublicKeyFromHex(hex));
    expect(err).toBeInstanceOf(MalformedEncryptionKeyError);
    expect(err.code).toBe('malformed_encryption_key');
  });

  it('a bad PEM, an Ed25519 PEM, a public-key PEM or a private key of the wrong length is refused typed', () => {
    const ed25519 = generateKeyPairSync('ed25519');
    const x25519 = generateKeyPairSync('x25519');
    for (const pem of [
      'not a pem',
      ed25519.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      x25519.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    ]) {
      expect(thrownBy(() => EncryptionKeyPair.fromPem(pem))).toBeInstanceOf(MalformedEncryptionKeyError);
    }
    expect(thrownBy(() => EncryptionKeyPair.fromPrivateBytes(new Uint8Array(31)))).toBeInstanceOf(MalformedEncryptionKeyError);
  });

  it('a key pair saved 0600 loads back, is read by `openssl pkey`, and is never overwritten', () => {
    const pair = EncryptionKeyPair.generate();
    const path = join(dir, 'encryption.pem');
    saveEncryptionKeyPair(path, pair);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadEncryptionKeyPair(path).publicKey).toEqual(pair.publicKey);
    const spki = execFileSync('openssl', ['pkey', '-in', path, '-pubout', '-outform', 'DER']);
    expect(spki.subarray(spki.length - 32).equals(Buffer.from(pair.publicKey.raw))).toBe(true);
    expect(thrownBy(() => saveEncryptionKeyPair(path, EncryptionKeyPair.generate()))).toBeInstanceOf(KeyFileError);
    expect(loadEncryptionKeyPair(path).publicKey).toEqual(pair.publicKey);
  });

  it('a key made by `openssl genpkey -algorithm X25519` loads; a missing or bad file is refused typed', () => {
    const path = join(dir, 'openssl.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'X25519', '-out', path]);
    const pair = loadEncryptionKeyPair(path);
    const spki = execFileSync('openssl', ['pkey', '-in', path, '-pubout', '-outform', 'DER']);
    expect(Buffer.from(pair.publicKey.raw).equals(spki.subarray(spki.length - 32))).toBe(true);
    expect(thrownBy(() => loadEncryptionKeyPair(join(dir, 'missing.pem')))).toBeInstanceOf(KeyFileError);
    writeFileSync(join(dir, 'bad.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    expect(thrownBy(() => loadEncryptionKeyPair(join(dir, 'bad.pem')))).toBeInstanceOf(MalformedEncryptionKeyError);
  });
});
