// An ECU's side of per-ECU image encryption (docs/image-encryption.md), the same on the primary (its
// own image) and on every secondary: open the content key the Director wrapped to this ECU's X25519
// key, bound to this ECU, this image and this ciphertext, then decrypt chunk by chunk into the
// inactive slot, where AbSlots.stage checks the plaintext against the Image repository's length and
// hashes before it can boot. A ciphertext or a wrap made for another ECU never gets that far.
import { decryptImage, unwrapImageKey, type EncryptionKeyPair } from '../core/crypto/image-encryption.js';
import { DownloadLengthError, ImageKeyUnwrapError } from '../core/errors.js';
import type { EcuImageEncryption, EcuTarget } from '../uptane/uptane-checks.js';
import type { AbSlots } from './ab-slots.js';

/** The ECU's X25519 image-encryption private key in its folder, beside its signing key (PKCS#8 PEM, 0600). */
export const ENCRYPTION_KEY_FILE = 'encryption-key.pem';

/** An encrypted target: the Director entry of an image encrypted for one ECU. */
export type EncryptedEcuTarget = EcuTarget & { readonly encryption: EcuImageEncryption };

export function isEncrypted(target: EcuTarget): target is EncryptedEcuTarget {
  return target.encryption !== undefined;
}

/**
 * The content key of `target`, unwrapped with this ECU's own encryption key. A wrap to another key
 * (keyid), or one bound to another ECU, image or ciphertext, is ImageKeyUnwrapError, an attack: a
 * ciphertext for ECU A handed to ECU B, or a Director that wrapped to the wrong key.
 */
export async function unwrapTargetKey(target: EncryptedEcuTarget, own: EncryptionKeyPair | undefined): Promise<Uint8Array> {
  const { encryption } = target;
  const ctx = { repository: 'director', role: target.filename };
  if (own === undefined) {
    throw new ImageKeyUnwrapError(`${target.filename} is encrypted for ECU ${target.ecuSerial}, which holds no encryption key (provisioned before image encryption?)`, ctx);
  }
  if (encryption.keyid !== own.publicKey.keyid) {
    throw new ImageKeyUnwrapError(`${target.filename} is wrapped to encryption key ${encryption.keyid}, not ECU ${target.ecuSerial}'s ${own.publicKey.keyid}`, ctx);
  }
  const binding = { ecuSerial: target.ecuSerial, filename: target.filename, ciphertextSha256: encryption.encryptedTarget.hashes.sha256 };
  try {
    return await unwrapImageKey({ encapsulatedKey: encryption.encapsulatedKey, wrappedKey: encryption.wrappedKey }, own, binding);
  } catch (err) {
    if (!(err instanceof ImageKeyUnwrapError)) throw err;
    // Named by the image and repository like every other refusal of Director metadata.
    throw new ImageKeyUnwrapError(err.message, { ...ctx, cause: err });
  }
}

/** `body`, refused with DownloadLengthError once it passes `maxBytes` (the ciphertext's signed length: F2). */
export async function* capped(body: AsyncIterable<Uint8Array>, maxBytes: number, what: string): AsyncGenerator<Uint8Array> {
  let received = 0;
  for await (const chunk of body) {
    received += chunk.length;
    if (received > maxBytes) throw new DownloadLengthError(`${what} is longer than its signed ${maxBytes} bytes`, { repository: 'director', role: what });
    yield chunk;
  }
}

/**
 * Unwraps the key, then streams the ciphertext through decryption into the inactive slot: each
 * chunk reaches the slot only after its tag verified (ImageDecryptionError otherwise), and the slot
 * checks the plaintext's length and hashes (the Image repository's) before the image can boot. On
 * any failure the slot state is as it was.
 */
export async function stageEncryptedImage(slots: AbSlots, target: EncryptedEcuTarget, own: EncryptionKeyPair | undefined, ciphertext: AsyncIterable<Uint8Array>): Promise<void> {
  const key = await unwrapTargetKey(target, own);
  const { encryptedTarget } = target.encryption;
  const plaintext = decryptImage(key, capped(ciphertext, encryptedTarget.length, encryptedTarget.filename), { maxPlaintextBytes: target.target.length });
  await slots.stage({ filename: target.filename, length: target.target.length, hashes: target.target.hashes }, plaintext);
}
