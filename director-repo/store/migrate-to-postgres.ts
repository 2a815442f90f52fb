// `uptane director db migrate`: a Director's SQLite file (sqlite/schema.ts) copied into PostgreSQL
// (postgres/schema.ts), every table with its ids, verified, in one transaction
// (shared/server/table-copy.ts). The plan below is where the two schemas meet: each column with the
// type the PostgreSQL store reads it as (postgres/*.ts).
import { PostgresDatabase } from '../../shared/server/postgres.js';
import { copySqliteToPostgres, openMigrationSource, type CopiedTable, type CopyOptions, type TableReport } from '../../shared/server/table-copy.js';
import { DIRECTOR_COMPONENT } from './postgres/director-store.js';
import { MIGRATIONS as POSTGRES_MIGRATIONS } from './postgres/schema.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from './sqlite/schema.js';

/**
 * Every table of the PostgreSQL schema, each after the tables its foreign keys name. SQLite's
 * manifests table keeps three columns of its first schema (accepted, error_code, error_message)
 * that migration 4 emptied: refused manifests live in refused_manifests on both sides.
 */
export const DIRECTOR_TABLES: readonly CopiedTable[] = [
  // fleet_state and last_seen as SQLite kept them; PostgreSQL's triggers recompute them by the same rules as the ECUs and assignments arrive.
  { name: 'vehicles', columns: [['vin', 'text'], ['attributes', 'text'], ['registered_at', 'text'], ['last_state', 'text'], ['fleet_state', 'text'], ['last_seen', 'text']] },
  {
    name: 'ecus',
    columns: [
      ['serial', 'text'],
      ['vin', 'text'],
      ['hardware_id', 'text'],
      ['public_key', 'text'],
      ['keyid', 'text'],
      ['is_primary', 'boolean'],
      ['registered_at', 'text'],
      ['encryption_public_key', 'text'],
      ['last_counter', 'integer'],
      ['installed_filename', 'text'],
      ['installed_length', 'integer'],
      ['installed_hashes', 'text'],
      ['installed_release_counter', 'integer'],
      ['reported_at', 'text'],
      ['security_profile', 'text'],
    ],
  },
  // Before assignments: a member assignment names its bundle (assignments.bundle_id).
  {
    name: 'install_bundles',
    identity: 'id',
    columns: [
      ['id', 'integer'],
      ['vin', 'text'],
      ['campaign_id', 'integer'],
      ['state', 'text'],
      ['failing_ecu', 'text'],
      ['reason', 'text'],
      ['created_by', 'text'],
      ['created_at', 'text'],
      ['updated_at', 'text'],
    ],
  },
  {
    name: 'assignments',
    identity: 'id',
    columns: [
      ['id', 'integer'],
      ['vin', 'text'],
      ['ecu_serial', 'text'],
      ['filename', 'text'],
      ['length', 'integer'],
      ['hashes', 'text'],
      ['hardware_id', 'text'],
      ['release_counter', 'integer'],
      ['state', 'text'],
      ['reason', 'text'],
      ['created_at', 'text'],
      ['updated_at', 'text'],
      ['created_by', 'text'],
      ['campaign_id', 'integer'],
      ['encryption', 'text'],
      ['bundle_id', 'integer'],
    ],
  },
  // Accepted and refused manifests share one sequence of ids (the merged history's order).
  { name: 'manifests', sequence: 'manifest_record_ids', columns: [['id', 'integer'], ['vin', 'text'], ['received_at', 'text'], ['body', 'bytes']] },
  {
    name: 'refused_manifests',
    sequence: 'manifest_record_ids',
    columns: [
      ['id', 'integer'],
      ['vin', 'text'],
      ['received_at', 'text'],
      ['error_code', 'text'],
      ['error_message', 'text'],
      ['body_length', 'integer'],
      ['body_sha256', 'text'],
      ['excerpt', 'bytes'],
    ],
  },
  { name: 'attacks', identity: 'id', columns: [['id', 'integer'], ['vin', 'text'], ['ecu_serial', 'text'], ['code', 'text'], ['message', 'text'], ['reported_at', 'text']] },
  {
    name: 'vehicle_metadata',
    columns: [['vin', 'text'], ['role', 'text'], ['version', 'integer'], ['expires', 'text'], ['content_sha256', 'text'], ['bytes', 'bytes'], ['stale', 'boolean']],
    signed: { column: 'bytes', key: ['vin', 'role'] },
  },
  { name: 'director_roots', columns: [['version', 'integer'], ['bytes', 'bytes'], ['published_at', 'text']], signed: { column: 'bytes', key: ['version'] } },
  {
    name: 'operator_tokens',
    columns: [['token_id', 'text'], ['name', 'text'], ['token_sha256', 'text'], ['scope', 'text'], ['created_at', 'text'], ['expires_at', 'text'], ['revoked_at', 'text']],
  },
  { name: 'audit_log', identity: 'id', columns: [['id', 'integer'], ['at', 'text'], ['actor', 'text'], ['action', 'text'], ['details', 'text'], ['token_id', 'text']] },
  { name: 'signed_request_marks', columns: [['keyid', 'text'], ['newest_ms', 'integer']] },
  { name: 'vehicle_groups', columns: [['name', 'text'], ['kind', 'text'], ['filter', 'text'], ['created_at', 'text'], ['created_by', 'text']] },
  { name: 'group_members', columns: [['group_name', 'text'], ['vin', 'text']] },
  {
    name: 'campaigns',
    identity: 'id',
    columns: [
      ['id', 'integer'],
      ['name', 'text'],
      ['group_name', 'text'],
      ['spec', 'text'],
      ['state', 'text'],
      ['stage', 'integer'],
      ['stage_started_at', 'text'],
      ['created_at', 'text'],
      ['created_by', 'text'],
      ['updated_at', 'text'],
    ],
  },
  // The stored standing as SQLite kept it; PostgreSQL's triggers recompute it by the same rules for every staged vehicle copied.
  {
    name: 'campaign_vehicles',
    columns: [
      ['campaign_id', 'integer'],
      ['vin', 'text'],
      ['rank', 'text'],
      ['stage', 'integer'],
      ['outcome', 'text'],
      ['standing', 'text'],
      ['standing_reason', 'text'],
      ['deferred_while_driving', 'integer'],
      ['rolled_back', 'integer'],
      ['skip_code', 'text'],
    ],
  },
  { name: 'campaign_events', identity: 'id', columns: [['id', 'integer'], ['campaign_id', 'integer'], ['at', 'text'], ['actor', 'text'], ['kind', 'text'], ['details', 'text']] },
  { name: 'alerts', identity: 'id', columns: [['id', 'integer'], ['event', 'text'], ['dedupe_key', 'text'], ['body', 'text'], ['created_at', 'text']] },
  {
    name: 'alert_deliveries',
    identity: 'id',
    columns: [
      ['id', 'integer'],
      ['alert_id', 'integer'],
      ['delivery_id', 'text'],
      ['url', 'text'],
      ['state', 'text'],
      ['attempts', 'integer'],
      ['next_attempt_at', 'text'],
      ['claimed_until', 'text'],
      ['last_status', 'integer'],
      ['last_error', 'text'],
      ['delivered_at', 'text'],
    ],
  },
  {
    name: 'alert_attempts',
    identity: 'id',
    columns: [['id', 'integer'], ['delivery_row', 'integer'], ['attempt', 'integer'], ['at', 'text'], ['status', 'integer'], ['error', 'text'], ['next_attempt_at', 'text']],
  },
  { name: 'fleet_snapshots', columns: [['at', 'text'], ['by_state', 'text']] },
  // Signed-out dashboard sessions: copied so a cookie revoked before the move stays refused after it.
  { name: 'ui_session_revocations', columns: [['session_id', 'text'], ['expires_ms', 'integer']] },
  {
    name: 'encrypted_images',
    columns: [
      ['ciphertext_sha256', 'text'],
      ['filename', 'text'],
      ['plaintext_sha256', 'text'],
      ['plaintext_length', 'integer'],
      ['content_key', 'text'],
      ['ciphertext_length', 'integer'],
      ['created_at', 'text'],
    ],
  },
];

