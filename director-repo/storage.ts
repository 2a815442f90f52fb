// The Director's inventory database (uptane-requirements.md 2 and 9.4): vehicles and ECUs with their
// public keys, manifests received (history), report counters, installed images, assignments and
// their states, attacks reported, per-vehicle signed metadata, operator tokens, and an audit log.
// All SQL of the Director lives here, but the token table's, shared with the Image repository in
// shared/server/token-table.ts; every multi-statement change runs in one transaction.
import { createHash } from 'node:crypto';
import type { StoredTokenState } from '../shared/server/access-tokens.js';
import { openDatabase, type Db } from '../shared/server/sqlite.js';
import { TokenTable } from '../shared/server/token-table.js';
import { currentTokenId } from './token-context.js';

/** Accepted manifest records kept per vehicle (the newest). */
export const MANIFEST_HISTORY = 100;
const MANIFEST_PRUNE_STEP = 20;
/**
 * Refused manifest records kept per vehicle (the newest), apart from the accepted ones: whoever holds
 * a vehicle's credential can send refused manifests as fast as it likes, and they must never push
 * the accepted history out (docs/threat-model.md HR-4).
 */
export const REFUSED_MANIFEST_HISTORY = 20;
const REFUSED_MANIFEST_PRUNE_STEP = 5;
/** What is kept of a refused manifest's body: its digest, its length and this many first bytes. */
export const REFUSED_MANIFEST_EXCERPT_BYTES = 2048;
/** Longest error message kept with a refused manifest (messages can quote the refused body). */
const REFUSED_MESSAGE_CHARS = 1024;

