// Pure edits of a root's signed part: the initial root, keys added to or removed from a role, and
// thresholds. Each returns a new object and refuses a result no client would accept (a threshold the
// role's keys can never meet), naming the command that fixes it instead.
import type { PublicKey, TufKey } from '../core/crypto/keys.js';
import { IllegalThresholdError, WorkspaceError } from '../core/errors.js';
import { formatExpires, SPEC_VERSION } from '../core/metadata/parse.js';
import { TOP_LEVEL_ROLES, type RoleKeys, type RootSigned, type TopLevelRole } from '../core/metadata/types.js';
import { commandHint } from './hints.js';

export interface InitialRootSpec {
  readonly keys: Readonly<Record<TopLevelRole, readonly PublicKey[]>>;
  readonly thresholds: Readonly<Record<TopLevelRole, number>>;
  readonly expires: Date;
}

export function isTopLevelRole(role: string): role is TopLevelRole {
  return (TOP_LEVEL_ROLES as readonly string[]).includes(role);
}

function checkThreshold(repository: string, role: TopLevelRole, threshold: number, keyCount: number): void {
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new IllegalThresholdError(`${role} threshold must be a whole number of at least 1, got ${threshold}`, { repository, role });
  }
  if (threshold > keyCount) {
    throw new IllegalThresholdError(
      `${role} threshold ${threshold} can never be met: the role has ${keyCount} key(s). Add keys first (\`${commandHint(repository, `root add-key --role ${role} --key FILE`)}\`)`,
      { repository, role },
    );
  }
}

/** Root version 1 with consistent snapshots (the repository serves `N.<role>.json` and hash-prefixed images). */
export function initialRoot(repository: string, spec: InitialRootSpec): RootSigned {
  const keys: Record<string, TufKey> = {};
  const roles = {} as Record<TopLevelRole, RoleKeys>;
  for (const role of TOP_LEVEL_ROLES) {
    const roleKeys = spec.keys[role];
    const keyids = [...new Set(roleKeys.map((k) => k.keyid))];
    if (keyids.length === 0) throw new WorkspaceError(`root needs at least one ${role} key`, { repository, role: 'root' });
    if (keyids.length !== roleKeys.length) throw new WorkspaceError(`a ${role} key is given twice`, { repository, role: 'root' });
    checkThreshold(repository, role, spec.thresholds[role], keyids.length);
    for (const key of roleKeys) keys[key.keyid] = key.tuf;
    roles[role] = { keyids, threshold: spec.thresholds[role] };
  }
  return {
    _type: 'root',
    spec_version: SPEC_VERSION,
    version: 1,
    expires: formatExpires(spec.expires),
    consistent_snapshot: true,
    keys,
    roles,
  };
}

/** Drops key objects no role refers to any more, so a removed key leaves no trace in root. */
function pruneKeys(keys: Readonly<Record<string, TufKey>>, roles: Readonly<Record<TopLevelRole, RoleKeys>>): Record<string, TufKey> {
  const used = new Set(TOP_LEVEL_ROLES.flatMap((role) => roles[role].keyids));
  return Object.fromEntries(Object.entries(keys).filter(([keyid]) => used.has(keyid)));
}

export function addRootKey(repository: string, root: RootSigned, role: TopLevelRole, key: PublicKey): RootSigned {
  const current = root.roles[role];
  if (current.keyids.includes(key.keyid)) {
    throw new WorkspaceError(`key ${key.keyid} is already a ${role} key`, { repository, role: 'root' });
  }
  const roles = { ...root.roles, [role]: { ...current, keyids: [...current.keyids, key.keyid] } };
  return { ...root, keys: { ...root.keys, [key.keyid]: key.tuf }, roles };
}

export function removeRootKey(repository: string, root: RootSigned, role: TopLevelRole, keyid: string): RootSigned {
  const current = root.roles[role];
  if (!current.keyids.includes(keyid)) {
    throw new WorkspaceError(`key ${keyid} is not a ${role} key; the ${role} keys are ${current.keyids.join(', ')}`, { repository, role: 'root' });
  }
  const keyids = current.keyids.filter((k) => k !== keyid);
  if (keyids.length === 0) {
    throw new WorkspaceError(`cannot remove the last ${role} key: add its replacement first (\`${commandHint(repository, `root add-key --role ${role} --key FILE`)}\`)`, {
      repository,
      role: 'root',
    });
  }
  if (current.threshold > keyids.length) {
    throw new IllegalThresholdError(
      `removing it would leave ${keyids.length} ${role} key(s) under threshold ${current.threshold}: lower the threshold first (\`${commandHint(repository, `root threshold --role ${role} ${keyids.length}`)}\`) or add a key`,
      { repository, role: 'root' },
    );
  }
  const roles = { ...root.roles, [role]: { ...current, keyids } };
  return { ...root, keys: pruneKeys(root.keys, roles), roles };
}

export function setRootThreshold(repository: string, root: RootSigned, role: TopLevelRole, threshold: number): RootSigned {
  const current = root.roles[role];
  checkThreshold(repository, role, threshold, current.keyids.length);
  return { ...root, roles: { ...root.roles, [role]: { ...current, threshold } } };
}
