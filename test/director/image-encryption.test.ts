// The Director's side of per-ECU image encryption (docs/image-encryption.md), end to end on loopback
// with a real Image repository: ECUs registered with and without an X25519 encryption key, an
// assignment the operator has encrypted, the targets' encryption object whose wrapped key opens only
// with that ECU's key, the ciphertext (made once per image) that decrypts to exactly the Image
// repository's image, served only to the vehicle it is meant for, with Range; and the migration of a
// database made before encryption.
import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { decryptImage, EncryptionKeyPair, unwrapImageKey, IMAGE_ENCRYPTION_SCHEME } from '../../shared/core/crypto/image-encryption.js';
import { ImageKeyUnwrapError } from '../../shared/core/errors.js';
import type { TargetsSigned } from '../../shared/core/metadata/types.js';
import { openDatabase } from '../../shared/server/sqlite.js';
import type { ImageEncryption } from '../../director-repo/api/operator-api.js';
import { parseRegistrationCsv, withEncryptionKeys } from '../../director-repo/cli.js';
import { startDirector } from '../../director-repo/server.js';
import { MIGRATIONS } from '../../director-repo/store/sqlite/schema.js';
import { startRepositories, FIXTURE_NOW, OPERATOR_TOKEN, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { runCli } from '../support/cli-runner.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

/** Deterministic bytes (docs/code-style.md R14): a SHA-256 chain. */
function bytesOf(label: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  let block = createHash('sha256').update(label).digest();
  for (let at = 0; at < length; at += block.length) {
    block.copy(out, at);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

const encryptionKey = (label: string) => EncryptionKeyPair.fromPrivateBytes(createHash('sha256').update(`encryption/${label}`).digest());

// Three and a bit 64 KiB chunks: the ciphertext has several chunks and a short last one.
const ENGINE = { name: 'engine/ecm-3.0.bin', content: bytesOf('engine image', 200_000), hardwareIds: ['ecm-x1'], releaseCounter: 3 };
const BRAKE = { name: 'brake/abs-8.bin', content: bytesOf('brake image', 1000), hardwareIds: ['abs-z'], releaseCounter: 8 };

let clock: FixedClock;
let repos: Repositories;
const vehicles: TestVehicle[] = [];
const keys = { ecm1: encryptionKey('ecm-1'), ecm2: encryptionKey('ecm-2'), other: encryptionKey('other-ecm') };

/** A vehicle with a primary, two engine ECUs (with encryption keys) and a brake ECU without one. */
function carWithKeys(vin: string, encryption: Record<string, EncryptionKeyPair>) {
  const car = new TestVehicle(
    vin,
    [
      { serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true },
      { serial: `${vin}-ecm-1`, hardwareId: 'ecm-x1' },
      { serial: `${vin}-ecm-2`, hardwareId: 'ecm-x1' },
      { serial: `${vin}-abs`, hardwareId: 'abs-z' },
    ],
    clock,
  );
  vehicles.push(car);
  const registration = car.registration();
  const body = { ...registration, ecus: registration.ecus.map((e) => (encryption[e.serial] === undefined ? e : { ...e, encryptionPublicKey: encryption[e.serial]!.publicKey.hex })) };
  return { car, body };
}

async function register(vin: string, encryption: Record<string, EncryptionKeyPair>): Promise<TestVehicle> {
  const { car, body } = carWithKeys(vin, encryption);
  const registered = await repos.operator('POST', '/api/v1/vehicles', body);
  expect(registered.status).toBe(201);
  return car;
}

async function targetsOf(car: TestVehicle): Promise<TargetsSigned> {
  const updater = car.directorUpdater(repos.director.url, repos.directorRoot);
  await updater.refresh();
  return updater.trusted.targets!.signed as TargetsSigned;
}

const encryptionIn = (targets: TargetsSigned, filename: string, serial: string) =>
  (targets.targets[filename]!.custom as { ecuIdentifiers: Record<string, { hardwareId: string; encryption?: ImageEncryption }> }).ecuIdentifiers[serial]!.encryption;

function download(car: TestVehicle, file: string, headers: Record<string, string> = {}, as: TestVehicle = car) {
  const path = `/vehicle/images/${file}`;
  return fetch(`${repos.director.url}${path}`, { headers: { authorization: as.authHeader('GET', path), ...headers } });
}

async function* inPieces(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function decrypt(key: Uint8Array, ciphertext: Buffer, maxPlaintextBytes: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of decryptImage(key, inPieces(ciphertext, 10_000), { maxPlaintextBytes })) parts.push(part);
  return Buffer.concat(parts);
}

const encryptedDir = () => join(repos.dataDir, 'director', 'encrypted-images');

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'encryption');
  await repos.publishImages([ENGINE, BRAKE]);
});

