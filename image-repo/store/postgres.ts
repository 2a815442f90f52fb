// The Image repository's storage on PostgreSQL, for replicas that share one database
// (`uptane image serve --database postgres://...`): the same behaviour as store/sqlite.ts behind the
// same interfaces, its own numbered migrations (component 'image'), and every failure of the
// database itself typed DatabaseUnavailableError (503 and Retry-After) by shared/server/postgres.ts.
import { createHash } from 'node:crypto';
import { PostgresDatabase, sqlState, UNIQUE_VIOLATION, type PostgresOptions } from '../../shared/server/postgres.js';
import type { ImageRecord } from './images.js';
import { PublishConflictError, type PublishedFile, type PublishedVersion, type StoredMetadata } from './metadata.js';
import { PostgresUploaderTokens } from './postgres-uploader-tokens.js';
import type { ImageRepoStorage } from './storage.js';
import type { UploaderGrant, UploaderTokenRecord } from './uploader-tokens.js';

/** The component name the migrations are recorded under in schema_migrations. */
export const POSTGRES_COMPONENT = 'image';

/**
 * The schema, one numbered migration each (exported for the migration tests); never edit one that
 * has shipped, append. Migration 1 is the SQLite schema as it stands after its migration 2: there
 * was never a PostgreSQL database with the old `uploaders` table to carry forward.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE metadata (
     role TEXT NOT NULL,
     version INTEGER NOT NULL CHECK (version >= 1),
     bytes BYTEA NOT NULL,
     sha256 TEXT NOT NULL,
     published_at TIMESTAMPTZ NOT NULL,
     PRIMARY KEY (role, version)
   );
   CREATE TABLE images (
     sha256 TEXT PRIMARY KEY,
     sha512 TEXT NOT NULL,
     length BIGINT NOT NULL CHECK (length >= 0),
     uploaded_by TEXT NOT NULL,
     uploaded_at TIMESTAMPTZ NOT NULL
   );
   CREATE TABLE uploader_tokens (
     token_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     token_sha256 TEXT NOT NULL UNIQUE,
     roles JSONB,
     paths JSONB,
     created_at TIMESTAMPTZ NOT NULL,
     expires_at TIMESTAMPTZ,
     revoked_at TIMESTAMPTZ
   );
   CREATE INDEX uploader_tokens_by_name ON uploader_tokens (name);`,
];

// BIGINT comes back from the driver as a string (it may exceed 2^53); image lengths stay far below.
type ImageRow = { sha256: string; sha512: string; length: string };
const toImage = (row: ImageRow): ImageRecord => ({ sha256: row.sha256, sha512: row.sha512, length: Number(row.length) });

const sha256Hex = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/**
 * PostgreSQL text cannot hold NUL, and refuses a parameter with one (an error, so a 500); a role
 * name from a request URL may carry one (`%00`), and no such role is ever stored.
 */
const holdsNul = (text: string) => text.includes('\0');

export class PostgresImageRepoStorage implements ImageRepoStorage {
  private readonly tokens: PostgresUploaderTokens;

  private constructor(private readonly db: PostgresDatabase) {
    this.tokens = new PostgresUploaderTokens(db);
  }

  /** Connects to `url` (postgres://...; `?schema=` picks the schema, default `image`) and applies the migrations not yet applied. */
  static async open(url: string, options: PostgresOptions = {}): Promise<PostgresImageRepoStorage> {
    return new PostgresImageRepoStorage(await PostgresDatabase.open(url, POSTGRES_COMPONENT, POSTGRES_MIGRATIONS, { applicationName: 'uptane image', ...options }));
  }

  /** The schema the tables live in (for messages and tests). */
  get schema(): string {
    return this.db.schema;
  }

