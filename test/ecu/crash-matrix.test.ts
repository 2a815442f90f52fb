// The install crash matrix (docs/threat-model.md M1, M2, M9, M12): for every
// InstallStep of shared/ecu/ab-slots.ts, on a secondary and on the primary's own slots, an injected error
// (the ECU keeps running) and a simulated power cut (PowerCut thrown at the step, then every ECU
// restarts from its folder with vehicle.start()). Afterwards the active slot holds a verified image,
// the ECU runs the old or the new image as the table below specifies, and its next version report
// (as the Director receives it) tells the truth: installed image = active slot, last_install = what
// happened. Plus a power cut in the middle of the primary's image download, resumed with a Range request.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAIL_BOOT_MARKER, PowerCut, type AbSlots, type InstallStep } from '../../shared/ecu/ab-slots.js';
import { InstallFaults } from '../support/install-faults.js';
import { FixedClock } from '../../shared/core/clock.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import type { EcuVersionReport } from '../../shared/uptane/manifest.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { AttackerFetcher, startManifestRecorder, type ManifestRecorder } from '../support/attacker.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

const VIN = 'VINCRASH00000001';
const PRIMARY = 'tcu-1';
const SECONDARY = 'ecm-1';
const FACTORY: Record<string, string> = { [PRIMARY]: 'factory/tcu-a.bin', [SECONDARY]: 'factory/ecm-x1.bin' };

const IMAGES: Record<string, { good: FixtureImage; failsBoot: FixtureImage }> = {
  [PRIMARY]: {
    good: { name: 'tcu/tcu-5.bin', content: Buffer.from('telematics v5'), hardwareIds: ['tcu-a'], releaseCounter: 5 },
    failsBoot: { name: 'tcu/tcu-6.bin', content: Buffer.from(`${FAIL_BOOT_MARKER} telematics v6`), hardwareIds: ['tcu-a'], releaseCounter: 6 },
  },
  [SECONDARY]: {
    good: { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 },
    failsBoot: { name: 'engine/ecm-3.0.bin', content: Buffer.from(`${FAIL_BOOT_MARKER} engine ecu v3`), hardwareIds: ['ecm-x1'], releaseCounter: 3 },
  },
};
/** Large enough to arrive in many chunks, so a download can be cut in the middle. */
const BIG: FixtureImage = { name: 'tcu/tcu-7.bin', content: Buffer.alloc(3 * 1024 * 1024 + 17, 'telematics v7 '), hardwareIds: ['tcu-a'], releaseCounter: 7 };

interface Outcome {
  /** Which image the ECU runs afterwards. */
  readonly runs: 'old' | 'new';
  /** last_install of its next version report (null: no install ran to a verdict). */
  readonly lastInstall: null | { status: 'installed' | 'rolled_back'; code?: string };
  /** The install outcome of the faulty cycle (injected error only; a power cut ends the cycle). */
  readonly cycleOutcome?: { status: 'failed' | 'rolled_back'; code: string };
  /** Status of the following update cycle (the Director gets the truthful report there). */
  readonly nextCycle: 'installed' | 'no-update';
}

interface Row {
  readonly step: InstallStep;
  /** The image to install: 'failsBoot' to reach the rollback step. */
  readonly image: 'good' | 'failsBoot';
  readonly error: Outcome;
  readonly powerCut: Outcome;
}

/**
 * The expected outcome of every step. An error before the switch abandons the install: the old image
 * stays, nothing was installed, and the next cycle tries again. From the switch on, the new slot is
 * on trial: an error there is a failed install and the old image comes back (a commit that cannot be
 * written is not a commit; a rollback is never abandoned). A power cut before the switch leaves the
 * old image (the next cycle installs); after it, the restart re-runs the boot check and commits or
 * rolls back, as the image deserves.
 */
