// The primary ECU polls the Director with a session token (POST /vehicle/session once, signed; then
// Bearer), renews it before it runs out, recovers when a restarted Director refuses it, and falls
// back to signing each request when no session can be had. Real Image repository and Director on
// loopback, behind a transparent proxy that records each request the vehicle sends the Director.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { VEHICLE_AUTH_SCHEME } from '../../shared/uptane/vehicle-auth.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { authScheme, startManifestRecorder, type DirectorRequest, type ManifestRecorder } from '../support/attacker.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

const ECM_V2: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const ECM_V3: FixtureImage = { name: 'engine/ecm-3.0.bin', content: Buffer.from('engine ecu v3'), hardwareIds: ['ecm-x1'], releaseCounter: 3 };
const VIN = 'VINSESSION000001';

let clock: FixedClock;
let repos: Repositories;
let recorder: ManifestRecorder;
let dir: string;
let car: SimulatedVehicle;
let log: string[];
/** While true, the proxy forwards to a closed port: the Director cannot be reached. */
let directorDown = false;
/** A loopback port nothing listens on (port 1 is privileged and unused here). */
const UNREACHABLE = 'http://127.0.0.1:1';

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'session-polling');
  await repos.publishImages([ECM_V2, ECM_V3]);
  directorDown = false;
  recorder = await startManifestRecorder(() => (directorDown ? UNREACHABLE : repos.director.url));
  dir = mkdtempSync(join(tmpdir(), 'uptane-session-car-'));
  log = [];
  car = await registeredVehicle(repos, {
    directory: dir,
    vin: VIN,
    secondaries: [{ serial: 'ecm-1', hardwareId: 'ecm-x1' }],
    directorUrl: recorder.url,
    clock,
    log: (line) => log.push(line),
  });
});

afterEach(async () => {
  await recorder.close();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

const assign = async (image: FixtureImage) => expect((await repos.operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: 'ecm-1', image: image.name })).status).toBe(201);

/** The requests the vehicle sent the Director since `from`, as "METHOD path scheme status". */
const requestsSince = (from: number): string[] => recorder.requests.slice(from).map((r: DirectorRequest) => `${r.method} ${r.path} ${authScheme(r) ?? '-'} ${r.status}`);

/**
 * A cycle's Director metadata GETs, each authenticated with `scheme`: the next root (404 while
 * there is none), then timestamp, snapshot and targets as needed.
 */
function expectMetadataPoll(requests: readonly string[], scheme: string): void {
  expect(requests.length).toBeGreaterThan(0);
  const poll = new RegExp(`^GET /vehicle/metadata/(\\d+\\.root\\.json ${scheme} 404|[\\w.]+\\.json ${scheme} 200)$`);
  expect(requests).toEqual(requests.map(() => expect.stringMatching(poll)));
  expect(requests.filter((r) => r.endsWith(' 200')).length).toBeGreaterThan(0);
}

const tokenOf = (r: DirectorRequest) => (authScheme(r) === 'Bearer' ? r.authorization!.slice('Bearer '.length) : undefined);

/** What the Director shows about the vehicle: its manifests (newest first), assignments and attacks. */
async function directorView(): Promise<{ manifests: Array<{ accepted: boolean }>; assignments: Array<{ filename: string; state: string }>; attacks: unknown[] }> {
  const status = await repos.operator('GET', `/api/v1/vehicles/${VIN}`);
  expect(status.status).toBe(200);
  return status.json as never;
}

