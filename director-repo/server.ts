// Starting a Director: data directory layout, online keys, inventory database, the Image repository
// client, and the HTTP server. Used by the CLI and by tests (port 0).
import type { ImageDeltaConfig } from './image-deltas.js';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ThrottleOptions } from '../shared/server/auth-throttle.js';
import { BackgroundTask, type BackgroundStatus } from '../shared/server/background-task.js';
import { systemClock, type Clock } from '../shared/core/clock.js';
import { MissingTrustedRootError } from '../shared/core/errors.js';
import { DEFAULT_HTTP_SERVER_LIMITS, listenHttp, serverUrl, type HttpServerLimits } from '../shared/server/http-server.js';
import { reloadServerTls, type TlsReloadResult, type TlsServerConfig } from '../shared/server/tls.js';
import { loadOnlineKeys, loadPendingOnlineKeys, OnlineKeyRing } from '../shared/server/online-keys.js';
import { claimServerFolder } from '../shared/server/server-folder.js';
import { FileMetadataStore } from '../shared/client/metadata-store.js';
import { createHandler } from './app.js';
import { startDirectorAlerts, type DirectorAlertOptions, type DirectorAlerts } from './alerts/director-alerts.js';
import type { DashboardEventOptions } from './dashboard/events.js';
import { parsePublicOrigin } from './dashboard/ui-session.js';
import { FleetOverview, type FleetOverviewOptions } from './dashboard/fleet-overview.js';
import type { Campaigns } from './campaigns.js';
import { composeDirector, type DirectorOptions, type DirectorServices } from './director.js';
import { ImageRepositoryClient, type ImageCatalog } from './image-catalog.js';
import type { DirectorStorage } from './store/director-store.js';
import type { Lease } from './store/replicas.js';
import { openDirectorStore, parseDirectorDatabase } from './store/open-store.js';
import { loadSessionSecret, SESSION_SECRET_FILE } from './session-secret.js';
import { DEFAULT_IMAGE_URL_LIFETIME_SECONDS, directorReadUrl } from './services/image-urls.js';
import type { PrivateKey } from '../shared/core/crypto/keys.js';
import { DEFAULT_VEHICLE_METADATA_CONFIG, DIRECTOR_SIGNING_ROLES, type VehicleMetadataConfig } from './vehicle-metadata.js';
import { ServerMetrics } from '../shared/server/metrics.js';
import type { Observability, ObservabilityOptions } from '../shared/server/observability.js';
import { silentLogger } from '../shared/server/request-log.js';
import { addDirectorMetrics } from './metrics.js';
import type { ClientTlsConfig } from '../shared/client/tls-client.js';
import { startDirectorMqtt, type DirectorMqttOptions, type RunningDirectorMqtt } from './mqtt/director-mqtt.js';
import type { LogPublisher, ServerLogConfig } from '../shared/transparency/server-log.js';
import { openDirectorLog } from './transparency-log.js';

/** Largest request body (manifests, registrations) the Director reads; a compressed manifest's inflated bytes too. */
const MAX_BODY_BYTES = 1_000_000;

