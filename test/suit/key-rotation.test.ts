// Rotating the SUIT key (docs/suit.md "Rotating the SUIT key"; docs/threat-model.md SU6-SU10): the
// constrained ECU takes a key-update statement only when it verifies under the key it trusts now,
// names its class and a greater epoch; each refusal is typed, reported, and leaves its trust file
// byte for byte. The primary persists the new key as pending before sending anything, signs each
// ECU's envelopes with the key that ECU trusts, and switches only once all took it; a power cut at
// any step of either side leaves every ECU trusting a key the primary still has.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { MemoryVehicleState } from '../../shared/ecu/vehicle-state.js';
import { SecondaryError, SuitMalformedError, SuitRollbackError, SuitSignatureError, SuitTooLargeError, SuitWrongClassError, UptaneError } from '../../shared/core/errors.js';
import { encodeCbor } from '../../shared/suit/cbor.js';
import { encodeSuitEnvelope, verifySuitEnvelope, type SuitManifest } from '../../shared/suit/envelope.js';
import { importSuitSigningKey, importSuitVerifyKey, SUIT_COMPONENT_ID, suitClassId, suitKeyPemFromSeed, suitPublicKeyRaw, suitVendorId } from '../../shared/suit/identity.js';
import { encodeSuitKeyUpdate, signSuitKeyUpdatePayload, SUIT_KEY_UPDATE_TYPE, type SuitKeyUpdate } from '../../shared/suit/key-update.js';
import type { SuitKeyUpdateResult, SuitReceiver } from '../../shared/suit/transport.js';
import { HttpSecondaryClient, RemoteSecondaryError, type SecondaryTransport } from '../../shared/ecu/secondary-protocol.js';
import { serveSecondary } from '../../secondary-ecu/http-server.js';
import { ConstrainedSecondary, type KeyUpdateStep } from '../../secondary-ecu/constrained/constrained-secondary.js';
import { SuitBridge } from '../../primary-ecu/suit-bridge.js';
import { SUIT_KEY_FILE, SUIT_NEXT_KEY_FILE, type SuitRotationStep } from '../../primary-ecu/suit-rotation.js';
import { fixtureEcuKey } from '../../sim/harness/fixture-keys.js';
import type { SimulatedVehicle } from '../../sim/vehicle.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

const seedPem = (n: number) => suitKeyPemFromSeed(new Uint8Array(32).fill(n));
const PEM_0 = seedPem(3); // the factory key
const PEM_1 = seedPem(4);
const PEM_2 = seedPem(5);
const vendorId = suitVendorId();
const classId = suitClassId(vendorId, 'sensor-s1');
const IMAGE = Buffer.from('sensor firmware v4 '.repeat(100));
const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const clock = new FixedClock('2026-06-01T00:00:00Z');
const vehicleState = new MemoryVehicleState('parked');

async function* chunks(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes;
}

const statement = async (over: Partial<SuitKeyUpdate> & { newPem?: string } = {}, signer = PEM_0): Promise<Uint8Array> =>
  encodeSuitKeyUpdate({ epoch: 1, vendorId, classId, publicKey: suitPublicKeyRaw(over.newPem ?? PEM_1), ...over }, await importSuitSigningKey(signer));

const manifest = (over: Partial<SuitManifest> = {}): SuitManifest => ({
  sequenceNumber: 4,
  componentId: SUIT_COMPONENT_ID,
  vendorId,
  classId,
  imageDigest: sha256(IMAGE),
  imageSize: IMAGE.length,
  uri: 'sensor/s1-4.bin',
  ...over,
});
const envelope = async (pem: string) => encodeSuitEnvelope(manifest(), await importSuitSigningKey(pem));

