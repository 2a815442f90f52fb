// A malicious caching gateway (docs/gateway.md "Trust", docs/threat-model.md GW1-GW5): the vehicle
// reaches both repositories only through a gateway whose owner is hostile. It holds no key, so the
// worst it can do is what the network attacker of network.test.ts does, from a better seat: it
// keeps every metadata file it passes, the Image repository's and each vehicle's Director answers,
// and its disk holds the images. Each attack is the gateway's version of a network attack and is
// held to the same five checks with the same typed code, taken from that attack's catalogue entry
// (sim/attacks/network-attacks.ts), so the two cannot drift apart. The gateway is the real one
// (gateway/server.ts) behind its owner's front (test/support/malicious-gateway.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { imagePathOf } from '../../gateway/prefetch.js';
import { AttackerFetcher } from '../../sim/attacks/attacker.js';
import { NETWORK_ATTACKS } from '../../sim/attacks/network-attacks.js';
import { ABS, assign, createVehicle, ECM, EVIL, expectAttackRejected, honestCycle, IMAGES, img, scene, useAttackScene, type Expected } from '../support/attack-scene.js';
import { startMaliciousGateway, type MaliciousGateway } from '../support/malicious-gateway.js';

useAttackScene();

/** The typed code and detecting ECU of the network attack `name`: the gateway's version must end the same. */
function sameAsNetwork(name: string): Expected {
  const attack = NETWORK_ATTACKS.find((a) => a.name === name);
  if (attack === undefined) throw new Error(`no network attack ${name} in sim/attacks/network-attacks.ts`);
  return attack.expected;
}

/**
 * The scene's vehicle now reaches both repositories only through a malicious gateway (gone with the
 * scene). The checks' aftermath clears the vehicle's network of the attacker, this routing included:
 * the honest update of check 5 goes straight to the repositories, as at a depot that took its
 * gateway out of service.
 */
async function throughGateway(): Promise<MaliciousGateway> {
  const s = scene();
  // Upstream of the gateway: the real Image repository, and the Director behind the scene's manifest recorder.
  const gateway = await startMaliciousGateway(s.repos.image.url, s.recorder.url);
  s.cleanups.push(() => gateway.close());
  s.net.routeThrough(gateway, () => true);
  return gateway;
}

/** The kept metadata copies whose request path starts with `prefix` (`/metadata/` or `/vehicle/metadata/`). */
function copies(gateway: MaliciousGateway, prefix: string): Map<string, Buffer> {
  return new Map([...gateway.seen].filter(([path]) => path.startsWith(prefix)));
}

/** The gateway answers every path of `files` with its kept bytes instead of asking upstream. */
function replay(gateway: MaliciousGateway, files: ReadonlyMap<string, Buffer>): void {
  gateway.rules.push((path) => {
    const bytes = files.get(path);
    return bytes === undefined ? undefined : { kind: 'serve', bytes };
  });
}

const isImage = (path: string) => path.startsWith('/targets/');

