// The fleet simulator runs vehicles over HTTP, over MQTT and through a caching gateway in one fleet
// (issue 22 item 4): a YAML profile whose kinds go direct over HTTP, over MQTT (the Director through
// a Mosquitto of this file's own), and `via: gateway` (the one gateway the fleet starts in front of
// both repositories), one of those over MQTT too. One round installs on every vehicle, and the
// gateway downloads the image from the Image repository once for all the vehicles behind it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { Fleet } from '../../sim/fleet.js';
import { parseFleetProfileText } from '../../sim/control/profile.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { startTestBroker, DIRECTOR_USER, type TestBroker } from '../../sim/harness/mosquitto.js';
import { mqttSuite } from '../mqtt/mqtt-suite.js';

const ECM: FixtureImage = { name: 'engine/ecm-2.bin', content: Buffer.alloc(300 * 1024, 9), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const PROFILE = `
seed: mixed-gw
concurrency: 4
profiles:
  wired:
    primary: { name: tcu, hardwareId: tcu-a }
    secondaries: [{ name: ecm, hardwareId: ecm-x1 }]
    transport: http
  connected:
    primary: { name: tcu, hardwareId: tcu-a }
    secondaries: [{ name: ecm, hardwareId: ecm-x1 }]
    transport: mqtt
  depot:
    primary: { name: tcu, hardwareId: tcu-a }
    secondaries: [{ name: ecm, hardwareId: ecm-x1 }, { name: abs, hardwareId: abs-z, verification: full }]
    transport: http
    via: gateway
  depot-connected:
    primary: { name: tcu, hardwareId: tcu-a }
    secondaries: [{ name: ecm, hardwareId: ecm-x1 }]
    transport: mqtt
    via: gateway
vehicles:
  - { profile: wired, count: 2 }
  - { profile: connected, count: 2 }
  - { profile: depot, count: 4 }
  - { profile: depot-connected, count: 2 }
`;

let broker: TestBroker;
let repos: Repositories;
let dir: string;

mqttSuite('a fleet over HTTP, MQTT and a caching gateway at once', () => {
  const profile = parseFleetProfileText(PROFILE);
  const vins = Array.from({ length: 10 }, (_, i) => Fleet.vinFor(profile.seed, i));

  beforeAll(async () => {
    broker = await startTestBroker(vins);
    repos = await startRepositories(new FixedClock(FIXTURE_NOW), 'gateway-fleet', { mqtt: { broker: { url: broker.urlFor(DIRECTOR_USER) } } });
    await repos.publishImages([ECM]);
    dir = mkdtempSync(join(tmpdir(), 'uptane-gateway-fleet-'));
  });
  afterAll(async () => {
    await repos?.close();
    await broker?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('profile via: gateway: those vehicles reach both repositories (over MQTT, the Image repository) through the one gateway the fleet starts; one round installs everywhere, the image downloaded upstream once for the gateway', async () => {
    expect(profile.groups.map((g) => `${g.transport}/${g.via ?? 'direct'}`)).toEqual(['http/direct', 'mqtt/direct', 'http/gateway', 'mqtt/gateway']);
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
      // The fixture's clock stands still, the gateway's own does not: every metadata request revalidates.
      gateway: { limits: { metadataFreshMs: 0 } },
      register: async (registration) => {
        const result = await repos.operator('POST', '/api/v1/vehicles', registration);
        if (result.status !== 201) throw new Error(JSON.stringify(result.json));
      },
    });
    try {
      expect(fleet.gateway).toBeDefined();
      const behindGateway = fleet.records.filter((r) => r.group.startsWith('depot')).map((r) => r.vehicle.spec);
      expect(behindGateway.map((spec) => [spec.directorUrl, spec.imageRepoUrl])).toEqual(Array.from({ length: 6 }, () => [fleet.gateway!.url, fleet.gateway!.url]));
      expect(fleet.records.filter((r) => !r.group.startsWith('depot')).every((r) => r.vehicle.spec.imageRepoUrl === repos.image.url)).toBe(true);

      expect((await repos.operator('POST', '/api/v1/assignments', { vins, hardwareId: 'ecm-x1', image: ECM.name })).status).toBe(201);
      const cycles = await fleet.runRound();
      expect(cycles.map((c) => `${c.profile}:${c.status}`)).toEqual([
        ...Array.from({ length: 2 }, () => 'wired:installed'),
        ...Array.from({ length: 2 }, () => 'connected:installed'),
        ...Array.from({ length: 4 }, () => 'depot:installed'),
        ...Array.from({ length: 2 }, () => 'depot-connected:installed'),
      ]);
      for (const { installed } of fleet.installedImages()) expect(Object.values(installed)).toContain(ECM.name);
      const summary = fleet.summary();
      expect(summary).toMatchObject({ vehicles: 10, installs: 10, attacksDetected: 0 });
      // Six vehicles behind the gateway, one upstream download of the image.
      expect(summary.gateway).toMatchObject({ imageFills: 1, imageFillBytes: ECM.content.length });
      expect(summary.gateway!.imageHits + summary.gateway!.imageJoins).toBe(6);
      // The HTTP ones' Director requests went through it; the MQTT ones' went by the broker.
      expect(summary.gateway!.directorRequests).toBeGreaterThanOrEqual(4 * 3);
    } finally {
      await fleet.close();
    }
    expect(fleet.summary().gateway).toBeDefined(); // its counts outlive it, for the summary printed after the run
    // Ten vehicles with their secondaries, a broker and a gateway: under three test files at once on
    // two cores this has run past the default 30 s.
  }, 120_000);

  it('a profile via other than direct or gateway is refused, naming the field', () => {
    expect(() => parseFleetProfileText(PROFILE.replace('via: gateway', 'via: satellite'))).toThrow(/profiles\.depot\.via: must be direct or gateway/);
  });
});
