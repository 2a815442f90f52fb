// What a signature would approve: every staged role against its published version, in the terms a
// reviewer checks before signing (version, expiry, keys and thresholds, delegations, images with
// their lengths, hashes and custom fields), and the SHA-256 of the exact bytes a signature covers.
// Read-only; parsed with the strict rules, as sign and push parse.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/canonical.js';
import type { DelegatedRole, RootSigned, SuccinctRoles, TargetFile, TargetsSigned, TopLevelRole } from '../core/metadata/types.js';
import { TOP_LEVEL_ROLES } from '../core/metadata/types.js';
import type { WorkspaceFiles } from './files.js';
import { compareRoles } from './roles.js';

export interface ValueChange<T> {
  readonly from: T;
  readonly to: T;
}

/** One key set of root (root, targets, snapshot, timestamp) or a delegation, when it changed. */
export interface KeySetChange {
  readonly role: string;
  readonly keysAdded: readonly string[];
  readonly keysRemoved: readonly string[];
  readonly threshold?: ValueChange<number>;
}

export interface TargetEntry extends TargetFile {
  readonly name: string;
}

export interface DelegationChange {
  readonly name: string;
  /** `added` and `removed` carry the delegation; `changed` its old and new form. */
  readonly change: 'added' | 'removed' | 'changed';
  readonly from?: DelegatedRole;
  readonly to?: DelegatedRole;
}

export interface RoleDiff {
  readonly role: string;
  /** 0 when the role was never published: everything staged is new. */
  readonly publishedVersion: number;
  readonly stagedVersion: number;
  readonly expires: ValueChange<string | null>;
  /** SHA-256 of the canonical signed bytes: what signers compare (status and sign-request show it too). */
  readonly sha256: string;
  /** Root only: key sets whose keys or threshold changed. */
  readonly keys?: readonly KeySetChange[];
  /** Targets roles only. */
  readonly targetsAdded?: readonly TargetEntry[];
  readonly targetsRemoved?: readonly TargetEntry[];
  readonly targetsChanged?: ReadonlyArray<{ readonly name: string; readonly from: TargetFile; readonly to: TargetFile }>;
  readonly delegations?: readonly DelegationChange[];
  /** Targets only: the hash-bin delegation (TAP 15 succinct_roles) before and after, when it changed. */
  readonly hashBins?: ValueChange<SuccinctRoles | null>;
  /** Anything else in the signed part that differs (consistent_snapshot, custom, spec_version). */
  readonly otherFields?: readonly string[];
}

export interface WorkspaceDiff {
  readonly roles: readonly RoleDiff[];
}

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

function keySetChange(role: string, from: { keyids: readonly string[]; threshold: number } | undefined, to: { keyids: readonly string[]; threshold: number } | undefined): KeySetChange | undefined {
  const before = new Set(from?.keyids ?? []);
  const after = new Set(to?.keyids ?? []);
  const keysAdded = [...after].filter((k) => !before.has(k));
  const keysRemoved = [...before].filter((k) => !after.has(k));
  const fromThreshold = from?.threshold ?? 0;
  const toThreshold = to?.threshold ?? 0;
  if (keysAdded.length === 0 && keysRemoved.length === 0 && fromThreshold === toThreshold) return undefined;
  return { role, keysAdded, keysRemoved, ...(fromThreshold !== toThreshold ? { threshold: { from: fromThreshold, to: toThreshold } } : {}) };
}

function otherFields(from: object | undefined, to: object, known: readonly string[]): string[] {
  const a = (from ?? {}) as Record<string, unknown>;
  const b = to as Record<string, unknown>;
  // Never published: the spec version and root's consistent_snapshot are not changes, just the start.
  const skip = from === undefined ? [...known, 'spec_version', 'consistent_snapshot'] : known;
  const names = new Set([...Object.keys(a), ...Object.keys(b)].filter((k) => !skip.includes(k)));
  return [...names].filter((k) => !same(a[k] ?? null, b[k] ?? null)).sort();
}

function rootDiff(from: RootSigned | undefined, to: RootSigned): Pick<RoleDiff, 'keys' | 'otherFields'> {
  const keys = TOP_LEVEL_ROLES.map((role: TopLevelRole) => keySetChange(role, from?.roles[role], to.roles[role])).filter((c) => c !== undefined);
  return { keys, otherFields: otherFields(from, to, ['_type', 'version', 'expires', 'keys', 'roles']) };
}

