// Both repositories over real TLS (or plain HTTP, to compare), each optionally behind a recording
// TCP relay that keeps every byte either way, a development CA with vehicle client certificates, and
// every client the project has talking through it: the release engineer's push (ImageRepoClient),
// the operator's OperatorClient, the Director's own Image repository client, and a vehicle
// provisioned into a folder and opened as `uptane vehicle run` opens it. For the eavesdropper and
// mutual-TLS attack tests (docs/threat-model.md L14, L16).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { formatExpires, SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { systemClock } from '../../shared/core/clock.js';
import type { ClientTlsConfig } from '../../shared/client/tls-client.js';
import { createDevCa, issueServerCertificate, issueVehicleCertificate, type IssuedCertificate } from '../../shared/pki/dev-ca.js';
import { startDirector, type RunningDirector } from '../../director-repo/server.js';
import { OperatorClient } from '../../director-repo/operator-client.js';
import { ImageRepoClient } from '../../image-repo/repo-client.js';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import { rootMetadata } from '../../sim/harness/fleet-fixtures.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { openVehicle, type OpenedVehicle } from '../../vehicle/compose.js';
import { loadVehicleConfig } from '../../vehicle/folder.js';
import { provisionVehicleFolder, type EcuSpec } from '../../vehicle/provision.js';

export const SCENE_OPERATOR_TOKEN = 'scene-operator-token-5b1f0c9e';
export const SCENE_UPLOADER_TOKEN = 'scene-uploader-token-77d2a4e1';

/** A TCP relay that records every byte in both directions, as an eavesdropper on the path would. */
export class RecordingRelay {
  private readonly chunks: Buffer[] = [];
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<RecordingRelay> {
    let relay!: RecordingRelay;
    const server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
      for (const socket of [client, upstream]) {
        relay.sockets.add(socket);
        socket.on('close', () => relay.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk: Buffer) => relay.chunks.push(Buffer.from(chunk)));
      upstream.on('data', (chunk: Buffer) => relay.chunks.push(Buffer.from(chunk)));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new RecordingRelay(server, (server.address() as { port: number }).port);
    return relay;
  }

