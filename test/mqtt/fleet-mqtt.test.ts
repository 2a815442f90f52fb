// The fleet simulator runs vehicles over HTTP and over MQTT in one fleet (issue 22 item 4): a YAML
// profile with a `transport: mqtt` kind beside an HTTP one, against the real Director (bridged to a
// Mosquitto of this file's own, per-vehicle logins and ACLs) and Image repository; one round installs
// on every vehicle, whichever way it reaches the Director.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { Fleet } from '../../sim/fleet.js';
import { parseFleetProfileText } from '../../sim/control/profile.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { startTestBroker, DIRECTOR_USER, type TestBroker } from '../../sim/harness/mosquitto.js';
import { mqttSuite } from './mqtt-suite.js';

const ECM: FixtureImage = { name: 'engine/ecm-2.bin', content: Buffer.alloc(300 * 1024, 9), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const PROFILE = `
seed: mixed
concurrency: 4
profiles:
  wired:
    primary: { name: tcu, hardwareId: tcu-a }
    secondaries: [{ name: ecm, hardwareId: ecm-x1 }]
    transport: http
  connected:
    primary: { name: tcu, hardwareId: tcu-a }
    secondaries: [{ name: ecm, hardwareId: ecm-x1 }, { name: abs, hardwareId: abs-z, verification: full }]
    transport: mqtt
vehicles:
  - { profile: wired, count: 2 }
  - { profile: connected, count: 3 }
assign:
  - { hardwareId: ecm-x1, image: engine/ecm-2.bin }
`;

let broker: TestBroker;
let repos: Repositories;
let dir: string;

mqttSuite('a fleet over HTTP and MQTT at once', () => {
  const profile = parseFleetProfileText(PROFILE);
  const vins = Array.from({ length: 5 }, (_, i) => Fleet.vinFor(profile.seed, i));

  beforeAll(async () => {
    broker = await startTestBroker(vins);
    repos = await startRepositories(new FixedClock(FIXTURE_NOW), 'mqtt-fleet', { mqtt: { broker: { url: broker.urlFor(DIRECTOR_USER) } } });
    await repos.publishImages([ECM]);
    dir = mkdtempSync(join(tmpdir(), 'uptane-mqtt-fleet-'));
  });
  afterAll(async () => {
    await repos?.close();
    await broker?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('profile transport mqtt: those vehicles reach the Director and their secondaries through the broker; one round installs everywhere', async () => {
    expect(profile.groups.map((g) => g.transport)).toEqual(['http', 'mqtt']);
    const fleet = await Fleet.start({
      size: 0,
      secondariesPerVehicle: 0,
      seed: profile.seed,
      groups: profile.groups,
      concurrency: profile.concurrency,
      directory: dir,
      directorUrl: repos.director.url,
      imageRepoUrl: repos.image.url,
      directorRoot: repos.directorRoot,
      imageRoot: repos.imageRoot,
      clock: new FixedClock(FIXTURE_NOW),
      mqtt: { url: (vin) => broker.urlFor(vin) },
      register: async (registration) => {
        const result = await repos.operator('POST', '/api/v1/vehicles', registration);
        if (result.status !== 201) throw new Error(JSON.stringify(result.json));
      },
    });
    try {
      expect((await repos.operator('POST', '/api/v1/assignments', { vins, hardwareId: 'ecm-x1', image: ECM.name })).status).toBe(201);
      const cycles = await fleet.runRound();
      expect(cycles.map((c) => `${c.profile}:${c.status}`)).toEqual(['wired:installed', 'wired:installed', 'connected:installed', 'connected:installed', 'connected:installed']);
      for (const { installed } of fleet.installedImages()) expect(Object.values(installed)).toContain(ECM.name);
      expect(fleet.summary()).toMatchObject({ vehicles: 5, installs: 5, attacksDetected: 0 });
    } finally {
      await fleet.close();
    }
  });

  it('a profile transport other than in-process, http or mqtt is refused, naming the field', () => {
    expect(() => parseFleetProfileText(PROFILE.replace('transport: mqtt', 'transport: carrier-pigeon'))).toThrow(/profiles\.connected\.transport: must be in-process, http or mqtt/);
  });
});
