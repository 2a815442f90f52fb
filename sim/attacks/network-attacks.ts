// Attacks from the network between the vehicle and the repositories, by an attacker with no keys
// (docs/uptane-conformance.md 8: man in the middle outside the vehicle): tampering, replay, freeze,
// mix-and-match, another vehicle's metadata, endless data, slow retrieval, dropped requests and
// dropped manifests, over real HTTP against the real servers. Played by test/attacks/network.test.ts and `uptane sim attack`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalBytes } from '../../shared/core/canonical.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { AttackerFetcher, bytesResponse, endlessResponse, readAll, type InterceptedRequest, type ProxyBehaviour } from './attacker.js';
import { ABS, assign, createVehicle, ECM, EVIL, flipFirstHexDigit, honestCycle, hostileNetwork, imageMetadataNow, IMAGES, img, PRIMARY, SceneError, vehicleStatus, type AttackScene } from './scene.js';
import { observe, type AttackScenario } from './scenario.js';

/** The signed part of a metadata file rewritten without its keys: the signatures stay as they were. */
function tamperSigned(bytes: Uint8Array, mutate: (signed: Record<string, unknown>) => void): Buffer {
  const envelope = JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed: Record<string, unknown>; signatures: unknown };
  mutate(envelope.signed);
  return canonicalBytes(envelope);
}

const pin = (bytes: Uint8Array) => ({ length: bytes.length, hashes: digestBytes(bytes, ['sha256']) });

const atPrimary = (code: string) => ({ code, detectedBy: PRIMARY, in: 'cycle' as const });

/** The honest update every network attack stands in the way of. */
const assignEcm = (s: AttackScene) => assign(s, ECM, IMAGES.ecm);

/** Installs ecm-2.0 and lets the vehicle settle on newer metadata: versions the attacker's copies from before are older than. */
async function installAndSettle(s: AttackScene): Promise<void> {
  await assignEcm(s);
  await honestCycle(s, 'installed');
  await honestCycle(s, 'no-update');
}

