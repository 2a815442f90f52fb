// A vehicle provisioned with `--transport mqtt://...` (vehicle/mqtt-transport.ts) and opened as
// `uptane vehicle run` opens it (vehicle/compose.ts), against a Director started with its `mqtt`
// option (director-repo/server.ts, what `uptane director serve --mqtt` passes) and a Mosquitto of this
// file's own: the folder keeps the broker URL without the password and the password in a 0600 file;
// the cycle goes over MQTT. The provisioning checks refuse a plain broker for a vehicle with a CA.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { openVehicle } from '../../vehicle/compose.js';
import { MQTT_PASSWORD_FILE, splitBrokerLogin } from '../../vehicle/mqtt-transport.js';
import { provisionVehicleFolder } from '../../vehicle/provision.js';
import { VEHICLE_FILES, type VehicleConfig } from '../../vehicle/folder.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { startTestBroker, DIRECTOR_USER, type TestBroker } from '../../sim/harness/mosquitto.js';
import { mqttSuite } from './mqtt-suite.js';

const VIN = 'VINMQTTPROVISN1';
const TCU: FixtureImage = { name: 'telematics/tcu-2.bin', content: Buffer.from('tcu v2 over mqtt'), hardwareIds: ['tcu-a'], releaseCounter: 2 };

let broker: TestBroker;
let repos: Repositories;
let dir: string;

mqttSuite('a vehicle provisioned with --transport mqtt://', () => {
  beforeAll(async () => {
    broker = await startTestBroker([VIN]);
    // `uptane vehicle run` reads the system clock: the fixture's clock is today, its metadata valid for a year.
    const now = new Date();
    repos = await startRepositories(new FixedClock(now), 'mqtt-provisioned', {
      expires: new Date(now.getTime() + 365 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      mqtt: { broker: { url: broker.urlFor(DIRECTOR_USER) } },
    });
    await repos.publishImages([TCU]);
    dir = mkdtempSync(join(tmpdir(), 'uptane-mqtt-provisioned-'));
  });
  afterAll(async () => {
    await repos?.close();
    await broker?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the password out of vehicle.json, runs its cycle through the broker, and installs', async () => {
    const plan = {
      vin: VIN,
      primary: { serial: `${VIN}-tcu`, hardwareId: 'tcu-a' },
      secondaries: [],
      directorUrl: 'http://127.0.0.1:1',
      imageRepoUrl: repos.image.url,
      directorRoot: repos.directorRoot,
      imageRoot: repos.imageRoot,
    };
    const keys = (serial: string) => SimulatedVehicle.keysFor({ vin: VIN }, serial);
    const { password } = broker.user(VIN);
    const { config, registration } = provisionVehicleFolder(dir, plan, keys, new Date().toISOString(), undefined, `mqtt://${VIN}:${encodeURIComponent(password)}@${new URL(broker.url).host}`);
    expect(config.transport).toEqual({ mqtt: `mqtt://${VIN}@${new URL(broker.url).host}` });
    expect(readFileSync(join(dir, VEHICLE_FILES.config), 'utf8')).not.toContain(password);
    expect(readFileSync(join(dir, MQTT_PASSWORD_FILE), 'utf8')).toBe(password);
    expect(statSync(join(dir, MQTT_PASSWORD_FILE)).mode & 0o777).toBe(0o600);
    expect((await repos.operator('POST', '/api/v1/vehicles', registration)).status).toBe(201);
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: `${VIN}-tcu`, image: TCU.name })).status).toBe(201);

    const lines: string[] = [];
    const vehicle = await openVehicle(dir, JSON.parse(readFileSync(join(dir, VEHICLE_FILES.config), 'utf8')) as VehicleConfig, new Map(), { log: (line) => lines.push(line) });
    try {
      // The HTTP Director URL leads nowhere: only the broker could have carried the cycle.
      const result = await vehicle.primary.runCycle();
      if (result.status !== 'installed') throw new Error(JSON.stringify({ result, lines }, null, 1));
      expect(vehicle.primary.slots.installed.filename).toBe(TCU.name);
    } finally {
      await Promise.resolve(vehicle.close());
    }
  });

  it('refuses a plain mqtt:// broker for a vehicle provisioned with a CA, and a URL that is not a broker', () => {
    expect(() => splitBrokerLogin('mqtt://broker.example:1883', VIN, { ca: '-----BEGIN CERTIFICATE-----' })).toThrow(/must be mqtts:\/\//);
    expect(() => splitBrokerLogin('http://broker.example', VIN, undefined)).toThrow(/mqtt:\/\/ or mqtts:\/\//);
    expect(splitBrokerLogin('mqtts://broker.example:8883', VIN, undefined)).toEqual({ url: `mqtts://${VIN}@broker.example:8883`, password: undefined });
  });
});
