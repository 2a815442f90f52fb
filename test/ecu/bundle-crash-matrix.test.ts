// The install-bundle crash matrix (docs/threat-model.md M33; docs/decisions.md "Install bundles"):
// for every InstallStep an install bundle reaches, on each member ECU (the primary and both
// secondaries), an injected error (the ECU keeps running) and a simulated power cut (PowerCut
// thrown at the step, then every ECU restarts from its folder with vehicle.start()). Whatever the
// step and the member, the vehicle ends with every member on the new image or every member on its
// previous one, never mixed: after the faulty cycle (an error), after the cycle that follows the
// restart (a power cut, whose first act is to finish the journal's bundle), and after one more
// cycle. No member is left holding a trial, every active slot verifies, and the Director records
// the bundle's one outcome to match.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAIL_BOOT_MARKER, PowerCut, type AbSlots, type InstallStep } from '../../shared/ecu/ab-slots.js';
import { InstallFaults } from '../support/install-faults.js';
import { simulatedHealthProbe } from '../../shared/ecu/health-check.js';
import { FixedClock } from '../../shared/core/clock.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import type { SimulatedVehicle } from '../../sim/vehicle.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

/** Member ECUs by plain serial; the primary installs last (members go in serial order: abs-1, ecm-1, tcu-1). */
const MEMBERS = ['abs-1', 'ecm-1', 'tcu-1'] as const;
type Member = (typeof MEMBERS)[number];
const PRIMARY: Member = 'tcu-1';
const FACTORY: Record<Member, string> = { 'tcu-1': 'factory/tcu-a.bin', 'ecm-1': 'factory/ecm-x1.bin', 'abs-1': 'factory/abs-z.bin' };
const NEW: Record<Member, FixtureImage> = {
  'tcu-1': { name: 'tcu/tcu-5.bin', content: Buffer.from('telematics v5'), hardwareIds: ['tcu-a'], releaseCounter: 5 },
  'ecm-1': { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 },
  'abs-1': { name: 'brake/abs-7.bin', content: Buffer.from('brakes v7'), hardwareIds: ['abs-z'], releaseCounter: 7 },
};
/** The primary's image that fails its boot check, so every member reaches the rollback step. */
const FAILS_BOOT: FixtureImage = { name: 'tcu/tcu-6.bin', content: Buffer.from(`${FAIL_BOOT_MARKER} telematics v6`), hardwareIds: ['tcu-a'], releaseCounter: 6 };

type Ends = 'old' | 'new';
interface Row {
  readonly step: InstallStep;
  /** 'failsBoot': the primary's image fails its boot check (to reach the rollback step). */
  readonly bundle: 'good' | 'failsBoot';
  /** Where the vehicle stands after the faulty cycle (an injected error; the ECUs keep running). */
  readonly afterError: Ends;
  /** Where it stands in the end (after the restart and two more cycles, or two cycles after the error). */
  readonly error: Ends;
  readonly powerCut: Ends;
}

/**
 * What the design promises at each step (docs/decisions.md "Install bundles", crash points): before
 * any member switched (staging), nothing happened and the next cycle installs the bundle; from the
 * first switch to the commit decision, every member goes back and the bundle is rolled back; from
 * the decision on, every member commits. An error at a commit is retried, the decision stands; an
 * error at a rollback does not stop it (a rollback is never abandoned).
 */
const MATRIX: readonly Row[] = [
  { step: 'stage-write', bundle: 'good', afterError: 'old', error: 'new', powerCut: 'new' },
  { step: 'stage-verified', bundle: 'good', afterError: 'old', error: 'new', powerCut: 'new' },
  { step: 'switch', bundle: 'good', afterError: 'old', error: 'old', powerCut: 'old' },
  { step: 'boot-check', bundle: 'good', afterError: 'old', error: 'old', powerCut: 'old' },
  { step: 'health-soak', bundle: 'good', afterError: 'old', error: 'old', powerCut: 'old' },
  { step: 'commit', bundle: 'good', afterError: 'new', error: 'new', powerCut: 'new' },
  { step: 'rollback', bundle: 'failsBoot', afterError: 'old', error: 'old', powerCut: 'old' },
];

let clock: FixedClock;
let repos: Repositories;
let dir: string;
let vehicles = 0;

/** The one fault to inject; it fires once, so the restart runs clean. */
const faults = new InstallFaults();

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock);
  await repos.publishImages([...Object.values(NEW), FAILS_BOOT]);
  dir = mkdtempSync(join(tmpdir(), 'uptane-bundle-crash-'));
});

afterAll(async () => {
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  faults.reset();
});

