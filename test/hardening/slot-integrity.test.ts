// docs/threat-model.md HR-11b: an ECU re-verifies the image in its active slot against the length and
// hashes recorded at install, at boot and before a version report once the configured interval has
// passed. A byte flipped in the slot (size and mtime kept, so no file-metadata cache would notice)
// is reported (integrity_fault and a slot_corrupted entry), the ECU falls back to its other slot's
// verified image or, with none left, reports what the slot really holds and needs the image again;
// the Director shows it and re-delivers the image, and the vehicle's cycle reinstalls it. A power cut
// or a failed write at any step of the recovery leaves a bootable ECU whose reports tell the truth.
// Real files, a real vehicle, a real Image repository and Director on loopback.
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbSlots, PowerCut, type InstallStep, type IntegrityFault, type SlotName } from '../../shared/ecu/ab-slots.js';
import { FixedClock } from '../../shared/core/clock.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { digestFile } from '../../shared/client/file-hashing.js';
import { MalformedMetadataError, UnsafePathError } from '../../shared/core/errors.js';
import { parseEcuVersionReport, type EcuVersionReportSigned } from '../../shared/uptane/manifest.js';
import { slotStatus } from '../../vehicle/ecu-status.js';
import type { SimulatedVehicle } from '../../sim/vehicle.js';
import { startManifestRecorder, type ManifestRecorder } from '../support/attacker.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

const VIN = 'VINSLOTCHECK0001';
const PRIMARY = 'tcu-1';
const SECONDARY = 'ecm-1';
const FACTORY: Record<string, string> = { [PRIMARY]: 'factory/tcu-a.bin', [SECONDARY]: 'factory/ecm-x1.bin' };
const INTERVAL_MS = 10 * 60 * 1000;

/** Over 1 MiB, so the check reads them in more than one chunk; the flipped byte is in the last one. */
const IMAGES: Record<string, FixtureImage> = {
  [PRIMARY]: { name: 'tcu/tcu-5.bin', content: Buffer.alloc(1024 * 1024 + 100, 'telematics v5 '), hardwareIds: ['tcu-a'], releaseCounter: 5 },
  [SECONDARY]: { name: 'engine/ecm-2.0.bin', content: Buffer.alloc(1024 * 1024 + 100, 'engine ecu v2 '), hardwareIds: ['ecm-x1'], releaseCounter: 2 },
};

let clock: FixedClock;
let repos: Repositories;
let recorder: ManifestRecorder;
let dir: string;
let car: SimulatedVehicle;
/** The one fault to inject; it fires once, so the restart runs clean. */
let armed: { serial: string; step: InstallStep; kind: 'error' | 'power-cut' } | null;

const faultHook = (serial: string) => (step: InstallStep) => {
  if (armed === null || armed.serial !== serial || armed.step !== step) return;
  const { kind } = armed;
  armed = null;
  if (kind === 'power-cut') throw new PowerCut(step);
  throw Object.assign(new Error(`EIO: i/o error (injected at ${step})`), { code: 'EIO' });
};

interface CheckedEcu {
  readonly slots: AbSlots;
  checkSlotIntegrity(options?: { ifDue?: boolean }): Promise<IntegrityFault | null>;
}

const ecuOf = (serial: string): CheckedEcu => (serial === PRIMARY ? car.primary : car.secondaries.get(serial)!);
const slotsOf = (serial: string): AbSlots => ecuOf(serial).slots;
const sha256Of = (content: Buffer) => digestBytes(content, ['sha256']).sha256;

