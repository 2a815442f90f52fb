// Online key rotation end to end (docs/threat-model.md B13; docs/decisions.md "Online key rotation"):
// the real `uptane` binary rotates each repository's online keys (`online-keys rotate`), the
// offline root key signs the staged root and `push` publishes it, while simulated vehicles (full
// primaries and secondaries) run update cycles back to back against both real servers on loopback.
// No cycle may fail at any moment; afterwards the served metadata carries the new keys only and every
// vehicle trusts the new root.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { savePrivateKey } from '../../shared/files/key-files.js';
import { formatExpires, parseMetadata } from '../../shared/core/metadata/parse.js';
import { DEFAULT_KEY_HANDOVER_MS } from '../../shared/server/online-keys.js';
import type { CycleResult } from '../../primary-ecu/primary.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { OPERATOR_TOKEN, startRepositories, UPLOADER_TOKEN, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { registeredVehicle } from '../support/registered-vehicle.js';
import { runCli } from '../support/cli-runner.js';

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;
const img = (name: string, text: string, hardwareIds: string[], releaseCounter: number): FixtureImage => ({ name, content: Buffer.from(text), hardwareIds, releaseCounter });
const IMAGES = {
  tcu5: img('tcu/tcu-5.bin', 'telematics v5', ['tcu-a'], 5),
  tcu6: img('tcu/tcu-6.bin', 'telematics v6', ['tcu-a'], 6),
  ecm2: img('engine/ecm-2.0.bin', 'engine ecu v2', ['ecm-x1'], 2),
  ecm3: img('engine/ecm-3.0.bin', 'engine ecu v3', ['ecm-x1'], 3),
  abs8: img('brake/abs-8.bin', 'brake ecu v8', ['abs-z'], 8),
};
const VINS = ['VINKEYROTATE0001', 'VINKEYROTATE0002'];

let clock: FixedClock;
let repos: Repositories;
let dir: string;
let cars: SimulatedVehicle[];

function env(): Record<string, string> {
  const clean = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('UPTANE_')));
  return { ...clean, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN, UPTANE_UPLOAD_TOKEN: UPLOADER_TOKEN };
}

