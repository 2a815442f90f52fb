// Push a workspace to the Image repository: every check is made locally before the first byte goes
// out (thresholds, the root chain, expiry, versions, image files unchanged since they were hashed);
// then images are uploaded (streamed; skipped when the server already holds them), then root, then
// targets, then delegated roles, in the order the server checks them against each other.
// planPush makes the same local checks and says what a push would do, sending nothing (--dry-run).
import { stat } from 'node:fs/promises';
import { HashMismatchError, LengthMismatchError, WorkspaceError } from '../shared/core/errors.js';
import { compareRoles, isDelegatedRole } from '../shared/workspace/roles.js';
import type { Workspace } from '../shared/workspace/workspace.js';
import type { ImageRepoClient } from './repo-client.js';

export interface PushOptions {
  /** Roles to push; default every staged role. */
  readonly roles?: readonly string[];
  /** Bytes sent so far of one image upload. */
  readonly onUploadProgress?: (name: string, sent: number, total: number) => void;
  readonly log?: (line: string) => void;
}

export interface PushedImage {
  readonly name: string;
  readonly sha256: string;
  readonly length: number;
  /** False when the server already held the image. */
  readonly uploaded: boolean;
}

export interface PushResult {
  readonly images: readonly PushedImage[];
  readonly published: ReadonlyArray<{ readonly role: string; readonly version: number }>;
}

interface PendingImage {
  readonly role: string;
  readonly name: string;
  readonly path: string;
  readonly length: number;
  readonly sha256: string;
  readonly sha512: string | undefined;
}

/**
 * A role is checked against the root and targets in effect when it arrives, so pushing targets while
 * a staged root stays behind (or a delegated role without its staged delegation) would be refused by
 * the server: refuse it here, naming what to add.
 */
function checkPushSet(ws: Workspace, roles: readonly string[]): void {
  const staged = new Set(ws.stagedRoles());
  const missing = (needed: string, by: string) =>
    new WorkspaceError(`${by} was staged against the staged ${needed}; push them together (\`${ws.hint(`push --role ${needed} --role ${by}`)}\`) or discard the staged ${needed}`, {
      repository: ws.repository,
      role: by,
    });
  for (const role of roles) {
    if (!staged.has(role)) throw new WorkspaceError(`nothing is staged for ${role}`, { repository: ws.repository, role });
    if (role !== 'root' && staged.has('root') && !roles.includes('root')) throw missing('root', role);
    if (isDelegatedRole(role) && staged.has('targets') && !roles.includes('targets')) throw missing('targets', role);
  }
}

/** Images the staged roles list that came from local files in this workspace (others are already on the server). */
async function pendingImages(ws: Workspace, roles: readonly string[]): Promise<PendingImage[]> {
  const pending: PendingImage[] = [];
  for (const role of roles.filter((r) => r !== 'root')) {
    const staged = ws.files.loadStagedTargets(role);
    const sources = ws.files.loadSources(role);
    for (const [name, target] of Object.entries(staged?.signed.targets ?? {})) {
      const source = sources[name];
      if (source === undefined) continue;
      let size: number;
      try {
        size = (await stat(source.path)).size;
      } catch (err) {
        throw new WorkspaceError(`image ${name} was staged from ${source.path}, which cannot be read now (${(err as Error).message}): restore the file, or stage it again`, {
          repository: ws.repository,
          role,
          cause: err,
        });
      }
      if (size !== target.length) {
        throw new LengthMismatchError(`image file ${source.path} is ${size} bytes, but ${name} was staged with ${target.length}: it changed since it was hashed; stage it again (\`${ws.hint('targets add')}\`)`, {
          repository: ws.repository,
          role,
        });
      }
      pending.push({ role, name, path: source.path, length: target.length, sha256: target.hashes.sha256!, sha512: target.hashes.sha512 });
    }
  }
  return pending;
}

