// docs/threat-model.md M21: factory fallback. Every ECU keeps its factory image in a recovery
// partition (slots/factory.img, with the length and hashes recorded at provisioning) that no update
// writes. A factory reset installs it through the normal verified path; when neither slot holds a
// verified image that boots (both corrupted, or both failing the boot check) the ECU falls back to it
// by itself at boot, across a power cut at every step of the fallback; a corrupted factory image is
// reported (factory_image_corrupted) and never copied or booted. The next manifest names the factory
// image as installed and the Director records it. Real files, the real primary and secondary, a real
// Director and Image repository on loopback.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbSlots, PowerCut, type InstallStep, type SlotName } from '../../shared/ecu/ab-slots.js';
import { FixedClock } from '../../shared/core/clock.js';
import { FactoryImageCorruptedError, NoFactoryImageError } from '../../shared/core/errors.js';
import type { EcuVersionReport } from '../../shared/uptane/manifest.js';
import type { SimulatedVehicle } from '../../sim/vehicle.js';
import { startManifestRecorder, type ManifestRecorder } from '../support/attacker.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

const VIN = 'VINFACTORY000001';
const PRIMARY = 'tcu-1';
const SECONDARY = 'ecm-1';
const FACTORY: Record<string, string> = { [PRIMARY]: 'factory/tcu-a.bin', [SECONDARY]: 'factory/ecm-x1.bin' };
const IMAGES: Record<string, { v2: FixtureImage; v3: FixtureImage }> = {
  [PRIMARY]: {
    v2: { name: 'tcu/tcu-5.bin', content: Buffer.from('telematics v5'), hardwareIds: ['tcu-a'], releaseCounter: 5 },
    v3: { name: 'tcu/tcu-6.bin', content: Buffer.from('telematics v6'), hardwareIds: ['tcu-a'], releaseCounter: 6 },
  },
  [SECONDARY]: {
    v2: { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 },
    v3: { name: 'engine/ecm-3.0.bin', content: Buffer.from('engine ecu v3'), hardwareIds: ['ecm-x1'], releaseCounter: 3 },
  },
};

let clock: FixedClock;
let repos: Repositories;
let recorder: ManifestRecorder;
let dir: string;
let car: SimulatedVehicle;
/** Images that no longer boot (the boot check fails for them). */
const brokenBoots = new Set<string>();
/** The one fault to inject; it fires once. */
let armed: { serial: string; step: InstallStep } | null;
const fired: string[] = [];

const slotOptions = (serial: string) => ({
  bootCheck: async (image: { filename: string }) => !brokenBoots.has(image.filename),
  faultAt: (step: InstallStep) => {
    if (armed === null || armed.serial !== serial || armed.step !== step) return;
    armed = null;
    fired.push(`${serial}:${step}`);
    throw new PowerCut(step);
  },
});

beforeEach(async () => {
  armed = null;
  fired.length = 0;
  brokenBoots.clear();
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages(Object.values(IMAGES).flatMap((i) => [i.v2, i.v3]));
  recorder = await startManifestRecorder(() => repos.director.url);
  dir = mkdtempSync(join(tmpdir(), 'uptane-factory-'));
  car = await registeredVehicle(repos, {
    directory: dir,
    vin: VIN,
    primary: { serial: PRIMARY, hardwareId: 'tcu-a' },
    secondaries: [{ serial: SECONDARY, hardwareId: 'ecm-x1' }],
    directorUrl: recorder.url,
    clock,
    slots: { [PRIMARY]: slotOptions(PRIMARY), [SECONDARY]: slotOptions(SECONDARY) },
  });
});

afterEach(async () => {
  await recorder.close();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

const slotsOf = (serial: string): AbSlots => (serial === PRIMARY ? car.primary.slots : car.secondaries.get(serial)!.slots);
const slotsDir = (serial: string) => join(dir, serial, 'slots');
const lastReport = (serial: string): EcuVersionReport => recorder.manifests[recorder.manifests.length - 1]!.signed.ecu_version_reports[serial]!;

async function install(serial: string, image: FixtureImage): Promise<void> {
  expect((await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: serial, image: image.name })).status).toBe(201);
  expect((await car.primary.runCycle()).status).toBe('installed');
  expect(slotsOf(serial).installed.filename).toBe(image.name);
  // The manifest goes at the start of a cycle: this one tells the Director the install happened.
  expect((await car.primary.runCycle()).status).toBe('no-update');
}

async function directorSees(serial: string): Promise<string> {
  const status = await repos.operator('GET', `/api/v1/vehicles/${VIN}`);
  return (status.json.ecus as Array<{ serial: string; installed: { filename: string } }>).find((e) => e.serial === serial)!.installed.filename;
}

