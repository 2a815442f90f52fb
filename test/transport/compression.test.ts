// Compression in transit (issue 21 item 3; docs/threat-model.md F7): the real HttpFetcher and
// RepositoryUpdater against a loopback server that answers with the servers' own helpers
// (shared/server/response-coding.ts for metadata, blob-sender.ts for images), and against the same
// server turned hostile for one path: a decompression bomb, a corrupt stream, a coding not offered.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join, normalize } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ContentEncodingError, DownloadLengthError, FetchError } from '../../shared/core/errors.js';
import { DEFAULT_UPDATER_CONFIG, localTargetPath } from '../../shared/client/updater.js';
import { sendBlob } from '../../shared/server/blob-sender.js';
import { sendMetadata } from '../../shared/server/response-coding.js';
import { expectRejected, newClient, type TestClient } from '../support/client.js';
import { RepositorySimulator } from '../support/repo-simulator.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { cleanupServersClientsAndTempDirs, imageBytes, sha256, tempDir } from '../support/tuf-helpers.js';

interface Hostile {
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** The connection is cut (not ended) once this many bytes of `body` are sent: a network failure. */
  readonly cutAfter?: number;
}

interface CodingServer {
  readonly url: string;
  /** Bytes written on every connection so far: what crossed the wire, headers included. */
  wireBytes(): number;
  /** Answers for a path, sent instead of the repository's (the attacker). */
  readonly hostile: Map<string, Hostile>;
  /** Every request's path, Range and Accept-Encoding, in order. */
  readonly requests: Array<{ path: string; range: string | undefined; acceptEncoding: string | undefined }>;
  close(): Promise<void>;
}

const servers: CodingServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await cleanupServersClientsAndTempDirs();
});

