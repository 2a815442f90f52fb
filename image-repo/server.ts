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
import { IMAGE_ONLINE_ROLES, ImageRepository, type ImageOnlineRole, type ImageRepoConfig } from './repository.js';
import { PublishConflictError } from './store/metadata.js';
import { openImageRepoStorage, parseImageDatabase, SQLITE_FILE } from './store/open.js';
import { SqliteImageRepoStorage } from './store/sqlite.js';
import type { ImageRepoStorage } from './store/storage.js';
import type { ReadAccessConfig } from './read-access.js';
import { ServerMetrics } from '../shared/server/metrics.js';
import type { Observability, ObservabilityOptions } from '../shared/server/observability.js';
import { silentLogger } from '../shared/server/request-log.js';
import { addImageMetrics } from './metrics.js';
import { watchExpiry, type ExpiryWatch } from './expiry-watch.js';
import type { LogPublisher, ServerLogConfig } from '../shared/transparency/server-log.js';
import { openImageLog } from './transparency-log.js';

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
  /** How often every role's expiry is checked and a role inside its warning window logged (expiry-watch.ts; default 5 minutes). */
  readonly expiryCheckMs?: number;
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
  /**
   * The database (store/open.ts): undefined for SQLite in the data folder, `sqlite:PATH`, or a
   * postgres:// URL shared by replicas (which then share the data folder too: keys and blobs).
   */
  readonly database?: string;
  /** /metrics, /healthz, /readyz, request ids and request log lines (shared/server/observability.ts); `false` leaves them out. */
  readonly observability?: ObservabilityOptions | false;
  /**
   * Keep a transparency log of every metadata version published, served at /log (`--log-key`;
   * docs/transparency-log.md "Server routes"). No log when absent.
   */
  readonly transparencyLog?: ServerLogConfig;
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
  /** Every role's expiry, judged on a timer; a role inside its warning window is logged once per version (expiry-watch.ts). */
  readonly expiry: ExpiryWatch;
  /** The transparency log's publisher, when the server keeps a log. */
  readonly transparencyLog?: LogPublisher;
  close(): Promise<void>;
}

/** The subfolders of a data folder; blobs/incoming holds uploads in progress. */
const SUBFOLDERS = ['keys', 'blobs', join('blobs', 'incoming')];

/**
 * An upload's temp file untouched this long, in a blobs/incoming that replicas share, was left by a
 * crash: a live upload writes to it all along (and is given up on far sooner for want of speed).
 */
const STALE_SHARED_UPLOAD_MS = 60 * 60 * 1000;

/** The online key ring of a data folder: keys/ (made on first start) and keys/pending/. */
function loadImageKeyRing(dataDir: string, keyHandoverMs: number | undefined): OnlineKeyRing<ImageOnlineRole> {
  const keyDir = join(dataDir, 'keys');
  const current = loadOnlineKeys(keyDir, IMAGE_ONLINE_ROLES, 'image');
  const pending = loadPendingOnlineKeys(keyDir, IMAGE_ONLINE_ROLES, Object.values(current), 'image');
  return new OnlineKeyRing(IMAGE_ONLINE_ROLES, current, pending, { keyDir, repository: 'image', handoverMs: keyHandoverMs });
}

function composeImageRepository(dataDir: string, storage: ImageRepoStorage, keys: OnlineKeyRing<ImageOnlineRole>, clock: Clock, config?: Partial<ImageRepoConfig>) {
  const blobs = new BlobStore(join(dataDir, 'blobs'));
  return { storage, blobs, keys, repository: new ImageRepository(storage, blobs, keys, clock, config) };
}

/** The repository of a data folder on its SQLite database, opened at once (tools and tests; the server takes --database). */
export function openImageRepository(dataDir: string, clock: Clock, config?: Partial<ImageRepoConfig>, keyHandoverMs?: number) {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Keys first: a refused key folder leaves no database opened.
  const keys = loadImageKeyRing(dataDir, keyHandoverMs);
  return composeImageRepository(dataDir, new SqliteImageRepoStorage(join(dataDir, SQLITE_FILE)), keys, clock, config);
}

/** The repository of a data folder on the database `database` names (store/open.ts: SQLite by default). */
async function openServedRepository(dataDir: string, clock: Clock, options: ImageServerOptions) {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const keys = loadImageKeyRing(dataDir, options.keyHandoverMs); // first, as above
  const storage = await openImageRepoStorage(dataDir, options.database);
  try {
    return composeImageRepository(dataDir, storage, keys, clock, options.config);
  } catch (err) {
    await storage.close(); // a PostgreSQL pool left open would keep the process alive
    throw err;
  }
}

