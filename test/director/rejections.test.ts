// What the Director refuses, one test per attack or bad input (issue 4, "rejected with codes and
// recorded, nothing else changed"), against a real Image repository and a real Director on loopback.
// Each test asserts the HTTP status and error code, where the rejection is recorded (a vehicle's
// manifest history, or the audit log for operator requests), that assignments, installed images,
// report counters and the stored signed metadata bytes did not change, and that the next honest
// request still succeeds.
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { FixedClock } from '../../shared/core/clock.js';
import { signEnvelope } from '../../shared/uptane/manifest.js';
import type { TargetsSigned } from '../../shared/core/metadata/types.js';
import { signVehicleRequest } from '../../shared/uptane/vehicle-auth.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle, type TestEcu } from '../../sim/harness/test-vehicle.js';

const ENGINE_V1: FixtureImage = { name: 'engine/ecm-1.0.bin', content: Buffer.from('engine ecu v1'), hardwareIds: ['ecm-x1'], releaseCounter: 1 };
const ENGINE_V2: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const BRAKE_V7: FixtureImage = { name: 'brake/abs-7.bin', content: Buffer.from('brake ecu v7'), hardwareIds: ['abs-z'], releaseCounter: 7 };
const ROLES = ['targets', 'snapshot', 'timestamp'] as const;

let clock: FixedClock;
let repos: Repositories;
const vehicles: TestVehicle[] = [];

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'rejections');
  await repos.publishImages([ENGINE_V1, ENGINE_V2, BRAKE_V7]);
}, 60_000);

afterAll(async () => {
  for (const v of vehicles) v.cleanup();
  await repos.close();
});

const url = () => repos.director.url;

// ---------------------------------------------------------------------------------------------
// Helpers: a vehicle in a known state, a snapshot of everything the Director holds about it.

interface ErrorAnswer {
  status: number;
  json: Record<string, unknown>;
}

const errorCode = (answer: ErrorAnswer) => (answer.json.error as { code?: string } | undefined)?.code;

function expectRefused(answer: ErrorAnswer, status: number, code: string): void {
  expect({ status: answer.status, code: errorCode(answer) }).toEqual({ status, code });
  expect(typeof (answer.json.error as { message?: unknown }).message).toBe('string');
}

/**
 * A registered vehicle (primary and two secondaries, serials unique across the fleet) that has sent
 * one accepted manifest and, unless told otherwise, has ENGINE_V2 assigned to its engine ECU: so an
 * attack has an assignment to flip, installed images and counters to corrupt.
 */
async function prepare(vin: string, { assign = true } = {}): Promise<TestVehicle> {
  const car = new TestVehicle(
    vin,
    [
      { serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true },
      { serial: `${vin}-ecm`, hardwareId: 'ecm-x1' },
      { serial: `${vin}-abs`, hardwareId: 'abs-z' },
    ],
    clock,
  );
  vehicles.push(car);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  if (assign) expect((await repos.operator('POST', '/api/v1/assignments', { vin, ecuSerial: `${vin}-ecm`, image: ENGINE_V2.name })).status).toBe(201);
  expect(await car.sendManifest(url(), car.manifest())).toMatchObject({ status: 200 });
  return car;
}

const engine = (car: TestVehicle) => car.ecu(`${car.vin}-ecm`);
const brake = (car: TestVehicle) => car.ecu(`${car.vin}-abs`);
const installEngineV2 = (car: TestVehicle) => (engine(car).installed = { filename: ENGINE_V2.name, content: ENGINE_V2.content });

interface VehicleState {
  /** The operator's view, manifest history aside: ECUs, installed images, assignments, attacks. */
  readonly status: Record<string, unknown>;
  readonly manifests: Array<{ accepted: boolean; errorCode: string | null }>;
  readonly counters: Array<[string, number | null]>;
  /** The stored signed targets, snapshot and timestamp, byte for byte. */
  readonly metadata: Array<string | undefined>;
}

async function stateOf(vin: string): Promise<VehicleState> {
  const answer = await repos.operator('GET', `/api/v1/vehicles/${vin}`);
  expect(answer.status).toBe(200);
  const { manifests, ...status } = answer.json;
  const storage = repos.director.storage;
  return {
    status,
    manifests: manifests as VehicleState['manifests'],
    counters: (await storage.inventory.ecusOf(vin)).map((e) => [e.serial, e.lastCounter]),
    metadata: (await Promise.all(ROLES.map((role) => storage.vehicleMetadata.file(vin, role)))).map((file) => file?.bytes.toString('base64')),
  };
}

