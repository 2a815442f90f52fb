// Attacks by a compromised Director: the attacker holds its online keys (copied from its data
// folder) and serves the vehicle metadata it signed (docs/uptane-conformance.md 8: "Director
// compromise alone cannot install unsigned software on full-verification ECUs"). The Image
// repository is honest; #full_verification step 10 and the Director-only checks of #check_targets
// stop each one. What a compromised Director CAN do (mix-and-match of valid images) is in
// limits.test.ts; key rotation after such a compromise in key-compromise.test.ts.
import { attackerKey, directorTarget } from '../support/attacker.js';
import {
  assign,
  ECM,
  EVIL,
  expectAttackRejected,
  honestCycle,
  IMAGES,
  PRIMARY,
  scene,
  serveForgedDirector,
  useAttackScene,
} from '../support/attack-scene.js';

useAttackScene();

describe('compromised Director (its online keys, served to the vehicle in the middle)', () => {
  beforeEach(async () => {
    await assign(ECM, IMAGES.ecm); // what the honest Director wants; the forged targets say otherwise
  });

  it('E7 arbitrary software: Director targets assign an image the Image repository does not list', async () => {
    serveForgedDirector({ targets: { 'evil/payload.bin': directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 9) } });
    await expectAttackRejected({ code: 'target_not_found', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('E7/G1 arbitrary software: Director targets list a known image name with other hashes', async () => {
    serveForgedDirector({ targets: { [IMAGES.ecm.name]: directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 2) } });
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('UR §3.4 compromised Director key: the newest release name with the content of the oldest (mix-and-match of valid pieces) is stopped by the Image repository before any download', async () => {
    // Both pieces are genuine: engine/ecm-4.0.bin is a real release, and the bytes of ecm-1.0 are
    // a real image. Only the Image repository's targets bind names to contents (step 10).
    const { net } = scene();
    serveForgedDirector({ targets: { [IMAGES.ecm4.name]: directorTarget(IMAGES.ecmOld.content, { [ECM]: 'ecm-x1' }, 4) } });
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' });
    const downloads = net.requests.filter((r) => r.kind === 'target').map((r) => r.file);
    expect(downloads).toEqual([expect.stringMatching(/\.ecm-2\.0\.bin$/)]); // only the honest update's
  });

  it('E7/F2 Director targets list a known image with another length (oversized target)', async () => {
    serveForgedDirector({ targets: { [IMAGES.ecm.name]: { ...directorTarget(IMAGES.ecm.content, { [ECM]: 'ecm-x1' }, 2), length: 1_000_000 } } });
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G4 Director targets give an ECU an image signed for other hardware', async () => {
    serveForgedDirector({ targets: { [IMAGES.abs.name]: directorTarget(IMAGES.abs.content, { [ECM]: 'ecm-x1' }, 7) } });
    await expectAttackRejected({ code: 'incompatible_hardware', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G4 Director targets claim another hardware id for an ECU than the vehicle knows', async () => {
    serveForgedDirector({ targets: { [IMAGES.abs.name]: directorTarget(IMAGES.abs.content, { [ECM]: 'abs-z' }, 7) } });
    await expectAttackRejected({ code: 'incompatible_hardware', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('C9 image rollback: Director targets assign an image with a lower release counter than installed', async () => {
    await honestCycle('installed'); // ecm-2.0, release counter 2
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm3);
    serveForgedDirector({ targets: { [IMAGES.ecmOld.name]: directorTarget(IMAGES.ecmOld.content, { [ECM]: 'ecm-x1' }, 1) } });
    await expectAttackRejected({ code: 'image_rollback', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G5 Director targets name an ECU that is not in the vehicle', async () => {
    serveForgedDirector({ targets: { [IMAGES.ecm.name]: directorTarget(IMAGES.ecm.content, { 'ghost-9': 'ecm-x1' }, 2) } });
    await expectAttackRejected({ code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G6 Director targets list the same ECU twice', async () => {
    serveForgedDirector({
      targets: {
        [IMAGES.ecm.name]: directorTarget(IMAGES.ecm.content, { [ECM]: 'ecm-x1' }, 2),
        [IMAGES.ecm3.name]: directorTarget(IMAGES.ecm3.content, { [ECM]: 'ecm-x1' }, 3),
      },
    });
    await expectAttackRejected({ code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G7 Director targets that delegate are refused', async () => {
    serveForgedDirector({
      targets: { [IMAGES.ecm.name]: directorTarget(IMAGES.ecm.content, { [ECM]: 'ecm-x1' }, 2) },
      delegations: {
        keys: { [attackerKey.keyid]: attackerKey.publicKey.tuf },
        roles: [{ name: 'supplier', keyids: [attackerKey.keyid], threshold: 1, terminating: true, paths: ['*'] }],
      },
    });
    await expectAttackRejected({ code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G5 Director targets bound to another VIN are refused', async () => {
    serveForgedDirector({ targets: { [IMAGES.ecm.name]: directorTarget(IMAGES.ecm.content, { [ECM]: 'ecm-x1' }, 2) }, custom: { vin: 'VINOTHER00000002' } });
    await expectAttackRejected({ code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' });
  });
});