/** The Image repository's metrics, readiness checks and request log, unless the options leave them out. */
function imageObservability(options: ImageServerOptions, opened: ReturnType<typeof composeImageRepository>, clock: Clock): Observability | undefined {
  if (options.observability === false) return undefined;
  const { storage, keys } = opened;
  const metrics = new ServerMetrics('image', options.observability?.metricsAccess);
  addImageMetrics(metrics, { storage, clock });
  return {
    metrics,
    logger: options.observability?.logger ?? silentLogger,
    readiness: {
      // A read of a table, not SELECT 1: a database whose schema is gone is not one the repository can serve from.
      database: () => storage.latest('root'),
      signingKeys: () => IMAGE_ONLINE_ROLES.map((role) => keys.key(role)),
    },
  };
}

export async function startImageServer(options: ImageServerOptions): Promise<RunningImageServer> {
  const clock = options.clock ?? systemClock;
  const limits: ImageServerLimits = { ...DEFAULT_IMAGE_SERVER_LIMITS, ...options.limits };
  const log = options.log ?? (() => undefined);
  // A failure in the background is never silent, even without a log.
  const warn = options.log ?? ((line: string) => console.error(line));
  const shared = parseImageDatabase(options.dataDir, options.database).kind === 'postgres';
  // On SQLite the folder is locked, one server per folder (HR-9i); on PostgreSQL the replicas share
  // it (online keys and blobs, on a shared file system) and keep no cache of the database.
  const releaseFolder = claimServerFolder(options.dataDir, 'uptane image serve', SUBFOLDERS, { shared });
  let opened: Awaited<ReturnType<typeof openServedRepository>> | undefined;
  let transparencyLog: LogPublisher | undefined;
  let server: Server;
  try {
    opened = await openServedRepository(options.dataDir, clock, options);
    const completed = await opened.repository.checkOnlineKeys();
    if (completed.length > 0) log(`switched to the pending ${completed.join(' and ')} key(s) the published root lists (the move of the key files had been interrupted)`);
    for (const dir of SUBFOLDERS) chmodSync(join(options.dataDir, dir), 0o700); // created just now, or tightened (HR-9h)
    // Replicas sharing blobs/incoming: only files no upload has written to for a while are left by a crash.
    const removed = opened.blobs.removeStaleTempFiles(shared ? STALE_SHARED_UPLOAD_MS : 0);
    if (removed > 0) log(`removed ${removed} partial upload${removed === 1 ? '' : 's'} left in blobs/incoming by an earlier crash`);
    const { repository } = opened;
    if (options.transparencyLog !== undefined) {
      // Before listening: every version published so far is in the log before the first request.
      const { publisher, caughtUp } = await openImageLog(options.dataDir, opened.storage, repository, options.transparencyLog, clock, warn);
      transparencyLog = publisher;
      if (caughtUp > 0) log(`transparency log: appended ${caughtUp} published version${caughtUp === 1 ? '' : 's'} it lacked`);
    }
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
      observability: imageObservability(options, opened, clock),
      transparencyLog: transparencyLog?.log,
    });
    server = await listenHttp(handler, { port: options.port, host: options.host, limits, tls: options.tls });
  } catch (err) {
    await transparencyLog?.log.close();
    await opened?.storage.close();
    releaseFolder();
    throw err;
  }
  const { repository, storage } = opened;
  const resigning = new BackgroundTask(
    're-signing snapshot/timestamp',
    async () => {
      let resigned: string[];
      try {
        resigned = await repository.refreshOnlineMetadata();
      } catch (err) {
        // Other replicas on the same database kept taking the next versions, each try (ImageRepository
        // reads again and retries): their snapshot and timestamp serve this replica's clients too.
        if (!(err instanceof PublishConflictError)) throw err;
        log('snapshot/timestamp were re-signed by another server on the same database meanwhile');
        return;
      }
      if (resigned.length > 0) log(`re-signed ${resigned.join(' and ')} before expiry`);
      // An append that failed after its publication was stored: retried here, not only at the next start.
      await transparencyLog?.retryIfBehind();
    },
    warn,
  );
  const stopResigning = resigning.every(options.refreshIntervalMs ?? 60_000);
  const expiry = watchExpiry(storage, clock, warn, { intervalMs: options.expiryCheckMs });
  const firstExpiryCheck = expiry.checkNow(); // at start too: an expired root should not wait a period to be said
  const { port } = server.address() as AddressInfo;
  return {
    url: serverUrl(options.host ?? '127.0.0.1', port, options.tls !== undefined),
    repository,
    storage,
    resignStatus: () => resigning.status,
    checkResigning: () => resigning.runOnce(),
    expiry,
    transparencyLog,
    reloadTls: () => reloadServerTls(server, options.tls, warn),
    close: async () => {
      stopResigning();
      expiry.stop();
      await firstExpiryCheck;
      const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      server.closeAllConnections(); // keep-alive clients must not hold the shutdown open
      await closed;
      await transparencyLog?.log.close();
      await storage.close();
      releaseFolder();
    },
  };
}
