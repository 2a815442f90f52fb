// The Image repository's limits on its clients, with their defaults: a typed config that
// `startImageServer` takes in part (docs/threat-model.md HR-2, HR-3).
import { DEFAULT_HTTP_SERVER_LIMITS, type HttpServerLimits } from '../shared/server/http-server.js';
import { DEFAULT_BUSY_RETRY_AFTER_SECONDS, DEFAULT_DOWNLOAD_SLOTS } from '../shared/server/stream-slots.js';

/** What the Image repository allows its clients (docs/threat-model.md HR-2, HR-3). */
export interface ImageServerLimits extends HttpServerLimits {
  /**
   * Image downloads in flight at once. Each holds up to four 1 MiB slabs while its client reads
   * (shared/server/blob-sender.ts), so this bounds that memory: 64 downloads, 256 MiB at most.
   */
  readonly maxDownloads: number;
  /** Image downloads in flight to one client address (vehicles behind one NAT share an address). */
  readonly maxDownloadsPerAddress: number;
  /** Retry-After, in seconds, on a download refused because a cap is reached (503 server_busy). */
  readonly busyRetryAfterSeconds: number;
}

export const DEFAULT_IMAGE_SERVER_LIMITS: ImageServerLimits = {
  ...DEFAULT_HTTP_SERVER_LIMITS,
  // Uploads of images up to maxImageBytes (4 GiB) must fit; a stalled upload is still closed by idleTimeoutMs.
  requestTimeoutMs: 10 * 60 * 1000,
  maxDownloads: DEFAULT_DOWNLOAD_SLOTS.total,
  maxDownloadsPerAddress: DEFAULT_DOWNLOAD_SLOTS.perAddress,
  busyRetryAfterSeconds: DEFAULT_BUSY_RETRY_AFTER_SECONDS,
};
