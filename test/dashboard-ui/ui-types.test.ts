// The dashboard reads the Director's answers with the operator API's own types
// (director-repo/api/operator-api.ts), so a change of an answer is a type error in the page that
// shows it instead of a silent mismatch with a copy. Checked on the sources: whatever the page
// imports from outside ui/ is `import type` (erased by the build, so no server code is bundled)
// and comes from the API contract only; and no page declares its own type under a name the
// contract exports. The built bundle is checked for the contract's one runtime table too.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const UI_SRC = join(ROOT, 'ui', 'src');
const CONTRACT = join(ROOT, 'director-repo', 'api', 'operator-api.ts');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : /\.tsx?$/.test(entry.name) ? [join(dir, entry.name)] : [],
  );
}

const contractTypes = new Set([...readFileSync(CONTRACT, 'utf8').matchAll(/^export (?:interface|type) (\w+)/gm)].map((m) => m[1]!));

describe('the dashboard and the operator API contract', () => {
  const files = sources(UI_SRC);

  it('imports from outside ui/ only types, and only from the contract', () => {
    expect(files.length).toBeGreaterThan(5);
    const outside: string[] = [];
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(/^import (type )?[^;]*? from '(\.\.\/[^']*)';/gm)) {
        const target = join(file, '..', m[2]!);
        if (target.startsWith(UI_SRC)) continue;
        outside.push(`${file.slice(ROOT.length + 1)}: ${m[1] === undefined ? 'value' : 'type'} ${m[2]}`);
        expect(m[1]).toBe('type ');
        expect(target.replace(/\.js$/, '.ts')).toBe(CONTRACT);
      }
    }
    // The pages that show the Director's answers take their types from the contract.
    expect(outside.length).toBeGreaterThanOrEqual(8);
  });

  it('declares no copy of a type the contract exports', () => {
    const copies: string[] = [];
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(/^(?:export )?(?:interface|type) (\w+)/gm)) {
        if (contractTypes.has(m[1]!)) copies.push(`${file.slice(ROOT.length + 1)}: ${m[1]}`);
      }
    }
    expect(copies).toEqual([]);
  });

  it('bundles nothing of the contract (built dashboard, when built)', () => {
    const assets = join(ROOT, 'dist', 'ui', 'assets');
    if (!existsSync(assets)) return; // ensureDashboardBuilt (browser.ts) builds it for the browser tests
    for (const name of readdirSync(assets).filter((n) => n.endsWith('.js'))) {
      expect(readFileSync(join(assets, name), 'utf8')).not.toMatch(/GET \/online-keys/);
    }
  });
});
