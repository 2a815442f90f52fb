// Metrics, health and request logs on both servers (issue 19): a real Image repository and a real
// Director on loopback with a restricted /metrics and a JSON logger captured in memory. Vehicle
// traffic moves the counters; no VIN, serial or token ever reaches /metrics, and no credential the
// log; request ids come back in the header, the error body and the log line, and a hostile one is
// replaced rather than echoed.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { createLogger } from '../../shared/server/request-log.js';
import { HttpDirectorChannel } from '../../shared/uptane/director-channel-http.js';
import { startImageServer } from '../../image-repo/server.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, UPLOADER_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

const METRICS_TOKEN = 'metrics-secret-0123456789abcdef';
const VIN = 'OBSVIN0000000001';

let clock: FixedClock;
let repos: Repositories;
let car: TestVehicle;
const logLines: string[] = [];
/** Every credential the traffic below sends: none may appear in /metrics or the log. */
const secrets: string[] = [OPERATOR_TOKEN, UPLOADER_TOKEN, METRICS_TOKEN];

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  const logger = createLogger({ format: 'json', level: 'info', destination: { write: (chunk: string) => logLines.push(...chunk.split('\n').filter((l) => l !== '')) } });
  repos = await startRepositories(clock, 'observability', { observability: { logger, metricsAccess: { mode: 'token', token: METRICS_TOKEN } } });
  await repos.publishImages([{ name: 'obs/tcu.bin', content: Buffer.alloc(64, 1), hardwareIds: ['tcu-a'], releaseCounter: 1 }]);
  car = new TestVehicle(VIN, [{ serial: `${VIN}-tcu`, hardwareId: 'tcu-a', primary: true }, { serial: `${VIN}-ecm`, hardwareId: 'ecm-x1' }], clock);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
}, 60_000);

afterAll(async () => {
  car.cleanup();
  await repos.close();
});

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
}

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = new Map([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (wanted.every(([k, v]) => have.get(k) === v)) return Number(match[3]);
  }
  return undefined;
}

