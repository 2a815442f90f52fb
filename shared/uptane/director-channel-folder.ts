// The Director channel and the Image repository fetcher as an offline bundle folder serves them (a
// USB stick, a workshop tool's share): the primary runs its usual update cycle on them, so every
// file is verified exactly as online (#full_verification) by the same code. This module only reads
// the folder, and reads it as untrusted input (docs/decisions.md "Offline updates"): the index is
// capped and parsed first, a path it names must stay inside the folder and be a regular file, and
// no file is read past the byte limit the verifier gives for it.
import { constants, realpathSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';
import {
  OfflineBundleFileTooLargeError,
  OfflineBundleNotFoundError,
  OfflineBundleReplayError,
  OfflineBundleUnsafePathError,
  OfflineBundleVehicleError,
  RemoteNotFoundError,
  StorageError,
} from '../core/errors.js';
import type { Fetcher, FetchOptions, FetchResponse } from '../client/fetcher.js';
import type { DirectorChannel, DirectorChannelFactory, ManifestDelivery } from './director-channel.js';
import { DEFAULT_OFFLINE_BUNDLE_LIMITS, OFFLINE_BUNDLE_INDEX, parseOfflineBundleIndex, type OfflineBundleIndex, type OfflineBundleLimits } from './offline-bundle-format.js';

/** Chunks a file is streamed in: an image never sits whole in memory. */
const READ_CHUNK_BYTES = 256 * 1024;

type Section = 'director' | 'imageMetadata' | 'imageTargets';

export interface OfflineBundleFolderOptions {
  /** The VIN this vehicle was provisioned with: a bundle for another is refused before any file is served. */
  readonly vin: string;
  readonly limits?: OfflineBundleLimits;
}

/** One bundle folder, its index read once on first use, and its files served within their limits. */
export class OfflineBundleFolder {
  private loaded: Promise<OfflineBundleIndex> | undefined;
  private readonly limits: OfflineBundleLimits;

  constructor(
    readonly directory: string,
    private readonly options: OfflineBundleFolderOptions,
  ) {
    this.limits = options.limits ?? DEFAULT_OFFLINE_BUNDLE_LIMITS;
  }

  /** The index, checked: its format, every path in it, and the VIN (docs/threat-model.md OB1, OB6). */
  index(): Promise<OfflineBundleIndex> {
    this.loaded ??= this.loadIndex();
    return this.loaded;
  }

  private async loadIndex(): Promise<OfflineBundleIndex> {
    let handle: FileHandle;
    try {
      handle = await open(join(this.directory, OFFLINE_BUNDLE_INDEX), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new OfflineBundleNotFoundError(`${this.directory} holds no ${OFFLINE_BUNDLE_INDEX}: give the folder \`uptane director bundle export --out\` wrote (copied whole)`);
      }
      if (code === 'ELOOP') throw new OfflineBundleUnsafePathError(`${OFFLINE_BUNDLE_INDEX} is a symbolic link; a bundle's files must be regular files in its folder`);
      throw new StorageError(`cannot read ${join(this.directory, OFFLINE_BUNDLE_INDEX)}: ${(err as Error).message}`, { cause: err });
    }
    let bytes: Buffer;
    try {
      bytes = await readBounded(handle, 0, this.limits.maxIndexBytes, OFFLINE_BUNDLE_INDEX);
    } finally {
      await handle.close();
    }
    const index = parseOfflineBundleIndex(bytes, this.limits);
    if (index.vin !== this.options.vin) {
      throw new OfflineBundleVehicleError(`this offline bundle is for vehicle ${index.vin.slice(0, 64)}, not ${this.options.vin}: export one for this VIN`);
    }
    return index;
  }

  /**
   * The file the index lists under `name` in `section`, from byte `offset`, as a fetch answer whose
   * body stops at `maxBytes` (docs/threat-model.md OB5). A name the index does not list is not found,
   * as a repository's 404: the root chain ends there.
   */
  async serve(section: Section, name: string, { maxBytes, offset = 0 }: Pick<FetchOptions, 'maxBytes' | 'offset'>): Promise<FetchResponse> {
    const index = await this.index();
    const path = Object.hasOwn(index[section], name) ? index[section][name] : undefined;
    if (path === undefined) throw new RemoteNotFoundError(`${name}: not in the offline bundle`);
    const handle = await this.openInside(path);
    try {
      const { size } = await handle.stat();
      if (size - offset > maxBytes) {
        throw new OfflineBundleFileTooLargeError(`${path} is ${size} bytes, over the ${maxBytes + offset}-byte limit for ${name}: refused before reading it`);
      }
    } catch (err) {
      await handle.close();
      throw err;
    }
    return { offset, body: streamBounded(handle, offset, maxBytes, path) };
  }

  /** Opens `path` only if it is a regular file inside the folder: no link anywhere on the way (OB6). */
  private async openInside(path: string): Promise<FileHandle> {
    const file = join(this.directory, ...path.split('/'));
    let handle: FileHandle;
    try {
      handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new RemoteNotFoundError(`${path}: listed in ${OFFLINE_BUNDLE_INDEX} but missing from the folder (an incomplete copy?)`);
      if (code === 'ELOOP') throw new OfflineBundleUnsafePathError(`${path} is a symbolic link; a bundle's files must be regular files in its folder`);
      if (code === 'EISDIR') throw new OfflineBundleUnsafePathError(`${path} is a folder, not a file`);
      throw new StorageError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      // A linked folder on the way would lead outside: the file's real path must be under the folder's.
      const inside = realpathSync(file).startsWith(`${realpathSync(this.directory)}${sep}`);
      const regular = (await handle.stat()).isFile();
      if (!inside || !regular) throw new OfflineBundleUnsafePathError(`${path} ${inside ? 'is not a regular file' : 'leads outside the bundle folder (a linked folder?)'}`);
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
}

/** Reads at most `maxBytes` from `offset` of an open file; one byte more is refused (the file grew, or lied about its size). */
async function readBounded(handle: FileHandle, offset: number, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of streamBounded(handle, offset, maxBytes, what, false)) {
    chunks.push(Buffer.from(chunk));
    total += chunk.length;
  }
  return Buffer.concat(chunks, total);
}

/** Yields the file in chunks from `offset`, refusing it once more than `maxBytes` came; closes it at the end unless told not to. */
async function* streamBounded(handle: FileHandle, offset: number, maxBytes: number, what: string, close = true): AsyncGenerator<Uint8Array> {
  try {
    let position = offset;
    let total = 0;
    for (;;) {
      // One byte past the cap is asked for, so a file at the cap is told from one over it.
      const want = Math.min(READ_CHUNK_BYTES, maxBytes - total + 1);
      const buffer = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(buffer, 0, want, position);
      if (bytesRead === 0) return;
      total += bytesRead;
      if (total > maxBytes) throw new OfflineBundleFileTooLargeError(`${what} holds more than its ${maxBytes}-byte limit`);
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    if (close) await handle.close();
  }
}

export interface FolderDirectorChannelOptions {
  /**
   * The version of the Director timestamp this primary trusts now, if any: a bundle whose timestamp
   * is older is refused as a replay before verification starts (docs/threat-model.md OB2). The
   * verifier's own rollback check (#check_timestamp) stays behind it.
   */
  readonly trustedTimestampVersion: () => number | undefined;
}

/** Largest Director timestamp read for the replay check; the verifier gets the same bytes, within its own cap. */
const TIMESTAMP_PEEK_MAX_BYTES = 64 * 1024;

/**
 * The Director as the bundle holds it: its metadata from the index's `director` section, no session,
 * and every manifest kept for the next online cycle (not sent: there is no one to send it to).
 */
export function folderDirectorChannel(folder: OfflineBundleFolder, options: FolderDirectorChannelOptions): DirectorChannelFactory {
  return (): DirectorChannel => ({
    metadataLocation: `offline-bundle:${folder.directory}/director`,
    openSession: async () => undefined,
    resetSession: () => undefined,
    fetchMetadata: async (name, { maxBytes }) => {
      const response = await folder.serve('director', name, { maxBytes });
      if (name !== 'timestamp.json') return response;
      return checkNotReplayed(response, Math.min(maxBytes, TIMESTAMP_PEEK_MAX_BYTES), options.trustedTimestampVersion());
    },
    fetchImage: (name, { maxBytes, offset }) => folder.serve('director', `images/${name}`, { maxBytes, offset }),
    sendManifest: async (): Promise<ManifestDelivery> => ({ accepted: false, refusal: 'offline: no Director to send the manifest to; it goes with the next online cycle, the install included' }),
  });
}

/**
 * Reads the bundle's Director timestamp (small, capped) and refuses it when its version is below the
 * trusted one. Its signature is not checked here: a forged version can only make this refuse, and
 * the verifier checks the same bytes next.
 */
async function checkNotReplayed(response: FetchResponse, maxBytes: number, trusted: number | undefined): Promise<FetchResponse> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.length;
    if (total > maxBytes) throw new OfflineBundleFileTooLargeError(`the bundle's Director timestamp holds more than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks, total);
  const version = timestampVersionOf(bytes);
  if (trusted !== undefined && version !== undefined && version < trusted) {
    throw new OfflineBundleReplayError(`the bundle's Director timestamp is version ${version}, older than version ${trusted} this vehicle already trusts: an old bundle; export a new one`, {
      repository: 'director',
      role: 'timestamp',
    });
  }
  return { offset: 0, body: (async function* () { yield bytes; })() };
}

/** The `signed.version` of timestamp bytes, or undefined when they are not that shape (the verifier says why). */
export function timestampVersionOf(bytes: Uint8Array): number | undefined {
  try {
    const version = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed?: { version?: unknown } }).signed?.version;
    return Number.isSafeInteger(version) ? (version as number) : undefined;
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/**
 * The Image repository as the bundle holds it: `<imageRepoUrl>/metadata/<name>` from the index's
 * `imageMetadata`, `<imageRepoUrl>/targets/<path>` from its `imageTargets`, with the updater's caps.
 */
export function folderImageFetcher(folder: OfflineBundleFolder, imageRepoUrl: string): Fetcher {
  const base = imageRepoUrl.replace(/\/+$/, '');
  return {
    fetch: async (url, options) => {
      const path = url.split('?')[0]!;
      if (path.startsWith(`${base}/metadata/`)) return folder.serve('imageMetadata', path.slice(`${base}/metadata/`.length), options);
      if (path.startsWith(`${base}/targets/`)) return folder.serve('imageTargets', path.slice(`${base}/targets/`.length), options);
      throw new RemoteNotFoundError(`${url}: not an Image repository file this vehicle reads`);
    },
  };
}
