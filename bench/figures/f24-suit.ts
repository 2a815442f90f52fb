// Figure 24: the SUIT bridge (issue 23 items 2 and 4). What a constrained secondary receives and does
// for one image, against what a partial-verification secondary receives and does for the same image
// in the same vehicle: bytes on the bus before the image (the SUIT envelope; the Director root and
// targets JSON a partial secondary reads, and the whole metadata bundle the primary sends it), and the
// time to verify them (verifySuitEnvelope and the device checks; the root parse and
// verifyDirectorTargetsPartial of secondary-ecu/secondary.ts, with the ECU's default Ed25519 backend
// and with node:crypto, which the SUIT path's WebCrypto uses). Both are captured from a real update
// cycle of a simulated vehicle against the bench repositories.
import { join } from 'node:path';
import { nobleBackend, nodeBackend, type Ed25519Backend } from '../../shared/core/crypto/ed25519.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { bundleFile, type MetadataBundle, type SecondaryTransport } from '../../shared/ecu/secondary-protocol.js';
import { verifyDirectorTargetsPartial } from '../../shared/uptane/uptane-checks.js';
import { verifySuitEnvelope } from '../../shared/suit/envelope.js';
import { importSuitVerifyKey, suitClassId, suitPublicKeyRaw, suitVendorId } from '../../shared/suit/identity.js';
import type { SuitReceiver } from '../../shared/suit/transport.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { startBenchRepositories, operatorOk, type BenchContext } from '../lib/context.js';
import type { Figure, Row } from '../lib/report.js';
import { fmt, timeLoop } from '../lib/stats.js';
import { readFileSync } from 'node:fs';

const VIN = 'BENCHSUIT0000001';
const IMAGE = { name: 'sensor/bench-s1-4.bin', content: Buffer.alloc(256 * 1024, 7), hardwareIds: ['sensor-s1'], releaseCounter: 4 };
const PARTIAL_IMAGE = { name: 'engine/bench-ecm-2.bin', content: Buffer.alloc(256 * 1024, 9), hardwareIds: ['ecm-x1'], releaseCounter: 2 };

