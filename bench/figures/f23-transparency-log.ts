// Figure 23: the transparency log at scale (issue 23 items 3 and 4; docs/transparency-log.md). The
// SQLite log store is filled to 1,000,000 entries (BENCH_QUICK: 100,000) in appends of 1,000; at each
// tenfold size it times inclusion and consistency proofs for random indexes and sizes, and the
// measured change from one tenfold size to the next is applied once more to extrapolate to
// 10,000,000. Appends are set against plain inserts of the same entries into a SQLite table of the
// same settings (the cost of the subtree rows), proofs against the rate at 10,000 entries (a proof
// that read every leaf would fall a hundredfold by 1,000,000). Also: proof sizes, and what checking
// a proof costs a vehicle (the Ed25519 backend an ECU uses by default, and OpenSSL's).
import { join } from 'node:path';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { nobleBackend, nodeBackend, type Ed25519Backend } from '../../shared/core/crypto/ed25519.js';
import { openDatabase } from '../../shared/server/sqlite.js';
import { storeConsistencyProof, storeInclusionProof, storeRootHash } from '../../shared/transparency/log.js';
import { consistencyProofLength, type Hash, hashChildren, hashLeaf, inclusionProof, inclusionProofLength, rootHash, type SubtreeHashReader, verifyInclusion } from '../../shared/transparency/merkle.js';
import { encodeConsistencyProof, encodeInclusionProof } from '../../shared/transparency/proofs.js';
import { cosignTreeHead, signTreeHead, verifyCosignatures, verifyTreeHead, withCosignature } from '../../shared/transparency/tree-head.js';
import { SqliteLogStore } from '../../shared/transparency/sqlite-log-store.js';
import type { BenchContext } from '../lib/context.js';
import type { Figure, Row } from '../lib/report.js';
import { fmt, pct, timeLoop, type LoopResult } from '../lib/stats.js';

const BATCH = 1000;
const EXTRAPOLATED_SIZE = 10_000_000;

/** A log entry about the size the repositories will append: one signed metadata version. */
function entry(i: number): Uint8Array {
  const sha256 = hashLeaf(Buffer.from(String(i)));
  return Buffer.from(`{"hashes":{"sha256":"${Buffer.from(sha256).toString('hex')}"},"length":${1000 + (i % 5000)},"repository":"image","role":"targets","version":${i + 1}}`);
}

/** A small deterministic generator, so every run asks for the same proofs. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

interface Checkpoint {
  readonly size: number;
  readonly inclusion: LoopResult;
  readonly consistency: LoopResult;
  readonly inclusionHashes: number;
  readonly consistencyHashes: number;
  readonly inclusionJsonBytes: number;
  readonly consistencyJsonBytes: number;
}

/**
 * Per second at 10,000,000, from the last two tenfold sizes' rates: the last decade's change applied
 * once more, never as a gain (on a loaded host a larger size can measure faster by chance).
 */
function extrapolate(previous: number, last: number): number {
  return last * Math.min(1, last / previous);
}

function vehicleCheckMicros(backend: Ed25519Backend): number {
  // A tree of identical leaves of the extrapolated size: a proof of its full length for the cost of a hash a level.
  const levels: Hash[] = [hashLeaf(entry(0))];
  for (let l = 1; l <= 30; l++) levels.push(hashChildren(levels[l - 1]!, levels[l - 1]!));
  const reader: SubtreeHashReader = { subtreeHashes: (nodes) => nodes.map((n) => levels[n.level]!) };
  const index = EXTRAPOLATED_SIZE - 3;
  const proof = inclusionProof(index, EXTRAPOLATED_SIZE, reader);
  const logKey = PrivateKey.fromLabel('bench f23 log');
  const witness = PrivateKey.fromLabel('bench f23 witness');
  const sth = signTreeHead({ log: 'bench', size: EXTRAPOLATED_SIZE, rootHash: rootHash(EXTRAPOLATED_SIZE, reader), timestamp: '2026-12-06T20:00:00Z' }, logKey);
  const cosigned = withCosignature(sth, cosignTreeHead(sth, witness));
  const check = () => {
    const head = verifyTreeHead(cosigned, logKey.publicKey, 'bench', backend);
    verifyCosignatures(cosigned, logKey.publicKey, [witness.publicKey], 1, backend);
    verifyInclusion(levels[0]!, index, head.size, proof, head.rootHash);
  };
  check();
  const loop = timeLoopSync(check, 1500, 2000);
  return 1e6 / loop.perSecond;
}

