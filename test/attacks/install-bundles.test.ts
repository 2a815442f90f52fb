// Attacks on install bundles (docs/threat-model.md M30-M32; docs/decisions.md "Install bundles"):
// a bundle for another vehicle, a bundle pinning another image for one ECU, one member's image
// swapped on the bus, a finished bundle replayed, and a lone install of a member. Each is refused
// with its typed code before any member switches, nothing is installed on any member of the
// bundle, the attack is reported, and the next honest bundle installs.
import { digestBytes } from '../../shared/core/hashing.js';
import { FAIL_BOOT_MARKER } from '../../shared/ecu/ab-slots.js';
import type { TargetFile } from '../../shared/core/metadata/types.js';
import { INSTALL_BUNDLE_FIELD } from '../../shared/uptane/install-bundle.js';
import { directorTarget, streamOf } from '../support/attacker.js';
import { ABS, ECM, expectAttackRejected, expectCycleRejected, expectReportedThenHonestUpdate, IMAGES, img, PRIMARY, scene, serveForgedDirector, useAttackScene, vehicleStatus, VIN } from '../support/attack-scene.js';

useAttackScene();

/** The bundle an honest operator makes: the primary and both secondaries, all or none. */
const MEMBERS = { [PRIMARY]: IMAGES.tcu, [ECM]: IMAGES.ecm, [ABS]: IMAGES.abs } as const;
const HARDWARE: Readonly<Record<string, string>> = { [PRIMARY]: 'tcu-a', [ECM]: 'ecm-x1', [ABS]: 'abs-z' };

async function honestBundle(members: Readonly<Record<string, { name: string }>> = MEMBERS): Promise<number> {
  const answer = await scene().repos.operator('POST', '/api/v1/install-bundles', { vin: VIN, members: Object.entries(members).map(([ecuSerial, image]) => ({ ecuSerial, image: image.name })) });
  expect(answer.status).toBe(201);
  return answer.json.id as number;
}

/** The Director targets of MEMBERS as a compromised Director (stolen online keys) would sign them, with `bundle` as the install bundle. */
function forgedBundle(bundle: Record<string, unknown>): void {
  const targets: Record<string, TargetFile> = {};
  for (const [serial, image] of Object.entries(MEMBERS)) targets[image.name] = directorTarget(image.content, { [serial]: HARDWARE[serial]! }, image.releaseCounter);
  serveForgedDirector({ targets, custom: { vin: VIN, [INSTALL_BUNDLE_FIELD]: bundle } });
}

const pinned = (members: Readonly<Record<string, { name: string; content: Buffer }>>) =>
  Object.fromEntries(Object.entries(members).map(([serial, image]) => [serial, { filename: image.name, sha256: digestBytes(image.content).sha256 }]));

