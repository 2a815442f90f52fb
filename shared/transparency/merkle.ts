// The Merkle tree of the transparency log, as RFC 9162 section 2.1 defines it: leaf and node hashes,
// the root of n leaves, inclusion and consistency proofs, and their verification. Pure: proofs are
// built from the hashes of perfect subtrees a reader supplies, so a store that keeps those hashes
// answers a proof with O(log n) reads (docs/transparency-log.md "Proofs"), and verification takes
// hashes and sizes and returns or throws, never trusting a size, index or length it has not checked.
import { createHash } from 'node:crypto';
import { LogProofInvalidError } from '../core/errors.js';

/** SHA-256, the hash of RFC 9162's first signature and hash suites. */
export const HASH_LENGTH = 32;

/**
 * Tree sizes and indexes are JavaScript numbers kept to safe integers; a proof for such a tree holds
 * at most 2 * 53 hashes (a consistency proof), so no honest proof is longer than this.
 */
export const MAX_PROOF_HASHES = 2 * 53;

export type Hash = Uint8Array;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** MTH({d(0)}) = SHA-256(0x00 || d(0)) (RFC 9162 2.1.1): the prefix keeps a leaf from posing as a node. */
export function hashLeaf(data: Uint8Array): Hash {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** SHA-256(0x01 || left || right) (RFC 9162 2.1.1). */
export function hashChildren(left: Hash, right: Hash): Hash {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** MTH({}) = SHA-256() (RFC 9162 2.1.1): the root of the empty tree. */
export const EMPTY_ROOT: Hash = createHash('sha256').digest();

/** The perfect subtree of 2^level leaves starting at leaf index * 2^level; level 0 is a leaf. */
export interface SubtreeAddress {
  readonly level: number;
  readonly index: number;
}

/** Leaves start (inclusive) to end (exclusive) of a tree: a subtree whose hash a proof carries. */
export interface LeafRange {
  readonly start: number;
  readonly end: number;
}

/** Whatever holds the hashes of perfect subtrees (a store, or leaf hashes in memory). */
export interface SubtreeHashReader {
  /** The hash of each subtree, in the order asked; each lies within the leaves the reader holds. */
  subtreeHashes(nodes: readonly SubtreeAddress[]): readonly Hash[];
}

/** A proof to build: the perfect subtrees to read, and how many of them make each hash of the proof. */
export interface ProofPlan {
  readonly ranges: readonly LeafRange[];
  readonly nodes: readonly SubtreeAddress[];
  /** nodes.slice(offset[i], offset[i + 1]) are the perfect subtrees of ranges[i]. */
  readonly offsets: readonly number[];
}

/** A size or index as this module accepts it: a non-negative safe integer. */
export function isTreeSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** k, the largest power of two smaller than n (RFC 9162 2.1.1: k < n <= 2k), for n >= 2. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n >= 1 && 2 ** Math.round(Math.log2(n)) === n;
}

/**
 * The perfect subtrees that make up a range of a proof, left to right. Every range a proof carries
 * starts at a multiple of a power of two at least its length, so RFC 9162's recursive split of it
 * is the binary expansion of its length, largest part first.
 */
export function perfectSubtreesOf(range: LeafRange): SubtreeAddress[] {
  const nodes: SubtreeAddress[] = [];
  let start = range.start;
  let remaining = range.end - range.start;
  while (remaining > 0) {
    let size = 1;
    while (size * 2 <= remaining) size *= 2;
    // A range a proof carries is aligned; any other start is the caller's bug, not a proof's fault.
    if (start % size !== 0) throw new RangeError(`leaves ${range.start}..${range.end} do not split into aligned perfect subtrees`);
    nodes.push({ level: Math.log2(size), index: start / size });
    start += size;
    remaining -= size;
  }
  return nodes;
}

/** MTH of a range from the hashes of its perfect subtrees: the split folds right to left. */
export function foldRange(subtreeHashes: readonly Hash[]): Hash {
  let hash = subtreeHashes[subtreeHashes.length - 1]!;
  for (let i = subtreeHashes.length - 2; i >= 0; i--) hash = hashChildren(subtreeHashes[i]!, hash);
  return hash;
}

/**
 * PATH(m, D[n]) of RFC 9162 2.1.3.1 as ranges, the hash nearest the leaf first. Iterative: the
 * recursion descends into the half holding m and records the other half, so collect top-down and reverse.
 */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  const ranges: LeafRange[] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (index - start < k) {
      ranges.push({ start: start + k, end });
      end = start + k;
    } else {
      ranges.push({ start, end: start + k });
      start += k;
    }
  }
  return ranges.reverse();
}

/** PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 2.1.4.1 as ranges, in the proof's order. */
export function consistencyProofRanges(first: number, second: number): LeafRange[] {
  if (first === 0 || first >= second) return [];
  const ranges: LeafRange[] = [];
  let start = 0;
  let end = second;
  let m = first;
  let startFromOldRoot = true;
  // SUBPROOF(m, D[start:end], b) appends its own hashes after the recursive call's: collect, reverse.
  for (;;) {
    const n = end - start;
    if (m === n) {
      if (!startFromOldRoot) ranges.push({ start, end });
      break;
    }
    const k = splitPoint(n);
    if (m <= k) {
      ranges.push({ start: start + k, end });
      end = start + k;
    } else {
      ranges.push({ start, end: start + k });
      start += k;
      m -= k;
      startFromOldRoot = false;
    }
  }
  return ranges.reverse();
}