/** Flips one bit of the byte at `offset` in place: same size, and the mtime put back as it was. */
function flipByte(path: string, offset: number): void {
  const before = statSync(path);
  const fd = openSync(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0x01;
    writeSync(fd, byte, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
  // Seconds as a float keep the microseconds (a Date would round them to the millisecond).
  utimesSync(path, before.atimeMs / 1000, before.mtimeMs / 1000);
  const after = statSync(path);
  expect(after.size).toBe(before.size);
  expect(Math.abs(after.mtimeMs - before.mtimeMs)).toBeLessThan(0.001);
}

/** Corrupts the image in `slot` of `serial` (its last byte). */
function corrupt(serial: string, slot: SlotName): void {
  const path = slotsOf(serial).slotPath(slot);
  flipByte(path, statSync(path).size - 1);
}

/**
 * The ECU as provisioned before factory images were kept: with both slots corrupted no verified image
 * is left (with one, the ECU falls back to it: test/ecu/factory-fallback.test.ts, M21).
 */
async function withoutFactoryImage(serial: string): Promise<void> {
  const directory = slotsOf(serial).directory;
  const { factory: _none, ...older } = JSON.parse(readFileSync(join(directory, 'ab-state.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(directory, 'ab-state.json'), JSON.stringify(older));
  rmSync(join(directory, 'factory.img'));
  await car.start();
}

/** The report of `serial` in the last manifest the Director received. */
function lastReport(serial: string): EcuVersionReportSigned {
  return recorder.manifests[recorder.manifests.length - 1]!.signed.ecu_version_reports[serial]!.signed;
}

/** What the active slot of `serial` holds, measured from the file. */
async function activeContent(serial: string): Promise<{ length: number; hashes: Record<string, string> }> {
  const slots = slotsOf(serial);
  return digestFile(slots.slotPath(slots.current.active));
}

/** Runs a cycle and checks that the report it sent for `serial` is what the active slot held when it left. */
async function truthfulCycle(serial: string): Promise<Awaited<ReturnType<SimulatedVehicle['primary']['runCycle']>>> {
  const held = await activeContent(serial);
  const result = await car.primary.runCycle();
  const reported = lastReport(serial).installed_image;
  expect({ length: reported.length, hashes: reported.hashes }).toEqual(held);
  return result;
}

async function directorView(serial: string) {
  const status = await repos.operator('GET', `/api/v1/vehicles/${VIN}`);
  const ecu = (status.json.ecus as Array<{ serial: string; installed: { filename: string; hashes: Record<string, string> } | null }>).find((e) => e.serial === serial)!;
  const assignments = (status.json.assignments as Array<{ ecuSerial: string; filename: string; state: string; reason: string | null }>).filter((a) => a.ecuSerial === serial);
  const attacks = (status.json.attacks as Array<{ ecuSerial: string; code: string; message: string }>).filter((a) => a.ecuSerial === serial);
  return { installed: ecu.installed, assignments, attacks };
}

/** The assigned image installed and acknowledged by the Director: slot B active, the factory image in A. */
async function installAssigned(serial: string): Promise<void> {
  expect((await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: serial, image: IMAGES[serial]!.name })).status).toBe(201);
  expect((await car.primary.runCycle()).status).toBe('installed');
  expect((await car.primary.runCycle()).status).toBe('no-update');
  expect(slotsOf(serial).current.active).toBe('b');
  expect((await directorView(serial)).assignments.map((a) => a.state)).toEqual(['installed']);
}

/** After recovery: the assigned image runs again, verified, the fault is over, and the Director knows. */
async function expectReinstalled(serial: string): Promise<void> {
  const image = IMAGES[serial]!;
  const slots = slotsOf(serial);
  expect(slots.current.trial).toBeNull();
  expect(slots.installed.filename).toBe(image.name);
  expect(await slots.isIntact(slots.current.active)).toBe(true);
  expect(slots.current.integrityFault).toBeNull();
  const next = await truthfulCycle(serial);
  expect(next.status).toBe('no-update');
  expect(lastReport(serial).installed_image).toMatchObject({ filename: image.name, hashes: { sha256: sha256Of(image.content) } });
  expect(lastReport(serial).integrity_fault).toBeUndefined();
  const view = await directorView(serial);
  expect(view.installed).toMatchObject({ filename: image.name, hashes: { sha256: sha256Of(image.content) } });
  expect(view.assignments.every((a) => a.state === 'installed')).toBe(true);
  expect(view.assignments.length).toBe(2); // the operator's assignment, and the Director's re-delivery
}

describe('HR-11b on a vehicle against real servers', () => {
  beforeEach(async () => {
    armed = null;
    clock = new FixedClock(FIXTURE_NOW);
    repos = await startRepositories(clock);
    await repos.publishImages(Object.values(IMAGES));
    recorder = await startManifestRecorder(() => repos.director.url);
    dir = mkdtempSync(join(tmpdir(), 'uptane-slot-integrity-'));
    car = await registeredVehicle(repos, {
      directory: dir,
      vin: VIN,
      primary: { serial: PRIMARY, hardwareId: 'tcu-a' },
      secondaries: [{ serial: SECONDARY, hardwareId: 'ecm-x1' }],
      directorUrl: recorder.url,
      clock,
      slots: {
        [PRIMARY]: { faultAt: faultHook(PRIMARY), integrityCheckIntervalMs: INTERVAL_MS },
        [SECONDARY]: { faultAt: faultHook(SECONDARY), integrityCheckIntervalMs: INTERVAL_MS },
      },
    });
  });

  afterEach(async () => {
    await recorder.close();
    await repos.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe.each([
    ['secondary', SECONDARY],
    ['primary', PRIMARY],
  ])('slot integrity on the %s (%s)', (_kind, serial) => {
    const image = IMAGES[serial]!;

    it('a flipped byte in the active slot is found; the ECU falls back to the verified image of its other slot, reports it, and the Director re-delivers the image, which the same cycle reinstalls', async () => {
      await installAssigned(serial);
      corrupt(serial, 'b');

      const fault = await ecuOf(serial).checkSlotIntegrity();
      expect(fault).toMatchObject({ slot: 'b', recovery: 'fallback', image: { filename: image.name } });
      const slots = slotsOf(serial);
      expect(slots.current.active).toBe('a');
      expect(slots.installed.filename).toBe(FACTORY[serial]);
      expect(slots.current.slots.b).toBeNull(); // corrupted bytes are no fallback

      const result = await truthfulCycle(serial);
      const report = lastReport(serial);
      expect(report.installed_image.filename).toBe(FACTORY[serial]);
      expect(report.integrity_fault).toMatchObject({ image: { filename: image.name, hashes: { sha256: sha256Of(image.content) } }, recovery: 'fallback' });
      expect(report.attacks_detected.map((a) => a.code)).toContain('slot_corrupted');
      // The Director shows the fault and assigns the image again; the cycle that reported it reinstalls it.
      const view = await directorView(serial);
      expect(view.attacks).toEqual([expect.objectContaining({ code: 'slot_corrupted', message: expect.stringMatching(/active slot b no longer holds/) })]);
      expect(view.assignments[0]).toMatchObject({ filename: image.name, reason: expect.stringMatching(/^re-delivery: ECU .* corrupted/) });
      expect(result.status).toBe('installed');
      expect(result.outcomes[serial]).toMatchObject({ filename: image.name, status: 'installed' });
      await expectReinstalled(serial);
    });

    it('with no verified image left, the ECU never reports the corrupted image as installed: it reports what the slot holds, the Director re-delivers, and the cycle reinstalls', async () => {
      await installAssigned(serial);
      await withoutFactoryImage(serial);
      corrupt(serial, 'b');
      corrupt(serial, 'a'); // the fallback too

      const fault = await ecuOf(serial).checkSlotIntegrity();
      expect(fault).toMatchObject({ slot: 'b', recovery: 'reinstall' });
      const slots = slotsOf(serial);
      expect(slots.current.active).toBe('b');
      expect(slots.installed.filename).toBe(image.name);
      expect(slots.installed.hashes.sha256).not.toBe(sha256Of(image.content));
      // What `uptane vehicle status` reads from the folder says the same.
      expect(slotStatus(slots.directory)).toMatchObject({ installed: { sha256: slots.installed.hashes.sha256 }, integrityFault: { recovery: 'reinstall' } });

      const result = await truthfulCycle(serial);
      const report = lastReport(serial);
      expect(report.installed_image.hashes.sha256).not.toBe(sha256Of(image.content));
      expect(report.integrity_fault).toMatchObject({ image: { filename: image.name, hashes: { sha256: sha256Of(image.content) } }, recovery: 'reinstall' });
      expect(report.attacks_detected.map((a) => a.code)).toContain('slot_corrupted');
      const view = await directorView(serial);
      expect(view.installed?.hashes.sha256).toBe(report.installed_image.hashes.sha256);
      expect(view.attacks.map((a) => a.code)).toEqual(['slot_corrupted']);
      expect(result.status).toBe('installed');
      // Reinstalled into slot A; slot B, whose bytes were corrupted, is recorded as holding nothing.
      expect(slotsOf(serial).current.active).toBe('a');
      expect(slotsOf(serial).current.slots.b).toBeNull();
      await expectReinstalled(serial);
    });

    it('while it waits for the image, the ECU reports the slot as it is at each check, without reporting the fault twice', async () => {
      await installAssigned(serial);
      await withoutFactoryImage(serial);
      corrupt(serial, 'b');
      corrupt(serial, 'a');
      expect(await ecuOf(serial).checkSlotIntegrity()).toMatchObject({ recovery: 'reinstall' });
      car.state.set('driving'); // the re-delivered image waits
      expect((await truthfulCycle(serial)).status).toBe('deferred');
      const path = slotsOf(serial).slotPath('b');
      flipByte(path, 0); // the slot changes again
      expect(await ecuOf(serial).checkSlotIntegrity()).toBeNull(); // not a new fault
      expect((await truthfulCycle(serial)).status).toBe('deferred');
      expect(lastReport(serial).attacks_detected).toEqual([]);
      expect(lastReport(serial).integrity_fault).toMatchObject({ recovery: 'reinstall' });
      expect((await directorView(serial)).attacks.map((a) => a.code)).toEqual(['slot_corrupted']);
      car.state.set('parked');
      expect((await truthfulCycle(serial)).status).toBe('installed');
      await expectReinstalled(serial);
    });

    it('the check runs at boot: a slot corrupted while the ECU was off is found when it starts', async () => {
      await installAssigned(serial);
      corrupt(serial, 'b');
      await car.start();
      expect(slotsOf(serial).installed.filename).toBe(FACTORY[serial]);
      expect(slotsOf(serial).current.integrityFault).toMatchObject({ recovery: 'fallback' });
      const result = await truthfulCycle(serial);
      expect(lastReport(serial).integrity_fault).toMatchObject({ recovery: 'fallback' });
      expect(result.status).toBe('installed');
      await expectReinstalled(serial);
    });

    it('a running ECU re-checks before its version report once the configured interval has passed', async () => {
      await installAssigned(serial);
      corrupt(serial, 'b');
      // Checked at start-up, less than the interval ago: the report goes without a re-hash (the cost bound).
      await car.primary.runCycle();
      expect(lastReport(serial).integrity_fault).toBeUndefined();
      clock.advance(INTERVAL_MS);
      const result = await car.primary.runCycle();
      expect(lastReport(serial).integrity_fault).toMatchObject({ recovery: 'fallback' });
      expect(lastReport(serial).installed_image.filename).toBe(FACTORY[serial]);
      expect(result.status).toBe('installed');
      await expectReinstalled(serial);
    });

    it('a factory image found corrupted, with nothing ever assigned: reported, and not re-delivered by the Director, which has nothing to re-deliver', async () => {
      await withoutFactoryImage(serial);
      corrupt(serial, 'a');
      expect(await ecuOf(serial).checkSlotIntegrity()).toMatchObject({ recovery: 'reinstall', image: { filename: FACTORY[serial] } });
      const result = await truthfulCycle(serial);
      expect(result.status).toBe('no-update');
      expect(lastReport(serial).integrity_fault).toMatchObject({ recovery: 'reinstall' });
      const view = await directorView(serial);
      expect(view.attacks.map((a) => a.code)).toEqual(['slot_corrupted']);
      expect(view.assignments).toEqual([]);
      // An operator's assignment then installs into the other slot, and the fault is over.
      expect((await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: serial, image: image.name })).status).toBe(201);
      expect((await truthfulCycle(serial)).status).toBe('installed');
      expect(slotsOf(serial).current.integrityFault).toBeNull();
      expect(slotsOf(serial).current.slots.a).toBeNull();
    });

    describe.each([
      ['fallback', ['b']],
      ['reinstall', ['b', 'a']],
    ] as const)('crash safety of the recovery (%s)', (recovery, corrupted) => {
      beforeEach(async () => {
        await installAssigned(serial);
        if (recovery === 'reinstall') await withoutFactoryImage(serial);
        for (const slot of corrupted) corrupt(serial, slot);
      });

      it('a power cut while the recovery is written: the restart finds the fault again and recovers; the reports tell the truth', async () => {
        armed = { serial, step: 'integrity-recover', kind: 'power-cut' };
        await expect(ecuOf(serial).checkSlotIntegrity()).rejects.toBeInstanceOf(PowerCut);
        expect(AbSlots.peek(slotsOf(serial).directory)).toMatchObject({ active: 'b' }); // nothing written
        await car.start();
        expect(slotsOf(serial).current.integrityFault).toMatchObject({ recovery });
        const result = await truthfulCycle(serial);
        expect(lastReport(serial).integrity_fault).toMatchObject({ recovery });
        expect(result.status).toBe('installed');
        await expectReinstalled(serial);
      });

      it('the recovery cannot be written: the running ECU reports it truthfully all the same, and the next boot writes it', async () => {
        armed = { serial, step: 'integrity-recover', kind: 'error' };
        expect(await ecuOf(serial).checkSlotIntegrity()).toMatchObject({ recovery });
        expect(AbSlots.peek(slotsOf(serial).directory)).toMatchObject({ active: 'b', integrityFault: null }); // the write failed
        expect(slotsOf(serial).current.integrityFault).toMatchObject({ recovery }); // held in memory
        // Driving: the cycle reports, and the re-delivered image waits, so the restart below meets the
        // slots as the failed write left them.
        car.state.set('driving');
        expect((await truthfulCycle(serial)).status).toBe('deferred');
        expect(lastReport(serial).integrity_fault).toMatchObject({ recovery });
        await car.start();
        expect(AbSlots.peek(slotsOf(serial).directory).integrityFault).toMatchObject({ recovery });
        car.state.set('parked');
        expect((await truthfulCycle(serial)).status).toBe('installed');
        await expectReinstalled(serial);
      });

      it.each(['stage-write', 'switch', 'boot-check', 'commit'] as const)('a power cut at %s of the reinstall: after the restart the ECU reports the truth and ends on the assigned image', async (step) => {
        await ecuOf(serial).checkSlotIntegrity();
        armed = { serial, step, kind: 'power-cut' };
        const held = await activeContent(serial);
        await expect(car.primary.runCycle()).rejects.toBeInstanceOf(PowerCut);
        expect(lastReport(serial).installed_image).toMatchObject({ length: held.length, hashes: held.hashes });
        expect(armed).toBeNull();
        await car.start();
        const slots = slotsOf(serial);
        expect(slots.current.trial).toBeNull();
        // Either the install went through (the restart committed it), or the ECU is where the recovery left it.
        if (slots.installed.filename === image.name && slots.current.integrityFault === null) {
          expect(await slots.isIntact(slots.current.active)).toBe(true);
        } else {
          expect(slots.current.integrityFault).toMatchObject({ recovery });
          expect((await truthfulCycle(serial)).status).toBe('installed');
        }
        await expectReinstalled(serial);
      });
    });
  });
});

describe('integrity_fault in a version report (parsing, as the primary and the Director do)', () => {
  const image = { filename: 'engine/ecm-2.0.bin', length: 13, hashes: { sha256: 'ab'.repeat(32) } };
  const report = (extra: Record<string, unknown>) => ({
    signed: { _type: 'ecu_version_report', ecu_serial: 'ecm-1', installed_image: image, attacks_detected: [], report_time: '2026-06-01T00:00:00Z', report_counter: 3, ...extra },
    signatures: [{ keyid: 'k', sig: 's' }],
  });

  it('a report without it (an ECU from before) still parses, and one with it keeps it', () => {
    expect(parseEcuVersionReport(report({})).signed.integrity_fault).toBeUndefined();
    const fault = { image, recovery: 'reinstall', detected_at: '2026-06-01T00:00:00Z' };
    expect(parseEcuVersionReport(report({ integrity_fault: fault })).signed.integrity_fault).toEqual(fault);
  });

  it.each([
    ['not an object', 'corrupted', MalformedMetadataError],
    ['an unknown recovery', { image, recovery: 'ignore', detected_at: '2026-06-01T00:00:00Z' }, MalformedMetadataError],
    ['an image without hashes', { image: { ...image, hashes: {} }, recovery: 'fallback', detected_at: '2026-06-01T00:00:00Z' }, MalformedMetadataError],
    ['an unsafe image name', { image: { ...image, filename: '../x.bin' }, recovery: 'fallback', detected_at: '2026-06-01T00:00:00Z' }, UnsafePathError],
    ['a time that is not one', { image, recovery: 'fallback', detected_at: 'yesterday' }, MalformedMetadataError],
  ] as const)('a malformed one (%s) is refused with a typed error', (_what, fault, error) => {
    expect(() => parseEcuVersionReport(report({ integrity_fault: fault }))).toThrow(error);
  });
});