describe('the primary polls the Director with a session', () => {
  it('signs one request per session and sends the manifest and every metadata GET with the token', async () => {
    await assign(ECM_V2);
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed', manifestSent: true });
    const first = requestsSince(0);
    expect(first[0]).toBe(`POST /vehicle/session ${VEHICLE_AUTH_SCHEME} 201`);
    expect(first[1]).toBe('POST /vehicle/manifest Bearer 200');
    expectMetadataPoll(first.slice(2), 'Bearer');
    expect(new Set(recorder.requests.map(tokenOf).filter((t) => t !== undefined)).size).toBe(1);

    // The next cycles need no signature at all, and the Director took every manifest.
    const mark = recorder.requests.length;
    expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    const later = requestsSince(mark);
    expect(later.filter((r) => r.startsWith('POST'))).toEqual(['POST /vehicle/manifest Bearer 200', 'POST /vehicle/manifest Bearer 200']);
    expectMetadataPoll(later.filter((r) => r.startsWith('GET')), 'Bearer');
    const view = await directorView();
    expect(view.manifests.map((m) => m.accepted)).toEqual([true, true, true]);
    expect(view.assignments.map((a) => a.state)).toEqual(['installed']);
  });

  it('renews the session when less than two minutes are left, and not before', async () => {
    await car.primary.runCycle();
    const firstToken = tokenOf(recorder.requests[1]!);
    clock.advance(12 * 60 * 1000); // three minutes left: kept
    let mark = recorder.requests.length;
    await car.primary.runCycle();
    const kept = requestsSince(mark);
    expect(kept[0]).toBe('POST /vehicle/manifest Bearer 200');
    expectMetadataPoll(kept.slice(1), 'Bearer');
    expect(new Set(recorder.requests.slice(mark).map(tokenOf))).toEqual(new Set([firstToken]));

    clock.advance(60 * 1000 + 1); // under two minutes left: renewed before the cycle's first Director request
    mark = recorder.requests.length;
    expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    const renewal = requestsSince(mark);
    expect(renewal.slice(0, 2)).toEqual([`POST /vehicle/session ${VEHICLE_AUTH_SCHEME} 201`, 'POST /vehicle/manifest Bearer 200']);
    expectMetadataPoll(renewal.slice(2), 'Bearer');
    const renewedToken = tokenOf(recorder.requests[mark + 1]!);
    expect(renewedToken).not.toBe(firstToken);
    expect(new Set(recorder.requests.slice(mark + 1).map(tokenOf))).toEqual(new Set([renewedToken]));
  });

  it('after the Director restarts on the same data, the refused token is replaced and the manifest accepted', async () => {
    await car.primary.runCycle();
    await repos.restartDirector();
    await assign(ECM_V3);
    const mark = recorder.requests.length;
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed', manifestSent: true });
    const after = requestsSince(mark);
    expect(after.slice(0, 3)).toEqual(['POST /vehicle/manifest Bearer 401', `POST /vehicle/session ${VEHICLE_AUTH_SCHEME} 201`, 'POST /vehicle/manifest Bearer 200']);
    expectMetadataPoll(after.slice(3), 'Bearer');
    expect(car.installed()['ecm-1']).toBe(ECM_V3.name);

    // The refused request left no trace at the Director; no attack anywhere.
    await car.primary.runCycle(); // reports the install
    const view = await directorView();
    expect(view.manifests.map((m) => m.accepted)).toEqual([true, true, true]);
    expect(view.assignments.map((a) => `${a.filename}:${a.state}`)).toEqual([`${ECM_V3.name}:installed`]);
    expect(view.attacks).toEqual([]);
    expect(car.primary.reportedAttacks).toEqual([]);
  });

  it('an unreachable Director fails the cycle as a fault: no attack reported, a new session next time', async () => {
    await car.primary.runCycle();
    directorDown = true;
    expect(await car.primary.runCycle()).toMatchObject({ status: 'failed', manifestSent: false, error: { code: 'fetch_failed' } });
    // A network failure is not an attack: reporting it would halt every campaign the car is in.
    expect(car.primary.reportedAttacks).toEqual([]);
    expect(log.some((line) => line.includes('fault, not an attack') && line.includes('fetch_failed'))).toBe(true);

    directorDown = false;
    await assign(ECM_V2);
    const mark = recorder.requests.length;
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed', manifestSent: true });
    // The refused cycle dropped the session (the Director may have restarted): a new one first.
    expect(requestsSince(mark).slice(0, 2)).toEqual([`POST /vehicle/session ${VEHICLE_AUTH_SCHEME} 201`, 'POST /vehicle/manifest Bearer 200']);
    expect((await directorView()).attacks).toEqual([]);
  });

  it('signs every request when no session can be had, reports no attack, and opens one once it can', async () => {
    recorder.dropSessions = true;
    await assign(ECM_V2);
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed', manifestSent: true });
    const without = requestsSince(0);
    expect(without[0]).toBe(`POST /vehicle/session ${VEHICLE_AUTH_SCHEME} 0`);
    expect(without[1]).toBe(`POST /vehicle/manifest ${VEHICLE_AUTH_SCHEME} 200`);
    expectMetadataPoll(without.slice(2), VEHICLE_AUTH_SCHEME);
    expect(log.some((line) => line.includes('no Director session') && line.includes('signing each request instead'))).toBe(true);
    expect(car.primary.reportedAttacks).toEqual([]);

    recorder.dropSessions = false;
    const mark = recorder.requests.length;
    expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    const withSession = requestsSince(mark);
    expect(withSession.slice(0, 2)).toEqual([`POST /vehicle/session ${VEHICLE_AUTH_SCHEME} 201`, 'POST /vehicle/manifest Bearer 200']);
    expectMetadataPoll(withSession.slice(2), 'Bearer');
    const view = await directorView();
    expect(view.manifests.map((m) => m.accepted)).toEqual([true, true]);
    expect(view.attacks).toEqual([]);
  });
});
