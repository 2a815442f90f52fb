// The runtime the project supports (docs/threat-model.md HR-12): Node 20 left support on
// 2026-04-30. The tests run on the Node they are meant for, and what package.json declares agrees.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
};

describe('the supported Node.js runtime (HR-12)', () => {
  it('runs on a supported LTS line (22 or later), as package.json engines requires', () => {
    const major = Number(process.versions.node.split('.')[0]);
    expect(major).toBeGreaterThanOrEqual(22);
    const declared = /^>=(\d+)\./.exec(packageJson.engines.node);
    expect(declared).not.toBeNull();
    expect(Number(declared![1])).toBeGreaterThanOrEqual(22);
  });

  it('loads the better-sqlite3 binary the lockfile pins (13.x, N-API, shipped inside the package)', () => {
    const require = createRequire(import.meta.url);
    const installed = (require('better-sqlite3/package.json') as { version: string }).version;
    expect(installed).toMatch(/^13\./);
    const Database = require('better-sqlite3') as new (path: string) => { prepare(sql: string): { get(): unknown }; close(): void };
    const db = new Database(':memory:');
    expect(db.prepare('SELECT 1 AS one').get()).toEqual({ one: 1 });
    db.close();
  });
});
