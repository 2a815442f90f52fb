// Attacks on tiered security profiles (docs/security-profiles.md): a compromised Director gives an
// ECU an image whose Image repository target demands a higher security profile than the ECU's. The
// Director's own refusal is bypassed (the attacker signs with its online keys); the primary, after
// full verification, reads the minimum from the Image repository's target and refuses before anything
// is downloaded or passed on. The scene's ECUs have the profiles provisioning gives by default: tcu-1
// and abs-1 (full verification) standard, ecm-1 (partial) basic. Played by
// test/attacks/security-profiles.test.ts and `uptane sim attack`.
import { directorTarget } from './attacker.js';
import { ABS, assign, ECM, IMAGES, img, PRIMARY, serveForgedDirector } from './scene.js';
import type { AttackScenario } from './scenario.js';
import type { FixtureImage } from '../harness/fleet-fixtures.js';
import { MINIMUM_PROFILE_FIELD, type SecurityProfile } from '../../shared/core/security-profile.js';

/** A genuine release of the Image repository that only ECUs of `minimum` or higher may install. */
const demanding = (name: string, text: string, hardwareId: string, releaseCounter: number, minimum: SecurityProfile): FixtureImage => ({
  ...img(name, text, [hardwareId], releaseCounter),
  custom: { [MINIMUM_PROFILE_FIELD]: minimum },
});

export const PROFILE_IMAGES = {
  ecmHigh: demanding('engine/ecm-9.0-high.bin', 'engine ecu v9 (high)', 'ecm-x1', 9, 'high'),
  ecmStandard: demanding('engine/ecm-8.0-standard.bin', 'engine ecu v8 (standard)', 'ecm-x1', 8, 'standard'),
  tcuHigh: demanding('tcu/tcu-9-high.bin', 'telematics v9 (high)', 'tcu-a', 9, 'high'),
  absHigh: demanding('brake/abs-9-high.bin', 'brake ecu v9 (high)', 'abs-z', 9, 'high'),
};

/**
 * The Image repository publishes `image` (honestly: its minimum is the OEM's), the honest operator
 * assigns ecm-2.0 to ecm-1, and the compromised Director's targets give `serial` `image` instead.
 */
function tooLow(name: string, title: string, serial: string, hardwareId: string, image: FixtureImage): AttackScenario {
  return {
    name,
    title,
    position: 'Director online keys',
    expected: { code: 'security_profile_too_low', detectedBy: PRIMARY, in: 'cycle' },
    // The test vector format describes no ECU profiles yet, so a replay could not stage the ECU's.
    vector: false,
    async stage(s) {
      await s.repos.publishImages([image]);
      await assign(s, ECM, IMAGES.ecm);
      serveForgedDirector(s, { targets: { [image.name]: directorTarget(image.content, { [serial]: hardwareId }, image.releaseCounter) } });
    },
  };
}

export const PROFILE_ATTACKS: readonly AttackScenario[] = [
  tooLow(
    'sp1-high-image-to-basic-partial-secondary',
    'SP1 a compromised Director gives a basic partial-verification secondary an image whose Image repository minimum is high: its primary refuses it for it',
    ECM,
    'ecm-x1',
    PROFILE_IMAGES.ecmHigh,
  ),
  tooLow(
    'sp1-standard-image-to-basic-partial-secondary',
    'SP1 a compromised Director gives a basic partial-verification secondary an image whose Image repository minimum is standard: refused',
    ECM,
    'ecm-x1',
    PROFILE_IMAGES.ecmStandard,
  ),
  tooLow(
    'sp1-high-image-to-standard-primary',
    'SP1 a compromised Director gives the standard primary an image whose Image repository minimum is high: the primary refuses it',
    PRIMARY,
    'tcu-a',
    PROFILE_IMAGES.tcuHigh,
  ),
  tooLow(
    'sp1-high-image-to-standard-full-secondary',
    'SP1 a compromised Director gives a standard full-verification secondary an image whose Image repository minimum is high: the primary refuses it before the secondary sees it (SP2: the secondary refuses too)',
    ABS,
    'abs-z',
    PROFILE_IMAGES.absHigh,
  ),
];