describe('the constrained ECU takes a key-update statement', () => {
  let dir: string;
  let ecu: ConstrainedSecondary;
  let fault: ((step: KeyUpdateStep) => void) | undefined;
  const open = () => ConstrainedSecondary.open(dir, { clock, vehicleState, keyUpdateFaultAt: (step) => fault?.(step) });
  const trustFile = () => readFileSync(join(dir, 'suit-trust.cbor'));

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'uptane-suit-key-'));
    fault = undefined;
    ConstrainedSecondary.provision(dir, {
      serial: 'sensor-1',
      hardwareId: 'sensor-s1',
      key: fixtureEcuKey('suit-key-test/sensor-1'),
      suitPublicKey: suitPublicKeyRaw(PEM_0),
      vendorId,
      classId,
      componentId: SUIT_COMPONENT_ID,
      maxImageBytes: 1024 * 1024,
      factoryImage: { filename: 'factory/sensor-s1.bin', content: Buffer.from('factory image of sensor-s1\n') },
    });
    ecu = await open();
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A refused statement: typed, the trust file byte for byte as before, the attack in the next report. */
  async function refused(bytes: Uint8Array | Promise<Uint8Array>): Promise<UptaneError> {
    const before = { file: trustFile(), epoch: ecu.suitKeyEpoch, key: Buffer.from(ecu.suitPublicKey) };
    let caught: unknown;
    try {
      await ecu.putSuitKey(await bytes);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UptaneError);
    expect(trustFile()).toEqual(before.file);
    expect({ epoch: ecu.suitKeyEpoch, key: Buffer.from(ecu.suitPublicKey) }).toEqual({ epoch: before.epoch, key: before.key });
    const report = await ecu.versionReport();
    expect(report.signed.attacks_detected.map((a) => a.code)).toEqual([(caught as UptaneError).code]);
    return caught as UptaneError;
  }

  it('verifies it under the current key, persists key and epoch, and from then on refuses envelopes under the old key', async () => {
    const update = await statement();
    expect(await ecu.putSuitKey(update)).toEqual<SuitKeyUpdateResult>({ epoch: 1, status: 'updated' });
    expect(ecu.suitKeyEpoch).toBe(1);
    expect(Buffer.from(ecu.suitPublicKey)).toEqual(Buffer.from(suitPublicKeyRaw(PEM_1)));
    // The old key's envelope: refused, nothing staged; the new key's: staged.
    await expect(ecu.putSuit(await envelope(PEM_0), chunks(IMAGE))).rejects.toBeInstanceOf(SuitSignatureError);
    expect(ecu.slots.current.staged).toBeNull();
    await ecu.putSuit(await envelope(PEM_1), chunks(IMAGE));
    expect(ecu.slots.current.staged?.filename).toBe('sensor/s1-4.bin');
    // The same statement again (a primary that lost the answer): acknowledged, nothing written.
    const file = trustFile();
    expect(await ecu.putSuitKey(update)).toEqual({ epoch: 1, status: 'unchanged' });
    expect(trustFile()).toEqual(file);
    // Persisted: a restart trusts the new key only.
    const reopened = await open();
    expect(reopened.suitKeyEpoch).toBe(1);
    await expect(reopened.putSuit(await envelope(PEM_0), chunks(IMAGE))).rejects.toBeInstanceOf(SuitSignatureError);
  });

  it('a statement signed by any key but the trusted one is suit_signature', async () => {
    expect(await refused(statement({}, PEM_2))).toBeInstanceOf(SuitSignatureError);
    // Signed by the very key it names (an attacker's self-signed key): still not the trusted one.
    expect(await refused(statement({ newPem: PEM_2 }, PEM_2))).toBeInstanceOf(SuitSignatureError);
    // One flipped signature bit.
    const flipped = Buffer.from(await statement());
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
    expect(await refused(flipped)).toBeInstanceOf(SuitSignatureError);
  });

  it('a statement for another device class or vendor is suit_wrong_class', async () => {
    expect(await refused(statement({ classId: suitClassId(vendorId, 'seat-s2') }))).toBeInstanceOf(SuitWrongClassError);
    const otherVendor = suitVendorId('other-vendor.example');
    expect(await refused(statement({ vendorId: otherVendor, classId: suitClassId(otherVendor, 'sensor-s1') }))).toBeInstanceOf(SuitWrongClassError);
    // This ECU's class id under another vendor id: the vendor is checked on its own.
    expect(await refused(statement({ vendorId: otherVendor }))).toBeInstanceOf(SuitWrongClassError);
  });

  it('an older or equal epoch is suit_rollback, and a replayed older statement is refused', async () => {
    const first = await statement({ epoch: 1, newPem: PEM_1 }, PEM_0);
    await ecu.putSuitKey(first);
    // Signed by the now trusted key, so only the epoch check stands in the way.
    expect(await refused(statement({ epoch: 1, newPem: PEM_2 }, PEM_1))).toBeInstanceOf(SuitRollbackError);
    await ecu.putSuitKey(await statement({ epoch: 3, newPem: PEM_2 }, PEM_1));
    expect(ecu.suitKeyEpoch).toBe(3);
    expect(await refused(statement({ epoch: 2, newPem: PEM_1 }, PEM_2))).toBeInstanceOf(SuitRollbackError);
    expect(await refused(statement({ epoch: 3, newPem: PEM_1 }, PEM_2))).toBeInstanceOf(SuitRollbackError);
    // The first statement replayed: its signer is no longer trusted, and it is not the last one applied.
    expect(await refused(first)).toBeInstanceOf(SuitSignatureError);
    expect(Buffer.from(ecu.suitPublicKey)).toEqual(Buffer.from(suitPublicKeyRaw(PEM_2)));
  });

  it('malformed, oversized or cross-used statements are typed refusals', async () => {
    const signer = await importSuitSigningKey(PEM_0);
    const payload = (entries: Array<[number, unknown]>) => encodeCbor(new Map<number, unknown>(entries));
    const fields: Array<[number, unknown]> = [[1, SUIT_KEY_UPDATE_TYPE], [2, 1], [3, vendorId], [4, classId], [5, suitPublicKeyRaw(PEM_1)]];
    expect(await refused(Buffer.from('{"epoch":1}'))).toBeInstanceOf(SuitMalformedError);
    expect(await refused(Buffer.alloc(5000, 1))).toBeInstanceOf(SuitTooLargeError);
    // Nesting deeper than the limit inside the signed payload.
    expect(await refused(signSuitKeyUpdatePayload(Buffer.concat([Buffer.alloc(20, 0x81), Buffer.from([0])]), signer))).toBeInstanceOf(SuitTooLargeError);
    // Signed, but not the statement: a key outside it, a key missing, another type, a short key, epoch 0.
    expect(await refused(signSuitKeyUpdatePayload(payload([...fields, [6, 0]]), signer))).toBeInstanceOf(SuitMalformedError);
    expect(await refused(signSuitKeyUpdatePayload(payload(fields.slice(0, 4)), signer))).toBeInstanceOf(SuitMalformedError);
    expect(await refused(signSuitKeyUpdatePayload(payload([[1, 'something else'], ...fields.slice(1)]), signer))).toBeInstanceOf(SuitMalformedError);
    expect(await refused(signSuitKeyUpdatePayload(payload([...fields.slice(0, 4), [5, new Uint8Array(31)]]), signer))).toBeInstanceOf(SuitMalformedError);
    expect(await refused(signSuitKeyUpdatePayload(payload([fields[0]!, [2, 0], ...fields.slice(2)]), signer))).toBeInstanceOf(SuitMalformedError);
    // An envelope is not a statement, and a statement is not an envelope, under the same key.
    expect(await refused(envelope(PEM_0))).toBeInstanceOf(SuitMalformedError);
    await expect(ecu.putSuit(await statement(), chunks(IMAGE))).rejects.toBeInstanceOf(SuitMalformedError);
    expect(ecu.suitKeyEpoch).toBe(0);
  });

  it('a power cut before the trust file is written leaves the old trust whole; after it, the new one', async () => {
    const update = await statement();
    const before = trustFile();
    fault = (step) => {
      if (step === 'key-verified') throw new Error('power cut at key-verified');
    };
    await expect(ecu.putSuitKey(update)).rejects.toThrow('power cut');
    // What a write torn by the power cut leaves: a partial temp file beside the trust file, never in it.
    writeFileSync(join(dir, '.suit-trust.cbor.0123456789ab.tmp'), Buffer.from(trustFile().subarray(0, 10)));
    fault = undefined;
    ecu = await open();
    expect(trustFile()).toEqual(before);
    expect(ecu.suitKeyEpoch).toBe(0);
    fault = (step) => {
      if (step === 'key-persisted') throw new Error('power cut at key-persisted');
    };
    await expect(ecu.putSuitKey(update)).rejects.toThrow('power cut');
    fault = undefined;
    ecu = await open();
    expect(ecu.suitKeyEpoch).toBe(1);
    await expect(ecu.putSuit(await envelope(PEM_0), chunks(IMAGE))).rejects.toBeInstanceOf(SuitSignatureError);
    // The primary, which never heard the answer, sends it again: acknowledged.
    expect(await ecu.putSuitKey(update)).toEqual({ epoch: 1, status: 'unchanged' });
  });

  it('over HTTP: PUT /suit/key carries the statement, a body over the envelope limit is suit_too_large, an ordinary secondary has no route', async () => {
    const [server, ordinary] = await Promise.all([serveSecondary(ecu), serveSecondary({} as SecondaryTransport)]);
    const client = new HttpSecondaryClient(server.url);
    const other = new HttpSecondaryClient(ordinary.url);
    try {
      const before = trustFile();
      await expect(client.putSuitKey(Buffer.alloc(4097, 0xa0))).rejects.toMatchObject({ code: 'suit_too_large' });
      // Refused by the server from the body's size: the ECU never saw it, so reports nothing.
      expect((await ecu.versionReport()).signed.attacks_detected).toEqual([]);
      await expect(client.putSuitKey(await statement({}, PEM_2))).rejects.toMatchObject({ code: 'suit_signature' });
      expect(trustFile()).toEqual(before);
      expect(await client.putSuitKey(await statement())).toEqual({ epoch: 1, status: 'updated' });
      expect(ecu.suitKeyEpoch).toBe(1);
      const err = await other.putSuitKey(await statement()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteSecondaryError);
      expect((err as RemoteSecondaryError).code).toBe('not_found');
    } finally {
      client.close();
      other.close();
      await Promise.all([server.close(), ordinary.close()]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The primary's rotation, in a simulated vehicle against the real repositories.

const SENSOR: FixtureImage = { name: 'sensor/s1-4.bin', content: Buffer.from('sensor firmware v4 '.repeat(500)), hardwareIds: ['sensor-s1'], releaseCounter: 4 };
const SEAT: FixtureImage = { name: 'seat/s2-7.bin', content: Buffer.from('seat controller v7 '.repeat(300)), hardwareIds: ['seat-s2'], releaseCounter: 7 };

describe('the primary rotates the SUIT key', () => {
  let repos: Repositories;
  let dir: string;

  beforeAll(async () => {
    repos = await startRepositories(new FixedClock(FIXTURE_NOW));
    await repos.publishImages([SENSOR, SEAT]);
  });

  afterAll(async () => {
    await repos.close();
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'uptane-suit-rotate-'));
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const assign = async (vin: string, ecuSerial: string, image: string) => expect((await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial, image })).status).toBe(201);

  /** The transport with putSuitKey (and putSuit, to watch envelopes) replaced: the bus. */
  function tap(transport: SecondaryTransport, hooks: { putSuitKey?: (inner: SuitReceiver, statement: Uint8Array) => Promise<SuitKeyUpdateResult>; onEnvelope?: (envelope: Uint8Array) => void }): SecondaryTransport {
    return new Proxy(transport as SecondaryTransport & SuitReceiver, {
      get(target, property) {
        if (property === 'putSuitKey' && hooks.putSuitKey !== undefined) return (statement: Uint8Array) => hooks.putSuitKey!(target, statement);
        if (property === 'putSuit' && hooks.onEnvelope !== undefined)
          return (envelope: Uint8Array, image: AsyncIterable<Uint8Array>) => {
            hooks.onEnvelope!(envelope);
            return target.putSuit(envelope, image);
          };
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  function vehicle(vin: string, tag: string, options: { transport?: 'http'; busTap?: (serial: string, transport: SecondaryTransport) => SecondaryTransport } = {}) {
    return registeredVehicle(repos, {
      ...(options.transport === undefined ? {} : { transport: options.transport }),
      ...(options.busTap === undefined ? {} : { busTap: options.busTap }),
      directory: join(dir, vin),
      vin,
      clock: new FixedClock(FIXTURE_NOW),
      primary: { serial: `${tag}tcu-1`, hardwareId: 'tcu-a' },
      secondaries: [
        { serial: `${tag}sensor-1`, hardwareId: 'sensor-s1' },
        { serial: `${tag}seat-1`, hardwareId: 'seat-s2' },
      ],
      constrained: [`${tag}sensor-1`, `${tag}seat-1`],
    });
  }

  const primaryDir = (car: SimulatedVehicle) => join(car.spec.directory, car.spec.primary.serial);
  const keyFile = (car: SimulatedVehicle, file: string) => (existsSync(join(primaryDir(car), file)) ? Buffer.from(suitPublicKeyRaw(readFileSync(join(primaryDir(car), file), 'utf8'))) : undefined);
  /** The invariant of every state: each constrained ECU trusts the primary's current or pending key. */
  function expectEveryEcuTrustsAKeyThePrimaryHas(car: SimulatedVehicle): void {
    const held = [keyFile(car, SUIT_KEY_FILE), keyFile(car, SUIT_NEXT_KEY_FILE)].filter((k) => k !== undefined);
    for (const ecu of car.constrained.values()) expect(held).toContainEqual(Buffer.from(ecu.suitPublicKey));
  }
  function expectRotatedTo(car: SimulatedVehicle, epoch: number): void {
    expect(keyFile(car, SUIT_NEXT_KEY_FILE)).toBeUndefined();
    for (const ecu of car.constrained.values()) {
      expect(ecu.suitKeyEpoch).toBe(epoch);
      expect(Buffer.from(ecu.suitPublicKey)).toEqual(keyFile(car, SUIT_KEY_FILE));
    }
  }

  it.each(['in-process', 'http'] as const)('%s: every constrained ECU takes the new key, the primary switches, and the next update installs under the new key only', async (transport) => {
    const vin = transport === 'http' ? 'VINSUITKEY000002' : 'VINSUITKEY000001';
    const tag = transport === 'http' ? 'h-' : 'p-';
    const envelopes: Uint8Array[] = [];
    const car = await vehicle(vin, tag, {
      ...(transport === 'http' ? { transport } : {}),
      busTap: (serial, t) => (serial.endsWith('sensor-1') ? tap(t, { onEnvelope: (e) => envelopes.push(e) }) : t),
    });
    try {
      const oldKey = keyFile(car, SUIT_KEY_FILE)!;
      const report = await car.primary.rotateSuitKey();
      expect(report).toEqual({ epoch: 1, switched: true, accepted: [`${tag}sensor-1`, `${tag}seat-1`], pending: [] });
      expectRotatedTo(car, 1);
      const newKey = keyFile(car, SUIT_KEY_FILE)!;
      expect(newKey).not.toEqual(oldKey);
      await assign(vin, `${tag}sensor-1`, SENSOR.name);
      expect((await car.primary.runCycle()).status).toBe('installed');
      expect(car.installed()[`${tag}sensor-1`]).toBe(SENSOR.name);
      expect(envelopes).toHaveLength(1);
      await expect(verifySuitEnvelope(envelopes[0]!, await importSuitVerifyKey(newKey))).resolves.toMatchObject({ uri: SENSOR.name });
      await expect(verifySuitEnvelope(envelopes[0]!, await importSuitVerifyKey(oldKey))).rejects.toBeInstanceOf(SuitSignatureError);
    } finally {
      await car.close();
    }
  });

  it('an unreachable ECU keeps the rotation pending: the primary signs with the key each ECU trusts, and a later cycle finishes it', async () => {
    let seatReachable = false;
    const car = await vehicle('VINSUITKEY000003', 'u-', {
      busTap: (serial, t) =>
        serial.endsWith('seat-1')
          ? tap(t, {
              putSuitKey: (inner, statement) => (seatReachable ? inner.putSuitKey(statement) : Promise.reject(new SecondaryError('seat-1 does not answer'))),
            })
          : t,
    });
    try {
      const oldKey = keyFile(car, SUIT_KEY_FILE)!;
      const report = await car.primary.rotateSuitKey();
      expect(report).toMatchObject({ epoch: 1, switched: false, accepted: ['u-sensor-1'], pending: [{ serial: 'u-seat-1', code: 'secondary_failed' }] });
      expect(keyFile(car, SUIT_KEY_FILE)).toEqual(oldKey);
      expect(car.constrained.get('u-sensor-1')!.suitKeyEpoch).toBe(1);
      expect(car.constrained.get('u-seat-1')!.suitKeyEpoch).toBe(0);
      expectEveryEcuTrustsAKeyThePrimaryHas(car);
      // Mid-rotation both install: the sensor's envelope under the pending key, the seat's under the current one.
      await assign('VINSUITKEY000003', 'u-sensor-1', SENSOR.name);
      await assign('VINSUITKEY000003', 'u-seat-1', SEAT.name);
      const cycle = await car.primary.runCycle();
      expect(cycle.status).toBe('installed');
      expect(car.installed()).toMatchObject({ 'u-sensor-1': SENSOR.name, 'u-seat-1': SEAT.name });
      // A second rotation call resumes this one (same pending key), it does not start another.
      const pendingKey = keyFile(car, SUIT_NEXT_KEY_FILE);
      expect((await car.primary.rotateSuitKey()).epoch).toBe(1);
      expect(keyFile(car, SUIT_NEXT_KEY_FILE)).toEqual(pendingKey);
      seatReachable = true;
      expect((await car.primary.runCycle()).status).toBe('no-update');
      expectRotatedTo(car, 1);
      expect(keyFile(car, SUIT_KEY_FILE)).toEqual(pendingKey);
    } finally {
      await car.close();
    }
  });

  const STEPS: readonly SuitRotationStep[] = ['pending-written', 'pending-recorded', 'ecu-accepted', 'all-accepted', 'switched'];

  it.each(STEPS)('a primary power cut at %s leaves every ECU trusting a key the primary has; the next cycle finishes the rotation and installs', async (step) => {
    const n = STEPS.indexOf(step);
    const vin = `VINSUITKEYCRASH${n}`;
    const tag = `c${n}-`;
    const car = await vehicle(vin, tag);
    try {
      const bridge = (await SuitBridge.open(primaryDir(car)))!;
      const cut = (at: SuitRotationStep) => {
        if (at === step) throw new Error(`power cut at ${at}`);
      };
      await expect(bridge.rotateKey(new Map<string, SecondaryTransport>(car.constrained), { faultAt: cut })).rejects.toThrow('power cut');
      const pendingBefore = keyFile(car, SUIT_NEXT_KEY_FILE);
      await car.start(); // every ECU and the primary reopened from their folders
      expectEveryEcuTrustsAKeyThePrimaryHas(car);
      // The restart never replaces a pending key (an ECU may already trust it).
      if (pendingBefore !== undefined) expect(keyFile(car, SUIT_NEXT_KEY_FILE)).toEqual(pendingBefore);
      await assign(vin, `${tag}sensor-1`, SENSOR.name);
      expect((await car.primary.runCycle()).status).toBe('installed');
      expect(car.installed()[`${tag}sensor-1`]).toBe(SENSOR.name);
      // Before the switch the cycle finished the rotation; after it there was nothing left to do.
      expectRotatedTo(car, 1);
      // The primary knows the epoch it is at, after a restart too: the next rotation is epoch 2, which every ECU takes.
      await car.start();
      expect(await car.primary.rotateSuitKey()).toMatchObject({ epoch: 2, switched: true });
      expectRotatedTo(car, 2);
    } finally {
      await car.close();
    }
  });
});
