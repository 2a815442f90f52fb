// The Merkle tree of the transparency log against RFC 9162 section 2.1 (docs/transparency-log.md):
// roots, inclusion and consistency proofs for every size, index and pair of sizes up to 64 leaves
// compared with the RFC's recursive definitions (reference.ts) and the CT reference roots; every
// tampered byte, wrong index and wrong size refused; malformed proofs refused with typed errors.
import { createHash } from 'node:crypto';
import { LogProofInvalidError, MalformedLogDataError } from '../../shared/core/errors.js';
import {
  consistencyProof,
  EMPTY_ROOT,
  Frontier,
  type Hash,
  hashLeaf,
  inclusionProof,
  MAX_PROOF_HASHES,
  rootFromInclusionProof,
  rootHash,
  type SubtreeAddress,
  type SubtreeHashReader,
  verifyConsistency,
  verifyInclusion,
} from '../../shared/transparency/merkle.js';
import { encodeConsistencyProof, encodeInclusionProof, parseConsistencyProof, parseInclusionProof } from '../../shared/transparency/proofs.js';
import { leafData, mth, path, proof } from './reference.js';

const MAX = 64;
const DATA = Array.from({ length: MAX }, (_, i) => leafData(i));

/** A reader over the subtrees a Frontier completes as the leaves are pushed. */
function readerOf(data: readonly Uint8Array[]): SubtreeHashReader & { frontier: Frontier } {
  const frontier = new Frontier();
  const nodes = new Map<string, Hash>();
  for (const d of data) for (const n of frontier.push(hashLeaf(d))) nodes.set(`${n.level}/${n.index}`, n.hash);
  return {
    frontier,
    subtreeHashes: (asked: readonly SubtreeAddress[]) =>
      asked.map((a) => {
        const hash = nodes.get(`${a.level}/${a.index}`);
        if (hash === undefined) throw new Error(`no subtree ${a.level}/${a.index}`);
        return hash;
      }),
  };
}

const READER = readerOf(DATA);
const hex = (h: Uint8Array): string => Buffer.from(h).toString('hex');
const hexes = (hs: readonly Uint8Array[]): string[] => hs.map(hex);

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

function expectInvalid(action: () => unknown): LogProofInvalidError {
  const err = thrownBy(action);
  expect(err).toBeInstanceOf(LogProofInvalidError);
  expect((err as LogProofInvalidError).code).toBe('log_proof_invalid');
  return err as LogProofInvalidError;
}

/**
 * For the exhaustive loops: each action that was not refused with LogProofInvalidError, by label,
 * asserted empty once at the end (one expect per call made the loops several times slower).
 */
class Refusals {
  readonly accepted: string[] = [];

  check(label: string, action: () => unknown): void {
    try {
      action();
    } catch (err) {
      if (err instanceof LogProofInvalidError && err.code === 'log_proof_invalid') return;
      this.accepted.push(`${label}: threw ${String(err)}`);
      return;
    }
    this.accepted.push(`${label}: accepted`);
  }
}

function flipped(hashes: readonly Hash[], which: number, byte: number): Hash[] {
  return hashes.map((h, i) => {
    if (i !== which) return h;
    const copy = Uint8Array.from(h);
    copy[byte] = copy[byte]! ^ 0x01;
    return copy;
  });
}

describe('hashes (RFC 9162 2.1.1)', () => {
  it('hashes a leaf as SHA-256(0x00 || data) and the empty tree as SHA-256 of nothing', () => {
    expect(hex(hashLeaf(Buffer.from('abc')))).toBe(createHash('sha256').update(Buffer.from([0])).update('abc').digest('hex'));
    expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(rootHash(0, READER))).toBe(hex(EMPTY_ROOT));
  });

  it('gives the roots of the RFC 6962 reference implementation for its eight test leaves', () => {
    const leaves = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Buffer.from(h, 'hex'));
    const roots = [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    ];
    const reader = readerOf(leaves);
    roots.forEach((root, i) => {
      expect(hex(rootHash(i + 1, reader))).toBe(root);
      expect(hex(mth(leaves.slice(0, i + 1)))).toBe(root);
    });
  });

  it('computes the root of every size up to 64 as the recursive MTH, from the store reader and from the frontier', () => {
    const frontier = new Frontier();
    for (let n = 1; n <= MAX; n++) {
      frontier.push(hashLeaf(DATA[n - 1]!));
      const expected = hex(mth(DATA.slice(0, n)));
      expect(hex(rootHash(n, READER))).toBe(expected);
      expect(hex(frontier.root())).toBe(expected);
    }
  });
});

