// Attacks on images the real Director encrypted for each ECU (docs/image-encryption.md;
// docs/threat-model.md G14-G17), each stopped by one check: the network tampering with the
// ciphertext (the primary's check against the encrypted length and hash the Director signed), a
// compromised primary or bus passing tampered ciphertext on (the ECU's own chunk-by-chunk
// decryption), a wrap for another ECU or key (the unwrap), malformed encryption fields (the parser),
// and a compromised Director that encrypts another image correctly (the plaintext check against the
// Image repository in the inactive slot). Played by test/attacks/image-encryption.test.ts and
// `uptane sim attack`; the helpers are that file's too.
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
import type { TargetFile } from '../../shared/core/metadata/types.js';
import type { SecondaryTransport } from '../../shared/ecu/secondary-protocol.js';
import { ENCRYPTION_KEY_FILE } from '../../shared/ecu/encrypted-image.js';
import { saveEncryptionKeyPair } from '../../shared/files/key-files.js';
import type { EcuImageEncryption } from '../../shared/uptane/uptane-checks.js';
import type { FixtureImage } from '../harness/fleet-fixtures.js';
import { SimulatedVehicle } from '../vehicle.js';
import { rotateDirectorKeys } from './key-recovery.js';
import { bytesResponse, directorOnlineKeys, directorTarget, forgeRepository, readAll, streamOf } from './attacker.js';
import { ABS, ECM, hostileNetwork, IMAGES, PRIMARY, primaryDir, SceneError, serveForgedDirector, verifyWhileDriving, VIN, type AttackScene } from './scene.js';
import { observe, type AttackerPosition, type AttackScenario, type Observation } from './scenario.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Deterministic bytes no text search finds by accident: `n` of them, from a SHA-256 counter. */
export function noise(label: string, n: number): Buffer {
  const blocks = Array.from({ length: Math.ceil(n / 32) }, (_, i) => createHash('sha256').update(`${label} ${i}`).digest());
  return Buffer.concat(blocks).subarray(0, n);
}

/** Four and a half STREAM chunks: chunks to flip, cut and swap. */
export const BIG: FixtureImage = { name: 'engine/ecm-big-3.0.bin', content: noise('ecm big', 4 * IMAGE_CHUNK_BYTES + IMAGE_CHUNK_BYTES / 2), hardwareIds: ['ecm-x1'], releaseCounter: 3 };
/** Same length as BIG, other bytes: what a compromised Director would like the engine ECU to run. */
const EVIL_BIG = noise('evil ecm', BIG.content.length);
/** One sealed chunk: 64 KiB of plaintext and its 16-byte tag. */
export const SEALED_CHUNK = IMAGE_CHUNK_BYTES + 16;
export const chunkStart = (i: number): number => IMAGE_HEADER_BYTES + i * SEALED_CHUNK;

/** The honest operator asks the Director to encrypt `image` for `ecuSerial` (the ECU never asks); BIG is published first. */
export async function assignEncrypted(s: AttackScene, ecuSerial: string, image: FixtureImage): Promise<void> {
  if (image === BIG) await s.repos.publishImages([BIG]);
  const response = await s.repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial, image: image.name, encrypt: true });
  if (response.status !== 201) throw new SceneError(`assigning ${image.name} encrypted to ${ecuSerial}: HTTP ${response.status} ${JSON.stringify(response.json)}`);
}

/** The ECU's encryption public key, as provisioned and registered. */
export const encryptionKeyOf = (serial: string): EncryptionPublicKey => SimulatedVehicle.encryptionKeyFor({ vin: VIN }, serial).publicKey;

/** What the ECU's active slot holds, byte for byte. */
export function slotBytes(s: AttackScene, serial: string): Buffer {
  const slots = serial === PRIMARY ? s.car.primary.slots : s.car.secondaries.get(serial)!.slots;
  return readFileSync(slots.slotPath(slots.current.active));
}

