// The SUIT bridge end to end (docs/suit.md): a vehicle with one constrained secondary, against the real
// repositories. The primary verifies in full, signs a SUIT envelope with the vehicle's SUIT key, and
// the constrained ECU installs from it; its report reaches the Director like any other ECU's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import type { SecondaryTransport } from '../../shared/ecu/secondary-protocol.js';
import type { SuitReceiver } from '../../shared/suit/transport.js';
import { readSuitEnvelopeUnverified } from '../../shared/suit/envelope.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

const SENSOR: FixtureImage = { name: 'sensor/s1-4.bin', content: Buffer.from('sensor firmware v4 '.repeat(2000)), hardwareIds: ['sensor-s1'], releaseCounter: 4 };
const ENGINE: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };

let clock: FixedClock;
let repos: Repositories;
let dir: string;

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages([SENSOR, ENGINE]);
});

afterAll(async () => {
  await repos.close();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-suit-e2e-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The transport with its putSuit replaced: an observer or an attacker on the in-vehicle bus. */
function tapSuit(transport: SecondaryTransport, putSuit: (inner: SuitReceiver, envelope: Uint8Array, image: AsyncIterable<Uint8Array>) => Promise<void>): SecondaryTransport {
  const inner = transport as SecondaryTransport & SuitReceiver;
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'putSuit') return (envelope: Uint8Array, image: AsyncIterable<Uint8Array>) => putSuit(target, envelope, image);
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const assign = async (vin: string, ecuSerial: string, image: string) => expect((await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial, image })).status).toBe(201);

function vehicle(vin: string, tag: string, busTap?: (serial: string, transport: SecondaryTransport) => SecondaryTransport, transport?: 'http') {
  return registeredVehicle(repos, {
    ...(transport === undefined ? {} : { transport }),
    directory: join(dir, vin),
    vin,
    clock,
    primary: { serial: `${tag}tcu-1`, hardwareId: 'tcu-a' },
    secondaries: [
      { serial: `${tag}ecm-1`, hardwareId: 'ecm-x1' },
      { serial: `${tag}sensor-1`, hardwareId: 'sensor-s1' },
    ],
    constrained: [`${tag}sensor-1`],
    ...(busTap === undefined ? {} : { busTap }),
  });
}

