// Who may sign a staged role, worked out from the workspace the way a client or the server will
// check it: root N+1 needs the root keys of root N and its own; targets needs the targets keys of
// the root it will be checked against (staged if root is changing, else published); a delegated role
// needs the keys its delegation in targets names (staged if targets is changing, else published).
import { DelegationError, WorkspaceError } from '../core/errors.js';
import { delegatedAuthority } from '../core/metadata/delegation.js';
import type { RoleAuthority } from '../core/metadata/sign.js';
import type { DelegatedRole, Metadata, RootSigned, TargetsSigned, TopLevelRole } from '../core/metadata/types.js';
import type { WorkspaceFiles } from './files.js';
import { commandHint } from './hints.js';

/** One set of keys and a threshold that must sign, with a label a person can read. */
export interface SigningAuthority {
  readonly label: string;
  readonly authority: RoleAuthority;
}

function rootRoleAuthority(root: RootSigned, role: TopLevelRole): RoleAuthority {
  return { keys: root.keys, keyids: root.roles[role].keyids, threshold: root.roles[role].threshold };
}

/** The root a role will be checked against at push time: the staged one when root is changing. */
export function effectiveRoot(files: WorkspaceFiles): { root: Metadata<RootSigned>; staged: boolean } | undefined {
  const staged = files.loadStagedRoot();
  if (staged !== undefined) return { root: staged, staged: true };
  const published = files.loadPublishedRoot();
  return published === undefined ? undefined : { root: published, staged: false };
}

/** The top-level targets that delegates to other roles at push time: staged if targets is changing. */
export function effectiveTargets(files: WorkspaceFiles): { targets: Metadata<TargetsSigned>; staged: boolean } | undefined {
  const staged = files.loadStagedTargets('targets');
  if (staged !== undefined) return { targets: staged, staged: true };
  const published = files.loadPublishedTargets('targets');
  return published === undefined ? undefined : { targets: published, staged: false };
}

function noRoot(files: WorkspaceFiles): WorkspaceError {
  const repo = files.config.repository;
  return new WorkspaceError(
    `this workspace has no root metadata: create one with \`${commandHint(repo, 'root create')}\`, or start from a published root with \`${commandHint(repo, 'init --trusted-root FILE')}\` and \`${commandHint(repo, 'pull')}\``,
    { repository: repo, role: 'root' },
  );
}

/** The delegation `targets` grants `role`, or a WorkspaceError saying how to get one. */
export function delegationOf(files: WorkspaceFiles, role: string): { delegation: DelegatedRole | undefined; delegator: TargetsSigned; label: string; authority: RoleAuthority } {
  const repo = files.config.repository;
  const found = effectiveTargets(files);
  if (found === undefined) {
    throw new WorkspaceError(
      `this workspace holds no targets metadata that delegates to ${role}: fetch the published metadata with \`${commandHint(repo, 'pull')}\`, or delegate the role with \`${commandHint(repo, `delegate ${role} ...`)}\``,
      { repository: repo, role },
    );
  }
  const { targets, staged } = found;
  const label = `delegation to ${role} in ${staged ? 'staged' : 'published'} targets v${targets.signed.version}`;
  try {
    const authority = delegatedAuthority(targets.signed, 'targets', role, { repository: repo, role });
    const delegation = targets.signed.delegations?.roles?.find((r) => r.name === role);
    return { delegation, delegator: targets.signed, label, authority };
  } catch (err) {
    if (!(err instanceof DelegationError)) throw err;
    throw new WorkspaceError(
      `${staged ? 'staged' : 'published'} targets v${targets.signed.version} does not delegate to ${role}: delegate it first with \`${commandHint(repo, `delegate ${role} --path PATTERN --key FILE`)}\`${staged ? '' : `, or pull if it was delegated since (\`${commandHint(repo, 'pull')}\`)`}`,
      { repository: repo, role, cause: err },
    );
  }
}

/**
 * Every authority whose threshold `role` must meet before it can be pushed. For a new root version
 * that is two: the published root's root keys and the staged root's own (#check_root steps 2.3, 2.6).
 */
export function signingAuthorities(files: WorkspaceFiles, role: string): SigningAuthority[] {
  if (role === 'root') {
    const staged = files.loadStagedRoot();
    const published = files.loadPublishedRoot();
    const result: SigningAuthority[] = [];
    if (published !== undefined && (staged === undefined || published.signed.version < staged.signed.version)) {
      result.push({
        label: `root keys of published root v${published.signed.version} (trusted by clients now)`,
        authority: rootRoleAuthority(published.signed, 'root'),
      });
    }
    if (staged !== undefined) {
      result.push({ label: `root keys of staged root v${staged.signed.version}`, authority: rootRoleAuthority(staged.signed, 'root') });
    }
    if (result.length === 0) throw noRoot(files);
    return result;
  }
  if (role === 'targets') {
    const found = effectiveRoot(files);
    if (found === undefined) throw noRoot(files);
    return [
      {
        label: `targets keys in ${found.staged ? 'staged' : 'published'} root v${found.root.signed.version}`,
        authority: rootRoleAuthority(found.root.signed, 'targets'),
      },
    ];
  }
  const { label, authority } = delegationOf(files, role);
  return [{ label, authority }];
}
