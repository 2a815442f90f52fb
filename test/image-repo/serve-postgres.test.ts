// `uptane image serve --database postgres://...` end to end: the real binary, two replicas on one
// PostgreSQL schema and one shared data folder, an uploader token made by `uptane image uploader
// add --database`, a repository built and pushed with the workspace CLI through one replica, and the
// shared RepositoryUpdater reading it through the other. The password in the URL is never printed.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { RepositoryUpdater } from '../../shared/client/updater.js';
import { CLI, runCli, startCli, type CliProcess } from '../support/cli-runner.js';
import { adminQuery, describePostgres, dropSchemas, uniqueSchema, urlWithSchema } from '../support/postgres.js';

// Trust authentication ignores the password; it is there to be kept out of every output.
const PASSWORD = 'never-printed-7f3a';

let dir: string;
let schema: string;
let databaseUrl: string;
const servers: CliProcess[] = [];

function withPassword(url: string): string {
  const parsed = new URL(url);
  parsed.password = PASSWORD;
  return parsed.toString();
}

async function ok(args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  const run = await runCli(args, { cwd: dir, env: { ...process.env, UPTANE_WORKSPACE: undefined, ...env }, timeoutMs: 60_000 });
  if (run.status !== 0) throw new Error(`uptane ${args.join(' ')} exited ${run.status}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  expect(run.stdout + run.stderr).not.toContain(PASSWORD);
  return run.stdout;
}

async function serve(dataDir: string): Promise<string> {
  // The URL from the environment, as a deployment would give it.
  const server = startCli(['image', 'serve', '--data-dir', dataDir, '--port', '0'], { cwd: dir, env: { ...process.env, UPTANE_DATABASE_URL: databaseUrl } });
  servers.push(server);
  const [, url] = await server.waitFor(/Image repository listening on (http:\/\/\S+)/);
  await server.waitFor(/^database: .*$/m);
  return url!;
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run the tests with npm test (its global setup builds the CLI)`);
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-serve-postgres-'));
  schema = uniqueSchema('image_serve_e2e');
  databaseUrl = withPassword(urlWithSchema(schema));
});

afterEach(async () => {
  for (const server of servers.splice(0)) {
    expect(server.output()).not.toContain(PASSWORD);
    await server.stop();
  }
  rmSync(dir, { recursive: true, force: true });
  await dropSchemas([schema]);
});

describePostgres('uptane image serve --database postgres://', () => {
  it('two replicas on one database and data folder serve a repository pushed through one and read through the other', async () => {
    const dataDir = join(dir, 'server');
    const token = (JSON.parse(await ok(['image', 'uploader', 'add', 'release-bot', '--data-dir', dataDir, '--database', databaseUrl, '--json'])) as { token: string }).token;
    const first = await serve(dataDir);
    // A second server on the same data folder: refused on SQLite (one process per folder), a replica here.
    const second = await serve(dataDir);
    expect(servers[1]!.output()).toMatch(new RegExp(`database: PostgreSQL postgres://root:\\*\\*\\*@[^ ]*schema=${schema}`));

    // The release engineer's workspace, pushed through the first replica.
    for (const name of ['root1', 't1']) await ok(['keys', 'generate', `${name}.pem`, '--public-out', `${name}.pub.json`]);
    await ok(['image', 'init', '-w', 'oem', '--server', first]);
    await ok(['image', 'root', 'create', '-w', 'oem', '--root-key', 'root1.pub.json', '--targets-key', 't1.pub.json']);
    await ok(['image', 'sign', '-w', 'oem', '--role', 'root', '--key', 'root1.pem']);
    const image = randomBytes(256 * 1024 + 3);
    writeFileSync(join(dir, 'ecm.bin'), image);
    await ok(['image', 'targets', 'add', 'ecm.bin', '-w', 'oem', '--name', 'engine/ecm-3.bin', '--hardware-id', 'ecm-x1', '--release-counter', '3']);
    await ok(['image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't1.pem']);
    expect(await ok(['image', 'push', '-w', 'oem'], { UPTANE_UPLOAD_TOKEN: token })).toMatch(/root v1, targets v1 published/);

    // What was published is in PostgreSQL, in the schema the URL named.
    const rows = await adminQuery<{ role: string; version: number }>(`SELECT role, version FROM "${schema}".metadata ORDER BY role, version`);
    expect(rows.map((r) => `${r.role} v${r.version}`)).toEqual(['root v1', 'snapshot v1', 'targets v1', 'timestamp v1']);

    // A vehicle's client reads the other replica: metadata from the database, the image from the shared blobs.
    const clientDir = mkdtempSync(join(dir, 'client-'));
    const store = new FileMetadataStore(join(clientDir, 'metadata'));
    store.persist('root', readFileSync(join(dir, 'oem', 'published', 'root.json')));
    const updater = new RepositoryUpdater({
      repository: 'image',
      metadataUrl: `${second}/metadata`,
      targetsUrl: `${second}/targets`,
      store,
      fetcher: new HttpFetcher(),
      requestHeaders: () => ({ authorization: `Bearer ${token}` }),
    });
    expect(await updater.refresh()).toMatchObject({ rootVersion: 1, targetsVersion: 1 });
    const found = await updater.findTarget('engine/ecm-3.bin');
    const destination = join(clientDir, 'ecm-3.bin');
    await updater.downloadTarget(found, destination);
    expect(readFileSync(destination).equals(image)).toBe(true);

    // The uploader commands see the same tokens, and a revocation holds on every replica at once.
    const listed = await ok(['image', 'uploader', 'list', '--data-dir', dataDir], { UPTANE_DATABASE_URL: databaseUrl });
    expect(listed).toMatch(/release-bot .*active/);
    await ok(['image', 'uploader', 'remove', 'release-bot', '--yes', '--data-dir', dataDir, '--database', databaseUrl]);
    for (const url of [first, second]) {
      const refused = await fetch(`${url}/metadata/timestamp.json`, { headers: { authorization: `Bearer ${token}` } });
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('token_revoked');
    }
  }, 180_000);
});
