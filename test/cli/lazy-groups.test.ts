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
    if (result.url.includes('/node_modules/')) appendFileSync(process.env.UPTANE_TEST_MODULE_LOG, 'package:' + result.url.replace(/^.*\\/node_modules\\/((@[^/]+\\/)?[^/]+).*$/, '$1') + '\\n');
    else if (result.url.includes('/dist/')) appendFileSync(process.env.UPTANE_TEST_MODULE_LOG, result.url.replace(/^.*\\/dist\\//, '') + '\\n');
    return result;
  },
});
`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The project modules `uptane ...args` loaded, and its result. */
async function loaded(name: string, ...args: string[]): Promise<{ modules: string[]; packages: Set<string>; status: number | null; stdout: string }> {
  const log = join(dir, `${name}.log`);
  writeFileSync(log, '');
  const run = await runCli(args, { env: { ...process.env, NODE_OPTIONS: `--import=${hooks}`, UPTANE_TEST_MODULE_LOG: log } });
  const lines = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
  return {
    modules: lines.filter((l) => !l.startsWith('package:')),
    packages: new Set(lines.filter((l) => l.startsWith('package:')).map((l) => l.slice('package:'.length))),
    status: run.status,
    stdout: run.stdout,
  };
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

  // Inside a group, the server (express, the stores, the metrics, pino) loads only in the handler
  // of `serve` (a dynamic import in image-repo/cli.ts, director-repo/cli.ts, gateway/cli.ts and
  // shared/cli/observability-args.ts): the group's other commands and every --help skip it.
  const SERVER_MODULES = ['image-repo/server.js', 'image-repo/app.js', 'director-repo/server.js', 'director-repo/app.js', 'director-repo/dashboard/ui-session.js', 'gateway/server.js', 'shared/server/request-log.js'];
  const SERVER_PACKAGES = ['express', 'pino', 'pino-pretty', 'prom-client', 'mqtt'];

  it.each([
    ['image-help', ['image', '--help'], 'uptane image serve'],
    ['image-targets-add-help', ['image', 'targets', 'add', '--help'], 'uptane image targets add'],
    ['director-vehicle-help', ['director', 'vehicle', '--help'], 'uptane director vehicle'],
    ['director-serve-help', ['director', 'serve', '--help'], 'uptane director serve'],
    ['gateway-serve-help', ['gateway', 'serve', '--help'], 'uptane gateway serve'],
  ])('%s loads no server module, nor express, pino or mqtt', async (name, args, shown) => {
    const run = await loaded(name, ...args);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(shown);
    expect(run.modules.length).toBeGreaterThan(0);
    for (const server of SERVER_MODULES) expect(run.modules).not.toContain(server);
    for (const pkg of SERVER_PACKAGES) expect(run.packages).not.toContain(pkg);
  });

  it('`uptane image serve` still loads its server (the check above can see one)', async () => {
    const run = await loaded('image-serve-no-secret', 'image', 'serve', '--data-dir', join(dir, 'image-data'), '--port', '0', '--metrics-token-env', 'UPTANE_TEST_NO_SUCH_VARIABLE');
    // The unset metrics secret stops it after observabilityFrom loaded request-log (and pino), before any listen.
    expect(run.status).not.toBe(0);
    expect(run.modules).toContain('shared/server/request-log.js');
    expect(run.packages).toContain('pino');
  });

  it('--log-level offers exactly the levels request-log.ts knows', async () => {
    const { LOG_LEVELS: offered } = await import('../../shared/cli/observability-args.js');
    const { LOG_LEVELS: known } = await import('../../shared/server/request-log.js');
    expect([...offered]).toEqual([...known]);
  });

  it('`uptane --help` still lists every group, and `uptane --version` loads none', async () => {
    const help = await loaded('help', '--help');
    for (const group of ['keys', 'pki', 'image', 'director', 'vehicle', 'demo', 'sim', 'vectors']) expect(help.stdout).toContain(`uptane ${group} `);
    const version = await loaded('version', '--version');
    expect(version.status).toBe(0);
    expect(groupOf(version.modules)).toEqual(new Set(['shared']));
  });
});
