// The end-to-end demo (`npm run demo`, `uptane demo`): both repositories on loopback with embedded
// SQLite in a fresh folder, a release engineer signing offline with a 2-of-3 targets threshold, an
// operator registering a vehicle and assigning updates, the vehicle updating (deferred while
// driving, installed once parked, one ECU rolling back a bad boot), and two attacks rejected and
// reported. It narrates each step in plain words and returns non-zero if anything is not as told.
// Everything runs over TLS by default: a development CA in the data folder issues both servers'
// certificates and the vehicle's client certificate, and the Director requires it (mutual TLS). The
// Image repository serves only to credentials (the Director's signed URLs, uploader tokens), and the
// body controllers' image is encrypted for each of them (docs/image-encryption.md).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { systemClock, type Clock } from '../shared/core/clock.js';
import { PrivateKey, PublicKey } from '../shared/core/crypto/keys.js';
import { savePrivateKey } from '../shared/files/key-files.js';
import { HttpFetcher } from '../shared/client/fetcher.js';
import { ReadForbiddenError } from '../shared/core/errors.js';
import type { ClientTlsConfig } from '../shared/client/tls-client.js';
import { createDevCa, issueServerCertificate, issueVehicleCertificate } from '../shared/pki/dev-ca.js';
import type { TlsServerConfig } from '../shared/server/tls.js';
import { signVehicleRequest } from '../shared/uptane/vehicle-auth.js';
import { Workspace } from '../shared/workspace/workspace.js';
import { loadUrlSigningKey, startDirector, type RunningDirector } from '../director-repo/server.js';
import { pushWorkspace } from '../image-repo/push.js';
import { ImageRepoClient } from '../image-repo/repo-client.js';
import { startImageServer, type RunningImageServer } from '../image-repo/server.js';
import { FaultyNetwork } from './network-faults.js';
import { SimulatedVehicle } from './vehicle.js';
import { adoptVehicleFolder } from '../vehicle/folder.js';

export interface DemoOptions {
  /** Where the servers keep their data; a fresh temp folder by default. */
  readonly dataDir?: string;
  /** Leave the servers running at the end, for a person to explore with the CLI. */
  readonly keep?: boolean;
  readonly clock?: Clock;
  readonly print: (line: string) => void;
  /** Plain HTTP on loopback instead of TLS and mutual TLS (`uptane demo --insecure-http`). */
  readonly insecureHttp?: boolean;
}

export interface DemoResult {
  readonly ok: boolean;
  readonly dataDir: string;
  readonly imageUrl: string;
  readonly directorUrl: string;
  /** The development CA's certificate file, when the demo ran over TLS (give it to the CLI as --ca). */
  readonly caFile: string | undefined;
  /** Present with keep: stops the servers. */
  readonly stop: () => Promise<void>;
}

class DemoFailure extends Error {}

