// The vehicle and the Director over MQTT 5 (docs/transport.md "MQTT"), against a real Mosquitto of
// this file's own (sim/harness/mosquitto.ts: logins, per-vehicle ACLs, a TLS listener) and the real
// Director and Image repository: a whole update cycle with an image the Director encrypted, sent in
// chunks; two Director replicas splitting requests through a shared subscription; a vehicle that can
// neither read nor publish another vehicle's topics; logins and TLS to the broker.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { FixedClock } from '../../shared/core/clock.js';
import { MqttConnectionError } from '../../shared/core/errors.js';
import { mqttDirectorChannel } from '../../shared/transport-mqtt/director-channel-mqtt.js';
import { directorTopics } from '../../shared/transport-mqtt/topics.js';
import { startDirectorMqtt, type RunningDirectorMqtt } from '../../director-repo/mqtt/director-mqtt.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { startTestBroker, DIRECTOR_USER, type TestBroker } from '../../sim/harness/mosquitto.js';
import { registeredVehicle } from '../support/registered-vehicle.js';
import { mqttSuite } from './mqtt-suite.js';

const VIN_A = 'VINMQTT0000000A';
const VIN_B = 'VINMQTT0000000B';
/** Larger than a few chunks and windows, so flow control and ordering are exercised. */
const BIG: FixtureImage = { name: 'engine/ecm-big.bin', content: Buffer.alloc(3 * 1024 * 1024 + 12_345, 7), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const SMALL: FixtureImage = { name: 'telematics/tcu-2.bin', content: Buffer.from('tcu v2'), hardwareIds: ['tcu-a'], releaseCounter: 2 };
/** No HTTP Director here: a vehicle that reached for it over HTTP would fail at once. */
const NO_HTTP_DIRECTOR = 'http://127.0.0.1:1';
const SMALL_TRANSFER = { chunkBytes: 64 * 1024, windowBytes: 256 * 1024 };

let broker: TestBroker;
let repos: Repositories;
let bridges: RunningDirectorMqtt[] = [];
let cleanups: Array<() => unknown> = [];
let clock: FixedClock;

mqttSuite('vehicle and Director over MQTT, against a real broker', () => {
  beforeAll(async () => {
    broker = await startTestBroker([VIN_A, VIN_B]);
  });
  afterAll(async () => {
    await broker?.close();
  });

  beforeEach(async () => {
    clock = new FixedClock(FIXTURE_NOW);
    repos = await startRepositories(clock, 'mqtt-director');
    await repos.publishImages([BIG, SMALL]);
    bridges = [await startDirectorMqtt(repos.director.services, { broker: { url: broker.urlFor(DIRECTOR_USER) } })];
  });

  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
    for (const bridge of bridges) await bridge.stop();
    await repos.close();
  });

  async function mqttVehicle(vin: string, options: { tls?: boolean; ca?: string } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'uptane-mqtt-car-'));
    const channel = mqttDirectorChannel({
      broker: { url: broker.urlFor(vin, options.tls), ...(options.tls ? { ca: options.ca ?? broker.ca } : {}) },
      vin,
      transfer: SMALL_TRANSFER,
    });
    const log: string[] = [];
    const car = await registeredVehicle(repos, {
      directory: dir,
      vin,
      // Serials are unique across the fleet: each vehicle's carry its VIN.
      primary: { serial: `${vin}-tcu`, hardwareId: 'tcu-a' },
      secondaries: [{ serial: `${vin}-ecm`, hardwareId: 'ecm-x1' }],
      directorUrl: NO_HTTP_DIRECTOR,
      clock,
      directorChannel: channel.factory,
      log: (line) => log.push(line),
    });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => channel.close());
    return { car, channel, log };
  }

  const assign = async (vin: string, ecuSerial: string, image: FixtureImage, encrypt = false) =>
    expect((await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial, image: image.name, encrypt })).status).toBe(201);

  it('an update cycle over MQTT: session, manifest, Director metadata and an encrypted image in chunks; installed, the Director sees the report', async () => {
    const { car } = await mqttVehicle(VIN_A);
    await assign(VIN_A, `${VIN_A}-ecm`, BIG, true);
    await assign(VIN_A, `${VIN_A}-tcu`, SMALL);
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed', manifestSent: true });
    expect(car.installed()).toMatchObject({ [`${VIN_A}-tcu`]: SMALL.name, [`${VIN_A}-ecm`]: BIG.name });
    expect(car.secondaries.get(`${VIN_A}-ecm`)!.slots.installed.filename).toBe(BIG.name);
    expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    const status = await repos.operator('GET', `/api/v1/vehicles/${VIN_A}`);
    const view = status.json as { manifests: Array<{ accepted: boolean }>; assignments: Array<{ state: string }>; attacks: unknown[] };
    expect(view.manifests.map((m) => m.accepted)).toEqual([true, true]);
    expect(view.assignments.map((a) => a.state)).toEqual(['installed', 'installed']);
    expect(view.attacks).toEqual([]);
    expect(car.primary.reportedAttacks).toEqual([]);
    expect(bridges[0]!.stats.handled).toBeGreaterThan(10);
  });

  it('two Director replicas split the requests through the shared subscription, and either answers any vehicle', async () => {
    bridges.push(await startDirectorMqtt(repos.director.services, { broker: { url: broker.urlFor(DIRECTOR_USER) } }));
    const { car } = await mqttVehicle(VIN_A);
    await assign(VIN_A, `${VIN_A}-tcu`, SMALL);
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed' });
    for (let i = 0; i < 4; i++) expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    const [first, second] = bridges.map((b) => b.stats.handled);
    expect(first! + second!).toBeGreaterThanOrEqual(20);
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(0);
  });

  it('over TLS to the broker (mqtts://, the development CA): the cycle runs; a broker certificate from another CA is refused', async () => {
    const { car } = await mqttVehicle(VIN_A, { tls: true });
    await assign(VIN_A, `${VIN_A}-tcu`, SMALL);
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed', manifestSent: true });

    const { createDevCa } = await import('../../shared/pki/dev-ca.js');
    const otherCa = (await createDevCa({ commonName: 'not the broker CA' })).certPem;
    const { car: other, log } = await mqttVehicle(VIN_B, { tls: true, ca: otherCa });
    const result = await other.primary.runCycle();
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('mqtt_connection');
    expect(log.join('\n')).toMatch(/cannot connect to mqtts:\/\/VINMQTT0000000B@127\.0\.0\.1/);
  });

  it('the broker authenticates: a wrong password is refused (mqtt_connection) and no request reaches the Director', async () => {
    const channel = mqttDirectorChannel({ broker: { url: broker.url, username: VIN_A, password: 'wrong' }, vin: VIN_A });
    cleanups.push(() => channel.close());
    const before = bridges[0]!.stats.handled;
    const { PrivateKey } = await import('../../shared/core/crypto/keys.js');
    const { nodeBackend } = await import('../../shared/core/crypto/ed25519.js');
    const instance = channel.factory({ directorUrl: NO_HTTP_DIRECTOR, key: PrivateKey.fromLabel('nobody'), backend: nodeBackend, clock, log: () => undefined });
    await expect(instance.fetchMetadata('timestamp.json', { maxBytes: 1000 })).rejects.toBeInstanceOf(MqttConnectionError);
    expect(bridges[0]!.stats.handled).toBe(before);
  });

  describe('per-vehicle topic ACLs (a vehicle can neither read nor publish another vehicle\'s topics)', () => {
    async function login(name: string): Promise<MqttClient> {
      const client = connect(broker.urlFor(name), { protocolVersion: 5, reconnectPeriod: 0 });
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      });
      cleanups.push(() => client.endAsync(true));
      return client;
    }

    it('F22 vehicle B subscribed to vehicle A\'s response topic and the Director\'s request topics receives none of A\'s traffic; what B publishes on A\'s response topic never reaches A', async () => {
      const { car, channel } = await mqttVehicle(VIN_A);
      const b = await login(VIN_B);
      const seenByB: string[] = [];
      b.on('message', (topic) => seenByB.push(topic));
      // Mosquitto grants these subscriptions and applies the ACL to every delivery instead.
      await b.subscribeAsync([directorTopics(VIN_A).response, 'uptane/v1/vehicles/+/director/request', `uptane/v1/vehicles/${VIN_A}/ecus/#`], { qos: 1 });
      await assign(VIN_A, `${VIN_A}-tcu`, SMALL);
      expect(await car.primary.runCycle()).toMatchObject({ status: 'installed' });
      expect(seenByB).toEqual([]);
      // A forged answer from B on A's response topic: the broker does not deliver it to A.
      await b.publishAsync(directorTopics(VIN_A).response, Buffer.from('forged'), { qos: 1, properties: { correlationData: Buffer.alloc(16), userProperties: { status: '200' } } }).catch(() => undefined);
      const ping = `uptane/v1/vehicles/${VIN_B}/ecus/ping`;
      await b.subscribeAsync(ping, { qos: 1 });
      // A round trip through the broker on a topic of B's own: whatever B published before has been routed by now.
      const pinged = new Promise<void>((resolve) => b.once('message', () => resolve()));
      await b.publishAsync(ping, Buffer.from('ping'), { qos: 1 });
      await pinged;
      expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
      expect(seenByB).toEqual([ping]);
      expect(channel.unmatchedAnswers()).toBe(0);
    });

    it('F22 vehicle B publishing on vehicle A\'s request topic reaches no Director; A\'s answers never reach B', async () => {
      const { car } = await mqttVehicle(VIN_A);
      const b = await login(VIN_B);
      const seenByB: string[] = [];
      b.on('message', (topic) => seenByB.push(topic));
      // A wildcard B may subscribe to, covering every vehicle: the broker still delivers B only what its ACL lets it read.
      await b.subscribeAsync('uptane/v1/vehicles/#', { qos: 1 });
      const before = bridges[0]!.stats.handled;
      await b
        .publishAsync(directorTopics(VIN_A).request, Buffer.from('{}'), {
          qos: 1,
          properties: { responseTopic: directorTopics(VIN_A).response, correlationData: Buffer.from('b-pretends-a'), userProperties: { op: 'metadata', file: 'timestamp.json' } },
        })
        .catch(() => undefined); // MQTT 5 brokers may answer "not authorized" to the PUBLISH: either way it goes nowhere
      await assign(VIN_A, `${VIN_A}-tcu`, SMALL);
      expect(await car.primary.runCycle()).toMatchObject({ status: 'installed' });
      // Only A's own requests reached the Director (B's never did), and B saw none of A's traffic.
      expect(bridges[0]!.stats.dropped).toBe(0);
      expect(bridges[0]!.stats.handled).toBeGreaterThan(before);
      expect(seenByB.filter((t) => t.includes(VIN_A))).toEqual([]);
    });
  });

  it('F22 a request on vehicle B\'s topic signed with vehicle A\'s key is refused by the Director (401): the key decides, not the topic', async () => {
    // As a broker without ACLs would allow: B's login, A's primary key.
    const keyA = SimulatedVehicle.keyFor({ vin: VIN_A }, `${VIN_A}-tcu`);
    const { car: a } = await mqttVehicle(VIN_A);
    void a;
    const channel = mqttDirectorChannel({ broker: { url: broker.urlFor(VIN_B) }, vin: VIN_B });
    cleanups.push(() => channel.close());
    const { nodeBackend } = await import('../../shared/core/crypto/ed25519.js');
    const impostor = channel.factory({ directorUrl: NO_HTTP_DIRECTOR, key: keyA, backend: nodeBackend, clock, log: () => undefined });
    await expect(impostor.fetchMetadata('timestamp.json', { maxBytes: 100_000 })).rejects.toThrow(/status 401 \(authentication_failed|status 401/);
  });
});
