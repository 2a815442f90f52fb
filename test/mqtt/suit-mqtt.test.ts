// Constrained (SUIT) secondaries over the MQTT secondary transport (docs/suit.md "Transports";
// shared/transport-mqtt/secondary-mqtt.ts), against the real repositories and a Mosquitto of this
// file's own: a vehicle wholly over MQTT installs on a constrained ECU (the envelope as suit-open, the
// image in several acknowledged chunks); an image altered on the way crosses the broker and is refused
// (suit_digest_mismatch) with nothing installed; an envelope or key statement over the SUIT limit is
// suit_too_large before any image byte is read; an ordinary secondary refuses suit-open; and a SUIT
// key rotation reaches the constrained ECU over MQTT, the next update installing under the new key.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { RemoteSecondaryError, type SecondaryTransport } from '../../shared/ecu/secondary-protocol.js';
import { DEFAULT_SUIT_LIMITS } from '../../shared/suit/cbor.js';
import type { SuitReceiver } from '../../shared/suit/transport.js';
import { MqttSecondaryClient } from '../../shared/transport-mqtt/secondary-mqtt.js';
import { startDirectorMqtt, type RunningDirectorMqtt } from '../../director-repo/mqtt/director-mqtt.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { startTestBroker, DIRECTOR_USER, type TestBroker } from '../../sim/harness/mosquitto.js';
import type { SimulatedVehicle } from '../../sim/vehicle.js';
import { registeredVehicle } from '../support/registered-vehicle.js';
import { mqttSuite } from './mqtt-suite.js';

const VINS = ['VINSUITMQTT0001', 'VINSUITMQTT0002', 'VINSUITMQTT0003', 'VINSUITMQTT0004'] as const;
// Larger than two 256 KiB chunks: the image crosses the bus in three, each acknowledged.
const SENSOR: FixtureImage = { name: 'sensor/s1-4.bin', content: Buffer.alloc(600 * 1024, 7), hardwareIds: ['sensor-s1'], releaseCounter: 4 };
const ENGINE: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };

let broker: TestBroker;
let repos: Repositories;
let bridge: RunningDirectorMqtt;
let dir: string;
let cleanups: Array<() => unknown> = [];

