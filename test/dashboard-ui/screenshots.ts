// `npm run screenshots`: the dashboard's main pages (overview, a campaign halted by an attack, the
// attacked vehicle, the campaign editor) captured from Chromium into docs/screenshots/*.png, against
// the same real Director, Image repository and simulated fleets as the browser tests.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { FleetOverview } from '../../director-repo/dashboard/fleet-overview.js';
import { simSecondaryHardware, type Fleet } from '../../sim/fleet.js';
import { CHROMIUM, ensureDashboardBuilt, launchChromium } from './browser.js';
import { ADMIN_TOKEN, GOOD, stagedGroup, startDashboardScene, vinsOf } from './scene.js';

/** docs/screenshots of the checkout: the nearest folder above this script with a package.json. */
function docsFolder(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the checkout above this script');
    dir = parent;
  }
  return join(dir, 'docs', 'screenshots');
}

async function main(): Promise<void> {
  ensureDashboardBuilt();
  const out = docsFolder();
  mkdirSync(out, { recursive: true });
  const scene = await startDashboardScene('dashboard-screenshots', { honest: 16, attacked: 3 });
  const browser = await launchChromium();
  try {
    const ok = async (method: string, path: string, body?: unknown) => {
      const answer = await scene.api(method, path, body);
      if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.json)}`);
      return answer.json;
    };
    const members = stagedGroup(scene, 1, 2);
    await ok('POST', '/api/v1/groups', { name: 'eu-sim-x', vins: members });
    await ok('POST', '/api/v1/groups', { name: 'all-sim-x', filter: { attributes: { model: 'sim-x' } } });
    const image = { hardwareId: simSecondaryHardware(0), image: GOOD.name };
    await ok('POST', '/api/v1/campaigns', { name: 'ecu1-v2-rollout', group: 'eu-sim-x', images: [image], stages: [{ count: 2 }, { share: 0.5, minSoakMs: 3_600_000 }, { share: 1 }] });
    await ok('POST', '/api/v1/campaigns/ecu1-v2-rollout/start');
    // Stage 1 installs, then the attacked vehicles' reports halt the campaign. The clock moves on
    // half an hour a round, and each round's fleet states are recorded as the server's timer does
    // (the overview's chart).
    const overview = new FleetOverview(scene.repos.director.storage.dashboard, scene.clock);
    const round = async (fleet: Fleet) => {
      await fleet.runRound();
      await overview.snapshot();
      scene.clock.advance(1_800_000);
    };
    await overview.snapshot();
    scene.clock.advance(1_800_000);
    for (let i = 0; i < 3; i++) await round(scene.honest);
    await round(scene.attacked);
    await round(scene.attacked);
    await round(scene.honest);

    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    await page.goto(`${scene.url}/ui/`);
    await page.locator('input[name=token]').waitFor();
    await page.screenshot({ path: join(out, 'sign-in.png') });
    console.log('docs/screenshots/sign-in.png');
    await page.fill('input[name=token]', ADMIN_TOKEN);
    await page.click('form button[type=submit]');
    await page.getByTestId('who').waitFor();
    const shoot = async (route: string, name: string, ready: (page: Page) => Promise<unknown>) => {
      await page.goto(`${scene.url}/ui/#${route}`);
      await ready(page);
      await page.waitForTimeout(400);
      await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
      console.log(`docs/screenshots/${name}.png`);
    };
    await shoot('/', 'overview', (p) => p.locator('h1').first().waitFor());
    await shoot('/campaigns/ecu1-v2-rollout', 'campaign', (p) => p.getByTestId('stage-1').waitFor());
    let victim = '';
    for (const vin of vinsOf(scene.attacked)) {
      if (((await ok('GET', `/api/v1/vehicles/${vin}`)).attacks as unknown[]).length > 0) victim = vin;
    }
    await shoot(`/vehicles/${victim}`, 'vehicle', (p) => p.getByTestId('ecus').waitFor());
    await shoot('/health', 'health', (p) => p.locator('[data-testid=health], [data-testid=not-available], [role=alert]').first().waitFor());
    await shoot('/campaigns/new', 'new-campaign', (p) => p.locator('select[name=group] option[value=eu-sim-x]').waitFor({ state: 'attached' }));
  } finally {
    await browser.close();
    await scene.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error && err.message.includes(CHROMIUM) ? `${err.message}\n(install Debian's chromium: apt-get install -y chromium)` : err);
  process.exitCode = 1;
});