const VIN = 'DEMO0VIN00000001';

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const clock = options.clock ?? systemClock;
  const dataDir = resolve(options.dataDir ?? mkdtempSync(join(tmpdir(), 'uptane-demo-')));
  mkdirSync(dataDir, { recursive: true });
  const say = (line = '') => options.print(line);
  const step = (title: string) => say(`\n== ${title}`);
  const expect = (condition: boolean, what: string) => {
    if (!condition) throw new DemoFailure(`expected ${what}`);
    say(`   ok: ${what}`);
  };

  let image: RunningImageServer | undefined;
  let director: RunningDirector | undefined;
  const clients: Array<{ close(): void }> = [];
  const stop = async () => {
    clients.forEach((c) => c.close());
    await director?.close();
    await image?.close();
  };
  let caFile: string | undefined;
  try {
    step(`1. Start the Image repository and the Director on loopback (embedded SQLite)${options.insecureHttp ? ', plain HTTP' : ', over TLS'}`);
    const pki = options.insecureHttp ? undefined : await demoPki(join(dataDir, 'pki'), VIN, 'tcu-1');
    caFile = pki?.caFile;
    if (pki !== undefined) say(`   development CA ${pki.caFile}: server certificate for 127.0.0.1 and localhost, client certificate for ${VIN}'s primary tcu-1`);
    // Operators, release engineers and the Director trust the CA only; the vehicle presents its certificate too.
    const clientTls: ClientTlsConfig | undefined = pki === undefined ? undefined : { ca: pki.ca };
    const operatorHttp = new HttpFetcher({ tls: clientTls });
    clients.push(operatorHttp);
    // Images only for the vehicles they are meant for: the Image repository trusts the Director's
    // URL-signing key (made now, as `uptane director url-signing-key` does before the Director starts).
    const urlSigningKey = loadUrlSigningKey(join(dataDir, 'director')).publicKey;
    image = await startImageServer({
      dataDir: join(dataDir, 'image-repo'),
      clock,
      tls: pki === undefined ? undefined : { certFile: pki.server.certFile, keyFile: pki.server.keyFile },
      readAccess: { mode: 'credential', urlSigningKeys: [urlSigningKey] },
    });
    say('   the Image repository serves only to credentials: URLs the Director signs per vehicle and image, or an uploader token');
    const uploaderToken = 'demo-uploader-token';
    await image.storage.addUploader('demo-release-engineer', uploaderToken, clock.now());
    say(`   Image repository: ${image.url}   Director: (after the Image root exists)`);

    step('2. Release engineer: offline keys, root, two images, targets signed by 2 of 3 engineers');
    const keysDir = join(dataDir, 'offline-keys');
    mkdirSync(keysDir, { recursive: true, mode: 0o700 });
    const keyFile = (name: string) => {
      const key = PrivateKey.generate();
      savePrivateKey(join(keysDir, `${name}.pem`), key);
      say(`   generated ${name} key ${key.keyid.slice(0, 12)}… (${join(keysDir, `${name}.pem`)}, mode 0600)`);
      return key;
    };
    const imageRootKey = keyFile('image-root');
    const targetsKeys = [keyFile('targets-alice'), keyFile('targets-bob'), keyFile('targets-carol')];
    const client = new ImageRepoClient(image.url, uploaderToken, clientTls);
    clients.push(client);
    const online = await client.onlineKeys();
    const ws = Workspace.init(join(dataDir, 'image-workspace'), { repository: 'image', serverUrl: image.url }, clock);
    ws.createRoot({
      keys: { root: [imageRootKey.publicKey], targets: targetsKeys.map((k) => k.publicKey), timestamp: [online.timestamp], snapshot: [online.snapshot] },
      thresholds: { root: 1, targets: 2, timestamp: 1, snapshot: 1 },
    });
    ws.sign('root', imageRootKey);
    const firmware = join(dataDir, 'firmware');
    mkdirSync(firmware, { recursive: true });
    const tcuImage = join(firmware, 'tcu-2.0.bin');
    const bodyImage = join(firmware, 'body-1.1.bin');
    writeFileSync(tcuImage, Buffer.alloc(2 * 1024 * 1024, 'telematics 2.0 '));
    writeFileSync(bodyImage, Buffer.alloc(512 * 1024, 'body controller 1.1 '));
    await ws.addImage(tcuImage, { name: 'tcu/tcu-2.0.bin', fields: { hardwareIds: ['demo-tcu'], releaseCounter: 2 } });
    await ws.addImage(bodyImage, { name: 'body/body-1.1.bin', fields: { hardwareIds: ['demo-body'], releaseCounter: 11 } });
    ws.sign('targets', targetsKeys[0]!);
    const missing = ws.readinessProblems('targets');
    say(`   alice signed targets; still missing: ${missing.map((p) => p.message).join('; ') || 'nothing'}`);
    expect(missing.length > 0, 'targets with one of two signatures are not ready to push');
    ws.sign('targets', targetsKeys[1]!);
    expect(ws.readinessProblems('targets').length === 0, 'with bob\'s signature the 2-of-3 threshold is met');
    const pushed = await pushWorkspace(ws, client);
    say(`   pushed ${pushed.images.length} images and ${pushed.published.map((p) => `${p.role} v${p.version}`).join(', ')}`);
    const imageRootFile = join(dataDir, 'trust', 'image-root.json');
    mkdirSync(join(dataDir, 'trust'), { recursive: true });
    const imageRoot = ws.files.published.load('root')!;
    writeFileSync(imageRootFile, imageRoot);

    step('3. Operator: start the Director, sign its root offline, register a vehicle, assign updates');
    director = await startDirector({ dataDir: join(dataDir, 'director'), imageRepoUrl: image.url, imageRootFile, clock, imageRepoTls: clientTls, tls: pki?.server });
    const operatorToken = 'demo-operator-token';
    await director.storage.addOperator('demo-operator', operatorToken, clock.now());
    say(`   Director: ${director.url}`);
    const directorRootKey = keyFile('director-root');
    const directorOnline = director.services.root.onlineKeysJson();
    const dws = Workspace.init(join(dataDir, 'director-workspace'), { repository: 'director', serverUrl: director.url }, clock);
    dws.createRoot({
      keys: {
        root: [directorRootKey.publicKey],
        targets: [PublicKey.fromTuf(directorOnline.targets.key)],
        snapshot: [PublicKey.fromTuf(directorOnline.snapshot.key)],
        timestamp: [PublicKey.fromTuf(directorOnline.timestamp.key)],
      },
      thresholds: { root: 1, targets: 1, snapshot: 1, timestamp: 1 },
    });
    dws.sign('root', directorRootKey);
    const directorRoot = dws.bytesToPush('root');
    const operator = async (method: string, path: string, body?: unknown) => {
      const response = await operatorHttp.send(`${director!.url}${path}`, {
        method,
        body: body === undefined ? undefined : body instanceof Uint8Array ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
        headers: { authorization: `Bearer ${operatorToken}`, 'content-type': body instanceof Uint8Array ? 'application/octet-stream' : 'application/json' },
        maxBytes: 10_000_000,
        timeoutMs: 60_000,
      });
      return { status: response.status, json: JSON.parse(response.body.toString('utf8')) as Record<string, unknown> };
    };
    expect((await operator('PUT', '/api/v1/metadata/root', directorRoot)).status === 201, 'the Director accepts its offline-signed root');
    // As `uptane director root push` records it: the workspace left behind by --keep knows v1 is out.
    dws.recordPublished('root', directorRoot);
    writeFileSync(join(dataDir, 'trust', 'director-root.json'), directorRoot);

    const vehicleHttp = new HttpFetcher({ tls: pki === undefined ? undefined : { ca: pki.ca, cert: pki.vehicle.certPem, key: pki.vehicle.keyPem } });
    clients.push(vehicleHttp);
    const network = new FaultyNetwork(vehicleHttp, null);
    const car = await SimulatedVehicle.create({
      directory: join(dataDir, 'vehicle'),
      vin: VIN,
      primary: { serial: 'tcu-1', hardwareId: 'demo-tcu' },
      secondaries: [
        { serial: 'body-front', hardwareId: 'demo-body' },
        { serial: 'body-rear', hardwareId: 'demo-body', verification: 'full' },
      ],
      directorUrl: director.url,
      imageRepoUrl: image.url,
      directorRoot,
      imageRoot,
      clock,
      seed: 'demo',
      fetcher: network,
      // The rear body controller is a unit whose new image will not boot: it must roll back.
      slots: { 'body-rear': { bootCheck: async (img) => img.filename.startsWith('factory/') } },
      log: (line) => say(`   vehicle: ${line}`),
    });
    expect((await operator('POST', '/api/v1/vehicles', car.registration())).status === 201, `vehicle ${VIN} registered with a primary and two secondaries`);
    if (pki !== undefined) {
      // The Director's mutual TLS: the vehicle's own signed request, over a connection without its certificate, is refused.
      const signed = await operatorHttp.post(`${director.url}/vehicle/session`, { maxBytes: 10_000, timeoutMs: 10_000, headers: { authorization: signVehicleRequest(SimulatedVehicle.keyFor(car.spec, 'tcu-1'), { method: 'POST', path: '/vehicle/session' }, clock.now()) } });
      const code = (JSON.parse(signed.body.toString('utf8')) as { error?: { code?: string } }).error?.code;
      expect(signed.status === 403 && code === 'client_certificate_required', `a vehicle request without the vehicle's client certificate is refused (${signed.status} ${code})`);
    }
    const anonymous = await operatorHttp.fetch(`${image.url}/metadata/timestamp.json`, { maxBytes: 100_000 }).then(
      () => 'served',
      (err: unknown) => (err instanceof ReadForbiddenError ? 'refused' : `failed: ${(err as Error).message}`),
    );
    expect(anonymous === 'refused', `an anonymous read of the Image repository is refused (${anonymous === 'refused' ? 'HTTP 403' : anonymous})`);
    expect((await operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: 'tcu-1', image: 'tcu/tcu-2.0.bin' })).status === 201, 'tcu/tcu-2.0.bin assigned to the primary');
    expect(
      (await operator('POST', '/api/v1/assignments', { vin: VIN, hardwareId: 'demo-body', image: 'body/body-1.1.bin', encrypt: true })).status === 201,
      'body/body-1.1.bin assigned to both body controllers, encrypted for each with its own key',
    );

    step('4. The vehicle is driving: it downloads and verifies, but installs nothing');
    car.state.set('driving');
    const driving = await car.primary.runCycle();
    expect(driving.status === 'deferred', 'the update is verified and downloaded, and deferred while driving');
    expect(Object.values(car.installed()).every((f) => f.startsWith('factory/')), 'every ECU still runs its factory image');

    step('5. The vehicle parks: every ECU installs; the rear body controller fails its boot check and rolls back');
    car.state.set('parked');
    const parked = await car.primary.runCycle();
    for (const [serial, outcome] of Object.entries(parked.outcomes)) say(`   ${serial}: ${outcome.status}${outcome.code === undefined ? '' : ` (${outcome.code})`}`);
    expect(parked.outcomes['tcu-1']?.status === 'installed' && parked.outcomes['body-front']?.status === 'installed', 'the primary and the front body controller installed');
    expect(parked.outcomes['body-rear']?.status === 'rolled_back', 'the rear body controller rolled back to its previous image');
    await car.primary.runCycle(); // reports the outcome to the Director
    const status = await operator('GET', `/api/v1/vehicles/${VIN}`);
    for (const ecu of status.json.ecus as Array<{ serial: string; installed: { filename: string } | null }>) say(`   Director sees ${ecu.serial}: ${ecu.installed?.filename ?? 'nothing reported'}`);
    const states = (status.json.assignments as Array<{ ecuSerial: string; state: string }>).map((a) => `${a.ecuSerial}=${a.state}`).sort();
    expect(states.join(',') === 'body-front=installed,body-rear=failed,tcu-1=installed', `assignments: ${states.join(', ')}`);

    step('6. Attack: an image tampered with in transit is rejected and reported');
    const bodyV2 = join(firmware, 'body-1.2.bin');
    writeFileSync(bodyV2, Buffer.alloc(512 * 1024, 'body controller 1.2 '));
    await ws.addImage(bodyV2, { name: 'body/body-1.2.bin', fields: { hardwareIds: ['demo-body'], releaseCounter: 12 } });
    ws.sign('targets', targetsKeys[1]!);
    ws.sign('targets', targetsKeys[2]!);
    await pushWorkspace(ws, client);
    expect((await operator('POST', '/api/v1/assignments', { vin: VIN, ecuSerial: 'body-front', image: 'body/body-1.2.bin' })).status === 201, 'body/body-1.2.bin assigned');
    network.behaviour = { kind: 'tamper-images' };
    const tampered = await car.primary.runCycle();
    expect(tampered.status === 'failed' && tampered.error?.code === 'hash_mismatch', `the primary refused the image (${tampered.error?.code})`);
    expect(car.installed()['body-front'] === 'body/body-1.1.bin', 'the front body controller still runs body-1.1');

    step('7. Attack: old Director metadata replayed to the vehicle is rejected and reported');
    network.behaviour = { kind: 'replay-director-metadata' };
    const replayed = await car.primary.runCycle();
    expect(replayed.status === 'failed' && replayed.error?.code === 'rollback', `the primary refused the replayed metadata (${replayed.error?.code})`);

    step('8. The attacker leaves: the next honest cycle installs, and the Director shows both attacks');
    network.behaviour = null;
    const honest = await car.primary.runCycle();
    expect(honest.status === 'installed', 'body-1.2 installed on the front body controller');
    await car.primary.runCycle();
    const attacks = ((await operator('GET', `/api/v1/vehicles/${VIN}`)).json.attacks as Array<{ code: string; ecuSerial: string }>).map((a) => a.code);
    expect(attacks.includes('hash_mismatch') && attacks.includes('rollback'), `the Director recorded the attacks: ${[...new Set(attacks)].join(', ')}`);

    say('\nDemo complete: every step behaved as described.');
    if (options.keep) {
      // The vehicle's folder becomes one `uptane vehicle status|run --dir` takes (the ECU folders are there already).
      const vehicleDir = join(dataDir, 'vehicle');
      adoptVehicleFolder(
        vehicleDir,
        {
          vin: VIN,
          primary: car.spec.primary,
          secondaries: car.spec.secondaries.map((e) => ({ serial: e.serial, hardwareId: e.hardwareId, verification: e.verification ?? 'partial' })),
          directorUrl: director.url,
          imageRepoUrl: image.url,
          provisionedAt: clock.now().toISOString(),
        },
        'parked',
        pki === undefined ? undefined : { ca: pki.ca, cert: pki.vehicle.certPem, key: pki.vehicle.keyPem },
      );
      say(`\nServers left running (Ctrl-C to stop):`);
      say(`   Image repository: ${image.url}   (upload token: ${uploaderToken}, for UPTANE_UPLOAD_TOKEN; the release workspace ${join(dataDir, 'image-workspace')} pushes to it: npx uptane image status -w ${join(dataDir, 'image-workspace')})`);
      const ca = caFile === undefined ? '' : ` --ca ${caFile}`;
      say(`   Director:         ${director.url}   (operator token: ${operatorToken}; try: UPTANE_OPERATOR_TOKEN=${operatorToken} npx uptane director vehicle show ${VIN} --url ${director.url}${ca})`);
      say(`   Data folder:      ${dataDir}`);
      say(`   Trust anchors:    ${join(dataDir, 'trust', 'image-root.json')}, ${join(dataDir, 'trust', 'director-root.json')}`);
      say(`   Vehicle:          ${vehicleDir}   (try: npx uptane vehicle status --dir ${vehicleDir})`);
      say(`   Director workspace: ${join(dataDir, 'director-workspace')} (root v1 published); offline keys in ${keysDir}`);
    } else {
      await stop();
      // A folder the demo made for itself goes with it; one the user named stays for inspection.
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    }
    return { ok: true, dataDir, imageUrl: image.url, directorUrl: director.url, caFile, stop };
  } catch (err) {
    say(`\nDEMO FAILED: ${(err as Error).message}`);
    await stop();
    return { ok: false, dataDir, imageUrl: image?.url ?? '', directorUrl: director?.url ?? '', caFile, stop: async () => undefined };
  }
}

/**
 * The demo's development PKI in `dir` (as `uptane pki` would make it): a CA, one server
 * certificate for loopback that both servers use, and the client certificate of the vehicle's primary.
 */
async function demoPki(dir: string, vin: string, primarySerial: string) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await createDevCa({ commonName: 'uptane demo CA' });
  const server = await issueServerCertificate(ca, { hostnames: ['127.0.0.1', 'localhost'] });
  const vehicle = await issueVehicleCertificate(ca, { vin, primarySerial });
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.certPem);
  writeFileSync(join(dir, 'ca-key.pem'), ca.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'server-cert.pem'), server.certPem);
  writeFileSync(join(dir, 'server-key.pem'), server.keyPem, { mode: 0o600 });
  const serverTls: TlsServerConfig = { certFile: join(dir, 'server-cert.pem'), keyFile: join(dir, 'server-key.pem'), clientCaFile: caFile };
  return { ca: ca.certPem, caFile, server: serverTls, vehicle };
}
