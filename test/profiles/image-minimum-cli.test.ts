// A release engineer sets an image's minimum security profile (docs/security-profiles.md "Setting an
// image's minimum"): `uptane image targets add --minimum-profile` stages it as the target's
// custom.minimumSecurityProfile, review and add show it, push carries it into the signed targets the
// Image repository serves, and a value that names no profile is refused by the workspace, by the
// parser and by the server. The real binary (dist/cli.js) against a real Image repository on port 0.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPrivateKey } from '../../shared/files/key-files.js';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import { canonicalBytes } from '../../shared/core/canonical.js';
import { CLI, runCli, type CliResult } from '../support/cli-runner.js';

const TOKEN = 'profiles-release-token-0123456789abcdef';

let dir: string;
let server: RunningImageServer;

function uptane(...args: string[]): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, UPTANE_UPLOAD_TOKEN: TOKEN };
  delete env.UPTANE_WORKSPACE;
  return runCli(args, { cwd: dir, env, timeoutMs: 60_000 });
}

async function ok(...args: string[]): Promise<string> {
  const run = await uptane(...args);
  if (run.status !== 0) throw new Error(`uptane ${args.join(' ')} exited ${String(run.status)}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run.stdout;
}

/** Every file of the workspace's staged folder with its bytes: "unchanged" means exactly this. */
function staged(): Record<string, string> {
  const folder = join(dir, 'ws', 'staged');
  return Object.fromEntries(readdirSync(folder).map((name) => [name, readFileSync(join(folder, name), 'utf8')]));
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run the tests with npm test (its global setup builds the CLI)`);
  dir = mkdtempSync(join(tmpdir(), 'uptane-profile-cli-'));
  server = await startImageServer({ dataDir: join(dir, 'server'), readAccess: { mode: 'credential' } });
  await server.storage.addUploader('release-engineers', TOKEN, new Date());
  writeFileSync(join(dir, 'brake.bin'), 'brake controller v4');
  writeFileSync(join(dir, 'radio.bin'), 'radio v2');
  for (const name of ['root1', 't1']) await ok('keys', 'generate', `${name}.pem`, '--public-out', `${name}.pub.json`);
  await ok('image', 'init', '-w', 'ws', '--server', server.url);
  await ok('image', 'root', 'create', '-w', 'ws', '--root-key', 'root1.pub.json', '--targets-key', 't1.pub.json');
  await ok('image', 'sign', '-w', 'ws', '--role', 'root', '--key', 'root1.pem');
}, 120_000);

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('uptane image targets add --minimum-profile', () => {
  it('refuses a value that names no profile, both ways of giving it twice, and a bad manifest line, staging nothing', async () => {
    const before = staged();
    const named = await uptane('image', 'targets', 'add', 'brake.bin', '-w', 'ws', '--hardware-id', 'brake-b2', '--release-counter', '4', '--minimum-profile', 'medium');
    expect(named.status).toBe(1);
    expect(named.stderr).toMatch(/basic.*standard.*high/s);
    const custom = await uptane('image', 'targets', 'add', 'brake.bin', '-w', 'ws', '--hardware-id', 'brake-b2', '--release-counter', '4', '--custom', 'minimumSecurityProfile=medium');
    expect(custom.status).toBe(1);
    expect(custom.stderr).toContain('minimumSecurityProfile must be one of basic, standard, high, got "medium"');
    const twice = await uptane('image', 'targets', 'add', 'brake.bin', '-w', 'ws', '--hardware-id', 'brake-b2', '--release-counter', '4', '--custom', 'minimumSecurityProfile=high', '--minimum-profile', 'high');
    expect(twice.status).toBe(1);
    expect(twice.stderr).toContain('give the minimum security profile once');
    writeFileSync(join(dir, 'release.jsonl'), '{"path": "brake.bin", "hardwareIds": ["brake-b2"], "releaseCounter": 4, "custom": {"minimumSecurityProfile": "ultra"}}\n');
    const manifest = await uptane('image', 'targets', 'add', '-w', 'ws', '--from-manifest', 'release.jsonl');
    expect(manifest.status).toBe(1);
    expect(manifest.stderr).toContain('got "ultra"');
    const both = await uptane('image', 'targets', 'add', '-w', 'ws', '--from-manifest', 'release.jsonl', '--minimum-profile', 'high');
    expect(both.status).toBe(1);
    expect(both.stderr).toContain('--minimum-profile (a line sets it as "custom": {"minimumSecurityProfile": "high"})');
    expect(staged()).toEqual(before);
  });

  it('stages the minimum, shows it, and push publishes it in the signed targets; the server refuses a minimum naming no profile', async () => {
    const added = await ok('image', 'targets', 'add', 'brake.bin', '-w', 'ws', '--name', 'chassis/brake-4.0.bin', '--hardware-id', 'brake-b2', '--release-counter', '4', '--minimum-profile', 'high');
    expect(added).toContain('minimum security profile high');
    await ok('image', 'targets', 'add', 'radio.bin', '-w', 'ws', '--name', 'infotainment/radio-2.bin', '--hardware-id', 'radio-r1', '--release-counter', '2');
    const diff = JSON.parse(await ok('image', 'diff', '-w', 'ws', '--role', 'targets', '--json')) as { roles: Array<{ targetsAdded: Array<{ name: string; custom: unknown }> }> };
    expect(Object.fromEntries(diff.roles[0]!.targetsAdded.map((t) => [t.name, t.custom]))).toEqual({
      'chassis/brake-4.0.bin': { minimumSecurityProfile: 'high', hardwareIds: ['brake-b2'], releaseCounter: 4 },
      'infotainment/radio-2.bin': { hardwareIds: ['radio-r1'], releaseCounter: 2 },
    });
    // Signed air-gapped: the signer's review of the request names the minimum.
    await ok('image', 'sign-request', 'export', '-w', 'ws', '--role', 'targets', '--out', 'targets.request.json');
    const review = await ok('image', 'sign-request', 'sign', 'targets.request.json', '--key', 't1.pem', '--out', 'targets.sig.json');
    expect(review).toMatch(/chassis\/brake-4\.0\.bin .*minimum profile high/);
    expect(review).not.toMatch(/infotainment\/radio-2\.bin .*minimum profile/);
    await ok('image', 'sign-request', 'import', 'targets.sig.json', '-w', 'ws');
    const published = readFileSync(join(dir, 'ws', 'staged', 'targets.json'));
    await ok('image', 'push', '-w', 'ws');
    const served = await fetch(`${server.url}/metadata/1.targets.json`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const signed = (JSON.parse(Buffer.from(await served.arrayBuffer()).toString('utf8')) as { signed: { targets: Record<string, { custom: Record<string, unknown> }> } }).signed;
    expect(signed.targets['chassis/brake-4.0.bin']!.custom.minimumSecurityProfile).toBe('high');
    expect(signed.targets['infotainment/radio-2.bin']!.custom.minimumSecurityProfile).toBeUndefined();

    // Signed with the real targets key (by hand: the project's signer refuses to sign malformed
    // metadata), a minimum naming no profile is still malformed metadata to the server.
    const key = loadPrivateKey(join(dir, 't1.pem'));
    const forged = (JSON.parse(published.toString('utf8')) as { signed: { version: number; targets: Record<string, { custom: Record<string, unknown> }> } }).signed;
    forged.targets['chassis/brake-4.0.bin']!.custom.minimumSecurityProfile = 'highest';
    forged.version = 2;
    const bad = JSON.stringify({ signed: forged, signatures: [{ keyid: key.keyid, sig: key.sign(canonicalBytes(forged)) }] });
    const put = await fetch(`${server.url}/api/v1/metadata/targets/targets`, { method: 'PUT', body: bad, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(put.status).toBe(400);
    const error = ((await put.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('malformed_metadata');
    expect(error.message).toContain('custom.minimumSecurityProfile');
    expect((await server.storage.latest('targets'))!.version).toBe(1);
  }, 120_000);
});
