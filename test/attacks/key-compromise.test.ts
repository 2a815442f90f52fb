// Key compromise followed by recovery through root rotation (docs/uptane-conformance.md 9.2;
// docs/threat-model.md B10, B11, UR §3.6, UR §3.7): what the stolen keys achieve before, how the
// OEM rotates them (new key files on the stopped server, a root signed by the old and the new root
// keys), that the vehicle follows and recovers, and that whatever the stolen keys sign afterwards
// is refused.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetsSigned } from '../../shared/core/metadata/types.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { directorOnlineKeys, directorTarget, fastForward, forgeRepository, imageRepoKeys, resign, trustedVersion } from '../support/attacker.js';
import {
  ABS,
  assign,
  ECM,
  EVIL,
  expectAttackRejected,
  expectCycleRejected,
  expectReportedThenHonestUpdate,
  honestCycle,
  imageMetadataNow,
  IMAGES,
  PRIMARY,
  primaryDir,
  scene,
  serveForgedDirector,
  useAttackScene,
  verifyWhileDriving,
} from '../support/attack-scene.js';
import { UPLOADER_TOKEN } from '../../sim/harness/fleet-fixtures.js';
import { rotateDirectorKeys, rotateImageOnlineKeys, rotateImageTargetsKey } from '../support/key-recovery.js';

useAttackScene();

/** The root version an ECU trusts for `repo`. */
const rootVersion = (serial: string, repo: 'director' | 'image') => parseMetadata(readFileSync(join(scene().dir, serial, repo, 'root.json')), 'root').signed.version;

/** The genuine Image targets file as served now, with its version (what a fast-forward points at). */
async function genuineImageTargets(): Promise<{ version: number; bytes: Buffer }> {
  const [file, bytes] = Object.entries(await imageMetadataNow()).find(([name]) => name.endsWith('.targets.json'))!;
  return { version: parseInt(file, 10), bytes };
}

