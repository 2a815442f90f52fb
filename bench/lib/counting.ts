// Instruments for counting what a check costs: signature verifications (a counting Ed25519 backend,
// and a counter on the servers' node:crypto backend), bytes through a Fetcher, and bytes on the wire
// (a loopback TCP proxy that counts both directions, HTTP headers included).
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { nodeBackend, type Ed25519Backend, type Ed25519PublicKey } from '../../shared/core/crypto/ed25519.js';
import type { Fetcher, FetchOptions, FetchResponse } from '../../shared/client/fetcher.js';

/** Wraps a backend and counts the verifications that reach it (the cryptographic work done). */
export class CountingBackend implements Ed25519Backend {
  readonly name: Ed25519Backend['name'];
  verifications = 0;
  signatures = 0;

  constructor(private readonly inner: Ed25519Backend) {
    this.name = inner.name;
  }

  sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
    this.signatures++;
    return this.inner.sign(seed, message);
  }

  verifyChecked(publicKey: Ed25519PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
    this.verifications++;
    return this.inner.verifyChecked(publicKey, message, signature);
  }
}

/**
 * The servers import `nodeBackend` directly, so the only way to count their verifications without
 * touching product code is to wrap the method on that shared object, once, for this process.
 */
export const serverVerifications = { count: 0 };
let instrumented = false;
export function instrumentNodeBackend(): void {
  if (instrumented) return;
  instrumented = true;
  const inner = nodeBackend.verifyChecked.bind(nodeBackend);
  nodeBackend.verifyChecked = (publicKey, message, signature) => {
    serverVerifications.count++;
    return inner(publicKey, message, signature);
  };
}

/** Counts requests and body bytes a Fetcher delivers. */
export class CountingFetcher implements Fetcher {
  requests = 0;
  bodyBytes = 0;
  readonly urls: string[] = [];

  constructor(private readonly inner: Fetcher) {}

  async fetch(url: string, options: FetchOptions): Promise<FetchResponse> {
    this.requests++;
    if (this.urls.length < 64) this.urls.push(url);
    const response = await this.inner.fetch(url, options);
    const count = (n: number) => (this.bodyBytes += n);
    return {
      offset: response.offset,
      body: (async function* () {
        for await (const chunk of response.body) {
          count(chunk.length);
          yield chunk;
        }
      })(),
    };
  }
}

export interface CountingProxy {
  readonly url: string;
  /** Bytes from the client to the server and back, since the last reset. */
  readonly sent: number;
  readonly received: number;
  readonly connections: number;
  reset(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `target` that counts the bytes in each direction. */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const { hostname, port } = new URL(target);
  const counts = { sent: 0, received: 0, connections: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    counts.connections++;
    const upstream = net.connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => (counts.sent += d.length));
    upstream.on('data', (d: Buffer) => (counts.received += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    get sent() {
      return counts.sent;
    },
    get received() {
      return counts.received;
    },
    get connections() {
      return counts.connections;
    },
    reset() {
      counts.sent = 0;
      counts.received = 0;
      counts.connections = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
