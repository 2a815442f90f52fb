// ECU signing keys of type ECDSA P-256 end to end (issue 17; docs/decisions.md Cryptography, "ECU
// keys"): a vehicle whose primary and one secondary sign with ECDSA registers, is updated and has its
// manifests accepted, against a real Image repository and a real Director on loopback; the Director
// refuses ECDSA signatures by other keys, a report signed with a key of another type than the one
// registered, and malformed, weak and unsupported keys at registration and replacement, storing nothing.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { ecuKeyText } from '../../shared/core/crypto/ecu-keys.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { signEnvelope } from '../../shared/uptane/manifest.js';
import { signVehicleRequest, VEHICLE_AUTH_SCHEME_ECDSA } from '../../shared/uptane/vehicle-auth.js';
import { fixtureEcuKey } from '../../sim/harness/fixture-keys.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';
import type { SimulatedVehicle } from '../../sim/vehicle.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

const IMAGES = {
  tcu: { name: 'tcu/tcu-5.bin', content: Buffer.from('telematics v5'), hardwareIds: ['tcu-a'], releaseCounter: 5 },
  ecm: { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 },
  abs: { name: 'brake/abs-7.bin', content: Buffer.from('brake ecu v7'), hardwareIds: ['abs-z'], releaseCounter: 7 },
};
const BASE64_SPKI = /^[A-Za-z0-9+/]+={0,2}$/;

let clock: FixedClock;
let repos: Repositories;
const cleanups: Array<() => void> = [];

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages(Object.values(IMAGES));
});

