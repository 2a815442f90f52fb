// Readonly types of TUF 1.0 metadata with the Uptane fields (docs/decisions.md Formats;
// docs/uptane-conformance.md 1). Parsed objects are the received JSON, checked and frozen: the
// types name the fields we use, and unknown fields stay in the object because signatures cover them.
import type { TufKey } from '../crypto/keys.js';
import type { SecurityProfile } from '../security-profile.js';

export const TOP_LEVEL_ROLES = ['root', 'timestamp', 'snapshot', 'targets'] as const;
export type TopLevelRole = (typeof TOP_LEVEL_ROLES)[number];
export type RoleType = TopLevelRole;

export interface Signature {
  readonly keyid: string;
  readonly sig: string;
}

export interface RoleKeys {
  readonly keyids: readonly string[];
  readonly threshold: number;
}

interface CommonSigned {
  readonly spec_version: string;
  readonly version: number;
  readonly expires: string;
}

export interface RootSigned extends CommonSigned {
  readonly _type: 'root';
  readonly consistent_snapshot: boolean;
  readonly keys: Readonly<Record<string, TufKey>>;
  readonly roles: Readonly<Record<TopLevelRole, RoleKeys>>;
}

/** An entry of timestamp.meta or snapshot.meta. */
export interface MetaFile {
  readonly version: number;
  readonly length?: number;
  readonly hashes?: Readonly<Record<string, string>>;
}

export interface TimestampSigned extends CommonSigned {
  readonly _type: 'timestamp';
  readonly meta: Readonly<{ 'snapshot.json': MetaFile }>;
}

export interface SnapshotSigned extends CommonSigned {
  readonly _type: 'snapshot';
  /** Keyed by `<role>.json`: targets.json and every delegated role. */
  readonly meta: Readonly<Record<string, MetaFile>>;
}

/** Director targets: which ECU (by serial) gets the image, and that ECU's hardware id. */
export interface EcuIdentifier {
  readonly hardwareId: string;
}

/** Uptane custom fields of a target; any other custom fields are kept. */
export interface TargetCustom {
  /** Image repository: hardware ids the image may be installed on. */
  readonly hardwareIds?: readonly string[];
  /** Monotonic counter against image rollback (Uptane #full_verification step 10.2.3). */
  readonly releaseCounter?: number;
  /** Director repository: ECU serial -> hardware id. */
  readonly ecuIdentifiers?: Readonly<Record<string, EcuIdentifier>>;
  /** Image repository: the lowest ECU security profile that may install the image (docs/security-profiles.md). */
  readonly minimumSecurityProfile?: SecurityProfile;
  readonly [field: string]: unknown;
}

export interface TargetFile {
  readonly length: number;
  readonly hashes: Readonly<Record<string, string>>;
  readonly custom?: TargetCustom;
}

export interface DelegatedRole {
  readonly name: string;
  readonly keyids: readonly string[];
  readonly threshold: number;
  readonly terminating: boolean;
  readonly paths?: readonly string[];
  readonly path_hash_prefixes?: readonly string[];
  /** Uptane: the delegation applies only to images for these hardware ids (#delegation_resolution). */
  readonly hardwareIds?: readonly string[];
}

/** TAP 15 hash-bin delegations: 2^bit_length roles named `<name_prefix>-<hex bin>`. */
export interface SuccinctRoles {
  readonly keyids: readonly string[];
  readonly threshold: number;
  readonly bit_length: number;
  readonly name_prefix: string;
}

export interface Delegations {
  readonly keys: Readonly<Record<string, TufKey>>;
  readonly roles?: readonly DelegatedRole[];
  readonly succinct_roles?: SuccinctRoles;
}

export interface TargetsSigned extends CommonSigned {
  readonly _type: 'targets';
  readonly targets: Readonly<Record<string, TargetFile>>;
  readonly delegations?: Delegations;
  /** Director targets with no images carry the VIN here (Uptane #targets_images_meta). */
  readonly custom?: Readonly<{ vin?: string; [field: string]: unknown }>;
}

export type AnySigned = RootSigned | TimestampSigned | SnapshotSigned | TargetsSigned;

export interface SignedTypeMap {
  root: RootSigned;
  timestamp: TimestampSigned;
  snapshot: SnapshotSigned;
  targets: TargetsSigned;
}

/**
 * One parsed metadata file. `signedBytes` are the canonical bytes of `signed` as received (unknown
 * fields included): the bytes signatures are verified over. `raw` is the file exactly as received,
 * the only thing a client persists.
 */
export interface Metadata<T extends AnySigned = AnySigned> {
  readonly signed: T;
  readonly signatures: readonly Signature[];
  readonly signedBytes: Uint8Array;
  readonly raw: Uint8Array;
}
