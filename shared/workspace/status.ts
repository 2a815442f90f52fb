// What the workspace holds and what to do next, per role: staged version against published, expiry,
// each authority's threshold with the keyids that signed and those still missing, whether the role is
// ready to push, and the next command (go-tuf #72, RSTUF #349). Text for people, JSON for scripts.
import { createHash } from 'node:crypto';
import { WorkspaceError } from '../core/errors.js';
import { parseExpires } from '../core/metadata/parse.js';
import { isExpired } from '../core/trusted-metadata-set.js';
import { effectiveTargets, signingAuthorities } from './authority.js';
import { describeExpiry, parseDuration } from './duration.js';
import type { WorkspaceFiles } from './files.js';
import { commandHint, shortKeyId } from './hints.js';
import { readinessProblems } from './readiness.js';
import { compareRoles } from './roles.js';
import { ignoredSignatures, signatureProgress, type AuthorityProgress, type IgnoredSignature } from './signatures.js';
import { roleOption } from './targets-edits.js';

export interface Problem {
  readonly code: string;
  readonly message: string;
}

export interface StagedRoleStatus {
  readonly version: number;
  readonly expires: string;
  readonly expiresIn: string;
  /** SHA-256 of the canonical bytes signatures cover: the value signers compare. */
  readonly sha256: string;
  readonly images?: number;
  readonly signatures: readonly AuthorityProgress[];
  readonly ignoredSignatures: readonly IgnoredSignature[];
  readonly ready: boolean;
  readonly problems: readonly Problem[];
}

export interface PublishedRoleStatus {
  readonly version: number;
  readonly expires: string;
  readonly expiresIn: string;
  readonly expired: boolean;
  /** Expires within the workspace's warning period (expiryPolicy.warnBefore). */
  readonly expiresSoon: boolean;
}

export interface RoleStatus {
  readonly role: string;
  readonly staged?: StagedRoleStatus;
  readonly published?: PublishedRoleStatus;
  /** The command to run next for this role, if any. */
  readonly next?: string;
}

export interface WorkspaceStatus {
  readonly workspace: string;
  readonly repository: string;
  readonly serverUrl?: string;
  readonly roles: readonly RoleStatus[];
  /** True when something is staged and every staged role is ready. */
  readonly readyToPush: boolean;
}

function rolesToReport(files: WorkspaceFiles): string[] {
  const roles = new Set<string>(files.stagedRoles());
  if (files.published.load('root') !== undefined) roles.add('root');
  if (files.published.load('targets') !== undefined) roles.add('targets');
  for (const delegated of effectiveTargets(files)?.targets.signed.delegations?.roles ?? []) {
    if (files.published.load(delegated.name) !== undefined) roles.add(delegated.name);
  }
  return [...roles].sort(compareRoles);
}

function stagedStatus(files: WorkspaceFiles, role: string, now: Date): StagedRoleStatus | undefined {
  const staged = files.loadStaged(role);
  if (staged === undefined) return undefined;
  const problems = readinessProblems(files, role, now);
  let signatures: AuthorityProgress[] = [];
  let ignored: IgnoredSignature[] = [];
  try {
    const authorities = signingAuthorities(files, role);
    signatures = signatureProgress(staged, authorities);
    ignored = ignoredSignatures(staged, authorities);
  } catch (err) {
    // Already reported among `problems` (readinessProblems ran the same lookup).
    if (!(err instanceof WorkspaceError)) throw err;
  }
  return {
    version: staged.signed.version,
    expires: staged.signed.expires,
    expiresIn: describeExpiry(staged.signed.expires, now),
    sha256: createHash('sha256').update(staged.signedBytes).digest('hex'),
    ...(staged.signed._type === 'targets' ? { images: Object.keys(staged.signed.targets).length } : {}),
    signatures,
    ignoredSignatures: ignored,
    ready: problems.length === 0,
    problems: problems.map((p) => ({ code: p.code, message: p.message })),
  };
}

function publishedStatus(files: WorkspaceFiles, role: string, now: Date): PublishedRoleStatus | undefined {
  const published = files.loadPublished(role);
  if (published === undefined) return undefined;
  const { version, expires } = published.signed;
  const warnMs = parseDuration(files.config.expiryPolicy.warnBefore);
  return {
    version,
    expires,
    expiresIn: describeExpiry(expires, now),
    expired: isExpired(expires, now),
    expiresSoon: parseExpires(expires).getTime() - now.getTime() < warnMs,
  };
}

function nextStep(files: WorkspaceFiles, role: string, staged: StagedRoleStatus | undefined, published: PublishedRoleStatus | undefined): string | undefined {
  const repo = files.config.repository;
  if (staged !== undefined) {
    if (staged.ready) return commandHint(repo, 'push');
    if (staged.problems.every((p) => p.code === 'unmet_threshold')) return commandHint(repo, `sign --role ${role} --key FILE`);
    return undefined; // the problems say what to do
  }
  if (published !== undefined && (published.expired || published.expiresSoon)) {
    return commandHint(repo, role === 'root' ? 'root expires 365d' : `targets expires 90d${roleOption(role)}`);
  }
  return undefined;
}

