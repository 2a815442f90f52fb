// Attacks by a compromised Image repository, the Director honest (docs/uptane-conformance.md 8:
// "Image-repo compromise alone cannot direct installs, because the Director must also list the
// image"): its stored images altered without keys, its targets key and online keys used to list the
// attacker's image, on the real server and in the middle. The attacks are the catalogue's
// (sim/attacks/image-repo-attacks.ts, the same `uptane sim attack` plays), each held to the five
// checks, with the OEM restoring the repository before the honest update. Key rotation after an
// Image repository compromise is in key-compromise.test.ts; both repositories compromised in
// limits.test.ts.
import { IMAGE_REPO_ATTACKS } from '../../sim/attacks/image-repo-attacks.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import { expectChecksPassed, scene, useAttackScene } from '../support/attack-scene.js';

useAttackScene();

describe('compromised Image repository, Director honest', () => {
  it.each(IMAGE_REPO_ATTACKS.map((a) => [a.title, a] as const))('%s', async (_title, attack) => {
    expectChecksPassed(await playAttack(scene(), attack));
  });
});