export async function figure24(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  const maxMs = ctx.settings.quick ? 1_000 : 4_000;
  const repos = await startBenchRepositories(ctx, 'suit');
  const envelopes: Uint8Array[] = [];
  let bundle: MetadataBundle | undefined;
  const directory = join(ctx.tmp, 'f24');
  const car = await SimulatedVehicle.create({
    vin: VIN,
    primary: { serial: 'f24-tcu', hardwareId: 'tcu-a' },
    secondaries: [
      { serial: 'f24-ecm', hardwareId: 'ecm-x1' },
      { serial: 'f24-sensor', hardwareId: 'sensor-s1' },
    ],
    constrained: ['f24-sensor'],
    directorUrl: repos.director.url,
    imageRepoUrl: repos.image.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    directory,
    clock: ctx.clock,
    // Captures what crosses the bus to each kind of secondary.
    busTap: (serial, transport) => {
      const inner = transport as SecondaryTransport & Partial<SuitReceiver>;
      return new Proxy(inner, {
        get(target, property) {
          const value = Reflect.get(target, property) as unknown;
          if (typeof value !== 'function') return value;
          if (property === 'putSuit') return (envelope: Uint8Array, image: AsyncIterable<Uint8Array>) => (envelopes.push(envelope), target.putSuit!(envelope, image));
          if (property === 'putMetadata' && serial === 'f24-ecm') return (b: MetadataBundle) => ((bundle = b), target.putMetadata(b));
          return (value as (...args: unknown[]) => unknown).bind(target);
        },
      });
    },
  });
  try {
    await operatorOk(repos, 'POST', '/api/v1/vehicles', car.registration());
    await repos.publishImages([IMAGE, PARTIAL_IMAGE]);
    await operatorOk(repos, 'POST', '/api/v1/assignments', { vin: VIN, ecuSerial: 'f24-sensor', image: IMAGE.name });
    await operatorOk(repos, 'POST', '/api/v1/assignments', { vin: VIN, ecuSerial: 'f24-ecm', image: PARTIAL_IMAGE.name });
    const cycle = await car.primary.runCycle();
    if (cycle.status !== 'installed' || envelopes.length !== 1 || bundle === undefined) throw new Error(`figure 24: the update cycle did not install both images (${cycle.status})`);
    const envelope = envelopes[0]!;
    const metadata = bundle;

    // The partial secondary's inputs, as secondary-ecu/secondary.ts reads them.
    const rootName = Object.keys(metadata.director).filter((n) => /^\d+\.root\.json$/.test(n)).sort((a, b) => parseInt(b) - parseInt(a))[0]!;
    const targetsName = Object.keys(metadata.director).find((n) => /^(\d+\.)?targets\.json$/.test(n))!;
    const rootBytes = bundleFile(metadata.director, rootName)!;
    const targetsBytes = bundleFile(metadata.director, targetsName)!;
    const jsonBytes = rootBytes.length + targetsBytes.length;
    const bundleWire = Buffer.byteLength(JSON.stringify(metadata));
    const now = ctx.clock.now();
    const partial = (backend: Ed25519Backend) => () => {
      const root = parseMetadata(rootBytes, 'root', { repository: 'director' }).signed;
      const { target } = verifyDirectorTargetsPartial({ root, targetsBytes, previousTargets: undefined, ecuSerial: 'f24-ecm', hardwareId: 'ecm-x1', vin: VIN, now, backend });
      if (target === undefined) throw new Error('figure 24: the Director targets name no image for the partial secondary');
    };

    // The constrained secondary's work: the envelope (signature, structure) and its device checks.
    const suitKeyPem = readFileSync(join(directory, 'f24-tcu', 'suit-key.pem'), 'utf8');
    const trustedKey = await importSuitVerifyKey(suitPublicKeyRaw(suitKeyPem));
    const classId = Buffer.from(suitClassId(suitVendorId(), 'sensor-s1'));
    const suit = async () => {
      const m = await verifySuitEnvelope(envelope, trustedKey);
      if (!classId.equals(Buffer.from(m.classId)) || m.sequenceNumber < 4) throw new Error('figure 24: the envelope failed its device checks');
    };

    const suitRate = (await timeLoop(suit, { maxMs, maxCount: 200_000, minCount: 20 })).perSecond;
    const nobleRate = (await timeLoop(partial(nobleBackend), { maxMs, maxCount: 200_000, minCount: 20 })).perSecond;
    const nodeRate = (await timeLoop(partial(nodeBackend), { maxMs, maxCount: 200_000, minCount: 20 })).perSecond;
    const us = (perSecond: number) => `${fmt(1e6 / perSecond, 0)} us`;
    const rows: Row[] = [
      { label: 'SUIT envelope (bytes on the bus before the image)', value: `${envelope.length} B`, baseline: `${jsonBytes} B (Director root + targets JSON)`, ratio: fmt(envelope.length / jsonBytes, 3), verdict: 'INFO' },
      { label: 'SUIT envelope against the whole metadata bundle the primary sends a partial secondary', value: `${envelope.length} B`, baseline: `${bundleWire} B`, ratio: fmt(envelope.length / bundleWire, 4), verdict: 'INFO' },
      { label: 'verify: SUIT envelope and device checks (WebCrypto Ed25519)', value: us(suitRate), baseline: `${us(nodeRate)} (partial verification, node:crypto)`, ratio: fmt(nodeRate / suitRate, 2), verdict: 'INFO' },
      { label: 'verify: partial verification with the ECU default backend (@noble/ed25519)', value: us(nobleRate), baseline: us(suitRate), ratio: fmt(nobleRate === 0 ? 0 : suitRate / nobleRate, 2), verdict: 'INFO' },
    ];
    return {
      id: 24,
      title: 'SUIT bridge: envelope size and verification time against the JSON partial-verification path',
      target: 'informational (issue 23 item 4): a constrained ECU receives less and verifies faster than a partial-verification secondary',
      baselineIs: 'the same image handed to a partial-verification secondary of the same vehicle in the same cycle',
      rows,
      verdict: 'INFO',
      notes: [
        `One image per ECU, one Director targets file for a vehicle of three ECUs; the JSON sizes grow with the ECUs of the vehicle and the root's keys, the envelope does not (${envelope.length} B for any vehicle).`,
        'The verification ratio of row 3 is time per SUIT verification over time per partial verification (node:crypto both): above 1 means the SUIT path is slower. Row 4 compares with @noble/ed25519, the ECUs\' default backend.',
        'What is not compared: the guarantees. Partial verification checks the Director\'s own signature; the SUIT path trusts the primary\'s key (docs/suit.md).',
      ],
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await car.close();
    await repos.close();
  }
}
