// `uptane director bundle export`'s work: an offline bundle folder for one vehicle
// (docs/decisions.md "Offline updates"). The Director's metadata for the vehicle comes from the
// operator API as the vehicle would fetch it; the Image repository's metadata and images come from
// its public URL, read by the same verifying client a primary uses, through a fetcher that records
// every file the client asked for: so the bundle holds exactly the files (root chain, timestamp,
// snapshot, targets, the delegations on each image's path) a primary will ask for. Images stream to
// disk. The index is written last: a folder cut short has none and is refused as no bundle.
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync, existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Clock } from '../shared/core/clock.js';
import { fetchBytes, HttpFetcher, type Fetcher, type FetchResponse } from '../shared/client/fetcher.js';
import { FileMetadataStore } from '../shared/client/metadata-store.js';
import { parseMetadata } from '../shared/core/metadata/parse.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import { ImageRepositoryClient } from '../shared/uptane/image-repository-client.js';
import { ImageAccess, parseImageUrlGrants } from '../shared/uptane/image-access.js';
import type { DirectorChannel } from '../shared/uptane/director-channel.js';
import { FetchError } from '../shared/core/errors.js';
import {
  bundlePathFor,
  isBundleRequestName,
  OFFLINE_BUNDLE_FORMAT,
  OFFLINE_BUNDLE_FORMAT_VERSION,
  OFFLINE_BUNDLE_INDEX,
  type OfflineBundleImage,
  type OfflineBundleIndex,
} from '../shared/uptane/offline-bundle-format.js';
import type { OfflineMetadataExport } from './api/operator-api.js';

/** The largest first root read from the Image repository (as the updater's root cap). */
const ROOT_MAX_BYTES = 512 * 1024;

export interface OfflineBundleExportOptions {
  readonly vin: string;
  /** A new or empty folder. */
  readonly out: string;
  /** The Image repository's public URL. */
  readonly imageRepoUrl: string;
  /** The Director's answer for the vehicle: the operator API's POST /vehicles/:vin/offline-metadata. */
  readonly directorMetadata: (vin: string) => Promise<OfflineMetadataExport>;
  readonly clock: Clock;
  /** The bundle must stay valid at least this long after the export, else it is not written (workshop use). */
  readonly minValidMs: number;
  readonly fetcher?: Fetcher;
  readonly log?: (line: string) => void;
}

export interface OfflineBundleSummary {
  readonly vin: string;
  readonly out: string;
  readonly exportedAt: string;
  readonly expires: string;
  readonly images: readonly OfflineBundleImage[];
  readonly files: number;
  readonly bytes: number;
}

/** Every Image repository file the verifying client fetched, by the name it asked for. */
class RecordingFetcher implements Fetcher {
  readonly metadata = new Map<string, Buffer>();
  /** The targets path (after `/targets/`) of the latest image requested. */
  lastTarget: string | undefined;

  constructor(
    private readonly inner: Fetcher,
    private readonly base: string,
  ) {}

  async fetch(requested: string, options: Parameters<Fetcher['fetch']>[1]): Promise<FetchResponse> {
    const response = await this.inner.fetch(requested, options);
    // Recorded by the name a primary asks for: without a grant's query, on the configured host.
    const url = requested.split('?', 1)[0]!;
    const metadataPrefix = `${this.base}/metadata/`;
    if (url.startsWith(`${this.base}/targets/`)) this.lastTarget = url.slice(`${this.base}/targets/`.length);
    if (!url.startsWith(metadataPrefix)) return response;
    const name = url.slice(metadataPrefix.length);
    const metadata = this.metadata;
    // Metadata is small and capped by the client: kept whole once it has all come.
    const body = async function* () {
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) {
        chunks.push(Buffer.from(chunk));
        yield chunk;
      }
      metadata.set(name, Buffer.concat(chunks));
    };
    return { offset: response.offset, body: body() };
  }
}

/**
 * How the exporter reads the Image repository: with the signed URLs the Director issued for this
 * vehicle's images (docs/signed-urls.md), through the primary's own ImageAccess, when it issued
 * any; else with no credential, which a public repository serves.
 */
