// The web dashboard in a real browser (issue 19): Debian's Chromium, headless, against a real
// Director and Image repository on loopback with simulated fleets. An operator signs in, makes a
// group and a two-stage campaign with the stage editor and its dry run, watches stage 1 complete,
// sees an attack halt the campaign, resumes and aborts it, and opens the attacked vehicle. A
// read-only operator finds nothing to press that changes state; a page of another origin cannot use
// the session cookie; VINs, names, campaign names and attack messages holding HTML are shown as
// text; an oversized filter is a typed 400 the page explains.
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { gzipSync } from 'node:zlib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { FleetOverview } from '../../director-repo/dashboard/fleet-overview.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { simSecondaryHardware } from '../../sim/fleet.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';
import { chromiumAvailable, ensureDashboardBuilt, launchChromium, watchPage, type PageWatch } from './browser.js';
import { ADMIN_NAME, ADMIN_TOKEN, GOOD, READ_NAME, READ_TOKEN, stagedGroup, startDashboardScene, vinsOf, type DashboardScene } from './scene.js';

const run = chromiumAvailable();
const describeBrowser = run ? describe : describe.skip;

/** How long the page may take to show what the Director already holds (events, or its 5 s polling). */
const UI_WAIT = { timeout: 15_000 };

let scene: DashboardScene;
let browser: Browser;

