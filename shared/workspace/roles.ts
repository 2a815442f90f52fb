// Which roles a workspace stages, and in what order they are shown and pushed. Only offline-signed
// roles live in a workspace: root, top-level targets and roles delegated from targets. Timestamp and
// snapshot are signed online by the server and never staged.
import { WorkspaceError } from '../core/errors.js';

/** The metadata type a staged role holds: root, or targets (top-level and delegated alike). */
export type StagedType = 'root' | 'targets';

/** Delegated role names go into URLs and file names; a plain token keeps both unambiguous. */
const DELEGATED_ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function metadataTypeOf(role: string): StagedType {
  return role === 'root' ? 'root' : 'targets';
}

export function isDelegatedRole(role: string): boolean {
  return role !== 'root' && role !== 'targets';
}

/** Throws WorkspaceError for a role a workspace cannot stage (online roles, unsafe names). */
export function checkStagedRoleName(role: string): void {
  if (role === 'timestamp' || role === 'snapshot') {
    throw new WorkspaceError(`${role} is signed online by the repository server; a workspace stages root, targets and delegated roles only`);
  }
  if (isDelegatedRole(role) && !DELEGATED_ROLE_NAME.test(role)) {
    throw new WorkspaceError(
      `role name ${JSON.stringify(role)} is not allowed: use letters, digits, '.', '_' and '-' (at most 100 characters), starting with a letter or digit`,
    );
  }
}

/** Push order: root first (targets are checked against it), then targets, then delegated roles by name. */
export function compareRoles(a: string, b: string): number {
  const rank = (role: string) => (role === 'root' ? 0 : role === 'targets' ? 1 : 2);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}
