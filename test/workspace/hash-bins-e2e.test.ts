// Hash bins end to end (issue 17): the real `uptane` binary creates 256 bins, adds thousands of images
// in one command and more from a manifest, signs every bin with one key and pushes to a real Image
// repository server on 127.0.0.1 (port 0); the shared RepositoryUpdater, over real HTTP, finds images
// in their bins and verifies them. A bin that lists a name of another bin is refused by the workspace,
// the server and the client (docs/threat-model.md I13).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { RepositoryUpdater } from '../../shared/client/updater.js';
import { TargetNotFoundError } from '../../shared/core/errors.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { succinctRoleFor, succinctRoleName } from '../../shared/core/metadata/paths.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { SuccinctRoles, TargetsSigned } from '../../shared/core/metadata/types.js';
import { loadPrivateKey } from '../../shared/files/key-files.js';
import { buildSnapshot, buildTimestamp } from '../../shared/server/snapshot-timestamp.js';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import { CLI, runCli, type CliResult } from '../support/cli-runner.js';

const TOKEN = 'bins-e2e-release-token-0123456789abcdef';
const FILES_IN_ONE_COMMAND = 2_000;
const FROM_MANIFEST = 1_000;


let dir: string;
let server: RunningImageServer;

function uptane(args: readonly string[]): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, UPTANE_UPLOAD_TOKEN: TOKEN };
  delete env.UPTANE_WORKSPACE;
  return runCli(args, { cwd: dir, env, timeoutMs: 300_000 });
}

async function ok(...args: string[]): Promise<string> {
  const run = await uptane(args);
  if (run.status !== 0) throw new Error(`uptane ${args.slice(0, 12).join(' ')} exited ${run.status}\nstdout:\n${run.stdout.slice(-4000)}\nstderr:\n${run.stderr.slice(-4000)}`);
  return run.stdout;
}

/** Every file of the workspace folder with its bytes. */
function workspaceFiles(workspace: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const sub of ['staged', 'sources', 'published']) {
    const folder = join(dir, workspace, sub);
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder)) out[`${sub}/${name}`] = readFileSync(join(folder, name), 'utf8');
  }
  return out;
}

