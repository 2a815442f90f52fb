// Attacks by a compromised Director: the attacker holds its online keys (copied from its data
// folder) and serves the vehicle metadata it signed (docs/uptane-conformance.md 8: "Director
// compromise alone cannot install unsigned software on full-verification ECUs"). The Image
// repository is honest; #full_verification step 10 and the Director-only checks of #check_targets
// stop each one. Played by test/attacks/compromised-director.test.ts and `uptane sim attack`.
import { attackerKey, directorTarget } from './attacker.js';
import { assign, ECM, EVIL, honestCycle, IMAGES, PRIMARY, serveForgedDirector, type AttackScene, type ForgedTargets } from './scene.js';
import type { AttackScenario } from './scenario.js';

/**
 * A compromised-Director attack: the honest operator assigned ecm-2.0 (what the honest Director
 * wants); the forged targets say otherwise.
 */
function forged(name: string, title: string, code: string, targets: ForgedTargets, before?: (s: AttackScene) => Promise<void>): AttackScenario {
  return {
    name,
    title,
    position: 'Director online keys',
    expected: { code, detectedBy: PRIMARY, in: 'cycle' },
    vector: true,
    async stage(s) {
      await assign(s, ECM, IMAGES.ecm);
      await before?.(s);
      serveForgedDirector(s, targets);
    },
  };
}

const toEcm = (content: Uint8Array, releaseCounter: number, hardwareId = 'ecm-x1') => directorTarget(content, { [ECM]: hardwareId }, releaseCounter);

export const DIRECTOR_ATTACKS: readonly AttackScenario[] = [
  forged('e7-image-not-in-image-repo', 'E7 arbitrary software: Director targets assign an image the Image repository does not list', 'target_not_found', {
    targets: { 'evil/payload.bin': toEcm(EVIL, 9) },
  }),
  forged('e7-known-name-other-hashes', 'E7/G1 arbitrary software: Director targets list a known image name with other hashes', 'target_mismatch', {
    targets: { [IMAGES.ecm.name]: toEcm(EVIL, 2) },
  }),
  // Both pieces are genuine: engine/ecm-4.0.bin is a real release, and the bytes of ecm-1.0 are a
  // real image. Only the Image repository's targets bind names to contents (step 10).
  forged(
    'ur3.4-newest-name-oldest-content',
    'UR §3.4 compromised Director key: the newest release name with the content of the oldest (mix-and-match of valid pieces) is stopped by the Image repository before any download',
    'target_mismatch',
    { targets: { [IMAGES.ecm4.name]: toEcm(IMAGES.ecmOld.content, 4) } },
  ),
  forged('e7-known-image-other-length', 'E7/F2 Director targets list a known image with another length (oversized target)', 'target_mismatch', {
    targets: { [IMAGES.ecm.name]: { ...toEcm(IMAGES.ecm.content, 2), length: 1_000_000 } },
  }),
  forged('g4-image-for-other-hardware', 'G4 Director targets give an ECU an image signed for other hardware', 'incompatible_hardware', {
    targets: { [IMAGES.abs.name]: toEcm(IMAGES.abs.content, 7) },
  }),
  forged('g4-ecu-given-other-hardware-id', 'G4 Director targets claim another hardware id for an ECU than the vehicle knows', 'incompatible_hardware', {
    targets: { [IMAGES.abs.name]: toEcm(IMAGES.abs.content, 7, 'abs-z') },
  }),
  forged(
    'c9-lower-release-counter',
    'C9 image rollback: Director targets assign an image with a lower release counter than installed',
    'image_rollback',
    { targets: { [IMAGES.ecmOld.name]: toEcm(IMAGES.ecmOld.content, 1) } },
    async (s) => {
      await honestCycle(s, 'installed'); // ecm-2.0, release counter 2
      await honestCycle(s, 'no-update');
      await assign(s, ECM, IMAGES.ecm3);
    },
  ),
  forged('g5-ecu-not-in-vehicle', 'G5 Director targets name an ECU that is not in the vehicle', 'director_targets', {
    targets: { [IMAGES.ecm.name]: directorTarget(IMAGES.ecm.content, { 'ghost-9': 'ecm-x1' }, 2) },
  }),
  forged('g6-same-ecu-twice', 'G6 Director targets list the same ECU twice', 'director_targets', {
    targets: { [IMAGES.ecm.name]: toEcm(IMAGES.ecm.content, 2), [IMAGES.ecm3.name]: toEcm(IMAGES.ecm3.content, 3) },
  }),
  forged('g7-director-targets-delegate', 'G7 Director targets that delegate are refused', 'director_targets', {
    targets: { [IMAGES.ecm.name]: toEcm(IMAGES.ecm.content, 2) },
    delegations: {
      keys: { [attackerKey.keyid]: attackerKey.publicKey.tuf },
      roles: [{ name: 'supplier', keyids: [attackerKey.keyid], threshold: 1, terminating: true, paths: ['*'] }],
    },
  }),
  forged('g5-targets-bound-to-another-vin', 'G5 Director targets bound to another VIN are refused', 'director_targets', {
    targets: { [IMAGES.ecm.name]: toEcm(IMAGES.ecm.content, 2) },
    custom: { vin: 'VINOTHER00000002' },
  }),
];