describe('SUIT bridge', () => {
  it('a constrained secondary installs through the real repositories beside an Uptane one, and the Director hears it', async () => {
    const envelopes: Uint8Array[] = [];
    // Watches the bus: what the constrained ECU receives is a SUIT envelope, not Uptane metadata.
    const car = await vehicle('VINSUIT000000001', 's1-', (serial, transport) => {
      if (!serial.endsWith('sensor-1')) return transport;
      return tapSuit(transport, (inner, envelope, image) => {
        envelopes.push(envelope);
        return inner.putSuit(envelope, image);
      });
    });
    try {
      await assign('VINSUIT000000001', 's1-sensor-1', SENSOR.name);
      await assign('VINSUIT000000001', 's1-ecm-1', ENGINE.name);
      const result = await car.primary.runCycle();
      expect(result.status).toBe('installed');
      expect(car.installed()).toMatchObject({ 's1-sensor-1': SENSOR.name, 's1-ecm-1': ENGINE.name });
      expect(envelopes).toHaveLength(1);
      // The sequence number is the image's release counter from the verified targets.
      expect(readSuitEnvelopeUnverified(envelopes[0]!)).toMatchObject({ sequenceNumber: 4, imageSize: SENSOR.content.length, uri: SENSOR.name });
      expect(car.constrained.get('s1-sensor-1')!.sequenceNumber).toBe(4);
      // The next manifest reports it: the Director has nothing more for the vehicle.
      expect((await car.primary.runCycle()).status).toBe('no-update');
    } finally {
      await car.close();
    }
  });

  it('over the HTTP secondary transport: envelope and image go as one PUT /suit stream, the constrained ECU installs, and an altered image is refused', async () => {
    const car = await vehicle('VINSUIT000000004', 's4-', undefined, 'http');
    try {
      await assign('VINSUIT000000004', 's4-sensor-1', SENSOR.name);
      await assign('VINSUIT000000004', 's4-ecm-1', ENGINE.name);
      expect((await car.primary.runCycle()).status).toBe('installed');
      expect(car.installed()).toMatchObject({ 's4-sensor-1': SENSOR.name, 's4-ecm-1': ENGINE.name });
      expect(car.constrained.get('s4-sensor-1')!.sequenceNumber).toBe(4);
    } finally {
      await car.close();
    }
    const tampered = await vehicle(
      'VINSUIT000000005',
      's5-',
      (serial, transport) => {
        if (!serial.endsWith('sensor-1')) return transport;
        // Altered between the primary and the HTTP client: the bytes cross the real socket altered.
        return tapSuit(transport, (inner, envelope, image) =>
          inner.putSuit(envelope, (async function* () {
            for await (const chunk of image) yield Buffer.from(chunk).map((b) => b ^ 0x01);
          })()),
        );
      },
      'http',
    );
    try {
      await assign('VINSUIT000000005', 's5-sensor-1', SENSOR.name);
      const result = await tampered.primary.runCycle();
      expect(result.outcomes['s5-sensor-1']).toMatchObject({ status: 'failed', code: 'suit_digest_mismatch' });
      expect(tampered.installed()['s5-sensor-1']).toBe('factory/sensor-s1.bin');
      expect(tampered.constrained.get('s5-sensor-1')!.slots.current.staged).toBeNull();
    } finally {
      await tampered.close();
    }
  });

  it('an image altered on the bus is refused by the constrained ECU with nothing installed, and reported to the Director', async () => {
    const car = await vehicle('VINSUIT000000002', 's2-', (serial, transport) => {
      if (!serial.endsWith('sensor-1')) return transport;
      return tapSuit(transport, (inner, envelope, image) =>
        inner.putSuit(envelope, (async function* () {
          for await (const chunk of image) yield Buffer.from(chunk).map((b) => b ^ 0xff);
        })()),
      );
    });
    try {
      await assign('VINSUIT000000002', 's2-sensor-1', SENSOR.name);
      const result = await car.primary.runCycle();
      expect(result.status).toBe('failed');
      expect(result.outcomes['s2-sensor-1']).toMatchObject({ status: 'failed', code: 'suit_digest_mismatch' });
      expect(car.installed()['s2-sensor-1']).toBe('factory/sensor-s1.bin');
      expect(car.constrained.get('s2-sensor-1')!.slots.current.staged).toBeNull();
      await car.primary.runCycle(); // its report carries the attack to the Director
      const view = await repos.operator('GET', '/api/v1/vehicles/VINSUIT000000002');
      expect(view.json.attacks).toEqual(expect.arrayContaining([expect.objectContaining({ ecuSerial: 's2-sensor-1', code: 'suit_digest_mismatch' })]));
    } finally {
      await car.close();
    }
  });

  it('an image the Director encrypted for the constrained ECU is not sent to it: it holds no key to decrypt it', async () => {
    const car = await vehicle('VINSUIT000000003', 's3-');
    try {
      expect((await repos.operator('POST', '/api/v1/assignments', { vin: 'VINSUIT000000003', ecuSerial: 's3-sensor-1', image: SENSOR.name, encrypt: true })).status).toBe(201);
      const result = await car.primary.runCycle();
      expect(result.outcomes['s3-sensor-1']).toMatchObject({ status: 'failed', code: 'secondary_failed' });
      expect(result.outcomes['s3-sensor-1']!.message).toContain('cannot decrypt');
      expect(car.installed()['s3-sensor-1']).toBe('factory/sensor-s1.bin');
    } finally {
      await car.close();
    }
  });
});
