// The key that vehicle session tokens are MACed with (vehicle-sessions.ts) when replicas of the
// Director serve one database: every replica must accept the tokens any of them issued, so they
// share it as they share the online keys, in <data-dir>/keys (docs/decisions.md "Replicas"). Not
// in the database: a leaked database (a backup, a read-only account) must not let anyone mint
// sessions. Made once, by whichever replica starts first; the others read it.
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, lstatSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StorageError } from '../shared/core/errors.js';
import { fsyncDirectory } from '../shared/files/fs-atomic.js';

/** The file in the key folder (not a .pem: no key file of an offline role can be mistaken for it). */
export const SESSION_SECRET_FILE = 'session-secret';

const SECRET = /^[0-9a-f]{64}\n?$/;

/**
 * The 32-byte secret in `<keyDir>/session-secret`, made (0600) if there is none. Two replicas
 * starting at once make one: each writes a file of its own and links it into place, which only one
 * link does; the other reads the winner's, whole. A file that is not a regular owner-only file of
 * 64 hex digits is refused (StorageError): it was put there by hand.
 */
export function loadSessionSecret(keyDir: string): Buffer {
  const path = join(keyDir, SESSION_SECRET_FILE);
  try {
    return readSecret(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // Written beside the key folder, never in it: a crash before the link leaves no stray file there
  // (loadOnlineKeys refuses any).
  const temp = join(dirname(keyDir), `.${SESSION_SECRET_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600); // exact, whatever the umask
    writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
    fsyncDirectory(keyDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another replica's came first
  } finally {
    unlinkSync(temp);
  }
  return readSecret(path);
}

function readSecret(path: string): Buffer {
  const stat = lstatSync(path);
  if (!stat.isFile() || (stat.mode & 0o077) !== 0) {
    throw new StorageError(`${path} must be a regular file readable by its owner only (mode 0600): the session secret lets whoever reads it open any vehicle's session`);
  }
  const text = readFileSync(path, 'latin1');
  if (!SECRET.test(text)) throw new StorageError(`${path} is not a session secret (64 hex digits): remove it and a new one is made at the next start, ending every open session`);
  return Buffer.from(text.slice(0, 64), 'hex');
}
