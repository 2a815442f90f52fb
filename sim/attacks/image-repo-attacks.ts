// Attacks by a compromised Image repository, the Director honest (docs/uptane-conformance.md 8:
// "Image-repo compromise alone cannot direct installs, because the Director must also list the
// image"): its stored images altered without keys, its targets key and online keys used to list the
// attacker's image, on the real server and in the middle. After the attack cycle the OEM restores
// the repository (docs/uptane-conformance.md 9.2). Played by
// test/attacks/compromised-image-repo.test.ts and `uptane sim attack`.
import { writeFileSync } from 'node:fs';
import { digestBytes } from '../../shared/core/hashing.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { UPLOADER_TOKEN } from '../harness/fleet-fixtures.js';
import { forgeRepository, imageRepoKeys } from './attacker.js';
import { assign, ECM, EVIL, IMAGES, PRIMARY, primaryDir, SceneError, type AttackScene } from './scene.js';
import type { AttackScenario } from './scenario.js';

/** The Image repository's targets metadata as it serves it now. */
async function publishedTargets(s: AttackScene): Promise<TargetsSigned> {
  const bytes = Buffer.from(await (await fetch(`${s.repos.image.url}/metadata/targets.json`)).arrayBuffer());
  return parseMetadata(bytes, 'targets').signed;
}

/** Publishes targets through the server's own API, as an uploader holding the targets key does. */
async function putTargets(s: AttackScene, targets: TargetsSigned): Promise<void> {
  const response = await fetch(`${s.repos.image.url}/api/v1/metadata/targets/targets`, {
    method: 'PUT',
    body: serializeMetadata(signMetadata(targets, [s.repos.imageTargetsKey])),
    headers: { authorization: `Bearer ${UPLOADER_TOKEN}` },
  });
  if (response.status !== 201) throw new SceneError(`the Image repository refused targets v${targets.version}: HTTP ${response.status}`);
}

const ecmBlob = async (s: AttackScene): Promise<string> => (await s.repos.image.repository.imageFile(digestBytes(IMAGES.ecm.content).sha256!))!;

/** The genuine targets before the attacker published, kept for the OEM's restore. */
const genuineTargets = new WeakMap<AttackScene, TargetsSigned>();

export const IMAGE_REPO_ATTACKS: readonly AttackScenario[] = [
  {
    name: 'ur3.1-image-swapped-on-server-disk',
    title: 'UR §3.1 arbitrary package without keys: the image file swapped on the Image repository disk is refused (hash_mismatch)',
    position: 'Image repository disk, no keys',
    expected: { code: 'hash_mismatch', detectedBy: PRIMARY, in: 'cycle' },
    vector: true,
    async stage(s) {
      // The attacker owns the server's disk but no key: the metadata still names the genuine hashes.
      await assign(s, ECM, IMAGES.ecm);
      writeFileSync(await ecmBlob(s), EVIL); // same length, other bytes
    },
    async recover(s) {
      writeFileSync(await ecmBlob(s), IMAGES.ecm.content); // restored from a backup
    },
  },
  {
    name: 'e7-image-targets-other-hashes',
    title: 'E7 the Image repository lists an assigned image with other hashes: no install without the Director agreeing',
    position: 'Image repository keys',
    expected: { code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' },
    vector: true,
    async stage(s) {
      await assign(s, ECM, IMAGES.ecm);
      const listed = Object.fromEntries(
        Object.values(IMAGES).map((i) => [i.name, { length: i.content.length, hashes: digestBytes(i.content), custom: { hardwareIds: i.hardwareIds, releaseCounter: i.releaseCounter } }]),
      );
      listed[IMAGES.ecm.name] = { ...listed[IMAGES.ecm.name]!, hashes: digestBytes(EVIL) };
      s.net.serveAll('image', forgeRepository(imageRepoKeys(s.repos), primaryDir(s), 'image', { targets: listed }, { minVersion: 10 }));
    },
  },
  {
    // Uploader access and the targets key: the attacker's image goes through the server's own
    // checks and is served to everyone, validly signed.
    name: 'e7-attacker-image-published',
    title: 'E7 the compromised Image repository itself publishes the attacker image under an assigned name: the Director assignment pins the genuine hashes',
    position: 'Image repository keys + upload',
    expected: { code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' },
    vector: true,
    async stage(s) {
      await assign(s, ECM, IMAGES.ecm); // the Director pinned the genuine hashes when the operator assigned
      const upload = await fetch(`${s.repos.image.url}/api/v1/images`, { method: 'POST', body: EVIL, headers: { authorization: `Bearer ${UPLOADER_TOKEN}` } });
      if (upload.status !== 201) throw new SceneError(`the Image repository refused the upload: HTTP ${upload.status}`);
      const genuine = await publishedTargets(s);
      genuineTargets.set(s, genuine);
      const evil: TargetFile = { ...genuine.targets[IMAGES.ecm.name]!, length: EVIL.length, hashes: digestBytes(EVIL) };
      await putTargets(s, { ...genuine, version: genuine.version + 1, targets: { ...genuine.targets, [IMAGES.ecm.name]: evil } });
    },
    async recover(s) {
      const genuine = genuineTargets.get(s)!;
      await putTargets(s, { ...genuine, version: genuine.version + 2 }); // the genuine entry, at the next version
    },
  },
];
