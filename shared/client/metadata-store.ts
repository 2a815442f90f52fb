// Local storage of trusted metadata for one repository: exactly the bytes received, written only
// after they verified, atomically (C11; python-tuf CVE-2020-15163, go-tuf CVE-2022-29173, tough
// CVE-2025-2888). File names are percent-encoded role names, so no role name can escape the
// directory (K1; python-tuf GHSA-wjw6-2cqr-j4qr).
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../core/errors.js';
import { writeFileAtomic, fsyncDirectory } from '../files/fs-atomic.js';
import { roleFileName } from '../core/metadata/paths.js';

export interface MetadataStore {
  /** The stored bytes of `role`, or undefined if none. */
  load(role: string): Uint8Array | undefined;
  /** Stores `bytes` as the trusted `role`, atomically. */
  persist(role: string, bytes: Uint8Array): void;
  remove(role: string): void;
}

export class FileMetadataStore implements MetadataStore {
  constructor(readonly directory: string) {
    try {
      mkdirSync(directory, { recursive: true });
    } catch (err) {
      throw new StorageError(`cannot create metadata directory ${directory}: ${(err as Error).message}`, { cause: err });
    }
  }

  private path(role: string): string {
    return join(this.directory, roleFileName(role));
  }

  load(role: string): Uint8Array | undefined {
    try {
      return readFileSync(this.path(role));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StorageError(`cannot read stored ${role} metadata: ${(err as Error).message}`, { cause: err, role });
    }
  }

  persist(role: string, bytes: Uint8Array): void {
    writeFileAtomic(this.path(role), bytes);
  }

  remove(role: string): void {
    try {
      rmSync(this.path(role), { force: true });
    } catch (err) {
      throw new StorageError(`cannot remove stored ${role} metadata: ${(err as Error).message}`, { cause: err, role });
    }
    fsyncDirectory(this.directory);
  }
}
