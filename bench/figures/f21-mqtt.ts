// Figure 21: the vehicle-Director link over MQTT 5 against HTTP on the same Director (issue 22
// item 5). Metadata requests and manifests per second through the real channels the primary uses
// (MqttDirectorChannel through a Mosquitto of the figure's own, HttpDirectorChannel straight to the
// Director), both with sessions; and an image the Director encrypted for a vehicle, delivered in
// MQTT chunks (flow control, ordering) against the HTTP GET, in MB/s. Rounds alternate HTTP and
// MQTT, and each MQTT figure is divided by the HTTP figure of its own round.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { EncryptionKeyPair } from '../../shared/core/crypto/image-encryption.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import type { DirectorChannel, DirectorChannelContext } from '../../shared/uptane/director-channel.js';
import { httpDirectorChannel } from '../../shared/uptane/director-channel-http.js';
import { mqttDirectorChannel } from '../../shared/transport-mqtt/director-channel-mqtt.js';
import { startDirectorMqtt } from '../../director-repo/mqtt/director-mqtt.js';
import { downloadEncryptedImage } from '../../primary-ecu/encrypted-download.js';
import { hasMosquitto, startTestBroker, DIRECTOR_USER } from '../../sim/harness/mosquitto.js';
import type { TestVehicle } from '../../sim/harness/test-vehicle.js';
import { operatorOk, startBenchRepositories, testVehicle, type BenchContext } from '../lib/context.js';
import { writeRandomFile } from '../lib/files.js';
import { publishTargets, targetFor, uploadFile } from '../lib/publish.js';
import { overall, verdictOf, type Figure, type Row } from '../lib/report.js';
import { fmt, median, pct } from '../lib/stats.js';

const VEHICLES = 8;
/** Requests in flight at once, over all vehicles. */
const CONCURRENCY = 16;
const ROUNDS = 3;
/**
 * Image rounds: more than the request rates get, since a transfer of a few hundred milliseconds on
 * a shared host swings by a factor of two from one round to the next; each round's pair runs in
 * the other order from the round before, so neither transport always goes first.
 */
const IMAGE_ROUNDS = 5;
const IMAGE_TARGET = 0.5;
/** Chunks and windows of the image transfer (shared/transport-mqtt/chunked-download.ts). */
const TRANSFER = { windowsAhead: 3 };

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/**
 * CPU time (user + system, ms) of this process's child running `name` (the figure's Mosquitto), from
 * /proc; undefined without /proc or such a child. The broker's CPU belongs in MQTT's cost per byte.
 */
function childCpuMs(name: string): (() => number) | undefined {
  let pid: string | undefined;
  try {
    const children = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/);
    pid = children.find((child) => child !== '' && readFileSync(`/proc/${child}/cmdline`, 'utf8').includes(name));
  } catch {
    return undefined;
  }
  if (pid === undefined) return undefined;
  return () => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  };
}

const encryptionKeyBytes = (serial: string) => Uint8Array.from(createHash('sha256').update(`bench-f21/encryption/${serial}`).digest());

