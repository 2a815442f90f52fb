// The Image repository's process- and connection-level hardening (issue 14), on loopback with a real
// server, real SQLite and real signatures: a request never ends the process (HR-1), background
// re-signing survives a storage that refuses writes (HR-8), downloads are capped and stalled
// clients closed (HR-2), refused uploads are answered at once and not drained (HR-3), and the
// data folder is locked, owner-only and cleaned of cut uploads (HR-9f, HR-9h, HR-9i).
import { jest } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../../shared/server/sqlite.js';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey, type TufKey } from '../../shared/core/crypto/keys.js';
import { StorageError } from '../../shared/core/errors.js';
import { errorResponse } from '../../shared/server/http-errors.js';
import { listenHttp, DEFAULT_HTTP_SERVER_LIMITS } from '../../shared/server/http-server.js';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { RootSigned, TargetsSigned } from '../../shared/core/metadata/types.js';
import { startImageServer, type ImageServerOptions, type RunningImageServer } from '../../image-repo/server.js';
import { runCli } from '../support/cli-runner.js';
import { tcpState } from './tcp-state.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const EXPIRES = '2027-06-01T00:00:00Z';
const TOKEN = 'hardening-uploader-token-0123456789';
const rootKey = PrivateKey.fromLabel('hardening-image-root');
const targetsKey = PrivateKey.fromLabel('hardening-image-targets');

let dataDir: string;
let server: RunningImageServer;
let serving = false;
let clock: FixedClock;
let logLines: string[];

async function start(options: Partial<ImageServerOptions> = {}): Promise<RunningImageServer> {
  server = await startImageServer({ dataDir, clock, log: (line) => logLines.push(line), ...options });
  serving = true;
  return server;
}

async function stop(): Promise<void> {
  if (serving) await server.close();
  serving = false;
}

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'image-hardening-'));
  clock = new FixedClock(NOW);
  logLines = [];
});

