// The primary and its secondaries over MQTT (shared/transport-mqtt/secondary-mqtt.ts), a second
// SecondaryTransport beside HTTP, against a Mosquitto of this file's own with per-vehicle ACLs: a
// whole vehicle over MQTT (Director and secondaries) installs a plain and an encrypted image on a
// partial and a full verification secondary; then hostile framing on the bus: an image chunk out of
// order, a repeated one, a malformed bundle, an unknown operation, each a typed refusal with nothing
// installed, and the secondary's own verdicts keep their codes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { FixedClock } from '../../shared/core/clock.js';
import { RemoteSecondaryError } from '../../shared/ecu/secondary-protocol.js';
import { MqttSecondaryClient } from '../../shared/transport-mqtt/secondary-mqtt.js';
import { secondaryTopics } from '../../shared/transport-mqtt/topics.js';
import { startDirectorMqtt, type RunningDirectorMqtt } from '../../director-repo/mqtt/director-mqtt.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { startTestBroker, DIRECTOR_USER, type TestBroker } from '../../sim/harness/mosquitto.js';
import type { SimulatedVehicle } from '../../sim/vehicle.js';
import { registeredVehicle } from '../support/registered-vehicle.js';
import { mqttSuite } from './mqtt-suite.js';

const VIN = 'VINMQTTSECOND01';
const OTHER_VIN = 'VINMQTTSECOND02';
const ECM: FixtureImage = { name: 'engine/ecm-2.bin', content: Buffer.alloc(700 * 1024, 3), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const ABS: FixtureImage = { name: 'brakes/abs-2.bin', content: Buffer.from('abs v2'), hardwareIds: ['abs-z'], releaseCounter: 2 };

let broker: TestBroker;
let repos: Repositories;
let bridge: RunningDirectorMqtt;
let car: SimulatedVehicle;
let dir: string;
let cleanups: Array<() => unknown> = [];

mqttSuite('primary and secondaries over MQTT', () => {
  beforeAll(async () => {
    broker = await startTestBroker([VIN, OTHER_VIN]);
  });
  afterAll(async () => {
    await broker?.close();
  });

  beforeEach(async () => {
    const clock = new FixedClock(FIXTURE_NOW);
    repos = await startRepositories(clock, 'mqtt-secondary');
    await repos.publishImages([ECM, ABS]);
    bridge = await startDirectorMqtt(repos.director.services, { broker: { url: broker.urlFor(DIRECTOR_USER) } });
    dir = mkdtempSync(join(tmpdir(), 'uptane-mqtt-secondary-'));
    car = await registeredVehicle(repos, {
      directory: dir,
      vin: VIN,
      primary: { serial: `${VIN}-tcu`, hardwareId: 'tcu-a' },
      secondaries: [
        { serial: `${VIN}-ecm`, hardwareId: 'ecm-x1' },
        { serial: `${VIN}-abs`, hardwareId: 'abs-z', verification: 'full' },
      ],
      directorUrl: 'http://127.0.0.1:1',
      clock,
      transport: 'mqtt',
      mqtt: { url: broker.urlFor(VIN) },
    });
  });

  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
    await car.close();
    await bridge.stop();
    await repos.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const assign = async (ecuSerial: string, image: FixtureImage, encrypt = false) =>
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial, image: image.name, encrypt })).status).toBe(201);

  it('a vehicle wholly over MQTT installs on a partial secondary (encrypted, in chunks) and a full one', async () => {
    await assign(`${VIN}-ecm`, ECM, true);
    await assign(`${VIN}-abs`, ABS);
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed', manifestSent: true });
    expect(car.installed()).toMatchObject({ [`${VIN}-ecm`]: ECM.name, [`${VIN}-abs`]: ABS.name });
    expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    expect(car.primary.reportedAttacks).toEqual([]);
  });

  describe('hostile framing on the bus (a compromised primary or a broker that reorders)', () => {
    async function primaryLink(): Promise<MqttSecondaryClient> {
      const client = await MqttSecondaryClient.connect({ broker: { url: broker.urlFor(VIN) }, vin: VIN, serial: `${VIN}-ecm`, timeoutMs: 5_000 });
      cleanups.push(() => client.close());
      return client;
    }

    /** A raw login on the vehicle's bus, to publish what no honest primary sends. */
    async function rawBus(): Promise<{ client: MqttClient; ask: (properties: Record<string, string>, payload?: Buffer) => Promise<{ status: string; body: unknown }> }> {
      const client = connect(broker.urlFor(VIN), { protocolVersion: 5, reconnectPeriod: 0 });
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      });
      cleanups.push(() => client.endAsync(true));
      const topics = secondaryTopics(VIN, `${VIN}-ecm`);
      await client.subscribeAsync(topics.response, { qos: 1 });
      let n = 0;
      const ask = async (properties: Record<string, string>, payload: Buffer = Buffer.alloc(0)) => {
        const correlation = Buffer.from(`raw-${++n}`);
        const answered = new Promise<{ status: string; body: unknown }>((resolve) => {
          const onMessage = (_topic: string, message: Buffer, packet: { properties?: { correlationData?: Buffer; userProperties?: Record<string, string | string[]> } }) => {
            if (!packet.properties?.correlationData?.equals(correlation)) return;
            client.off('message', onMessage);
            resolve({ status: String(packet.properties.userProperties?.status), body: JSON.parse(message.toString('utf8')) });
          };
          client.on('message', onMessage);
        });
        await client.publishAsync(topics.request, payload, { qos: 1, properties: { responseTopic: topics.response, correlationData: correlation, userProperties: properties } });
        return answered;
      };
      return { client, ask };
    }

    it('an image chunk out of order is refused (mqtt_bad_message); a repeated one is acknowledged and not written twice; nothing is staged', async () => {
      await assign(`${VIN}-ecm`, ECM);
      // The primary verifies and hands the secondary its metadata; the image is what the bus attacker sends.
      car.state.set('driving');
      expect(await car.primary.runCycle()).toMatchObject({ status: 'deferred' });
      const link = await primaryLink();
      expect(await link.putMetadata(car.primary.metadataBundle())).toEqual({ target: { filename: ECM.name, length: ECM.content.length } });
      const { ask } = await rawBus();
      const before = car.installed();
      expect(await ask({ op: 'image-open', filename: ECM.name })).toMatchObject({ status: '200' });
      expect(await ask({ op: 'image-chunk', offset: '0' }, ECM.content.subarray(0, 1000))).toMatchObject({ status: '200', body: { ok: true } });
      expect(await ask({ op: 'image-chunk', offset: '0' }, ECM.content.subarray(0, 1000))).toMatchObject({ status: '200', body: { ok: true, repeated: true } });
      expect(await ask({ op: 'image-chunk', offset: '5000' }, ECM.content.subarray(5000, 6000))).toMatchObject({ status: '400', body: { error: { code: 'mqtt_bad_message' } } });
      // The image ends short of what was sent: refused, and the ECU keeps its image.
      expect(await ask({ op: 'image-end', length: '6000' })).toMatchObject({ status: '400', body: { error: { code: 'mqtt_bad_message' } } });
      expect(car.installed()).toEqual(before);
      await expect(link.install()).rejects.toBeInstanceOf(RemoteSecondaryError);
      expect(car.installed()).toEqual(before);
    });

    it('a malformed metadata bundle and an unknown operation are typed refusals; the secondary\'s own verdicts keep their codes over MQTT', async () => {
      const { ask } = await rawBus();
      expect(await ask({ op: 'metadata' }, Buffer.from('{not json'))).toMatchObject({ status: '400', body: { error: { code: 'mqtt_bad_message' } } });
      expect(await ask({ op: 'format-disk' })).toMatchObject({ status: '400', body: { error: { code: 'mqtt_bad_message' } } });
      expect(await ask({ op: 'image-chunk', offset: 'x' })).toMatchObject({ status: '400', body: { error: { code: 'mqtt_bad_message' } } });
      const link = await primaryLink();
      // Installing with nothing staged is the secondary's own refusal, code and all.
      const refused = await link.install().catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(RemoteSecondaryError);
      expect((refused as RemoteSecondaryError).code).not.toBe('secondary_failed');
      expect(await link.info()).toMatchObject({ serial: `${VIN}-ecm`, hardwareId: 'ecm-x1', verification: 'partial' });
    });

    it('another vehicle\'s login cannot reach this vehicle\'s secondaries (ACL): its request goes nowhere and times out', async () => {
      const intruder = await MqttSecondaryClient.connect({ broker: { url: broker.urlFor(OTHER_VIN) }, vin: VIN, serial: `${VIN}-ecm`, timeoutMs: 1_500 }).catch((err: unknown) => err);
      if (intruder instanceof MqttSecondaryClient) {
        cleanups.push(() => intruder.close());
        await expect(intruder.info()).rejects.toThrow(/Not authorized|no answer|mqtt/i);
      } else {
        expect((intruder as Error).message).toMatch(/subscribe|authorized/i);
      }
    });
  });
});
