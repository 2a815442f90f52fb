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
const IMAGE_TARGET = 0.5;
/** Chunks and windows of the image transfer (shared/transport-mqtt/chunked-download.ts). */
const TRANSFER = { windowsAhead: 3 };

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
    for (let round = 0; round < ROUNDS; round++) {
      results.metadata.push([await rate(http, metadata), await rate(mqtt, metadata)]);
      results.manifests.push([await rate(http, manifest), await rate(mqtt, manifest)]);
      results.image.push([await image(http[0]!), await image(mqtt[0]!)]);
      results.delivered.push([await delivered(http[0]!), await delivered(mqtt[0]!)]);
    }
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
      row(`encrypted image, ${imageMiB} MiB, delivered to the primary (.part file, SHA-256, fsync, checked)`, results.delivered, 'MB/s', IMAGE_TARGET),
      row(`the same image, bytes received and dropped (the transport alone)`, results.image, 'MB/s'),
    ];
    notes.push(
      'MQTT: every request and answer crosses the broker twice (vehicle to broker to Director and back), QoS 1 with acknowledgements; chunks of 1 MiB, windows of 4 MiB, three ahead.',
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
