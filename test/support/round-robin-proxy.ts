// A load balancer for tests of replicas: an HTTP proxy on loopback that sends each request to the
// next backend in turn, skipping a backend that refuses the connection (a killed process) as
// ordinary load balancers do. A backend that dies with a request in flight gives the client what a
// TCP balancer would: its connection closed, no answer (never a made-up status). Every exchange
// that got an answer is reported with the request body, so a test knows what was acknowledged.
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync, inflateSync, brotliDecompressSync } from 'node:zlib';

export interface Exchange {
  readonly method: string;
  readonly path: string;
  /** The request body as the server read it (decompressed when it came with a Content-Encoding). */
  readonly body: Buffer;
  readonly status: number;
  /** The backend that answered. */
  readonly backend: string;
}

export interface RoundRobinProxy {
  readonly url: string;
  /** Requests that found every backend refusing (the client got its connection closed). */
  readonly refusedEverywhere: number;
  /** Requests whose backend failed after taking them (killed midway): the client's connection was closed. */
  readonly droppedMidway: number;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection']);

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function decoded(body: Buffer, encoding: string | undefined): Buffer {
  switch (encoding) {
    case 'gzip':
      return gunzipSync(body);
    case 'deflate':
      return inflateSync(body);
    case 'br':
      return brotliDecompressSync(body);
    default:
      return body;
  }
}

/** `backends`: base URLs (http://127.0.0.1:port), read at each request so a test may change the list. */
export async function startRoundRobinProxy(backends: () => readonly string[], onExchange: (exchange: Exchange) => void = () => undefined): Promise<RoundRobinProxy> {
  let next = 0;
  let refusedEverywhere = 0;
  let droppedMidway = 0;
  const forward = (backend: string, incoming: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>((resolve, reject) => {
      const target = new URL(backend);
      const headers = Object.fromEntries(Object.entries(incoming.headers).filter(([name]) => !HOP_BY_HOP.has(name)));
      // A connection per request: a killed backend is then found at once (refused), never through a stale pooled socket.
      const outgoing = httpRequest({ host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: { ...headers, 'content-length': String(body.length) }, agent: false }, (response) => {
        readAll(response).then((bytes) => resolve({ status: response.statusCode ?? 502, headers: response.headers, body: bytes }), reject);
      });
      outgoing.on('error', reject);
      outgoing.end(body);
    });

  const server: Server = createServer((incoming, answer) => {
    void (async () => {
      const body = await readAll(incoming);
      const live = backends();
      // Each request walks the list once from its own starting point (others move `next` meanwhile).
      const start = next++;
      for (let tried = 0; tried < live.length; tried++) {
        const backend = live[(start + tried) % live.length]!;
        try {
          const response = await forward(backend, incoming, body);
          const headers = Object.fromEntries(Object.entries(response.headers).filter(([name]) => !HOP_BY_HOP.has(name)));
          answer.writeHead(response.status, { ...headers, 'content-length': String(response.body.length) });
          answer.end(response.body);
          onExchange({ method: incoming.method ?? '', path: incoming.url ?? '', body: decoded(body, incoming.headers['content-encoding']), status: response.status, backend });
          return;
        } catch (err) {
          // Refused: nothing reached that backend, the next may take it. Anything else (reset midway):
          // the backend may have acted on it, so the client is told nothing, as by a dropped connection.
          if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') {
            droppedMidway++;
            break;
          }
          if (tried === live.length - 1) refusedEverywhere++;
        }
      }
      answer.socket?.destroy();
    })().catch(() => answer.socket?.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    get refusedEverywhere() {
      return refusedEverywhere;
    },
    get droppedMidway() {
      return droppedMidway;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
