// Dashboard sessions (docs/dashboard.md): an operator token exchanged for an HttpOnly SameSite
// cookie, checked again on every request (revoking the token ends the session), and CSRF proof on
// every write made with the cookie. Real Director and Image repository on loopback, real SQLite, the
// injectable clock; every refusal is checked against the database and the audit log.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { startDirector } from '../../director-repo/server.js';
import { OPERATOR_TOKEN, FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';

let clock: FixedClock;
let repos: Repositories;

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'dashboard-session');
});

afterAll(async () => {
  await repos?.close();
});

interface Session {
  readonly cookie: string;
  readonly csrf: string;
  readonly setCookie: string;
  readonly json: Record<string, unknown>;
}

async function signIn(token: string): Promise<Session> {
  const response = await fetch(`${repos.director.url}/ui/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  const json = (await response.json()) as Record<string, unknown>;
  expect(response.status).toBe(200);
  const setCookie = response.headers.get('set-cookie') ?? '';
  return { cookie: setCookie.split(';', 1)[0]!, csrf: json.csrfToken as string, setCookie, json };
}

async function withCookie(session: Pick<Session, 'cookie'>, method: string, path: string, options: { csrf?: string; origin?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = { cookie: session.cookie };
  if (options.csrf !== undefined) headers['x-csrf-token'] = options.csrf;
  if (options.origin !== undefined) headers.origin = options.origin;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${repos.director.url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  return { status: response.status, json: (text === '' ? {} : JSON.parse(text)) as Record<string, any>, headers: response.headers };
}

const newToken = (name: string, scope: 'read' | 'operator' | 'admin') => {
  const token = `dashboard-${name}-${'x'.repeat(20)}`;
  return repos.director.storage.addOperator(name, token, clock.now(), { scope, expiresAt: new Date(clock.now().getTime() + 3_600_000) }).then((id) => ({ token, id }));
};

const auditActions = async () => (await repos.director.storage.auditLog.entries(1000)).map((e) => `${e.actor} ${e.action}`);

test('sign-in sets an HttpOnly SameSite=Strict cookie and answers the operator, scope, CSRF token and expiry', async () => {
  const session = await signIn(OPERATOR_TOKEN);
  expect(session.setCookie).toMatch(/^uptane_ui=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=\d+$/);
  expect(session.setCookie).not.toContain(OPERATOR_TOKEN);
  expect(session.json).toMatchObject({ operator: 'fixture-operator', scope: 'admin' });
  // Capped at 8 hours (the fixture token never expires).
  expect(Date.parse(session.json.expiresAt as string)).toBe(clock.now().getTime() + 8 * 3_600_000);
  const again = await withCookie(session, 'GET', '/ui/api/session');
  expect(again.status).toBe(200);
  expect(again.json.csrfToken).toBe(session.csrf);
  // The cookie opens the operator API like the bearer token.
  const vehicles = await withCookie(session, 'GET', '/api/v1/vehicles');
  expect(vehicles.status).toBe(200);
  expect(vehicles.json).toHaveProperty('total');
});

test('a session never outlives its operator token', async () => {
  const { token } = await newToken('short-lived', 'read');
  const session = await signIn(token);
  expect(Date.parse(session.json.expiresAt as string)).toBe(clock.now().getTime() + 3_600_000);
});

test('a wrong token is refused with 401 and no cookie; an oversized or shapeless sign-in body is refused', async () => {
  const response = await fetch(`${repos.director.url}/ui/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'not-a-token' }) });
  expect(response.status).toBe(401);
  expect(response.headers.get('set-cookie')).toBeNull();
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  const oversized = await fetch(`${repos.director.url}/ui/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'x'.repeat(5000) }) });
  expect(oversized.status).toBe(413);
  const shapeless = await fetch(`${repos.director.url}/ui/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '["token"]' });
  expect(shapeless.status).toBe(400);
});

test('GET /ui/api/session without a cookie is 401', async () => {
  const response = await fetch(`${repos.director.url}/ui/api/session`);
  expect(response.status).toBe(401);
});

test('a forged cookie (one byte flipped) and an expired one are refused with 401', async () => {
  const session = await signIn(OPERATOR_TOKEN);
  const value = session.cookie.slice('uptane_ui='.length);
  const [payload, mac] = value.split('.') as [string, string];
  // Claims rewritten to a token id of someone else, the MAC kept: refused.
  const flippedPayload = `${payload.slice(0, 5)}${payload[5] === 'A' ? 'B' : 'A'}${payload.slice(6)}`;
  const flippedMac = `${mac.slice(0, 10)}${mac[10] === 'A' ? 'B' : 'A'}${mac.slice(11)}`;
  for (const forged of [`${flippedPayload}.${mac}`, `${payload}.${flippedMac}`, 'garbage', `${payload}.${mac}x`]) {
    const answer = await withCookie({ cookie: `uptane_ui=${forged}` }, 'GET', '/api/v1/vehicles');
    expect(answer.status).toBe(401);
  }
  clock.advance(8 * 3_600_000 + 1);
  try {
    const expired = await withCookie(session, 'GET', '/api/v1/vehicles');
    expect(expired.status).toBe(401);
    expect(expired.json.error.message).toMatch(/expired/);
  } finally {
    clock.set(FIXTURE_NOW);
  }
});