export interface DirectorServerOptions {
  readonly dataDir: string;
  /** Image deltas: the largest image offered one, the folder's byte budget (director-repo/image-deltas.ts). */
  readonly deltas?: Partial<ImageDeltaConfig>;
  /**
   * Where the Director's state is kept (store/open-store.ts): `<dataDir>/director.sqlite` when absent.
   * A postgres:// URL lets several Directors (replicas) serve one fleet: they share the database and
   * the data folder (docs/ARCHITECTURE.md "Replicas").
   */
  readonly database?: string;
  /** Base URL of the Image repository the Director reads as a verifying client. */
  readonly imageRepoUrl: string;
  /** The Image repository's trusted root, needed on first start (later it is kept in the data folder). */
  readonly imageRootFile?: string;
  readonly port?: number;
  readonly host?: string;
  readonly clock?: Clock;
  readonly metadata?: Partial<VehicleMetadataConfig>;
  /** Replaces the Image repository client (tests of the Director alone). */
  readonly images?: ImageCatalog;
  readonly log?: (line: string) => void;
  /**
   * How often running campaigns are re-evaluated (soak times, schedules); a failed round is retried at
   * the next. With replicas, only the holder of the lease runs rounds; the others try for the lease
   * at this pace, so a dead holder is replaced within about one period.
   */
  readonly campaignTickMs?: number;
  /** With replicas: how often the lease holder prunes expired signed-request nonces (DEFAULT_NONCE_PRUNE_MS). */
  readonly noncePruneMs?: number;
  /** What each connection is allowed; DEFAULT_DIRECTOR_LIMITS by default (docs/threat-model.md HR-2). */
  readonly limits?: Partial<HttpServerLimits>;
  /** Signed vehicle requests: accepted clock skew, nonces remembered per key (tests set them small). */
  readonly vehicleAuth?: Pick<DirectorOptions, 'requestSkewMs' | 'maxSignedNoncesPerKey'>;
  /** Failed operator authentications allowed per client address (docs/threat-model.md HR-10). */
  readonly authThrottle?: Partial<ThrottleOptions>;
  /** Base URL of the signed download URLs vehicles get (a CDN with the Image repository's paths); the Image repository's by default. */
  readonly imageDownloadUrl?: string;
  /** Lifetime of a signed download URL, in seconds (DEFAULT_IMAGE_URL_LIFETIME_SECONDS by default). */
  readonly imageUrlLifetimeSeconds?: number;
  /**
   * Serve HTTPS with these files (shared/server/tls.ts); with `clientCaFile`, vehicles present client
   * certificates that the vehicle routes check (peerCertificateOf). Plain HTTP when absent.
   */
  readonly tls?: TlsServerConfig;
  /** The CA (PEM text) the Image repository's TLS certificate must chain to (`--image-repo-ca`); then it is read over https:// only. */
  readonly imageRepoTls?: ClientTlsConfig;
  /**
   * After a root that lists a rotated online key is published, how long the replaced key still signs
   * beside the new one (DEFAULT_KEY_HANDOVER_MS; docs/decisions.md "Online key rotation").
   */
  readonly keyHandoverMs?: number;
  /** Webhook alerts and the expiry guardian's timer (alerts/director-alerts.ts; README "Expiry and alerts"). */
  readonly alerts?: DirectorAlertOptions;
  /** /metrics, /healthz, /readyz, request ids and request log lines (shared/server/observability.ts); `false` leaves them out. */
  readonly observability?: ObservabilityOptions | false;
  /**
   * The web dashboard's stale period, overview cache, event stream limits, and how often the fleet's
   * states are recorded for the overview's chart (snapshotMs, default 5 minutes; dashboard/*.ts).
   */
  readonly dashboard?: FleetOverviewOptions & DashboardEventOptions & { readonly snapshotMs?: number };
  /**
   * The dashboard's address as operators' browsers see it (`--public-origin https://director.example.com`):
   * a write with the session cookie must come from a page of it. Absent: the Host of each request
   * (docs/dashboard.md says when that is not enough).
   */
  readonly publicOrigin?: string;
  /** Also answer vehicles over MQTT through this broker (director-repo/mqtt/, docs/transport.md "MQTT"). */
  readonly mqtt?: Omit<DirectorMqttOptions, 'log'>;
  /**
   * Keep a transparency log of every root and vehicle targets version signed, served at /log
   * (`--log-key`; docs/transparency-log.md "Server routes"). No log when absent.
   */
  readonly transparencyLog?: ServerLogConfig;
}

export interface RunningDirector {
  readonly url: string;
  /** The Director's services; campaigns is services.campaigns, whose rounds this server runs. */
  readonly services: DirectorServices;
  readonly campaigns: Campaigns;
  readonly storage: DirectorStorage;
  /** Its alerts: `alerts.hub.subscribe(fn)` hears each new one; checkNow() and deliverNow() run a round as the timers do. */
  readonly alerts: DirectorAlerts;
  /** How the background campaign rounds fare (docs/threat-model.md HR-8). */
  campaignTickStatus(): BackgroundStatus;
  /** Re-reads the TLS files for new connections, keeping open ones; a bad file keeps the old ones (the CLI calls it on SIGHUP). */
  reloadTls(): TlsReloadResult;
  /** Runs one campaign round now, as the timer does (never rejects; see campaignTickStatus). */
  tickCampaigns(): Promise<void>;
  /**
   * Campaign rounds this server ran. With replicas a round runs only on the lease holder; the others'
   * rounds end at once and are not counted.
   */
  campaignRoundsRun(): number;
  /** The transparency log's publisher, when the Director keeps a log. */
  readonly transparencyLog?: LogPublisher;
  close(): Promise<void>;
}

/**
 * The Director's limits on its clients. Operator requests may wait on the Image repository, so a
 * connection may sit idle longer than on the Image repository before it is closed.
 */
export const DEFAULT_DIRECTOR_LIMITS: HttpServerLimits = { ...DEFAULT_HTTP_SERVER_LIMITS, idleTimeoutMs: 60_000 };

