// What one leaf of a repository's transparency log says: which signed file version was published.
// Server and vehicle build an entry with the same function from the same file, so a vehicle can
// compute the leaf hash of the targets version it verified and ask the log to prove it is included
// (docs/transparency-log.md "What the log holds"). An entry describes a file; it is not the file.
import { createHash } from 'node:crypto';
import { canonicalBytes } from '../core/canonical.js';
import { MalformedLogDataError } from '../core/errors.js';
import { hashLeaf, type Hash } from './merkle.js';

export const LOG_ENTRY_TYPE = 'uptane-log-entry';

/** The repositories that keep a log. */
export type LogRepository = 'image' | 'director';

/**
 * One published version of one signed metadata file. `vin_sha256` is present only for the Director's
 * per-vehicle files: the vehicle is named by the hash of its VIN, never the VIN (a public log must
 * not list a fleet).
 */
export interface LogEntryFields {
  readonly repository: LogRepository;
  /** The role as metadata names it: root, timestamp, snapshot, targets, or a delegated role's name. */
  readonly role: string;
  readonly version: number;
  /** Length in bytes of the file as served. */
  readonly length: number;
  /** Lowercase hex SHA-256 of the file as served. */
  readonly sha256: string;
  /** Lowercase hex SHA-256 of the VIN (UTF-8), for the Director's per-vehicle files only. */
  readonly vinSha256?: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const MAX_ROLE_LENGTH = 255;

function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The hash a per-vehicle entry names its vehicle by. */
export function vinHash(vin: string): string {
  return sha256Hex(Buffer.from(vin, 'utf8'));
}

/** The entry for a file version, from the exact bytes served. */
export function entryForFile(fields: { repository: LogRepository; role: string; version: number; vin?: string }, fileBytes: Uint8Array): LogEntryFields {
  return {
    repository: fields.repository,
    role: fields.role,
    version: fields.version,
    length: fileBytes.length,
    sha256: sha256Hex(fileBytes),
    ...(fields.vin === undefined ? {} : { vinSha256: vinHash(fields.vin) }),
  };
}

/** The entry's bytes as the log stores them: canonical JSON, so both sides hash the same bytes. */
export function encodeLogEntry(fields: LogEntryFields): Uint8Array {
  checkFields(fields);
  return canonicalBytes({
    _type: LOG_ENTRY_TYPE,
    repository: fields.repository,
    role: fields.role,
    version: fields.version,
    length: fields.length,
    hashes: { sha256: fields.sha256 },
    ...(fields.vinSha256 === undefined ? {} : { vin_sha256: fields.vinSha256 }),
  });
}

/** The leaf hash of an entry: what an inclusion proof is asked for. */
export function entryLeafHash(fields: LogEntryFields): Hash {
  return hashLeaf(encodeLogEntry(fields));
}

/** Parses stored or served entry bytes; MalformedLogDataError for anything not an entry this code writes. */
export function decodeLogEntry(bytes: Uint8Array): LogEntryFields {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new MalformedLogDataError('a log entry is not JSON', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedLogDataError('a log entry is not a JSON object');
  const o = value as Record<string, unknown>;
  if (o._type !== LOG_ENTRY_TYPE) throw new MalformedLogDataError(`a log entry's _type must be ${LOG_ENTRY_TYPE}`);
  const hashes = o.hashes;
  if (typeof hashes !== 'object' || hashes === null || Array.isArray(hashes)) throw new MalformedLogDataError('a log entry has no hashes object');
  const fields: LogEntryFields = {
    repository: o.repository as LogRepository,
    role: o.role as string,
    version: o.version as number,
    length: o.length as number,
    sha256: (hashes as Record<string, unknown>).sha256 as string,
    ...(o.vin_sha256 === undefined ? {} : { vinSha256: o.vin_sha256 as string }),
  };
  checkFields(fields);
  const known = new Set(['_type', 'repository', 'role', 'version', 'length', 'hashes', 'vin_sha256']);
  const extra = Object.keys(o).find((key) => !known.has(key));
  if (extra !== undefined) throw new MalformedLogDataError(`a log entry has an unknown field ${extra}`);
  // Only the canonical form is an entry: other bytes with the same meaning would be another leaf.
  if (!Buffer.from(bytes).equals(Buffer.from(encodeLogEntry(fields)))) throw new MalformedLogDataError('a log entry is not in canonical form');
  return fields;
}

function checkFields(fields: LogEntryFields): void {
  if (fields.repository !== 'image' && fields.repository !== 'director') throw new MalformedLogDataError(`a log entry's repository must be image or director, not ${String(fields.repository)}`);
  if (typeof fields.role !== 'string' || fields.role.length === 0 || fields.role.length > MAX_ROLE_LENGTH) throw new MalformedLogDataError(`a log entry's role must be a name of 1-${MAX_ROLE_LENGTH} characters`);
  if (!Number.isSafeInteger(fields.version) || fields.version < 1) throw new MalformedLogDataError(`a log entry's version must be a positive integer, not ${String(fields.version)}`);
  if (!Number.isSafeInteger(fields.length) || fields.length < 0) throw new MalformedLogDataError(`a log entry's length must be a non-negative integer, not ${String(fields.length)}`);
  if (typeof fields.sha256 !== 'string' || !HEX64.test(fields.sha256)) throw new MalformedLogDataError('a log entry\'s sha256 must be 64 lowercase hex digits');
  if (fields.vinSha256 !== undefined && (typeof fields.vinSha256 !== 'string' || !HEX64.test(fields.vinSha256))) throw new MalformedLogDataError('a log entry\'s vin_sha256 must be 64 lowercase hex digits');
}