function imageReadAccess(answer: OfflineMetadataExport, imageRepoUrl: string, clock: Clock, log: (line: string) => void): ImageAccess {
  const grants = answer.imageAccess === undefined ? undefined : parseImageUrlGrants(Buffer.from(JSON.stringify(answer.imageAccess)));
  const noDirector = (what: string) => () => {
    throw new FetchError(`the exporter has no Director channel to ${what}`);
  };
  // Only imageUrls is ever called (for the grants the export brought); the exporter has no session or manifest.
  const channel: DirectorChannel = {
    metadataLocation: 'offline-export',
    openSession: async () => undefined,
    resetSession: () => undefined,
    fetchMetadata: noDirector('fetch metadata'),
    fetchImage: noDirector('fetch an encrypted image'),
    sendManifest: noDirector('send a manifest'),
    ...(grants === undefined ? {} : { imageUrls: async () => grants }),
  };
  return new ImageAccess({ channel, imageRepoUrl, clock, log, credentialRequired: grants !== undefined });
}

/** The `expires` of metadata bytes, or undefined if they have none (the vehicle's verifier judges them). */
function expiresOf(bytes: Uint8Array): number | undefined {
  const expires = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed?: { expires?: unknown } }).signed?.expires;
  return typeof expires === 'string' ? Date.parse(expires) : undefined;
}

/** The earliest expiry of the files that matter at install time: every non-root file and the newest root. */
function horizonOf(files: ReadonlyMap<string, Uint8Array>): number {
  let newestRoot: [number, Uint8Array] | undefined;
  let horizon = Infinity;
  for (const [name, bytes] of files) {
    const root = /^(\d+)\.root\.json$/.exec(name);
    if (root !== null) {
      if (newestRoot === undefined || Number(root[1]) > newestRoot[0]) newestRoot = [Number(root[1]), bytes];
      continue;
    }
    horizon = Math.min(horizon, expiresOf(bytes) ?? Infinity);
  }
  if (newestRoot !== undefined) horizon = Math.min(horizon, expiresOf(newestRoot[1]) ?? Infinity);
  return horizon;
}

function prepareOut(out: string): void {
  if (existsSync(out)) {
    if (!statSync(out).isDirectory() || readdirSync(out).length > 0) throw new Error(`--out ${out} exists and is not an empty folder: give a new one (a bundle is written whole, never merged)`);
  }
  mkdirSync(out, { recursive: true });
}

function writeInto(out: string, path: string, bytes: Uint8Array): void {
  const file = join(out, ...path.split('/'));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, bytes);
}

/** The images the Director's targets assign, per ECU, from its targets file in the export. */
function assignedImages(files: ReadonlyMap<string, Uint8Array>, vin: string): Array<OfflineBundleImage & { hardwareId: string }> {
  const name = [...files.keys()].find((n) => /^(\d+\.)?targets\.json$/.test(n));
  if (name === undefined) throw new Error(`the Director's answer for ${vin} holds no targets: is --url a Director of this version?`);
  const targets = parseMetadata(files.get(name)!, 'targets', { repository: 'director' }).signed.targets;
  const images: Array<OfflineBundleImage & { hardwareId: string }> = [];
  for (const [filename, target] of Object.entries(targets)) {
    for (const [ecuSerial, ecu] of Object.entries(target.custom?.ecuIdentifiers ?? {})) {
      if ((ecu as { encryption?: unknown }).encryption !== undefined) {
        throw new Error(`${filename} is encrypted for ECU ${ecuSerial}; offline bundles do not carry encrypted images yet: assign it unencrypted, or update this vehicle online`);
      }
      images.push({ ecuSerial, filename, length: target.length, sha256: target.hashes.sha256 ?? '', hardwareId: ecu.hardwareId });
    }
  }
  return images;
}

