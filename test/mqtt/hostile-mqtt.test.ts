// Bad input over MQTT between vehicle and Director (docs/threat-model.md F20-F24): a hostile Director
// bridge (the real one's answers, altered on their way out) and a misbehaving broker (a proxy that
// drops, repeats or cuts) against the real primary, Director and Image repository and a Mosquitto
// of this file's own. Each case is a retry that succeeds, or a typed error with nothing installed,
// the attack reported where it is one, and the next honest cycle installing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { FixedClock } from '../../shared/core/clock.js';
import { connectBroker } from '../../shared/transport-mqtt/mqtt-connection.js';
import { serveMqttRequests, type MqttIncomingRequest, type MqttReplier } from '../../shared/transport-mqtt/mqtt-rpc.js';
import { DEFAULT_CHUNK_LIMITS } from '../../shared/transport-mqtt/chunk-server.js';
import { mqttDirectorChannel } from '../../shared/transport-mqtt/director-channel-mqtt.js';
import { DIRECTOR_REQUEST_FILTER, directorTopics, vinOfDirectorRequest } from '../../shared/transport-mqtt/topics.js';
import { answerVehicleRequest } from '../../director-repo/mqtt/director-mqtt.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { startTestBroker, DIRECTOR_USER, type TestBroker } from '../../sim/harness/mosquitto.js';
import type { SimulatedVehicle } from '../../sim/vehicle.js';
import { registeredVehicle } from '../support/registered-vehicle.js';
import { startMqttProxy, type MqttProxy } from './mqtt-proxy.js';
import { mqttSuite } from './mqtt-suite.js';

