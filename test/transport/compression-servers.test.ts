// Compression in transit against the real Image repository (issue 21 item 3; docs/transport.md):
// an image uploaded through its API and its metadata, read by the vehicle's HttpFetcher through a
// TCP proxy that counts the bytes on the wire, arrive byte for byte and cost far fewer bytes than
// the same files uncompressed.
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { FixedClock } from '../../shared/core/clock.js';
import { fetchBytes, HttpFetcher } from '../../shared/client/fetcher.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';

/** A TCP proxy to `upstream` counting the bytes the server sends through it. */
async function countingProxy(upstream: string): Promise<{ url: string; received: () => number; close: () => Promise<void> }> {
  const target = new URL(upstream);
  let received = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const server = createConnection(Number(target.port), target.hostname);
    sockets.add(client).add(server);
    server.on('data', (chunk: Buffer) => (received += chunk.length));
    client.pipe(server).pipe(client);
    const end = () => { client.destroy(); server.destroy(); };
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => received,
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

/** A firmware-like image: the same code-like line over and over, as real builds repeat themselves. */
function firmware(size: number): Buffer {
  const line = Buffer.from('ldr r1, [r2, #4]; cmp r1, r3; bne can_retry; bl crc32_update; str r0, [sp, #-8]!\n');
  const bytes = Buffer.alloc(size);
  for (let at = 0; at < size; at += line.length) line.copy(bytes, at);
  return bytes;
}

/** Bytes of `url` read with Accept-Encoding: identity (what the wire cost before compression). */
function identityGet(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { 'accept-encoding': 'identity' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks)));
    }).on('error', reject).end();
  });
}

let repos: Repositories;
afterEach(async () => repos?.close());

it('the real Image repository sends an uploaded image and its metadata compressed; the vehicle\'s fetcher gets the exact bytes, for a fraction of the wire', async () => {
  repos = await startRepositories(new FixedClock(FIXTURE_NOW), 'compression');
  const image = firmware(2 * 1024 * 1024);
  await repos.publishImages([{ name: 'ecu/fw.bin', content: image, hardwareIds: ['ecu-hw'], releaseCounter: 1 }]);
  const sha256 = createHash('sha256').update(image).digest('hex');
  const paths = ['/metadata/1.root.json', `/targets/ecu/${sha256}.fw.bin`];

  const compressed = await countingProxy(repos.image.url);
  const plain = await countingProxy(repos.image.url);
  const fetcher = new HttpFetcher();
  try {
    for (const path of paths) {
      const viaFetcher = await fetchBytes(fetcher, `${compressed.url}${path}`, { maxBytes: 4 * 1024 * 1024 });
      const uncompressed = await identityGet(`${plain.url}${path}`);
      expect(viaFetcher.equals(uncompressed)).toBe(true);
    }
    expect(createHash('sha256').update(await fetchBytes(fetcher, `${compressed.url}${paths[1]}`, { maxBytes: image.length })).digest('hex')).toBe(sha256);
    // Two image downloads and the root, compressed, against one image and the root uncompressed.
    expect(plain.received()).toBeGreaterThan(image.length);
    expect(compressed.received()).toBeLessThan(plain.received() / 20);
  } finally {
    fetcher.close();
    await compressed.close();
    await plain.close();
  }
});
