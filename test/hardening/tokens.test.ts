// Operator and uploader tokens (docs/threat-model.md HR-10): before, tokens never expired, had full
// rights, and nothing limited or logged failed attempts (1,871 wrong guesses a second answered). Now
// a token has an id, a scope (Director) or roles and paths (Image repository), an expiry and
// revocation; failed attempts are limited per client address and logged without the token; the
// audit log names the token. Real servers on loopback, real SQLite, the injectable clock.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { newToken, tokenIdOf } from '../../shared/server/access-tokens.js';
import { clientKey, FailedAuthThrottle } from '../../shared/server/auth-throttle.js';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { parseMetadata, SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { openDatabase } from '../../shared/server/sqlite.js';
import { createApp } from '../../director-repo/app.js';
import { OPERATOR_ROUTE_SCOPES } from '../../director-repo/operator-auth.js';
import { openDirector, startDirector, type RunningDirector } from '../../director-repo/server.js';
import type { OperatorTokenStore } from '../../director-repo/store/operator-tokens.js';
import { MIGRATIONS as DIRECTOR_MIGRATIONS } from '../../director-repo/store/sqlite/schema.js';
import { MIGRATIONS as IMAGE_MIGRATIONS, SqliteImageRepoStorage } from '../../image-repo/store/sqlite.js';
import { SQLITE_FILE } from '../../image-repo/store/open.js';
import { runCli } from '../support/cli-runner.js';
import { FIXTURE_EXPIRES, FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';

let dir: string;
let clock: FixedClock;
let repos: Repositories;
let imageRootFile: string;
let director: RunningDirector;
let directorLog: string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-tokens-'));
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'tokens');
  imageRootFile = join(dir, 'image-root.json');
  writeFileSync(imageRootFile, repos.imageRoot);
  directorLog = [];
  director = await startDirector({ dataDir: join(dir, 'director'), imageRepoUrl: repos.image.url, imageRootFile, clock, log: (line) => directorLog.push(line) });
});