/**
 * The Director's online keys in <data-dir>/keys: its metadata roles, and the key that signs vehicles'
 * download URLs (docs/signed-urls.md), kept apart so that neither can stand in for the other.
 */
const ONLINE_KEY_NAMES = ['targets', 'snapshot', 'timestamp', 'url-signing'] as const;
/** The Director's secrets in its key folder besides the online keys: the replicas' session secret. */
const OTHER_KEY_FILES = [SESSION_SECRET_FILE];

/** The Director's URL-signing key, created as on first start when missing (`uptane director url-signing-key`). */
export function loadUrlSigningKey(dataDir: string): PrivateKey {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return loadOnlineKeys(join(dataDir, 'keys'), ONLINE_KEY_NAMES, 'director', OTHER_KEY_FILES)['url-signing'];
}

/** How often the lease holder prunes expired signed-request nonces; a round removes at most NONCE_PRUNE_BATCH * NONCE_PRUNE_BATCHES. */
export const DEFAULT_NONCE_PRUNE_MS = 60_000;
const NONCE_PRUNE_BATCH = 5_000;
const NONCE_PRUNE_BATCHES = 100;

/** The subfolders of a Director data folder, owner-only like the folder (docs/threat-model.md HR-9h). */
const SUBFOLDERS = ['keys', 'image-repo-metadata', 'encrypted-images', 'deltas'];

/**
 * The Director's database for a data folder, for the server and for commands that need no server
 * (operator tokens): `<dataDir>/director.sqlite` unless `database` names another (store/open-store.ts).
 */
export function openDirectorStorage(dataDir: string, database?: string): Promise<DirectorStorage> {
  return openDirectorStore(dataDir, database);
}

export async function openDirector(
  options: DirectorServerOptions,
): Promise<{ services: DirectorServices; storage: DirectorStorage; onlineKeys: OnlineKeyRing<(typeof DIRECTOR_SIGNING_ROLES)[number]>; images: ImageCatalog }> {
  const clock = options.clock ?? systemClock;
  // Keys first: a refused key folder leaves no database opened.
  const keyDir = join(options.dataDir, 'keys');
  const { 'url-signing': urlSigningKey, ...signingKeys } = loadOnlineKeys(keyDir, ONLINE_KEY_NAMES, 'director', OTHER_KEY_FILES);
  // Replicas accept each other's session tokens; one process alone keeps a secret of its own
  // (vehicle-sessions.ts, docs/decisions.md "Replicas").
  const replicated = parseDirectorDatabase(options.dataDir, options.database).kind === 'postgres';
  const sessionSecret = replicated ? loadSessionSecret(keyDir) : undefined;
  // Only the metadata keys rotate through a root; the URL-signing key is rotated by restarting the Image repository with both (docs/signed-urls.md).
  const pending = loadPendingOnlineKeys(keyDir, DIRECTOR_SIGNING_ROLES, [urlSigningKey, ...Object.values(signingKeys)], 'director');
  const onlineKeys = new OnlineKeyRing(DIRECTOR_SIGNING_ROLES, signingKeys, pending, { keyDir, repository: 'director', handoverMs: options.keyHandoverMs });
  const lifetimeSeconds = options.imageUrlLifetimeSeconds ?? DEFAULT_IMAGE_URL_LIFETIME_SECONDS;
  // Before the database too: a missing Image repository root leaves no connection (a pool) open.
  const images = options.images ?? imageClient(options, clock, directorReadUrl(urlSigningKey, clock, lifetimeSeconds));
  const storage = await openDirectorStore(options.dataDir, options.database, { log: options.log });
  const imageUrls = { key: urlSigningKey, baseUrl: options.imageDownloadUrl ?? options.imageRepoUrl, lifetimeSeconds };
  // Ciphertexts of encrypted images, owner-only like their keys in the database (docs/image-encryption.md).
  const encryptedImagesDir = join(options.dataDir, 'encrypted-images');
  // With a client CA every vehicle route wants the certificate that names its vehicle (services/vehicle-auth.ts).
  const requireClientCertificate = options.tls?.clientCaFile !== undefined;
  const services = composeDirector(storage, {
    images,
    onlineKeys,
    clock,
    metadata: options.metadata,
    imageUrls,
    encryptedImagesDir,
    // Image deltas, made once per (from, to) pair and bounded (image-deltas.ts).
    deltasDir: join(options.dataDir, 'deltas'),
    deltas: options.deltas,
    requireClientCertificate,
    sessionSecret,
    ...options.vehicleAuth,
  });
  return { storage, services, onlineKeys, images };
}

