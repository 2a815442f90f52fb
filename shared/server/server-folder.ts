// A repository server's data folder: only its owner may read it (keys, databases, images:
// docs/threat-model.md HR-9h), and only one server process at a time may serve from it, since its
// caches assume they see every write (HR-9i).
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../core/errors.js';
import { takePidLock } from '../files/pid-lock.js';

/** The lock file a serving process holds in its data folder. */
export const SERVE_LOCK_FILE = 'serve.lock';

/**
 * Creates `dataDir` (mode 0700) if needed, tightens it and the listed subfolders to 0700, and locks
 * it for this process. `command` names the server in the lock and in the refusal, e.g.
 * `uptane image serve`. Returns the lock's release.
 */
export function claimServerFolder(dataDir: string, command: string, subfolders: readonly string[] = []): () => void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lockPath = join(dataDir, SERVE_LOCK_FILE);
  const release = takePidLock(
    lockPath,
    command,
    (holder) =>
      new StorageError(
        `${dataDir} is in use by another \`${holder.note || command}\` (pid ${holder.pid}); two servers on one data folder would serve stale data. ` +
          `Stop that process first, or give this server its own --data-dir. If no such process runs, remove ${lockPath}.`,
      ),
  );
  try {
    for (const dir of [dataDir, ...subfolders.map((name) => join(dataDir, name))]) {
      if (existsSync(dir) && statSync(dir).isDirectory()) chmodSync(dir, 0o700);
    }
  } catch (err) {
    release();
    throw new StorageError(`cannot restrict the permissions of ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
  return release;
}