const parsedLog = () => logLines.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('/metrics', () => {
  test('needs the bearer secret: 401 without it or with another, naming the request in the error', async () => {
    for (const url of [repos.director.url, repos.image.url]) {
      const none = await fetch(`${url}/metrics`);
      expect(none.status).toBe(401);
      const body = (await none.json()) as { error: { code: string; requestId: string } };
      expect(body.error.code).toBe('authentication');
      expect(body.error.requestId).toBe(none.headers.get('x-request-id'));
      expect(await none.text().catch(() => '')).not.toContain('uptane_http');
      const wrong = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN.replace(/.$/, 'X')}` } });
      expect(wrong.status).toBe(401);
    }
  });

  test('counts an accepted and a refused manifest, a reported attack and the requests by route pattern, with no VIN, serial or token in the text', async () => {
    const session = await fetch(`${repos.director.url}/vehicle/session`, { method: 'POST', headers: { authorization: car.authHeader('POST', '/vehicle/session') } });
    expect(session.status).toBe(201);
    const token = ((await session.json()) as { token: string }).token;
    secrets.push(token);
    const metadata = await fetch(`${repos.director.url}/vehicle/metadata/timestamp.json`, { headers: { authorization: `Bearer ${token}` } });
    expect(metadata.status).toBe(200);

    const before = await scrape(repos.director.url);
    const ecm = car.ecu(`${VIN}-ecm`);
    const manifest = car.manifest({ [car.primary.serial]: car.report(car.primary), [ecm.serial]: car.report(ecm, { attacks: [{ code: 'hash_mismatch', message: 'image tampered in transit' }] }) });
    expect((await car.sendManifest(repos.director.url, manifest)).status).toBe(200);
    // The same counters again: a replayed manifest, refused.
    const replayed = await car.sendManifest(repos.director.url, manifest);
    expect(replayed.status).toBeGreaterThanOrEqual(400);
    const refusedCode = (replayed.json as { error: { code: string } }).error.code;
    const after = await scrape(repos.director.url);

    expect((sample(after, 'uptane_director_manifests_accepted_total') ?? 0) - (sample(before, 'uptane_director_manifests_accepted_total') ?? 0)).toBe(1);
    expect((sample(after, 'uptane_director_manifests_refused_total', { code: refusedCode }) ?? 0) - (sample(before, 'uptane_director_manifests_refused_total', { code: refusedCode }) ?? 0)).toBe(1);
    expect(sample(after, 'uptane_director_attacks_reported_total', { code: 'hash_mismatch' })).toBe(1);
    expect(sample(after, 'uptane_http_request_duration_seconds_count', { method: 'POST', route: '/vehicle/manifest', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'uptane_http_request_duration_seconds_count', { method: 'GET', route: '/vehicle/metadata/:file', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'uptane_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/vehicles', status: '201' })).toBe(1);
    expect(sample(after, 'uptane_director_vehicles_registered')).toBe(1);
    expect(sample(after, 'uptane_director_vehicles', { state: 'up_to_date' })).toBe(1);
    // The fixture's Director root expires a year after the fixture's clock.
    expect(sample(after, 'uptane_metadata_expiry_seconds', { repository: 'director', role: 'root' })).toBe((Date.parse('2027-06-01T00:00:00Z') - FIXTURE_NOW.getTime()) / 1000);
    expect(sample(after, 'uptane_metadata_expiry_seconds', { repository: 'director', role: 'timestamp' })).toBe(86_400);
    expect(sample(after, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);

    for (const text of [after, await scrape(repos.image.url)]) {
      expect(text).not.toContain(VIN);
      expect(text).not.toContain('tcu-a');
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });

  test('a path no route takes is labelled "unmatched", never by the path a client chose', async () => {
    expect((await fetch(`${repos.director.url}/no/such/${VIN}`)).status).toBe(404);
    expect((await fetch(`${repos.image.url}/metadata/${VIN}.json`)).status).toBe(404);
    const director = await scrape(repos.director.url);
    expect(sample(director, 'uptane_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status: '404' })).toBeGreaterThanOrEqual(1);
    expect(director).not.toContain(VIN);
    const image = await scrape(repos.image.url);
    expect(sample(image, 'uptane_http_request_duration_seconds_count', { method: 'GET', route: '/metadata/:file', status: '404' })).toBeGreaterThanOrEqual(1);
    expect(sample(image, 'uptane_metadata_expiry_seconds', { repository: 'image', role: 'timestamp' })).toBeGreaterThan(0);
    expect(image).not.toContain(VIN);
  });

  test('--metrics off answers 404, as if there were no such route', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'uptane-obs-off-'));
    const server = await startImageServer({ dataDir, clock, observability: { metricsAccess: { mode: 'off' } } });
    try {
      const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('uptane_http');
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('/healthz and /readyz', () => {
  test('both servers are alive and ready (SQLite answers, online keys sign)', async () => {
    for (const url of [repos.director.url, repos.image.url]) {
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready' });
    }
  });
});

describe('request ids and the request log', () => {
  test('a safe X-Request-Id comes back in the header, in the error body and in one JSON log line with the route pattern', async () => {
    const id = 'trace-7f3a.91:ab_c';
    const response = await fetch(`${repos.director.url}/api/v1/vehicles/${VIN}`, { headers: { 'x-request-id': id } });
    expect(response.status).toBe(401);
    expect(response.headers.get('x-request-id')).toBe(id);
    expect(((await response.json()) as { error: { requestId: string } }).error.requestId).toBe(id);
    const lines = parsedLog().filter((l) => l.requestId === id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ method: 'GET', status: 401, level: 30 });
    expect(typeof lines[0]!.durationMs).toBe('number');
    // The operator router refused before any route matched: the line names no path the client chose.
    expect(String(lines[0]!.route)).not.toContain(VIN);

    const ok = await fetch(`${repos.image.url}/metadata/timestamp.json`, { headers: { 'x-request-id': 'image-1' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-request-id')).toBe('image-1');
    await ok.arrayBuffer();
    expect(parsedLog().find((l) => l.requestId === 'image-1')).toMatchObject({ route: '/metadata/:file', status: 200, method: 'GET' });
  });

  test('without one, every answer carries a fresh id of its own', async () => {
    const a = await fetch(`${repos.director.url}/healthz`);
    const b = await fetch(`${repos.director.url}/healthz`);
    expect(a.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9_-]{8,}$/);
    expect(b.headers.get('x-request-id')).not.toBe(a.headers.get('x-request-id'));
  });

  test.each([
    ['too long', 'a'.repeat(65)],
    ['spaces and markup', 'x <script>alert(1)</script>'],
    ['a tab and quotes', 'abc\t"def"'],
  ])('a hostile X-Request-Id (%s) is replaced, never echoed nor logged', async (_what, hostile) => {
    const answer = await rawGet(repos.director.url, '/healthz', `X-Request-Id: ${hostile}`);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    const echoed = /\r\nx-request-id: ([^\r]*)\r\n/i.exec(answer)?.[1];
    expect(echoed).toMatch(/^[A-Za-z0-9_-]{8,}$/);
    expect(answer).not.toContain(hostile);
    expect(logLines.join('\n')).not.toContain(hostile.slice(0, 20).replace(/["\t]/g, ''));
  });

  test('a header with a control character or a line break is refused by the HTTP parser before any handler: nothing echoed', async () => {
    for (const header of ['X-Request-Id: abc\x01def', 'X-Request-Id: abc\r\n def']) {
      const answer = await rawGet(repos.director.url, '/healthz', header);
      expect(answer).not.toContain('abc');
    }
  });

  test("a vehicle's fetch error and manifest refusal name the request id of the server's log line", async () => {
    // A metadata GET with a session token the Director never issued: refused 401.
    const fetcher = new HttpFetcher();
    const failure = await fetcher.fetch(`${repos.director.url}/vehicle/metadata/timestamp.json`, { maxBytes: 65_536, headers: { authorization: 'Bearer not-a-session' } }).catch((err: unknown) => err as Error);
    const fetchId = /\(request ([A-Za-z0-9._:-]+)\)/.exec((failure as Error).message)?.[1];
    expect(fetchId).toBeDefined();
    expect(parsedLog().find((l) => l.requestId === fetchId)).toMatchObject({ route: '/vehicle/metadata/:file', status: 401 });

    // The primary's Director channel: a manifest whose report counters go back is refused.
    const channel = new HttpDirectorChannel({ directorUrl: repos.director.url, key: car.primary.key, backend: nodeBackend, clock, log: () => undefined, fetcher, poster: fetcher });
    const stale = car.manifest({ [car.primary.serial]: car.report(car.primary, { counter: 1 }) });
    const delivery = await channel.sendManifest(Buffer.from(JSON.stringify(stale)));
    expect(delivery.accepted).toBe(false);
    const refusalId = /\(request ([A-Za-z0-9._:-]+)\)/.exec((delivery as { refusal: string }).refusal)?.[1];
    expect(parsedLog().find((l) => l.requestId === refusalId)).toMatchObject({ route: '/vehicle/manifest', method: 'POST' });
  });

  test('no Authorization header value, token or signature ever appears in the captured log', async () => {
    // More traffic with credentials: an operator read, a signed vehicle request, a wrong uploader token.
    expect((await repos.operator('GET', '/api/v1/vehicles', undefined)).status).toBe(200);
    const signed = car.authHeader('GET', '/vehicle/metadata/timestamp.json');
    expect((await fetch(`${repos.director.url}/vehicle/metadata/timestamp.json`, { headers: { authorization: signed } })).status).toBe(200);
    secrets.push(/sig="?([0-9a-f]{32})/.exec(signed)?.[1] ?? signed);
    expect((await fetch(`${repos.image.url}/api/v1/metadata/root`, { method: 'PUT', headers: { authorization: 'Bearer wrong-uploader-token-xyz' }, body: '{}' })).status).toBe(401);
    secrets.push('wrong-uploader-token-xyz');
    const log = logLines.join('\n');
    expect(logLines.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(log).not.toContain(secret);
    expect(log.toLowerCase()).not.toContain('authorization');
    expect(log).not.toContain('"signed"'); // no manifest body
  });
});

/** One GET on a raw socket with `header` as sent (fetch refuses to send hostile headers); the answer's bytes. */
function rawGet(url: string, path: string, header: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\n${header}\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}
