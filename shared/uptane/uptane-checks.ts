// Uptane's checks on top of TUF, pure: the Director-only targets checks (#check_targets steps 6-8 and
// the VIN rule), the match between Director and Image repository targets (#full_verification step
// 10), partial verification of Director targets for a secondary (#partial_verification,
// #verify_image), and the fields of an image the Director encrypted for an ECU. Primary and
// secondaries both use them, so they live in shared/.
import type { Ed25519Backend } from '../core/crypto/ed25519.js';
import { encryptedLength, IMAGE_ENCRYPTION_SCHEME, IMAGE_KEY_BYTES } from '../core/crypto/image-encryption.js';
import {
  DirectorTargetsError,
  ExpiredMetadataError,
  ImageRollbackError,
  IncompatibleImageError,
  RollbackError,
  TargetMismatchError,
  type ErrorContext,
} from '../core/errors.js';
import { parseMetadata } from '../core/metadata/parse.js';
import { parseEcuImageDelta, type EcuImageDelta } from './image-delta.js';
import { verifyThreshold } from '../core/metadata/sign.js';
import type { Metadata, RootSigned, TargetFile, TargetsSigned } from '../core/metadata/types.js';
import { isExpired } from '../core/trusted-metadata-set.js';

const DIRECTOR = 'director';

/** One image the Director tells one ECU to install. */
export interface EcuTarget {
  readonly ecuSerial: string;
  readonly hardwareId: string;
  readonly filename: string;
  /** The plaintext image's length and hashes (the Image repository's, #full_verification step 10.2). */
  readonly target: TargetFile;
  /** Present when the operator had the image encrypted for this ECU (docs/image-encryption.md). */
  readonly encryption?: EcuImageEncryption;
  /** Present when the Director offers a delta from the image the ECU reported (shared/uptane/image-delta.ts). */
  readonly delta?: EcuImageDelta;
}

/**
 * How the Director encrypted an image for one ECU (Uptane: Director targets for encrypted images):
 * the content key wrapped to the ECU's X25519 key, and the ciphertext the primary downloads from the
 * Director and checks against `encryptedTarget` before anything else.
 */
export interface EcuImageEncryption {
  readonly scheme: typeof IMAGE_ENCRYPTION_SCHEME;
  /** Keyid of the ECU encryption public key the content key is wrapped to. */
  readonly keyid: string;
  readonly encapsulatedKey: string;
  readonly wrappedKey: string;
  readonly encryptedTarget: { readonly filename: string; readonly length: number; readonly hashes: { readonly sha256: string } };
}

// Sizes fixed by the scheme: an X25519 encapsulated key (RFC 9180 Nenc) and the content key plus its AES-GCM tag.
const ENCAPSULATED_KEY_HEX = 64;
const WRAPPED_KEY_HEX = (IMAGE_KEY_BYTES + 16) * 2;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * custom.ecuIdentifiers[serial].encryption of Director target `filename`, parsed strictly at the
 * edge (docs/code-style.md R9): a known scheme, hex fields of the scheme's sizes, and a ciphertext
 * named by its hash whose length is the one the plaintext length gives. Anything else is an attack
 * on the ECU (DirectorTargetsError naming the field); undefined when the entry has no encryption.
 */
