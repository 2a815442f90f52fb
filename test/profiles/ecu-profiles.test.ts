// The ECU side of security profiles (docs/security-profiles.md) when nobody attacks: an image with no
// minimum installs on every profile, one whose minimum an ECU meets installs on it (standard on high,
// basic on basic), every ECU's profile is provisioned where it is enforced and registered with the
// Director, and a profile the configuration cannot meet is refused at provisioning with what is
// missing. The refusals under attack are test/attacks/security-profiles.test.ts.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { StorageError } from '../../shared/core/errors.js';
import { MINIMUM_PROFILE_FIELD, type SecurityProfile } from '../../shared/core/security-profile.js';
import { ecuProfileShortfalls } from '../../shared/uptane/profile-check.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { Primary } from '../../primary-ecu/primary.js';
import { Secondary } from '../../secondary-ecu/secondary.js';
import { checkPlanProfiles, provisionEcus, provisionVehicleFolder, vehicleRegistration, type EcuSpec } from '../../vehicle/provision.js';
import { EncryptionKeyPair } from '../../shared/core/crypto/image-encryption.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { vehicleState } from '../../vehicle/folder.js';

const image = (name: string, hardwareId: string, releaseCounter: number, minimum?: SecurityProfile): FixtureImage => ({
  name,
  content: Buffer.from(`${name} (${minimum ?? 'any profile'})`),
  hardwareIds: [hardwareId],
  releaseCounter,
  ...(minimum === undefined ? {} : { custom: { [MINIMUM_PROFILE_FIELD]: minimum } }),
});

const IMAGES = {
  tcuAny: image('tcu/tcu-5.bin', 'tcu-a', 5),
  ecmAny: image('engine/ecm-2.0.bin', 'ecm-x1', 2),
  absAny: image('brake/abs-7.bin', 'abs-z', 7),
  tcuStandard: image('tcu/tcu-6-standard.bin', 'tcu-a', 6, 'standard'),
  ecmBasic: image('engine/ecm-3.0-basic.bin', 'ecm-x1', 3, 'basic'),
  absStandard: image('brake/abs-8-standard.bin', 'abs-z', 8, 'standard'),
};

const clock = new FixedClock(FIXTURE_NOW);
let repos: Repositories;
let work: string;
const keys = (serial: string) => ({ signing: PrivateKey.fromLabel(`profiles/${serial}`), encryption: EncryptionKeyPair.fromPrivateBytes(Buffer.alloc(32, serial.length + 1)) });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'uptane-profiles-'));
  repos = await startRepositories(clock, 'profiles');
  await repos.publishImages(Object.values(IMAGES));
}, 60_000);

afterAll(async () => {
  await repos.close();
  rmSync(work, { recursive: true, force: true });
});

async function vehicle(vin: string, profiles: { tcu: SecurityProfile; ecm: SecurityProfile; abs: SecurityProfile }): Promise<SimulatedVehicle> {
  const car = await SimulatedVehicle.create({
    directory: join(work, vin),
    vin,
    primary: { serial: `${vin}-tcu`, hardwareId: 'tcu-a', securityProfile: profiles.tcu },
    secondaries: [
      { serial: `${vin}-ecm`, hardwareId: 'ecm-x1', securityProfile: profiles.ecm },
      { serial: `${vin}-abs`, hardwareId: 'abs-z', verification: 'full', securityProfile: profiles.abs },
    ],
    directorUrl: repos.director.url,
    imageRepoUrl: repos.image.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    clock,
    seed: vin,
  });
  const registered = await repos.operator('POST', '/api/v1/vehicles', car.registration());
  expect(registered.status).toBe(201);
  return car;
}

async function assign(vin: string, ecuSerial: string, img: FixtureImage): Promise<void> {
  const answer = await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial, image: img.name });
  expect([answer.status, answer.json]).toEqual([201, expect.anything()]);
}

describe('an ECU installs what its profile allows', () => {
  it('an image with no minimum installs on every profile: a high primary, a basic partial secondary, a standard full secondary', async () => {
    const vin = 'VINPROFILES00001';
    const car = await vehicle(vin, { tcu: 'high', ecm: 'basic', abs: 'standard' });
    await assign(vin, `${vin}-tcu`, IMAGES.tcuAny);
    await assign(vin, `${vin}-ecm`, IMAGES.ecmAny);
    await assign(vin, `${vin}-abs`, IMAGES.absAny);
    const result = await car.primary.runCycle();
    expect([result.status, result.error]).toEqual(['installed', undefined]);
    expect(car.installed()).toEqual({ [`${vin}-tcu`]: IMAGES.tcuAny.name, [`${vin}-ecm`]: IMAGES.ecmAny.name, [`${vin}-abs`]: IMAGES.absAny.name });
  });

  it('an image whose minimum is standard installs on a high primary and a high full-verification secondary, one whose minimum is basic on a basic secondary', async () => {
    const vin = 'VINPROFILES00002';
    const car = await vehicle(vin, { tcu: 'high', ecm: 'basic', abs: 'high' });
    await assign(vin, `${vin}-tcu`, IMAGES.tcuStandard);
    await assign(vin, `${vin}-ecm`, IMAGES.ecmBasic);
    await assign(vin, `${vin}-abs`, IMAGES.absStandard);
    const result = await car.primary.runCycle();
    expect([result.status, result.error]).toEqual(['installed', undefined]);
    expect(car.installed()).toEqual({ [`${vin}-tcu`]: IMAGES.tcuStandard.name, [`${vin}-ecm`]: IMAGES.ecmBasic.name, [`${vin}-abs`]: IMAGES.absStandard.name });
    expect(car.primary.reportedAttacks).toEqual([]);
  });
});

