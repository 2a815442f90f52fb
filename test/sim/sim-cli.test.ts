// `uptane sim run` as an integration-test engineer first meets it (issue 20, finding 3): the real
// binary against real repositories on loopback. A fleet with nothing assigned says so; --assign gives
// it an update; the same --data-dir continues the fleet (report counters kept, nothing refused); the
// same seed in a new folder is warned about before the Director refuses it as replayed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { formatExpires } from '../../shared/core/metadata/parse.js';
import { Fleet, simSecondaryHardware } from '../../sim/fleet.js';
import { OPERATOR_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { buildCli, runCli, startCli, type CliResult } from '../support/cli-runner.js';
import { parseXml } from '../support/xml.js';

const IMAGE = { name: 'sim/ecu1-v2.bin', content: Buffer.from('simulated ECU image v2'), hardwareIds: [simSecondaryHardware(0)], releaseCounter: 2 };

let repos: Repositories;
let work: string;

beforeAll(async () => {
  await buildCli();
}, 130_000);

beforeEach(async () => {
  // The CLI reads the system clock, so the repositories run at (a frozen) now.
  const now = new Date();
  repos = await startRepositories(new FixedClock(now), 'sim-cli', { expires: formatExpires(new Date(now.getTime() + 365 * 24 * 3600 * 1000)) });
  await repos.publishImages([IMAGE]);
  work = mkdtempSync(join(tmpdir(), 'uptane-sim-cli-'));
  writeFileSync(join(work, 'director-root.json'), repos.directorRoot);
  writeFileSync(join(work, 'image-root.json'), repos.imageRoot);
});

afterEach(async () => {
  await repos.close();
  rmSync(work, { recursive: true, force: true });
});

function sim(seed: string, ...extra: string[]): Promise<CliResult> {
  return runCli(
    ['sim', 'run', '--vehicles', '3', '--seed', seed, '--director-url', repos.director.url, '--image-url', repos.image.url, '--director-root', 'director-root.json', '--image-root', 'image-root.json', ...extra],
    { cwd: work, env: { ...process.env, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN } },
  );
}

async function refusedManifests(seed: string, vehicles = 3): Promise<string[]> {
  const codes: string[] = [];
  for (let i = 0; i < vehicles; i++) {
    const status = await repos.operator('GET', `/api/v1/vehicles/${Fleet.vinFor(seed, i)}`);
    for (const entry of status.json.manifests as Array<{ accepted: boolean; errorCode: string | null }>) if (!entry.accepted) codes.push(entry.errorCode ?? '?');
  }
  return codes;
}

describe('uptane sim run', () => {
  it('says why every cycle was no-update when nothing is assigned, and how to assign', async () => {
    const run = await sim('idle');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('results: no-update 3');
    expect(run.stdout).toContain('every cycle ended no-update: nothing is assigned to these ECUs (hardware ids sim-tcu, sim-ecu-1, sim-ecu-2)');
    expect(run.stdout).toContain('--assign HARDWARE_ID=IMAGE');
  }, 120_000);

  it('--assign updates the fleet; the same --data-dir continues it with its counters; the same seed elsewhere is warned about', async () => {
    const fleet = join(work, 'fleet1');
    let run = await sim('cont', '--assign', `${simSecondaryHardware(0)}=${IMAGE.name}`, '--data-dir', fleet);
    expect(run.status).toBe(0);
    expect(run.stderr).toContain(`assigned ${IMAGE.name} to the sim-ecu-1 ECUs of 3 vehicles`);
    expect(run.stdout).toContain('images installed 3');
    expect(run.stdout).toContain(`--data-dir ${fleet} to continue this fleet`);

    // Continued: no EEXIST, no replay.
    run = await sim('cont', '--data-dir', fleet);
    expect(run.status).toBe(0);
    expect(run.stderr).toContain(`continuing 3 vehicles provisioned by an earlier run in ${fleet}`);
    expect(run.stderr).not.toContain('warning');
    expect(await refusedManifests('cont')).toEqual([]);

    // The same seed in a new folder: the CLI says what will happen and what to do instead.
    run = await sim('cont', '--data-dir', join(work, 'fleet2'));
    expect(run.stderr).toContain('warning: 3 vehicles of seed cont were registered with the Director by an earlier run');
    expect(run.stderr).toContain('Continue that fleet with the --data-dir of the run that made it, or give a new --seed');
    expect(await refusedManifests('cont')).toContain('replayed_report');

    const bad = await sim('cont', '--assign', 'no-equals-sign');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--assign "no-equals-sign": write HARDWARE_ID=IMAGE');
  }, 180_000);

  it('--profile runs the fleet a YAML profile describes and writes NDJSON and JUnit results for CI', async () => {
    const profile = [
      'seed: cli-profile',
      'profiles:',
      '  sedan:',
      '    primary: { hardwareId: sim-tcu }',
      `    secondaries: [{ name: ecu1, hardwareId: ${simSecondaryHardware(0)} }]`,
      '    faults: { attacked: 1, attack: tamper-images }',
      '  coupe:',
      '    primary: { hardwareId: sim-tcu }',
      `    secondaries: [{ name: ecu1, hardwareId: ${simSecondaryHardware(0)}, verification: full }]`,
      'vehicles: [{ profile: sedan, count: 1 }, { profile: coupe, count: 2 }]',
      `assign: [{ hardwareId: ${simSecondaryHardware(0)}, image: ${IMAGE.name} }]`,
      '',
    ].join('\n');
    writeFileSync(join(work, 'fleet.yaml'), profile);
    const run = await runCli(
      ['sim', 'run', '--profile', 'fleet.yaml', '--results-ndjson', 'results.ndjson', '--junit', 'junit.xml', '--director-url', repos.director.url, '--image-url', repos.image.url, '--director-root', 'director-root.json', '--image-root', 'image-root.json'],
      { cwd: work, env: { ...process.env, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN } },
    );
    expect([run.status, run.stderr]).toEqual([0, expect.stringContaining('wrote 3 cycles to results.ndjson')]);
    expect(run.stdout).toContain('results: no-update 0, installed 2, deferred 0, failed 1');
    const lines = readFileSync(join(work, 'results.ndjson'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.type, l.profile, l.status])).toEqual([
      ['cycle', 'sedan', 'failed'],
      ['cycle', 'coupe', 'installed'],
      ['cycle', 'coupe', 'installed'],
      ['summary', undefined, undefined],
    ]);
    const junit = parseXml(readFileSync(join(work, 'junit.xml'), 'utf8'));
    expect(junit.attributes).toMatchObject({ tests: '3', failures: '1' });
    const failed = junit.children[0]!.children.filter((c) => c.children.some((f) => f.name === 'failure'));
    expect(failed.map((c) => [c.attributes.classname, c.children[0]!.attributes.type])).toEqual([['uptane.sim.sedan', 'hash_mismatch']]);

    writeFileSync(join(work, 'bad.yaml'), profile.replace('count: 2', 'count: two'));
    const bad = await runCli(['sim', 'run', '--profile', 'bad.yaml', '--director-url', repos.director.url, '--image-url', repos.image.url, '--director-root', 'director-root.json', '--image-root', 'image-root.json'], {
      cwd: work,
      env: { ...process.env, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN },
    });
    expect([bad.status, bad.stderr]).toEqual([1, expect.stringContaining('profile vehicles[1].count: must be a whole number from 1 to 10000')]);
  }, 120_000);

  it('sim serve drives a fleet over its control API, continues the fleet a run left in the same folder, and writes JUnit when stopped', async () => {
    const profile = `seed: served\nprofiles:\n  van:\n    primary: { hardwareId: sim-tcu }\n    secondaries: [{ name: ecu1, hardwareId: ${simSecondaryHardware(0)} }]\nvehicles: [{ profile: van, count: 2 }]\n`;
    writeFileSync(join(work, 'fleet.yaml'), profile);
    const repoArgs = ['--director-url', repos.director.url, '--image-url', repos.image.url, '--director-root', 'director-root.json', '--image-root', 'image-root.json'];
    const env = { ...process.env, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN };
    // A run leaves the fleet in fleets/served; the server started on fleets continues it.
    expect((await runCli(['sim', 'run', '--profile', 'fleet.yaml', '--data-dir', 'fleets/served', ...repoArgs], { cwd: work, env })).status).toBe(0);
    const server = startCli(['sim', 'serve', '--port', '0', '--data-dir', 'fleets', '--junit', 'junit.xml', ...repoArgs], { cwd: work, env });
    try {
      const url = (await server.waitFor(/control API on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      const taken = await runCli(['sim', 'serve', '--port', new URL(url).port, ...repoArgs], { cwd: work, env });
      expect([taken.status, taken.stderr]).toEqual([1, expect.stringContaining(`127.0.0.1:${new URL(url).port} is in use (another sim serve?): give another --port`)]);
      const started = await fetch(`${url}/fleet`, { method: 'POST', body: profile, headers: { 'content-type': 'application/yaml' } });
      expect([started.status, await started.json()]).toEqual([201, expect.objectContaining({ continued: 2, alreadyRegistered: 0 })]);
      const assigned = await fetch(`${url}/assignments`, { method: 'POST', body: JSON.stringify({ hardwareId: simSecondaryHardware(0), image: IMAGE.name }), headers: { 'content-type': 'application/json' } });
      expect(await assigned.json()).toEqual({ made: 2, already: 0 });
      const step = (await (await fetch(`${url}/step`, { method: 'POST' })).json()) as { cycles: Array<{ status: string }> };
      expect(step.cycles.map((c) => c.status)).toEqual(['installed', 'installed']);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(parseXml(readFileSync(join(work, 'junit.xml'), 'utf8')).attributes).toMatchObject({ tests: '2', failures: '0' });
    expect(await refusedManifests('served', 2)).toEqual([]);
  }, 120_000);
});
