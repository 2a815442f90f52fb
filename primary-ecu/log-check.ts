// A primary that requires the Image repository's transparency log to hold the targets version it
// verified (docs/transparency-log.md "Vehicles requiring inclusion proofs"). Opt-in at provisioning:
// a primary folder with image-log.json holds the log's public key, its name, the witnesses whose
// cosignatures it requires and the oldest head it accepts. After full verification and before
// anything is downloaded or installed, the primary
//
//   1. fetches the log's head from <image repository URL>/log/tree-head (with the witness threshold,
//      ?min_cosignatures=N: the newest head that many witnesses cosigned) and verifies it: the log's
//      signature (LogTreeHeadSignatureError), the witnesses' cosignatures up to the threshold (the
//      same error), its age (LogTreeHeadStaleError: a log frozen in the past);
//   2. checks it extends the head it accepted last time, kept in image-log-head.json
//      (LogInconsistentError: a fork, a dropped entry, a log turned back);
//   3. asks for the inclusion proof of the entry of exactly the targets bytes it verified at that
//      head's size (LogEntryMissingError when the log holds none: a release signed, perhaps with
//      stolen keys, that the world cannot see; LogProofInvalidError for a proof that does not verify).
//
// Every refusal is an attack, reported as others are; the cycle installs nothing. One is not: a
// release in the log's newest head that no witnesses have cosigned yet (LogWitnessPendingError, a
// fault), which the next cycle asks about again. A vehicle without
// image-log.json never reads the log.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../shared/core/clock.js';
import type { Ed25519Backend } from '../shared/core/crypto/ed25519.js';
import { PublicKey, type TufKey } from '../shared/core/crypto/keys.js';
import { LogEntryMissingError, LogInconsistentError, LogTreeHeadStaleError, LogWitnessPendingError, StorageError } from '../shared/core/errors.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import { LogClient, type LogFetcher } from '../shared/transparency/client.js';
import { entryForFile, entryLeafHash } from '../shared/transparency/entry.js';
import { verifyInclusion } from '../shared/transparency/merkle.js';
import { encodeSignedTreeHead, parseSignedTreeHead, type SignedTreeHead, type TreeHead, verifyCosignatures, verifyTreeHead } from '../shared/transparency/tree-head.js';

export const IMAGE_LOG_FILES = {
  /** The policy, written at provisioning. */
  policy: 'image-log.json',
  /** The last head this primary accepted, with the log's signature and the cosignatures it carried. */
  head: 'image-log-head.json',
} as const;

/** How far ahead of the vehicle's clock a head may be dated (clock skew between log server and vehicle). */
export const MAX_HEAD_CLOCK_AHEAD_SECONDS = 300;

/** What a vehicle requires of the Image repository's log. */
export interface ImageLogPolicy {
  /** The log's name, as its heads sign it. */
  readonly log: string;
  readonly logKey: TufKey;
  /** Witnesses whose cosignatures count. */
  readonly witnessKeys: readonly TufKey[];
  /** How many of them must have cosigned a head; 0 requires none. */
  readonly witnessThreshold: number;
  /** The oldest head accepted, in seconds before the vehicle's clock. */
  readonly maxAgeSeconds: number;
}

/** Checks a policy before it is written (provisioning) and after it is read (every start). */
export function checkImageLogPolicy(policy: ImageLogPolicy): { logKey: PublicKey; witnessKeys: PublicKey[] } {
  if (typeof policy.log !== 'string' || policy.log === '' || policy.log.length > 256) throw new StorageError('the image log policy names no log (1-256 characters)');
  const logKey = PublicKey.fromTuf(policy.logKey);
  const witnessKeys = policy.witnessKeys.map((k) => PublicKey.fromTuf(k));
  if (!Number.isSafeInteger(policy.witnessThreshold) || policy.witnessThreshold < 0 || policy.witnessThreshold > witnessKeys.length) {
    throw new StorageError(`the image log policy requires ${policy.witnessThreshold} cosignatures of ${witnessKeys.length} witness keys`);
  }
  if (witnessKeys.some((k) => k.sameKeyAs(logKey))) throw new StorageError("a witness key of the image log policy is the log's own key: a log cannot witness itself");
  if (!Number.isSafeInteger(policy.maxAgeSeconds) || policy.maxAgeSeconds < 1) throw new StorageError(`the image log policy's maximum head age must be a positive number of seconds, not ${policy.maxAgeSeconds}`);
  return { logKey, witnessKeys };
}

/** Writes the policy into a primary's folder (vehicle/provision.ts). */
export function persistImageLogPolicy(primaryDirectory: string, policy: ImageLogPolicy): void {
  checkImageLogPolicy(policy);
  writeFileAtomic(join(primaryDirectory, IMAGE_LOG_FILES.policy), Buffer.from(`${JSON.stringify(policy, null, 2)}\n`));
}

/** The policy of the primary in `directory`, or undefined when it was provisioned without one. */
export function loadImageLogPolicy(primaryDirectory: string): ImageLogPolicy | undefined {
  const path = join(primaryDirectory, IMAGE_LOG_FILES.policy);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ImageLogPolicy;
  } catch (err) {
    throw new StorageError(`cannot read ${path}: ${(err as Error).message}; restore it or provision the vehicle again`, { cause: err });
  }
}

export interface ImageLogCheckRuntime {
  readonly imageRepoUrl: string;
  readonly fetcher: LogFetcher;
  readonly clock: Clock;
  readonly backend: Ed25519Backend;
  readonly log?: (line: string) => void;
}