describe('install bundles under attack', () => {
  it("M30 a bundle for another vehicle is refused whole (install_bundle_wrong_vehicle): no member installs, the primary reports it", async () => {
    const id = await honestBundle();
    forgedBundle({ id: `ib-${id}`, vin: 'VINOTHER00000001', ecus: pinned(MEMBERS) });
    await expectAttackRejected({ code: 'install_bundle_wrong_vehicle', detectedBy: PRIMARY, in: 'cycle' });
  });

  it("M30 a bundle pinning another image for one ECU than its targets entry is refused whole (install_bundle_invalid)", async () => {
    const id = await honestBundle();
    // The ECM's entry in the targets is IMAGES.ecm; the bundle pins another build for it.
    forgedBundle({ id: `ib-${id}`, vin: VIN, ecus: pinned({ ...MEMBERS, [ECM]: IMAGES.ecm3 }) });
    await expectAttackRejected({ code: 'install_bundle_invalid', detectedBy: PRIMARY, in: 'cycle' });
  });

  it("M30 one member's image swapped on the bus is refused by that ECU (hash_mismatch) before any member switches", async () => {
    await honestBundle();
    // abs-1 is the first member the primary stages: a swapped image there leaves no other member staged.
    const evil = Buffer.alloc(IMAGES.abs.content.length, 'x');
    scene().bus.on(ABS, { putImage: (filename, _body, inner) => inner.putImage(filename, streamOf(evil)) });
    // The primary trusts the Director's valid metadata it verified; only the image on the bus was swapped.
    const result = await expectCycleRejected({ code: 'hash_mismatch', detectedBy: ABS, in: 'outcome', trustsValidMetadata: [PRIMARY] });
    expect(result.status).toBe('failed');
    // No member was ever switched: no ECU reports an install outcome for the bundle.
    for (const serial of [PRIMARY, ECM, ABS]) expect((serial === PRIMARY ? scene().car.primary.slots : scene().car.secondaries.get(serial)!.slots).current.lastInstall).toBeNull();
    await expectReportedThenHonestUpdate({ code: 'hash_mismatch', detectedBy: ABS });
  });

  it('M31 a bundle the vehicle rolled back, offered again with a newer targets version, is refused (install_bundle_replayed)', async () => {
    const fails = img('tcu/tcu-6.bin', `${FAIL_BOOT_MARKER} telematics v6`, ['tcu-a'], 6);
    await scene().repos.publishImages([fails]);
    const first = await honestBundle({ [PRIMARY]: fails, [ECM]: IMAGES.ecm });
    expect((await scene().car.primary.runCycle()).status).toBe('failed'); // the primary fails its boot check: all back
    expect((await scene().car.primary.runCycle()).status).toBe('no-update'); // the Director hears it
    expect((await scene().repos.operator('GET', `/api/v1/install-bundles/${first}`)).json).toMatchObject({ state: 'rolled_back', failingEcu: PRIMARY });
    // The attacker replays that bundle (the same id and members) in targets signed with stolen keys.
    const targets: Record<string, TargetFile> = {
      [fails.name]: directorTarget(fails.content, { [PRIMARY]: 'tcu-a' }, fails.releaseCounter),
      [IMAGES.ecm.name]: directorTarget(IMAGES.ecm.content, { [ECM]: 'ecm-x1' }, IMAGES.ecm.releaseCounter),
    };
    serveForgedDirector({ targets, custom: { vin: VIN, [INSTALL_BUNDLE_FIELD]: { id: `ib-${first}`, vin: VIN, ecus: pinned({ [PRIMARY]: fails, [ECM]: IMAGES.ecm }) } } });
    // What the honest update installs once the attacker is gone (another ECM build: the ECM's report
    // still names ecm-2.0 as rolled back, which would fail a new assignment of that same image).
    await honestBundle({ ...MEMBERS, [ECM]: IMAGES.ecm3 });
    await expectCycleRejected({ code: 'install_bundle_replayed', detectedBy: PRIMARY, in: 'cycle' });
    await expectReportedThenHonestUpdate({ code: 'install_bundle_replayed', detectedBy: PRIMARY });
  });

  it('M32 a bundle member refuses a lone install and a trial for another bundle (install_bundle_order), and reports it', async () => {
    const { car } = scene();
    const id = await honestBundle();
    // The primary verifies and downloads while driving; nothing is handed to a secondary yet.
    car.state.set('driving');
    expect((await car.primary.runCycle()).status).toBe('deferred');
    car.state.set('parked');
    // A compromised primary hands the ECM its metadata and image, then installs it alone.
    const ecm = car.secondaries.get(ECM)!;
    await ecm.putMetadata(car.primary.metadataBundle());
    await ecm.putImage(IMAGES.ecm.name, streamOf(IMAGES.ecm.content));
    await expect(ecm.install()).rejects.toMatchObject({ code: 'install_bundle_order' });
    await expect(ecm.beginTrial('ib-999')).rejects.toMatchObject({ code: 'install_bundle_order' });
    expect(ecm.slots.installed.filename).toBe('factory/ecm-x1.bin');
    expect(ecm.slots.current.trial).toBeNull();
    // The honest primary then installs the bundle, and the ECM's report carries the attempts.
    const result = await car.primary.runCycle();
    expect(result.status).toBe('installed');
    expect(car.installed()).toEqual({ [PRIMARY]: IMAGES.tcu.name, [ECM]: IMAGES.ecm.name, [ABS]: IMAGES.abs.name });
    expect(((await vehicleStatus()).attacks as Array<{ ecuSerial: string; code: string }>).filter((a) => a.code === 'install_bundle_order').map((a) => a.ecuSerial)).toEqual([ECM, ECM]);
    expect((await scene().repos.operator('GET', `/api/v1/install-bundles/${id}`)).json.state).toBe('pending'); // installed once the Director gets the next manifest
  });
});
