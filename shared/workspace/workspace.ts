// A release engineer's offline workspace: the operations the CLI offers (and tests drive), each one
// a few lines over the modules that decide (staging, root and targets edits, authorities, signatures,
// readiness, signing requests, status, pull). Repository-agnostic: the Image repository uses it now,
// and the Director's root will be created and rotated with the same workflow.
import { basename, resolve as resolvePath } from 'node:path';
import { canonicalBytes, checkCanonicalizable } from '../core/canonical.js';
import { systemClock, type Clock } from '../core/clock.js';
import { nodeBackend } from '../core/crypto/ed25519.js';
import type { PrivateKey, PublicKey } from '../core/crypto/keys.js';
import { ImageManifestError, WorkspaceError, type UptaneError } from '../core/errors.js';
import { checkSigned, formatExpires } from '../core/metadata/parse.js';
import { checkTargetName } from '../core/metadata/paths.js';
import type { RootSigned, TargetFile, TargetsSigned, TopLevelRole } from '../core/metadata/types.js';
import { TrustedMetadataSet } from '../core/trusted-metadata-set.js';
import { delegationOf, signingAuthorities, type SigningAuthority } from './authority.js';
import { resolveExpiry } from './duration.js';
import { DEFAULT_EXPIRY_POLICY, WorkspaceFiles, type ExpiryPolicy, type ImageSource, type WorkspaceConfig } from './files.js';
import { workspaceDiff, type WorkspaceDiff } from './diff.js';
import { commandHint } from './hints.js';
import type { ImageOrigin } from './image-manifest.js';
import { pullWorkspace, type PullOptions, type PullResult } from './pull.js';
import { readinessProblems, verifyReadyToPush } from './readiness.js';
import { addRootKey, initialRoot, removeRootKey, setRootThreshold } from './root-edits.js';
import { checkStagedRoleName, compareRoles, isDelegatedRole } from './roles.js';
import { createSigningRequest, importSignature, type ImportResult, type SigningRequest } from './signing-request.js';
import { signStaged, type SignResult } from './signatures.js';
import { stageChange, type IncrementalEdit, type StageResult } from './staging.js';
import { formatStatus, workspaceStatus, type WorkspaceStatus } from './status.js';
import {
  checkDelegatedImage,
  describeImage,
  emptyTargets,
  checkImageFields,
  imageSize,
  withDelegation,
  withoutDelegation,
  withoutTarget,
  withTargets,
  type DelegationSpec,
  type ImageFields,
} from './targets-edits.js';

export interface InitOptions {
  /** Which repository the workspace signs for: 'image' or 'director'. */
  readonly repository: string;
  readonly serverUrl?: string;
  /**
   * Root metadata to trust from the start (exact bytes): lets a second engineer or a supplier pull
   * and sign without ever holding root keys. It must carry a threshold of its own root keys.
   */
  readonly trustedRoot?: Uint8Array;
  readonly expiryPolicy?: Partial<ExpiryPolicy>;
}

export interface CreateRootOptions {
  readonly keys: Readonly<Record<TopLevelRole, readonly PublicKey[]>>;
  readonly thresholds: Readonly<Record<TopLevelRole, number>>;
  /** Duration (`365d`) or date; default: the workspace's expiry policy for root. */
  readonly expires?: string;
}

export interface AddImageOptions {
  /** Target name in the repository, e.g. `engine/ecm-2.1.bin`; default: the file's name. */
  readonly name?: string;
  /** 'targets' (default) or a delegated role. */
  readonly role?: string;
  readonly fields: ImageFields;
  /** Called while the file is hashed: bytes read so far and the file's size. */
  readonly onProgress?: (bytesRead: number, total: number) => void;
}

export interface AddImageResult extends StageResult<TargetsSigned> {
  readonly name: string;
  readonly target: TargetFile;
  /** True when an image of the same name, with other content or fields, was replaced. */
  readonly replaced: boolean;
}

/** One image of a batch (`targets add` of many files, or an image manifest). */
export interface ImageToAdd {
  readonly path: string;
  /** Target name in the repository; default: the file's name. */
  readonly name?: string;
  readonly fields: ImageFields;
  /** The manifest line that listed it: a refusal of this image then names the line (ImageManifestError). */
  readonly origin?: ImageOrigin;
}

export interface AddImagesOptions {
  /** 'targets' (default) or a delegated role. */
  readonly role?: string;
  /** Called after each image is hashed: images hashed so far, how many in all, and its name. */
  readonly onImage?: (done: number, total: number, name: string) => void;
  /** Called while an image is hashed: its name, bytes read so far and its size. */
  readonly onProgress?: (name: string, bytesRead: number, total: number) => void;
}

