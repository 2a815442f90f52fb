// Pure edits of a targets role's signed part (top-level or delegated): images added and removed with
// their Uptane fields, and delegations to suppliers. Hashing an image streams the file (never held
// whole in memory: docs/decisions.md Cryptography); everything else here is plain data.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { PublicKey, TufKey } from '../core/crypto/keys.js';
import { HashBinError, UnauthorizedTargetError, WorkspaceError } from '../core/errors.js';
import { isSecurityProfile, MINIMUM_PROFILE_FIELD, SECURITY_PROFILES } from '../core/security-profile.js';
import { digestFile } from '../client/file-hashing.js';
import { isAuthorizedFor } from '../core/metadata/delegation.js';
import { checkTargetName, isDelegatedPath, succinctRoleName } from '../core/metadata/paths.js';
import { SPEC_VERSION } from '../core/metadata/parse.js';
import type { DelegatedRole, Delegations, SuccinctRoles, TargetCustom, TargetFile, TargetsSigned } from '../core/metadata/types.js';
import type { ImageSource } from './files.js';
import { commandHint } from './hints.js';
import { checkStagedRoleName, isDelegatedRole } from './roles.js';

/** Uptane fields of an image (docs/decisions.md Formats) and any free custom fields. */
export interface ImageFields {
  readonly hardwareIds: readonly string[];
  readonly releaseCounter: number;
  readonly custom?: Readonly<Record<string, unknown>>;
}

const RESERVED_CUSTOM = ['hardwareIds', 'releaseCounter', 'ecuIdentifiers'];

export function emptyTargets(version: number, expires: string): TargetsSigned {
  return { _type: 'targets', spec_version: SPEC_VERSION, version, expires, targets: {} };
}

/** The Uptane fields of an image, checked before any file is read (so a batch fails before it hashes). */
export function checkImageFields(repository: string, fields: ImageFields): void {
  if (fields.hardwareIds.length === 0) throw new WorkspaceError('an image needs at least one hardware id (--hardware-id)', { repository });
  for (const id of fields.hardwareIds) {
    if (typeof id !== 'string' || id.trim() === '') throw new WorkspaceError('hardware ids must be non-empty strings', { repository });
  }
  if (new Set(fields.hardwareIds).size !== fields.hardwareIds.length) throw new WorkspaceError('a hardware id is given twice', { repository });
  if (!Number.isSafeInteger(fields.releaseCounter) || fields.releaseCounter < 0) {
    throw new WorkspaceError(`releaseCounter must be a whole number >= 0, got ${fields.releaseCounter}`, { repository });
  }
  for (const key of Object.keys(fields.custom ?? {})) {
    if (RESERVED_CUSTOM.includes(key)) throw new WorkspaceError(`custom field ${key} is set by its own option, not as a free custom field`, { repository });
  }
  // Refused here, before hashing, rather than by the server's parser after the push is signed.
  const minimum = fields.custom?.[MINIMUM_PROFILE_FIELD];
  if (minimum !== undefined && !isSecurityProfile(minimum)) {
    throw new WorkspaceError(`custom field ${MINIMUM_PROFILE_FIELD} must be one of ${SECURITY_PROFILES.join(', ')}, got ${JSON.stringify(minimum)} (--minimum-profile)`, { repository });
  }
}

/** The size of a local image file, or a clear error when it cannot be read (missing, a folder). */
export async function imageSize(repository: string, absolute: string): Promise<number> {
  let info;
  try {
    info = await stat(absolute);
  } catch (err) {
    throw new WorkspaceError(`cannot read image ${absolute}: ${(err as Error).message}`, { repository, cause: err });
  }
  if (!info.isFile()) throw new WorkspaceError(`image ${absolute} is not a regular file`, { repository });
  return info.size;
}

/**
 * The targets entry for a local image file: length, sha256 and sha512 from one streaming read, and
 * the custom fields. Also returns where the file is, so push can upload it.
 */
