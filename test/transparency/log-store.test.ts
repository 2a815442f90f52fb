// The log store seam (docs/code-style.md R16): the in-memory and the SQLite store pass the same
// contract (appends, reads, roots and proofs equal to RFC 9162's recursive definitions, refusals that
// leave nothing behind), and the SQLite file is reopened, shared by two handles, and its proofs
// read the stored subtrees instead of recomputing them (docs/transparency-log.md "Storage").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { BadRequestError, LogRangeError, StorageError } from '../../shared/core/errors.js';
import { storeConsistencyProof, storeInclusionProof, storeRootHash, TransparencyLog } from '../../shared/transparency/log.js';
import { type LogStore, MemoryLogStore } from '../../shared/transparency/log-store.js';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../../shared/transparency/merkle.js';
import { SqliteLogStore } from '../../shared/transparency/sqlite-log-store.js';
import { verifyTreeHead } from '../../shared/transparency/tree-head.js';
import { leafData, mth, path, proof } from './reference.js';

const hex = (h: Uint8Array): string => Buffer.from(h).toString('hex');
const hexes = (hs: readonly Uint8Array[]): string[] => hs.map(hex);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'transparency-store-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
const STORES: ReadonlyArray<[string, () => LogStore]> = [
  ['memory', () => new MemoryLogStore({ maxEntryBytes: 1024, maxAppendEntries: 100, maxReadEntries: 50 })],
  ['sqlite', () => SqliteLogStore.open(join(dir, `contract-${++fileCount}.db`), { maxEntryBytes: 1024, maxAppendEntries: 100, maxReadEntries: 50 })],
];

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe.each(STORES)('the %s log store', (_name, make) => {
  let store: LogStore;
  beforeEach(() => {
    store = make();
  });
  afterEach(() => store.close());

  it('appends in order, one batch at a time, and gives back each entry with its leaf hash', async () => {
    expect(await store.size()).toBe(0);
    expect(await store.append([leafData(0), leafData(1), leafData(2)])).toBe(0);
    expect(await store.append([leafData(3)])).toBe(3);
    expect(await store.append([])).toBe(4);
    expect(await store.size()).toBe(4);
    const entries = await store.entries(1, 4);
    expect(entries.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(entries.map((e) => Buffer.from(e.data).toString())).toEqual([1, 2, 3].map((i) => Buffer.from(leafData(i)).toString()));
    expect(entries.map((e) => hex(e.leafHash))).toEqual([1, 2, 3].map((i) => hex(hashLeaf(leafData(i)))));
    expect(await store.entries(4, 4)).toEqual([]);
  });

  it('gives the roots and proofs of the RFC definitions at every size it has reached, appended in uneven batches', async () => {
    const data = Array.from({ length: 45 }, (_, i) => leafData(i));
    for (let at = 0; at < data.length; ) {
      const batch = data.slice(at, at + 1 + (at % 5));
      await store.append(batch);
      at += batch.length;
    }
    for (let n = 0; n <= data.length; n++) {
      const root = await storeRootHash(store, n);
      expect(hex(root)).toBe(hex(mth(data.slice(0, n))));
      for (let m = 0; m < n; m += 3) {
        const p = await storeInclusionProof(store, m, n);
        expect(hexes(p.hashes)).toEqual(hexes(path(m, data.slice(0, n))));
        verifyInclusion(hashLeaf(data[m]!), m, n, p.hashes, root);
      }
      for (let m = 1; m < n; m += 2) {
        const p = await storeConsistencyProof(store, m, n);
        expect(hexes(p.hashes)).toEqual(hexes(proof(m, data.slice(0, n))));
        verifyConsistency(m, n, p.hashes, await storeRootHash(store, m), root);
      }
    }
  });

  it('refuses an oversized entry, an oversized batch or a non-byte entry, appending nothing of the batch', async () => {
    await store.append([leafData(0)]);
    const before = hex(await storeRootHash(store, 1));
    for (const batch of [[leafData(1), new Uint8Array(1025)], Array.from({ length: 101 }, (_, i) => leafData(i)), [leafData(1), 'text' as unknown as Uint8Array]]) {
      const err = await rejection(store.append(batch));
      expect(err).toBeInstanceOf(BadRequestError);
    }
    expect(await store.size()).toBe(1);
    expect(await store.append([leafData(1)])).toBe(1);
    expect(hex(await storeRootHash(store, 1))).toBe(before);
    expect(hex(await storeRootHash(store, 2))).toBe(hex(mth([leafData(0), leafData(1)])));
  });

  it('refuses reads and proofs beyond the log with LogRangeError (code log_range)', async () => {
    await store.append([leafData(0), leafData(1), leafData(2)]);
    const attempts: Array<Promise<unknown>> = [
      store.entries(2, 4),
      store.entries(-1, 1),
      store.entries(2, 1),
      store.entries(0, 51),
      store.subtreeHashes([{ level: 2, index: 0 }]),
      store.subtreeHashes([{ level: 0, index: 3 }]),
      store.subtreeHashes([{ level: -1, index: 0 }]),
      storeRootHash(store, 4),
      storeInclusionProof(store, 3, 3),
      storeInclusionProof(store, 0, 4),
      storeInclusionProof(store, 0, 0),
      storeConsistencyProof(store, 2, 4),
      storeConsistencyProof(store, 3, 2),
      storeConsistencyProof(store, 1.5, 2),
    ];
    for (const attempt of attempts) {
      const err = await rejection(attempt);
      expect(err).toBeInstanceOf(LogRangeError);
      expect((err as LogRangeError).code).toBe('log_range');
    }
  });

  it('finds the first entry with a leaf hash among the first `size`, and nothing past them', async () => {
    await store.append([leafData(0), leafData(1), leafData(2)]);
    await store.append([leafData(1), leafData(3)]);
    expect(await store.findLeaf(hashLeaf(leafData(1)), 5)).toBe(1);
    expect(await store.findLeaf(hashLeaf(leafData(1)), 2)).toBe(1);
    expect(await store.findLeaf(hashLeaf(leafData(1)), 1)).toBeUndefined();
    expect(await store.findLeaf(hashLeaf(leafData(3)), 5)).toBe(4);
    expect(await store.findLeaf(hashLeaf(leafData(3)), 4)).toBeUndefined();
    expect(await store.findLeaf(hashLeaf(leafData(9)), 5)).toBeUndefined();
    // The entry's bytes are not its leaf hash: a lookup by the data itself finds nothing.
    expect(await store.findLeaf(leafData(0), 5)).toBeUndefined();
    for (const size of [6, -1, 1.5]) expect(await rejection(store.findLeaf(hashLeaf(leafData(0)), size))).toBeInstanceOf(LogRangeError);
    // A refused append leaves no leaf to be found.
    await rejection(store.append([leafData(7), new Uint8Array(1025)]));
    expect(await store.findLeaf(hashLeaf(leafData(7)), 5)).toBeUndefined();
  });

  it('keeps the latest tree head it is given, replacing the one before', async () => {
    expect(await store.latestTreeHead()).toBeUndefined();
    await store.saveTreeHead(Buffer.from('{"head":1}'));
    await store.saveTreeHead(Buffer.from('{"head":2}'));
    expect(Buffer.from((await store.latestTreeHead())!).toString()).toBe('{"head":2}');
  });
});

describe('the SQLite log store', () => {
  it('reopens with the same entries, roots and proofs, and continues appending as if never closed', async () => {
    const file = join(dir, 'reopen.db');
    const data = Array.from({ length: 77 }, (_, i) => leafData(i));
    const first = SqliteLogStore.open(file);
    await first.append(data.slice(0, 50));
    const rootAt50 = hex(await storeRootHash(first, 50));
    await first.close();

    const reopened = SqliteLogStore.open(file);
    expect(await reopened.size()).toBe(50);
    expect(hex(await storeRootHash(reopened, 50))).toBe(rootAt50);
    await reopened.append(data.slice(50));
    expect(hex(await storeRootHash(reopened, 77))).toBe(hex(mth(data)));
    expect(hexes((await storeConsistencyProof(reopened, 50, 77)).hashes)).toEqual(hexes(proof(50, data)));
    await reopened.close();
  });

  it('finds leaves and the saved head again after reopening, through the leaf-hash index', async () => {
    const file = join(dir, 'find-reopen.db');
    const first = SqliteLogStore.open(file);
    await first.append([leafData(0), leafData(1)]);
    await first.saveTreeHead(Buffer.from('head'));
    await first.close();
    const reopened = SqliteLogStore.open(file);
    expect(await reopened.findLeaf(hashLeaf(leafData(1)), 2)).toBe(1);
    expect(Buffer.from((await reopened.latestTreeHead())!).toString()).toBe('head');
    await reopened.close();
    const raw = new Database(file);
    const plan = raw.prepare('EXPLAIN QUERY PLAN SELECT idx FROM log_leaves WHERE leaf_hash = ? AND idx < ? ORDER BY idx LIMIT 1').all(Buffer.alloc(32), 2) as Array<{ detail: string }>;
    raw.close();
    // One indexed read, not a scan of the leaves.
    expect(plan.map((row) => row.detail).join(' ')).toContain('log_leaves_by_hash');
  });

    it('continues from what another handle on the same file appended', async () => {
    const file = join(dir, 'two-handles.db');
    const a = SqliteLogStore.open(file);
    const b = SqliteLogStore.open(file);
    const data = Array.from({ length: 20 }, (_, i) => leafData(i));
    await a.append(data.slice(0, 7));
    expect(await b.append(data.slice(7, 12))).toBe(7);
    expect(await a.append(data.slice(12))).toBe(12);
    expect(hex(await storeRootHash(a, 20))).toBe(hex(mth(data)));
    expect(hex(await storeRootHash(b, 20))).toBe(hex(mth(data)));
    await a.close();
    await b.close();
  });

  it('answers proofs from the stored subtrees: a subtree row removed behind its back is a StorageError, not a silent recomputation', async () => {
    const file = join(dir, 'tiles.db');
    const store = SqliteLogStore.open(file);
    await store.append(Array.from({ length: 16 }, (_, i) => leafData(i)));
    const raw = new Database(file);
    raw.prepare('DELETE FROM log_subtrees WHERE level = 3 AND idx = 1').run();
    raw.close();
    expect(await rejection(storeInclusionProof(store, 0, 16))).toBeInstanceOf(StorageError);
    expect(await rejection(storeConsistencyProof(store, 8, 16))).toBeInstanceOf(StorageError);
    // Leaf 9's proof reads subtree 3/0 and subtrees inside 3/1, all still stored.
    expect((await storeInclusionProof(store, 9, 16)).hashes).toHaveLength(4);
    await store.close();
    // A gap in the right edge (here the whole tree's subtree 4/0) is refused on reopening, before an append could build on it.
    const again = new Database(file);
    again.prepare('DELETE FROM log_subtrees WHERE level = 4 AND idx = 0').run();
    again.close();
    expect(() => SqliteLogStore.open(file)).toThrow(StorageError);
  });
});

describe('the transparency log', () => {
  it('signs heads of its current size that verify under its key, and proves against them', async () => {
    const key = PrivateKey.fromLabel('transparency-log');
    const clock = new FixedClock('2026-12-06T20:00:00.500Z');
    const log = new TransparencyLog(new MemoryLogStore(), { log: 'uptane-ts test log', signer: key, clock });
    const empty = await log.signTreeHead();
    expect(verifyTreeHead(empty, key.publicKey, 'uptane-ts test log')).toMatchObject({ size: 0, timestamp: '2026-12-06T20:00:00Z' });
    const data = Array.from({ length: 11 }, (_, i) => leafData(i));
    await log.append(data);
    clock.advance(1000);
    const head = verifyTreeHead(await log.signTreeHead(), key.publicKey, 'uptane-ts test log');
    expect(head).toMatchObject({ size: 11, timestamp: '2026-12-06T20:00:01Z' });
    expect(hex(head.rootHash)).toBe(hex(mth(data)));
    const inclusion = await log.proveInclusion(4, 11);
    verifyInclusion(hashLeaf(data[4]!), 4, 11, inclusion.hashes, head.rootHash);
    const consistency = await log.proveConsistency(6, 11);
    verifyConsistency(6, 11, consistency.hashes, await log.rootHash(6), head.rootHash);
  });
});