afterEach(async () => {
  await repos.close();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const status = async (vin: string) => (await repos.operator('GET', `/api/v1/vehicles/${vin}`)).json as {
  ecus: Array<{ serial: string; keyType: string; keyid: string }>;
  assignments: Array<{ ecuSerial: string; state: string }>;
  manifests: Array<{ accepted: boolean; errorCode: string | null }>;
};
const errorCode = (answer: { json: Record<string, unknown> }) => (answer.json.error as { code?: string } | undefined)?.code;

describe('a vehicle whose primary and one secondary sign with ECDSA P-256', () => {
  let car: SimulatedVehicle;

  beforeEach(async () => {
    const directory = mkdtempSync(`${tmpdir()}/uptane-ecdsa-car-`);
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    car = await registeredVehicle(repos, { directory, vin: 'VINECDSA00000001', clock, keyTypes: { 'tcu-1': 'ecdsa-p256', 'ecm-1': 'ecdsa-p256' } });
  });

  it('registers with its keys as base64 SPKI, and the Director records each key type', async () => {
    const keys = Object.fromEntries(car.registration().ecus.map((e) => [e.serial, e.publicKey]));
    expect(keys['tcu-1']).toMatch(BASE64_SPKI);
    expect(keys['ecm-1']).toMatch(BASE64_SPKI);
    expect(keys['abs-1']).toMatch(/^[0-9a-f]{64}$/);
    const ecus = (await status(car.spec.vin)).ecus.map((e) => [e.serial, e.keyType]).sort();
    expect(ecus).toEqual([['abs-1', 'ed25519'], ['ecm-1', 'ecdsa-p256'], ['tcu-1', 'ecdsa-p256']]);
  });

  it('gets an update, installs it on every ECU, and every manifest it sends is accepted', async () => {
    for (const [serial, image] of [['tcu-1', IMAGES.tcu], ['ecm-1', IMAGES.ecm], ['abs-1', IMAGES.abs]] as const) {
      expect((await repos.operator('POST', '/api/v1/assignments', { vin: car.spec.vin, ecuSerial: serial, image: image.name })).status).toBe(201);
    }
    const result = await car.primary.runCycle();
    expect(result.status).toBe('installed');
    expect(car.installed()).toEqual({ 'tcu-1': IMAGES.tcu.name, 'ecm-1': IMAGES.ecm.name, 'abs-1': IMAGES.abs.name });
    expect(await car.primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    const after = await status(car.spec.vin);
    expect(after.assignments.map((a) => `${a.ecuSerial}:${a.state}`).sort()).toEqual(['abs-1:installed', 'ecm-1:installed', 'tcu-1:installed']);
    expect(after.manifests.length).toBeGreaterThanOrEqual(2);
    expect(after.manifests.every((m) => m.accepted)).toBe(true);
  });

  it("the primary drops a secondary's report signed by another ECDSA key, and says so", async () => {
    const secondary = car.secondaries.get('ecm-1')!;
    const honest = secondary.versionReport.bind(secondary);
    const stranger = fixtureEcuKey('stranger/ecm-1', 'ecdsa-p256');
    // An attacker on the bus re-signs the report with a P-256 key of its own, under the ECU's keyid.
    secondary.versionReport = async () => {
      const report = await honest();
      const forged = signEnvelope(report.signed, stranger);
      return { signed: report.signed, signatures: [{ keyid: report.signatures[0]!.keyid, sig: forged.signatures[0]!.sig }] };
    };
    // The report is dropped: the manifest goes out incomplete, and the Director refuses it.
    expect(await car.primary.sendVehicleVersionManifest()).toBe(false);
    expect(car.primary.reportedAttacks.map((a) => a.code)).toContain('manifest_signature');
    expect((await status(car.spec.vin)).manifests[0]).toMatchObject({ accepted: false, errorCode: 'manifest_inventory' });
  });
});

describe('the Director and ECDSA ECU keys', () => {
  function vehicle(vin: string, types: { tcu?: 'ecdsa-p256' | 'ecdsa-p384'; ecm?: 'ecdsa-p256' | 'ecdsa-p384' }): TestVehicle {
    const car = new TestVehicle(
      vin,
      [
        { serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true, ...(types.tcu === undefined ? {} : { keyType: types.tcu }) },
        { serial: `${vin}-ecm`, hardwareId: 'ecm-x1', ...(types.ecm === undefined ? {} : { keyType: types.ecm }) },
      ],
      clock,
    );
    cleanups.push(() => car.cleanup());
    return car;
  }
  const register = async (car: TestVehicle) => expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);

  it('accepts manifests of P-256 and P-384 ECUs signed by their registered keys', async () => {
    const car = vehicle('ECDSAOK1', { tcu: 'ecdsa-p384', ecm: 'ecdsa-p256' });
    await register(car);
    expect((await car.sendManifest(repos.director.url, car.manifest())).status).toBe(200);
    expect((await status(car.vin)).ecus.map((e) => e.keyType).sort()).toEqual(['ecdsa-p256', 'ecdsa-p384']);
  });

  it('H7: refuses an ECDSA-signed manifest and an ECDSA-signed report whose signature is by another key under the right keyid (manifest_signature)', async () => {
    const car = vehicle('ECDSAATK1', { tcu: 'ecdsa-p256', ecm: 'ecdsa-p256' });
    await register(car);
    const attacker = fixtureEcuKey('attacker', 'ecdsa-p256');
    const underKeyid = (envelope: ReturnType<TestVehicle['manifest']>, keyid: string) => ({ ...envelope, signatures: envelope.signatures.map((s) => ({ ...s, keyid })) });
    const forgedManifest = underKeyid(car.manifest(undefined, attacker), car.primary.key.keyid);
    const refused = await car.sendManifest(repos.director.url, forgedManifest);
    expect({ status: refused.status, code: errorCode(refused) }).toEqual({ status: 400, code: 'manifest_signature' });

    const ecm = car.ecu(`${car.vin}-ecm`);
    const reports = Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e)]));
    const byAttacker = car.report(ecm, { signer: attacker });
    reports[ecm.serial] = { ...byAttacker, signatures: [{ keyid: ecm.key.keyid, sig: byAttacker.signatures[0]!.sig }] };
    const forgedReport = await car.sendManifest(repos.director.url, car.manifest(reports));
    expect({ status: forgedReport.status, code: errorCode(forgedReport) }).toEqual({ status: 400, code: 'manifest_signature' });
    expect((await status(car.vin)).manifests.map((m) => m.errorCode)).toEqual(['manifest_signature', 'manifest_signature']);
    // The honest vehicle is still accepted.
    expect((await car.sendManifest(repos.director.url, car.manifest())).status).toBe(200);
  });

  it("H7: refuses a report signed with the ECU's own ECDSA key when the key registered for it is Ed25519 (manifest_signature)", async () => {
    const car = vehicle('KEYTYPE1', {});
    await register(car);
    const ecm = car.ecu(`${car.vin}-ecm`);
    // The same ECU, holding an ECDSA key too (say, its secure element's): only the registered key counts.
    const ownEcdsa = fixtureEcuKey(`${car.vin}/${ecm.serial}`, 'ecdsa-p256');
    const reports = Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e)]));
    reports[ecm.serial] = car.report(ecm, { signer: ownEcdsa });
    const refused = await car.sendManifest(repos.director.url, car.manifest(reports));
    expect({ status: refused.status, code: errorCode(refused) }).toEqual({ status: 400, code: 'manifest_signature' });
    // Under the registered key's keyid the ECDSA signature is no Ed25519 signature either.
    reports[ecm.serial] = { ...reports[ecm.serial]!, signatures: [{ keyid: ecm.key.keyid, sig: reports[ecm.serial]!.signatures[0]!.sig }] };
    const relabelled = await car.sendManifest(repos.director.url, car.manifest(reports));
    expect({ status: relabelled.status, code: errorCode(relabelled) }).toEqual({ status: 400, code: 'manifest_signature' });
    expect((await car.sendManifest(repos.director.url, car.manifest())).status).toBe(200);
  });

  it('H7: authenticates an ECDSA primary by an Uptane-ECDSA signed request, and refuses one signed by another P-256 key', async () => {
    const car = vehicle('ECDSAAUTH1', { tcu: 'ecdsa-p256' });
    await register(car);
    const session = (authorization: string) => fetch(`${repos.director.url}/vehicle/session`, { method: 'POST', headers: { authorization } });
    const honest = car.authHeader('POST', '/vehicle/session');
    expect(honest.startsWith(`${VEHICLE_AUTH_SCHEME_ECDSA} `)).toBe(true);
    expect((await session(honest)).status).toBe(201);
    const forged = signVehicleRequest(fixtureEcuKey('attacker', 'ecdsa-p256'), { method: 'POST', path: '/vehicle/session' }, clock.now(), nodeBackend).replace(
      /keyid="[0-9a-f]+"/,
      `keyid="${car.primary.key.keyid}"`,
    );
    expect((await session(forged)).status).toBe(401);
    // An Ed25519 header for the ECDSA primary's keyid is refused for its scheme, before any verification.
    const edHeader = signVehicleRequest(PrivateKey.fromLabel('attacker'), { method: 'POST', path: '/vehicle/session' }, clock.now(), nodeBackend).replace(
      /keyid="[0-9a-f]+"/,
      `keyid="${car.primary.key.keyid}"`,
    );
    const wrongScheme = await session(edHeader);
    expect(wrongScheme.status).toBe(401);
    expect(JSON.stringify(await wrongScheme.json())).toContain('Uptane-ECDSA');
  });

  const spki = (key: { export(o: { format: 'der'; type: 'spki' }): Buffer }) => key.export({ format: 'der', type: 'spki' }).toString('base64');
  const offCurve = () => {
    const der = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
    der.writeUInt8(der.readUInt8(der.length - 1) ^ 0x01, der.length - 1);
    return der.toString('base64');
  };
  const BAD_KEYS: ReadonlyArray<[string, () => string, string]> = [
    ['a malformed PEM', () => '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n', 'malformed_key'],
    ['an EC point off its curve', offCurve, 'malformed_key'],
    ['a P-224 key', () => spki(generateKeyPairSync('ec', { namedCurve: 'secp224r1' }).publicKey), 'weak_key'],
    ['an RSA-1024 key', () => spki(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey), 'weak_key'],
    ['an RSA-2048 key (no ECU key type)', () => spki(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey), 'unsupported_key'],
  ];

  it.each(BAD_KEYS)('H7: refuses to register an ECU with %s (typed error), and stores nothing', async (_name, badKey, code) => {
    const car = vehicle('BADKEY1', { tcu: 'ecdsa-p256' });
    const body = car.registration();
    const refused = await repos.operator('POST', '/api/v1/vehicles', { ...body, ecus: [body.ecus[0], { ...body.ecus[1], publicKey: badKey() }] });
    expect({ status: refused.status, code: errorCode(refused) }).toEqual({ status: 400, code });
    expect((refused.json.error as { message: string }).message).toContain('BADKEY1-ecm');
    expect((await repos.operator('GET', `/api/v1/vehicles/${car.vin}`)).status).toBe(404);
    // Nothing of it was kept: the same vehicle with a good key registers.
    await register(car);
  });

  it('replaces an Ed25519 ECU by an ECDSA one, whose reports are then accepted; refuses a weak replacement key and keeps the old key', async () => {
    const car = vehicle('REPLACE1', {});
    await register(car);
    const ecm = car.ecu(`${car.vin}-ecm`);
    const before = (await status(car.vin)).ecus.find((e) => e.serial === ecm.serial)!;
    const weak = await repos.operator('POST', `/api/v1/vehicles/${car.vin}/ecus/${ecm.serial}/replace`, {
      serial: ecm.serial,
      hardwareId: 'ecm-x1',
      publicKey: spki(generateKeyPairSync('ec', { namedCurve: 'secp224r1' }).publicKey),
    });
    expect({ status: weak.status, code: errorCode(weak) }).toEqual({ status: 400, code: 'weak_key' });
    expect((await status(car.vin)).ecus.find((e) => e.serial === ecm.serial)).toEqual(before);

    const replacement = fixtureEcuKey('REPLACE1/ecm-new', 'ecdsa-p256');
    // Given as a PEM block over the API: stored, like every ECDSA key, as one line of base64.
    const replaced = await repos.operator('POST', `/api/v1/vehicles/${car.vin}/ecus/${ecm.serial}/replace`, { serial: ecm.serial, hardwareId: 'ecm-x1', publicKey: replacement.publicKey.toPem() });
    expect(replaced.status).toBe(200);
    expect((await status(car.vin)).ecus.find((e) => e.serial === ecm.serial)).toMatchObject({ keyType: 'ecdsa-p256', keyid: replacement.keyid });
    expect(ecuKeyText(replacement.publicKey)).toMatch(BASE64_SPKI);
    (ecm as { key: PrivateKey }).key = replacement;
    expect((await car.sendManifest(repos.director.url, car.manifest())).status).toBe(200);
  });
});
