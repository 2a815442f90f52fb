// Figure 12's vehicle, in a worker thread (the Image repository and the Director keep the main
// thread): per image and repetition, back to back,
//   1. the plain download of figure 4: RepositoryUpdater.downloadTarget of the plaintext image from
//      the Image repository (length-capped, sha256 + sha512, written and fsync'd), the baseline;
//   2. the primary with an image the Director encrypted for it: downloadEncryptedImage of the
//      ciphertext from the Director's GET /vehicle/images/<sha256>.enc through HttpDirectorChannel
//      (a real vehicle session; length + sha256 checked, written and fsync'd), then
//      stageEncryptedImage from that file into its inactive A/B slot (unwrap, decrypt, plaintext
//      checked against the Image repository's length and hashes, fsync'd), as primary.ts installOwn does;
//   3. the secondary: stageEncryptedImage of the same ciphertext file into its own slot, with its own
//      key and wrap, as secondary.ts putImage does with what the primary hands it;
// and, to say where the time goes, the plaintext staged into a slot with no decryption and the
// ciphertext only decrypted (no hash, no file). Memory is sampled during 1-3.
import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { decryptImage, EncryptionKeyPair } from '../../shared/core/crypto/image-encryption.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { RepositoryUpdater } from '../../shared/client/updater.js';
import { AbSlots } from '../../shared/ecu/ab-slots.js';
import { stageEncryptedImage, unwrapTargetKey, type EncryptedEcuTarget } from '../../shared/ecu/encrypted-image.js';
import type { DirectorChannel } from '../../shared/uptane/director-channel.js';
import { HttpDirectorChannel } from '../../shared/uptane/director-channel-http.js';
import { downloadEncryptedImage } from '../../primary-ecu/encrypted-download.js';
import { RunningClock, type ClockAnchor } from './clock.js';
import { collectGarbage, sampleMemory, type MemoryPeaks } from './stats.js';

export interface EncryptedDownloadImage {
  /** The plaintext image's name in the Image repository (and in the Director's targets). */
  readonly name: string;
  readonly vin: string;
  /** PrivateKey.fromLabel label of the vehicle's primary ECU signing key (the Director knows its public key). */
  readonly primaryKeyLabel: string;
  /** The Director targets entries of the primary and the secondary, as checkDirectorTargets returned them. */
  readonly primary: EncryptedEcuTarget;
  readonly secondary: EncryptedEcuTarget;
  /** The 32 private bytes of each ECU's X25519 encryption key. */
  readonly primaryEncryptionKey: Uint8Array;
  readonly secondaryEncryptionKey: Uint8Array;
  readonly repetitions: number;
}

export interface EncryptedDownloadJob {
  readonly imageRepoUrl: string;
  readonly imageRoot: Uint8Array;
  readonly directorUrl: string;
  readonly directory: string;
  readonly anchor: ClockAnchor;
  /** The memory diagnostic forces a full garbage collection every this many bytes of ciphertext read. */
  readonly collectEveryBytes: number;
  readonly images: readonly EncryptedDownloadImage[];
}

export interface Timed {
  readonly seconds: readonly number[];
  readonly memory: readonly MemoryPeaks[];
}

export interface EncryptedDownloadMeasurement {
  readonly name: string;
  /** Plaintext bytes. */
  readonly bytes: number;
  readonly ciphertextBytes: number;
  /** Per repetition i: plain[i], primary[i] and secondary[i] ran back to back, in that order. */
  readonly plain: Timed;
  readonly primary: Timed;
  /** The primary's two parts: the ciphertext download, and the decryption into its slot. */
  readonly primaryDownloadSeconds: readonly number[];
  readonly primaryStageSeconds: readonly number[];
  readonly secondary: Timed;
  /** For comparison: AbSlots.stage of the plaintext (the plain download's file), no decryption. */
  readonly plainStageSeconds: readonly number[];
  /** For comparison: the ciphertext file only decrypted (read in 1 MiB pieces), no hash, no file written. */
  readonly decryptOnlySeconds: readonly number[];
  /**
   * Diagnostic, one run after the timed ones: the primary's and the secondary's paths again with a
   * full garbage collection forced every `collectEveryBytes` of ciphertext they read (the bench
   * wraps their input; the product code is the same). If their Buffers then stay flat, what grew in
   * the timed runs was garbage not yet collected, not data held.
   */
  readonly collected: { readonly primary: MemoryPeaks; readonly secondary: MemoryPeaks };
}

