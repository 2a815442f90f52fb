// The /log routes (shared/transparency/routes.ts) over real HTTP, on an express app with the
// project's error handler: what each route answers, that its proofs verify against the head it
// serves, and one test per refusal of a cosignature, each failing if its check is removed
// (docs/transparency-log.md "Server routes").
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { sendError } from '../../shared/server/http-errors.js';
import { encodeLogEntry, entryForFile, entryLeafHash, type LogEntryFields } from '../../shared/transparency/entry.js';
import { MemoryLogStore } from '../../shared/transparency/log-store.js';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../../shared/transparency/merkle.js';
import { hashHex, parseConsistencyProof, parseInclusionProof } from '../../shared/transparency/proofs.js';
import { logRouter, MAX_COSIGNATURE_BODY_BYTES } from '../../shared/transparency/routes.js';
import { LogServer } from '../../shared/transparency/server-log.js';
import { SqliteLogStore } from '../../shared/transparency/sqlite-log-store.js';
import { cosignTreeHead, encodeSignedTreeHead, parseSignedTreeHead, signTreeHead, type SignedTreeHead, verifyCosignatures, verifyTreeHead } from '../../shared/transparency/tree-head.js';

const LOG = 'uptane-ts test log';
const logKey = PrivateKey.fromLabel('routes-test/log');
const witnessKey = PrivateKey.fromLabel('routes-test/witness');
const strangerKey = PrivateKey.fromLabel('routes-test/stranger');
const clock = new FixedClock('2026-12-06T20:00:00Z');

const fileEntry = (role: string, version: number): LogEntryFields => entryForFile({ repository: 'image', role, version }, Buffer.from(`${role} v${version}`));

