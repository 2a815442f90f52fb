// The simulator as an integration-test engineer drives it (issue 20): SimulatedFleet against a real
// Director and Image repository on loopback. A fleet from a YAML profile (two kinds of vehicle, one
// reaching its secondary over HTTP) updates in one step; a vehicle set driving defers while the others
// install; a fault and an attack switched on make cycles fail with their codes and switched off let
// the same vehicles recover; the vehicles' clock moved past the metadata's expiry gets the typed
// refusal; the results read as NDJSON and as JUnit XML with a <failure> per failed cycle.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { BadRequestError, FetchError, NotFoundError, SimulationProfileError } from '../../shared/core/errors.js';
import { OperatorClient } from '../../director-repo/operator-client.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { parseFleetProfileText } from '../../sim/control/profile.js';
import { resultsJunit, resultsNdjson } from '../../sim/control/results.js';
import { SimulatedFleet } from '../../sim/control/simulated-fleet.js';
import { parseXml, type XmlElement } from '../support/xml.js';

const ECM_V2 = { name: 'harness/ecm-2.bin', content: Buffer.from('engine controller v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };

const PROFILE = `
seed: harness
concurrency: 4
profiles:
  sedan:
    primary: { name: tcu, hardwareId: tcu-a }
    secondaries:
      - { name: ecm, hardwareId: ecm-x1, verification: full }
      - { name: abs, hardwareId: abs-z }
  truck:
    transport: http
    primary: { hardwareId: tcu-b }
    secondaries:
      - { name: ecm, hardwareId: ecm-x1 }
vehicles:
  - { profile: sedan, count: 2 }
  - { profile: truck, count: 1 }
assign:
  - { hardwareId: ecm-x1, image: harness/ecm-2.bin }
`;

let clock: FixedClock;
let repos: Repositories;
let dir: string;
let operator: OperatorClient;
let fleet: SimulatedFleet | undefined;

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'harness');
  await repos.publishImages([ECM_V2]);
  dir = mkdtempSync(join(tmpdir(), 'uptane-harness-'));
  operator = new OperatorClient(repos.director.url, OPERATOR_TOKEN, 'UPTANE_OPERATOR_TOKEN');
});

afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
  operator.close();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

function start(profile: string): Promise<SimulatedFleet> {
  return SimulatedFleet.start({
    profile: parseFleetProfileText(profile),
    directory: dir,
    directorUrl: repos.director.url,
    imageRepoUrl: repos.image.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    clock,
    operator,
  });
}

const ecmOf = (f: SimulatedFleet, vin: string) => f.vehicle(vin).installed[`${vin}-ecm`];
const children = (e: XmlElement, name: string) => e.children.filter((c) => c.name === name);