afterAll(async () => {
  await director?.close();
  await repos?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Answer = { status: number; json: Record<string, unknown>; retryAfter: string | null };

async function call(url: string, method: string, path: string, token: string | undefined, body?: string | Uint8Array): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': typeof body === 'string' ? 'application/json' : 'application/octet-stream' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${url}${path}`, { method, headers, body });
  // The dashboard's event stream never ends: its status and type say it was opened.
  if (response.ok && (response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    await response.body?.cancel();
    return { status: response.status, json: {}, retryAfter: null };
  }
  const text = await response.text();
  return { status: response.status, json: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>, retryAfter: response.headers.get('retry-after') };
}

const code = (answer: Answer) => (answer.json.error as { code?: string } | undefined)?.code;
const message = (answer: Answer) => (answer.json.error as { message?: string } | undefined)?.message ?? '';

/** A new operator token on `storage`; its token and id. */
async function operatorToken(storage: OperatorTokenStore, name: string, options: Parameters<OperatorTokenStore['addOperator']>[3]): Promise<{ token: string; id: string }> {
  const token = newToken();
  return { token, id: await storage.addOperator(name, token, clock.now(), options) };
}

const registration = (vin: string) =>
  JSON.stringify({ vin, ecus: [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', publicKey: PrivateKey.fromLabel(`tokens/${vin}`).publicKey.tuf.keyval.public, primary: true }] });

describe('Director operator tokens', () => {
  it('every /api/v1 route has a declared scope, and the table names no route that does not exist', async () => {
    const { services, storage } = await openDirector({ dataDir: join(dir, 'route-table'), imageRepoUrl: repos.image.url, imageRootFile, clock });
    try {
      const app = createApp({ services, storage });
      type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] }; rawPath?: unknown };
      const routes: string[] = [];
      const walk = (stack: readonly Layer[]) => {
        for (const layer of stack) {
          if (layer.route !== undefined) {
            for (const method of Object.keys(layer.route.methods).filter((m) => m !== '_all')) routes.push(`${method.toUpperCase()} ${layer.route.path}`);
          } else if (layer.handle?.stack !== undefined) walk(layer.handle.stack);
        }
      };
      const api = (app as unknown as { router: { stack: Layer[] } }).router.stack.filter((layer) => layer.rawPath === '/api/v1' && layer.handle?.stack !== undefined);
      expect(api).toHaveLength(1);
      walk(api[0]!.handle!.stack!);
      expect(routes.length).toBeGreaterThan(10);
      expect([...new Set(routes)].sort()).toEqual(Object.keys(OPERATOR_ROUTE_SCOPES).sort());
    } finally {
      await storage.close();
    }
  });

  it('a read token sees every read route and is refused every write route with 403 insufficient_scope, changing nothing', async () => {
    const read = await operatorToken(director.storage, 'dashboard', { scope: 'read', expiresAt: new Date(clock.now().getTime() + 3_600_000) });
    const vehiclesBefore = await director.storage.inventory.countVehicles();
    for (const [route, scope] of Object.entries(OPERATOR_ROUTE_SCOPES)) {
      const [method, pattern] = route.split(' ') as [string, string];
      const path = `/api/v1${pattern.replace(/:(\w+)/g, (_, name: string) => (name === 'id' ? '1' : `x-${name}`))}`;
      const body = method === 'POST' ? registration('READ0001') : method === 'PUT' ? repos.directorRoot : undefined;
      const answer = await call(director.url, method, path, read.token, body);
      if (scope === 'read') {
        expect({ route, status: answer.status === 401 || answer.status === 403 ? answer.status : 'allowed' }).toEqual({ route, status: 'allowed' });
      } else {
        expect({ route, status: answer.status, code: code(answer) }).toEqual({ route, status: 403, code: 'insufficient_scope' });
        expect(message(answer)).toContain(`operator token ${read.id} (dashboard) has scope read`);
      }
    }
    expect(await director.storage.inventory.countVehicles()).toBe(vehiclesBefore);
    // operator may register and assign, but publishing the Director root takes admin.
    const op = await operatorToken(director.storage, 'alice', { scope: 'operator', expiresAt: null });
    const root = await call(director.url, 'PUT', '/api/v1/metadata/root', op.token, repos.directorRoot);
    expect({ status: root.status, code: code(root) }).toEqual({ status: 403, code: 'insufficient_scope' });
    expect((await call(director.url, 'POST', '/api/v1/vehicles', op.token, registration('OPER0001'))).status).toBe(201);
  });

  it('an expired token gets 401 token_expired, judged by the injectable clock', async () => {
    const { token, id } = await operatorToken(director.storage, 'temp-contractor', { scope: 'read', expiresAt: new Date(clock.now().getTime() + 60 * 60_000) });
    expect((await call(director.url, 'GET', '/api/v1/vehicles', token)).status).toBe(200);
    clock.advance(60 * 60_000);
    const expired = await call(director.url, 'GET', '/api/v1/vehicles', token);
    expect({ status: expired.status, code: code(expired) }).toEqual({ status: 401, code: 'token_expired' });
    expect(message(expired)).toContain(`operator token ${id} (temp-contractor) expired at`);
    expect(message(expired)).toContain('uptane director operator add');
  });

  it('a revoked token is refused on the very next request with 401 token_revoked', async () => {
    const { token, id } = await operatorToken(director.storage, 'leaver', { scope: 'operator', expiresAt: null });
    expect((await call(director.url, 'GET', '/api/v1/vehicles', token)).status).toBe(200);
    expect(await director.storage.revokeOperatorToken(id, clock.now())).toBe(true);
    const revoked = await call(director.url, 'GET', '/api/v1/vehicles', token);
    expect({ status: revoked.status, code: code(revoked) }).toEqual({ status: 401, code: 'token_revoked' });
    expect(message(revoked)).toContain(`operator token ${id} (leaver) was revoked at`);
  });

  it('the audit log says who did what with which token id, refusals included', async () => {
    const op = await operatorToken(director.storage, 'bob', { scope: 'operator', expiresAt: null });
    const read = await operatorToken(director.storage, 'carol', { scope: 'read', expiresAt: null });
    expect((await call(director.url, 'POST', '/api/v1/vehicles', op.token, registration('AUDIT001'))).status).toBe(201);
    expect((await call(director.url, 'POST', '/api/v1/vehicles', read.token, registration('AUDIT002'))).status).toBe(403);
    const entries = await director.storage.auditLog.entries(10);
    expect(entries).toContainEqual(expect.objectContaining({ actor: 'bob', tokenId: op.id, action: 'register_vehicle' }));
    expect(entries).toContainEqual(expect.objectContaining({ actor: 'carol', tokenId: read.id, action: 'refused', details: expect.objectContaining({ code: 'insufficient_scope' }) }));
    // Over HTTP too, for `uptane director audit`.
    const audit = await call(director.url, 'GET', '/api/v1/audit?limit=5', read.token);
    expect((audit.json.entries as Array<{ tokenId: string | null }>).map((e) => e.tokenId)).toContain(op.id);
  });
});

describe('failed authentication', () => {
  it('is limited per client address (429 with Retry-After, even for the right token) and logged without the token', async () => {
    const log: string[] = [];
    const limited = await startDirector({
      dataDir: join(dir, 'limited'),
      imageRepoUrl: repos.image.url,
      imageRootFile,
      clock,
      log: (line) => log.push(line),
      authThrottle: { burst: 3, refillPerSecond: 0.5 },
    });
    try {
      const good = await operatorToken(limited.storage, 'alice', { scope: 'read', expiresAt: null });
      const guesses = Array.from({ length: 3 }, () => newToken());
      for (const guess of guesses) expect(code(await call(limited.url, 'GET', '/api/v1/vehicles', guess))).toBe('unauthorized');
      const refused = await call(limited.url, 'GET', '/api/v1/vehicles', newToken());
      expect({ status: refused.status, code: code(refused), retryAfter: refused.retryAfter }).toEqual({ status: 429, code: 'too_many_attempts', retryAfter: '2' });
      // A right guess now would teach nothing: the check happens before the token is looked at.
      expect((await call(limited.url, 'GET', '/api/v1/vehicles', good.token)).status).toBe(429);
      clock.advance(2000); // one attempt refilled
      expect((await call(limited.url, 'GET', '/api/v1/vehicles', good.token)).status).toBe(200);

      const failures = log.filter((line) => line.startsWith('operator authentication failed'));
      expect(failures).toHaveLength(3);
      guesses.forEach((guess, i) => {
        expect(failures[i]).toMatch(new RegExp(`^operator authentication failed from (::ffff:)?127\\.0\\.0\\.1: token id ${tokenIdOf(guess)}, unauthorized`));
        for (const line of log) expect(line).not.toContain(guess);
      });
      expect(failures[2]).toContain('; this address is refused for 2 s');
    } finally {
      await limited.close();
    }
  });
});

describe('the failed-attempt limiter', () => {
  it('remembers a bounded number of clients and counts IPv6 clients per /64', () => {
    const limiter = new FailedAuthThrottle(new FixedClock(FIXTURE_NOW), { burst: 1, refillPerSecond: 0.001, maxClients: 100 });
    for (let i = 0; i < 1000; i++) limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`);
    expect(limiter.size).toBe(100);
    expect(limiter.retryAfter('10.0.3.231')).toBeGreaterThan(0); // the newest are kept
    expect(limiter.retryAfter('10.0.0.0')).toBe(0); // the oldest forgotten
    expect(clientKey('2001:db8:0:7::1')).toBe(clientKey('2001:DB8::7:ffff:0:0:2'));
    expect(clientKey('2001:db8:0:7::1')).toBe('2001:db8:0:7::/64');
    expect(clientKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
  });
});

describe('Image repository uploader tokens', () => {
  /** Targets v(N+1): the published entries plus `add`, signed with the fixture's targets key. */
  async function nextTargets(add: Record<string, TargetFile>): Promise<Buffer> {
    const previous = await repos.image.storage.latest('targets');
    const before = previous === undefined ? {} : parseMetadata(previous.bytes, 'targets').signed.targets;
    const signed: TargetsSigned = { _type: 'targets', spec_version: SPEC_VERSION, version: (previous?.version ?? 0) + 1, expires: FIXTURE_EXPIRES, targets: { ...before, ...add } };
    return Buffer.from(serializeMetadata(signMetadata(signed, [repos.imageTargetsKey])));
  }

  async function uploaded(token: string, content: Buffer): Promise<TargetFile> {
    expect((await call(repos.image.url, 'POST', '/api/v1/images', token, content)).status).toBe(201);
    return { length: content.length, hashes: digestBytes(content), custom: { hardwareIds: ['ecm-x1'], releaseCounter: 1 } };
  }

  it('an uploader limited to role acme cannot publish targets or root', async () => {
    const token = newToken();
    const id = await repos.image.storage.addUploader('acme-ci', token, clock.now(), { roles: ['acme'], expiresAt: null });
    const targets = await call(repos.image.url, 'PUT', '/api/v1/metadata/targets/targets', token, await nextTargets({}));
    expect({ status: targets.status, code: code(targets) }).toEqual({ status: 403, code: 'insufficient_scope' });
    expect(message(targets)).toContain(`uploader token ${id} (acme-ci) may publish acme, not targets`);
    const root = await call(repos.image.url, 'PUT', '/api/v1/metadata/root', token, repos.imageRoot);
    expect({ status: root.status, code: code(root) }).toEqual({ status: 403, code: 'insufficient_scope' });
  });

  it('an uploader limited to paths publishes images under them and nothing else', async () => {
    const token = newToken();
    await repos.image.storage.addUploader('ecm-team', token, clock.now(), { roles: ['targets'], paths: ['ecm/*'], expiresAt: null });
    const outside = await call(repos.image.url, 'PUT', '/api/v1/metadata/targets/targets', token, await nextTargets({ 'brakes/abs-9.bin': await uploaded(token, Buffer.from('abs 9')) }));
    expect({ status: outside.status, code: code(outside) }).toEqual({ status: 403, code: 'insufficient_scope' });
    expect(message(outside)).toContain('this targets changes brakes/abs-9.bin');
    const inside = await call(repos.image.url, 'PUT', '/api/v1/metadata/targets/targets', token, await nextTargets({ 'ecm/ecm-3.bin': await uploaded(token, Buffer.from('ecm 3')) }));
    expect(inside.status).toBe(201);
  });

  it('expired and revoked uploader tokens are refused with codes that say so', async () => {
    const expiring = newToken();
    const revoked = newToken();
    await repos.image.storage.addUploader('short-lived', expiring, clock.now(), { expiresAt: new Date(clock.now().getTime() + 1000) });
    const revokedId = await repos.image.storage.addUploader('gone', revoked, clock.now(), { expiresAt: null });
    expect((await call(repos.image.url, 'POST', '/api/v1/images', expiring, Buffer.from('x1'))).status).toBe(201);
    clock.advance(1000);
    expect(code(await call(repos.image.url, 'POST', '/api/v1/images', expiring, Buffer.from('x2')))).toBe('token_expired');
    expect(await repos.image.storage.revokeUploaderToken(revokedId, clock.now())).toBe(true);
    expect(code(await call(repos.image.url, 'POST', '/api/v1/images', revoked, Buffer.from('x3')))).toBe('token_revoked');
  });
});

describe('schema migration of tokens made before HR-10', () => {
  const before = (migrations: readonly string[], marker: string) => migrations.slice(0, migrations.findIndex((m) => m.includes(marker)));
  const digest = (token: string) => createHash('sha256').update(token).digest('hex');
  const ninetyDays = 90 * 86_400_000;

  it('Director: old operator tokens keep working as admin for 90 days, get their id, and old audit entries no token id', async () => {
    const dataDir = join(dir, 'old-director');
    mkdirSync(dataDir);
    const old = openDatabase(join(dataDir, 'director.sqlite'), before(DIRECTOR_MIGRATIONS, 'operator_tokens_v2'));
    const token = 'a-token-made-by-an-old-version';
    old.prepare('INSERT INTO operator_tokens (name, token_sha256, created_at) VALUES (?, ?, ?)').run('old-admin', digest(token), '2026-01-01T00:00:00.000Z');
    old.prepare('INSERT INTO audit_log (at, actor, action, details) VALUES (?, ?, ?, ?)').run('2026-01-01T00:00:00.000Z', 'cli', 'add_operator', '{"name":"old-admin"}');
    old.close();

    const startedAt = Date.now();
    const upgraded = await startDirector({ dataDir, imageRepoUrl: repos.image.url, imageRootFile });
    try {
      const stored = (await upgraded.storage.operatorToken(token))!;
      expect(stored).toMatchObject({ tokenId: tokenIdOf(token), name: 'old-admin', scope: 'admin', revokedAt: null });
      const expires = Date.parse(stored.expiresAt!);
      expect(expires).toBeGreaterThanOrEqual(startedAt + ninetyDays - 1000);
      expect(expires).toBeLessThanOrEqual(Date.now() + ninetyDays);
      expect((await call(upgraded.url, 'GET', '/api/v1/vehicles', token)).status).toBe(200);
      expect(await upgraded.storage.auditLog.entries(10)).toContainEqual(expect.objectContaining({ actor: 'cli', action: 'add_operator', tokenId: null }));
    } finally {
      await upgraded.close();
    }
  });

  it('Image repository: old uploader tokens keep every role and path for 90 days and get their id', async () => {
    const path = join(dir, 'old-image.sqlite');
    const old = openDatabase(path, before(IMAGE_MIGRATIONS, 'uploader_tokens'));
    const token = 'an-uploader-token-made-by-an-old-version';
    old.prepare('INSERT INTO uploaders (name, token_sha256, created_at) VALUES (?, ?, ?)').run('old-bot', digest(token), '2026-01-01T00:00:00.000Z');
    old.close();
    const startedAt = Date.now();
    const storage = new SqliteImageRepoStorage(path);
    try {
      const stored = (await storage.uploaderToken(token))!;
      expect(stored).toMatchObject({ tokenId: tokenIdOf(token), name: 'old-bot', roles: null, paths: null, revokedAt: null });
      expect(Date.parse(stored.expiresAt!)).toBeGreaterThanOrEqual(startedAt + ninetyDays - 1000);
      expect(new Database(path, { readonly: true }).prepare("SELECT name FROM sqlite_master WHERE name = 'uploaders'").get()).toBeUndefined();
    } finally {
      await storage.close();
    }
  });
});

describe('uptane director operator and uptane image uploader', () => {
  it('add prints the token alone on stdout and its id on stderr; list shows it; revoke ends it on the next request', async () => {
    const dataDir = join(dir, 'director');
    const add = await runCli(['director', 'operator', 'add', 'dave', '--scope', 'read', '--expires', '30d', '--json', '--data-dir', dataDir]);
    expect(add.status).toBe(0);
    const added = JSON.parse(add.stdout) as { token: string; tokenId: string; scope: string; expiresAt: string };
    expect(added).toMatchObject({ tokenId: tokenIdOf(added.token), scope: 'read' });
    expect(Date.parse(added.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect((await call(director.url, 'GET', '/api/v1/vehicles', added.token)).status).toBe(200);

    const list = await runCli(['director', 'operator', 'list', '--json', '--data-dir', dataDir]);
    expect((JSON.parse(list.stdout) as { tokens: Array<Record<string, unknown>> }).tokens).toContainEqual(
      expect.objectContaining({ tokenId: added.tokenId, name: 'dave', scope: 'read', status: 'active' }),
    );
    expect(list.stdout).not.toContain(added.token);

    // Refused writes are audited with the token id, and `uptane director audit` shows it.
    expect((await call(director.url, 'POST', '/api/v1/vehicles', added.token, registration('CLIAUDIT'))).status).toBe(403);
    const audit = await runCli(['director', 'audit', '--limit', '5'], { env: { ...process.env, UPTANE_DIRECTOR_URL: director.url, UPTANE_OPERATOR_TOKEN: added.token } });
    expect(audit.status).toBe(0);
    expect(audit.stdout).toMatch(new RegExp(`^  AT\\s+TOKEN ID\\s+ACTOR\\s+ACTION`));
    expect(audit.stdout).toMatch(new RegExp(`${added.tokenId}\\s+dave\\s+refused\\s+.*insufficient_scope`));

    const never = await runCli(['director', 'operator', 'add', 'erin', '--expires', 'forever', '--data-dir', dataDir]);
    expect(never.status).toBe(1);
    expect(never.stderr).toContain('give a lifetime such as 90d, 12h or 30m (up to 3650d), or never');

    const revoke = await runCli(['director', 'operator', 'revoke', added.tokenId, '--yes', '--data-dir', dataDir]);
    expect(revoke).toMatchObject({ status: 0, stdout: `revoked operator token ${added.tokenId} (dave); it no longer works\n` });
    expect(code(await call(director.url, 'GET', '/api/v1/vehicles', added.token))).toBe('token_revoked');
  }, 60_000);

  it('add from a folder that holds no server database refuses, says where to point it, and makes nothing there', async () => {
    const wrong = join(dir, 'not-a-data-folder');
    mkdirSync(wrong);
    for (const [server, group, holds] of [['director', 'operator', 'holds no Director database'], ['image', 'uploader', 'holds no Image repository database']] as const) {
      const add = await runCli([server, group, 'add', 'frank', '--data-dir', wrong]);
      expect(add.status).toBe(1);
      expect(add.stdout).toBe('');
      expect(add.stderr).toContain(`${wrong} ${holds}: give`);
      expect(add.stderr).toContain(`uptane ${server} serve --data-dir DIR`);
      // Run from the wrong folder with the default --data-dir: refused too, nothing made in the current folder.
      const here = await runCli([server, group, 'add', 'frank'], { cwd: wrong });
      expect(here.status).toBe(1);
      expect(here.stderr).toContain('holds no');
    }
    expect(readdirSync(wrong)).toEqual([]);
  }, 60_000);

  it('uploader add takes roles and paths, and list shows them', async () => {
    const dataDir = join(dir, 'image-cli');
    // The Image repository made its database on its first start.
    mkdirSync(dataDir);
    await new SqliteImageRepoStorage(join(dataDir, SQLITE_FILE)).close();
    const add = await runCli(['image', 'uploader', 'add', 'acme-ci', '--role', 'acme', '--path', 'acme/*', '--data-dir', dataDir]);
    expect(add.status).toBe(0);
    const token = add.stdout.trim();
    expect(add.stderr).toBe(`token id ${tokenIdOf(token)} for acme-ci: roles acme, paths acme/*, expires ${add.stderr.split('expires ')[1]}`);
    const list = await runCli(['image', 'uploader', 'list', '--json', '--data-dir', dataDir]);
    expect((JSON.parse(list.stdout) as { tokens: unknown[] }).tokens).toEqual([
      expect.objectContaining({ tokenId: tokenIdOf(token), name: 'acme-ci', roles: ['acme'], paths: ['acme/*'], status: 'active' }),
    ]);
    // One active token per name: a second add is refused, says what to do, and leaves the first working.
    const again = await runCli(['image', 'uploader', 'add', 'acme-ci', '--data-dir', dataDir]);
    expect(again.status).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain('uploader acme-ci already exists; to issue a new token, `uptane image uploader remove acme-ci` first');
    const after = await runCli(['image', 'uploader', 'list', '--json', '--data-dir', dataDir]);
    expect((JSON.parse(after.stdout) as { tokens: unknown[] }).tokens).toEqual([expect.objectContaining({ tokenId: tokenIdOf(token), status: 'active' })]);
  }, 60_000);
});
