// The Director's view of the Image repository, as a verifying TUF client: assignments may only name
// images the Image repository has signed, and the Director copies length, hashes and release counter
// from that verified metadata into its own targets (docs/uptane-conformance.md 2, step 7).
import type { Clock } from '../shared/core/clock.js';
import { nodeBackend } from '../shared/core/crypto/ed25519.js';
import { TargetNotFoundError } from '../shared/core/errors.js';
import { HttpFetcher } from '../shared/client/fetcher.js';
import { FileMetadataStore } from '../shared/client/metadata-store.js';
import type { TargetFile } from '../shared/core/metadata/types.js';
import { RepositoryUpdater } from '../shared/client/updater.js';

export interface ImageCatalog {
  /** The Image repository's signed entry for `filename`, found by delegation resolution for `hardwareId`. */
  findImage(filename: string, hardwareId: string): Promise<TargetFile>;
}

export interface ImageRepositoryClientOptions {
  /** Base URL of the Image repository, e.g. http://127.0.0.1:8081 */
  readonly url: string;
  /** Folder for the verified Image repository metadata; must hold the trusted root.json. */
  readonly metadataDir: string;
  readonly clock: Clock;
  /** Refresh at most this often; assignments in a burst share one refresh. */
  readonly refreshIntervalMs?: number;
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
      fetcher: new HttpFetcher(),
      clock: options.clock,
      backend: nodeBackend,
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

  private async refresh(force: boolean): Promise<void> {
    const now = this.options.clock.now().getTime();
    if (!force && now - this.lastRefresh < (this.options.refreshIntervalMs ?? 5_000)) return;
    this.refreshing ??= this.updater.refresh().finally(() => (this.refreshing = undefined));
    await this.refreshing;
    this.lastRefresh = now;
  }
}