function planOf(ranges: readonly LeafRange[]): ProofPlan {
  const nodes: SubtreeAddress[] = [];
  const offsets = [0];
  for (const range of ranges) {
    nodes.push(...perfectSubtreesOf(range));
    offsets.push(nodes.length);
  }
  return { ranges, nodes, offsets };
}

export const planInclusionProof = (index: number, size: number): ProofPlan => planOf(inclusionProofRanges(index, size));
export const planConsistencyProof = (first: number, second: number): ProofPlan => planOf(consistencyProofRanges(first, second));
export const planRoot = (size: number): ProofPlan => planOf(size === 0 ? [] : [{ start: 0, end: size }]);

/** The hashes of a plan's ranges, from the hashes of its nodes as read. */
export function assemblePlan(plan: ProofPlan, nodeHashes: readonly Hash[]): Hash[] {
  if (nodeHashes.length !== plan.nodes.length) throw new RangeError(`the plan needs ${plan.nodes.length} subtree hashes, got ${nodeHashes.length}`);
  return plan.ranges.map((_, i) => foldRange(nodeHashes.slice(plan.offsets[i], plan.offsets[i + 1])));
}

function checkBounds(what: string, condition: boolean): void {
  if (!condition) throw new RangeError(what);
}

/** The root of the first `size` leaves. */
export function rootHash(size: number, reader: SubtreeHashReader): Hash {
  checkBounds(`tree size ${size}`, isTreeSize(size));
  if (size === 0) return EMPTY_ROOT;
  const plan = planRoot(size);
  return assemblePlan(plan, reader.subtreeHashes(plan.nodes))[0]!;
}

/** The inclusion proof of leaf `index` in the tree of the first `size` leaves. */
export function inclusionProof(index: number, size: number, reader: SubtreeHashReader): Hash[] {
  checkBounds(`leaf ${index} of a tree of ${size}`, isTreeSize(index) && isTreeSize(size) && index < size);
  const plan = planInclusionProof(index, size);
  return assemblePlan(plan, reader.subtreeHashes(plan.nodes));
}

/** The consistency proof from the tree of `first` leaves to the tree of `second` leaves. */
export function consistencyProof(first: number, second: number, reader: SubtreeHashReader): Hash[] {
  checkBounds(`consistency from ${first} to ${second}`, isTreeSize(first) && isTreeSize(second) && first <= second);
  const plan = planConsistencyProof(first, second);
  return assemblePlan(plan, reader.subtreeHashes(plan.nodes));
}

/** How many hashes the inclusion proof of `index` in a tree of `size` holds. */
export function inclusionProofLength(index: number, size: number): number {
  return inclusionProofRanges(index, size).length;
}

/** How many hashes the consistency proof from `first` to `second` holds. */
export function consistencyProofLength(first: number, second: number): number {
  return consistencyProofRanges(first, second).length;
}

// ---------------------------------------------------------------------------------------------
// Verification (RFC 9162 2.1.3.2 and 2.1.4.2). Every number is checked before it steers a loop,
// the proof's length against the one the sizes imply, and each hash's length, so a malformed proof
// is a typed LogProofInvalidError and never a crash, a long loop or a silently shorter check.

function checkHash(what: string, hash: unknown): asserts hash is Hash {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_LENGTH) {
    throw new LogProofInvalidError(`${what} is not a ${HASH_LENGTH}-byte hash`);
  }
}

function checkProofHashes(proof: readonly Hash[], expected: number): void {
  if (!Array.isArray(proof)) throw new LogProofInvalidError('the proof is not a list of hashes');
  if (proof.length > MAX_PROOF_HASHES) throw new LogProofInvalidError(`the proof holds ${proof.length} hashes, more than any tree of safe-integer size needs (${MAX_PROOF_HASHES})`);
  if (proof.length !== expected) throw new LogProofInvalidError(`the proof holds ${proof.length} hashes where these sizes need ${expected}`);
  proof.forEach((hash, i) => checkHash(`proof hash ${i}`, hash));
}

function equalHashes(a: Hash, b: Hash): boolean {
  return Buffer.compare(a, b) === 0;
}

const isOdd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

