// Builds the `uptane` CLI once before any test file runs, so tests that drive `node dist/cli.js`
// test the current sources without each file rebuilding (parallel builds clobber each other's dist/).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function globalSetup() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit', timeout: 300_000 });
}