/** The Director's metrics, readiness checks and request log, unless the options leave them out. */
function directorObservability(options: DirectorServerOptions, opened: Awaited<ReturnType<typeof openDirector>>): Observability | undefined {
  if (options.observability === false) return undefined;
  const { storage, services, onlineKeys } = opened;
  const metrics = new ServerMetrics('director', options.observability?.metricsAccess);
  const lifetimes = { ...DEFAULT_VEHICLE_METADATA_CONFIG, ...options.metadata };
  addDirectorMetrics(metrics, { storage, intake: services.intake, clock: options.clock ?? systemClock, lifetimes });
  return {
    metrics,
    logger: options.observability?.logger ?? silentLogger,
    readiness: {
      // A read of a table, not SELECT 1: a database whose schema is gone is not one the Director can serve from.
      database: () => storage.roots.latestRoot(),
      signingKeys: () => DIRECTOR_SIGNING_ROLES.map((role) => onlineKeys.key(role)),
    },
  };
}

function imageClient(options: DirectorServerOptions, clock: Clock, requestUrl: (url: string) => string): ImageRepositoryClient {
  const metadataDir = join(options.dataDir, 'image-repo-metadata');
  const store = new FileMetadataStore(metadataDir);
  if (store.load('root') === undefined) {
    if (options.imageRootFile === undefined) {
      throw new MissingTrustedRootError('the Director needs the Image repository root on first start: pass --image-root <1.root.json>', {
        repository: 'image',
      });
    }
    store.persist('root', readFileSync(options.imageRootFile));
  }
  return new ImageRepositoryClient({ url: options.imageRepoUrl, metadataDir, clock, requestUrl, tls: options.imageRepoTls });
}

