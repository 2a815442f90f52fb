// The Image repository's storage on SQLite: the metadata versions, the upload records and the
// uploader tokens (stored as SHA-256 of the token), behind the store interfaces of storage.ts. All SQL
// of the Image repository lives here, but the token table's, shared with the Director in
// shared/server/token-table.ts. better-sqlite3 answers at once; the promises are the interfaces'.
import { createHash } from 'node:crypto';
import { openDatabase, type Db } from '../../shared/server/sqlite.js';
import { TokenTable } from '../../shared/server/token-table.js';
import type { ImageRecord } from './images.js';
import { PublishConflictError, type PublishedFile, type PublishedVersion, type StoredMetadata } from './metadata.js';
import type { ImageRepoStorage } from './storage.js';
import { storedGrantList, type UploaderGrant, type UploaderTokenRecord } from './uploader-tokens.js';

/** The schema, one numbered migration each (exported for the migration tests). */
export const MIGRATIONS = [
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
  // 2: uploader tokens get a public id (the first 12 hex digits of their SHA-256), the roles and
  // image paths they may publish (JSON lists; NULL: any), an expiry and revocation
  // (docs/threat-model.md HR-10). Tokens made before keep every role and path for 90 days from this
  // upgrade; revoked tokens stay, so they answer token_revoked rather than unauthorized.
  `CREATE TABLE uploader_tokens (
     token_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     token_sha256 TEXT NOT NULL UNIQUE,
     roles TEXT,
     paths TEXT,
     created_at TEXT NOT NULL,
     expires_at TEXT,
     revoked_at TEXT
   );
   INSERT INTO uploader_tokens (token_id, name, token_sha256, created_at, expires_at)
     SELECT substr(token_sha256, 1, 12), name, token_sha256, created_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+90 days')
     FROM uploaders;
   DROP TABLE uploaders;
   CREATE INDEX uploader_tokens_by_name ON uploader_tokens(name);`,
];

type UploaderTokenRow = {
  token_id: string;
  name: string;
  roles: string | null;
  paths: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
};
const toUploaderToken = (row: UploaderTokenRow): UploaderTokenRecord => ({
  tokenId: row.token_id,
  name: row.name,
  roles: row.roles === null ? null : (JSON.parse(row.roles) as string[]),
  paths: row.paths === null ? null : (JSON.parse(row.paths) as string[]),
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
});

const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

export class SqliteImageRepoStorage implements ImageRepoStorage {
  private readonly db: Db;
  private readonly statements;
  private readonly uploaderTable: TokenTable<UploaderTokenRecord, UploaderTokenRow>;

  constructor(path: string) {
    this.db = openDatabase(path, MIGRATIONS);
    this.uploaderTable = new TokenTable(this.db, 'uploader', 'uploader_tokens', ['roles', 'paths'], toUploaderToken);
    this.statements = {
      latest: this.db.prepare('SELECT role, version, bytes, sha256 FROM metadata WHERE role = ? ORDER BY version DESC LIMIT 1'),
      byVersion: this.db.prepare('SELECT role, version, bytes, sha256 FROM metadata WHERE role = ? AND version = ?'),
      insert: this.db.prepare('INSERT INTO metadata (role, version, bytes, sha256, published_at) VALUES (?, ?, ?, ?, ?)'),
      roles: this.db.prepare("SELECT DISTINCT role FROM metadata WHERE role NOT IN ('root', 'timestamp', 'snapshot')"),
      versions: this.db.prepare('SELECT role, version, length(bytes) AS length, sha256 FROM metadata ORDER BY published_at, rowid'),
      image: this.db.prepare('SELECT sha256, sha512, length FROM images WHERE sha256 = ?'),
      addImage: this.db.prepare(
        'INSERT INTO images (sha256, sha512, length, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(sha256) DO NOTHING',
      ),
    };
  }

  async close(): Promise<void> {
    this.db.close();
  }

  async latest(role: string): Promise<StoredMetadata | undefined> {
    return this.statements.latest.get(role) as StoredMetadata | undefined;
  }

  async get(role: string, version: number): Promise<StoredMetadata | undefined> {
    return this.statements.byVersion.get(role, version) as StoredMetadata | undefined;
  }

  async targetsRoles(): Promise<string[]> {
    return (this.statements.roles.all() as Array<{ role: string }>).map((r) => r.role);
  }

  async publishedVersions(): Promise<PublishedVersion[]> {
    return this.statements.versions.all() as PublishedVersion[];
  }

  async publish(files: readonly PublishedFile[], now: Date): Promise<void> {
    try {
      this.db.transaction(() => {
        for (const file of files) {
          this.statements.insert.run(file.role, file.version, Buffer.from(file.bytes), sha256Hex(file.bytes), now.toISOString());
        }
      })();
    } catch (err) {
      // By code, not by class: better-sqlite3's native part keeps the SqliteError class of the first
      // module instance that loaded it, so a second one (Jest gives each test file its own) gets
      // errors its Database.SqliteError does not recognise.
      if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new PublishConflictError(`another publication took a version of ${files.map((f) => `${f.role} v${f.version}`).join(', ')} meanwhile; try again`, { cause: err });
      }
      throw err;
    }
  }

  async image(sha256: string): Promise<ImageRecord | undefined> {
    return this.statements.image.get(sha256) as ImageRecord | undefined;
  }

  async images(sha256s: readonly string[]): Promise<Map<string, ImageRecord>> {
    const found = new Map<string, ImageRecord>();
    for (const sha256 of sha256s) {
      const record = this.statements.image.get(sha256) as ImageRecord | undefined;
      if (record !== undefined) found.set(sha256, record);
    }
    return found;
  }

  async recordImages(images: readonly ImageRecord[], uploader: string, now: Date): Promise<void> {
    this.db.transaction(() => {
      for (const image of images) this.statements.addImage.run(image.sha256, image.sha512, image.length, uploader, now.toISOString());
    })();
  }

  async addUploader(name: string, token: string, now: Date, grant: UploaderGrant = {}): Promise<string> {
    return this.uploaderTable.add(name, token, now, [storedGrantList(grant.roles), storedGrantList(grant.paths)], grant.expiresAt ?? null);
  }

  async uploaderToken(token: string): Promise<UploaderTokenRecord | undefined> {
    return this.uploaderTable.byToken(token);
  }

  async uploaderTokens(): Promise<UploaderTokenRecord[]> {
    return this.uploaderTable.tokens();
  }

  async revokeUploaderToken(tokenId: string, now: Date): Promise<boolean> {
    return this.uploaderTable.revoke(tokenId, now);
  }

  async removeUploader(name: string, now: Date): Promise<string[]> {
    return this.uploaderTable.remove(name, now);
  }
}
