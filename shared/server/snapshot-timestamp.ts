// Snapshot and timestamp, the two roles a repository signs online: snapshot pins the version,
// length and SHA-256 of every targets file, and timestamp pins snapshot's, so a client that checks
// them refuses mix-and-match and rollback of the files below. The Image repository, the Director's
// per-vehicle metadata and the tests' attackers (who sign with stolen online keys) all build them
// here, so every one lists the same fields.
import type { PrivateKey } from '../core/crypto/keys.js';
import { digestBytes } from '../core/hashing.js';
import { SPEC_VERSION } from '../core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../core/metadata/sign.js';
import type { MetaFile, SnapshotSigned, TimestampSigned } from '../core/metadata/types.js';

/** A published metadata file as the role above it sees it: its version and its exact bytes. */
export interface RoleFile {
  readonly version: number;
  readonly bytes: Uint8Array;
}

/** What the signer decides for the new file: its version, its expiry and the online key. */
export interface OnlineSigning {
  readonly version: number;
  readonly expires: string;
  readonly key: PrivateKey;
}

export interface SignedRoleFile extends RoleFile {
  readonly expires: string;
  readonly bytes: Buffer;
}

/** The METAFILES entry for `file`: version, length and SHA-256 (the hash every client here checks). */
export function metaFileFor(file: RoleFile): MetaFile {
  return { version: file.version, length: file.bytes.length, hashes: digestBytes(file.bytes, ['sha256']) };
}

/** A signed snapshot listing each targets-like role (`targets`, delegated roles) by `<role>.json`. */
export function buildSnapshot(targetsFiles: Iterable<readonly [role: string, file: RoleFile]>, signing: OnlineSigning): SignedRoleFile {
  const meta: Record<string, MetaFile> = {};
  for (const [role, file] of targetsFiles) meta[`${role}.json`] = metaFileFor(file);
  const signed: SnapshotSigned = { _type: 'snapshot', spec_version: SPEC_VERSION, version: signing.version, expires: signing.expires, meta };
  return { version: signing.version, expires: signing.expires, bytes: serializeMetadata(signMetadata(signed, [signing.key])) };
}

/** A signed timestamp pinning `snapshot`. */
export function buildTimestamp(snapshot: RoleFile, signing: OnlineSigning): SignedRoleFile {
  const signed: TimestampSigned = {
    _type: 'timestamp',
    spec_version: SPEC_VERSION,
    version: signing.version,
    expires: signing.expires,
    meta: { 'snapshot.json': metaFileFor(snapshot) },
  };
  return { version: signing.version, expires: signing.expires, bytes: serializeMetadata(signMetadata(signed, [signing.key])) };
}
