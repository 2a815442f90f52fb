// The Image repository's transparency log end to end: a real server with --log-key's options, real
// uploads over HTTP, and the log read back over /log. Every version of every metadata file served
// (root, targets, a delegated role, snapshot, timestamp, the re-signed ones) is an entry of the log
// and nothing else is; each entry's inclusion proof verifies against the head served; a version
// published while the log was not appended (a crash between the two) is appended on the next start;
// a server without the option keeps no log (docs/transparency-log.md "Server routes").
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImageRepository, startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey, type TufKey } from '../../shared/core/crypto/keys.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { RootSigned, TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { decodeLogEntry, encodeLogEntry, entryForFile, entryLeafHash, type LogEntryFields } from '../../shared/transparency/entry.js';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../../shared/transparency/merkle.js';
import { hashHex, parseConsistencyProof, parseInclusionProof } from '../../shared/transparency/proofs.js';
import { IMAGE_LOG_NAME, LOG_FILE, type ServerLogConfig } from '../../shared/transparency/server-log.js';
import { cosignTreeHead, encodeSignedTreeHead, parseSignedTreeHead, type SignedTreeHead, verifyCosignatures, verifyTreeHead } from '../../shared/transparency/tree-head.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const EXPIRES = '2027-06-01T00:00:00Z';
const TOKEN = 'test-uploader-token-0123456789';
const rootKey = PrivateKey.fromLabel('image-log/root');
const targetsKey = PrivateKey.fromLabel('image-log/targets');
const supplierKey = PrivateKey.fromLabel('image-log/acme');
const logKey = PrivateKey.fromLabel('image-log/log');
const witnessKey = PrivateKey.fromLabel('image-log/witness');
const LOG_CONFIG: ServerLogConfig = { signer: logKey, witnessKeys: [witnessKey.publicKey] };
/** The expiry watch warns as the clock nears root's expiry: not this test's subject. */
const quiet = (): void => undefined;

let dataDir: string;
let server: RunningImageServer;
let clock: FixedClock;

async function api(method: string, path: string, body: Uint8Array | string): Promise<number> {
  const response = await fetch(`${server.url}${path}`, { method, body, headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${TOKEN}` } });
  await response.arrayBuffer();
  return response.status;
}

async function getJson(path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${server.url}${path}`);
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function buildRoot(): Promise<RootSigned> {
  const online = (await (await fetch(`${server.url}/api/v1/online-keys`)).json()) as Record<'timestamp' | 'snapshot', { keyid: string; key: TufKey }>;
  return {
    _type: 'root',
    spec_version: SPEC_VERSION,
    version: 1,
    expires: EXPIRES,
    consistent_snapshot: true,
    keys: { [rootKey.keyid]: rootKey.publicKey.tuf, [targetsKey.keyid]: targetsKey.publicKey.tuf, [online.timestamp.keyid]: online.timestamp.key, [online.snapshot.keyid]: online.snapshot.key },
    roles: {
      root: { keyids: [rootKey.keyid], threshold: 1 },
      targets: { keyids: [targetsKey.keyid], threshold: 1 },
      timestamp: { keyids: [online.timestamp.keyid], threshold: 1 },
      snapshot: { keyids: [online.snapshot.keyid], threshold: 1 },
    },
  };
}

const targetFor = (content: string): TargetFile => ({ length: Buffer.byteLength(content), hashes: digestBytes(Buffer.from(content)) });
const targetsMetadata = (version: number, targets: Record<string, TargetFile>, extra: Partial<TargetsSigned> = {}): TargetsSigned => ({
  _type: 'targets',
  spec_version: SPEC_VERSION,
  version,
  expires: EXPIRES,
  targets,
  ...extra,
});

/** Every version the repository ever published, as the log should name it: from the bytes it serves. */
async function servedEntries(): Promise<LogEntryFields[]> {
  const out: LogEntryFields[] = [];
  for (const v of await server.storage.publishedVersions()) {
    // Timestamp is served unversioned (its latest); older versions are read from the store.
    const url = v.role === 'timestamp' ? '/metadata/timestamp.json' : `/metadata/${v.version}.${v.role}.json`;
    const latestTimestamp = (await server.storage.latest('timestamp'))?.version;
    const bytes = v.role === 'timestamp' && v.version !== latestTimestamp ? (await server.storage.get(v.role, v.version))!.bytes : Buffer.from(await (await fetch(`${server.url}${url}`)).arrayBuffer());
    out.push(entryForFile({ repository: 'image', role: v.role, version: v.version }, bytes));
  }
  return out;
}

async function logEntries(): Promise<LogEntryFields[]> {
  const head = await treeHead();
  const out: LogEntryFields[] = [];
  for (let start = 0; start < head.head.size; start += 1000) {
    const page = (await getJson(`/log/entries?start=${start}&end=${Math.min(head.head.size, start + 1000)}`)).json.entries as Array<{ index: number; entry: string }>;
    out.push(...page.map((e) => decodeLogEntry(Buffer.from(e.entry, 'base64'))));
  }
  return out;
}

async function treeHead(): Promise<SignedTreeHead> {
  const r = await getJson('/log/tree-head');
  expect(r.status).toBe(200);
  const sth = parseSignedTreeHead(r.json);
  verifyTreeHead(sth, logKey.publicKey, IMAGE_LOG_NAME);
  return sth;
}

const key = (e: LogEntryFields): string => hashHex(entryLeafHash(e));

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'image-repo-log-'));
  clock = new FixedClock(NOW);
  server = await startImageServer({ dataDir, clock, transparencyLog: LOG_CONFIG, observability: false, log: quiet });
  await server.storage.addUploader('release-bot', TOKEN, NOW);
});

