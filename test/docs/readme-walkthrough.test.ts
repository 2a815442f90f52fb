// The README as a test (issue 20): every shell block of README.md runs, in order, as written, in one
// bash shell in a scratch folder, against the real servers the README itself starts, with `uptane` on
// PATH as the README's alias makes it (node dist/cli.js). A step that fails, or output lacking what
// the README shows after it (a ```text block), fails this test with the README line and the output.
// Blocks that cannot run here say why in a `<!-- readme-test: skip (why) -->` marker; they are
// listed at the end of the run and their number is bounded below, so skipping is not a way out.
//
// The only things the test chooses are those the README leaves to the reader through variables it
// declares with a default: the two servers' ports (UPTANE_IMAGE_PORT, UPTANE_DIRECTOR_PORT, free
// ones here so that runs side by side do not collide) and the PostgreSQL database the walkthrough
// moves to (DATABASE_URL: a fresh database, dropped afterwards).
//
// README_TEST_PATH=<file> runs another README (to see that a broken copy fails); README_TEST_CLI=<file>
// runs another build of the CLI (a private `tsc --outDir`, while others rebuild dist/);
// README_TEST_KEEP=1 keeps the scratch folder and the database, to look at after a failure.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CLI, REPO_ROOT, buildCli } from '../support/cli-runner.js';
import { freePort } from '../support/postgres-cluster.js';
import { TEST_DATABASE_URL, adminQuery, postgresAvailable } from '../support/postgres.js';
import { describeFailure, fenceLanguages, missingOutput, parseReadme, runWalkthrough } from '../support/readme-walkthrough.js';

const README = process.env.README_TEST_PATH ?? join(REPO_ROOT, 'README.md');
const UPTANE = process.env.README_TEST_CLI ?? CLI;
/** Languages a README block may have: shell blocks run, the others are output, files or code. */
const DOCUMENT_LANGS = new Set(['sh', 'bash', 'shell', 'text', 'json', 'csv', 'yaml', 'js', 'ts']);
/** More than this many skipped blocks means the README has stopped being a walkthrough. */
const MAX_SKIPS = 12;

/**
 * A folder on PATH holding `uptane`: the README's `alias uptane="node $PWD/dist/cli.js"` as a
 * script, since a non-interactive shell expands no aliases.
 */
function linkedBin(root: string): string {
  const bin = join(root, 'bin');
  mkdirSync(bin, { recursive: true });
  // The run's compile cache (test/global-setup.js) changes nothing but how fast each `uptane` starts.
  const cache = process.env.NODE_COMPILE_CACHE === undefined ? '' : `export NODE_COMPILE_CACHE=${JSON.stringify(process.env.NODE_COMPILE_CACHE)}\n`;
  writeFileSync(join(bin, 'uptane'), `#!/bin/sh\n${cache}exec ${JSON.stringify(process.execPath)} ${JSON.stringify(UPTANE)} "$@"\n`, { mode: 0o755 });
  return bin;
}

/** The shell's whole environment: nothing of the test runner's own (no UPTANE_*, no tokens) leaks in. */
function shellEnv(root: string, extra: Record<string, string>): Record<string, string> {
  const home = join(root, 'home');
  mkdirSync(home, { recursive: true });
  return {
    PATH: [linkedBin(root), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
    HOME: home,
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    TMPDIR: join(root, 'tmp'),
    ...extra,
  };
}

describe('the README walkthrough runner', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'readme-runner-'));
    mkdirSync(join(root, 'tmp'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const synthetic = [
    '# A tool',
    '',
    '```sh',
    'export GREETING=hello',
    'sleep 300 &',
    'echo $! > sleeper.pid',
    '```',
    '',
    '```text',
    'nothing printed here...',
    '```',
    '',
    '<!-- readme-test: file notes/data.txt -->',
    '```json',
    '{"a": 1}',
    '```',
    '',
    '<!-- readme-test: skip (needs a second machine) -->',
    '```sh',
    'ssh elsewhere true',
    '```',
    '',
    '- a list item with a block:',
    '',
    '  ```bash',
    '  echo "$GREETING from $(cat notes/data.txt)"',
    '  uptane --definitely-not-a-flag',
    '  echo never',
    '  ```',
  ].join('\n');

  it('parses shell blocks, skip and file markers, and the output block after a command block', () => {
    const blocks = parseReadme(synthetic);
    expect(blocks.map((b) => [b.line, b.lang, b.skip, b.file, b.expect?.line])).toEqual([
      [3, 'sh', undefined, undefined, 9],
      [14, 'json', undefined, 'notes/data.txt', undefined],
      [19, 'sh', 'needs a second machine', undefined, undefined],
      [25, 'bash', undefined, undefined, undefined],
    ]);
    expect(blocks[3]!.code).toBe('echo "$GREETING from $(cat notes/data.txt)"\nuptane --definitely-not-a-flag\necho never');
  });

  it('matches expected output line by line, in order, with ... for anything', () => {
    expect(missingOutput('installed: 2 ... ecm-1\ndone', 'x\ninstalled: 2 images on ecm-1\ny done')).toEqual([]);
    expect(missingOutput('done\ninstalled: ...', 'installed: 1\ndone')).toEqual(['installed: ...']);
  });

  it('fails at the README line of the failing command, with its output, and ends what the blocks started', async () => {
    const path = join(root, 'README.md');
    // The first block's output block is deliberately wrong for the second run only.
    writeFileSync(path, synthetic.replace('nothing printed here...', ''));
    const scratch = join(root, 'scratch');
    const result = await runWalkthrough({ readmePath: path, scratch, workDir: join(root, 'work'), env: shellEnv(root, {}), blockTimeoutMs: 20_000 });
    expect(result.skipped).toEqual([{ line: 19, reason: 'needs a second machine' }]);
    expect(result.failure).toMatchObject({ line: 27, blockLine: 25, reason: 'the command exited with status 1' });
    expect(result.failure!.output).toContain('hello from {"a": 1}');
    expect(result.failure!.output).not.toContain('never');
    expect(describeFailure(path, result.readme, result.failure!)).toMatch(/README\.md:27: the command exited with status 1\n {2}uptane --definitely-not-a-flag\n/);
    const sleeper = Number(readFileSync(join(scratch, 'sleeper.pid'), 'utf8'));
    expect(() => process.kill(sleeper, 0)).toThrow();

    writeFileSync(path, synthetic);
    const second = await runWalkthrough({ readmePath: path, scratch: join(root, 'scratch2'), workDir: join(root, 'work2'), env: shellEnv(join(root, 'second'), { TMPDIR: join(root, 'tmp') }), blockTimeoutMs: 20_000 });
    expect(second.failure).toMatchObject({ line: 9, blockLine: 3 });
    expect(second.failure!.reason).toContain('"nothing printed here..."');
  });

  it('ends a block that runs past its time', async () => {
    const path = join(root, 'README.md');
    writeFileSync(path, '```sh\necho started\nsleep 60\n```\n');
    const result = await runWalkthrough({ readmePath: path, scratch: join(root, 's'), workDir: join(root, 'w'), env: shellEnv(root, {}), blockTimeoutMs: 1_000 });
    expect(result.failure).toMatchObject({ line: 1, reason: 'the block did not finish within 1 s', output: 'started\n' });
  });
});

