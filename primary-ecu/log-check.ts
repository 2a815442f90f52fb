// A primary that requires the Image repository's transparency log to hold every targets role it
// used to find the images it installs: the top-level targets and each delegated role (a supplier's,
// a TAP 15 hash bin) on the delegation path to each image (docs/transparency-log.md "Vehicles
// requiring inclusion proofs"). Opt-in at provisioning: a primary folder with image-log.json holds
// the log's public key, its name, the witnesses whose cosignatures it requires and the oldest head
// it accepts. After full verification and before anything is downloaded or installed, the primary
//
//   1. fetches the log's head from <image repository URL>/log/tree-head (with the witness threshold,
//      ?min_cosignatures=N: the newest head that many witnesses cosigned) and verifies it: the log's
//      signature (LogTreeHeadSignatureError), the witnesses' cosignatures up to the threshold (the
//      same error), its age (LogTreeHeadStaleError: a log frozen in the past);
//   2. checks it extends the head it accepted last time, kept in image-log-head.json
//      (LogInconsistentError: a fork, a dropped entry, a log turned back);
//   3. asks, at that one head, for the inclusion proof of the entry of exactly the bytes it verified
//      of each of those roles' versions (LogEntryMissingError, naming the role, when the log holds
//      none: a release signed, perhaps with a stolen targets or supplier key, that the world cannot
//      see; LogProofInvalidError for a proof that does not verify).
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
import { DelegationError, LogEntryMissingError, LogInconsistentError, LogTreeHeadStaleError, LogWitnessPendingError, StorageError } from '../shared/core/errors.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import { LogClient, type LogFetcher } from '../shared/transparency/client.js';
import { applicableDelegations } from '../shared/core/metadata/delegation.js';
import type { TargetsSigned } from '../shared/core/metadata/types.js';
import { entryForFile, entryLeafHash } from '../shared/transparency/entry.js';
import { verifyInclusion } from '../shared/transparency/merkle.js';
import { encodeSignedTreeHead, parseSignedTreeHead, type SignedTreeHead, type TreeHead, verifyCosignatures, verifyTreeHead } from '../shared/transparency/tree-head.js';

export const IMAGE_LOG_FILES = {
  /** The policy, written at provisioning. */
  policy: 'image-log.json',
  /** The last head this primary accepted, with the log's signature and the cosignatures it carried. */
  head: 'image-log-head.json',
} as const;

/**
 * At most this many targets role versions proved per cycle: the top-level targets and the delegated
 * roles on the paths to the cycle's images, deduplicated. One lookup visits at most the updater's
 * maxDelegations (32) delegated roles, and the paths of a vehicle's few ECUs share most of theirs; a
 * cycle needing more is refused (DelegationError) rather than proved in part or asked of the log unbounded.
 */
export const MAX_LOGGED_ROLES_PER_CYCLE = 64;

/** A targets role version whose exact bytes full verification used, to be proved in the Image log. */
export interface LoggedRoleFile {
  readonly role: string;
  readonly version: number;
  readonly bytes: Uint8Array;
}

/**
 * The targets roles on the delegation path to `name`: top-level targets first, then each delegated
 * role down to the one that lists it, found by the same walk as the updater's findTarget (depth-first
 * preorder, listed order, a terminating delegation ends the search, cycles cut, at most
 * `maxDelegations` delegated roles). `load` gives a role's verified metadata (the staged Image store
 * after full verification); a role it lacks, or a name not found, is a StorageError: full
 * verification found it in these very files.
 */
