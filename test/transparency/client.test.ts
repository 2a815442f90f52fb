// The log client (shared/transparency/client.ts) against a hostile server on loopback: every answer
// that is not the protocol's shape is a typed error, never a crash or a value; size caps and the
// fetcher's slow-retrieval limits hold; entries are paged and must come at their indexes. The honest
// protocol against the real routes is exercised by audit, witness-process and vehicle-log tests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { DownloadLengthError, FetchError, LogEntryMissingError, MalformedLogDataError, SlowRetrievalError } from '../../shared/core/errors.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { LogClient } from '../../shared/transparency/client.js';
import { encodeLogEntry, entryForFile } from '../../shared/transparency/entry.js';
import { EMPTY_ROOT, hashLeaf } from '../../shared/transparency/merkle.js';
import { encodeSignedTreeHead, signTreeHead } from '../../shared/transparency/tree-head.js';

type Answer = { status?: number; body?: string | Buffer; trickle?: boolean };
let answer: (path: string, method: string) => Answer;
const seen: string[] = [];
let server: http.Server;
let base: string;
const fetcher = new HttpFetcher({ idleTimeoutMs: 300, connectTimeoutMs: 2000, speedGracePeriodMs: 100_000 });

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const a = answer(req.url ?? '', req.method ?? 'GET');
    res.writeHead(a.status ?? 200, { 'content-type': 'application/json' });
    if (a.trickle === true) {
      res.write('{"signed":'); // then nothing: a stalled answer
      return;
    }
    res.end(a.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/log`;
});

afterAll(async () => {
  fetcher.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.length = 0;
});

const client = (limits = {}) => new LogClient(base, fetcher, limits);
const entryBytes = (n: number) => encodeLogEntry(entryForFile({ repository: 'image', role: 'targets', version: n }, Buffer.from(`targets ${n}`)));
const entriesJson = (start: number, end: number) => JSON.stringify({ entries: Array.from({ length: end - start }, (_, i) => ({ index: start + i, entry: Buffer.from(entryBytes(start + i + 1)).toString('base64') })) });

describe('the log client', () => {
  it('parses a tree head, and refuses one that is not JSON, not a head, or over its cap', async () => {
    const head = encodeSignedTreeHead(signTreeHead({ log: 'l', size: 0, rootHash: EMPTY_ROOT, timestamp: '2026-06-01T00:00:00Z' }, PrivateKey.fromLabel('client/log')));
    answer = () => ({ body: JSON.stringify(head) });
    expect((await client().treeHead()).head.size).toBe(0);
    answer = () => ({ body: 'not json' });
    await expect(client().treeHead()).rejects.toThrow(MalformedLogDataError);
    answer = () => ({ body: JSON.stringify({ ...head, signed: { ...head.signed, size: -1 } }) });
    await expect(client().treeHead()).rejects.toThrow(MalformedLogDataError);
    answer = () => ({ body: Buffer.alloc(64 * 1024, 0x20) });
    await expect(client().treeHead()).rejects.toThrow(DownloadLengthError);
  });

  it('gives up on a head that stalls (slow retrieval)', async () => {
    answer = () => ({ trickle: true });
    await expect(client().treeHead()).rejects.toThrow(SlowRetrievalError);
  });

  it('pages entries, continuing after a short page, and decodes each', async () => {
    answer = (path) => {
      const q = new URLSearchParams(path.slice(path.indexOf('?') + 1));
      const start = Number(q.get('start'));
      // A server whose pages are shorter than asked.
      return { body: entriesJson(start, Math.min(Number(q.get('end')), start + 7)) };
    };
    const entries = await client({ pageSize: 10 }).entries(0, 25);
    expect(entries.map((e) => e.index)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(entries[3]!.fields).toMatchObject({ repository: 'image', role: 'targets', version: 4 });
    expect(Buffer.from(entries[3]!.leafHash)).toEqual(Buffer.from(hashLeaf(entryBytes(4))));
    expect(seen[0]).toBe('GET /log/entries?start=0&end=10');
    expect(seen[1]).toBe('GET /log/entries?start=7&end=17');
  });

  it.each([
    ['an entry at the wrong index', () => JSON.stringify({ entries: [{ index: 1, entry: Buffer.from(entryBytes(1)).toString('base64') }] })],
    ['more entries than asked', () => entriesJson(0, 3)],
    ['no entries list', () => JSON.stringify({ items: [] })],
    ['an entry that is not base64', () => JSON.stringify({ entries: [{ index: 0, entry: '***' }] })],
    ['an entry that is not canonical', () => JSON.stringify({ entries: [{ index: 0, entry: Buffer.from(` ${Buffer.from(entryBytes(1)).toString()}`).toString('base64') }] })],
    ['an entry of an unknown shape', () => JSON.stringify({ entries: [{ index: 0, entry: Buffer.from('{"a":1}').toString('base64') }] })],
    ['no entries at all', () => JSON.stringify({ entries: [] })],
  ])('refuses %s (MalformedLogDataError)', async (_what, body) => {
    answer = () => ({ body: body() });
    await expect(client().entries(0, 2)).rejects.toThrow(MalformedLogDataError);
  });

  it('reads a 404 for an inclusion proof as a missing entry, and refuses a proof for another tree size', async () => {
    const leaf = hashLeaf(entryBytes(1));
    answer = () => ({ status: 404, body: JSON.stringify({ error: { code: 'log_entry_missing', message: 'no' } }) });
    await expect(client().inclusionProof(leaf, 5)).rejects.toThrow(LogEntryMissingError);
    await expect(client().inclusionProof(leaf, 0)).rejects.toThrow(LogEntryMissingError);
    answer = () => ({ body: JSON.stringify({ leaf_index: 0, tree_size: 4, hashes: [] }) });
    await expect(client().inclusionProof(leaf, 5)).rejects.toThrow(/tree size 4, where 5/);
    answer = () => ({ body: JSON.stringify({ leaf_index: 0, tree_size: 5, hashes: ['XYZ'] }) });
    await expect(client().inclusionProof(leaf, 5)).rejects.toThrow(MalformedLogDataError);
  });

  it('refuses a consistency proof between other sizes than asked', async () => {
    answer = () => ({ body: JSON.stringify({ first_size: 2, second_size: 9, hashes: [] }) });
    await expect(client().consistencyProof(3, 9)).rejects.toThrow(MalformedLogDataError);
  });

  it('posts a cosignature: 204 accepted, 409 superseded, anything else a failure naming the answer', async () => {
    const sth = signTreeHead({ log: 'l', size: 0, rootHash: EMPTY_ROOT, timestamp: '2026-06-01T00:00:00Z' }, PrivateKey.fromLabel('client/log'));
    const cosignature = { keyid: 'ab', sig: 'cd' };
    answer = () => ({ status: 204 });
    expect(await client().postCosignature(sth, cosignature)).toBe('accepted');
    expect(seen).toEqual(['POST /log/tree-head/cosignature']);
    answer = () => ({ status: 409, body: '{"error":{"code":"log_tree_head_superseded","message":"newer"}}' });
    expect(await client().postCosignature(sth, cosignature)).toBe('superseded');
    answer = () => ({ status: 403, body: '{"error":{"code":"log_witness_unknown","message":"who?"}}' });
    await expect(client().postCosignature(sth, cosignature)).rejects.toThrow(FetchError);
    await expect(client().postCosignature(sth, cosignature)).rejects.toThrow(/log_witness_unknown/);
  });
});