export const NETWORK_ATTACKS: readonly AttackScenario[] = [
  {
    name: 'g1-image-modified-in-transit',
    title: 'G1/G11 arbitrary software: an image modified in transit is refused',
    position: 'network',
    expected: atPrimary('hash_mismatch'),
    vector: true,
    async stage(s) {
      await assignEcm(s);
      s.net.tamperTargets((genuine) => bytesResponse(Buffer.from(genuine.toString().replace('v2', 'vX'))));
    },
  },
  {
    name: 'ur3.2-image-and-image-metadata-rewritten',
    title:
      'UR §3.2 arbitrary package with metadata tampering: the image swapped and the Image targets, snapshot and timestamp rewritten to match are refused (no keys: the timestamp signature no longer holds)',
    position: 'network',
    expected: atPrimary('unmet_threshold'),
    vector: true,
    async stage(s) {
      await assignEcm(s);
      const genuine = await imageMetadataNow(s);
      const name = (suffix: string) => Object.keys(genuine).find((file) => file.endsWith(suffix))!;
      const [good, evil] = [digestBytes(IMAGES.ecm.content), digestBytes(EVIL)];
      const targets = Buffer.from(genuine[name('.targets.json')]!.toString().replace(good.sha256!, evil.sha256!).replace(good.sha512!, evil.sha512!));
      const snapshot = tamperSigned(genuine[name('.snapshot.json')]!, (signed) => {
        (signed.meta as Record<string, unknown>)['targets.json'] = { ...(signed.meta as Record<string, object>)['targets.json'], ...pin(targets) };
      });
      const timestamp = tamperSigned(genuine['timestamp.json']!, (signed) => {
        (signed.meta as Record<string, unknown>)['snapshot.json'] = { ...(signed.meta as Record<string, object>)['snapshot.json'], ...pin(snapshot) };
      });
      s.net.serveAll('image', { 'timestamp.json': timestamp, [name('.snapshot.json')]: snapshot, [name('.targets.json')]: targets });
      s.net.tamperTargets(() => bytesResponse(EVIL));
    },
  },
  {
    name: 'f2-endless-image',
    title: 'F2 endless data: an image that never ends is cut off at its signed length',
    position: 'network',
    expected: atPrimary('download_length'),
    vector: false,
    async stage(s) {
      await assignEcm(s);
      s.net.tamperTargets((genuine) => endlessResponse(genuine));
    },
  },
  {
    name: 'f1-endless-director-timestamp',
    title: 'F1 endless data: a Director timestamp that never ends is cut off at the timestamp limit',
    position: 'network',
    expected: atPrimary('download_length'),
    vector: false,
    async stage(s) {
      await assignEcm(s);
      s.net.use((r) => (r.repo === 'director' && r.file === 'timestamp.json' ? endlessResponse() : undefined));
    },
  },
  {
    name: 'f3-truncated-image',
    title: 'F3 a truncated image is refused',
    position: 'network',
    expected: atPrimary('length_mismatch'),
    vector: true,
    async stage(s) {
      await assign(s, PRIMARY, IMAGES.tcu);
      s.net.tamperTargets((genuine) => bytesResponse(genuine.subarray(0, genuine.length - 3)));
    },
  },
  {
    name: 'f4-image-trickled',
    title: 'F4 slow retrieval: an image trickled below the minimum speed is aborted',
    position: 'network (HTTP proxy)',
    expected: atPrimary('slow_retrieval'),
    vector: false,
    async stage(s) {
      const big = img('tcu/tcu-6.bin', 'telematics v6 '.repeat(600), ['tcu-a'], 6); // 8.4 KB: 40 s at the trickle rate
      await s.repos.publishImages([big]);
      await assign(s, PRIMARY, big);
      await hostileNetwork(s, 'image', { kind: 'trickle', bytesPerTick: 10, tickMs: 50 }, (r) => r.kind === 'target'); // 200 B/s, minimum 1000 B/s
    },
  },
  {
    name: 'g11-director-targets-altered',
    title: 'G11 metadata tampering: Director targets altered in transit are refused (snapshot pins their hash)',
    position: 'network',
    expected: atPrimary('hash_mismatch'),
    vector: true,
    async stage(s) {
      await assignEcm(s);
      const ecmSha = digestBytes(IMAGES.ecm.content).sha256!;
      s.net.use(async (r, options, inner) => {
        if (r.repo !== 'director' || !r.file.endsWith('.targets.json')) return undefined;
        const genuine = (await readAll((await inner.fetch(r.url, options)).body)).toString();
        return bytesResponse(Buffer.from(flipFirstHexDigit(genuine, ecmSha)));
      });
    },
  },
  {
    name: 'c8-director-metadata-replayed',
    title: 'C8 replay: older Director timestamp, snapshot and targets served again are refused',
    position: 'network',
    expected: atPrimary('rollback'),
    vector: true,
    async stage(s) {
      await assignEcm(s);
      await honestCycle(s, 'installed');
      const old = s.net.capturedSet('director'); // what the vehicle was told back then
      await honestCycle(s, 'no-update'); // the Director moved on: the vehicle now trusts newer versions
      await assign(s, ECM, IMAGES.ecm3);
      s.net.serveAll('director', old);
    },
  },
  {
    name: 'ur3.3-image-metadata-replayed',
    title: 'UR §3.3 replay without keys: older Image repository timestamp, snapshot and targets served again are refused',
    position: 'network',
    expected: atPrimary('rollback'),
    vector: true,
    async stage(s) {
      const old = await imageMetadataNow(s); // validly signed, not expired: only older than what the vehicle will trust
      await s.repos.publishImages([img('engine/ecm-2.1.bin', 'engine ecu v2.1', ['ecm-x1'], 2)]);
      await installAndSettle(s); // the vehicle now trusts the newer Image metadata
      await assign(s, ECM, IMAGES.ecm3);
      s.net.serveAll('image', old);
    },
  },
  {
    name: 'd1-director-metadata-frozen',
    title: 'D1 freeze: Director metadata served after its timestamp expired is refused',
    position: 'network',
    expected: atPrimary('expired'),
    vector: true,
    async stage(s) {
      await installAndSettle(s);
      const frozen = s.net.capturedSet('director');
      await assign(s, ECM, IMAGES.ecm3);
      s.clock.advance(2 * 24 * 60 * 60 * 1000); // past the 1-day Director timestamp the attacker keeps serving
      await s.repos.image.repository.refreshOnlineMetadata(); // the honest Image repository keeps itself fresh
      s.net.serveAll('director', frozen);
    },
  },
  {
    name: 'e8-older-image-targets-same-name',
    title: 'E8 mix-and-match: an older Image repository targets file listing another image under the same name is refused',
    position: 'network',
    expected: atPrimary('target_mismatch'),
    vector: true,
    async stage(s) {
      const name = 'engine/ecm-latest.bin';
      await s.repos.publishImages([img(name, 'engine ecu build A', ['ecm-x1'], 4)]);
      const older = await imageMetadataNow(s); // validly signed, never expired: only old
      await s.repos.publishImages([img(name, 'engine ecu build B', ['ecm-x1'], 4)]);
      await assign(s, ECM, { name });
      s.net.serveAll('image', older);
    },
  },
  {
    name: 'e3-older-image-targets-current-snapshot',
    title: 'E3 mix-and-match: an older Image repository targets file under the current snapshot is refused',
    position: 'network',
    expected: atPrimary('length_mismatch'),
    vector: true,
    async stage(s) {
      const older = await imageMetadataNow(s);
      const olderTargets = Object.entries(older).find(([file]) => file.endsWith('.targets.json'))![1];
      await s.repos.publishImages([img('engine/ecm-2.1.bin', 'engine ecu v2.1', ['ecm-x1'], 2)]);
      await assign(s, ECM, { name: 'engine/ecm-2.1.bin' });
      s.net.use((r) => (r.repo === 'image' && r.file.endsWith('.targets.json') ? bytesResponse(olderTargets) : undefined));
    },
  },
  {
    name: 'g5-another-vehicles-director-metadata',
    title: "G5 another vehicle's Director metadata (validly signed; other VIN, other ECUs) is refused",
    position: 'network',
    expected: atPrimary('director_targets'),
    vector: true,
    async stage(s) {
      const otherDir = mkdtempSync(join(tmpdir(), 'uptane-other-'));
      s.cleanups.push(() => rmSync(otherDir, { recursive: true, force: true }));
      const otherNet = new AttackerFetcher(new HttpFetcher());
      const other = await createVehicle(s, otherDir, 'VINOTHER00000002', ['tcu-2', 'ecm-2', 'abs-2'], otherNet);
      const registered = await s.repos.operator('POST', '/api/v1/vehicles', other.registration());
      if (registered.status !== 201) throw new SceneError(`registering the other vehicle: HTTP ${registered.status}`);
      await assign(s, 'ecm-2', IMAGES.ecm, 'VINOTHER00000002');
      other.state.set('driving');
      const deferred = await other.primary.runCycle();
      if (deferred.status !== 'deferred') throw new SceneError(`the other vehicle's cycle ended ${deferred.status}, expected deferred`);
      await assignEcm(s);
      s.net.serveAll('director', otherNet.capturedSet('director'));
    },
  },
  {
    name: 'e9-partial-bundle-image-dropped',
    title: 'E9 partial bundle: the network drops one image of a two-ECU bundle: nothing is installed anywhere (a fault, not reported as an attack), the next cycle installs both',
    position: 'network (HTTP proxy)',
    expected: atPrimary('fetch_failed'),
    verdict: 'fault',
    vector: false,
    async stage(s) {
      await assignEcm(s);
      await assign(s, ABS, IMAGES.abs);
      await hostileNetwork(s, 'image', { kind: 'drop-request' }, (r) => r.kind === 'target' && r.file.endsWith(IMAGES.abs.name.split('/')[1]!));
    },
    also: {
      afterHonest: async (s) => [observe('the next cycle installed both images of the bundle', pick(s.car.installed(), [ECM, ABS]), { [ECM]: IMAGES.ecm.name, [ABS]: IMAGES.abs.name })],
    },
  },
  {
    // Uptane: drop-request is detected through missing or stale manifests. While they are dropped
    // the Director hears nothing, knows nothing of the attack the vehicle detected, and keeps the
    // assignment in flight; the detected attack arrives with the next manifest that gets through.
    name: 'drop-request-manifests',
    title:
      'drop-request: vehicle version manifests dropped on the way while the network tampers with an image: the operator sees the vehicle go stale; the attack it detected meanwhile arrives with the next manifest that gets through',
    position: 'network',
    expected: atPrimary('hash_mismatch'),
    vector: false,
    async stage(s) {
      await honestCycle(s, 'no-update');
      lastManifestAt.set(s, (await vehicleStatus(s)).lastManifestAt);
      s.recorder.dropManifests = true;
      s.clock.advance(60 * 60 * 1000);
      await assignEcm(s);
      s.net.tamperTargets((genuine) => bytesResponse(Buffer.from(genuine.toString().replace('v2', 'vX'))));
    },
    also: {
      afterAttack: async (s, result) => {
        const status = await vehicleStatus(s);
        return [
          observe('the attack cycle sent no manifest', result.manifestSent, false),
          observe("the Director's last manifest is still the one from before, an hour old", status.lastManifestAt, lastManifestAt.get(s)),
          observe('the operator sees no attack yet', status.attacks, []),
          observe('the assignment is still in flight', (status.assignments as Array<{ state: string }>).map((a) => a.state), ['in_flight']),
        ];
      },
      afterHonest: async (s) => {
        const status = await vehicleStatus(s);
        return [{ ok: status.lastManifestAt !== lastManifestAt.get(s), detail: `the Director heard from the vehicle again (last manifest at ${String(status.lastManifestAt)})` }];
      },
    },
  },
  ...dropRequests(),
  ...endlessAndSlowMetadata(),
];