const VIN = 'VINMQTTHOSTILE1';
const ECM = `${VIN}-ecm`;
const BIG: FixtureImage = { name: 'engine/ecm-big.bin', content: Buffer.from(Array.from({ length: 1024 * 1024 + 999 }, (_, i) => i % 251)), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const CHUNK = 64 * 1024;
const WINDOW = 256 * 1024;

/** One answer on its way out of the Director bridge: what the test's tap may alter, drop, repeat or reorder. */
interface Outgoing {
  readonly op: string;
  readonly request: MqttIncomingRequest;
  readonly status: number;
  readonly payload: Uint8Array;
  readonly properties: Readonly<Record<string, string>>;
  /** 0 for an image's chunks (chunk-server.ts), 1 (or undefined) for every other answer. */
  readonly qos: 0 | 1 | undefined;
}
type Tap = (answer: Outgoing, send: (status: number, payload: Uint8Array, properties: Readonly<Record<string, string>>) => Promise<void>) => Promise<void>;
const honest: Tap = (a, send) => send(a.status, a.payload, a.properties);

let broker: TestBroker;
let repos: Repositories;
let director: MqttClient;
let stopBridge: () => Promise<void>;
let tap: Tap;
/** Image windows the bridge sends at once (answerVehicleRequest's cap); the default unless a test lowers it. */
let windows: { sending: number; max: number };
let car: SimulatedVehicle;
let channel: ReturnType<typeof mqttDirectorChannel>;
let proxy: MqttProxy;
let dir: string;
let log: string[];

mqttSuite('hostile answers and a misbehaving broker over MQTT', () => {
  beforeAll(async () => {
    broker = await startTestBroker([VIN]);
  });
  afterAll(async () => {
    await broker?.close();
  });

  beforeEach(async () => {
    const clock = new FixedClock(FIXTURE_NOW);
    repos = await startRepositories(clock, 'mqtt-hostile');
    await repos.publishImages([BIG]);
    tap = honest;
    windows = { sending: 0, max: 32 };
    // The real bridge's answers, each through the tap.
    director = await connectBroker({ url: broker.urlFor(DIRECTOR_USER), maximumPacketBytes: 4 * 1024 * 1024 });
    const responder = await serveMqttRequests(director, {
      filter: DIRECTOR_REQUEST_FILTER,
      responseTopicFor: (topic) => directorTopics(vinOfDirectorRequest(topic)!).response,
      maxRequestBytes: 1_000_000,
      maxInFlight: 64,
      handle: (request, replier) => {
        const tapped: MqttReplier = { reply: (status, payload = new Uint8Array(0), properties = {}, qos) => tap({ op: request.properties.op!, request, status, payload, properties, qos }, (s, p, props) => replier.reply(s, p, props, qos)) };
        return answerVehicleRequest(repos.director.services, request, tapped, DEFAULT_CHUNK_LIMITS, undefined, windows);
      },
    });
    stopBridge = () => responder.stop();
    proxy = await startMqttProxy(Number(new URL(broker.url).port));
    dir = mkdtempSync(join(tmpdir(), 'uptane-mqtt-hostile-'));
    log = [];
    channel = mqttDirectorChannel({
      broker: { url: proxy.url(broker.user(VIN)), reconnectPeriodMs: 100 },
      vin: VIN,
      requestTimeoutMs: 1_500,
      attempts: 3,
      transfer: { chunkBytes: CHUNK, windowBytes: WINDOW, lostChunkMs: 500, idleTimeoutMs: 4_000, speedGracePeriodMs: 2_000, minBytesPerSecond: 64 * 1024 },
    });
    car = await registeredVehicle(repos, {
      directory: dir,
      vin: VIN,
      primary: { serial: `${VIN}-tcu`, hardwareId: 'tcu-a' },
      secondaries: [{ serial: ECM, hardwareId: 'ecm-x1' }],
      directorUrl: 'http://127.0.0.1:1',
      clock,
      directorChannel: channel.factory,
      log: (line) => log.push(line),
    });
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: ECM, image: BIG.name, encrypt: true })).status).toBe(201);
  });

  afterEach(async () => {
    await channel.close();
    await stopBridge();
    await director.endAsync(true);
    await proxy.close();
    await repos.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The cycle fails with `code`, the ECU keeps its image, the attack is reported if it is one, and the next honest cycle installs. */
  async function expectRefused(code: string, attack: boolean): Promise<void> {
    const before = car.installed();
    const result = await car.primary.runCycle();
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe(code);
    expect(car.installed()).toEqual(before);
    expect(car.primary.reportedAttacks.some((a) => a.code === code)).toBe(attack);
    tap = honest;
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed' });
    expect(car.installed()[ECM]).toBe(BIG.name);
  }

  const isChunk = (a: Outgoing) => a.op === 'image' && a.status === 200;

  it('chunks sent in reverse order within each window, and each twice: put in order by offset, repeats dropped; installed', async () => {
    tap = async (a, send) => {
      if (!isChunk(a)) return send(a.status, a.payload, a.properties);
      // Held back and sent in reverse once the window's last chunk is produced.
      held.push([a.status, a.payload, a.properties]);
      const end = Number(a.request.properties.offset) + Number(a.request.properties.length);
      if (Number(a.properties.offset) + a.payload.length < Math.min(end, Number(a.properties.size))) return;
      for (const [s, p, props] of held.splice(0).reverse()) {
        await send(s, p, props);
        await send(s, p, props);
      }
    };
    const held: Array<[number, Uint8Array, Readonly<Record<string, string>>]> = [];
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed' });
    expect(car.installed()[ECM]).toBe(BIG.name);
    expect(car.primary.reportedAttacks).toEqual([]);
  });

  it('F20 a chunk lost in the middle of a window (QoS 0) is asked for again alone, as soon as the next chunk of its window shows the gap; installed', async () => {
    const asked: string[] = [];
    const qos = new Set<number | undefined>();
    let dropped = false;
    tap = async (a, send) => {
      if (a.op === 'image' && a.properties.offset === a.request.properties.offset) asked.push(`${a.request.properties.offset}+${a.request.properties.length}`);
      if (isChunk(a)) qos.add(a.qos);
      // The second chunk of the second window, once: the chunks after it in that window show the gap.
      if (!dropped && isChunk(a) && Number(a.properties.offset) === WINDOW + CHUNK) {
        dropped = true;
        return;
      }
      await send(a.status, a.payload, a.properties);
    };
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed' });
    expect(car.installed()[ECM]).toBe(BIG.name);
    expect(dropped).toBe(true);
    expect(qos).toEqual(new Set([0]));
    // That chunk alone, not the rest of the download from it (what the silence timer asks for).
    expect(asked).toContain(`${WINDOW + CHUNK}+${CHUNK}`);
    expect(asked.filter((w) => w.startsWith(`${WINDOW + CHUNK}+`))).toEqual([`${WINDOW + CHUNK}+${CHUNK}`]);
    expect(car.primary.reportedAttacks).toEqual([]);
  });

  it('F23 chunks published with another correlation id are dropped unread and counted; the window is asked for again; installed', async () => {
    let forged = 0;
    let first: string | undefined;
    tap = async (a, send) => {
      if (!isChunk(a)) return send(a.status, a.payload, a.properties);
      // Every chunk of the first image window, published on the vehicle's response topic with correlation data not its request's.
      first ??= a.request.correlation.toString('hex');
      if (a.request.correlation.toString('hex') !== first) return send(a.status, a.payload, a.properties);
      forged++;
      await director.publishAsync(directorTopics(VIN).response, Buffer.from(a.payload), { qos: 0, properties: { correlationData: Buffer.from('0123456789abcdef'), userProperties: { ...a.properties, status: '200' } } });
    };
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed' });
    expect(car.installed()[ECM]).toBe(BIG.name);
    expect(forged).toBe(WINDOW / CHUNK);
    expect(channel.unmatchedAnswers()).toBeGreaterThanOrEqual(forged);
    expect(car.primary.reportedAttacks).toEqual([]);
  });

  it('F21 a chunk at an offset the vehicle did not ask for is mqtt_bad_message: an attack, reported; nothing installed', async () => {
    tap = (a, send) => (isChunk(a) ? send(a.status, a.payload, { ...a.properties, offset: String(Number(a.properties.offset) + 4096) }) : send(a.status, a.payload, a.properties));
    await expectRefused('mqtt_bad_message', true);
  });

  it('F21 a chunk longer than asked (an oversized message within the packet limit) is mqtt_bad_message', async () => {
    tap = (a, send) => (isChunk(a) ? send(a.status, Buffer.concat([a.payload, Buffer.alloc(100)]), a.properties) : send(a.status, a.payload, a.properties));
    await expectRefused('mqtt_bad_message', true);
  });

  it('F2 an image announced longer than its signed length is download_length before a byte is kept', async () => {
    tap = (a, send) => (isChunk(a) ? send(a.status, a.payload, { ...a.properties, size: String(Number(a.properties.size) + 1) }) : send(a.status, a.payload, a.properties));
    await expectRefused('download_length', true);
  });

  it('F21 a malformed answer (a status property that is not a status) is mqtt_bad_message', async () => {
    tap = async (a, send) => {
      if (a.op !== 'metadata') return send(a.status, a.payload, a.properties);
      await director.publishAsync(directorTopics(VIN).response, Buffer.from(a.payload), { qos: 1, properties: { correlationData: a.request.correlation, userProperties: { status: 'two hundred' } } });
    };
    await expectRefused('mqtt_bad_message', true);
  });

  it('J1 a metadata answer that is not metadata (a malformed payload) is refused by the primary\'s verifier, as over HTTP', async () => {
    tap = (a, send) => (a.op === 'metadata' && a.request.properties.file === 'timestamp.json' ? send(200, Buffer.from('{"signed": 1'), a.properties) : send(a.status, a.payload, a.properties));
    await expectRefused('malformed_metadata', true);
  });

  it('F23 an answer with another correlation id is dropped unread: the vehicle asks again and then fails with mqtt_timeout; nothing installed', async () => {
    tap = async (a, send) => {
      if (a.op !== 'metadata') return send(a.status, a.payload, a.properties);
      // Published by the bridge's own client on the vehicle's response topic, with correlation data of its choosing.
      await director.publishAsync(directorTopics(VIN).response, Buffer.from(a.payload), { qos: 1, properties: { correlationData: Buffer.from('not-the-one-asked'), userProperties: { ...a.properties, status: String(a.status) } } });
    };
    await expectRefused('mqtt_timeout', false);
    expect(channel.unmatchedAnswers()).toBeGreaterThanOrEqual(3);
    expect(log.join('\n')).toMatch(/asking again/);
  });

  it('F24 an answer larger than the vehicle\'s Maximum Packet Size is never delivered by the broker: asked again, then mqtt_timeout', async () => {
    tap = (a, send) => (a.op === 'metadata' && a.request.properties.file === 'timestamp.json' ? send(200, Buffer.alloc(3 * 1024 * 1024, 0x20), a.properties) : send(a.status, a.payload, a.properties));
    await expectRefused('mqtt_timeout', false);
  });

  it('F4 chunks trickled slower than the minimum speed are slow_retrieval', async () => {
    tap = async (a, send) => {
      if (isChunk(a)) await new Promise((resolve) => setTimeout(resolve, 1500));
      await send(a.status, a.payload, a.properties);
    };
    await expectRefused('slow_retrieval', true);
  });

  it('F20 a broker that drops some messages and repeats others: lost chunks and answers are asked for again, repeats dropped; installed in one cycle', async () => {
    proxy.fate = (index) => (index % 7 === 3 ? 0 : index % 5 === 1 ? 2 : 1);
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed' });
    expect(car.installed()[ECM]).toBe(BIG.name);
    expect(car.primary.reportedAttacks).toEqual([]);
  });

  it('F20 the broker connection cut mid-image: the vehicle reconnects and resumes from the last chunk received, in the same cycle', async () => {
    const windows: number[] = [];
    let cut = false;
    tap = async (a, send) => {
      if (a.op === 'image' && a.properties.offset === a.request.properties.offset) windows.push(Number(a.request.properties.offset));
      await send(a.status, a.payload, a.properties);
      if (!cut && isChunk(a) && Number(a.properties.offset) >= 2 * WINDOW) {
        cut = true;
        proxy.cutAll();
      }
    };
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed' });
    expect(cut).toBe(true);
    expect(car.installed()[ECM]).toBe(BIG.name);
    // Asked again from where it was, never from the start.
    expect(windows.filter((offset) => offset === 0)).toHaveLength(1);
    expect(log.join('\n')).not.toMatch(/no Director session/);
  });

  it('HR-2 image windows past the bridge\'s cap are answered 503: the vehicle waits the Retry-After and asks again; installed', async () => {
    windows.max = 1;
    let busy = 0;
    tap = (a, send) => {
      if (a.op === 'image' && a.status === 503) busy++;
      return send(a.status, a.payload, a.properties);
    };
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed' });
    expect(car.installed()[ECM]).toBe(BIG.name);
    expect(busy).toBeGreaterThan(0);
    expect(windows.sending).toBe(0);
  });
});
