// Starting a Director: data directory layout, online keys, inventory database, the Image repository
// client, and the HTTP server. Used by the CLI and by tests (port 0).
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ThrottleOptions } from '../shared/auth-throttle.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { MissingTrustedRootError } from '../shared/errors.js';
import { loadOnlineKeys } from '../shared/online-keys.js';
import { FileMetadataStore } from '../shared/metadata-store.js';
import { createApp, serveVehicleManifest, serveVehicleMetadata } from './app.js';
import { CampaignStorage } from './campaign-storage.js';
import { Campaigns } from './campaigns.js';
import { Director, type DirectorOptions } from './director.js';
import { ImageRepositoryClient, type ImageCatalog } from './image-catalog.js';
import { DirectorStorage } from './storage.js';
import { VehicleMetadataSigner, type VehicleMetadataConfig } from './vehicle-metadata.js';

/** Largest request body (manifests, registrations) the Director reads. */
const MAX_BODY_BYTES = 1_000_000;

export interface DirectorServerOptions {
  readonly dataDir: string;
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
  /** How often running campaigns are re-evaluated (soak times, schedules). */
  readonly campaignTickMs?: number;
  /** Signed vehicle requests: accepted clock skew, nonces remembered per key (tests set them small). */
  readonly vehicleAuth?: Pick<DirectorOptions, 'requestSkewMs' | 'maxSignedNoncesPerKey'>;
  /** Failed operator authentications allowed per client address (docs/threat-model.md HR-10). */
  readonly authThrottle?: Partial<ThrottleOptions>;
}

export interface RunningDirector {
  readonly url: string;
  readonly campaigns: Campaigns;
  readonly director: Director;
  readonly storage: DirectorStorage;
  close(): Promise<void>;
}

/** The inventory database of a Director data folder, for commands that need no server (operator tokens). */
export function openDirectorStorage(dataDir: string): DirectorStorage {
  mkdirSync(dataDir, { recursive: true });
  return new DirectorStorage(join(dataDir, 'director.sqlite'));
}

export function openDirector(options: DirectorServerOptions): { director: Director; storage: DirectorStorage; campaigns: Campaigns } {
  const clock = options.clock ?? systemClock;
  const storage = openDirectorStorage(options.dataDir);
  const onlineKeys = loadOnlineKeys(join(options.dataDir, 'keys'), ['targets', 'snapshot', 'timestamp'], 'director');
  const signer = new VehicleMetadataSigner(storage, onlineKeys, clock, options.metadata);
  const images = options.images ?? imageClient(options, clock);
  const director = new Director({ storage, signer, images, onlineKeys, clock, ...options.vehicleAuth });
  return { storage, director, campaigns: new Campaigns(storage, new CampaignStorage(storage.db), director, clock) };
}

function imageClient(options: DirectorServerOptions, clock: Clock): ImageRepositoryClient {
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
  return new ImageRepositoryClient({ url: options.imageRepoUrl, metadataDir, clock });
}

export async function startDirector(options: DirectorServerOptions): Promise<RunningDirector> {
  const { director, storage, campaigns } = openDirector(options);
  const app = createApp({
    director,
    storage,
    campaigns,
    log: options.log,
    maxBodyBytes: MAX_BODY_BYTES,
    clock: options.clock ?? systemClock,
    authThrottle: options.authThrottle,
  });
  // What every vehicle sends on every cycle, metadata GETs and manifests, is answered before
  // express's router (issue 7, bench figures 1 and 2).
  const server: Server = await new Promise((resolve, reject) => {
    const s = createServer((req, res) => {
      if (!serveVehicleMetadata(director, req, res) && !serveVehicleManifest(director, req, res, { maxBodyBytes: MAX_BODY_BYTES, log: options.log })) app(req, res);
    });
    s.once('error', reject);
    s.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve(s));
  });
  server.headersTimeout = 30_000;
  server.requestTimeout = 60_000;
  // Soak times and schedules move campaigns on even when no vehicle reports.
  const timer = setInterval(() => campaigns.tick(), options.campaignTickMs ?? 10_000);
  timer.unref();
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    director,
    storage,
    campaigns,
    close: async () => {
      clearInterval(timer);
      const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      server.closeAllConnections();
      await closed;
      storage.close();
    },
  };
}
