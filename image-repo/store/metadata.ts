// Every metadata version the Image repository ever published, served by version so that clients can
// walk roots and fetch consistent snapshots. Every method is a promise, so that a network database
// fits behind it; a publication is one unit of work, all of its files visible together or none.
import { ConflictError } from '../../shared/core/errors.js';

export interface StoredMetadata {
  readonly role: string;
  readonly version: number;
  readonly bytes: Buffer;
  /** SHA-256 of `bytes`, hex: the ETag clients revalidate with. */
  readonly sha256: string;
}

/** A metadata file about to be published. */
export interface PublishedFile {
  readonly role: string;
  readonly version: number;
  readonly bytes: Uint8Array;
}

/**
 * Another publication took one of the versions this one was about to publish: the repository
 * changed since it was read. Nothing of this publication was stored; the publisher may read again
 * and sign anew.
 */
export class PublishConflictError extends ConflictError {}

/** A published version as the transparency log names it: no bytes, their length and SHA-256. */
export interface PublishedVersion {
  readonly role: string;
  readonly version: number;
  readonly length: number;
  readonly sha256: string;
}

export interface MetadataStore {
  /** The highest published version of `role`. */
  latest(role: string): Promise<StoredMetadata | undefined>;
  /** `role` at `version`, if it was published. */
  get(role: string, version: number): Promise<StoredMetadata | undefined>;
  /** Targets and delegated roles that have been published, by name (never root, snapshot or timestamp). */
  targetsRoles(): Promise<string[]>;
  /**
   * Publishes `files` in one transaction: all become visible together, or none. A (role, version)
   * already published fails the whole publication with PublishConflictError, so two publishers that
   * read the same state cannot both sign its successor.
   */
  publish(files: readonly PublishedFile[], now: Date): Promise<void>;
  /**
   * Every version of every role ever published, oldest publication first: what the transparency
   * log's catch-up compares with the log on start (image-repo/transparency-log.ts).
   */
  publishedVersions(): Promise<PublishedVersion[]>;
}