/** Nothing but the manifest history changed, and it gained exactly one rejection with `code`. */
async function expectRejectionRecorded(vin: string, before: VehicleState, code: string): Promise<void> {
  const after = await stateOf(vin);
  expect(after.status).toEqual(before.status);
  expect(after.counters).toEqual(before.counters);
  expect(after.metadata).toEqual(before.metadata);
  expect(after.manifests[0]).toMatchObject({ accepted: false, errorCode: code });
  expect(after.manifests.slice(1)).toEqual(before.manifests.slice(0, after.manifests.length - 1));
}

/** Nothing at all changed, history included. */
async function expectUnchanged(vin: string, before: VehicleState): Promise<void> {
  expect(await stateOf(vin)).toEqual(before);
}

/**
 * The next honest manifest is accepted even though it reuses the counters the refused one carried:
 * proof that the refusal recorded no counter.
 */
async function expectHonestManifestAccepted(car: TestVehicle, before: VehicleState): Promise<void> {
  for (const [serial, counter] of before.counters) car.ecu(serial).counter = counter ?? 0;
  expect(await car.sendManifest(url(), car.manifest())).toMatchObject({ status: 200, json: { accepted: true } });
}

async function auditLog(): Promise<Array<{ actor: string; action: string; details: Record<string, unknown> }>> {
  const answer = await repos.operator('GET', '/api/v1/audit?limit=1000');
  return answer.json.entries as Array<{ actor: string; action: string; details: Record<string, unknown> }>;
}

/** The newest audit entry records the refusal of `request` with `code`, by the fixture operator. */
async function expectRefusalAudited(request: string, code: string, entriesBefore: number): Promise<void> {
  const entries = await auditLog();
  expect(entries.length).toBe(entriesBefore + 1);
  expect(entries[0]).toMatchObject({ actor: 'fixture-operator', action: 'refused', details: { request, code } });
}

async function postManifestBytes(car: TestVehicle, body: Uint8Array, authorization = car.authHeader('POST', '/vehicle/manifest', body)): Promise<ErrorAnswer> {
  const response = await fetch(`${url()}/vehicle/manifest`, { method: 'POST', body, headers: { authorization, 'content-type': 'application/json' } });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function getVehicleFile(file: string, authorization: string | undefined): Promise<{ status: number; body: Buffer }> {
  const response = await fetch(`${url()}${file}`, { headers: authorization === undefined ? {} : { authorization } });
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
}

async function operatorRaw(method: string, path: string, body: string | undefined, authorization: string | undefined): Promise<ErrorAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== undefined) headers.authorization = authorization;
  const response = await fetch(`${url()}${path}`, { method, body, headers });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

// ---------------------------------------------------------------------------------------------
// Vehicle version manifests.

