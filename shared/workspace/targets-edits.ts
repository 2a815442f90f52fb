// Pure edits of a targets role's signed part (top-level or delegated): images added and removed with
// their Uptane fields, and delegations to suppliers. Hashing an image streams the file (never held
// whole in memory: docs/decisions.md Cryptography); everything else here is plain data.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { PublicKey, TufKey } from '../core/crypto/keys.js';
import { UnauthorizedTargetError, WorkspaceError } from '../core/errors.js';
import { digestFile } from '../client/file-hashing.js';
import { checkTargetName, isDelegatedPath } from '../core/metadata/paths.js';
import { SPEC_VERSION } from '../core/metadata/parse.js';
import type { DelegatedRole, Delegations, TargetCustom, TargetFile, TargetsSigned } from '../core/metadata/types.js';
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
export function checkDelegatedImage(repository: string, role: string, delegation: DelegatedRole | undefined, name: string, hardwareIds: readonly string[]): void {
  if (delegation === undefined) return; // succinct (hash-bin) delegations cover every name
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

/** Hint for the role option of targets commands: `--role acme` for a delegated role, nothing for targets. */
export function roleOption(role: string): string {
  return role === 'targets' ? '' : ` --role ${role}`;
}

export function signHint(repository: string, role: string): string {
  return commandHint(repository, `sign --role ${role} --key FILE`);
}
