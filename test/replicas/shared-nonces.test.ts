// The nonce record replicas share (director-repo/store/postgres/signed-request-nonces.ts): a nonce is
// claimed once, by one of many claims racing from two replicas; an expired one may be claimed again;
// pruning removes only expired rows, at most a batch at a time. And the session secret replicas
// share (director-repo/session-secret.ts): made once, owner-only, one for processes starting together
// (the compiled module, dist/, built by the global setup), and a file put there by hand refused.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { loadSessionSecret } from '../../director-repo/session-secret.js';
import { PostgresDirectorStore } from '../../director-repo/store/postgres/director-store.js';
import { StorageError } from '../../shared/core/errors.js';
import { REPO_ROOT } from '../support/cli-runner.js';
import { adminQuery, describePostgres, dropSchemas, uniqueSchema, urlWithSchema } from '../support/postgres.js';

const KEYID = 'ab'.repeat(32);
const NOW = Date.parse('2026-06-01T00:00:00Z');
const schema = uniqueSchema('shared_nonces');
let replicas: PostgresDirectorStore[] = [];

afterAll(async () => {
  for (const store of replicas) await store.close();
  await dropSchemas([schema]);
});

describePostgres('the shared signed-request nonce record', () => {
  beforeAll(async () => {
    const url = urlWithSchema(schema);
    replicas = await Promise.all([PostgresDirectorStore.open(url), PostgresDirectorStore.open(url)]);
  });

  it('lets exactly one of many claims of one nonce, from two replicas at once, through', async () => {
    const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => replicas[i % 2]!.signedRequestNonces.claim(KEYID, 'race-nonce', NOW + 600_000, NOW)));
    expect(claims.filter(Boolean)).toHaveLength(1);
  });

  it('refuses an unexpired nonce, and takes over an expired one not yet pruned', async () => {
    const [a, b] = replicas as [PostgresDirectorStore, PostgresDirectorStore];
    expect(await a.signedRequestNonces.claim(KEYID, 'n1', NOW + 1000, NOW)).toBe(true);
    expect(await b.signedRequestNonces.claim(KEYID, 'n1', NOW + 5000, NOW + 999)).toBe(false);
    expect(await b.signedRequestNonces.claim(KEYID, 'n1', NOW + 5000, NOW + 1000)).toBe(true);
    expect(await a.signedRequestNonces.claim(KEYID, 'n1', NOW + 9000, NOW + 4999)).toBe(false);
    // Another key's same nonce is another request.
    expect(await a.signedRequestNonces.claim('cd'.repeat(32), 'n1', NOW + 1000, NOW)).toBe(true);
  });

  it('prunes only expired nonces, oldest first, at most `limit` at a time', async () => {
    const store = replicas[0]!;
    for (let i = 0; i < 7; i++) expect(await store.signedRequestNonces.claim(KEYID, `prune-${i}`, NOW + 100 + i, NOW)).toBe(true);
    expect(await store.signedRequestNonces.claim(KEYID, 'prune-late', NOW + 10_000_000, NOW)).toBe(true);
    const left = async () => (await adminQuery<{ nonce: string }>(`SELECT nonce FROM "${schema}".signed_request_nonces WHERE nonce LIKE 'prune-%' ORDER BY nonce`)).map((r) => r.nonce);
    const at = NOW + 100_000;
    expect(await store.signedRequestNonces.prune(at, 3)).toBe(3);
    expect(await left()).toEqual(['prune-3', 'prune-4', 'prune-5', 'prune-6', 'prune-late']);
    // Everything else expired by then goes too (the earlier tests' nonces), never the unexpired one.
    while ((await store.signedRequestNonces.prune(at, 3)) === 3);
    expect(await left()).toEqual(['prune-late']);
    expect(await store.signedRequestNonces.prune(at, 3)).toBe(0);
  });
});

describe('the session secret replicas share', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'uptane-session-secret-'));
    mkdirSync(join(dir, 'keys'), { mode: 0o700 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is made once, owner-only, and read back the same by every later load', () => {
    const keys = join(dir, 'keys');
    const first = loadSessionSecret(keys);
    expect(first).toHaveLength(32);
    expect(loadSessionSecret(keys).equals(first)).toBe(true);
    expect(readFileSync(join(keys, 'session-secret'), 'latin1')).toBe(`${first.toString('hex')}\n`);
    // No temporary file left by the making, in the key folder or beside it.
    expect(readdirSync(dir)).toEqual(['keys']);
    expect(readdirSync(keys)).toEqual(['session-secret']);
  });

  it('is one secret when several replicas start at once and each finds none', async () => {
    const keys = join(dir, 'keys');
    const module = pathToFileURL(join(REPO_ROOT, 'dist', 'director-repo', 'session-secret.js')).href;
    // Each process loaded, they all wait for the same instant (a second from now), then look for the file.
    const script =
      `import { loadSessionSecret } from ${JSON.stringify(module)}; const at = Number(process.argv[2]); while (Date.now() < at); ` +
      `process.stdout.write(loadSessionSecret(process.argv[1]).toString('hex'));`;
    const at = String(Date.now() + 1_000);
    const secrets = await Promise.all(
      Array.from({ length: 8 }, () =>
        new Promise<string>((resolve, reject) => {
          execFile(process.execPath, ['--input-type=module', '-e', script, keys, at], (err, stdout) => (err === null ? resolve(stdout) : reject(err)));
        }),
      ),
    );
    expect(new Set(secrets).size).toBe(1);
    expect(secrets[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(loadSessionSecret(keys).toString('hex')).toBe(secrets[0]);
    expect(readdirSync(dir)).toEqual(['keys']);
  });

  it('refuses a secret readable by others or not 64 hex digits, changing nothing', () => {
    const keys = join(dir, 'keys');
    const path = join(keys, 'session-secret');
    writeFileSync(path, `${'1'.repeat(64)}\n`, { mode: 0o644 });
    chmodSync(path, 0o644);
    expect(() => loadSessionSecret(keys)).toThrow(StorageError);
    chmodSync(path, 0o600);
    writeFileSync(path, 'short\n');
    expect(() => loadSessionSecret(keys)).toThrow(StorageError);
    expect(readFileSync(path, 'latin1')).toBe('short\n');
  });
});
