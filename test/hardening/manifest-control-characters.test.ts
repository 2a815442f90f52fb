// HR-6b: canonical JSON (OLPC) signs strings holding control characters, so a validly signed
// manifest could carry a newline or an escape sequence into the Director's refusal reasons, reported
// attacks, failed assignments, API answers, logs and operator terminals. The Director refuses any
// such text at intake (malformed_metadata), records an escaped reason, and changes nothing else;
// honest ECUs escape their own error texts before signing, so they are never refused for them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { FixedClock } from '../../shared/core/clock.js';
import { signVersionReport } from '../../shared/ecu/ab-slots.js';
import { parseEcuVersionReport, signEnvelope, type EcuVersionReport } from '../../shared/uptane/manifest.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { REFERENCE_ECUS } from '../support/registered-vehicle.js';

let clock: FixedClock;
let repos: Repositories;
let car: TestVehicle;

beforeEach(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  car = new TestVehicle('CTRLCHARS1', [{ serial: 'tcu-1', hardwareId: 'tcu-a', primary: true }, { serial: 'ecm-1', hardwareId: 'ecm-x1' }], clock);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
});

afterEach(async () => {
  car.cleanup();
  await repos.close();
});

interface Status {
  ecus: Array<{ serial: string; installed: unknown }>;
  attacks: unknown[];
  manifests: Array<{ accepted: boolean; errorCode: string | null; errorMessage: string | null }>;
}
const status = async () => (await repos.operator('GET', `/api/v1/vehicles/${car.vin}`)).json as unknown as Status;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Re-signs `report` after `edit` (the ECU's own key: a compromised or buggy ECU, validly signed). */
function resigned(serial: string, edit: (signed: EcuVersionReport['signed']) => EcuVersionReport['signed']): EcuVersionReport {
  const ecu = car.ecu(serial);
  return signEnvelope(edit(car.report(ecu).signed), ecu.key);
}

const CASES: ReadonlyArray<[string, () => unknown]> = [
  [
    'a newline forging a log line in a reported attack message',
    () => car.manifest({ 'tcu-1': car.report(car.primary), 'ecm-1': resigned('ecm-1', (s) => ({ ...s, attacks_detected: [{ code: 'bad_signature', message: 'x\n2026-06-01 INFO all ECUs up to date' }] })) }),
  ],
  ['an escape sequence clearing the screen in an attack code', () => car.manifest({ 'tcu-1': car.report(car.primary), 'ecm-1': resigned('ecm-1', (s) => ({ ...s, attacks_detected: [{ code: '\u001b[2J', message: '' }] })) })],
  [
    'a carriage return in a failed install message',
    () => car.manifest({ 'tcu-1': car.report(car.primary), 'ecm-1': resigned('ecm-1', (s) => ({ ...s, last_install: { filename: 'engine/ecm-2.0.bin', status: 'failed', code: 'boot_check_failed', message: 'ok\rinstalled' } })) }),
  ],
  ['a bidi override in the VIN', () => signEnvelope({ ...car.manifest().signed, vin: `${car.vin}\u202e` }, car.primary.key)],
  [
    'a C1 control (CSI) in an ECU serial, as the report map key and in the report',
    () => signEnvelope({ ...car.manifest().signed, ecu_version_reports: { ...car.manifest().signed.ecu_version_reports, 'ecm-1\u009b2J': resigned('ecm-1', (r) => ({ ...r, ecu_serial: 'ecm-1\u009b2J' })) } }, car.primary.key),
  ],
];

describe('HR-6b: manifest texts with control characters', () => {
  it.each(CASES)('refuses %s (malformed_metadata), records an escaped reason and nothing else, and then accepts the honest manifest', async (_name, forge) => {
    const before = await status();
    const refused = await car.sendManifest(repos.director.url, forge());
    expect({ status: refused.status, code: (refused.json.error as { code?: string }).code }).toEqual({ status: 400, code: 'malformed_metadata' });
    expect((refused.json.error as { message: string }).message).not.toMatch(CONTROLS);
    const after = await status();
    expect(after.manifests[0]).toMatchObject({ accepted: false, errorCode: 'malformed_metadata' });
    expect(after.manifests[0]!.errorMessage).not.toMatch(CONTROLS);
    expect({ ...after, manifests: after.manifests.slice(1) }).toEqual(before);
    expect((await car.sendManifest(repos.director.url, car.manifest())).status).toBe(200);
  });
});

describe('HR-6b: an honest ECU escapes its own error texts before signing', () => {
  it('a report built from attack texts holding control characters carries them escaped, cut to the limit, and parses', async () => {
    const directory = mkdtempSync(`${tmpdir()}/uptane-ctrl-car-`);
    try {
      const sim = await SimulatedVehicle.create({
        ...REFERENCE_ECUS,
        directory,
        vin: 'CTRLCHARS2',
        clock,
        directorUrl: repos.director.url,
        imageRepoUrl: repos.image.url,
        directorRoot: repos.directorRoot,
        imageRoot: repos.imageRoot,
      });
      const key = SimulatedVehicle.keyFor(sim.spec, 'tcu-1');
      const report = signVersionReport(sim.primary.slots, { serial: 'tcu-1', key }, {
        counter: 1,
        attacks: [{ code: 'bad\u001bcode', message: `a repository said "x\ny"\u2028and more ${'\u{1F697}'.repeat(600)}` }],
        time: clock.now(),
      });
      const parsed = parseEcuVersionReport(report);
      const [attack] = parsed.signed.attacks_detected;
      expect(attack!.code).toBe('bad\\u001bcode');
      expect(attack!.message).toContain('"x\\ny"\\u2028and more');
      expect(attack!.message.length).toBeLessThanOrEqual(1024);
      // The cut at the length limit never leaves half of a surrogate pair.
      expect(attack!.message).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
