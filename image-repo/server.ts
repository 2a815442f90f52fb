// Starting an Image repository: data directory layout, online keys, database, the HTTP server under
// its limits, and the timer that keeps snapshot and timestamp from expiring. Used by the CLI and by
// tests (port 0).
import { chmodSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ThrottleOptions } from '../shared/server/auth-throttle.js';
import { BackgroundTask, type BackgroundStatus } from '../shared/server/background-task.js';
import { systemClock, type Clock } from '../shared/core/clock.js';
import { listenHttp, serverUrl } from '../shared/server/http-server.js';
import { reloadServerTls, type TlsReloadResult, type TlsServerConfig } from '../shared/server/tls.js';
import { loadOnlineKeys, loadPendingOnlineKeys, OnlineKeyRing } from '../shared/server/online-keys.js';
import { claimServerFolder } from '../shared/server/server-folder.js';
import { StreamSlots } from '../shared/server/stream-slots.js';
import { createHandler } from './app.js';
import { BlobStore } from './blob-store.js';
import { DEFAULT_IMAGE_SERVER_LIMITS, type ImageServerLimits } from './limits.js';
import { IMAGE_ONLINE_ROLES, ImageRepository, type ImageRepoConfig } from './repository.js';
import { SqliteImageRepoStorage } from './store/sqlite.js';
import type { ImageRepoStorage } from './store/storage.js';
import type { ReadAccessConfig } from './read-access.js';

export { DEFAULT_IMAGE_SERVER_LIMITS, type ImageServerLimits } from './limits.js';

export interface ImageServerOptions {
  readonly dataDir: string;
  readonly port?: number;
  readonly host?: string;
  readonly clock?: Clock;
  readonly config?: Partial<ImageRepoConfig>;
  readonly limits?: Partial<ImageServerLimits>;
  /** How often to check whether snapshot/timestamp need re-signing; a failed check is retried at the next. */
  readonly refreshIntervalMs?: number;
  readonly log?: (line: string) => void;
  /** Failed uploader authentications allowed per client address (docs/threat-model.md HR-10). */
  readonly authThrottle?: Partial<ThrottleOptions>;
  /**
   * Who may read metadata and images (image-repo/read-access.ts, docs/signed-urls.md). Public unless
   * set, for the tests and the simulator; `uptane image serve` defaults to `credential`.
   */
  readonly readAccess?: ReadAccessConfig;
  /**
   * Serve HTTPS with these files (shared/server/tls.ts); with `clientCaFile`, vehicles may present
   * client certificates (peerCertificateOf). Plain HTTP when absent.
   */
  readonly tls?: TlsServerConfig;
  /**
   * After a root that lists a rotated online key is published, how long the replaced key still signs
   * beside the new one (DEFAULT_KEY_HANDOVER_MS; docs/decisions.md "Online key rotation").
   */
  readonly keyHandoverMs?: number;
}

export interface RunningImageServer {
  readonly url: string;
  readonly repository: ImageRepository;
  readonly storage: ImageRepoStorage;
  /** How the background re-signing of snapshot and timestamp fares (docs/threat-model.md HR-8). */
  resignStatus(): BackgroundStatus;
  /** Re-reads the TLS files for new connections, keeping open ones; a bad file keeps the old ones (the CLI calls it on SIGHUP). */
  reloadTls(): TlsReloadResult;
  /** Runs one re-signing check now, as the timer does (never rejects; see resignStatus). */
  checkResigning(): Promise<void>;
  close(): Promise<void>;
}

/** The subfolders of a data folder; blobs/incoming holds uploads in progress. */
const SUBFOLDERS = ['keys', 'blobs', join('blobs', 'incoming')];

export function openImageRepository(dataDir: string, clock: Clock, config?: Partial<ImageRepoConfig>, keyHandoverMs?: number) {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Keys first: a refused key folder leaves no database opened.
  const keyDir = join(dataDir, 'keys');
  const current = loadOnlineKeys(keyDir, IMAGE_ONLINE_ROLES, 'image');
  const pending = loadPendingOnlineKeys(keyDir, IMAGE_ONLINE_ROLES, Object.values(current), 'image');
  const keys = new OnlineKeyRing(IMAGE_ONLINE_ROLES, current, pending, { keyDir, repository: 'image', handoverMs: keyHandoverMs });
  const storage: ImageRepoStorage = new SqliteImageRepoStorage(join(dataDir, 'image-repo.sqlite'));
  const blobs = new BlobStore(join(dataDir, 'blobs'));
  return { storage, blobs, repository: new ImageRepository(storage, blobs, keys, clock, config) };
}

export async function startImageServer(options: ImageServerOptions): Promise<RunningImageServer> {
  const clock = options.clock ?? systemClock;
  const limits: ImageServerLimits = { ...DEFAULT_IMAGE_SERVER_LIMITS, ...options.limits };
  const log = options.log ?? (() => undefined);
  // A failure in the background is never silent, even without a log.
  const warn = options.log ?? ((line: string) => console.error(line));
  const releaseFolder = claimServerFolder(options.dataDir, 'uptane image serve', SUBFOLDERS);
  let opened: ReturnType<typeof openImageRepository> | undefined;
  let server: Server;
  try {
    opened = openImageRepository(options.dataDir, clock, options.config, options.keyHandoverMs);
    const completed = await opened.repository.checkOnlineKeys();
    if (completed.length > 0) log(`switched to the pending ${completed.join(' and ')} key(s) the published root lists (the move of the key files had been interrupted)`);
    for (const dir of SUBFOLDERS) chmodSync(join(options.dataDir, dir), 0o700); // created just now, or tightened (HR-9h)
    const removed = opened.blobs.removeStaleTempFiles();
    if (removed > 0) log(`removed ${removed} partial upload${removed === 1 ? '' : 's'} left in blobs/incoming by an earlier crash`);
    const { repository } = opened;
    const downloads = new StreamSlots({ total: limits.maxDownloads, perAddress: limits.maxDownloadsPerAddress });
    const handler = createHandler({
      repository,
      storage: opened.storage,
      log: options.log,
      downloads,
      busyRetryAfterSeconds: limits.busyRetryAfterSeconds,
      clock,
      authThrottle: options.authThrottle,
      readAccess: options.readAccess,
    });
    server = await listenHttp(handler, { port: options.port, host: options.host, limits, tls: options.tls });
  } catch (err) {
    await opened?.storage.close();
    releaseFolder();
    throw err;
  }
  const { repository, storage } = opened;
  const resigning = new BackgroundTask(
    're-signing snapshot/timestamp',
    async () => {
      const resigned = await repository.refreshOnlineMetadata();
      if (resigned.length > 0) log(`re-signed ${resigned.join(' and ')} before expiry`);
    },
    warn,
  );
  const stopResigning = resigning.every(options.refreshIntervalMs ?? 60_000);
  const { port } = server.address() as AddressInfo;
  return {
    url: serverUrl(options.host ?? '127.0.0.1', port, options.tls !== undefined),
    repository,
    storage,
    resignStatus: () => resigning.status,
    checkResigning: () => resigning.runOnce(),
    reloadTls: () => reloadServerTls(server, options.tls, warn),
    close: async () => {
      stopResigning();
      const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      server.closeAllConnections(); // keep-alive clients must not hold the shutdown open
      await closed;
      await storage.close();
      releaseFolder();
    },
  };
}
