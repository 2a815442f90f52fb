// Starting an Image repository: data directory layout, online keys, database, and the timer that
// keeps snapshot and timestamp from expiring. Used by the CLI and by tests (port 0).
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ThrottleOptions } from '../shared/auth-throttle.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { loadOnlineKeys } from '../shared/online-keys.js';
import { createApp, serveMetadata } from './app.js';
import { BlobStore } from './blob-store.js';
import { ImageRepository, type ImageRepoConfig } from './repository.js';
import { ImageRepoStorage } from './storage.js';

export interface ImageServerOptions {
  readonly dataDir: string;
  readonly port?: number;
  readonly host?: string;
  readonly clock?: Clock;
  readonly config?: Partial<ImageRepoConfig>;
  /** How often to check whether snapshot/timestamp need re-signing. */
  readonly refreshIntervalMs?: number;
  readonly log?: (line: string) => void;
  /** Failed uploader authentications allowed per client address (docs/threat-model.md HR-10). */
  readonly authThrottle?: Partial<ThrottleOptions>;
}

export interface RunningImageServer {
  readonly url: string;
  readonly repository: ImageRepository;
  readonly storage: ImageRepoStorage;
  close(): Promise<void>;
}

export function openImageRepository(dataDir: string, clock: Clock, config?: Partial<ImageRepoConfig>) {
  mkdirSync(dataDir, { recursive: true });
  const storage = new ImageRepoStorage(join(dataDir, 'image-repo.sqlite'));
  const blobs = new BlobStore(join(dataDir, 'blobs'));
  const keys = loadOnlineKeys(join(dataDir, 'keys'), ['timestamp', 'snapshot'], 'image');
  return { storage, repository: new ImageRepository(storage, blobs, keys, clock, config) };
}

export async function startImageServer(options: ImageServerOptions): Promise<RunningImageServer> {
  const clock = options.clock ?? systemClock;
  const { storage, repository } = openImageRepository(options.dataDir, clock, options.config);
  const app = createApp({ repository, storage, log: options.log, clock, authThrottle: options.authThrottle });
  // Metadata GETs are answered before express's router (issue 7, bench figure 2).
  const server: Server = await new Promise((resolve, reject) => {
    const s = createServer((req, res) => {
      if (!serveMetadata(repository, req, res)) app(req, res);
    });
    s.once('error', reject);
    s.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve(s));
  });
  server.requestTimeout = 10 * 60 * 1000; // image uploads can be large; idle sockets still time out
  server.headersTimeout = 30_000;
  const timer = setInterval(() => {
    const resigned = repository.refreshOnlineMetadata();
    if (resigned.length > 0) options.log?.(`re-signed ${resigned.join(' and ')} before expiry`);
  }, options.refreshIntervalMs ?? 60_000);
  timer.unref();
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    repository,
    storage,
    close: async () => {
      clearInterval(timer);
      const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      server.closeAllConnections(); // keep-alive clients must not hold the shutdown open
      await closed;
      storage.close();
    },
  };
}
