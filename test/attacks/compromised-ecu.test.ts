// Attacks by one compromised ECU (docs/uptane-conformance.md 8: a Primary or a Secondary, never
// both): here a secondary that holds its own key and says what it likes in its version report: a
// report for another image, a report that is not one, signed by another key, replayed, or flooded
// with attack reports. The primary drops what it cannot verify (H5) and the Director refuses what
// its manifest checks refuse; neither can know what a validly signed report leaves out (last test).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { signEnvelope, MANIFEST_LIMITS, type EcuVersionReport, type EcuVersionReportSigned } from '../../shared/uptane/manifest.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { attackerKey } from '../support/attacker.js';
import { ABS, assign, ECM, honestCycle, IMAGES, PRIMARY, scene, useAttackScene, vehicleStatus, VIN } from '../support/attack-scene.js';

useAttackScene();

/** The compromised secondary's own key: what it signs is "genuine" as far as anyone can check. */
const absKey = () => SimulatedVehicle.keyFor({ vin: VIN }, ABS);

/** ABS, compromised: every report it sends is `rewrite` of the genuine one, signed with its own key. */
function compromiseAbs(rewrite: (genuine: EcuVersionReportSigned) => unknown): void {
  scene().bus.on(ABS, {
    versionReport: async (genuine) => signEnvelope((rewrite((await genuine()).signed) ?? {}) as object, absKey()) as EcuVersionReport,
  });
}

interface ManifestRecord {
  readonly accepted: boolean;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
}

const manifestsAtDirector = async () => (await vehicleStatus()).manifests as ManifestRecord[];

/**
 * H5: the bad report was dropped, the incomplete manifest refused by the Director with the ECU named;
 * once ABS behaves, the next manifest is complete, accepted, and carries the primary's `code` for it.
 */
async function expectDroppedAndReported(code: string): Promise<void> {
  const { car, recorder, bus } = scene();
  const sent = recorder.manifests.length;
  const result = await car.primary.runCycle();
  expect(result).toMatchObject({ status: 'no-update', manifestSent: false }); // the cycle goes on
  expect(Object.keys(recorder.manifests[sent]!.signed.ecu_version_reports).sort()).toEqual([ECM, PRIMARY]);
  expect(car.primary.reportedAttacks).toEqual([expect.objectContaining({ code })]);
  const [refused] = await manifestsAtDirector();
  expect(refused).toMatchObject({ accepted: false, errorCode: 'manifest_inventory' });
  expect(refused!.errorMessage).toContain(ABS);

  bus.clear();
  await assign(ECM, IMAGES.ecm);
  await honestCycle('installed');
  expect((await vehicleStatus()).attacks).toEqual(expect.arrayContaining([expect.objectContaining({ ecuSerial: PRIMARY, code })]));
  expect((await manifestsAtDirector())[0]).toMatchObject({ accepted: true });
}

