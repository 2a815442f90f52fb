// Per-ECU image encryption end to end (docs/image-encryption.md; docs/threat-model.md G13-G16): the
// operator has the real Director encrypt images for the primary, a partial- and a full-verification
// secondary; the primary fetches each ciphertext from the Director, checks it against the encrypted
// length and hash the Director signed, and hands it on; each ECU unwraps its content key with its own
// X25519 key and decrypts into its inactive slot, where the plaintext must match the Image repository
// before it can boot. Then the attacks, each stopped by one check: the network tampering with the
// ciphertext (the primary's ciphertext check), a compromised primary or bus passing tampered
// ciphertext on (the ECU's own decryption), a wrap for another ECU or key (the unwrap), malformed
// encryption fields (the parser), and a compromised Director that encrypts another image correctly
// (the plaintext check against the Image repository).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  encryptImage,
  EncryptionKeyPair,
  generateImageKey,
  IMAGE_CHUNK_BYTES,
  IMAGE_ENCRYPTION_SCHEME,
  IMAGE_HEADER_BYTES,
  wrapImageKey,
  type EncryptionPublicKey,
} from '../../shared/core/crypto/image-encryption.js';
import { FetchError } from '../../shared/core/errors.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import type { TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { HttpSecondaryClient, RemoteSecondaryError, type SecondaryTransport } from '../../shared/ecu/secondary-protocol.js';
import { ENCRYPTION_KEY_FILE } from '../../shared/ecu/encrypted-image.js';
import type { EcuImageEncryption } from '../../shared/uptane/uptane-checks.js';
import { serveSecondary } from '../../secondary-ecu/http-server.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import type { FixtureImage } from '../../sim/harness/fleet-fixtures.js';
import { bytesResponse, directorOnlineKeys, directorTarget, forgeRepository, installedImages, readAll, streamOf, trustedState } from '../support/attacker.js';
import {
  ABS,
  ECM,
  expectAttackRejected,
  expectCycleRejected,
  expectReportedThenHonestUpdate,
  hostileNetwork,
  honestCycle,
  IMAGES,
  PRIMARY,
  primaryDir,
  scene,
  serveForgedDirector,
  useAttackScene,
  verifyWhileDriving,
  VIN,
} from '../support/attack-scene.js';

useAttackScene();

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Deterministic bytes no text search finds by accident: `n` of them, from a SHA-256 counter. */
function noise(label: string, n: number): Buffer {
  const blocks = Array.from({ length: Math.ceil(n / 32) }, (_, i) => createHash('sha256').update(`${label} ${i}`).digest());
  return Buffer.concat(blocks).subarray(0, n);
}

/** Four and a half STREAM chunks: chunks to flip, cut and swap. */
const BIG: FixtureImage = { name: 'engine/ecm-big-3.0.bin', content: noise('ecm big', 4 * IMAGE_CHUNK_BYTES + IMAGE_CHUNK_BYTES / 2), hardwareIds: ['ecm-x1'], releaseCounter: 3 };
/** Same length as BIG, other bytes: what a compromised Director would like the engine ECU to run. */
const EVIL_BIG = noise('evil ecm', BIG.content.length);
/** One sealed chunk: 64 KiB of plaintext and its 16-byte tag. */
const SEALED_CHUNK = IMAGE_CHUNK_BYTES + 16;
const chunkStart = (i: number): number => IMAGE_HEADER_BYTES + i * SEALED_CHUNK;

beforeEach(async () => {
  await scene().repos.publishImages([BIG]);
});

/** The honest operator asks the Director to encrypt `image` for `ecuSerial` (the ECU never asks). */
async function assignEncrypted(ecuSerial: string, image: Pick<FixtureImage, 'name'>): Promise<void> {
  const response = await scene().repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial, image: image.name, encrypt: true });
  expect(response).toMatchObject({ status: 201 });
}

/** The ECU's encryption public key, as provisioned and registered. */
const encryptionKeyOf = (serial: string): EncryptionPublicKey => SimulatedVehicle.encryptionKeyFor({ vin: VIN }, serial).publicKey;

/** What the ECU's active slot holds, byte for byte. */
function slotBytes(serial: string): Buffer {
  const { car } = scene();
  const slots = serial === PRIMARY ? car.primary.slots : car.secondaries.get(serial)!.slots;
  return readFileSync(slots.slotPath(slots.current.active));
}