async function serve(log: LogServer | undefined, pageSize?: number): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  app.use('/log', logRouter(log, pageSize === undefined ? {} : { pageSize }));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => sendError(res, err));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}/log`, close: () => new Promise((r) => server.close(() => r())) };
}

async function get(url: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(url);
  const text = await response.text();
  return { status: response.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const text = await response.text();
  return { status: response.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const codeOf = (r: { json: Record<string, unknown> }): unknown => (r.json.error as { code?: unknown } | undefined)?.code;

describe('the /log routes', () => {
  let log: LogServer;
  let url: string;
  let close: () => Promise<void>;
  const entries = [fileEntry('root', 1), fileEntry('targets', 1), fileEntry('snapshot', 1), fileEntry('timestamp', 1), fileEntry('targets', 2), fileEntry('snapshot', 2), fileEntry('timestamp', 2)];

  beforeAll(async () => {
    log = await LogServer.open({ log: LOG, store: new MemoryLogStore(), signer: logKey, clock, witnessKeys: [witnessKey.publicKey] });
    await log.append(entries.slice(0, 4));
    await log.append(entries.slice(4));
    // The same file version twice: a proof names the first.
    await log.append([entries[1]!]);
    ({ url, close } = await serve(log, 3));
  });
  afterAll(() => close());

  const head = async (): Promise<SignedTreeHead> => {
    const r = await get(`${url}/tree-head`);
    expect(r.status).toBe(200);
    return parseSignedTreeHead(r.json);
  };

  it('serves the latest head, signed by the log', async () => {
    const sth = await head();
    expect(verifyTreeHead(sth, logKey.publicKey, LOG).size).toBe(8);
  });

  it('serves entries as base64 of the stored bytes, a page at most', async () => {
    const r = await get(`${url}/entries?start=1&end=8`);
    expect(r.status).toBe(200);
    const list = r.json.entries as Array<{ index: number; entry: string }>;
    expect(list.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(list.map((e) => e.entry)).toEqual(entries.slice(1, 4).map((e) => Buffer.from(encodeLogEntry(e)).toString('base64')));
    expect((await get(`${url}/entries?start=8&end=8`)).json).toEqual({ entries: [] });
  });

  it('refuses a range past the log with 416 log_range, and malformed ranges with 400', async () => {
    const beyond = await get(`${url}/entries?start=7&end=9`);
    expect([beyond.status, codeOf(beyond)]).toEqual([416, 'log_range']);
    for (const query of ['start=2&end=1', 'start=01&end=2', 'start=-1&end=2', 'start=1.0&end=2', 'start=1e1&end=20', 'start=+1&end=2', 'start=&end=2', 'start=0', 'start=0&end=1&start=0', 'start=0&end=1&x=1', 'start[]=0&end=1', `start=0&end=${'9'.repeat(20)}`, `start=0&end=1&pad=${'a'.repeat(600)}`]) {
      const r = await get(`${url}/entries?${query}`);
      expect([query, r.status, codeOf(r)]).toEqual([query, 400, 'bad_request']);
    }
  });

  it('proves inclusion by leaf hash against the head it serves, at the first entry with that hash', async () => {
    const sth = await head();
    for (const [i, fields] of entries.entries()) {
      const r = await get(`${url}/proof/inclusion?leaf_hash=${hashHex(entryLeafHash(fields))}&tree_size=${sth.head.size}`);
      expect(r.status).toBe(200);
      const proof = parseInclusionProof(r.json);
      expect(proof.leafIndex).toBe(i);
      verifyInclusion(hashLeaf(encodeLogEntry(fields)), proof.leafIndex, proof.treeSize, proof.hashes, sth.head.rootHash);
    }
    // At an older size too: leaf 4 in the tree of 5.
    const older = parseInclusionProof((await get(`${url}/proof/inclusion?leaf_hash=${hashHex(entryLeafHash(entries[4]!))}&tree_size=5`)).json);
    expect([older.leafIndex, older.treeSize]).toEqual([4, 5]);
  });

  it('answers 404 log_entry_missing for a leaf the log does not hold among the first tree_size', async () => {
    const unlogged = await get(`${url}/proof/inclusion?leaf_hash=${hashHex(entryLeafHash(fileEntry('targets', 99)))}&tree_size=8`);
    expect([unlogged.status, codeOf(unlogged)]).toEqual([404, 'log_entry_missing']);
    // Entry 4 exists, but not among the first 4.
    const later = await get(`${url}/proof/inclusion?leaf_hash=${hashHex(entryLeafHash(entries[4]!))}&tree_size=4`);
    expect([later.status, codeOf(later)]).toEqual([404, 'log_entry_missing']);
  });

  it('refuses malformed inclusion queries (400) and sizes past the log (416)', async () => {
    const hash = hashHex(entryLeafHash(entries[0]!));
    const beyond = await get(`${url}/proof/inclusion?leaf_hash=${hash}&tree_size=9`);
    expect([beyond.status, codeOf(beyond)]).toEqual([416, 'log_range']);
    for (const query of [`leaf_hash=${hash.toUpperCase()}&tree_size=8`, `leaf_hash=${hash.slice(2)}&tree_size=8`, `leaf_hash=${hash}&tree_size=0`, `leaf_hash=${hash}`, `tree_size=8`, `leaf_hash=${hash}&tree_size=08`, `leaf_hash=${hash}&tree_size=8&leaf_hash=${hash}`]) {
      const r = await get(`${url}/proof/inclusion?${query}`);
      expect([query, r.status, codeOf(r)]).toEqual([query, 400, 'bad_request']);
    }
  });

  it('proves consistency between any two sizes the log reached', async () => {
    const older = signTreeHead({ log: LOG, size: 4, rootHash: await log.log.rootHash(4), timestamp: '2026-12-06T20:00:00Z' }, logKey);
    const newer = await head();
    const r = await get(`${url}/proof/consistency?first=4&second=${newer.head.size}`);
    expect(r.status).toBe(200);
    const proof = parseConsistencyProof(r.json);
    verifyConsistency(4, newer.head.size, proof.hashes, older.head.rootHash, newer.head.rootHash);
    const beyond = await get(`${url}/proof/consistency?first=4&second=9`);
    expect([beyond.status, codeOf(beyond)]).toEqual([416, 'log_range']);
    for (const query of ['first=5&second=4', 'first=a&second=4', 'first=1', 'second=2', 'first=1&second=2&third=3']) {
      const r2 = await get(`${url}/proof/consistency?${query}`);
      expect([query, r2.status, codeOf(r2)]).toEqual([query, 400, 'bad_request']);
    }
  });
});

describe('POST /log/tree-head/cosignature', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'log-routes-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  let n = 0;
  async function scene(): Promise<{ log: LogServer; url: string; close: () => Promise<void>; file: string }> {
    const file = join(dir, `log-${++n}.sqlite`);
    const log = await LogServer.open({ log: LOG, store: SqliteLogStore.open(file), signer: logKey, clock, witnessKeys: [witnessKey.publicKey] });
    await log.append([fileEntry('root', 1), fileEntry('targets', 1)]);
    const { url, close } = await serve(log);
    return { log, url, file, close: async () => { await close(); await log.close(); } };
  }

  it('GET /log/tree-head?min_cosignatures=N serves the newest head N witnesses cosigned: 404 log_witness_pending before, the older cosigned head while a newer one waits; a bad N is 400', async () => {
    const { log, url, close } = await scene();
    try {
      const pending = await get(`${url}/tree-head?min_cosignatures=1`);
      expect([pending.status, (pending.json as { error: { code: string } }).error.code]).toEqual([404, 'log_witness_pending']);
      const sth = parseSignedTreeHead((await get(`${url}/tree-head`)).json);
      expect((await post(`${url}/tree-head/cosignature`, { tree_head: encodeSignedTreeHead(sth), cosignature: cosignTreeHead(sth, witnessKey) })).status).toBe(204);
      await log.append([fileEntry('targets', 2)]);
      const cosigned = parseSignedTreeHead((await get(`${url}/tree-head?min_cosignatures=1`)).json);
      verifyCosignatures(cosigned, logKey.publicKey, [witnessKey.publicKey], 1);
      expect(cosigned.head.size).toBe(2);
      expect(parseSignedTreeHead((await get(`${url}/tree-head`)).json).head.size).toBe(3);
      expect(parseSignedTreeHead((await get(`${url}/tree-head?min_cosignatures=0`)).json).head.size).toBe(3);
      for (const query of ['min_cosignatures=2', 'min_cosignatures=-1', 'min_cosignatures=01', 'min_cosignatures=1&min_cosignatures=1', 'other=1']) {
        expect((await get(`${url}/tree-head?${query}`)).status).toBe(400);
      }
    } finally {
      await close();
    }
  });

  it('accepts a witness cosignature of the current head, serves it with the head, and keeps it over a restart', async () => {
    const { url, close, file } = await scene();
    try {
      const sth = parseSignedTreeHead((await get(`${url}/tree-head`)).json);
      const r = await post(`${url}/tree-head/cosignature`, { tree_head: encodeSignedTreeHead(sth), cosignature: cosignTreeHead(sth, witnessKey) });
      expect(r.status).toBe(204);
      const served = parseSignedTreeHead((await get(`${url}/tree-head`)).json);
      verifyCosignatures(served, logKey.publicKey, [witnessKey.publicKey], 1);
    } finally {
      await close();
    }
    const reopened = await LogServer.open({ log: LOG, store: SqliteLogStore.open(file), signer: logKey, clock, witnessKeys: [witnessKey.publicKey] });
    try {
      verifyCosignatures(reopened.treeHead(), logKey.publicKey, [witnessKey.publicKey], 1);
    } finally {
      await reopened.close();
    }
  });

  it('refuses a cosignature under a key that is not a configured witness (403 log_witness_unknown)', async () => {
    const { url, close } = await scene();
    try {
      const sth = parseSignedTreeHead((await get(`${url}/tree-head`)).json);
      const r = await post(`${url}/tree-head/cosignature`, { tree_head: encodeSignedTreeHead(sth), cosignature: cosignTreeHead(sth, strangerKey) });
      expect([r.status, codeOf(r)]).toEqual([403, 'log_witness_unknown']);
      expect((await get(`${url}/tree-head`)).json.cosignatures).toEqual([]);
    } finally {
      await close();
    }
  });

  it("refuses a witness's keyid with a signature that does not verify over the head (400 log_tree_head_signature)", async () => {
    const { url, close } = await scene();
    try {
      const sth = parseSignedTreeHead((await get(`${url}/tree-head`)).json);
      const forged = { keyid: witnessKey.keyid, sig: strangerKey.sign(Buffer.from('another head')) };
      const r = await post(`${url}/tree-head/cosignature`, { tree_head: encodeSignedTreeHead(sth), cosignature: forged });
      expect([r.status, codeOf(r)]).toEqual([400, 'log_tree_head_signature']);
      expect((await get(`${url}/tree-head`)).json.cosignatures).toEqual([]);
    } finally {
      await close();
    }
  });

  it('refuses a head this log did not sign, even one a witness cosigned (400 log_tree_head_signature)', async () => {
    const { log, url, close } = await scene();
    try {
      const current = log.treeHead();
      // The current head's body signed by another key: the witness's cosignature verifies over the same bytes.
      const impostor = signTreeHead(current.head, strangerKey);
      const r = await post(`${url}/tree-head/cosignature`, { tree_head: encodeSignedTreeHead(impostor), cosignature: cosignTreeHead(impostor, witnessKey) });
      expect([r.status, codeOf(r)]).toEqual([400, 'log_tree_head_signature']);
      expect((await get(`${url}/tree-head`)).json.cosignatures).toEqual([]);
    } finally {
      await close();
    }
  });

  it('refuses a head the log signed and has since replaced (409 log_tree_head_superseded), then takes the new one', async () => {
    const { log, url, close } = await scene();
    try {
      const old = parseSignedTreeHead((await get(`${url}/tree-head`)).json);
      await log.append([fileEntry('snapshot', 1)]);
      const r = await post(`${url}/tree-head/cosignature`, { tree_head: encodeSignedTreeHead(old), cosignature: cosignTreeHead(old, witnessKey) });
      expect([r.status, codeOf(r)]).toEqual([409, 'log_tree_head_superseded']);
      expect((await get(`${url}/tree-head`)).json.cosignatures).toEqual([]);
      const current = parseSignedTreeHead((await get(`${url}/tree-head`)).json);
      expect((await post(`${url}/tree-head/cosignature`, { tree_head: encodeSignedTreeHead(current), cosignature: cosignTreeHead(current, witnessKey) })).status).toBe(204);
    } finally {
      await close();
    }
  });

  it('refuses malformed and oversized bodies with typed 4xx, changing nothing', async () => {
    const { url, close } = await scene();
    try {
      const sth = parseSignedTreeHead((await get(`${url}/tree-head`)).json);
      const good = { tree_head: encodeSignedTreeHead(sth), cosignature: cosignTreeHead(sth, witnessKey) };
      const cases: Array<[unknown, number, string]> = [
        ['not json', 400, 'bad_request'],
        [[good], 400, 'bad_request'],
        [{ ...good, extra: 1 }, 400, 'bad_request'],
        [{ tree_head: good.tree_head }, 400, 'log_malformed'],
        [{ cosignature: good.cosignature }, 400, 'log_malformed'],
        [{ ...good, cosignature: { ...good.cosignature, keyid: good.cosignature.keyid.toUpperCase() } }, 400, 'log_malformed'],
        [{ ...good, tree_head: { ...good.tree_head, signed: { ...good.tree_head.signed, log: 'another log' } } }, 400, 'log_tree_head_signature'],
        [JSON.stringify({ ...good, pad: 'x'.repeat(MAX_COSIGNATURE_BODY_BYTES) }), 413, 'body_too_large'],
      ];
      for (const [body, status, code] of cases) {
        const r = await post(`${url}/tree-head/cosignature`, body);
        expect([JSON.stringify(body).slice(0, 80), r.status, codeOf(r)]).toEqual([JSON.stringify(body).slice(0, 80), status, code]);
      }
      expect((await get(`${url}/tree-head`)).json.cosignatures).toEqual([]);
    } finally {
      await close();
    }
  });
});

describe('a server that keeps no log', () => {
  it('answers every /log route 404, as before the routes existed', async () => {
    const { url, close } = await serve(undefined);
    try {
      for (const path of ['/tree-head', '/entries?start=0&end=0', `/proof/inclusion?leaf_hash=${'0'.repeat(64)}&tree_size=1`, '/proof/consistency?first=0&second=0']) {
        const r = await get(`${url}${path}`);
        expect([path, r.status, codeOf(r)]).toEqual([path, 404, 'not_found']);
      }
      expect((await post(`${url}/tree-head/cosignature`, {})).status).toBe(404);
    } finally {
      await close();
    }
  });
});
