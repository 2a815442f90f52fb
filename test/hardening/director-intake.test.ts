// The Director's vehicle-facing intake under abuse (issue 14): requests without credentials are
// refused from their headers before any body byte is read, and their connection is closed rather
// than drained (docs/threat-model.md HR-3); an oversized body is refused as soon as it passes the
// limit; a client that leaves mid-body is no internal error; and refused manifests, however many,
// never push a vehicle's accepted history out nor fill the database (HR-4). A real Image repository
// and a real Director on loopback; the unfinished uploads are written byte by byte on raw sockets.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { signVehicleRequest } from '../../shared/uptane/vehicle-auth.js';
import { startDirector } from '../../director-repo/server.js';
import { REFUSED_MANIFEST_EXCERPT_BYTES, REFUSED_MANIFEST_HISTORY } from '../../director-repo/store/manifests.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { sqliteOf } from '../../sim/harness/sqlite-storage.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

/** The Director's body limit (director-repo/server.ts). */
const LIMIT = 1_000_000;

let clock: FixedClock;
let repos: Repositories;
const vehicles: TestVehicle[] = [];

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'director-intake');
}, 60_000);

afterAll(async () => {
  for (const v of vehicles) v.cleanup();
  await repos.close();
});

async function registered(vin: string): Promise<TestVehicle> {
  const car = new TestVehicle(vin, [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true }, { serial: `${vin}-ecm`, hardwareId: 'ecm-x1' }], clock);
  vehicles.push(car);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  return car;
}

async function openSession(car: TestVehicle, url = repos.director.url): Promise<string> {
  const response = await fetch(`${url}/vehicle/session`, { method: 'POST', headers: { authorization: car.authHeader('POST', '/vehicle/session') } });
  expect(response.status).toBe(201);
  return ((await response.json()) as { token: string }).token;
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP: a request whose body is never finished, and what the server answered before closing.

interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly json: { error?: { code?: string } };
}

function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  return [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
}

/**
 * Writes `head`, then `body` if given, on a new connection, and never anything more, so a declared
 * body is never completed. Resolves with the answer once the server has closed the connection: a
 * server that waited for (or drained) the rest of the body would never get there.
 */
function sendUnfinished(head: string, body?: Buffer): Promise<RawAnswer> {
  const { hostname, port } = new URL(repos.director.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // The server closing a connection it did not read to the end may reset it: what counts is what arrived.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      try {
        resolve(parseAnswer(Buffer.concat(received).toString('latin1')));
      } catch (err) {
        reject(err as Error);
      }
    });
    socket.write(head);
    if (body !== undefined) socket.write(body);
  });
}

function parseAnswer(text: string): RawAnswer {
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`the connection closed without an answer (${JSON.stringify(text.slice(0, 200))})`);
  const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  const body = text.slice(split + 4, split + 4 + Number(headers['content-length'] ?? 0));
  return { status: Number(statusLine!.split(' ')[1]), headers, json: JSON.parse(body) as RawAnswer['json'] };
}

