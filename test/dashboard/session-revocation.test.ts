// Ending dashboard sessions and holding writes to the Director's own pages (docs/dashboard.md): a
// sign-out revokes the session on the server, so a copy of the cookie taken before stops working (on
// every replica, through the shared store); revoking the operator token ends its sessions; and with
// --public-origin a write's Origin (or Referer) is compared with it, never with a forged Host. Real
// Directors on loopback, real SQLite and PostgreSQL, the injectable clock.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { startDirector, type RunningDirector } from '../../director-repo/server.js';
import { OPERATOR_TOKEN, FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { describePostgres } from '../support/postgres.js';
import { OPERATOR_TOKEN as REPLICA_TOKEN, startReplicas, type ReplicaSet } from '../replicas/replica-harness.js';

interface Session {
  readonly cookie: string;
  readonly csrf: string;
}

async function signIn(url: string, token: string): Promise<Session> {
  const response = await fetch(`${url}/ui/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  expect(response.status).toBe(200);
  const json = (await response.json()) as { csrfToken: string };
  return { cookie: (response.headers.get('set-cookie') ?? '').split(';', 1)[0]!, csrf: json.csrfToken };
}

/** One request on node:http, which (unlike fetch) sends the Host header it is given. */
function send(url: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; json: any }> {
  const target = new URL(url);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target.hostname, port: target.port, method, path, headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) }) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode!, json: text === '' ? {} : JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The session id in a cookie's claims (dashboard/ui-session.ts: base64url JSON, `n`). */
const sessionIdOf = (session: Session): string => JSON.parse(Buffer.from(session.cookie.slice('uptane_ui='.length).split('.')[0]!, 'base64url').toString()).n;

const signOut = (url: string, session: Session) => send(url, 'DELETE', '/ui/api/session', { cookie: session.cookie, 'x-csrf-token': session.csrf });
const readVehicles = (url: string, session: Pick<Session, 'cookie'>) => send(url, 'GET', '/api/v1/vehicles', { cookie: session.cookie });

describe('on SQLite', () => {
  let clock: FixedClock;
  let repos: Repositories;

  beforeAll(async () => {
    clock = new FixedClock(FIXTURE_NOW);
    repos = await startRepositories(clock, 'dashboard-session-revocation');
  });

  afterAll(async () => {
    await repos?.close();
  });

  test('a copy of the cookie taken before sign-out is refused after it; the operator\'s other sessions go on', async () => {
    const session = await signIn(repos.director.url, OPERATOR_TOKEN);
    const other = await signIn(repos.director.url, OPERATOR_TOKEN);
    const copied = { cookie: session.cookie }; // what a thief (or a shared machine) kept
    expect((await readVehicles(repos.director.url, copied)).status).toBe(200);
    expect((await signOut(repos.director.url, session)).status).toBe(204);
    const replay = await readVehicles(repos.director.url, copied);
    expect(replay.status).toBe(401);
    expect(replay.json.error.message).toMatch(/signed out/);
    expect((await send(repos.director.url, 'GET', '/ui/api/session', { cookie: session.cookie })).status).toBe(401);
    // A write with the copied cookie and its CSRF token is refused before it runs.
    const write = await send(repos.director.url, 'POST', '/api/v1/groups', { cookie: session.cookie, 'x-csrf-token': session.csrf }, { name: 'after-sign-out', vins: [] });
    expect(write.status).toBe(401);
    expect(await repos.director.storage.campaigns.group('after-sign-out')).toBeUndefined();
    expect((await readVehicles(repos.director.url, other)).status).toBe(200);
  });

  test('revoking the operator token ends the session its cookie was exchanged for', async () => {
    const token = `revocation-test-${'y'.repeat(24)}`;
    const id = await repos.director.storage.addOperator('revoked-operator', token, clock.now(), { scope: 'operator' });
    const session = await signIn(repos.director.url, token);
    expect((await readVehicles(repos.director.url, session)).status).toBe(200);
    await repos.director.storage.revokeOperatorToken(id, clock.now());
    const after = await readVehicles(repos.director.url, session);
    expect([after.status, after.json.error.code]).toEqual([401, 'token_revoked']);
  });

  test('a revocation is kept only as long as its cookie would have lived: the next sign-out prunes it', async () => {
    const first = await signIn(repos.director.url, OPERATOR_TOKEN);
    expect((await signOut(repos.director.url, first)).status).toBe(204);
    const before = await repos.director.storage.uiSessions.count();
    expect(before).toBeGreaterThanOrEqual(1);
    clock.advance(8 * 3_600_000 + 1); // every cookie issued so far has expired
    try {
      const second = await signIn(repos.director.url, OPERATOR_TOKEN);
      expect((await signOut(repos.director.url, second)).status).toBe(204);
      expect(await repos.director.storage.uiSessions.count()).toBe(1);
      expect(await repos.director.storage.uiSessions.isRevoked(sessionIdOf(first))).toBe(false);
      expect(await repos.director.storage.uiSessions.isRevoked(sessionIdOf(second))).toBe(true);
    } finally {
      clock.set(FIXTURE_NOW);
    }
  });

  test('without --public-origin the Host decides: a forged Host and a matching Origin pass (the documented limit)', async () => {
    const session = await signIn(repos.director.url, OPERATOR_TOKEN);
    const forged = await send(repos.director.url, 'POST', '/api/v1/groups', { cookie: session.cookie, 'x-csrf-token': session.csrf, host: 'evil.example', origin: 'http://evil.example' }, { name: 'host-decides', vins: [] });
    expect(forged.status).toBe(201);
  });

  test('--public-origin: a cross-site write with a forged Host is refused, by Origin or by Referer; the public origin\'s own pages write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uptane-public-origin-'));
    writeFileSync(join(dir, 'image-root.json'), repos.imageRoot);
    let director: RunningDirector | undefined;
    try {
      director = await startDirector({ dataDir: join(dir, 'director'), imageRepoUrl: repos.image.url, imageRootFile: join(dir, 'image-root.json'), clock, publicOrigin: 'https://director.example.com/' });
      await director.storage.addOperator('public-origin', OPERATOR_TOKEN, clock.now());
      const session = await signIn(director.url, OPERATOR_TOKEN);
      const base = { cookie: session.cookie, 'x-csrf-token': session.csrf };
      const attempts: Array<[string, Record<string, string>]> = [
        ['forged host, its origin', { host: 'evil.example', origin: 'http://evil.example' }],
        ['forged host, its referer', { host: 'evil.example', referer: 'http://evil.example/ui/' }],
        ['real host, foreign origin', { origin: 'https://evil.example' }],
        ['public host over http', { origin: 'http://director.example.com' }],
      ];
      for (const [name, headers] of attempts) {
        const answer = await send(director.url, 'POST', '/api/v1/groups', { ...base, ...headers }, { name: `po-${name.replace(/[^a-z]/g, '-')}`, vins: [] });
        expect([name, answer.status, answer.json.error?.code]).toEqual([name, 403, 'csrf_refused']);
      }
      expect((await director.storage.campaigns.groups()).length).toBe(0);
      // The dashboard's own page, however the proxy set Host.
      const own = await send(director.url, 'POST', '/api/v1/groups', { ...base, host: 'internal:8082', origin: 'https://director.example.com' }, { name: 'po-own', vins: [] });
      expect(own.status).toBe(201);
      const byReferer = await send(director.url, 'POST', '/api/v1/groups', { ...base, referer: 'https://director.example.com/ui/#/groups' }, { name: 'po-referer', vins: [] });
      expect(byReferer.status).toBe(201);
    } finally {
      await director?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a --public-origin that is not an origin is refused at start, saying what to give', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uptane-public-origin-bad-'));
    writeFileSync(join(dir, 'image-root.json'), repos.imageRoot);
    try {
      for (const bad of ['director.example.com', 'ftp://director.example.com', 'https://director.example.com/ui', 'https://user@director.example.com']) {
        await expect(startDirector({ dataDir: join(dir, 'director'), imageRepoUrl: repos.image.url, imageRootFile: join(dir, 'image-root.json'), clock, publicOrigin: bad })).rejects.toThrow(/--public-origin .*https:\/\/director\.example\.com/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describePostgres('on PostgreSQL replicas', () => {
  let set: ReplicaSet;
  let a: RunningDirector;
  let b: RunningDirector;

  beforeAll(async () => {
    const started = await startReplicas('session_revocation', 2);
    set = started.set;
    [a, b] = started.replicas as [RunningDirector, RunningDirector];
  }, 60_000);

  afterAll(async () => {
    await set?.close();
  });

  test('a sign-out on one replica ends the copied cookie on the other', async () => {
    const session = await signIn(a.url, REPLICA_TOKEN);
    expect((await readVehicles(b.url, session)).status).toBe(200);
    expect((await signOut(a.url, session)).status).toBe(204);
    expect((await readVehicles(b.url, session)).status).toBe(401);
    expect((await readVehicles(a.url, session)).status).toBe(401);
    expect(await b.storage.uiSessions.count()).toBe(1);
  });
});