export async function startDirector(options: DirectorServerOptions): Promise<RunningDirector> {
  // On SQLite, one serving process per data folder: its caches assume they see every write (HR-9i).
  // Replicas on PostgreSQL share it (keys) and keep nothing in memory that another's write makes stale.
  const replicated = parseDirectorDatabase(options.dataDir, options.database).kind === 'postgres';
  // Checked before anything is opened: a wrong address would refuse every dashboard write.
  const publicOrigin = options.publicOrigin === undefined ? undefined : parsePublicOrigin(options.publicOrigin);
  const releaseFolder = claimServerFolder(options.dataDir, 'uptane director serve', SUBFOLDERS, { shared: replicated });
  let opened: Awaited<ReturnType<typeof openDirector>> | undefined;
  let server: Server;
  let alerts: DirectorAlerts | undefined;
  let fleetOverview: FleetOverview;
  let mqtt: RunningDirectorMqtt | undefined;
  let transparencyLog: LogPublisher | undefined;
  try {
    opened = await openDirector(options);
    const completed = await opened.services.root.completeInterruptedSwitch();
    if (completed.length > 0) options.log?.(`switched to the pending ${completed.join(', ')} key(s) the published root lists (the move of the key files had been interrupted)`);
    for (const dir of SUBFOLDERS) {
      if (existsSync(join(options.dataDir, dir))) chmodSync(join(options.dataDir, dir), 0o700); // created just now, or tightened (HR-9h)
    }
    const { services, storage } = opened;
    if (options.transparencyLog !== undefined) {
      // Before listening: every root and vehicle targets stored so far is in the log before the first request.
      const { publisher, caughtUp } = await openDirectorLog(options.dataDir, storage, services, options.transparencyLog, options.clock ?? systemClock, options.log ?? ((line: string) => console.error(line)));
      transparencyLog = publisher;
      if (caughtUp > 0) options.log?.(`transparency log: appended ${caughtUp} signed version${caughtUp === 1 ? '' : 's'} it lacked`);
    }
    fleetOverview = new FleetOverview(storage.dashboard, options.clock ?? systemClock, options.dashboard);
    // The Image repository's roles as the Director's client verified them (imageClient's folder).
    const imageMetadata = new FileMetadataStore(join(options.dataDir, 'image-repo-metadata'));
    alerts = startDirectorAlerts({
      storage,
      services,
      clock: options.clock ?? systemClock,
      options: options.alerts ?? {},
      imageMetadata: (role) => imageMetadata.load(role),
      refreshImageMetadata: opened.images.refreshMetadata?.bind(opened.images),
      metadata: options.metadata,
      warn: options.log ?? ((line: string) => console.error(line)),
    });
    const handler = createHandler({
      repositoryHealth: alerts.health,
      services,
      storage,
      observability: directorObservability(options, opened),
      log: options.log,
      maxBodyBytes: MAX_BODY_BYTES,
      clock: options.clock ?? systemClock,
      authThrottle: options.authThrottle,
      // Replicas accept each other's dashboard cookies, as their vehicle sessions (session-secret.ts).
      uiSessionSecret: replicated ? loadSessionSecret(join(options.dataDir, 'keys')) : undefined,
      dashboard: options.dashboard,
      fleetOverview,
      publicOrigin,
      onRequestFailure: alerts.requestFailed,
      transparencyLog: transparencyLog?.log,
    });
    server = await listenHttp(handler, { port: options.port, host: options.host, limits: { ...DEFAULT_DIRECTOR_LIMITS, ...options.limits }, tls: options.tls });
    if (options.mqtt !== undefined) {
      try {
        mqtt = await startDirectorMqtt(opened.services, { ...options.mqtt, log: options.log });
      } catch (err) {
        server.close();
        throw err;
      }
    }
  } catch (err) {
    await alerts?.stop();
    await transparencyLog?.log.close();
    await opened?.services.intake.close();
    await opened?.storage.close();
    releaseFolder();
    throw err;
  }
  const { services, storage } = opened;
  const { campaigns } = services;
  const warn = options.log ?? ((line: string) => console.error(line));
  // With replicas, rounds run on one of them at a time: the holder of this lease (store/replicas.ts).
  const roundsLease = storage.lease?.('campaign-rounds');
  let roundsRun = 0;
  // Soak times and schedules move campaigns on even when no vehicle reports.
  const campaignRounds = new BackgroundTask(
    'moving campaigns on',
    async () => {
      if (roundsLease !== undefined && !(await roundsLease.held())) return;
      roundsRun++;
      await campaigns.tick();
      // An append that failed after its unit of work committed: retried here, not only at the next start.
      await transparencyLog?.retryIfBehind();
    },
    warn,
  );
  const stopRounds = campaignRounds.every(options.campaignTickMs ?? 10_000);
  const stopPruning = prunePeriodically(storage, roundsLease, options, warn);
  // The overview's chart: the fleet's states, recorded by one replica (the rounds' lease holder).
  const snapshots = new BackgroundTask(
    'recording fleet snapshots for the dashboard',
    async () => {
      if (roundsLease !== undefined && !(await roundsLease.held())) return;
      await fleetOverview.snapshot();
    },
    warn,
  );
  const stopSnapshots = snapshots.every(options.dashboard?.snapshotMs ?? 5 * 60_000);
  const { port } = server.address() as AddressInfo;
  return {
    url: serverUrl(options.host ?? '127.0.0.1', port, options.tls !== undefined),
    services,
    campaigns,
    storage,
    alerts: alerts!,
    campaignTickStatus: () => campaignRounds.status,
    tickCampaigns: () => campaignRounds.runOnce(),
    campaignRoundsRun: () => roundsRun,
    transparencyLog,
    reloadTls: () => reloadServerTls(server, options.tls, options.log ?? ((line) => console.error(line))),
    close: async () => {
      await mqtt?.stop();
      stopRounds();
      stopPruning();
      await alerts!.stop();
      stopSnapshots();
      const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      server.closeAllConnections();
      await closed;
      // The verification threads end with the server, so nothing of it outlives close().
      await services.intake.close();
      // A delta being made writes into the data folder and marks targets stale: it ends first.
      await services.deltas.idle();
      await transparencyLog?.log.close();
      await storage.close();
      releaseFolder();
    },
  };
}

/**
 * With replicas: expired signed-request nonces leave the shared record, in bounded batches, on the
 * lease holder only (store/replicas.ts). Nothing to do on SQLite, whose nonces are in memory.
 */
function prunePeriodically(storage: DirectorStorage, lease: Lease | undefined, options: DirectorServerOptions, warn: (line: string) => void): () => void {
  const nonces = storage.signedRequestNonces;
  if (nonces === undefined) return () => undefined;
  const clock = options.clock ?? systemClock;
  const pruning = new BackgroundTask(
    'pruning expired signed-request nonces',
    async () => {
      if (lease !== undefined && !(await lease.held())) return;
      const now = clock.now().getTime();
      for (let batch = 0; batch < NONCE_PRUNE_BATCHES; batch++) {
        if ((await nonces.prune(now, NONCE_PRUNE_BATCH)) < NONCE_PRUNE_BATCH) return;
      }
    },
    warn,
  );
  return pruning.every(options.noncePruneMs ?? DEFAULT_NONCE_PRUNE_MS);
}
