// Stages the root change of an online key rotation (docs/decisions.md "Online key rotation"): for
// each rotated role, the server's pending key is added to the role and the key in use removed, in
// one staged root that the offline root keys then sign. The server switches to the pending key when
// that root is published. Checked as a whole before anything is staged, so a refusal changes nothing.
import type { PublicKey } from '../core/crypto/keys.js';
import { WorkspaceError } from '../core/errors.js';
import type { RootSigned, TopLevelRole } from '../core/metadata/types.js';
import { addRootKey, removeRootKey } from './root-edits.js';
import type { Workspace } from './workspace.js';

/** One role's rotation as the server reported it: the key in use and the new pending key. */
export interface OnlineKeyChange {
  readonly role: Exclude<TopLevelRole, 'root'>;
  readonly current: PublicKey;
  readonly pending: PublicKey;
  /** A pending key this rotation replaced (`--replace`), which a root staged earlier may list: removed too. */
  readonly superseded?: PublicKey | undefined;
}

/** What was staged for one role: keyids added and removed (null: the staged root already had it so). */
export interface StagedKeyChange {
  readonly role: string;
  readonly added: string | null;
  readonly removed: string | null;
  /** A replaced pending key the staged root listed, removed (absent when there was none). */
  readonly removedSuperseded?: string;
}

export interface StagedRotation {
  /** The staged root's version, which the root keys now sign. */
  readonly version: number;
  readonly changes: readonly StagedKeyChange[];
  /** Signatures the staged root had collected that the change dropped. */
  readonly droppedSignatures: readonly string[];
  /** The root signers' next commands, in order. */
  readonly next: readonly string[];
}

/**
 * Stages `changes` in the workspace's root (its staged root, else a new change on the published one).
 * Running it again after a partial run, or after the same rotation was staged, changes nothing more.
 */
export function stageOnlineKeyRotation(ws: Workspace, repository: string, changes: readonly OnlineKeyChange[]): StagedRotation {
  if (ws.repository !== repository) {
    throw new WorkspaceError(`${ws.dir} is a workspace of the ${ws.repository} repository, not the ${repository} one: give the ${repository} root workspace with --workspace`, {
      repository,
      role: 'root',
    });
  }
  const base = ws.files.loadStagedRoot() ?? ws.files.loadPublishedRoot();
  if (base === undefined) {
    throw new WorkspaceError(`${ws.dir} holds no ${repository} root: pull the published one first (\`${ws.hint('pull')}\`)`, { repository, role: 'root' });
  }
  // The whole edit on a copy first: any refusal (a root that lists neither key) leaves the workspace as it was.
  let root: RootSigned = base.signed;
  const planned: StagedKeyChange[] = [];
  for (const { role, current, pending, superseded } of changes) {
    const keyids = root.roles[role].keyids;
    if (!keyids.includes(current.keyid) && !keyids.includes(pending.keyid) && (superseded === undefined || !keyids.includes(superseded.keyid))) {
      throw new WorkspaceError(
        `the ${role} keys of this workspace's root (${keyids.join(', ')}) include neither the server's ${role} key ${current.keyid} nor its pending one: ` +
          `the workspace is behind the server (\`${ws.hint('pull')}\`) or belongs to another server`,
        { repository, role: 'root' },
      );
    }
    const added = keyids.includes(pending.keyid) ? null : pending.keyid;
    if (added !== null) root = addRootKey(repository, root, role, pending);
    const removed = root.roles[role].keyids.includes(current.keyid) ? current.keyid : null;
    if (removed !== null) root = removeRootKey(repository, root, role, removed);
    const removedSuperseded = superseded !== undefined && root.roles[role].keyids.includes(superseded.keyid) ? superseded.keyid : undefined;
    if (removedSuperseded !== undefined) root = removeRootKey(repository, root, role, removedSuperseded);
    planned.push({ role, added, removed, ...(removedSuperseded === undefined ? {} : { removedSuperseded }) });
  }
  const dropped = new Set<string>();
  let version = base.signed.version;
  for (const { role, pending } of changes) {
    const change = planned.find((p) => p.role === role)!;
    if (change.added !== null) {
      const result = ws.addRootKey(role, pending);
      result.droppedSignatures.forEach((keyid) => dropped.add(keyid));
      version = result.signed.version;
    }
    for (const keyid of [change.removed, change.removedSuperseded ?? null]) {
      if (keyid === null) continue;
      const result = ws.removeRootKey(role, keyid);
      result.droppedSignatures.forEach((k) => dropped.add(k));
      version = result.signed.version;
    }
  }
  version = ws.files.loadStagedRoot()?.signed.version ?? version;
  return {
    version,
    changes: planned,
    droppedSignatures: [...dropped],
    next: [ws.hint('sign --role root --key ROOT_KEY_FILE'), ws.hint('status'), ws.hint('push')],
  };
}

/** Lines telling the operator what was staged and what the root signers do next. */
export function describeStagedRotation(ws: Workspace, staged: StagedRotation): string[] {
  const lines = [`staged root v${staged.version} in ${ws.dir}:`];
  for (const change of staged.changes) {
    lines.push(
      `  ${change.role}: ${change.added === null ? 'new key already listed' : `add ${change.added}`}; ${change.removed === null ? 'old key already removed' : `remove ${change.removed}`}` +
        (change.removedSuperseded === undefined ? '' : `; remove the replaced pending key ${change.removedSuperseded}`),
    );
  }
  if (staged.droppedSignatures.length > 0) lines.push(`  (dropped ${staged.droppedSignatures.length} signature(s) the staged root had collected: it must be signed again)`);
  lines.push(
    'The server keeps signing with the keys in use until this root is published; then it switches to the new keys in the same step.',
    'Next, the offline root key holders:',
    `  1. sign it, each with a root key, until the threshold of the old and the new root is met: \`${staged.next[0]}\``,
    `  2. check it: \`${staged.next[1]}\``,
    `  3. publish it: \`${staged.next[2]}\``,
  );
  return lines;
}
