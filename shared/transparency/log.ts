// The transparency log as the servers will run it: a store of entries, the log's signing key and a
// clock. Appends entries, signs tree heads, and answers inclusion and consistency proofs for any
// size the log has reached, each with the O(log n) subtree reads merkle.ts plans, in one batch.
import type { Clock } from '../core/clock.js';
import type { Signer } from '../core/crypto/signer.js';
import { LogRangeError } from '../core/errors.js';
import { assemblePlan, EMPTY_ROOT, type Hash, isTreeSize, planConsistencyProof, planInclusionProof, planRoot, type ProofPlan } from './merkle.js';
import type { LogStore } from './log-store.js';
import type { ConsistencyProof, InclusionProof } from './proofs.js';
import { signTreeHead, type SignedTreeHead, treeHeadTimestamp } from './tree-head.js';

export interface TransparencyLogOptions {
  /** The log's name, signed into every head. */
  readonly log: string;
  readonly signer: Signer;
  readonly clock: Clock;
}

async function readPlan(store: LogStore, plan: ProofPlan): Promise<Hash[]> {
  return assemblePlan(plan, await store.subtreeHashes(plan.nodes));
}

async function checkSize(store: LogStore, size: number): Promise<void> {
  const current = await store.size();
  if (!isTreeSize(size) || size > current) throw new LogRangeError(`tree size ${size} asked of a log of ${current} entries`);
}

/** The root of the store's first `size` entries. */
export async function storeRootHash(store: LogStore, size: number): Promise<Hash> {
  await checkSize(store, size);
  if (size === 0) return EMPTY_ROOT;
  return (await readPlan(store, planRoot(size)))[0]!;
}

/** The inclusion proof of entry `index` in the store's tree of `size` entries. */
export async function storeInclusionProof(store: LogStore, index: number, size: number): Promise<InclusionProof> {
  await checkSize(store, size);
  if (!isTreeSize(index) || index >= size) throw new LogRangeError(`entry ${index} is not in the tree of ${size} entries`);
  return { leafIndex: index, treeSize: size, hashes: await readPlan(store, planInclusionProof(index, size)) };
}

/** The consistency proof between the store's trees of `first` and `second` entries. */
export async function storeConsistencyProof(store: LogStore, first: number, second: number): Promise<ConsistencyProof> {
  await checkSize(store, second);
  if (!isTreeSize(first) || first > second) throw new LogRangeError(`no consistency proof from ${first} to ${second} entries`);
  return { firstSize: first, secondSize: second, hashes: await readPlan(store, planConsistencyProof(first, second)) };
}

export class TransparencyLog {
  constructor(
    readonly store: LogStore,
    private readonly options: TransparencyLogOptions,
  ) {}

  get name(): string {
    return this.options.log;
  }

  /** Appends entries in order; returns the index of the first. */
  append(entries: readonly Uint8Array[]): Promise<number> {
    return this.store.append(entries);
  }

  size(): Promise<number> {
    return this.store.size();
  }

  /** A head of the log as it is now, signed with the log's key at the clock's time. */
  async signTreeHead(): Promise<SignedTreeHead> {
    const size = await this.store.size();
    const rootHash = await storeRootHash(this.store, size);
    return signTreeHead({ log: this.options.log, size, rootHash, timestamp: treeHeadTimestamp(this.options.clock.now()) }, this.options.signer);
  }

  rootHash(size: number): Promise<Hash> {
    return storeRootHash(this.store, size);
  }

  proveInclusion(index: number, size: number): Promise<InclusionProof> {
    return storeInclusionProof(this.store, index, size);
  }

  proveConsistency(first: number, second: number): Promise<ConsistencyProof> {
    return storeConsistencyProof(this.store, first, second);
  }
}