afterEach(async () => {
  for (const car of vehicles.splice(0)) car.cleanup();
  await repos.close();
});

describe('inventory: ECU encryption keys', () => {
  it('registers an ECU with its encryption key and one without, and shows both in the vehicle status', async () => {
    const car = await register('VINENC0000000001', { 'VINENC0000000001-ecm-1': keys.ecm1 });
    const status = await repos.operator('GET', `/api/v1/vehicles/${car.vin}`);
    const ecus = status.json.ecus as Array<{ serial: string; encryptionPublicKey: string | null; encryptionKeyid: string | null }>;
    expect(ecus.find((e) => e.serial === `${car.vin}-ecm-1`)).toMatchObject({ encryptionPublicKey: keys.ecm1.publicKey.hex, encryptionKeyid: keys.ecm1.publicKey.keyid });
    expect(ecus.find((e) => e.serial === `${car.vin}-abs`)).toMatchObject({ encryptionPublicKey: null, encryptionKeyid: null });
  });

  it.each([
    ['63 hex characters', 'ab'.repeat(31) + 'a'],
    ['upper-case hex', 'AB'.repeat(32)],
    ['a point of small order (all zeros)', '00'.repeat(32)],
  ])('refuses an encryption key of %s with a typed 400 and registers nothing', async (_what, bad) => {
    const { body } = carWithKeys('VINENC0000000002', {});
    const withBad = { ...body, ecus: body.ecus.map((e) => (e.serial.endsWith('ecm-1') ? { ...e, encryptionPublicKey: bad } : e)) };
    const refused = await repos.operator('POST', '/api/v1/vehicles', withBad);
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({ error: { code: 'malformed_encryption_key' } });
    expect((await repos.operator('GET', '/api/v1/vehicles/VINENC0000000002')).status).toBe(404);
  });

  it('refuses an encryption key already registered to another ECU, in the same registration or another', async () => {
    const { body } = carWithKeys('VINENC0000000003', { 'VINENC0000000003-ecm-1': keys.ecm1, 'VINENC0000000003-ecm-2': keys.ecm1 });
    const shared = await repos.operator('POST', '/api/v1/vehicles', body);
    expect(shared.status).toBe(400);
    expect(String((shared.json.error as { message: string }).message)).toMatch(/share an encryption key/);
    await register('VINENC0000000004', { 'VINENC0000000004-ecm-1': keys.ecm1 });
    const { body: again } = carWithKeys('VINENC0000000005', { 'VINENC0000000005-ecm-1': keys.ecm1 });
    const taken = await repos.operator('POST', '/api/v1/vehicles', again);
    expect(taken.status).toBe(409);
    expect(String((taken.json.error as { message: string }).message)).toMatch(/encryption key is already registered/);
    expect((await repos.operator('GET', '/api/v1/vehicles/VINENC0000000005')).status).toBe(404);
  });

  it('takes an encryption key with a replacement ECU', async () => {
    const car = await register('VINENC0000000006', {});
    const replaced = await repos.operator('POST', `/api/v1/vehicles/${car.vin}/ecus/${car.vin}-abs/replace`, {
      serial: `${car.vin}-abs-2`,
      hardwareId: 'abs-z',
      publicKey: PrivateKey.fromLabel('encryption/replacement-abs').publicKey.tuf.keyval.public,
      encryptionPublicKey: keys.other.publicKey.hex,
    });
    expect(replaced.status).toBe(200);
    const abs = (replaced.json.ecus as Array<{ serial: string; encryptionKeyid: string | null }>).find((e) => e.serial === `${car.vin}-abs-2`);
    expect(abs?.encryptionKeyid).toBe(keys.other.publicKey.keyid);
  });
});