beforeAll(async () => {
  if (!run) return;
  ensureDashboardBuilt();
  [scene, browser] = await Promise.all([startDashboardScene('dashboard-ui'), launchChromium()]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await scene?.close();
});

async function signIn(context: BrowserContext, token: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${scene.url}/ui/`);
  await page.fill('input[name=token]', token);
  await page.click('form button[type=submit]');
  await page.getByTestId('who').waitFor(UI_WAIT);
  return page;
}

async function goto(page: Page, route: string): Promise<void> {
  await page.goto(`${scene.url}/ui/#${route}`);
}

const state = (page: Page, expected: string) => page.locator('[data-testid=campaign-state]', { hasText: new RegExp(`^${expected}$`) }).waitFor(UI_WAIT);

async function campaign(name: string): Promise<{ state: string; stage: number; perStage: Array<{ installed: number; vehicles: number }> }> {
  const answer = await scene.api('GET', `/api/v1/campaigns/${name}`);
  expect(answer.status).toBe(200);
  return answer.json as never;
}

describeBrowser('the web dashboard in Chromium', () => {
  it('serves the bundle with strict headers, and answers 404 to a path that climbs out of it', async () => {
    const index = await fetch(`${scene.url}/ui/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(index.headers.get('content-security-policy')).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(index.headers.get('x-frame-options')).toBe('DENY');
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await index.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)/); // no inline script: only <script src>
    const asset = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${scene.url}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toMatch(/immutable/);
    // The first page's weight as sent compressed: the page and every file it links (issue 19: under 200 KB).
    let compressed = gzipSync(html).length;
    for (const [, path] of html.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)) {
      compressed += gzipSync(Buffer.from(await (await fetch(`${scene.url}${path}`)).arrayBuffer())).length;
    }
    expect(compressed).toBeLessThan(200 * 1024);
    // Sent as written (fetch would resolve the dots first).
    for (const path of ['/ui/assets/..%2f..%2f..%2fpackage.json', '/ui/assets/%2e%2e%2f%2e%2e%2findex.html', '/ui/assets/..%5c..%5cpackage.json', '/ui/assets/.vite', '/ui/assets/../../../package.json', '/ui/assets/%2e%2e']) {
      const refused = await rawGet(scene.url, path);
      expect({ path, status: refused.status }).toEqual({ path, status: 404 });
      expect(refused.body).not.toMatch(/uptane-ts|<html/);
    }
  });

  it('signs in, creates a group and a staged campaign, watches stage 1 complete, halts on an attack, resumes, aborts, and opens the attacked vehicle', async () => {
    const context = await browser.newContext();
    try {
      const page = await signIn(context, ADMIN_TOKEN);
      const watch = watchPage(page, /^Abort campaign/);
      await expect(page.getByTestId('who').textContent()).resolves.toMatch(new RegExp(`${ADMIN_NAME}\\s*admin`));

      // A static group whose first two vehicles (in campaign 1's order) are honest.
      const members = stagedGroup(scene, 1, 2);
      await goto(page, '/groups');
      await page.selectOption('select[name=kind]', 'static');
      await page.fill('input[name=name]', 'ui-rollout');
      await page.fill('textarea[name=vins]', members.join('\n'));
      await page.click('text=Create group');
      await page.getByText(`Group ui-rollout created with ${members.length} vehicles.`).waitFor(UI_WAIT);

      // The stage editor: 2 vehicles, then the whole group; the dry run says how many each takes.
      await goto(page, '/campaigns/new');
      await page.fill('input[name=name]', 'ui-campaign');
      await page.locator('select[name=group] option[value=ui-rollout]').waitFor({ state: 'attached', ...UI_WAIT });
      await page.selectOption('select[name=group]', 'ui-rollout');
      await page.fill('input[name=image-0]', GOOD.name);
      await page.fill('input[name=hardware-0]', simSecondaryHardware(0));
      const firstStage = page.locator('[data-testid=stage-editor] tbody tr').nth(0);
      await firstStage.locator('select').selectOption('count');
      await page.fill('input[name=stage-0-value]', '2');
      await page.fill('input[name=stage-1-value]', '100');
      await page.getByTestId('dry-run-button').click();
      await page.getByTestId('dry-run').waitFor(UI_WAIT);
      await expect(page.getByTestId('preview-1').textContent()).resolves.toBe('2');
      await expect(page.getByTestId('preview-2').textContent()).resolves.toBe(String(members.length - 2));
      expect((await scene.api('GET', '/api/v1/campaigns')).json.campaigns).toEqual([]); // a dry run creates nothing
      await page.click('text=Create campaign');
      await state(page, 'draft');
      await page.click('[data-action=start]');
      await state(page, 'running');
      await page.locator('.live.on').waitFor(UI_WAIT); // the page follows the Director's event stream

      // Stage 1: the two honest vehicles install; the page shows it without a reload.
      expect(await scene.honest.waitUntil(async () => (await campaign('ui-campaign')).stage === 2, 6)).toBe(true);
      await page.locator('[data-testid=stage-1-installed]', { hasText: /^2$/ }).waitFor(UI_WAIT);
      await page.getByTestId('stage-2').waitFor(UI_WAIT);

      // Stage 2 reaches the attacked vehicles: they detect tampered images and report it; the campaign halts.
      expect(await scene.attacked.waitUntil(async () => (await campaign('ui-campaign')).state === 'paused', 4)).toBe(true);
      await state(page, 'paused');
      await expect(page.getByTestId('halt-reason').textContent()).resolves.toMatch(/security signal/);
      // Why it waits, as the Director says it (campaign status 'waiting').
      await expect(page.getByTestId('waiting').textContent()).resolves.toMatch(/^halted by its rules: security signal: .*campaign resume ui-campaign/);

      await page.click('[data-action=resume]');
      await state(page, 'running');
      expect((await campaign('ui-campaign')).state).toBe('running');
      await page.click('[data-action=abort]');
      await state(page, 'aborted');
      expect((await campaign('ui-campaign')).state).toBe('aborted');
      expect(watch.dialogs).toEqual([expect.stringMatching(/^confirm: Abort campaign ui-campaign/)]);

      // The attacked vehicle, found by its VIN prefix, shows the attack it reported.
      const victim = members.find((vin) => vinsOf(scene.attacked).includes(vin))!;
      const reported = (await scene.api('GET', `/api/v1/vehicles/${victim}`)).json as { attacks: Array<{ code: string }> };
      expect(reported.attacks.length).toBeGreaterThan(0);
      await goto(page, '/vehicles');
      await page.fill('input[name=q]', victim.slice(0, -1));
      await page.click('text=Search');
      await page.locator(`[data-testid=vehicles] a`, { hasText: victim }).click();
      await page.getByTestId('vin').filter({ hasText: victim }).waitFor(UI_WAIT);
      await page.getByTestId('attacks').getByText(reported.attacks[0]!.code).first().waitFor(UI_WAIT);
      await page.getByTestId('ecus').waitFor(UI_WAIT);

      // The overview counts the attack, and charts the states recorded (as the server's timer does).
      await new FleetOverview(scene.repos.director.storage.dashboard, scene.clock).snapshot();
      // The Director caches the overview for 10 s (of real time): wait until its answer has the point.
      await until(async () => ((await scene.api('GET', '/api/v1/fleet/overview')).json.history as unknown[]).length > 0, 15_000);
      await goto(page, '/');
      await page.locator('[data-testid=chart] canvas').waitFor(UI_WAIT);
      expect(Number(await page.getByTestId('attacks-total').textContent())).toBeGreaterThan(0);
      await page.locator('[data-testid=attacks] a', { hasText: victim }).first().waitFor(UI_WAIT);
      expect(watch.errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 90_000);

  it('replaces an ECU from the vehicle page, and the Director records it', async () => {
    const [vin] = vinsOf(await scene.addFleet('replace', 1));
    const status = (await scene.api('GET', `/api/v1/vehicles/${vin}`)).json as { ecus: Array<{ serial: string; hardwareId: string; primary: boolean }> };
    const old = status.ecus.find((ecu) => !ecu.primary)!;
    const key = PrivateKey.fromLabel('dashboard-ui/replacement-ecu').publicKey.tuf.keyval.public;
    const context = await browser.newContext();
    try {
      const page = await signIn(context, ADMIN_TOKEN);
      const watch = watchPage(page);
      await goto(page, `/vehicles/${vin}`);
      await page.getByTestId('ecus').waitFor(UI_WAIT);
      await page.click('text=Replace an ECU');
      const form = page.getByTestId('replace-ecu');
      await form.locator('select').selectOption(old.serial);
      await form.locator('input[name=serial]').fill(`${old.serial}-new`);
      await form.locator('input[name=hardwareId]').fill(old.hardwareId);
      await form.locator('input[name=publicKey]').fill(key);
      await form.locator('button[type=submit]').click();
      await page.getByText(`ECU ${old.serial} replaced by ${old.serial}-new.`).waitFor(UI_WAIT);
      await page.getByTestId('ecus').getByText(`${old.serial}-new`).waitFor(UI_WAIT);
      const after = (await scene.api('GET', `/api/v1/vehicles/${vin}`)).json as { ecus: Array<{ serial: string }> };
      expect(after.ecus.map((ecu) => ecu.serial).sort()).toEqual(status.ecus.map((ecu) => (ecu.serial === old.serial ? `${old.serial}-new` : ecu.serial)).sort());
      expect(watch.errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('gives a read-only operator every page and nothing to press that changes state; the Director refuses its writes anyway', async () => {
    const context = await browser.newContext();
    try {
      const page = await signIn(context, READ_TOKEN);
      await expect(page.getByTestId('who').textContent()).resolves.toMatch(new RegExp(`${READ_NAME}\\s*read`));
      const before = await scene.api('GET', '/api/v1/campaigns');
      const vin = vinsOf(scene.honest)[0]!;
      // Each page loaded and settled, then every control that writes is either absent or disabled.
      for (const [route, ready] of [
        ['/campaigns', 'campaigns'],
        ['/campaigns/ui-campaign', 'campaign-state'],
        ['/campaigns/new', ''],
        ['/groups', 'groups'],
        [`/vehicles/${vin}`, 'ecus'],
        ['/', ''],
      ] as const) {
        await goto(page, route);
        if (ready !== '') await page.getByTestId(ready).waitFor(UI_WAIT);
        expect(await page.locator('[data-writes]:not([disabled])').count()).toBe(0);
        expect(await page.locator('form[data-testid=new-group], form[data-testid=replace-ecu], form[data-testid=new-campaign]').count()).toBe(0);
      }
      // A running campaign's buttons are shown, disabled.
      const created = await scene.api('POST', '/api/v1/campaigns', { name: 'ro-check', group: 'ui-rollout', images: [{ hardwareId: simSecondaryHardware(0), image: GOOD.name }], stages: [{ share: 1 }] });
      expect(created.status).toBe(201);
      await goto(page, '/campaigns/ro-check');
      await page.locator('[data-action=start]').waitFor(UI_WAIT);
      expect(await page.locator('[data-action]').count()).toBeGreaterThan(0);
      expect(await page.locator('[data-action]:not([disabled])').count()).toBe(0);

      // The page's own session, CSRF token and all, still cannot write: the scope is read.
      const refused = await page.evaluate(async () => {
        const session = (await (await fetch('/ui/api/session')).json()) as { csrfToken: string };
        const answer = await fetch('/api/v1/campaigns/ro-check/start', { method: 'POST', headers: { 'x-csrf-token': session.csrfToken, 'content-type': 'application/json' }, body: '{}' });
        return { status: answer.status, body: await answer.text() };
      });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatch(/insufficient_scope/);
      expect((await campaign('ro-check')).state).toBe('draft');
      expect((await scene.api('GET', '/api/v1/campaigns')).json.campaigns).toHaveLength((before.json.campaigns as unknown[]).length + 1);

      // Signing out ends the session in this browser: back to the sign-in form, the API says 401.
      await page.click('text=Sign out');
      await page.locator('input[name=token]').waitFor(UI_WAIT);
      expect(await page.evaluate(async () => (await fetch('/ui/api/session')).status)).toBe(401);
      expect((await context.cookies(scene.url)).filter((c) => c.name === 'uptane_ui' && c.value !== '')).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('refuses a page of another origin that sends the session cookie (form POST, fetch with credentials), and nothing changes', async () => {
    const context = await browser.newContext();
    const attacker = await attackerServer(scene.url, 'ro-check');
    try {
      await signIn(context, ADMIN_TOKEN); // the victim's browser holds a live session cookie
      const page = await context.newPage();
      const watch = watchPage(page);
      await page.goto(attacker.url);
      // Both fetches settle: the CORS-checked one fails, the no-cors one is sent (opaque answer).
      await page.waitForFunction(() => (globalThis as unknown as { results: string[] }).results.length === 3, undefined, UI_WAIT);
      const results = await page.evaluate(() => (globalThis as unknown as { results: string[] }).results);
      expect(results).toContain('read: blocked'); // the fleet is not readable from another origin
      expect(results).toContain('json: blocked'); // the preflight is refused: the write is never sent
      expect(results).toContain('simple: opaque'); // sent with the cookie, without the CSRF token
      // The form posts with the cookie (127.0.0.1 is the same site on any port); the Director refuses it.
      await Promise.all([page.waitForURL(/\/api\/v1\/campaigns\/ro-check\/start$/), page.locator('#f').evaluate((form) => (form as unknown as { submit(): void }).submit())]);
      expect(await page.textContent('body')).toMatch(/csrf_refused/);
      expect((await campaign('ro-check')).state).toBe('draft');
      expect(watch.errors).toEqual([]);

      // The cookie copied out of the browser and replayed from elsewhere, with or without an Origin.
      const cookie = (await context.cookies(scene.url)).find((c) => c.name === 'uptane_ui')!;
      expect(cookie.httpOnly).toBe(true);
      expect(cookie.sameSite).toBe('Strict');
      for (const headers of [{}, { origin: attacker.url.replace(/\/$/, '') }, { 'x-csrf-token': 'A'.repeat(43) }]) {
        const replay = await fetch(`${scene.url}/api/v1/campaigns/ro-check/start`, { method: 'POST', headers: { cookie: `uptane_ui=${cookie.value}`, ...headers } });
        expect(replay.status).toBe(403);
      }
      expect((await campaign('ro-check')).state).toBe('draft');
    } finally {
      await attacker.close();
      await context.close();
    }
  }, 60_000);

  it('shows HTML in attributes, names, search terms and refusals as text: no script runs, no element is injected', async () => {
    const html = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
    const [vin] = vinsOf(await scene.addFleet('xss', 1, { note: html }));
    const context = await browser.newContext();
    try {
      const page = await signIn(context, ADMIN_TOKEN);
      const watch = watchPage(page);
      await goto(page, `/vehicles/${vin}`);
      await page.getByTestId('ecus').waitFor(UI_WAIT);
      expect(await page.textContent('main')).toContain(html);
      await goto(page, `/vehicles?q=${vin!.slice(0, 6)}`);
      await page.locator('[data-testid=vehicles] a', { hasText: vin }).waitFor(UI_WAIT);
      expect(await page.textContent('[data-testid=vehicles]')).toContain(html);
      // A search term and a group name the Director refuses, its message echoing them.
      await page.fill('input[name=q]', '<script>window.__xss=3</script>');
      await page.click('text=Search');
      await goto(page, '/groups');
      await page.fill('input[name=name]', '<img src=x onerror="window.__xss=4">');
      await page.click('text=Create group');
      await page.locator('[role=alert]').waitFor(UI_WAIT);
      expect(await page.textContent('[role=alert]')).toMatch(/group names are/);
      // A group whose filter holds the HTML: created, listed as text, and it finds the vehicle.
      await page.fill('input[name=name]', 'xss-group');
      await page.fill('input[name=attributes]', `note=${html}`);
      await page.click('text=Create group');
      await page.getByText('Group xss-group created with 1 vehicle.').waitFor(UI_WAIT);
      expect(await page.textContent('[data-testid=groups]')).toContain(`note=${html}`);
      await goto(page, '/audit');
      await page.getByTestId('audit').waitFor(UI_WAIT);
      await expectNoMarkupRan(page, watch);
    } finally {
      await context.close();
    }
  }, 60_000);
});

describeBrowser('markup and oversized input in the dashboard', () => {
  it('shows an attack message, a VIN and a campaign name holding markup as text: no script runs, no element is injected', async () => {
    const markup = '<img src=x onerror="window.__xss=11"><script>window.__xss=12</script>';
    // A vehicle reports an attack whose message (the vehicle's own words) holds markup.
    const car = new TestVehicle('XSSATTACK00000001', [{ serial: 'xss-tcu', hardwareId: 'tcu-a', primary: true }, { serial: 'xss-ecm', hardwareId: 'ecm-x1' }], scene.clock);
    const context = await browser.newContext();
    try {
      expect((await scene.api('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
      const message = `image ${markup} did not match its signed hashes`;
      const manifest = car.manifest({ 'xss-tcu': car.report(car.ecu('xss-tcu')), 'xss-ecm': car.report(car.ecu('xss-ecm'), { attacks: [{ code: 'hash_mismatch', message }] }) });
      expect((await car.sendManifest(scene.url, manifest)).status).toBe(200);

      const page = await signIn(context, ADMIN_TOKEN);
      const watch = watchPage(page);
      await goto(page, `/vehicles/${car.vin}`);
      await page.locator('main table', { hasText: 'hash_mismatch' }).waitFor(UI_WAIT);
      expect(await page.textContent('main')).toContain(message);
      await goto(page, '/');
      await page.locator('main', { hasText: message }).waitFor(UI_WAIT);

      // A VIN in the address holding markup: shown as the page's title, the Director's refusal as text.
      await goto(page, `/vehicles/${encodeURIComponent(markup)}`);
      await page.locator('[role=alert]').waitFor(UI_WAIT);
      expect(await page.textContent('[data-testid=vin]')).toBe(markup);
      // A campaign name holding markup: in the address, and typed into the new-campaign form.
      await goto(page, `/campaigns/${encodeURIComponent(markup)}`);
      await page.locator('[role=alert]').waitFor(UI_WAIT);
      expect(await page.textContent('[data-testid=campaign-name]')).toBe(markup);
      await goto(page, '/campaigns/new');
      await page.fill('[data-testid=new-campaign] input[name=name]', markup);
      await page.click('[data-testid=dry-run-button]');
      await page.locator('[role=alert]').waitFor(UI_WAIT);

      await expectNoMarkupRan(page, watch);
    } finally {
      car.cleanup();
      await context.close();
    }
  }, 60_000);

  it('signs out for real: a cookie copied before is refused after; a sign-out the Director could not record leaves the page signed in and says so', async () => {
    const context = await browser.newContext();
    try {
      const page = await signIn(context, ADMIN_TOKEN);
      const watch = watchPage(page);
      const copied = (await context.cookies(scene.url)).find((c) => c.name === 'uptane_ui')!.value;
      // The database is held by another process past the Director's busy timeout: the sign-out fails.
      const other = new Database(join(scene.repos.dataDir, 'director', 'director.sqlite'));
      try {
        other.exec('BEGIN EXCLUSIVE');
        await page.click('text=Sign out');
        await page.locator('[role=alert]', { hasText: /Not signed out/ }).waitFor(UI_WAIT);
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      expect(await page.getByTestId('who').isVisible()).toBe(true);
      expect((await fetch(`${scene.url}/api/v1/vehicles?limit=1`, { headers: { cookie: `uptane_ui=${copied}` } })).status).toBe(200);
      // Again, with the database back: signed out, and the copy taken before is refused.
      await page.click('text=Sign out');
      await page.locator('input[name=token]').waitFor(UI_WAIT);
      const replay = await fetch(`${scene.url}/api/v1/vehicles?limit=1`, { headers: { cookie: `uptane_ui=${copied}` } });
      expect(replay.status).toBe(401);
      expect(watch.errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('refuses an oversized or malformed filter with a typed 400, and the page shows why', async () => {
    for (const query of [`q=${'A'.repeat(10_000)}`, `state=${'x'.repeat(10_000)}`, 'state=<script>', `q=${encodeURIComponent('<img src=x>')}`]) {
      const answer = await scene.api('GET', `/api/v1/vehicles?${query}`);
      expect([query.slice(0, 20), answer.status, (answer.json.error as { code?: string } | undefined)?.code]).toEqual([query.slice(0, 20), 400, 'bad_request']);
    }
    const context = await browser.newContext();
    try {
      const page = await signIn(context, ADMIN_TOKEN);
      const watch = watchPage(page);
      await goto(page, `/vehicles?q=${'A'.repeat(200)}`);
      await page.locator('[role=alert]', { hasText: /longer than 64 characters/ }).waitFor(UI_WAIT);
      await goto(page, '/vehicles?state=exploded');
      await page.locator('[role=alert]', { hasText: /state must be one of/ }).waitFor(UI_WAIT);
      expect(watch.errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});

/** Polls `condition` every 200 ms until it holds; throws after `timeoutMs`. */
/** Markup shown by the page ran nothing: no handler set window.__xss, no element was injected, no dialog or page error. */
async function expectNoMarkupRan(page: Page, watch: PageWatch): Promise<void> {
  await page.waitForTimeout(300); // let any injected handler fire before looking
  expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
  expect(await page.locator('img[src=x], main script').count()).toBe(0);
  expect(watch.dialogs).toEqual([]);
  expect(watch.errors).toEqual([]);
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** GET with the path exactly as given, dots and escapes untouched. */
async function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A page of another origin (a second loopback server) that tries the Director with the victim's
 * cookie: a read and two writes by fetch, and a form ready to post.
 */
async function attackerServer(director: string, campaignName: string): Promise<{ url: string; close(): Promise<void> }> {
  const target = `${director}/api/v1/campaigns/${campaignName}/start`;
  const page = `<!doctype html><html><body>
<form id="f" method="POST" action="${target}" enctype="text/plain"><input type="hidden" name="x" value="1"></form>
<script>
window.results = [];
fetch(${JSON.stringify(`${director}/api/v1/vehicles`)}, { credentials: 'include' }).then((r) => r.text()).then(() => results.push('read: readable'), () => results.push('read: blocked'));
fetch(${JSON.stringify(target)}, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: '{}' }).then((r) => results.push('json: ' + r.status), () => results.push('json: blocked'));
fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', credentials: 'include', body: 'x=1' }).then((r) => results.push('simple: ' + r.type), () => results.push('simple: failed'));
</script></body></html>`;
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