const MATRIX: readonly Row[] = [
  {
    step: 'stage-write', // while the image is written into the inactive slot
    image: 'good',
    error: { runs: 'old', lastInstall: null, cycleOutcome: { status: 'failed', code: 'storage' }, nextCycle: 'installed' },
    powerCut: { runs: 'old', lastInstall: null, nextCycle: 'installed' },
  },
  {
    step: 'stage-verified', // the image verified and renamed into the inactive slot, not yet recorded as staged
    image: 'good',
    error: { runs: 'old', lastInstall: null, cycleOutcome: { status: 'failed', code: 'storage' }, nextCycle: 'installed' },
    powerCut: { runs: 'old', lastInstall: null, nextCycle: 'installed' },
  },
  {
    step: 'switch', // staged, about to make the inactive slot active (on trial)
    image: 'good',
    error: { runs: 'old', lastInstall: null, cycleOutcome: { status: 'failed', code: 'storage' }, nextCycle: 'installed' },
    powerCut: { runs: 'old', lastInstall: null, nextCycle: 'installed' },
  },
  {
    step: 'boot-check', // switched, the new image on trial
    image: 'good',
    error: { runs: 'old', lastInstall: { status: 'rolled_back', code: 'boot_check_failed' }, cycleOutcome: { status: 'rolled_back', code: 'boot_check_failed' }, nextCycle: 'no-update' },
    powerCut: { runs: 'new', lastInstall: { status: 'installed' }, nextCycle: 'no-update' },
  },
  {
    step: 'commit', // the boot check passed, the commit not yet written
    image: 'good',
    error: { runs: 'old', lastInstall: { status: 'rolled_back', code: 'storage' }, cycleOutcome: { status: 'rolled_back', code: 'storage' }, nextCycle: 'no-update' },
    powerCut: { runs: 'new', lastInstall: { status: 'installed' }, nextCycle: 'no-update' },
  },
  {
    step: 'rollback', // the boot check failed, the rollback not yet written
    image: 'failsBoot',
    error: { runs: 'old', lastInstall: { status: 'rolled_back', code: 'boot_check_failed' }, cycleOutcome: { status: 'rolled_back', code: 'boot_check_failed' }, nextCycle: 'no-update' },
    powerCut: { runs: 'old', lastInstall: { status: 'rolled_back', code: 'boot_check_failed' }, nextCycle: 'no-update' },
  },
];

function describeOutcome(o: Outcome): string {
  const last = o.lastInstall === null ? 'no last_install' : `last_install ${o.lastInstall.status}${o.lastInstall.code === undefined ? '' : ` (${o.lastInstall.code})`}`;
  const cycle = o.cycleOutcome === undefined ? '' : `install ${o.cycleOutcome.status} (${o.cycleOutcome.code}), `;
  return `${cycle}runs the ${o.runs} image, ${last}, next cycle ${o.nextCycle}`;
}

let clock: FixedClock;
let repos: Repositories;
let recorder: ManifestRecorder;
let dir: string;
let car: SimulatedVehicle;
let net: AttackerFetcher;
/** The one fault to inject; it fires once, so the restart runs clean. */
const faults = new InstallFaults();

beforeEach(async () => {
  faults.reset();
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages([...Object.values(IMAGES).flatMap((i) => [i.good, i.failsBoot]), BIG]);
  recorder = await startManifestRecorder(() => repos.director.url);
  net = new AttackerFetcher(new HttpFetcher());
  dir = mkdtempSync(join(tmpdir(), 'uptane-crash-'));
  car = await registeredVehicle(repos, {
    directory: dir,
    vin: VIN,
    primary: { serial: PRIMARY, hardwareId: 'tcu-a' },
    secondaries: [{ serial: SECONDARY, hardwareId: 'ecm-x1' }],
    directorUrl: recorder.url,
    clock,
    fetcher: net,
    slots: { [PRIMARY]: { faultAt: faults.hook(PRIMARY) }, [SECONDARY]: { faultAt: faults.hook(SECONDARY) } },
  });
});

