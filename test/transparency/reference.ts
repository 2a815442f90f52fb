// RFC 9162 section 2.1 written out as its recursive definitions, independently of
// shared/transparency/merkle.ts (no shared helper, its own hashing), for the known-answer tests to
// hold the iterative code against: MTH, PATH and PROOF/SUBPROOF exactly as the RFC states them.
import { createHash } from 'node:crypto';

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** The largest power of two smaller than n, for n > 1. */
function k(n: number): number {
  let p = 1;
  while (p * 2 < n) p *= 2;
  return p;
}

/** MTH(D[n]) (RFC 9162 2.1.1). */
export function mth(d: readonly Uint8Array[]): Buffer {
  if (d.length === 0) return sha256();
  if (d.length === 1) return sha256(Buffer.from([0]), d[0]!);
  const split = k(d.length);
  return sha256(Buffer.from([1]), mth(d.slice(0, split)), mth(d.slice(split)));
}

/** PATH(m, D[n]) (RFC 9162 2.1.3.1). */
export function path(m: number, d: readonly Uint8Array[]): Buffer[] {
  if (d.length === 1) return [];
  const split = k(d.length);
  if (m < split) return [...path(m, d.slice(0, split)), mth(d.slice(split))];
  return [...path(m - split, d.slice(split)), mth(d.slice(0, split))];
}

function subproof(m: number, d: readonly Uint8Array[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const split = k(d.length);
  if (m <= split) return [...subproof(m, d.slice(0, split), b), mth(d.slice(split))];
  return [...subproof(m - split, d.slice(split), false), mth(d.slice(0, split))];
}

/** PROOF(m, D[n]) (RFC 9162 2.1.4.1), for 0 < m < n. */
export function proof(m: number, d: readonly Uint8Array[]): Buffer[] {
  return subproof(m, d, true);
}

/** Leaf i's data for the tests: distinct, of varying length. */
export function leafData(i: number): Uint8Array {
  return Buffer.from(`entry ${i} ${'x'.repeat(i % 7)}`);
}