export async function describeImage(
  repository: string,
  path: string,
  fields: ImageFields,
  onProgress?: (bytesRead: number, total: number) => void,
): Promise<{ target: TargetFile; source: ImageSource }> {
  checkImageFields(repository, fields);
  const absolute = resolve(path);
  const total = await imageSize(repository, absolute);
  const { length, hashes } = await digestFile(absolute, ['sha256', 'sha512'], onProgress && ((read) => onProgress(read, total)));
  const custom: TargetCustom = { ...fields.custom, hardwareIds: [...fields.hardwareIds], releaseCounter: fields.releaseCounter };
  return { target: { length, hashes, custom }, source: { path: absolute, length, sha256: hashes.sha256! } };
}

/**
 * For a delegated role: the image name must lie inside the delegated paths and, when the delegation
 * names hardware ids, the image must be for one of them, or no client would ever find it there
 * (#delegation_resolution step 4.1); the server refuses the first case too.
 */
export function checkDelegatedImage(
  repository: string,
  role: string,
  delegation: DelegatedRole | undefined,
  name: string,
  hardwareIds: readonly string[],
  delegator?: TargetsSigned,
): void {
  if (delegation === undefined) {
    // A hash bin (TAP 15) may list only the names that hash to it: a client looks for a name in its
    // one bin and nowhere else, so a name staged in another bin would never be found (and the server
    // refuses it: docs/threat-model.md I13).
    if (delegator !== undefined && !isAuthorizedFor(delegator, role, name)) {
      throw new UnauthorizedTargetError(`${name} does not hash to hash bin ${role}: stage it without --role and it goes to its own bin`, { repository, role });
    }
    return;
  }
  if (!isDelegatedPath(delegation, name)) {
    throw new UnauthorizedTargetError(
      `${name} is outside what ${role} may sign (${(delegation.paths ?? delegation.path_hash_prefixes ?? []).join(', ')}): choose a name inside its paths with --name`,
      { repository, role },
    );
  }
  if (delegation.hardwareIds !== undefined && !hardwareIds.some((id) => delegation.hardwareIds!.includes(id))) {
    throw new UnauthorizedTargetError(
      `${role} is delegated only for hardware ids ${delegation.hardwareIds.join(', ')}; ${name} is for ${hardwareIds.join(', ')}, so no ECU would find it there`,
      { repository, role },
    );
  }
}

export function withTarget(targets: TargetsSigned, name: string, file: TargetFile): TargetsSigned {
  checkTargetName(name);
  return { ...targets, targets: { ...targets.targets, [name]: file } };
}

/**
 * Adds or replaces many images in one copy of the targets map: each entry costs O(1), so staging N
 * images into a role that lists M costs O(N + M), not O(N * M) as N calls of withTarget would.
 */
export function withTargets(targets: TargetsSigned, entries: Iterable<readonly [string, TargetFile]>): TargetsSigned {
  const next: Record<string, TargetFile> = { ...targets.targets };
  for (const [name, file] of entries) {
    checkTargetName(name);
    next[name] = file;
  }
  return { ...targets, targets: next };
}

export function withoutTarget(repository: string, role: string, targets: TargetsSigned, name: string): TargetsSigned {
  if (targets.targets[name] === undefined) {
    const names = Object.keys(targets.targets);
    throw new WorkspaceError(
      `${role} lists no image named ${JSON.stringify(name)}${names.length > 0 ? `; it lists ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''}` : ' (it lists none)'}`,
      { repository, role },
    );
  }
  const rest = Object.fromEntries(Object.entries(targets.targets).filter(([n]) => n !== name));
  return { ...targets, targets: rest };
}

export interface DelegationSpec {
  readonly name: string;
  readonly keys: readonly PublicKey[];
  readonly threshold: number;
  readonly paths: readonly string[];
  readonly hardwareIds?: readonly string[];
  readonly terminating: boolean;
}

