// A malicious caching gateway (docs/gateway.md "Trust", docs/threat-model.md GW1-GW5): the real
// gateway (gateway/server.ts) behind a front that its owner controls. The front forwards every
// request to the real gateway, keeps a copy of every metadata answer it passes (the Image
// repository's and each vehicle's Director answers: a gateway sees them all), and, by the rules an
// attack sets, serves something else instead: a replayed copy, the genuine answer rewritten, or a
// body that never ends. It holds no key, as a real gateway holds none.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../../gateway/server.js';

/** What the malicious gateway does with one request instead of passing the genuine answer. */
export type GatewayMove =
  /** These bytes, without asking the real gateway. */
  | { readonly kind: 'serve'; readonly bytes: Buffer }
  /** The genuine answer, rewritten. */
  | { readonly kind: 'rewrite'; readonly transform: (genuine: Buffer) => Buffer }
  /** 200 with no length, then bytes for as long as the vehicle reads. */
  | { readonly kind: 'endless' };

/** Decides a move for a request path (`/metadata/...`, `/targets/...`, `/vehicle/...`); undefined passes it through. */
export type GatewayRule = (path: string) => GatewayMove | undefined;

export interface MaliciousGateway {
  /** The address vehicles use as both their Image repository and their Director. */
  readonly url: string;
  /** The real gateway behind the front (its cache on disk is the owner's too). */
  readonly real: RunningGateway;
  /** Metadata answers passed so far, by request path (the last one of each path). */
  readonly seen: Map<string, Buffer>;
  /** The owner's rules, first match wins; emptied, the gateway is honest again. */
  readonly rules: GatewayRule[];
  close(): Promise<void>;
}

/** Headers of one connection only, never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'upgrade']);

function forward(target: string, req: IncomingMessage): Promise<IncomingMessage> {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  // The copies kept for replays are the stored bytes, never a coding of them.
  headers['accept-encoding'] = 'identity';
  return new Promise((resolve, reject) => {
    const out = request(`${target}${req.url ?? '/'}`, { method: req.method, headers }, resolve);
    out.on('error', reject);
    req.pipe(out);
  });
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function endless(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  const pump = (): void => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump);
  };
  pump();
}

function answerHeaders(answer: IncomingMessage, length?: number): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'content-length') headers[name] = value;
  if (length !== undefined) headers['content-length'] = length;
  return headers;
}

async function handle(gateway: string, rules: readonly GatewayRule[], seen: Map<string, Buffer>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0]!;
  const move = rules.map((rule) => rule(path)).find((m) => m !== undefined);
  if (move?.kind === 'endless') return endless(res);
  if (move?.kind === 'serve') {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': move.bytes.length }).end(move.bytes);
    return;
  }
  const answer = await forward(gateway, req);
  const metadata = path.includes('/metadata/');
  if (move === undefined && !metadata) {
    res.writeHead(answer.statusCode ?? 502, answerHeaders(answer, Number(answer.headers['content-length']) || undefined));
    answer.pipe(res);
    return;
  }
  const genuine = await readAll(answer);
  if (metadata && answer.statusCode === 200) seen.set(path, genuine);
  const body = move?.kind === 'rewrite' ? move.transform(genuine) : genuine;
  res.writeHead(answer.statusCode ?? 502, answerHeaders(answer, body.length)).end(body);
}

/**
 * Starts the real gateway in front of `upstreamImage` and `upstreamDirector`, in a folder of its own,
 * and the owner's front before it.
 */
export async function startMaliciousGateway(upstreamImage: string, upstreamDirector: string): Promise<MaliciousGateway> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'uptane-malicious-gateway-'));
  // Every metadata request revalidates upstream: the attack scene's clock stands still.
  const real = await startGateway({ upstreamImage, upstreamDirector, cacheDir, limits: { metadataFreshMs: 0 } });
  const seen = new Map<string, Buffer>();
  const rules: GatewayRule[] = [];
  const server: Server = createServer((req, res) => {
    handle(real.url, rules, seen, req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    real,
    seen,
    rules,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await real.close();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}