export function workspaceStatus(files: WorkspaceFiles, now: Date): WorkspaceStatus {
  const roles = rolesToReport(files).map((role): RoleStatus => {
    const staged = stagedStatus(files, role, now);
    const published = publishedStatus(files, role, now);
    const next = nextStep(files, role, staged, published);
    return { role, ...(staged ? { staged } : {}), ...(published ? { published } : {}), ...(next ? { next } : {}) };
  });
  const stagedRoles = roles.filter((r) => r.staged !== undefined);
  return {
    workspace: files.dir,
    repository: files.config.repository,
    ...(files.config.serverUrl !== undefined ? { serverUrl: files.config.serverUrl } : {}),
    roles,
    readyToPush: stagedRoles.length > 0 && stagedRoles.every((r) => r.staged!.ready),
  };
}

function keyList(keyids: readonly string[]): string {
  return keyids.length === 0 ? '-' : keyids.map(shortKeyId).join(', ');
}

/** The status as lines of text, one block per role. */
export function formatStatus(status: WorkspaceStatus): string[] {
  const lines = [`workspace ${status.workspace} (${status.repository} repository${status.serverUrl ? `, server ${status.serverUrl}` : ''})`];
  if (status.roles.length === 0) lines.push(`  nothing staged or published yet: start with \`${commandHint(status.repository, 'root create')}\``);
  for (const entry of status.roles) {
    const { role, staged, published } = entry;
    const pub = published
      ? `published v${published.version}, expires ${published.expires} (${published.expiresIn})${published.expired ? ' EXPIRED' : published.expiresSoon ? ' expiring soon' : ''}`
      : 'never published';
    lines.push('');
    if (staged === undefined) {
      lines.push(`${role}: ${pub}; nothing staged`);
    } else {
      lines.push(`${role}: staged v${staged.version} (${pub})`);
      lines.push(`  expires ${staged.expires} (${staged.expiresIn})${staged.images !== undefined ? `, ${staged.images} image(s)` : ''}`);
      lines.push(`  sha256 of signed bytes ${staged.sha256}`);
      for (const p of staged.signatures) {
        lines.push(`  ${p.label}: ${p.signed.length}/${p.threshold} signed ${p.met ? '(threshold met)' : `(${p.threshold - p.signed.length} more needed)`}`);
        lines.push(`    signed:  ${keyList(p.signed)}`);
        if (!p.met) lines.push(`    missing: ${keyList(p.missing)}`);
      }
      for (const s of staged.ignoredSignatures) lines.push(`  ignored signature by ${shortKeyId(s.keyid)}: ${s.reason}`);
      lines.push(`  ${staged.ready ? 'ready to push' : 'NOT ready to push:'}`);
      for (const p of staged.problems) lines.push(`    - ${p.message}`);
    }
    if (entry.next !== undefined) lines.push(`  next: ${entry.next}`);
  }
  return lines;
}

/**
 * The exit status of `status`, so a script or a scheduled job can act without parsing text: 0 when
 * every staged role is ready to push (or nothing is staged and nothing published has expired);
 * 3 when signatures are all that is missing; 4 when a staged or published role has expired (re-sign
 * it); 5 when a staged role cannot be pushed for another reason (its problems say why). 1 stays what
 * every command returns when it fails. The worst verdict wins: 5, then 4, then 3.
 */
export const STATUS_EXIT = { ready: 0, failed: 1, missingSignatures: 3, expired: 4, notPushable: 5 } as const;

export type StatusVerdict = 'ready' | 'nothing-staged' | 'missing-signatures' | 'expired' | 'not-pushable';

export function statusVerdict(status: WorkspaceStatus): { verdict: StatusVerdict; exitCode: number } {
  const problems = status.roles.flatMap((r) => r.staged?.problems ?? []);
  if (problems.some((p) => p.code !== 'unmet_threshold' && p.code !== 'expired')) return { verdict: 'not-pushable', exitCode: STATUS_EXIT.notPushable };
  if (problems.some((p) => p.code === 'expired') || status.roles.some((r) => r.published?.expired === true && r.staged === undefined)) {
    return { verdict: 'expired', exitCode: STATUS_EXIT.expired };
  }
  if (problems.length > 0) return { verdict: 'missing-signatures', exitCode: STATUS_EXIT.missingSignatures };
  return status.roles.some((r) => r.staged !== undefined) ? { verdict: 'ready', exitCode: STATUS_EXIT.ready } : { verdict: 'nothing-staged', exitCode: STATUS_EXIT.ready };
}
