// One staged change set per role: the first edit after a publish starts from the published metadata
// with version N+1 and a fresh expiry; later edits reuse that version (one bump per change set, not
// per edit). When an edit changes the signed part, signatures collected so far no longer cover it and
// are dropped, and the caller is told whose; an edit that changes nothing keeps them.
import type { Clock } from '../core/clock.js';
import { canonicalBytes } from '../core/canonical.js';
import { WorkspaceError } from '../core/errors.js';
import { checkSigned, formatExpires } from '../core/metadata/parse.js';
import type { RootSigned, TargetsSigned } from '../core/metadata/types.js';
import { resolveExpiry } from './duration.js';
import type { ExpiryPolicy, WorkspaceFiles } from './files.js';
import { commandHint } from './hints.js';
import { isDelegatedRole } from './roles.js';

export type StagedSigned = RootSigned | TargetsSigned;

export interface StageResult<T extends StagedSigned = StagedSigned> {
  readonly role: string;
  readonly signed: T;
  /** False when the edit left the signed part exactly as it was. */
  readonly changed: boolean;
  /** True when this edit started a new change set (and bumped the version). */
  readonly started: boolean;
  /** Keyids whose signatures were dropped because the signed part changed under them. */
  readonly droppedSignatures: readonly string[];
  /** Version of the published metadata this change set follows (0 if none). */
  readonly publishedVersion: number;
}

export function defaultLifetime(policy: ExpiryPolicy, role: string): string {
  return role === 'root' ? policy.root : isDelegatedRole(role) ? policy.delegated : policy.targets;
}

/** Refuses to extend a change set that a newer publication has overtaken: its version would collide. */
function checkNotBehind(files: WorkspaceFiles, role: string, stagedVersion: number, publishedVersion: number): void {
  if (stagedVersion > publishedVersion) return;
  const repo = files.config.repository;
  throw new WorkspaceError(
    `staged ${role} v${stagedVersion} is not above published v${publishedVersion} (someone published since this change was started): discard it with \`${commandHint(repo, `discard --role ${role}`)}\` and stage the change again`,
    { repository: repo, role },
  );
}

/**
 * How an edit that knows what it changed can be checked in proportion to that change: `check`
 * replaces the check of the whole result (it must refuse whatever the full check would, given that
 * `base` passed it), and `changedFrom` replaces the comparison of canonical bytes.
 */
export interface IncrementalEdit<T extends StagedSigned> {
  readonly check: (next: T, base: T) => void;
  readonly changedFrom: (next: T, staged: T) => boolean;
}

/** A checked change of one role, not yet written: `commit` writes it (nothing is written before). */
export interface PlannedChange<T extends StagedSigned = StagedSigned> extends StageResult<T> {
  readonly commit: () => void;
}

/**
 * Applies `edit` to the staged signed part of `role` (or, with nothing staged, to the published one
 * with the next version, or to `fresh(version 1)` when nothing was ever published) and saves it.
 * The result is checked with the rules a client applies, so nothing a client would reject is staged.
 * The staged role is read once and written once, whatever the edit does.
 */
export function stageChange<T extends StagedSigned>(
  files: WorkspaceFiles,
  role: string,
  clock: Clock,
  edit: (current: T) => T,
  fresh?: (version: number, expires: string) => T,
  incremental?: IncrementalEdit<T>,
): StageResult<T> {
  const { commit, ...result } = planChange(files, role, clock, edit, fresh, incremental);
  commit();
  return result;
}

/**
 * stageChange without the write: every check is made and the result computed, and `commit` saves
 * it. An edit of many roles (images routed to hash bins, the bins of a new delegation) plans every
 * role first and commits only when all passed, so a refusal leaves the workspace as it was.
 */
export function planChange<T extends StagedSigned>(
  files: WorkspaceFiles,
  role: string,
  clock: Clock,
  edit: (current: T) => T,
  fresh?: (version: number, expires: string) => T,
  incremental?: IncrementalEdit<T>,
): PlannedChange<T> {
  const staged = files.loadStagedForEdit(role);
  let base: T;
  let publishedVersion: number;
  if (staged !== undefined) {
    // Only the version matters here: the published role is not parsed in full for every edit.
    publishedVersion = files.publishedVersion(role);
    checkNotBehind(files, role, staged.signed.version, publishedVersion);
    base = staged.signed as T;
  } else {
    const published = files.loadPublished(role);
    publishedVersion = published?.signed.version ?? 0;
    // A new change set: one version above what clients have, and a full lifetime from now.
    const expires = formatExpires(resolveExpiry(defaultLifetime(files.config.expiryPolicy, role), clock.now()));
    if (published !== undefined) {
      base = { ...(published.signed as T), version: publishedVersion + 1, expires };
    } else if (fresh !== undefined) {
      base = fresh(1, expires);
    } else {
      throw new WorkspaceError(`nothing is staged or published for ${role} to change`, { repository: files.config.repository, role });
    }
  }
  const next = edit(base);
  if (incremental !== undefined) incremental.check(next, base);
  else checkSigned(next, { repository: files.config.repository, role });
  const changed =
    staged === undefined ||
    (incremental !== undefined ? incremental.changedFrom(next, staged.signed as T) : !canonicalBytes(next).equals(canonicalBytes(staged.signed)));
  const droppedSignatures = changed && staged !== undefined ? staged.signatures.map((s) => s.keyid) : [];
  return {
    role,
    signed: next,
    changed,
    started: staged === undefined,
    droppedSignatures,
    publishedVersion,
    commit: () => {
      if (changed) files.saveCheckedStaged(role, { signed: next, signatures: [] });
    },
  };
}
