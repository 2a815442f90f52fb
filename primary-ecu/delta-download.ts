// The primary's own image from a delta (issue 21 item 2; docs/transport.md "Delta updates"): when the
// Director's targets offer this ECU a delta from exactly the image in its active slot, the delta is
// downloaded from the Director instead of the image, checked against the length and SHA-256 the
// Director signed for it while it streams in (the same checks and resume as a ciphertext), applied
// against the active slot, and what it gives is checked against the target's signed length and
// hashes (which the Image repository signs too) before it is put where a downloaded image would be.
// So the install that follows cannot tell the two apart, and a delta can only save bytes. Any
// failure leaves no image behind, and the caller falls back to the full download.
import { createReadStream, writeSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DeltaMismatchError, StorageError, UptaneError } from '../shared/core/errors.js';
import { MultiHasher } from '../shared/core/hashing.js';
import { fsyncDirectory } from '../shared/files/fs-atomic.js';
import { createDeltaApplier } from '../shared/files/zstd-delta.js';
import type { AbSlots } from '../shared/ecu/ab-slots.js';
import type { DirectorChannel } from '../shared/uptane/director-channel.js';
import type { EcuImageDelta } from '../shared/uptane/image-delta.js';
import type { EcuTarget } from '../shared/uptane/uptane-checks.js';
import { downloadEncryptedImage } from './encrypted-download.js';

export type DeltaTarget = EcuTarget & { readonly delta: EcuImageDelta };

export interface DeltaDownloadContext {
  readonly channel: DirectorChannel;
  readonly slots: AbSlots;
  /** Where deltas are downloaded to (`<primary>/deltas`); each goes once applied or refused. */
  readonly directory: string;
  /** The largest image (installed or new) a delta is taken for: applying holds about twice this in memory. */
  readonly maxImageBytes: number;
  readonly onProgress?: (received: number, total: number) => void;
}

/** Whether the delta applies here: it starts from exactly the image in the active slot, and both images are within the cap. */
export function isDeltaApplicable(t: DeltaTarget, slots: AbSlots, maxImageBytes: number): boolean {
  const installed = slots.installed;
  return (
    installed.hashes.sha256 === t.delta.from.hashes.sha256 &&
    installed.length === t.delta.from.length &&
    installed.length <= maxImageBytes &&
    t.target.length <= maxImageBytes
  );
}

/**
 * Makes image `t` at `destination` from its delta. Throws the typed error of what failed: the delta's
 * download (`download_length`, `length_mismatch`, `hash_mismatch`, a network fault) or its result
 * (`delta_mismatch`); `destination` then does not exist.
 */
export async function downloadImageByDelta(t: DeltaTarget, destination: string, ctx: DeltaDownloadContext): Promise<void> {
  const errorContext = { repository: 'director', role: t.delta.filename };
  await mkdir(ctx.directory, { recursive: true });
  const deltaPath = join(ctx.directory, t.delta.filename);
  try {
    await downloadEncryptedImage(ctx.channel, t.delta, deltaPath, ctx.onProgress);
    // Whole in memory: zstd takes the reference as one buffer (capped by isDeltaApplicable).
    const reference = await readFile(ctx.slots.slotPath(ctx.slots.current.active)).catch((err: unknown) => {
      throw new StorageError(`cannot read the active slot to apply ${t.delta.filename}: ${(err as Error).message}`, { ...errorContext, cause: err });
    });
    await applyDelta(reference, deltaPath, destination, t, ctx.maxImageBytes);
  } finally {
    await rm(deltaPath, { force: true });
  }
}

/** Applies the delta at `deltaPath` to `reference` into `destination`, which appears only if it is the signed image. */
async function applyDelta(reference: Buffer, deltaPath: string, destination: string, t: DeltaTarget, maxImageBytes: number): Promise<void> {
  const errorContext = { repository: 'director', role: t.delta.filename };
  const partial = `${destination}.part`;
  const hasher = new MultiHasher(Object.keys(t.target.hashes));
  let length = 0;
  const file = await open(partial, 'w', 0o600);
  try {
    try {
      for await (const chunk of createReadStream(deltaPath, { highWaterMark: 1024 * 1024 }).pipe(createDeltaApplier(reference, maxImageBytes)) as AsyncIterable<Buffer>) {
        length += chunk.length;
        // Cut off at the signed length: a delta cannot write more than the image it claims to give.
        if (length > t.target.length) throw new DeltaMismatchError(`${t.delta.filename} gives more than the ${t.target.length} bytes signed for ${t.filename}`, errorContext);
        hasher.update(chunk);
        for (let written = 0; written < chunk.length; ) written += writeSync(file.fd, chunk, written);
      }
    } catch (err) {
      if (err instanceof UptaneError) throw err;
      // zstd refused it: corrupt, made against another base, or asking for a window past the cap.
      throw new DeltaMismatchError(`${t.delta.filename} does not apply to the installed image: ${(err as Error).message}`, { ...errorContext, cause: err });
    }
    if (length !== t.target.length) throw new DeltaMismatchError(`${t.delta.filename} gives ${length} bytes; ${t.target.length} are signed for ${t.filename}`, errorContext);
    if (!hasher.matches(t.target.hashes)) throw new DeltaMismatchError(`${t.delta.filename} does not give the image signed as ${t.filename} (hashes differ)`, errorContext);
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(partial, { force: true });
    throw err;
  }
  await file.close();
  await rename(partial, destination);
  fsyncDirectory(dirname(destination));
}
