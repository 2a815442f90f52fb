// What the workspace holds and what to do next, per role: staged version against published, expiry,
// each authority's threshold with the keyids that signed and those still missing, whether the role is
// ready to push, and the next command (go-tuf #72, RSTUF #349). Text for people, JSON for scripts.
import { createHash } from 'node:crypto';
import { DamagedStagedFileError, WorkspaceError } from '../core/errors.js';
import { parseExpires } from '../core/metadata/parse.js';
import { isSuccinctRoleName, succinctRoleName } from '../core/metadata/paths.js';
import type { SuccinctRoles } from '../core/metadata/types.js';
import { isExpired } from '../core/trusted-metadata-set.js';
import { effectiveTargets, signingAuthorities } from './authority.js';
import { describeExpiry, parseDuration } from './duration.js';
import type { WorkspaceFiles } from './files.js';
import { commandHint, reSignHint, shortKeyId } from './hints.js';
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

/** A staged file that cannot be read (edited by hand, truncated): which file, what is wrong, and which role's discard removes it. */
export interface DamagedStaged {
  readonly file: string;
  readonly role: string;
  readonly message: string;
}

export interface RoleStatus {
  readonly role: string;
  readonly staged?: StagedRoleStatus;
  /** Set instead of `staged` when the staged file (this role's, or one it depends on) cannot be read. */
  readonly damaged?: DamagedStaged;
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
  /** The hash-bin delegation of targets in effect, when it delegates that way: its bins are among `roles`. */
  readonly hashBins?: SuccinctRoles;
}

/** Runs `read`; a damaged staged file becomes its description instead of an error, so status can still report the rest. */
function unlessDamaged<T>(read: () => T): { value: T } | { damaged: DamagedStaged } {
  try {
    return { value: read() };
  } catch (err) {
    if (!(err instanceof DamagedStagedFileError)) throw err;
    return { damaged: { file: err.file, role: err.role ?? '', message: err.message } };
  }
}

/** The targets in effect, or none when the staged targets is damaged (that role reports it). */
function readableTargets(files: WorkspaceFiles): ReturnType<typeof effectiveTargets> {
  const read = unlessDamaged(() => effectiveTargets(files));
  return 'value' in read ? read.value : undefined;
}

function rolesToReport(files: WorkspaceFiles, bins: SuccinctRoles | undefined): string[] {
  const roles = new Set<string>(files.stagedRoles());
  if (files.published.load('root') !== undefined) roles.add('root');
  if (files.published.load('targets') !== undefined) roles.add('targets');
  for (const delegated of readableTargets(files)?.targets.signed.delegations?.roles ?? []) {
    if (files.published.load(delegated.name) !== undefined) roles.add(delegated.name);
  }
  // Published hash bins expire like any role: each one is reported (and summed up in the text).
  if (bins !== undefined) for (const role of publishedBins(files, bins)) roles.add(role);
  return [...roles].sort(compareRoles);
}