export async function figure21(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  const base = { id: 21, title: 'vehicle to Director over MQTT 5 against HTTP, same Director', target: `image delivery over MQTT chunks >= ${pct(IMAGE_TARGET)} of HTTP's MB/s; request rates reported`, baselineIs: 'the HTTP Director channel to the same Director, same round' };
  if (!hasMosquitto) {
    return { ...base, rows: [], verdict: 'INFO', notes: ['mosquitto is not installed (apt-get install mosquitto): figure 21 not measured'], seconds: 0 };
  }
  const vehicles = Array.from({ length: VEHICLES }, (_, i) => testVehicle(ctx, `BENCHF21${String(i).padStart(6, '0')}`, 1));
  const broker = await startTestBroker(vehicles.map((v) => v.vin));
  const repos = await startBenchRepositories(ctx, 'f21');
  const bridge = await startDirectorMqtt(repos.director.services, { broker: { url: broker.urlFor(DIRECTOR_USER) } });
  const closers: Array<() => unknown> = [];
  const notes: string[] = [];
  const durationMs = ctx.settings.quick ? 1_000 : 2_000;
  const imageMiB = Math.min(ctx.settings.imageMiB, ctx.settings.quick ? 16 : 64);
  try {
    // The image, encrypted by the Director for vehicle 0's primary: served by the Director on both transports.
    const path = join(ctx.tmp, 'f21-image.bin');
    writeRandomFile(path, imageMiB);
    const imageName = 'bench/f21-image.bin';
    await publishTargets(repos, 1, { [imageName]: targetFor(await uploadFile(repos, path), ['tcu'], 1) });
    for (const v of vehicles) {
      const registration = v.registration();
      await operatorOk(repos, 'POST', '/api/v1/vehicles', {
        ...registration,
        ecus: registration.ecus.map((e) => ({ ...e, encryptionPublicKey: EncryptionKeyPair.fromPrivateBytes(encryptionKeyBytes(e.serial)).publicKey.hex })),
      });
    }
    await operatorOk(repos, 'POST', '/api/v1/assignments', { vin: vehicles[0]!.vin, ecuSerial: vehicles[0]!.primary.serial, image: imageName, encrypt: true });
    const ciphertext = readdirSync(join(repos.dataDir, 'director', 'encrypted-images')).find((f) => /^[0-9a-f]{64}\.enc$/.test(f));
    if (ciphertext === undefined) throw new Error('figure 21: the Director kept no ciphertext');

    const context = (v: TestVehicle): DirectorChannelContext => ({ directorUrl: repos.director.url, key: v.primary.key, backend: nodeBackend, clock: ctx.clock, log: () => undefined });
    const fetcher = new HttpFetcher();
    closers.push(() => fetcher.close());
    const http = vehicles.map((v) => httpDirectorChannel({ fetcher })(context(v)));
    const mqtt = vehicles.map((v) => {
      const made = mqttDirectorChannel({ broker: { url: broker.urlFor(v.vin) }, vin: v.vin, transfer: TRANSFER });
      closers.push(() => made.close());
      return made.factory(context(v));
    });
    for (const channel of [...http, ...mqtt]) await channel.openSession();

    const drain = async (body: AsyncIterable<Uint8Array>) => {
      let n = 0;
      for await (const chunk of body) n += chunk.length;
      return n;
    };
    /** Requests per second: CONCURRENCY loops, each on one vehicle's channel, for durationMs. */
    const rate = async (channels: readonly DirectorChannel[], request: (channel: DirectorChannel, vehicle: TestVehicle) => Promise<void>) => {
      let done = 0;
      const until = performance.now() + durationMs;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, lane) => {
          // Manifests of one vehicle go in order (report counters): one lane per vehicle for those.
          const i = lane % channels.length;
          while (performance.now() < until) {
            await request(channels[i]!, vehicles[i]!);
            done++;
          }
        }),
      );
      return done / ((performance.now() - t0) / 1000);
    };
    const metadata = (channel: DirectorChannel) => channel.fetchMetadata('timestamp.json', { maxBytes: 1_000_000 }).then((r) => drain(r.body)).then(() => undefined);
    const manifestLanes = new Map<TestVehicle, Promise<void>>();
    const manifest = (channel: DirectorChannel, vehicle: TestVehicle) => {
      // Lanes sharing a vehicle take turns: its counters must reach the Director in order.
      const previous = manifestLanes.get(vehicle) ?? Promise.resolve();
      const next = previous.then(async () => {
        const delivery = await channel.sendManifest(Buffer.from(JSON.stringify(vehicle.manifest())));
        if (!delivery.accepted) throw new Error(`figure 21: manifest refused: ${delivery.refusal}`);
      });
      manifestLanes.set(vehicle, next);
      return next;
    };
    // What the primary does with it: into a .part file, hashed, synced, checked against the signed length and SHA-256.
    const ciphertextBytes = readFileSync(join(repos.dataDir, 'director', 'encrypted-images', ciphertext));
    const signed = { filename: ciphertext, length: ciphertextBytes.length, hashes: { sha256: createHash('sha256').update(ciphertextBytes).digest('hex') } };
    const destination = join(ctx.tmp, 'f21-downloaded.enc');
    const delivered = async (channel: DirectorChannel) => {
      rmSync(destination, { force: true });
      const t0 = performance.now();
      await downloadEncryptedImage(channel, signed, destination);
      const mbps = signed.length / 1e6 / ((performance.now() - t0) / 1000);
      rmSync(destination, { force: true });
      return mbps;
    };
    const image = async (channel: DirectorChannel) => {
      const t0 = performance.now();
      const bytes = await drain((await channel.fetchImage(ciphertext, { maxBytes: imageMiB * 1024 * 1024 + 1024 * 1024 })).body);
      return bytes / 1e6 / ((performance.now() - t0) / 1000);
    };

    const results = { metadata: [] as Array<[number, number]>, manifests: [] as Array<[number, number]>, image: [] as Array<[number, number]>, delivered: [] as Array<[number, number]> };
    // CPU spent on the image transfers: this process (vehicle and Director alike) and the broker.
    const brokerCpu = childCpuMs('mosquitto');
    const cpu = { http: { process: 0, broker: 0, bytes: 0 }, mqtt: { process: 0, broker: 0, bytes: 0 } };
    const timed = async (transport: 'http' | 'mqtt', measure: (channel: DirectorChannel) => Promise<number>): Promise<number> => {
      const [process0, broker0] = [process.cpuUsage(), brokerCpu?.() ?? 0];
      const mbps = await measure(transport === 'http' ? http[0]! : mqtt[0]!);
      const used = process.cpuUsage(process0);
      cpu[transport].process += (used.user + used.system) / 1000;
      cpu[transport].broker += (brokerCpu?.() ?? 0) - broker0;
      cpu[transport].bytes += signed.length;
      return mbps;
    };
    /** One HTTP and one MQTT measurement, in the order of the round. */
    const pair = async (round: number, measure: (channel: DirectorChannel) => Promise<number>): Promise<[number, number]> => {
      if (round % 2 === 0) return [await timed('http', measure), await timed('mqtt', measure)];
      const m = await timed('mqtt', measure);
      return [await timed('http', measure), m];
    };
    for (let round = 0; round < Math.max(ROUNDS, IMAGE_ROUNDS); round++) {
      if (round < ROUNDS) {
        results.metadata.push([await rate(http, metadata), await rate(mqtt, metadata)]);
        results.manifests.push([await rate(http, manifest), await rate(mqtt, manifest)]);
      }
      results.image.push(await pair(round, image));
      results.delivered.push(await pair(round, delivered));
    }
    const spread = (pairs: Array<[number, number]>) => pairs.map(([h, m]) => pct(m / h)).join(', ');
    const row = (label: string, pairs: Array<[number, number]>, unit: string, target?: number): Row => {
      const ratio = median(pairs.map(([h, m]) => m / h));
      return {
        label,
        value: `${fmt(median(pairs.map(([, m]) => m)))} ${unit}`,
        baseline: `${fmt(median(pairs.map(([h]) => h)))} ${unit}`,
        ratio: pct(ratio),
        ...(target === undefined ? {} : { verdict: verdictOf(ratio >= target) }),
      };
    };
    const rows: Row[] = [
      row(`metadata GETs (timestamp.json), ${VEHICLES} vehicles, ${CONCURRENCY} in flight`, results.metadata, 'req/s'),
      row(`vehicle version manifests, ${VEHICLES} vehicles`, results.manifests, 'req/s'),
      row(`encrypted image, ${imageMiB} MiB, delivered to the primary (.part file, SHA-256, fsync, checked; median of ${IMAGE_ROUNDS} pairs: ${spread(results.delivered)})`, results.delivered, 'MB/s', IMAGE_TARGET),
      row(`the same image, bytes received and dropped (the transport alone; median of ${IMAGE_ROUNDS} pairs: ${spread(results.image)})`, results.image, 'MB/s'),
    ];
    // MB per CPU second over both image rows: steadier than MB/s on a shared host, since it does not
    // count the time spent waiting for a core; what MB/s would be if CPU alone limited the transfer.
    const perCpuSecond = (t: typeof cpu.http) => t.bytes / 1e6 / ((t.process + t.broker) / 1000);
    rows.push({
      label: `MB per CPU second over both image rows (this process's CPU: vehicle and Director; MQTT adds the broker's${brokerCpu === undefined ? ', not measured here (no /proc)' : `: ${fmt(cpu.mqtt.broker / cpu.mqtt.process * 100)}% of the process's`})`,
      value: `${fmt(perCpuSecond(cpu.mqtt))} MB/CPU-s`,
      baseline: `${fmt(perCpuSecond(cpu.http))} MB/CPU-s`,
      ratio: pct(perCpuSecond(cpu.mqtt) / perCpuSecond(cpu.http)),
    });
    notes.push(
      'MQTT: every request and answer crosses the broker twice (vehicle to broker to Director and back). Requests and answers at QoS 1; an image\'s chunks at QoS 0 (the vehicle finds a lost one by the gap in its window and asks for it again), 512 KiB each, in windows of 4 MiB, three ahead.',
      'Client, broker and Director share this host\'s cores; the HTTP baseline has no broker in between. Manifests include signing them on the client, the same on both.',
      `Director bridge handled ${bridge.stats.handled} MQTT requests, refused ${bridge.stats.refusedBusy} as busy.`,
    );
    return { ...base, rows, verdict: overall(rows), notes, seconds: (performance.now() - started) / 1000 };
  } finally {
    for (const close of closers.reverse()) await close();
    await bridge.stop();
    await repos.close();
    await broker.close();
    for (const v of vehicles) v.cleanup();
  }
}