describe('inclusion proofs (RFC 9162 2.1.3)', () => {
  it('equal PATH(m, D[n]) and verify, for every index of every size up to 64', () => {
    for (let n = 1; n <= MAX; n++) {
      const root = rootHash(n, READER);
      for (let m = 0; m < n; m++) {
        const got = inclusionProof(m, n, READER);
        expect(hexes(got)).toEqual(hexes(path(m, DATA.slice(0, n))));
        verifyInclusion(hashLeaf(DATA[m]!), m, n, got, root);
      }
    }
  });

  it('refuses every tampered byte of every proof hash, the leaf hash and the root (sizes up to 16)', () => {
    const r = new Refusals();
    for (let n = 1; n <= 16; n++) {
      const root = rootHash(n, READER);
      for (let m = 0; m < n; m++) {
        const good = inclusionProof(m, n, READER);
        const leaf = hashLeaf(DATA[m]!);
        for (let which = 0; which < good.length; which++) {
          for (let byte = 0; byte < 32; byte++) r.check(`${m}/${n} hash ${which} byte ${byte}`, () => verifyInclusion(leaf, m, n, flipped(good, which, byte), root));
        }
        for (let byte = 0; byte < 32; byte++) {
          r.check(`${m}/${n} leaf byte ${byte}`, () => verifyInclusion(flipped([leaf], 0, byte)[0]!, m, n, good, root));
          r.check(`${m}/${n} root byte ${byte}`, () => verifyInclusion(leaf, m, n, good, flipped([root], 0, byte)[0]!));
        }
      }
    }
    expect(r.accepted).toEqual([]);
  });

  it('refuses a proof presented for another index or another signed size (every pair up to 32)', () => {
    const r = new Refusals();
    const roots = Array.from({ length: 33 }, (_, n) => rootHash(n, READER));
    for (let n = 1; n <= 32; n++) {
      for (let m = 0; m < n; m++) {
        const good = inclusionProof(m, n, READER);
        const leaf = hashLeaf(DATA[m]!);
        for (let other = 0; other < n; other++) if (other !== m) r.check(`${m}/${n} as index ${other}`, () => verifyInclusion(leaf, other, n, good, roots[n]!));
        // A size comes with its own root from a signed head; no other (size, root) pair accepts the proof.
        for (let size = 1; size <= 32; size++) if (size !== n && m < size) r.check(`${m}/${n} as size ${size}`, () => verifyInclusion(leaf, m, size, good, roots[size]!));
      }
    }
    expect(r.accepted).toEqual([]);
  });

  it('refuses malformed proofs before computing anything: index not below size, size 0, wrong length, bad numbers, short hashes', () => {
    const root = rootHash(10, READER);
    const good = inclusionProof(3, 10, READER);
    const leaf = hashLeaf(DATA[3]!);
    expect(expectInvalid(() => verifyInclusion(leaf, 10, 10, good, root)).message).toMatch(/not below tree size/);
    expect(expectInvalid(() => verifyInclusion(leaf, 11, 10, good, root)).message).toMatch(/not below tree size/);
    expect(expectInvalid(() => verifyInclusion(leaf, 0, 0, [], EMPTY_ROOT)).message).toMatch(/empty tree/);
    expect(expectInvalid(() => verifyInclusion(leaf, 3, 10, good.slice(1), root)).message).toMatch(/need 4/);
    expect(expectInvalid(() => verifyInclusion(leaf, 3, 10, [...good, good[0]!], root)).message).toMatch(/need 4/);
    expect(expectInvalid(() => verifyInclusion(leaf, 3, 10, Array.from({ length: MAX_PROOF_HASHES + 1 }, () => good[0]!), root)).message).toMatch(/more than any tree/);
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '3' as unknown as number]) {
      expectInvalid(() => verifyInclusion(leaf, bad, 10, good, root));
      expectInvalid(() => verifyInclusion(leaf, 3, bad, good, root));
    }
    expectInvalid(() => verifyInclusion(leaf, 3, 10, [good[0]!.subarray(1), ...good.slice(1)], root));
    expectInvalid(() => verifyInclusion(leaf.subarray(0, 31), 3, 10, good, root));
    expectInvalid(() => verifyInclusion(leaf, 3, 10, good, root.subarray(0, 16)));
    expectInvalid(() => verifyInclusion(leaf, 3, 10, 'proof' as unknown as Hash[], root));
    expectInvalid(() => rootFromInclusionProof(leaf, 3, 10, [...good.slice(0, 3), 'x' as unknown as Hash]));
  });
});

