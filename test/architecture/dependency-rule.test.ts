// The dependency rule (docs/ARCHITECTURE.md, "Layers") is executable: dependency-cruiser checks every
// import of the repository against .dependency-cruiser.cjs, and this test fails on any violation.
// The second test plants violations in a scratch tree laid out like the repository, so a rule that
// stopped matching (a renamed folder, a broken pattern) fails here too instead of passing silently.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');
const SOURCES = ['cli.ts', 'uptane-commands.ts', 'shared', 'image-repo', 'director-repo', 'primary-ecu', 'secondary-ecu', 'vehicle', 'gateway', 'sim', 'bench', 'test'];

function cruise(cwd: string, sources: readonly string[]): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [DEPCRUISE, '--config', CONFIG, '--output-type', 'err', ...sources], {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('the dependency rule', () => {
  it('holds for every import in the repository', () => {
    const { status, output } = cruise(ROOT, SOURCES.filter((s) => existsSync(join(ROOT, s))));
    expect(output).not.toMatch(/error /);
    expect(status).toBe(0);
  });

  it('catches a core module doing file I/O, a layer importing upward, and shipped code importing tests', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dep-rule-'));
    try {
      const write = (path: string, text: string): void => {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), text);
      };
      write('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowJs: true } }));
      write('primary-ecu/primary.ts', 'export const primary = 1;\n');
      write('test/support/helper.ts', 'export const helper = 1;\n');
      write('shared/ecu/slots.ts', 'export const slots = 1;\n');
      write('shared/core/bad.ts', "import { readFileSync } from 'node:fs';\nimport { primary } from '../../primary-ecu/primary.js';\nexport const bad = [readFileSync, primary];\n");
      write('shared/client/bad.ts', "import { slots } from '../ecu/slots.js';\nexport const bad = slots;\n");
      write('sim/bad.ts', "import { helper } from '../test/support/helper.js';\nexport const bad = helper;\n");
      const { status, output } = cruise(dir, ['shared', 'primary-ecu', 'sim', 'test']);
      expect(status).not.toBe(0);
      for (const rule of ['core-is-pure', 'core-does-no-io', 'client-below-uptane', 'nothing-imports-tests']) {
        expect(output).toContain(`error ${rule}:`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
