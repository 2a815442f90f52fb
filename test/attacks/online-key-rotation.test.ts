// Attacks on and mistakes around online key rotation (docs/threat-model.md B14-B18), against both
// real servers on loopback with real signatures (docs/decisions.md "Online key rotation"): a root
// that does not list the pending key, a pending key file tampered with or an unknown file in the key
// folder, a rotation without the admin right, a second rotation while one is pending, a restart with
// a key pending, and a crash between storing the root and moving the key file.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { OfflineKeyOnServerError, PendingOnlineKeyError } from '../../shared/core/errors.js';
import { savePrivateKey } from '../../shared/files/key-files.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import { loadOnlineKeys, loadPendingOnlineKeys } from '../../shared/server/online-keys.js';
import { startDirector } from '../../director-repo/server.js';
import { startImageServer } from '../../image-repo/server.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, rootMetadata, startRepositories, UPLOADER_TOKEN, type Repositories } from '../../sim/harness/fleet-fixtures.js';

let clock: FixedClock;
let repos: Repositories;

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'key-rotation-attacks');
  await repos.publishImages([{ name: 'a.bin', content: Buffer.from('a'), hardwareIds: ['hw'], releaseCounter: 1 }]);
});

afterEach(async () => {
  await repos.close();
});

type Entry = { keyid: string; key: PrivateKey['publicKey']['tuf'] };
const entry = (key: PrivateKey): Entry => ({ keyid: key.keyid, key: key.publicKey.tuf });
const keyidsOf = (bytes: Uint8Array) => (JSON.parse(Buffer.from(bytes).toString('utf8')) as { signatures: Array<{ keyid: string }> }).signatures.map((s) => s.keyid);

