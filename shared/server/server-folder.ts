// A repository server's data folder: only its owner may read it (keys, databases, images:
// docs/threat-model.md HR-9h), and only one server process at a time may serve from it, since its
// caches assume they see every write (HR-9i), unless its state is in a database replicas share.
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
export function claimServerFolder(dataDir: string, command: string, subfolders: readonly string[] = [], options: { readonly shared?: boolean } = {}): () => void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // `shared`: replicas on one PostgreSQL database share the folder (online keys on a shared file
  // system) and keep no cache that another's write could make stale, so nothing is locked; the
  // permissions are still tightened.
  if (options.shared === true) {
    restrictPermissions(dataDir, subfolders);
    return () => undefined;
  }
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
    restrictPermissions(dataDir, subfolders);
  } catch (err) {
    release();
    throw err;
  }
  return release;
}

function restrictPermissions(dataDir: string, subfolders: readonly string[]): void {
  try {
    for (const dir of [dataDir, ...subfolders.map((name) => join(dataDir, name))]) {
      if (existsSync(dir) && statSync(dir).isDirectory()) chmodSync(dir, 0o700);
    }
  } catch (err) {
    throw new StorageError(`cannot restrict the permissions of ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
}