describe('manifests the Director refuses', () => {
  it('refuses a manifest signed by a key other than the primary ECU key (manifest_signature)', async () => {
    const car = await prepare('WRONGKEY1');
    const before = await stateOf(car.vin);
    installEngineV2(car); // accepted, this would mark the assignment installed
    const forged = car.manifest(undefined, PrivateKey.fromLabel('attacker'));
    expectRefused(await car.sendManifest(url(), forged), 400, 'manifest_signature');
    await expectRejectionRecorded(car.vin, before, 'manifest_signature');
    await expectHonestManifestAccepted(car, before);
  });

  it("refuses a secondary's version report signed by another ECU's key (manifest_signature)", async () => {
    const car = await prepare('ECUKEY1');
    const before = await stateOf(car.vin);
    installEngineV2(car);
    const reports = Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e)]));
    // The engine ECU speaks for the brake ECU; then the primary does (a compromised primary forging reports).
    reports[brake(car).serial] = car.report(brake(car), { signer: engine(car).key });
    expectRefused(await car.sendManifest(url(), car.manifest(reports)), 400, 'manifest_signature');
    reports[brake(car).serial] = car.report(brake(car), { signer: car.primary.key });
    expectRefused(await car.sendManifest(url(), car.manifest(reports)), 400, 'manifest_signature');
    const after = await stateOf(car.vin);
    expect(after.manifests.slice(0, 2)).toEqual([expect.objectContaining({ accepted: false, errorCode: 'manifest_signature' }), expect.objectContaining({ accepted: false, errorCode: 'manifest_signature' })]);
    expect({ ...after, manifests: after.manifests.slice(2) }).toEqual({ ...before, manifests: before.manifests.slice(0, after.manifests.length - 2) });
    await expectHonestManifestAccepted(car, before);
  });

  it('refuses a replayed manifest: the exact same bytes a second time (replayed_report)', async () => {
    const car = await prepare('REPLAY1');
    installEngineV2(car);
    const manifest = car.manifest();
    expect(await car.sendManifest(url(), manifest)).toMatchObject({ status: 200, json: { accepted: true, assignmentsChanged: 1 } });
    const before = await stateOf(car.vin);
    // A fresh request signature (the request layer is not what is tested here), the same manifest bytes.
    expectRefused(await car.sendManifest(url(), manifest), 400, 'replayed_report');
    await expectRejectionRecorded(car.vin, before, 'replayed_report');
    await expectHonestManifestAccepted(car, before);
  });

  it('refuses a manifest in which one ECU reuses a report counter, and records no counter of it (replayed_report)', async () => {
    const car = await prepare('COUNTER1');
    const before = await stateOf(car.vin);
    installEngineV2(car);
    const reports = Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e)]));
    // The brake ECU repeats the counter of its last accepted report; every other counter is fresh.
    reports[brake(car).serial] = car.report(brake(car), { counter: 1 });
    expectRefused(await car.sendManifest(url(), car.manifest(reports)), 400, 'replayed_report');
    await expectRejectionRecorded(car.vin, before, 'replayed_report');
    // A lower counter is a replay too.
    const lower = Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e, { counter: e.serial === brake(car).serial ? 0 : 5 })]));
    expectRefused(await car.sendManifest(url(), car.manifest(lower)), 400, 'replayed_report');
    // The fresh counters of the refused manifests were not recorded: the honest manifest reuses them.
    await expectHonestManifestAccepted(car, before);
  });

  it('refuses a manifest that leaves out a registered ECU (manifest_inventory)', async () => {
    const car = await prepare('MISSING1');
    const before = await stateOf(car.vin);
    installEngineV2(car);
    const reports = Object.fromEntries(car.ecus.filter((e) => e !== brake(car)).map((e) => [e.serial, car.report(e)]));
    const answer = await car.sendManifest(url(), car.manifest(reports));
    expectRefused(answer, 400, 'manifest_inventory');
    expect((answer.json.error as { message: string }).message).toContain(brake(car).serial);
    await expectRejectionRecorded(car.vin, before, 'manifest_inventory');
    await expectHonestManifestAccepted(car, before);
  });

  it('refuses a manifest that reports an ECU not registered to the vehicle (manifest_inventory)', async () => {
    const car = await prepare('UNKNOWN1');
    const other = await prepare('UNKNOWN2', { assign: false });
    const before = await stateOf(car.vin);
    const otherBefore = await stateOf(other.vin);
    installEngineV2(car);
    const ghost: TestEcu = { serial: 'ghost-ecu', hardwareId: 'ecm-x1', key: PrivateKey.fromLabel('ghost'), primary: false, installed: { filename: 'ghost.bin', content: Buffer.from('x') }, counter: 0 };
    const reports = Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e)]));
    expectRefused(await car.sendManifest(url(), car.manifest({ ...reports, [ghost.serial]: car.report(ghost) })), 400, 'manifest_inventory');
    // An ECU registered to another vehicle, with its own valid report, is just as unknown here.
    const stolen = brake(other);
    expectRefused(await car.sendManifest(url(), car.manifest({ ...reports, [stolen.serial]: other.report(stolen) })), 400, 'manifest_inventory');
    const after = await stateOf(car.vin);
    expect(after.manifests.slice(0, 2).map((m) => [m.accepted, m.errorCode])).toEqual([[false, 'manifest_inventory'], [false, 'manifest_inventory']]);
    expect({ ...after, manifests: [] }).toEqual({ ...before, manifests: [] });
    await expectUnchanged(other.vin, otherBefore);
    await expectHonestManifestAccepted(car, before);
  });

  it('refuses malformed manifests and records them (malformed_metadata)', async () => {
    const car = await prepare('MALFORMED1');
    const before = await stateOf(car.vin);
    expectRefused(await postManifestBytes(car, Buffer.from('{"signed": {"vin": ')), 400, 'malformed_metadata');
    await expectRejectionRecorded(car.vin, before, 'malformed_metadata');
    const notAManifest = await postManifestBytes(car, Buffer.from(JSON.stringify({ signed: { _type: 'vehicle_version_manifest', vin: car.vin }, signatures: [] })));
    expectRefused(notAManifest, 400, 'malformed_metadata');
    await expectHonestManifestAccepted(car, before);
  });

  it('refuses an oversized manifest with 413 before reading it, and records nothing', async () => {
    const car = await prepare('OVERSIZE1');
    const before = await stateOf(car.vin);
    const huge = Buffer.alloc(1_000_001, 0x20);
    // Refused before the body is read, so before it can be matched with the digest the signature
    // covers: the body is not the vehicle's yet, so nothing is written to any vehicle's history.
    expectRefused(await postManifestBytes(car, huge), 413, 'body_too_large');
    await expectUnchanged(car.vin, before);
    await expectHonestManifestAccepted(car, before);
  });

  it('refuses an oversized manifest sent without a declared length (chunked) with 413, and records nothing', async () => {
    const car = await prepare('OVERSIZE2');
    const before = await stateOf(car.vin);
    const huge = Buffer.alloc(1_000_001, 0x20);
    // A streamed body has no Content-Length: the Director stops reading at its cap instead.
    const chunks = (async function* () {
      for (let i = 0; i < huge.length; i += 65_536) yield huge.subarray(i, i + 65_536);
    })();
    const response = await fetch(`${url()}/vehicle/manifest`, {
      method: 'POST',
      body: chunks as unknown as RequestInit["body"],
      duplex: 'half',
      headers: { authorization: car.authHeader('POST', '/vehicle/manifest', huge), 'content-type': 'application/json' },
    } as RequestInit);
    expectRefused({ status: response.status, json: (await response.json()) as Record<string, unknown> }, 413, 'body_too_large');
    await expectUnchanged(car.vin, before);
    await expectHonestManifestAccepted(car, before);
  });
});

