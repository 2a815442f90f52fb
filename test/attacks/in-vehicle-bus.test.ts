// Attacks on the in-vehicle bus between the primary and its secondaries
// (docs/uptane-conformance.md 8: man in the middle inside the vehicle): images and metadata
// altered, replayed, withheld or mixed on the way to the secondary, which verifies what it receives
// itself (#partial_verification, #full_verification on the bundle) and verifies the image in its
// inactive slot (#install). The attacks held to the five checks alone are the catalogue's
// (sim/attacks/bus-attacks.ts, the same `uptane sim attack` plays); the two that check more are here.
import { SecondaryError } from '../../shared/core/errors.js';
import { BUS_ATTACKS } from '../../sim/attacks/bus-attacks.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import { installedImages, trustedState } from '../support/attacker.js';
import {
  ABS,
  assign,
  ECM,
  expectChecksPassed,
  honestCycle,
  IMAGES,
  img,
  PRIMARY,
  scene,
  useAttackScene,
  verifyWhileDriving,
  vehicleStatus,
} from '../support/attack-scene.js';

useAttackScene();

/** Every trusted-state file of one ECU (the keys of trustedState start with its serial). */
const stateOf = (serial: string) => Object.fromEntries(Object.entries(trustedState(scene().car)).filter(([path]) => path.startsWith(`${serial}/`)));

describe('in-vehicle bus between the primary and a secondary', () => {
  it.each(BUS_ATTACKS.map((a) => [a.title, a] as const))('%s', async (_title, attack) => {
    expectChecksPassed(await playAttack(scene(), attack));
  });

  it('mixed bundles: ABS is shown the previous bundle while ECM installs the new one: ABS stays as it was, the primary reports it, the Director sees the mix, the next cycle completes the bundle', async () => {
    // Uptane counts on one Director metadata set for the whole vehicle; this design has no atomic
    // install across ECUs, so ECM does install. The primary sees ABS verified other metadata than
    // it did, and the manifest shows the Director exactly which ECU runs what.
    const { repos, bus, car } = scene();
    const abs8 = img('brake/abs-8.bin', 'brake ecu v8', ['abs-z'], 8);
    await repos.publishImages([abs8]);
    await assign(ECM, IMAGES.ecm);
    await assign(ABS, IMAGES.abs);
    await honestCycle('installed');
    const previous = bus.bundles.get(ABS)![0]!;
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm3);
    await assign(ABS, abs8);
    await verifyWhileDriving();
    bus.on(ABS, { putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: previous.director }) });

    const absBefore = stateOf(ABS);
    const installedBefore = installedImages(car)[ABS];
    const result = await car.primary.runCycle();
    expect(result.status).toBe('failed');
    expect(result.outcomes[ECM]).toMatchObject({ status: 'installed', filename: IMAGES.ecm3.name });
    expect(result.outcomes[ABS]).toMatchObject({ status: 'failed', code: 'secondary_failed' });
    expect(stateOf(ABS)).toEqual(absBefore);
    expect(installedImages(car)[ABS]).toEqual(installedBefore);

    bus.clear();
    await honestCycle('installed'); // its manifest: ECM on ecm-3, ABS still on abs-7, and the primary's report
    expect(car.installed()).toMatchObject({ [ECM]: IMAGES.ecm3.name, [ABS]: abs8.name });
    const status = await vehicleStatus();
    expect(status.attacks).toEqual(expect.arrayContaining([expect.objectContaining({ ecuSerial: PRIMARY, code: 'secondary_failed' })]));
    const assignments = status.assignments as Array<{ ecuSerial: string; filename: string; state: string }>;
    expect(assignments.find((a) => a.filename === IMAGES.ecm3.name)).toMatchObject({ state: 'installed' });
  });

  it('E9 partial bundle on the bus: the image for one secondary never arrives: the others install, that ECU keeps its image and gets it next cycle', async () => {
    const { bus, car, recorder } = scene();
    await assign(ECM, IMAGES.ecm);
    await assign(ABS, IMAGES.abs);
    await verifyWhileDriving();
    bus.on(ABS, {
      putImage: async () => {
        throw new SecondaryError(`bus: the connection to ${ABS} dropped`);
      },
    });
    const absBefore = stateOf(ABS);
    const result = await car.primary.runCycle();
    expect(result.outcomes[ECM]).toMatchObject({ status: 'installed' });
    expect(result.outcomes[ABS]).toMatchObject({ status: 'failed', code: 'secondary_failed' });
    expect(stateOf(ABS)).toEqual(absBefore);
    expect(car.installed()[ABS]).toBe('factory/abs-z.bin');

    // The next manifest tells the Director the truth per ECU (it issues nothing new for ABS until
    // then), and the next cycle delivers the missing image.
    bus.clear();
    const sent = recorder.manifests.length;
    await honestCycle('installed');
    expect(recorder.manifests[sent]!.signed.ecu_version_reports[ABS]!.signed.installed_image.filename).toBe('factory/abs-z.bin');
    const ecus = (await vehicleStatus()).ecus as Array<{ serial: string; installed: { filename: string } }>;
    expect(Object.fromEntries(ecus.map((e) => [e.serial, e.installed.filename]))).toMatchObject({ [ECM]: IMAGES.ecm.name, [ABS]: 'factory/abs-z.bin' });
    expect(car.installed()).toMatchObject({ [ECM]: IMAGES.ecm.name, [ABS]: IMAGES.abs.name });
  });
});