describe('README.md, run as written', () => {
  const database = `readme_${randomBytes(5).toString('hex')}`;
  let root: string;
  beforeAll(async () => {
    await buildCli();
    root = mkdtempSync(join(tmpdir(), 'readme-walkthrough-'));
    mkdirSync(join(root, 'tmp'));
    if (postgresAvailable) await adminQuery(`CREATE DATABASE ${database}`);
  });
  afterAll(async () => {
    if (process.env.README_TEST_KEEP === '1') {
      console.log(`README_TEST_KEEP=1: kept ${root} and database ${database}`);
      return;
    }
    if (postgresAvailable) await adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    rmSync(root, { recursive: true, force: true });
  });

  it('labels every fenced block, so no command hides from the walkthrough in an unlabelled or console block', () => {
    const readme = readFileSync(README, 'utf8');
    const unknown = fenceLanguages(readme).filter((f) => !DOCUMENT_LANGS.has(f.lang)).map((f) => `line ${f.line}: \`\`\`${f.lang}`);
    expect(unknown).toEqual([]);
  });

  (postgresAvailable ? it : it.skip)('every shell block succeeds and prints what the README shows', async () => {
    const databaseUrl = new URL(TEST_DATABASE_URL);
    databaseUrl.pathname = `/${database}`;
    const env = shellEnv(root, {
      UPTANE_IMAGE_PORT: String(await freePort()),
      UPTANE_DIRECTOR_PORT: String(await freePort()),
      DATABASE_URL: databaseUrl.toString(),
    });
    const started = Date.now();
    const starts: { line: number; at: number }[] = [];
    const result = await runWalkthrough({
      readmePath: README,
      scratch: join(root, 'walkthrough'),
      workDir: join(root, 'runner'),
      env,
      // Generous: a hung step still ends the test, but a slow machine running three test files at
      // once (the sim attack block alone took 106 s under load) must not fail a correct README.
      blockTimeoutMs: 300_000,
      onBlock: (block) => starts.push({ line: block.line, at: Date.now() }),
    });
    const slowest = starts
      .map((s, i) => ({ line: s.line, seconds: ((starts[i + 1]?.at ?? Date.now()) - s.at) / 1000 }))
      .sort((a, b) => b.seconds - a.seconds).slice(0, 5)
      .map((s) => `line ${s.line} ${s.seconds.toFixed(1)} s`).join(', ');
    const skips = result.skipped.map((s) => `  README.md:${s.line}: ${s.reason}`).join('\n');
    console.log(`README walkthrough: ${result.ran} blocks ran in ${Math.round((Date.now() - started) / 1000)} s (slowest: ${slowest}), ` +
      `${result.skipped.length} skipped:\n${skips}`);
    if (result.failure !== undefined) throw new Error(describeFailure(README, result.readme, result.failure));
    expect(result.ran).toBeGreaterThan(10);
    expect(result.skipped.length).toBeLessThanOrEqual(MAX_SKIPS);
  }, 1_500_000);
});
