// `uptane image db migrate`: an Image repository's SQLite file (sqlite.ts) copied into PostgreSQL
// (postgres.ts), every table, verified, in one transaction (shared/server/table-copy.ts). SQLite's
// ISO time strings become TIMESTAMPTZ and its JSON lists JSONB, parsed by PostgreSQL from the text.
import { PostgresDatabase } from '../../shared/server/postgres.js';
import { copySqliteToPostgres, openMigrationSource, type CopiedTable, type CopyOptions, type TableReport } from '../../shared/server/table-copy.js';
import { POSTGRES_COMPONENT, POSTGRES_MIGRATIONS } from './postgres.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from './sqlite.js';

/** Every table of the PostgreSQL schema; the metadata versions are the signed files compared. */
export const IMAGE_TABLES: readonly CopiedTable[] = [
  {
    name: 'metadata',
    columns: [['role', 'text'], ['version', 'integer'], ['bytes', 'bytes'], ['sha256', 'text'], ['published_at', 'text']],
    signed: { column: 'bytes', key: ['role', 'version'] },
  },
  { name: 'images', columns: [['sha256', 'text'], ['sha512', 'text'], ['length', 'integer'], ['uploaded_by', 'text'], ['uploaded_at', 'text']] },
  {
    name: 'uploader_tokens',
    columns: [['token_id', 'text'], ['name', 'text'], ['token_sha256', 'text'], ['roles', 'text'], ['paths', 'text'], ['created_at', 'text'], ['expires_at', 'text'], ['revoked_at', 'text']],
  },
];

/**
 * Copies the Image repository's SQLite file at `sqlitePath` into `postgresUrl` (its schema created
 * if new); the per-table verification on success. Refused, nothing changed, when the source is not
 * at the current schema version or the target holds any row. The images themselves stay files in
 * the data folder (<data-dir>/blobs), which the PostgreSQL replicas share.
 */
export async function migrateImageRepoToPostgres(sqlitePath: string, postgresUrl: string, options: CopyOptions = {}): Promise<TableReport[]> {
  const source = openMigrationSource(sqlitePath, SQLITE_MIGRATIONS, { what: 'Image repository', defaultFile: 'image-repo.sqlite', serveCommand: 'uptane image serve' });
  try {
    // Statements of a large copy (a batch of big targets files) may outlast the servers' 15 s.
    const target = await PostgresDatabase.open(postgresUrl, POSTGRES_COMPONENT, POSTGRES_MIGRATIONS, { poolSize: 1, statementTimeoutMs: 600_000, applicationName: 'uptane image db migrate' });
    try {
      return await copySqliteToPostgres(source, target, IMAGE_TABLES, options);
    } finally {
      await target.close();
    }
  } finally {
    source.close();
  }
}
