// `uptane director serve --database postgres://...` as operators run replicas: two processes on one
// data folder and one database both serve, neither prints the database password, an operator token
// added with `director operator add --database` (or UPTANE_DATABASE_URL) works at both, and a
// session opened at one is accepted at the other. Real processes (dist/, built by the global setup).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import { rootMetadata } from '../../sim/harness/fleet-fixtures.js';
import { buildCli, runCli, startCli, type CliProcess } from '../support/cli-runner.js';
import { describePostgres, dropSchemas, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres.js';

const schema = uniqueSchema('replica_cli');
const PASSWORD = 'not-to-be-printed';
let dir: string;
const processes: CliProcess[] = [];

/** The test database with a password in the URL (trust authentication ignores it) and this file's schema. */
function databaseUrl(): string {
  const url = new URL(TEST_DATABASE_URL);
  url.password = PASSWORD;
  url.searchParams.set('schema', schema);
  return url.toString();
}

beforeAll(async () => {
  await buildCli();
  dir = mkdtempSync(join(tmpdir(), 'uptane-replica-cli-'));
});

afterAll(async () => {
  for (const child of processes) await child.stop();
  rmSync(dir, { recursive: true, force: true });
  await dropSchemas([schema]);
});

describePostgres('uptane director with --database', () => {
  it('runs two replicas on one data folder, prints no password, and takes tokens from either command form', async () => {
    const dataDir = join(dir, 'director');
    const imageRoot = join(dir, 'image-root.json');
    const key = PrivateKey.fromLabel('replica-cli/image-root');
    const entry = [{ keyid: key.keyid, key: key.publicKey.tuf }];
    writeFileSync(imageRoot, serializeMetadata(signMetadata(rootMetadata(1, { root: entry, targets: entry, snapshot: entry, timestamp: entry }), [key])));
    const env = { ...process.env, UPTANE_DATABASE_URL: undefined };

    const help = await runCli(['director', 'serve', '--help'], { env: { ...env, UPTANE_DATABASE_URL: databaseUrl() } });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--database');
    expect(help.stdout).toMatch(/:\*\*\*@[^]*\(from\s+UPTANE_DATABASE_URL\)/);
    expect(help.stdout).not.toContain(PASSWORD);

    const serveArgs = ['director', 'serve', '--data-dir', dataDir, '--database', databaseUrl(), '--port', '0', '--image-repo', 'http://127.0.0.1:9', '--image-root', imageRoot];
    const first = startCli(serveArgs, { env });
    processes.push(first);
    const firstUrl = (await first.waitFor(/Director listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    // The second shares the data folder: not refused as "in use by another uptane director serve".
    const second = startCli(serveArgs, { env });
    processes.push(second);
    const secondUrl = (await second.waitFor(/Director listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    for (const replica of [first, second]) {
      await replica.waitFor(/Director root|no Director root yet/);
      expect(replica.output()).toMatch(/database: PostgreSQL postgres:\/\/root:\*\*\*@/);
      expect(replica.output()).not.toContain(PASSWORD);
    }

    // A token added with --database; then one from UPTANE_DATABASE_URL, on a data folder holding no SQLite file.
    const added = await runCli(['director', 'operator', 'add', 'alice', '--scope', 'read', '--data-dir', dataDir, '--database', databaseUrl()], { env });
    expect(added.status).toBe(0);
    const fromEnv = await runCli(['director', 'operator', 'add', 'bob', '--scope', 'read', '--data-dir', join(dir, 'elsewhere')], { env: { ...env, UPTANE_DATABASE_URL: databaseUrl() } });
    expect(fromEnv.status).toBe(0);
    for (const token of [added.stdout.trim(), fromEnv.stdout.trim()]) {
      for (const url of [firstUrl, secondUrl]) {
        const answer = await fetch(`${url}/api/v1/vehicles`, { headers: { authorization: `Bearer ${token}` } });
        expect(answer.status).toBe(200);
      }
    }
    const list = await runCli(['director', 'operator', 'list', '--json', '--data-dir', dataDir, '--database', databaseUrl()], { env });
    expect((JSON.parse(list.stdout) as { tokens: Array<{ name: string }> }).tokens.map((t) => t.name)).toEqual(['alice', 'bob']);

    // Without --database the same folder holds no Director database: refused, nothing made.
    const missing = await runCli(['director', 'operator', 'list', '--data-dir', join(dir, 'elsewhere')], { env });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('holds no Director database');
    const removed = await runCli(['director', 'operator', 'remove', 'carol', '--yes', '--data-dir', dataDir, '--database', databaseUrl()], { env });
    expect(removed.status).toBe(1);
    expect(removed.stderr).toContain('no operator named carol');
    expect(removed.stderr).not.toContain(PASSWORD);
  }, 60_000);
});
