// A release engineer's offline workspace: the operations the CLI offers (and tests drive), each one
// a few lines over the modules that decide (staging, root and targets edits, authorities, signatures,
// readiness, signing requests, status, pull). Repository-agnostic: the Image repository uses it now,
// and the Director's root will be created and rotated with the same workflow.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve as resolvePath } from 'node:path';
import { canonicalBytes, checkCanonicalizable } from '../core/canonical.js';
import { systemClock, type Clock } from '../core/clock.js';
import { nodeBackend } from '../core/crypto/ed25519.js';
import type { PublicKey } from '../core/crypto/keys.js';
import type { Signer } from '../core/crypto/signer.js';
import { HashBinError, ImageManifestError, WorkspaceError, type UptaneError } from '../core/errors.js';
import { checkSigned, formatExpires } from '../core/metadata/parse.js';
import { checkTargetName, isSuccinctRoleName, roleFileName, succinctRoleFor } from '../core/metadata/paths.js';
import type { RootSigned, SuccinctRoles, TargetFile, TargetsSigned, TopLevelRole } from '../core/metadata/types.js';
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
import { planChange, stageChange, type IncrementalEdit, type PlannedChange, type StageResult } from './staging.js';
import { formatStatus, workspaceStatus, type WorkspaceStatus } from './status.js';
import {
  binNames,
  checkDelegatedImage,
  DEFAULT_HASH_BIN_LIMITS,
  describeImage,
  emptyTargets,
  checkImageFields,
  imageSize,
  withDelegation,
  withHashBins,
  withoutDelegation,
  withoutTarget,
  withTargets,
  type DelegationSpec,
  type HashBinLimits,
  type HashBinSpec,
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
  /** The role it was staged in: the one asked for, or its hash bin. */
  readonly role: string;
  readonly path: string;
  readonly target: TargetFile;
  /** `unchanged`: the role already listed this name with the same length, hashes and custom fields. */
  readonly status: 'added' | 'replaced' | 'unchanged';
}

export interface AddImagesResult extends StageResult<TargetsSigned> {
  /** In the order given. */
  readonly images: readonly StagedImage[];
}

/** What one add staged: each image with the role it went to, and every role the add changed. */
export interface StageImagesResult {
  /** In the order given. */
  readonly images: readonly StagedImage[];
  /** One per role the images went to (one role, or the hash bins touched), in push order. */
  readonly stages: readonly StageResult<TargetsSigned>[];
  /** The hash-bin delegation the images were routed by, when targets delegates that way. */
  readonly hashBins?: SuccinctRoles;
}

export interface CreateHashBinsOptions extends HashBinSpec {
  /** Expiry of every bin (duration or date); default: the workspace's expiry policy for delegated roles. */
  readonly expires?: string;
  readonly limits?: HashBinLimits;
}