// ---------------------------------------------------------------------------------------------
// One vehicle posing as another.

describe('a vehicle posing as another', () => {
  it('records a manifest claiming another VIN against the vehicle that signed the request, never the claimed one', async () => {
    const a = await prepare('VICTIM1');
    const b = await prepare('POSER1', { assign: false });
    const beforeA = await stateOf(a.vin);
    const beforeB = await stateOf(b.vin);
    installEngineV2(a);
    // B replays A's genuine, A-signed manifest under B's own request signature.
    expectRefused(await a.sendManifest(url(), a.manifest(), b), 400, 'manifest_inventory');
    // B writes a manifest in A's name and signs it with its own primary key.
    const forged = signEnvelope({ ...b.manifest().signed, vin: a.vin }, b.primary.key, nodeBackend);
    expectRefused(await b.sendManifest(url(), forged), 400, 'manifest_inventory');
    await expectUnchanged(a.vin, beforeA);
    const afterB = await stateOf(b.vin);
    expect(afterB.manifests.slice(0, 2).map((m) => [m.accepted, m.errorCode])).toEqual([[false, 'manifest_inventory'], [false, 'manifest_inventory']]);
    expect({ ...afterB, manifests: [] }).toEqual({ ...beforeB, manifests: [] });
    await expectHonestManifestAccepted(a, beforeA);
    await expectHonestManifestAccepted(b, beforeB);
  });

  it("refuses a request that names the other vehicle's primary keyid but is signed with the vehicle's own key", async () => {
    const a = await prepare('VICTIM2');
    const b = await prepare('POSER2', { assign: false });
    const beforeA = await stateOf(a.vin);
    const header = b.authHeader('GET', '/vehicle/metadata/targets.json').replace(b.primary.key.keyid, a.primary.key.keyid);
    const answer = await getVehicleFile('/vehicle/metadata/targets.json', header);
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body.toString()).error.code).toBe('unauthorized');
    await expectUnchanged(a.vin, beforeA);
  });

  it("never serves another vehicle's targets: the VIN comes from the signing key, whatever the URL says", async () => {
    const a = await prepare('VICTIM3');
    const b = await prepare('POSER3', { assign: false });
    // Signed on first read (vehicle-metadata.ts): what the Director serves each vehicle now.
    for (const v of [a, b]) await repos.director.services.metadata.file(v.vin, 'targets.json');
    const aTargets = (await repos.director.storage.vehicleMetadata.file(a.vin, 'targets'))!;
    const bTargets = (await repos.director.storage.vehicleMetadata.file(b.vin, 'targets'))!;
    const vinOf = (bytes: Buffer) => (JSON.parse(bytes.toString()) as { signed: TargetsSigned }).signed.custom?.vin;
    expect(vinOf(aTargets.bytes)).toBe(a.vin);
    expect(Object.keys((JSON.parse(aTargets.bytes.toString()) as { signed: TargetsSigned }).signed.targets)).toEqual([ENGINE_V2.name]);

    // There is no URL naming a vehicle: B signs each of these with its own key and only ever gets its own file.
    for (const path of ['/vehicle/metadata/targets.json', `/vehicle/metadata/targets.json?vin=${a.vin}`, `/vehicle/metadata/${aTargets.version}.targets.json`]) {
      const answer = await getVehicleFile(path, b.authHeader('GET', path));
      if (answer.status === 404) continue; // A's version number is not one of B's files
      expect(answer.status).toBe(200);
      expect(vinOf(answer.body)).toBe(b.vin);
      expect(answer.body.equals(bTargets.bytes)).toBe(true);
    }
    expect((await getVehicleFile(`/vehicle/${a.vin}/metadata/targets.json`, b.authHeader('GET', `/vehicle/${a.vin}/metadata/targets.json`))).status).toBe(404);

    // The same through a session token B obtained with its key.
    const session = await fetch(`${url()}/vehicle/session`, { method: 'POST', headers: { authorization: b.authHeader('POST', '/vehicle/session') } });
    expect(session.status).toBe(201);
    const { token } = (await session.json()) as { token: string };
    const viaSession = await getVehicleFile('/vehicle/metadata/targets.json', `Bearer ${token}`);
    expect(vinOf(viaSession.body)).toBe(b.vin);

    // And through a full TUF refresh as each vehicle: each verifies targets carrying its own VIN and ECUs.
    const bUpdater = b.directorUpdater(url(), repos.directorRoot);
    await bUpdater.refresh();
    const seenByB = bUpdater.trusted.targets!.signed as TargetsSigned;
    expect(seenByB.custom?.vin).toBe(b.vin);
    expect(seenByB.targets).toEqual({});
    const aUpdater = a.directorUpdater(url(), repos.directorRoot);
    await aUpdater.refresh();
    const seenByA = aUpdater.trusted.targets!.signed as TargetsSigned;
    expect(seenByA.custom?.vin).toBe(a.vin);
    expect(Object.keys(seenByA.targets[ENGINE_V2.name]!.custom!.ecuIdentifiers as object)).toEqual([`${a.vin}-ecm`]);
  });
});