describe('assignment with encrypt', () => {
  it('refuses encrypt for an ECU without an encryption key with a typed 409 naming it, and stores nothing', async () => {
    const car = await register('VINENC0000000010', { 'VINENC0000000010-ecm-1': keys.ecm1 });
    const refused = await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: `${car.vin}-abs`, image: BRAKE.name, encrypt: true });
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ error: { code: 'no_encryption_key' } });
    const message = (refused.json.error as { message: string }).message;
    expect(message).toContain(`${car.vin}-abs`);
    expect(message).toMatch(/register its X25519 encryption public key/);
    // A dry run says the same, before anything is planned for real.
    const plan = await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: `${car.vin}-abs`, image: BRAKE.name, encrypt: true, dryRun: true });
    expect(plan.json).toMatchObject({ error: { code: 'no_encryption_key' } });
    // Nothing stored: no assignment, no ciphertext, no file.
    expect(await repos.director.storage.assignments.ofVehicle(car.vin, 10)).toEqual([]);
    expect(await repos.director.storage.encryptedImages.count()).toBe(0);
    expect(existsSync(encryptedDir()) ? readdirSync(encryptedDir()) : []).toEqual([]);
    expect((await targetsOf(car)).targets).toEqual({});
  });

  it('lists the encryption under the ECU in the targets: the wrapped key opens with its key and the ciphertext decrypts to the exact image', async () => {
    const car = await register('VINENC0000000011', { 'VINENC0000000011-ecm-1': keys.ecm1 });
    const serial = `${car.vin}-ecm-1`;
    const assigned = await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: serial, image: ENGINE.name, encrypt: true });
    expect(assigned.status).toBe(201);

    const targets = await targetsOf(car);
    const entry = targets.targets[ENGINE.name]!;
    // Length and hashes stay the plaintext's, the Image repository's.
    expect(entry.length).toBe(ENGINE.content.length);
    expect(entry.hashes.sha256).toBe(createHash('sha256').update(ENGINE.content).digest('hex'));
    const encryption = encryptionIn(targets, ENGINE.name, serial)!;
    expect(encryption).toMatchObject({ scheme: IMAGE_ENCRYPTION_SCHEME, keyid: keys.ecm1.publicKey.keyid });
    const { encryptedTarget } = encryption;
    expect(encryptedTarget.filename).toBe(`${encryptedTarget.hashes.sha256}.enc`);

    const response = await download(car, encryptedTarget.filename);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('private, no-store');
    const ciphertext = Buffer.from(await response.arrayBuffer());
    expect(ciphertext.length).toBe(encryptedTarget.length);
    expect(createHash('sha256').update(ciphertext).digest('hex')).toBe(encryptedTarget.hashes.sha256);
    expect(ciphertext.includes(ENGINE.content.subarray(0, 64))).toBe(false);

    const binding = { ecuSerial: serial, filename: ENGINE.name, ciphertextSha256: encryptedTarget.hashes.sha256 };
    const contentKey = await unwrapImageKey(encryption, keys.ecm1, binding);
    expect((await decrypt(contentKey, ciphertext, entry.length)).equals(ENGINE.content)).toBe(true);
    // Bound to this ECU: another ECU's key, or this key for another serial, opens nothing.
    await expect(unwrapImageKey(encryption, keys.other, binding)).rejects.toBeInstanceOf(ImageKeyUnwrapError);
    await expect(unwrapImageKey(encryption, keys.ecm1, { ...binding, ecuSerial: `${car.vin}-ecm-2` })).rejects.toBeInstanceOf(ImageKeyUnwrapError);

    // The operator decided, and the audit log says so.
    const audit = await repos.director.storage.auditLog.entries(5);
    expect(audit.find((e) => e.action === 'assign')?.details).toMatchObject({ image: ENGINE.name, encrypt: true });
  });

  it('encrypts an image once for two ECUs (one cached ciphertext, two wraps) and once for concurrent assignments', async () => {
    const a = await register('VINENC0000000012', { 'VINENC0000000012-ecm-1': keys.ecm1, 'VINENC0000000012-ecm-2': keys.ecm2 });
    const b = await register('VINENC0000000013', { 'VINENC0000000013-ecm-1': keys.other });
    const [both, other] = await Promise.all([
      repos.operator('POST', '/api/v1/assignments', { vin: a.vin, hardwareId: 'ecm-x1', image: ENGINE.name, encrypt: true }),
      repos.operator('POST', '/api/v1/assignments', { vin: b.vin, ecuSerial: `${b.vin}-ecm-1`, image: ENGINE.name, encrypt: true }),
    ]);
    expect([both.status, other.status]).toEqual([201, 201]);
    expect(await repos.director.storage.encryptedImages.count()).toBe(1);
    // One ciphertext file, owner-only in an owner-only folder; no plaintext or partial file left.
    const files = readdirSync(encryptedDir());
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{64}\.enc$/);
    expect(statSync(join(encryptedDir(), files[0]!)).mode & 0o777).toBe(0o600);
    expect(statSync(encryptedDir()).mode & 0o777).toBe(0o700);

    const targets = await targetsOf(a);
    const one = encryptionIn(targets, ENGINE.name, `${a.vin}-ecm-1`)!;
    const two = encryptionIn(targets, ENGINE.name, `${a.vin}-ecm-2`)!;
    expect(two.encryptedTarget).toEqual(one.encryptedTarget);
    expect(two.wrappedKey).not.toBe(one.wrappedKey);
    const binding = (ecuSerial: string) => ({ ecuSerial, filename: ENGINE.name, ciphertextSha256: one.encryptedTarget.hashes.sha256 });
    const key1 = await unwrapImageKey(one, keys.ecm1, binding(`${a.vin}-ecm-1`));
    const key2 = await unwrapImageKey(two, keys.ecm2, binding(`${a.vin}-ecm-2`));
    expect(Buffer.from(key1).equals(Buffer.from(key2))).toBe(true);
    await expect(unwrapImageKey(one, keys.ecm2, binding(`${a.vin}-ecm-1`))).rejects.toBeInstanceOf(ImageKeyUnwrapError);
  });

  it('leaves an unencrypted assignment as before: no encryption object, nothing cached', async () => {
    const car = await register('VINENC0000000014', { 'VINENC0000000014-ecm-1': keys.ecm1 });
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: `${car.vin}-ecm-1`, image: ENGINE.name })).status).toBe(201);
    const targets = await targetsOf(car);
    expect(targets.targets[ENGINE.name]!.custom).toEqual({ ecuIdentifiers: { [`${car.vin}-ecm-1`]: { hardwareId: 'ecm-x1' } }, releaseCounter: 3 });
    expect(await repos.director.storage.encryptedImages.count()).toBe(0);
  });
});