describe('provisioning records each ECU profile, and refuses one its configuration cannot meet', () => {
  const plan = (secondaries: EcuSpec[], primary: EcuSpec = { serial: 'p-tcu', hardwareId: 'tcu-a' }) => ({
    vin: 'VINPROVISION0001',
    primary,
    secondaries,
    directorUrl: 'http://127.0.0.1:1',
    imageRepoUrl: 'http://127.0.0.1:2',
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
  });

  it('defaults: standard for an ECU that verifies fully, basic for a partial one; written where each ECU enforces it and in the registration', () => {
    const dir = join(work, 'defaults');
    const { config, registration } = provisionVehicleFolder(dir, plan([{ serial: 'p-ecm', hardwareId: 'ecm-x1' }, { serial: 'p-abs', hardwareId: 'abs-z', verification: 'full' }]), keys, '2026-12-06T00:00:00Z');
    expect([config.primary.securityProfile, ...config.secondaries.map((s) => s.securityProfile)]).toEqual(['standard', 'basic', 'standard']);
    expect(registration.ecus.map((e) => [e.serial, (e as { securityProfile?: string }).securityProfile])).toEqual([
      ['p-tcu', 'standard'],
      ['p-ecm', 'basic'],
      ['p-abs', 'standard'],
    ]);
    const primary = JSON.parse(readFileSync(join(dir, 'p-tcu', 'identity.json'), 'utf8')) as { securityProfile: string; secondaries: Record<string, { securityProfile: string }> };
    expect([primary.securityProfile, primary.secondaries['p-ecm']!.securityProfile, primary.secondaries['p-abs']!.securityProfile]).toEqual(['standard', 'basic', 'standard']);
    expect((JSON.parse(readFileSync(join(dir, 'p-abs', 'identity.json'), 'utf8')) as { securityProfile: string }).securityProfile).toBe('standard');
  });

  it('refuses standard or high on a partial-verification secondary, naming what is missing, and writes nothing', () => {
    for (const profile of ['standard', 'high'] as const) {
      const dir = join(work, `partial-${profile}`);
      expect(() => provisionEcus(dir, plan([{ serial: 'p-ecm', hardwareId: 'ecm-x1', securityProfile: profile }]), keys)).toThrow(
        `ECU p-ecm: profile ${profile} needs full verification (both repositories), and the ECU is provisioned for partial verification`,
      );
      expect(existsSync(dir)).toBe(false);
    }
    // basic on full verification is fine: a profile is a floor the ECU meets, not a ceiling.
    expect(() => checkPlanProfiles(plan([{ serial: 'p-abs', hardwareId: 'abs-z', verification: 'full', securityProfile: 'basic' }]), { signingKey: 'file', secureTime: false })).not.toThrow();
  });

  it('refuses high in a real vehicle folder (its ECU keys are files, its ECUs read the system clock); given no such facts, only verification is checked', () => {
    const dir = join(work, 'high');
    expect(() => provisionVehicleFolder(dir, plan([], { serial: 'p-tcu', hardwareId: 'tcu-a', securityProfile: 'high' }), keys, '2026-12-06T00:00:00Z')).toThrow(
      /ECU p-tcu: profile high needs the ECU's signing key held in hardware \(a PKCS#11 token\), and its key is a file \(ecu-key\.pem\); ECU p-tcu: profile high needs a secure time source, and the ECU reads its system clock/,
    );
    expect(existsSync(dir)).toBe(false);
    // What the code knows and what it does not: without the facts, only verification is checked.
    expect(ecuProfileShortfalls('high', { verification: 'full' })).toEqual([]);
    expect(ecuProfileShortfalls('high', { verification: 'full', signingKey: 'hardware', secureTime: true })).toEqual([]);
    expect(vehicleRegistration(plan([]), keys).ecus[0]).toMatchObject({ serial: 'p-tcu', securityProfile: 'standard' });
  });

  it('an ECU folder whose stored profile names no profile does not open (StorageError), rather than checking against a guess', async () => {
    const dir = join(work, 'damaged');
    provisionVehicleFolder(dir, plan([{ serial: 'p-abs', hardwareId: 'abs-z', verification: 'full' }]), keys, '2026-12-06T00:00:00Z');
    for (const serial of ['p-tcu', 'p-abs']) {
      const path = join(dir, serial, 'identity.json');
      writeFileSync(path, JSON.stringify({ ...(JSON.parse(readFileSync(path, 'utf8')) as object), securityProfile: 'ultra' }));
    }
    const runtime = { clock, vehicleState: vehicleState(dir) };
    await expect(Secondary.open(join(dir, 'p-abs'), runtime)).rejects.toThrow(StorageError);
    await expect(Primary.open(join(dir, 'p-tcu'), { ...runtime, secondaries: new Map() })).rejects.toThrow(/securityProfile "ultra" is not one of basic, standard, high/);
  });
});