/**
 * Tables only the PostgreSQL schema has, not copied: the nonces of signed requests, which replicas
 * share there and one SQLite Director keeps in memory (they expire within minutes anyway).
 */
export const POSTGRES_ONLY_TABLES: readonly string[] = ['signed_request_nonces'];

/**
 * Copies the Director's SQLite file at `sqlitePath` into the PostgreSQL database `postgresUrl`
 * (its schema created if new); the per-table verification on success. Refused, nothing changed,
 * when the source is not at the current schema version or the target holds any row.
 */
export async function migrateDirectorToPostgres(sqlitePath: string, postgresUrl: string, options: CopyOptions = {}): Promise<TableReport[]> {
  const source = openMigrationSource(sqlitePath, SQLITE_MIGRATIONS, { what: 'Director', defaultFile: 'director.sqlite', serveCommand: 'uptane director serve' });
  try {
    // Statements of a large copy (a batch of signed files, a count of millions of rows) may outlast the servers' 15 s.
    const target = await PostgresDatabase.open(postgresUrl, DIRECTOR_COMPONENT, POSTGRES_MIGRATIONS, { poolSize: 1, statementTimeoutMs: 600_000, applicationName: 'uptane director db migrate' });
    try {
      return await copySqliteToPostgres(source, target, DIRECTOR_TABLES, options);
    } finally {
      await target.close();
    }
  } finally {
    source.close();
  }
}