/** A fresh vehicle (serials are unique across the fleet, so each gets a tag), every ECU with a fault hook and a health soak. */
async function freshVehicle(): Promise<{ car: SimulatedVehicle; vin: string; serial: (m: Member) => string }> {
  vehicles += 1;
  const tag = `c${vehicles}-`;
  const vin = `VINBCRASH${String(vehicles).padStart(7, '0')}`;
  const serial = (m: Member) => `${tag}${m}`;
  // A soak of one poll under the simulated probe, so the health-soak step is reached on every member.
  const health = { probe: simulatedHealthProbe, soakMs: 1, pollMs: 1, sleep: async () => undefined };
  const slots = Object.fromEntries(MEMBERS.map((m) => [serial(m), { faultAt: faults.hook(serial(m)), healthCheck: health }]));
  const car = await registeredVehicle(repos, {
    directory: join(dir, vin),
    vin,
    clock,
    primary: { serial: serial('tcu-1'), hardwareId: 'tcu-a' },
    secondaries: [
      { serial: serial('ecm-1'), hardwareId: 'ecm-x1' },
      { serial: serial('abs-1'), hardwareId: 'abs-z', verification: 'full' },
    ],
    slots,
  });
  return { car, vin, serial };
}

function slotsOf(car: SimulatedVehicle, serial: (m: Member) => string, m: Member): AbSlots {
  return m === PRIMARY ? car.primary.slots : car.secondaries.get(serial(m))!.slots;
}

/**
 * Every member runs the new image or every member its previous one (no trial held, every active
 * slot intact), and which of the two it is.
 */
async function allOrNothing(car: SimulatedVehicle, serial: (m: Member) => string, images: Record<Member, FixtureImage>): Promise<Ends> {
  const runs = Object.fromEntries(MEMBERS.map((m) => [m, slotsOf(car, serial, m).installed.filename]));
  for (const m of MEMBERS) {
    const slots = slotsOf(car, serial, m);
    expect([m, slots.current.trial]).toEqual([m, null]);
    expect([m, await slots.isIntact(slots.current.active)]).toEqual([m, true]);
  }
  const allNew = Object.fromEntries(MEMBERS.map((m) => [m, images[m].name]));
  if (MEMBERS.every((m) => runs[m] === allNew[m])) return 'new';
  expect(runs).toEqual(FACTORY); // mixed is the one thing that must never happen
  return 'old';
}

describe.each(MEMBERS.map((m) => [m === PRIMARY ? 'the primary' : `secondary ${m}`, m] as const))('install-bundle crash matrix on %s', (_name, member) => {
  describe.each(MATRIX.map((row) => [row.step, row] as const))('at %s', (step, row) => {
    const images: Record<Member, FixtureImage> = row.bundle === 'failsBoot' ? { ...NEW, 'tcu-1': FAILS_BOOT } : NEW;

    async function assignBundle(vin: string, serial: (m: Member) => string): Promise<number> {
      const answer = await repos.operator('POST', '/api/v1/install-bundles', { vin, members: MEMBERS.map((m) => ({ ecuSerial: serial(m), image: images[m].name })) });
      expect(answer.status).toBe(201);
      return answer.json.id as number;
    }

    /** Two more cycles: the vehicle stays all-or-nothing, ends as `ends`, and the Director's one outcome says the same. */
    async function expectEnds(car: SimulatedVehicle, serial: (m: Member) => string, id: number, ends: Ends): Promise<void> {
      for (let cycle = 0; cycle < 2; cycle++) {
        await car.primary.runCycle();
        await allOrNothing(car, serial, images);
      }
      expect(await allOrNothing(car, serial, images)).toBe(ends);
      const bundle = (await repos.operator('GET', `/api/v1/install-bundles/${id}`)).json;
      expect(bundle.state).toBe(ends === 'new' ? 'installed' : 'rolled_back');
      const states = (bundle.members as Array<{ state: string }>).map((m) => m.state);
      expect(states).toEqual(MEMBERS.map(() => (ends === 'new' ? 'installed' : 'failed')));
    }

    it(`injected error: ${row.afterError === row.error ? `all ${row.error}` : `all ${row.afterError}, then all ${row.error}`}`, async () => {
      const { car, vin, serial } = await freshVehicle();
      try {
        const id = await assignBundle(vin, serial);
        faults.arm(serial(member), step, 'error');
        await car.primary.runCycle();
        expect(faults.fired).toEqual([`${serial(member)}:${step}:error`]);
        expect(await allOrNothing(car, serial, images)).toBe(row.afterError);
        await expectEnds(car, serial, id, row.error);
      } finally {
        await car.close();
      }
    });

    it(`power cut, then restart: all ${row.powerCut}`, async () => {
      const { car, vin, serial } = await freshVehicle();
      try {
        const id = await assignBundle(vin, serial);
        faults.arm(serial(member), step, 'power-cut');
        await expect(car.primary.runCycle()).rejects.toBeInstanceOf(PowerCut);
        expect(faults.fired).toEqual([`${serial(member)}:${step}:power-cut`]);
        await car.start(); // power comes back: every ECU reopens its folder; the primary finishes the journal first
        await expectEnds(car, serial, id, row.powerCut);
      } finally {
        await car.close();
      }
    });
  });
});