describe('consistency proofs (RFC 9162 2.1.4)', () => {
  it('equal PROOF(m, D[n]) and verify, for every pair of sizes up to 64 (0 and equal sizes: the empty proof)', () => {
    const roots = Array.from({ length: MAX + 1 }, (_, n) => rootHash(n, READER));
    for (let n = 0; n <= MAX; n++) {
      for (let m = 0; m <= n; m++) {
        const got = consistencyProof(m, n, READER);
        const expected = m === 0 || m === n ? [] : proof(m, DATA.slice(0, n));
        expect(hexes(got)).toEqual(hexes(expected));
        verifyConsistency(m, n, got, roots[m]!, roots[n]!);
      }
    }
  });

  it('refuses every tampered byte of every proof hash and of either root (sizes up to 16)', () => {
    const r = new Refusals();
    const roots = Array.from({ length: 17 }, (_, n) => rootHash(n, READER));
    for (let n = 1; n <= 16; n++) {
      for (let m = 1; m <= n; m++) {
        const good = consistencyProof(m, n, READER);
        for (let which = 0; which < good.length; which++) {
          for (let byte = 0; byte < 32; byte++) r.check(`${m}->${n} hash ${which} byte ${byte}`, () => verifyConsistency(m, n, flipped(good, which, byte), roots[m]!, roots[n]!));
        }
        for (let byte = 0; byte < 32; byte++) {
          r.check(`${m}->${n} first root byte ${byte}`, () => verifyConsistency(m, n, good, flipped([roots[m]!], 0, byte)[0]!, roots[n]!));
          r.check(`${m}->${n} second root byte ${byte}`, () => verifyConsistency(m, n, good, roots[m]!, flipped([roots[n]!], 0, byte)[0]!));
        }
      }
    }
    expect(r.accepted).toEqual([]);
  });

  it('refuses a proof presented for other sizes (every pair up to 20)', () => {
    const r = new Refusals();
    const roots = Array.from({ length: 21 }, (_, n) => rootHash(n, READER));
    for (let n = 2; n <= 20; n++) {
      for (let m = 1; m < n; m++) {
        const good = consistencyProof(m, n, READER);
        for (let m2 = 1; m2 <= 20; m2++) {
          for (let n2 = m2; n2 <= 20; n2++) {
            if (m2 === m && n2 === n) continue;
            r.check(`${m}->${n} as ${m2}->${n2}`, () => verifyConsistency(m2, n2, good, roots[m2]!, roots[n2]!));
          }
        }
      }
    }
    expect(r.accepted).toEqual([]);
  });

  it('refuses malformed proofs: sizes reversed, equal sizes with different roots, wrong length, bad numbers', () => {
    const roots = Array.from({ length: 11 }, (_, n) => rootHash(n, READER));
    const good = consistencyProof(3, 10, READER);
    expect(expectInvalid(() => verifyConsistency(10, 3, good, roots[10]!, roots[3]!)).message).toMatch(/never shrinks/);
    expect(expectInvalid(() => verifyConsistency(5, 5, [], roots[5]!, roots[6]!)).message).toMatch(/two different roots/);
    expectInvalid(() => verifyConsistency(5, 5, [roots[5]!], roots[5]!, roots[5]!));
    expectInvalid(() => verifyConsistency(0, 5, [], roots[1]!, roots[5]!));
    expectInvalid(() => verifyConsistency(0, 5, [roots[1]!], EMPTY_ROOT, roots[5]!));
    expect(expectInvalid(() => verifyConsistency(3, 10, good.slice(1), roots[3]!, roots[10]!)).message).toMatch(/need/);
    expect(expectInvalid(() => verifyConsistency(3, 10, [], roots[3]!, roots[10]!)).message).toMatch(/need/);
    expectInvalid(() => verifyConsistency(3, 10, Array.from({ length: MAX_PROOF_HASHES + 1 }, () => good[0]!), roots[3]!, roots[10]!));
    for (const bad of [-1, 0.5, Number.NaN, 2 ** 53]) {
      expectInvalid(() => verifyConsistency(bad, 10, good, roots[3]!, roots[10]!));
      expectInvalid(() => verifyConsistency(3, bad, good, roots[3]!, roots[10]!));
    }
    expectInvalid(() => verifyConsistency(3, 10, good, roots[3]!.subarray(1), roots[10]!));
  });
});

