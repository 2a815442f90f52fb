// Key compromise followed by recovery through root rotation (docs/uptane-conformance.md 9.2;
// docs/threat-model.md B10, B11, UR §3.6, UR §3.7): what the stolen keys achieve before, how the
// OEM rotates them (new key files on the stopped server, a root signed by the old and the new root
// keys), that the vehicle follows and recovers, and that whatever the stolen keys sign afterwards
// is refused. The attacks are the catalogue's (sim/attacks/key-compromise-attacks.ts, the same
// `uptane sim attack` plays), each held to the five checks and to what it shows besides (the roots
// the ECUs follow, the repository refusing the revoked key).
import { KEY_COMPROMISE_ATTACKS } from '../../sim/attacks/key-compromise-attacks.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import { expectChecksPassed, scene, useAttackScene } from '../support/attack-scene.js';

useAttackScene();

describe('key compromise and recovery through root rotation', () => {
  it.each(KEY_COMPROMISE_ATTACKS.map((a) => [a.title, a] as const))('%s', async (_title, attack) => {
    expectChecksPassed(await playAttack(scene(), attack));
  });
});
