// The Image repository's database: every metadata version ever published (served by version, so
// clients can walk roots and fetch consistent snapshots), the images uploaded, and the uploader
// credentials (stored as SHA-256 of the token). All SQL of the Image repository lives here,
// but the token table's, shared with the Director in shared/server/token-table.ts.
import { createHash } from 'node:crypto';
import type { StoredTokenState } from '../shared/server/access-tokens.js';
import { openDatabase, type Db } from '../shared/server/sqlite.js';
import { TokenTable } from '../shared/server/token-table.js';

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

/** An uploader token as stored (its SHA-256 aside). `roles` and `paths` are null when unrestricted. */
export interface UploaderTokenRecord extends StoredTokenState {
  readonly roles: readonly string[] | null;
  readonly paths: readonly string[] | null;
}

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
  private readonly uploaderTable: TokenTable<UploaderTokenRecord, UploaderTokenRow>;

  constructor(path: string) {
    this.db = openDatabase(path, MIGRATIONS);
    this.uploaderTable = new TokenTable(this.db, 'uploader', 'uploader_tokens', ['roles', 'paths'], toUploaderToken);
    this.statements = {
      latest: this.db.prepare('SELECT role, version, bytes, sha256 FROM metadata WHERE role = ? ORDER BY version DESC LIMIT 1'),
      byVersion: this.db.prepare('SELECT role, version, bytes, sha256 FROM metadata WHERE role = ? AND version = ?'),
      insert: this.db.prepare('INSERT INTO metadata (role, version, bytes, sha256, published_at) VALUES (?, ?, ?, ?, ?)'),
      roles: this.db.prepare("SELECT DISTINCT role FROM metadata WHERE role NOT IN ('root', 'timestamp', 'snapshot')"),
      image: this.db.prepare('SELECT sha256, sha512, length FROM images WHERE sha256 = ?'),
      addImage: this.db.prepare(
        'INSERT INTO images (sha256, sha512, length, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(sha256) DO NOTHING',
      ),
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

  /**
   * Stores a new token of uploader `name` (its SHA-256 only) and returns its token id. Refused with
   * ConflictError while `name` holds an active token. Without options the token may publish every
   * role and path and never expires (test fixtures, the demo); `uptane image uploader add` always
   * passes an expiry.
   */
  addUploader(
    name: string,
    token: string,
    now: Date,
    options: { roles?: readonly string[] | null; paths?: readonly string[] | null; expiresAt?: Date | null } = {},
  ): string {
    const list = (values: readonly string[] | null | undefined) => (values === undefined || values === null ? null : JSON.stringify(values));
    return this.uploaderTable.add(name, token, now, [list(options.roles), list(options.paths)], options.expiresAt ?? null);
  }

  /** The stored token `token` hashes to, whatever its state (the caller checks expiry and revocation). */
  uploaderToken(token: string): UploaderTokenRecord | undefined {
    return this.uploaderTable.byToken(token);
  }

  /** Every uploader token, revoked and expired ones included, oldest first. */
  uploaderTokens(): UploaderTokenRecord[] {
    return this.uploaderTable.tokens();
  }

  /** Revokes one token; false when there is no such token or it was already revoked. */
  revokeUploaderToken(tokenId: string, now: Date): boolean {
    return this.uploaderTable.revoke(tokenId, now);
  }

  /** Revokes every token of uploader `name`; the token ids revoked (none: no such uploader). */
  removeUploader(name: string, now: Date): string[] {
    return this.uploaderTable.remove(name, now);
  }
}