// ---------------------------------------------------------------------------------------------
// Signed vehicle requests.

describe('signed vehicle requests the Director refuses (401, nothing recorded)', () => {
  it('refuses the same Authorization header twice (replayed request)', async () => {
    const car = await prepare('REQREPLAY1');
    const header = car.authHeader('GET', '/vehicle/metadata/timestamp.json');
    expect((await getVehicleFile('/vehicle/metadata/timestamp.json', header)).status).toBe(200);
    const again = await getVehicleFile('/vehicle/metadata/timestamp.json', header);
    expect(again.status).toBe(401);
    expect(JSON.parse(again.body.toString()).error.code).toBe('unauthorized');

    // A captured manifest request, header and body, sent again: refused at the request layer.
    installEngineV2(car);
    const body = Buffer.from(JSON.stringify(car.manifest()));
    const auth = car.authHeader('POST', '/vehicle/manifest', body);
    expect((await postManifestBytes(car, body, auth)).status).toBe(200);
    const before = await stateOf(car.vin);
    expectRefused(await postManifestBytes(car, body, auth), 401, 'unauthorized');
    await expectUnchanged(car.vin, before);
  });

  it('refuses a request signed at a time too far from the server clock (stale or future)', async () => {
    const car = await prepare('STALE1');
    const before = await stateOf(car.vin);
    const body = Buffer.from(JSON.stringify(car.manifest()));
    for (const offset of [-10 * 60_000, +10 * 60_000]) {
      const header = signVehicleRequest(car.primary.key, { method: 'POST', path: '/vehicle/manifest', body }, new Date(clock.now().getTime() + offset), nodeBackend);
      // Typed, with the Director's time, so the vehicle can stamp its next request right (HR-9j).
      const refused = await postManifestBytes(car, body, header);
      expectRefused(refused, 401, 'clock_skew');
      expect(refused.json.error).toMatchObject({ serverTime: clock.now().toISOString().replace(/\.\d{3}Z$/, 'Z') });
    }
    const stale = signVehicleRequest(car.primary.key, { method: 'GET', path: '/vehicle/metadata/targets.json' }, new Date(clock.now().getTime() - 10 * 60_000), nodeBackend);
    expect((await getVehicleFile('/vehicle/metadata/targets.json', stale)).status).toBe(401);
    await expectUnchanged(car.vin, before);
  });

  it('refuses a signature made over another path, method or body', async () => {
    const car = await prepare('PATHSIG1');
    const before = await stateOf(car.vin);
    const forRoot = car.authHeader('GET', '/vehicle/metadata/1.root.json');
    expect((await getVehicleFile('/vehicle/metadata/targets.json', forRoot)).status).toBe(401);
    const body = Buffer.from(JSON.stringify(car.manifest()));
    const forGet = car.authHeader('GET', '/vehicle/manifest');
    expectRefused(await postManifestBytes(car, body, forGet), 401, 'unauthorized');
    installEngineV2(car);
    const otherBody = Buffer.from(JSON.stringify(car.manifest()));
    expectRefused(await postManifestBytes(car, otherBody, car.authHeader('POST', '/vehicle/manifest', body)), 401, 'unauthorized');
    const unsigned = await fetch(`${url()}/vehicle/manifest`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expectRefused({ status: unsigned.status, json: (await unsigned.json()) as Record<string, unknown> }, 401, 'unauthorized');
    await expectUnchanged(car.vin, before);
    await expectHonestManifestAccepted(car, before);
  });
});

// ---------------------------------------------------------------------------------------------
// Operator requests.

describe('assignments the Director refuses (recorded in the audit log, nothing stored)', () => {
  it('refuses an image whose hardware ids do not include the ECU (incompatible_hardware)', async () => {
    const car = await prepare('HWID1', { assign: false });
    const before = await stateOf(car.vin);
    const entries = (await auditLog()).length;
    expectRefused(await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: engine(car).serial, image: BRAKE_V7.name }), 400, 'incompatible_hardware');
    await expectRefusalAudited('POST /api/v1/assignments', 'incompatible_hardware', entries);
    await expectUnchanged(car.vin, before);
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: brake(car).serial, image: BRAKE_V7.name })).status).toBe(201);
  });

  it('refuses an image with a lower release counter than the one installed (image_rollback)', async () => {
    const car = await prepare('ROLLBACK1');
    installEngineV2(car);
    expect(await car.sendManifest(url(), car.manifest())).toMatchObject({ status: 200, json: { assignmentsChanged: 1 } });
    const before = await stateOf(car.vin);
    expect((before.status.ecus as Array<{ serial: string; installed: { releaseCounter: number } }>).find((e) => e.serial === engine(car).serial)!.installed.releaseCounter).toBe(2);
    const entries = (await auditLog()).length;
    expectRefused(await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: engine(car).serial, image: ENGINE_V1.name }), 400, 'image_rollback');
    await expectRefusalAudited('POST /api/v1/assignments', 'image_rollback', entries);
    await expectUnchanged(car.vin, before);
    // The same release again is not lower: allowed (a reinstall).
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: engine(car).serial, image: ENGINE_V2.name })).status).toBe(201);
  });

  it('refuses an image the Image repository does not list (target_not_found)', async () => {
    const car = await prepare('NOIMAGE1', { assign: false });
    const before = await stateOf(car.vin);
    const entries = (await auditLog()).length;
    expectRefused(await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: engine(car).serial, image: 'engine/ecm-9.9.bin' }), 400, 'target_not_found');
    await expectRefusalAudited('POST /api/v1/assignments', 'target_not_found', entries);
    await expectUnchanged(car.vin, before);
  });

  it('refuses an assignment to an ECU that already has an active one, storing none of the request (conflict)', async () => {
    const busy = await prepare('CONFLICT1');
    const free = await prepare('CONFLICT2', { assign: false });
    const busyBefore = await stateOf(busy.vin);
    const freeBefore = await stateOf(free.vin);
    const entries = (await auditLog()).length;
    expectRefused(await repos.operator('POST', '/api/v1/assignments', { vin: busy.vin, ecuSerial: engine(busy).serial, image: ENGINE_V1.name }), 409, 'conflict');
    await expectRefusalAudited('POST /api/v1/assignments', 'conflict', entries);
    // One request for two vehicles, one of them busy: all or nothing, so the free one gets nothing either.
    expectRefused(await repos.operator('POST', '/api/v1/assignments', { vins: [free.vin, busy.vin], hardwareId: 'ecm-x1', image: ENGINE_V2.name }), 409, 'conflict');
    await expectUnchanged(busy.vin, busyBefore);
    await expectUnchanged(free.vin, freeBefore);
  });

  it('stores nothing for a dry run, and says which ECU of which vehicle would get what', async () => {
    const car = await prepare('DRYRUN1', { assign: false });
    const other = await prepare('DRYRUN2', { assign: false });
    const before = await stateOf(car.vin);
    const otherBefore = await stateOf(other.vin);
    const entries = await auditLog();
    const plan = await repos.operator('POST', '/api/v1/assignments', { vins: [car.vin, other.vin], hardwareId: 'ecm-x1', image: ENGINE_V2.name, dryRun: true });
    expect(plan.status).toBe(200);
    expect(plan.json).toEqual({
      dryRun: true,
      plan: [car, other].map((v) =>
        expect.objectContaining({ vin: v.vin, ecuSerial: engine(v).serial, filename: ENGINE_V2.name, hardwareId: 'ecm-x1', releaseCounter: 2, installed: 'factory/ecm-x1.bin' }),
      ),
    });
    // A refused dry run stores nothing either, not even an audit entry.
    expectRefused(await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: engine(car).serial, image: BRAKE_V7.name, dryRun: true }), 400, 'incompatible_hardware');
    await expectUnchanged(car.vin, before);
    await expectUnchanged(other.vin, otherBefore);
    expect(await auditLog()).toEqual(entries);
    // The plan left nothing behind that would conflict with doing it for real.
    expect((await repos.operator('POST', '/api/v1/assignments', { vins: [car.vin, other.vin], hardwareId: 'ecm-x1', image: ENGINE_V2.name })).status).toBe(201);
  });
});

