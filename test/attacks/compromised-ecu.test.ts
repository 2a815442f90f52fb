// Attacks by one compromised ECU (docs/uptane-conformance.md 8: a Primary or a Secondary, never
// both): here a secondary that holds its own key and says what it likes in its version report: a
// report for another image, a report that is not one, signed by another key, replayed, or flooded
// with attack reports. The primary drops what it cannot verify (H5) and the Director refuses what
// its manifest checks refuse; neither can know what a validly signed report leaves out (last test).
// The attacks the primary detects are the catalogue's (sim/attacks/ecu-attacks.ts, the same
// `uptane sim attack` plays), each held to the five checks; the replay is the Director's to detect
// and no ECU reports it, and the last test is what the design cannot stop (test/attacks/README.md).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { compromiseAbs as compromise, ECU_ATTACKS, manifestsAtDirector as manifests } from '../../sim/attacks/ecu-attacks.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import { ABS, assign, expectChecksPassed, honestCycle, IMAGES, scene, useAttackScene, vehicleStatus } from '../support/attack-scene.js';

useAttackScene();

const compromiseAbs = (rewrite: Parameters<typeof compromise>[1]): void => compromise(scene(), rewrite);
const manifestsAtDirector = () => manifests(scene());

describe('compromised secondary', () => {
  it.each(ECU_ATTACKS.map((a) => [a.title, a] as const))('%s', async (_title, attack) => {
    expectChecksPassed(await playAttack(scene(), attack));
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