describe('proofs on the wire', () => {
  it('round-trip through their JSON form', () => {
    const inclusion = { leafIndex: 5, treeSize: 40, hashes: inclusionProof(5, 40, READER) };
    const parsed = parseInclusionProof(JSON.parse(JSON.stringify(encodeInclusionProof(inclusion))));
    expect(parsed.leafIndex).toBe(5);
    expect(hexes(parsed.hashes)).toEqual(hexes(inclusion.hashes));
    const consistency = { firstSize: 7, secondSize: 40, hashes: consistencyProof(7, 40, READER) };
    const back = parseConsistencyProof(JSON.parse(JSON.stringify(encodeConsistencyProof(consistency))));
    expect([back.firstSize, back.secondSize, hexes(back.hashes)]).toEqual([7, 40, hexes(consistency.hashes)]);
  });

  it('refuse non-hex, uppercase, short or long hashes, oversized lists, bad numbers and wrong shapes, naming the field', () => {
    const h = 'ab'.repeat(32);
    const cases: Array<[unknown, RegExp]> = [
      [null, /JSON object/],
      [[], /JSON object/],
      [{ leaf_index: 1, tree_size: 2, hashes: ['zz'.repeat(32)] }, /hashes\[0\]/],
      [{ leaf_index: 1, tree_size: 2, hashes: ['AB'.repeat(32)] }, /hashes\[0\]/],
      [{ leaf_index: 1, tree_size: 2, hashes: [h, 'ab'.repeat(31)] }, /hashes\[1\]/],
      [{ leaf_index: 1, tree_size: 2, hashes: ['ab'.repeat(33)] }, /hashes\[0\]/],
      [{ leaf_index: 1, tree_size: 2, hashes: [7] }, /hashes\[0\]/],
      [{ leaf_index: 1, tree_size: 2, hashes: Array.from({ length: MAX_PROOF_HASHES + 1 }, () => h) }, /more than any proof/],
      [{ leaf_index: 1, tree_size: 2, hashes: h }, /list of hashes/],
      [{ leaf_index: -1, tree_size: 2, hashes: [] }, /leaf_index/],
      [{ leaf_index: '1', tree_size: 2, hashes: [] }, /leaf_index/],
      [{ leaf_index: 1, tree_size: 2 ** 53, hashes: [] }, /tree_size/],
      [{ leaf_index: 1, tree_size: 1e400, hashes: [] }, /tree_size/],
    ];
    for (const [json, message] of cases) {
      const err = thrownBy(() => parseInclusionProof(json));
      expect(err).toBeInstanceOf(MalformedLogDataError);
      expect((err as MalformedLogDataError).code).toBe('log_malformed');
      expect((err as Error).message).toMatch(message);
    }
    expect(thrownBy(() => parseConsistencyProof({ first_size: 1, second_size: 1.5, hashes: [] }))).toBeInstanceOf(MalformedLogDataError);
    expect(thrownBy(() => parseConsistencyProof({ first_size: 1, second_size: 2, hashes: ['00'] }))).toBeInstanceOf(MalformedLogDataError);
  });
});