export interface StagedImage {
  readonly name: string;
  readonly path: string;
  readonly target: TargetFile;
  /** `unchanged`: the role already listed this name with the same length, hashes and custom fields. */
  readonly status: 'added' | 'replaced' | 'unchanged';
}

export interface AddImagesResult extends StageResult<TargetsSigned> {
  /** In the order given. */
  readonly images: readonly StagedImage[];
}

export class Workspace {
  private constructor(
    readonly files: WorkspaceFiles,
    private readonly clock: Clock,
  ) {}

  static init(dir: string, options: InitOptions, clock: Clock = systemClock): Workspace {
    const config: WorkspaceConfig = {
      format: 1,
      repository: options.repository,
      ...(options.serverUrl !== undefined ? { serverUrl: normalizeServerUrl(options.serverUrl) } : {}),
      expiryPolicy: { ...DEFAULT_EXPIRY_POLICY, ...options.expiryPolicy },
    };
    if (options.trustedRoot !== undefined) {
      // Checked before anything is written: a root that does not carry its own threshold is no anchor.
      new TrustedMetadataSet(options.trustedRoot, clock.now(), { repository: options.repository, backend: nodeBackend });
    }
    const files = WorkspaceFiles.init(dir, config);
    if (options.trustedRoot !== undefined) files.published.persist('root', options.trustedRoot);
    return new Workspace(files, clock);
  }

  static open(dir: string, clock: Clock = systemClock): Workspace {
    return new Workspace(WorkspaceFiles.open(dir), clock);
  }

  get dir(): string {
    return this.files.dir;
  }

  get config(): WorkspaceConfig {
    return this.files.config;
  }

  get repository(): string {
    return this.files.config.repository;
  }

  /** The full command for a subcommand of this workspace's CLI group, for messages. */
  hint(subcommand: string): string {
    return commandHint(this.repository, subcommand);
  }

  setServerUrl(url: string): void {
    this.files.writeConfig({ ...this.files.config, serverUrl: normalizeServerUrl(url) });
  }

  /** Roles with a staged change, in push order. */
  stagedRoles(): string[] {
    return this.files.stagedRoles().sort(compareRoles);
  }

  // -------------------------------------------------------------------------------------------
  // Root.

  /** Stages root version 1. Root and targets keys stay offline; timestamp and snapshot are the server's online keys. */
  createRoot(options: CreateRootOptions): StageResult<RootSigned> {
    const existing = this.files.loadStagedRoot() ?? this.files.loadPublishedRoot();
    if (existing !== undefined) {
      throw new WorkspaceError(
        `this workspace already has a root (v${existing.signed.version}); change it with \`${this.hint('root add-key')}\`, \`root remove-key\` or \`root threshold\``,
        { repository: this.repository, role: 'root' },
      );
    }
    const expires = resolveExpiry(options.expires ?? this.config.expiryPolicy.root, this.clock.now());
    const signed = initialRoot(this.repository, { keys: options.keys, thresholds: options.thresholds, expires });
    checkSigned(signed, { repository: this.repository, role: 'root' });
    this.files.saveStaged('root', { signed, signatures: [] });
    return { role: 'root', signed, changed: true, started: true, droppedSignatures: [], publishedVersion: 0 };
  }

  addRootKey(role: TopLevelRole, key: PublicKey): StageResult<RootSigned> {
    return this.editRoot((root) => addRootKey(this.repository, root, role, key));
  }

  removeRootKey(role: TopLevelRole, keyid: string): StageResult<RootSigned> {
    return this.editRoot((root) => removeRootKey(this.repository, root, role, keyid));
  }

  setRootThreshold(role: TopLevelRole, threshold: number): StageResult<RootSigned> {
    return this.editRoot((root) => setRootThreshold(this.repository, root, role, threshold));
  }

  private editRoot(edit: (root: RootSigned) => RootSigned): StageResult<RootSigned> {
    if (this.files.loadStagedRoot() === undefined && this.files.loadPublishedRoot() === undefined) {
      throw new WorkspaceError(`this workspace has no root to change: create one with \`${this.hint('root create')}\``, {
        repository: this.repository,
        role: 'root',
      });
    }
    return stageChange<RootSigned>(this.files, 'root', this.clock, edit);
  }

  // -------------------------------------------------------------------------------------------
  // Targets and delegations.

  /** Sets the expiry of `role` (root, targets or a delegated role) from a duration or date. */
  setExpires(role: string, when: string): StageResult {
    checkStagedRoleName(role);
    const expires = formatExpires(resolveExpiry(when, this.clock.now()));
    if (role === 'root') return this.editRoot((root) => ({ ...root, expires }));
    return this.editTargets(role, (targets) => ({ ...targets, expires }));
  }