/** The schema, one numbered migration each (exported for the migration tests). */
export const MIGRATIONS = [
  `CREATE TABLE vehicles (
     vin TEXT PRIMARY KEY,
     attributes TEXT NOT NULL DEFAULT '{}',
     registered_at TEXT NOT NULL
   );
   CREATE TABLE ecus (
     serial TEXT PRIMARY KEY,
     vin TEXT NOT NULL REFERENCES vehicles(vin) ON DELETE CASCADE,
     hardware_id TEXT NOT NULL,
     public_key TEXT NOT NULL,
     keyid TEXT NOT NULL UNIQUE,
     is_primary INTEGER NOT NULL CHECK (is_primary IN (0, 1)),
     registered_at TEXT NOT NULL,
     last_counter INTEGER,
     installed_filename TEXT,
     installed_length INTEGER,
     installed_hashes TEXT,
     installed_release_counter INTEGER,
     reported_at TEXT
   );
   CREATE INDEX ecus_by_vin ON ecus(vin);
   CREATE UNIQUE INDEX one_primary_per_vehicle ON ecus(vin) WHERE is_primary = 1;
   CREATE TABLE assignments (
     id INTEGER PRIMARY KEY,
     vin TEXT NOT NULL REFERENCES vehicles(vin) ON DELETE CASCADE,
     ecu_serial TEXT NOT NULL REFERENCES ecus(serial) ON DELETE CASCADE,
     filename TEXT NOT NULL,
     length INTEGER NOT NULL,
     hashes TEXT NOT NULL,
     hardware_id TEXT NOT NULL,
     release_counter INTEGER NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'installed', 'failed', 'cancelled')),
     reason TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     created_by TEXT NOT NULL
   );
   CREATE UNIQUE INDEX one_active_assignment_per_ecu ON assignments(ecu_serial) WHERE state IN ('pending', 'in_flight');
   CREATE INDEX assignments_by_vin ON assignments(vin, state);
   CREATE TABLE manifests (
     id INTEGER PRIMARY KEY,
     vin TEXT,
     received_at TEXT NOT NULL,
     accepted INTEGER NOT NULL,
     error_code TEXT,
     error_message TEXT,
     body BLOB
   );
   CREATE INDEX manifests_by_vin ON manifests(vin, id);
   CREATE TABLE attacks (
     id INTEGER PRIMARY KEY,
     vin TEXT NOT NULL,
     ecu_serial TEXT NOT NULL,
     code TEXT NOT NULL,
     message TEXT NOT NULL,
     reported_at TEXT NOT NULL
   );
   CREATE INDEX attacks_by_vin ON attacks(vin, id);
   CREATE TABLE vehicle_metadata (
     vin TEXT NOT NULL REFERENCES vehicles(vin) ON DELETE CASCADE,
     role TEXT NOT NULL CHECK (role IN ('targets', 'snapshot', 'timestamp')),
     version INTEGER NOT NULL,
     expires TEXT NOT NULL,
     content_sha256 TEXT NOT NULL,
     bytes BLOB NOT NULL,
     PRIMARY KEY (vin, role)
   );
   CREATE TABLE director_roots (
     version INTEGER PRIMARY KEY,
     bytes BLOB NOT NULL,
     published_at TEXT NOT NULL
   );
   CREATE TABLE operator_tokens (
     name TEXT PRIMARY KEY,
     token_sha256 TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL
   );
   CREATE TABLE audit_log (
     id INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     details TEXT NOT NULL
   );`,
  // 2: campaigns (staged rollouts), vehicle groups, and what each vehicle last said about its state.
  `ALTER TABLE vehicles ADD COLUMN last_state TEXT;
   ALTER TABLE assignments ADD COLUMN campaign_id INTEGER;
   CREATE INDEX assignments_by_campaign ON assignments(campaign_id, state);
   CREATE TABLE vehicle_groups (
     name TEXT PRIMARY KEY,
     kind TEXT NOT NULL CHECK (kind IN ('static', 'dynamic')),
     filter TEXT,
     created_at TEXT NOT NULL,
     created_by TEXT NOT NULL
   );
   CREATE TABLE group_members (
     group_name TEXT NOT NULL REFERENCES vehicle_groups(name) ON DELETE CASCADE,
     vin TEXT NOT NULL,
     PRIMARY KEY (group_name, vin)
   );
   CREATE TABLE campaigns (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     group_name TEXT NOT NULL REFERENCES vehicle_groups(name),
     spec TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('draft', 'running', 'paused', 'completed', 'aborted')),
     stage INTEGER NOT NULL DEFAULT 0,
     stage_started_at TEXT,
     created_at TEXT NOT NULL,
     created_by TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE campaign_vehicles (
     campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
     vin TEXT NOT NULL,
     rank TEXT NOT NULL,
     stage INTEGER,
     outcome TEXT,
     PRIMARY KEY (campaign_id, vin)
   );
   CREATE INDEX campaign_vehicles_by_rank ON campaign_vehicles(campaign_id, rank);
   CREATE TABLE campaign_events (
     id INTEGER PRIMARY KEY,
     campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     kind TEXT NOT NULL,
     details TEXT NOT NULL
   );`,
  // 3: a vehicle's targets marked for re-signing when its assignments change; signed on its next read.
  `ALTER TABLE vehicle_metadata ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;`,
  // 4: refused manifests apart from accepted ones, with a digest and an excerpt instead of the whole
  // body (docs/threat-model.md HR-4). Their ids continue the accepted ones' sequence (recordManifest,
  // recordRefusedManifest), so the operator's merged view keeps the order they arrived in.
  `CREATE TABLE refused_manifests (
     id INTEGER PRIMARY KEY,
     vin TEXT NOT NULL,
     received_at TEXT NOT NULL,
     error_code TEXT NOT NULL,
     error_message TEXT NOT NULL,
     body_length INTEGER NOT NULL,
     body_sha256 TEXT,
     excerpt BLOB NOT NULL
   );
   CREATE INDEX refused_manifests_by_vin ON refused_manifests(vin, id);
   INSERT INTO refused_manifests (id, vin, received_at, error_code, error_message, body_length, body_sha256, excerpt)
     SELECT id, coalesce(vin, ''), received_at, coalesce(error_code, 'unknown'), substr(coalesce(error_message, ''), 1, 1024),
            coalesce(length(body), 0), NULL, coalesce(substr(body, 1, 2048), x'')
       FROM manifests WHERE accepted = 0;
   DELETE FROM manifests WHERE accepted = 0;`,
  // HR-10: operator tokens get a public id (the first 12 hex digits of their SHA-256), a scope, an
  // expiry and revocation, and audit entries name the token used (docs/threat-model.md HR-10). Tokens
  // made before keep working as admin for 90 days from this upgrade; a name may have several tokens
  // over time (revoked ones stay, so they answer token_revoked rather than unauthorized).
  `CREATE TABLE operator_tokens_v2 (
     token_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     token_sha256 TEXT NOT NULL UNIQUE,
     scope TEXT NOT NULL CHECK (scope IN ('read', 'operator', 'admin')),
     created_at TEXT NOT NULL,
     expires_at TEXT,
     revoked_at TEXT
   );
   INSERT INTO operator_tokens_v2 (token_id, name, token_sha256, scope, created_at, expires_at)
     SELECT substr(token_sha256, 1, 12), name, token_sha256, 'admin', created_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+90 days')
     FROM operator_tokens;
   DROP TABLE operator_tokens;
   ALTER TABLE operator_tokens_v2 RENAME TO operator_tokens;
   CREATE INDEX operator_tokens_by_name ON operator_tokens(name);
   ALTER TABLE audit_log ADD COLUMN token_id TEXT;`,
  // HR-9a: per primary ECU key, the newest signed-request time accepted (ms since the epoch), so that
  // a restarted Director refuses every header accepted before (signed-request-marks.ts).
  `CREATE TABLE signed_request_marks (
     keyid TEXT PRIMARY KEY,
     newest_ms INTEGER NOT NULL
   ) WITHOUT ROWID;`,
];

