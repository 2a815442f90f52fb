// The Director's root through the offline signing workflow, end to end: the real `uptane` binary
// (dist/cli.js, built once by the global setup) creates root v1 in a workspace with the Director's
// online keys filled in, signs and pushes it, then rotates to v2 (new root key; old and new keys
// sign, one of them air-gapped through a signing request). A vehicle's Director updater that
// trusts v1 follows the rotation. A fresh Director (no root yet) runs on loopback in this process.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalBytes } from '../../shared/core/canonical.js';
import { FixedClock } from '../../shared/core/clock.js';
import { loadPublicKey } from '../../shared/files/key-files.js';
import { formatExpires } from '../../shared/core/metadata/parse.js';
import type { WorkspaceStatus } from '../../shared/workspace/status.js';
import { startDirector, type RunningDirector } from '../../director-repo/server.js';
import { runCli, type CliResult } from '../support/cli-runner.js';
import { startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

const TOKEN = 'root-workspace-operator-token';
const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

let clock: FixedClock;
let repos: Repositories;
let director: RunningDirector;
let dir: string;
let car: TestVehicle | undefined;

/** This process's environment without UPTANE_* variables, plus the operator token. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  const clean = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('UPTANE_')));
  return { ...clean, UPTANE_OPERATOR_TOKEN: TOKEN, ...extra };
}

const uptane = (args: readonly string[], extra: Record<string, string> = {}): Promise<CliResult> => runCli(args, { cwd: dir, env: env(extra) });

/** Runs a command that must succeed; on failure the test fails with its output. */
async function ok(...args: string[]): Promise<string> {
  const run = await uptane(args);
  if (run.status !== 0) throw new Error(`uptane ${args.join(' ')} exited ${String(run.status)}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run.stdout;
}

async function status(workspace: string): Promise<WorkspaceStatus> {
  return JSON.parse(await ok('director', 'status', '-w', workspace, '--json')) as WorkspaceStatus;
}

const keyid = (name: string) => loadPublicKey(join(dir, `${name}.pub.json`)).keyid;

beforeEach(async () => {
  // The CLI checks expiry against the real clock; the servers get the same time, fixed.
  clock = new FixedClock(Math.floor(Date.now() / 1000) * 1000);
  repos = await startRepositories(clock, 'root-workspace', { expires: formatExpires(new Date(clock.now().getTime() + YEAR_MS)) });
  // A Director of its own, with no root yet: the one startRepositories made already has one.
  director = await startDirector({ dataDir: join(repos.dataDir, 'fresh-director'), imageRepoUrl: repos.image.url, imageRootFile: join(repos.dataDir, 'image-root.json'), clock });
  await director.storage.addOperator('release-engineer', TOKEN, clock.now());
  dir = mkdtempSync(join(tmpdir(), 'uptane-director-ws-'));
  for (const name of ['root-1', 'root-2']) await ok('keys', 'generate', `${name}.pem`, '--public-out', `${name}.pub.json`);
}, 120_000);

afterEach(async () => {
  car?.cleanup();
  car = undefined;
  await director.close();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the Director root in an offline workspace', () => {
  it('creates root v1 with the online keys, signs and pushes it, then rotates to v2 signed by the old and new keys; a vehicle trusting v1 follows', async () => {
    await ok('director', 'init', '-w', 'dws', '--server', director.url);
    const created = await ok('director', 'root', 'create', '-w', 'dws', '--root-key', 'root-1.pub.json', '--expires', '180d');
    const online = director.services.root.onlineKeysJson();
    expect(created).toContain(`online keys from ${director.url}: timestamp ${online.timestamp.keyid.slice(0, 12)}, snapshot ${online.snapshot.keyid.slice(0, 12)}, targets ${online.targets.keyid.slice(0, 12)}`);
    const staged = JSON.parse(readFileSync(join(dir, 'dws', 'staged', 'root.json'), 'utf8')) as { signed: { roles: Record<string, { keyids: string[] }> } };
    expect(staged.signed.roles).toEqual({
      root: { keyids: [keyid('root-1')], threshold: 1 },
      targets: { keyids: [online.targets.keyid], threshold: 1 },
      snapshot: { keyids: [online.snapshot.keyid], threshold: 1 },
      timestamp: { keyids: [online.timestamp.keyid], threshold: 1 },
    });

    // Unsigned: refused locally, nothing sent.
    const early = await uptane(['director', 'push', '-w', 'dws']);
    expect(early.status).toBe(1);
    expect(early.stderr).toContain('root v1 has 0 of the 1 signature(s) required');
    expect(await director.services.root.latestRootVersion()).toBeUndefined();

    const signed = await ok('director', 'sign', '-w', 'dws', '--role', 'root', '--key', 'root-1.pem');
    expect(signed).toContain('root is ready to push: `uptane director push`');
    const pushed = await ok('director', 'push', '-w', 'dws');
    expect(pushed).toContain('published Director root version 1; vehicles fetch it as /metadata/1.root.json');
    expect(await director.services.root.latestRootVersion()).toBe(1);
    const v1 = Buffer.from(await (await fetch(`${director.url}/metadata/1.root.json`)).arrayBuffer());
    expect(v1.equals(readFileSync(join(dir, 'dws', 'published', 'root.json')))).toBe(true);

    // A vehicle provisioned with v1 is served by the Director from now on.
    car = new TestVehicle('ROOTWS00000000001', [{ serial: 'tcu-1', hardwareId: 'tcu-a', primary: true }, { serial: 'ecm-1', hardwareId: 'ecm-x1' }], clock);
    const registered = await fetch(`${director.url}/api/v1/vehicles`, {
      method: 'POST',
      body: JSON.stringify(car.registration()),
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    });
    expect(registered.status).toBe(201);
    const updater = car.directorUpdater(director.url, v1);
    expect((await updater.refresh()).rootVersion).toBe(1);

    // Rotation: stage v2 with root-2 in place of root-1.
    await ok('director', 'root', 'add-key', '-w', 'dws', '--role', 'root', '--key', 'root-2.pub.json');
    await ok('director', 'root', 'remove-key', '-w', 'dws', '--role', 'root', '--key', 'root-1.pub.json');
    await ok('director', 'sign', '-w', 'dws', '--role', 'root', '--key', 'root-2.pem');
    let root = (await status('dws')).roles.find((r) => r.role === 'root')!;
    expect(root.staged!.version).toBe(2);
    expect(root.staged!.signatures.map((p) => [p.label, p.met])).toEqual([
      ['root keys of published root v1 (trusted by clients now)', false],
      ['root keys of staged root v2', true],
    ]);

    // Signed by the new key only: the workspace refuses, and so does the Director if the file is sent anyway.
    const refused = await uptane(['director', 'push', '-w', 'dws']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('root keys of published root v1');
    const newKeyOnly = JSON.parse(readFileSync(join(dir, 'dws', 'staged', 'root.json'), 'utf8')) as unknown;
    writeFileSync(join(dir, 'new-key-only.json'), canonicalBytes(newKeyOnly));
    const server = await uptane(['director', 'root', 'push', 'new-key-only.json', '--url', director.url]);
    expect(server.status).toBe(1);
    expect(server.stderr).toMatch(/the Director refused to publish root new-key-only\.json: .*\[unmet_threshold, HTTP 4\d\d\]/);
    expect(await director.services.root.latestRootVersion()).toBe(1);

    // The old root key signs air-gapped: a request file out, a signature file back.
    const exported = await ok('director', 'sign-request', 'export', '-w', 'dws', '--role', 'root', '--out', 'root-v2.request.json');
    const sha256 = /SHA-256 of the bytes to sign: ([0-9a-f]{64})/.exec(exported)![1]!;
    const signedOffline = await ok('director', 'sign-request', 'sign', 'root-v2.request.json', '--key', 'root-1.pem', '--out', 'root-v2.root-1.sig.json', '--expect-sha256', sha256);
    expect(signedOffline).toContain('director repository, role root');
    const imported = await ok('director', 'sign-request', 'import', 'root-v2.root-1.sig.json', '-w', 'dws');
    expect(imported).toContain('root is ready to push');
    root = (await status('dws')).roles.find((r) => r.role === 'root')!;
    expect(root.staged!.ready).toBe(true);

    // `root push` with the workspace (the same as `push`).
    const rotated = await ok('director', 'root', 'push', '-w', 'dws', '--json');
    expect(JSON.parse(rotated)).toEqual({ version: 2, workspace: join(dir, 'dws') });
    expect(await director.services.root.latestRootVersion()).toBe(2);
    expect((await status('dws')).roles.find((r) => r.role === 'root')).toMatchObject({ published: { version: 2 } });

    // The vehicle still trusts v1 and walks to v2, checking old and new thresholds itself.
    const followed = await updater.refresh();
    expect(followed.rootVersion).toBe(2);
    expect(updater.trusted.root.signed.roles.root.keyids).toEqual([keyid('root-2')]);

    // A second engineer starts from v1 and pulls the chain, each version verified.
    writeFileSync(join(dir, '1.root.json'), v1);
    await ok('director', 'init', '-w', 'dws2', '--server', director.url, '--trusted-root', '1.root.json');
    expect(await ok('director', 'pull', '-w', 'dws2')).toContain(`pulled Director root v2 to v2 from ${director.url}`);
    expect(readFileSync(join(dir, 'dws2', 'published', 'root.json')).equals(readFileSync(join(dir, 'dws', 'published', 'root.json')))).toBe(true);
  }, 180_000);

  it('refuses a root that leaves out an online key before sending it, and a workspace of the other repository', async () => {
    await ok('director', 'init', '-w', 'dws', '--server', director.url);
    // A targets key of the engineer's own instead of the Director's online one: the Director could not sign targets.
    const created = await ok('director', 'root', 'create', '-w', 'dws', '--root-key', 'root-1.pub.json', '--targets-key', 'root-2.pub.json');
    expect(created).toMatch(/online keys from \S+: timestamp [0-9a-f]{12}, snapshot [0-9a-f]{12}\n/);
    await ok('director', 'sign', '-w', 'dws', '--role', 'root', '--key', 'root-1.pem');
    const refused = await uptane(['director', 'push', '-w', 'dws']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("does not list the Director's online targets key(s), so the Director would refuse it: `uptane director root add-key --role targets --from-server`");
    expect(await director.services.root.latestRootVersion()).toBeUndefined();

    // The fix the message names: the online key from the server, the other one removed, signed again.
    await ok('director', 'root', 'add-key', '-w', 'dws', '--role', 'targets', '--from-server');
    await ok('director', 'root', 'remove-key', '-w', 'dws', '--role', 'targets', '--key', 'root-2.pub.json');
    await ok('director', 'sign', '-w', 'dws', '--role', 'root', '--key', 'root-1.pem');
    expect(await ok('director', 'push', '-w', 'dws')).toContain('published Director root version 1');

    // Director commands refuse an Image repository workspace, and the other way round.
    await ok('image', 'init', '-w', 'iws');
    const wrong = await uptane(['director', 'status', '-w', 'iws']);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('is a workspace of the image repository, not the director');
    const wrongPush = await uptane(['director', 'root', 'push', '-w', 'iws']);
    expect(wrongPush.stderr).toContain('is a workspace of the image repository, not the director');
    expect((await uptane(['image', 'status', '-w', 'dws'])).stderr).toContain('is a workspace of the director repository, not the image');
  }, 120_000);

  it('says where the operator token goes when root create cannot fetch the online keys', async () => {
    await ok('director', 'init', '-w', 'dws', '--server', director.url);
    const run = await runCli(['director', 'root', 'create', '-w', 'dws', '--root-key', 'root-1.pub.json'], { cwd: dir, env: env({ UPTANE_OPERATOR_TOKEN: '' }) });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('environment variable UPTANE_OPERATOR_TOKEN is empty');
    const wrong = await uptane(['director', 'root', 'create', '-w', 'dws', '--root-key', 'root-1.pub.json', '--token-env', 'OTHER_TOKEN'], { OTHER_TOKEN: 'not-a-token' });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('[unauthorized, HTTP 401]');
    expect(wrong.stderr).toContain('the operator token in OTHER_TOKEN was not accepted');
  }, 60_000);
});