/** `data` as one HTTP/1.1 chunk after another (64 KiB each), without the closing chunk. */
function chunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += 65_536) {
    const piece = data.subarray(i, i + 65_536);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

function expectRefusedAndClosed(answer: RawAnswer, status: number, code?: string): void {
  expect({ status: answer.status, connection: answer.headers.connection }).toEqual({ status, connection: 'close' });
  if (code !== undefined) expect(answer.json.error?.code).toBe(code);
}

// ---------------------------------------------------------------------------------------------

/** The header with its signature's last byte changed: the keyid, time, nonce and digest stay right. */
function forgedSignature(header: string): string {
  return header.replace(/sig="([0-9a-f]+)([0-9a-f]{2})"$/, (_all, head: string, last: string) => `sig="${head}${last === '00' ? '01' : '00'}"`);
}

describe('requests without credentials (docs/threat-model.md HR-3)', () => {
  it('refuses an anonymous manifest upload with 401 from its headers alone, and closes the connection instead of draining it', async () => {
    const car = await registered('INTAKE-ANON1');
    const stranger = PrivateKey.fromLabel('director-intake/stranger');
    const declared = Buffer.alloc(900_000, 0x20);
    const staleSigned = signVehicleRequest(car.primary.key, { method: 'POST', path: '/vehicle/manifest', body: declared }, new Date(clock.now().getTime() - 3_600_000), nodeBackend);
    const credentials: Array<[string, string | undefined]> = [
      ['none', undefined],
      ['a bearer token the Director never issued', 'Bearer not-a-session-token'],
      ['a signature by an unregistered key', signVehicleRequest(stranger, { method: 'POST', path: '/vehicle/manifest', body: declared }, clock.now(), nodeBackend)],
      ["a registered key's signature an hour old", staleSigned],
      // A primary's keyid is no secret, and a current time is easy to give: the signature itself is
      // checked from the headers too, over the body digest the header names.
      ["a registered key's keyid and a current time with a forged signature", forgedSignature(signVehicleRequest(car.primary.key, { method: 'POST', path: '/vehicle/manifest', body: declared }, clock.now(), nodeBackend))],
    ];
    for (const [what, authorization] of credentials) {
      // 900,000 bytes declared, under the limit, and not one of them sent: only an answer from the
      // headers can come back, and only a closed connection ends the exchange.
      const headers: Record<string, string | number> = { 'Content-Type': 'application/json', 'Content-Length': declared.length };
      if (authorization !== undefined) headers.Authorization = authorization;
      const answer = await sendUnfinished(requestHead('POST', '/vehicle/manifest', headers));
      expect({ what, status: answer.status, connection: answer.headers.connection }).toEqual({ what, status: 401, connection: 'close' });
    }
    // The same without a declared length (chunked), and on the vehicle's other write route.
    expectRefusedAndClosed(await sendUnfinished(requestHead('POST', '/vehicle/manifest', { 'Transfer-Encoding': 'chunked' }), chunked(Buffer.alloc(1000, 0x20))), 401, 'unauthorized');
    expectRefusedAndClosed(await sendUnfinished(requestHead('POST', '/vehicle/session', { 'Content-Length': declared.length })), 401, 'unauthorized');
    // Nothing was recorded against the vehicle whose key signed the stale request.
    expect(await repos.director.storage.manifests.history(car.vin, 10)).toEqual([]);
  });

  it('refuses an operator request without a valid token with 401 before its body, and closes the connection', async () => {
    const head = (authorization?: string) =>
      requestHead('POST', '/api/v1/vehicles', { 'Content-Type': 'application/json', 'Content-Length': 900_000, ...(authorization === undefined ? {} : { Authorization: authorization }) });
    expectRefusedAndClosed(await sendUnfinished(head()), 401, 'unauthorized');
    expectRefusedAndClosed(await sendUnfinished(head('Bearer not-the-operator-token')), 401, 'unauthorized');
  });
});

describe('bodies over the limit (docs/threat-model.md HR-3)', () => {
  it('refuses an operator body with 413 as soon as its declared length passes the limit, without waiting for it', async () => {
    const answer = await sendUnfinished(requestHead('POST', '/api/v1/vehicles', { Authorization: `Bearer ${OPERATOR_TOKEN}`, 'Content-Type': 'application/json', 'Content-Length': 50_000_000 }));
    expectRefusedAndClosed(answer, 413, 'body_too_large');
    const root = await sendUnfinished(requestHead('PUT', '/api/v1/metadata/root', { Authorization: `Bearer ${OPERATOR_TOKEN}`, 'Content-Length': 50_000_000 }));
    expectRefusedAndClosed(root, 413, 'body_too_large');
  });

  it('refuses a streamed operator body with 413 as soon as the bytes received pass the limit, without reading the rest', async () => {
    const head = requestHead('POST', '/api/v1/vehicles', { Authorization: `Bearer ${OPERATOR_TOKEN}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // One byte past the limit, and the body never ends: only a refusal at the limit answers.
    expectRefusedAndClosed(await sendUnfinished(head, chunked(Buffer.alloc(LIMIT + 1, 0x20))), 413, 'body_too_large');
  });

  it("refuses an authenticated vehicle's streamed manifest with 413 at the limit, and closes the connection", async () => {
    const car = await registered('INTAKE-BIG1');
    const token = await openSession(car);
    const head = requestHead('POST', '/vehicle/manifest', { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    expectRefusedAndClosed(await sendUnfinished(head, chunked(Buffer.alloc(LIMIT + 1, 0x20))), 413, 'body_too_large');
    expect(await repos.director.storage.manifests.history(car.vin, 10)).toEqual([]);
  });
});

describe('a client that disconnects mid-body (docs/threat-model.md HR-3)', () => {
  it('is logged as one plain line, never as an internal error with a stack', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'uptane-intake-'));
    const lines: string[] = [];
    const errors: string[] = [];
    const waiters: Array<() => void> = [];
    const heard = () => waiters.splice(0).forEach((wake) => wake());
    /** Resolves once `n` lines (log or console.error) were written. */
    const written = (n: number) => new Promise<void>((resolve) => {
      const check = () => (lines.length + errors.length >= n ? resolve() : waiters.push(check));
      check();
    });
    const director = await startDirector({
      dataDir,
      imageRepoUrl: repos.image.url,
      imageRootFile: join(repos.dataDir, 'image-root.json'),
      clock,
      log: (line) => {
        lines.push(line);
        heard();
      },
    });
    const consoleError = console.error;
    console.error = (...args: unknown[]) => {
      errors.push(args.map((a) => (a instanceof Error ? a.stack : String(a))).join(' '));
      heard();
    };
    try {
      const car = new TestVehicle('INTAKE-GONE1', [{ serial: 'INTAKE-GONE1-tcu', hardwareId: 'tcu-a', primary: true }], clock);
      vehicles.push(car);
      await director.services.inventory.registerVehicle(car.registration(), 'test');
      await director.storage.addOperator('intake-operator', 'intake-operator-token', clock.now());
      const { port } = new URL(director.url);
      const leaveMidBody = (head: string) => {
        const socket = connect(Number(port), '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write(head);
        socket.write(Buffer.alloc(50_000, 0x20));
        socket.end(); // half the declared body, then the client is gone
      };

      const { token } = await director.services.authentication.issueSession(car.vin);
      leaveMidBody(requestHead('POST', '/vehicle/manifest', { Authorization: `Bearer ${token}`, 'Content-Length': 100_000 }));
      await written(1);
      leaveMidBody(requestHead('POST', '/api/v1/vehicles', { Authorization: 'Bearer intake-operator-token', 'Content-Type': 'application/json', 'Content-Length': 100_000 }));
      await written(2);

      expect(errors).toEqual([]);
      expect(lines).toEqual([expect.stringMatching(/^manifest upload for INTAKE-GONE1 ended by the client/), expect.stringMatching(/^POST \/api\/v1\/vehicles: client closed/)]);
      expect(lines.every((line) => !line.includes('\n'))).toBe(true);
      // Nothing was recorded for the manifest that never arrived whole, nor audited for the operator.
      expect(await director.storage.manifests.history(car.vin, 10)).toEqual([]);
      expect((await director.storage.auditLog.entries(10)).map((e) => e.action)).toEqual(['register_vehicle']);
    } finally {
      console.error = consoleError;
      await director.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('refused manifests (docs/threat-model.md HR-4)', () => {
  it("125 refused junk manifests under a session token keep the vehicle's accepted history and lastManifestAt, and the database small", async () => {
    const car = await registered('INTAKE-HISTORY1');
    for (let i = 0; i < 5; i++) expect((await car.sendManifest(repos.director.url, car.manifest())).status).toBe(200);
    const storage = sqliteOf(repos.director.storage);
    const view = async () => (await repos.operator('GET', `/api/v1/vehicles/${car.vin}`)).json as { lastManifestAt: string | null; manifests: Array<Record<string, unknown>> };
    const before = await view();
    expect(before.lastManifestAt).not.toBeNull();
    const accepted = () => storage.db.prepare('SELECT id, received_at FROM manifests WHERE vin = ? ORDER BY id').all(car.vin);
    const acceptedBefore = accepted();
    expect(acceptedBefore).toHaveLength(5);
    const dbFile = join(repos.dataDir, 'director', 'director.sqlite');
    const dbBytes = () => {
      storage.db.pragma('wal_checkpoint(TRUNCATE)');
      return statSync(dbFile).size;
    };
    const sizeBefore = dbBytes();

    // What a stolen 15-minute session token allows: manifests the Director refuses, as fast as it
    // answers, each just under the body limit.
    const token = await openSession(car);
    const junk = (i: number) => Buffer.from(JSON.stringify({ junk: i, pad: 'j'.repeat(900_000) }));
    for (let i = 0; i < 125; i++) {
      const response = await fetch(`${repos.director.url}/vehicle/manifest`, { method: 'POST', body: junk(i), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
      expect({ i, status: response.status, code: ((await response.json()) as { error?: { code?: string } }).error?.code }).toEqual({ i, status: 400, code: 'malformed_metadata' });
    }

    // The accepted history is whole, and the vehicle was last heard from when it last said something true.
    expect(accepted()).toEqual(acceptedBefore);
    const after = await view();
    expect(after.lastManifestAt).toBe(before.lastManifestAt);
    // The refusals are kept apart, capped, each as a digest and an excerpt of its body.
    const refused = storage.db.prepare('SELECT body_length, body_sha256, length(excerpt) AS excerpt FROM refused_manifests WHERE vin = ? ORDER BY id').all(car.vin) as Array<{ body_length: number; body_sha256: string; excerpt: number }>;
    expect(refused.length).toBeGreaterThanOrEqual(REFUSED_MANIFEST_HISTORY);
    expect(refused.length).toBeLessThan(2 * REFUSED_MANIFEST_HISTORY);
    expect(refused.every((r) => r.excerpt === REFUSED_MANIFEST_EXCERPT_BYTES && r.body_length === junk(124).length)).toBe(true);
    expect(refused.at(-1)!.body_sha256).toBe(createHash('sha256').update(junk(124)).digest('hex'));
    // 125 bodies of 900 KB went in; the file grew by far less than one of them per ten.
    expect(dbBytes() - sizeBefore).toBeLessThan(2 * 1024 * 1024);

    // The operator still sees the refusals, newest first, with the body's digest.
    expect(after.manifests[0]).toMatchObject({ accepted: false, errorCode: 'malformed_metadata', bodyLength: junk(124).length, bodySha256: createHash('sha256').update(junk(124)).digest('hex') });
    // And the vehicle's next honest manifest is accepted.
    expect((await car.sendManifest(repos.director.url, car.manifest())).status).toBe(200);
    expect((await view()).manifests[0]).toMatchObject({ accepted: true });
  });
});