afterEach(async () => {
  jest.restoreAllMocks();
  await stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function api(method: string, path: string, body?: Uint8Array | string, token: string | null = TOKEN) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    body,
    headers: { 'content-type': 'application/octet-stream', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as { error?: { code: string; message: string } } & Record<string, unknown> };
}

/** Publishes root v1 and an empty targets v1, so that the server has snapshot and timestamp to keep fresh. */
async function publishRootAndTargets(): Promise<void> {
  await server.storage.addUploader('release-bot', TOKEN, NOW);
  const online = (await (await fetch(`${server.url}/api/v1/online-keys`)).json()) as Record<'timestamp' | 'snapshot', { keyid: string; key: TufKey }>;
  const root: RootSigned = {
    _type: 'root',
    spec_version: SPEC_VERSION,
    version: 1,
    expires: EXPIRES,
    consistent_snapshot: true,
    keys: {
      [rootKey.keyid]: rootKey.publicKey.tuf,
      [targetsKey.keyid]: targetsKey.publicKey.tuf,
      [online.timestamp.keyid]: online.timestamp.key,
      [online.snapshot.keyid]: online.snapshot.key,
    },
    roles: {
      root: { keyids: [rootKey.keyid], threshold: 1 },
      targets: { keyids: [targetsKey.keyid], threshold: 1 },
      timestamp: { keyids: [online.timestamp.keyid], threshold: 1 },
      snapshot: { keyids: [online.snapshot.keyid], threshold: 1 },
    },
  };
  expect((await api('PUT', '/api/v1/metadata/root', serializeMetadata(signMetadata(root, [rootKey])))).status).toBe(201);
  const targets: TargetsSigned = { _type: 'targets', spec_version: SPEC_VERSION, version: 1, expires: EXPIRES, targets: {} };
  expect((await api('PUT', '/api/v1/metadata/targets/targets', serializeMetadata(signMetadata(targets, [targetsKey])))).status).toBe(201);
}

/** Bounded wait for a condition the server reaches on its own (a timer round, a released slot). */
async function eventually(condition: () => boolean | Promise<boolean>, what: string, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never happened: ${what}`);
}

interface RawAnswer {
  /** Everything the server sent before it closed the connection. */
  readonly text: string;
  readonly status: number;
}

/**
 * A client that sends `head` and then `bodyStart`, and never the rest of the body it declared:
 * resolves once the server has closed the connection (its answer and its end), with what it sent.
 */
function uploadThatNeverFinishes(head: string, bodyStart: Buffer): Promise<RawAnswer> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined); // a reset after the answer is still a close by the server
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      if (status === 0) reject(new Error(`closed without an answer: ${JSON.stringify(text)}`));
      else resolve({ text, status });
    });
    socket.write(head);
    socket.write(bodyStart);
  });
}

const bodyOf = (answer: RawAnswer) => JSON.parse(answer.text.slice(answer.text.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };

describe('HR-1: one request never ends the process', () => {
  it('answers /metadata/%25E0.json and /metadata/%25.json with 404 (the name is decoded once) and goes on serving', async () => {
    await start();
    for (const path of ['/metadata/%25E0.json', '/metadata/%25.json', '/metadata/1.%25E0.json', '/metadata/%E0.json']) {
      const response = await fetch(`${server.url}${path}`);
      expect([400, 404]).toContain(response.status);
      expect(((await response.json()) as { error: { code: string } }).error.code).toMatch(/^(not_found|bad_request)$/);
    }
    expect((await fetch(`${server.url}/api/v1/online-keys`)).status).toBe(200);
  });

  it('a handler that throws (its database closed under it) gets a clean 500 without stack or path, and the server goes on', async () => {
    await start();
    await server.storage.close(); // every metadata read now throws inside the node:http fast path
    const response = await fetch(`${server.url}/metadata/timestamp.json`);
    expect(response.status).toBe(500);
    const text = await response.text();
    // The request id (shared/server/observability.ts) names the server's log line, and nothing else is said.
    expect(JSON.parse(text)).toEqual({ error: { code: 'internal', message: 'internal server error', requestId: response.headers.get('x-request-id') } });
    expect(text).not.toMatch(/\/|at [A-Za-z]/);
    expect((await fetch(`${server.url}/api/v1/online-keys`)).status).toBe(200);
  });

  it('the shared dispatcher turns a throw and a rejected promise into 500 JSON, and the server goes on', async () => {
    const failing = await listenHttp(
      (req, res) => {
        if (req.url === '/throws') throw new Error(`cannot open /var/lib/secret for ${req.url}`);
        if (req.url === '/rejects') return Promise.reject(new TypeError('boom at /srv/x'));
        res.end('fine');
        return undefined;
      },
      { limits: DEFAULT_HTTP_SERVER_LIMITS },
    );
    const origin = `http://127.0.0.1:${(failing.address() as { port: number }).port}`;
    try {
      for (const path of ['/throws', '/rejects']) {
        const response = await fetch(`${origin}${path}`);
        expect(response.status).toBe(500);
        expect(await response.json()).toEqual({ error: { code: 'internal', message: 'internal server error' } });
      }
      expect(await (await fetch(`${origin}/ok`)).text()).toBe('fine');
    } finally {
      failing.closeAllConnections();
      await new Promise((resolve) => failing.close(resolve));
    }
  });
});

describe('HR-9g: no server path in an error body', () => {
  it('a storage failure is a 500 whose message names no file', () => {
    jest.spyOn(console, 'error').mockImplementation(() => undefined); // the server's log gets the details
    const answer = errorResponse(new StorageError('cannot write /var/lib/uptane/image/blobs/incoming/ab.tmp: ENOSPC'));
    expect(answer.status).toBe(500);
    expect(answer.body.error.code).toBe('storage');
    expect(answer.body.error.message).not.toMatch(/\/var|ENOSPC|\.tmp/);
  });
});