/** Serves `root` (a RepositorySimulator export) as the Image repository does: metadata and images in a negotiated coding. */
async function startCodingServer(root: string): Promise<CodingServer> {
  const sockets = new Set<Socket>();
  let written = 0;
  const handle: CodingServer = {
    url: '',
    wireBytes: () => written + [...sockets].reduce((sum, s) => sum + s.bytesWritten, 0),
    hostile: new Map(),
    requests: [],
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
      handle.requests.push({ path, range: req.headers.range, acceptEncoding: req.headers['accept-encoding'] });
      const hostile = handle.hostile.get(path);
      if (hostile?.cutAfter !== undefined) {
        res.writeHead(200, hostile.headers);
        res.write(hostile.body.subarray(0, hostile.cutAfter), () => setTimeout(() => res.destroy(), 50));
        return;
      }
      if (hostile !== undefined) {
        res.writeHead(200, hostile.headers);
        // In 16 KiB pieces with backpressure, so a client that hangs up stops the sending.
        for (let at = 0; at < hostile.body.length && !res.destroyed; at += 16 * 1024) {
          const piece = hostile.body.subarray(at, at + 16 * 1024);
          if (!res.write(piece)) await new Promise((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
        }
        res.end();
        return;
      }
      const file = join(root, normalize(path));
      if (!file.startsWith(root) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      const bytes = readFileSync(file);
      if (path.startsWith('/metadata/')) await sendMetadata(req, res, bytes, sha256(bytes), { 'Content-Type': 'application/json' });
      else await sendBlob(req, res, file, sha256(bytes), { compress: true });
    })().catch((err: unknown) => res.destroy(err as Error));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      written += socket.bytesWritten;
      sockets.delete(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(handle, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  servers.push(handle);
  return handle;
}

/** A firmware-like image: repeated code-like text with a little noise, so it compresses as real builds do. */
function firmware(size: number): Buffer {
  const line = Buffer.from('mov r0, #0x40; bl init_can_bus; ldr r1, [r2, #4]; cmp r1, r3; bne retry; str r0, [sp, #-8]!\n');
  const bytes = Buffer.alloc(size);
  for (let at = 0; at < size; at += line.length) line.copy(bytes, at);
  imageBytes('noise', size / 16).copy(bytes, size / 2);
  return bytes;
}

/** `gzip` members inflating to `inflatedMiB` MiB of zeros, each a few hundred bytes: a decompression bomb. */
function gzipBomb(inflatedMiB: number): Buffer {
  const member = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 });
  return Buffer.concat(Array.from({ length: inflatedMiB }, () => member));
}

interface Scene {
  readonly sim: RepositorySimulator;
  readonly server: CodingServer;
  readonly client: TestClient;
  readonly data: Buffer;
  readonly imagePath: string;
}

/** One image `ecu/app.bin` of `size` bytes, served by a coding server, and a client that has not refreshed yet. */
async function scene(size = 2 * 1024 * 1024, fetcher = new HttpFetcher({ connectTimeoutMs: 2_000, idleTimeoutMs: 2_000 })): Promise<Scene> {
  const sim = new RepositorySimulator();
  const data = firmware(size);
  sim.addTarget('ecu/app.bin', data);
  sim.release();
  const root = tempDir('uptane-coding-');
  sim.exportTo(root);
  const server = await startCodingServer(root);
  const client = newClient(sim, { fetcher, metadataUrl: `${server.url}/metadata`, targetsUrl: `${server.url}/targets` });
  return { sim, server, client, data, imagePath: `/targets/ecu/${sha256(data)}.app.bin` };
}

/** GET `path` with `headers`; the answer's status, headers and raw (still encoded) body. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
}

describe('compression in transit', () => {
  it('an honest update travels compressed: the same verified bytes install, with far fewer bytes on the wire', async () => {
    const compressed = await scene();
    await compressed.client.updater.refresh();
    const destination = localTargetPath(tempDir('uptane-images-'), 'ecu/app.bin');
    await compressed.client.updater.downloadTarget(await compressed.client.updater.findTarget('ecu/app.bin'), destination);
    expect(readFileSync(destination).equals(compressed.data)).toBe(true);

    // Metadata and image, headers included, cost under a quarter of the image alone uncompressed.
    expect(compressed.server.wireBytes()).toBeLessThan(compressed.data.length / 4);
    // The same image asked for without compression: what the wire cost before.
    const plain = await rawGet(`${compressed.server.url}${compressed.imagePath}`, { 'accept-encoding': 'identity' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.equals(compressed.data)).toBe(true);
  });

  it('servers negotiate: zstd, br or gzip as offered, identity for a range (a resume continues the stored bytes) and for no offer', async () => {
    const { server, data, imagePath } = await scene();
    for (const coding of ['gzip', 'br', 'zstd']) {
      const answer = await rawGet(`${server.url}${imagePath}`, { 'accept-encoding': coding });
      expect(answer.headers['content-encoding']).toBe(coding);
      expect(answer.headers.etag).toBe(`"${sha256(data)}.${coding}"`);
      expect(answer.body.length).toBeLessThan(data.length / 4);
    }
    const ranged = await rawGet(`${server.url}${imagePath}`, { 'accept-encoding': 'gzip', range: 'bytes=1000-' });
    expect(ranged.status).toBe(206);
    expect(ranged.headers['content-encoding']).toBeUndefined();
    expect(ranged.body.equals(data.subarray(1000))).toBe(true);
    const refused = await rawGet(`${server.url}${imagePath}`, { 'accept-encoding': 'gzip;q=0, br;q=0' });
    expect(refused.headers['content-encoding']).toBeUndefined();
    expect(refused.body.equals(data)).toBe(true);
  });

  it('F7: an image sent as a gzip bomb is cut off at its signed length (download_length); nothing is kept and the store is unchanged', async () => {
    const { server, client, data, imagePath } = await scene(256 * 1024);
    await client.updater.refresh();
    const bomb = gzipBomb(1024); // ~1 MB on the wire inflating to 1 GiB
    server.hostile.set(imagePath, { headers: { 'Content-Encoding': 'gzip' }, body: bomb });
    const lookup = await client.updater.findTarget('ecu/app.bin');
    const destination = localTargetPath(tempDir('uptane-images-'), 'ecu/app.bin');

    const err = await expectRejected(client, () => client.updater.downloadTarget(lookup, destination), DownloadLengthError, 'download_length');
    expect(err.message).toMatch(/inflates past 262144 bytes/);
    expect(existsSync(destination)).toBe(false);
    expect(existsSync(`${destination}.part`)).toBe(false);

    server.hostile.clear();
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination).equals(data)).toBe(true);
  });

  it('F7: metadata sent as a gzip bomb is cut off at the role\'s byte limit (download_length); the trusted metadata is unchanged', async () => {
    const { server, client } = await scene(4096);
    await client.updater.refresh();
    server.hostile.set('/metadata/timestamp.json', { headers: { 'Content-Encoding': 'gzip' }, body: gzipBomb(64) });

    const err = await expectRejected(client, () => client.newUpdater().refresh(), DownloadLengthError, 'download_length');
    expect(err.message).toMatch(new RegExp(`inflates past ${DEFAULT_UPDATER_CONFIG.maxTimestampBytes} bytes`));
    server.hostile.clear();
    await client.newUpdater().refresh();
  });

  it('F7: a corrupt compressed image is bad_content_encoding; nothing is kept', async () => {
    const { server, client, data, imagePath } = await scene(256 * 1024);
    await client.updater.refresh();
    const corrupt = gzipSync(data);
    corrupt[Math.floor(corrupt.length / 2)]! ^= 0xff;
    server.hostile.set(imagePath, { headers: { 'Content-Encoding': 'gzip' }, body: corrupt });
    const lookup = await client.updater.findTarget('ecu/app.bin');
    const destination = localTargetPath(tempDir('uptane-images-'), 'ecu/app.bin');

    await expectRejected(client, () => client.updater.downloadTarget(lookup, destination), ContentEncodingError, 'bad_content_encoding');
    expect(existsSync(destination)).toBe(false);
    // Cut short: the stream ends before gzip's trailer.
    server.hostile.set(imagePath, { headers: { 'Content-Encoding': 'gzip' }, body: gzipSync(data).subarray(0, 2000) });
    await expectRejected(client, () => client.updater.downloadTarget(lookup, destination), ContentEncodingError, 'bad_content_encoding');
    expect(existsSync(destination)).toBe(false);
  });

  it('F6: a compressed download cut midway keeps the inflated bytes and resumes them uncompressed with a Range request', async () => {
    const { server, client, data, imagePath } = await scene(1024 * 1024);
    await client.updater.refresh();
    const compressed = gzipSync(data, { level: 1 });
    server.hostile.set(imagePath, { headers: { 'Content-Encoding': 'gzip' }, body: compressed, cutAfter: Math.floor(compressed.length / 2) });
    const lookup = await client.updater.findTarget('ecu/app.bin');
    const destination = localTargetPath(tempDir('uptane-images-'), 'ecu/app.bin');

    await expectRejected(client, () => client.updater.downloadTarget(lookup, destination), FetchError, 'fetch_failed');
    const kept = readFileSync(`${destination}.part`);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.equals(data.subarray(0, kept.length))).toBe(true);

    server.hostile.clear();
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination).equals(data)).toBe(true);
    const resumed = server.requests.filter((r) => r.path === imagePath).at(-1)!;
    expect(resumed).toEqual({ path: imagePath, range: `bytes=${kept.length}-`, acceptEncoding: 'identity' });
  });

  it('F7: a coding the client did not offer (or stacked codings) is refused before the body, bad_content_encoding', async () => {
    const { server, client } = await scene(4096);
    await client.updater.refresh();
    for (const coding of ['compress', 'gzip, gzip', 'deflate']) {
      server.hostile.set('/metadata/timestamp.json', { headers: { 'Content-Encoding': coding }, body: gzipSync('{}') });
      const err = await expectRejected(client, () => client.newUpdater().refresh(), ContentEncodingError, 'bad_content_encoding');
      expect(err.message).toMatch(/was not asked for/);
    }
  });
});

describe('what is worth compressing', () => {
  it('an image that does not shrink (already compressed, encrypted, random) is sent as it is, even to a client that offers zstd', async () => {
    const sim = new RepositorySimulator();
    const data = randomBytes(512 * 1024);
    sim.addTarget('ecu/random.bin', data);
    sim.release();
    const root = tempDir('uptane-coding-');
    sim.exportTo(root);
    const server = await startCodingServer(root);
    const answer = await rawGet(`${server.url}/targets/ecu/${sha256(data)}.random.bin`, { 'accept-encoding': 'zstd, gzip' });
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.headers.vary).toBe('Accept-Encoding');
    expect(answer.body.equals(data)).toBe(true);
  });
});
