// The Image repository end to end on loopback: a real server, real HTTP, a real SQLite file, real
// signatures, and the shared updater as the client.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey, type TufKey } from '../../shared/core/crypto/keys.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { RootSigned, TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { RepositoryUpdater } from '../../shared/client/updater.js';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const EXPIRES = '2027-06-01T00:00:00Z';
const TOKEN = 'test-uploader-token-0123456789';

const rootKey = PrivateKey.fromLabel('image-root-1');
const targetsKeys = [1, 2, 3].map((i) => PrivateKey.fromLabel(`image-targets-${i}`));
const supplierKey = PrivateKey.fromLabel('supplier-acme');

let dataDir: string;
let clientDir: string;
let server: RunningImageServer;
let clock: FixedClock;

async function api(method: string, path: string, body: Uint8Array | string, token: string | null = TOKEN) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    body,
    headers: { 'content-type': 'application/octet-stream', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> & { error?: { code: string } } };
}

async function buildRoot(version = 1): Promise<RootSigned> {
  const online = (await (await fetch(`${server.url}/api/v1/online-keys`)).json()) as Record<'timestamp' | 'snapshot', { keyid: string; key: TufKey }>;
  const keys: Record<string, TufKey> = { [rootKey.keyid]: rootKey.publicKey.tuf };
  for (const k of targetsKeys) keys[k.keyid] = k.publicKey.tuf;
  keys[online.timestamp.keyid] = online.timestamp.key;
  keys[online.snapshot.keyid] = online.snapshot.key;
  return {
    _type: 'root',
    spec_version: SPEC_VERSION,
    version,
    expires: EXPIRES,
    consistent_snapshot: true,
    keys,
    roles: {
      root: { keyids: [rootKey.keyid], threshold: 1 },
      targets: { keyids: targetsKeys.map((k) => k.keyid), threshold: 2 },
      timestamp: { keyids: [online.timestamp.keyid], threshold: 1 },
      snapshot: { keyids: [online.snapshot.keyid], threshold: 1 },
    },
  };
}

function targetsMetadata(version: number, targets: Record<string, TargetFile>, extra: Partial<TargetsSigned> = {}): TargetsSigned {
  return { _type: 'targets', spec_version: SPEC_VERSION, version, expires: EXPIRES, targets, ...extra };
}

function targetFor(content: string, custom?: TargetFile['custom']): TargetFile {
  const bytes = Buffer.from(content);
  return { length: bytes.length, hashes: digestBytes(bytes), ...(custom === undefined ? {} : { custom }) };
}

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'image-repo-'));
  clientDir = mkdtempSync(join(tmpdir(), 'image-client-'));
  clock = new FixedClock(NOW);
  server = await startImageServer({ dataDir, clock });
  await server.storage.addUploader('release-bot', TOKEN, NOW);
});

afterEach(async () => {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(clientDir, { recursive: true, force: true });
});

async function publishBasics(): Promise<Buffer> {
  const root = serializeMetadata(signMetadata(await buildRoot(), [rootKey]));
  expect((await api('PUT', '/api/v1/metadata/root', root)).status).toBe(201);
  for (const content of ['engine ecu v2', 'brake ecu v7']) expect((await api('POST', '/api/v1/images', content)).status).toBe(201);
  const targets = targetsMetadata(1, {
    'engine/ecm-2.0.bin': targetFor('engine ecu v2', { hardwareIds: ['ecm-x1'], releaseCounter: 2 }),
    'brake/abs-7.bin': targetFor('brake ecu v7', { hardwareIds: ['abs-z'], releaseCounter: 7 }),
  });
  expect((await api('PUT', '/api/v1/metadata/targets/targets', serializeMetadata(signMetadata(targets, targetsKeys.slice(0, 2))))).status).toBe(201);
  return root;
}

function newUpdater(trustedRoot: Uint8Array): RepositoryUpdater {
  const store = new FileMetadataStore(join(clientDir, 'metadata'));
  store.persist('root', trustedRoot);
  return new RepositoryUpdater({
    repository: 'image',
    metadataUrl: `${server.url}/metadata`,
    targetsUrl: `${server.url}/targets`,
    store,
    fetcher: new HttpFetcher(),
    clock,
  });
}