describe('HR-8: background re-signing survives a storage that refuses writes', () => {
  it('logs and exposes the failure, keeps serving, and recovers once writes work again', async () => {
    await start({ refreshIntervalMs: 20 });
    await publishRootAndTargets();
    const timestamp = await fetch(`${server.url}/metadata/timestamp.json`);
    const served = Buffer.from(await timestamp.arrayBuffer());
    const db = (server.storage as unknown as { db: Db }).db;
    db.pragma('query_only = 1'); // SQLite refuses every write from now on (SQLITE_READONLY), as with a full disk
    clock.advance(20 * 60 * 60 * 1000); // timestamp (1 day) is due for re-signing
    // The timer itself runs into the refusal, more than once, and the process goes on.
    await eventually(() => server.resignStatus().consecutiveFailures >= 2, 'two failed re-signing rounds');
    expect(server.resignStatus().lastFailure?.message).toMatch(/readonly|read-only|query_only/i);
    expect(logLines.some((line) => /re-signing snapshot\/timestamp failed/.test(line))).toBe(true);
    const meanwhile = await fetch(`${server.url}/metadata/timestamp.json`);
    expect(meanwhile.status).toBe(200);
    expect(Buffer.from(await meanwhile.arrayBuffer())).toEqual(served);

    db.pragma('query_only = 0');
    await eventually(() => server.resignStatus().consecutiveFailures === 0, 're-signing to work again');
    expect(server.resignStatus().lastSuccessAt).toBeDefined();
    const resigned = await fetch(`${server.url}/metadata/timestamp.json`);
    expect(Buffer.from(await resigned.arrayBuffer())).not.toEqual(served);
  });
});

describe('HR-9f, HR-9h, HR-9i: the data folder', () => {
  const mode = (path: string) => statSync(path).mode & 0o777;

  it('is owner-only: folders 0700, database, lock and images 0600, also when an older version left them 0755/0644', async () => {
    mkdirSync(join(dataDir, 'blobs', 'incoming'), { recursive: true });
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'blobs'), 0o755);
    writeFileSync(join(dataDir, 'image-repo.sqlite'), '');
    chmodSync(join(dataDir, 'image-repo.sqlite'), 0o644);
    await start();
    await server.storage.addUploader('release-bot', TOKEN, NOW);
    const uploaded = await api('POST', '/api/v1/images', 'an image');
    expect(uploaded.status).toBe(201);
    for (const dir of ['', 'keys', 'blobs', join('blobs', 'incoming')]) expect([dir, mode(join(dataDir, dir))]).toEqual([dir, 0o700]);
    for (const file of ['image-repo.sqlite', 'image-repo.sqlite-wal', 'serve.lock', join('blobs', (uploaded.json.hashes as { sha256: string }).sha256)]) {
      expect([file, mode(join(dataDir, file))]).toEqual([file, 0o600]);
    }
    expect(readdirSync(join(dataDir, 'keys')).map((f) => [f, mode(join(dataDir, 'keys', f))])).toEqual([
      ['snapshot.pem', 0o600],
      ['timestamp.pem', 0o600],
    ]);
  });

  it('starts over a lock left by a server that was killed (its pid is gone)', async () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!; // a process that has exited
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'serve.lock'), `${gone}\nuptane image serve\n`);
    await start();
    expect(readFileSync(join(dataDir, 'serve.lock'), 'utf8')).toBe(`${process.pid}\nuptane image serve\n`);
  });

  it('removes uploads a crash cut short from blobs/incoming at start', async () => {
    mkdirSync(join(dataDir, 'blobs', 'incoming'), { recursive: true });
    writeFileSync(join(dataDir, 'blobs', 'incoming', '0123456789abcdef.tmp'), randomBytes(1000));
    await start();
    expect(readdirSync(join(dataDir, 'blobs', 'incoming'))).toEqual([]);
    expect(logLines.some((line) => /removed 1 partial upload/.test(line))).toBe(true);
  });

  it('a second `uptane image serve` on the same folder refuses to start, naming the pid that holds it', async () => {
    await start();
    const second = await runCli(['image', 'serve', '--data-dir', dataDir, '--port', '0'], { timeoutMs: 60_000 });
    expect(second.status).not.toBe(0);
    expect(second.stderr + second.stdout).toContain(`pid ${process.pid}`);
    expect(second.stderr + second.stdout).toMatch(/Stop that process first/);
    expect((await fetch(`${server.url}/api/v1/online-keys`)).status).toBe(200);
    await stop();
    // Once released, the folder is free again.
    await start();
    expect(existsSync(join(dataDir, 'serve.lock'))).toBe(true);
  }, 90_000);
});

