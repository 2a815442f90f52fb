// `npm run screenshots`: the dashboard's main pages (overview, a campaign halted by an attack, the
// attacked vehicle, the campaign editor) captured from Chromium into docs/screenshots/*.png, against
// the same real Director, Image repository and simulated fleets as the browser tests.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { simSecondaryHardware } from '../../sim/fleet.js';
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
    // Stage 1 installs, the clock moves on an hour a round (the overview's history), then the
    // attacked vehicles' reports halt the campaign.
    for (let round = 0; round < 3; round++) {
      await scene.honest.runRound();
      scene.clock.advance(3_600_000);
    }
    await scene.attacked.runRound();
    await scene.attacked.runRound();
    await scene.honest.runRound();

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
