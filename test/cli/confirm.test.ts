// Commands that cannot be undone ask first (issue 20, finding 9): on a terminal the operator answers
// y or n; without a terminal (a script, CI) they are refused unless --yes is given, and a refusal
// changes nothing. The question itself is read from real streams; the end-to-end cases run the
// built binary (dist/) on a real Image repository database, and on a pseudo-terminal through
// util-linux `script` where it is installed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { startImageServer } from '../../image-repo/server.js';
import { askYesNo, confirmDestructive } from '../../shared/cli/confirm.js';
import { ConfirmationRequiredError } from '../../shared/core/errors.js';
import { CLI, hasPseudoTerminal, runCli } from '../support/cli-runner.js';
import { QUIET_IO } from '../support/command-tree.js';

async function answer(typed: string | null): Promise<{ yes: boolean; asked: string }> {
  const input = new PassThrough();
  const output = new PassThrough();
  let asked = '';
  output.on('data', (chunk: Buffer) => (asked += chunk.toString('utf8')));
  const pending = askYesNo(input, output, 'revoke it? [y/N] ');
  if (typed === null) input.end();
  else input.write(typed);
  return { yes: await pending, asked };
}

describe('askYesNo', () => {
  it.each([
    ['y\n', true],
    ['YES\n', true],
    [' yes \n', true],
    ['n\n', false],
    ['\n', false],
    ['yess\n', false],
  ])('%j answers %s', async (typed, expected) => {
    const { yes, asked } = await answer(typed);
    expect(yes).toBe(expected);
    expect(asked).toBe('revoke it? [y/N] ');
  });

  it('takes the end of input as no', async () => {
    expect((await answer(null)).yes).toBe(false);
  });
});

describe('confirmDestructive', () => {
  it('goes ahead with --yes without asking', async () => {
    await expect(confirmDestructive({ ...QUIET_IO, confirm: () => Promise.reject(new Error('asked')) }, { yes: true }, 'revoke token x')).resolves.toBeUndefined();
  });

  it('refuses, naming --yes, where nobody can be asked', async () => {
    const refused = confirmDestructive(QUIET_IO, { yes: false }, 'revoke token x');
    await expect(refused).rejects.toBeInstanceOf(ConfirmationRequiredError);
    await expect(refused).rejects.toThrow(/^revoke token x: this cannot be undone, and standard input is not a terminal to ask on; pass --yes to do it$/);
  });

  it('asks on a terminal, and refuses on no', async () => {
    const questions: string[] = [];
    const io = (reply: boolean) => ({ ...QUIET_IO, confirm: async (q: string) => (questions.push(q), reply) });
    await expect(confirmDestructive(io(true), {}, 'revoke token x')).resolves.toBeUndefined();
    await expect(confirmDestructive(io(false), {}, 'revoke token x')).rejects.toThrow(/not confirmed; nothing changed/);
    expect(questions).toEqual(['revoke token x? This cannot be undone. [y/N] ', 'revoke token x? This cannot be undone. [y/N] ']);
  });
});

describe('uptane image uploader remove, revoke and discard without a terminal', () => {
  let dir: string;
  const uptane = (...args: string[]) => runCli(args, { cwd: dir });
  const activeTokens = async () =>
    (JSON.parse((await uptane('image', 'uploader', 'list', '--data-dir', 'image', '--json')).stdout) as { tokens: Array<{ name: string; status: string }> }).tokens
      .filter((t) => t.status === 'active')
      .map((t) => t.name);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'uptane-confirm-'));
    await (await startImageServer({ dataDir: join(dir, 'image') })).close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses without --yes and changes nothing; goes ahead with it', async () => {
    const added = JSON.parse((await uptane('image', 'uploader', 'add', 'ci', '--data-dir', 'image', '--json')).stdout) as { tokenId: string };
    await uptane('image', 'uploader', 'add', 'nightly', '--data-dir', 'image');

    const revoke = await uptane('image', 'uploader', 'revoke', added.tokenId, '--data-dir', 'image');
    expect(revoke.status).toBe(1);
    expect(revoke.stderr).toContain(`error: revoke uploader token ${added.tokenId} (ci): this cannot be undone, and standard input is not a terminal to ask on; pass --yes to do it`);
    const remove = await uptane('image', 'uploader', 'remove', 'nightly', '--data-dir', 'image');
    expect(remove.status).toBe(1);
    expect(remove.stderr).toMatch(/pass --yes/);
    expect(await activeTokens()).toEqual(['ci', 'nightly']);

    expect((await uptane('image', 'uploader', 'revoke', added.tokenId, '--data-dir', 'image', '--yes')).status).toBe(0);
    expect((await uptane('image', 'uploader', 'remove', 'nightly', '--data-dir', 'image', '-y')).status).toBe(0);
    expect(await activeTokens()).toEqual([]);
  });

  it('discard of a staged role needs --yes too', async () => {
    await uptane('image', 'init', '-w', 'ws');
    await uptane('keys', 'generate', 'k.pem', '--public-out', 'k.pub.json');
    expect((await uptane('image', 'root', 'create', '-w', 'ws', '--root-key', 'k.pub.json', '--targets-key', 'k.pub.json', '--timestamp-key', 'k.pub.json', '--snapshot-key', 'k.pub.json')).status).toBe(0);
    const refused = await uptane('image', 'discard', '-w', 'ws', '--role', 'root');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/discard the staged root and the signatures collected on it: this cannot be undone.*pass --yes/);
    expect(JSON.parse((await uptane('image', 'status', '-w', 'ws', '--json')).stdout)).toMatchObject({ roles: expect.arrayContaining([expect.objectContaining({ role: 'root', staged: expect.anything() })]) });
    expect((await uptane('image', 'discard', '-w', 'ws', '--role', 'root', '--yes')).status).toBe(0);
  });
});

(hasPseudoTerminal ? describe : describe.skip)('on a terminal (a pseudo-terminal from util-linux script)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'uptane-confirm-tty-'));
    await (await startImageServer({ dataDir: join(dir, 'image') })).close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const onTerminal = (typed: string, ...args: string[]) => {
    const command = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    try {
      return { status: 0, output: execFileSync('script', ['-qec', command, '/dev/null'], { cwd: dir, input: typed, encoding: 'utf8', timeout: 30_000 }) };
    } catch (err) {
      const e = err as { status: number; stdout: string };
      return { status: e.status, output: e.stdout };
    }
  };

  it('asks, and n leaves the uploader; y removes it', async () => {
    await runCli(['image', 'uploader', 'add', 'ci', '--data-dir', 'image'], { cwd: dir });
    const no = onTerminal('n\n', 'image', 'uploader', 'remove', 'ci', '--data-dir', 'image');
    expect(no.output).toMatch(/remove uploader ci \(revoke token [0-9a-f]{12}\)\? This cannot be undone\. \[y\/N\]/);
    expect(no.output).toMatch(/not confirmed; nothing changed/);
    expect(no.status).toBe(1);
    const yes = onTerminal('y\n', 'image', 'uploader', 'remove', 'ci', '--data-dir', 'image');
    expect(yes.output).toMatch(/removed uploader ci/);
    expect(yes.status).toBe(0);
  });
});
