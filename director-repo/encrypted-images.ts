// The Director's encrypted images (docs/image-encryption.md): for an assignment the operator wants
// encrypted, the image is downloaded from the Image repository (verified against its signed length
// and hashes), encrypted ONCE under a fresh content key, streaming, and kept as a ciphertext file;
// per ECU only the content key is wrapped, to that ECU's X25519 key and bound to (ECU serial,
// filename, ciphertext hash). Encrypting per ECU would buy no confidentiality (the plaintext is the
// same image) and cost a full pass and a copy per ECU.
//
// The content key at rest is a Director secret: it sits in the Director's database and the
// ciphertext in <data-dir>/encrypted-images/, both owner-only (0600 files in 0700 folders,
// docs/threat-model.md HR-9h); a key management service behind this module is later work.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../shared/core/clock.js';
import {
  encryptedLength,
  encryptImage,
  encryptionPublicKeyFromHex,
  generateImageKey,
  IMAGE_ENCRYPTION_SCHEME,
  wrapImageKey,
} from '../shared/core/crypto/image-encryption.js';
import { ConflictError, StorageError } from '../shared/core/errors.js';
import type { TargetFile } from '../shared/core/metadata/types.js';
import { fsyncDirectory } from '../shared/files/fs-atomic.js';
import type { ImageEncryption } from './api/operator-api.js';
import type { ImageCatalog } from './image-catalog.js';
import type { DirectorStore } from './store/director-store.js';
import type { EncryptedImageRecord } from './store/encrypted-images.js';

export type { EncryptedImageRecord };

/** The file name a ciphertext is served and stored under: its SHA-256 and `.enc`. */
const CIPHERTEXT_FILE = /^([0-9a-f]{64})\.enc$/;
const ctx = { repository: 'director' };

export const ciphertextFileName = (ciphertextSha256: string): string => `${ciphertextSha256}.enc`;

export class EncryptedImages {
  /** Encryptions in progress, by image: concurrent assignments of one image wait for one encryption. */
  private readonly making = new Map<string, Promise<EncryptedImageRecord>>();

  /**
   * @param dir the folder of the ciphertext files (`<data-dir>/encrypted-images`), or undefined for a
   *   Director without a data folder (tests of the services alone), which cannot encrypt.
   */
  constructor(
    private readonly store: DirectorStore,
    private readonly images: ImageCatalog,
    private readonly clock: Clock,
    private readonly dir: string | undefined,
  ) {}

  /**
   * The ciphertext of the image `filename`, signed by the Image repository as `target`: the one
   * made before for the same name and plaintext hash, or made now (once, however many callers ask
   * at the same time).
   */
  async ciphertextFor(filename: string, target: TargetFile): Promise<EncryptedImageRecord> {
    const sha256 = target.hashes.sha256;
    if (sha256 === undefined) throw new ConflictError(`the Image repository lists no sha256 for ${filename}: it cannot be encrypted`, ctx);
    const stored = await this.store.encryptedImages.byPlaintext(filename, sha256);
    if (stored !== undefined) return stored;
    const key = `${filename}\n${sha256}`;
    let making = this.making.get(key);
    if (making === undefined) {
      making = this.make(filename, target, sha256).finally(() => this.making.delete(key));
      this.making.set(key, making);
    }
    return making;
  }

  /** The content key of `record` wrapped for one ECU, as the targets list it under that ECU. */
  async encryptionFor(record: EncryptedImageRecord, ecuSerial: string, encryptionPublicKey: string): Promise<ImageEncryption> {
    const to = encryptionPublicKeyFromHex(encryptionPublicKey);
    const wrapped = await wrapImageKey(Buffer.from(record.contentKey, 'hex'), to, {
      ecuSerial,
      filename: record.filename,
      ciphertextSha256: record.ciphertextSha256,
    });
    return {
      scheme: IMAGE_ENCRYPTION_SCHEME,
      keyid: to.keyid,
      encapsulatedKey: wrapped.encapsulatedKey,
      wrappedKey: wrapped.wrappedKey,
      encryptedTarget: { filename: ciphertextFileName(record.ciphertextSha256), length: record.ciphertextLength, hashes: { sha256: record.ciphertextSha256 } },
    };
  }

