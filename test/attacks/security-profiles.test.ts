// Attacks on tiered security profiles (docs/security-profiles.md; docs/threat-model.md SP1, SP2): an
// image whose Image repository target demands a higher profile than the ECU's, given to it by a
// compromised Director (SP1, the catalogue's profiles group, each held to the five checks), and by a
// compromised Director and primary together to a full-verification secondary, which refuses it on its
// own (SP2). The honest installs (no minimum, a minimum the ECU meets) are test/profiles/ecu-profiles.test.ts.
import { join } from 'node:path';
import { SecurityProfileTooLowError } from '../../shared/core/errors.js';
import type { MetadataBundle } from '../../shared/ecu/secondary-protocol.js';
import { PROFILE_ATTACKS, PROFILE_IMAGES } from '../../sim/attacks/profile-attacks.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import { formatExpires } from '../../shared/core/metadata/parse.js';
import { directorOnlineKeys, directorTarget, forgeRepository, installedImages, trustedState } from '../support/attacker.js';
import { ABS, assign, ECM, expectChecksPassed, honestCycle, imageMetadataNow, IMAGES, PRIMARY, scene, useAttackScene, vehicleStatus } from '../support/attack-scene.js';

useAttackScene();

const base64 = (files: Readonly<Record<string, Uint8Array>>): Record<string, string> => Object.fromEntries(Object.entries(files).map(([name, bytes]) => [name, Buffer.from(bytes).toString('base64')]));

describe('security profiles: an image demanding more than the ECU is', () => {
  it.each(PROFILE_ATTACKS.map((a) => [a.title, a] as const))('%s', async (_title, attack) => {
    expectChecksPassed(await playAttack(scene(), attack));
    // Refused after full verification, before any download: not even the genuine image was fetched.
    const downloads = scene().net.requests.filter((r) => r.kind === 'target').map((r) => r.file);
    expect(downloads.filter((file) => /-(high|standard)\.bin$/.test(file))).toEqual([]);
  });

  it('SP2 a full-verification secondary handed a high-minimum image by a compromised primary and Director refuses it itself (security_profile_too_low), stages nothing, and reports it', async () => {
    const s = scene();
    await s.repos.publishImages([PROFILE_IMAGES.absHigh]);
    const abs = s.car.secondaries.get(ABS)!;
    // The primary would refuse this image (SP1): a compromised one skips its check and hands abs-1 the
    // forged Director targets with the genuine Image repository metadata directly.
    const forged = forgeRepository(directorOnlineKeys(s.repos), join(s.dir, ABS), 'director', {
      targets: { [PROFILE_IMAGES.absHigh.name]: directorTarget(PROFILE_IMAGES.absHigh.content, { [ABS]: 'abs-z' }, PROFILE_IMAGES.absHigh.releaseCounter) },
      custom: { vin: s.car.spec.vin },
    });
    const bundle: MetadataBundle = {
      director: base64({ '1.root.json': s.repos.directorRoot, ...forged }),
      image: base64({ '1.root.json': s.repos.imageRoot, ...(await imageMetadataNow()) }),
      time: formatExpires(s.clock.now()),
    };
    const stateBefore = trustedState(s.car);
    const installedBefore = installedImages(s.car);

    const refused = abs.putMetadata(bundle);
    await expect(refused).rejects.toBeInstanceOf(SecurityProfileTooLowError);
    await expect(refused).rejects.toMatchObject({ code: 'security_profile_too_low' });
    // Nothing verified became trusted, nothing is staged or installed, and no image is expected.
    expect(trustedState(s.car)).toEqual(stateBefore);
    expect(installedImages(s.car)).toEqual(installedBefore);
    expect(abs.slots.current.staged).toBeNull();
    await expect(abs.putImage(PROFILE_IMAGES.absHigh.name, (async function* () { yield PROFILE_IMAGES.absHigh.content; })())).rejects.toMatchObject({ code: 'target_not_found' });

    // The honest primary's next cycle carries abs-1's report of it to the operator, and installs.
    await assign(ECM, IMAGES.ecm);
    const result = await honestCycle('installed');
    expect(result.outcomes[ECM]?.status).toBe('installed');
    const attacks = ((await vehicleStatus()).attacks ?? []) as ReadonlyArray<{ ecuSerial: string; code: string }>;
    expect(attacks.filter((a) => a.code === 'security_profile_too_low').map((a) => a.ecuSerial)).toContain(ABS);
    expect(s.car.installed()[ABS]).toBe(installedBefore[ABS]!.filename);
    expect(s.car.installed()[PRIMARY]).toBe(installedBefore[PRIMARY]!.filename);
  });
});
