// Pull: bring the workspace's published metadata up to date as a verifying client would, starting
// from the root the workspace already trusts. The shared RepositoryUpdater walks root versions and
// checks timestamp, snapshot and targets; delegated roles are then checked one by one through the
// same TrustedMetadataSet. Only what verified is stored (the updater's store is `published/`).
import type { Clock } from '../core/clock.js';
import { nodeBackend } from '../core/crypto/ed25519.js';
import { WorkspaceError } from '../core/errors.js';
import { fetchBytes, type Fetcher } from '../client/fetcher.js';
import { roleFileName } from '../core/metadata/paths.js';
import { DEFAULT_UPDATER_CONFIG, RepositoryUpdater } from '../client/updater.js';
import type { WorkspaceFiles } from './files.js';
import { commandHint } from './hints.js';

export interface PullOptions {
  /** Base URL of the metadata, e.g. http://127.0.0.1:8081/metadata */
  readonly metadataUrl: string;
  readonly fetcher: Fetcher;
  readonly clock: Clock;
}

export interface PullResult {
  readonly rootVersion: number;
  readonly timestampVersion: number;
  readonly targetsVersion: number;
  /** Delegated roles fetched and verified, with their versions. */
  readonly delegated: Readonly<Record<string, number>>;
  /** Staged roles whose change set a newer publication has overtaken. */
  readonly overtaken: readonly string[];
}

export async function pullWorkspace(files: WorkspaceFiles, options: PullOptions): Promise<PullResult> {
  const repository = files.config.repository;
  if (files.published.load('root') === undefined) {
    throw new WorkspaceError(
      `this workspace trusts no root yet, so nothing can be pulled securely: start it from a root you trust (\`${commandHint(repository, 'init --trusted-root FILE')}\`), or create and push one (\`${commandHint(repository, 'root create')}\`)`,
      { repository },
    );
  }
  const updater = new RepositoryUpdater({
    repository,
    metadataUrl: options.metadataUrl,
    store: files.published,
    fetcher: options.fetcher,
    clock: options.clock,
    backend: nodeBackend,
  });
  const refreshed = await updater.refresh();
  const set = updater.trusted;
  const consistent = set.root.signed.consistent_snapshot;
  const delegated: Record<string, number> = {};
  // Depth-first from top-level targets, each role checked against the role that delegates to it.
  const toVisit: Array<{ role: string; delegator: string }> = (set.targets?.signed.delegations?.roles ?? []).map((d) => ({ role: d.name, delegator: 'targets' }));
  const visited = new Set<string>(['targets']);
  while (toVisit.length > 0 && visited.size <= DEFAULT_UPDATER_CONFIG.maxDelegations) {
    const { role, delegator } = toVisit.shift()!;
    if (visited.has(role)) continue; // a cycle, or a role reached twice
    visited.add(role);
    const meta = set.snapshot!.signed.meta[`${role}.json`];
    if (meta === undefined) continue; // delegated but never published
    const url = `${options.metadataUrl}/${consistent ? roleFileName(role, meta.version) : roleFileName(role)}`;
    const bytes = await fetchBytes(options.fetcher, url, { maxBytes: meta.length ?? DEFAULT_UPDATER_CONFIG.maxTargetsBytes });
    const verified = set.updateDelegatedTargets(bytes, role, delegator);
    files.published.persist(role, bytes);
    delegated[role] = verified.signed.version;
    toVisit.push(...(verified.signed.delegations?.roles ?? []).map((d) => ({ role: d.name, delegator: role })));
  }
  const overtaken = files.stagedRoles().filter((role) => {
    const staged = files.loadStaged(role);
    const published = files.loadPublished(role);
    return staged !== undefined && published !== undefined && staged.signed.version <= published.signed.version;
  });
  return {
    rootVersion: refreshed.rootVersion,
    timestampVersion: refreshed.timestampVersion,
    targetsVersion: refreshed.targetsVersion,
    delegated,
    overtaken,
  };
}