describe('ECU replacements the Director refuses', () => {
  it('refuses a replacement serial or hardware id that registration would refuse (bad_request), changing nothing', async () => {
    const car = await prepare('REPLACE1');
    const before = await stateOf(car.vin);
    const entries = (await auditLog()).length;
    const path = `/api/v1/vehicles/${car.vin}/ecus/${brake(car).serial}/replace`;
    const publicKey = PrivateKey.fromLabel('REPLACE1/new-abs').publicKey.tuf.keyval.public;
    expectRefused(await repos.operator('POST', path, { serial: 'abs 2; DROP', hardwareId: 'abs-z', publicKey }), 400, 'bad_request');
    expectRefused(await repos.operator('POST', path, { serial: 'REPLACE1-abs2', hardwareId: 'abs/z', publicKey }), 400, 'bad_request');
    await expectRefusalAudited(`POST ${path}`, 'bad_request', entries + 1);
    await expectUnchanged(car.vin, before);
    expect((await repos.operator('POST', path, { serial: 'REPLACE1-abs2', hardwareId: 'abs-z', publicKey })).status).toBe(200);
  });
});

describe('operator authentication', () => {
  it('refuses every operator endpoint without a valid operator token (401), changing nothing and leaking nothing', async () => {
    const car = await prepare('TOKEN1');
    const before = await stateOf(car.vin);
    const entries = await auditLog();
    const assignmentId = (before.status.assignments as Array<{ id: number }>)[0]!.id;
    const newcomer = new TestVehicle('TOKEN2', [{ serial: 'TOKEN2-tcu', hardwareId: 'tcu-a', primary: true }], clock);
    vehicles.push(newcomer);
    const requests: Array<[string, string, string | undefined]> = [
      ['GET', '/api/v1/vehicles', undefined],
      ['GET', `/api/v1/vehicles/${car.vin}`, undefined],
      ['POST', '/api/v1/vehicles', JSON.stringify(newcomer.registration())],
      ['POST', '/api/v1/assignments', JSON.stringify({ vin: car.vin, ecuSerial: brake(car).serial, image: BRAKE_V7.name })],
      ['DELETE', `/api/v1/assignments/${assignmentId}`, undefined],
      ['POST', `/api/v1/vehicles/${car.vin}/ecus/${brake(car).serial}/replace`, JSON.stringify({ serial: 'x-1', hardwareId: 'abs-z', publicKey: PrivateKey.fromLabel('x').publicKey.tuf.keyval.public })],
      ['PUT', '/api/v1/metadata/root', repos.directorRoot.toString()],
      ['GET', '/api/v1/online-keys', undefined],
      ['GET', '/api/v1/audit', undefined],
    ];
    const credentials = [
      undefined, // missing
      'Bearer not-the-token', // wrong
      `Bearer ${OPERATOR_TOKEN}x`, // almost right
      `Basic ${Buffer.from(`fixture-operator:${OPERATOR_TOKEN}`).toString('base64')}`, // another scheme
      car.authHeader('GET', '/api/v1/vehicles'), // a vehicle's signed request is not an operator
    ];
    for (const authorization of credentials) {
      for (const [method, path, body] of requests) {
        const answer = await operatorRaw(method, path, body, authorization);
        expect({ request: `${method} ${path}`, authorization, status: answer.status, code: errorCode(answer) }).toEqual({ request: `${method} ${path}`, authorization, status: 401, code: 'unauthorized' });
        expect(Object.keys(answer.json)).toEqual(['error']);
      }
    }
    await expectUnchanged(car.vin, before);
    expect((await repos.operator('GET', `/api/v1/vehicles/${newcomer.vin}`)).status).toBe(404);
    // Unauthenticated attempts are not written to the audit log (anyone could fill it).
    expect(await auditLog()).toEqual(entries);
  });
});