/** The root an inclusion proof leads to (RFC 9162 2.1.3.2), after every bound is checked. */
export function rootFromInclusionProof(leafHash: Hash, index: number, size: number, proof: readonly Hash[]): Hash {
  if (!isTreeSize(index) || !isTreeSize(size)) throw new LogProofInvalidError(`leaf index ${String(index)} and tree size ${String(size)} must be non-negative safe integers`);
  if (size === 0) throw new LogProofInvalidError('no leaf is included in the empty tree');
  // RFC 9162 2.1.3.2 step 1.
  if (index >= size) throw new LogProofInvalidError(`leaf index ${index} is not below tree size ${size}`);
  checkHash('the leaf hash', leafHash);
  checkProofHashes(proof, inclusionProofLength(index, size));
  let fn = index;
  let sn = size - 1;
  let r: Hash = leafHash;
  for (const p of proof) {
    if (sn === 0) throw new LogProofInvalidError('the inclusion proof is longer than the path to the root');
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5: a proof that stops short of the root leaves sn above 0.
  if (sn !== 0) throw new LogProofInvalidError('the inclusion proof stops short of the root');
  return r;
}

/** Throws LogProofInvalidError unless `proof` shows the leaf with `leafHash` at `index` in the tree of `size` with `root`. */
export function verifyInclusion(leafHash: Hash, index: number, size: number, proof: readonly Hash[], root: Hash): void {
  checkHash('the root hash', root);
  const computed = rootFromInclusionProof(leafHash, index, size, proof);
  if (!equalHashes(computed, root)) throw new LogProofInvalidError(`the inclusion proof of leaf ${index} does not lead to the root of the tree of ${size}`);
}

/**
 * Throws LogProofInvalidError unless `proof` shows the tree of `first` leaves with `firstRoot` to be
 * a prefix of the tree of `second` leaves with `secondRoot` (RFC 9162 2.1.4.2). Equal sizes need an
 * empty proof and equal roots; the empty tree is a prefix of every tree.
 */
export function verifyConsistency(first: number, second: number, proof: readonly Hash[], firstRoot: Hash, secondRoot: Hash): void {
  if (!isTreeSize(first) || !isTreeSize(second)) throw new LogProofInvalidError(`tree sizes ${String(first)} and ${String(second)} must be non-negative safe integers`);
  if (first > second) throw new LogProofInvalidError(`the first tree size ${first} is larger than the second ${second}: a log never shrinks`);
  checkHash('the first root hash', firstRoot);
  checkHash('the second root hash', secondRoot);
  checkProofHashes(proof, consistencyProofLength(first, second));
  if (first === second) {
    if (!equalHashes(firstRoot, secondRoot)) throw new LogProofInvalidError(`two different roots for the tree of ${first}`);
    return;
  }
  if (first === 0) {
    if (!equalHashes(firstRoot, EMPTY_ROOT)) throw new LogProofInvalidError('the root of the empty tree is not SHA-256 of nothing');
    return;
  }
  // RFC 9162 2.1.4.2 step 2: when the old tree is a perfect subtree of the new one, the proof omits its root.
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : proof;
  // Steps 3 and 4.
  let fn = first - 1;
  let sn = second - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  let fr: Hash = path[0]!;
  let sr: Hash = path[0]!;
  // Step 6.
  for (const c of path.slice(1)) {
    if (sn === 0) throw new LogProofInvalidError('the consistency proof is longer than the path to the root');
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  if (sn !== 0) throw new LogProofInvalidError('the consistency proof stops short of the root');
  if (!equalHashes(fr, firstRoot)) throw new LogProofInvalidError(`the consistency proof does not lead to the root of the tree of ${first}`);
  if (!equalHashes(sr, secondRoot)) throw new LogProofInvalidError(`the consistency proof does not lead to the root of the tree of ${second}`);
}

// ---------------------------------------------------------------------------------------------
// Building the tree as leaves arrive.

/** A perfect subtree's hash, as appending a leaf completes it. */
export interface SubtreeNode extends SubtreeAddress {
  readonly hash: Hash;
}

/**
 * The hashes of the perfect subtrees along the right edge of a tree (at most one per level): all a
 * store needs to add a leaf and complete the subtrees that leaf closes, without reading anything.
 */
export class Frontier {
  private readonly edge: Hash[];
  private count: number;

  /** From a tree of `size` leaves and the hashes of its perfect subtrees, largest (leftmost) first, as perfectSubtreesOf gives them. */
  constructor(size = 0, edge: readonly Hash[] = []) {
    if (!isTreeSize(size)) throw new RangeError(`a tree size is a non-negative safe integer, got ${size}`);
    const expected = size === 0 ? 0 : perfectSubtreesOf({ start: 0, end: size }).length;
    if (edge.length !== expected) throw new RangeError(`a tree of ${size} leaves has ${expected} right-edge subtrees, got ${edge.length}`);
    this.count = size;
    this.edge = [...edge];
  }

  get size(): number {
    return this.count;
  }

  /** The root of the tree so far. */
  root(): Hash {
    return this.edge.length === 0 ? EMPTY_ROOT : foldRange(this.edge);
  }

  /** Adds a leaf; returns the perfect subtrees it completes, the leaf itself first. */
  push(leafHash: Hash): SubtreeNode[] {
    const index = this.count;
    const completed: SubtreeNode[] = [{ level: 0, index, hash: leafHash }];
    let hash = leafHash;
    let level = 0;
    let position = index;
    // Each trailing 1 bit of the new leaf's index closes a subtree one level up with the edge's last entry.
    while (isOdd(position)) {
      hash = hashChildren(this.edge.pop()!, hash);
      level++;
      position = half(position);
      completed.push({ level, index: position, hash });
    }
    this.edge.push(hash);
    this.count++;
    return completed;
  }
}
