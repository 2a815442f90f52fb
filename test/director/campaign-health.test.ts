// Campaigns halt on post-install health failures exactly as on install failures (issue 21 item 6,
// docs/threat-model.md M20): simulated vehicles whose secondary soaks each new image under a health
// check (shared/ecu/health-check.ts) get an image that boots but fails its self-test; every one
// rolls back and reports health_check_failed, the Director records each as a failed install, and the
// campaign pauses in its first stage by its failure rule. Real Director and Image repository on loopback.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { FixedClock } from '../../shared/core/clock.js';
import { FAIL_HEALTH_MARKER } from '../../shared/ecu/health-check.js';
import { defaultGroup, Fleet, simSecondaryHardware } from '../../sim/fleet.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';

const UNHEALTHY = { name: 'sim/ecu1-v4.bin', content: Buffer.from(`${FAIL_HEALTH_MARKER} simulated ECU image v4`), hardwareIds: [simSecondaryHardware(0)], releaseCounter: 4 };

let clock: FixedClock;
let repos: Repositories;
let dir: string;

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages([UNHEALTHY]);
  dir = mkdtempSync(`${tmpdir()}/uptane-campaign-health-`);
});

afterEach(async () => {
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

async function ok(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const result = await repos.operator(method, path, body);
  if (result.status >= 300) throw new Error(`${method} ${path}: ${result.status} ${JSON.stringify(result.json)}`);
  return result.json;
}

interface Status {
  state: string;
  stage: number;
  perStage: Array<{ vehicles: number; installed: number; failed: number; rolledBack: number }>;
  failureReasons: Record<string, number>;
  history: Array<{ kind: string; details: { reason?: string } }>;
}

it('M20 a campaign pauses in its first stage when its image fails the post-install health check, as on install failures', async () => {
  const base = defaultGroup(20, 1);
  const group = { ...base, secondaries: base.secondaries.map((s) => ({ ...s, health: { soakMs: 20, pollMs: 10, probe: { kind: 'simulated' as const } } })) };
  const fleet = await Fleet.start({
    size: 20,
    secondariesPerVehicle: 1,
    seed: 'health',
    directory: `${dir}/fleet`,
    directorUrl: repos.director.url,
    imageRepoUrl: repos.image.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    clock,
    groups: [group],
    concurrency: 8,
    register: async (registration) => {
      const result = await repos.operator('POST', '/api/v1/vehicles', registration);
      if (result.status !== 201) throw new Error(JSON.stringify(result.json));
    },
  });
  await ok('POST', '/api/v1/groups', { name: 'health-group', vins: fleet.records.map((r) => r.vehicle.spec.vin) });
  await ok('POST', '/api/v1/campaigns', {
    name: 'unhealthy',
    group: 'health-group',
    images: [{ hardwareId: simSecondaryHardware(0), image: UNHEALTHY.name }],
    stages: [{ share: 0.5 }, { share: 1 }],
    halt: { maxFailureRate: 0.3, minSample: 5 },
  });
  await ok('POST', '/api/v1/campaigns/unhealthy/start');
  await fleet.waitUntil(async () => ((await ok('GET', '/api/v1/campaigns/unhealthy')) as unknown as Status).state === 'paused', 6);
  const paused = (await ok('GET', '/api/v1/campaigns/unhealthy')) as unknown as Status;
  expect(paused.state).toBe('paused');
  expect(paused.stage).toBe(1);
  expect(paused.perStage[0]).toMatchObject({ vehicles: 10, installed: 0 });
  expect(paused.perStage[0]!.failed).toBeGreaterThanOrEqual(5);
  expect(paused.perStage[0]!.rolledBack).toBe(paused.perStage[0]!.failed);
  expect(paused.history.find((e) => e.kind === 'paused')?.details.reason).toMatch(/failure rate/);
  // Every failure is the health check's, with the probe's reason, as the ECUs reported it.
  const reasons = Object.keys(paused.failureReasons);
  expect(reasons.length).toBeGreaterThan(0);
  for (const reason of reasons) expect(reason).toMatch(/^rolled_back: health_check_failed: sim\/ecu1-v4\.bin failed its health check \(simulated probe, poll 1 of 2: the image reported a failed self-test/);
  // The vehicles run their previous image: rolled back before any commit.
  for (const { installed } of fleet.installedImages()) expect(Object.values(installed)).not.toContain(UNHEALTHY.name);
  // Stage 2 never started: the other half never received the image.
  const received = fleet.records.filter((r) => r.results.some((c) => Object.values(c.outcomes).some((o) => o.filename === UNHEALTHY.name)));
  expect(received.length).toBeLessThanOrEqual(10);
}, 240_000);
