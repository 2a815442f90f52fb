// The attack catalogue: every attack `uptane sim attack NAME` plays, by name, each the same object
// the jest attack test of its group iterates (test/attacks/network.test.ts and
// compromised-director.test.ts), so the command and the tests cannot drift apart.
import { DIRECTOR_ATTACKS } from './director-attacks.js';
import { NETWORK_ATTACKS } from './network-attacks.js';
import type { AttackScenario } from './scenario.js';

/** Every catalogued attack, in the order `--list` shows them. */
export const ATTACKS: readonly AttackScenario[] = [...NETWORK_ATTACKS, ...DIRECTOR_ATTACKS];

export function findAttack(name: string): AttackScenario | undefined {
  return ATTACKS.find((a) => a.name === name);
}
