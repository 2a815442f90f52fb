// Properties of the Merkle tree for random sizes (fast-check, fixed seeds: docs/code-style.md R14):
// proofs of a 3,000-leaf store verify and equal RFC 9162's recursive definitions; in a tree of
// identical leaves, whose subtree hashes cost one hash a level, proofs at sizes up to 2^53 - 1
// verify, so no arithmetic in the verifiers wraps at 32 bits; and arbitrary input to the verifiers
// and parsers ends in success or their typed error, never another exception.
import fc from 'fast-check';
import { LogProofInvalidError, MalformedLogDataError } from '../../shared/core/errors.js';
import { storeConsistencyProof, storeInclusionProof, storeRootHash } from '../../shared/transparency/log.js';
import { MemoryLogStore } from '../../shared/transparency/log-store.js';
import {
  consistencyProof,
  type Hash,
  hashChildren,
  hashLeaf,
  inclusionProof,
  MAX_PROOF_HASHES,
  rootHash,
  type SubtreeAddress,
  type SubtreeHashReader,
  verifyConsistency,
  verifyInclusion,
} from '../../shared/transparency/merkle.js';
import { parseConsistencyProof, parseInclusionProof } from '../../shared/transparency/proofs.js';
import { parseSignedTreeHead } from '../../shared/transparency/tree-head.js';
import { leafData, mth, path, proof } from './reference.js';

const N = 3000;
const DATA = Array.from({ length: N }, (_, i) => leafData(i));
const hexes = (hs: readonly Uint8Array[]): string[] => hs.map((h) => Buffer.from(h).toString('hex'));
const SETTINGS = { seed: 23, numRuns: 200 };

function tamper(hashes: readonly Hash[], which: number, byte: number, bit: number): Hash[] {
  return hashes.map((h, i) => {
    if (i !== which % hashes.length) return h;
    const copy = Uint8Array.from(h);
    copy[byte] = copy[byte]! ^ (1 << bit);
    return copy;
  });
}

function refused(action: () => unknown): boolean {
  try {
    action();
  } catch (err) {
    if (err instanceof LogProofInvalidError) return true;
    throw err;
  }
  return false;
}

describe('a store of 3,000 leaves, at random sizes', () => {
  const store = new MemoryLogStore({ maxAppendEntries: N });
  beforeAll(() => store.append(DATA));

  it('proves inclusion of a random leaf in a random tree; one flipped bit anywhere in the proof is refused', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: N }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 7 }), async (n, at, which, byte, bit) => {
        const m = at % n;
        const root = await storeRootHash(store, n);
        const p = await storeInclusionProof(store, m, n);
        verifyInclusion(hashLeaf(DATA[m]!), m, n, p.hashes, root);
        if (p.hashes.length > 0) expect(refused(() => verifyInclusion(hashLeaf(DATA[m]!), m, n, tamper(p.hashes, which, byte, bit), root))).toBe(true);
      }),
      SETTINGS,
    );
  });

  it('proves consistency between random sizes; one flipped bit anywhere in the proof is refused', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: N }), fc.integer({ min: 1, max: N }), fc.nat(), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 7 }), async (a, b, which, byte, bit) => {
        const [m, n] = a <= b ? [a, b] : [b, a];
        const p = await storeConsistencyProof(store, m, n);
        const [rm, rn] = [await storeRootHash(store, m), await storeRootHash(store, n)];
        verifyConsistency(m, n, p.hashes, rm, rn);
        if (p.hashes.length > 0) expect(refused(() => verifyConsistency(m, n, tamper(p.hashes, which, byte, bit), rm, rn))).toBe(true);
      }),
      SETTINGS,
    );
  });

  it('gives the recursive definitions\' roots and proofs at random sizes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: N }), fc.nat(), async (n, at) => {
        const m = 1 + (at % (n - 1));
        const prefix = DATA.slice(0, n);
        expect(hexes([await storeRootHash(store, n)])).toEqual(hexes([mth(prefix)]));
        expect(hexes((await storeInclusionProof(store, m, n)).hashes)).toEqual(hexes(path(m, prefix)));
        expect(hexes((await storeConsistencyProof(store, m, n)).hashes)).toEqual(hexes(proof(m, prefix)));
      }),
      { seed: 23, numRuns: 40 },
    );
  });
});