/** The ciphertext the primary downloaded and checked, as it would hand it to an ECU. */
function downloadedCiphertext(): Buffer {
  const dir = join(primaryDir(), 'encrypted-images');
  const [file] = readdirSync(dir).filter((f) => f.endsWith('.enc'));
  return readFileSync(join(dir, file!));
}

interface Encrypted {
  readonly entry: EcuImageEncryption;
  readonly ciphertext: Buffer;
}

/**
 * What a Director (or an attacker holding its online keys) makes: `content` encrypted under a fresh
 * key, wrapped to `to`, bound to ECU `serial` and `filename`; `keyid` names the key it claims.
 */
async function encryptFor(content: Uint8Array, filename: string, serial: string, to: EncryptionPublicKey, keyid = to.keyid): Promise<Encrypted> {
  const key = generateImageKey();
  const ciphertext = await readAll(encryptImage(key, streamOf(content)));
  const hash = sha256(ciphertext);
  const wrapped = await wrapImageKey(key, to, { ecuSerial: serial, filename, ciphertextSha256: hash });
  return {
    ciphertext,
    entry: { scheme: IMAGE_ENCRYPTION_SCHEME, keyid, ...wrapped, encryptedTarget: { filename: `${hash}.enc`, length: ciphertext.length, hashes: { sha256: hash } } },
  };
}

/** A Director targets entry for the Image repository's `image`, assigned to `serial` with `encryption`. */
function encryptedTarget(image: FixtureImage, serial: string, hardwareId: string, encryption: unknown): TargetFile {
  const target = directorTarget(image.content, { [serial]: hardwareId }, image.releaseCounter);
  return { ...target, custom: { ...target.custom, ecuIdentifiers: { [serial]: { hardwareId, encryption } } } } as unknown as TargetFile;
}

/** The network serves `ciphertext` wherever the vehicle asks the Director for it (a compromised Director's cache). */
function serveCiphertext(ciphertext: Buffer): void {
  const name = `${sha256(ciphertext)}.enc`;
  scene().net.use((r) => (r.repo === 'director' && r.kind === 'target' && r.file === name ? bytesResponse(ciphertext.subarray(r.offset), r.offset) : undefined));
}

/**
 * A compromised primary (or bus) with the Director's stolen online keys: it gives `serial` Director
 * targets listing `targets` instead of the genuine ones, and `ciphertext`, if given, as the image.
 */
function forgeOnBus(serial: string, targets: Record<string, TargetFile>, ciphertext?: Buffer): void {
  const { repos, dir, bus } = scene();
  const forged = forgeRepository(directorOnlineKeys(repos), join(dir, serial), 'director', { targets, custom: { vin: VIN } });
  const forgedB64 = Object.fromEntries(Object.entries(forged).map(([file, bytes]) => [file, bytes.toString('base64')]));
  // Only the roots stay genuine: a partial-verification secondary reads the one targets file sent.
  const genuineRoots = (director: Readonly<Record<string, string>>) => Object.fromEntries(Object.entries(director).filter(([file]) => /^\d+\.root\.json$/.test(file)));
  bus.on(serial, {
    putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: { ...genuineRoots(bundle.director), ...forgedB64 } }),
    ...(ciphertext === undefined ? {} : { putImage: (filename: string, _body: AsyncIterable<Uint8Array>, inner: SecondaryTransport) => inner.putImage(filename, streamOf(ciphertext)) }),
  });
}

