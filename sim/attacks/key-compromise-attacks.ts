// Key compromise and recovery through root rotation (docs/uptane-conformance.md 9.2;
// docs/threat-model.md B10, B11, UR §3.6, UR §3.7): what stolen keys achieve, the OEM's rotation
// (new key files on the stopped server, a root signed by the old and the new root keys, in
// key-recovery.ts), and that whatever the stolen keys sign afterwards is refused, on the network and
// on the bus. Played by test/attacks/key-compromise.test.ts and `uptane sim attack`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestBytes } from '../../shared/core/hashing.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetsSigned } from '../../shared/core/metadata/types.js';
import { UPLOADER_TOKEN } from '../harness/fleet-fixtures.js';
import { directorOnlineKeys, directorTarget, fastForward, forgeRepository, imageRepoKeys, resign, trustedVersion, type OnlineKeys } from './attacker.js';
import { rotateDirectorKeys, rotateImageOnlineKeys, rotateImageTargetsKey } from './key-recovery.js';
import { ABS, assign, ECM, EVIL, honestCycle, imageMetadataNow, IMAGES, PRIMARY, primaryDir, serveForgedDirector, verifyWhileDriving, type AttackScene } from './scene.js';
import { observe, type AttackScenario } from './scenario.js';

/** The root version an ECU trusts for `repo`. */
const rootVersion = (s: AttackScene, serial: string, repo: 'director' | 'image'): number =>
  parseMetadata(readFileSync(join(s.dir, serial, repo, 'root.json')), 'root').signed.version;

/** The genuine Image targets file as served now, with its version (what a fast-forward points at). */
async function genuineImageTargets(s: AttackScene): Promise<{ version: number; bytes: Buffer }> {
  const [file, bytes] = Object.entries(await imageMetadataNow(s)).find(([name]) => name.endsWith('.targets.json'))!;
  return { version: parseInt(file, 10), bytes };
}

/** Keys the attacker copied before the OEM rotated them: taken at staging, used at the attack. */
const stolenKeys = new WeakMap<AttackScene, OnlineKeys>();

/** Copies the Director's online keys, then the OEM rotates them through Director root v2; a vehicle with nothing new follows it. */
async function stealThenRotateDirectorKeys(s: AttackScene): Promise<OnlineKeys> {
  const stolen = directorOnlineKeys(s.repos);
  await rotateDirectorKeys(s.repos, 'recovery');
  await honestCycle(s, 'no-update');
  return stolen;
}