describe('a tree of identical leaves, at sizes up to 2^53 - 1', () => {
  // Every perfect subtree of a level has the same hash, so any size costs a hash per level.
  const levels: Hash[] = [hashLeaf(Buffer.from('the same entry'))];
  for (let l = 1; l <= 53; l++) levels.push(hashChildren(levels[l - 1]!, levels[l - 1]!));
  const reader: SubtreeHashReader = { subtreeHashes: (nodes: readonly SubtreeAddress[]) => nodes.map((n) => levels[n.level]!) };
  const size = fc.oneof(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 1, max: 52 }).map((e) => 2 ** e), fc.integer({ min: 1, max: 52 }).map((e) => 2 ** e + 1), fc.integer({ min: 2, max: 53 }).map((e) => 2 ** e - 1));

  it('proves inclusion and consistency at any safe-integer size, and refuses a flipped bit', () => {
    fc.assert(
      fc.property(size, size, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.nat(), fc.integer({ min: 0, max: 31 }), (a, b, at, which, byte) => {
        const [m, n] = a <= b ? [a, b] : [b, a];
        const index = Math.min(n - 1, Math.floor(at * n));
        const root = rootHash(n, reader);
        const inclusion = inclusionProof(index, n, reader);
        expect(inclusion.length).toBeLessThanOrEqual(53);
        verifyInclusion(levels[0]!, index, n, inclusion, root);
        if (inclusion.length > 0) expect(refused(() => verifyInclusion(levels[0]!, index, n, tamper(inclusion, which, byte, 0), root))).toBe(true);
        const consistency = consistencyProof(m, n, reader);
        expect(consistency.length).toBeLessThanOrEqual(MAX_PROOF_HASHES);
        verifyConsistency(m, n, consistency, rootHash(m, reader), root);
        if (consistency.length > 0) expect(refused(() => verifyConsistency(m, n, tamper(consistency, which, byte, 0), rootHash(m, reader), root))).toBe(true);
      }),
      { seed: 23, numRuns: 500 },
    );
  });
});

describe('arbitrary input', () => {
  const hash = fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b) => (b.length >= 30 ? Uint8Array.from({ length: 32 }, (_, i) => b[i % b.length]!) : b));
  const number = fc.oneof(fc.integer({ min: -2, max: 70 }), fc.integer(), fc.double(), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(2 ** 53));

  it('to the verifiers ends in success or LogProofInvalidError', () => {
    fc.assert(
      fc.property(hash, number, number, fc.array(hash, { maxLength: 120 }), hash, hash, (leaf, a, b, hashes, r1, r2) => {
        refused(() => verifyInclusion(leaf, a, b, hashes, r1));
        refused(() => verifyConsistency(a, b, hashes, r1, r2));
      }),
      { seed: 23, numRuns: 2000 },
    );
  });

  it('to the parsers ends in a value or MalformedLogDataError', () => {
    const hexHash = fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.string(), fc.anything());
    const proofLike = fc.record({ leaf_index: number, tree_size: number, first_size: number, second_size: number, hashes: fc.oneof(fc.array(hexHash, { maxLength: 110 }), fc.anything()) }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(proofLike, fc.anything()), (json) => {
        for (const parse of [parseInclusionProof, parseConsistencyProof, parseSignedTreeHead]) {
          try {
            parse(json);
          } catch (err) {
            if (!(err instanceof MalformedLogDataError)) throw err;
          }
        }
      }),
      { seed: 23, numRuns: 2000 },
    );
  });
});
