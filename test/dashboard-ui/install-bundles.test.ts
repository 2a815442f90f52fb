// The dashboard's vehicle page shows the vehicle's install bundles (docs/decisions.md "Install
// bundles"): Debian's Chromium, headless, against a real Director and Image repository on loopback.
// A bundle assigned through the operator API shows as pending with its members, each assignment
// names its bundle, and the vehicle's manifest turns the outcome to installed on the open page.
import type { Browser, Page } from 'playwright-core';
import { FixedClock } from '../../shared/core/clock.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';
import { chromiumAvailable, ensureDashboardBuilt, launchChromium, watchPage } from './browser.js';

const run = chromiumAvailable();
const describeBrowser = run ? describe : describe.skip;

/** How long the page may take to show what the Director already holds (events, or its 5 s polling). */
const UI_WAIT = { timeout: 15_000 };

const ECM: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const ABS: FixtureImage = { name: 'brake/abs-7.bin', content: Buffer.from('brake ecu v7'), hardwareIds: ['abs-z'], releaseCounter: 7 };
const VIN = 'IBUI0001';

let repos: Repositories;
let browser: Browser;
let car: TestVehicle;

beforeAll(async () => {
  if (!run) return;
  ensureDashboardBuilt();
  [repos, browser] = await Promise.all([startRepositories(new FixedClock(FIXTURE_NOW), 'install-bundles-ui'), launchChromium()]);
  await repos.publishImages([ECM, ABS]);
  car = new TestVehicle(VIN, [{ serial: `${VIN}-tcu`, hardwareId: 'tcu-a', primary: true }, { serial: `${VIN}-ecm`, hardwareId: 'ecm-x1' }, { serial: `${VIN}-abs`, hardwareId: 'abs-z' }], new FixedClock(FIXTURE_NOW));
  const registered = await repos.operator('POST', '/api/v1/vehicles', car.registration());
  if (registered.status !== 201) throw new Error(JSON.stringify(registered.json));
}, 120_000);

afterAll(async () => {
  car?.cleanup();
  await browser?.close();
  await repos?.close();
});

async function signIn(page: Page): Promise<void> {
  await page.goto(`${repos.director.url}/ui/`);
  await page.fill('input[name=token]', OPERATOR_TOKEN);
  await page.click('form button[type=submit]');
  await page.getByTestId('who').waitFor(UI_WAIT);
}

describeBrowser("the vehicle page's install bundles", () => {
  it('shows a pending bundle with its members, then its outcome once the vehicle reports', async () => {
    const created = await repos.operator('POST', '/api/v1/install-bundles', { vin: VIN, members: [{ ecuSerial: `${VIN}-ecm`, image: ECM.name }, { ecuSerial: `${VIN}-abs`, image: ABS.name }] });
    expect(created.status).toBe(201);
    const id = created.json.id as number;
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const watch = watchPage(page);
      await signIn(page);
      await page.goto(`${repos.director.url}/ui/#/vehicles/${VIN}`);
      const bundles = page.getByTestId('install-bundles');
      const row = bundles.locator('tr', { hasText: `ib-${id}` });
      await row.getByText('pending', { exact: true }).waitFor(UI_WAIT);
      expect(await row.textContent()).toContain(`${VIN}-abs: ${ABS.name}, ${VIN}-ecm: ${ECM.name}`);
      await page.getByTestId('assignments').locator('tr', { hasText: `${VIN}-ecm` }).getByText(`ib-${id}`, { exact: true }).waitFor(UI_WAIT);

      // The vehicle installed both members; its manifest reaches the Director and the page follows.
      car.ecu(`${VIN}-ecm`).installed = { filename: ECM.name, content: ECM.content };
      car.ecu(`${VIN}-abs`).installed = { filename: ABS.name, content: ABS.content };
      const sent = await car.sendManifest(repos.director.url, car.manifest());
      expect(sent.status).toBe(200);
      await row.getByText('installed', { exact: true }).waitFor(UI_WAIT);
      expect(watch.errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});
