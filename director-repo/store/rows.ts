// The Director's stored rows and how each becomes a record, for both backends (sqlite/, postgres/):
// the tables have the same columns on both, so a row means the same thing on both, and one mapper
// keeps the two stores' answers from drifting apart. Only the drivers' value types differ, and the
// row types say so: an integer column is a number from better-sqlite3 and a decimal string from
// pg for BIGINT (pg will not round a 64-bit integer into a double); a flag is 0/1 in SQLite and a
// boolean in PostgreSQL. The SQL that reads the rows stays with each backend.
import type { SecurityProfile } from '../../shared/core/security-profile.js';
import type { CampaignVehicleOutcome, ImageEncryption } from '../api/operator-api.js';
import type { AssignmentRecord, AssignmentState } from './assignments.js';
import type { InstallBundleRecord, InstallBundleState } from './install-bundles.js';
import type { CampaignRow, CampaignStandingRow, CampaignState, GroupFilter, GroupRecord } from './campaigns.js';
import type { EncryptedImageRecord } from './encrypted-images.js';
import type { EcuRecord, VehicleRecord } from './inventory.js';
import type { AttackRecord, ManifestRecord } from './manifests.js';
import type { OperatorScope, OperatorTokenRecord } from './operator-tokens.js';
import type { StoredVehicleMetadata } from './vehicle-metadata.js';

/** An integer column as a driver returns it (see above). */
export type Integer = number | string;
/** A boolean column as a driver returns it (see above). */
export type Flag = number | boolean;

/** An Integer as a number (a BIGINT beyond 2^53 would lose digits; the ids and counters stay far below). */
export const num = (value: unknown): number => Number(value);
export const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const flag = (value: Flag): boolean => value === true || value === 1;

export type VehicleRow = { vin: string; attributes: string; registered_at: string };

export const toVehicle = (row: VehicleRow): VehicleRecord => ({ vin: row.vin, attributes: JSON.parse(row.attributes) as Record<string, string>, registeredAt: row.registered_at });

export interface EcuRow {
  serial: string;
  vin: string;
  hardware_id: string;
  public_key: string;
  keyid: string;
  is_primary: Flag;
  encryption_public_key: string | null;
  last_counter: Integer | null;
  installed_filename: string | null;
  installed_length: Integer | null;
  installed_hashes: string | null;
  installed_release_counter: Integer | null;
  reported_at: string | null;
  security_profile: string;
}

export function toEcu(row: EcuRow): EcuRecord {
  return {
    serial: row.serial,
    vin: row.vin,
    hardwareId: row.hardware_id,
    publicKey: row.public_key,
    keyid: row.keyid,
    isPrimary: flag(row.is_primary),
    encryptionPublicKey: row.encryption_public_key,
    lastCounter: numOrNull(row.last_counter),
    installed:
      // The installed_* columns are written together (one UPDATE per report), so a filename means the rest are there.
      row.installed_filename === null
        ? null
        : {
            filename: row.installed_filename,
            length: num(row.installed_length),
            hashes: JSON.parse(row.installed_hashes!) as Record<string, string>,
            releaseCounter: numOrNull(row.installed_release_counter),
          },
    reportedAt: row.reported_at,
    // The column's CHECK admits only profile names.
    securityProfile: row.security_profile as SecurityProfile,
  };
}

export interface AssignmentRow {
  id: Integer;
  vin: string;
  ecu_serial: string;
  filename: string;
  length: Integer;
  hashes: string;
  hardware_id: string;
  release_counter: Integer;
  state: AssignmentState;
  reason: string | null;
  created_at: string;
  updated_at: string;
  encryption: string | null;
  /** Absent from rows read before migration 14 / PostgreSQL 9 (install bundles). */
  bundle_id?: Integer | null;
}

export function toAssignment(row: AssignmentRow): AssignmentRecord {
  return {
    id: num(row.id),
    vin: row.vin,
    ecuSerial: row.ecu_serial,
    filename: row.filename,
    length: num(row.length),
    hashes: JSON.parse(row.hashes) as Record<string, string>,
    hardwareId: row.hardware_id,
    releaseCounter: num(row.release_counter),
    state: row.state,
    reason: row.reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    // Only an encrypted assignment carries the field: answers about unencrypted ones are as before.
    ...(row.encryption === null ? {} : { encryption: JSON.parse(row.encryption) as ImageEncryption }),
    // Only a member of an install bundle carries the field, as with encryption.
    ...(row.bundle_id === null || row.bundle_id === undefined ? {} : { bundleId: num(row.bundle_id) }),
  };
}

