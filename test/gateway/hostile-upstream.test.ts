// The gateway's limits against a repository (or the network behind it) that misbehaves: endless or
// oversized answers, a wrong image, a stall, a compressed answer it did not ask for, and hostile
// requests from the vehicles' side. Each is a typed answer (502 gateway_upstream, 404, 413, 431),
// nothing wrong is kept, and the gateway goes on serving (docs/gateway.md "Limits").
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../../gateway/server.js';
import type { GatewayLimits } from '../../gateway/limits.js';

const IMAGE = Buffer.alloc(256 * 1024, 7);
const SHA = createHash('sha256').update(IMAGE).digest('hex');
const IMAGE_PATH = `/targets/fw/${SHA}.fw.bin`;

type Behaviour = (res: ServerResponse) => void;

/** What the hostile repository does, by path; an honest answer for anything not listed. */
const behaviours = new Map<string, Behaviour>();
let upstream: Server;
let upstreamUrl: string;
const upstreamRequests: string[] = [];

function endless(res: ServerResponse, headers: Record<string, string | number> = {}): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump);
  };
  pump();
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    upstreamRequests.push(req.url ?? '');
    const behaviour = behaviours.get(req.url ?? '');
    if (behaviour !== undefined) return behaviour(res);
    if (req.url === IMAGE_PATH) return void res.writeHead(200, { 'content-length': IMAGE.length }).end(IMAGE);
    if (req.url === '/metadata/timestamp.json') return void res.writeHead(200, { 'content-length': 2, etag: '"t"' }).end('{}');
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
});

let gw: RunningGateway;
let cacheDir: string;

async function start(limits: Partial<GatewayLimits> = {}): Promise<RunningGateway> {
  cacheDir = mkdtempSync(join(tmpdir(), 'uptane-gateway-hostile-'));
  gw = await startGateway({
    upstreamImage: upstreamUrl,
    upstreamDirector: upstreamUrl,
    cacheDir,
    limits: { metadataFreshMs: 0, maxMetadataBytes: 64 * 1024, maxImageBytes: 1024 * 1024, maxDirectorAnswerBytes: 64 * 1024, upstreamConnectTimeoutMs: 1_000, upstreamIdleTimeoutMs: 500, ...limits },
  });
  return gw;
}

afterEach(async () => {
  behaviours.clear();
  upstreamRequests.length = 0;
  await gw?.close();
  rmSync(cacheDir, { recursive: true, force: true });
});

interface Answer {
  readonly status: number;
  readonly body: Buffer;
  /** The body ended short of its Content-Length (the connection was cut). */
  readonly cut: boolean;
  readonly headers: Record<string, string | string[] | undefined>;
}

function get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.url}${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = (cut: boolean) => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), cut, headers: res.headers });
      res.on('end', () => done(false));
      res.on('aborted', () => done(true));
      res.on('error', () => done(true));
    });
    req.on('error', (err) => reject(new Error(`GET ${path}: ${err.message}`)));
    req.end();
  });
}

const code = (answer: Answer) => (JSON.parse(answer.body.toString()) as { error: { code: string } }).error.code;

/** The gateway still serves an honest image and metadata. */
async function expectStillServing(): Promise<void> {
  behaviours.clear();
  const image = await get(IMAGE_PATH);
  expect(image.status).toBe(200);
  expect(image.body.equals(IMAGE)).toBe(true);
  expect((await get('/metadata/timestamp.json')).status).toBe(200);
}