async function call(url: string, method: string, token: string, body?: string | Uint8Array) {
  const response = await fetch(url, { method, body, headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, json: (await response.json()) as Record<string, any> };
}

const imageRotate = (body: unknown, token = UPLOADER_TOKEN) => call(`${repos.image.url}/api/v1/online-keys/rotate`, 'POST', token, JSON.stringify(body));
const directorRotate = (body: unknown, token = OPERATOR_TOKEN) => call(`${repos.director.url}/api/v1/online-keys/rotate`, 'POST', token, JSON.stringify(body));
const imageKeys = async () => (await call(`${repos.image.url}/api/v1/online-keys`, 'GET', UPLOADER_TOKEN)).json;
const servedTimestamp = async () => Buffer.from(await (await fetch(`${repos.image.url}/metadata/timestamp.json`)).arrayBuffer());

/** Image root `version` with these snapshot and timestamp keys, signed by the fixture's root key. */
function imageRoot(version: number, snapshot: Entry, timestamp: Entry): Uint8Array {
  return serializeMetadata(
    signMetadata(rootMetadata(version, { root: [entry(repos.imageRootKey)], targets: [entry(repos.imageTargetsKey)], snapshot: [snapshot], timestamp: [timestamp] }), [repos.imageRootKey]),
  );
}

function directorRoot(version: number, keys: Record<'targets' | 'snapshot' | 'timestamp', Entry>): Uint8Array {
  return serializeMetadata(
    signMetadata(rootMetadata(version, { root: [entry(repos.directorRootKey)], targets: [keys.targets], snapshot: [keys.snapshot], timestamp: [keys.timestamp] }), [repos.directorRootKey]),
  );
}

const pushImageRoot = (bytes: Uint8Array) => call(`${repos.image.url}/api/v1/metadata/root`, 'PUT', UPLOADER_TOKEN, bytes);
const pushDirectorRoot = (bytes: Uint8Array) => call(`${repos.director.url}/api/v1/metadata/root`, 'PUT', OPERATOR_TOKEN, bytes);

describe('B14 a root that does not list the pending key leaves the key in use', () => {
  it('Image repository: a root keeping the old keys is accepted and nothing switches; one listing neither key is refused', async () => {
    const before = await imageKeys();
    const rotated = await imageRotate({ roles: ['timestamp'] });
    expect(rotated.status).toBe(201);
    const pending = rotated.json.pending.timestamp as Entry;
    expect(pending.keyid).not.toBe(before.timestamp.keyid);

    expect((await pushImageRoot(imageRoot(2, before.snapshot, before.timestamp))).status).toBe(201);
    expect(repos.image.repository.onlineKeys().timestamp.keyid).toBe(before.timestamp.keyid);
    expect(keyidsOf(await servedTimestamp())).toEqual([before.timestamp.keyid]);
    expect((await imageKeys()).pending.timestamp.keyid).toBe(pending.keyid); // still waiting

    const stranger = entry(PrivateKey.fromLabel('kr2/stranger'));
    const refused = await pushImageRoot(imageRoot(3, before.snapshot, stranger));
    expect(refused.json.error.code).toBe('unmet_threshold');
    expect(refused.json.error.message).toContain(pending.keyid);
    expect((await repos.image.storage.latest('root'))!.version).toBe(2);
    expect(keyidsOf(await servedTimestamp())).toEqual([before.timestamp.keyid]);

    // The root that lists it switches, in the same publication.
    expect((await pushImageRoot(imageRoot(3, before.snapshot, pending))).status).toBe(201);
    expect(keyidsOf(await servedTimestamp())[0]).toBe(pending.keyid);
  });

  it('Director: a root keeping the old keys is accepted and vehicles\' metadata keeps the old keys; one listing neither is refused', async () => {
    const before = (await call(`${repos.director.url}/api/v1/online-keys`, 'GET', OPERATOR_TOKEN)).json as Record<'targets' | 'snapshot' | 'timestamp', Entry>;
    const rotated = await directorRotate({ roles: ['targets'] });
    expect(rotated.status).toBe(201);
    const pending = rotated.json.pending.targets as Entry;
    expect(Object.keys(rotated.json.pending)).toEqual(['targets']);

    expect((await pushDirectorRoot(directorRoot(2, { targets: before.targets, snapshot: before.snapshot, timestamp: before.timestamp }))).status).toBe(201);
    expect(repos.director.services.root.onlineKeysJson().targets.keyid).toBe(before.targets.keyid);
    expect(repos.director.services.root.pendingKeysJson().targets?.keyid).toBe(pending.keyid);

    const stranger = entry(PrivateKey.fromLabel('kr2/director-stranger'));
    const refused = await pushDirectorRoot(directorRoot(3, { targets: stranger, snapshot: before.snapshot, timestamp: before.timestamp }));
    expect(refused.json.error.code).toBe('unmet_threshold');
    expect(await repos.director.services.root.latestRootVersion()).toBe(2);
    expect(repos.director.services.root.onlineKeysJson().targets.keyid).toBe(before.targets.keyid);

    expect((await pushDirectorRoot(directorRoot(3, { targets: pending, snapshot: before.snapshot, timestamp: before.timestamp }))).json).toMatchObject({ version: 3, switched: ['targets'] });
    expect(repos.director.services.root.onlineKeysJson().targets.keyid).toBe(pending.keyid);
    expect(repos.director.services.root.pendingKeysJson()).toEqual({});
  });
});

describe('B15 a pending key file tampered with, or an unknown file in the key folder, stops the server at start', () => {
  let dir: string;
  let keyDir: string;
  let current: Record<'snapshot' | 'timestamp', PrivateKey>;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'uptane-kr3-'));
    keyDir = join(dir, 'keys');
    current = loadOnlineKeys(keyDir, ['snapshot', 'timestamp'], 'image');
    mkdirSync(join(keyDir, 'pending'), { mode: 0o700 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const load = () => loadPendingOnlineKeys(keyDir, ['snapshot', 'timestamp'] as const, Object.values(current), 'image');

  it('accepts a pending key written as a rotation writes it', () => {
    const key = PrivateKey.generate();
    savePrivateKey(join(keyDir, 'pending', 'snapshot.pem'), key);
    expect(load().snapshot?.keyid).toBe(key.keyid);
    // The folder itself is no unknown file for the key loader.
    expect(() => loadOnlineKeys(keyDir, ['snapshot', 'timestamp'], 'image')).not.toThrow();
  });

  it('refuses an unknown file: an offline role name, or anything else', () => {
    savePrivateKey(join(keyDir, 'pending', 'root.pem'), PrivateKey.generate());
    expect(load).toThrow(OfflineKeyOnServerError);
  });

  it('refuses a file that is not a private key', () => {
    writeFileSync(join(keyDir, 'pending', 'timestamp.pem'), 'not a key', { mode: 0o600 });
    expect(load).toThrow(PendingOnlineKeyError);
  });

  it('refuses a key readable by others', () => {
    savePrivateKey(join(keyDir, 'pending', 'timestamp.pem'), PrivateKey.generate());
    chmodSync(join(keyDir, 'pending', 'timestamp.pem'), 0o644);
    expect(load).toThrow(/readable by others/);
  });

  it('refuses a symbolic link in place of a key', () => {
    symlinkSync(join(keyDir, 'timestamp.pem'), join(keyDir, 'pending', 'timestamp.pem'));
    expect(load).toThrow(PendingOnlineKeyError);
  });

  it('refuses a copy of a key in use (a pending key that would change nothing)', () => {
    copyFileSync(join(keyDir, 'snapshot.pem'), join(keyDir, 'pending', 'timestamp.pem'));
    expect(load).toThrow(/already uses/);
  });

  it('refuses a file in place of the pending folder', () => {
    rmSync(join(keyDir, 'pending'), { recursive: true });
    writeFileSync(join(keyDir, 'pending'), 'x');
    expect(() => loadOnlineKeys(keyDir, ['snapshot', 'timestamp'], 'image')).toThrow(OfflineKeyOnServerError);
  });

  it('both servers refuse to start, typed, and start once the file is gone', async () => {
    const imageDir = join(dir, 'image');
    const image = await startImageServer({ dataDir: imageDir, clock });
    await image.close();
    mkdirSync(join(imageDir, 'keys', 'pending'), { mode: 0o700 });
    writeFileSync(join(imageDir, 'keys', 'pending', 'snapshot.pem'), 'tampered', { mode: 0o600 });
    await expect(startImageServer({ dataDir: imageDir, clock })).rejects.toBeInstanceOf(PendingOnlineKeyError);
    rmSync(join(imageDir, 'keys', 'pending', 'snapshot.pem'));
    await (await startImageServer({ dataDir: imageDir, clock })).close();

    const directorOptions = { dataDir: join(dir, 'director'), imageRepoUrl: repos.image.url, imageRootFile: join(repos.dataDir, 'image-root.json'), clock };
    await (await startDirector(directorOptions)).close();
    mkdirSync(join(directorOptions.dataDir, 'keys', 'pending'), { mode: 0o700 });
    // The URL-signing key is not rotated through a root: no pending file may stand for it.
    savePrivateKey(join(directorOptions.dataDir, 'keys', 'pending', 'url-signing.pem'), PrivateKey.generate());
    await expect(startDirector(directorOptions)).rejects.toBeInstanceOf(OfflineKeyOnServerError);
    rmSync(join(directorOptions.dataDir, 'keys', 'pending', 'url-signing.pem'));
    await (await startDirector(directorOptions)).close();
  });
});

describe('B16 only the admin right may start a rotation', () => {
  it('Image repository: an uploader token that may not publish root gets 403, and no key is made', async () => {
    await repos.image.storage.addUploader('supplier', 'supplier-token', clock.now(), { roles: ['targets'] });
    const refused = await imageRotate({}, 'supplier-token');
    expect(refused).toMatchObject({ status: 403, json: { error: { code: 'insufficient_scope' } } });
    expect((await imageRotate({}, 'no-such-token')).status).toBe(401);
    expect(existsSync(join(repos.dataDir, 'image', 'keys', 'pending'))).toBe(false);
    expect((await imageKeys()).pending ?? {}).toEqual({});
  });

  it('Director: an operator token below admin gets 403, and no key is made', async () => {
    await repos.director.storage.addOperator('campaigns', 'operator-scope-token', clock.now(), { scope: 'operator' });
    const refused = await directorRotate({}, 'operator-scope-token');
    expect(refused).toMatchObject({ status: 403, json: { error: { code: 'insufficient_scope' } } });
    expect(existsSync(join(repos.dataDir, 'director', 'keys', 'pending'))).toBe(false);
    expect(repos.director.services.root.pendingKeysJson()).toEqual({});
  });

  it('a malformed request is refused (400) with nothing made', async () => {
    expect((await imageRotate({ roles: ['root'] })).json.error.code).toBe('bad_request');
    expect((await imageRotate({ roles: ['targets'] })).json.error.code).toBe('bad_request'); // offline on the Image repository
    expect((await imageRotate({ role: ['snapshot'] })).json.error.code).toBe('bad_request');
    expect((await directorRotate({ roles: ['url-signing'] })).json.error.code).toBe('bad_request');
    expect((await directorRotate({ replace: 'yes' })).json.error.code).toBe('bad_request');
    expect((await imageKeys()).pending ?? {}).toEqual({});
    expect(repos.director.services.root.pendingKeysJson()).toEqual({});
  });
});

describe('B17 a rotation while one is pending', () => {
  it('is refused (409 rotation_pending) with the pending key unchanged; with replace a new key replaces it', async () => {
    const first = await imageRotate({ roles: ['snapshot'] });
    const again = await imageRotate({ roles: ['snapshot', 'timestamp'] });
    expect(again).toMatchObject({ status: 409, json: { error: { code: 'rotation_pending' } } });
    expect((await imageKeys()).pending).toEqual({ snapshot: first.json.pending.snapshot }); // timestamp not made either
    const replaced = await imageRotate({ roles: ['snapshot'], replace: true });
    expect(replaced.status).toBe(201);
    expect(replaced.json.pending.snapshot.keyid).not.toBe(first.json.pending.snapshot.keyid);
    // A root listing the replaced key is refused: that key is gone.
    const before = await imageKeys();
    expect((await pushImageRoot(imageRoot(2, first.json.pending.snapshot, before.timestamp))).json.error.code).toBe('unmet_threshold');

    expect((await directorRotate({})).status).toBe(201);
    expect((await directorRotate({ roles: ['timestamp'] })).json.error.code).toBe('rotation_pending');
  });
});

describe('B18 restarts', () => {
  it('a key pending across a restart stays pending, and switches when its root is published', async () => {
    const before = await imageKeys();
    const pending = (await imageRotate({})).json.pending as Record<'snapshot' | 'timestamp', Entry>;
    await repos.restartImage();
    expect((await imageKeys()).pending).toEqual(pending);
    expect(keyidsOf(await servedTimestamp())).toEqual([before.timestamp.keyid]);
    expect((await pushImageRoot(imageRoot(2, pending.snapshot, pending.timestamp))).json).toMatchObject({ version: 2, switched: ['snapshot', 'timestamp'] });
    await repos.restartImage();
    expect(repos.image.repository.onlineKeys().timestamp.keyid).toBe(pending.timestamp.keyid);
    expect((await imageKeys()).pending ?? {}).toEqual({});
    // After a restart the handover is over: the re-signing check drops the replaced key.
    await repos.image.checkResigning();
    expect(keyidsOf(await servedTimestamp())).toEqual([pending.timestamp.keyid]);
  });

  it('a crash between storing the root and moving the key file is completed at the next start', async () => {
    const keys = join(repos.dataDir, 'director', 'keys');
    const oldTimestamp = readFileSync(join(keys, 'timestamp.pem'));
    const before = repos.director.services.root.onlineKeysJson();
    const pending = (await directorRotate({ roles: ['timestamp'] })).json.pending.timestamp as Entry;
    expect((await pushDirectorRoot(directorRoot(2, { targets: before.targets, snapshot: before.snapshot, timestamp: pending }))).status).toBe(201);
    // Put the key folder back as a crash right after the root's commit would have left it.
    await repos.restartDirector((dataDir) => {
      const folder = join(dataDir, 'keys');
      renameSync(join(folder, 'timestamp.pem'), join(folder, 'pending', 'timestamp.pem'));
      writeFileSync(join(folder, 'timestamp.pem'), oldTimestamp, { mode: 0o600 });
    });
    expect(repos.director.services.root.onlineKeysJson().timestamp.keyid).toBe(pending.keyid);
    expect(repos.director.services.root.pendingKeysJson()).toEqual({});
    expect(existsSync(join(keys, 'pending', 'timestamp.pem'))).toBe(false);
  });
});

describe('B13 a vehicle mid-cycle when the Director switches keys', () => {
  it('still gets the snapshot and targets versions its timestamp pins; its next cycle gets the new key', async () => {
    const car = new TestVehicle('VINB13MIDCYCLE01', [{ serial: 'b13-tcu', hardwareId: 'hw', primary: true }], clock);
    try {
      expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
      const metadata = repos.director.services.metadata;
      const timestamp = parseMetadata((await metadata.file(car.vin, 'timestamp.json'))!, 'timestamp').signed;
      const snapshotVersion = timestamp.meta['snapshot.json']!.version;
      const snapshot = parseMetadata((await metadata.file(car.vin, `${snapshotVersion}.snapshot.json`))!, 'snapshot').signed;
      const targetsVersion = snapshot.meta['targets.json']!.version;
      const before = repos.director.services.root.onlineKeysJson();

      const pending = (await directorRotate({})).json.pending as Record<'targets' | 'snapshot' | 'timestamp', Entry>;
      expect((await pushDirectorRoot(directorRoot(2, pending))).status).toBe(201);
      // The vehicle read its timestamp before the switch: the versions it pins are still served, as they were.
      const pinnedSnapshot = (await metadata.file(car.vin, `${snapshotVersion}.snapshot.json`))!;
      expect(keyidsOf(pinnedSnapshot)).toEqual([before.snapshot.keyid]);
      expect(keyidsOf((await metadata.file(car.vin, `${targetsVersion}.targets.json`))!)).toEqual([before.targets.keyid]);
      // Its next cycle starts at timestamp.json: re-signed by the new key (and the old one, in the handover).
      expect(keyidsOf((await metadata.file(car.vin, 'timestamp.json'))!)).toEqual([pending.timestamp.keyid, before.timestamp.keyid]);
      expect(await metadata.file(car.vin, `${snapshotVersion}.snapshot.json`)).toBeUndefined();
    } finally {
      car.cleanup();
    }
  });
});
