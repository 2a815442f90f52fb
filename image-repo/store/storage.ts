// The Image repository's storage as its services see it: the metadata versions, the upload records
// and the uploader tokens, each behind its own interface (store/*.ts). SQLite (store/sqlite.ts) is
// the implementation today; another database goes behind the same interfaces.
import type { ImageRecordStore } from './images.js';
import type { MetadataStore } from './metadata.js';
import type { UploaderTokenStore } from './uploader-tokens.js';

export interface ImageRepoStorage extends MetadataStore, ImageRecordStore, UploaderTokenStore {
  /** The connection pool's counts (/metrics), where there is a pool (PostgreSQL). */
  poolStats?(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}
