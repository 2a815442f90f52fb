// The `.part` file of a resumable download (docs/threat-model.md F6, K4): what is already there is
// hashed again before the download continues after it, and the file is never followed through a
// symlink. Shared by the Image repository client's downloads (shared/client/updater.ts) and the
// primary's download of encrypted images from the Director (primary-ecu/encrypted-download.ts).
import { constants, createReadStream, type Stats } from 'node:fs';
import { lstat, open, rm, type FileHandle } from 'node:fs/promises';
import { StorageError, type ErrorContext } from '../core/errors.js';

/** Opens the `.part` file for appending (emptied when starting at 0); O_NOFOLLOW refuses a planted symlink (K4). */
export async function openPartFile(partial: string, offset: number, ctx: ErrorContext): Promise<FileHandle> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | (constants.O_NOFOLLOW ?? 0) | (offset === 0 ? constants.O_TRUNC : 0);
  try {
    return await open(partial, flags, 0o644);
  } catch (err) {
    throw new StorageError(`cannot write ${partial}: ${(err as Error).message}`, { ...ctx, cause: err });
  }
}

/**
 * Feeds a `.part` file an interrupted download left into `update` and returns its length: 0 when
 * there is none or it cannot be resumed. CVE-2026-6968: anything but a regular file shorter than the
 * signed length (a planted symlink, a file already too long) is removed, never followed or trusted.
 */
export async function resumePartFile(partial: string, signedLength: number, update: (chunk: Buffer) => unknown, ctx: ErrorContext): Promise<number> {
  let info: Stats;
  try {
    info = await lstat(partial);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new StorageError(`cannot read ${partial}: ${(err as Error).message}`, { ...ctx, cause: err });
  }
  if (!info.isFile() || info.size >= signedLength) {
    try {
      await rm(partial, { force: true });
    } catch (err) {
      throw new StorageError(`cannot remove ${partial}: ${(err as Error).message}`, { ...ctx, cause: err });
    }
    return 0;
  }
  for await (const chunk of createReadStream(partial, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) await update(chunk);
  return info.size;
}