describe('a hostile repository behind the gateway', () => {
  it('endless metadata is cut at the gateway\'s metadata cap: 502 gateway_upstream, nothing kept', async () => {
    await start();
    behaviours.set('/metadata/timestamp.json', (res) => endless(res));
    const answer = await get('/metadata/timestamp.json');
    expect([answer.status, code(answer)]).toEqual([502, 'gateway_upstream']);
    expect(gw.gateway.cache.has('/metadata/timestamp.json')).toBe(false);
    await expectStillServing();
  });

  it('metadata declared past the cap is refused before its body', async () => {
    await start();
    behaviours.set('/metadata/timestamp.json', (res) => void res.writeHead(200, { 'content-length': 10 * 1024 * 1024 }).end());
    expect(code(await get('/metadata/timestamp.json'))).toBe('gateway_upstream');
    await expectStillServing();
  });

  it('a kept metadata copy is served when the repository then fails; the vehicle judges its age (docs/gateway.md "Freshness")', async () => {
    await start();
    expect((await get('/metadata/timestamp.json')).status).toBe(200);
    behaviours.set('/metadata/timestamp.json', (res) => void res.writeHead(500).end());
    const stale = await get('/metadata/timestamp.json');
    expect([stale.status, stale.body.toString()]).toEqual([200, '{}']);
    expect(gw.gateway.stats().metadata.stale).toBe(1);
  });

  it('a compressed answer the gateway did not ask for is refused (it asks for identity, and keeps one coding)', async () => {
    await start();
    behaviours.set('/metadata/timestamp.json', (res) => void res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': 2 }).end('{}'));
    expect(code(await get('/metadata/timestamp.json'))).toBe('gateway_upstream');
  });

  it('an image whose bytes do not hash to its path is cut short for the vehicle reading it and never kept; the next request fetches again', async () => {
    await start();
    const wrong = Buffer.alloc(IMAGE.length, 8);
    behaviours.set(IMAGE_PATH, (res) => void res.writeHead(200, { 'content-length': wrong.length }).end(wrong));
    const answer = await get(IMAGE_PATH);
    expect(answer.cut || answer.status === 502).toBe(true);
    expect(answer.body.length).toBeLessThan(wrong.length);
    expect(gw.gateway.cache.has(IMAGE_PATH)).toBe(false);
    await expectStillServing();
    expect(upstreamRequests.filter((p) => p === IMAGE_PATH)).toHaveLength(2);
  });

  it('an image that sends more than it declared, or never ends, is cut and not kept', async () => {
    await start();
    behaviours.set(IMAGE_PATH, (res) => endless(res, { 'content-length': IMAGE.length }));
    const declaredShort = await get(IMAGE_PATH);
    expect(declaredShort.cut || declaredShort.status === 502).toBe(true);
    behaviours.set(IMAGE_PATH, (res) => endless(res));
    const noLength = await get(IMAGE_PATH);
    expect([noLength.status, code(noLength)]).toEqual([502, 'gateway_upstream']); // no length: refused before any byte
    expect(gw.gateway.cache.has(IMAGE_PATH)).toBe(false);
    await expectStillServing();
  });

  it('an image declared past the gateway\'s image cap is refused before its body', async () => {
    await start();
    behaviours.set(IMAGE_PATH, (res) => void res.writeHead(200, { 'content-length': 2 * 1024 * 1024 }).end());
    expect(code(await get(IMAGE_PATH))).toBe('gateway_upstream');
  });

  it('a repository that stalls after its headers is given up on after the idle timeout: the vehicle reading is cut, nothing kept', async () => {
    await start();
    behaviours.set(IMAGE_PATH, (res) => {
      res.writeHead(200, { 'content-length': IMAGE.length });
      res.write(IMAGE.subarray(0, 1000)); // then nothing
    });
    const answer = await get(IMAGE_PATH);
    expect(answer.cut).toBe(true);
    expect(gw.gateway.cache.has(IMAGE_PATH)).toBe(false);
    await expectStillServing();
  });

  it('a Director answer past the gateway\'s cap is cut (the status line already passed on)', async () => {
    await start();
    behaviours.set('/vehicle/metadata/targets.json', (res) => endless(res));
    const answer = await get('/vehicle/metadata/targets.json');
    expect(answer.cut).toBe(true);
    expect(answer.body.length).toBeLessThanOrEqual(64 * 1024 + 64 * 1024);
  });

  it('an unreachable Director is 502 gateway_upstream', async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'uptane-gateway-hostile-'));
    gw = await startGateway({ upstreamImage: upstreamUrl, upstreamDirector: 'http://127.0.0.1:1', cacheDir });
    const answer = await get('/vehicle/metadata/timestamp.json');
    expect([answer.status, code(answer)]).toEqual([502, 'gateway_upstream']);
  });
});

describe('hostile requests from the vehicles\' side', () => {
  it('oversized headers (431), a malformed request line (400) and a method it does not serve (404) end nothing; the gateway goes on serving', async () => {
    await start();
    const big = await new Promise<number>((resolve, reject) => {
      request(`${gw.url}/metadata/timestamp.json`, { headers: { 'x-filler': 'x'.repeat(64 * 1024) } }, (res) => resolve(res.statusCode ?? 0))
        .on('error', reject)
        .end();
    });
    expect(big).toBe(431);
    const raw = await new Promise<string>((resolve) => {
      const socket = connect(Number(new URL(gw.url).port), '127.0.0.1', () => socket.end('GARBAGE /\r\n\r\n'));
      let text = '';
      socket.on('data', (c) => (text += c.toString()));
      socket.on('close', () => resolve(text));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    const deleted = await new Promise<number>((resolve, reject) => {
      request(`${gw.url}${IMAGE_PATH}`, { method: 'DELETE' }, (res) => resolve(res.statusCode ?? 0)).on('error', reject).end();
    });
    expect(deleted).toBe(404);
    const badEscape = await get('/metadata/%E0%A4%A');
    expect(badEscape.status).toBe(400);
    await expectStillServing();
  });

  it('at the cap of distinct images being fetched, the next is 503 with Retry-After', async () => {
    await start({ maxUpstreamFills: 1 });
    behaviours.set(IMAGE_PATH, (res) => {
      res.writeHead(200, { 'content-length': IMAGE.length });
      res.write(IMAGE.subarray(0, 10)); // holds its fill open until the idle timeout
    });
    const first = get(IMAGE_PATH);
    for (let i = 0; i < 200 && !upstreamRequests.includes(IMAGE_PATH); i++) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 20)); // its answer's headers are on their way to the gateway
    const other = await get(`/targets/fw/${'a'.repeat(64)}.other.bin`);
    expect([other.status, code(other), other.headers['retry-after']]).toEqual([503, 'server_busy', '5']);
    await first;
  });
});
