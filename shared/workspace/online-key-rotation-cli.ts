// The part of `uptane image|director online-keys rotate` both repositories share: check the
// workspace, ask the server for pending keys (or take those already pending), stage the root change,
// and tell the root signers what comes next. Each component's CLI supplies its server client.
import type { PublicKey } from '../core/crypto/keys.js';
import { WorkspaceError } from '../core/errors.js';
import type { TopLevelRole } from '../core/metadata/types.js';
import { printJson } from '../cli/cli-output.js';
import type { CliEnvironment } from '../cli/environment.js';
import { describeStagedRotation, stageOnlineKeyRotation, type OnlineKeyChange, type StagedRotation } from './online-key-rotation.js';
import type { Workspace } from './workspace.js';

export type OnlineRole = Exclude<TopLevelRole, 'root'>;

/** The server's online keys: in use, and those a rotation made that wait for a root listing them. */
export interface ServerOnlineKeys<R extends OnlineRole> {
  readonly current: Readonly<Record<R, PublicKey>>;
  readonly pending: Readonly<Partial<Record<R, PublicKey>>>;
}

export interface RotationRun<R extends OnlineRole> {
  readonly ws: Workspace;
  readonly repository: string;
  readonly server: string;
  readonly roles: readonly R[];
  readonly replace: boolean;
  /** Stage the keys already pending on the server instead of asking for new ones. */
  readonly pendingOnly: boolean;
  readonly dryRun: boolean;
  readonly json: boolean;
  readonly fetchKeys: () => Promise<ServerOnlineKeys<R>>;
  readonly rotate: (roles: readonly R[], replace: boolean) => Promise<ServerOnlineKeys<R>>;
  /** The command that runs this again staging the pending keys only (for messages). */
  readonly retryHint: string;
}

const keyids = <R extends string>(keys: Readonly<Partial<Record<R, PublicKey>>>) =>
  Object.fromEntries(Object.entries(keys).map(([role, key]) => [role, (key as PublicKey).keyid]));

/** Runs one rotation command; every refusal is typed and leaves the workspace unchanged. */
export async function runOnlineKeyRotation<R extends OnlineRole>(io: CliEnvironment, run: RotationRun<R>): Promise<void> {
  const { ws, repository, roles } = run;
  const before = await run.fetchKeys();
  // Checked before the server makes anything: a workspace that cannot take the change is found now,
  // not after a key is pending.
  const root = ws.files.loadStagedRoot() ?? ws.files.loadPublishedRoot();
  if (root === undefined) throw new WorkspaceError(`${ws.dir} holds no ${repository} root: pull the published one first (\`${ws.hint('pull')}\`)`, { repository, role: 'root' });
  for (const role of roles) {
    const listed = root.signed.roles[role].keyids;
    const known = [before.current[role].keyid, before.pending[role]?.keyid];
    if (!known.some((keyid) => keyid !== undefined && listed.includes(keyid))) {
      throw new WorkspaceError(
        `the ${role} keys of the root in ${ws.dir} (${listed.join(', ')}) do not include the server's ${role} key ${before.current[role].keyid}: ` +
          `the workspace is behind the server (\`${ws.hint('pull')}\`) or belongs to another server; nothing was changed`,
        { repository, role: 'root' },
      );
    }
  }
  if (run.pendingOnly) {
    const missing = roles.filter((role) => before.pending[role] === undefined);
    if (missing.length > 0) throw new WorkspaceError(`no ${missing.join(' or ')} key is pending on ${run.server}: rotate without --pending-only to make one`, { repository });
  }
  if (run.dryRun) {
    const plan = roles.map((role) => ({ role, current: before.current[role].keyid, pending: before.pending[role]?.keyid ?? null }));
    if (run.json) {
      printJson(io, { dryRun: true, server: run.server, workspace: ws.dir, roles: plan });
      return;
    }
    io.print(`dry run: nothing asked of ${run.server}, nothing staged in ${ws.dir}`);
    for (const { role, current, pending } of plan) {
      io.print(`  ${role}: in use ${current}; ${pending === null ? 'no key pending' : `pending ${pending}${run.pendingOnly ? ' (would be staged)' : run.replace ? ' (would be replaced)' : ' (a rotation would be refused: --replace or --pending-only)'}`}`);
    }
    io.print(`a rotation would make a new key per role on the server and stage root: add it, remove the key in use`);
    return;
  }
  const after = run.pendingOnly ? before : await run.rotate(roles, run.replace);
  // With --replace a root staged for the replaced pending key may list it: the staging removes it too.
  const changes: OnlineKeyChange[] = roles.map((role) => ({ role, current: after.current[role], pending: after.pending[role]!, superseded: run.replace ? before.pending[role] : undefined }));
  let staged: StagedRotation;
  try {
    staged = stageOnlineKeyRotation(ws, repository, changes);
  } catch (err) {
    if (!(err instanceof WorkspaceError) || run.pendingOnly) throw err;
    throw new WorkspaceError(`${err.message}. The server's new key is pending and stays unused until a root lists it; fix the workspace, then stage it with \`${run.retryHint}\``, {
      repository,
      role: 'root',
      cause: err,
    });
  }
  if (run.json) {
    printJson(io, { server: run.server, workspace: ws.dir, current: keyids(after.current), pending: keyids(after.pending), staged });
    return;
  }
  io.print(`${run.pendingOnly ? 'staging the keys pending' : 'new pending keys made'} on ${run.server}:`);
  for (const role of roles) io.print(`  ${role}: ${after.pending[role]!.keyid} (replaces ${after.current[role].keyid})`);
  for (const line of describeStagedRotation(ws, staged)) io.print(line);
}
