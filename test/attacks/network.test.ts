// Attacks from the network between the vehicle and the repositories, by an attacker with no keys
// (docs/uptane-conformance.md 8: man in the middle outside the vehicle): tampering, replay, freeze,
// mix-and-match, endless data, slow retrieval and dropped requests, over real HTTP against the
// real servers, plus what an eavesdropper sees. One test per attack, named after its
// docs/threat-model.md id; the shared scene and checks are in test/support/attack-scene.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalBytes } from '../../shared/core/canonical.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { signVehicleRequest } from '../../shared/uptane/vehicle-auth.js';
import { AttackerFetcher, attackerKey, bytesResponse, endlessResponse, readAll, type InterceptedRequest, type ProxyBehaviour } from '../support/attacker.js';
import {
  ABS,
  assign,
  createVehicle,
  ECM,
  EVIL,
  expectAttackRejected,
  expectFaultThenHonestUpdate,
  flipFirstHexDigit,
  honestCycle,
  hostileNetwork,
  imageMetadataNow,
  IMAGES,
  img,
  PRIMARY,
  scene,
  useAttackScene,
  vehicleStatus,
} from '../support/attack-scene.js';

useAttackScene();

/** The signed part of a metadata file rewritten without its keys: the signatures stay as they were. */
function tamperSigned(bytes: Uint8Array, mutate: (signed: Record<string, unknown>) => void): Buffer {
  const envelope = JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed: Record<string, unknown>; signatures: unknown };
  mutate(envelope.signed);
  return canonicalBytes(envelope);
}

const pin = (bytes: Uint8Array) => ({ length: bytes.length, hashes: digestBytes(bytes, ['sha256']) });