function targetsDiff(from: TargetsSigned | undefined, to: TargetsSigned): Pick<RoleDiff, 'targetsAdded' | 'targetsRemoved' | 'targetsChanged' | 'delegations' | 'hashBins' | 'otherFields'> {
  const before = from?.targets ?? {};
  const targetsAdded: TargetEntry[] = [];
  const targetsChanged: Array<{ name: string; from: TargetFile; to: TargetFile }> = [];
  for (const [name, file] of Object.entries(to.targets)) {
    const old = before[name];
    if (old === undefined) targetsAdded.push({ name, ...file });
    else if (!same(old, file)) targetsChanged.push({ name, from: old, to: file });
  }
  const targetsRemoved = Object.entries(before)
    .filter(([name]) => to.targets[name] === undefined)
    .map(([name, file]) => ({ name, ...file }));
  const byName = (list: readonly DelegatedRole[] | undefined) => new Map((list ?? []).map((r) => [r.name, r]));
  const oldRoles = byName(from?.delegations?.roles);
  const newRoles = byName(to.delegations?.roles);
  const delegations: DelegationChange[] = [];
  for (const [name, role] of newRoles) {
    const old = oldRoles.get(name);
    if (old === undefined) delegations.push({ name, change: 'added', to: role });
    // The delegated keys themselves are named by keyid, and a keyid is the hash of its key.
    else if (!same(old, role)) delegations.push({ name, change: 'changed', from: old, to: role });
  }
  for (const [name, role] of oldRoles) if (!newRoles.has(name)) delegations.push({ name, change: 'removed', from: role });
  const byEntryName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const other = otherFields(from, to, ['_type', 'version', 'expires', 'targets', 'delegations']);
  const binsBefore = from?.delegations?.succinct_roles ?? null;
  const binsAfter = to.delegations?.succinct_roles ?? null;
  const hashBins = same(binsBefore, binsAfter) ? undefined : { from: binsBefore, to: binsAfter };
  if (hashBins === undefined && (binsAfter !== null || binsBefore !== null) && !same(from?.delegations?.keys ?? null, to.delegations?.keys ?? null)) other.push('delegations.keys');
  return {
    ...(hashBins !== undefined ? { hashBins } : {}),
    targetsAdded: targetsAdded.sort(byEntryName),
    targetsRemoved: targetsRemoved.sort(byEntryName),
    targetsChanged: targetsChanged.sort(byEntryName),
    delegations,
    otherFields: other,
  };
}

/** The diff of every staged role (or of `only`), in push order. */
export function workspaceDiff(files: WorkspaceFiles, only?: string): WorkspaceDiff {
  const roles = (only !== undefined ? [only] : files.stagedRoles()).sort(compareRoles);
  const diffs: RoleDiff[] = [];
  for (const role of roles) {
    const staged = files.loadStaged(role);
    if (staged === undefined) continue;
    const published = files.loadPublished(role);
    const base = {
      role,
      publishedVersion: published?.signed.version ?? 0,
      stagedVersion: staged.signed.version,
      expires: { from: published?.signed.expires ?? null, to: staged.signed.expires },
      sha256: createHash('sha256').update(staged.signedBytes).digest('hex'),
    };
    diffs.push(
      staged.signed._type === 'root'
        ? { ...base, ...rootDiff(published?.signed as RootSigned | undefined, staged.signed) }
        : { ...base, ...targetsDiff(published?.signed as TargetsSigned | undefined, staged.signed as TargetsSigned) },
    );
  }
  return { roles: diffs };
}

const short = (keyid: string) => keyid.slice(0, 12);

function describeTarget(file: TargetFile): string {
  const { hardwareIds, releaseCounter, ...custom } = file.custom ?? {};
  const parts = [`${file.length} bytes`, ...Object.entries(file.hashes).map(([alg, hash]) => `${alg} ${hash}`)];
  if (hardwareIds !== undefined) parts.push(`hardwareIds ${hardwareIds.join(', ')}`);
  if (releaseCounter !== undefined) parts.push(`releaseCounter ${releaseCounter}`);
  if (Object.keys(custom).length > 0) parts.push(`custom ${canonicalJson(custom)}`);
  return parts.join(', ');
}

function describeDelegation(role: DelegatedRole): string {
  const where = [...(role.paths ?? []), ...(role.path_hash_prefixes ?? []).map((p) => `hash prefix ${p}`)].join(', ');
  return `${role.threshold} of ${role.keyids.map(short).join(', ')}; paths ${where}${role.hardwareIds !== undefined ? `; hardwareIds ${role.hardwareIds.join(', ')}` : ''}${role.terminating ? '; terminating' : ''}`;
}