// -------------------------------------------------------------------------------------------------

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

  it('F4 a ciphertext trickled by the network is a slow-retrieval attack', async () => {
    await assignEncrypted(ECM, BIG);
    await hostileNetwork('director', { kind: 'trickle', bytesPerTick: 64, tickMs: 100 }, (r) => r.kind === 'target');
    await expectAttackRejected({ code: 'slow_retrieval', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('HTTP secondary transport: the image stream is the ciphertext, capped at its encrypted length, decrypted by the secondary alone', async () => {
    const { car, cleanups } = scene();
    await assignEncrypted(ECM, BIG);
    await verifyWhileDriving();
    const bundle = car.primary.metadataBundle();
    const ciphertext = downloadedCiphertext();
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

// -------------------------------------------------------------------------------------------------
// The network between the vehicle and the Director: the primary's check of the ciphertext against
// the encrypted length and SHA-256 the Director signed stops each one before any ECU sees it.

const flipInThirdChunk = (c: Buffer): Buffer => {
  const out = Buffer.from(c);
  out.writeUInt8(out.readUInt8(chunkStart(2) + 100) ^ 0x01, chunkStart(2) + 100);
  return out;
};
const truncateAfterTwoChunks = (c: Buffer): Buffer => c.subarray(0, chunkStart(2));
const extendByOneByte = (c: Buffer): Buffer => Buffer.concat([c, Buffer.from([0])]);
const swapChunksOneAndTwo = (c: Buffer): Buffer =>
  Buffer.concat([c.subarray(0, chunkStart(1)), c.subarray(chunkStart(2), chunkStart(3)), c.subarray(chunkStart(1), chunkStart(2)), c.subarray(chunkStart(3))]);

describe('G15 a ciphertext tampered on the network is refused by the primary before any ECU sees it', () => {
  it.each([
    ['one flipped byte in a chunk', 'hash_mismatch', flipInThirdChunk],
    ['truncated at a chunk boundary', 'length_mismatch', truncateAfterTwoChunks],
    ['extended by one byte', 'download_length', extendByOneByte],
    ['two chunks swapped', 'hash_mismatch', swapChunksOneAndTwo],
  ])('G15 %s: %s', async (_what, code, tamper) => {
    await assignEncrypted(ECM, BIG);
    scene().net.tamperTargets((genuine, r) => bytesResponse(r.repo === 'director' ? tamper(genuine) : genuine));
    await expectAttackRejected({ code, detectedBy: PRIMARY, in: 'cycle' });
    expect(slotBytes(ECM)).toEqual(BIG.content);
  });
});

// -------------------------------------------------------------------------------------------------
// A compromised primary (or a device on the bus) that skips the ciphertext check: each ECU's own
// decryption refuses the tampered ciphertext chunk by chunk, before anything reaches its slot.

describe('G15 a tampered ciphertext handed on by a compromised primary is refused by the ECU itself', () => {
  it.each([
    ['one flipped byte in a chunk', 'image_decryption_failed', flipInThirdChunk],
    ['truncated at a chunk boundary', 'image_decryption_failed', truncateAfterTwoChunks],
    ['extended by one byte', 'download_length', extendByOneByte],
    ['two chunks swapped', 'image_decryption_failed', swapChunksOneAndTwo],
  ])('G15 partial-verification secondary, %s: %s', async (_what, code, tamper) => {
    await assignEncrypted(ECM, BIG);
    await verifyWhileDriving();
    scene().bus.on(ECM, { putImage: async (filename, body, inner) => inner.putImage(filename, streamOf(tamper(await readAll(body)))) });
    await expectAttackRejected({ code, detectedBy: ECM, in: 'outcome' });
    expect(slotBytes(ECM)).toEqual(BIG.content);
  });

  it('G15 full-verification secondary, one flipped byte in its only chunk: image_decryption_failed', async () => {
    await assignEncrypted(ABS, IMAGES.abs);
    await verifyWhileDriving();
    scene().bus.on(ABS, {
      putImage: async (filename, body, inner) => {
        const ciphertext = Buffer.from(await readAll(body));
        ciphertext.writeUInt8(ciphertext.readUInt8(IMAGE_HEADER_BYTES) ^ 0x80, IMAGE_HEADER_BYTES);
        return inner.putImage(filename, streamOf(ciphertext));
      },
    });
    await expectAttackRejected({ code: 'image_decryption_failed', detectedBy: ABS, in: 'outcome' });
    expect(slotBytes(ABS)).toEqual(IMAGES.abs.content);
  });
});

// -------------------------------------------------------------------------------------------------
// Wrapped keys for another ECU or key. The secondaries' cases come over the bus from a primary that
// holds the Director's stolen online keys (a partial-verification secondary can only check the
// Director's signature); the primary's own, from a compromised Director on the network.

describe('G14 a wrapped key or ciphertext meant for another ECU or key is refused by the ECU it reaches', () => {
  beforeEach(async () => {
    await assignEncrypted(ECM, BIG); // the honest Director's assignment; the forged targets say otherwise
    await verifyWhileDriving();
  });

  it('G14 swap: the engine ECU is handed the wrapped key and ciphertext the Director made for the brake ECU', async () => {
    const forAbs = await encryptFor(BIG.content, BIG.name, ABS, encryptionKeyOf(ABS));
    forgeOnBus(ECM, { [BIG.name]: encryptedTarget(BIG, ECM, 'ecm-x1', forAbs.entry) }, forAbs.ciphertext);
    await expectAttackRejected({ code: 'image_key_unwrap_failed', detectedBy: ECM, in: 'outcome' });
  });

  it('G14 swap with the keyid rewritten to the engine ECU: the wrap still opens only for the brake ECU', async () => {
    const forAbs = await encryptFor(BIG.content, BIG.name, ABS, encryptionKeyOf(ABS), encryptionKeyOf(ECM).keyid);
    forgeOnBus(ECM, { [BIG.name]: encryptedTarget(BIG, ECM, 'ecm-x1', forAbs.entry) }, forAbs.ciphertext);
    await expectAttackRejected({ code: 'image_key_unwrap_failed', detectedBy: ECM, in: 'outcome' });
  });

  it('G14 a wrapped key encrypted to the wrong ECU key (not the one the ECU holds) is refused', async () => {
    const stranger = EncryptionKeyPair.fromPrivateBytes(noise('stranger key', 32)).publicKey;
    const wrong = await encryptFor(BIG.content, BIG.name, ECM, stranger, encryptionKeyOf(ECM).keyid);
    forgeOnBus(ECM, { [BIG.name]: encryptedTarget(BIG, ECM, 'ecm-x1', wrong.entry) }, wrong.ciphertext);
    await expectAttackRejected({ code: 'image_key_unwrap_failed', detectedBy: ECM, in: 'outcome' });
  });

  it('G14 a wrap that would open, under a keyid naming another ECU key, is refused: the metadata must name the key it used', async () => {
    const mislabelled = await encryptFor(BIG.content, BIG.name, ECM, encryptionKeyOf(ECM), encryptionKeyOf(ABS).keyid);
    forgeOnBus(ECM, { [BIG.name]: encryptedTarget(BIG, ECM, 'ecm-x1', mislabelled.entry) }, mislabelled.ciphertext);
    await expectAttackRejected({ code: 'image_key_unwrap_failed', detectedBy: ECM, in: 'outcome' });
  });

  it('G14 an ECU that holds no encryption key (provisioned before image encryption) refuses an image encrypted for it, and keeps its image', async () => {
    const { car, dir } = scene();
    rmSync(join(dir, ECM, ENCRYPTION_KEY_FILE));
    await car.start();
    await expectCycleRejected({ code: 'image_key_unwrap_failed', detectedBy: ECM, in: 'outcome' });
    const sent = scene().recorder.manifests.length;
    await car.primary.sendVehicleVersionManifest();
    expect(scene().recorder.manifests[sent]!.signed.ecu_version_reports[ECM]!.signed.attacks_detected).toEqual([expect.objectContaining({ code: 'image_key_unwrap_failed' })]);
  });

  it('G14 the primary given the engine ECU\'s wrap for its own image refuses it before it trusts the metadata', async () => {
    await assignEncrypted(PRIMARY, IMAGES.tcu);
    const forEcm = await encryptFor(IMAGES.tcu.content, IMAGES.tcu.name, ECM, encryptionKeyOf(ECM));
    serveForgedDirector({ targets: { [IMAGES.tcu.name]: encryptedTarget(IMAGES.tcu, PRIMARY, 'tcu-a', forEcm.entry) } });
    serveCiphertext(forEcm.ciphertext);
    await expectAttackRejected({ code: 'image_key_unwrap_failed', detectedBy: PRIMARY, in: 'cycle' });
  });
});

// -------------------------------------------------------------------------------------------------
// A compromised Director that encrypts ANOTHER image correctly for the ECU: a valid wrap, and a
// ciphertext whose hash its own metadata lists, so every check on the ciphertext passes; the
// plaintext check against the Image repository's length and hashes stops it in the slot.

describe('G16 a compromised Director encrypting another image for an ECU is refused by the plaintext check', () => {
  it('G16 partial-verification secondary', async () => {
    await assignEncrypted(ECM, BIG);
    await verifyWhileDriving();
    const evil = await encryptFor(EVIL_BIG, BIG.name, ECM, encryptionKeyOf(ECM));
    forgeOnBus(ECM, { [BIG.name]: encryptedTarget(BIG, ECM, 'ecm-x1', evil.entry) }, evil.ciphertext);
    await expectAttackRejected({ code: 'hash_mismatch', detectedBy: ECM, in: 'outcome' });
    expect(slotBytes(ECM)).toEqual(BIG.content);
  });

  it('G16 full-verification secondary', async () => {
    await assignEncrypted(ABS, IMAGES.abs);
    await verifyWhileDriving();
    const evil = await encryptFor(Buffer.from('brake ecu vX'), IMAGES.abs.name, ABS, encryptionKeyOf(ABS));
    forgeOnBus(ABS, { [IMAGES.abs.name]: encryptedTarget(IMAGES.abs, ABS, 'abs-z', evil.entry) }, evil.ciphertext);
    await expectAttackRejected({ code: 'hash_mismatch', detectedBy: ABS, in: 'outcome' });
    expect(slotBytes(ABS)).toEqual(IMAGES.abs.content);
  });

  it('G16 primary: nothing installed, its slot unchanged, the attack in its next version report', async () => {
    const { car, recorder } = scene();
    const evil = await encryptFor(Buffer.from('telematics vX'), IMAGES.tcu.name, PRIMARY, encryptionKeyOf(PRIMARY));
    serveForgedDirector({ targets: { [IMAGES.tcu.name]: encryptedTarget(IMAGES.tcu, PRIMARY, 'tcu-a', evil.entry) } });
    serveCiphertext(evil.ciphertext);
    const installedBefore = installedImages(car);
    const slotsBefore = trustedState(car)[join(PRIMARY, 'slots', 'ab-state.json')];
    const result = await car.primary.runCycle();
    expect(result).toMatchObject({ status: 'failed', outcomes: { [PRIMARY]: { status: 'failed', code: 'hash_mismatch' } } });
    expect(installedImages(car)).toEqual(installedBefore);
    expect(trustedState(car)[join(PRIMARY, 'slots', 'ab-state.json')]).toEqual(slotsBefore);
    const sent = recorder.manifests.length;
    await car.primary.sendVehicleVersionManifest();
    expect(recorder.manifests[sent]!.signed.ecu_version_reports[PRIMARY]!.signed.attacks_detected).toEqual([expect.objectContaining({ code: 'hash_mismatch' })]);
  });
});

// -------------------------------------------------------------------------------------------------
// Malformed encryption fields in Director targets: parsed strictly at the edge, refused as an
// attack that names the field, before anything is downloaded or trusted.

describe('malformed encryption fields in Director targets', () => {
  type Entry = Record<string, unknown>;
  it.each<[string, (entry: Entry) => unknown]>([
    ['scheme', (e) => ({ ...e, scheme: 'age-encryption.org/v1' })],
    ['keyid', (e) => ({ ...e, keyid: 'not-hex' })],
    ['encapsulatedKey', (e) => ({ ...e, encapsulatedKey: (e.encapsulatedKey as string).slice(2) })],
    ['wrappedKey', (e) => ({ ...e, wrappedKey: `${(e.wrappedKey as string).slice(1)}Z` })],
    ['encryptedTarget.length', (e) => ({ ...e, encryptedTarget: { ...(e.encryptedTarget as Entry), length: (e.encryptedTarget as { length: number }).length + 1 } })],
    ['encryptedTarget.filename', (e) => ({ ...e, encryptedTarget: { ...(e.encryptedTarget as Entry), filename: '../metadata/targets.json' } })],
    ['encryptedTarget.hashes.sha256', (e) => ({ ...e, encryptedTarget: { ...(e.encryptedTarget as Entry), hashes: { sha512: 'ab' } } })],
    ['encryption', () => 'plaintext, please'],
  ])('G17 a malformed %s is refused as director_targets, naming the field', async (field, mutate) => {
    await assignEncrypted(PRIMARY, IMAGES.tcu);
    const { entry, ciphertext } = await encryptFor(IMAGES.tcu.content, IMAGES.tcu.name, PRIMARY, encryptionKeyOf(PRIMARY));
    serveForgedDirector({ targets: { [IMAGES.tcu.name]: encryptedTarget(IMAGES.tcu, PRIMARY, 'tcu-a', mutate(entry as unknown as Entry)) } });
    serveCiphertext(ciphertext);
    const result = await expectCycleRejected({ code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' });
    expect(result.error?.message).toContain(`.${field}`);
    expect(scene().net.requests.filter((r) => r.kind === 'target')).toEqual([]);
    await expectReportedThenHonestUpdate({ code: 'director_targets', detectedBy: PRIMARY });
    expect(slotBytes(PRIMARY)).toEqual(IMAGES.tcu.content);
  });
});
