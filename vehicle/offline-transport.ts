// A primary's transports for an offline bundle (docs/decisions.md "Offline updates"): the Director
// channel and the Image repository fetcher served from the bundle folder, so the primary's usual
// cycle verifies the bundle exactly as it verifies the repositories online. The replay check reads
// the Director timestamp this primary already trusts, from its own folder.
import { join } from 'node:path';
import { FileMetadataStore } from '../shared/client/metadata-store.js';
import { folderDirectorChannel, folderImageFetcher, OfflineBundleFolder, timestampVersionOf } from '../shared/uptane/director-channel-folder.js';
import type { PrimaryRuntime } from '../primary-ecu/primary.js';

export type OfflineTransport = Required<Pick<PrimaryRuntime, 'fetcher' | 'directorChannel'>>;

/** The transports for the bundle in `from`, for the primary in `primaryDirectory` of vehicle `vin`. */
export function offlineBundleTransport(from: string, primaryDirectory: string, vehicle: { readonly vin: string; readonly imageRepoUrl: string }): OfflineTransport {
  const folder = new OfflineBundleFolder(from, { vin: vehicle.vin });
  // The trusted Director metadata as the primary stores it (primary-ecu/primary.ts, its `director` folder).
  const trusted = new FileMetadataStore(join(primaryDirectory, 'director'));
  return {
    fetcher: folderImageFetcher(folder, vehicle.imageRepoUrl),
    directorChannel: folderDirectorChannel(folder, {
      trustedTimestampVersion: () => {
        const bytes = trusted.load('timestamp');
        return bytes === undefined ? undefined : timestampVersionOf(bytes);
      },
    }),
  };
}