  poolStats(): { total: number; idle: number; waiting: number } {
    return this.db.poolStats();
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  async latest(role: string): Promise<StoredMetadata | undefined> {
    if (holdsNul(role)) return undefined;
    const [row] = await this.db.query<StoredMetadata>('SELECT role, version, bytes, sha256 FROM metadata WHERE role = $1 ORDER BY version DESC LIMIT 1', [role]);
    return row;
  }

  async get(role: string, version: number): Promise<StoredMetadata | undefined> {
    // A version past INTEGER would be an out-of-range error in PostgreSQL; no such version is stored.
    if (holdsNul(role) || !Number.isSafeInteger(version) || version < 1 || version > 2_147_483_647) return undefined;
    const [row] = await this.db.query<StoredMetadata>('SELECT role, version, bytes, sha256 FROM metadata WHERE role = $1 AND version = $2', [role, version]);
    return row;
  }

  async targetsRoles(): Promise<string[]> {
    const rows = await this.db.query<{ role: string }>("SELECT DISTINCT role FROM metadata WHERE role NOT IN ('root', 'timestamp', 'snapshot')");
    return rows.map((r) => r.role);
  }

  async publishedVersions(): Promise<PublishedVersion[]> {
    // One publication's files share published_at: within it, by role and version.
    return this.db.query<PublishedVersion>('SELECT role, version, octet_length(bytes) AS length, sha256 FROM metadata ORDER BY published_at, role, version');
  }

  /**
   * All files in one transaction. The primary key (role, version) is the verdict between replicas:
   * an INSERT of a key another open transaction has inserted waits for it, and fails with a unique
   * violation once it commits, at any isolation level; this transaction reads nothing, so READ
   * COMMITTED is enough and spares the retries SERIALIZABLE would add. Exactly one of two
   * publishers of the same version wins; the other stores nothing.
   */
  async publish(files: readonly PublishedFile[], now: Date): Promise<void> {
    try {
      await this.db.transaction('read committed', async (tx) => {
        for (const file of files) {
          await tx.query('INSERT INTO metadata (role, version, bytes, sha256, published_at) VALUES ($1, $2, $3, $4, $5)', [
            file.role,
            file.version,
            Buffer.from(file.bytes),
            sha256Hex(file.bytes),
            now,
          ]);
        }
      });
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) {
        throw new PublishConflictError(`another publication took a version of ${files.map((f) => `${f.role} v${f.version}`).join(', ')} meanwhile; try again`, { cause: err });
      }
      throw err;
    }
  }

  async image(sha256: string): Promise<ImageRecord | undefined> {
    if (holdsNul(sha256)) return undefined;
    const [row] = await this.db.query<ImageRow>('SELECT sha256, sha512, length FROM images WHERE sha256 = $1', [sha256]);
    return row === undefined ? undefined : toImage(row);
  }

  async images(sha256s: readonly string[]): Promise<Map<string, ImageRecord>> {
    const found = new Map<string, ImageRecord>();
    if (sha256s.length === 0) return found;
    // One round trip for the whole list (a targets file lists thousands), answered in the caller's order.
    const rows = await this.db.query<ImageRow>('SELECT sha256, sha512, length FROM images WHERE sha256 = ANY($1::text[])', [[...new Set(sha256s.filter((s) => !holdsNul(s)))]]);
    const bySha256 = new Map(rows.map((row) => [row.sha256, toImage(row)]));
    for (const sha256 of sha256s) {
      const record = bySha256.get(sha256);
      if (record !== undefined) found.set(sha256, record);
    }
    return found;
  }

  /** One transaction; ON CONFLICT DO NOTHING keeps the first record, also against a replica recording the same image at once. */
  async recordImages(images: readonly ImageRecord[], uploader: string, now: Date): Promise<void> {
    if (images.length === 0) return;
    await this.db.transaction('read committed', async (tx) => {
      for (const image of images) {
        await tx.query('INSERT INTO images (sha256, sha512, length, uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING', [
          image.sha256,
          image.sha512,
          image.length,
          uploader,
          now,
        ]);
      }
    });
  }

  async addUploader(name: string, token: string, now: Date, grant: UploaderGrant = {}): Promise<string> {
    return this.tokens.add(name, token, now, grant);
  }

  async uploaderToken(token: string): Promise<UploaderTokenRecord | undefined> {
    return this.tokens.byToken(token);
  }

  async uploaderTokens(): Promise<UploaderTokenRecord[]> {
    return this.tokens.tokens();
  }

  async revokeUploaderToken(tokenId: string, now: Date): Promise<boolean> {
    return this.tokens.revoke(tokenId, now);
  }

  async removeUploader(name: string, now: Date): Promise<string[]> {
    return this.tokens.remove(name, now);
  }
}