export interface InstallBundleRow {
  id: Integer;
  vin: string;
  campaign_id: Integer | null;
  state: InstallBundleState;
  failing_ecu: string | null;
  reason: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export function toInstallBundle(row: InstallBundleRow): InstallBundleRecord {
  return {
    id: num(row.id),
    vin: row.vin,
    campaignId: row.campaign_id === null ? null : num(row.campaign_id),
    state: row.state,
    failingEcu: row.failing_ecu,
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A row of the merged accepted-and-refused history (ManifestStore.history). */
export interface ManifestHistoryRow {
  id: Integer;
  received_at: string;
  accepted: Flag;
  error_code: string | null;
  error_message: string | null;
  body_length: Integer | null;
  body_sha256: string | null;
}

export const toManifestRecord = (r: ManifestHistoryRow): ManifestRecord =>
  flag(r.accepted)
    ? { id: num(r.id), receivedAt: r.received_at, accepted: true, errorCode: null, errorMessage: null }
    : { id: num(r.id), receivedAt: r.received_at, accepted: false, errorCode: r.error_code, errorMessage: r.error_message, bodyLength: numOrNull(r.body_length), bodySha256: r.body_sha256 };

export type AttackRow = { ecu_serial: string; code: string; message: string; reported_at: string };

export const toAttack = (r: AttackRow): AttackRecord => ({ ecuSerial: r.ecu_serial, code: r.code, message: r.message, reportedAt: r.reported_at });

export type MetadataRow = { role: StoredVehicleMetadata['role']; version: Integer; expires: string; content_sha256: string; bytes: Buffer; stale: Flag };

export const toMetadata = (row: MetadataRow): StoredVehicleMetadata => ({
  role: row.role,
  version: num(row.version),
  expires: row.expires,
  contentSha256: row.content_sha256,
  bytes: row.bytes,
  stale: flag(row.stale),
});

export interface EncryptedImageRow {
  ciphertext_sha256: string;
  filename: string;
  plaintext_sha256: string;
  plaintext_length: Integer;
  content_key: string;
  ciphertext_length: Integer;
  created_at: string;
}

export const toEncryptedImage = (row: EncryptedImageRow): EncryptedImageRecord => ({
  filename: row.filename,
  plaintextSha256: row.plaintext_sha256,
  plaintextLength: num(row.plaintext_length),
  contentKey: row.content_key,
  ciphertextSha256: row.ciphertext_sha256,
  ciphertextLength: num(row.ciphertext_length),
  createdAt: row.created_at,
});

export interface GroupRow {
  name: string;
  kind: 'static' | 'dynamic';
  filter: string | null;
  created_at: string;
}

/**
 * A stored group, read without trusting the row: a filter that is not JSON or not a filter's shape
 * becomes a `problem`, so one bad row fails only its own group, not every listing (HR-9b).
 */
export function toGroup(row: GroupRow): GroupRecord {
  const base = { name: row.name, kind: row.kind, createdAt: row.created_at };
  if (row.filter === null) return { ...base, filter: null };
  let filter: unknown;
  try {
    filter = JSON.parse(row.filter);
  } catch {
    return { ...base, filter: null, problem: 'its stored filter is not readable JSON' };
  }
  return isFilter(filter) ? { ...base, filter } : { ...base, filter: null, problem: 'its stored filter is not a filter (attributes, hardwareId, installedImage)' };
}

function isFilter(value: unknown): value is GroupFilter {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { attributes, hardwareId, installedImage } = value as Record<string, unknown>;
  const attributesOk = attributes === undefined || (typeof attributes === 'object' && attributes !== null && !Array.isArray(attributes) && Object.values(attributes).every((v) => typeof v === 'string'));
  return attributesOk && (hardwareId === undefined || typeof hardwareId === 'string') && (installedImage === undefined || typeof installedImage === 'string');
}

export interface CampaignTableRow {
  id: Integer;
  name: string;
  group_name: string;
  spec: string;
  state: CampaignState;
  stage: number;
  stage_started_at: string | null;
  created_at: string;
  updated_at: string;
}

export const toCampaign = (r: CampaignTableRow): CampaignRow => ({
  id: num(r.id),
  name: r.name,
  groupName: r.group_name,
  spec: r.spec,
  state: r.state,
  stage: r.stage,
  stageStartedAt: r.stage_started_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** An operator token's row without its digest: what both stores turn into a record. */
export type OperatorTokenRow = { token_id: string; name: string; scope: OperatorScope; created_at: string; expires_at: string | null; revoked_at: string | null };

export const toOperatorToken = (row: OperatorTokenRow): OperatorTokenRecord => ({
  tokenId: row.token_id,
  name: row.name,
  scope: row.scope,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
});

/** A campaign vehicle's stored standing (SQLite migration 13, PostgreSQL 8), as both stores select it. */
export const STANDING_COLUMNS = 'vin, stage, standing, standing_reason, deferred_while_driving, rolled_back';
export type StandingTableRow = { vin: string; stage: number | null; standing: CampaignVehicleOutcome; standing_reason: string | null; deferred_while_driving: number; rolled_back: number };
export const toStanding = (r: StandingTableRow): CampaignStandingRow => ({
  vin: r.vin,
  stage: r.stage,
  outcome: r.standing,
  reason: r.standing_reason,
  deferredWhileDriving: r.deferred_while_driving !== 0,
  rolledBack: r.rolled_back !== 0,
});
