// Attacks from the network between the vehicle and the repositories, by an attacker with no keys
// (docs/uptane-conformance.md 8: man in the middle outside the vehicle): tampering, replay, freeze,
// mix-and-match, endless data, slow retrieval and dropped requests, over real HTTP against the
// real servers, plus what an eavesdropper sees. One test per attack, named after its
// docs/threat-model.md id. The attacks held to the five checks alone are the catalogue's
// (sim/attacks/network-attacks.ts, the same `uptane sim attack` plays); the ones that check more are
// written out here. The shared scene and checks are in test/support/attack-scene.ts.
import { digestBytes } from '../../shared/core/hashing.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { signVehicleRequest } from '../../shared/uptane/vehicle-auth.js';
import { NETWORK_ATTACKS } from '../../sim/attacks/network-attacks.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import { attackerKey, bytesResponse } from '../support/attacker.js';
import {
  ABS,
  assign,
  ECM,
  expectChecksPassed,
  expectFaultThenHonestUpdate,
  honestCycle,
  hostileNetwork,
  IMAGES,
  PRIMARY,
  scene,
  useAttackScene,
  vehicleStatus,
} from '../support/attack-scene.js';

useAttackScene();

describe('man in the middle between the vehicle and the repositories (no keys)', () => {
  it.each(NETWORK_ATTACKS.map((a) => [a.title, a] as const))('%s', async (_title, attack) => {
    expectChecksPassed(await playAttack(scene(), attack));
  });

  it('E9 partial bundle: the network drops one image of a two-ECU bundle: nothing is installed anywhere, the next cycle installs both', async () => {
    await assign(ECM, IMAGES.ecm);
    await assign(ABS, IMAGES.abs);
    await hostileNetwork('image', { kind: 'drop-request' }, (r) => r.kind === 'target' && r.file.endsWith(IMAGES.abs.name.split('/')[1]!));
    await expectFaultThenHonestUpdate('fetch_failed');
    expect(scene().car.installed()).toMatchObject({ [ECM]: IMAGES.ecm.name, [ABS]: IMAGES.abs.name });
  });
});

// -------------------------------------------------------------------------------------------------

describe('drop-request: the network drops requests or answers (cannot be prevented; nothing changes; the Director sees the vehicle go stale)', () => {
  it('drop-request: vehicle version manifests dropped on the way: the operator sees the vehicle go stale; the attacks it detected meanwhile arrive with the next manifest that gets through', async () => {
    const { recorder, clock, net, car } = scene();
    await honestCycle('no-update');
    const lastSeen = (await vehicleStatus()).lastManifestAt;
    expect(lastSeen).not.toBeNull();

    recorder.dropManifests = true;
    clock.advance(60 * 60 * 1000);
    await assign(ECM, IMAGES.ecm);
    net.tamperTargets((genuine) => bytesResponse(Buffer.from(genuine.toString().replace('v2', 'vX'))));
    expect(await car.primary.runCycle()).toMatchObject({ status: 'failed', manifestSent: false, error: { code: 'hash_mismatch' } });
    net.clear();
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed', manifestSent: false }); // installing needs no manifest

    // Uptane: drop-request is detected through missing or stale manifests. The Director has heard
    // nothing for an hour, knows nothing of the attack, and still has the assignment in flight.
    let status = await vehicleStatus();
    expect(status.lastManifestAt).toBe(lastSeen);
    expect(status.attacks).toEqual([]);
    expect((status.assignments as Array<{ state: string }>)[0]!.state).toBe('in_flight');

    recorder.dropManifests = false;
    await honestCycle('no-update');
    status = await vehicleStatus();
    expect(status.lastManifestAt).not.toBe(lastSeen);
    expect(status.attacks).toEqual([expect.objectContaining({ ecuSerial: PRIMARY, code: 'hash_mismatch' })]);
    expect((status.assignments as Array<{ state: string }>)[0]!.state).toBe('installed');
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