test('revoking the operator token ends the browser session', async () => {
  const { token, id } = await newToken('revoked-later', 'operator');
  const session = await signIn(token);
  expect((await withCookie(session, 'GET', '/api/v1/vehicles')).status).toBe(200);
  expect(await repos.director.storage.revokeOperatorToken(id, clock.now())).toBe(true);
  const after = await withCookie(session, 'GET', '/api/v1/vehicles');
  expect(after.status).toBe(401);
  expect(after.json.error.code).toBe('token_revoked');
  expect((await withCookie(session, 'GET', '/ui/api/session')).status).toBe(401);
});

describe('CSRF', () => {
  const group = (name: string) => ({ name, vins: [] as string[] });

  test('a write with the cookie and the right CSRF header and no Origin or our own goes through and is audited under the operator', async () => {
    const session = await signIn(OPERATOR_TOKEN);
    const plain = await withCookie(session, 'POST', '/api/v1/groups', { csrf: session.csrf, body: group('csrf-ok') });
    expect(plain.status).toBe(201);
    const sameOrigin = await withCookie(session, 'POST', '/api/v1/groups', { csrf: session.csrf, origin: repos.director.url, body: group('csrf-ok-origin') });
    expect(sameOrigin.status).toBe(201);
    expect(await auditActions()).toEqual(expect.arrayContaining(['fixture-operator create_group']));
  });

  test('without the header, with a wrong one, another session\'s, or from a foreign Origin: 403 csrf_refused, nothing changed, nothing audited', async () => {
    const session = await signIn(OPERATOR_TOKEN);
    const other = await signIn(OPERATOR_TOKEN);
    expect(other.csrf).not.toBe(session.csrf);
    const auditBefore = await auditActions();
    const attempts = [
      { name: 'csrf-none' },
      { name: 'csrf-wrong', csrf: 'A'.repeat(43) },
      { name: 'csrf-short', csrf: 'abc' },
      { name: 'csrf-other-session', csrf: other.csrf },
      { name: 'csrf-foreign-origin', csrf: session.csrf, origin: 'https://evil.example' },
      { name: 'csrf-null-origin', csrf: session.csrf, origin: 'null' },
    ];
    for (const attempt of attempts) {
      const answer = await withCookie(session, 'POST', '/api/v1/groups', { csrf: attempt.csrf, origin: attempt.origin, body: group(attempt.name) });
      expect([attempt.name, answer.status, answer.json.error?.code]).toEqual([attempt.name, 403, 'csrf_refused']);
      expect(await repos.director.storage.campaigns.group(attempt.name)).toBeUndefined();
    }
    // Signing out is a write too.
    expect((await withCookie(session, 'DELETE', '/ui/api/session')).status).toBe(403);
    expect(await auditActions()).toEqual(auditBefore);
  });

  test('a read-only token\'s cookie changes nothing, even with the CSRF header: 403 insufficient_scope', async () => {
    const { token } = await newToken('reader', 'read');
    const session = await signIn(token);
    expect(session.json.scope).toBe('read');
    expect((await withCookie(session, 'GET', '/api/v1/groups')).status).toBe(200);
    const write = await withCookie(session, 'POST', '/api/v1/groups', { csrf: session.csrf, body: group('by-reader') });
    expect(write.status).toBe(403);
    expect(write.json.error.code).toBe('insufficient_scope');
    expect(await repos.director.storage.campaigns.group('by-reader')).toBeUndefined();
  });

  test('a bearer request is unchanged: no CSRF header needed', async () => {
    const answer = await repos.operator('POST', '/api/v1/groups', group('by-bearer'));
    expect(answer.status).toBe(201);
  });
});

test('sign-out clears the cookie (with the CSRF header)', async () => {
  const session = await signIn(OPERATOR_TOKEN);
  const out = await withCookie(session, 'DELETE', '/ui/api/session', { csrf: session.csrf });
  expect(out.status).toBe(204);
  expect(out.headers.get('set-cookie')).toMatch(/^uptane_ui=; HttpOnly; SameSite=Strict; Path=\/; Max-Age=0$/);
});

test('forged cookies and wrong sign-in tokens share the address\'s failed-attempt budget with bearer tokens: 429 once it is spent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uptane-dashboard-throttle-'));
  writeFileSync(join(dir, 'image-root.json'), repos.imageRoot);
  // A budget of 3 failures that does not refill while the fixed clock stands still.
  const director = await startDirector({ dataDir: join(dir, 'director'), imageRepoUrl: repos.image.url, imageRootFile: join(dir, 'image-root.json'), clock, authThrottle: { burst: 3, refillPerSecond: 0.001 } });
  try {
    await director.storage.addOperator('throttled', OPERATOR_TOKEN, clock.now());
    const forged = () => fetch(`${director.url}/api/v1/vehicles`, { headers: { cookie: `uptane_ui=${'A'.repeat(20)}.${'B'.repeat(43)}` } });
    const wrongSignIn = () => fetch(`${director.url}/ui/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'wrong' }) });
    expect((await forged()).status).toBe(401);
    expect((await wrongSignIn()).status).toBe(401);
    expect((await forged()).status).toBe(401);
    // Spent: even the right token is not looked at now, by either way in.
    const signIn = await fetch(`${director.url}/ui/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: OPERATOR_TOKEN }) });
    expect(signIn.status).toBe(429);
    expect(signIn.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await forged()).status).toBe(429);
    const bearer = await fetch(`${director.url}/api/v1/vehicles`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    expect(bearer.status).toBe(429);
  } finally {
    await director.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
