// Builds the `uptane` CLI once before any test file runs, so tests that drive `node dist/cli.js`
// test the current sources without each file rebuilding (parallel builds clobber each other's dist/).
// Type errors do not stop the build here (tsc still emits): `npm test` type-checks the whole tree
// before Jest starts, and fails on them there.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function globalSetup() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  if (result.error !== undefined || !existsSync(join(root, 'dist', 'cli.js'))) {
    throw new Error(`building the CLI failed:\n${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`);
  }
}