describe('GET /vehicle/images/:file', () => {
  async function encryptedFor(vin: string, key: EncryptionKeyPair) {
    const car = await register(vin, { [`${vin}-ecm-1`]: key });
    expect((await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial: `${vin}-ecm-1`, image: ENGINE.name, encrypt: true })).status).toBe(201);
    return { car, encryption: encryptionIn(await targetsOf(car), ENGINE.name, `${vin}-ecm-1`)! };
  }

  it("G18: serves a vehicle its own ciphertext only: another vehicle's is the same 404 as none, and no credential is 401", async () => {
    const { car, encryption } = await encryptedFor('VINENC0000000020', keys.ecm1);
    const stranger = await register('VINENC0000000021', {});
    const file = encryption.encryptedTarget.filename;
    expect((await download(car, file)).status).toBe(200);
    const theirs = await download(car, file, {}, stranger);
    expect(theirs.status).toBe(404);
    const none = await download(car, `${'0'.repeat(64)}.enc`, {}, stranger);
    expect(none.status).toBe(404);
    // The same answer whether the ciphertext exists or not: no oracle.
    const body = async (r: Response) => ((await r.json()) as { error: { message: string } }).error.message.replace(/[0-9a-f]{64}/, 'X');
    expect(await body(theirs)).toBe(await body(none));
    expect((await fetch(`${repos.director.url}/vehicle/images/${file}`)).status).toBe(401);
  });

  it('G18: stops serving a ciphertext once its assignment is no longer active', async () => {
    const { car, encryption } = await encryptedFor('VINENC0000000022', keys.ecm1);
    const id = (await repos.director.storage.assignments.active(car.vin))[0]!.id;
    expect((await repos.operator('DELETE', `/api/v1/assignments/${id}`)).status).toBe(200);
    expect((await download(car, encryption.encryptedTarget.filename)).status).toBe(404);
  });

  it('a ciphertext file gone from the Director\'s folder is a 500 storage fault naming no file, and the log says what to do', async () => {
    const { car, encryption } = await encryptedFor('VINENC0000000024', keys.ecm1);
    const file = encryption.encryptedTarget.filename;
    rmSync(join(encryptedDir(), file));
    const logged: string[] = [];
    const spy = jest.spyOn(console, 'error').mockImplementation((line: unknown) => void logged.push(String(line)));
    try {
      const answer = await download(car, file);
      expect(answer.status).toBe(500);
      const { error } = (await answer.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('storage');
      expect(error.message).not.toContain(file);
    } finally {
      spy.mockRestore();
    }
    expect(logged.join('\n')).toMatch(/is missing from .*cancel the assignment and assign the image again/);
  });

  it('resumes a cut download with a Range request', async () => {
    const { car, encryption } = await encryptedFor('VINENC0000000023', keys.ecm1);
    const file = encryption.encryptedTarget.filename;
    const whole = Buffer.from(await (await download(car, file)).arrayBuffer());
    const cut = 70_000;
    const rest = await download(car, file, { range: `bytes=${cut}-` });
    expect(rest.status).toBe(206);
    expect(rest.headers.get('content-range')).toBe(`bytes ${cut}-${whole.length - 1}/${whole.length}`);
    const resumed = Buffer.concat([whole.subarray(0, cut), Buffer.from(await rest.arrayBuffer())]);
    expect(createHash('sha256').update(resumed).digest('hex')).toBe(encryption.encryptedTarget.hashes.sha256);
    expect((await download(car, file, { range: `bytes=${whole.length}-` })).status).toBe(416);
  });
});

