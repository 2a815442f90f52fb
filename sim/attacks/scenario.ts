// One catalogued attack: its name, where the attacker sits, the typed code it must end in, and how
// it is staged on a fresh scene (scene.ts); playAttack runs the attack cycle and the five checks
// (checks.ts). The catalogue itself is catalogue.ts.
import type { CycleResult } from '../../primary-ecu/primary.js';
import { check, judgeAftermath, judgeAttackCycle, type CheckResult, type Expected, type Verdict } from './checks.js';
import type { AttackScene } from './scene.js';

/** Where the attacker sits (docs/uptane-conformance.md 8). */
export type AttackerPosition =
  | 'network'
  | 'network (HTTP proxy)'
  | 'Director online keys'
  | 'Image repository disk, no keys'
  | 'Image repository keys'
  | 'Image repository keys + upload'
  | 'Image repository online keys'
  | 'Image repository targets key + online keys'
  | 'in-vehicle bus'
  | 'in-vehicle bus + Director online keys'
  | 'compromised secondary'
  | 'none: an ECU without its encryption key';

export interface AttackScenario {
  /** The command-line name: lower case, hyphens, starting with its docs/threat-model.md id. */
  readonly name: string;
  /** The test's title: the threat-model id(s), what the attacker does and what becomes of it. */
  readonly title: string;
  readonly position: AttackerPosition;
  readonly expected: Expected;
  /** A dropped request is a fault the ECU cannot tell from an outage, not a reported attack. */
  readonly verdict?: Verdict;
  /**
   * What the vehicle receives decides the attack (metadata and images as served, no timing or
   * connection behaviour): a test vector can hold it (sim/vectors/).
   */
  readonly vector: boolean;
  /** The honest steps and the attacker's move, up to the moment before the attack cycle. */
  stage(s: AttackScene): Promise<void>;
  /**
   * What the OEM does after the attack cycle, before the honest update (docs/uptane-conformance.md
   * 9.2: restoring a compromised server); the attacker's network and bus positions end by themselves.
   */
  recover?(s: AttackScene): Promise<void>;
  /**
   * What this attack shows besides the five checks (a manifest the Director refused, a root the
   * vehicle followed, no download at all), each an `also` check: right after the attack cycle, and
   * after the honest update.
   */
  readonly also?: {
    afterAttack?(s: AttackScene, result: CycleResult): Promise<readonly Observation[]>;
    afterHonest?(s: AttackScene): Promise<readonly Observation[]>;
  };
}

/** One thing an attack shows besides the five checks, in a sentence, and whether it held. */
export interface Observation {
  readonly ok: boolean;
  readonly detail: string;
}

/** `ok` with `detail`, or what was seen instead: an Observation from an expected and a seen value, compared as JSON. */
export function observe(detail: string, seen: unknown, expected: unknown): Observation {
  const ok = JSON.stringify(seen) === JSON.stringify(expected);
  return { ok, detail: ok ? detail : `${detail}: saw ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}` };
}

const also = (observations: readonly Observation[]): CheckResult[] => observations.map((o) => check('also', o.ok, o.detail));

/** Stages `attack` on `s`, runs the attack cycle and the five checks, then its `also` checks. */
export async function playAttack(s: AttackScene, attack: AttackScenario): Promise<CheckResult[]> {
  await attack.stage(s);
  const { result, checks } = await judgeAttackCycle(s, attack.expected);
  const seen = also((await attack.also?.afterAttack?.(s, result)) ?? []);
  await attack.recover?.(s);
  const aftermath = await judgeAftermath(s, attack.expected, attack.verdict ?? 'attack');
  return [...checks, ...aftermath, ...seen, ...also((await attack.also?.afterHonest?.(s)) ?? [])];
}
