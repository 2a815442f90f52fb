// Attacks by one compromised ECU (docs/uptane-conformance.md 8: a Primary or a Secondary, never
// both): here a secondary that holds its own key and says what it likes in its version report: a
// report for another image, a report that is not one, signed by another key, or flooded with attack
// reports. The primary drops what it cannot verify and records the attack (H5, H6), the cycle goes
// on, and the Director refuses the manifest that lacks the ECU, naming it. Played by
// test/attacks/compromised-ecu.test.ts and `uptane sim attack`.
import { MANIFEST_LIMITS, signEnvelope, type EcuVersionReport, type EcuVersionReportSigned } from '../../shared/uptane/manifest.js';
import { SimulatedVehicle } from '../vehicle.js';
import { attackerKey } from './attacker.js';
import { ABS, assign, ECM, honestCycle, IMAGES, PRIMARY, vehicleStatus, VIN, type AttackScene } from './scene.js';
import { observe, type AttackScenario, type Observation } from './scenario.js';

/** The compromised secondary's own key: what it signs is "genuine" as far as anyone can check. */
export const absKey = () => SimulatedVehicle.keyFor({ vin: VIN }, ABS);

/** ABS, compromised: every report it sends is `rewrite` of the genuine one, signed with its own key. */
export function compromiseAbs(s: AttackScene, rewrite: (genuine: EcuVersionReportSigned) => unknown): void {
  s.bus.on(ABS, {
    versionReport: async (genuine) => signEnvelope((rewrite((await genuine()).signed) ?? {}) as object, absKey()) as EcuVersionReport,
  });
}

interface ManifestRecord {
  readonly accepted: boolean;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
}

export const manifestsAtDirector = async (s: AttackScene): Promise<ManifestRecord[]> => (await vehicleStatus(s)).manifests as ManifestRecord[];

/**
 * H5: ABS's report (what `send` makes of the genuine one) is dropped by the primary, which records
 * `code`; the manifest without ABS is refused by the Director with the ECU named. The operator then
 * assigns the next honest update, which installs once ABS behaves, in a complete, accepted manifest
 * carrying the primary's `code`.
 */
function badReport(name: string, title: string, code: string, compromise: (s: AttackScene) => void, more?: (s: AttackScene) => Promise<readonly Observation[]>): AttackScenario {
  return {
    name,
    title,
    position: 'compromised secondary',
    expected: { code, detectedBy: PRIMARY, in: 'report' },
    vector: false,
    async stage(s) {
      await honestCycle(s, 'no-update'); // the vehicle's first metadata: the attack cycle changes none of it
      compromise(s);
    },
    async recover(s) {
      await assign(s, ECM, IMAGES.ecm);
    },
    also: {
      afterAttack: async (s, result) => {
        const [refused] = await manifestsAtDirector(s);
        return [
          observe('the cycle goes on', result.status, 'no-update'),
          observe(`the manifest the primary sent lacks ${ABS}'s report`, Object.keys(s.recorder.manifests.at(-1)!.signed.ecu_version_reports).sort(), [ECM, PRIMARY]),
          observe(`the Director refused it as manifest_inventory, naming ${ABS}`, [refused?.accepted, refused?.errorCode, refused?.errorMessage?.includes(ABS)], [false, 'manifest_inventory', true]),
        ];
      },
      afterHonest: async (s) => [observe('the next manifest is complete and accepted', (await manifestsAtDirector(s))[0]?.accepted, true), ...((await more?.(s)) ?? [])],
    },
  };
}

const CORRUPT: ReadonlyArray<readonly [name: string, what: string, send: () => Promise<EcuVersionReport>]> = [
  ['not-an-object', 'not an object at all', async () => 'garbage' as unknown as EcuVersionReport],
  ['no-signatures', 'an envelope without signatures', async () => ({ signed: {} }) as unknown as EcuVersionReport],
  [
    'no-installed-image',
    'signed with its own key but missing its installed image',
    async () => signEnvelope({ _type: 'ecu_version_report', ecu_serial: ABS, attacks_detected: [], report_time: '2026-06-01T00:00:00Z', report_counter: 99 }, absKey()) as unknown as EcuVersionReport,
  ],
];

const FLOODS: ReadonlyArray<readonly [name: string, what: string, count: number, text: string]> = [
  ['one-past-the-limit', 'one past the limit', MANIFEST_LIMITS.maxAttacks + 1, 'bus attack'],
  ['over-the-size-limit', 'thousands of long ones (a report over the manifest size limit)', 5000, 'x'.repeat(300)],
];

export const ECU_ATTACKS: readonly AttackScenario[] = [
  badReport('h5-report-claims-another-image', 'H5 a version report claiming another image under the genuine signature is dropped; the incomplete manifest is refused and the operator sees it', 'manifest_signature', (s) =>
    s.bus.on(ABS, {
      versionReport: async (genuine) => {
        const report = await genuine();
        return { ...report, signed: { ...report.signed, installed_image: { ...report.signed.installed_image, filename: IMAGES.abs.name } } };
      },
    }),
  ),
  badReport('h5-report-signed-by-another-key', 'H5 a version report signed by another key is dropped the same way', 'manifest_signature', (s) =>
    s.bus.on(ABS, { versionReport: async (genuine) => signEnvelope((await genuine()).signed, attackerKey) }),
  ),
  ...CORRUPT.map(([name, what, send]) =>
    badReport(`h5-corrupt-report-${name}`, `H5 (UR ATTACK_send_corrupt_manifest_to_primary) a report that is ${what} is dropped and reported; the cycle goes on`, 'malformed_metadata', (s) =>
      s.bus.on(ABS, { versionReport: send }),
    ),
  ),
  ...FLOODS.map(([name, what, count, text]) =>
    badReport(
      `h6-attacks-detected-flood-${name}`,
      `H6 a secondary that floods attacks_detected (${what}) is bounded: its report is dropped, nothing of it is stored`,
      'malformed_metadata',
      (s) => compromiseAbs(s, (genuine) => ({ ...genuine, attacks_detected: Array.from({ length: count }, (_, i) => ({ code: 'invented', message: `${text} ${i}` })) })),
      async (s) => {
        const attacks = (await vehicleStatus(s)).attacks as Array<{ code: string }>;
        return [
          observe('none of the invented attacks is stored', attacks.filter((a) => a.code === 'invented').length, 0),
          observe(`the operator sees at most ${MANIFEST_LIMITS.maxAttacks} attacks`, attacks.length <= MANIFEST_LIMITS.maxAttacks, true),
        ];
      },
    ),
  ),
];
