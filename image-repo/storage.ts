// The Image repository's database: every metadata version ever published (served by version, so
// clients can walk roots and fetch consistent snapshots), the images uploaded, and the uploader
// credentials (stored as SHA-256 of the token). All SQL of the Image repository lives here.
import { createHash, timingSafeEqual } from 'node:crypto';
import { openDatabase, type Db } from '../shared/sqlite.js';

const MIGRATIONS = [
  `CREATE TABLE metadata (
     role TEXT NOT NULL,
     version INTEGER NOT NULL CHECK (version >= 1),
     bytes BLOB NOT NULL,
     sha256 TEXT NOT NULL,
     published_at TEXT NOT NULL,
     PRIMARY KEY (role, version)
   );
   CREATE TABLE images (
     sha256 TEXT PRIMARY KEY,
     sha512 TEXT NOT NULL,
     length INTEGER NOT NULL,
     uploaded_by TEXT NOT NULL,
     uploaded_at TEXT NOT NULL
   );
   CREATE TABLE uploaders (
     name TEXT PRIMARY KEY,
     token_sha256 TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL
   );`,
];

export interface StoredMetadata {
  readonly role: string;
  readonly version: number;
  readonly bytes: Buffer;
  readonly sha256: string;
}

export interface ImageRecord {
  readonly sha256: string;
  readonly sha512: string;
  readonly length: number;
}

const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

export class ImageRepoStorage {
  private readonly db: Db;
  private readonly statements;

  constructor(path: string) {
    this.db = openDatabase(path, MIGRATIONS);
    this.statements = {
      latest: this.db.prepare('SELECT role, version, bytes, sha256 FROM metadata WHERE role = ? ORDER BY version DESC LIMIT 1'),
      byVersion: this.db.prepare('SELECT role, version, bytes, sha256 FROM metadata WHERE role = ? AND version = ?'),
      insert: this.db.prepare('INSERT INTO metadata (role, version, bytes, sha256, published_at) VALUES (?, ?, ?, ?, ?)'),
      roles: this.db.prepare("SELECT DISTINCT role FROM metadata WHERE role NOT IN ('root', 'timestamp', 'snapshot')"),
      image: this.db.prepare('SELECT sha256, sha512, length FROM images WHERE sha256 = ?'),
      addImage: this.db.prepare(
        'INSERT INTO images (sha256, sha512, length, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(sha256) DO NOTHING',
      ),
      addUploader: this.db.prepare('INSERT INTO uploaders (name, token_sha256, created_at) VALUES (?, ?, ?)'),
      uploaderByToken: this.db.prepare('SELECT name, token_sha256 FROM uploaders WHERE token_sha256 = ?'),
      removeUploader: this.db.prepare('DELETE FROM uploaders WHERE name = ?'),
    };
  }

  close(): void {
    this.db.close();
  }

  latest(role: string): StoredMetadata | undefined {
    return this.statements.latest.get(role) as StoredMetadata | undefined;
  }

  get(role: string, version: number): StoredMetadata | undefined {
    return this.statements.byVersion.get(role, version) as StoredMetadata | undefined;
  }

  /** Targets and delegated roles that have been published, by name. */
  targetsRoles(): string[] {
    return (this.statements.roles.all() as Array<{ role: string }>).map((r) => r.role);
  }

  /** Publishes several metadata files in one transaction: all become visible together, or none. */
  publish(files: ReadonlyArray<{ role: string; version: number; bytes: Uint8Array }>, now: Date): void {
    this.db.transaction(() => {
      for (const file of files) {
        this.statements.insert.run(file.role, file.version, Buffer.from(file.bytes), sha256Hex(file.bytes), now.toISOString());
      }
    })();
  }

  image(sha256: string): ImageRecord | undefined {
    return this.statements.image.get(sha256) as ImageRecord | undefined;
  }

  recordImage(image: ImageRecord, uploader: string, now: Date): void {
    this.statements.addImage.run(image.sha256, image.sha512, image.length, uploader, now.toISOString());
  }

  addUploader(name: string, token: string, now: Date): void {
    this.statements.addUploader.run(name, sha256Hex(token), now.toISOString());
  }

  removeUploader(name: string): boolean {
    return this.statements.removeUploader.run(name).changes > 0;
  }

  /** The uploader holding `token`, or undefined. The comparison is constant-time over the digests. */
  uploaderFor(token: string): string | undefined {
    const digest = sha256Hex(token);
    const row = this.statements.uploaderByToken.get(digest) as { name: string; token_sha256: string } | undefined;
    if (row === undefined || !timingSafeEqual(Buffer.from(row.token_sha256), Buffer.from(digest))) return undefined;
    return row.name;
  }
}