  private editTargets(role: string, edit: (targets: TargetsSigned) => TargetsSigned, incremental?: IncrementalEdit<TargetsSigned>): StageResult<TargetsSigned> {
    checkStagedRoleName(role);
    if (role === 'root') throw new WorkspaceError('root is not a targets role', { repository: this.repository, role });
    if (isDelegatedRole(role)) delegationOf(this.files, role); // throws, saying how to delegate, if nothing delegates to it
    return stageChange<TargetsSigned>(this.files, role, this.clock, edit, emptyTargets, incremental);
  }

  /** Hashes a local image (streaming) and stages it under its target name with its Uptane fields. */
  async addImage(path: string, options: AddImageOptions): Promise<AddImageResult> {
    const onProgress = options.onProgress;
    const result = await this.addImages([{ path, ...(options.name !== undefined ? { name: options.name } : {}), fields: options.fields }], {
      ...(options.role !== undefined ? { role: options.role } : {}),
      ...(onProgress !== undefined ? { onProgress: (_name: string, read: number, total: number) => onProgress(read, total) } : {}),
    });
    const image = result.images[0]!;
    const { images: _images, ...stage } = result;
    return { ...stage, name: image.name, target: image.target, replaced: image.status === 'replaced' };
  }

  /**
   * Stages many images in one edit of `role`: every name, field and file is checked before any
   * image is hashed, then all are hashed, then the staged role and its sources are each read once
   * and written once. One bad image refuses the whole batch and leaves the workspace unchanged.
   * Staging N images into a role that lists M costs O(N + M), so a release of thousands of images
   * is one edit, not thousands of rewrites of an ever larger file.
   */
  async addImages(images: readonly ImageToAdd[], options: AddImagesOptions = {}): Promise<AddImagesResult> {
    const role = options.role ?? 'targets';
    checkStagedRoleName(role);
    if (role === 'root') throw new WorkspaceError('root is not a targets role', { repository: this.repository, role });
    if (images.length === 0) throw new WorkspaceError('no images to add: name at least one file', { repository: this.repository, role });
    // Asked once for the batch; throws, saying how to delegate, when nothing delegates to `role`.
    const delegation = isDelegatedRole(role) ? delegationOf(this.files, role).delegation : undefined;
    const planned: { name: string; path: string; fields: ImageFields; origin: ImageOrigin | undefined }[] = [];
    const pathOfName = new Map<string, string>();
    for (const image of images) {
      const name = image.name ?? basename(image.path);
      atOrigin(image.origin, () => {
        checkTargetName(name, { repository: this.repository, role });
        checkImageFields(this.repository, image.fields);
        const earlier = pathOfName.get(name);
        if (earlier !== undefined) {
          throw new WorkspaceError(`${name} is given twice in one add (${earlier} and ${image.path}): a target name lists one image`, { repository: this.repository, role });
        }
        // Checked before hashing: a name the delegation does not allow should not cost a read of the image.
        if (isDelegatedRole(role)) checkDelegatedImage(this.repository, role, delegation, name, image.fields.hardwareIds);
      });
      pathOfName.set(name, image.path);
      planned.push({ name, path: image.path, fields: image.fields, origin: image.origin });
    }
    // Every file must be there before the first is hashed: a typo in the last of 5,000 paths is
    // reported at once, not after the other 4,999 were read.
    for (const item of planned) {
      try {
        await imageSize(this.repository, resolvePath(item.path));
      } catch (err) {
        atOrigin(item.origin, () => {
          throw err;
        });
      }
    }
    const described: { name: string; target: TargetFile; source: ImageSource }[] = [];
    for (const item of planned) {
      const onProgress = options.onProgress;
      const { target, source } = await describeImage(this.repository, item.path, item.fields, onProgress && ((read, total) => onProgress(item.name, read, total)));
      described.push({ name: item.name, target, source });
      options.onImage?.(described.length, planned.length, item.name);
    }
    const statuses: StagedImage['status'][] = [];
    const result = this.editTargets(role, (targets) => {
      statuses.length = 0;
      for (const { name, target } of described) {
        const existing = targets.targets[name];
        // One entry compared, not the role: O(1) per image.
        statuses.push(existing === undefined ? 'added' : canonicalBytes(existing).equals(canonicalBytes(target)) ? 'unchanged' : 'replaced');
      }
      return withTargets(targets, described.map(({ name, target }) => [name, target] as const));
    }, {
      // The role before this edit passed the strict check (it was parsed strictly, or written by an
      // edit that checked it), and only these entries are new: checking them, the unchanged header
      // and delegations, and the order of all names is what checking the whole role would add.
      check: (next) => {
        const context = { repository: this.repository, role };
        checkSigned({ ...next, targets: Object.fromEntries(described.map(({ name }) => [name, next.targets[name]!])) }, context);
        checkCanonicalizable(Object.fromEntries(Object.keys(next.targets).map((name) => [name, 0])), 'signed.targets');
      },
      changedFrom: () => statuses.some((status) => status !== 'unchanged'),
    });
    const sources: Record<string, ImageSource> = { ...this.files.loadSources(role) };
    for (const { name, source } of described) sources[name] = source;
    this.files.saveSources(role, sources);
    return {
      ...result,
      images: described.map(({ name, target, source }, i) => ({ name, path: source.path, target, status: statuses[i]! })),
    };
  }

