// The on-disk layout of a release engineer's offline workspace, and nothing else: reading and
// writing its files atomically. Every decision about what to write lives in the modules above it.
//
//   workspace.json           repository kind, server URL, expiry policy
//   staged/<role>.json       the change being prepared: {signed, signatures collected so far}
//   staged/.<role>.json.checked  SHA-256 of the staged file as last written by an edit that checked it
//   sources/<role>.json      local image files behind the staged targets entries (for push)
//   published/<role>.json    the last published or pulled metadata, exact bytes (a client's store)
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { wireBytes } from '../core/canonical.js';
import {
  BadKeyIdError,
  CanonicalJsonError,
  DamagedStagedFileError,
  IllegalThresholdError,
  MalformedKeyError,
  MalformedMetadataError,
  NonUniqueSignaturesError,
  RoleTypeMismatchError,
  StorageError,
  WeakKeyError,
  WorkspaceError,
} from '../core/errors.js';
import { writeFileAtomic } from '../files/fs-atomic.js';
import { FileMetadataStore } from '../client/metadata-store.js';
import { parseMetadata } from '../core/metadata/parse.js';
import { roleFileName } from '../core/metadata/paths.js';
import type { SignedEnvelope } from '../core/metadata/sign.js';
import type { Metadata, RootSigned, Signature, SignedTypeMap, TargetsSigned } from '../core/metadata/types.js';
import { commandHint } from './hints.js';
import { checkStagedRoleName, metadataTypeOf, type StagedType } from './roles.js';

export const WORKSPACE_FILE = 'workspace.json';
const FORMAT = 1;

/**
 * How long each kind of role stays valid when a change set does not say otherwise
 * (docs/code-style.md R10).
 */
export interface ExpiryPolicy {
  readonly root: string;
  readonly targets: string;
  readonly delegated: string;
  /** `status` warns when published or staged metadata expires sooner than this. */
  readonly warnBefore: string;
}

export const DEFAULT_EXPIRY_POLICY: ExpiryPolicy = { root: '365d', targets: '90d', delegated: '90d', warnBefore: '14d' };

export interface WorkspaceConfig {
  readonly format: typeof FORMAT;
  /** Which repository the workspace signs for: 'image' or 'director'. */
  readonly repository: string;
  /** Base URL of the repository server, used by push, pull and online-key lookups. */
  readonly serverUrl?: string;
  readonly expiryPolicy: ExpiryPolicy;
}

/** A local image file staged under a target name, as it was when hashed. */
export interface ImageSource {
  readonly path: string;
  readonly length: number;
  readonly sha256: string;
}