function timeLoopSync(fn: () => void, maxMs: number, maxCount: number): LoopResult {
  const started = performance.now();
  let count = 0;
  while (count < maxCount && (count < 3 || performance.now() - started < maxMs)) {
    fn();
    count++;
  }
  const seconds = (performance.now() - started) / 1000;
  return { count, seconds, perSecond: count / seconds };
}

export async function figure23(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  const target = ctx.settings.quick ? 100_000 : 1_000_000;
  const sizes = [10_000, 100_000, 1_000_000].filter((s) => s <= target);
  const store = SqliteLogStore.open(join(ctx.tmp, 'f23-log.db'), { maxAppendEntries: BATCH });
  const plain = openDatabase(join(ctx.tmp, 'f23-plain.db'), ['CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);']);
  const insertPlain = plain.prepare('INSERT INTO entries (idx, data) VALUES (?, ?)');
  const random = lcg(23);
  const checkpoints: Checkpoint[] = [];
  let appendSeconds = 0;
  let plainSeconds = 0;
  let singleAppends: LoopResult | undefined;
  try {
    let size = 0;
    for (const checkpoint of sizes) {
      while (size < checkpoint) {
        const batch = Array.from({ length: BATCH }, (_, i) => entry(size + i));
        let t = performance.now();
        await store.append(batch);
        appendSeconds += (performance.now() - t) / 1000;
        t = performance.now();
        const at = size;
        plain.transaction(() => batch.forEach((data, i) => insertPlain.run(at + i, data))).immediate();
        plainSeconds += (performance.now() - t) / 1000;
        size += BATCH;
      }
      const inclusion = await timeLoop(() => storeInclusionProof(store, Math.floor(random() * size), size), { maxMs: 2000, maxCount: 50_000, minCount: 100 });
      const consistency = await timeLoop(() => storeConsistencyProof(store, 1 + Math.floor(random() * (size - 1)), size), { maxMs: 2000, maxCount: 50_000, minCount: 100 });
      // Sizes of the longest proofs at this size: a leaf near the end, and an old size just past a power of two.
      const longInclusion = await storeInclusionProof(store, 0, size);
      const longConsistency = await storeConsistencyProof(store, 2 ** Math.floor(Math.log2(size - 1)) - 1, size);
      checkpoints.push({
        size,
        inclusion,
        consistency,
        inclusionHashes: longInclusion.hashes.length,
        consistencyHashes: longConsistency.hashes.length,
        inclusionJsonBytes: JSON.stringify(encodeInclusionProof(longInclusion)).length,
        consistencyJsonBytes: JSON.stringify(encodeConsistencyProof(longConsistency)).length,
      });
    }
    // One entry per transaction, each made durable (synchronous=FULL): what an unbatched publisher gets.
    let next = size;
    singleAppends = await timeLoop(() => store.append([entry(next++)]), { maxMs: 3000, maxCount: 500, minCount: 20 });
    await storeRootHash(store, next);
  } finally {
    await store.close();
    plain.close();
  }

  const first = checkpoints[0]!;
  const last = checkpoints[checkpoints.length - 1]!;
  const previous = checkpoints[checkpoints.length - 2] ?? first;
  const rows: Row[] = [];
  rows.push({
    label: `append, batches of ${fmt(BATCH)} entries, to ${fmt(last.size)} (entries/s; subtree rows written with each batch)`,
    value: fmt(last.size / appendSeconds),
    baseline: `${fmt(last.size / plainSeconds)} plain inserts/s`,
    ratio: pct(plainSeconds / appendSeconds),
    verdict: 'INFO',
  });
  rows.push({ label: `append, one entry per durable transaction, at ${fmt(last.size)} (appends/s)`, value: fmt(singleAppends.perSecond), verdict: 'INFO' });
  for (const c of checkpoints) {
    rows.push({
      label: `proofs/s at ${fmt(c.size)} entries, inclusion / consistency (random index, random older size)`,
      value: `${fmt(c.inclusion.perSecond)} / ${fmt(c.consistency.perSecond)}`,
      baseline: c === first ? undefined : `${fmt(first.inclusion.perSecond)} / ${fmt(first.consistency.perSecond)} at ${fmt(first.size)}`,
      ratio: c === first ? undefined : `${pct(c.inclusion.perSecond / first.inclusion.perSecond)} / ${pct(c.consistency.perSecond / first.consistency.perSecond)}`,
    });
  }
  // Logarithmic: from 10,000 to the largest size a proof reads log2 of it, about 1.5x the rows at 1,000,000.
  const logarithmic = last.inclusion.perSecond / first.inclusion.perSecond >= 0.25 && last.consistency.perSecond / first.consistency.perSecond >= 0.25;
  rows.push({
    label: `proof generation stays logarithmic: the rate at ${fmt(last.size)} is at least 25% of the rate at ${fmt(first.size)} (a scan of the leaves would give ${pct(first.size / last.size)})`,
    value: `${pct(last.inclusion.perSecond / first.inclusion.perSecond)} / ${pct(last.consistency.perSecond / first.consistency.perSecond)}`,
    verdict: logarithmic ? 'PASS' : 'MISS',
  });
  rows.push({
    label: `proofs/s at ${fmt(EXTRAPOLATED_SIZE)} entries, inclusion / consistency (extrapolated: the change from ${fmt(previous.size)} to ${fmt(last.size)} applied once more, a gain taken as none)`,
    value: `${fmt(extrapolate(previous.inclusion.perSecond, last.inclusion.perSecond))} / ${fmt(extrapolate(previous.consistency.perSecond, last.consistency.perSecond))}`,
    verdict: 'INFO',
  });
  rows.push({
    label: `append at ${fmt(EXTRAPOLATED_SIZE)} entries (extrapolated)`,
    value: 'no growth expected: an append reads nothing and writes about two rows an entry; the B-tree of the leaves deepens by at most one level',
    verdict: 'INFO',
  });
  for (const c of checkpoints) {
    rows.push({ label: `longest proofs at ${fmt(c.size)}, inclusion / consistency (hashes; JSON bytes)`, value: `${c.inclusionHashes} / ${c.consistencyHashes}; ${fmt(c.inclusionJsonBytes)} / ${fmt(c.consistencyJsonBytes)}`, verdict: 'INFO' });
  }
  rows.push({
    label: `longest proofs at ${fmt(EXTRAPOLATED_SIZE)}, inclusion / consistency (hashes; 32 bytes each)`,
    value: `${inclusionProofLength(0, EXTRAPOLATED_SIZE)} / ${consistencyProofLength(2 ** 23 - 1, EXTRAPOLATED_SIZE)}`,
    verdict: 'INFO',
  });
  rows.push({
    label: `a vehicle's check of one entry at ${fmt(EXTRAPOLATED_SIZE)}: the log's signature, one witness cosignature and the inclusion proof (us, noble / OpenSSL Ed25519)`,
    value: `${fmt(vehicleCheckMicros(nobleBackend))} / ${fmt(vehicleCheckMicros(nodeBackend))}`,
    verdict: 'INFO',
  });
  return {
    id: 23,
    title: 'Transparency log: appends, proofs and proof sizes at scale',
    target: `proof generation stays logarithmic (the rate at ${fmt(last.size)} entries at least 25% of the rate at ${fmt(first.size)}); append and proof rates extrapolated to ${fmt(EXTRAPOLATED_SIZE)}, proof sizes, a vehicle's cost reported`,
    baselineIs: 'appends: plain inserts of the same entries in the same batches into a SQLite table of the same settings; proofs: the rate at 10,000 entries',
    rows,
    verdict: logarithmic ? 'PASS' : 'MISS',
    notes: [
      `The store is the SQLite one (its own file, WAL, synchronous=FULL), each proof answered through the async LogStore seam with one primary-key read per perfect subtree it needs (about log2 n for an inclusion proof, up to 2 log2 n for a consistency proof). Extrapolation assumes the next tenfold size costs what the last one did; the page cache held the whole file here, and a log larger than memory would add disk reads per proof.`,
      `The vehicle's check excludes fetching the proof and the head (about ${fmt(inclusionProofLength(0, EXTRAPOLATED_SIZE) * 67 + 60)} bytes of JSON for the proof); the ECU verifies Ed25519 with @noble/ed25519 by default, which is why that figure is the larger.`,
    ],
    seconds: (performance.now() - started) / 1000,
  };
}