afterEach(async () => {
  await recorder.close();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

function slotsOf(serial: string): AbSlots {
  return serial === PRIMARY ? car.primary.slots : car.secondaries.get(serial)!.slots;
}

/** The report of `serial` in the last manifest the Director received. */
function lastReport(serial: string): EcuVersionReport {
  return recorder.manifests[recorder.manifests.length - 1]!.signed.ecu_version_reports[serial]!;
}

async function expectBootableAndVerified(serial: string, runs: string): Promise<void> {
  const slots = slotsOf(serial);
  expect(slots.current.trial).toBeNull();
  expect(await slots.isIntact(slots.current.active)).toBe(true);
  expect(slots.installed.filename).toBe(runs);
}

describe.each([
  ['secondary', SECONDARY],
  ['primary', PRIMARY],
])('crash matrix on the %s (%s)', (_kind, serial) => {
  describe.each(MATRIX.map((row) => [row.step, row] as const))('at %s', (step, row) => {
    const image = IMAGES[serial]![row.image];
    const expectedImage = (outcome: Outcome) => (outcome.runs === 'new' ? image.name : FACTORY[serial]!);

    /** The next cycle: the Director receives a report matching the slots, and the update ends as specified. */
    async function expectTruthfulNextCycle(outcome: Outcome): Promise<void> {
      const next = await car.primary.runCycle();
      const report = lastReport(serial).signed;
      expect(report.installed_image.filename).toBe(expectedImage(outcome));
      if (outcome.lastInstall === null) expect(report.last_install).toBeUndefined();
      else expect(report.last_install).toMatchObject({ filename: image.name, ...outcome.lastInstall });
      expect(next.status).toBe(outcome.nextCycle);
      // After it: the new image if the update went through in the end, else still the old one; and
      // with the new image, the old one stays intact in the other slot as the fallback.
      const updated = outcome.nextCycle === 'installed' || outcome.runs === 'new';
      await expectBootableAndVerified(serial, updated ? image.name : FACTORY[serial]!);
      if (updated) {
        const slots = slotsOf(serial);
        const fallback = slots.current.active === 'a' ? 'b' : 'a';
        expect(slots.current.slots[fallback]?.filename).toBe(FACTORY[serial]);
        expect(await slots.isIntact(fallback)).toBe(true);
      }
      // The Director recorded what the report said (the manifest is sent at the start of the cycle).
      const status = await repos.operator('GET', `/api/v1/vehicles/${VIN}`);
      const ecu = (status.json.ecus as Array<{ serial: string; installed: { filename: string } }>).find((e) => e.serial === serial)!;
      expect(ecu.installed.filename).toBe(expectedImage(outcome));
    }

    it(`injected error: ${describeOutcome(row.error)}`, async () => {
      await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: serial, image: image.name });
      faults.arm(serial, step, 'error');
      const result = await car.primary.runCycle();
      expect(faults.fired).toEqual([`${serial}:${step}:error`]);
      expect(result.status).toBe('failed');
      expect(result.outcomes[serial]).toMatchObject({ filename: image.name, ...row.error.cycleOutcome });
      await expectBootableAndVerified(serial, expectedImage(row.error));
      await expectTruthfulNextCycle(row.error);
    });

    it(`power cut, then restart: ${describeOutcome(row.powerCut)}`, async () => {
      await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: serial, image: image.name });
      faults.arm(serial, step, 'power-cut');
      await expect(car.primary.runCycle()).rejects.toBeInstanceOf(PowerCut);
      expect(faults.fired).toEqual([`${serial}:${step}:power-cut`]);
      await car.start(); // power comes back: every ECU reopens its folder and recovers
      await expectBootableAndVerified(serial, expectedImage(row.powerCut));
      await expectTruthfulNextCycle(row.powerCut);
    });
  });
});

describe('power cut during the primary download', () => {
  it('F6 the download resumes after the restart with a Range request from where it stopped', async () => {
    await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: PRIMARY, image: BIG.name });
    // The ECU dies mid-download, after the first MiB.
    const cutAt = net.cutFirstImageDownload(1024 * 1024, () => new PowerCut('stage-write'));
    await expect(car.primary.runCycle()).rejects.toBeInstanceOf(PowerCut);
    const bytesBeforeCut = cutAt();
    expect(bytesBeforeCut).toBeGreaterThan(0);
    expect(bytesBeforeCut).toBeLessThan(BIG.content.length);

    await car.start();
    const result = await car.primary.runCycle();
    expect(result.status).toBe('installed');
    const downloads = net.requests.filter((r) => r.kind === 'target');
    expect(downloads).toHaveLength(2);
    expect(downloads[0]).toMatchObject({ offset: 0, servedFrom: 0 });
    // The server answered the range: 206 from the offset the partial file ended at.
    expect(downloads[1]).toMatchObject({ offset: bytesBeforeCut, servedFrom: bytesBeforeCut });
    await expectBootableAndVerified(PRIMARY, BIG.name);
  });
});
