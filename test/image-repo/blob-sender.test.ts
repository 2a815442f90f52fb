// Sending image blobs (image-repo/blob-sender.ts) over real HTTP on loopback, from real files: whole
// and ranged answers, HEAD and 304, and what must hold when the client is slow, goes away, or the
// file ends early: no byte of a reused slab is sent twice or overwritten, and the file is closed.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, request, type ClientRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOB_SLAB_BYTES, parseByteRange, sendBlob } from '../../image-repo/blob-sender.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let dir: string;
let server: Server;
let origin: string;
/** A blob larger than the four slabs together, so that every slab is reused. */
let big: Buffer;
const small = Buffer.from('engine ecu v2, 20 B.');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'blob-sender-'));
  big = randomBytes(9 * BLOB_SLAB_BYTES + 12_345);
  writeFileSync(join(dir, 'big'), big);
  writeFileSync(join(dir, 'small'), small);
  writeFileSync(join(dir, 'empty'), '');
  server = createServer((req, res) => {
    const name = req.url!.slice(1);
    const path = join(dir, name);
    const content = name === 'big' ? big : name === 'small' ? small : Buffer.alloc(0);
    sendBlob(req, res, path, sha256(content)).catch((err: Error) => res.writeHead(500).end(err.message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/**
 * One request, read to its end. `onFirstChunk` runs once, with the response paused: it resumes it
 * (a slow client) or destroys the request (a client that goes away). Rejects if the body is cut.
 */
function get(
  path: string,
  headers: Record<string, string> = {},
  options: { method?: string; onFirstChunk?: (res: IncomingMessage, req: ClientRequest) => void } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const req = request(`${origin}${path}`, { method: options.method ?? 'GET', headers, agent: false }, (res) => {
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (chunks.length === 1 && options.onFirstChunk !== undefined) {
          res.pause();
          options.onFirstChunk(res, req);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`cut after ${Buffer.concat(chunks).length} of ${res.headers['content-length']} bytes`)));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A client that stops reading for `ms` after the first chunk. */
const pauseFor = (ms: number) => (res: IncomingMessage) => setTimeout(() => res.resume(), ms);

/** The files this process has open (Linux). */
const filesOpen = () =>
  readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return []; // closed meanwhile
    }
  });

async function eventually(condition: () => boolean, ms = 3_000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('parseByteRange', () => {
  test.each([
    [undefined, 20, null],
    ['bytes=7-', 20, { start: 7, end: 19 }],
    ['bytes=2-5', 20, { start: 2, end: 5 }],
    ['bytes=0-999999', 20, { start: 0, end: 19 }],
    ['bytes=-3', 20, { start: 17, end: 19 }],
    ['bytes=-50', 20, { start: 0, end: 19 }],
    ['bytes=20-', 20, 'unsatisfiable'],
    ['bytes=-0', 20, 'unsatisfiable'],
    ['bytes=0-', 0, 'unsatisfiable'],
    ['bytes=5-2', 20, null],
    ['bytes=0-1,4-5', 20, null],
    ['bytes=-', 20, null],
    ['items=0-1', 20, null],
    ['bytes=1234567890123456-', 20, null],
  ])('%s of %d bytes -> %j', (header, size, expected) => {
    expect(parseByteRange(header, size)).toEqual(expected);
  });
});

describe('sendBlob over HTTP', () => {
  test('a whole blob larger than its slabs arrives intact, with a strong content-hash ETag and immutable caching', async () => {
    const answer = await get('/big');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBe(String(big.length));
    expect(answer.headers['content-type']).toBe('application/octet-stream');
    expect(answer.headers.etag).toBe(`"${sha256(big)}"`);
    expect(answer.headers['cache-control']).toMatch(/immutable/);
    expect(answer.headers['accept-ranges']).toBe('bytes');
    expect(sha256(answer.body)).toBe(sha256(big));
  });

  test('a client that stops reading gets every byte once its socket drains: no slab is reused before the socket took it', async () => {
    const answers = await Promise.all([get('/big', {}, { onFirstChunk: pauseFor(300) }), get('/big', {}, { onFirstChunk: pauseFor(150) })]);
    for (const answer of answers) {
      expect(answer.body.length).toBe(big.length);
      expect(sha256(answer.body)).toBe(sha256(big));
    }
  });

  test('a single range resumes a download (206 and Content-Range), across slab boundaries', async () => {
    const from = 3 * BLOB_SLAB_BYTES - 7;
    const answer = await get('/big', { range: `bytes=${from}-` });
    expect(answer.status).toBe(206);
    expect(answer.headers['content-range']).toBe(`bytes ${from}-${big.length - 1}/${big.length}`);
    expect(answer.headers['content-length']).toBe(String(big.length - from));
    expect(answer.body.equals(big.subarray(from))).toBe(true);
    const middle = await get('/small', { range: 'bytes=7-12' });
    expect(middle.status).toBe(206);
    expect(middle.body.toString()).toBe('ecu v2');
    const suffix = await get('/small', { range: 'bytes=-4' });
    expect(suffix.status).toBe(206);
    expect(suffix.body.equals(small.subarray(-4))).toBe(true);
  });

  test('a range past the end is 416 with the size; several ranges or a malformed one get the whole blob', async () => {
    const past = await get('/small', { range: `bytes=${small.length}-` });
    expect(past.status).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${small.length}`);
    expect(past.body.length).toBe(0);
    for (const range of ['bytes=0-1,4-5', 'bytes=abc', 'bytes=9-3']) {
      const whole = await get('/small', { range });
      expect(whole.status).toBe(200);
      expect(whole.body.equals(small)).toBe(true);
    }
  });

  test('HEAD answers the headers only, and a matching If-None-Match is 304 without a body', async () => {
    const head = await get('/big', {}, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(big.length));
    expect(head.body.length).toBe(0);
    const etag = head.headers.etag!;
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const cached = await get('/big', { 'if-none-match': ifNoneMatch });
      expect(cached.status).toBe(304);
      expect(cached.body.length).toBe(0);
    }
    const stale = await get('/small', { 'if-none-match': '"other"' });
    expect(stale.status).toBe(200);
  });

  test('an empty blob is an empty 200, and any range of it is 416', async () => {
    const answer = await get('/empty');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBe('0');
    expect((await get('/empty', { range: 'bytes=0-' })).status).toBe(416);
  });

  test('a missing file is refused before anything is sent', async () => {
    const answer = await get('/missing');
    expect(answer.status).toBe(500);
    expect(answer.body.toString()).toMatch(/ENOENT/);
  });

  test('a client that goes away mid-blob: the server stops reading at once and closes the file, and goes on serving', async () => {
    // 64 GiB, sparse (no disk used): a server that went on reading would hold the file for seconds.
    const hugePath = join(dir, 'huge');
    writeFileSync(hugePath, '');
    truncateSync(hugePath, 64 * 1024 ** 3);
    let openWhileSending: string[] = [];
    const gone = get('/huge', {}, {
      onFirstChunk: (_res, req) => {
        openWhileSending = filesOpen(); // the server fills the socket and its slabs, then waits
        setTimeout(() => req.destroy(), 100);
      },
    });
    await expect(gone).rejects.toThrow();
    expect(openWhileSending).toContain(hugePath);
    await eventually(() => !filesOpen().includes(hugePath), 1_000);
    expect(sha256((await get('/big')).body)).toBe(sha256(big));
  });

  test('a file that ends before its length cuts the answer short instead of sending anything else', async () => {
    const path = join(dir, 'shrinking');
    writeFileSync(path, big);
    const answer = get('/shrinking', {}, {
      onFirstChunk: (res) => {
        truncateSync(path, BLOB_SLAB_BYTES); // the blob shrinks while the server waits for this client
        setTimeout(() => res.resume(), 100);
      },
    });
    await expect(answer).rejects.toThrow(/cut after \d+ of \d+ bytes/);
  });
});