  /** Every byte that crossed, both directions. */
  recording(): Buffer {
    return Buffer.concat(this.chunks);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface SceneVehicle {
  readonly vin: string;
  readonly primarySerial: string;
  readonly dir: string;
  readonly certificate: IssuedCertificate | undefined;
  open(): Promise<OpenedVehicle>;
}

export interface TlsScene {
  readonly tls: boolean;
  readonly dir: string;
  readonly ca: IssuedCertificate | undefined;
  readonly image: RunningImageServer;
  readonly director: RunningDirector;
  /** What clients use: the relays' URLs when relayed, else the servers'. */
  readonly imageUrl: string;
  readonly directorUrl: string;
  readonly imageRelay: RecordingRelay | undefined;
  readonly directorRelay: RecordingRelay | undefined;
  readonly operator: OperatorClient;
  readonly uploader: ImageRepoClient;
  readonly directorRoot: Buffer;
  readonly imageRoot: Buffer;
  /** The session tokens the Director issued (read at the server, so a test can look for them on the wire). */
  readonly sessionTokens: string[];
  /** The client TLS settings with the CA only (an operator, a release engineer). */
  readonly clientTls: ClientTlsConfig | undefined;
  /** Uploads `content` and publishes targets listing every image published so far. */
  publishImage(name: string, content: Buffer, hardwareId: string, releaseCounter: number): Promise<void>;
  /**
   * Provisions a vehicle folder (primary only) and registers it; `certificate` overrides the client
   * certificate it is provisioned with (undefined: one issued for it; null: none).
   */
  addVehicle(vin: string, primary: EcuSpec, certificate?: IssuedCertificate | null, imageRepoUrl?: string): Promise<SceneVehicle>;
  issueVehicleCertificate(vin: string, primarySerial: string, validity?: { notBefore?: Date; notAfter?: Date }): Promise<IssuedCertificate>;
  close(): Promise<void>;
}

export interface TlsSceneOptions {
  /** Serve TLS (with the Director requiring client certificates); false: plain HTTP everywhere. */
  readonly tls: boolean;
  /** Put a recording relay in front of each server, used by every client. */
  readonly relay: boolean;
}

export async function startTlsScene(options: TlsSceneOptions): Promise<TlsScene> {
  const dir = mkdtempSync(join(tmpdir(), 'uptane-tls-scene-'));
  const expires = formatExpires(new Date(Date.now() + 365 * 24 * 3600 * 1000));
  const ca = options.tls ? await createDevCa({ commonName: 'scene fleet CA' }) : undefined;
  const pki = join(dir, 'pki');
  mkdirSync(pki, { mode: 0o700 });
  let serverTls: { certFile: string; keyFile: string; clientCaFile: string } | undefined;
  if (ca !== undefined) {
    const server = await issueServerCertificate(ca, { hostnames: ['127.0.0.1', 'localhost'] });
    writeFileSync(join(pki, 'ca.pem'), ca.certPem);
    writeFileSync(join(pki, 'server.pem'), server.certPem);
    writeFileSync(join(pki, 'server-key.pem'), server.keyPem, { mode: 0o600 });
    serverTls = { certFile: join(pki, 'server.pem'), keyFile: join(pki, 'server-key.pem'), clientCaFile: join(pki, 'ca.pem') };
  }
  const clientTls: ClientTlsConfig | undefined = ca === undefined ? undefined : { ca: ca.certPem };
  const scheme = options.tls ? 'https' : 'http';
  const closers: Array<() => Promise<void> | void> = [];
  try {
    const image = await startImageServer({ dataDir: join(dir, 'image'), tls: serverTls === undefined ? undefined : { certFile: serverTls.certFile, keyFile: serverTls.keyFile } });
    closers.push(() => image.close());
    await image.storage.addUploader('scene-engineer', SCENE_UPLOADER_TOKEN, systemClock.now());
    const imageRelay = options.relay ? await RecordingRelay.start(Number(new URL(image.url).port)) : undefined;
    if (imageRelay !== undefined) closers.push(() => imageRelay.close());
    const imageUrl = imageRelay === undefined ? image.url : `${scheme}://127.0.0.1:${imageRelay.port}`;

    // The release engineer, through the relay: online keys, root, images, targets.
    const uploader = new ImageRepoClient(imageUrl, SCENE_UPLOADER_TOKEN, clientTls);
    closers.push(() => uploader.close());
    const imageRootKey = PrivateKey.fromLabel('scene/image-root');
    const imageTargetsKey = PrivateKey.fromLabel('scene/image-targets');
    const online = await uploader.onlineKeys();
    const entry = (key: PrivateKey) => ({ keyid: key.keyid, key: key.publicKey.tuf });
    const imageRoot = serializeMetadata(
      signMetadata(
        rootMetadata(1, { root: [entry(imageRootKey)], targets: [entry(imageTargetsKey)], snapshot: [{ keyid: online.snapshot.keyid, key: online.snapshot.tuf }], timestamp: [{ keyid: online.timestamp.keyid, key: online.timestamp.tuf }] }, expires),
        [imageRootKey],
      ),
    );
    await uploader.putRoot(imageRoot);
    const imageRootFile = join(dir, 'image-root.json');
    writeFileSync(imageRootFile, imageRoot);

    // The Director reads the Image repository through the relay too, over TLS with the CA.
    const director = await startDirector({ dataDir: join(dir, 'director'), imageRepoUrl: imageUrl, imageRootFile, imageRepoTls: clientTls, tls: serverTls });
    closers.push(() => director.close());
    await director.storage.addOperator('scene-operator', SCENE_OPERATOR_TOKEN, systemClock.now());
    const sessionTokens: string[] = [];
    const authentication = director.services.authentication;
    const issue = authentication.issueSession.bind(authentication);
    authentication.issueSession = async (...args) => {
      const session = await issue(...args);
      sessionTokens.push(session.token);
      return session;
    };
    const directorRelay = options.relay ? await RecordingRelay.start(Number(new URL(director.url).port)) : undefined;
    if (directorRelay !== undefined) closers.push(() => directorRelay.close());
    const directorUrl = directorRelay === undefined ? director.url : `${scheme}://127.0.0.1:${directorRelay.port}`;

    const operator = new OperatorClient(directorUrl, SCENE_OPERATOR_TOKEN, 'UPTANE_OPERATOR_TOKEN', '--url', clientTls);
    closers.push(() => operator.close());
    const directorRootKey = PrivateKey.fromLabel('scene/director-root');
    const directorOnline = director.services.root.onlineKeysJson();
    const directorRoot = serializeMetadata(
      signMetadata(
        rootMetadata(1, { root: [entry(directorRootKey)], targets: [directorOnline.targets], snapshot: [directorOnline.snapshot], timestamp: [directorOnline.timestamp] }, expires),
        [directorRootKey],
      ),
    );
    await operator.call('PUT', '/api/v1/metadata/root', 'publish the Director root', new Uint8Array(directorRoot));

    const published: Record<string, TargetFile> = {};
    let targetsVersion = 0;
    const imagesDir = join(dir, 'images');
    mkdirSync(imagesDir);

    const scene: TlsScene = {
      tls: options.tls,
      dir,
      ca,
      image,
      director,
      imageUrl,
      directorUrl,
      imageRelay,
      directorRelay,
      operator,
      uploader,
      directorRoot,
      imageRoot,
      sessionTokens,
      clientTls,
      async publishImage(name, content, hardwareId, releaseCounter) {
        const file = join(imagesDir, name.replace(/\//g, '_'));
        writeFileSync(file, content);
        const stored = await uploader.uploadImage(file);
        published[name] = { length: stored.length, hashes: { ...stored.hashes }, custom: { hardwareIds: [hardwareId], releaseCounter } };
        targetsVersion += 1;
        const targets: TargetsSigned = { _type: 'targets', spec_version: SPEC_VERSION, version: targetsVersion, expires, targets: { ...published } };
        await uploader.putTargets('targets', serializeMetadata(signMetadata(targets, [imageTargetsKey])));
      },
      issueVehicleCertificate(vin, primarySerial, validity = {}) {
        if (ca === undefined) throw new Error('a plain-HTTP scene has no CA');
        return issueVehicleCertificate(ca, { vin, primarySerial, ...validity });
      },
      async addVehicle(vin, primary, certificate, vehicleImageUrl = imageUrl) {
        const vehicleDir = join(dir, 'vehicles', vin);
        const cert = ca === undefined || certificate === null ? undefined : (certificate ?? (await scene.issueVehicleCertificate(vin, primary.serial)));
        const tls: ClientTlsConfig | undefined = ca === undefined ? undefined : { ca: ca.certPem, cert: cert?.certPem, key: cert?.keyPem };
        const { registration } = provisionVehicleFolder(
          vehicleDir,
          { vin, primary, secondaries: [], directorUrl, imageRepoUrl: vehicleImageUrl, directorRoot, imageRoot },
          (serial) => SimulatedVehicle.keysFor({ seed: 'scene', vin }, serial),
          formatExpires(new Date()),
          tls,
        );
        await operator.send('POST /vehicles', `register ${vin}`, { body: registration });
        return {
          vin,
          primarySerial: primary.serial,
          dir: vehicleDir,
          certificate: cert,
          open: () => openVehicle(vehicleDir, loadVehicleConfig(vehicleDir), new Map(), {}),
        };
      },
      async close() {
        for (const close of closers.reverse()) await close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return scene;
  } catch (err) {
    for (const close of closers.reverse()) await close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
