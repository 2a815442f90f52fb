// Prefetch (gateway/prefetch.ts, docs/gateway.md "Prefetch"): the gateway brings images in before a
// vehicle asks, from an operator's list file and from the Director's running campaigns (read with an
// operator token of scope read), so the first vehicle of a campaign at a depot finds its image kept.
// Against the real Image repository and the real Director on loopback.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { imagePathOf } from '../../gateway/prefetch.js';
import { startGateway, type GatewayServerOptions, type RunningGateway } from '../../gateway/server.js';

const READ_TOKEN = 'prefetch-read-token';

const image = (name: string, text: string): FixtureImage => ({ name, content: Buffer.from(text.repeat(2000)), hardwareIds: ['ecm-x1'], releaseCounter: 1 });
const IMAGES = {
  listed: image('engine/listed.bin', 'listed image '),
  campaign: image('engine/campaign.bin', 'campaign image '),
  draft: image('engine/draft.bin', 'draft campaign image '),
  idle: image('engine/idle.bin', 'an image no campaign names '),
};
const pathOf = (i: FixtureImage) => imagePathOf(i.name, digestBytes(i.content).sha256!);

let repos: Repositories;
let running: RunningGateway | undefined;
const folders: string[] = [];
const logged: string[] = [];

function folder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

async function gateway(options: Partial<GatewayServerOptions>): Promise<RunningGateway> {
  running = await startGateway({
    upstreamImage: repos.image.url,
    upstreamDirector: repos.director.url,
    cacheDir: folder('uptane-gateway-prefetch-'),
    limits: { metadataFreshMs: 0 },
    // The rounds are called by the test; the timer's own first round is joined by the test's call.
    prefetchIntervalMs: 60 * 60_000,
    log: (line) => logged.push(line),
    ...options,
  });
  return running;
}

async function operator(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const answer = await repos.operator(method, path, body);
  if (answer.status >= 300) throw new Error(`${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.json)}`);
  return answer.json;
}

let car: SimulatedVehicle;
const clock = new FixedClock(FIXTURE_NOW);

beforeAll(async () => {
  repos = await startRepositories(clock, 'prefetch');
  await repos.publishImages(Object.values(IMAGES));
  await repos.director.storage.addOperator('gateway-prefetch', READ_TOKEN, clock.now(), { scope: 'read' });
});

afterAll(async () => {
  await repos.close();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await running?.close();
  running = undefined;
  logged.length = 0;
});

describe('prefetch from a list file', () => {
  it('fetches each listed image once, skips what it keeps on the next round, and logs a bad or missing path without stopping', async () => {
    const list = join(folder('uptane-prefetch-list-'), 'images.txt');
    const missing = imagePathOf('engine/never-published.bin', '0'.repeat(64));
    writeFileSync(list, ['# images for the spring campaign', pathOf(IMAGES.listed), '', '/targets/engine/not-a-snapshot-path.bin', missing, pathOf(IMAGES.idle)].join('\n'));
    const gw = await gateway({ prefetchLists: [list] });
    expect(await gw.prefetcher!.round()).toEqual({ fetched: 2, kept: 0, failed: 2 });
    expect(gw.gateway.cache.has(pathOf(IMAGES.listed))).toBe(true);
    expect(gw.gateway.cache.has(pathOf(IMAGES.idle))).toBe(true);
    expect(logged.filter((line) => line.startsWith('prefetch: /targets/'))).toEqual([
      expect.stringContaining('not-a-snapshot-path.bin is not a consistent-snapshot image path'),
      expect.stringContaining('no image /targets/engine/0000'),
    ]);
    expect(logged).toContain('prefetch: 2 images fetched, 0 already kept, 2 failed');
    expect(await gw.prefetcher!.round()).toEqual({ fetched: 0, kept: 2, failed: 2 });
    // Three upstream downloads in round one (two kept, one 404) and the missing image asked for again
    // in round two (it may be published since); the path that is no image path is never sent upstream.
    expect(gw.gateway.stats().imageFills).toBe(4);

    // A vehicle's download now comes from the kept copy: no new upstream download.
    const answer = await fetch(`${gw.url}${pathOf(IMAGES.listed)}`);
    expect(Buffer.from(await answer.arrayBuffer()).equals(IMAGES.listed.content)).toBe(true);
    expect(gw.gateway.stats()).toMatchObject({ imageFills: 4, imageHits: 1 });
  });
});

describe("prefetch of the Director's running campaigns", () => {
  beforeAll(async () => {
    car = await SimulatedVehicle.create({
      directory: folder('uptane-prefetch-car-'),
      vin: 'VINPREFETCH00001',
      primary: { serial: 'pf-tcu-1', hardwareId: 'tcu-a' },
      secondaries: [{ serial: 'pf-ecm-1', hardwareId: 'ecm-x1' }],
      directorUrl: repos.director.url,
      imageRepoUrl: repos.image.url,
      directorRoot: repos.directorRoot,
      imageRoot: repos.imageRoot,
      clock,
    });
    await operator('POST', '/api/v1/vehicles', car.registration());
    await operator('POST', '/api/v1/groups', { name: 'depot', vins: ['VINPREFETCH00001'] });
    await operator('POST', '/api/v1/campaigns', { name: 'running-one', group: 'depot', images: [{ hardwareId: 'ecm-x1', image: IMAGES.campaign.name }], stages: [{ share: 1 }] });
    await operator('POST', '/api/v1/campaigns/running-one/start', {});
    // A draft campaign: not started, so nothing of it is fetched.
    await operator('POST', '/api/v1/campaigns', { name: 'draft-one', group: 'depot', images: [{ hardwareId: 'ecm-x1', image: IMAGES.draft.name }], stages: [{ share: 1 }] });
  });

  it("fetches the images of running campaigns only, with an operator token of scope read; the campaign's vehicle then installs through the gateway with no upstream download", async () => {
    const gw = await gateway({ prefetchToken: READ_TOKEN });
    expect(await gw.prefetcher!.round()).toEqual({ fetched: 1, kept: 0, failed: 0 });
    expect(gw.gateway.cache.has(pathOf(IMAGES.campaign))).toBe(true);
    expect(gw.gateway.cache.has(pathOf(IMAGES.draft))).toBe(false);
    expect(gw.gateway.cache.has(pathOf(IMAGES.idle))).toBe(false);

    // The registered vehicle (its keys come from its VIN and serials), now with the gateway as its only address.
    const throughGateway = await SimulatedVehicle.create({ ...car.spec, directory: folder('uptane-prefetch-car-'), directorUrl: gw.url, imageRepoUrl: gw.url });
    expect((await throughGateway.primary.runCycle()).status).toBe('installed');
    expect(throughGateway.installed()['pf-ecm-1']).toBe(IMAGES.campaign.name);
    expect(gw.gateway.stats()).toMatchObject({ imageFills: 1, imageHits: 1, imageJoins: 0 });
  });

  it('a token the Director refuses is a failed source, logged with what the token needs; the gateway serves on', async () => {
    const gw = await gateway({ prefetchToken: 'not-a-token' });
    expect(await gw.prefetcher!.round()).toEqual({ fetched: 0, kept: 0, failed: 1 });
    expect(logged.join('\n')).toMatch(/prefetch: cannot read running campaigns: .*HTTP 401.*scope read/);
    expect((await fetch(`${gw.url}${pathOf(IMAGES.campaign)}`)).status).toBe(200);
  });
});