export type StagedMetadata<K extends StagedType = StagedType> = Metadata<SignedTypeMap[K]>;

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What parseMetadata finds wrong with bytes that are JSON but not valid metadata of the role. */
const PARSE_ERRORS = [MalformedMetadataError, RoleTypeMismatchError, BadKeyIdError, IllegalThresholdError, MalformedKeyError, NonUniqueSignaturesError, WeakKeyError];

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new StorageError(`cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new WorkspaceError(`${what} ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function checkConfig(value: unknown, path: string): WorkspaceConfig {
  const bad = (what: string): never => {
    throw new WorkspaceError(`${path}: ${what}`);
  };
  if (!isRecord(value)) return bad('must be a JSON object');
  if (value.format !== FORMAT) bad(`format must be ${FORMAT} (this tool reads workspace format ${FORMAT})`);
  if (typeof value.repository !== 'string' || value.repository === '') bad('repository must be a non-empty string');
  if (value.serverUrl !== undefined && typeof value.serverUrl !== 'string') bad('serverUrl must be a string');
  const policy = value.expiryPolicy;
  if (!isRecord(policy)) return bad('expiryPolicy must be an object');
  for (const field of Object.keys(DEFAULT_EXPIRY_POLICY)) {
    if (typeof policy[field] !== 'string') bad(`expiryPolicy.${field} must be a duration such as "90d"`);
  }
  return value as unknown as WorkspaceConfig;
}

function checkSources(value: unknown, path: string): Record<string, ImageSource> {
  if (!isRecord(value)) throw new WorkspaceError(`${path}: must be a JSON object`);
  for (const [name, source] of Object.entries(value)) {
    if (
      !isRecord(source) ||
      typeof source.path !== 'string' ||
      typeof source.length !== 'number' ||
      typeof source.sha256 !== 'string'
    ) {
      throw new WorkspaceError(`${path}: entry ${JSON.stringify(name)} must be {path, length, sha256}`);
    }
  }
  return value as Record<string, ImageSource>;
}

export class WorkspaceFiles {
  readonly dir: string;
  /** Published metadata, exactly as received or pushed: also the trusted store `pull` refreshes. */
  readonly published: FileMetadataStore;
  private cachedConfig: WorkspaceConfig;

  private constructor(dir: string, config: WorkspaceConfig) {
    this.dir = dir;
    this.cachedConfig = config;
    for (const sub of ['staged', 'sources']) mkdirSync(join(dir, sub), { recursive: true });
    this.published = new FileMetadataStore(join(dir, 'published'));
  }

  /** Makes a new workspace in `dir` (created if missing); refuses a folder that already is one. */
  static init(dir: string, config: WorkspaceConfig): WorkspaceFiles {
    const root = resolve(dir);
    const configPath = join(root, WORKSPACE_FILE);
    if (existsSync(configPath)) throw new WorkspaceError(`${root} is already a workspace (${WORKSPACE_FILE} exists)`);
    mkdirSync(root, { recursive: true });
    writeFileAtomic(configPath, Buffer.from(`${JSON.stringify(config, null, 2)}\n`));
    return new WorkspaceFiles(root, config);
  }

  static open(dir: string): WorkspaceFiles {
    const root = resolve(dir);
    const configPath = join(root, WORKSPACE_FILE);
    if (!existsSync(configPath)) {
      throw new WorkspaceError(
        `${root} is not a workspace (no ${WORKSPACE_FILE}): create one with \`init\`, or point --workspace (or UPTANE_WORKSPACE) at one`,
      );
    }
    return new WorkspaceFiles(root, checkConfig(readJson(configPath, 'workspace config'), configPath));
  }

  get config(): WorkspaceConfig {
    return this.cachedConfig;
  }

  writeConfig(config: WorkspaceConfig): void {
    writeFileAtomic(join(this.dir, WORKSPACE_FILE), Buffer.from(`${JSON.stringify(config, null, 2)}\n`));
    this.cachedConfig = config;
  }

  private stagedPath(role: string): string {
    checkStagedRoleName(role);
    return join(this.dir, 'staged', roleFileName(role));
  }

  private sourcesPath(role: string): string {
    checkStagedRoleName(role);
    return join(this.dir, 'sources', roleFileName(role));
  }

  /** Names of the roles with a staged change. */
  stagedRoles(): string[] {
    return readdirSync(join(this.dir, 'staged'))
      .filter((file) => file.endsWith('.json') && !file.startsWith('.'))
      .map((file) => decodeURIComponent(file.slice(0, -'.json'.length)));
  }

  loadStagedRoot(): Metadata<RootSigned> | undefined {
    return this.loadStagedAs('root', 'root');
  }

  loadStagedTargets(role: string): Metadata<TargetsSigned> | undefined {
    if (metadataTypeOf(role) !== 'targets') throw new WorkspaceError(`${role} is not a targets role`);
    return this.loadStagedAs(role, 'targets');
  }

  /** The staged envelope of `role`, parsed with the same strict rules a client applies to received metadata. */
  loadStaged(role: string): StagedMetadata | undefined {
    return this.loadStagedAs(role, metadataTypeOf(role));
  }

  /** Whether `role` has a staged file, readable or not (discard must remove a damaged one too). */
  hasStaged(role: string): boolean {
    return existsSync(this.stagedPath(role));
  }

  private loadStagedAs<K extends StagedType>(role: string, type: K): StagedMetadata<K> | undefined {
    const path = this.stagedPath(role);
    if (!existsSync(path)) return undefined;
    const damaged = (what: string, cause: unknown) =>
      new DamagedStagedFileError(
        `staged ${role} ${path} is damaged: ${what}; \`${commandHint(this.config.repository, `discard --role ${role}`)}\` throws it away with its signatures, then stage the change again`,
        path,
        { repository: this.config.repository, role, cause },
      );
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new StorageError(`cannot read staged ${role} ${path}: ${(err as Error).message}`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw damaged(`not valid JSON (${(err as Error).message})`, err);
    }
    let bytes: Buffer;
    try {
      bytes = wireBytes(value);
    } catch (err) {
      if (!(err instanceof CanonicalJsonError)) throw err;
      throw damaged(`it cannot be signed as it is (${err.message})`, err);
    }
    try {
      return parseMetadata(bytes, type, { repository: this.config.repository, role });
    } catch (err) {
      if (!PARSE_ERRORS.some((kind) => err instanceof kind)) throw err;
      throw damaged((err as Error).message, err);
    }
  }

  /** Writes the staged envelope as indented JSON, so a person can read and diff it; signatures cover the canonical form. */
  saveStaged(role: string, envelope: SignedEnvelope): void {
    writeFileAtomic(this.stagedPath(role), Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`));
  }

  private checkedPath(role: string): string {
    return join(this.dir, 'staged', `.${roleFileName(role)}.checked`);
  }

  /**
   * saveStaged for an envelope the caller has checked with the strict rules (stageChange), and a
   * note of the SHA-256 of the bytes written: the next edit that finds the same bytes skips the
   * strict parse (loadStagedForEdit). A file edited by hand has other bytes and is parsed in full.
   */
  saveCheckedStaged(role: string, envelope: SignedEnvelope): void {
    const bytes = Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`);
    writeFileAtomic(this.stagedPath(role), bytes);
    // Not made durable: a note lost or torn in a crash no longer matches, and costs one strict parse.
    try {
      writeFileSync(this.checkedPath(role), `${sha256Hex(bytes)}\n`);
    } catch {
      rmSync(this.checkedPath(role), { force: true });
    }
  }

  /**
   * The staged signed part and signatures of `role`, to edit. When the file is byte for byte what an
   * edit wrote after checking it, it is read with JSON.parse alone; otherwise it is parsed strictly
   * (loadStaged). Strict parsing and canonicalizing a role of 5,000 images costs about half a second
   * on a laptop-class core, which an edit of a few images must not pay every time; signing, status
   * and push still parse strictly (they need the canonical bytes signatures cover).
   */
  loadStagedForEdit(role: string): { signed: StagedMetadata['signed']; signatures: readonly Signature[] } | undefined {
    const path = this.stagedPath(role);
    if (!existsSync(path)) return undefined;
    let bytes: Buffer;
    let noted: string | undefined;
    try {
      bytes = readFileSync(path);
      noted = existsSync(this.checkedPath(role)) ? readFileSync(this.checkedPath(role), 'utf8').trim() : undefined;
    } catch (err) {
      throw new StorageError(`cannot read staged ${role} ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (noted !== undefined && noted === sha256Hex(bytes)) {
      const envelope = JSON.parse(bytes.toString('utf8')) as { signed: StagedMetadata['signed']; signatures: Signature[] };
      return { signed: envelope.signed, signatures: envelope.signatures };
    }
    const staged = this.loadStaged(role);
    return staged === undefined ? undefined : { signed: staged.signed, signatures: staged.signatures };
  }

  /**
   * The version of the published `role`, read without the strict parse: published bytes were checked
   * when they were stored (pull verifies them as a client; push records what the server accepted).
   * Falls back to the strict parse, and its typed error, when the file is not what that left.
   */
  publishedVersion(role: string): number {
    checkStagedRoleName(role);
    const bytes = this.published.load(role);
    if (bytes === undefined) return 0;
    try {
      const version = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed?: { version?: unknown } }).signed?.version;
      if (typeof version === 'number' && Number.isSafeInteger(version) && version >= 1) return version;
    } catch {
      // Parsed strictly below, which says what is wrong.
    }
    return this.loadPublished(role)?.signed.version ?? 0;
  }

  /** Drops the staged change of `role` and its image sources. */
  removeStaged(role: string): void {
    rmSync(this.stagedPath(role), { force: true });
    rmSync(this.checkedPath(role), { force: true });
    rmSync(this.sourcesPath(role), { force: true });
  }

  loadSources(role: string): Record<string, ImageSource> {
    const path = this.sourcesPath(role);
    if (!existsSync(path)) return {};
    return checkSources(readJson(path, `image sources of ${role}`), path);
  }

  saveSources(role: string, sources: Readonly<Record<string, ImageSource>>): void {
    writeFileAtomic(this.sourcesPath(role), Buffer.from(`${JSON.stringify(sources, null, 2)}\n`));
  }

  loadPublishedRoot(): Metadata<RootSigned> | undefined {
    const bytes = this.published.load('root');
    return bytes === undefined ? undefined : parseMetadata(bytes, 'root', { repository: this.config.repository, role: 'root' });
  }

  loadPublishedTargets(role: string): Metadata<TargetsSigned> | undefined {
    checkStagedRoleName(role);
    if (metadataTypeOf(role) !== 'targets') throw new WorkspaceError(`${role} is not a targets role`);
    const bytes = this.published.load(role);
    return bytes === undefined ? undefined : parseMetadata(bytes, 'targets', { repository: this.config.repository, role });
  }

  loadPublished(role: string): StagedMetadata | undefined {
    return metadataTypeOf(role) === 'root' ? this.loadPublishedRoot() : this.loadPublishedTargets(role);
  }
}