/** The Director's last manifest time before the manifests were dropped. */
const lastManifestAt = new WeakMap<AttackScene, unknown>();

const pick = (installed: Record<string, string>, serials: readonly string[]) => Object.fromEntries(serials.map((serial) => [serial, installed[serial]]));

/** F5: the network drops a request or cuts an answer; a fault, not an attack (docs/threat-model.md F5). */
function dropRequests(): AttackScenario[] {
  const isFile = (file: string) => (r: InterceptedRequest) => r.kind === 'metadata' && r.file === file;
  const endsWith = (suffix: string) => (r: InterceptedRequest) => r.kind === 'metadata' && r.file.endsWith(suffix);
  const drops: ReadonlyArray<{ name: string; what: string; repo: 'director' | 'image'; behaviour: ProxyBehaviour; when: (r: InterceptedRequest) => boolean }> = [
    { name: 'director-timestamp-request', what: 'the Director timestamp request never reaches the Director', repo: 'director', behaviour: { kind: 'drop-request' }, when: isFile('timestamp.json') },
    { name: 'director-targets-answer-cut', what: 'the Director targets answer is cut halfway', repo: 'director', behaviour: { kind: 'drop-response' }, when: endsWith('.targets.json') },
    { name: 'image-timestamp-request', what: 'the Image repository timestamp request never reaches it', repo: 'image', behaviour: { kind: 'drop-request' }, when: isFile('timestamp.json') },
    { name: 'image-snapshot-answer-cut', what: 'the Image repository snapshot answer is cut halfway', repo: 'image', behaviour: { kind: 'drop-response' }, when: endsWith('.snapshot.json') },
  ];
  return drops.map(({ name, what, repo, behaviour, when }) => ({
    name: `f5-drop-${name}`,
    title: `F5 drop-request: ${what}: the cycle fails with a fetch error (a fault, not reported as an attack), nothing changes, the next cycle installs`,
    position: 'network (HTTP proxy)',
    expected: atPrimary('fetch_failed'),
    verdict: 'fault',
    vector: false,
    async stage(s) {
      await assignEcm(s);
      await hostileNetwork(s, repo, behaviour, when);
    },
  }));
}