afterAll(async () => {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the Image repository's transparency log", () => {
  let firstHead: SignedTreeHead;

  it('starts empty, with a signed head of the empty tree', async () => {
    firstHead = await treeHead();
    expect(firstHead.head.size).toBe(0);
    expect(existsSync(join(dataDir, LOG_FILE))).toBe(true);
  });

  it('logs every version of every file it publishes: root, targets, a delegated role, snapshot, timestamp, and re-signed ones', async () => {
    expect(await api('PUT', '/api/v1/metadata/root', serializeMetadata(signMetadata(await buildRoot(), [rootKey])))).toBe(201);
    for (const content of ['engine v1', 'acme radar 3']) expect(await api('POST', '/api/v1/images', content)).toBe(201);
    expect(await api('PUT', '/api/v1/metadata/targets/targets', serializeMetadata(signMetadata(targetsMetadata(1, { 'engine/ecm.bin': targetFor('engine v1') }), [targetsKey])))).toBe(201);
    const delegating = targetsMetadata(2, { 'engine/ecm.bin': targetFor('engine v1') }, {
      delegations: { keys: { [supplierKey.keyid]: supplierKey.publicKey.tuf }, roles: [{ name: 'acme', keyids: [supplierKey.keyid], threshold: 1, terminating: true, paths: ['acme/*'] }] },
    });
    expect(await api('PUT', '/api/v1/metadata/targets/targets', serializeMetadata(signMetadata(delegating, [targetsKey])))).toBe(201);
    expect(await api('PUT', '/api/v1/metadata/targets/acme', serializeMetadata(signMetadata(targetsMetadata(1, { 'acme/radar.bin': targetFor('acme radar 3') }), [supplierKey])))).toBe(201);
    // Online re-signing before expiry (the server's timer, run once here): a timestamp and a snapshot nobody uploaded.
    const timestampBefore = (await server.storage.latest('timestamp'))!.version;
    clock.advance(300 * 24 * 3600 * 1000);
    await server.checkResigning();
    expect(server.resignStatus().consecutiveFailures).toBe(0);
    expect((await server.storage.latest('timestamp'))!.version).toBe(timestampBefore + 1);

    const served = await servedEntries();
    const roles = new Set(served.map((e) => e.role));
    expect([...roles].sort()).toEqual(['acme', 'root', 'snapshot', 'targets', 'timestamp']);
    const logged = await logEntries();
    // The same set, each once: nothing unlogged, nothing the repository did not publish.
    expect(logged.map(key).sort()).toEqual(served.map(key).sort());
    expect(new Set(logged.map(key)).size).toBe(logged.length);
  });

  it("proves each entry's inclusion against the head it serves, and that head extends the first", async () => {
    const head = await treeHead();
    for (const entry of await servedEntries()) {
      const r = await getJson(`/log/proof/inclusion?leaf_hash=${key(entry)}&tree_size=${head.head.size}`);
      expect(r.status).toBe(200);
      const proof = parseInclusionProof(r.json);
      verifyInclusion(hashLeaf(encodeLogEntry(entry)), proof.leafIndex, proof.treeSize, proof.hashes, head.head.rootHash);
    }
    const consistency = parseConsistencyProof((await getJson(`/log/proof/consistency?first=${firstHead.head.size}&second=${head.head.size}`)).json);
    verifyConsistency(firstHead.head.size, head.head.size, consistency.hashes, firstHead.head.rootHash, head.head.rootHash);
  });

  it('answers 404 log_entry_missing for a file version it never published', async () => {
    const head = await treeHead();
    const forged = entryForFile({ repository: 'image', role: 'targets', version: 3 }, Buffer.from('a targets v3 signed with stolen keys, shown to one vehicle'));
    const r = await getJson(`/log/proof/inclusion?leaf_hash=${key(forged)}&tree_size=${head.head.size}`);
    expect([r.status, (r.json.error as { code: string }).code]).toEqual([404, 'log_entry_missing']);
  });

  it('takes a witness cosignature and serves it after a restart, with the same head', async () => {
    const head = await treeHead();
    const response = await fetch(`${server.url}/log/tree-head/cosignature`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tree_head: encodeSignedTreeHead(head), cosignature: cosignTreeHead(head, witnessKey) }),
    });
    expect(response.status).toBe(204);
    await server.close();
    server = await startImageServer({ dataDir, clock, transparencyLog: LOG_CONFIG, observability: false, log: quiet });
    const again = await treeHead();
    expect(again.signed).toEqual(head.signed);
    verifyCosignatures(again, logKey.publicKey, [witnessKey.publicKey], 1);
  });

  it('appends on start every version published while the log was not appended (a crash between the two)', async () => {
    const before = await treeHead();
    await server.close();
    // The repository alone, as a server that stored a publication and died before appending it.
    clock.advance(60 * 24 * 3600 * 1000);
    const bare = openImageRepository(dataDir, clock);
    try {
      expect(await bare.repository.refreshOnlineMetadata()).not.toEqual([]);
    } finally {
      bare.storage.close();
    }
    const lines: string[] = [];
    server = await startImageServer({ dataDir, clock, transparencyLog: LOG_CONFIG, observability: false, log: (line) => lines.push(line) });
    expect(lines.some((line) => /transparency log: appended \d+ published version/.test(line))).toBe(true);
    const after = await treeHead();
    expect(after.head.size).toBeGreaterThan(before.head.size);
    expect((await logEntries()).map(key).sort()).toEqual((await servedEntries()).map(key).sort());
    const consistency = parseConsistencyProof((await getJson(`/log/proof/consistency?first=${before.head.size}&second=${after.head.size}`)).json);
    verifyConsistency(before.head.size, after.head.size, consistency.hashes, before.head.rootHash, after.head.rootHash);
    // A further restart finds nothing missing and appends nothing.
    await server.close();
    server = await startImageServer({ dataDir, clock, transparencyLog: LOG_CONFIG, observability: false, log: quiet });
    expect((await treeHead()).head.size).toBe(after.head.size);
  });
});

describe('an Image repository started without a log', () => {
  it('keeps none: no log file, and /log answers 404', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'image-repo-nolog-'));
    const plain = await startImageServer({ dataDir: dir, clock: new FixedClock(NOW), observability: false });
    try {
      const response = await fetch(`${plain.url}/log/tree-head`);
      expect(response.status).toBe(404);
      expect(plain.transparencyLog).toBeUndefined();
      expect(existsSync(join(dir, LOG_FILE))).toBe(false);
    } finally {
      await plain.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
