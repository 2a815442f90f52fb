// A damaged staged file (edited by hand, truncated by a full disk) must not lock the workspace
// (issue 20, finding 9): status names the file and says to discard it, `status --check` says the
// workspace cannot be pushed, and discard removes it without needing to read it. Library calls on a
// real workspace folder, and the built binary (dist/) for what the operator sees.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DamagedStagedFileError } from '../../shared/core/errors.js';
import { Workspace } from '../../shared/workspace/workspace.js';
import { runCli, type CliResult } from '../support/cli-runner.js';

let dir: string;

function uptane(...args: string[]): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.UPTANE_WORKSPACE;
  return runCli(args, { cwd: dir, env });
}

async function ok(...args: string[]): Promise<string> {
  const run = await uptane(...args);
  if (run.status !== 0) throw new Error(`uptane ${args.join(' ')} exited ${String(run.status)}\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-damaged-staged-'));
  await ok('keys', 'generate', 'k.pem', '--public-out', 'k.pub.json');
  await ok('image', 'init', '-w', 'ws');
  await ok('image', 'root', 'create', '-w', 'ws', '--root-key', 'k.pub.json', '--targets-key', 'k.pub.json', '--timestamp-key', 'k.pub.json', '--snapshot-key', 'k.pub.json');
  writeFileSync(join(dir, 'ecm.bin'), 'engine image');
  await ok('image', 'targets', 'add', 'ecm.bin', '-w', 'ws', '--hardware-id', 'ecm-x1', '--release-counter', '1');
}, 60_000);

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('a damaged staged file', () => {
  it.each([
    ['truncated JSON', (text: string) => text.slice(0, 40), /not valid JSON/],
    ['valid JSON, not metadata', (text: string) => text.replace(/"version": \d+/, '"version": "two"'), /version/],
  ])('%s: the library names the file in a typed error, and discard still removes it', (_name, damage, reason) => {
    const file = join(dir, 'ws', 'staged', 'targets.json');
    writeFileSync(file, damage(readFileSync(file, 'utf8')));
    const ws = Workspace.open(join(dir, 'ws'));
    let thrown: unknown;
    try {
      ws.diff('targets');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(DamagedStagedFileError);
    expect((thrown as DamagedStagedFileError).code).toBe('damaged_staged_file');
    expect((thrown as DamagedStagedFileError).file).toBe(file);
    expect((thrown as Error).message).toMatch(reason);
    expect((thrown as Error).message).toContain('`uptane image discard --role targets` throws it away');
    ws.discard('targets');
    expect(existsSync(file)).toBe(false);
    expect(ws.stagedRoles()).toEqual(['root']);
  });

  it('status names the file and the discard that removes it, --check says not pushable, and discard works', async () => {
    const file = join(dir, 'ws', 'staged', 'targets.json');
    writeFileSync(file, '{"signed": {"_type": "targets", "vers');
    const status = await uptane('image', 'status', '-w', 'ws');
    expect(status.status).toBe(0);
    expect(status.stdout).toContain(`targets: DAMAGED staged file ${file} (never published)`);
    expect(status.stdout).toContain('  next: uptane image discard --role targets');
    expect(status.stdout).toMatch(/root: staged v1/); // the readable roles are still reported
    const checked = await uptane('image', 'status', '-w', 'ws', '--check', '--json');
    expect(checked.status).toBe(5);
    const json = JSON.parse(checked.stdout) as { verdict: string; roles: Array<{ role: string; damaged?: { file: string } }> };
    expect(json.verdict).toBe('not-pushable');
    expect(json.roles.find((r) => r.role === 'targets')!.damaged!.file).toBe(file);

    expect(await ok('image', 'discard', '-w', 'ws', '--role', 'targets', '--yes')).toContain('discarded the staged targets');
    expect(existsSync(file)).toBe(false);
    expect(await ok('image', 'status', '-w', 'ws')).not.toContain('DAMAGED');
  }, 60_000);
});