describe('schema migration 7 (encryption)', () => {
  it('upgrades a database made before encryption: its ECUs have no key, its assignments stay unencrypted, and keys can be registered', async () => {
    const dataDir = join(repos.dataDir, 'old-director');
    mkdirSync(dataDir, { mode: 0o700 });
    const before = MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE encrypted_images'));
    expect(before).toBeGreaterThan(0);
    const old = openDatabase(join(dataDir, 'director.sqlite'), MIGRATIONS.slice(0, before));
    const at = FIXTURE_NOW.toISOString();
    const car = new TestVehicle('VINOLD0000000001', [{ serial: 'old-tcu', hardwareId: 'tcu-a', primary: true }, { serial: 'old-ecm', hardwareId: 'ecm-x1' }], clock);
    vehicles.push(car);
    old.prepare('INSERT INTO vehicles (vin, registered_at) VALUES (?, ?)').run(car.vin, at);
    for (const ecu of car.ecus) {
      old.prepare('INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
        ecu.serial, car.vin, ecu.hardwareId, ecu.key.publicKey.tuf.keyval.public, ecu.key.keyid, ecu.primary ? 1 : 0, at,
      );
    }
    old.prepare(
      `INSERT INTO assignments (vin, ecu_serial, filename, length, hashes, hardware_id, release_counter, state, created_at, updated_at, created_by)
       VALUES (?, 'old-ecm', ?, ?, ?, 'ecm-x1', 3, 'pending', ?, ?, 'old-operator')`,
    ).run(car.vin, ENGINE.name, ENGINE.content.length, JSON.stringify({ sha256: createHash('sha256').update(ENGINE.content).digest('hex') }), at, at);
    old.close();

    const upgraded = await startDirector({ dataDir, imageRepoUrl: repos.image.url, imageRootFile: join(repos.dataDir, 'image-root.json'), clock });
    try {
      expect(new Database(join(dataDir, 'director.sqlite'), { readonly: true }).pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      expect((await upgraded.storage.inventory.ecu('old-ecm'))?.encryptionPublicKey).toBeNull();
      const [assignment] = await upgraded.storage.assignments.active(car.vin);
      expect(assignment).toMatchObject({ ecuSerial: 'old-ecm', filename: ENGINE.name, state: 'pending' });
      expect(assignment).not.toHaveProperty('encryption');
      const status = await upgraded.services.inventory.vehicleStatus(car.vin);
      expect(status.ecus.map((e) => e.encryptionKeyid)).toEqual([null, null]);
      // The new column takes keys for ECUs registered after the upgrade.
      const { body } = carWithKeys('VINNEW0000000001', { 'VINNEW0000000001-ecm-1': keys.ecm1 });
      await upgraded.services.inventory.registerVehicle({ ...body, ecus: body.ecus.map((e) => ({ ...e, primary: e.primary })) }, 'test');
      expect((await upgraded.storage.inventory.ecu('VINNEW0000000001-ecm-1'))?.encryptionPublicKey).toBe(keys.ecm1.publicKey.hex);
      expect(await upgraded.storage.encryptedImages.count()).toBe(0);
    } finally {
      await upgraded.close();
    }
  });
});

describe('registration CSV: the encryption_public_key column', () => {
  const signing = 'a1'.repeat(32);
  const signing2 = 'b2'.repeat(32);

  it('keeps a CSV without the column valid, its ECUs without encryption keys', () => {
    const [vehicle] = parseRegistrationCsv(`vin,ecu_serial,hardware_id,public_key,primary\nV1,tcu,tcu-a,${signing},yes\nV1,ecm,ecm-x1,${signing2},\n`, 'old.csv');
    expect(vehicle!.problems).toEqual([]);
    expect(vehicle!.ecus.map((e) => e.encryptionPublicKey)).toEqual([undefined, undefined]);
  });

  it('reads the column, empty for none, and refuses a malformed key for its vehicle only', () => {
    const key = keys.ecm1.publicKey.hex;
    const [good, bad] = parseRegistrationCsv(
      [
        'vin,ecu_serial,hardware_id,public_key,primary,encryption_public_key',
        `V1,tcu,tcu-a,${signing},yes,`,
        `V1,ecm,ecm-x1,${signing2},,${key.toUpperCase()}`,
        `V2,tcu2,tcu-a,${'c3'.repeat(32)},yes,abc`,
      ].join('\n'),
      'new.csv',
    );
    expect(good!.problems).toEqual([]);
    expect(good!.ecus.map((e) => e.encryptionPublicKey)).toEqual([undefined, key]);
    expect(bad!.problems).toEqual([expect.stringMatching(/line 4: encryption_public_key must be 64 hex characters/)]);
  });

  it('--encryption-key adds a key to the --ecu of its serial and refuses an unknown serial', () => {
    const ecus = [{ serial: 'a:b', hardwareId: 'h', publicKey: signing, primary: true }];
    expect(withEncryptionKeys(ecus, [`a:b:${keys.ecm1.publicKey.hex}`])[0]!.encryptionPublicKey).toBe(keys.ecm1.publicKey.hex);
    expect(() => withEncryptionKeys(ecus, [`zz:${keys.ecm1.publicKey.hex}`])).toThrow(/no --ecu has the serial zz/);
    expect(() => withEncryptionKeys(ecus, ['a:b:xyz'])).toThrow(/64 hex characters/);
  });
});

describe('campaigns with encrypt', () => {
  it('encrypt each image once at the start, wrap it per ECU in each stage, and skip a vehicle whose ECU has no encryption key', async () => {
    const keyed = await register('VINENC0000000030', { 'VINENC0000000030-ecm-1': keys.ecm1, 'VINENC0000000030-ecm-2': keys.ecm2 });
    const keyless = await register('VINENC0000000031', {});
    expect((await repos.operator('POST', '/api/v1/groups', { name: 'encrypted-fleet', vins: [keyed.vin, keyless.vin] })).status).toBe(201);
    const created = await repos.operator('POST', '/api/v1/campaigns', {
      name: 'ecm-3-encrypted',
      group: 'encrypted-fleet',
      images: [{ hardwareId: 'ecm-x1', image: ENGINE.name }],
      stages: [{ share: 1 }],
      encrypt: true,
    });
    expect(created.status).toBe(201);
    expect((await repos.operator('POST', `/api/v1/campaigns/${created.json.id}/start`)).status).toBe(200);

    expect(await repos.director.storage.encryptedImages.count()).toBe(1);
    const targets = await targetsOf(keyed);
    const one = encryptionIn(targets, ENGINE.name, `${keyed.vin}-ecm-1`)!;
    const two = encryptionIn(targets, ENGINE.name, `${keyed.vin}-ecm-2`)!;
    const binding = (ecuSerial: string) => ({ ecuSerial, filename: ENGINE.name, ciphertextSha256: one.encryptedTarget.hashes.sha256 });
    const contentKey = await unwrapImageKey(one, keys.ecm1, binding(`${keyed.vin}-ecm-1`));
    expect(Buffer.from(await unwrapImageKey(two, keys.ecm2, binding(`${keyed.vin}-ecm-2`))).equals(Buffer.from(contentKey))).toBe(true);
    const ciphertext = Buffer.from(await (await download(keyed, one.encryptedTarget.filename)).arrayBuffer());
    expect((await decrypt(contentKey, ciphertext, ENGINE.content.length)).equals(ENGINE.content)).toBe(true);

    // The keyless vehicle gets nothing, encrypted or not, and the campaign says why.
    expect(await repos.director.storage.assignments.ofVehicle(keyless.vin, 10)).toEqual([]);
    const stored = await repos.director.storage.campaigns.vehicles(Number(created.json.id));
    expect(stored.find((v) => v.vin === keyless.vin)?.outcome).toMatch(/^skipped: no_encryption_key: ECU VINENC0000000031-ecm-1 has no encryption key/);
  });
});

describe('uptane director (the built CLI)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'uptane-cli-encryption-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const uptane = (args: readonly string[]) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('UPTANE_')));
    return runCli(args, { cwd: dir, env: { ...env, UPTANE_DIRECTOR_URL: repos.director.url, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN } });
  };
  const csv = (vin: string, ecmKey: string) =>
    [
      'vin,ecu_serial,hardware_id,public_key,primary,encryption_public_key',
      `${vin},${vin}-tcu,tcu-a,${PrivateKey.fromLabel(`${vin}/tcu`).publicKey.tuf.keyval.public},yes,`,
      `${vin},${vin}-ecm,ecm-x1,${PrivateKey.fromLabel(`${vin}/ecm`).publicKey.tuf.keyval.public},,${ecmKey}`,
      `${vin},${vin}-abs,abs-z,${PrivateKey.fromLabel(`${vin}/abs`).publicKey.tuf.keyval.public},,`,
    ].join('\n');

  it('registers encryption keys from the CSV, calls a re-run unchanged and another key a conflict, and assigns with --encrypt', async () => {
    const vin = 'VINCLI0000000001';
    writeFileSync(join(dir, 'fleet.csv'), csv(vin, keys.ecm1.publicKey.hex));
    const first = await uptane(['director', 'vehicle', 'register', '--csv', 'fleet.csv']);
    expect(first.stdout).toContain('1 vehicle registered');
    expect((await repos.director.storage.inventory.ecu(`${vin}-ecm`))?.encryptionPublicKey).toBe(keys.ecm1.publicKey.hex);
    expect((await uptane(['director', 'vehicle', 'register', '--csv', 'fleet.csv'])).stdout).toContain('1 already registered');
    writeFileSync(join(dir, 'rekeyed.csv'), csv(vin, keys.ecm2.publicKey.hex));
    const rekeyed = await uptane(['director', 'vehicle', 'register', '--csv', 'rekeyed.csv']);
    expect(rekeyed.status).toBe(1);
    expect(rekeyed.stdout).toMatch(/FAILED: .*already registered/);

    const show = await uptane(['director', 'vehicle', 'show', vin]);
    expect(show.stdout).toContain('ENCRYPTION KEY');
    expect(show.stdout).toContain(keys.ecm1.publicKey.keyid.slice(0, 8));

    const keyless = await uptane(['director', 'assign', '--image', BRAKE.name, '--vin', vin, '--ecu', `${vin}-abs`, '--encrypt']);
    expect(keyless.status).toBe(1);
    expect(keyless.stderr).toContain('no encryption key');
    const assigned = await uptane(['director', 'assign', '--image', ENGINE.name, '--vin', vin, '--ecu', `${vin}-ecm`, '--encrypt']);
    expect(assigned.status).toBe(0);
    expect(assigned.stdout).toContain(`assigned ${ENGINE.name} encrypted to 1 ECU`);
    expect((await repos.director.storage.assignments.active(vin))[0]?.encryption?.keyid).toBe(keys.ecm1.publicKey.keyid);
  });
});