export interface CreateHashBinsResult {
  readonly targets: StageResult<TargetsSigned>;
  readonly succinct: SuccinctRoles;
  /** Every bin, staged with the images that hash to it (empty bins included: a client must find each one). */
  readonly bins: readonly StageResult<TargetsSigned>[];
  /** Images moved from top-level targets into their bins. */
  readonly moved: number;
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
    const { commit, ...result } = this.planTargets(role, edit, incremental);
    commit();
    return result;
  }

  private planTargets(role: string, edit: (targets: TargetsSigned) => TargetsSigned, incremental?: IncrementalEdit<TargetsSigned>): PlannedChange<TargetsSigned> {
    checkStagedRoleName(role);
    if (role === 'root') throw new WorkspaceError('root is not a targets role', { repository: this.repository, role });
    if (isDelegatedRole(role)) delegationOf(this.files, role); // throws, saying how to delegate, if nothing delegates to it
    return planChange<TargetsSigned>(this.files, role, this.clock, edit, emptyTargets, incremental);
  }

  /** Hashes a local image (streaming) and stages it under its target name with its Uptane fields (in its hash bin, when targets delegates to bins). */
  async addImage(path: string, options: AddImageOptions): Promise<AddImageResult> {
    const onProgress = options.onProgress;
    const result = await this.stageImages([{ path, ...(options.name !== undefined ? { name: options.name } : {}), fields: options.fields }], {
      ...(options.role !== undefined ? { role: options.role } : {}),
      ...(onProgress !== undefined ? { onProgress: (_name: string, read: number, total: number) => onProgress(read, total) } : {}),
    });
    const image = result.images[0]!;
    return { ...result.stages[0]!, name: image.name, target: image.target, replaced: image.status === 'replaced' };
  }

  /**
   * addImages into one role, as stageImages does it, for callers that want that role's result.
   * Targets that delegates to hash bins holds no images of its own: use stageImages, which routes.
   */
  async addImages(images: readonly ImageToAdd[], options: AddImagesOptions = {}): Promise<AddImagesResult> {
    const role = options.role ?? 'targets';
    if (role === 'targets' && this.hashBins() !== undefined) {
      throw new WorkspaceError('targets delegates every image to its hash bin: stage images with stageImages, which routes each to its bin', { repository: this.repository, role });
    }
    const result = await this.stageImages(images, options);
    return { ...result.stages[0]!, images: result.images };
  }

  /**
   * Stages many images in one edit: every name, field and file is checked before any image is
   * hashed, then all are hashed, then each role they go to and its sources are read once and written
   * once. The role is `options.role`, or, when top-level targets delegates to hash bins (TAP 15),
   * each image's own bin: only the bins touched are read and written, so the cost follows the images
   * added, not the bins or the images already staged. One bad image refuses the whole batch and
   * every role is checked before the first is written, so a refusal leaves the workspace unchanged.
   * Staging N images into a role that lists M costs O(N + M), so a release of thousands of images
   * is one edit, not thousands of rewrites of an ever larger file.
   */
  async stageImages(images: readonly ImageToAdd[], options: AddImagesOptions = {}): Promise<StageImagesResult> {
    const asked = options.role ?? 'targets';
    checkStagedRoleName(asked);
    if (asked === 'root') throw new WorkspaceError('root is not a targets role', { repository: this.repository, role: asked });
    if (images.length === 0) throw new WorkspaceError('no images to add: name at least one file', { repository: this.repository, role: asked });
    const bins = asked === 'targets' ? this.hashBins() : undefined;
    // Asked once for the batch; throws, saying how to delegate, when nothing delegates to `asked`.
    const found = isDelegatedRole(asked) ? delegationOf(this.files, asked) : undefined;
    const planned: { name: string; role: string; path: string; fields: ImageFields; origin: ImageOrigin | undefined }[] = [];
    const pathOfName = new Map<string, string>();
    for (const image of images) {
      const name = image.name ?? basename(image.path);
      atOrigin(image.origin, () => {
        checkTargetName(name, { repository: this.repository, role: asked });
        checkImageFields(this.repository, image.fields);
        const earlier = pathOfName.get(name);
        if (earlier !== undefined) {
          throw new WorkspaceError(`${name} is given twice in one add (${earlier} and ${image.path}): a target name lists one image`, { repository: this.repository, role: asked });
        }
        // Checked before hashing: a name the delegation does not allow should not cost a read of the image.
        if (found !== undefined) checkDelegatedImage(this.repository, asked, found.delegation, name, image.fields.hardwareIds, found.delegator);
      });
      pathOfName.set(name, image.path);
      planned.push({ name, role: bins !== undefined ? succinctRoleFor(bins, name) : asked, path: image.path, fields: image.fields, origin: image.origin });
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
    const described: { name: string; role: string; target: TargetFile; source: ImageSource }[] = [];
    for (const item of planned) {
      const onProgress = options.onProgress;
      const { target, source } = await describeImage(this.repository, item.path, item.fields, onProgress && ((read, total) => onProgress(item.name, read, total)));
      described.push({ name: item.name, role: item.role, target, source });
      options.onImage?.(described.length, planned.length, item.name);
    }
    const byRole = new Map<string, typeof described>();
    for (const item of described) {
      const list = byRole.get(item.role);
      if (list === undefined) byRole.set(item.role, [item]);
      else list.push(item);
    }
    const status = new Map<string, StagedImage['status']>();
    const plans: PlannedChange<TargetsSigned>[] = [];
    for (const role of [...byRole.keys()].sort(compareRoles)) {
      const entries = byRole.get(role)!;
      plans.push(this.planTargetsEntries(role, entries, status, bins !== undefined));
    }
    for (const plan of plans) plan.commit();
    for (const [role, entries] of byRole) {
      const sources: Record<string, ImageSource> = { ...this.files.loadSources(role) };
      for (const { name, source } of entries) sources[name] = source;
      this.files.saveSources(role, sources);
    }
    return {
      images: described.map(({ name, role, target, source }) => ({ name, role, path: source.path, target, status: status.get(name)! })),
      stages: plans.map(({ commit: _commit, ...stage }) => stage),
      ...(bins !== undefined ? { hashBins: bins } : {}),
    };
  }

  /** Plans adding `entries` to `role`, checked in proportion to what is added; fills `status` per name. */
  private planTargetsEntries(
    role: string,
    entries: readonly { name: string; target: TargetFile }[],
    status: Map<string, StagedImage['status']>,
    routed: boolean,
  ): PlannedChange<TargetsSigned> {
    const edit = (targets: TargetsSigned) => {
      for (const { name, target } of entries) {
        const existing = targets.targets[name];
        // One entry compared, not the role: O(1) per image.
        status.set(name, existing === undefined ? 'added' : canonicalBytes(existing).equals(canonicalBytes(target)) ? 'unchanged' : 'replaced');
      }
      return withTargets(targets, entries.map(({ name, target }) => [name, target] as const));
    };
    const incremental: IncrementalEdit<TargetsSigned> = {
      // The role before this edit passed the strict check (it was parsed strictly, or written by an
      // edit that checked it), and only these entries are new: checking them, the unchanged header
      // and delegations, and the order of all names is what checking the whole role would add.
      check: (next) => {
        const context = { repository: this.repository, role };
        checkSigned({ ...next, targets: Object.fromEntries(entries.map(({ name }) => [name, next.targets[name]!])) }, context);
        checkCanonicalizable(Object.fromEntries(Object.keys(next.targets).map((name) => [name, 0])), 'signed.targets');
      },
      changedFrom: () => entries.some(({ name }) => status.get(name) !== 'unchanged'),
    };
    // A routed image's bin was found from the delegation itself: asking the delegation again for
    // each of hundreds of bins would only re-read targets.
    if (routed) return planChange<TargetsSigned>(this.files, role, this.clock, edit, emptyTargets, incremental);
    return this.planTargets(role, edit, incremental);
  }

  /**
   * Stages the removal of image `name` from `role`; when targets delegates to hash bins, a removal
   * from targets is a removal from the bin the name hashes to.
   */
  removeImage(name: string, role = 'targets'): StageResult<TargetsSigned> {
    const bins = role === 'targets' ? this.hashBins() : undefined;
    const from = bins !== undefined ? succinctRoleFor(bins, name) : role;
    const result = this.editTargets(from, (targets) => withoutTarget(this.repository, from, targets, name));
    const sources = this.files.loadSources(from);
    if (sources[name] !== undefined) {
      const { [name]: _removed, ...rest } = sources;
      this.files.saveSources(from, rest);
    }
    return result;
  }

  /**
   * The hash-bin delegation of the top-level targets in effect (staged, else published), or
   * undefined. Read without the strict parse, so that asking costs no parse of a large targets role
   * on every add: routing needs only the succinct fields, which are checked for shape here, and a
   * staged targets edited by hand still meets the strict parse at sign, status and push.
   */
  hashBins(): SuccinctRoles | undefined {
    // Plain JSON.parse of whichever file is in effect: a large targets role signed since its last edit
    // (no check note) would otherwise be parsed strictly twice per add, here and by the edit.
    const stagedPath = join(this.files.dir, 'staged', roleFileName('targets'));
    const staged = existsSync(stagedPath);
    const bytes = staged ? readFileSync(stagedPath) : this.files.published.load('targets');
    if (bytes === undefined) return undefined;
    let signed: unknown;
    try {
      signed = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed?: unknown }).signed;
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      // The strict parse says what is wrong, as a typed error.
      return (staged ? this.files.loadStagedTargets('targets') : this.files.loadPublishedTargets('targets'))?.signed.delegations?.succinct_roles;
    }
    const succinct = (signed as { delegations?: { succinct_roles?: Partial<SuccinctRoles> } } | undefined)?.delegations?.succinct_roles;
    if (succinct === undefined) return undefined;
    // Routing trusts only a well-formed delegation: anything else gets the strict parse and its error.
    const bits = succinct.bit_length;
    if (typeof bits !== 'number' || !Number.isSafeInteger(bits) || bits < 1 || bits > 32 || typeof succinct.name_prefix !== 'string') {
      return (staged ? this.files.loadStagedTargets('targets') : this.files.loadPublishedTargets('targets'))?.signed.delegations?.succinct_roles;
    }
    return succinct as SuccinctRoles;
  }

  /**
   * Delegates every target name from top-level targets to 2^bit_length hash bins (TAP 15) signed by
   * `keys`, and stages every bin: a client looks a name up in its bin, so each bin must be published
   * (empty or not). Images top-level targets listed move into their bins, with their sources, so a
   * grown repository converts in one change set. Refuses a targets role that already delegates.
   * Every role is planned and checked before the first is written.
   */
  createHashBins(options: CreateHashBinsOptions): CreateHashBinsResult {
    const limits = options.limits ?? DEFAULT_HASH_BIN_LIMITS;
    const expires = options.expires !== undefined ? formatExpires(resolveExpiry(options.expires, this.clock.now())) : undefined;
    let moved: Readonly<Record<string, TargetFile>> = {};
    let succinct: SuccinctRoles | undefined;
    const targetsPlan = this.planTargets('targets', (targets) => {
      moved = targets.targets;
      const next = withHashBins(this.repository, targets, options, limits);
      succinct = next.delegations!.succinct_roles!;
      return next;
    });
    const bins = succinct!;
    const staged = new Set(this.files.stagedRoles());
    const names = binNames(bins);
    const clash = names.find((name) => staged.has(name));
    if (clash !== undefined) {
      throw new HashBinError(`${clash} already has a staged change; discard it first (\`${this.hint(`discard --role ${clash}`)}\`) or choose another --prefix`, {
        repository: this.repository,
        role: clash,
      });
    }
    const movedByBin = new Map<string, [string, TargetFile][]>();
    for (const [name, file] of Object.entries(moved)) {
      const bin = succinctRoleFor(bins, name);
      const list = movedByBin.get(bin);
      if (list === undefined) movedByBin.set(bin, [[name, file]]);
      else list.push([name, file]);
    }
    const binPlans = names.map((bin) =>
      planChange<TargetsSigned>(this.files, bin, this.clock, (current) => {
        const withImages = withTargets(current, movedByBin.get(bin) ?? []);
        return expires !== undefined ? { ...withImages, expires } : withImages;
      }, emptyTargets),
    );
    targetsPlan.commit();
    for (const plan of binPlans) plan.commit();
    const sources = this.files.loadSources('targets');
    if (Object.keys(sources).length > 0) {
      for (const [bin, entries] of movedByBin) {
        const binSources: Record<string, ImageSource> = { ...this.files.loadSources(bin) };
        for (const [name] of entries) if (sources[name] !== undefined) binSources[name] = sources[name];
        this.files.saveSources(bin, binSources);
      }
      this.files.saveSources('targets', {});
    }
    const strip = ({ commit: _commit, ...stage }: PlannedChange<TargetsSigned>): StageResult<TargetsSigned> => stage;
    return { targets: strip(targetsPlan), succinct: bins, bins: binPlans.map(strip), moved: Object.keys(moved).length };
  }

  /** Stages a new expiry on every hash bin (how bins are re-signed before they expire). */
  setHashBinsExpires(when: string): StageResult<TargetsSigned>[] {
    const bins = this.requireHashBins();
    const expires = formatExpires(resolveExpiry(when, this.clock.now()));
    const plans = binNames(bins).map((bin) => planChange<TargetsSigned>(this.files, bin, this.clock, (targets) => ({ ...targets, expires }), emptyTargets));
    for (const plan of plans) plan.commit();
    return plans.map(({ commit: _commit, ...stage }) => stage);
  }

  /** The hash-bin delegation in effect, or a HashBinError saying how to create one. */
  requireHashBins(): SuccinctRoles {
    const bins = this.hashBins();
    if (bins === undefined) {
      throw new HashBinError(`targets does not delegate to hash bins: create them with \`${this.hint('bins create --bins 256 --key FILE')}\``, { repository: this.repository, role: 'targets' });
    }
    return bins;
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

  /** Adds `key`'s signature (a key file or a token key: core/crypto/signer.ts) to the staged `role`, keeping those already collected. */
  sign(role: string, key: Signer): SignResult {
    return signStaged(this.files, role, key, this.authorities(role));
  }

  /**
   * Signs every staged hash bin with `key` in one pass: the bins share one authority (the succinct
   * delegation's keys and threshold), so it is worked out once, and a key the delegation does not
   * name is refused before any bin is signed. Bins with nothing staged are left alone.
   */
  signHashBins(key: Signer): SignResult[] {
    const bins = this.requireHashBins();
    const staged = this.stagedRoles().filter((role) => isSuccinctRoleName(bins, role));
    if (staged.length === 0) {
      throw new WorkspaceError(`no hash bin (${bins.name_prefix}-*) has a staged change to sign; \`${this.hint('status')}\` shows the workspace`, { repository: this.repository });
    }
    const authorities = this.authorities(staged[0]!);
    return staged.map((role) => signStaged(this.files, role, key, authorities));
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
    // Not parsed: a damaged staged file must not keep its own removal from working.
    if (!this.files.hasStaged(role)) throw new WorkspaceError(`nothing is staged for ${role}`, { repository: this.repository, role });
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
