// Attacks by a compromised Director: the attacker holds its online keys (copied from its data
// folder) and serves the vehicle metadata it signed (docs/uptane-conformance.md 8: "Director
// compromise alone cannot install unsigned software on full-verification ECUs"). The Image
// repository is honest; #full_verification step 10 and the Director-only checks of #check_targets
// stop each one. The attacks are the catalogue's (sim/attacks/director-attacks.ts, the same
// `uptane sim attack` plays), each held to the five checks. What a compromised Director CAN do
// (mix-and-match of valid images) is in limits.test.ts; key rotation after such a compromise in
// key-compromise.test.ts.
import { DIRECTOR_ATTACKS } from '../../sim/attacks/director-attacks.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import { expectChecksPassed, scene, useAttackScene } from '../support/attack-scene.js';

useAttackScene();

describe('compromised Director (its online keys, served to the vehicle in the middle)', () => {
  it.each(DIRECTOR_ATTACKS.map((a) => [a.title, a] as const))('%s', async (_title, attack) => {
    expectChecksPassed(await playAttack(scene(), attack));
    if (attack.name === 'ur3.4-newest-name-oldest-content') {
      // Stopped before any download: the only image fetched is the honest update's.
      const downloads = scene().net.requests.filter((r) => r.kind === 'target').map((r) => r.file);
      expect(downloads).toEqual([expect.stringMatching(/\.ecm-2\.0\.bin$/)]);
    }
  });
});
