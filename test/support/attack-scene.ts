// The attack scene (sim/attacks/scene.ts) and its five checks (sim/attacks/checks.ts) as jest
// helpers: a fresh scene for each test of the calling file, and assertions that fail naming every
// check that did not pass. `uptane sim attack` plays on the same scene with the same checks.
import type { CycleResult } from '../../primary-ecu/primary.js';
import type { FixtureImage } from '../../sim/harness/fleet-fixtures.js';
import type { SimulatedVehicle } from '../../sim/vehicle.js';
import type { AttackerFetcher, InterceptedRequest, OnlineKeys, ProxyBehaviour, RunningProxy } from '../../sim/attacks/attacker.js';
import { failedChecks, judgeAftermath, judgeAttack, judgeAttackCycle, type CheckResult, type Expected } from '../../sim/attacks/checks.js';
import * as scenes from '../../sim/attacks/scene.js';
import { closeAttackScene, PRIMARY, startAttackScene, VIN, type AttackScene, type ForgedTargets } from '../../sim/attacks/scene.js';

export { ABS, ECM, EVIL, flipFirstHexDigit, IMAGES, img, PRIMARY, VIN } from '../../sim/attacks/scene.js';
export type { AttackScene, ForgedTargets } from '../../sim/attacks/scene.js';
export type { Expected } from '../../sim/attacks/checks.js';

let current: AttackScene | undefined;

/** The scene of the running test. */
export function scene(): AttackScene {
  if (current === undefined) throw new Error('useAttackScene() registers the scene; call scene() inside a test');
  return current;
}

/** Registers hooks that build a fresh scene before each test of the calling file and tear it down after. */
export function useAttackScene(): void {
  beforeEach(async () => {
    current = await startAttackScene();
  });

  afterEach(async () => {
    const s = scene();
    current = undefined;
    await closeAttackScene(s);
  });
}

/** Fails the test naming each check that did not pass and what it saw. */
export function expectChecksPassed(checks: readonly CheckResult[]): void {
  expect(failedChecks(checks).map((c) => `${c.check}: ${c.detail}`)).toEqual([]);
}

export const createVehicle = (directory: string, vin: string, serials: readonly [string, string, string], fetcher: AttackerFetcher): Promise<SimulatedVehicle> =>
  scenes.createVehicle(scene(), directory, vin, serials, fetcher);
export const assign = (ecuSerial: string, image: Pick<FixtureImage, 'name'>, vin = VIN): Promise<void> => scenes.assign(scene(), ecuSerial, image, vin);
export const honestCycle = (expected: CycleResult['status'] = 'installed'): Promise<CycleResult> => scenes.honestCycle(scene(), expected);
export const verifyWhileDriving = (): Promise<void> => scenes.verifyWhileDriving(scene());
export const vehicleStatus = (vin = VIN): Promise<Record<string, unknown>> => scenes.vehicleStatus(scene(), vin);
export const imageMetadataNow = (): Promise<Record<string, Buffer>> => scenes.imageMetadataNow(scene());
export const primaryDir = (): string => scenes.primaryDir(scene());
export const serveForgedDirector = (targets: ForgedTargets, keys?: OnlineKeys): void => scenes.serveForgedDirector(scene(), targets, keys);
export const hostileNetwork = (repo: 'director' | 'image', behaviour: ProxyBehaviour, when: (request: InterceptedRequest) => boolean): Promise<RunningProxy> =>
  scenes.hostileNetwork(scene(), repo, behaviour, when);

/** The attack cycle (checks 1-3): failed with the typed code, and every ECU's trusted state and installed image unchanged byte for byte. */
export async function expectCycleRejected(expected: Expected): Promise<CycleResult> {
  const { result, checks } = await judgeAttackCycle(scene(), expected);
  expectChecksPassed(checks);
  return result;
}

/** Checks 4-5: the attacker leaves; the next honest cycle installs and carries the attack in the detecting ECU's report, which the operator sees. */
export async function expectReportedThenHonestUpdate(expected: Pick<Expected, 'code' | 'detectedBy'>): Promise<void> {
  expectChecksPassed(await judgeAftermath(scene(), expected));
}

/** All five checks: the whole verdict on one attack. */
export async function expectAttackRejected(expected: Expected): Promise<void> {
  expectChecksPassed(await judgeAttack(scene(), expected));
}

/**
 * A network that drops requests or answers: the cycle fails with `code` and changes nothing, as for
 * an attack, but it is a fault to the ECU, not an attack it can tell from an outage: it is not
 * reported in attacks_detected (which would halt campaigns on every flaky link). A drop-request is
 * detected at the Director instead, by the vehicle's missing or stale manifests
 * (docs/threat-model.md F5). The next honest cycle installs.
 */
export async function expectFaultThenHonestUpdate(code: string): Promise<void> {
  expectChecksPassed(await judgeAttack(scene(), { code, detectedBy: PRIMARY, in: 'cycle' }, 'fault'));
}
