// The Director's view of the Image repository, as a verifying TUF client: assignments may only name
// images the Image repository has signed, and the Director copies length, hashes and release counter
// from that verified metadata into its own targets (docs/uptane-conformance.md 2, step 7).
import type { Clock } from '../shared/core/clock.js';
import { nodeBackend } from '../shared/core/crypto/ed25519.js';
import { TargetNotFoundError } from '../shared/core/errors.js';
import { HttpFetcher } from '../shared/client/fetcher.js';
import type { ClientTlsConfig } from '../shared/client/tls-client.js';
import { FileMetadataStore } from '../shared/client/metadata-store.js';
import type { TargetFile } from '../shared/core/metadata/types.js';
import { RepositoryUpdater } from '../shared/client/updater.js';

export interface ImageCatalog {
  /** The Image repository's signed entry for `filename`, found by delegation resolution for `hardwareId`. */
  findImage(filename: string, hardwareId: string): Promise<TargetFile>;
  /**
   * Downloads the image `findImage` returned as `target` to `destination`, streaming, refusing more
   * than its signed length and anything that does not match its signed hashes (docs/threat-model.md
   * F2, F3); the file appears only once it verified. Needed only to encrypt images
   * (encrypted-images.ts); a catalog without it cannot serve an assignment with `encrypt`.
   */
  downloadImage?(filename: string, target: TargetFile, destination: string): Promise<void>;
  /**
   * The images the Image repository's top-level targets role lists, verified (the dashboard's image
   * page). Images listed only by delegated roles are not among them.
   */
  listImages?(): Promise<ReadonlyArray<{ readonly filename: string; readonly target: TargetFile }>>;
  /**
   * Refreshes the verified metadata now (the expiry guardian's timer, alerts/director-alerts.ts): an
   * idle Director's copy would otherwise age until its timestamp looked expired.
   */
  refreshMetadata?(): Promise<void>;
}

export interface ImageRepositoryClientOptions {
  /** Base URL of the Image repository, e.g. http://127.0.0.1:8081 */
  readonly url: string;
  /** Folder for the verified Image repository metadata; must hold the trusted root.json. */
  readonly metadataDir: string;
  readonly clock: Clock;
  /** Refresh at most this often; assignments in a burst share one refresh. */
  readonly refreshIntervalMs?: number;
  /** The URL to request instead (the Director's own signed reads, services/image-urls.ts directorReadUrl). */
  readonly requestUrl?: (url: string) => string;
  /** The CA the Image repository's TLS certificate must chain to (--image-repo-ca); then only https:// is used. */
  readonly tls?: ClientTlsConfig;
}

export class ImageRepositoryClient implements ImageCatalog {
  private readonly updater: RepositoryUpdater;
  private lastRefresh = -Infinity;
  private refreshing: Promise<unknown> | undefined;

  constructor(private readonly options: ImageRepositoryClientOptions) {
    this.updater = new RepositoryUpdater({
      repository: 'image',
      metadataUrl: `${options.url}/metadata`,
      targetsUrl: `${options.url}/targets`,
      store: new FileMetadataStore(options.metadataDir),
      fetcher: new HttpFetcher({ tls: options.tls }),
      clock: options.clock,
      backend: nodeBackend,
      // Its own grant is signed fresh for each request: a 403 would not change with another one.
      readAccess: options.requestUrl === undefined ? undefined : { requestUrl: options.requestUrl, forbidden: () => false },
    });
  }

  async findImage(filename: string, hardwareId: string): Promise<TargetFile> {
    await this.refresh(false);
    try {
      return (await this.updater.findTarget(filename, [hardwareId])).target;
    } catch (err) {
      if (!(err instanceof TargetNotFoundError)) throw err;
      // Perhaps published since the last refresh (a release engineer just pushed): look once more.
      await this.refresh(true);
      return (await this.updater.findTarget(filename, [hardwareId])).target;
    }
  }

  async downloadImage(filename: string, target: TargetFile, destination: string): Promise<void> {
    await this.refresh(false);
    await this.updater.downloadTarget({ name: filename, target }, destination);
  }

  async listImages(): Promise<ReadonlyArray<{ readonly filename: string; readonly target: TargetFile }>> {
    await this.refresh(false);
    const targets = (await this.updater.updateTargets()).signed.targets;
    return Object.entries(targets).map(([filename, target]) => ({ filename, target }));
  }

  refreshMetadata(): Promise<void> {
    return this.refresh(false);
  }

  private async refresh(force: boolean): Promise<void> {
    const now = this.options.clock.now().getTime();
    if (!force && now - this.lastRefresh < (this.options.refreshIntervalMs ?? 5_000)) return;
    this.refreshing ??= this.updater.refresh().finally(() => (this.refreshing = undefined));
    await this.refreshing;
    this.lastRefresh = now;
  }
}