export class ImageLogCheck {
  private readonly client: LogClient;

  private constructor(
    private readonly directory: string,
    private readonly policy: ImageLogPolicy,
    private readonly keys: { logKey: PublicKey; witnessKeys: PublicKey[] },
    private readonly runtime: ImageLogCheckRuntime,
  ) {
    this.client = new LogClient(`${runtime.imageRepoUrl}/log`, runtime.fetcher);
  }

  /** The check of the primary in `directory`, or undefined when it requires no log. */
  static open(directory: string, runtime: ImageLogCheckRuntime): ImageLogCheck | undefined {
    const policy = loadImageLogPolicy(directory);
    if (policy === undefined) return undefined;
    return new ImageLogCheck(directory, policy, checkImageLogPolicy(policy), runtime);
  }

  /** The head accepted last, if any. */
  acceptedHead(): SignedTreeHead | undefined {
    const path = join(this.directory, IMAGE_LOG_FILES.head);
    if (!existsSync(path)) return undefined;
    try {
      return parseSignedTreeHead(JSON.parse(readFileSync(path, 'utf8')));
    } catch (err) {
      throw new StorageError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Throws (a typed attack) unless the log, at a head this primary accepts, holds the entry of the
   * Image repository's targets `version` whose exact bytes are `targetsBytes`.
   */
  async requireLogged(targetsBytes: Uint8Array, version: number): Promise<void> {
    const context = { repository: 'image', role: 'targets' };
    // Requiring cosignatures, ask for the newest head that many witnesses cosigned: the newest head
    // has none until they poll (witness lag), and refusing it would read every publication as an attack.
    const sth = await this.client.treeHead(this.policy.witnessThreshold);
    const head = verifyTreeHead(sth, this.keys.logKey, this.policy.log, this.runtime.backend);
    if (this.policy.witnessThreshold > 0) verifyCosignatures(sth, this.keys.logKey, this.keys.witnessKeys, this.policy.witnessThreshold, this.runtime.backend);
    const ageSeconds = (this.runtime.clock.now().getTime() - Date.parse(head.timestamp)) / 1000;
    if (ageSeconds > this.policy.maxAgeSeconds) {
      throw new LogTreeHeadStaleError(`the Image log's tree head of ${head.timestamp} is ${Math.round(ageSeconds)} s old, more than the ${this.policy.maxAgeSeconds} s this vehicle accepts`, context);
    }
    // A head dated ahead would pass the age check until that date: a log could sign one and then freeze.
    if (-ageSeconds > MAX_HEAD_CLOCK_AHEAD_SECONDS) {
      throw new LogTreeHeadStaleError(`the Image log's tree head is dated ${head.timestamp}, ${Math.round(-ageSeconds)} s ahead of this vehicle's clock (a head signed ahead never goes stale)`, context);
    }
    const previous = this.acceptedHead()?.head;
    if (previous !== undefined) {
      await this.client.checkExtends(previous, head);
      if (head.timestamp < previous.timestamp) throw new LogInconsistentError(`the Image log's tree head of ${head.timestamp} is older than the one of ${previous.timestamp} accepted before`, context);
    }
    const leafHash = entryLeafHash(entryForFile({ repository: 'image', role: 'targets', version }, targetsBytes));
    let proof;
    try {
      proof = await this.client.inclusionProof(leafHash, head.size);
    } catch (err) {
      if (err instanceof LogEntryMissingError && this.policy.witnessThreshold > 0) await this.throwIfAwaitingWitnesses(head, leafHash);
      throw err;
    }
    verifyInclusion(leafHash, proof.leafIndex, head.size, proof.hashes, head.rootHash);
    // Accepted: the next head must extend this one. (The head is signed and consistent whatever the
    // rest of the cycle does, so it is kept even if a later step fails.)
    writeFileAtomic(join(this.directory, IMAGE_LOG_FILES.head), Buffer.from(JSON.stringify(encodeSignedTreeHead(sth))));
    this.runtime.log?.(`Image targets v${version} is entry ${proof.leafIndex} of the Image log (head of ${head.size} entries, ${head.timestamp})`);
  }

  /**
   * Called when the cosigned head lacks the entry: LogWitnessPendingError (a fault: ask again next
   * cycle) if the log's newest head, signed by the log and extending the cosigned one, proves it holds
   * the entry; otherwise returns and the caller's LogEntryMissingError stands. The newest head is not
   * accepted for anything else: nothing installs until witnesses have cosigned a head holding the release.
   */
  private async throwIfAwaitingWitnesses(cosigned: TreeHead, leafHash: Uint8Array): Promise<void> {
    const newest = verifyTreeHead(await this.client.treeHead(), this.keys.logKey, this.policy.log, this.runtime.backend);
    if (newest.size <= cosigned.size) return;
    await this.client.checkExtends(cosigned, newest);
    let proof;
    try {
      proof = await this.client.inclusionProof(leafHash, newest.size);
    } catch (err) {
      if (err instanceof LogEntryMissingError) return;
      throw err;
    }
    verifyInclusion(leafHash, proof.leafIndex, newest.size, proof.hashes, newest.rootHash);
    throw new LogWitnessPendingError(
      `the Image targets are entry ${proof.leafIndex} of the Image log's newest head (${newest.size} entries, ${newest.timestamp}), which no ${this.policy.witnessThreshold} witnesses have cosigned yet; nothing installed, the next cycle asks again`,
      { repository: 'image', role: 'targets' },
    );
  }
}
