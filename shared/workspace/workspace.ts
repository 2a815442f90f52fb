// A release engineer's offline workspace: the operations the CLI offers (and tests drive), each one
// a few lines over the modules that decide (staging, root and targets edits, authorities, signatures,
// readiness, signing requests, status, pull). Repository-agnostic: the Image repository uses it now,
// and the Director's root will be created and rotated with the same workflow.
import { basename } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { nodeBackend } from '../core/crypto/ed25519.js';
import type { PrivateKey, PublicKey } from '../core/crypto/keys.js';
import { WorkspaceError, type UptaneError } from '../core/errors.js';
import { checkSigned, formatExpires } from '../core/metadata/parse.js';
import { checkTargetName } from '../core/metadata/paths.js';
import type { RootSigned, TargetFile, TargetsSigned, TopLevelRole } from '../core/metadata/types.js';
import { TrustedMetadataSet } from '../core/trusted-metadata-set.js';
import { delegationOf, signingAuthorities, type SigningAuthority } from './authority.js';
import { resolveExpiry } from './duration.js';
import { DEFAULT_EXPIRY_POLICY, WorkspaceFiles, type ExpiryPolicy, type WorkspaceConfig } from './files.js';
import { commandHint } from './hints.js';
import { pullWorkspace, type PullOptions, type PullResult } from './pull.js';
import { readinessProblems, verifyReadyToPush } from './readiness.js';
import { addRootKey, initialRoot, removeRootKey, setRootThreshold } from './root-edits.js';
import { checkStagedRoleName, compareRoles, isDelegatedRole } from './roles.js';
import { createSigningRequest, importSignature, type ImportResult, type SigningRequest } from './signing-request.js';
import { signStaged, type SignResult } from './signatures.js';
import { stageChange, type StageResult } from './staging.js';
import { formatStatus, workspaceStatus, type WorkspaceStatus } from './status.js';
import {
  checkDelegatedImage,
  describeImage,
  emptyTargets,
  withDelegation,
  withoutDelegation,
  withoutTarget,
  withTarget,
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

  private editTargets(role: string, edit: (targets: TargetsSigned) => TargetsSigned): StageResult<TargetsSigned> {
    checkStagedRoleName(role);
    if (role === 'root') throw new WorkspaceError('root is not a targets role', { repository: this.repository, role });
    if (isDelegatedRole(role)) delegationOf(this.files, role); // throws, saying how to delegate, if nothing delegates to it
    return stageChange<TargetsSigned>(this.files, role, this.clock, edit, emptyTargets);
  }

  /** Hashes a local image (streaming) and stages it under its target name with its Uptane fields. */
  async addImage(path: string, options: AddImageOptions): Promise<AddImageResult> {
    const role = options.role ?? 'targets';
    checkStagedRoleName(role);
    const name = options.name ?? basename(path);
    checkTargetName(name, { repository: this.repository, role });
    // Checked before hashing: a name the delegation does not allow should not cost a read of the image.
    if (isDelegatedRole(role)) {
      checkDelegatedImage(this.repository, role, delegationOf(this.files, role).delegation, name, options.fields.hardwareIds);
    }
    const { target, source } = await describeImage(this.repository, path, options.fields, options.onProgress);
    let replaced = false;
    const result = this.editTargets(role, (targets) => {
      replaced = targets.targets[name] !== undefined;
      return withTarget(targets, name, target);
    });
    this.files.saveSources(role, { ...this.files.loadSources(role), [name]: source });
    return { ...result, name, target, replaced: replaced && result.changed };
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