export type OperatorScope = 'read' | 'operator' | 'admin';
export const OPERATOR_SCOPES: readonly OperatorScope[] = ['read', 'operator', 'admin'];

/** An operator token as stored (its SHA-256 aside). */
export interface OperatorTokenRecord extends StoredTokenState {
  readonly scope: OperatorScope;
}

type OperatorTokenRow = { token_id: string; name: string; scope: OperatorScope; created_at: string; expires_at: string | null; revoked_at: string | null };
const toOperatorToken = (row: OperatorTokenRow): OperatorTokenRecord => ({
  tokenId: row.token_id,
  name: row.name,
  scope: row.scope,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
});

export interface EcuRecord {
  readonly serial: string;
  readonly vin: string;
  readonly hardwareId: string;
  readonly publicKey: string;
  readonly keyid: string;
  readonly isPrimary: boolean;
  readonly lastCounter: number | null;
  readonly installed: { filename: string; length: number; hashes: Record<string, string>; releaseCounter: number | null } | null;
  readonly reportedAt: string | null;
}

export type AssignmentState = 'pending' | 'in_flight' | 'installed' | 'failed' | 'cancelled';

export interface AssignmentRecord {
  readonly id: number;
  readonly vin: string;
  readonly ecuSerial: string;
  readonly filename: string;
  readonly length: number;
  readonly hashes: Record<string, string>;
  readonly hardwareId: string;
  readonly releaseCounter: number;
  readonly state: AssignmentState;
  readonly reason: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NewAssignment {
  readonly vin: string;
  readonly ecuSerial: string;
  readonly filename: string;
  readonly length: number;
  readonly hashes: Readonly<Record<string, string>>;
  readonly hardwareId: string;
  readonly releaseCounter: number;
}

export interface StoredVehicleMetadata {
  readonly role: 'targets' | 'snapshot' | 'timestamp';
  readonly version: number;
  readonly expires: string;
  readonly contentSha256: string;
  readonly bytes: Buffer;
  /** Targets only: the assignments changed since it was signed (invalidateVehicleMetadata). */
  readonly stale?: boolean;
}

type MetadataRow = { role: StoredVehicleMetadata['role']; version: number; expires: string; content_sha256: string; bytes: Buffer; stale: number };
const toMetadata = (row: MetadataRow): StoredVehicleMetadata => ({
  role: row.role,
  version: row.version,
  expires: row.expires,
  contentSha256: row.content_sha256,
  bytes: row.bytes,
  stale: row.stale === 1,
});

interface EcuRow {
  serial: string;
  vin: string;
  hardware_id: string;
  public_key: string;
  keyid: string;
  is_primary: number;
  last_counter: number | null;
  installed_filename: string | null;
  installed_length: number | null;
  installed_hashes: string | null;
  installed_release_counter: number | null;
  reported_at: string | null;
}

interface AssignmentRow {
  id: number;
  vin: string;
  ecu_serial: string;
  filename: string;
  length: number;
  hashes: string;
  hardware_id: string;
  release_counter: number;
  state: AssignmentState;
  reason: string | null;
  created_at: string;
  updated_at: string;
}

function toEcu(row: EcuRow): EcuRecord {
  return {
    serial: row.serial,
    vin: row.vin,
    hardwareId: row.hardware_id,
    publicKey: row.public_key,
    keyid: row.keyid,
    isPrimary: row.is_primary === 1,
    lastCounter: row.last_counter,
    installed:
      row.installed_filename === null
        ? null
        : {
            filename: row.installed_filename,
            length: row.installed_length!,
            hashes: JSON.parse(row.installed_hashes!) as Record<string, string>,
            releaseCounter: row.installed_release_counter,
          },
    reportedAt: row.reported_at,
  };
}

function toAssignment(row: AssignmentRow): AssignmentRecord {
  return {
    id: row.id,
    vin: row.vin,
    ecuSerial: row.ecu_serial,
    filename: row.filename,
    length: row.length,
    hashes: JSON.parse(row.hashes) as Record<string, string>,
    hardwareId: row.hardware_id,
    releaseCounter: row.release_counter,
    state: row.state,
    reason: row.reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** One record of a vehicle's manifest history, as the operator sees it. */
export interface ManifestRecord {
  readonly id: number;
  readonly receivedAt: string;
  readonly accepted: boolean;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  /** Refused records only: the length and SHA-256 of the refused body (null when recorded before digests were kept). */
  readonly bodyLength?: number | null;
  readonly bodySha256?: string | null;
}

interface ManifestRow {
  id: number;
  received_at: string;
  accepted: number;
  error_code: string | null;
  error_message: string | null;
  body_length: number | null;
  body_sha256: string | null;
}

/** The id of the next manifest record, accepted or refused: one more than the largest in either table. */
const NEXT_MANIFEST_ID = `max(coalesce((SELECT max(id) FROM manifests), 0), coalesce((SELECT max(id) FROM refused_manifests), 0)) + 1`;

/** Deletes a vehicle's records of `table` older than its newest :keep, once there are more than :trigger. */
function pruneStatement(table: 'manifests' | 'refused_manifests'): string {
  return `DELETE FROM ${table} WHERE vin = :vin
            AND id <= (SELECT id FROM ${table} WHERE vin = :vin ORDER BY id DESC LIMIT 1 OFFSET :keep)
            AND EXISTS (SELECT 1 FROM ${table} WHERE vin = :vin ORDER BY id DESC LIMIT 1 OFFSET :trigger)`;
}

/** How many vehicles' metadata files vehicleMetadataFiles keeps (a few KiB each). */
const RECENT_METADATA_VEHICLES = 4096;

export class DirectorStorage {
  readonly db: Db;
  private readonly s;
  private readonly operatorTable: TokenTable<OperatorTokenRecord, OperatorTokenRow>;
  private readonly recentMetadata = new Map<string, readonly StoredVehicleMetadata[]>();

  constructor(path: string) {
    this.db = openDatabase(path, MIGRATIONS);
    const db = this.db;
    this.operatorTable = new TokenTable(db, 'operator', 'operator_tokens', ['scope'], toOperatorToken);
    this.s = {
      vehicle: db.prepare('SELECT vin, attributes, registered_at FROM vehicles WHERE vin = ?'),
      insertVehicle: db.prepare('INSERT INTO vehicles (vin, attributes, registered_at) VALUES (?, ?, ?)'),
      listVehicles: db.prepare('SELECT vin, attributes, registered_at FROM vehicles WHERE vin > ? ORDER BY vin LIMIT ?'),
      countVehicles: db.prepare('SELECT COUNT(*) AS n FROM vehicles'),
      // Written only when it changed: an unchanged row is not rewritten into the commit.
      setVehicleState: db.prepare('UPDATE vehicles SET last_state = ? WHERE vin = ? AND last_state IS NOT ?'),
      vehicleState: db.prepare('SELECT last_state FROM vehicles WHERE vin = ?'),
      insertEcu: db.prepare(
        'INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      ecusOf: db.prepare('SELECT * FROM ecus WHERE vin = ? ORDER BY is_primary DESC, serial'),
      ecu: db.prepare('SELECT * FROM ecus WHERE serial = ?'),
      ecuByKeyid: db.prepare('SELECT * FROM ecus WHERE keyid = ?'),
      deleteEcu: db.prepare('DELETE FROM ecus WHERE serial = ?'),
      reportEcu: db.prepare(
        `UPDATE ecus SET last_counter = ?, installed_filename = ?, installed_length = ?, installed_hashes = ?,
           installed_release_counter = ?, reported_at = ? WHERE serial = ?`,
      ),
      insertAssignment: db.prepare(
        `INSERT INTO assignments (vin, ecu_serial, filename, length, hashes, hardware_id, release_counter, state, created_at, updated_at, created_by, campaign_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
      ),
      activeAssignments: db.prepare("SELECT * FROM assignments WHERE vin = ? AND state IN ('pending', 'in_flight') ORDER BY ecu_serial"),
      assignment: db.prepare('SELECT * FROM assignments WHERE id = ?'),
      assignmentsOf: db.prepare('SELECT * FROM assignments WHERE vin = ? ORDER BY id DESC LIMIT ?'),
      setAssignmentState: db.prepare('UPDATE assignments SET state = ?, reason = ?, updated_at = ? WHERE id = ?'),
      markInFlight: db.prepare("UPDATE assignments SET state = 'in_flight', updated_at = ? WHERE vin = ? AND state = 'pending'"),
      // Accepted and refused records share one id sequence across both tables (each id is one more
      // than the largest in either), so the operator's merged view is in arrival order.
      insertManifest: db.prepare(
        `INSERT INTO manifests (id, vin, received_at, accepted, error_code, error_message, body)
         VALUES (${NEXT_MANIFEST_ID}, ?, ?, 1, NULL, NULL, ?)`,
      ),
      insertRefusedManifest: db.prepare(
        `INSERT INTO refused_manifests (id, vin, received_at, error_code, error_message, body_length, body_sha256, excerpt)
         VALUES (${NEXT_MANIFEST_ID}, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // Keeps a vehicle's newest MANIFEST_HISTORY records, deleting in steps of MANIFEST_PRUNE_STEP
      // so that most manifests delete nothing (each deletion is a page written in the commit).
      pruneManifests: db.prepare(pruneStatement('manifests')),
      pruneRefusedManifests: db.prepare(pruneStatement('refused_manifests')),
      manifestsOf: db.prepare(
        `SELECT * FROM (
           SELECT * FROM (SELECT id, received_at, 1 AS accepted, NULL AS error_code, NULL AS error_message, NULL AS body_length, NULL AS body_sha256
                            FROM manifests WHERE vin = :vin ORDER BY id DESC LIMIT :limit)
           UNION ALL
           SELECT * FROM (SELECT id, received_at, 0 AS accepted, error_code, error_message, body_length, body_sha256
                            FROM refused_manifests WHERE vin = :vin ORDER BY id DESC LIMIT :limit)
         ) ORDER BY id DESC LIMIT :limit`,
      ),
      lastManifest: db.prepare('SELECT received_at FROM manifests WHERE vin = ? AND accepted = 1 ORDER BY id DESC LIMIT 1'),
      insertAttack: db.prepare('INSERT INTO attacks (vin, ecu_serial, code, message, reported_at) VALUES (?, ?, ?, ?, ?)'),
      attacksOf: db.prepare('SELECT ecu_serial, code, message, reported_at FROM attacks WHERE vin = ? ORDER BY id DESC LIMIT ?'),
      metadata: db.prepare('SELECT role, version, expires, content_sha256, bytes, stale FROM vehicle_metadata WHERE vin = ? AND role = ?'),
      allMetadata: db.prepare('SELECT role, version, expires, content_sha256, bytes, stale FROM vehicle_metadata WHERE vin = ?'),
      markStale: db.prepare("UPDATE vehicle_metadata SET stale = 1 WHERE vin = ? AND role = 'targets' AND stale = 0"),
      upsertMetadata: db.prepare(
        `INSERT INTO vehicle_metadata (vin, role, version, expires, content_sha256, bytes, stale) VALUES (?, ?, ?, ?, ?, ?, 0)
         ON CONFLICT(vin, role) DO UPDATE SET version = excluded.version, expires = excluded.expires,
           content_sha256 = excluded.content_sha256, bytes = excluded.bytes, stale = 0`,
      ),
      clearStale: db.prepare("UPDATE vehicle_metadata SET stale = 0 WHERE vin = ? AND role = 'targets'"),
      root: db.prepare('SELECT version, bytes FROM director_roots WHERE version = ?'),
      latestRoot: db.prepare('SELECT version, bytes FROM director_roots ORDER BY version DESC LIMIT 1'),
      insertRoot: db.prepare('INSERT INTO director_roots (version, bytes, published_at) VALUES (?, ?, ?)'),
      audit: db.prepare('INSERT INTO audit_log (at, actor, action, details, token_id) VALUES (?, ?, ?, ?, ?)'),
      auditLog: db.prepare('SELECT at, actor, token_id, action, details FROM audit_log ORDER BY id DESC LIMIT ?'),
    };
  }

  close(): void {
    this.db.close();
  }

  /** Runs `fn` in one transaction: every change in it is kept, or none. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // Vehicles and ECUs --------------------------------------------------------------------------

  vehicle(vin: string): { vin: string; attributes: Record<string, string>; registeredAt: string } | undefined {
    const row = this.s.vehicle.get(vin) as { vin: string; attributes: string; registered_at: string } | undefined;
    return row === undefined ? undefined : { vin: row.vin, attributes: JSON.parse(row.attributes) as Record<string, string>, registeredAt: row.registered_at };
  }

  insertVehicle(vin: string, attributes: Readonly<Record<string, string>>, now: Date): void {
    this.s.insertVehicle.run(vin, JSON.stringify(attributes), now.toISOString());
  }

  /** Vehicles in VIN order after `afterVin` (keyset pagination: cheap at any depth). */
  listVehicles(afterVin: string, limit: number): Array<{ vin: string; attributes: Record<string, string>; registeredAt: string }> {
    return (this.s.listVehicles.all(afterVin, limit) as Array<{ vin: string; attributes: string; registered_at: string }>).map((r) => ({
      vin: r.vin,
      attributes: JSON.parse(r.attributes) as Record<string, string>,
      registeredAt: r.registered_at,
    }));
  }

  /** What the vehicle's last accepted manifest said: parked or driving (campaign status counts it). */
  setVehicleState(vin: string, state: string | null): void {
    this.s.setVehicleState.run(state, vin, state);
  }

  vehicleState(vin: string): string | null {
    return (this.s.vehicleState.get(vin) as { last_state: string | null } | undefined)?.last_state ?? null;
  }

  countVehicles(): number {
    return (this.s.countVehicles.get() as { n: number }).n;
  }

  insertEcu(ecu: { serial: string; vin: string; hardwareId: string; publicKey: string; keyid: string; isPrimary: boolean }, now: Date): void {
    this.s.insertEcu.run(ecu.serial, ecu.vin, ecu.hardwareId, ecu.publicKey, ecu.keyid, ecu.isPrimary ? 1 : 0, now.toISOString());
  }

  deleteEcu(serial: string): void {
    this.s.deleteEcu.run(serial);
  }

  ecusOf(vin: string): EcuRecord[] {
    return (this.s.ecusOf.all(vin) as EcuRow[]).map(toEcu);
  }

  ecu(serial: string): EcuRecord | undefined {
    const row = this.s.ecu.get(serial) as EcuRow | undefined;
    return row === undefined ? undefined : toEcu(row);
  }

  ecuByKeyid(keyid: string): EcuRecord | undefined {
    const row = this.s.ecuByKeyid.get(keyid) as EcuRow | undefined;
    return row === undefined ? undefined : toEcu(row);
  }

  recordEcuReport(
    serial: string,
    report: { counter: number; filename: string; length: number; hashes: Readonly<Record<string, string>>; releaseCounter: number | null },
    now: Date,
  ): void {
    this.s.reportEcu.run(report.counter, report.filename, report.length, JSON.stringify(report.hashes), report.releaseCounter, now.toISOString(), serial);
  }

  // Assignments --------------------------------------------------------------------------------

  insertAssignment(assignment: NewAssignment, actor: string, now: Date, campaignId: number | null = null): number {
    const at = now.toISOString();
    const result = this.s.insertAssignment.run(
      assignment.vin,
      assignment.ecuSerial,
      assignment.filename,
      assignment.length,
      JSON.stringify(assignment.hashes),
      assignment.hardwareId,
      assignment.releaseCounter,
      at,
      at,
      actor,
      campaignId,
    );
    return Number(result.lastInsertRowid);
  }

  activeAssignments(vin: string): AssignmentRecord[] {
    return (this.s.activeAssignments.all(vin) as AssignmentRow[]).map(toAssignment);
  }

  assignment(id: number): AssignmentRecord | undefined {
    const row = this.s.assignment.get(id) as AssignmentRow | undefined;
    return row === undefined ? undefined : toAssignment(row);
  }

  assignmentsOf(vin: string, limit: number): AssignmentRecord[] {
    return (this.s.assignmentsOf.all(vin, limit) as AssignmentRow[]).map(toAssignment);
  }

  setAssignmentState(id: number, state: AssignmentState, reason: string | null, now: Date): void {
    this.s.setAssignmentState.run(state, reason, now.toISOString(), id);
  }

  /** The vehicle fetched targets listing its pending assignments: they are now in flight. */
  markInFlight(vin: string, now: Date): number {
    return this.s.markInFlight.run(now.toISOString(), vin).changes;
  }

  // Manifests and attacks ----------------------------------------------------------------------

  /**
   * Adds an accepted manifest to the vehicle's history (with its body as evidence, or null) and drops
   * the oldest accepted records beyond MANIFEST_HISTORY: a vehicle reports every cycle, so an
   * unbounded history would grow with time, not with the fleet. Refused manifests are kept apart
   * (recordRefusedManifest) and never count against this history.
   */
  recordManifest(vin: string, body: Uint8Array | null, now: Date): void {
    this.s.insertManifest.run(vin, now.toISOString(), body === null ? null : Buffer.from(body));
    this.s.pruneManifests.run({ vin, keep: MANIFEST_HISTORY, trigger: MANIFEST_HISTORY + MANIFEST_PRUNE_STEP - 1 });
  }

  /**
   * Records a manifest the Director refused, with the reason, the body's length and SHA-256 and its
   * first REFUSED_MANIFEST_EXCERPT_BYTES bytes (never the whole body: a refused body is whatever the
   * sender chose, up to the request limit), keeping the vehicle's newest REFUSED_MANIFEST_HISTORY.
   * Accepted history is untouched (docs/threat-model.md HR-4).
   */
  recordRefusedManifest(vin: string, error: { code: string; message: string }, body: Uint8Array, now: Date): void {
    const excerpt = Buffer.from(body.buffer, body.byteOffset, Math.min(body.length, REFUSED_MANIFEST_EXCERPT_BYTES));
    this.s.insertRefusedManifest.run(vin, now.toISOString(), error.code, error.message.slice(0, REFUSED_MESSAGE_CHARS), body.length, sha256Hex(body), excerpt);
    this.s.pruneRefusedManifests.run({ vin, keep: REFUSED_MANIFEST_HISTORY, trigger: REFUSED_MANIFEST_HISTORY + REFUSED_MANIFEST_PRUNE_STEP - 1 });
  }

  /**
   * The vehicle's newest `limit` manifest records, accepted and refused merged in arrival order
   * (refused ones with the length and SHA-256 of the body they carried).
   */
  manifestsOf(vin: string, limit: number): ManifestRecord[] {
    return (this.s.manifestsOf.all({ vin, limit }) as ManifestRow[]).map((r) =>
      r.accepted === 1
        ? { id: r.id, receivedAt: r.received_at, accepted: true, errorCode: null, errorMessage: null }
        : { id: r.id, receivedAt: r.received_at, accepted: false, errorCode: r.error_code, errorMessage: r.error_message, bodyLength: r.body_length, bodySha256: r.body_sha256 },
    );
  }

  lastManifestTime(vin: string): string | null {
    return (this.s.lastManifest.get(vin) as { received_at: string } | undefined)?.received_at ?? null;
  }

  recordAttack(vin: string, ecuSerial: string, code: string, message: string, now: Date): void {
    this.s.insertAttack.run(vin, ecuSerial, code, message, now.toISOString());
  }

  attacksOf(vin: string, limit: number): Array<{ ecuSerial: string; code: string; message: string; reportedAt: string }> {
    return (this.s.attacksOf.all(vin, limit) as Array<{ ecu_serial: string; code: string; message: string; reported_at: string }>).map((r) => ({
      ecuSerial: r.ecu_serial,
      code: r.code,
      message: r.message,
      reportedAt: r.reported_at,
    }));
  }

  // Signed metadata ----------------------------------------------------------------------------

  vehicleMetadata(vin: string, role: StoredVehicleMetadata['role']): StoredVehicleMetadata | undefined {
    const row = this.s.metadata.get(vin, role) as MetadataRow | undefined;
    return row === undefined ? undefined : toMetadata(row);
  }

  /**
   * Every stored metadata file of `vin` (targets, snapshot, timestamp), in one read. A vehicle's
   * check reads them two or three times in a row (timestamp, then snapshot and targets when new), so
   * the files of recently read vehicles are kept in memory (bench figure 2: the SELECT was a third of
   * a metadata GET). Every write of a vehicle's metadata below drops its entry first, and only rows
   * read outside a transaction are kept, so a rolled-back change is never remembered. Only the
   * running Director writes vehicle metadata (the CLI's offline commands touch operator tokens).
   */
  vehicleMetadataFiles(vin: string): readonly StoredVehicleMetadata[] {
    const cached = this.recentMetadata.get(vin);
    if (cached !== undefined) return cached;
    const files = (this.s.allMetadata.all(vin) as MetadataRow[]).map(toMetadata);
    if (!this.db.inTransaction) {
      if (this.recentMetadata.size >= RECENT_METADATA_VEHICLES) this.recentMetadata.delete(this.recentMetadata.keys().next().value!);
      this.recentMetadata.set(vin, files);
    }
    return files;
  }

  /** Marks the vehicle's stored targets for re-signing on its next read (no-op before the first). */
  markVehicleMetadataStale(vin: string): void {
    this.recentMetadata.delete(vin);
    this.s.markStale.run(vin);
  }

  /** The stored targets are current after all (the assignments came back to what was signed). */
  clearVehicleMetadataStale(vin: string): void {
    this.recentMetadata.delete(vin);
    this.s.clearStale.run(vin);
  }

  putVehicleMetadata(vin: string, file: StoredVehicleMetadata): void {
    this.recentMetadata.delete(vin);
    this.s.upsertMetadata.run(vin, file.role, file.version, file.expires, file.contentSha256, file.bytes);
  }

  root(version: number): { version: number; bytes: Buffer } | undefined {
    return this.s.root.get(version) as { version: number; bytes: Buffer } | undefined;
  }

  latestRoot(): { version: number; bytes: Buffer } | undefined {
    return this.s.latestRoot.get() as { version: number; bytes: Buffer } | undefined;
  }

  insertRoot(version: number, bytes: Uint8Array, now: Date): void {
    this.s.insertRoot.run(version, Buffer.from(bytes), now.toISOString());
  }

  // Operators and audit ------------------------------------------------------------------------

  /**
   * Stores a new token of operator `name` (its SHA-256 only) and returns its token id. Refused with
   * ConflictError while `name` holds an active token: one live credential per person or bot, so
   * revoking by name ends their access. Without options the token is admin and never expires (test
   * fixtures, the demo); `uptane director operator add` always passes both.
   */
  addOperator(name: string, token: string, now: Date, options: { scope?: OperatorScope; expiresAt?: Date | null } = {}): string {
    return this.operatorTable.add(name, token, now, [options.scope ?? 'admin'], options.expiresAt ?? null);
  }

  /** The stored token `token` hashes to, whatever its state (the caller checks expiry and revocation). */
  operatorToken(token: string): OperatorTokenRecord | undefined {
    return this.operatorTable.byToken(token);
  }

  /** Every operator token, revoked and expired ones included, oldest first. */
  operatorTokens(): OperatorTokenRecord[] {
    return this.operatorTable.tokens();
  }

  /** Revokes one token; false when there is no such token or it was already revoked. */
  revokeOperatorToken(tokenId: string, now: Date): boolean {
    return this.operatorTable.revoke(tokenId, now);
  }

  /** Revokes every token of operator `name`; the token ids revoked (none: no such operator). */
  removeOperator(name: string, now: Date): string[] {
    return this.operatorTable.remove(name, now);
  }

  /**
   * One audit entry. The token id is that of the operator request being served (token-context.ts),
   * so every service that audits names the token without passing it along; null for the CLI on the
   * host and for the campaign timer.
   */
  audit(actor: string, action: string, details: unknown, now: Date, tokenId: string | null = currentTokenId() ?? null): void {
    this.s.audit.run(now.toISOString(), actor, action, JSON.stringify(details), tokenId);
  }

  auditLog(limit: number): Array<{ at: string; actor: string; tokenId: string | null; action: string; details: unknown }> {
    return (this.s.auditLog.all(limit) as Array<{ at: string; actor: string; token_id: string | null; action: string; details: string }>).map((r) => ({
      at: r.at,
      actor: r.actor,
      tokenId: r.token_id,
      action: r.action,
      details: JSON.parse(r.details) as unknown,
    }));
  }
}
