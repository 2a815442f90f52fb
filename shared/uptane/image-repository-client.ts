// The Image repository as an ECU reads it: its metadata, each image found by delegation resolution,
// and the download of an image the Director assigned (capped at its signed length, every hash checked).
import type { DownloadProgress, RepositoryUpdaterOptions, TargetLookup } from '../client/updater.js';
import { RepositoryClient } from './repository-client.js';

export type ImageRepositoryClientOptions = Omit<RepositoryUpdaterOptions, 'repository'>;

export class ImageRepositoryClient extends RepositoryClient<void> {
  constructor(options: ImageRepositoryClientOptions) {
    super({ ...options, repository: 'image' });
  }

  /** #check_targets on the top-level targets; delegated roles load as an image lookup needs them. */
  async updateTargets(): Promise<void> {
    await this.updater.updateTargets();
  }

  /** #delegation_resolution for `filename`, visiting only delegations to these hardware ids. */
  findTarget(filename: string, hardwareIds: readonly string[]): Promise<TargetLookup> {
    return this.updater.findTarget(filename, hardwareIds);
  }

  /** Whether `destination` already holds this image, verified (a cycle interrupted after its download). */
  isImageCached(lookup: Pick<TargetLookup, 'name' | 'target'>, destination: string): Promise<boolean> {
    return this.updater.isTargetCached(lookup, destination);
  }

  downloadImage(lookup: Pick<TargetLookup, 'name' | 'target'>, destination: string, onProgress?: (progress: DownloadProgress) => void): Promise<void> {
    return this.updater.downloadTarget(lookup, destination, onProgress);
  }
}