  removeImage(name: string, role = 'targets'): StageResult<TargetsSigned> {
    const result = this.editTargets(role, (targets) => withoutTarget(this.repository, role, targets, name));
    const sources = this.files.loadSources(role);
    if (sources[name] !== undefined) {
      const { [name]: _removed, ...rest } = sources;
      this.files.saveSources(role, rest);
    }
    return result;
  }

  /** Delegates a path pattern (and optional hardware ids) from top-level targets to a supplier's keys. */
  delegate(spec: DelegationSpec): StageResult<TargetsSigned> {
    return this.editTargets('targets', (targets) => withDelegation(this.repository, targets, spec));
  }

  undelegate(name: string): StageResult<TargetsSigned> {
    return this.editTargets('targets', (targets) => withoutDelegation(this.repository, targets, name));
  }

  // -------------------------------------------------------------------------------------------
  // Signatures.

  /** Every authority whose threshold the staged `role` must meet (two for a new root version). */
  authorities(role: string): SigningAuthority[] {
    checkStagedRoleName(role);
    return signingAuthorities(this.files, role);
  }

  /** Adds `key`'s signature to the staged `role`, keeping those already collected. */
  sign(role: string, key: PrivateKey): SignResult {
    return signStaged(this.files, role, key, this.authorities(role));
  }

  exportSigningRequest(role: string): SigningRequest {
    return createSigningRequest(this.files, role, this.authorities(role));
  }

  importSignature(text: string): ImportResult {
    return importSignature(this.files, text, (role) => this.authorities(role));
  }

  // -------------------------------------------------------------------------------------------
  // State, readiness, publishing.

  /** What signing the staged roles (or `role`) would approve, against what is published. */
  diff(role?: string): WorkspaceDiff {
    if (role !== undefined) checkStagedRoleName(role);
    return workspaceDiff(this.files, role);
  }

  status(): WorkspaceStatus {
    return workspaceStatus(this.files, this.clock.now());
  }

  formatStatus(): string[] {
    return formatStatus(this.status());
  }

  readinessProblems(role: string): UptaneError[] {
    return readinessProblems(this.files, role, this.clock.now());
  }

  /** The canonical envelope bytes of `role` to push, or the first reason it cannot be pushed. */
  bytesToPush(role: string): Buffer {
    return verifyReadyToPush(this.files, role, this.clock.now());
  }

  /** The staged `role` was accepted by the server: it becomes the published state and the change set ends. */
  recordPublished(role: string, bytes: Uint8Array): void {
    this.files.published.persist(role, bytes);
    this.files.removeStaged(role);
  }

  /** Throws away the staged change of `role` (and its image sources). */
  discard(role: string): void {
    checkStagedRoleName(role);
    if (this.files.loadStaged(role) === undefined) throw new WorkspaceError(`nothing is staged for ${role}`, { repository: this.repository, role });
    this.files.removeStaged(role);
  }

  pull(options: Omit<PullOptions, 'clock'>): Promise<PullResult> {
    return pullWorkspace(this.files, { ...options, clock: this.clock });
  }

  get now(): Date {
    return this.clock.now();
  }
}

/** Runs a check of one image; a refusal of an image listed in a manifest is re-thrown naming its line. */
function atOrigin(origin: ImageOrigin | undefined, check: () => void): void {
  try {
    check();
  } catch (err) {
    if (origin === undefined || !(err instanceof Error) || err instanceof ImageManifestError) throw err;
    throw new ImageManifestError(`${origin.file} line ${origin.line}: ${err.message}`, origin.file, origin.line, { cause: err });
  }
}

/** A server URL without a trailing slash, so paths join cleanly; only http and https. */
export function normalizeServerUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new WorkspaceError(`${JSON.stringify(url)} is not a URL; give the server as http://host:port`, { cause: err });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new WorkspaceError(`server URL must be http or https, got ${url}`);
  return parsed.toString().replace(/\/+$/, '');
}