function usedKeys(keys: Readonly<Record<string, TufKey>>, roles: readonly DelegatedRole[]): Record<string, TufKey> {
  const used = new Set(roles.flatMap((r) => r.keyids));
  return Object.fromEntries(Object.entries(keys).filter(([keyid]) => used.has(keyid)));
}

function currentRoles(repository: string, targets: TargetsSigned): readonly DelegatedRole[] {
  if (targets.delegations?.succinct_roles !== undefined) {
    throw new WorkspaceError('targets delegates through hash bins (succinct_roles); path delegations cannot be added next to them', { repository, role: 'targets' });
  }
  return targets.delegations?.roles ?? [];
}

/**
 * Adds (or replaces, keeping its place in the search order) a path delegation from top-level targets
 * to a supplier's keys (docs/uptane-conformance.md 5.7: delegations are searched in listed order).
 */
export function withDelegation(repository: string, targets: TargetsSigned, spec: DelegationSpec): TargetsSigned {
  checkStagedRoleName(spec.name);
  if (!isDelegatedRole(spec.name)) throw new WorkspaceError(`${spec.name} is a top-level role and cannot be delegated to`, { repository, role: 'targets' });
  if (spec.paths.length === 0) throw new WorkspaceError('a delegation needs at least one path pattern (--path), e.g. "acme/*"', { repository, role: 'targets' });
  if (spec.keys.length === 0) throw new WorkspaceError('a delegation needs at least one key (--key)', { repository, role: 'targets' });
  const keyids = [...new Set(spec.keys.map((k) => k.keyid))];
  if (!Number.isSafeInteger(spec.threshold) || spec.threshold < 1 || spec.threshold > keyids.length) {
    throw new WorkspaceError(`delegation threshold ${spec.threshold} must be between 1 and the ${keyids.length} key(s) given`, { repository, role: 'targets' });
  }
  const role: DelegatedRole = {
    name: spec.name,
    keyids,
    threshold: spec.threshold,
    terminating: spec.terminating,
    paths: [...spec.paths],
    ...(spec.hardwareIds !== undefined && spec.hardwareIds.length > 0 ? { hardwareIds: [...spec.hardwareIds] } : {}),
  };
  const roles = [...currentRoles(repository, targets)];
  const at = roles.findIndex((r) => r.name === spec.name);
  if (at === -1) roles.push(role);
  else roles[at] = role;
  const keys: Record<string, TufKey> = { ...targets.delegations?.keys };
  for (const key of spec.keys) keys[key.keyid] = key.tuf;
  const delegations: Delegations = { keys: usedKeys(keys, roles), roles };
  return { ...targets, delegations };
}

export function withoutDelegation(repository: string, targets: TargetsSigned, name: string): TargetsSigned {
  const roles = currentRoles(repository, targets);
  if (!roles.some((r) => r.name === name)) {
    throw new WorkspaceError(`targets does not delegate to ${name}${roles.length > 0 ? `; it delegates to ${roles.map((r) => r.name).join(', ')}` : ''}`, {
      repository,
      role: 'targets',
    });
  }
  const remaining = roles.filter((r) => r.name !== name);
  if (remaining.length === 0) {
    const { delegations: _removed, ...rest } = targets;
    return rest;
  }
  return { ...targets, delegations: { keys: usedKeys(targets.delegations!.keys, remaining), roles: remaining } };
}

/** How many hash bins a workspace may create (docs/code-style.md R10). */
export interface HashBinLimits {
  /**
   * Snapshot lists every bin (about 110 bytes each), and a client caps snapshot at 2 MB by default
   * (shared/client/updater.ts maxSnapshotBytes): 16,384 bins fit with room for other roles.
   */
  readonly maxBins: number;
}

export const DEFAULT_HASH_BIN_LIMITS: HashBinLimits = { maxBins: 16_384 };

export const DEFAULT_BIN_PREFIX = 'bins';

export interface HashBinSpec {
  /** How many bins: a power of two from 2 up to the limit (bit_length = log2). */
  readonly bins: number;
  readonly keys: readonly PublicKey[];
  readonly threshold: number;
  /** Bins are named `<prefix>-<hex>`; default `bins`. */
  readonly prefix?: string;
}