describe('Image repository server', () => {
  it('serves a repository the shared updater refreshes and downloads every image from', async () => {
    const root = await publishBasics();
    const updater = newUpdater(root);
    const result = await updater.refresh();
    expect(result).toMatchObject({ rootVersion: 1, targetsVersion: 1, snapshotChanged: true });
    for (const [name, content] of [['engine/ecm-2.0.bin', 'engine ecu v2'], ['brake/abs-7.bin', 'brake ecu v7']] as const) {
      const found = await updater.findTarget(name);
      const destination = join(clientDir, encodeURIComponent(name));
      await updater.downloadTarget(found, destination);
      expect(readFileSync(destination, 'utf8')).toBe(content);
    }
  });

  it('serves metadata byte-identical to what was signed, with ETag and 304', async () => {
    const root = await publishBasics();
    const response = await fetch(`${server.url}/metadata/1.root.json`);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(root);
    const etag = response.headers.get('etag')!;
    const again = await fetch(`${server.url}/metadata/1.root.json`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('answers range requests for images so clients can resume', async () => {
    await publishBasics();
    const sha = digestBytes(Buffer.from('engine ecu v2')).sha256!;
    const response = await fetch(`${server.url}/targets/engine/${sha}.ecm-2.0.bin`, { headers: { range: 'bytes=7-' } });
    expect(response.status).toBe(206);
    expect(await response.text()).toBe('ecu v2');
  });

  it('refuses targets with one signature when the threshold is 2-of-3, and accepts two', async () => {
    await publishBasics();
    const next = targetsMetadata(2, { 'engine/ecm-2.0.bin': targetFor('engine ecu v2', { hardwareIds: ['ecm-x1'], releaseCounter: 2 }) });
    const one = await api('PUT', '/api/v1/metadata/targets/targets', serializeMetadata(signMetadata(next, [targetsKeys[2]!])));
    expect(one.status).toBe(400);
    expect(one.json.error?.code).toBe('unmet_threshold');
    expect((await server.storage.latest('targets'))!.version).toBe(1);
    const two = await api('PUT', '/api/v1/metadata/targets/targets', serializeMetadata(signMetadata(next, [targetsKeys[0]!, targetsKeys[2]!])));
    expect(two.status).toBe(201);
    expect((await server.storage.latest('targets'))!.version).toBe(2);
  });

  it.each([
    ['version not increased', 'rollback', 409, () => targetsMetadata(1, {})],
    ['image never uploaded', 'missing_image', 422, () => targetsMetadata(2, { 'x.bin': targetFor('never uploaded') })],
    [
      'length differs from the uploaded image',
      'missing_image',
      422,
      () => targetsMetadata(2, { 'x.bin': { ...targetFor('engine ecu v2'), length: 99 } }),
    ],
    // Issue 17: this repository publishes sha256 and sha512 for every image (docs/decisions.md "Hash algorithms").
    [
      'an uploaded image listed without sha512',
      'unsupported_hash_algorithm',
      400,
      () => targetsMetadata(2, { 'x.bin': { ...targetFor('engine ecu v2'), hashes: { sha256: digestBytes(Buffer.from('engine ecu v2')).sha256! } } }),
    ],
    [
      'an uploaded image listed by blake2b only',
      'unsupported_hash_algorithm',
      400,
      () => targetsMetadata(2, { 'x.bin': { ...targetFor('engine ecu v2'), hashes: digestBytes(Buffer.from('engine ecu v2'), ['blake2b']) } }),
    ],
  ])('refuses targets metadata: %s (%s), storing nothing', async (_name, code, status, build) => {
    await publishBasics();
    const before = (await server.storage.latest('snapshot'))!.version;
    const result = await api('PUT', '/api/v1/metadata/targets/targets', serializeMetadata(signMetadata(build(), targetsKeys.slice(0, 2))));
    expect(result.status).toBe(status);
    expect(result.json.error?.code).toBe(code);
    expect((await server.storage.latest('targets'))!.version).toBe(1);
    expect((await server.storage.latest('snapshot'))!.version).toBe(before);
  });

  it('refuses a bad signature and unsafe target names', async () => {
    await publishBasics();
    const envelope = signMetadata(targetsMetadata(2, {}), targetsKeys.slice(0, 2));
    const tampered = { ...envelope, signed: { ...envelope.signed, version: 3 } };
    const bad = await api('PUT', '/api/v1/metadata/targets/targets', serializeMetadata(tampered));
    expect(bad.json.error?.code).toBe('unmet_threshold');
    const unsafe = Buffer.from(JSON.stringify({ signed: { ...targetsMetadata(2, {}), targets: { '../etc/passwd': targetFor('engine ecu v2') } }, signatures: [] }));
    const result = await api('PUT', '/api/v1/metadata/targets/targets', unsafe);
    expect(result.status).toBe(400);
    expect(result.json.error?.code).toBe('unsafe_path');
    expect((await server.storage.latest('targets'))!.version).toBe(1);
  });

  it('lets a supplier sign only inside its delegation', async () => {
    await publishBasics();
    expect((await api('POST', '/api/v1/images', 'acme radar 3')).status).toBe(201);
    const delegating = targetsMetadata(2, {}, {
      delegations: {
        keys: { [supplierKey.keyid]: supplierKey.publicKey.tuf },
        roles: [{ name: 'acme', keyids: [supplierKey.keyid], threshold: 1, terminating: true, paths: ['acme/*'] }],
      },
    });
    expect((await api('PUT', '/api/v1/metadata/targets/targets', serializeMetadata(signMetadata(delegating, targetsKeys.slice(1))))).status).toBe(201);
    const outside = targetsMetadata(1, { 'engine/radar.bin': targetFor('acme radar 3') });
    const refused = await api('PUT', '/api/v1/metadata/targets/acme', serializeMetadata(signMetadata(outside, [supplierKey])));
    expect(refused.json.error?.code).toBe('unauthorized_target');
    const inside = targetsMetadata(1, { 'acme/radar.bin': targetFor('acme radar 3', { hardwareIds: ['radar-a'], releaseCounter: 3 }) });
    expect((await api('PUT', '/api/v1/metadata/targets/acme', serializeMetadata(signMetadata(inside, [supplierKey])))).status).toBe(201);

    const updater = newUpdater((await server.storage.get('root', 1))!.bytes);
    await updater.refresh();
    const found = await updater.findTarget('acme/radar.bin');
    expect(found.role).toBe('acme');
  });

  it('refuses uploads without or with a wrong token, and oversized images', async () => {
    const anonymous = await api('POST', '/api/v1/images', 'x', null);
    expect(anonymous).toEqual({ status: 401, json: { error: expect.objectContaining({ code: 'unauthorized' }) } });
    expect((await api('POST', '/api/v1/images', 'x', 'wrong-token')).status).toBe(401);
    await server.close();
    server = await startImageServer({ dataDir, clock, config: { maxImageBytes: 10 } });
    const big = await api('POST', '/api/v1/images', 'more than ten bytes');
    expect(big.status).toBe(413);
    expect(big.json.error?.code).toBe('image_too_large');
  });

  it('follows a root rotation from v1 and re-signs snapshot and timestamp before they expire', async () => {
    const root1 = await publishBasics();
    const newRootKey = PrivateKey.fromLabel('image-root-2');
    const base = await buildRoot(2);
    const keys = { ...base.keys, [newRootKey.keyid]: newRootKey.publicKey.tuf };
    delete keys[rootKey.keyid];
    const next: RootSigned = { ...base, keys, roles: { ...base.roles, root: { keyids: [newRootKey.keyid], threshold: 1 } } };
    const onlyNew = await api('PUT', '/api/v1/metadata/root', serializeMetadata(signMetadata(next, [newRootKey])));
    expect(onlyNew.json.error?.code).toBe('unmet_threshold');
    expect((await api('PUT', '/api/v1/metadata/root', serializeMetadata(signMetadata(next, [rootKey, newRootKey])))).status).toBe(201);

    const timestampBefore = (await server.storage.latest('timestamp'))!.version;
    clock.advance(20 * 60 * 60 * 1000); // 20 h: timestamp (1 day) has under half its life left
    expect(await server.repository.refreshOnlineMetadata()).toEqual(['timestamp']);
    expect((await server.storage.latest('timestamp'))!.version).toBe(timestampBefore + 1);

    const updater = newUpdater(root1);
    expect((await updater.refresh()).rootVersion).toBe(2);
  });

  it('refuses to start with an offline key in its key directory', async () => {
    await server.close();
    const { savePrivateKey } = await import('../../shared/files/key-files.js');
    savePrivateKey(join(dataDir, 'keys', 'root.pem'), rootKey);
    await expect(startImageServer({ dataDir, clock })).rejects.toMatchObject({ code: 'offline_key_on_server' });
    rmSync(join(dataDir, 'keys', 'root.pem'));
    server = await startImageServer({ dataDir, clock });
  });
});
