// `uptane image targets add` of many files and of a manifest, `diff` and `status --check`, through
// the real binary (dist/cli.js, built once by the global setup) in a temp folder. The library
// behaviour is covered in targets-scale.test.ts, diff.test.ts and status-verdict.test.ts; this file
// checks what only the command adds: its arguments, its output, and its exit status.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli-runner.js';



let dir: string;

function uptane(...args: string[]): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.UPTANE_WORKSPACE;
  return runCli(args, { cwd: dir, env, timeoutMs: 60_000 });
}

async function ok(...args: string[]): Promise<string> {
  const run = await uptane(...args);
  if (run.status !== 0) throw new Error(`uptane ${args.join(' ')} exited ${String(run.status)}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run.stdout;
}

/** Every file of the workspace with its bytes: "unchanged" means exactly this. */
function snapshot(ws: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const sub of ['staged', 'sources']) {
    for (const name of readdirSync(join(dir, ws, sub))) out[`${sub}/${name}`] = readFileSync(join(dir, ws, sub, name), 'utf8');
  }
  return out;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-targets-cli-'));
  mkdirSync(join(dir, 'build', 'bcm'), { recursive: true });
  for (const name of ['front.bin', 'rear.bin', 'roof.bin']) writeFileSync(join(dir, 'build', 'bcm', name), `image ${name}`);
  writeFileSync(join(dir, 'build', 'ecm.bin'), 'engine image');
  await ok('image', 'init', '-w', 'ws');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('uptane image targets add', () => {
  it('stages many files in one edit, named with --name-prefix', async () => {
    const out = await ok('image', 'targets', 'add', 'build/bcm/front.bin', 'build/bcm/rear.bin', 'build/bcm/roof.bin', '-w', 'ws', '--name-prefix', 'body/', '--hardware-id', 'bcm-2', '--release-counter', '7');
    expect(out).toContain('3 images in targets: 3 added, 0 replaced, 0 unchanged');
    expect(out).toContain('staged targets v1');
    const json = JSON.parse(await ok('image', 'diff', '-w', 'ws', '--json')) as { roles: Array<{ targetsAdded: Array<{ name: string; custom: unknown }> }> };
    expect(json.roles[0]!.targetsAdded.map((t) => t.name)).toEqual(['body/front.bin', 'body/rear.bin', 'body/roof.bin']);
    expect(json.roles[0]!.targetsAdded[0]!.custom).toEqual({ hardwareIds: ['bcm-2'], releaseCounter: 7 });
  });

  it('refuses --name with several files, and FILEs without their fields', async () => {
    const named = await uptane('image', 'targets', 'add', 'build/bcm/front.bin', 'build/bcm/rear.bin', '-w', 'ws', '--name', 'x.bin', '--hardware-id', 'b', '--release-counter', '1');
    expect(named.status).toBe(1);
    expect(named.stderr).toContain('--name-prefix');
    const bare = await uptane('image', 'targets', 'add', 'build/ecm.bin', '-w', 'ws', '--release-counter', '1');
    expect(bare.status).toBe(1);
    expect(bare.stderr).toContain('--hardware-id is required');
  });

  it('stages a JSON Lines manifest, --json listing every image', async () => {
    writeFileSync(
      join(dir, 'build', 'release.jsonl'),
      '{"path": "ecm.bin", "name": "engine/ecm-2.1.bin", "hardwareIds": ["ecm-x1"], "releaseCounter": 21, "custom": {"build": "2026.12.1"}}\n{"path": "bcm/front.bin", "hardwareIds": ["bcm-2"], "releaseCounter": 7}\n',
    );
    const json = JSON.parse(await ok('image', 'targets', 'add', '-w', 'ws', '--from-manifest', 'build/release.jsonl', '--json')) as {
      version: number;
      images: Array<{ name: string; status: string; length: number; custom: unknown }>;
    };
    expect(json.version).toBe(1);
    expect(json.images.map((i) => [i.name, i.status, i.length])).toEqual([
      ['engine/ecm-2.1.bin', 'added', 12],
      ['front.bin', 'added', 15],
    ]);
    expect(json.images[0]!.custom).toEqual({ build: '2026.12.1', hardwareIds: ['ecm-x1'], releaseCounter: 21 });
  });

  it('refuses a manifest with one bad line, naming it, and changes nothing', async () => {
    await ok('image', 'targets', 'add', 'build/ecm.bin', '-w', 'ws', '--hardware-id', 'ecm-x1', '--release-counter', '1');
    const before = snapshot('ws');
    writeFileSync(join(dir, 'build', 'bad.jsonl'), '{"path": "bcm/front.bin", "hardwareIds": ["bcm-2"], "releaseCounter": 7}\n\n{"path": "bcm/rear.bin", "hardwareIds": ["bcm-2"], "releaseCountr": 7}\n');
    const run = await uptane('image', 'targets', 'add', '-w', 'ws', '--from-manifest', 'build/bad.jsonl');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('build/bad.jsonl line 3: unknown key "releaseCountr"');
    expect(snapshot('ws')).toEqual(before);
    const both = await uptane('image', 'targets', 'add', 'build/ecm.bin', '-w', 'ws', '--from-manifest', 'build/bad.jsonl');
    expect(both.status).toBe(1);
    expect(both.stderr).toContain('drop FILE arguments');
  });
});

describe('uptane image diff and status --check', () => {
  it('shows the staged images and exits with the verdict only when asked', async () => {
    await ok('image', 'targets', 'add', 'build/ecm.bin', '-w', 'ws', '--name', 'engine/ecm.bin', '--hardware-id', 'ecm-x1', '--release-counter', '3');
    const diff = await ok('image', 'diff', '-w', 'ws');
    expect(diff).toContain('targets v1 (never published)');
    expect(diff).toMatch(/\+ engine\/ecm\.bin: 12 bytes, sha256 [0-9a-f]{64}/);
    // No root in this workspace: targets cannot be checked against anything, so it is not pushable.
    expect((await uptane('image', 'status', '-w', 'ws')).status).toBe(0);
    const checked = await uptane('image', 'status', '-w', 'ws', '--check', '--json');
    expect(checked.status).toBe(5);
    expect(JSON.parse(checked.stdout)).toMatchObject({ verdict: 'not-pushable', exitCode: 5 });
    const none = await uptane('image', 'diff', '-w', 'ws', '--role', 'acme');
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('nothing is staged for acme');
  });
});

describe('--json on the workspace commands', () => {
  // Sixteen CLI processes in a row: under a loaded full run each takes seconds, not the 0.6 s of an idle machine.
  it('prints one JSON document on standard output for each step of a release', async () => {
    const json = async (...args: string[]) => JSON.parse(await ok(...args, '--json')) as Record<string, unknown>;
    for (const name of ['root', 'targets', 'online']) await ok('keys', 'generate', `${name}.pem`, '--public-out', `${name}.pub.json`);
    expect(await json('image', 'init', '-w', 'ws2')).toMatchObject({ repository: 'image', serverUrl: null, trustedRootVersion: null });
    expect(
      await json('image', 'root', 'create', '-w', 'ws2', '--root-key', 'root.pub.json', '--targets-key', 'targets.pub.json', '--timestamp-key', 'online.pub.json', '--snapshot-key', 'online.pub.json'),
    ).toMatchObject({ role: 'root', version: 1 });
    expect(await json('image', 'sign', '-w', 'ws2', '--role', 'root', '--key', 'root.pem')).toMatchObject({ role: 'root', alreadySigned: false, ready: true, problems: [] });
    expect(await json('image', 'targets', 'add', 'build/ecm.bin', '-w', 'ws2', '--hardware-id', 'ecm', '--release-counter', '1')).toMatchObject({ role: 'targets', changed: true });
    expect(await json('image', 'targets', 'expires', '30d', '-w', 'ws2')).toMatchObject({ role: 'targets', change: 'set the targets expiry', changed: true });
    const request = await json('image', 'sign-request', 'export', '-w', 'ws2', '--role', 'targets', '--out', 'targets.request.json');
    expect(request).toMatchObject({ file: 'targets.request.json', role: 'targets', version: 1 });
    const signature = await json('image', 'sign-request', 'sign', 'targets.request.json', '--key', 'targets.pem', '--out', 'targets.sig.json');
    expect(signature).toMatchObject({ file: 'targets.sig.json', role: 'targets', sha256: request.sha256 });
    expect(await json('image', 'sign-request', 'import', 'targets.sig.json', '-w', 'ws2')).toMatchObject({ role: 'targets', ready: true });
    expect((await uptane('image', 'status', '-w', 'ws2', '--check')).status).toBe(0);
    expect(await json('image', 'targets', 'remove', 'ecm.bin', '-w', 'ws2')).toMatchObject({ role: 'targets', droppedSignatures: [signature.keyid] });
    expect((await uptane('image', 'status', '-w', 'ws2', '--check')).status).toBe(3);
    expect(await json('image', 'discard', '-w', 'ws2', '--role', 'targets', '--yes')).toEqual({ role: 'targets', discarded: true });
  }, 180_000);
});
