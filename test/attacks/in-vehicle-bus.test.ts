// Attacks on the in-vehicle bus between the primary and its secondaries
// (docs/uptane-conformance.md 8: man in the middle inside the vehicle): images and metadata
// altered, replayed, withheld or mixed on the way to the secondary, which verifies what it receives
// itself (#partial_verification, #full_verification on the bundle) and verifies the image in its
// inactive slot (#install).
import { join } from 'node:path';
import { SecondaryError } from '../../shared/core/errors.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { attackerKey, directorOnlineKeys, directorTarget, forgeRepository, installedImages, readAll, resign, streamOf, trustedState } from '../support/attacker.js';
import {
  ABS,
  assign,
  ECM,
  EVIL,
  expectAttackRejected,
  flipFirstHexDigit,
  honestCycle,
  IMAGES,
  img,
  PRIMARY,
  scene,
  useAttackScene,
  verifyWhileDriving,
  vehicleStatus,
  VIN,
} from '../support/attack-scene.js';

useAttackScene();

/** Every trusted-state file of one ECU (the keys of trustedState start with its serial). */
const stateOf = (serial: string) => Object.fromEntries(Object.entries(trustedState(scene().car)).filter(([path]) => path.startsWith(`${serial}/`)));

describe('in-vehicle bus between the primary and a secondary', () => {
  it('G1 a modified image sent to a partial-verification secondary is refused in its inactive slot', async () => {
    await assign(ECM, IMAGES.ecm);
    await verifyWhileDriving();
    scene().bus.on(ECM, {
      putImage: async (filename, body, inner) => inner.putImage(filename, streamOf(Buffer.from((await readAll(body)).toString().replace('v2', 'vX')))),
    });
    await expectAttackRejected({ code: 'hash_mismatch', detectedBy: ECM, in: 'outcome' });
  });

  it('F2 an image with extra bytes sent to a full-verification secondary is cut off in its inactive slot', async () => {
    await assign(ABS, IMAGES.abs);
    await verifyWhileDriving();
    scene().bus.on(ABS, { putImage: async (filename, body, inner) => inner.putImage(filename, streamOf(Buffer.concat([await readAll(body), Buffer.from('!')]))) });
    await expectAttackRejected({ code: 'download_length', detectedBy: ABS, in: 'outcome' });
  });

  it('A8 Director targets for a partial-verification secondary re-signed with a wrong key are refused', async () => {
    await assign(ECM, IMAGES.ecm);
    await verifyWhileDriving();
    scene().bus.on(ECM, {
      putMetadata: (bundle, inner) => {
        const name = Object.keys(bundle.director).find((n) => n.endsWith('.targets.json'))!;
        const forged = resign(Buffer.from(bundle.director[name]!, 'base64'), [attackerKey], (signed) => {
          (signed.targets as Record<string, unknown>)[IMAGES.ecm.name] = directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 2);
        });
        return inner.putMetadata({ ...bundle, director: { ...bundle.director, [name]: forged.toString('base64') } });
      },
    });
    await expectAttackRejected({ code: 'unmet_threshold', detectedBy: ECM, in: 'outcome' });
  });

  it('E1 Image metadata altered on the bus for a full-verification secondary is refused', async () => {
    await assign(ABS, IMAGES.abs);
    await verifyWhileDriving();
    const absSha = digestBytes(IMAGES.abs.content).sha256!;
    scene().bus.on(ABS, {
      putMetadata: (bundle, inner) => {
        const image = { ...bundle.image! };
        const name = Object.keys(image).find((n) => n.endsWith('.targets.json'))!;
        image[name] = Buffer.from(flipFirstHexDigit(Buffer.from(image[name]!, 'base64').toString(), absSha)).toString('base64');
        return inner.putMetadata({ ...bundle, image });
      },
    });
    await expectAttackRejected({ code: 'hash_mismatch', detectedBy: ABS, in: 'outcome' });
  });

  it('E7 stolen Director keys on the bus: a full-verification secondary refuses Director targets the Image repository does not back', async () => {
    const { repos, dir, bus } = scene();
    await assign(ABS, IMAGES.abs);
    await verifyWhileDriving();
    const forged = forgeRepository(directorOnlineKeys(repos), join(dir, ABS), 'director', {
      targets: { [IMAGES.abs.name]: directorTarget(Buffer.from('brake ecu vX'), { [ABS]: 'abs-z' }, 7) },
      custom: { vin: VIN },
    });
    const forgedB64 = Object.fromEntries(Object.entries(forged).map(([file, bytes]) => [file, bytes.toString('base64')]));
    bus.on(ABS, { putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: { ...bundle.director, ...forgedB64 } }) });
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: ABS, in: 'outcome' });
  });

  it('H3 a secondary is sent an image it was not assigned', async () => {
    await assign(ECM, IMAGES.ecm);
    await verifyWhileDriving();
    scene().bus.on(ECM, { putImage: (_filename, _body, inner) => inner.putImage(IMAGES.abs.name, streamOf(IMAGES.abs.content)) });
    await expectAttackRejected({ code: 'target_not_found', detectedBy: ECM, in: 'outcome' });
  });

  it('C8 older Director targets replayed on the bus to a partial-verification secondary are refused', async () => {
    const { bus } = scene();
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    const first = bus.bundles.get(ECM)![0]!;
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm3);
    await honestCycle('installed'); // the secondary now trusts newer Director targets
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm4);
    await verifyWhileDriving();
    bus.on(ECM, { putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: first.director }) });
    await expectAttackRejected({ code: 'rollback', detectedBy: ECM, in: 'outcome' });
  });

  it('D1 freeze on the bus: the secondary is kept on the Director targets it already trusts', async () => {
    // The replayed file is the secondary's current one: no rollback, and it names the image the
    // secondary runs, so the secondary sees nothing to do. Only the primary, which verified the new
    // assignment itself, can tell that the answer contradicts the Director.
    const { bus } = scene();
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    const current = bus.bundles.get(ECM)![0]!;
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm3);
    await verifyWhileDriving();
    bus.on(ECM, { putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: current.director }) });
    await expectAttackRejected({ code: 'secondary_failed', detectedBy: PRIMARY, in: 'outcome', outcomeOf: ECM });
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
