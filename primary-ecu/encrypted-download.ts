// Downloading an image the Director encrypted for an ECU of this vehicle (docs/image-encryption.md).
// The ciphertext comes from the Director through the DirectorChannel, authenticated like metadata,
// into a `.part` file capped at the encrypted length the Director's targets sign (F1, F2), resumed
// with a range request after a failed network (F6), and checked against that length and SHA-256
// before anything reads it, so a ciphertext altered on the way never reaches an ECU. Only the target
// ECU can decrypt it; the primary checks the ciphertext and hands it on.
import { createReadStream, writeSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DownloadLengthError, HashMismatchError, LengthMismatchError, StorageError, type ErrorContext } from '../shared/core/errors.js';
import { MultiHasher, READ_CHUNK_BYTES } from '../shared/core/hashing.js';
import { fsyncDirectory } from '../shared/files/fs-atomic.js';
import { openPartFile, resumePartFile } from '../shared/files/part-file.js';
import type { DirectorChannel } from '../shared/uptane/director-channel.js';
import type { EcuImageEncryption } from '../shared/uptane/uptane-checks.js';

type EncryptedTarget = EcuImageEncryption['encryptedTarget'];

/** True if `path` already holds exactly this ciphertext (a cycle interrupted after its download). */
export async function isEncryptedImageCached(target: EncryptedTarget, path: string): Promise<boolean> {
  try {
    if ((await stat(path)).size !== target.length) return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new StorageError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return (await hashFile(path)).matches(target.hashes);
}

async function hashFile(path: string): Promise<MultiHasher> {
  const hasher = new MultiHasher(['sha256']);
  for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Buffer>) hasher.update(chunk);
  return hasher;
}

/**
 * Downloads `target` from the Director to `destination`, which appears only once length and SHA-256
 * matched. A longer answer is DownloadLengthError, a shorter one LengthMismatchError, other bytes
 * HashMismatchError: attacks, and the partial file goes. A failed network keeps it for a resume.
 */
export async function downloadEncryptedImage(
  channel: DirectorChannel,
  target: EncryptedTarget,
  destination: string,
  onProgress?: (received: number, total: number) => void,
): Promise<void> {
  const ctx: ErrorContext = { repository: 'director', role: target.filename };
  const partial = `${destination}.part`;
  const hasher = new MultiHasher(['sha256']);
  let offset = await resumePartFile(partial, target.length, (chunk) => hasher.update(chunk), ctx);
  const file = await openPartFile(partial, offset, ctx);
  let received: number;
  try {
    const response = await channel.fetchImage(target.filename, { maxBytes: target.length - offset, offset }).catch(async (err: unknown) => {
      if (offset === 0) await rm(partial, { force: true }); // nothing worth keeping for a resume
      throw err;
    });
    if (response.offset !== offset) {
      // The server ignored the range: start over.
      offset = 0;
      hasher.reset();
      await file.truncate(0);
    }
    received = offset;
    try {
      for await (const chunk of response.body) {
        received += chunk.length;
        if (received > target.length) throw new DownloadLengthError(`${target.filename} is longer than its signed ${target.length} bytes (endless data?)`, ctx);
        hasher.update(chunk);
        for (let written = 0; written < chunk.length; ) written += writeSync(file.fd, chunk, written);
        onProgress?.(received, target.length);
      }
      await file.sync();
    } catch (err) {
      if (err instanceof DownloadLengthError) await rm(partial, { force: true });
      throw err; // a network failure keeps the .part file for resuming
    }
  } finally {
    await file.close();
  }
  if (received !== target.length) {
    await rm(partial, { force: true });
    throw new LengthMismatchError(`${target.filename} is ${received} bytes; ${target.length} signed`, ctx);
  }
  if (!hasher.matches(target.hashes)) {
    await rm(partial, { force: true });
    throw new HashMismatchError(`${target.filename} does not match the SHA-256 the Director signed for it`, ctx);
  }
  try {
    await rename(partial, destination);
  } catch (err) {
    throw new StorageError(`cannot move ${target.filename} into place: ${(err as Error).message}`, { ...ctx, cause: err });
  }
  fsyncDirectory(dirname(destination));
}
