// Starting a caching gateway: its cache folder (held by one process), the HTTP server under its
// limits, and prefetch. Used by `uptane gateway serve`, the tests and the benchmarks (port 0).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenHttp, serverUrl } from '../shared/server/http-server.js';
import { claimServerFolder } from '../shared/server/server-folder.js';
import { reloadServerTls, type TlsReloadResult, type TlsServerConfig } from '../shared/server/tls.js';
import { Gateway, type GatewayOptions } from './gateway.js';
import { campaignSource, Prefetcher, prefetchListSource, type PrefetchSource } from './prefetch.js';
import { Upstream } from './upstream.js';

export interface GatewayServerOptions extends GatewayOptions {
  readonly port?: number;
  readonly host?: string;
  readonly tls?: TlsServerConfig | undefined;
  /** Files of image paths to bring in before vehicles ask (prefetch.ts). */
  readonly prefetchLists?: readonly string[];
  /** An operator token of scope `read`: the images of the Director's running campaigns are brought in. */
  readonly prefetchToken?: string | undefined;
  /** How often prefetch looks again (default 5 minutes). */
  readonly prefetchIntervalMs?: number;
}

export interface RunningGateway {
  readonly url: string;
  readonly gateway: Gateway;
  /** Undefined when no prefetch source was given. */
  readonly prefetcher: Prefetcher | undefined;
  reloadTls(): TlsReloadResult;
  close(): Promise<void>;
}

export async function startGateway(options: GatewayServerOptions): Promise<RunningGateway> {
  const releaseFolder = claimServerFolder(options.cacheDir, 'uptane gateway serve');
  const log = options.log ?? (() => undefined);
  let gateway: Gateway | undefined;
  let server: Server;
  let operatorApi: Upstream | undefined;
  try {
    gateway = new Gateway(options);
    server = await listenHttp(gateway.handler(), { port: options.port, host: options.host, limits: gateway.limits.server, tls: options.tls });
  } catch (err) {
    gateway?.close();
    releaseFolder();
    throw err;
  }
  const sources: PrefetchSource[] = (options.prefetchLists ?? []).map(prefetchListSource);
  if (options.prefetchToken !== undefined) {
    operatorApi = new Upstream(options.upstreamDirector, 'Director', {
      connectTimeoutMs: gateway.limits.upstreamConnectTimeoutMs,
      idleTimeoutMs: gateway.limits.upstreamIdleTimeoutMs,
      ca: options.upstreamCa,
      maxSockets: 2,
    });
    sources.push(campaignSource(operatorApi, options.prefetchToken));
  }
  const prefetcher = sources.length === 0 ? undefined : new Prefetcher(gateway, sources, log);
  prefetcher?.start(options.prefetchIntervalMs ?? 5 * 60_000);
  const { port } = server.address() as AddressInfo;
  const running = gateway;
  return {
    url: serverUrl(options.host ?? '127.0.0.1', port, options.tls !== undefined),
    gateway: running,
    prefetcher,
    reloadTls: () => reloadServerTls(server, options.tls, log),
    close: async () => {
      prefetcher?.stop();
      const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      server.closeAllConnections();
      await closed;
      running.close();
      operatorApi?.close();
      releaseFolder();
    },
  };
}