describe('SimulatedFleet, the programmatic harness', () => {
  it('starts a fleet from a YAML profile; a vehicle set driving defers while the others install, then installs parked', async () => {
    fleet = await start(PROFILE);
    const [sedan1, sedan2, truck] = fleet.vins as [string, string, string];
    expect(fleet.vehicles().map((v) => v.profile)).toEqual(['sedan', 'sedan', 'truck']);
    // The profile's ECUs were registered as written: hardware ids and serials <VIN>-<name>.
    const registered = await repos.operator('GET', `/api/v1/vehicles/${truck}`);
    expect(JSON.stringify(registered.json)).toContain(`${truck}-ecm`);

    fleet.setVehicleState(sedan2, 'driving');
    const first = await fleet.step();
    expect(Object.fromEntries(first.map((c) => [c.vin, c.status]))).toEqual({ [sedan1]: 'installed', [sedan2]: 'deferred', [truck]: 'installed' });
    expect(ecmOf(fleet, sedan1)).toBe(ECM_V2.name);
    expect(ecmOf(fleet, truck)).toBe(ECM_V2.name); // over the HTTP transport
    expect(ecmOf(fleet, sedan2)).toBe('factory/ecm-x1.bin');

    fleet.setVehicleState(sedan2, 'parked');
    const second = await fleet.step([sedan2]);
    expect(second.map((c) => [c.vin, c.round, c.status])).toEqual([[sedan2, 2, 'installed']]);
    expect(ecmOf(fleet, sedan2)).toBe(ECM_V2.name);

    // NDJSON: every cycle in order, then the summary.
    const lines = resultsNdjson(fleet.results()).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.type)).toEqual(['cycle', 'cycle', 'cycle', 'cycle', 'summary']);
    expect(lines.filter((l) => l.vin === sedan2).map((l) => l.status)).toEqual(['deferred', 'installed']);
    expect(lines.at(-1)).toMatchObject({ type: 'summary', vehicles: 3, cycles: 4, installs: 3, byStatus: { installed: 3, deferred: 1, failed: 0 } });

    // JUnit: one suite per round, a case per cycle, no failure.
    const junit = parseXml(resultsJunit(fleet.results()));
    expect(junit.name).toBe('testsuites');
    expect(junit.attributes).toMatchObject({ tests: '4', failures: '0' });
    const suites = children(junit, 'testsuite');
    expect(suites.map((s) => [s.attributes.name, s.attributes.tests, s.attributes.failures])).toEqual([
      ['round 1', '3', '0'],
      ['round 2', '1', '0'],
    ]);
    expect(children(suites[0]!, 'testcase').map((c) => c.attributes.classname)).toEqual(['uptane.sim.sedan', 'uptane.sim.sedan', 'uptane.sim.truck']);
    expect(suites.flatMap((s) => children(s, 'testcase')).flatMap((c) => children(c, 'failure'))).toEqual([]);
  }, 60_000);

  it('a fault and an attack switched on fail their vehicles\' cycles with their codes, and switched off let them recover', async () => {
    fleet = await start(PROFILE);
    const [sedan1, sedan2, truck] = fleet.vins as [string, string, string];
    fleet.setFault('slow-downloads', true, [sedan1]);
    fleet.setAttack('tamper-images', true, [sedan2]);
    fleet.setFault('failing-boots', true, [truck]);
    expect(fleet.vehicle(sedan1).faults).toEqual(['slow-downloads']);
    expect(fleet.vehicle(truck).faults).toEqual(['failing-boots']);
    expect(fleet.vehicle(sedan2).attacks).toEqual(['tamper-images']);

    const faulty = await fleet.step();
    const byVin = Object.fromEntries(faulty.map((c) => [c.vin, c]));
    expect([byVin[sedan1]!.status, byVin[sedan1]!.error?.code]).toEqual(['failed', 'slow_retrieval']);
    expect([byVin[sedan2]!.status, byVin[sedan2]!.error?.code]).toEqual(['failed', 'hash_mismatch']);
    // The truck's secondary (over HTTP) installed, failed its boot check and went back to its old image.
    expect([byVin[truck]!.status, byVin[truck]!.outcomes[`${truck}-ecm`]?.status]).toEqual(['failed', 'rolled_back']);
    expect(ecmOf(fleet, truck)).toBe('factory/ecm-x1.bin');
    expect(ecmOf(fleet, sedan1)).toBe('factory/ecm-x1.bin');
    expect(ecmOf(fleet, sedan2)).toBe('factory/ecm-x1.bin');

    // Each failed cycle is a <failure> whose type is the error's code.
    const junit = parseXml(resultsJunit(fleet.results()));
    expect(junit.attributes).toMatchObject({ tests: '3', failures: '3' });
    const failures = children(children(junit, 'testsuite')[0]!, 'testcase').flatMap((c) => children(c, 'failure').map((f) => [c.attributes.name, f.attributes.type]));
    expect(failures).toEqual([
      [`${sedan1} round 1`, 'slow_retrieval'],
      [`${sedan2} round 1`, 'hash_mismatch'],
      [`${truck} round 1`, byVin[truck]!.outcomes[`${truck}-ecm`]!.code],
    ]);

    fleet.setFault('slow-downloads', false, [sedan1]);
    fleet.setFault('failing-boots', false, [truck]);
    fleet.setAttack('tamper-images', false);
    expect(fleet.vehicles().flatMap((v) => [...v.faults, ...v.attacks])).toEqual([]);
    const recovered = await fleet.step([sedan1, sedan2]);
    expect(recovered.map((c) => c.status)).toEqual(['installed', 'installed']);
    expect(ecmOf(fleet, sedan1)).toBe(ECM_V2.name);
    expect(ecmOf(fleet, sedan2)).toBe(ECM_V2.name);
    // The Director heard of the tampering from the attacked vehicle.
    const status = await repos.operator('GET', `/api/v1/vehicles/${sedan2}`);
    expect((status.json.attacks as Array<{ code: string }>).map((a) => a.code)).toContain('hash_mismatch');
  }, 60_000);

  it('takes attacks defined by name (an attack catalogue\'s), switched like the built-in ones', async () => {
    fleet = await start(PROFILE);
    const [sedan1, sedan2] = fleet.vins as [string, string, string];
    // An attacker who cuts the vehicle off from the Image repository.
    fleet.defineAttack({
      name: 'block-image-repository',
      wrap: (inner) => ({
        fetch: (url, options) => (url.startsWith(repos.image.url) ? Promise.reject(new FetchError(`${url}: blocked by the attacker`)) : inner.fetch(url, options)),
        post: (url, options) => inner.post(url, options),
      }),
    });
    expect(() => fleet!.defineAttack({ name: 'power-cut', wrap: (inner) => inner })).toThrow(BadRequestError);
    expect(fleet.attackNames()).toContain('block-image-repository');
    fleet.setAttack('block-image-repository', true, [sedan1]);
    const blocked = await fleet.step([sedan1, sedan2]);
    expect(blocked.map((c) => [c.status, c.error?.code])).toEqual([
      ['failed', 'fetch_failed'],
      ['installed', undefined],
    ]);
    fleet.setAttack('block-image-repository', false, [sedan1]);
    expect((await fleet.step([sedan1])).map((c) => c.status)).toEqual(['installed']);
  }, 60_000);

  it('the vehicles\' clock set past the metadata\'s expiry gets the typed refusal; set back, they update', async () => {
    fleet = await start(PROFILE);
    const expiredAt = new Date('2027-06-02T00:00:00Z'); // after every role's expiry (FIXTURE_EXPIRES and the Director's online roles)
    fleet.clock.set(expiredAt);
    expect(fleet.clock.now().toISOString()).toBe(expiredAt.toISOString());
    expect(clock.now().toISOString()).toBe(FIXTURE_NOW.toISOString()); // the repositories keep their time
    const refused = await fleet.step();
    expect(refused.map((c) => [c.status, c.error?.code])).toEqual(Array(3).fill(['failed', 'expired']));
    expect(refused.every((c) => c.at === expiredAt.toISOString())).toBe(true);
    for (const vin of fleet.vins) expect(ecmOf(fleet, vin)).toBe('factory/ecm-x1.bin');

    fleet.clock.reset();
    expect((await fleet.step()).map((c) => c.status)).toEqual(['installed', 'installed', 'installed']);
  }, 60_000);

  it('refuses bad controls and bad profiles with typed errors, changing nothing', async () => {
    fleet = await start(PROFILE);
    const vin = fleet.vins[0]!;
    expect(() => fleet!.setFault('meteor', true)).toThrow(BadRequestError);
    expect(() => fleet!.setAttack('no-such-attack', true)).toThrow(/the attacks are tamper-images, replay-director-metadata/);
    expect(() => fleet!.setVehicleState('NOPE', 'driving')).toThrow(NotFoundError);
    expect(() => fleet!.setVehicleState(vin, 'flying' as 'parked')).toThrow(BadRequestError);
    // A selection naming one unknown VIN changes no vehicle.
    expect(() => fleet!.setFault('failing-boots', true, [vin, 'NOPE'])).toThrow(NotFoundError);
    expect(fleet.vehicles().flatMap((v) => v.faults)).toEqual([]);

    const bad: Array<[string, RegExp]> = [
      ['profiles: {}\nvehicles: []', /profile profiles: name at least one kind/],
      [PROFILE.replace('verification: full', 'verification: most'), /profiles\.sedan\.secondaries\[0\]\.verification: must be partial or full/],
      [PROFILE.replace('transport: http', 'transport: can-bus'), /profiles\.truck\.transport/],
      [PROFILE.replace('count: 2', 'count: 20000'), /vehicles\[0\]\.count: must be a whole number from 1 to 10000/],
      [PROFILE.replace('profile: truck', 'profile: bus'), /no profile named bus/],
      [PROFILE.replace('{ name: abs,', '{ name: ecm,'), /ECU name ecm is used twice/],
      [PROFILE.replace('concurrency: 4', 'concurency: 4'), /profile \(top\)\.concurency: unknown field/],
      [PROFILE.replace('seed: harness', 'seed: a\nseed: b'), /not valid YAML/],
      [`a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]`, /alias/i],
      ['x'.repeat(70_000), /larger than 65536 bytes/],
    ];
    for (const [text, message] of bad) {
      let error: unknown;
      try {
        parseFleetProfileText(text);
      } catch (err) {
        error = err;
      }
      expect([text.slice(0, 40), error]).toEqual([text.slice(0, 40), expect.any(SimulationProfileError)]);
      expect((error as Error).message).toMatch(message);
    }
  }, 60_000);
});
