// Attacks on the in-vehicle bus between the primary and its secondaries
// (docs/uptane-conformance.md 8: man in the middle inside the vehicle): images and metadata
// altered, replayed, withheld or mixed on the way to the secondary, which verifies what it receives itself
// (#partial_verification, #full_verification on the bundle) and verifies the image in its inactive
// slot (#install). Played by test/attacks/in-vehicle-bus.test.ts and `uptane sim attack`.
import { join } from 'node:path';
import { SecondaryError } from '../../shared/core/errors.js';
import { digestBytes } from '../../shared/core/hashing.js';
import type { FixtureImage } from '../harness/fleet-fixtures.js';
import { attackerKey, directorOnlineKeys, directorTarget, forgeRepository, readAll, resign, streamOf, type BusTapRules } from './attacker.js';
import { ABS, assign, ECM, EVIL, flipFirstHexDigit, honestCycle, IMAGES, img, PRIMARY, vehicleStatus, verifyWhileDriving, VIN, type AttackScene } from './scene.js';
import { observe, type AttackerPosition, type AttackScenario } from './scenario.js';

/**
 * An attack on one secondary's bus link: the operator assigned it `image`, the vehicle verified and
 * downloaded it while driving, and the attacker's `rules` sit on that secondary's link when it parks.
 */
function onTheBus(
  name: string,
  title: string,
  serial: typeof ECM | typeof ABS,
  image: FixtureImage,
  code: string,
  rules: (s: AttackScene) => BusTapRules,
  position: AttackerPosition = 'in-vehicle bus',
): AttackScenario {
  return {
    name,
    title,
    position,
    expected: { code, detectedBy: serial, in: 'outcome' },
    vector: false,
    async stage(s) {
      await assign(s, serial, image);
      await verifyWhileDriving(s);
      s.bus.on(serial, rules(s));
    },
  };
}

