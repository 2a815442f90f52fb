// Delegation lookup, pure: given a trusted targets role, which delegated roles may sign for a target,
// in the order the search must visit them (docs/uptane-conformance.md 5.7, #delegation_resolution).
import type { ErrorContext } from '../errors.js';
import { DelegationError } from '../errors.js';
import { isDelegatedPath, isSuccinctRoleName, succinctRoleFor } from './paths.js';
import type { RoleAuthority } from './sign.js';
import type { TargetsSigned } from './types.js';

export interface DelegationStep {
  readonly name: string;
  readonly terminating: boolean;
}

/**
 * Delegations of `delegator` that apply to `targetName`, in listed order. A delegation that names
 * hardware ids applies only to images for one of them (#delegation_resolution step 4.1).
 */
export function applicableDelegations(delegator: TargetsSigned, targetName: string, hardwareIds?: readonly string[]): DelegationStep[] {
  const delegations = delegator.delegations;
  if (delegations === undefined) return [];
  if (delegations.succinct_roles !== undefined) {
    // Hash bins cover every name, and each bin is terminating by construction (TAP 15).
    return [{ name: succinctRoleFor(delegations.succinct_roles, targetName), terminating: true }];
  }
  return (delegations.roles ?? [])
    .filter((role) => isDelegatedPath(role, targetName))
    // A lookup naming no hardware id cannot show it is among a delegation's hardwareIds: such a
    // delegation does not apply (fail closed; #delegation_resolution step 4.1).
    .filter((role) => role.hardwareIds === undefined || (hardwareIds !== undefined && role.hardwareIds.some((id) => hardwareIds.includes(id))))
    .map((role) => ({ name: role.name, terminating: role.terminating }));
}

/** The keys and threshold `delegator` grants to `roleName`, or DelegationError if it grants none. */
export function delegatedAuthority(delegator: TargetsSigned, delegatorName: string, roleName: string, context: ErrorContext): RoleAuthority {
  const delegations = delegator.delegations;
  if (delegations !== undefined) {
    const succinct = delegations.succinct_roles;
    if (succinct !== undefined && isSuccinctRoleName(succinct, roleName)) {
      return { keys: delegations.keys, keyids: succinct.keyids, threshold: succinct.threshold };
    }
    const role = delegations.roles?.find((r) => r.name === roleName);
    if (role !== undefined) return { keys: delegations.keys, keyids: role.keyids, threshold: role.threshold };
  }
  throw new DelegationError(`${delegatorName} does not delegate to ${roleName}`, context);
}

/** May `roleName`, reached from `delegator`, list `targetName` at all? Used by servers before storing. */
export function isAuthorizedFor(delegator: TargetsSigned, roleName: string, targetName: string): boolean {
  const delegations = delegator.delegations;
  if (delegations === undefined) return false;
  if (delegations.succinct_roles !== undefined) return succinctRoleFor(delegations.succinct_roles, targetName) === roleName;
  const role = delegations.roles?.find((r) => r.name === roleName);
  return role !== undefined && isDelegatedPath(role, targetName);
}
