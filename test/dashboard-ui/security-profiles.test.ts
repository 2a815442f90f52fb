// The dashboard shows security profiles (docs/security-profiles.md): the vehicle page gives each ECU
// its profile and what that profile requires, and the images page each image's minimum profile.
// Debian's Chromium, headless, against a real Director and Image repository on loopback.
import type { Browser, Page } from 'playwright-core';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { chromiumAvailable, ensureDashboardBuilt, launchChromium, watchPage } from './browser.js';

const run = chromiumAvailable();
const describeBrowser = run ? describe : describe.skip;

/** How long the page may take to show what the Director already holds (events, or its 5 s polling). */
const UI_WAIT = { timeout: 15_000 };

const SECURE: FixtureImage = { name: 'engine/ecm-secure.bin', content: Buffer.from('ecm for high ECUs'), hardwareIds: ['ecm-x1'], releaseCounter: 2, custom: { minimumSecurityProfile: 'high' } };
const ANY: FixtureImage = { name: 'engine/ecm-any.bin', content: Buffer.from('ecm for any ECU'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const VIN = 'SPUI0001';

let repos: Repositories;
let browser: Browser;

beforeAll(async () => {
  if (!run) return;
  ensureDashboardBuilt();
  [repos, browser] = await Promise.all([startRepositories(new FixedClock(FIXTURE_NOW), 'profiles-ui'), launchChromium()]);
  await repos.publishImages([SECURE, ANY]);
  const key = (serial: string) => PrivateKey.fromLabel(`profiles-ui/${serial}`).publicKey.tuf.keyval.public;
  const registered = await repos.operator('POST', '/api/v1/vehicles', {
    vin: VIN,
    ecus: [
      { serial: `${VIN}-tcu`, hardwareId: 'tcu-a', publicKey: key('tcu'), primary: true },
      { serial: `${VIN}-ecm`, hardwareId: 'ecm-x1', publicKey: key('ecm'), securityProfile: 'high' },
      { serial: `${VIN}-abs`, hardwareId: 'abs-z', publicKey: key('abs'), securityProfile: 'basic' },
    ],
  });
  if (registered.status !== 201) throw new Error(JSON.stringify(registered.json));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await repos?.close();
});

async function signIn(page: Page): Promise<void> {
  await page.goto(`${repos.director.url}/ui/`);
  await page.fill('input[name=token]', OPERATOR_TOKEN);
  await page.click('form button[type=submit]');
  await page.getByTestId('who').waitFor(UI_WAIT);
}

describeBrowser('security profiles on the dashboard', () => {
  it("shows each ECU's profile with what it requires, and each image's minimum profile", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const watch = watchPage(page);
      await signIn(page);
      await page.goto(`${repos.director.url}/ui/#/vehicles/${VIN}`);
      const ecus = page.getByTestId('ecus');
      await ecus.waitFor(UI_WAIT);
      const profileOf = async (serial: string) => (await ecus.locator('tr', { hasText: serial }).getByTestId('security-profile').textContent())?.trim();
      await ecus.locator('tr', { hasText: `${VIN}-ecm` }).getByText('high', { exact: true }).waitFor(UI_WAIT);
      expect(await profileOf(`${VIN}-tcu`)).toBe('standardfull verification, asymmetric key, A/B slots');
      expect(await profileOf(`${VIN}-ecm`)).toBe('highfull verification, key in hardware, encrypted images, A/B slots, secure time');
      expect(await profileOf(`${VIN}-abs`)).toBe('basicpartial verification, any key');

      await page.goto(`${repos.director.url}/ui/#/images`);
      const images = page.getByTestId('images');
      await images.locator('tr', { hasText: SECURE.name }).waitFor(UI_WAIT);
      expect(await images.locator('tr', { hasText: SECURE.name }).locator('td').nth(3).textContent()).toBe('high');
      expect(await images.locator('tr', { hasText: ANY.name }).locator('td').nth(3).textContent()).toBe('any');
      expect(watch.errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});
