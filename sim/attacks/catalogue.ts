// The attack catalogue: every attack `uptane sim attack NAME` plays, by name, each the same object
// the jest attack test of its group iterates (test/attacks/network.test.ts,
// compromised-director.test.ts, compromised-image-repo.test.ts and in-vehicle-bus.test.ts), so the
// command and the tests cannot drift apart.
import { BUS_ATTACKS } from './bus-attacks.js';
import { DIRECTOR_ATTACKS } from './director-attacks.js';
import { IMAGE_REPO_ATTACKS } from './image-repo-attacks.js';
import { NETWORK_ATTACKS } from './network-attacks.js';
import type { AttackScenario } from './scenario.js';

/** Every catalogued attack, in the order `--list` shows them. */
export const ATTACKS: readonly AttackScenario[] = [...NETWORK_ATTACKS, ...DIRECTOR_ATTACKS, ...IMAGE_REPO_ATTACKS, ...BUS_ATTACKS];

export function findAttack(name: string): AttackScenario | undefined {
  return ATTACKS.find((a) => a.name === name);
}
