// Figure 18: compression in transit (issue 21 item 3; docs/transport.md). A firmware-like image
// (half repeated code-like words, half random bytes) and its targets metadata read from the real
// Image repository by the vehicle's HttpFetcher through a TCP proxy that counts the bytes on the
// wire: compressed (the fetcher's Accept-Encoding, the server's choice, zstd on Node 24) against
// the same files asked for uncompressed (Accept-Encoding: identity), each download's speed taken
// on the inflated bytes.
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { fetchBytes, HttpFetcher } from '../../shared/client/fetcher.js';
import { startBenchRepositories, type BenchContext } from '../lib/context.js';
import type { Figure, Row } from '../lib/report.js';
import { fmt, median, pct } from '../lib/stats.js';

const REPETITIONS = 3;

/** Half of each 64 KiB block drawn from 64 fixed 256-byte words, half random: about what a build compresses to. */
function firmwareLike(mib: number): Buffer {
  const words = Array.from({ length: 64 }, () => randomBytes(256));
  const image = Buffer.alloc(mib * 1024 * 1024);
  for (let block = 0; block < image.length; block += 64 * 1024) {
    for (let at = 0; at < 32 * 1024; at += 256) words[((at / 256) * 7 + block / 65536) % 64]!.copy(image, block + at);
    randomBytes(32 * 1024).copy(image, block + 32 * 1024);
  }
  return image;
}

/** A TCP proxy to `upstream` counting what the server sends through it. */
async function countingProxy(upstream: string): Promise<{ url: string; take: () => number; close: () => Promise<void> }> {
  const target = new URL(upstream);
  let received = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const origin = createConnection(Number(target.port), target.hostname);
    sockets.add(client).add(origin);
    origin.on('data', (chunk: Buffer) => (received += chunk.length));
    client.pipe(origin).pipe(client);
    const end = () => { client.destroy(); origin.destroy(); };
    client.on('error', end).on('close', end);
    origin.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    take: () => { const taken = received; received = 0; return taken; },
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

/** The bytes of `url` asked for uncompressed, read whole. */
function identityGet(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { 'accept-encoding': 'identity' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
    }).on('error', reject).end();
  });
}

export async function figure18(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  const repos = await startBenchRepositories(ctx, 'f18');
  const mib = ctx.settings.quick ? 16 : 64;
  const image = firmwareLike(mib);
  const sha256 = createHash('sha256').update(image).digest('hex');
  const proxy = await countingProxy(repos.image.url);
  const fetcher = new HttpFetcher();
  try {
    await repos.publishImages([{ name: 'bench/f18.bin', content: image, hardwareIds: ['tcu'], releaseCounter: 1 }]);
    const rows: Row[] = [];
    for (const [label, path, max] of [['image', `/targets/bench/${sha256}.f18.bin`, image.length], ['root metadata', '/metadata/1.root.json', 512_000]] as const) {
      const wire = { compressed: 0, plain: 0 };
      const seconds = { compressed: [] as number[], plain: [] as number[] };
      let size = 0;
      for (let i = 0; i < REPETITIONS; i++) {
        proxy.take();
        let t = performance.now();
        const inflated = await fetchBytes(fetcher, `${proxy.url}${path}`, { maxBytes: max });
        seconds.compressed.push((performance.now() - t) / 1000);
        wire.compressed = proxy.take();
        t = performance.now();
        const plain = await identityGet(`${proxy.url}${path}`);
        seconds.plain.push((performance.now() - t) / 1000);
        wire.plain = proxy.take();
        if (!inflated.equals(plain)) throw new Error(`figure 18: ${path} inflated differs from its stored bytes`);
        size = plain.length;
      }
      rows.push({
        label: `${label} (${fmt(size / 1024)} KiB): bytes on the wire, compressed / uncompressed (headers included)`,
        value: `${wire.compressed} / ${wire.plain}`,
        ratio: pct(wire.compressed / wire.plain),
        verdict: 'INFO',
      });
      rows.push({
        label: `${label}: MB/s of inflated bytes, compressed / uncompressed (median of ${REPETITIONS})`,
        value: `${fmt(size / 1e6 / median(seconds.compressed))} / ${fmt(size / 1e6 / median(seconds.plain))}`,
        ratio: pct(median(seconds.plain) / median(seconds.compressed)),
        verdict: 'INFO',
      });
    }
    return {
      id: 18,
      title: 'Compression in transit: bytes on the wire and speed',
      target: 'no numeric target: bytes saved and MB/s reported',
      baselineIs: 'the same file from the same server asked for with Accept-Encoding: identity',
      rows,
      verdict: 'INFO',
      notes: [
        `A synthetic ${mib} MiB image, half of each 64 KiB block repeated words and half random bytes, so about half of it compresses; real builds vary. Server, proxy and client share the main thread: on loopback the compressed download pays the server's zstd level 1 and the client's inflating on the same cores, so its MB/s is the cost of compression where bandwidth is free; on a cellular link the bytes row is what counts. Images that do not shrink (random, encrypted) are sent as they are (docs/transport.md), so figure 4 is unchanged.`,
      ],
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    fetcher.close();
    await proxy.close();
    await repos.close();
  }
}