/** The TAP 15 bit_length for `bins`, or a HashBinError saying what would be accepted. */
export function binBitLength(repository: string, bins: number, limits: HashBinLimits = DEFAULT_HASH_BIN_LIMITS): number {
  const ok = Number.isSafeInteger(bins) && bins >= 2 && bins <= limits.maxBins && (bins & (bins - 1)) === 0;
  if (!ok) {
    throw new HashBinError(`--bins ${bins} must be a power of two from 2 to ${limits.maxBins} (16, 256, 4096 ...): each bin takes the names whose SHA-256 starts with its bits`, {
      repository,
      role: 'targets',
    });
  }
  return Math.log2(bins);
}

/** The hash-bin delegation of `targets`, if it delegates that way. */
export function hashBinsOf(targets: TargetsSigned | undefined): SuccinctRoles | undefined {
  return targets?.delegations?.succinct_roles;
}

/** Every bin name of `succinct`, in bin order. */
export function binNames(succinct: SuccinctRoles): string[] {
  return Array.from({ length: 2 ** succinct.bit_length }, (_, bin) => succinctRoleName(succinct, bin));
}

/**
 * Top-level targets delegating every name to 2^bit_length hash bins, its images removed (the caller
 * moves them into their bins). Refuses a targets role that already delegates: hash bins and path
 * delegations cannot be mixed in one delegations object (TAP 15), and supplier roles would lose the
 * images they signed.
 */
export function withHashBins(repository: string, targets: TargetsSigned, spec: HashBinSpec, limits: HashBinLimits = DEFAULT_HASH_BIN_LIMITS): TargetsSigned {
  const bitLength = binBitLength(repository, spec.bins, limits);
  const prefix = spec.prefix ?? DEFAULT_BIN_PREFIX;
  const context = { repository, role: 'targets' };
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,89}$/.test(prefix)) {
    throw new HashBinError(`bin prefix ${JSON.stringify(prefix)} is not allowed: use letters, digits, '.', '_' and '-' (at most 90 characters), starting with a letter or digit`, context);
  }
  const existing = targets.delegations;
  if (existing?.succinct_roles !== undefined) {
    const bins = 2 ** existing.succinct_roles.bit_length;
    throw new HashBinError(`targets already delegates to ${bins} hash bins (${existing.succinct_roles.name_prefix}-*); a workspace changes bins only by starting a new repository`, context);
  }
  if ((existing?.roles ?? []).length > 0) {
    throw new HashBinError(
      `targets delegates to ${existing!.roles!.map((r) => r.name).join(', ')}; hash bins cannot sit next to path delegations: remove them first (\`${commandHint(repository, 'undelegate NAME')}\`)`,
      context,
    );
  }
  if (spec.keys.length === 0) throw new HashBinError('hash bins need at least one key (--key)', context);
  const keyids = [...new Set(spec.keys.map((k) => k.keyid))];
  if (!Number.isSafeInteger(spec.threshold) || spec.threshold < 1 || spec.threshold > keyids.length) {
    throw new HashBinError(`bin threshold ${spec.threshold} must be between 1 and the ${keyids.length} key(s) given`, context);
  }
  const keys: Record<string, TufKey> = {};
  for (const key of spec.keys) keys[key.keyid] = key.tuf;
  const succinct: SuccinctRoles = { keyids, threshold: spec.threshold, bit_length: bitLength, name_prefix: prefix };
  return { ...targets, targets: {}, delegations: { keys, succinct_roles: succinct } };
}

/** Hint for the role option of targets commands: `--role acme` for a delegated role, nothing for targets. */
export function roleOption(role: string): string {
  return role === 'targets' ? '' : ` --role ${role}`;
}

export function signHint(repository: string, role: string): string {
  return commandHint(repository, `sign --role ${role} --key FILE`);
}
