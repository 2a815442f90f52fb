// The Director's transparency log end to end: a real Director with the log's options, a real Image
// repository, a vehicle that refreshes over HTTP, and the log read back over /log. Every root version
// and every version of the vehicle's targets the Director signed is an entry, naming the vehicle by
// its VIN's hash and never by its VIN; proofs verify against the head served; what was stored while
// the log was not appended (a crash between the two) is appended on the next start
// (docs/transparency-log.md "Server routes").
import { join } from 'node:path';
import type { ImageCatalog } from '../../director-repo/image-catalog.js';
import { openDirector, startDirector, type RunningDirector } from '../../director-repo/server.js';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import { decodeLogEntry, encodeLogEntry, entryForFile, entryLeafHash, type LogEntryFields, vinHash } from '../../shared/transparency/entry.js';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../../shared/transparency/merkle.js';
import { hashHex, parseConsistencyProof, parseInclusionProof } from '../../shared/transparency/proofs.js';
import { DIRECTOR_LOG_NAME, type ServerLogConfig } from '../../shared/transparency/server-log.js';
import { parseSignedTreeHead, type SignedTreeHead, verifyTreeHead } from '../../shared/transparency/tree-head.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, rootMetadata, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

const VIN = 'VINLOG0000000001';
const ENGINE_V2 = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const BRAKE_V7 = { name: 'brake/abs-7.bin', content: Buffer.from('brake ecu v7'), hardwareIds: ['abs-z'], releaseCounter: 7 };
const logKey = PrivateKey.fromLabel('director-log/log');
const LOG_CONFIG: ServerLogConfig = { signer: logKey };

let clock: FixedClock;
let repos: Repositories;
let car: TestVehicle;
/** Every file the Director signed, as the log should name it, gathered as the test goes. */
const signed: LogEntryFields[] = [];

const key = (e: LogEntryFields): string => hashHex(entryLeafHash(e));

/** The Director as the fixture started it, now with the log (as `director serve --log-key`). */
async function startWithLog(): Promise<RunningDirector> {
  return startDirector({ dataDir: join(repos.dataDir, 'director'), imageRepoUrl: repos.image.url, imageRootFile: join(repos.dataDir, 'image-root.json'), clock, transparencyLog: LOG_CONFIG, log: () => undefined });
}