describe('key compromise and recovery through root rotation', () => {
  it('B11 Director online keys stolen: forged targets are refused while the Image repository disagrees; after the OEM rotates them through Director root v2, whatever the stolen keys sign is refused', async () => {
    const { repos, bus } = scene();
    const stolen = directorOnlineKeys(repos); // copied from the Director's keys/ folder

    // Before: the keys are valid, and only #full_verification step 10 stands in the way.
    await assign(ECM, IMAGES.ecm);
    serveForgedDirector({ targets: { [IMAGES.ecm.name]: directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 2) } }, stolen);
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' });
    await honestCycle('no-update');

    // Recovery (docs/uptane-conformance.md 9.2): new online keys on the Director's disk, root v2
    // listing only them and a new root key. A vehicle with nothing new assigned follows root v2 and
    // still sees nothing to do.
    await rotateDirectorKeys(repos, 'recovery');
    await honestCycle('no-update');
    expect(rootVersion(PRIMARY, 'director')).toBe(2);

    // B11 over the network: a forged chain signed with the stolen keys is refused.
    await assign(ECM, IMAGES.ecm3);
    serveForgedDirector({ targets: { [IMAGES.ecm3.name]: directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 3) } }, stolen);
    await expectAttackRejected({ code: 'unmet_threshold', detectedBy: PRIMARY, in: 'cycle' });
    await honestCycle('no-update');

    // B11 on the bus: the stolen targets key alone made the partial-verification secondary install
    // the attacker's image (limits.test.ts); with root v2 handed to it, the same forgery is refused.
    await assign(ECM, IMAGES.ecm4);
    await verifyWhileDriving();
    bus.on(ECM, {
      putMetadata: (bundle, inner) => {
        const name = Object.keys(bundle.director).find((n) => n.endsWith('.targets.json'))!;
        const forged = resign(Buffer.from(bundle.director[name]!, 'base64'), [stolen.targets], (signed) => {
          (signed.targets as Record<string, unknown>)[IMAGES.ecm4.name] = directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 4);
        });
        return inner.putMetadata({ ...bundle, director: { ...bundle.director, [name]: forged.toString('base64') } });
      },
    });
    await expectAttackRejected({ code: 'unmet_threshold', detectedBy: ECM, in: 'outcome' });
    expect(rootVersion(ECM, 'director')).toBe(2);
  });

  it('UR §3.6 / B10 recover from key compromise: stolen Image timestamp and snapshot keys fast-forward the vehicle to timestamp 99999 and freeze it; rotating those keys through Image root v2 and v3 recovers it', async () => {
    const { repos, net } = scene();
    const stolen = imageRepoKeys(repos);

    // The fast-forward: validly signed, over the genuine targets, so every check passes.
    await assign(ECM, IMAGES.ecm);
    net.serveAll('image', fastForward(stolen, await genuineImageTargets(), 99999));
    await honestCycle('installed');
    expect(trustedVersion(primaryDir(), 'image', 'timestamp')).toBe(99999);

    // The attacker leaves and the vehicle is frozen: every honest Image timestamp looks like a rollback.
    net.clear();
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm3);
    await expectCycleRejected({ code: 'rollback', detectedBy: PRIMARY, in: 'cycle' });
    await expectCycleRejected({ code: 'rollback', detectedBy: PRIMARY, in: 'cycle' }); // it does not heal by itself

    // Recovery: the vehicle walks roots v2 and v3, deletes its stored timestamp and snapshot because
    // their keys rotated (#check_root step 4), and installs; the freeze reached the operator.
    await rotateImageOnlineKeys(repos, 'recovery');
    await expectReportedThenHonestUpdate({ code: 'rollback', detectedBy: PRIMARY });
    expect(rootVersion(PRIMARY, 'image')).toBe(3);
    expect(trustedVersion(primaryDir(), 'image', 'timestamp')).toBeLessThan(99999);

    // B11: the stolen keys are revoked; the same fast-forward is now refused.
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm4);
    net.serveAll('image', fastForward(stolen, await genuineImageTargets(), 99999));
    await expectAttackRejected({ code: 'unmet_threshold', detectedBy: PRIMARY, in: 'cycle' });
    expect(scene().car.installed()[ECM]).toBe(IMAGES.ecm4.name);
  });

  it('UR §3.7 arbitrary package with revoked keys: once root v2 replaces the Image targets key, targets signed with the old one are refused by the vehicle and by the repository', async () => {
    // The attacker keeps the old targets key and the Image repository's online keys. Only the targets
    // key is rotated here, on purpose: that isolates its revocation (the test above rotates the online keys).
    const { repos, net } = scene();
    const stolen = imageRepoKeys(repos);
    await rotateImageTargetsKey(repos, 'recovery');

    await assign(ABS, IMAGES.abs);
    const listed = Object.fromEntries(
      Object.values(IMAGES).map((i) => [i.name, { length: i.content.length, hashes: digestBytes(i.content), custom: { hardwareIds: [...i.hardwareIds], releaseCounter: i.releaseCounter } }]),
    );
    listed[IMAGES.abs.name] = { ...listed[IMAGES.abs.name]!, length: EVIL.length, hashes: digestBytes(EVIL) };
    net.serveAll('image', forgeRepository(stolen, primaryDir(), 'image', { targets: listed }, { minVersion: 10 }));
    await expectAttackRejected({ code: 'unmet_threshold', detectedBy: PRIMARY, in: 'cycle' });
    expect(rootVersion(PRIMARY, 'image')).toBe(2);
    expect(rootVersion(ABS, 'image')).toBe(2); // the full-verification secondary followed the rotation too

    // The repository refuses to publish targets signed with the revoked key as well.
    const current = parseMetadata(Buffer.from(await (await fetch(`${repos.image.url}/metadata/targets.json`)).arrayBuffer()), 'targets').signed;
    const forged: TargetsSigned = { ...current, version: current.version + 1, targets: listed };
    const put = await fetch(`${repos.image.url}/api/v1/metadata/targets/targets`, {
      method: 'PUT',
      body: serializeMetadata(signMetadata(forged, [stolen.targets])),
      headers: { authorization: `Bearer ${UPLOADER_TOKEN}` },
    });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { error: { code: string } }).error.code).toBe('unmet_threshold');
  });
});
