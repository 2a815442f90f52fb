// One catalogued attack: its name, where the attacker sits, the typed code it must end in, and how
// it is staged on a fresh scene (scene.ts); playAttack runs the attack cycle and the five checks
// (checks.ts). The catalogue itself is catalogue.ts.
import { judgeAftermath, judgeAttackCycle, type CheckResult, type Expected, type Verdict } from './checks.js';
import type { AttackScene } from './scene.js';

/** Where the attacker sits (docs/uptane-conformance.md 8). */
export type AttackerPosition =
  | 'network'
  | 'network (HTTP proxy)'
  | 'Director online keys'
  | 'Image repository disk, no keys'
  | 'Image repository keys'
  | 'Image repository keys + upload'
  | 'in-vehicle bus'
  | 'in-vehicle bus + Director online keys';

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
}

/** Stages `attack` on `s`, runs the attack cycle and the five checks. */
export async function playAttack(s: AttackScene, attack: AttackScenario): Promise<CheckResult[]> {
  await attack.stage(s);
  const { checks } = await judgeAttackCycle(s, attack.expected);
  await attack.recover?.(s);
  return [...checks, ...(await judgeAftermath(s, attack.expected, attack.verdict ?? 'attack'))];
}