const job = workerData as EncryptedDownloadJob;

async function main(): Promise<EncryptedDownloadMeasurement[]> {
  const clock = new RunningClock(job.anchor);
  const fetcher = new HttpFetcher();
  const store = new FileMetadataStore(join(job.directory, 'image-metadata'));
  store.persist('root', job.imageRoot);
  const updater = new RepositoryUpdater({
    repository: 'image',
    metadataUrl: `${job.imageRepoUrl}/metadata`,
    targetsUrl: `${job.imageRepoUrl}/targets`,
    store,
    fetcher,
    clock,
    backend: nodeBackend,
  });
  await updater.refresh();

  const results: EncryptedDownloadMeasurement[] = [];
  for (const image of job.images) {
    const dir = join(job.directory, image.vin);
    mkdirSync(dir, { recursive: true });
    // The primary's link to its Director: a session opened once (one signed request), then bearer
    // requests, as a primary's update cycle does.
    const channel = new HttpDirectorChannel({
      directorUrl: job.directorUrl,
      key: PrivateKey.fromLabel(image.primaryKeyLabel),
      backend: nodeBackend,
      clock,
      log: () => undefined,
      fetcher,
      poster: fetcher,
    });
    await channel.openSession();
    const primaryKey = EncryptionKeyPair.fromPrivateBytes(image.primaryEncryptionKey);
    const secondaryKey = EncryptionKeyPair.fromPrivateBytes(image.secondaryEncryptionKey);
    const slotsOf = async (ecu: string) => {
      AbSlots.provision(join(dir, ecu), { filename: `factory/${ecu}.bin`, content: Buffer.from(`factory image of ${ecu}`) });
      return AbSlots.open(join(dir, ecu));
    };
    const primarySlots = await slotsOf('primary');
    const secondarySlots = await slotsOf('secondary');
    const referenceSlots = await slotsOf('reference');

    const lookup = await updater.findTarget(image.name);
    const plainTarget = image.primary.target;
    if (lookup.target.length !== plainTarget.length || lookup.target.hashes.sha256 !== plainTarget.hashes.sha256) {
      throw new Error(`the Director's ${image.name} is not the Image repository's`);
    }
    const encryptedTarget = image.primary.encryption.encryptedTarget;
    if (encryptedTarget.hashes.sha256 !== image.secondary.encryption.encryptedTarget.hashes.sha256) throw new Error('the primary and the secondary were sent different ciphertexts');
    const plainPath = join(dir, 'image.bin');
    const ciphertextPath = join(dir, encryptedTarget.filename);
    const slotImage = { filename: image.name, length: plainTarget.length, hashes: plainTarget.hashes };
    const key = await unwrapTargetKey(image.primary, primaryKey);
    const ciphertext = () => createReadStream(ciphertextPath, { highWaterMark: 1024 * 1024 });

    let plain: Timed = { seconds: [], memory: [] };
    let primary: Timed = { seconds: [], memory: [] };
    let secondary: Timed = { seconds: [], memory: [] };
    const primaryDownloadSeconds: number[] = [];
    const primaryStageSeconds: number[] = [];
    const plainStageSeconds: number[] = [];
    const decryptOnlySeconds: number[] = [];
    for (let r = 0; r < image.repetitions; r++) {
      // 1. The baseline: figure 4's plain download of the same image.
      rmSync(plainPath, { force: true });
      let sampler = sampleMemory();
      let t0 = performance.now();
      await updater.downloadTarget(lookup, plainPath);
      plain = merge(plain, (performance.now() - t0) / 1000, sampler.stop());

      // 2. The primary: ciphertext from the Director, checked and durable, then decrypted into its slot.
      rmSync(ciphertextPath, { force: true });
      sampler = sampleMemory();
      t0 = performance.now();
      await downloadEncryptedImage(channel, encryptedTarget, ciphertextPath);
      const t1 = performance.now();
      const primaryCiphertext = ciphertext();
      try {
        await stageEncryptedImage(primarySlots, image.primary, primaryKey, primaryCiphertext);
      } finally {
        primaryCiphertext.destroy();
      }
      const t2 = performance.now();
      primary = merge(primary, (t2 - t0) / 1000, sampler.stop());
      primaryDownloadSeconds.push((t1 - t0) / 1000);
      primaryStageSeconds.push((t2 - t1) / 1000);

      // 3. The secondary: the same ciphertext, its own wrap and key, into its own slot.
      sampler = sampleMemory();
      t0 = performance.now();
      const secondaryCiphertext = ciphertext();
      try {
        await stageEncryptedImage(secondarySlots, image.secondary, secondaryKey, secondaryCiphertext);
      } finally {
        secondaryCiphertext.destroy();
      }
      secondary = merge(secondary, (performance.now() - t0) / 1000, sampler.stop());

      // For comparison, not paired: the slot write and check alone, and the decryption alone.
      collectGarbage();
      t0 = performance.now();
      await referenceSlots.stage(slotImage, createReadStream(plainPath, { highWaterMark: 1024 * 1024 }));
      plainStageSeconds.push((performance.now() - t0) / 1000);
      collectGarbage();
      t0 = performance.now();
      let decrypted = 0;
      for await (const chunk of decryptImage(key, ciphertext(), { maxPlaintextBytes: plainTarget.length })) decrypted += chunk.length;
      decryptOnlySeconds.push((performance.now() - t0) / 1000);
      if (decrypted !== plainTarget.length) throw new Error(`decrypted ${decrypted} bytes, not ${plainTarget.length}`);
    }
    // Diagnostic (see `collected`): the same two paths, their input wrapped to force collections.
    rmSync(ciphertextPath, { force: true });
    let sampler = sampleMemory();
    await downloadEncryptedImage(collectingChannel(channel), encryptedTarget, ciphertextPath);
    await stageEncryptedImage(primarySlots, image.primary, primaryKey, collecting(ciphertext()));
    const collectedPrimary = sampler.stop();
    sampler = sampleMemory();
    await stageEncryptedImage(secondarySlots, image.secondary, secondaryKey, collecting(ciphertext()));
    const collected = { primary: collectedPrimary, secondary: sampler.stop() };

    // What the slots hold is what the Image repository signed (stage checked it; this checks the bench).
    for (const slots of [primarySlots, secondarySlots]) {
      if (slots.current.staged?.hashes.sha256 !== plainTarget.hashes.sha256) throw new Error('a slot does not hold the staged image');
    }
    results.push({
      name: image.name,
      bytes: plainTarget.length,
      ciphertextBytes: encryptedTarget.length,
      plain,
      primary,
      primaryDownloadSeconds,
      primaryStageSeconds,
      secondary,
      plainStageSeconds,
      decryptOnlySeconds,
      collected,
    });
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

/** `body`, with a full garbage collection after every `job.collectEveryBytes` passed on. */
async function* collecting(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let since = 0;
  for await (const chunk of body) {
    yield chunk;
    since += chunk.length;
    if (since >= job.collectEveryBytes) {
      since = 0;
      collectGarbage();
    }
  }
}

/** `channel`, its image bodies passed through `collecting`. */
function collectingChannel(channel: DirectorChannel): DirectorChannel {
  return {
    metadataLocation: channel.metadataLocation,
    openSession: () => channel.openSession(),
    resetSession: () => channel.resetSession(),
    fetchMetadata: (name, options) => channel.fetchMetadata(name, options),
    fetchImage: async (name, options) => {
      const response = await channel.fetchImage(name, options);
      return { offset: response.offset, body: collecting(response.body) };
    },
    sendManifest: (body) => channel.sendManifest(body),
  };
}

function merge(previous: Timed, seconds: number, memory: MemoryPeaks): Timed {
  return { seconds: [...previous.seconds, seconds], memory: [...previous.memory, memory] };
}

main().then(
  (results) => parentPort!.postMessage({ results }),
  (err: unknown) => parentPort!.postMessage({ fatal: (err as Error).stack ?? String(err) }),
);