  /**
   * The ciphertext file vehicle `vin` asks for (`<sha256>.enc`), if one of its own active assignments
   * lists it; undefined otherwise, whether or not the file exists, so a vehicle learns nothing about
   * other vehicles' ciphertexts (no oracle).
   */
  async servable(vin: string, file: string): Promise<{ path: string; sha256: string } | undefined> {
    const sha256 = CIPHERTEXT_FILE.exec(file)?.[1];
    if (sha256 === undefined || this.dir === undefined) return undefined;
    const active = await this.store.assignments.active(vin);
    if (!active.some((a) => a.encryption?.encryptedTarget.hashes.sha256 === sha256)) return undefined;
    const path = join(this.dir, ciphertextFileName(sha256));
    // Its targets sign this very ciphertext: it cannot be made again (a new encryption has another
    // salt, so another hash). The vehicle sees a fault (500), the operator's log says what to do.
    if (!existsSync(path)) {
      throw new StorageError(
        `the ciphertext ${ciphertextFileName(sha256)} of an active assignment of ${vin} is missing from ${this.dir}: cancel the assignment and assign the image again with encrypt, which encrypts it anew`,
        ctx,
      );
    }
    return { path, sha256 };
  }

  private async make(filename: string, target: TargetFile, sha256: string): Promise<EncryptedImageRecord> {
    // Made by a caller that had not yet seen it in the store when it asked.
    const stored = await this.store.encryptedImages.byPlaintext(filename, sha256);
    if (stored !== undefined) return stored;
    const { dir } = this;
    if (dir === undefined) throw new ConflictError('this Director has no folder for encrypted images: it cannot encrypt', ctx);
    if (this.images.downloadImage === undefined) throw new ConflictError('this Director cannot download images from the Image repository: it cannot encrypt', ctx);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const base = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const plaintextPath = `${base}.image`;
    const ciphertextPath = `${base}.enc`;
    try {
      // Verified against the Image repository's signed length and hashes before a byte is encrypted:
      // the Director encrypts only what the Image repository signed (docs/uptane-conformance.md 2).
      await this.images.downloadImage(filename, target, plaintextPath);
      const contentKey = generateImageKey();
      const { sha256: ciphertextSha256, length } = await writeCiphertext(contentKey, plaintextPath, ciphertextPath);
      if (length !== encryptedLength(target.length)) {
        throw new StorageError(`the ciphertext of ${filename} is ${length} bytes, not the ${encryptedLength(target.length)} its ${target.length}-byte image makes`, ctx);
      }
      // The file is in place, durably, before the record that names it (a crash leaves at most an
      // unnamed file, never a record without its file).
      const finalPath = join(dir, ciphertextFileName(ciphertextSha256));
      await rename(ciphertextPath, finalPath);
      fsyncDirectory(dir);
      const record: EncryptedImageRecord = {
        filename,
        plaintextSha256: sha256,
        plaintextLength: target.length,
        contentKey: Buffer.from(contentKey).toString('hex'),
        ciphertextSha256,
        ciphertextLength: length,
        createdAt: this.clock.now().toISOString(),
      };
      await this.store.encryptedImages.insert(record);
      return record;
    } finally {
      // The plaintext copy and any partial file go, whatever happened.
      await Promise.all([plaintextPath, `${plaintextPath}.part`, ciphertextPath].map((path) => rm(path, { force: true })));
    }
  }

  /** True if the ciphertext file of a record is in place (tests, and an operator's check). */
  hasFile(ciphertextSha256: string): boolean {
    return this.dir !== undefined && existsSync(join(this.dir, ciphertextFileName(ciphertextSha256)));
  }
}

/** Encrypts the file at `from` into a new owner-only file `to`, streaming (one chunk in memory), synced; its hash and length. */
async function writeCiphertext(contentKey: Uint8Array, from: string, to: string): Promise<{ sha256: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  const file = await open(to, 'wx', 0o600);
  try {
    const plaintext = createReadStream(from, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>;
    for await (const chunk of encryptImage(contentKey, plaintext)) {
      hash.update(chunk);
      length += chunk.length;
      for (let written = 0; written < chunk.length; ) written += (await file.write(chunk, written)).bytesWritten;
    }
    await file.sync();
  } finally {
    await file.close();
  }
  return { sha256: hash.digest('hex'), length };
}
