// Content-addressed image storage for the Image repository: each image is one file named by its
// SHA-256, written to a temp name while being hashed (sha256 and sha512) and counted against the
// size limit, fsync'd, then renamed into place (docs/decisions.md Storage). An image is never held
// whole.
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory } from '../shared/files/fs-atomic.js';
import { MultiHasher } from '../shared/core/hashing.js';
import { ImageTooLargeError } from '../shared/core/errors.js';

export interface StoredBlob {
  readonly length: number;
  readonly hashes: { readonly sha256: string; readonly sha512: string };
}

export class BlobStore {
  private readonly tempDir: string;

  constructor(readonly directory: string) {
    this.tempDir = join(directory, 'incoming');
    mkdirSync(this.tempDir, { recursive: true, mode: 0o700 });
  }

  /**
   * Removes the temp files of uploads cut short by a crash (docs/threat-model.md HR-9f): a live
   * upload is never renamed from a file that survived a restart. Only before serving, by the process
   * that holds the data folder's lock; or, where replicas share the folder, only files unmodified for
   * `olderThanMs` (another replica's live upload keeps writing to its own; measured on the system
   * clock, as the file times are). Returns how many were removed.
   */
  removeStaleTempFiles(olderThanMs = 0): number {
    let removed = 0;
    for (const name of readdirSync(this.tempDir)) {
      if (!name.endsWith('.tmp')) continue;
      const path = join(this.tempDir, name);
      if (olderThanMs > 0) {
        const modified = statSync(path, { throwIfNoEntry: false })?.mtimeMs;
        // Gone meanwhile (renamed into place by the replica that wrote it), or still being written.
        if (modified === undefined || Date.now() - modified < olderThanMs) continue;
      }
      rmSync(path, { force: true });
      removed++;
    }
    return removed;
  }

  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new RangeError('blob ids are sha256 hex digests');
    return join(this.directory, sha256);
  }

  /** Length of the stored blob with this sha256, or undefined. */
  async sizeOf(sha256: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(sha256))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** sha256 and sha512 of a stored blob, re-read from disk (to check metadata against). */
  async digest(sha256: string): Promise<StoredBlob | undefined> {
    const size = await this.sizeOf(sha256);
    if (size === undefined) return undefined;
    const hasher = new MultiHasher(['sha256', 'sha512']);
    for await (const chunk of createReadStream(this.pathOf(sha256), { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      hasher.update(chunk);
    }
    const { sha256: h256, sha512 } = hasher.digests();
    return { length: size, hashes: { sha256: h256!, sha512: sha512! } };
  }

  /** Streams `body` into the store; throws ImageTooLargeError past `maxBytes`, leaving nothing behind. */
  async put(body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<StoredBlob> {
    const temp = join(this.tempDir, `${randomBytes(8).toString('hex')}.tmp`);
    const hasher = new MultiHasher(['sha256', 'sha512']);
    const file = await open(temp, 'wx', 0o600); // owner-only, like the whole data folder (HR-9h)
    let length = 0;
    try {
      for await (const chunk of body) {
        length += chunk.length;
        if (length > maxBytes) throw new ImageTooLargeError(`image exceeds the ${maxBytes}-byte upload limit`);
        hasher.update(chunk);
        await file.write(chunk);
      }
      await file.sync();
      await file.close();
    } catch (err) {
      await file.close().catch(() => undefined); // already closed, or the first error is the one to report
      await rm(temp, { force: true });
      throw err;
    }
    const { sha256, sha512 } = hasher.digests();
    await rename(temp, this.pathOf(sha256!));
    fsyncDirectory(this.directory);
    return { length, hashes: { sha256: sha256!, sha512: sha512! } };
  }
}
