// The attack catalogue: every attack `uptane sim attack NAME` plays, by name, in groups by the
// attacker's position, each group the same objects its jest attack test iterates (the group's
// `test` file), so the command and the tests cannot drift apart. test/attacks/catalogue-guard.test.ts
// fails if a file in test/attacks/ defines an attack of its own instead, unless it keeps that attack
// out of the catalogue by name, with its reason (test/attacks/README.md "Kept out of the catalogue").
import { BUS_ATTACKS } from './bus-attacks.js';
import { DIRECTOR_ATTACKS } from './director-attacks.js';
import { ECU_ATTACKS } from './ecu-attacks.js';
import { ENCRYPTION_ATTACKS } from './encryption-attacks.js';
import { IMAGE_REPO_ATTACKS } from './image-repo-attacks.js';
import { KEY_COMPROMISE_ATTACKS } from './key-compromise-attacks.js';
import { NETWORK_ATTACKS } from './network-attacks.js';
import { PROFILE_ATTACKS } from './profile-attacks.js';
import type { AttackScenario } from './scenario.js';

export interface AttackGroup {
  /** The name `--group` takes. */
  readonly name: string;
  readonly title: string;
  /** The jest file that plays the group (test/attacks/). */
  readonly test: string;
  readonly attacks: readonly AttackScenario[];
}

export const ATTACK_GROUPS: readonly AttackGroup[] = [
  { name: 'network', title: 'man in the middle between the vehicle and the repositories (no keys)', test: 'network.test.ts', attacks: NETWORK_ATTACKS },
  { name: 'director', title: 'compromised Director (its online keys)', test: 'compromised-director.test.ts', attacks: DIRECTOR_ATTACKS },
  { name: 'image-repo', title: 'compromised Image repository, Director honest', test: 'compromised-image-repo.test.ts', attacks: IMAGE_REPO_ATTACKS },
  { name: 'bus', title: 'in-vehicle bus between the primary and a secondary', test: 'in-vehicle-bus.test.ts', attacks: BUS_ATTACKS },
  { name: 'ecu', title: 'a compromised secondary lying in its version report', test: 'compromised-ecu.test.ts', attacks: ECU_ATTACKS },
  { name: 'key-compromise', title: 'stolen keys, before and after the OEM rotates them through a new root', test: 'key-compromise.test.ts', attacks: KEY_COMPROMISE_ATTACKS },
  { name: 'encryption', title: 'images the Director encrypted for each ECU (ciphertext, wraps, encryption fields)', test: 'image-encryption.test.ts', attacks: ENCRYPTION_ATTACKS },
  { name: 'profiles', title: 'images demanding a higher security profile than the ECU has (docs/security-profiles.md)', test: 'security-profiles.test.ts', attacks: PROFILE_ATTACKS },
];

/** Every catalogued attack, in the order `--list` shows them. */
export const ATTACKS: readonly AttackScenario[] = ATTACK_GROUPS.flatMap((g) => g.attacks);

export function findAttack(name: string): AttackScenario | undefined {
  return ATTACKS.find((a) => a.name === name);
}

export function findGroup(name: string): AttackGroup | undefined {
  return ATTACK_GROUPS.find((g) => g.name === name);
}

/** The group an attack belongs to. */
export function groupOf(attack: AttackScenario): AttackGroup {
  return ATTACK_GROUPS.find((g) => g.attacks.includes(attack))!;
}