/** Published bins, asked bin by bin (2^bit_length file checks). */
function publishedBins(files: WorkspaceFiles, bins: SuccinctRoles): string[] {
  const names: string[] = [];
  for (let bin = 0; bin < 2 ** bins.bit_length; bin += 1) {
    const role = succinctRoleName(bins, bin);
    if (files.published.load(role) !== undefined) names.push(role);
  }
  return names;
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

function nextStep(files: WorkspaceFiles, role: string, staged: StagedRoleStatus | undefined, published: PublishedRoleStatus | undefined, isBin: boolean): string | undefined {
  const repo = files.config.repository;
  if (staged !== undefined) {
    if (staged.ready) return commandHint(repo, 'push');
    if (staged.problems.every((p) => p.code === 'unmet_threshold')) return commandHint(repo, isBin ? 'bins sign --key FILE' : `sign --role ${role} --key FILE`);
    return undefined; // the problems say what to do
  }
  if (published !== undefined && (published.expired || published.expiresSoon)) {
    return commandHint(repo, role === 'root' ? 'root expires 365d' : isBin ? 'bins expires 90d' : `targets expires 90d${roleOption(role)}`);
  }
  return undefined;
}

export function workspaceStatus(files: WorkspaceFiles, now: Date): WorkspaceStatus {
  const bins = readableTargets(files)?.targets.signed.delegations?.succinct_roles;
  const roles = rolesToReport(files, bins).map((role): RoleStatus => {
    const read = unlessDamaged(() => stagedStatus(files, role, now));
    const published = publishedStatus(files, role, now);
    if ('damaged' in read) {
      const next = commandHint(files.config.repository, `discard --role ${read.damaged.role}`);
      return { role, damaged: read.damaged, ...(published ? { published } : {}), next };
    }
    const staged = read.value;
    const next = nextStep(files, role, staged, published, bins !== undefined && isSuccinctRoleName(bins, role));
    return { role, ...(staged ? { staged } : {}), ...(published ? { published } : {}), ...(next ? { next } : {}) };
  });
  const stagedRoles = roles.filter((r) => r.staged !== undefined || r.damaged !== undefined);
  return {
    workspace: files.dir,
    repository: files.config.repository,
    ...(files.config.serverUrl !== undefined ? { serverUrl: files.config.serverUrl } : {}),
    roles,
    readyToPush: stagedRoles.length > 0 && stagedRoles.every((r) => r.staged?.ready === true),
    ...(bins !== undefined ? { hashBins: bins } : {}),
  };
}

/** Hash bins in a few lines: counts of staged, ready and published bins, and the bins that need more than signatures. */
function formatHashBins(status: WorkspaceStatus, bins: SuccinctRoles, entries: readonly RoleStatus[]): string[] {
  const repo = status.repository;
  const staged = entries.filter((e) => e.staged !== undefined);
  const ready = staged.filter((e) => e.staged!.ready);
  const signaturesOnly = staged.filter((e) => !e.staged!.ready && e.staged!.problems.every((p) => p.code === 'unmet_threshold'));
  const other = staged.filter((e) => !e.staged!.ready && !signaturesOnly.includes(e));
  const published = entries.filter((e) => e.published !== undefined);
  const expired = published.filter((e) => e.published!.expired && e.staged === undefined);
  const soon = published.filter((e) => e.published!.expiresSoon && !e.published!.expired && e.staged === undefined);
  const lines = [
    '',
    `hash bins ${bins.name_prefix}-* (${2 ** bins.bit_length} bins, ${bins.threshold} of ${keyList(bins.keyids)}): ${staged.length} staged, ${published.length} published`,
  ];
  if (staged.length > 0) {
    const images = staged.reduce((sum, e) => sum + (e.staged!.images ?? 0), 0);
    lines.push(`  staged: ${ready.length} ready to push, ${signaturesOnly.length} need signatures, ${other.length} cannot be pushed; ${images} image(s) in the staged bins`);
  }
  if (signaturesOnly.length > 0) {
    const missing = [...new Set(signaturesOnly.flatMap((e) => e.staged!.signatures.flatMap((p) => (p.met ? [] : p.missing))))];
    lines.push(`    missing signatures from: ${keyList(missing)} (\`${commandHint(repo, 'bins sign --key FILE')}\`)`);
  }
  for (const e of other.slice(0, 10)) for (const p of e.staged!.problems) lines.push(`    - ${e.role}: ${p.message}`);
  if (other.length > 10) lines.push(`    ... and ${other.length - 10} more bins (\`${commandHint(repo, 'status --json')}\` lists every one)`);
  if (expired.length > 0) lines.push(`  ${expired.length} published bin(s) EXPIRED: \`${commandHint(repo, 'bins expires 90d')}\`, then sign and push`);
  if (soon.length > 0) lines.push(`  ${soon.length} published bin(s) expiring soon: \`${commandHint(repo, 'bins expires 90d')}\``);
  if (staged.length > 0 && staged.length === ready.length) lines.push(`  next: ${commandHint(repo, 'push')}`);
  return lines;
}

function keyList(keyids: readonly string[]): string {
  return keyids.length === 0 ? '-' : keyids.map(shortKeyId).join(', ');
}

/** The status as lines of text, one block per role. */
export function formatStatus(status: WorkspaceStatus): string[] {
  const lines = [`workspace ${status.workspace} (${status.repository} repository${status.serverUrl ? `, server ${status.serverUrl}` : ''})`];
  if (status.roles.length === 0) lines.push(`  nothing staged or published yet: start with \`${commandHint(status.repository, 'root create')}\``);
  const bins = status.hashBins;
  const isBin = (role: string) => bins !== undefined && isSuccinctRoleName(bins, role);
  for (const entry of status.roles) {
    if (isBin(entry.role)) continue; // summed up below: hundreds of bins would bury the other roles
    const { role, staged, published } = entry;
    const pub = published
      ? `published v${published.version}, expires ${published.expires} (${published.expiresIn})${published.expired ? ' EXPIRED' : published.expiresSoon ? ' expiring soon' : ''}`
      : 'never published';
    lines.push('');
    if (entry.damaged !== undefined) {
      lines.push(`${role}: DAMAGED staged file ${entry.damaged.file} (${pub})`);
      lines.push(`  ${entry.damaged.message}`);
    } else if (staged === undefined) {
      lines.push(`${role}: ${pub}; nothing staged`);
      // Vehicles refuse expired metadata (safely, but silently to the people who can fix it): say how.
      if (published?.expired === true) lines.push(`  ${role} expired on ${published.expires}: ${reSignHint(status.repository, role)}`);
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
  if (bins !== undefined) lines.push(...formatHashBins(status, bins, status.roles.filter((e) => isBin(e.role))));
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
  const problems = status.roles.flatMap((r) => r.staged?.problems ?? (r.damaged === undefined ? [] : [{ code: 'damaged_staged_file', message: r.damaged.message }]));
  if (problems.some((p) => p.code !== 'unmet_threshold' && p.code !== 'expired')) return { verdict: 'not-pushable', exitCode: STATUS_EXIT.notPushable };
  if (problems.some((p) => p.code === 'expired') || status.roles.some((r) => r.published?.expired === true && r.staged === undefined)) {
    return { verdict: 'expired', exitCode: STATUS_EXIT.expired };
  }
  if (problems.length > 0) return { verdict: 'missing-signatures', exitCode: STATUS_EXIT.missingSignatures };
  return status.roles.some((r) => r.staged !== undefined) ? { verdict: 'ready', exitCode: STATUS_EXIT.ready } : { verdict: 'nothing-staged', exitCode: STATUS_EXIT.ready };
}
