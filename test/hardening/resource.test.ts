// Both servers as separate processes (the built CLI), each under a few hundred hostile clients at
// once: stalled readers of a large image, slow and stalled writers of bodies, connections that send
// nothing, idle keep-alives (docs/threat-model.md HR-2, HR-3). Asserted are outcomes, not timings:
// the server's resident memory stays under a bound, an honest client is served meanwhile, and the
// server itself closes every hostile connection. Before the fix, 300 stalled readers took the Image
// repository from 72 MiB to 1.28 GiB, and 50 of them were still connected after 101 s.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrivateKey, type TufKey } from '../../shared/core/crypto/keys.js';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { RootSigned } from '../../shared/core/metadata/types.js';
import { SqliteImageRepoStorage } from '../../image-repo/store/sqlite.js';
import { startCli, type CliProcess } from '../support/cli-runner.js';
import { tcpState } from './tcp-state.js';

const MIB = 1024 * 1024;
const TOKEN = 'resource-test-uploader-token-0123456789';
const IMAGE = randomBytes(32 * MIB);
const IMAGE_SHA256 = createHash('sha256').update(IMAGE).digest('hex');
const IMAGE_PATH = `/targets/ecu/${IMAGE_SHA256}.firmware.bin`;
/** Hostile clients come from many loopback addresses (127.0.0.2-41); the honest one from 127.0.0.1. */
const hostileAddress = (i: number) => `127.0.0.${2 + (i % 40)}`;

/**
 * Resident memory allowed under attack. The Image repository holds at most 64 downloads of four
 * 1 MiB slabs (256 MiB) above its ~80 MiB at rest; before the fix 300 stalled readers took 1.28 GiB.
 */
const IMAGE_RSS_BOUND = 512 * MIB;
/** The Director holds no large answers; its bodies are capped at 1 MB and read by few at once. */
const DIRECTOR_RSS_BOUND = 256 * MIB;

let dir: string;
const processes: CliProcess[] = [];
const sockets: Socket[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-resource-'));
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(processes.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/** Resident memory of process `pid`, in bytes (Linux). */
function rssOf(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib) * 1024;
}

async function serve(args: string[]): Promise<{ url: string; pid: number }> {
  const server = startCli(args);
  processes.push(server);
  const [, url] = await server.waitFor(/listening on (http:\/\/[\d.]+:\d+)/, 60_000);
  return { url: url!, pid: server.child.pid! };
}

/** A raw client from `localAddress`; it is destroyed at the end of the test file whatever happens. */
function open(url: string, localAddress: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), localAddress });
    sockets.push(socket);
    socket.on('error', () => undefined); // resets by the server are expected
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Resolves once the socket is closed; the client never closes it itself. */
const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

/** Samples the server's resident memory until `done` settles; the largest sample. */
async function peakRss(pid: number, done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => (finished = true));
  let peak = rssOf(pid);
  for (let i = 0; i < 3_000 && !finished; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    peak = Math.max(peak, rssOf(pid));
  }
  return peak;
}

async function eventually(condition: () => boolean | Promise<boolean>, what: string, rounds = 1_200): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`never happened: ${what}`);
}

async function honestDownload(url: string): Promise<{ status: number; sha256?: string; retryAfter?: string | null }> {
  const response = await fetch(`${url}${IMAGE_PATH}`);
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) return { status: response.status, retryAfter: response.headers.get('retry-after') };
  return { status: 200, sha256: createHash('sha256').update(body).digest('hex') };
}

