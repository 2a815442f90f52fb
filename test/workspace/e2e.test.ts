// The offline workflow end to end: the real `uptane` binary (dist/cli.js, built once) drives
// workspaces in a temp folder and pushes to a real Image repository server on 127.0.0.1 (port 0);
// the shared RepositoryUpdater, over real HTTP, is the client that must accept the result.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { RepositoryUpdater } from '../../shared/client/updater.js';
import type { WorkspaceStatus } from '../../shared/workspace/status.js';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import { CLI, runCli, type CliResult } from '../support/cli-runner.js';

const TOKEN = 'e2e-release-token-0123456789abcdef';
const SUPPLIER_TOKEN = 'e2e-acme-token-0123456789abcdef';


let dir: string;
let server: RunningImageServer;

/** Runs `uptane <args>` in the temp folder. Asynchronous: the server under test runs in this process. */
function uptane(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, UPTANE_UPLOAD_TOKEN: TOKEN, ...extraEnv };
  delete env.UPTANE_WORKSPACE;
  return runCli(args, { cwd: dir, env, timeoutMs: 60_000 });
}

/** Runs a command that must succeed; on failure the test fails with its output. */
async function ok(...args: string[]): Promise<string> {
  const run = await uptane(args);
  if (run.status !== 0) throw new Error(`uptane ${args.join(' ')} exited ${run.status}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run.stdout;
}

async function keygen(...names: string[]): Promise<void> {
  for (const name of names) await ok('keys', 'generate', `${name}.pem`, '--public-out', `${name}.pub.json`);
}

async function status(workspace: string): Promise<WorkspaceStatus> {
  return JSON.parse(await ok('image', 'status', '-w', workspace, '--json')) as WorkspaceStatus;
}

function writeImage(name: string, bytes: Buffer): string {
  writeFileSync(join(dir, name), bytes);
  return name;
}

/** A client that trusts `rootBytes` (root v1 as shipped in the ECU), on its own store. */
function newClient(rootBytes: Uint8Array): { updater: RepositoryUpdater; downloads: string } {
  const clientDir = mkdtempSync(join(dir, 'client-'));
  const store = new FileMetadataStore(join(clientDir, 'metadata'));
  store.persist('root', rootBytes);
  const updater = new RepositoryUpdater({
    repository: 'image',
    metadataUrl: `${server.url}/metadata`,
    targetsUrl: `${server.url}/targets`,
    store,
    fetcher: new HttpFetcher(),
    // The server serves reads only to credentials, as `uptane image serve` does by default: the
    // release engineers' own token here (a vehicle's would be a signed URL, docs/signed-urls.md).
    requestHeaders: () => ({ authorization: `Bearer ${TOKEN}` }),
  });
  return { updater, downloads: clientDir };
}

async function downloadAll(updater: RepositoryUpdater, downloads: string, expected: Record<string, Buffer>): Promise<void> {
  for (const [name, bytes] of Object.entries(expected)) {
    const found = await updater.findTarget(name);
    const destination = join(downloads, encodeURIComponent(name));
    await updater.downloadTarget(found, destination);
    expect(readFileSync(destination).equals(bytes)).toBe(true);
  }
}

/**
 * The OEM workspace as release engineers build it: keys, root v1 (1 root key, targets 2-of-3,
 * online keys from the server), two images, root signed and targets signed by t1 only.
 */
async function stageOemWorkspace(): Promise<Record<string, Buffer>> {
  await keygen('root1', 't1', 't2', 't3');
  await ok('image', 'init', '-w', 'oem', '--server', server.url);
  await ok(
    'image', 'root', 'create', '-w', 'oem',
    '--root-key', 'root1.pub.json',
    '--targets-key', 't1.pub.json', '--targets-key', 't2.pub.json', '--targets-key', 't3.pub.json',
    '--targets-threshold', '2',
  );
  await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', 'root1.pem');
  const images = {
    'engine/ecm-2.0.bin': randomBytes(3 * 1024 * 1024 + 17), // several read chunks: progress is reported
    'brake/abs-7.bin': Buffer.from('brake ecu v7'),
  };
  await ok('image', 'targets', 'add', writeImage('ecm.bin', images['engine/ecm-2.0.bin']), '-w', 'oem', '--name', 'engine/ecm-2.0.bin', '--hardware-id', 'ecm-x1', '--release-counter', '2', '--custom', 'gitCommit=4f2a9c1');
  await ok('image', 'targets', 'add', writeImage('abs.bin', images['brake/abs-7.bin']), '-w', 'oem', '--name', 'brake/abs-7.bin', '--hardware-id', 'abs-z', '--hardware-id', 'abs-y', '--release-counter', '7');
  await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't1.pem');
  return images;
}

/** The second targets signature, made air-gapped: export, sign with only the key elsewhere, import. */
async function signOffline(role: string, key: string): Promise<void> {
  const exported = await ok('image', 'sign-request', 'export', '-w', 'oem', '--role', role, '--out', `${role}.request.json`);
  const sha256 = /SHA-256 of the bytes to sign: ([0-9a-f]{64})/.exec(exported)![1]!;
  mkdirSync(join(dir, 'airgap'), { recursive: true });
  copyFileSync(join(dir, `${role}.request.json`), join(dir, 'airgap', 'request.json'));
  const signed = await ok('image', 'sign-request', 'sign', 'airgap/request.json', '--key', `${key}.pem`, '--expect-sha256', sha256, '--out', 'airgap/signature.json');
  expect(signed).toContain(`SHA-256 of the bytes: ${sha256}`);
  await ok('image', 'sign-request', 'import', 'airgap/signature.json', '-w', 'oem');
  rmSync(join(dir, 'airgap'), { recursive: true });
  rmSync(join(dir, `${role}.request.json`));
}

beforeAll(() => {
  // test/global-setup.js built the CLI once for the whole run.
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run the tests with npm test (its global setup builds the CLI)`);
});

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-workspace-e2e-'));
  // Reads need a credential, as `uptane image serve` defaults to: push's HEAD and pull send the uploader token.
  server = await startImageServer({ dataDir: join(dir, 'server'), readAccess: { mode: 'credential' } });
  await server.storage.addUploader('release-engineers', TOKEN, new Date());
});

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('offline workflow against a running Image repository', () => {
  it('2-of-3 targets: push with one signature is refused, with two accepted', async () => {
    await stageOemWorkspace();
    const before = await status('oem');
    const targets = before.roles.find((r) => r.role === 'targets')!;
    expect(targets.staged!.signatures[0]).toMatchObject({ threshold: 2, met: false });
    expect(targets.staged!.signatures[0]!.missing).toHaveLength(2);
    expect(before.readyToPush).toBe(false);

    const refused = await uptane(['image', 'push', '-w', 'oem']);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/targets v1 has 1 of the 2 signature\(s\) required/);
    expect(await server.storage.latest('root')).toBeUndefined(); // nothing was sent

    // The server refuses the one-signature file too, if someone sends it by other means.
    await ok('image', 'push', '-w', 'oem', '--role', 'root');
    const oneSignature = readFileSync(join(dir, 'oem', 'staged', 'targets.json'));
    const direct = await fetch(`${server.url}/api/v1/metadata/targets/targets`, {
      method: 'PUT',
      body: Buffer.from(JSON.stringify(JSON.parse(oneSignature.toString('utf8')))),
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(direct.status).toBe(400);
    expect(((await direct.json()) as { error: { code: string } }).error.code).toBe('unmet_threshold');
    expect(await server.storage.latest('targets')).toBeUndefined();

    await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't3.pem');
    const pushed = await uptane(['image', 'push', '-w', 'oem']);
    expect(pushed.status).toBe(0);
    expect(pushed.stdout).toMatch(/2 image\(s\) uploaded, 0 already there; targets v1 published/);
    expect(pushed.stderr).toMatch(/uploading engine\/ecm-2\.0\.bin: 3\.0 MiB \/ 3\.0 MiB \(100%\)/);
    expect((await server.storage.latest('targets'))!.version).toBe(1);
    expect((await status('oem')).roles.every((r) => r.staged === undefined)).toBe(true);
  }, 120_000);

  it('a workspace built with the CLI and pushed is refreshed and downloaded by the shared updater', async () => {
    const images = await stageOemWorkspace();
    await signOffline('targets', 't2');
    const stdout = await ok('image', 'push', '-w', 'oem');
    expect(stdout).toMatch(/root v1, targets v1 published/);
    // Metadata is served byte-identical to what the workspace pushed.
    const served = Buffer.from(await (await fetch(`${server.url}/metadata/1.targets.json`, { headers: { authorization: `Bearer ${TOKEN}` } })).arrayBuffer());
    expect(served.equals(readFileSync(join(dir, 'oem', 'published', 'targets.json')))).toBe(true);

    const rootV1 = readFileSync(join(dir, 'oem', 'published', 'root.json'));
    const { updater, downloads } = newClient(rootV1);
    expect(await updater.refresh()).toMatchObject({ rootVersion: 1, targetsVersion: 1 });
    await downloadAll(updater, downloads, images);
    const ecm = await updater.findTarget('engine/ecm-2.0.bin');
    expect(ecm.target.custom).toEqual({ gitCommit: '4f2a9c1', hardwareIds: ['ecm-x1'], releaseCounter: 2 });

    // A second change set: one image removed, pushed again; images already stored are not re-sent.
    await ok('image', 'targets', 'remove', 'brake/abs-7.bin', '-w', 'oem');
    await ok('image', 'targets', 'add', 'ecm.bin', '-w', 'oem', '--name', 'engine/ecm-2.0-copy.bin', '--hardware-id', 'ecm-x1', '--release-counter', '2');
    await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't1.pem');
    await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't2.pem');
    expect(await ok('image', 'push', '-w', 'oem')).toMatch(/0 image\(s\) uploaded, 1 already there; targets v2 published/);
    expect((await updater.refresh()).targetsVersion).toBe(2);
    await expect(updater.findTarget('brake/abs-7.bin')).rejects.toMatchObject({ code: 'target_not_found' });

    // pull: a second engineer starts from root v1 and gets the published state, verified.
    await ok('image', 'init', '-w', 'second', '--trusted-root', 'oem/published/root.json', '--server', server.url);
    expect(await ok('image', 'pull', '-w', 'second')).toMatch(/root v1, timestamp v\d+, targets v2/);
    expect((await status('second')).roles.map((r) => [r.role, r.published?.version])).toEqual([
      ['root', 1],
      ['targets', 2],
    ]);
  }, 120_000);

  it('root rotated twice: the new root needs both thresholds, and a client that trusted root v1 follows', async () => {
    const images = await stageOemWorkspace();
    await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't2.pem');
    await ok('image', 'push', '-w', 'oem');
    const rootV1 = readFileSync(join(dir, 'oem', 'published', 'root.json'));
    await keygen('root2', 'root3', 'root4');

    // Rotation 1: root1 -> root2.
    await ok('image', 'root', 'add-key', '-w', 'oem', '--role', 'root', '--key', 'root2.pub.json');
    await ok('image', 'root', 'remove-key', '-w', 'oem', '--role', 'root', '--key', 'root1.pub.json');
    await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', 'root2.pem');
    const half = (await status('oem')).roles.find((r) => r.role === 'root')!.staged!;
    expect(half.signatures.map((s) => [s.label, s.met])).toEqual([
      ['root keys of published root v1 (trusted by clients now)', false],
      ['root keys of staged root v2', true],
    ]);
    const refused = await uptane(['image', 'push', '-w', 'oem']);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/published root v1/);
    expect((await server.storage.latest('root'))!.version).toBe(1);
    await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', 'root1.pem');
    expect(await ok('image', 'push', '-w', 'oem')).toMatch(/root v2 published/);

    // Rotation 2: root2 -> root3 + root4, threshold 2; one new key alone is not enough.
    await ok('image', 'root', 'add-key', '-w', 'oem', '--role', 'root', '--key', 'root3.pub.json');
    await ok('image', 'root', 'add-key', '-w', 'oem', '--role', 'root', '--key', 'root4.pub.json');
    await ok('image', 'root', 'threshold', '2', '-w', 'oem', '--role', 'root');
    await ok('image', 'root', 'remove-key', '-w', 'oem', '--role', 'root', '--key', 'root2.pub.json');
    await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', 'root2.pem');
    await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', 'root3.pem');
    const partial = await uptane(['image', 'push', '-w', 'oem']);
    expect(partial.status).not.toBe(0);
    expect(partial.stderr).toMatch(/1 of the 2 signature\(s\) required by the root keys of staged root v3/);
    await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', 'root4.pem');
    expect(await ok('image', 'push', '-w', 'oem')).toMatch(/root v3 published/);

    const { updater, downloads } = newClient(rootV1);
    expect((await updater.refresh()).rootVersion).toBe(3);
    await downloadAll(updater, downloads, images);
  }, 120_000);

  it('a supplier delegation is used to add an image, from the supplier\'s own workspace', async () => {
    await stageOemWorkspace();
    await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't2.pem');
    await ok('image', 'push', '-w', 'oem');
    const rootV1 = readFileSync(join(dir, 'oem', 'published', 'root.json'));

    await keygen('acme');
    await ok('image', 'delegate', 'acme', '-w', 'oem', '--path', 'acme/*', '--key', 'acme.pub.json', '--hardware-id', 'radar-a', '--terminating');
    await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't1.pem');
    await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't3.pem');
    await ok('image', 'push', '-w', 'oem');

    // The supplier holds only its own key and the published root; it pulls, stages, signs, pushes.
    await server.storage.addUploader('acme', SUPPLIER_TOKEN, new Date());
    mkdirSync(join(dir, 'acme-site'));
    copyFileSync(join(dir, 'acme.pem'), join(dir, 'acme-site', 'acme.pem'));
    copyFileSync(join(dir, 'oem', 'published', 'root.json'), join(dir, 'acme-site', 'root.json'));
    const radar = randomBytes(64 * 1024);
    writeFileSync(join(dir, 'acme-site', 'radar.bin'), radar);
    await ok('image', 'init', '-w', 'acme-site/ws', '--server', server.url, '--trusted-root', 'acme-site/root.json');
    await ok('image', 'pull', '-w', 'acme-site/ws');
    const outside = await uptane(['image', 'targets', 'add', 'acme-site/radar.bin', '-w', 'acme-site/ws', '--role', 'acme', '--name', 'engine/radar.bin', '--hardware-id', 'radar-a', '--release-counter', '3']);
    expect(outside.status).not.toBe(0);
    expect(outside.stderr).toMatch(/outside what acme may sign/);
    await ok('image', 'targets', 'add', 'acme-site/radar.bin', '-w', 'acme-site/ws', '--role', 'acme', '--name', 'acme/radar-3.bin', '--hardware-id', 'radar-a', '--release-counter', '3');
    const wrongKey = await uptane(['image', 'sign', '-w', 'acme-site/ws', '--role', 'acme', '--key', 't1.pem']);
    expect(wrongKey.status).not.toBe(0);
    expect(wrongKey.stderr).toMatch(/may not sign acme/);
    await ok('image', 'sign', '-w', 'acme-site/ws', '--role', 'acme', '--key', 'acme-site/acme.pem');
    const pushed = await uptane(['image', 'push', '-w', 'acme-site/ws', '--token-env', 'ACME_TOKEN'], { ACME_TOKEN: SUPPLIER_TOKEN, UPTANE_UPLOAD_TOKEN: '' });
    expect(pushed.status).toBe(0);
    expect(pushed.stdout).toMatch(/acme v1 published/);
    expect(readdirSync(join(dir, 'acme-site', 'ws', 'staged'))).toEqual([]);

    const { updater, downloads } = newClient(rootV1);
    await updater.refresh();
    // As an ECU asks: by name and its hardware id (the delegation is restricted to radar-a).
    const found = await updater.findTarget('acme/radar-3.bin', ['radar-a']);
    expect(found.role).toBe('acme');
    const destination = join(downloads, 'radar-3.bin');
    await updater.downloadTarget(found, destination);
    expect(readFileSync(destination).equals(radar)).toBe(true);
    // The OEM's pull sees the supplier's role, verified through the delegation.
    expect(await ok('image', 'pull', '-w', 'oem')).toMatch(/delegated acme v1/);
  }, 120_000);

  it('every workflow command has --help with an example, and errors exit non-zero saying what to do', async () => {
    const commands = [
      ['init'], ['root', 'create'], ['root', 'add-key'], ['root', 'remove-key'], ['root', 'threshold'], ['root', 'expires'],
      ['targets', 'add'], ['targets', 'remove'], ['targets', 'expires'], ['delegate'], ['undelegate'], ['sign'], ['status'],
      ['sign-request', 'export'], ['sign-request', 'sign'], ['sign-request', 'import'], ['push'], ['pull'], ['discard'],
    ];
    const helps = await Promise.all(commands.map((command) => uptane(['image', ...command, '--help'])));
    commands.forEach((command, i) => {
      const help = helps[i]!;
      expect({ command, status: help.status }).toEqual({ command, status: 0 });
      expect(help.stdout).toContain('Examples:');
      if (command.join(' ') !== 'sign-request sign') expect(help.stdout).toContain('--workspace');
    });
    const notWorkspace = await uptane(['image', 'status', '-w', 'nowhere']);
    expect(notWorkspace.status).toBe(1);
    expect(notWorkspace.stderr).toMatch(/not a workspace .*create one with `init`/);
    await ok('image', 'init', '-w', 'ws');
    const missingFile = await uptane(['image', 'targets', 'add', 'x.bin', '-w', 'ws', '--hardware-id', 'a', '--release-counter', '1']);
    expect(missingFile.status).toBe(1);
    expect(missingFile.stderr).toMatch(/cannot read image .*x\.bin/);
    writeImage('x.bin', Buffer.from('x'));
    await ok('image', 'targets', 'add', 'x.bin', '-w', 'ws', '--hardware-id', 'a', '--release-counter', '1');
    await keygen('k');
    const noRoot = await uptane(['image', 'sign', '-w', 'ws', '--role', 'targets', '--key', 'k.pem']);
    expect(noRoot.status).toBe(1);
    expect(noRoot.stderr).toMatch(/no root metadata: create one with `uptane image root create`/);
    const badExpiry = await uptane(['image', 'targets', 'expires', 'soon', '-w', 'ws']);
    expect(badExpiry.stderr).toMatch(/e\.g\. 90d, 12h, 1y/);
    const noToken = await uptane(['image', 'push', '-w', 'ws'], { UPTANE_UPLOAD_TOKEN: '' });
    expect(noToken.status).toBe(1);
    expect(noToken.stderr).toMatch(/UPTANE_UPLOAD_TOKEN holds no uploader token/);
  }, 120_000);
});