/** Overwrites a slot's bytes in place (flash corruption, a tamperer): same length, other content. */
function corrupt(path: string): void {
  const bytes = readFileSync(path);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  writeFileSync(path, bytes);
}

/** Both slots installed and both then corrupted: slot a holds v3 (active), slot b v2. */
async function bothSlotsCorrupted(serial: string): Promise<void> {
  await install(serial, IMAGES[serial]!.v2);
  await install(serial, IMAGES[serial]!.v3);
  for (const slot of ['a', 'b'] as const) corrupt(join(slotsDir(serial), `slot-${slot}.img`));
}

async function expectRunsVerifiedFactory(serial: string): Promise<SlotName> {
  const slots = slotsOf(serial);
  expect(slots.installed.filename).toBe(FACTORY[serial]);
  expect(slots.current.trial).toBeNull();
  expect(await slots.isIntact(slots.current.active)).toBe(true);
  return slots.current.active;
}

describe.each([
  ['secondary', SECONDARY],
  ['primary', PRIMARY],
])('M21 factory fallback on the %s (%s)', (_kind, serial) => {
  it('provisioning writes the factory image into the recovery partition, and updates never write it', async () => {
    const factoryBytes = readFileSync(join(slotsDir(serial), 'factory.img'));
    const record = AbSlots.peek(slotsDir(serial)).factory;
    expect(record).toMatchObject({ filename: FACTORY[serial], length: factoryBytes.length });
    // Two installs overwrite both slots (slot a held the factory image).
    await install(serial, IMAGES[serial]!.v2);
    await install(serial, IMAGES[serial]!.v3);
    expect(AbSlots.peek(slotsDir(serial)).slots).toMatchObject({ a: { filename: IMAGES[serial]!.v3.name }, b: { filename: IMAGES[serial]!.v2.name } });
    expect(readFileSync(join(slotsDir(serial), 'factory.img')).equals(factoryBytes)).toBe(true);
    expect(AbSlots.peek(slotsDir(serial)).factory).toEqual(record);
  });

  it('a factory reset installs the factory image through the verified path; the next manifest reports it and the Director records it', async () => {
    await install(serial, IMAGES[serial]!.v2);
    const outcome = await slotsOf(serial).factoryReset();
    expect(outcome).toEqual({ filename: FACTORY[serial], status: 'installed' });
    await expectRunsVerifiedFactory(serial);
    await car.primary.runCycle();
    expect(lastReport(serial).signed).toMatchObject({ installed_image: { filename: FACTORY[serial] }, last_install: { filename: FACTORY[serial], status: 'installed' } });
    expect(await directorSees(serial)).toBe(FACTORY[serial]);
    // The Director can assign an image again, and it installs.
    await install(serial, IMAGES[serial]!.v3);
  });

  it('a corrupted factory image is refused by a factory reset, typed, and nothing changes', async () => {
    await install(serial, IMAGES[serial]!.v2);
    corrupt(join(slotsDir(serial), 'factory.img'));
    const stateBefore = readFileSync(join(slotsDir(serial), 'ab-state.json'));
    const slotsBefore = ['a', 'b'].map((s) => readFileSync(join(slotsDir(serial), `slot-${s}.img`)));
    const refused = slotsOf(serial).factoryReset();
    await expect(refused).rejects.toBeInstanceOf(FactoryImageCorruptedError);
    await expect(refused).rejects.toMatchObject({ code: 'factory_image_corrupted' });
    expect(readFileSync(join(slotsDir(serial), 'ab-state.json')).equals(stateBefore)).toBe(true);
    expect(['a', 'b'].map((s) => readFileSync(join(slotsDir(serial), `slot-${s}.img`)))).toEqual(slotsBefore);
    expect(slotsOf(serial).installed.filename).toBe(IMAGES[serial]!.v2.name);
  });

  it('an ECU provisioned before factory images refuses a reset with no_factory_image', async () => {
    const path = join(slotsDir(serial), 'ab-state.json');
    const { factory: _dropped, ...older } = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify(older));
    await car.start();
    await expect(slotsOf(serial).factoryReset()).rejects.toBeInstanceOf(NoFactoryImageError);
  });

  it('both slots corrupted: at boot the ECU falls back to the re-verified factory image, reports it, and the Director re-delivers its image', async () => {
    await bothSlotsCorrupted(serial);
    await car.start();
    await expectRunsVerifiedFactory(serial);
    expect(slotsOf(serial).current.integrityFault).toMatchObject({ slot: 'a', recovery: 'fallback', factory: true });
    const cycle = await car.primary.runCycle();
    const report = lastReport(serial).signed;
    expect(report.installed_image.filename).toBe(FACTORY[serial]);
    expect(report.integrity_fault).toMatchObject({ image: { filename: IMAGES[serial]!.v3.name }, recovery: 'fallback' });
    expect(report.attacks_detected.map((a) => a.code)).toEqual(['slot_corrupted']);
    expect(report.attacks_detected[0]!.message).toContain('the factory image, re-verified, was copied into slot b');
    // The Director saw the factory image and assigned the lost image again; this cycle installed it.
    expect(cycle.status).toBe('installed');
    expect(slotsOf(serial).installed.filename).toBe(IMAGES[serial]!.v3.name);
  });

  it('both slots corrupted and the factory image too: reported as factory_image_corrupted, never copied or booted', async () => {
    await bothSlotsCorrupted(serial);
    corrupt(join(slotsDir(serial), 'factory.img'));
    await car.start();
    const slots = slotsOf(serial);
    expect(slots.current.integrityFault).toMatchObject({ slot: 'a', recovery: 'reinstall' });
    expect(slots.current.active).toBe('a');
    expect(slots.current.slots.b?.filename).toBe(IMAGES[serial]!.v2.name); // the corrupted factory image was not copied there
    await car.primary.runCycle().catch(() => undefined);
    const codes = recorder.manifests.flatMap((m) => m.signed.ecu_version_reports[serial]?.signed.attacks_detected.map((a) => a.code) ?? []);
    expect(codes).toEqual(expect.arrayContaining(['slot_corrupted', 'factory_image_corrupted']));
    expect(lastReport(serial).signed.installed_image.filename).not.toBe(FACTORY[serial]);
  });

  it('both slots fail their boot check: at boot the ECU falls back to the factory image', async () => {
    await install(serial, IMAGES[serial]!.v2);
    await install(serial, IMAGES[serial]!.v3);
    // The slots still verify, but neither image boots any more.
    brokenBoots.add(IMAGES[serial]!.v2.name).add(IMAGES[serial]!.v3.name);
    await car.start();
    await expectRunsVerifiedFactory(serial);
    await car.primary.runCycle();
    expect(lastReport(serial).signed.installed_image.filename).toBe(FACTORY[serial]);
    expect(await directorSees(serial)).toBe(FACTORY[serial]);
  });

  it('only the active slot fails its boot check: the other slot\'s verified image runs, not the factory image', async () => {
    await install(serial, IMAGES[serial]!.v2);
    await install(serial, IMAGES[serial]!.v3);
    brokenBoots.add(IMAGES[serial]!.v3.name);
    await car.start();
    expect(slotsOf(serial).installed.filename).toBe(IMAGES[serial]!.v2.name);
  });

  describe.each(['stage-write', 'stage-verified', 'factory-restore', 'integrity-recover'] as const)('a power cut at %s of the fallback', (step) => {
    it('the next boot falls back to the factory image all the same', async () => {
      await bothSlotsCorrupted(serial);
      armed = { serial, step };
      await expect(car.start()).rejects.toBeInstanceOf(PowerCut);
      expect(fired).toEqual([`${serial}:${step}`]);
      await car.start();
      await expectRunsVerifiedFactory(serial);
      expect(slotsOf(serial).current.integrityFault).toMatchObject({ recovery: 'fallback', factory: true });
      await car.primary.runCycle();
      expect(lastReport(serial).signed.integrity_fault).toMatchObject({ recovery: 'fallback' });
    });
  });

  describe.each([
    ['stage-write', 'previous'],
    ['stage-verified', 'previous'],
    ['switch', 'previous'],
    ['boot-check', 'factory'],
    ['commit', 'factory'],
  ] as const)('a power cut at %s of a factory reset', (step, runs) => {
    it(`the ECU runs the ${runs} image, verified, after the restart`, async () => {
      await install(serial, IMAGES[serial]!.v2);
      armed = { serial, step };
      await expect(slotsOf(serial).factoryReset()).rejects.toBeInstanceOf(PowerCut);
      await car.start();
      const slots = slotsOf(serial);
      expect(slots.current.trial).toBeNull();
      expect(await slots.isIntact(slots.current.active)).toBe(true);
      if (runs === 'factory') {
        await expectRunsVerifiedFactory(serial);
        return;
      }
      expect(slots.installed.filename).toBe(IMAGES[serial]!.v2.name);
      expect((await slots.factoryReset()).status).toBe('installed');
      await expectRunsVerifiedFactory(serial);
    });
  });
});