describe('HR-3: refused uploads are answered at once, and not drained', () => {
  const GIB = 1024 ** 3;

  it('an upload without a token gets 401 at once and its connection closed, while the client still has a GiB to send', async () => {
    await start();
    const answer = await uploadThatNeverFinishes(
      `POST /api/v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${GIB}\r\n\r\n`,
      randomBytes(64 * 1024),
    );
    expect(answer.status).toBe(401);
    expect(answer.text).toMatch(/\r\nconnection: close\r\n/i);
    expect(bodyOf(answer).error.code).toBe('unauthorized');
  }, 20_000);

  it('an upload declaring more than the image limit gets 413 before any byte of it is read', async () => {
    await start({ config: { maxImageBytes: 1024 * 1024 } });
    await server.storage.addUploader('release-bot', TOKEN, NOW);
    const answer = await uploadThatNeverFinishes(
      `POST /api/v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${GIB}\r\n\r\n`,
      Buffer.alloc(0),
    );
    expect(answer.status).toBe(413);
    expect(bodyOf(answer).error.code).toBe('image_too_large');
  }, 20_000);

  it('a chunked upload gets 413 as soon as it passes the limit, and leaves nothing in blobs/incoming', async () => {
    await start({ config: { maxImageBytes: 100_000 } });
    await server.storage.addUploader('release-bot', TOKEN, NOW);
    const chunk = randomBytes(150_000);
    const answer = await uploadThatNeverFinishes(
      `POST /api/v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]),
    );
    expect(answer.status).toBe(413);
    expect(bodyOf(answer).error.code).toBe('image_too_large');
    expect(readdirSync(join(dataDir, 'blobs', 'incoming'))).toEqual([]);
  }, 20_000);

  it('metadata declaring more than the metadata limit gets 413 body_too_large at once', async () => {
    await start({ config: { maxMetadataBytes: 10_000 } });
    await server.storage.addUploader('release-bot', TOKEN, NOW);
    const answer = await uploadThatNeverFinishes(
      `PUT /api/v1/metadata/root HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 20000000\r\n\r\n`,
      Buffer.from('{"signed":'),
    );
    expect(answer.status).toBe(413);
    expect(bodyOf(answer).error.code).toBe('body_too_large');
  }, 20_000);

  /**
   * Sends `head` and `bodyStart`, less than the 5,000 bytes `head` declares, then leaves; resolves
   * with the server's log lines about it once there is one, and the console errors meanwhile.
   */
  async function leaveMidBody(head: string, bodyStart: Buffer | string): Promise<{ lines: string[]; errors: ReturnType<typeof jest.spyOn> }> {
    await start();
    await server.storage.addUploader('release-bot', TOKEN, NOW);
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`${head}Authorization: Bearer ${TOKEN}\r\nContent-Length: 5000\r\n\r\n`);
    socket.end(bodyStart);
    await eventually(() => logLines.some((line) => line.includes('client closed the connection')), 'the plain log line');
    return { lines: logLines.filter((line) => line.includes('client closed')), errors };
  }

  it('metadata whose client leaves mid-body is one plain log line, never an internal error', async () => {
    const { lines, errors } = await leaveMidBody('PUT /api/v1/metadata/root HTTP/1.1\r\nHost: x\r\n', '{"signed":');
    expect(lines).toEqual(['PUT /api/v1/metadata/root: client closed the connection after 10 body bytes']);
    expect(errors).not.toHaveBeenCalled();
    expect((await api('GET', '/metadata/1.root.json', undefined, null)).status).toBe(404); // and it goes on serving
  });

  it('an image upload whose client leaves mid-body is one plain log line, and leaves nothing behind', async () => {
    const { lines, errors } = await leaveMidBody('POST /api/v1/images HTTP/1.1\r\nHost: x\r\n', Buffer.alloc(1500, 0x61));
    expect(lines).toEqual(['POST /api/v1/images: client closed the connection before its body was complete']);
    expect(errors).not.toHaveBeenCalled();
    expect(readdirSync(join(dataDir, 'blobs', 'incoming'))).toEqual([]);
  });

  it('an honest upload and publish still work, and a refused small upload still reads its answer', async () => {
    await start();
    await publishRootAndTargets();
    expect((await api('POST', '/api/v1/images', 'x', 'wrong-token')).status).toBe(401);
    expect((await api('POST', '/api/v1/images', 'an honest image')).status).toBe(201);
  });
});

describe('HR-2: image downloads are capped, and stalled readers closed', () => {
  const IMAGE = randomBytes(16 * 1024 * 1024);
  const sha = createHash('sha256').update(IMAGE).digest('hex');

  /** Starts a download from `localAddress` and stops reading after the headers. */
  function stalledDownload(localAddress: string): Promise<{ res: IncomingMessage; localPort: number }> {
    const { port } = new URL(server.url);
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: `/targets/ecu/${sha}.image.bin`, localAddress, agent: false }, (res) => {
        res.pause();
        res.on('error', () => undefined); // the server's reset, once this client reads again
        resolve({ res, localPort: res.socket.localPort! });
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function uploadImage(): Promise<void> {
    await server.storage.addUploader('release-bot', TOKEN, NOW);
    expect((await api('POST', '/api/v1/images', IMAGE)).status).toBe(201);
  }

  it('refuses downloads past the total and per-address caps with 503 server_busy and Retry-After, and serves again once a slot frees', async () => {
    await start({ limits: { maxDownloads: 2, maxDownloadsPerAddress: 1, busyRetryAfterSeconds: 7 } });
    await uploadImage();
    const first = await stalledDownload('127.0.0.2');
    expect(first.res.statusCode).toBe(200);
    const sameAddress = await stalledDownload('127.0.0.2');
    expect(sameAddress.res.statusCode).toBe(503);
    expect(sameAddress.res.headers['retry-after']).toBe('7');
    sameAddress.res.resume();
    const second = await stalledDownload('127.0.0.3');
    expect(second.res.statusCode).toBe(200);
    const overTotal = await fetch(`${server.url}/targets/ecu/${sha}.image.bin`);
    expect(overTotal.status).toBe(503);
    // A HEAD holds no slabs: `uptane image push` can still ask whether an image is there.
    expect((await fetch(`${server.url}/targets/ecu/${sha}.image.bin`, { method: 'HEAD' })).status).toBe(200);
    expect(await overTotal.json()).toEqual({ error: { code: 'server_busy', message: expect.any(String), requestId: overTotal.headers.get('x-request-id') } });
    // Metadata is still served while the downloads are stalled.
    expect((await fetch(`${server.url}/api/v1/online-keys`)).status).toBe(200);
    first.res.destroy();
    second.res.destroy();
    let status = 0;
    await eventually(async () => {
      const again = await fetch(`${server.url}/targets/ecu/${sha}.image.bin`);
      status = again.status;
      if (status !== 200) {
        await again.arrayBuffer();
        return false;
      }
      expect(createHash('sha256').update(Buffer.from(await again.arrayBuffer())).digest('hex')).toBe(sha);
      return true;
    }, 'a download slot to free');
    expect(status).toBe(200);
  }, 30_000);

  it('closes connections past maxConnections as they arrive, and takes new ones once others are gone', async () => {
    await start({ limits: { maxConnections: 2 } });
    const { port } = new URL(server.url);
    const held = [connect(Number(port), '127.0.0.1'), connect(Number(port), '127.0.0.1')];
    await Promise.all(held.map((socket) => new Promise((resolve) => socket.once('connect', resolve))));
    const refused = connect(Number(port), '127.0.0.1');
    let sent = '';
    refused.on('data', (chunk: Buffer) => (sent += chunk.toString()));
    refused.on('error', () => undefined);
    await new Promise((resolve) => refused.once('close', resolve)); // closed by the server, unanswered
    expect(sent).toBe('');
    for (const socket of held) socket.destroy();
    await eventually(async () => (await fetch(`${server.url}/api/v1/online-keys`).catch(() => undefined))?.status === 200, 'a connection to be taken again');
  });

  it('closes a download whose client stopped reading once nothing moved for idleTimeoutMs', async () => {
    await start({ limits: { idleTimeoutMs: 300 } });
    await uploadImage();
    const stalled = await stalledDownload('127.0.0.2');
    expect(stalled.res.statusCode).toBe(200);
    // The client does not read; only the server can end this connection.
    await eventually(() => tcpState(stalled.localPort) !== 'ESTABLISHED', 'the server to close the stalled download');
    // Reading now gets what the kernel had buffered, then the cut: the image never arrived whole.
    let received = 0;
    stalled.res.on('data', (chunk: Buffer) => (received += chunk.length));
    await new Promise((resolve) => stalled.res.once('close', resolve).resume());
    expect(received).toBeLessThan(IMAGE.length);
    expect((await fetch(`${server.url}/api/v1/online-keys`)).status).toBe(200);
  }, 20_000);
});
