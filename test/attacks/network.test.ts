// Attacks from the network between the vehicle and the repositories, by an attacker with no keys
// (docs/uptane-conformance.md 8: man in the middle outside the vehicle): tampering, replay, freeze,
// mix-and-match, endless data, slow retrieval, dropped requests and dropped manifests, over real
// HTTP against the real servers. One test per attack, named after its docs/threat-model.md id. The
// attacks are the catalogue's (sim/attacks/network-attacks.ts, the same `uptane sim attack` plays),
// each held to the five checks and to what it shows besides; the last test is no attack the vehicle
// can refuse (what a passive eavesdropper reads where the operator turned the defences off:
// test/attacks/README.md). The shared scene and checks are in test/support/attack-scene.ts.
import { digestBytes } from '../../shared/core/hashing.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { signVehicleRequest } from '../../shared/uptane/vehicle-auth.js';
import { NETWORK_ATTACKS } from '../../sim/attacks/network-attacks.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import { attackerKey } from '../support/attacker.js';
import { ABS, assign, ECM, expectChecksPassed, honestCycle, IMAGES, scene, useAttackScene } from '../support/attack-scene.js';

useAttackScene();

describe('man in the middle between the vehicle and the repositories (no keys)', () => {
  it.each(NETWORK_ATTACKS.map((a) => [a.title, a] as const))('%s', async (_title, attack) => {
    expectChecksPassed(await playAttack(scene(), attack));
  });
});

// -------------------------------------------------------------------------------------------------

describe('eavesdropping', () => {
  it('eavesdrop on a deployment without its defences: plain HTTP, a public Image repository, an image not encrypted; Director metadata still goes only to its vehicle', async () => {
    // This scene runs without the three answers to eavesdropping, each an operator's choice and each
    // shown in its own file: TLS on both servers (eavesdropper.test.ts, L14), per-ECU image
    // encryption (image-encryption.test.ts, G13) and an Image repository that serves only to
    // credentials (signed-urls.test.ts, L11). Without them, whoever reads the traffic (or asks the
    // public repository) reads the image in the clear. What stays with the vehicle regardless is the
    // Director's per-vehicle metadata (which ECU gets what): served only to requests signed by that
    // vehicle's primary key.
    const { repos, net, bus, clock } = scene();
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    const targetsPath = '/vehicle/metadata/targets.json';

    // Without the primary's key: 401, whether unsigned, with a made-up session, or signed by another key.
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer made-up-session-token' },
      { authorization: signVehicleRequest(attackerKey, { method: 'GET', path: targetsPath }, clock.now()) },
    ];
    for (const headers of attempts) {
      const response = await fetch(`${repos.director.url}${targetsPath}`, { headers });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    }

    // A public Image repository (--read-access public): every image's name, hashes and hardware ids, and the bytes.
    const listed = parseMetadata(Buffer.from(await (await fetch(`${repos.image.url}/metadata/targets.json`)).arrayBuffer()), 'targets').signed.targets;
    expect(Object.keys(listed)).toEqual(expect.arrayContaining(Object.values(IMAGES).map((i) => i.name)));
    const sha = digestBytes(IMAGES.ecm.content).sha256!;
    const image = await fetch(`${repos.image.url}/targets/engine/${sha}.ecm-2.0.bin`);
    expect(image.status).toBe(200);
    expect(Buffer.from(await image.arrayBuffer())).toEqual(IMAGES.ecm.content);

    // A passive listener on the vehicle's path reads what the vehicle received: this vehicle's
    // assignments from its Director targets, and the image itself.
    const seenTargets = Object.entries(net.capturedSet('director')).find(([file]) => file.endsWith('.targets.json'))![1];
    expect(parseMetadata(seenTargets, 'targets').signed.targets[IMAGES.ecm.name]!.custom).toMatchObject({ ecuIdentifiers: { [ECM]: { hardwareId: 'ecm-x1' } } });
    // ... and on the in-vehicle bus, the metadata bundle the primary handed the secondary.
    expect(Object.keys(bus.bundles.get(ECM)![0]!.director)).toEqual(expect.arrayContaining([expect.stringMatching(/\.targets\.json$/)]));
    expect(bus.bundles.get(ABS)).toBeUndefined(); // only ECUs with something to install get a bundle
  });
});