describe('registration bodies the Director refuses', () => {
  it('refuses malformed JSON (400) and an oversized body (413), recording the refusal in the audit log', async () => {
    const car = new TestVehicle('REGBODY1', [{ serial: 'REGBODY1-tcu', hardwareId: 'tcu-a', primary: true }], clock);
    vehicles.push(car);
    const bearer = `Bearer ${OPERATOR_TOKEN}`;
    let entries = (await auditLog()).length;

    expectRefused(await operatorRaw('POST', '/api/v1/vehicles', '{"vin": "REGBODY1", "ecus": [', bearer), 400, 'bad_request');
    await expectRefusalAudited('POST /api/v1/vehicles', 'bad_request', entries);
    entries += 1;

    const padded = JSON.stringify({ ...car.registration(), attributes: { note: 'x'.repeat(1_000_001) } });
    expectRefused(await operatorRaw('POST', '/api/v1/vehicles', padded, bearer), 413, 'body_too_large');
    await expectRefusalAudited('POST /api/v1/vehicles', 'body_too_large', entries);
    entries += 1;

    // Well-formed JSON that is not a registration.
    expectRefused(await operatorRaw('POST', '/api/v1/vehicles', JSON.stringify({ vin: car.vin, ecus: 'tcu' }), bearer), 400, 'bad_request');
    expectRefused(await operatorRaw('POST', '/api/v1/vehicles', JSON.stringify({ ...car.registration(), ecus: [{ ...car.registration().ecus[0], publicKey: 'zz' }] }), bearer), 400, 'malformed_key');
    expect((await auditLog()).length).toBe(entries + 2);

    expect((await repos.operator('GET', `/api/v1/vehicles/${car.vin}`)).status).toBe(404);
    expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  });
});