describe('man in the middle between the vehicle and the repositories (no keys)', () => {
  it('G1/G11 arbitrary software: an image modified in transit is refused', async () => {
    await assign(ECM, IMAGES.ecm);
    scene().net.tamperTargets((genuine) => bytesResponse(Buffer.from(genuine.toString().replace('v2', 'vX'))));
    await expectAttackRejected({ code: 'hash_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('UR §3.2 arbitrary package with metadata tampering: the image swapped and the Image targets, snapshot and timestamp rewritten to match are refused (no keys: the timestamp signature no longer holds)', async () => {
    const { net } = scene();
    await assign(ECM, IMAGES.ecm);
    const genuine = await imageMetadataNow();
    const name = (suffix: string) => Object.keys(genuine).find((file) => file.endsWith(suffix))!;
    const [good, evil] = [digestBytes(IMAGES.ecm.content), digestBytes(EVIL)];
    const targets = Buffer.from(genuine[name('.targets.json')]!.toString().replace(good.sha256!, evil.sha256!).replace(good.sha512!, evil.sha512!));
    const snapshot = tamperSigned(genuine[name('.snapshot.json')]!, (signed) => {
      (signed.meta as Record<string, unknown>)['targets.json'] = { ...(signed.meta as Record<string, object>)['targets.json'], ...pin(targets) };
    });
    const timestamp = tamperSigned(genuine['timestamp.json']!, (signed) => {
      (signed.meta as Record<string, unknown>)['snapshot.json'] = { ...(signed.meta as Record<string, object>)['snapshot.json'], ...pin(snapshot) };
    });
    net.serveAll('image', { 'timestamp.json': timestamp, [name('.snapshot.json')]: snapshot, [name('.targets.json')]: targets });
    net.tamperTargets(() => bytesResponse(EVIL));
    await expectAttackRejected({ code: 'unmet_threshold', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F2 endless data: an image that never ends is cut off at its signed length', async () => {
    await assign(ECM, IMAGES.ecm);
    scene().net.tamperTargets((genuine) => endlessResponse(genuine));
    await expectAttackRejected({ code: 'download_length', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F1 endless data: a Director timestamp that never ends is cut off at the timestamp limit', async () => {
    await assign(ECM, IMAGES.ecm);
    scene().net.use((r) => (r.repo === 'director' && r.file === 'timestamp.json' ? endlessResponse() : undefined));
    await expectAttackRejected({ code: 'download_length', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F3 a truncated image is refused', async () => {
    await assign(PRIMARY, IMAGES.tcu);
    scene().net.tamperTargets((genuine) => bytesResponse(genuine.subarray(0, genuine.length - 3)));
    await expectAttackRejected({ code: 'length_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F4 slow retrieval: an image trickled below the minimum speed is aborted', async () => {
    const big = img('tcu/tcu-6.bin', 'telematics v6 '.repeat(600), ['tcu-a'], 6); // 8.4 KB: 40 s at the trickle rate
    await scene().repos.publishImages([big]);
    await assign(PRIMARY, big);
    await hostileNetwork('image', { kind: 'trickle', bytesPerTick: 10, tickMs: 50 }, (r) => r.kind === 'target'); // 200 B/s, minimum 1000 B/s
    await expectAttackRejected({ code: 'slow_retrieval', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('G11 metadata tampering: Director targets altered in transit are refused (snapshot pins their hash)', async () => {
    await assign(ECM, IMAGES.ecm);
    const ecmSha = digestBytes(IMAGES.ecm.content).sha256!;
    scene().net.use(async (r, options, inner) => {
      if (r.repo !== 'director' || !r.file.endsWith('.targets.json')) return undefined;
      const genuine = (await readAll((await inner.fetch(r.url, options)).body)).toString();
      return bytesResponse(Buffer.from(flipFirstHexDigit(genuine, ecmSha)));
    });
    await expectAttackRejected({ code: 'hash_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('C8 replay: older Director timestamp, snapshot and targets served again are refused', async () => {
    const { net } = scene();
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    const old = net.capturedSet('director'); // what the vehicle was told back then
    await honestCycle('no-update'); // the Director moved on: the vehicle now trusts newer versions
    await assign(ECM, IMAGES.ecm3);
    net.serveAll('director', old);
    await expectAttackRejected({ code: 'rollback', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('UR §3.3 replay without keys: older Image repository timestamp, snapshot and targets served again are refused', async () => {
    const { repos, net } = scene();
    const old = await imageMetadataNow(); // validly signed, not expired: only older than what the vehicle will trust
    await repos.publishImages([img('engine/ecm-2.1.bin', 'engine ecu v2.1', ['ecm-x1'], 2)]);
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed'); // the vehicle now trusts the newer Image metadata
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm3);
    net.serveAll('image', old);
    await expectAttackRejected({ code: 'rollback', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('D1 freeze: Director metadata served after its timestamp expired is refused', async () => {
    const { net, clock, repos } = scene();
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    await honestCycle('no-update');
    const frozen = net.capturedSet('director');
    await assign(ECM, IMAGES.ecm3);
    clock.advance(2 * 24 * 60 * 60 * 1000); // past the 1-day Director timestamp the attacker keeps serving
    await repos.image.repository.refreshOnlineMetadata(); // the honest Image repository keeps itself fresh
    net.serveAll('director', frozen);
    await expectAttackRejected({ code: 'expired', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('E8 mix-and-match: an older Image repository targets file listing another image under the same name is refused', async () => {
    const { repos, net } = scene();
    const name = 'engine/ecm-latest.bin';
    await repos.publishImages([img(name, 'engine ecu build A', ['ecm-x1'], 4)]);
    const older = await imageMetadataNow(); // validly signed, never expired: only old
    await repos.publishImages([img(name, 'engine ecu build B', ['ecm-x1'], 4)]);
    await assign(ECM, { name });
    net.serveAll('image', older);
    await expectAttackRejected({ code: 'target_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('E3 mix-and-match: an older Image repository targets file under the current snapshot is refused', async () => {
    const { repos, net } = scene();
    const older = await imageMetadataNow();
    const olderTargets = Object.entries(older).find(([file]) => file.endsWith('.targets.json'))![1];
    await repos.publishImages([img('engine/ecm-2.1.bin', 'engine ecu v2.1', ['ecm-x1'], 2)]);
    await assign(ECM, { name: 'engine/ecm-2.1.bin' });
    net.use((r) => (r.repo === 'image' && r.file.endsWith('.targets.json') ? bytesResponse(olderTargets) : undefined));
    await expectAttackRejected({ code: 'length_mismatch', detectedBy: PRIMARY, in: 'cycle' });
  });

  it("G5 another vehicle's Director metadata (validly signed; other VIN, other ECUs) is refused", async () => {
    const { repos, net, cleanups } = scene();
    const otherDir = mkdtempSync(join(tmpdir(), 'uptane-other-'));
    cleanups.push(() => rmSync(otherDir, { recursive: true, force: true }));
    const otherNet = new AttackerFetcher(new HttpFetcher());
    const other = await createVehicle(otherDir, 'VINOTHER00000002', ['tcu-2', 'ecm-2', 'abs-2'], otherNet);
    expect((await repos.operator('POST', '/api/v1/vehicles', other.registration())).status).toBe(201);
    await assign('ecm-2', IMAGES.ecm, 'VINOTHER00000002');
    other.state.set('driving');
    expect((await other.primary.runCycle()).status).toBe('deferred');
    await assign(ECM, IMAGES.ecm);
    net.serveAll('director', otherNet.capturedSet('director'));
    await expectAttackRejected({ code: 'director_targets', detectedBy: PRIMARY, in: 'cycle' });
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
  const isFile = (file: string) => (r: InterceptedRequest) => r.kind === 'metadata' && r.file === file;
  const endsWith = (suffix: string) => (r: InterceptedRequest) => r.kind === 'metadata' && r.file.endsWith(suffix);
  const drops: ReadonlyArray<{ what: string; repo: 'director' | 'image'; behaviour: ProxyBehaviour; when: (r: InterceptedRequest) => boolean }> = [
    { what: 'the Director timestamp request never reaches the Director', repo: 'director', behaviour: { kind: 'drop-request' }, when: isFile('timestamp.json') },
    { what: 'the Director targets answer is cut halfway', repo: 'director', behaviour: { kind: 'drop-response' }, when: endsWith('.targets.json') },
    { what: 'the Image repository timestamp request never reaches it', repo: 'image', behaviour: { kind: 'drop-request' }, when: isFile('timestamp.json') },
    { what: 'the Image repository snapshot answer is cut halfway', repo: 'image', behaviour: { kind: 'drop-response' }, when: endsWith('.snapshot.json') },
  ];

  it.each(drops)('F5 drop-request: $what: the cycle fails with a fetch error (a fault, not reported as an attack), nothing changes, the next cycle installs', async ({ repo, behaviour, when }) => {
    await assign(ECM, IMAGES.ecm);
    await hostileNetwork(repo, behaviour, when);
    await expectFaultThenHonestUpdate('fetch_failed');
  });

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

describe('endless data and slow retrieval on metadata, over real HTTP', () => {
  it('F1 endless data: an Image repository snapshot that never ends is cut off at the length its timestamp states', async () => {
    await assign(ECM, IMAGES.ecm);
    await hostileNetwork('image', { kind: 'endless' }, (r) => r.kind === 'metadata' && r.file.endsWith('.snapshot.json'));
    await expectAttackRejected({ code: 'download_length', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F1 endless data: Director targets that never end are cut off at the length their snapshot states', async () => {
    await assign(ECM, IMAGES.ecm);
    await hostileNetwork('director', { kind: 'endless' }, (r) => r.file.endsWith('.targets.json'));
    await expectAttackRejected({ code: 'download_length', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F1 endless data: a next Director root that never ends is cut off at the root size limit', async () => {
    // The vehicle asks for root N+1 every cycle (#check_root 2.2): an answer nobody signed yet.
    await assign(ECM, IMAGES.ecm);
    await hostileNetwork('director', { kind: 'endless' }, (r) => r.file === '2.root.json');
    await expectAttackRejected({ code: 'download_length', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F4 slow retrieval: a Director timestamp trickled below the minimum speed is aborted', async () => {
    await assign(ECM, IMAGES.ecm);
    await hostileNetwork('director', { kind: 'trickle', bytesPerTick: 10, tickMs: 50 }, (r) => r.file === 'timestamp.json');
    await expectAttackRejected({ code: 'slow_retrieval', detectedBy: PRIMARY, in: 'cycle' });
  });

  it('F4 slow retrieval: Image repository targets metadata trickled below the minimum speed is aborted', async () => {
    await assign(ECM, IMAGES.ecm);
    await hostileNetwork('image', { kind: 'trickle', bytesPerTick: 10, tickMs: 50 }, (r) => r.kind === 'metadata' && r.file.endsWith('.targets.json'));
    await expectAttackRejected({ code: 'slow_retrieval', detectedBy: PRIMARY, in: 'cycle' });
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