/** The transport with putSuit wrapped: an observer or an attacker between the primary and its MQTT client. */
function tapSuit(transport: SecondaryTransport, putSuit: (inner: SuitReceiver, envelope: Uint8Array, image: AsyncIterable<Uint8Array>) => Promise<void>): SecondaryTransport {
  return new Proxy(transport as SecondaryTransport & SuitReceiver, {
    get(target, property) {
      if (property === 'putSuit') return (envelope: Uint8Array, image: AsyncIterable<Uint8Array>) => putSuit(target, envelope, image);
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

mqttSuite('constrained (SUIT) secondaries over MQTT', () => {
  beforeAll(async () => {
    broker = await startTestBroker(VINS);
    const clock = new FixedClock(FIXTURE_NOW);
    repos = await startRepositories(clock, 'suit-mqtt');
    await repos.publishImages([SENSOR, ENGINE]);
    bridge = await startDirectorMqtt(repos.director.services, { broker: { url: broker.urlFor(DIRECTOR_USER) } });
  });
  afterAll(async () => {
    await bridge?.stop();
    await repos?.close();
    await broker?.close();
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'uptane-suit-mqtt-'));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
    rmSync(dir, { recursive: true, force: true });
  });

  const assign = async (vin: string, ecuSerial: string, image: string) => expect((await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial, image })).status).toBe(201);

  async function vehicle(vin: string, busTap?: (serial: string, transport: SecondaryTransport) => SecondaryTransport): Promise<SimulatedVehicle> {
    const car = await registeredVehicle(repos, {
      directory: join(dir, vin),
      vin,
      clock: new FixedClock(FIXTURE_NOW),
      primary: { serial: `${vin}-tcu`, hardwareId: 'tcu-a' },
      secondaries: [
        { serial: `${vin}-ecm`, hardwareId: 'ecm-x1' },
        { serial: `${vin}-sensor`, hardwareId: 'sensor-s1' },
      ],
      constrained: [`${vin}-sensor`],
      directorUrl: 'http://127.0.0.1:1',
      transport: 'mqtt',
      mqtt: { url: broker.urlFor(vin) },
      ...(busTap === undefined ? {} : { busTap }),
    });
    cleanups.push(() => car.close());
    return car;
  }

  /** A second primary-side client on the vehicle's bus: what a compromised primary could send. */
  async function link(vin: string, serial: string): Promise<MqttSecondaryClient> {
    const client = await MqttSecondaryClient.connect({ broker: { url: broker.urlFor(vin) }, vin, serial, timeoutMs: 5_000 });
    cleanups.push(() => client.close());
    return client;
  }

  it('a vehicle wholly over MQTT installs on a constrained ECU beside an Uptane one, and the Director hears it', async () => {
    const vin = VINS[0];
    const envelopes: Uint8Array[] = [];
    const car = await vehicle(vin, (serial, transport) =>
      serial.endsWith('-sensor')
        ? tapSuit(transport, (inner, envelope, image) => {
            envelopes.push(envelope);
            return inner.putSuit(envelope, image);
          })
        : transport,
    );
    await assign(vin, `${vin}-sensor`, SENSOR.name);
    await assign(vin, `${vin}-ecm`, ENGINE.name);
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed', manifestSent: true });
    expect(car.installed()).toMatchObject({ [`${vin}-sensor`]: SENSOR.name, [`${vin}-ecm`]: ENGINE.name });
    expect(envelopes).toHaveLength(1);
    expect(car.constrained.get(`${vin}-sensor`)!.sequenceNumber).toBe(4);
    expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    expect(car.primary.reportedAttacks).toEqual([]);
  });

  it('an image altered before it crosses the broker is refused (suit_digest_mismatch) with nothing installed', async () => {
    const vin = VINS[1];
    const car = await vehicle(vin, (serial, transport) =>
      serial.endsWith('-sensor')
        ? tapSuit(transport, (inner, envelope, image) =>
            inner.putSuit(envelope, (async function* () {
              for await (const chunk of image) yield Buffer.from(chunk).map((b) => b ^ 0x01);
            })()),
          )
        : transport,
    );
    await assign(vin, `${vin}-sensor`, SENSOR.name);
    const result = await car.primary.runCycle();
    expect(result.outcomes[`${vin}-sensor`]).toMatchObject({ status: 'failed', code: 'suit_digest_mismatch' });
    expect(car.installed()[`${vin}-sensor`]).toBe('factory/sensor-s1.bin');
    expect(car.constrained.get(`${vin}-sensor`)!.slots.current.staged).toBeNull();
  });

  it('an envelope or key statement over the SUIT limit is suit_too_large before any image byte is read; an ordinary secondary refuses suit-open', async () => {
    const vin = VINS[2];
    const car = await vehicle(vin);
    const constrained = await link(vin, `${vin}-sensor`);
    let imageRead = false;
    const image = (async function* () {
      imageRead = true;
      yield SENSOR.content;
    })();
    const oversized = new Uint8Array(DEFAULT_SUIT_LIMITS.maxEnvelopeBytes + 1).fill(0xa0);
    const refusal = await constrained.putSuit(oversized, image).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(RemoteSecondaryError);
    expect(refusal).toMatchObject({ code: 'suit_too_large' });
    expect(imageRead).toBe(false);
    await expect(constrained.putSuitKey(oversized)).rejects.toMatchObject({ code: 'suit_too_large' });
    // An empty envelope is malformed, not a reason to read the image either.
    await expect(constrained.putSuit(new Uint8Array(0), image)).rejects.toMatchObject({ code: 'suit_malformed' });
    expect(imageRead).toBe(false);
    // A well-sized envelope that is no SUIT envelope is refused by the ECU itself, typed, over MQTT.
    await expect(constrained.putSuit(new Uint8Array([1, 2, 3]), (async function* () { yield Buffer.from('x'); })())).rejects.toBeInstanceOf(RemoteSecondaryError);
    const ordinary = await link(vin, `${vin}-ecm`);
    await expect(ordinary.putSuit(new Uint8Array([1, 2, 3]), (async function* () { yield Buffer.from('x'); })())).rejects.toMatchObject({ code: 'mqtt_bad_message' });
    await expect(ordinary.putSuitKey(new Uint8Array([1, 2, 3]))).rejects.toMatchObject({ code: 'mqtt_bad_message' });
    expect(car.installed()[`${vin}-sensor`]).toBe('factory/sensor-s1.bin');
    expect(car.constrained.get(`${vin}-sensor`)!.slots.current.staged).toBeNull();
    expect(car.constrained.get(`${vin}-sensor`)!.suitKeyEpoch).toBe(0);
  });

  it('a SUIT key rotation over MQTT: the constrained ECU takes the new key, the primary switches, and the next update installs', async () => {
    const vin = VINS[3];
    const car = await vehicle(vin);
    const ecu = car.constrained.get(`${vin}-sensor`)!;
    const oldKey = Buffer.from(ecu.suitPublicKey);
    expect(await car.primary.rotateSuitKey()).toEqual({ epoch: 1, switched: true, accepted: [`${vin}-sensor`], pending: [] });
    expect(ecu.suitKeyEpoch).toBe(1);
    expect(Buffer.from(ecu.suitPublicKey)).not.toEqual(oldKey);
    await assign(vin, `${vin}-sensor`, SENSOR.name);
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect(car.installed()[`${vin}-sensor`]).toBe(SENSOR.name);
  });
});
