// Per-ECU image encryption end to end (docs/image-encryption.md; docs/threat-model.md G13-G17): the
// operator has the real Director encrypt images for the primary, a partial- and a full-verification
// secondary; the primary fetches each ciphertext from the Director, checks it against the encrypted
// length and hash the Director signed, and hands it on; each ECU unwraps its content key with its own
// X25519 key and decrypts into its inactive slot, where the plaintext must match the Image repository
// before it can boot. The attacks are the catalogue's (sim/attacks/encryption-attacks.ts, the same
// `uptane sim attack` plays), each held to the five checks; the three tests after them are no
// attacks (an honest install, a resumed download, the HTTP transport: test/attacks/README.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_ENCRYPTION_SCHEME } from '../../shared/core/crypto/image-encryption.js';
import { FetchError } from '../../shared/core/errors.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import type { TargetsSigned } from '../../shared/core/metadata/types.js';
import { HttpSecondaryClient, RemoteSecondaryError } from '../../shared/ecu/secondary-protocol.js';
import type { EcuImageEncryption } from '../../shared/uptane/uptane-checks.js';
import { serveSecondary } from '../../secondary-ecu/http-server.js';
import { assignEncrypted as assignEncryptedOn, BIG, chunkStart, downloadedCiphertext, ENCRYPTION_ATTACKS, encryptionKeyOf, SEALED_CHUNK, slotBytes as slotBytesOf } from '../../sim/attacks/encryption-attacks.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import type { FixtureImage } from '../../sim/harness/fleet-fixtures.js';
import { streamOf } from '../support/attacker.js';
import { ABS, ECM, expectChecksPassed, honestCycle, IMAGES, PRIMARY, primaryDir, scene, useAttackScene, verifyWhileDriving } from '../support/attack-scene.js';

useAttackScene();

const assignEncrypted = (ecuSerial: string, image: FixtureImage): Promise<void> => assignEncryptedOn(scene(), ecuSerial, image);
const slotBytes = (serial: string): Buffer => slotBytesOf(scene(), serial);

describe('attacks on images encrypted for each ECU', () => {
  it.each(ENCRYPTION_ATTACKS.map((a) => [a.title, a] as const))('%s', async (_title, attack) => {
    expectChecksPassed(await playAttack(scene(), attack));
  });
});

describe('images encrypted for each ECU by the real Director', () => {
  it('G13 installs on the primary, a partial and a full secondary: each slot holds the exact plaintext, and the plaintext never crosses the network', async () => {
    await assignEncrypted(PRIMARY, IMAGES.tcu);
    await assignEncrypted(ECM, BIG);
    await assignEncrypted(ABS, IMAGES.abs);
    await honestCycle('installed');
    expect(slotBytes(PRIMARY)).toEqual(IMAGES.tcu.content);
    expect(slotBytes(ECM)).toEqual(BIG.content);
    expect(slotBytes(ABS)).toEqual(IMAGES.abs.content);
    // Each ECU's Director entry carried its own wrap, to its own registered key.
    const { car, net } = scene();
    const targets = parseMetadata(readFileSync(join(primaryDir(), 'director', 'targets.json')), 'targets').signed as TargetsSigned;
    for (const [serial, image] of [[PRIMARY, IMAGES.tcu], [ECM, BIG], [ABS, IMAGES.abs]] as const) {
      const identifier = targets.targets[image.name]!.custom!.ecuIdentifiers![serial] as { encryption?: EcuImageEncryption };
      expect(identifier.encryption).toMatchObject({ scheme: IMAGE_ENCRYPTION_SCHEME, keyid: encryptionKeyOf(serial).keyid });
    }
    // Images came as ciphertext from the Director only; not one image request went to the Image repository.
    expect(net.requests.filter((r) => r.kind === 'target' && r.repo === 'image')).toEqual([]);
    expect(net.requests.filter((r) => r.kind === 'target' && r.repo === 'director').map((r) => r.file)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^[0-9a-f]{64}\.enc$/)]),
    );
    expect(car.primary.reportedAttacks).toEqual([]);
  });

  it('F6 a ciphertext download cut by the network resumes from where it stopped, with a range request to the Director', async () => {
    const { net } = scene();
    await assignEncrypted(ECM, BIG);
    const received = net.cutFirstImageDownload(2 * SEALED_CHUNK, (url) => new FetchError(`${url}: connection reset`));
    await honestCycle('failed');
    await honestCycle('installed');
    const downloads = net.requests.filter((r) => r.kind === 'target' && r.repo === 'director');
    expect(downloads).toHaveLength(2);
    expect(downloads[1]!.offset).toBe(received());
    expect(downloads[1]!.servedFrom).toBe(received());
    expect(slotBytes(ECM)).toEqual(BIG.content);
  });

  it('HTTP secondary transport: the image stream is the ciphertext, capped at its encrypted length, decrypted by the secondary alone', async () => {
    const { car, cleanups } = scene();
    await assignEncrypted(ECM, BIG);
    await verifyWhileDriving();
    const bundle = car.primary.metadataBundle();
    const ciphertext = downloadedCiphertext(scene());
    const server = await serveSecondary(car.secondaries.get(ECM)!);
    const client = new HttpSecondaryClient(server.url);
    cleanups.push(() => server.close(), () => client.close());
    const before = slotBytes(ECM);

    expect(await client.putMetadata(bundle)).toEqual({ target: { filename: BIG.name, length: BIG.content.length, encryptedLength: ciphertext.length } });
    await expect(client.putImage(BIG.name, streamOf(Buffer.concat([ciphertext, Buffer.alloc(1)])))).rejects.toMatchObject({ code: 'download_length' });
    await expect(client.putImage(BIG.name, streamOf(ciphertext.subarray(0, chunkStart(3))))).rejects.toBeInstanceOf(RemoteSecondaryError);
    expect(slotBytes(ECM)).toEqual(before);
    expect(car.secondaries.get(ECM)!.slots.current.staged).toBeNull();

    // The genuine ciphertext, in network-sized pieces, installs the exact plaintext.
    expect(await client.putMetadata(bundle)).toMatchObject({ target: { filename: BIG.name } });
    await client.putImage(BIG.name, (async function* () {
      for (let at = 0; at < ciphertext.length; at += 10_000) yield ciphertext.subarray(at, at + 10_000);
    })());
    expect(await client.install()).toMatchObject({ status: 'installed', filename: BIG.name });
    expect(slotBytes(ECM)).toEqual(BIG.content);
  });
});