/** The ciphertext the primary downloaded and checked, as it would hand it to an ECU. */
export function downloadedCiphertext(s: AttackScene): Buffer {
  const dir = join(primaryDir(s), 'encrypted-images');
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
function serveCiphertext(s: AttackScene, ciphertext: Buffer): void {
  const name = `${sha256(ciphertext)}.enc`;
  s.net.use((r) => (r.repo === 'director' && r.kind === 'target' && r.file === name ? bytesResponse(ciphertext.subarray(r.offset), r.offset) : undefined));
}

/**
 * A compromised primary (or bus) with the Director's stolen online keys: it gives `serial` Director
 * targets listing `targets` instead of the genuine ones, and `ciphertext`, if given, as the image.
 */
function forgeOnBus(s: AttackScene, serial: string, targets: Record<string, TargetFile>, ciphertext?: Buffer): void {
  const forged = forgeRepository(directorOnlineKeys(s.repos), join(s.dir, serial), 'director', { targets, custom: { vin: VIN } });
  const forgedB64 = Object.fromEntries(Object.entries(forged).map(([file, bytes]) => [file, bytes.toString('base64')]));
  // Only the roots stay genuine: a partial-verification secondary reads the one targets file sent.
  const genuineRoots = (director: Readonly<Record<string, string>>) => Object.fromEntries(Object.entries(director).filter(([file]) => /^\d+\.root\.json$/.test(file)));
  s.bus.on(serial, {
    putMetadata: (bundle, inner) => inner.putMetadata({ ...bundle, director: { ...genuineRoots(bundle.director), ...forgedB64 } }),
    ...(ciphertext === undefined ? {} : { putImage: (filename: string, _body: AsyncIterable<Uint8Array>, inner: SecondaryTransport) => inner.putImage(filename, streamOf(ciphertext)) }),
  });
}

/** After the honest update: the ECU's slot holds exactly the plaintext of `image`. */
const slotHolds = (serial: string, image: Pick<FixtureImage, 'name' | 'content'>) => async (s: AttackScene): Promise<readonly Observation[]> => [
  { ok: slotBytes(s, serial).equals(image.content), detail: `${serial}'s slot holds exactly the plaintext of ${image.name}` },
];

// -------------------------------------------------------------------------------------------------
// Ciphertext tampering: the four ways, on the network and on the bus.

const flipInThirdChunk = (c: Buffer): Buffer => {
  const out = Buffer.from(c);
  out.writeUInt8(out.readUInt8(chunkStart(2) + 100) ^ 0x01, chunkStart(2) + 100);
  return out;
};
const truncateAfterTwoChunks = (c: Buffer): Buffer => c.subarray(0, chunkStart(2));
const extendByOneByte = (c: Buffer): Buffer => Buffer.concat([c, Buffer.from([0])]);
const swapChunksOneAndTwo = (c: Buffer): Buffer =>
  Buffer.concat([c.subarray(0, chunkStart(1)), c.subarray(chunkStart(2), chunkStart(3)), c.subarray(chunkStart(1), chunkStart(2)), c.subarray(chunkStart(3))]);

const TAMPERINGS: ReadonlyArray<{ name: string; what: string; atPrimary: string; atEcu: string; tamper: (c: Buffer) => Buffer }> = [
  { name: 'flipped-byte', what: 'one flipped byte in a chunk', atPrimary: 'hash_mismatch', atEcu: 'image_decryption_failed', tamper: flipInThirdChunk },
  { name: 'truncated', what: 'truncated at a chunk boundary', atPrimary: 'length_mismatch', atEcu: 'image_decryption_failed', tamper: truncateAfterTwoChunks },
  { name: 'extended', what: 'extended by one byte', atPrimary: 'download_length', atEcu: 'download_length', tamper: extendByOneByte },
  { name: 'chunks-swapped', what: 'two chunks swapped', atPrimary: 'hash_mismatch', atEcu: 'image_decryption_failed', tamper: swapChunksOneAndTwo },
];

/** G15 on the network: the primary's check of the ciphertext stops each before any ECU sees it. */
const tamperedInTransit = (): AttackScenario[] =>
  TAMPERINGS.map(({ name, what, atPrimary, tamper }) => ({
    name: `g15-ciphertext-${name}-in-transit`,
    title: `G15 a ciphertext ${what} on the network is refused by the primary before any ECU sees it: ${atPrimary}`,
    position: 'network',
    expected: { code: atPrimary, detectedBy: PRIMARY, in: 'cycle' },
    vector: false,
    async stage(s) {
      await assignEncrypted(s, ECM, BIG);
      s.net.tamperTargets((genuine, r) => bytesResponse(r.repo === 'director' ? tamper(genuine) : genuine));
    },
    also: { afterHonest: slotHolds(ECM, BIG) },
  }));

/** G15 on the bus: a compromised primary skips the ciphertext check; the ECU's own decryption refuses it chunk by chunk. */
const tamperedOnTheBus = (): AttackScenario[] =>
  TAMPERINGS.map(({ name, what, atEcu, tamper }) => ({
    name: `g15-bus-ciphertext-${name}`,
    title: `G15 a ciphertext ${what}, handed on by a compromised primary, is refused by the partial-verification secondary itself: ${atEcu}`,
    position: 'in-vehicle bus',
    expected: { code: atEcu, detectedBy: ECM, in: 'outcome' },
    vector: false,
    async stage(s) {
      await assignEncrypted(s, ECM, BIG);
      await verifyWhileDriving(s);
      s.bus.on(ECM, { putImage: async (filename, body, inner) => inner.putImage(filename, streamOf(tamper(await readAll(body)))) });
    },
    also: { afterHonest: slotHolds(ECM, BIG) },
  }));

// -------------------------------------------------------------------------------------------------
// G14: a wrapped key or ciphertext meant for another ECU or key. The secondary's cases come over the
// bus from a primary that holds the Director's stolen online keys (a partial-verification secondary
// can only check the Director's signature); the primary's own, from a compromised Director.

/** The honest Director encrypted BIG for ecm-1 and the vehicle verified it while driving; the bus then carries what `forge` makes instead. */
function wrongWrap(name: string, title: string, forge: () => Promise<Encrypted>): AttackScenario {
  return {
    name,
    title,
    position: 'in-vehicle bus + Director online keys',
    expected: { code: 'image_key_unwrap_failed', detectedBy: ECM, in: 'outcome' },
    vector: false,
    async stage(s) {
      await assignEncrypted(s, ECM, BIG);
      await verifyWhileDriving(s);
      const forged = await forge();
      forgeOnBus(s, ECM, { [BIG.name]: encryptedTarget(BIG, ECM, 'ecm-x1', forged.entry) }, forged.ciphertext);
    },
  };
}

/** G16: a compromised Director (over the bus, with its stolen keys) encrypts another image correctly for a secondary. */
function otherImageOnTheBus(serial: typeof ECM | typeof ABS, image: FixtureImage, hardwareId: string, evil: Buffer, kind: string): AttackScenario {
  return {
    name: `g16-other-image-encrypted-${kind}-secondary`,
    title: `G16 a compromised Director encrypting another image for the ${kind}-verification secondary is refused by the plaintext check in its inactive slot`,
    position: 'in-vehicle bus + Director online keys',
    expected: { code: 'hash_mismatch', detectedBy: serial, in: 'outcome' },
    vector: false,
    async stage(s) {
      await assignEncrypted(s, serial, image);
      await verifyWhileDriving(s);
      const forged = await encryptFor(evil, image.name, serial, encryptionKeyOf(serial));
      forgeOnBus(s, serial, { [image.name]: encryptedTarget(image, serial, hardwareId, forged.entry) }, forged.ciphertext);
    },
    also: { afterHonest: slotHolds(serial, image) },
  };
}

// -------------------------------------------------------------------------------------------------
// G17: malformed encryption fields in Director targets, parsed strictly at the edge and refused as an
// attack that names the field, before anything is downloaded or trusted.

type Entry = Record<string, unknown>;
const MALFORMED: ReadonlyArray<readonly [name: string, field: string, mutate: (entry: Entry) => unknown]> = [
  ['scheme', 'scheme', (e) => ({ ...e, scheme: 'age-encryption.org/v1' })],
  ['keyid', 'keyid', (e) => ({ ...e, keyid: 'not-hex' })],
  ['encapsulated-key', 'encapsulatedKey', (e) => ({ ...e, encapsulatedKey: (e.encapsulatedKey as string).slice(2) })],
  ['wrapped-key', 'wrappedKey', (e) => ({ ...e, wrappedKey: `${(e.wrappedKey as string).slice(1)}Z` })],
  ['ciphertext-length', 'encryptedTarget.length', (e) => ({ ...e, encryptedTarget: { ...(e.encryptedTarget as Entry), length: (e.encryptedTarget as { length: number }).length + 1 } })],
  ['ciphertext-filename', 'encryptedTarget.filename', (e) => ({ ...e, encryptedTarget: { ...(e.encryptedTarget as Entry), filename: '../metadata/targets.json' } })],
  ['ciphertext-hashes', 'encryptedTarget.hashes.sha256', (e) => ({ ...e, encryptedTarget: { ...(e.encryptedTarget as Entry), hashes: { sha512: 'ab' } } })],
  ['encryption', 'encryption', () => 'plaintext, please'],
];

const malformed = (): AttackScenario[] =>
  MALFORMED.map(([name, field, mutate]) => ({
    name: `g17-malformed-${name}`,
    title: `G17 a malformed ${field} in Director targets is refused as director_targets, naming the field, before any download`,
    position: 'Director online keys' as AttackerPosition,
    expected: { code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' as const },
    vector: false,
    async stage(s) {
      await assignEncrypted(s, PRIMARY, IMAGES.tcu);
      const { entry, ciphertext } = await encryptFor(IMAGES.tcu.content, IMAGES.tcu.name, PRIMARY, encryptionKeyOf(PRIMARY));
      serveForgedDirector(s, { targets: { [IMAGES.tcu.name]: encryptedTarget(IMAGES.tcu, PRIMARY, 'tcu-a', mutate(entry as unknown as Entry)) } });
      serveCiphertext(s, ciphertext);
    },
    also: {
      afterAttack: async (s, result) => [
        { ok: result.error?.message.includes(`.${field}`) === true, detail: `the error names .${field}: ${result.error?.message ?? 'no error'}` },
        observe('nothing was downloaded', s.net.requests.filter((r) => r.kind === 'target').length, 0),
      ],
      afterHonest: slotHolds(PRIMARY, IMAGES.tcu),
    },
  }));

// -------------------------------------------------------------------------------------------------

export const ENCRYPTION_ATTACKS: readonly AttackScenario[] = [
  {
    name: 'f4-ciphertext-trickled',
    title: 'F4 a ciphertext trickled by the network below the minimum speed is a slow-retrieval attack',
    position: 'network (HTTP proxy)',
    expected: { code: 'slow_retrieval', detectedBy: PRIMARY, in: 'cycle' },
    vector: false,
    async stage(s) {
      await assignEncrypted(s, ECM, BIG);
      await hostileNetwork(s, 'director', { kind: 'trickle', bytesPerTick: 64, tickMs: 100 }, (r) => r.kind === 'target');
    },
  },
  ...tamperedInTransit(),
  ...tamperedOnTheBus(),
  {
    name: 'g15-bus-ciphertext-flipped-byte-full-secondary',
    title: 'G15 a ciphertext with one flipped byte in its only chunk, handed on by a compromised primary, is refused by the full-verification secondary itself: image_decryption_failed',
    position: 'in-vehicle bus',
    expected: { code: 'image_decryption_failed', detectedBy: ABS, in: 'outcome' },
    vector: false,
    async stage(s) {
      await assignEncrypted(s, ABS, IMAGES.abs);
      await verifyWhileDriving(s);
      s.bus.on(ABS, {
        putImage: async (filename, body, inner) => {
          const ciphertext = Buffer.from(await readAll(body));
          ciphertext.writeUInt8(ciphertext.readUInt8(IMAGE_HEADER_BYTES) ^ 0x80, IMAGE_HEADER_BYTES);
          return inner.putImage(filename, streamOf(ciphertext));
        },
      });
    },
    also: { afterHonest: slotHolds(ABS, IMAGES.abs) },
  },
  wrongWrap('g14-wrap-for-another-ecu', 'G14 swap: the engine ECU is handed the wrapped key and ciphertext the Director made for the brake ECU', () =>
    encryptFor(BIG.content, BIG.name, ABS, encryptionKeyOf(ABS)),
  ),
  wrongWrap('g14-wrap-for-another-ecu-keyid-rewritten', 'G14 swap with the keyid rewritten to the engine ECU: the wrap still opens only for the brake ECU', () =>
    encryptFor(BIG.content, BIG.name, ABS, encryptionKeyOf(ABS), encryptionKeyOf(ECM).keyid),
  ),
  wrongWrap('g14-wrap-to-wrong-key', 'G14 a wrapped key encrypted to the wrong ECU key (not the one the ECU holds) is refused', () =>
    encryptFor(BIG.content, BIG.name, ECM, EncryptionKeyPair.fromPrivateBytes(noise('stranger key', 32)).publicKey, encryptionKeyOf(ECM).keyid),
  ),
  wrongWrap('g14-wrap-under-another-keyid', 'G14 a wrap that would open, under a keyid naming another ECU key, is refused: the metadata must name the key it used', () =>
    encryptFor(BIG.content, BIG.name, ECM, encryptionKeyOf(ECM), encryptionKeyOf(ABS).keyid),
  ),
  {
    // No attacker: an honest Director encrypts for an ECU provisioned before image encryption. The
    // recovery is the dealer's: the ECU gets its key (docs/image-encryption.md).
    name: 'g14-ecu-without-encryption-key',
    title: 'G14 an ECU that holds no encryption key (provisioned before image encryption) refuses an image encrypted for it, keeps its image and reports it',
    position: 'none: an ECU without its encryption key',
    expected: { code: 'image_key_unwrap_failed', detectedBy: ECM, in: 'outcome' },
    vector: false,
    async stage(s) {
      await assignEncrypted(s, ECM, BIG);
      await verifyWhileDriving(s);
      rmSync(join(s.dir, ECM, ENCRYPTION_KEY_FILE));
      await s.car.start();
    },
    async recover(s) {
      saveEncryptionKeyPair(join(s.dir, ECM, ENCRYPTION_KEY_FILE), SimulatedVehicle.encryptionKeyFor({ vin: VIN }, ECM));
      await s.car.start();
    },
    also: { afterHonest: slotHolds(ECM, BIG) },
  },
  {
    name: 'g14-primary-given-another-ecus-wrap',
    title: "G14 the primary given the engine ECU's wrap for its own image refuses it before it trusts the metadata",
    position: 'Director online keys',
    expected: { code: 'image_key_unwrap_failed', detectedBy: PRIMARY, in: 'cycle' },
    vector: false,
    async stage(s) {
      await assignEncrypted(s, PRIMARY, IMAGES.tcu);
      const forEcm = await encryptFor(IMAGES.tcu.content, IMAGES.tcu.name, ECM, encryptionKeyOf(ECM));
      serveForgedDirector(s, { targets: { [IMAGES.tcu.name]: encryptedTarget(IMAGES.tcu, PRIMARY, 'tcu-a', forEcm.entry) } });
      serveCiphertext(s, forEcm.ciphertext);
    },
  },
  otherImageOnTheBus(ECM, BIG, 'ecm-x1', EVIL_BIG, 'partial'),
  otherImageOnTheBus(ABS, IMAGES.abs, 'abs-z', Buffer.from('brake ecu vX'), 'full'),
  {
    name: 'g16-other-image-encrypted-primary',
    // The forged metadata is validly signed and agrees with the Image repository: the primary trusts
    // it and refuses only the plaintext. Its newer versions stay trusted until the OEM rotates the
    // Director's keys (docs/uptane-conformance.md 9.2), which is the recovery.
    title: 'G16 a compromised Director encrypting another image for the primary: nothing installed, its slot unchanged, the attack in its next version report; the honest update after the OEM rotates the Director keys',
    position: 'Director online keys',
    expected: { code: 'hash_mismatch', detectedBy: PRIMARY, in: 'outcome', trustsValidMetadata: [PRIMARY] },
    vector: false,
    async stage(s) {
      await assignEncrypted(s, PRIMARY, IMAGES.tcu);
      const evil = await encryptFor(Buffer.from('telematics vX'), IMAGES.tcu.name, PRIMARY, encryptionKeyOf(PRIMARY));
      serveForgedDirector(s, { targets: { [IMAGES.tcu.name]: encryptedTarget(IMAGES.tcu, PRIMARY, 'tcu-a', evil.entry) } });
      serveCiphertext(s, evil.ciphertext);
    },
    async recover(s) {
      await rotateDirectorKeys(s.repos, 'recovery');
    },
    also: { afterHonest: slotHolds(PRIMARY, IMAGES.tcu) },
  },
  ...malformed(),
];