export function targetsRolesOnPath(
  name: string,
  hardwareIds: readonly string[],
  load: (role: string) => TargetsSigned | undefined,
  maxDelegations: number,
): string[] {
  const parent = new Map<string, string | undefined>();
  const toVisit: Array<{ role: string; delegator: string | undefined }> = [{ role: 'targets', delegator: undefined }];
  const visited = new Set<string>();
  while (toVisit.length > 0) {
    const { role, delegator } = toVisit.pop()!;
    if (visited.has(role)) continue;
    if (visited.size > maxDelegations) throw new DelegationError(`looking up ${JSON.stringify(name)} for the Image log check needs more than ${maxDelegations} delegated roles`, { repository: 'image', role });
    const signed = load(role);
    if (signed === undefined) throw new StorageError(`no verified Image ${role} metadata in storage after full verification`, { repository: 'image', role });
    visited.add(role);
    parent.set(role, delegator);
    if (Object.hasOwn(signed.targets, name)) {
      const path: string[] = [];
      for (let at: string | undefined = role; at !== undefined; at = parent.get(at)) path.unshift(at);
      return path;
    }
    const children: Array<{ role: string; delegator: string }> = [];
    for (const step of applicableDelegations(signed, name, hardwareIds)) {
      children.push({ role: step.name, delegator: role });
      if (step.terminating) {
        toVisit.length = 0;
        break;
      }
    }
    toVisit.push(...children.reverse());
  }
  throw new StorageError(`the verified Image metadata in storage does not list ${JSON.stringify(name)}, which full verification found`, { repository: 'image' });
}

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
   * Throws (a typed attack) unless the log, at one head this primary accepts, holds the entry of each
   * of `files` (the Image repository's targets roles, their versions and the exact bytes verified):
   * one head fetched and checked, one consistency proof, one inclusion proof per role version.
   */
  async requireRolesLogged(files: readonly LoggedRoleFile[]): Promise<void> {
    if (files.length > MAX_LOGGED_ROLES_PER_CYCLE) {
      throw new DelegationError(`the images of this cycle are found through ${files.length} targets roles, more than the ${MAX_LOGGED_ROLES_PER_CYCLE} the Image log check proves per cycle`, { repository: 'image' });
    }
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
    const missing: Array<{ file: LoggedRoleFile; leafHash: Uint8Array; err: LogEntryMissingError }> = [];
    const proved: string[] = [];
    for (const file of files) {
      const leafHash = entryLeafHash(entryForFile({ repository: 'image', role: file.role, version: file.version }, file.bytes));
      const index = await this.prove(leafHash, head);
      if (index instanceof LogEntryMissingError) missing.push({ file, leafHash, err: index });
      else proved.push(`${file.role} v${file.version} (entry ${index})`);
    }
    if (missing.length > 0) {
      // Entries missing from the cosigned head may be in the newest head, awaiting witnesses (a fault);
      // whichever the newest head lacks as well is an attack.
      const newer = this.policy.witnessThreshold > 0 ? await this.newestHeadHolding(head, missing.map((m) => m.leafHash)) : undefined;
      const absent = missing.find((_, i) => newer?.held[i] !== true);
      if (absent !== undefined) {
        throw new LogEntryMissingError(
          `the Image log holds no entry of the Image repository's ${absent.file.role} v${absent.file.version}, whose metadata this cycle verified to find its images (head of ${head.size} entries, ${head.timestamp}): ${absent.err.message}`,
          { repository: 'image', role: absent.file.role, cause: absent.err },
        );
      }
      throw new LogWitnessPendingError(
        `the Image ${missing.map((m) => `${m.file.role} v${m.file.version}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} in the Image log's newest head (${newer!.head.size} entries, ${newer!.head.timestamp}), which no ${this.policy.witnessThreshold} witnesses have cosigned yet; nothing installed, the next cycle asks again`,
        { repository: 'image', role: missing[0]!.file.role },
      );
    }
    // Accepted: the next head must extend this one. (The head is signed and consistent whatever the
    // rest of the cycle does, so it is kept even if a later step fails.)
    writeFileAtomic(join(this.directory, IMAGE_LOG_FILES.head), Buffer.from(JSON.stringify(encodeSignedTreeHead(sth))));
    this.runtime.log?.(`Image ${proved.join(', ')} in the Image log (head of ${head.size} entries, ${head.timestamp})`);
  }

  /** The leaf's index in the tree of `head`, its proof verified against that root; the LogEntryMissingError when the log holds no such leaf. */
  private async prove(leafHash: Uint8Array, head: TreeHead): Promise<number | LogEntryMissingError> {
    let proof;
    try {
      proof = await this.client.inclusionProof(leafHash, head.size);
    } catch (err) {
      if (err instanceof LogEntryMissingError) return err;
      throw err;
    }
    verifyInclusion(leafHash, proof.leafIndex, head.size, proof.hashes, head.rootHash);
    return proof.leafIndex;
  }

  /**
   * Called when the cosigned head lacks entries: the log's newest head (signed by the log and
   * extending the cosigned one) and which of the leaves it proves it holds, or undefined when it is
   * no newer. The newest head is not accepted for anything else: nothing installs until witnesses
   * have cosigned a head holding the release.
   */
  private async newestHeadHolding(cosigned: TreeHead, leafHashes: readonly Uint8Array[]): Promise<{ head: TreeHead; held: boolean[] } | undefined> {
    const newest = verifyTreeHead(await this.client.treeHead(), this.keys.logKey, this.policy.log, this.runtime.backend);
    if (newest.size <= cosigned.size) return undefined;
    await this.client.checkExtends(cosigned, newest);
    const held: boolean[] = [];
    for (const leafHash of leafHashes) held.push(typeof (await this.prove(leafHash, newest)) === 'number');
    return { head: newest, held };
  }
}