async function ok(...args: string[]): Promise<string> {
  const run = await runCli(args, { cwd: dir, env: env() });
  if (run.status !== 0) throw new Error(`uptane ${args.join(' ')} exited ${String(run.status)}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run.stdout;
}

beforeEach(async () => {
  // The CLI checks expiry against the real clock; the servers and vehicles get the same time, fixed.
  clock = new FixedClock(Math.floor(Date.now() / 1000) * 1000);
  repos = await startRepositories(clock, 'key-rotation', { expires: formatExpires(new Date(clock.now().getTime() + YEAR_MS)) });
  await repos.publishImages(Object.values(IMAGES));
  dir = mkdtempSync(join(tmpdir(), 'uptane-key-rotation-'));
  cars = [];
  // ECU serials are unique across the fleet: each vehicle's carry its index.
  for (const [i, vin] of VINS.entries()) {
    cars.push(
      await registeredVehicle(repos, {
        directory: join(dir, vin),
        vin,
        clock,
        primary: { serial: `tcu-${i}`, hardwareId: 'tcu-a' },
        secondaries: [
          { serial: `ecm-${i}`, hardwareId: 'ecm-x1' },
          { serial: `abs-${i}`, hardwareId: 'abs-z', verification: 'full' },
        ],
      }),
    );
  }
  writeFileSync(join(dir, 'image-root.json'), repos.imageRoot);
  writeFileSync(join(dir, 'director-root.json'), repos.directorRoot);
  savePrivateKey(join(dir, 'image-root.pem'), repos.imageRootKey);
  savePrivateKey(join(dir, 'director-root.pem'), repos.directorRootKey);
}, 120_000);

afterEach(async () => {
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Assigns `image` to the ECU `kind` (tcu, ecm, abs) of every vehicle. */
async function assignAll(kind: 'tcu' | 'ecm' | 'abs', image: FixtureImage): Promise<void> {
  for (const [i, vin] of VINS.entries()) {
    expect(await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial: `${kind}-${i}`, image: image.name })).toMatchObject({ status: 201 });
  }
}

interface Cycling {
  readonly results: CycleResult[];
  rounds(): number;
  /**
   * Runs `change` between cycles. An assignment changed while a vehicle is mid-cycle makes its
   * targets fetch fail (the Director re-signs targets for the new assignments, and the version the
   * vehicle's snapshot pins is gone): that is the Director's rule for assignments, not this test's
   * subject, so assignments are made while no cycle runs. Key rotation steps run during cycles.
   */
  between(change: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/** Every vehicle runs cycles back to back until stopped; each result is kept. */
function cycleContinuously(): Cycling {
  const results: CycleResult[] = [];
  let running = true;
  let rounds = 0;
  let gate: Promise<void> | undefined;
  let idle = 0;
  const loops = cars.map(async (car) => {
    while (running) {
      if (gate !== undefined) {
        idle++;
        await gate;
        idle--;
        continue;
      }
      results.push(await car.primary.runCycle());
      rounds++;
    }
  });
  return {
    results,
    rounds: () => rounds,
    async between(change) {
      let open!: () => void;
      gate = new Promise((resolve) => (open = resolve));
      while (idle < cars.length) await new Promise((resolve) => setTimeout(resolve, 5));
      try {
        await change();
      } finally {
        gate = undefined;
        open();
      }
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Resolves once every vehicle has run `n` more cycles. */
async function moreCycles(cycling: { rounds: () => number }, n: number): Promise<void> {
  const target = cycling.rounds() + n * cars.length;
  while (cycling.rounds() < target) await new Promise((resolve) => setTimeout(resolve, 20));
}

const keyidsOf = (bytes: Uint8Array) => (JSON.parse(Buffer.from(bytes).toString('utf8')) as { signatures: Array<{ keyid: string }> }).signatures.map((s) => s.keyid);
const trustedRootVersion = (vin: string, serial: string, repo: 'director' | 'image') =>
  parseMetadata(readFileSync(join(dir, vin, serial, repo, 'root.json')), 'root').signed.version;

async function served(path: string): Promise<Buffer> {
  const response = await fetch(`${repos.image.url}${path}`);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

function expectEveryCycleSucceeded(results: readonly CycleResult[]): void {
  const failed = results.filter((r) => r.status === 'failed' || !r.manifestSent);
  expect(failed).toEqual([]);
  expect(results.filter((r) => r.status === 'installed').length).toBeGreaterThan(0);
  for (const car of cars) expect(car.primary.reportedAttacks).toEqual([]);
}

describe('online key rotation while vehicles update', () => {
  it('B13 the Image repository: rotate, sign, push; every cycle verifies throughout, then only the new snapshot and timestamp keys sign', async () => {
    const before = repos.image.repository.onlineKeys();
    await assignAll('tcu', IMAGES.tcu5);
    await ok('image', 'init', '-w', 'iws', '--server', repos.image.url, '--trusted-root', 'image-root.json');
    const cycling = cycleContinuously();
    try {
      await moreCycles(cycling, 2);
      const rotated = JSON.parse(await ok('image', 'online-keys', 'rotate', '-w', 'iws', '--json')) as {
        pending: Record<'snapshot' | 'timestamp', string>;
        current: Record<'snapshot' | 'timestamp', string>;
        staged: { version: number };
      };
      expect(rotated.current).toEqual({ snapshot: before.snapshot.keyid, timestamp: before.timestamp.keyid });
      expect(rotated.staged.version).toBe(2);
      // Pending: the server still signs with the keys in use, while vehicles keep cycling.
      await moreCycles(cycling, 2);
      expect(keyidsOf(await served('/metadata/timestamp.json'))).toEqual([before.timestamp.keyid]);
      await cycling.between(() => assignAll('ecm', IMAGES.ecm2));
      await ok('image', 'sign', '--role', 'root', '--key', 'image-root.pem', '-w', 'iws');
      await ok('image', 'push', '-w', 'iws');
      // Published: the new keys sign, beside the replaced ones during the handover.
      expect(repos.image.repository.onlineKeys().timestamp.keyid).toBe(rotated.pending.timestamp);
      expect(keyidsOf(await served('/metadata/timestamp.json'))).toEqual([rotated.pending.timestamp, before.timestamp.keyid]);
      await moreCycles(cycling, 3);
      // Updates after the publication: every ECU, secondaries included, takes the new root with them.
      await cycling.between(async () => {
        await assignAll('tcu', IMAGES.tcu6);
        await assignAll('ecm', IMAGES.ecm3);
        await assignAll('abs', IMAGES.abs8);
      });
      // The handover ends: the next re-signing check drops the replaced keys.
      clock.advance(DEFAULT_KEY_HANDOVER_MS + 1000);
      await repos.image.checkResigning();
      expect(repos.image.resignStatus().consecutiveFailures).toBe(0);
      await moreCycles(cycling, 3);
    } finally {
      await cycling.stop();
    }
    expectEveryCycleSucceeded(cycling.results);
    const timestamp = await served('/metadata/timestamp.json');
    expect(keyidsOf(timestamp)).toEqual([repos.image.repository.onlineKeys().timestamp.keyid]);
    const snapshotVersion = parseMetadata(timestamp, 'timestamp').signed.meta['snapshot.json']!.version;
    expect(keyidsOf(await served(`/metadata/${snapshotVersion}.snapshot.json`))).toEqual([repos.image.repository.onlineKeys().snapshot.keyid]);
    expect(repos.image.repository.pendingOnlineKeys()).toEqual({});
    for (const [i, car] of cars.entries()) {
      expect(car.installed()).toMatchObject({ [`tcu-${i}`]: IMAGES.tcu6.name, [`ecm-${i}`]: IMAGES.ecm3.name, [`abs-${i}`]: IMAGES.abs8.name });
      expect(trustedRootVersion(car.spec.vin, `tcu-${i}`, 'image')).toBe(2);
      expect(trustedRootVersion(car.spec.vin, `abs-${i}`, 'image')).toBe(2); // the full-verification secondary
    }
  }, 120_000);

  it('B13 the Director: rotate targets, snapshot and timestamp, sign, push; every cycle verifies throughout, then each vehicle\'s metadata is signed by the new keys only', async () => {
    const before = repos.director.services.root.onlineKeysJson();
    await assignAll('tcu', IMAGES.tcu5);
    await ok('director', 'init', '-w', 'dws', '--server', repos.director.url, '--trusted-root', 'director-root.json');
    const cycling = cycleContinuously();
    let pending: Record<'targets' | 'snapshot' | 'timestamp', string>;
    try {
      await moreCycles(cycling, 2);
      const rotated = JSON.parse(await ok('director', 'online-keys', 'rotate', '-w', 'dws', '--url', repos.director.url, '--json')) as { pending: typeof pending; staged: { version: number } };
      pending = rotated.pending;
      expect(Object.keys(pending).sort()).toEqual(['snapshot', 'targets', 'timestamp']);
      expect(rotated.staged.version).toBe(2);
      await moreCycles(cycling, 2);
      for (const vin of VINS) {
        expect(keyidsOf((await repos.director.services.metadata.current(vin, 'timestamp')).bytes)).toEqual([before.timestamp.keyid]);
      }
      await cycling.between(() => assignAll('ecm', IMAGES.ecm2));
      await ok('director', 'sign', '--role', 'root', '--key', 'director-root.pem', '-w', 'dws');
      await ok('director', 'push', '-w', 'dws');
      expect(repos.director.services.root.onlineKeysJson().targets.keyid).toBe(pending.targets);
      await moreCycles(cycling, 3);
      // Updates after the publication: every ECU, secondaries included, takes the new root with them.
      await cycling.between(async () => {
        await assignAll('tcu', IMAGES.tcu6);
        await assignAll('ecm', IMAGES.ecm3);
        await assignAll('abs', IMAGES.abs8);
      });
      clock.advance(DEFAULT_KEY_HANDOVER_MS + 1000);
      await moreCycles(cycling, 3);
    } finally {
      await cycling.stop();
    }
    expectEveryCycleSucceeded(cycling.results);
    for (const [i, car] of cars.entries()) {
      const vin = car.spec.vin;
      for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
        expect(keyidsOf((await repos.director.services.metadata.current(vin, role)).bytes)).toEqual([pending![role]]);
      }
      expect(car.installed()).toMatchObject({ [`tcu-${i}`]: IMAGES.tcu6.name, [`ecm-${i}`]: IMAGES.ecm3.name, [`abs-${i}`]: IMAGES.abs8.name });
      expect(trustedRootVersion(vin, `tcu-${i}`, 'director')).toBe(2);
      expect(trustedRootVersion(vin, `ecm-${i}`, 'director')).toBe(2); // the partial-verification secondary
    }
  }, 120_000);

  it('the commands: --help with examples, show, --dry-run, a refused token, a rotation while one is pending, --pending-only; every refusal leaves the workspace as it was', async () => {
    const run = (...args: string[]) => runCli(args, { cwd: dir, env: env() });
    for (const group of ['image', 'director']) {
      const help = await run(group, 'online-keys', 'rotate', '--help');
      expect(help.status).toBe(0);
      expect(help.stdout).toContain(`uptane ${group} online-keys rotate -w ${group}-ws`);
      expect(help.stdout).toContain('--dry-run');
    }
    await ok('image', 'init', '-w', 'iws', '--server', repos.image.url, '--trusted-root', 'image-root.json');
    const staged = () => readFileSync(join(dir, 'iws', 'published', 'root.json')).toString() + String(JSON.parse(readFileSync(join(dir, 'iws', 'workspace.json'), 'utf8')).repository);
    const before = staged();

    const dry = JSON.parse(await ok('image', 'online-keys', 'rotate', '-w', 'iws', '--dry-run', '--json')) as { dryRun: boolean; roles: Array<{ role: string; pending: string | null }> };
    expect(dry).toMatchObject({ dryRun: true, roles: [{ role: 'snapshot', pending: null }, { role: 'timestamp', pending: null }] });
    expect(repos.image.repository.pendingOnlineKeys()).toEqual({});

    await repos.image.storage.addUploader('supplier', 'supplier-token', clock.now(), { roles: ['targets'] });
    const refused = await runCli(['image', 'online-keys', 'rotate', '-w', 'iws'], { cwd: dir, env: { ...env(), UPTANE_UPLOAD_TOKEN: 'supplier-token' } });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('insufficient_scope');
    expect(refused.stderr).toContain('--role root');
    expect(staged()).toBe(before);
    expect(() => readFileSync(join(dir, 'iws', 'staged', 'root.json'))).toThrow();

    const first = JSON.parse(await ok('image', 'online-keys', 'rotate', '-w', 'iws', '--role', 'timestamp', '--json')) as { pending: Record<string, string>; staged: { version: number; changes: unknown[] } };
    expect(Object.keys(first.pending)).toEqual(['timestamp']);
    expect(first.staged.changes).toHaveLength(1);
    const shown = JSON.parse(await ok('image', 'online-keys', '--server', repos.image.url, '--json')) as { pending: Record<string, { keyid: string }> };
    expect(shown.pending.timestamp!.keyid).toBe(first.pending.timestamp);

    const again = await run('image', 'online-keys', 'rotate', '-w', 'iws', '--role', 'timestamp');
    expect(again.status).not.toBe(0);
    expect(again.stderr).toContain('rotation_pending');
    expect(repos.image.repository.pendingOnlineKeys().timestamp!.keyid).toBe(first.pending.timestamp);

    // Staging the pending key again changes nothing more; --replace makes another and restages it.
    const restaged = JSON.parse(await ok('image', 'online-keys', 'rotate', '-w', 'iws', '--role', 'timestamp', '--pending-only', '--json')) as { staged: { changes: Array<{ added: string | null }> } };
    expect(restaged.staged.changes).toEqual([{ role: 'timestamp', added: null, removed: null }]);
    const text = await ok('image', 'online-keys', 'rotate', '-w', 'iws', '--role', 'timestamp', '--replace');
    expect(text).toContain('uptane image sign --role root --key ROOT_KEY_FILE');
    expect(text).toContain('uptane image push');
    const replacement = repos.image.repository.pendingOnlineKeys().timestamp!.keyid;
    expect(replacement).not.toBe(first.pending.timestamp);
    // The staged root now lists the replacement alone: the replaced pending key is gone from it too.
    expect(parseMetadata(readFileSync(join(dir, 'iws', 'staged', 'root.json')), 'root').signed.roles.timestamp.keyids).toEqual([replacement]);
  }, 120_000);
});