function newClient(rootBytes: Uint8Array): { updater: RepositoryUpdater; downloads: string; store: FileMetadataStore } {
  const clientDir = mkdtempSync(join(dir, 'client-'));
  const store = new FileMetadataStore(join(clientDir, 'metadata'));
  store.persist('root', rootBytes);
  const updater = new RepositoryUpdater({
    repository: 'image',
    metadataUrl: `${server.url}/metadata`,
    targetsUrl: `${server.url}/targets`,
    store,
    fetcher: new HttpFetcher(),
    requestHeaders: () => ({ authorization: `Bearer ${TOKEN}` }),
  });
  return { updater, downloads: clientDir, store };
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run the tests with npm test (its global setup builds the CLI)`);
});

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-bins-e2e-'));
  server = await startImageServer({ dataDir: join(dir, 'server'), readAccess: { mode: 'credential' } });
  await server.storage.addUploader('release-engineers', TOKEN, new Date());
});

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('hash bins against a running Image repository', () => {
  it('256 bins, thousands of images in one command and from a manifest: signed, pushed, found by a client in their bins; I13: a bin listing a name of another bin is refused', async () => {
    for (const name of ['root1', 't1', 'bins']) await ok('keys', 'generate', `${name}.pem`, '--public-out', `${name}.pub.json`);
    await ok('image', 'init', '-w', 'oem', '--server', server.url);
    await ok('image', 'root', 'create', '-w', 'oem', '--root-key', 'root1.pub.json', '--targets-key', 't1.pub.json');
    await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', 'root1.pem');

    // Typed refusals, the workspace unchanged.
    const before = workspaceFiles('oem');
    for (const bins of ['100', '32768']) {
      const refused = await uptane(['image', 'bins', 'create', '-w', 'oem', '--bins', bins, '--key', 'bins.pub.json']);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/must be a power of two from 2 to 16384/);
      expect(workspaceFiles('oem')).toEqual(before);
    }

    const created = JSON.parse(await ok('image', 'bins', 'create', '-w', 'oem', '--bins', '256', '--key', 'bins.pub.json', '--json')) as {
      succinct: SuccinctRoles;
      bins: { role: string }[];
    };
    expect(created.succinct).toMatchObject({ threshold: 1, bit_length: 8, name_prefix: 'bins' });
    expect(created.bins).toHaveLength(256);
    expect(created.bins[0]!.role).toBe('bins-00');
    expect(created.bins[255]!.role).toBe('bins-ff');
    const succinct = created.succinct;

    // Thousands of files in one command.
    mkdirSync(join(dir, 'build'));
    const files: string[] = [];
    const content = new Map<string, Buffer>();
    for (let i = 0; i < FILES_IN_ONE_COMMAND; i += 1) {
      const bytes = Buffer.from(`fleet image ${i}\n`);
      writeFileSync(join(dir, 'build', `ecu-${i}.bin`), bytes);
      files.push(`build/ecu-${i}.bin`);
      content.set(`fleet/ecu-${i}.bin`, bytes);
    }
    const added = JSON.parse(
      await ok('image', 'targets', 'add', ...files, '-w', 'oem', '--name-prefix', 'fleet/', '--hardware-id', 'ecu-x', '--release-counter', '1', '--json'),
    ) as { roles: { role: string }[]; images: { name: string; role: string; status: string }[] };
    expect(added.images).toHaveLength(FILES_IN_ONE_COMMAND);
    for (const image of added.images) expect(image.role).toBe(succinctRoleFor(succinct, image.name));
    expect(added.roles.length).toBeGreaterThan(200); // 2,000 names cover nearly every one of 256 bins

    // And more from a manifest.
    mkdirSync(join(dir, 'release'));
    const lines: string[] = [];
    for (let i = 0; i < FROM_MANIFEST; i += 1) {
      const bytes = Buffer.from(`body image ${i}\n`);
      writeFileSync(join(dir, 'release', `bcm-${i}.bin`), bytes);
      lines.push(JSON.stringify({ path: `bcm-${i}.bin`, name: `body/bcm-${i}.bin`, hardwareIds: ['bcm-2'], releaseCounter: 3 }));
      content.set(`body/bcm-${i}.bin`, bytes);
    }
    writeFileSync(join(dir, 'release', 'release.jsonl'), `${lines.join('\n')}\n`);
    const fromManifest = await ok('image', 'targets', 'add', '-w', 'oem', '--from-manifest', 'release/release.jsonl');
    expect(fromManifest).toMatch(/1000 image\(s\) into \d+ hash bin\(s\): 1000 added/);

    await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't1.pem');
    const signed = await ok('image', 'bins', 'sign', '-w', 'oem', '--key', 'bins.pem');
    expect(signed).toMatch(/signed 256 hash bin\(s\)/);
    expect(signed).toMatch(/every staged bin meets its threshold/);
    const status = await ok('image', 'status', '-w', 'oem', '--check');
    expect(status).toMatch(/ready to push/);

    await ok('image', 'push', '-w', 'oem');
    // Snapshot lists every bin, and each bin its images.
    const snapshot = parseMetadata((await server.storage.latest('snapshot'))!.bytes, 'snapshot').signed;
    for (let bin = 0; bin < 256; bin += 1) expect(snapshot.meta[`${succinctRoleName(succinct, bin)}.json`]).toBeDefined();

    // A client trusting root v1 finds images in their bins and verifies the bytes.
    const rootBytes = (await server.storage.get('root', 1))!.bytes;
    const client = newClient(rootBytes);
    await client.updater.refresh();
    for (const name of ['fleet/ecu-0.bin', 'fleet/ecu-1999.bin', 'body/bcm-7.bin']) {
      const found = await client.updater.findTarget(name);
      const destination = join(client.downloads, encodeURIComponent(name));
      await client.updater.downloadTarget(found, destination);
      expect(readFileSync(destination).equals(content.get(name)!)).toBe(true);
      expect(client.store.load(succinctRoleFor(succinct, name))).toBeDefined(); // fetched from its bin
    }

    // I13, workspace: staging a name in another bin is refused, the workspace unchanged.
    const name = 'fleet/ecu-0.bin';
    const home = succinctRoleFor(succinct, name);
    const wrong = succinctRoleName(succinct, (parseInt(home.slice(5), 16) + 1) % 256);
    const beforeWrong = workspaceFiles('oem');
    const refused = await uptane(['image', 'targets', 'add', 'build/ecu-0.bin', '-w', 'oem', '--role', wrong, '--name', 'fleet/planted.bin', '--hardware-id', 'ecu-x', '--release-counter', '9']);
    if (succinctRoleFor(succinct, 'fleet/planted.bin') !== wrong) {
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/does not hash to hash bin/);
      expect(workspaceFiles('oem')).toEqual(beforeWrong);
    }

    // I13, server: a bin listing a name that hashes elsewhere, signed with the bin key, is refused.
    const binKey = loadPrivateKey(join(dir, 'bins.pem'));
    const published = parseMetadata((await server.storage.latest(wrong))!.bytes, 'targets').signed;
    const genuine = parseMetadata((await server.storage.latest(home))!.bytes, 'targets').signed.targets[name]!;
    const evil = Buffer.from('not the genuine image\n');
    let extra = 0;
    while (succinctRoleFor(succinct, `fleet/planted-${extra}.bin`) === wrong || succinctRoleFor(succinct, `fleet/planted-${extra}.bin`) === home) extra += 1;
    const onlyThere = `fleet/planted-${extra}.bin`;
    const planted: TargetsSigned = {
      ...published,
      version: published.version + 1,
      // The genuine name with an evil image, and a name listed only here, in a bin it does not hash to.
      targets: {
        ...published.targets,
        [name]: { ...genuine, length: evil.length, hashes: digestBytes(evil, ['sha256', 'sha512']) },
        [onlyThere]: { ...genuine, length: evil.length, hashes: digestBytes(evil, ['sha256', 'sha512']) },
      },
    };
    const plantedBytes = serializeMetadata(signMetadata(planted, [binKey]));
    const direct = await fetch(`${server.url}/api/v1/metadata/targets/${wrong}`, { method: 'PUT', body: plantedBytes, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(direct.status).toBeGreaterThanOrEqual(400);
    expect(((await direct.json()) as { error: { code: string } }).error.code).toMatch(/unauthorized_target|missing_image/);

    // I13, client: a compromised server (its online keys) publishes the planted bin anyway, with the
    // evil image; the client looks for the name only in its own bin and gets the genuine image.
    const keys = { snapshot: loadPrivateKey(join(dir, 'server', 'keys', 'snapshot.pem')), timestamp: loadPrivateKey(join(dir, 'server', 'keys', 'timestamp.pem')) };
    const roles = await server.storage.targetsRoles();
    const roleFiles = await Promise.all(roles.map(async (role) => [role, role === wrong ? { version: planted.version, bytes: plantedBytes } : (await server.storage.latest(role))!] as const));
    const previousSnapshot = (await server.storage.latest('snapshot'))!;
    const previousTimestamp = (await server.storage.latest('timestamp'))!;
    const expires = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const forgedSnapshot = buildSnapshot(roleFiles, { version: previousSnapshot.version + 1, expires, key: keys.snapshot });
    const forgedTimestamp = buildTimestamp(forgedSnapshot, { version: previousTimestamp.version + 1, expires, key: keys.timestamp });
    await server.storage.publish(
      [
        { role: wrong, version: planted.version, bytes: plantedBytes },
        { role: 'snapshot', version: forgedSnapshot.version, bytes: forgedSnapshot.bytes },
        { role: 'timestamp', version: forgedTimestamp.version, bytes: forgedTimestamp.bytes },
      ],
      new Date(),
    );
    const victim = newClient(rootBytes);
    await victim.updater.refresh();
    const found = await victim.updater.findTarget(name);
    expect(found.target.hashes.sha256).toBe(genuine.hashes.sha256);
    expect(victim.store.load(wrong)).toBeUndefined(); // the planted bin was never even fetched
    // A name listed only in a bin it does not hash to is not found at all.
    await expect(victim.updater.findTarget(onlyThere)).rejects.toBeInstanceOf(TargetNotFoundError);
  }, 900_000);
});