export const KEY_COMPROMISE_ATTACKS: readonly AttackScenario[] = [
  // Before any rotation the stolen keys are valid, and only #full_verification step 10 stands in the
  // way: that is e7-known-name-other-hashes (director-attacks.ts), the same forged targets.
  {
    name: 'b11-director-keys-used-after-rotation',
    title: 'B11 after the OEM rotates the Director online keys through root v2, a forged chain signed with the stolen keys is refused over the network',
    position: 'Director online keys',
    expected: { code: 'unmet_threshold', detectedBy: PRIMARY, in: 'cycle' },
    vector: false,
    async stage(s) {
      const stolen = await stealThenRotateDirectorKeys(s);
      await assign(s, ECM, IMAGES.ecm3);
      serveForgedDirector(s, { targets: { [IMAGES.ecm3.name]: directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 3) } }, stolen);
    },
    also: {
      afterAttack: async (s) => [observe(`${PRIMARY} trusts Director root v2`, rootVersion(s, PRIMARY, 'director'), 2)],
    },
  },
  {
    // The stolen targets key alone makes a partial-verification secondary install the attacker's
    // image (limits.test.ts); once root v2 is handed to it, the same forgery is refused.
    name: 'b11-bus-director-targets-key-after-rotation',
    title: 'B11 on the bus: after Director root v2, Director targets re-signed with the stolen targets key are refused by the partial-verification secondary',
    position: 'in-vehicle bus + Director online keys',
    expected: { code: 'unmet_threshold', detectedBy: ECM, in: 'outcome' },
    vector: false,
    async stage(s) {
      const stolen = await stealThenRotateDirectorKeys(s);
      await assign(s, ECM, IMAGES.ecm4);
      await verifyWhileDriving(s);
      s.bus.on(ECM, {
        putMetadata: (bundle, inner) => {
          const name = Object.keys(bundle.director).find((n) => n.endsWith('.targets.json'))!;
          const forged = resign(Buffer.from(bundle.director[name]!, 'base64'), [stolen.targets], (signed) => {
            (signed.targets as Record<string, unknown>)[IMAGES.ecm4.name] = directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 4);
          });
          return inner.putMetadata({ ...bundle, director: { ...bundle.director, [name]: forged.toString('base64') } });
        },
      });
    },
    also: {
      afterHonest: async (s) => [observe(`${ECM} trusts Director root v2`, rootVersion(s, ECM, 'director'), 2)],
    },
  },
  {
    // The fast-forward is validly signed, over the genuine targets, so every check passes and the
    // vehicle installs; then every honest Image timestamp looks like a rollback. The attack cycle is
    // the frozen vehicle's; the OEM's rotation (roots v2 and v3) is the recovery, and the vehicle
    // deletes its stored timestamp and snapshot because their keys rotated (#check_root step 4).
    name: 'ur3.6-fast-forward-freeze',
    title: 'UR §3.6 / B10 stolen Image timestamp and snapshot keys fast-forward the vehicle to timestamp 99999 and freeze it (rollback); rotating those keys through Image roots v2 and v3 recovers it',
    position: 'Image repository online keys',
    expected: { code: 'rollback', detectedBy: PRIMARY, in: 'cycle' },
    vector: false,
    async stage(s) {
      await assign(s, ECM, IMAGES.ecm);
      s.net.serveAll('image', fastForward(imageRepoKeys(s.repos), await genuineImageTargets(s), 99999));
      await honestCycle(s, 'installed');
      s.net.clear(); // the attacker leaves; the vehicle stays frozen
      await honestCycle(s, 'no-update');
      await assign(s, ECM, IMAGES.ecm3);
    },
    async recover(s) {
      await rotateImageOnlineKeys(s.repos, 'recovery');
    },
    also: {
      afterAttack: async (s) => [observe('the Image timestamp the vehicle trusts is the fast-forwarded one', trustedVersion(primaryDir(s), 'image', 'timestamp'), 99999)],
      afterHonest: async (s) => [
        observe(`${PRIMARY} walked Image roots v2 and v3`, rootVersion(s, PRIMARY, 'image'), 3),
        observe('the fast-forwarded timestamp is gone', trustedVersion(primaryDir(s), 'image', 'timestamp') < 99999, true),
      ],
    },
  },
  {
    name: 'b11-image-fast-forward-after-rotation',
    title: 'B11 after the OEM rotates the Image timestamp and snapshot keys (roots v2, v3), a fast-forward signed with the stolen keys is refused',
    position: 'Image repository online keys',
    expected: { code: 'unmet_threshold', detectedBy: PRIMARY, in: 'cycle' },
    vector: false,
    async stage(s) {
      const stolen = imageRepoKeys(s.repos);
      await rotateImageOnlineKeys(s.repos, 'recovery');
      await honestCycle(s, 'no-update');
      await assign(s, ECM, IMAGES.ecm);
      s.net.serveAll('image', fastForward(stolen, await genuineImageTargets(s), 99999));
    },
  },
  {
    // Only the targets key is rotated, on purpose: that isolates its revocation (the attacker keeps
    // the old targets key and the online keys).
    name: 'ur3.7-revoked-image-targets-key',
    title: 'UR §3.7 arbitrary package with revoked keys: once Image root v2 replaces the targets key, targets signed with the old one are refused by the vehicle and by the repository',
    position: 'Image repository targets key + online keys',
    expected: { code: 'unmet_threshold', detectedBy: PRIMARY, in: 'cycle' },
    vector: false,
    async stage(s) {
      stolenKeys.set(s, imageRepoKeys(s.repos));
      await rotateImageTargetsKey(s.repos, 'recovery');
      await assign(s, ABS, IMAGES.abs);
      s.net.serveAll('image', forgeRepository(stolenKeys.get(s)!, primaryDir(s), 'image', { targets: listingEvilAbs() }, { minVersion: 10 }));
    },
    also: {
      afterAttack: async (s) => {
        // The repository refuses to publish targets signed with the revoked key as well.
        const current = parseMetadata(Buffer.from(await (await fetch(`${s.repos.image.url}/metadata/targets.json`)).arrayBuffer()), 'targets').signed;
        const forged: TargetsSigned = { ...current, version: current.version + 1, targets: listingEvilAbs() };
        const put = await fetch(`${s.repos.image.url}/api/v1/metadata/targets/targets`, {
          method: 'PUT',
          body: serializeMetadata(signMetadata(forged, [stolenKeys.get(s)!.targets])),
          headers: { authorization: `Bearer ${UPLOADER_TOKEN}` },
        });
        const code = ((await put.json()) as { error?: { code?: string } }).error?.code;
        return [
          observe('the Image repository refuses targets signed with the revoked key (HTTP 400 unmet_threshold)', [put.status, code], [400, 'unmet_threshold']),
        ];
      },
      afterHonest: async (s) => [observe(`${PRIMARY} and ${ABS} (full verification) follow Image root v2`, [rootVersion(s, PRIMARY, 'image'), rootVersion(s, ABS, 'image')], [2, 2])],
    },
  },
];

/** Every scene image as the Image repository lists it, with abs-7 given the attacker's bytes. */
function listingEvilAbs(): TargetsSigned['targets'] {
  const listed = Object.fromEntries(
    Object.values(IMAGES).map((i) => [i.name, { length: i.content.length, hashes: digestBytes(i.content), custom: { hardwareIds: [...i.hardwareIds], releaseCounter: i.releaseCounter } }]),
  );
  listed[IMAGES.abs.name] = { ...listed[IMAGES.abs.name]!, length: EVIL.length, hashes: digestBytes(EVIL) };
  return listed;
}
