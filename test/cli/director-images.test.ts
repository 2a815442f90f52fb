// `uptane director images list` (issue 20, finding 9): the images an operator can assign, as the
// Director verified them from the Image repository, filtered by hardware id, as a table or JSON.
// The real binary (dist/) against a real Director and Image repository on loopback.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { runCli } from '../support/cli-runner.js';

// The engine image may go only to ECUs of the high security profile (docs/security-profiles.md).
const ENGINE: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2, custom: { minimumSecurityProfile: 'high' } };
const BRAKE: FixtureImage = { name: 'brake/abs-7.bin', content: Buffer.from('brake ecu v7'), hardwareIds: ['abs-z', 'abs-y'], releaseCounter: 7 };

let dir: string;
let repos: Repositories;

function uptane(...args: string[]) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('UPTANE_')));
  return runCli(args, { cwd: dir, env: { ...env, UPTANE_DIRECTOR_URL: repos.director.url, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN } });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-director-images-'));
  repos = await startRepositories(new FixedClock(FIXTURE_NOW), 'images-cli');
  await repos.publishImages([ENGINE, BRAKE]);
}, 60_000);

afterAll(async () => {
  await repos?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('uptane director images list', () => {
  it('lists every signed image with its hardware ids, release counter and minimum security profile', async () => {
    const run = await uptane('director', 'images', 'list');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^ {2}IMAGE\s+HARDWARE IDS\s+RELEASE\s+MIN PROFILE\s+SIZE\s+SHA-256$/);
    expect(lines[1]).toMatch(/^ {2}brake\/abs-7\.bin\s+abs-z,abs-y\s+7\s+any\s+12 B\s+[0-9a-f]{12}$/);
    expect(lines[2]).toMatch(/^ {2}engine\/ecm-2\.0\.bin\s+ecm-x1\s+2\s+high\s+13 B\s+[0-9a-f]{12}$/);
    expect(run.stdout).toContain('2 images; assign one with `uptane director assign --image NAME --vin VIN --ecu SERIAL`');
  });

  it('filters by hardware id, and prints JSON for scripts', async () => {
    const run = await uptane('director', 'images', '--hardware-id', 'abs-y', '--json');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      images: [{ filename: 'brake/abs-7.bin', length: 12, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), hardwareIds: ['abs-z', 'abs-y'], releaseCounter: 7, minimumSecurityProfile: null }],
      total: 1,
    });
    const engine = await uptane('director', 'images', '--hardware-id', 'ecm-x1', '--json');
    expect(JSON.parse(engine.stdout).images).toEqual([expect.objectContaining({ filename: 'engine/ecm-2.0.bin', minimumSecurityProfile: 'high' })]);
    const none = await uptane('director', 'images', 'list', '--hardware-id', 'tcu-q');
    expect(none.status).toBe(0);
    expect(none.stdout).toContain('no image for hardware id tcu-q');
  });

  it('needs an operator token, and says so', async () => {
    const run = await runCli(['director', 'images', 'list', '--url', repos.director.url], { cwd: dir, env: Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('UPTANE_'))) });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/UPTANE_OPERATOR_TOKEN/);
  });
});