/** Writes the bundle for `options.vin` into `options.out`; on failure nothing is left there. */
export async function exportOfflineBundle(options: OfflineBundleExportOptions): Promise<OfflineBundleSummary> {
  const { out, vin, log = () => undefined } = options;
  prepareOut(out);
  const work = mkdtempSync(join(tmpdir(), 'uptane-bundle-'));
  try {
    return await writeBundle(options, work, log);
  } catch (err) {
    rmSync(out, { recursive: true, force: true });
    throw err;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  async function writeBundle(o: OfflineBundleExportOptions, workDir: string, say: (line: string) => void): Promise<OfflineBundleSummary> {
    const answer = await o.directorMetadata(vin);
    if (answer.vin !== vin) throw new Error(`the Director answered for ${answer.vin}, not ${vin}`);
    const director: Record<string, string> = {};
    const directorFiles = new Map<string, Uint8Array>();
    let serial = 0;
    let bytes = 0;
    for (const [name, base64] of Object.entries(answer.files)) {
      if (!isBundleRequestName(name) || name.includes('/')) throw new Error(`the Director's answer names a file ${JSON.stringify(name)}, which no vehicle asks for`);
      const content = Buffer.from(base64, 'base64');
      director[name] = bundlePathFor('director', name, serial++);
      writeInto(out, director[name]!, content);
      directorFiles.set(name, content);
      bytes += content.length;
    }
    const images = assignedImages(directorFiles, vin);
    say(`Director metadata for ${vin}: ${directorFiles.size} files, ${images.length} image(s) assigned`);

    // The Image repository, read by the client a primary uses (its checks, caps and delegation
    // resolution), trusting its first root: the exporter only gathers; the vehicle verifies from
    // the root it was provisioned with.
    const base = o.imageRepoUrl.replace(/\/+$/, '');
    const recorder = new RecordingFetcher(o.fetcher ?? new HttpFetcher(), base);
    const store = new FileMetadataStore(join(workDir, 'image'));
    const readAccess = imageReadAccess(answer, base, o.clock, say);
    const rootUrl = `${base}/metadata/1.root.json`;
    store.persist('root', await fetchBytes(recorder, await readAccess.requestUrl(rootUrl), { maxBytes: ROOT_MAX_BYTES }));
    const client = new ImageRepositoryClient({ metadataUrl: `${base}/metadata`, targetsUrl: `${base}/targets`, store, fetcher: recorder, readAccess, clock: o.clock });
    client.loadTrustedRoot();
    await client.updateRoot();
    await client.updateTimestamp();
    await client.updateSnapshot();
    await client.updateTargets();
    const lookups = new Map<string, Awaited<ReturnType<ImageRepositoryClient['findTarget']>>>();
    for (const image of images) {
      const lookup = await client.findTarget(image.filename, [image.hardwareId]);
      if (lookup.target.length !== image.length || lookup.target.hashes.sha256 !== image.sha256) {
        throw new Error(`the Image repository's ${image.filename} differs from what the Director assigned (length or sha256): the vehicle would refuse it; check the assignment`);
      }
      lookups.set(image.filename, lookup);
    }
    const imageMetadata: Record<string, string> = {};
    for (const [name, content] of recorder.metadata) {
      imageMetadata[name] = bundlePathFor('image/metadata', name, serial++);
      writeInto(out, imageMetadata[name]!, content);
      bytes += content.length;
    }

    const exportedAt = new Date(answer.exportedAt);
    const horizon = horizonOf(new Map([...directorFiles, ...recorder.metadata]));
    if (!Number.isFinite(horizon)) throw new Error('the metadata gathered states no expiry: not a bundle a vehicle would accept');
    const expires = new Date(horizon);
    if (horizon - o.clock.now().getTime() < o.minValidMs) {
      throw new Error(
        `this bundle would expire at ${expires.toISOString()}, sooner than --min-valid allows: ` +
          'export it nearer the visit, or ask for a shorter --min-valid (a vehicle refuses a bundle whose metadata has expired by its own clock)',
      );
    }

    // Images last: each streamed to disk through the verifying client, checked against its signed length and hashes.
    const imageTargets: Record<string, string> = {};
    for (const [filename, lookup] of lookups) {
      say(`downloading ${filename} (${lookup.target.length} bytes)`);
      // Downloaded beside its place, so the move into it never crosses file systems (a USB stick).
      const partial = join(out, `.downloading-${serial}`);
      await client.downloadImage(lookup, partial);
      const requested = recorder.lastTarget!;
      imageTargets[requested] = bundlePathFor('image/targets', requested, serial++);
      const file = join(out, ...imageTargets[requested]!.split('/'));
      mkdirSync(dirname(file), { recursive: true });
      renameSync(partial, file);
      bytes += lookup.target.length;
    }

    const index: OfflineBundleIndex = {
      format: OFFLINE_BUNDLE_FORMAT,
      formatVersion: OFFLINE_BUNDLE_FORMAT_VERSION,
      vin,
      exportedAt: exportedAt.toISOString(),
      expires: expires.toISOString(),
      director,
      imageMetadata,
      imageTargets,
      images: images.map(({ ecuSerial, filename, length, sha256 }) => ({ ecuSerial, filename, length, sha256 })),
    };
    writeFileAtomic(join(out, OFFLINE_BUNDLE_INDEX), Buffer.from(JSON.stringify(index, null, 2)));
    const files = Object.keys(director).length + Object.keys(imageMetadata).length + Object.keys(imageTargets).length;
    return { vin, out, exportedAt: index.exportedAt, expires: index.expires, images: index.images, files, bytes };
  }
}
