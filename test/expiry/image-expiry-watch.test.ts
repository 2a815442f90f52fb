// The Image repository's timer judges every published role's expiry and logs a role that enters its
// warning window or expires, once per version and state (image-repo/expiry-watch.ts), against the
// real server with a fixed clock.
import { FixedClock } from '../../shared/core/clock.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';

let repos: Repositories | undefined;
afterEach(async () => {
  await repos?.close();
  repos = undefined;
});

it('logs an offline role entering its warning window once, and again when it expires', async () => {
  const lines: string[] = [];
  const clock = new FixedClock(FIXTURE_NOW);
  // Root and targets 20 days from expiry: inside the 30-day window from the start.
  repos = await startRepositories(clock, 'image-expiry', { expires: '2026-06-21T00:00:00Z', imageLog: (line) => lines.push(line) });
  await repos.publishImages([{ name: 'a.bin', content: Buffer.from('a'), hardwareIds: ['hw'], releaseCounter: 1 }]);
  await repos.image.checkResigning(); // snapshot and timestamp for the new targets
  await repos.image.expiry.checkNow();
  await repos.image.expiry.checkNow();
  const warned = () => lines.filter((l) => / (expires|EXPIRED) at /.test(l));
  expect(warned()).toEqual([
    'image root v1 expires at 2026-06-21T00:00:00Z: re-sign it offline in the workspace and push',
    'image targets v1 expires at 2026-06-21T00:00:00Z: re-sign it offline in the workspace and push',
  ]);
  expect(repos.image.expiry.lastJudged().map((r) => [r.role, r.state])).toEqual([
    ['root', 'warning'],
    ['targets', 'warning'],
    ['snapshot', 'ok'],
    ['timestamp', 'ok'],
  ]);
  clock.set('2026-06-21T00:00:00Z');
  await repos.image.expiry.checkNow();
  expect(warned().filter((l) => l.includes('EXPIRED')).sort()).toEqual(
    expect.arrayContaining(['image root v1 EXPIRED at 2026-06-21T00:00:00Z: re-sign it offline in the workspace and push', 'image targets v1 EXPIRED at 2026-06-21T00:00:00Z: re-sign it offline in the workspace and push']),
  );
});
