// Debian's Chromium driven by playwright-core for the dashboard's browser tests (issue 19): headless,
// no sandbox (CI runs as root), no background networking, updates or sync, so a test run reaches no
// host but loopback. Absent Chromium skips the browser suites with a notice, and fails them under
// CI=true (.ci/run installs it), as test/global-setup.js does for PostgreSQL.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** The checkout: the nearest folder above this module with a package.json (from test/ or from a build of it). */
const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('no package.json above the dashboard tests');
    dir = parent;
  }
  return dir;
})();

/** Whether the browser suites run; logs why not, and throws under CI=true. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  const why = `${CHROMIUM} is missing`;
  if (process.env.CI === 'true') throw new Error(`${why}: CI=true needs it for the dashboard's browser tests (apt-get install -y chromium; .ci/run does)`);
  console.warn(`\n*** ${why}: the dashboard's browser tests are SKIPPED. Install Debian's chromium (apt-get install -y chromium) to run them. ***\n`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps', '--no-first-run'],
  });
}

/** Newest modification time under `dir` (files only), 0 when it does not exist. */
function newest(dir: string): number {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

/**
 * dist/ui as the sources are now: rebuilt (vite, about two seconds) when a source under ui/ is newer
 * than the built index.html, so the browser tests never run an old bundle.
 */
export function ensureDashboardBuilt(): string {
  const out = join(ROOT, 'dist', 'ui');
  const index = join(out, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newest(join(ROOT, 'ui'))) return out;
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const result = spawnSync(process.execPath, [vite, 'build', '--config', join(ROOT, 'ui', 'vite.config.ts'), '--logLevel', 'warn'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0 || !existsSync(index)) throw new Error(`building the dashboard failed:\n${result.stdout}${result.stderr}${result.error?.message ?? ''}`);
  return out;
}

/** Everything a page did that a test must see: dialogs opened, uncaught errors, CSP refusals. */
export interface PageWatch {
  readonly dialogs: string[];
  readonly errors: string[];
}

/** Records every dialog and page error; a confirm whose message matches `accept` is accepted, any other dialog dismissed. */
export function watchPage(page: Page, accept?: RegExp): PageWatch {
  const watch: PageWatch = { dialogs: [], errors: [] };
  page.on('dialog', (dialog) => {
    watch.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void (dialog.type() === 'confirm' && accept?.test(dialog.message()) === true ? dialog.accept() : dialog.dismiss());
  });
  page.on('pageerror', (err) => watch.errors.push(err.message));
  // The bundle must run under the Director's CSP as served: a blocked style or script is a bug.
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) watch.errors.push(message.text());
  });
  return watch;
}