/** The roles to push, in order, with their bytes and images, after every local check (nothing is sent). */
async function preparePush(ws: Workspace, only: readonly string[] | undefined): Promise<{ roles: string[]; bytes: Map<string, Buffer>; pending: PendingImage[] }> {
  const roles = [...new Set(only ?? ws.stagedRoles())].sort(compareRoles);
  if (roles.length === 0) throw new WorkspaceError(`nothing is staged to push; \`${ws.hint('status')}\` shows the workspace`, { repository: ws.repository });
  checkPushSet(ws, roles);
  // Everything local first: a push either has every reason to succeed or sends nothing.
  const bytes = new Map(roles.map((role) => [role, ws.bytesToPush(role)]));
  return { roles, bytes, pending: await pendingImages(ws, roles) };
}

/** One role a push would publish: its version change and the images it adds, removes or changes. */
export interface PlannedRole {
  readonly role: string;
  readonly publishedVersion: number;
  readonly version: number;
  readonly expires: string | null;
  readonly targetsAdded: readonly string[];
  readonly targetsRemoved: readonly string[];
  readonly targetsChanged: readonly string[];
}

/** What a push would do. `onServer` is null when the server was not asked (no uploader token given). */
export interface PushPlan {
  readonly roles: readonly PlannedRole[];
  readonly images: ReadonlyArray<{ readonly name: string; readonly sha256: string; readonly length: number; readonly onServer: boolean | null }>;
}

/**
 * What `push` would publish and upload, after the same local checks, changing nothing anywhere.
 * With `hasImage` (a read of the server) each image says whether it would be uploaded.
 */
export async function planPush(ws: Workspace, options: { readonly roles?: readonly string[]; readonly hasImage?: (name: string, sha256: string) => Promise<boolean> } = {}): Promise<PushPlan> {
  const { roles, pending } = await preparePush(ws, options.roles);
  const diffs = ws.diff().roles;
  const planned = roles.map((role): PlannedRole => {
    const diff = diffs.find((d) => d.role === role)!;
    return {
      role,
      publishedVersion: diff.publishedVersion,
      version: diff.stagedVersion,
      expires: diff.expires.to,
      targetsAdded: (diff.targetsAdded ?? []).map((t) => t.name),
      targetsRemoved: (diff.targetsRemoved ?? []).map((t) => t.name),
      targetsChanged: (diff.targetsChanged ?? []).map((t) => t.name),
    };
  });
  const images: Array<PushPlan['images'][number]> = [];
  const seen = new Set<string>();
  for (const image of pending) {
    if (seen.has(image.sha256)) continue;
    seen.add(image.sha256);
    images.push({ name: image.name, sha256: image.sha256, length: image.length, onServer: options.hasImage === undefined ? null : await options.hasImage(image.name, image.sha256) });
  }
  return { roles: planned, images };
}

export async function pushWorkspace(ws: Workspace, client: ImageRepoClient, options: PushOptions = {}): Promise<PushResult> {
  const { roles, bytes, pending } = await preparePush(ws, options.roles);

  const images: PushedImage[] = [];
  const done = new Set<string>();
  for (const image of pending) {
    if (done.has(image.sha256)) continue;
    done.add(image.sha256);
    if (await client.hasImage(image.name, image.sha256)) {
      options.log?.(`image ${image.name}: already on the server`);
      images.push({ name: image.name, sha256: image.sha256, length: image.length, uploaded: false });
      continue;
    }
    const stored = await client.uploadImage(image.path, (sent, total) => options.onUploadProgress?.(image.name, sent, total));
    if (stored.hashes.sha256 !== image.sha256 || stored.length !== image.length || (image.sha512 !== undefined && stored.hashes.sha512 !== image.sha512)) {
      throw new HashMismatchError(`image file ${image.path} changed since ${image.name} was staged (the server received sha256 ${stored.hashes.sha256}); stage it again (\`${ws.hint('targets add')}\`)`, {
        repository: ws.repository,
        role: image.role,
      });
    }
    images.push({ name: image.name, sha256: image.sha256, length: image.length, uploaded: true });
  }

  const published: Array<{ role: string; version: number }> = [];
  for (const role of roles) {
    const envelope = bytes.get(role)!;
    const answer = role === 'root' ? await client.putRoot(envelope) : await client.putTargets(role, envelope);
    ws.recordPublished(role, envelope);
    const version = typeof answer.version === 'number' ? answer.version : ws.files.loadPublished(role)!.signed.version;
    published.push({ role, version });
    options.log?.(`published ${role} v${version}`);
  }
  return { images, published };
}