export const BUS_ATTACKS: readonly AttackScenario[] = [
  onTheBus('g1-bus-image-modified', 'G1 a modified image sent to a partial-verification secondary is refused in its inactive slot', ECM, IMAGES.ecm, 'hash_mismatch', () => ({
    putImage: async (filename, body, inner) => inner.putImage(filename, streamOf(Buffer.from((await readAll(body)).toString().replace('v2', 'vX')))),
  })),
  onTheBus('f2-bus-image-extra-bytes', 'F2 an image with extra bytes sent to a full-verification secondary is cut off in its inactive slot', ABS, IMAGES.abs, 'download_length', () => ({
    putImage: async (filename, body, inner) => inner.putImage(filename, streamOf(Buffer.concat([await readAll(body), Buffer.from('!')]))),
  })),
  onTheBus('a8-bus-director-targets-wrong-key', 'A8 Director targets for a partial-verification secondary re-signed with a wrong key are refused', ECM, IMAGES.ecm, 'unmet_threshold', () => ({
    putMetadata: (bundle, inner) => {
      const name = Object.keys(bundle.director).find((n) => n.endsWith('.targets.json'))!;
      const forged = resign(Buffer.from(bundle.director[name]!, 'base64'), [attackerKey], (signed) => {
        (signed.targets as Record<string, unknown>)[IMAGES.ecm.name] = directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 2);
      });
      return inner.putMetadata({ ...bundle, director: { ...bundle.director, [name]: forged.toString('base64') } });
    },
  })),
  onTheBus('e1-bus-image-metadata-altered', 'E1 Image metadata altered on the bus for a full-verification secondary is refused', ABS, IMAGES.abs, 'hash_mismatch', () => ({
    putMetadata: (bundle, inner) => {
      const absSha = digestBytes(IMAGES.abs.content).sha256!;
      const image = { ...bundle.image! };
      const name = Object.keys(image).find((n) => n.endsWith('.targets.json'))!;
      image[name] = Buffer.from(flipFirstHexDigit(Buffer.from(image[name]!, 'base64').toString(), absSha)).toString('base64');
      return inner.putMetadata({ ...bundle, image });
    },
  })),
  onTheBus(
    'e7-bus-stolen-director-keys',
    'E7 stolen Director keys on the bus: a full-verification secondary refuses Director targets the Image repository does not back',
    ABS,
    IMAGES.abs,
    'target_mismatch',
    (s) => {
      const forged = forgeRepository(directorOnlineKeys(s.repos), join(s.dir, ABS), 'director', {
        targets: { [IMAGES.abs.name]: directorTarget(Buffer.from('brake ecu vX'), { [ABS]: 'abs-z' }, 7) },
        custom: { vin: VIN },
      });
      const forgedB64 = Object.fromEntries(Object.entries(forged).map(([file, bytes]) => [file, bytes.toString('base64')]));
      return { putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: { ...bundle.director, ...forgedB64 } }) };
    },
    'in-vehicle bus + Director online keys',
  ),
  onTheBus('h3-bus-image-not-assigned', 'H3 a secondary is sent an image it was not assigned', ECM, IMAGES.ecm, 'target_not_found', () => ({
    putImage: (_filename, _body, inner) => inner.putImage(IMAGES.abs.name, streamOf(IMAGES.abs.content)),
  })),
  {
    name: 'c8-bus-director-targets-replayed',
    title: 'C8 older Director targets replayed on the bus to a partial-verification secondary are refused',
    position: 'in-vehicle bus',
    expected: { code: 'rollback', detectedBy: ECM, in: 'outcome' },
    vector: false,
    async stage(s) {
      await assign(s, ECM, IMAGES.ecm);
      await honestCycle(s, 'installed');
      const first = s.bus.bundles.get(ECM)![0]!;
      await honestCycle(s, 'no-update');
      await assign(s, ECM, IMAGES.ecm3);
      await honestCycle(s, 'installed'); // the secondary now trusts newer Director targets
      await honestCycle(s, 'no-update');
      await assign(s, ECM, IMAGES.ecm4);
      await verifyWhileDriving(s);
      s.bus.on(ECM, { putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: first.director }) });
    },
  },
  {
    // The replayed file is the secondary's current one: no rollback, and it names the image the
    // secondary runs, so the secondary sees nothing to do. Only the primary, which verified the new
    // assignment itself, can tell that the answer contradicts the Director.
    name: 'd1-bus-secondary-frozen',
    title: 'D1 freeze on the bus: the secondary is kept on the Director targets it already trusts',
    position: 'in-vehicle bus',
    expected: { code: 'secondary_failed', detectedBy: PRIMARY, in: 'outcome', outcomeOf: ECM },
    vector: false,
    async stage(s) {
      await assign(s, ECM, IMAGES.ecm);
      await honestCycle(s, 'installed');
      const current = s.bus.bundles.get(ECM)![0]!;
      await honestCycle(s, 'no-update');
      await assign(s, ECM, IMAGES.ecm3);
      await verifyWhileDriving(s);
      s.bus.on(ECM, { putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: current.director }) });
    },
  },
  {
    // Uptane counts on one Director metadata set for the whole vehicle; this design has no atomic
    // install across ECUs, so ECM does install. The primary sees ABS verified other metadata than it
    // did, and the manifest shows the Director exactly which ECU runs what.
    name: 'mixed-bundles-bus',
    title:
      'mixed bundles: ABS is shown the previous bundle while ECM installs the new one: ABS stays as it was, the primary reports it, the Director sees the mix, the next cycle completes the bundle',
    position: 'in-vehicle bus',
    expected: { code: 'secondary_failed', detectedBy: PRIMARY, in: 'outcome', outcomeOf: ABS, installsAnyway: { [ECM]: IMAGES.ecm3.name } },
    vector: false,
    async stage(s) {
      await s.repos.publishImages([ABS8]);
      await assign(s, ECM, IMAGES.ecm);
      await assign(s, ABS, IMAGES.abs);
      await honestCycle(s, 'installed');
      const previous = s.bus.bundles.get(ABS)![0]!;
      await honestCycle(s, 'no-update');
      await assign(s, ECM, IMAGES.ecm3);
      await assign(s, ABS, ABS8);
      await verifyWhileDriving(s);
      s.bus.on(ABS, { putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: previous.director }) });
    },
    also: {
      afterHonest: async (s) => {
        const assignments = (await vehicleStatus(s)).assignments as Array<{ filename: string; state: string }>;
        return [
          observe('the next cycle completed the bundle', pick(s.car.installed(), [ECM, ABS]), { [ECM]: IMAGES.ecm3.name, [ABS]: ABS8.name }),
          observe(`the Director records ${IMAGES.ecm3.name} installed`, assignments.find((a) => a.filename === IMAGES.ecm3.name)?.state, 'installed'),
        ];
      },
    },
  },
  {
    name: 'e9-bus-image-never-arrives',
    title:
      'E9 partial bundle on the bus: the image for one secondary never arrives: the others install, that ECU keeps its image (a fault, not reported as an attack) and gets it next cycle',
    position: 'in-vehicle bus',
    expected: { code: 'secondary_failed', detectedBy: PRIMARY, in: 'outcome', outcomeOf: ABS, installsAnyway: { [ECM]: IMAGES.ecm.name } },
    // A dropped bus connection is what an outage looks like too (docs/threat-model.md F5).
    verdict: 'fault',
    vector: false,
    async stage(s) {
      await assign(s, ECM, IMAGES.ecm);
      await assign(s, ABS, IMAGES.abs);
      await verifyWhileDriving(s);
      s.bus.on(ABS, {
        putImage: async () => {
          throw new SecondaryError(`bus: the connection to ${ABS} dropped`);
        },
      });
    },
    also: {
      // The next manifest tells the Director the truth per ECU (it issues nothing new for ABS until then).
      afterAttack: async (s) => [observe(`${ABS} still runs its factory image`, s.car.installed()[ABS], 'factory/abs-z.bin')],
      afterHonest: async (s) => [observe('the next cycle delivered the missing image', pick(s.car.installed(), [ECM, ABS]), { [ECM]: IMAGES.ecm.name, [ABS]: IMAGES.abs.name })],
    },
  },
];

/** A newer brake image, for a bundle of two. */
const ABS8 = img('brake/abs-8.bin', 'brake ecu v8', ['abs-z'], 8);

const pick = (installed: Record<string, string>, serials: readonly string[]) => Object.fromEntries(serials.map((serial) => [serial, installed[serial]]));
