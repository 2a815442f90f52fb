// A lock file naming the process that holds it, for folders that one process at a time may drive
// (`uptane vehicle run`, `uptane vehicle secondary serve`, the repository servers' data folders). A lock whose process is gone is
// stale and taken over, so a crash never leaves a vehicle locked.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { StorageError } from '../core/errors.js';

export interface PidLockHolder {
  readonly pid: number;
  /** What the holder said about itself, e.g. the URL it serves on. */
  readonly note: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live process holding `path`, or undefined (no lock file, or its process is gone). */
export function readPidLock(path: string): PidLockHolder | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StorageError(`cannot read lock ${path}: ${(err as Error).message}`, { cause: err });
  }
  const [first = '', ...rest] = text.split('\n');
  const pid = Number(first.trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !isAlive(pid)) return undefined;
  return { pid, note: rest.join('\n').trim() };
}

/**
 * Takes the lock at `path` for this process, or throws what `busy` makes of the live holder.
 * Returns the release function.
 */
export function takePidLock(path: string, note: string, busy: (holder: PidLockHolder) => Error): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageError(`cannot create lock ${path}: ${(err as Error).message}`, { cause: err });
      const holder = readPidLock(path);
      if (holder !== undefined) throw busy(holder);
      rmSync(path, { force: true }); // left behind by a process that died
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n${note}\n`);
    } finally {
      closeSync(fd);
    }
    return () => rmSync(path, { force: true });
  }
  throw new StorageError(`cannot take lock ${path}: remove it if no other uptane process uses this folder`);
}