export function parseEcuImageEncryption(value: unknown, filename: string, serial: string, plaintextLength: number, ctx: ErrorContext): EcuImageEncryption | undefined {
  if (value === undefined) return undefined;
  const field = `${filename} custom.ecuIdentifiers.${serial}.encryption`;
  const fail = (name: string, why: string): never => {
    throw new DirectorTargetsError(`Director target ${field}${name === '' ? '' : `.${name}`} ${why}`, ctx);
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const hex = (v: unknown, name: string, length: number): string => {
    if (typeof v !== 'string' || v.length !== length || !/^[0-9a-f]*$/.test(v)) fail(name, `must be ${length} lowercase hex characters`);
    return v as string;
  };
  if (!isObject(value)) return fail('', 'must be an object');
  if (value.scheme !== IMAGE_ENCRYPTION_SCHEME) fail('scheme', `must be ${IMAGE_ENCRYPTION_SCHEME}, not ${JSON.stringify(value.scheme)}`);
  const keyid = hex(value.keyid, 'keyid', 64);
  const encapsulatedKey = hex(value.encapsulatedKey, 'encapsulatedKey', ENCAPSULATED_KEY_HEX);
  const wrappedKey = hex(value.wrappedKey, 'wrappedKey', WRAPPED_KEY_HEX);
  const encrypted = value.encryptedTarget;
  if (!isObject(encrypted)) return fail('encryptedTarget', 'must be an object');
  const hashes = encrypted.hashes;
  if (!isObject(hashes) || typeof hashes.sha256 !== 'string' || !SHA256_HEX.test(hashes.sha256)) fail('encryptedTarget.hashes.sha256', 'must be 64 lowercase hex characters');
  const sha256 = (hashes as { sha256: string }).sha256;
  // The ciphertext's name is its hash (GET /vehicle/images/<sha256>.enc): nothing else can be asked for.
  if (encrypted.filename !== `${sha256}.enc`) fail('encryptedTarget.filename', `must be ${sha256}.enc`);
  // The scheme fixes the ciphertext length for a plaintext length: a ciphertext that could hold more is refused unread (F2).
  const expected = encryptedLength(plaintextLength);
  if (encrypted.length !== expected) fail('encryptedTarget.length', `must be ${expected} for ${plaintextLength} plaintext bytes, not ${JSON.stringify(encrypted.length)}`);
  return {
    scheme: IMAGE_ENCRYPTION_SCHEME,
    keyid,
    encapsulatedKey,
    wrappedKey,
    encryptedTarget: { filename: `${sha256}.enc`, length: expected, hashes: { sha256 } },
  };
}

/**
 * The vehicle Director targets must be for: its VIN, and every ECU serial with its hardware id. Only
 * the primary knows the vehicle's ECUs; a secondary passes `ecus: undefined` and checks its own entry.
 */
export interface VehicleScope {
  readonly vin: string;
  readonly ecus: ReadonlyMap<string, string> | undefined;
}

/**
 * Uptane #check_targets steps 6-8 for Director targets: no delegations, no ECU listed twice, every
 * listed ECU present in the vehicle (the primary knows its ECUs; a secondary passes only itself), and
 * the VIN present and this vehicle's. Returns the targets per ECU.
 */
export function checkDirectorTargets(targets: TargetsSigned, vehicle: VehicleScope): EcuTarget[] {
  const ctx = { repository: DIRECTOR, role: 'targets' };
  // Step 6: the Director never delegates (G7).
  if (targets.delegations !== undefined) throw new DirectorTargetsError('Director targets must not delegate', ctx);
  // The VIN binds the file to this vehicle; required when there are no images (#targets_images_meta).
  const vin = targets.custom?.vin;
  if (vin !== undefined && vin !== vehicle.vin) throw new DirectorTargetsError(`Director targets are for vehicle ${vin}, not ${vehicle.vin}`, ctx);
  if (vin === undefined && Object.keys(targets.targets).length === 0) throw new DirectorTargetsError('Director targets with no images must carry the VIN', ctx);
  const seen = new Set<string>();
  const result: EcuTarget[] = [];
  for (const [filename, target] of Object.entries(targets.targets)) {
    const ecus = target.custom?.ecuIdentifiers;
    if (ecus === undefined || Object.keys(ecus).length === 0) throw new DirectorTargetsError(`Director target ${filename} names no ECU`, ctx);
    for (const [serial, identifier] of Object.entries(ecus)) {
      const { hardwareId } = identifier;
      // Step 7: no ECU appears twice (G6).
      if (seen.has(serial)) throw new DirectorTargetsError(`ECU ${serial} appears more than once in Director targets`, ctx);
      seen.add(serial);
      // Step 8: every ECU belongs to this vehicle (G5), with the hardware id the vehicle knows (G4).
      if (vehicle.ecus !== undefined) {
        const known = vehicle.ecus.get(serial);
        if (known === undefined) throw new DirectorTargetsError(`Director targets name ECU ${serial}, which is not in this vehicle`, ctx);
        if (known !== hardwareId) throw new IncompatibleImageError(`Director targets give ECU ${serial} hardware id ${hardwareId}; it is ${known}`, ctx);
      }
      const encryption = parseEcuImageEncryption((identifier as { encryption?: unknown }).encryption, filename, serial, target.length, ctx);
      const delta = parseEcuImageDelta((identifier as { delta?: unknown }).delta, filename, serial, target, ctx);
      // The Director never offers a delta of an encrypted image (docs/image-encryption.md): both at once is malformed.
      if (delta !== undefined && encryption !== undefined) throw new DirectorTargetsError(`Director target ${filename} offers ECU ${serial} both an encrypted image and a delta`, ctx);
      result.push({ ecuSerial: serial, hardwareId, filename, target, ...(encryption === undefined ? {} : { encryption }), ...(delta === undefined ? {} : { delta }) });
    }
  }
  return result;
}

/**
 * Uptane #full_verification step 10.2: the Image repository's entry for the same filename must have
 * the same length and hashes, list the ECU's hardware id, and carry the same release counter; and the
 * release counter must not drop below the one previously trusted for that ECU (step 10.2.3, C9).
 */
export function checkTargetsMatch(director: EcuTarget, image: TargetFile, previousReleaseCounter: number | undefined): void {
  const ctx = { repository: 'image', role: director.filename };
  if (image.length !== director.target.length) {
    throw new TargetMismatchError(`${director.filename}: Director says ${director.target.length} bytes, Image repository ${image.length}`, ctx);
  }
  const directorHashes = Object.entries(director.target.hashes);
  const imageHashes = image.hashes;
  if (directorHashes.length !== Object.keys(imageHashes).length || directorHashes.some(([alg, hex]) => imageHashes[alg] !== hex)) {
    throw new TargetMismatchError(`${director.filename}: Director and Image repository list different hashes`, ctx);
  }
  const hardwareIds = image.custom?.hardwareIds;
  if (hardwareIds === undefined || !hardwareIds.includes(director.hardwareId)) {
    throw new IncompatibleImageError(`${director.filename} is not signed for hardware id ${director.hardwareId} by the Image repository`, ctx);
  }
  const imageCounter = image.custom?.releaseCounter ?? 0;
  const directorCounter = director.target.custom?.releaseCounter ?? 0;
  if (imageCounter !== directorCounter) {
    throw new TargetMismatchError(`${director.filename}: release counter ${directorCounter} (Director) differs from ${imageCounter} (Image repository)`, ctx);
  }
  if (previousReleaseCounter !== undefined && imageCounter < previousReleaseCounter) {
    throw new ImageRollbackError(`${director.filename}: release counter ${imageCounter} is below the trusted ${previousReleaseCounter}`, ctx);
  }
}

/**
 * Partial verification (#partial_verification, #verify_image steps 1-5) of Director targets by a
 * secondary: signed by a threshold of the Director targets keys of its trusted Director root, not
 * expired, version not below the previous trusted one, and an entry for this ECU whose hardware id is
 * this ECU's and whose release counter does not drop. Returns this ECU's target, or undefined if the
 * Director lists nothing for it.
 */
export function verifyDirectorTargetsPartial(input: {
  readonly root: RootSigned;
  readonly targetsBytes: Uint8Array;
  readonly previousTargets: Metadata<TargetsSigned> | undefined;
  readonly ecuSerial: string;
  readonly hardwareId: string;
  readonly vin: string | undefined;
  readonly now: Date;
  readonly backend: Ed25519Backend;
}): { metadata: Metadata<TargetsSigned>; target: EcuTarget | undefined } {
  const ctx = { repository: DIRECTOR, role: 'targets' };
  const metadata = parseMetadata(input.targetsBytes, 'targets', ctx);
  verifyThreshold(metadata, { keys: input.root.keys, ...input.root.roles.targets }, input.backend, ctx);
  const previous = input.previousTargets;
  if (previous !== undefined && metadata.signed.version < previous.signed.version) {
    throw new RollbackError(`Director targets version ${metadata.signed.version} is below the trusted ${previous.signed.version}`, ctx);
  }
  if (isExpired(metadata.signed.expires, input.now)) throw new ExpiredMetadataError(`Director targets expired at ${metadata.signed.expires}`, ctx);
  const targets = checkDirectorTargets(metadata.signed, { vin: input.vin ?? metadata.signed.custom?.vin ?? '', ecus: undefined });
  const mine = targetOfThisEcu(targets, { serial: input.ecuSerial, hardwareId: input.hardwareId }, ctx);
  if (mine === undefined) return { metadata, target: undefined };
  const previousCounter = previous === undefined ? undefined : releaseCounterFor(previous.signed, input.ecuSerial);
  const counter = mine.target.custom?.releaseCounter ?? 0;
  if (previousCounter !== undefined && counter < previousCounter) {
    throw new ImageRollbackError(`release counter ${counter} is below the trusted ${previousCounter} for this ECU`, ctx);
  }
  return { metadata, target: mine };
}

/** The release counter trusted metadata gave `ecuSerial`, if it lists the ECU. */
export function releaseCounterFor(targets: TargetsSigned, ecuSerial: string): number | undefined {
  for (const target of Object.values(targets.targets)) {
    if (target.custom?.ecuIdentifiers?.[ecuSerial] !== undefined) return target.custom.releaseCounter ?? 0;
  }
  return undefined;
}

/**
 * A secondary's own entry in checked Director targets (undefined: nothing for it), with its hardware
 * id: the part of #check_targets step 8 a secondary can check, knowing only itself.
 */
export function targetOfThisEcu(targets: readonly EcuTarget[], ecu: { serial: string; hardwareId: string }, ctx: ErrorContext): EcuTarget | undefined {
  const mine = targets.find((t) => t.ecuSerial === ecu.serial);
  if (mine !== undefined && mine.hardwareId !== ecu.hardwareId) {
    throw new IncompatibleImageError(`Director targets give this ECU hardware id ${mine.hardwareId}; it is ${ecu.hardwareId}`, ctx);
  }
  return mine;
}