describe('resources under hostile clients, each server its own process', () => {
  let image: { url: string; pid: number };
  let imageRootFile: string;

  beforeAll(async () => {
    const imageDir = join(dir, 'image');
    // Public reads: this file measures resource limits, and its hostile clients download anonymously
    // (access to reads is test/attacks/signed-urls.test.ts's).
    image = await serve(['image', 'serve', '--data-dir', imageDir, '--port', '0', '--read-access', 'public']);
    // An uploader token, written as `uptane image uploader add` would (the server holds no cache of tokens).
    const storage = new SqliteImageRepoStorage(join(imageDir, 'image-repo.sqlite'));
    await storage.addUploader('release-bot', TOKEN, new Date());
    await storage.close();
    const uploaded = await fetch(`${image.url}/api/v1/images`, { method: 'POST', body: IMAGE, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(uploaded.status).toBe(201);
    // A real root, so that the Director can start trusting this Image repository.
    const online = (await (await fetch(`${image.url}/api/v1/online-keys`)).json()) as Record<'timestamp' | 'snapshot', { keyid: string; key: TufKey }>;
    const rootKey = PrivateKey.fromLabel('resource-image-root');
    const root: RootSigned = {
      _type: 'root',
      spec_version: SPEC_VERSION,
      version: 1,
      expires: '2099-01-01T00:00:00Z',
      consistent_snapshot: true,
      keys: { [rootKey.keyid]: rootKey.publicKey.tuf, [online.timestamp.keyid]: online.timestamp.key, [online.snapshot.keyid]: online.snapshot.key },
      roles: {
        root: { keyids: [rootKey.keyid], threshold: 1 },
        targets: { keyids: [rootKey.keyid], threshold: 1 },
        timestamp: { keyids: [online.timestamp.keyid], threshold: 1 },
        snapshot: { keyids: [online.snapshot.keyid], threshold: 1 },
      },
    };
    const rootBytes = serializeMetadata(signMetadata(root, [rootKey]));
    const pushed = await fetch(`${image.url}/api/v1/metadata/root`, { method: 'PUT', body: rootBytes, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(pushed.status).toBe(201);
    imageRootFile = join(dir, 'image-1.root.json');
    writeFileSync(imageRootFile, rootBytes);
  }, 120_000);

  it('a malformed metadata name is a clean answer, and the Image repository process goes on (HR-1)', async () => {
    for (const path of ['/metadata/%25E0.json', '/metadata/%25.json']) {
      const response = await fetch(`${image.url}${path}`);
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
    expect((await fetch(`${image.url}/api/v1/online-keys`)).status).toBe(200);
    expect(processes[0]!.child.exitCode).toBeNull();
  });

  it('the Image repository: 300 stalled readers, 60 refused slow uploads, 20 stalled uploads, 100 silent and 50 idle keep-alive connections', async () => {
    const atRest = rssOf(image.pid);
    const hostile: Socket[] = [];
    const stalledReaders: Socket[] = [];
    const startAll = async () => {
      for (let i = 0; i < 300; i++) {
        const socket = await open(image.url, hostileAddress(i));
        socket.pause(); // never reads: the answer piles up in the kernel, then in the server
        socket.write(`GET ${IMAGE_PATH} HTTP/1.1\r\nHost: x\r\n\r\n`);
        stalledReaders.push(socket);
      }
      for (let i = 0; i < 60; i++) {
        // No token, a GiB declared, a first KiB sent: refused at once, not drained.
        const socket = await open(image.url, hostileAddress(i));
        socket.write(`POST /api/v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 ** 3}\r\n\r\n`);
        socket.write(randomBytes(1024));
        hostile.push(socket);
      }
      for (let i = 0; i < 20; i++) {
        // A valid token, 100 MiB declared, 64 KiB sent, then nothing.
        const socket = await open(image.url, hostileAddress(i));
        socket.write(`POST /api/v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${100 * MIB}\r\n\r\n`);
        socket.write(randomBytes(64 * 1024));
        hostile.push(socket);
      }
      for (let i = 0; i < 100; i++) hostile.push(await open(image.url, hostileAddress(i))); // sends nothing at all
      for (let i = 0; i < 50; i++) {
        const socket = await open(image.url, hostileAddress(i));
        socket.write('GET /api/v1/online-keys HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
        hostile.push(socket);
      }
      for (const socket of hostile) socket.resume(); // these read what they get, and see the server's close
    };
    await startAll();

    // Meanwhile an honest client is served: metadata at once, the image whole or a clean 503 to retry.
    const honestMeta = await fetch(`${image.url}/api/v1/online-keys`);
    expect(honestMeta.status).toBe(200);
    const during = await honestDownload(image.url);
    if (during.status === 200) expect(during.sha256).toBe(IMAGE_SHA256);
    else expect(during).toEqual({ status: 503, retryAfter: expect.stringMatching(/^\d+$/) });

    // Every hostile connection is closed by the server; memory stays bounded all along.
    const allClosed = Promise.all([
      ...hostile.map(closed),
      eventually(() => stalledReaders.every((s) => s.localPort === undefined || tcpState(s.localPort) !== 'ESTABLISHED'), 'the server to close every stalled reader'),
    ]);
    const peak = await peakRss(image.pid, allClosed);
    await allClosed;
    expect({ atRest, peak, bound: IMAGE_RSS_BOUND, under: peak < IMAGE_RSS_BOUND }).toMatchObject({ under: true });

    // Once they are gone, the honest client downloads the image whole; cut uploads left nothing behind.
    let after = await honestDownload(image.url);
    await eventually(async () => (after = await honestDownload(image.url)).status === 200, 'a download slot for the honest client');
    expect(after.sha256).toBe(IMAGE_SHA256);
    await eventually(() => readdirSync(join(dir, 'image', 'blobs', 'incoming')).length === 0, 'stalled uploads to be removed');
    expect(processes[0]!.child.exitCode).toBeNull();
  }, 240_000);

  it('the Director: 150 stalled manifest bodies, 150 slow writers, 100 silent and 50 idle keep-alive connections', async () => {
    const director = await serve(['director', 'serve', '--data-dir', join(dir, 'director'), '--port', '0', '--image-repo', image.url, '--image-root', imageRootFile]);
    const atRest = rssOf(director.pid);
    const hostile: Socket[] = [];
    const slowWriters: Socket[] = [];
    for (let i = 0; i < 150; i++) {
      const socket = await open(director.url, hostileAddress(i));
      socket.write(`POST /vehicle/manifest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n`);
      socket.write(Buffer.alloc(512 * 1024, 0x20)); // half the declared body, then nothing
      hostile.push(socket);
    }
    for (let i = 0; i < 150; i++) {
      const socket = await open(director.url, hostileAddress(i));
      socket.write(`POST /vehicle/manifest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n`);
      slowWriters.push(socket);
      hostile.push(socket);
    }
    for (let i = 0; i < 100; i++) hostile.push(await open(director.url, hostileAddress(i)));
    for (let i = 0; i < 50; i++) {
      const socket = await open(director.url, hostileAddress(i));
      socket.write('GET /metadata/1.root.json HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
      hostile.push(socket);
    }
    for (const socket of hostile) socket.resume();
    // The slow writers send a byte a second: always moving, never done; the request timeout ends them.
    const trickle = setInterval(() => {
      for (const socket of slowWriters) if (!socket.destroyed) socket.write(' ');
    }, 1_000);
    try {
      const honest = await fetch(`${director.url}/metadata/1.root.json`);
      expect(honest.headers.get('content-type')).toMatch(/application\/json/);
      expect([200, 404]).toContain(honest.status); // answered (404: no Director root pushed in this test)
      expect((await fetch(`${director.url}/vehicle/metadata/targets.json`)).status).toBe(401);

      const allClosed = Promise.all(hostile.map(closed));
      const peak = await peakRss(director.pid, allClosed);
      await allClosed;
      expect({ atRest, peak, bound: DIRECTOR_RSS_BOUND, under: peak < DIRECTOR_RSS_BOUND }).toMatchObject({ under: true });
      expect((await fetch(`${director.url}/vehicle/metadata/targets.json`)).status).toBe(401);
      expect(processes[1]!.child.exitCode).toBeNull();
    } finally {
      clearInterval(trickle);
    }
  }, 240_000);
});