describe('compromised secondary', () => {
  it('H5 a corrupt version report is dropped; the incomplete manifest is refused and the operator sees it', async () => {
    // Claims another image under the genuine signature.
    scene().bus.on(ABS, {
      versionReport: async (genuine) => {
        const report = await genuine();
        return { ...report, signed: { ...report.signed, installed_image: { ...report.signed.installed_image, filename: IMAGES.abs.name } } };
      },
    });
    await expectDroppedAndReported('manifest_signature');
  });

  it('H5 a version report signed by another key is dropped the same way', async () => {
    scene().bus.on(ABS, { versionReport: async (genuine) => signEnvelope((await genuine()).signed, attackerKey) });
    await expectDroppedAndReported('manifest_signature');
  });

  const corrupt: ReadonlyArray<{ what: string; send: () => Promise<EcuVersionReport> }> = [
    { what: 'not an object at all', send: async () => 'garbage' as unknown as EcuVersionReport },
    { what: 'an envelope without signatures', send: async () => ({ signed: {} }) as unknown as EcuVersionReport },
    {
      what: 'signed with its own key but missing its installed image',
      send: async () => signEnvelope({ _type: 'ecu_version_report', ecu_serial: ABS, attacks_detected: [], report_time: '2026-06-01T00:00:00Z', report_counter: 99 }, absKey()) as unknown as EcuVersionReport,
    },
  ];

  it.each(corrupt)('H5 (UR ATTACK_send_corrupt_manifest_to_primary) a report that is $what is dropped and reported; the cycle goes on', async ({ send }) => {
    scene().bus.on(ABS, { versionReport: send });
    await expectDroppedAndReported('malformed_metadata');
  });

  it.each([
    { what: 'one past the limit', count: MANIFEST_LIMITS.maxAttacks + 1, text: 'bus attack' },
    { what: 'thousands of long ones (a report over the manifest size limit)', count: 5000, text: 'x'.repeat(300) },
  ])('H6 a secondary that floods attacks_detected ($what) is bounded: its report is dropped, nothing of it is stored', async ({ count, text }) => {
    compromiseAbs((genuine) => ({ ...genuine, attacks_detected: Array.from({ length: count }, (_, i) => ({ code: 'invented', message: `${text} ${i}` })) }));
    await expectDroppedAndReported('malformed_metadata');
    const attacks = (await vehicleStatus()).attacks as Array<{ ecuSerial: string; code: string }>;
    expect(attacks.filter((a) => a.code === 'invented')).toEqual([]);
    expect(attacks.length).toBeLessThanOrEqual(MANIFEST_LIMITS.maxAttacks);
  });

  it('replay of its own old version report: the Director refuses the manifest (report counter reused), and records nothing from it', async () => {
    const { recorder, car, bus } = scene();
    await honestCycle('no-update');
    const old = recorder.manifests.at(-1)!.signed.ecu_version_reports[ABS]!;
    const recordedBefore = ((await vehicleStatus()).ecus as Array<{ serial: string }>).find((e) => e.serial === ABS);
    bus.on(ABS, { versionReport: async () => old });
    expect(await car.primary.runCycle()).toMatchObject({ manifestSent: false });
    expect((await manifestsAtDirector())[0]).toMatchObject({ accepted: false, errorCode: 'replayed_report' });
    expect(((await vehicleStatus()).ecus as Array<{ serial: string }>).find((e) => e.serial === ABS)).toEqual(recordedBefore);

    bus.clear();
    await assign(ABS, IMAGES.abs);
    await honestCycle('installed');
    expect((await manifestsAtDirector())[0]).toMatchObject({ accepted: true });
  });
});

describe('what a compromised ECU can still do', () => {
  it('(limit) a secondary that reports a false installed image: the Director records what it says, and the vehicle believes it too', async () => {
    // A version report is the ECU's own word, signed with its own key: nobody else can see its
    // slot. The compromised ABS claims the assigned image the moment it is assigned, so the primary
    // never sends it, and the Director marks the assignment installed.
    // docs/uptane-conformance.md 9.2: ECU keys are replaced at a dealer; the OEM may spot such an
    // ECU in its manifest history (no download ever preceded it).
    const { car } = scene();
    await assign(ABS, IMAGES.abs);
    const claimed = { filename: IMAGES.abs.name, length: IMAGES.abs.content.length, hashes: { sha256: createHash('sha256').update(IMAGES.abs.content).digest('hex') } };
    compromiseAbs((genuine) => ({ ...genuine, installed_image: claimed }));
    expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    await honestCycle('no-update');

    const status = await vehicleStatus();
    const abs = (status.ecus as Array<{ serial: string; installed: { filename: string } }>).find((e) => e.serial === ABS)!;
    expect(abs.installed.filename).toBe(IMAGES.abs.name);
    expect((status.assignments as Array<{ ecuSerial: string; state: string }>).find((a) => a.ecuSerial === ABS)).toMatchObject({ state: 'installed' });
    // What ABS really runs: its factory image.
    const slots = car.secondaries.get(ABS)!.slots;
    expect(readFileSync(slots.slotPath(slots.current.active)).toString()).toBe('factory image of abs-z\n');
  });
});