function describeHashBins(bins: SuccinctRoles): string {
  const digits = Math.max(1, Math.ceil(bins.bit_length / 4));
  const last = (2 ** bins.bit_length - 1).toString(16).padStart(digits, '0');
  return `${2 ** bins.bit_length} bins ${bins.name_prefix}-${'0'.repeat(digits)} .. ${bins.name_prefix}-${last} (bit_length ${bins.bit_length}), ${bins.threshold} of ${bins.keyids.map(short).join(', ')}; terminating`;
}

/** A role whose diff is its version and expiry alone (a bin staged empty, or re-dated). */
function onlyVersionAndExpiry(d: RoleDiff): boolean {
  return (
    (d.targetsAdded ?? []).length === 0 &&
    (d.targetsRemoved ?? []).length === 0 &&
    (d.targetsChanged ?? []).length === 0 &&
    (d.delegations ?? []).length === 0 &&
    d.hashBins === undefined &&
    (d.otherFields ?? []).length === 0 &&
    d.keys === undefined
  );
}

/**
 * The diff for people: `+` added, `-` removed, `~` changed, one line each. Delegated roles whose only
 * change is version and expiry (hundreds of hash bins staged empty or re-dated) are summed up in one
 * line when there are more than a few; `--json` lists each with its SHA-256.
 */
export function formatDiff(diff: WorkspaceDiff): string[] {
  if (diff.roles.length === 0) return ['nothing is staged'];
  const lines: string[] = [];
  const quiet = diff.roles.filter((d) => d.role !== 'root' && d.role !== 'targets' && onlyVersionAndExpiry(d));
  const summed = new Set(quiet.length > 8 ? quiet.map((d) => d.role) : []);
  for (const d of diff.roles) {
    if (summed.has(d.role)) continue;
    lines.push(`${d.role} v${d.stagedVersion} (${d.publishedVersion === 0 ? 'never published' : `published v${d.publishedVersion}`})`);
    lines.push(`  sha256 of the signed bytes: ${d.sha256}`);
    if (d.expires.from !== d.expires.to) lines.push(`  ~ expires ${d.expires.from ?? '(none)'} -> ${d.expires.to}`);
    for (const k of d.keys ?? []) {
      const changes = [...k.keysAdded.map((id) => `+${short(id)}`), ...k.keysRemoved.map((id) => `-${short(id)}`)];
      if (k.threshold !== undefined) changes.push(`threshold ${k.threshold.from} -> ${k.threshold.to}`);
      lines.push(`  ~ ${k.role} keys: ${changes.join(' ')}`);
    }
    for (const c of d.delegations ?? []) {
      if (c.change === 'added') lines.push(`  + delegation ${c.name}: ${describeDelegation(c.to!)}`);
      else if (c.change === 'removed') lines.push(`  - delegation ${c.name}: ${describeDelegation(c.from!)}`);
      else lines.push(`  ~ delegation ${c.name}: ${describeDelegation(c.from!)} -> ${describeDelegation(c.to!)}`);
    }
    if (d.hashBins !== undefined) {
      if (d.hashBins.from !== null) lines.push(`  - hash bins: ${describeHashBins(d.hashBins.from)}`);
      if (d.hashBins.to !== null) lines.push(`  + hash bins: ${describeHashBins(d.hashBins.to)}`);
    }
    for (const t of d.targetsAdded ?? []) lines.push(`  + ${t.name}: ${describeTarget(t)}`);
    for (const t of d.targetsRemoved ?? []) lines.push(`  - ${t.name}: ${describeTarget(t)}`);
    for (const t of d.targetsChanged ?? []) {
      lines.push(`  ~ ${t.name}:`, `      was ${describeTarget(t.from)}`, `      now ${describeTarget(t.to)}`);
    }
    for (const field of d.otherFields ?? []) lines.push(`  ~ ${field} changed`);
    const counts = d.targetsAdded !== undefined ? `${d.targetsAdded.length} added, ${d.targetsRemoved!.length} removed, ${d.targetsChanged!.length} changed image(s)` : undefined;
    if (counts !== undefined) lines.push(`  ${counts}`);
  }
  if (summed.size > 0) {
    const versions = [...new Set(quiet.map((d) => `v${d.stagedVersion}`))].join(', ');
    const expiries = [...new Set(quiet.map((d) => d.expires.to))];
    lines.push(`${summed.size} more roles changed only in version and expiry (${versions}; expires ${expiries.length === 1 ? expiries[0] : `${expiries.length} different dates`}): ${quiet.slice(0, 4).map((d) => d.role).join(', ')}, ...`);
  }
  return lines;
}
