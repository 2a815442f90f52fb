// `uptane` loads only the command group its first word names (uptane-commands.ts): every call paid
// for loading the whole tree (express, the stores, the simulator) before it ran. A module hook in
// the spawned process records every project module it loads, so the test fails if a group's
// modules come back into a static import of the root.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCli, runCli } from '../support/cli-runner.js';

let dir: string;
let hooks: string;

beforeAll(async () => {
  await buildCli();
  dir = mkdtempSync(join(tmpdir(), 'uptane-lazy-'));
  hooks = join(dir, 'record-modules.mjs');
  // node:module registerHooks (Node 22.15+): a synchronous resolve hook in the CLI's own process.
  writeFileSync(
    hooks,
    `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    if (result.url.includes('/dist/')) appendFileSync(process.env.UPTANE_TEST_MODULE_LOG, result.url.replace(/^.*\\/dist\\//, '') + '\\n');
    return result;
  },
});
`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The project modules `uptane ...args` loaded, and its result. */
async function loaded(name: string, ...args: string[]): Promise<{ modules: string[]; status: number | null; stdout: string }> {
  const log = join(dir, `${name}.log`);
  writeFileSync(log, '');
  const run = await runCli(args, { env: { ...process.env, NODE_OPTIONS: `--import=${hooks}`, UPTANE_TEST_MODULE_LOG: log } });
  return { modules: readFileSync(log, 'utf8').split('\n').filter((l) => l !== ''), status: run.status, stdout: run.stdout };
}

const groupOf = (modules: readonly string[]) => new Set(modules.map((m) => m.split('/')[0]!).filter((top) => !top.endsWith('.js')));

describe('uptane loads only the command group it runs', () => {
  it('`uptane keys --help` loads no Image repository, Director, vehicle or simulator module', async () => {
    const run = await loaded('keys', 'keys', '--help');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('uptane keys generate');
    expect(run.modules.length).toBeGreaterThan(0);
    const groups = groupOf(run.modules);
    for (const other of ['image-repo', 'director-repo', 'vehicle', 'sim', 'primary-ecu', 'secondary-ecu']) expect(groups).not.toContain(other);
  });

  it('`uptane image --help` loads no Director or simulator module', async () => {
    const run = await loaded('image', 'image', '--help');
    expect(run.status).toBe(0);
    const groups = groupOf(run.modules);
    expect(groups).toContain('image-repo');
    expect(groups).not.toContain('director-repo');
    expect(groups).not.toContain('sim');
  });

  it('`uptane --help` still lists every group, and `uptane --version` loads none', async () => {
    const help = await loaded('help', '--help');
    for (const group of ['keys', 'pki', 'image', 'director', 'vehicle', 'demo', 'sim', 'vectors']) expect(help.stdout).toContain(`uptane ${group} `);
    const version = await loaded('version', '--version');
    expect(version.status).toBe(0);
    expect(groupOf(version.modules)).toEqual(new Set(['shared']));
  });
});
