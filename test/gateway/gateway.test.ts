// The caching gateway (gateway/, docs/gateway.md) in front of the real Image repository and the real
// Director on loopback: metadata kept and revalidated with If-None-Match, one upstream download per
// image however many vehicles ask at once, ranges and codings served from the kept copy (Vary), an
// LRU byte cap, a cache that survives a restart, Director requests passed through and never kept,
// and real vehicles updating through it.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FixedClock } from '../../shared/core/clock.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { startGateway, type GatewayServerOptions, type RunningGateway } from '../../gateway/server.js';

const MiB = 1024 * 1024;

/** Bytes that do not compress (an image sent as stored) of `size`, from `seed`. */
function randomImage(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let at = 0; at < size; at += block.length) {
    block.copy(out, at);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const pathOf = (image: FixtureImage) => {
  const slash = image.name.lastIndexOf('/');
  return `/targets/${image.name.slice(0, slash + 1)}${sha(image.content)}.${image.name.slice(slash + 1)}`;
};

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** One GET (or another method) with node:http, the body read whole. */
function get(url: string, headers: Record<string, string> = {}, method = 'GET', body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const errorCode = (answer: Answer) => (JSON.parse(answer.body.toString()) as { error: { code: string } }).error.code;

let repos: Repositories;
let cacheDir: string;
let running: RunningGateway | undefined;
const folders: string[] = [];

const IMAGES = {
  a: { name: 'engine/a.bin', content: randomImage(2 * MiB, 'a'), hardwareIds: ['ecm-x1'], releaseCounter: 1 },
  b: { name: 'engine/b.bin', content: randomImage(1 * MiB, 'b'), hardwareIds: ['ecm-x1'], releaseCounter: 1 },
  c: { name: 'engine/c.bin', content: randomImage(1 * MiB, 'c'), hardwareIds: ['ecm-x1'], releaseCounter: 1 },
  d: { name: 'engine/d.bin', content: randomImage(1 * MiB, 'd'), hardwareIds: ['ecm-x1'], releaseCounter: 1 },
} satisfies Record<string, FixtureImage>;

async function gateway(options: Partial<GatewayServerOptions> = {}): Promise<RunningGateway> {
  await running?.close();
  running = await startGateway({
    upstreamImage: repos.image.url,
    upstreamDirector: repos.director.url,
    cacheDir,
    // Every metadata request revalidates: the fixture's clock stands still.
    limits: { metadataFreshMs: 0, ...options.limits },
    ...options,
  });
  return running;
}

beforeAll(async () => {
  repos = await startRepositories(new FixedClock(FIXTURE_NOW), 'gateway');
  await repos.publishImages(Object.values(IMAGES));
});

afterAll(async () => {
  await running?.close();
  await repos.close();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'uptane-gateway-'));
  folders.push(cacheDir);
});

afterEach(async () => {
  await running?.close();
  running = undefined;
});

describe('metadata', () => {
  it('is served as the Image repository has it, kept, and revalidated with If-None-Match (a 304 upstream) on the next request', async () => {
    const gw = await gateway();
    const direct = await get(`${repos.image.url}/metadata/timestamp.json`);
    const first = await get(`${gw.url}/metadata/timestamp.json`);
    expect(first.status).toBe(200);
    expect(first.body).toEqual(direct.body);
    expect(first.headers.etag).toBe(`"${sha(direct.body)}"`);
    const second = await get(`${gw.url}/metadata/timestamp.json`);
    expect(second.body).toEqual(direct.body);
    expect(gw.gateway.stats().metadata).toMatchObject({ fetched: 1, notModified: 1 });
    // The vehicle's own conditional request is answered by the gateway.
    expect((await get(`${gw.url}/metadata/timestamp.json`, { 'if-none-match': first.headers.etag as string })).status).toBe(304);
  });

  it('within the freshness window a fleet asking at once causes one upstream request', async () => {
    const gw = await gateway({ limits: { metadataFreshMs: 60_000 } });
    const answers = await Promise.all(Array.from({ length: 50 }, () => get(`${gw.url}/metadata/1.root.json`)));
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]));
    expect(gw.gateway.stats().metadata).toMatchObject({ fetched: 1, notModified: 0 });
  });

  it('is compressed for a vehicle that asks, with Vary and an ETag per coding; a vehicle that does not ask gets the stored bytes', async () => {
    const gw = await gateway();
    const plain = await get(`${gw.url}/metadata/1.root.json`, { 'accept-encoding': 'identity' });
    const gzipped = await get(`${gw.url}/metadata/1.root.json`, { 'accept-encoding': 'gzip' });
    expect(plain.body.length).toBeGreaterThan(1024);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gzipped.body)).toEqual(plain.body);
    for (const answer of [plain, gzipped]) expect(answer.headers.vary).toBe('Accept-Encoding');
    expect(gzipped.headers.etag).not.toBe(plain.headers.etag);
    // The gzip ETag does not stand for the identity representation.
    expect((await get(`${gw.url}/metadata/1.root.json`, { 'accept-encoding': 'identity', 'if-none-match': gzipped.headers.etag as string })).status).toBe(200);
  });

  it('a file the Image repository lacks is 404, remembered for the freshness window (the root walk asks for the next root every cycle)', async () => {
    const gw = await gateway({ limits: { metadataFreshMs: 60_000 } });
    for (let i = 0; i < 5; i++) expect((await get(`${gw.url}/metadata/99.root.json`)).status).toBe(404);
    expect(gw.gateway.stats().metadata.notFound).toBe(1);
  });
});