async function getJson(path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${repos.director.url}${path}`);
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function treeHead(): Promise<SignedTreeHead> {
  const r = await getJson('/log/tree-head');
  expect(r.status).toBe(200);
  const sth = parseSignedTreeHead(r.json);
  verifyTreeHead(sth, logKey.publicKey, DIRECTOR_LOG_NAME);
  return sth;
}

async function logEntries(): Promise<{ fields: LogEntryFields[]; raw: string }> {
  const size = (await treeHead()).head.size;
  const page = (await getJson(`/log/entries?start=0&end=${size}`)).json.entries as Array<{ entry: string }>;
  const bytes = page.map((e) => Buffer.from(e.entry, 'base64'));
  return { fields: bytes.map((b) => decodeLogEntry(b)), raw: Buffer.concat(bytes).toString('utf8') };
}

/** The vehicle checks for updates as it does in the field; the targets it got are what the Director stored. */
async function vehicleRefresh(): Promise<void> {
  await car.directorUpdater(repos.director.url, repos.directorRoot).refresh();
  const targets = (await repos.director.storage.vehicleMetadata.file(VIN, 'targets'))!;
  signed.push(entryForFile({ repository: 'director', role: 'targets', version: targets.version, vin: VIN }, targets.bytes));
}

async function rootEntry(version: number): Promise<LogEntryFields> {
  const bytes = Buffer.from(await (await fetch(`${repos.director.url}/metadata/${version}.root.json`)).arrayBuffer());
  return entryForFile({ repository: 'director', role: 'root', version }, bytes);
}

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'director-log');
  await repos.publishImages([ENGINE_V2, BRAKE_V7]);
  car = new TestVehicle(VIN, [{ serial: 'tcu-1', hardwareId: 'tcu-a', primary: true }, { serial: 'ecm-1', hardwareId: 'ecm-x1' }, { serial: 'abs-1', hardwareId: 'abs-z' }], clock);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  // The fixture's Director kept no log; it is started again with one, as an operator turns it on.
  await repos.director.close();
  repos.director = await startWithLog();
});

afterAll(async () => {
  car.cleanup();
  await repos.close();
});

describe("the Director's transparency log", () => {
  it('catches up on start with the root published before the log was kept', async () => {
    signed.push(await rootEntry(1));
    expect((await logEntries()).fields.map(key)).toEqual([key(signed[0]!)]);
  });

  it("logs every version of the vehicle's targets it signs and every root, naming the vehicle by its VIN's hash only", async () => {
    await vehicleRefresh();
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: 'ecm-1', image: ENGINE_V2.name })).status).toBe(201);
    await vehicleRefresh();
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: 'abs-1', image: BRAKE_V7.name })).status).toBe(201);
    await vehicleRefresh();
    const online = repos.director.services.root.onlineKeysJson();
    const root2 = rootMetadata(2, { root: [{ keyid: repos.directorRootKey.keyid, key: repos.directorRootKey.publicKey.tuf }], targets: [online.targets], snapshot: [online.snapshot], timestamp: [online.timestamp] });
    const pushed = await fetch(`${repos.director.url}/api/v1/metadata/root`, {
      method: 'PUT',
      body: serializeMetadata(signMetadata(root2, [repos.directorRootKey])),
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/octet-stream' },
    });
    expect(pushed.status).toBe(201);
    signed.push(await rootEntry(2));

    const { fields, raw } = await logEntries();
    expect(new Set(signed.filter((e) => e.role === 'targets').map((e) => e.version))).toEqual(new Set([1, 2, 3]));
    expect(fields.map(key)).toEqual(signed.map(key));
    for (const entry of fields.filter((e) => e.role === 'targets')) expect(entry.vinSha256).toBe(vinHash(VIN));
    // A public log must not list a fleet: the VIN itself appears nowhere in it.
    expect(raw).not.toContain(VIN);
  });

  it('proves every entry against the head it serves, and that head extends an older one', async () => {
    const head = await treeHead();
    for (const entry of signed) {
      const proof = parseInclusionProof((await getJson(`/log/proof/inclusion?leaf_hash=${key(entry)}&tree_size=${head.head.size}`)).json);
      verifyInclusion(hashLeaf(encodeLogEntry(entry)), proof.leafIndex, proof.treeSize, proof.hashes, head.head.rootHash);
    }
    const older = await repos.director.transparencyLog!.log.log.rootHash(1);
    const consistency = parseConsistencyProof((await getJson(`/log/proof/consistency?first=1&second=${head.head.size}`)).json);
    verifyConsistency(1, head.head.size, consistency.hashes, older, head.head.rootHash);
  });

  it("appends on start a vehicle's targets stored while the log was not appended (a crash between the two)", async () => {
    const before = await treeHead();
    await repos.director.close();
    // Past half the targets' lifetime: the vehicle's next read re-signs them as version 4.
    clock.advance(16 * 24 * 3600 * 1000);
    // The Director alone, as a server that committed a new targets version and died before appending it.
    const bare = await openDirector({ dataDir: join(repos.dataDir, 'director'), imageRepoUrl: repos.image.url, images: {} as ImageCatalog, clock });
    try {
      const targets = await bare.services.metadata.current(VIN, 'targets');
      expect(targets.version).toBe(4);
      signed.push(entryForFile({ repository: 'director', role: 'targets', version: 4, vin: VIN }, targets.bytes));
    } finally {
      await bare.services.intake.close();
      await bare.storage.close();
      repos.director = await startWithLog();
    }
    const after = await treeHead();
    expect(after.head.size).toBe(before.head.size + 1);
    expect((await logEntries()).fields.map(key)).toEqual(signed.map(key));
    const consistency = parseConsistencyProof((await getJson(`/log/proof/consistency?first=${before.head.size}&second=${after.head.size}`)).json);
    verifyConsistency(before.head.size, after.head.size, consistency.hashes, before.head.rootHash, after.head.rootHash);
  });
});