/** F1 and F4 on metadata, over real HTTP. */
function endlessAndSlowMetadata(): AttackScenario[] {
  const trickle: ProxyBehaviour = { kind: 'trickle', bytesPerTick: 10, tickMs: 50 };
  const cases: ReadonlyArray<{ name: string; title: string; code: string; repo: 'director' | 'image'; behaviour: ProxyBehaviour; when: (r: InterceptedRequest) => boolean }> = [
    {
      name: 'f1-endless-image-snapshot',
      title: 'F1 endless data: an Image repository snapshot that never ends is cut off at the length its timestamp states',
      code: 'download_length',
      repo: 'image',
      behaviour: { kind: 'endless' },
      when: (r) => r.kind === 'metadata' && r.file.endsWith('.snapshot.json'),
    },
    {
      name: 'f1-endless-director-targets',
      title: 'F1 endless data: Director targets that never end are cut off at the length their snapshot states',
      code: 'download_length',
      repo: 'director',
      behaviour: { kind: 'endless' },
      when: (r) => r.file.endsWith('.targets.json'),
    },
    {
      // The vehicle asks for root N+1 every cycle (#check_root 2.2): an answer nobody signed yet.
      name: 'f1-endless-next-director-root',
      title: 'F1 endless data: a next Director root that never ends is cut off at the root size limit',
      code: 'download_length',
      repo: 'director',
      behaviour: { kind: 'endless' },
      when: (r) => r.file === '2.root.json',
    },
    {
      name: 'f7-image-snapshot-decompression-bomb',
      title: 'F7 decompression bomb: an Image repository snapshot sent gzip-coded that inflates without end is cut off at the length its timestamp states',
      code: 'download_length',
      repo: 'image',
      behaviour: { kind: 'gzip-bomb' },
      when: (r) => r.kind === 'metadata' && r.file.endsWith('.snapshot.json'),
    },
    {
      name: 'f7-image-decompression-bomb',
      title: 'F7 decompression bomb: an image sent gzip-coded that inflates without end is cut off at its signed length, at most that written',
      code: 'download_length',
      repo: 'image',
      behaviour: { kind: 'gzip-bomb' },
      when: (r) => r.kind === 'target',
    },
    {
      name: 'f4-director-timestamp-trickled',
      title: 'F4 slow retrieval: a Director timestamp trickled below the minimum speed is aborted',
      code: 'slow_retrieval',
      repo: 'director',
      behaviour: trickle,
      when: (r) => r.file === 'timestamp.json',
    },
    {
      name: 'f4-image-targets-trickled',
      title: 'F4 slow retrieval: Image repository targets metadata trickled below the minimum speed is aborted',
      code: 'slow_retrieval',
      repo: 'image',
      behaviour: trickle,
      when: (r) => r.kind === 'metadata' && r.file.endsWith('.targets.json'),
    },
  ];
  return cases.map(({ name, title, code, repo, behaviour, when }) => ({
    name,
    title,
    position: 'network (HTTP proxy)',
    expected: atPrimary(code),
    vector: false,
    async stage(s) {
      await assignEcm(s);
      await hostileNetwork(s, repo, behaviour, when);
    },
  }));
}
