// Attacks by a compromised Image repository, the Director honest (docs/uptane-conformance.md 8:
// "Image-repo compromise alone cannot direct installs, because the Director must also list the
// image"): its stored images altered without keys, its targets key and online keys used to list the
// attacker's image, on the real server and in the middle. Key rotation after an Image repository
// compromise is in key-compromise.test.ts; both repositories compromised in limits.test.ts.
import { writeFileSync } from 'node:fs';
import { digestBytes } from '../../shared/core/hashing.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { forgeRepository, imageRepoKeys } from '../support/attacker.js';
import {
  assign,
  ECM,
  EVIL,
  expectAttackRejected,
  expectCycleRejected,
  expectReportedThenHonestUpdate,
  IMAGES,
  PRIMARY,
  primaryDir,
  scene,
  useAttackScene,
} from '../support/attack-scene.js';
import { UPLOADER_TOKEN } from '../../sim/harness/fleet-fixtures.js';

useAttackScene();

/** The Image repository's targets metadata as it serves it now. */
async function publishedTargets(): Promise<TargetsSigned> {
  const bytes = Buffer.from(await (await fetch(`${scene().repos.image.url}/metadata/targets.json`)).arrayBuffer());
  return parseMetadata(bytes, 'targets').signed;
}

/** Publishes targets through the server's own API, as an uploader holding the targets key does. */
async function putTargets(targets: TargetsSigned): Promise<number> {
  const { repos } = scene();
  const response = await fetch(`${repos.image.url}/api/v1/metadata/targets/targets`, {
    method: 'PUT',
    body: serializeMetadata(signMetadata(targets, [repos.imageTargetsKey])),
    headers: { authorization: `Bearer ${UPLOADER_TOKEN}` },
  });
  return response.status;
}

describe('compromised Image repository, Director honest', () => {
  it('UR §3.1 arbitrary package without keys: the image file swapped on the Image repository disk is refused (hash_mismatch)', async () => {
    // The attacker owns the server's disk but no key: the metadata still names the genuine hashes.
    const { repos } = scene();
    await assign(ECM, IMAGES.ecm);
    const blob = (await repos.image.repository.imageFile(digestBytes(IMAGES.ecm.content).sha256!))!;
    writeFileSync(blob, EVIL); // same length, other bytes
    await expectCycleRejected({ code: 'hash_mismatch', detectedBy: PRIMARY, in: 'cycle' });
    // The OEM restores the Image repository from a backup (docs/uptane-conformance.md 9.2).
    writeFileSync(blob, IMAGES.ecm.content);
    await expectReportedThenHonestUpdate({ code: 'hash_mismatch', detectedBy: PRIMARY });
  });

  it('E7 the Image repository lists an assigned image with other hashes: no install without the Director agreeing', async () => {
    const { net, repos } = scene();
    await assign(ECM, IMAGES.ecm);
    const listed = Object.fromEntries(
      Object.values(IMAGES).map((i) => [i.name, { length: i.content.length, hashes: digestBytes(i.content), custom: { hardwareIds: i.hardwareIds, releaseCounter: i.releaseCounter } }]),
    );
    listed[IMAGES.ecm.name] = { ...listed[IMAGES.ecm.name]!, hashes: digestBytes(EVIL) };
    net.serveAll('image', forgeRepository(imageRepoKeys(repos), primaryDir(), 'image', { targets: listed }, { minVersion: 10 }));
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('E7 the compromised Image repository itself publishes the attacker image under an assigned name: the Director assignment pins the genuine hashes', async () => {
    // Uploader access and the targets key: the attacker's image goes through the server's own
    // checks and is served to everyone, validly signed.
    const { repos } = scene();
    await assign(ECM, IMAGES.ecm); // the Director pinned the genuine hashes when the operator assigned
    const upload = await fetch(`${repos.image.url}/api/v1/images`, { method: 'POST', body: EVIL, headers: { authorization: `Bearer ${UPLOADER_TOKEN}` } });
    expect(upload.status).toBe(201);
    const genuine = await publishedTargets();
    const evil: TargetFile = { ...genuine.targets[IMAGES.ecm.name]!, length: EVIL.length, hashes: digestBytes(EVIL) };
    expect(await putTargets({ ...genuine, version: genuine.version + 1, targets: { ...genuine.targets, [IMAGES.ecm.name]: evil } })).toBe(201);

    await expectCycleRejected({ code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' });
    // docs/uptane-conformance.md 9.2: the OEM restores the Image repository (here: the genuine
    // entry, at the next version).
    expect(await putTargets({ ...genuine, version: genuine.version + 2 })).toBe(201);
    await expectReportedThenHonestUpdate({ code: 'target_mismatch', detectedBy: PRIMARY });
  });
});
