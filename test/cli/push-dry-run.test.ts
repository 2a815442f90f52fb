// `uptane image push --dry-run` (issue 20, finding 9): the same local checks as a push, then what it
// would publish (roles, versions, images added, removed, changed) and upload, while the server's
// metadata and images stay as they were. The real binary (dist/) against a real Image repository
// server on 127.0.0.1 (port 0) that serves reads only to credentials, as `uptane image serve` does.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import { runCli, type CliResult } from '../support/cli-runner.js';

const TOKEN = 'dry-run-release-token-0123456789abcdef';

let dir: string;
let server: RunningImageServer;

function uptane(args: readonly string[], env: Record<string, string | undefined> = { UPTANE_UPLOAD_TOKEN: TOKEN }): Promise<CliResult> {
  const all: Record<string, string | undefined> = { ...process.env, ...env };
  delete all.UPTANE_WORKSPACE;
  if (env.UPTANE_UPLOAD_TOKEN === undefined) delete all.UPTANE_UPLOAD_TOKEN;
  return runCli(args, { cwd: dir, env: all, timeoutMs: 60_000 });
}

async function ok(...args: string[]): Promise<string> {
  const run = await uptane(args);
  if (run.status !== 0) throw new Error(`uptane ${args.join(' ')} exited ${String(run.status)}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run.stdout;
}

/** What the server publishes, byte for byte, and the images it holds. */
async function serverState(): Promise<unknown> {
  const roles: Record<string, string | null> = {};
  for (const role of ['root', 'targets', 'snapshot', 'timestamp']) {
    const stored = await server.storage.latest(role);
    roles[role] = stored === undefined ? null : Buffer.from(stored.bytes).toString('base64');
  }
  return { roles, blobs: readdirSync(join(dir, 'server'), { recursive: true }).map(String).sort() };
}

/** The workspace's files, byte for byte. */
function workspaceState(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(dir, 'oem'), { recursive: true }).map(String)) {
    try {
      out[name] = readFileSync(join(dir, 'oem', name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EISDIR') throw err;
    }
  }
  return out;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-push-dry-run-'));
  server = await startImageServer({ dataDir: join(dir, 'server'), readAccess: { mode: 'credential' } });
  await server.storage.addUploader('release-engineers', TOKEN, new Date());
  for (const name of ['root1', 't1']) await ok('keys', 'generate', `${name}.pem`, '--public-out', `${name}.pub.json`);
  await ok('image', 'init', '-w', 'oem', '--server', server.url);
  await ok('image', 'root', 'create', '-w', 'oem', '--root-key', 'root1.pub.json', '--targets-key', 't1.pub.json');
  await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', 'root1.pem');
  writeFileSync(join(dir, 'ecm.bin'), 'engine image v2');
  writeFileSync(join(dir, 'abs.bin'), 'brake image v7');
  await ok('image', 'targets', 'add', 'ecm.bin', '-w', 'oem', '--name', 'engine/ecm-2.bin', '--hardware-id', 'ecm-x1', '--release-counter', '2');
  await ok('image', 'targets', 'add', 'abs.bin', '-w', 'oem', '--name', 'brake/abs-7.bin', '--hardware-id', 'abs-z', '--release-counter', '7');
  await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't1.pem');
}, 120_000);

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('uptane image push --dry-run', () => {
  it('shows the roles, versions and images a push would publish, and changes nothing on the server or in the workspace', async () => {
    const server0 = await serverState();
    const workspace0 = workspaceState();
    const plan = JSON.parse(await ok('image', 'push', '-w', 'oem', '--dry-run', '--json')) as {
      dryRun: boolean;
      server: string;
      roles: Array<{ role: string; version: number; publishedVersion: number; targetsAdded: string[]; targetsRemoved: string[] }>;
      images: Array<{ name: string; onServer: boolean | null }>;
    };
    expect(plan.dryRun).toBe(true);
    expect(plan.server).toBe(server.url);
    expect(plan.roles.map((r) => [r.role, r.version, r.publishedVersion])).toEqual([
      ['root', 1, 0],
      ['targets', 1, 0],
    ]);
    expect(plan.roles[1]!.targetsAdded.sort()).toEqual(['brake/abs-7.bin', 'engine/ecm-2.bin']);
    expect(plan.images.map((i) => [i.name, i.onServer]).sort()).toEqual([
      ['brake/abs-7.bin', false],
      ['engine/ecm-2.bin', false],
    ]);
    expect(await serverState()).toEqual(server0);
    expect(workspaceState()).toEqual(workspace0);

    // The real push then publishes exactly what the plan said.
    const pushed = JSON.parse(await ok('image', 'push', '-w', 'oem', '--json')) as { published: Array<{ role: string; version: number }> };
    expect(pushed.published).toEqual([
      { role: 'root', version: 1 },
      { role: 'targets', version: 1 },
    ]);
  }, 120_000);

  it('lists images added and removed for people, and sends nothing', async () => {
    await ok('image', 'push', '-w', 'oem');
    writeFileSync(join(dir, 'ecm3.bin'), 'engine image v3');
    await ok('image', 'targets', 'add', 'ecm3.bin', '-w', 'oem', '--name', 'engine/ecm-3.bin', '--hardware-id', 'ecm-x1', '--release-counter', '3');
    await ok('image', 'targets', 'remove', 'brake/abs-7.bin', '-w', 'oem');
    await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't1.pem');
    const server0 = await serverState();
    const out = await ok('image', 'push', '-w', 'oem', '--dry-run');
    expect(out).toMatch(/^dry run: nothing is sent; a push would publish\n {2}targets v2 \(published v1\), expires \S+\n {4}\+ engine\/ecm-3\.bin\n {4}- brake\/abs-7\.bin\n/);
    expect(out).toMatch(/engine\/ecm-3\.bin \(15 B\): to upload/);
    expect(await serverState()).toEqual(server0);
  }, 120_000);

  it('needs no token (then it does not ask the server), but still makes every local check', async () => {
    const server0 = await serverState();
    const noToken = await uptane(['image', 'push', '-w', 'oem', '--dry-run', '--json'], {});
    expect(noToken.status).toBe(0);
    expect((JSON.parse(noToken.stdout) as { images: Array<{ onServer: unknown }> }).images.every((i) => i.onServer === null)).toBe(true);
    writeFileSync(join(dir, 'ecm.bin'), 'engine image v2, changed after it was hashed');
    const changed = await uptane(['image', 'push', '-w', 'oem', '--dry-run']);
    expect(changed.status).toBe(1);
    expect(changed.stderr).toMatch(/changed since it was hashed/);
    expect(await serverState()).toEqual(server0);
  }, 120_000);
});