describe('a malicious caching gateway between the vehicle and both repositories (no keys)', () => {
  it("GW1 a tampered image from the gateway's own disk: the kept copy rewritten in place, same length, is refused with the network attack's code", async () => {
    const gateway = await throughGateway();
    await assign(ECM, IMAGES.ecm);
    const path = imagePathOf(IMAGES.ecm.name, digestBytes(IMAGES.ecm.content).sha256!);
    expect(await gateway.real.gateway.prefetchImage(path)).toBe('fetched');
    writeFileSync(gateway.real.gateway.cache.get(path)!.path, EVIL);
    await expectAttackRejected(sameAsNetwork('g1-image-modified-in-transit'));
    // The gateway served the tampered copy: the vehicle, not the gateway, refused it.
    expect(gateway.real.gateway.stats().imageHits).toBeGreaterThanOrEqual(1);
  });

  it("GW1 a tampered image rewritten by the gateway as it serves it is refused with the network attack's code", async () => {
    const gateway = await throughGateway();
    await assign(ECM, IMAGES.ecm);
    gateway.rules.push((path) => (isImage(path) ? { kind: 'rewrite', transform: (genuine) => Buffer.from(genuine.toString().replace('v2', 'vX')) } : undefined));
    await expectAttackRejected(sameAsNetwork('g1-image-modified-in-transit'));
  });

  it("GW2 stale Image repository metadata: the gateway's older kept timestamp, snapshot and targets served again are refused with the network attack's code", async () => {
    const gateway = await throughGateway();
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    const old = copies(gateway, '/metadata/'); // validly signed, not expired: only older than what the vehicle will trust
    expect([...old.keys()]).toContain('/metadata/timestamp.json');
    await scene().repos.publishImages([img('engine/ecm-2.1.bin', 'engine ecu v2.1', ['ecm-x1'], 2)]);
    await assign(ABS, IMAGES.abs);
    await honestCycle('installed'); // the vehicle now trusts the newer Image metadata, read through the gateway
    await assign(ECM, IMAGES.ecm3);
    replay(gateway, old);
    await expectAttackRejected(sameAsNetwork('ur3.3-image-metadata-replayed'));
  });

  it("GW3 stale Director metadata: the vehicle's own older Director answers, kept by the gateway, served again are refused with the network attack's code", async () => {
    const gateway = await throughGateway();
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    const old = copies(gateway, '/vehicle/metadata/'); // what the vehicle was told back then
    expect([...old.keys()]).toContain('/vehicle/metadata/timestamp.json');
    await honestCycle('no-update'); // the Director moved on: the vehicle now trusts newer versions
    await assign(ECM, IMAGES.ecm3);
    replay(gateway, old);
    await expectAttackRejected(sameAsNetwork('c8-director-metadata-replayed'));
  });

  it("GW4 another vehicle's Director answers, which passed through the same gateway, served to this vehicle are refused with the network attack's code", async () => {
    const s = scene();
    const gateway = await throughGateway();
    const otherDir = mkdtempSync(join(tmpdir(), 'uptane-gateway-other-'));
    s.cleanups.push(() => rmSync(otherDir, { recursive: true, force: true }));
    // A second vehicle of the same depot, also reaching the repositories only through the gateway.
    const otherNet = new AttackerFetcher(new HttpFetcher()).routeThrough(gateway, () => true);
    const other = await createVehicle(otherDir, 'VINOTHER00000002', ['tcu-2', 'ecm-2', 'abs-2'], otherNet);
    expect((await s.repos.operator('POST', '/api/v1/vehicles', other.registration())).status).toBe(201);
    await assign('ecm-2', IMAGES.ecm, 'VINOTHER00000002');
    gateway.seen.clear();
    other.state.set('driving');
    expect((await other.primary.runCycle()).status).toBe('deferred');
    const theirs = copies(gateway, '/vehicle/metadata/');
    expect([...theirs.keys()]).toEqual(expect.arrayContaining(['/vehicle/metadata/timestamp.json', expect.stringMatching(/\.targets\.json$/)]));
    await assign(ECM, IMAGES.ecm);
    replay(gateway, theirs);
    await expectAttackRejected(sameAsNetwork('g5-another-vehicles-director-metadata'));
  });

  it("GW5 an endless stream: an image the gateway never ends is cut off at its signed length, with the network attack's code", async () => {
    const gateway = await throughGateway();
    await assign(ECM, IMAGES.ecm);
    gateway.rules.push((path) => (isImage(path) ? { kind: 'endless' } : undefined));
    await expectAttackRejected(sameAsNetwork('f2-endless-image'));
  });

  it("GW5 an endless stream: a Director timestamp the gateway never ends is cut off at the timestamp limit, with the network attack's code", async () => {
    const gateway = await throughGateway();
    await assign(ECM, IMAGES.ecm);
    gateway.rules.push((path) => (path === '/vehicle/metadata/timestamp.json' ? { kind: 'endless' } : undefined));
    await expectAttackRejected(sameAsNetwork('f1-endless-director-timestamp'));
  });
});
