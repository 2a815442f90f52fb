// Atomic file writes: temp file in the same directory, fsync, rename, fsync the directory. A crash at
// any point leaves either the old file or the new one, never a mix (K3, N1).
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { StorageError } from '../core/errors.js';

export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (err) {
    throw new StorageError(`cannot sync directory ${dir}: ${(err as Error).message}`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Replaces `path` with `data` atomically; on failure no temp file is left and the old file stays. */
export function writeFileAtomic(path: string, data: Uint8Array, mode = 0o644): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(temp, 'wx', mode);
    try {
      let written = 0;
      while (written < data.length) written += writeSync(fd, data, written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    removeTempFile(temp);
    throw new StorageError(`cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
  fsyncDirectory(dir);
}

/**
 * K3: cleanup after a failed write. ENOTDIR means the directory itself is gone (replaced by a file),
 * so no temp file can exist; before this, that cleanup error escaped untyped and hid the StorageError
 * (test/tuf/path-safety.test.ts).
 */
function removeTempFile(temp: string): void {
  try {
    rmSync(temp, { force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw new StorageError(`cannot remove temp file ${temp}: ${(err as Error).message}`, { cause: err });
  }
}