describe('images', () => {
  it('a thousand-vehicle crowd in miniature: 40 vehicles asking for one image at once cause one upstream download, and each gets the exact bytes', async () => {
    const gw = await gateway();
    const answers = await Promise.all(Array.from({ length: 40 }, () => get(`${gw.url}${pathOf(IMAGES.a)}`)));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.equals(IMAGES.a.content)).toBe(true);
    }
    const stats = gw.gateway.stats();
    expect(stats.imageFills).toBe(1);
    expect(stats.imageFillBytes).toBe(IMAGES.a.content.length);
    expect(stats.imageHits + stats.imageJoins).toBe(40);
  });

  it('a range (a vehicle resuming) is served from the kept copy as 206 of the stored bytes, never compressed', async () => {
    const gw = await gateway();
    await get(`${gw.url}${pathOf(IMAGES.b)}`);
    const part = await get(`${gw.url}${pathOf(IMAGES.b)}`, { range: 'bytes=1000-', 'accept-encoding': 'identity' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1000-${IMAGES.b.content.length - 1}/${IMAGES.b.content.length}`);
    expect(part.body.equals(IMAGES.b.content.subarray(1000))).toBe(true);
    expect(gw.gateway.stats().imageFills).toBe(1);
  });

  it('the cache keeps its byte cap by evicting the least recently used image; a kept image is served again after a restart without an upstream download', async () => {
    // Room for a and b (3 MiB) and the metadata, not for c too.
    let gw = await gateway({ limits: { cacheMaxBytes: 3 * MiB + 64 * 1024 } });
    await get(`${gw.url}${pathOf(IMAGES.b)}`);
    await get(`${gw.url}${pathOf(IMAGES.a)}`);
    await get(`${gw.url}${pathOf(IMAGES.b)}`); // b is now the most recently used
    await get(`${gw.url}${pathOf(IMAGES.c)}`); // a goes
    expect(gw.gateway.cache.has(pathOf(IMAGES.a))).toBe(false);
    expect(gw.gateway.cache.has(pathOf(IMAGES.b))).toBe(true);
    expect(gw.gateway.cache.usage.bytes).toBeLessThanOrEqual(3 * MiB + 64 * 1024);

    // A crash's leftovers: a fill cut short and a data file whose record never got written.
    writeFileSync(join(cacheDir, 'fills', 'cut.part'), 'half an image');
    writeFileSync(join(cacheDir, 'entries', `${'0'.repeat(64)}.data`), 'orphan');
    gw = await gateway({ limits: { cacheMaxBytes: 3 * MiB + 64 * 1024 } });
    expect(existsSync(join(cacheDir, 'fills', 'cut.part'))).toBe(false);
    expect(readdirSync(join(cacheDir, 'entries'))).not.toContain(`${'0'.repeat(64)}.data`);
    const again = await get(`${gw.url}${pathOf(IMAGES.c)}`);
    expect(again.body.equals(IMAGES.c.content)).toBe(true);
    expect(gw.gateway.stats()).toMatchObject({ imageFills: 0, imageHits: 1 });
  });

  it('a kept copy damaged while the gateway was down is hashed at its first request after the restart, dropped and fetched again; a whole one is hashed once', async () => {
    let gw = await gateway();
    await get(`${gw.url}${pathOf(IMAGES.a)}`);
    await get(`${gw.url}${pathOf(IMAGES.b)}`);
    await get(`${gw.url}/metadata/1.root.json`);
    // One byte of a's and of the kept root changed on disk, as a disk fault or someone with the disk would.
    const dataOf = (key: string) => join(cacheDir, 'entries', `${sha(Buffer.from(key))}.data`);
    for (const key of [pathOf(IMAGES.a), '/metadata/1.root.json']) {
      const bytes = readFileSync(dataOf(key));
      bytes[bytes.length >> 1]! ^= 0x01;
      writeFileSync(dataOf(key), bytes);
    }
    gw = await gateway();
    const [a, aAgain, b, bAgain, root] = [
      await get(`${gw.url}${pathOf(IMAGES.a)}`),
      await get(`${gw.url}${pathOf(IMAGES.a)}`),
      await get(`${gw.url}${pathOf(IMAGES.b)}`),
      await get(`${gw.url}${pathOf(IMAGES.b)}`),
      await get(`${gw.url}/metadata/1.root.json`),
    ];
    expect(a.body.equals(IMAGES.a.content)).toBe(true);
    expect(aAgain.body.equals(IMAGES.a.content)).toBe(true);
    expect(b.body.equals(IMAGES.b.content)).toBe(true);
    expect(bAgain.body.equals(IMAGES.b.content)).toBe(true);
    expect(root.body).toEqual((await get(`${repos.image.url}/metadata/1.root.json`)).body);
    // a fetched again once (its damaged copy dropped), b served from its copy both times.
    expect(gw.gateway.stats()).toMatchObject({ imageFills: 1, imageHits: 3, cache: { damagedDropped: 1 } });
    expect(gw.gateway.stats().metadata).toMatchObject({ fetched: 1 });
  });

  it('an image is compressed for a vehicle only when it shrinks: random bytes go as stored, with Vary', async () => {
    const gw = await gateway();
    const answer = await get(`${gw.url}${pathOf(IMAGES.d)}`, { 'accept-encoding': 'gzip' });
    const kept = await get(`${gw.url}${pathOf(IMAGES.d)}`, { 'accept-encoding': 'gzip' });
    for (const a of [answer, kept]) {
      expect(a.body.equals(IMAGES.d.content)).toBe(true);
      expect(a.headers['content-encoding']).toBeUndefined();
      expect(a.headers.vary).toBe('Accept-Encoding');
    }
  });

  it('a path that is not a consistent-snapshot image, a dot segment or an unknown route is 404; the gateway goes on serving', async () => {
    const gw = await gateway();
    for (const path of ['/targets/engine/a.bin', `/targets/../${sha(IMAGES.a.content)}.a.bin`, '/api/v1/images', `/targets/${'x/'.repeat(1500)}`]) {
      const answer = await get(`${gw.url}${path}`);
      expect([answer.status, errorCode(answer)]).toEqual([404, 'not_found']);
    }
    expect((await get(`${gw.url}/metadata/timestamp.json`)).status).toBe(200);
  });
});

describe('the Director, passed through', () => {
  it('a request without a vehicle credential is refused by the Director itself, every time: nothing is kept between requests', async () => {
    const gw = await gateway();
    for (let i = 0; i < 3; i++) {
      const answer = await get(`${gw.url}/vehicle/metadata/timestamp.json`);
      expect([answer.status, errorCode(answer)]).toEqual([401, 'unauthorized']);
      expect(answer.headers['cache-control']).toBeDefined();
    }
    expect(gw.gateway.stats().directorRequests).toBe(3);
  });

  it('a request body over the gateway\'s cap is refused before it reaches the Director (413)', async () => {
    const gw = await gateway({ limits: { maxRequestBodyBytes: 1024 } });
    const answer = await get(`${gw.url}/vehicle/manifest`, { 'content-type': 'application/json' }, 'POST', Buffer.alloc(4096, 0x20));
    expect([answer.status, errorCode(answer)]).toEqual([413, 'body_too_large']);
    expect(gw.gateway.stats().directorRequests).toBe(0);
  });
});

describe('real vehicles through the gateway', () => {
  it('two vehicles whose only address is the gateway each get their own Director metadata and install the same image, fetched upstream once', async () => {
    const gw = await gateway();
    const clock = new FixedClock(FIXTURE_NOW);
    const vehicles: SimulatedVehicle[] = [];
    for (const n of [1, 2]) {
      const directory = mkdtempSync(join(tmpdir(), 'uptane-gateway-car-'));
      folders.push(directory);
      const car = await SimulatedVehicle.create({
        directory,
        vin: `VINGATEWAY00000${n}`,
        primary: { serial: `gw-tcu-${n}`, hardwareId: 'tcu-a' },
        secondaries: [{ serial: `gw-ecm-${n}`, hardwareId: 'ecm-x1' }],
        directorUrl: gw.url,
        imageRepoUrl: gw.url,
        directorRoot: repos.directorRoot,
        imageRoot: repos.imageRoot,
        clock,
      });
      expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
      expect((await repos.operator('POST', '/api/v1/assignments', { vin: `VINGATEWAY00000${n}`, ecuSerial: `gw-ecm-${n}`, image: IMAGES.c.name })).status).toBe(201);
      vehicles.push(car);
    }
    const results = await Promise.all(vehicles.map((car) => car.primary.runCycle()));
    expect(results.map((r) => r.status)).toEqual(['installed', 'installed']);
    expect(vehicles.map((car, i) => car.installed()[`gw-ecm-${i + 1}`])).toEqual([IMAGES.c.name, IMAGES.c.name]);
    const stats = gw.gateway.stats();
    expect(stats.imageFills).toBe(1);
    expect(stats.directorRequests).toBeGreaterThanOrEqual(8); // sessions, manifests and metadata of both, each passed on
  });
});
