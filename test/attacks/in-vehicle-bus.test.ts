// Attacks on the in-vehicle bus between the primary and its secondaries
// (docs/uptane-conformance.md 8: man in the middle inside the vehicle): images and metadata
// altered, replayed, withheld or mixed on the way to the secondary, which verifies what it receives
// itself (#partial_verification, #full_verification on the bundle) and verifies the image in its
// inactive slot (#install). The attacks are the catalogue's (sim/attacks/bus-attacks.ts, the same
// `uptane sim attack` plays), each held to the five checks and to what it shows besides.
import { BUS_ATTACKS } from '../../sim/attacks/bus-attacks.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import { expectChecksPassed, scene, useAttackScene } from '../support/attack-scene.js';

useAttackScene();

describe('in-vehicle bus between the primary and a secondary', () => {
  it.each(BUS_ATTACKS.map((a) => [a.title, a] as const))('%s', async (_title, attack) => {
    expectChecksPassed(await playAttack(scene(), attack));
  });
});
