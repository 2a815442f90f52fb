// Both servers as the operator runs them: `node dist/cli.js image serve` and `director serve`, each a
// process of its own (so a crash shows as the process exiting, and its stderr is read for "internal
// error" traces), on loopback ports, with realistic state set up over their own APIs first: an
// Image repository with root, targets and an image; a Director with its root, two registered
// vehicles, an assignment, a group, a draft campaign, an accepted manifest, an operator token, an
// uploader token and a vehicle session.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalBytes } from '../../shared/core/canonical.js';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { signVehicleRequest } from '../../shared/uptane/vehicle-auth.js';
import { CLI, runCli } from '../support/cli-runner.js';
import { savePrivateKey } from '../../shared/files/key-files.js';
import { rootMetadata } from '../../sim/harness/fleet-fixtures.js';
import { fuzzKey, sendRaw, type FuzzContext, type ServerName } from './requests.js';
import { StateReader, type StateSnapshot } from './state-snapshot.js';

export const KEYS = {
  imageRoot: 'fuzz/image-root',
  imageTargets: 'fuzz/image-targets',
  directorRoot: 'fuzz/director-root',
  primaryA: 'fuzz/A/tcu-1',
  secondaryA: 'fuzz/A/ecm-1',
  primaryB: 'fuzz/B/tcu-2',
  secondaryB: 'fuzz/B/ecm-2',
} as const;
export const VIN_A = 'FUZZVIN0001';
export const VIN_B = 'FUZZVIN0002';
export const IMAGE_NAME = 'fuzz/ecm-1.bin';
export const IMAGE_CONTENT = Buffer.from('fuzz image, version 1\n'.repeat(64));
export const GROUP = 'fuzz-group';
export const CAMPAIGN = 'fuzz-campaign';

/** How long one request may take before it counts as a hang (a bound, not a timing assertion). */
export const ANSWER_BOUND_MS = 20_000;

const entry = (label: string) => ({ keyid: fuzzKey(label).keyid, key: fuzzKey(label).publicKey.tuf });

class ServerProcess {
  child!: ChildProcessWithoutNullStreams;
  stderr = '';
  stdout = '';
  url = '';
  exit: string | undefined;

  constructor(readonly name: ServerName, private readonly args: () => string[]) {}

  async start(port: number): Promise<void> {
    this.stderr = '';
    this.stdout = '';
    this.exit = undefined;
    // As an operator starts it: Jest's NODE_ENV=test must not leak in (express shows more in 'test').
    const env = { ...process.env };
    delete env.NODE_ENV;
    const child = spawn(process.execPath, [CLI, ...this.args(), '--port', String(port)], { env });
    this.child = child;
    child.stdout.setEncoding('utf8').on('data', (c: string) => (this.stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    child.on('exit', (code, signal) => (this.exit = `exited with ${signal ?? code}`));
    this.url = await new Promise<string>((resolve, reject) => {
      const onData = () => {
        const match = /listening on (http:\/\/\S+)/.exec(this.stdout);
        if (match === null) return;
        child.stdout.off('data', onData);
        child.off('exit', onExit);
        resolve(match[1]!);
      };
      const onExit = () => reject(new Error(`${this.name} server exited before listening:\n${this.stdout}\n${this.stderr}`));
      child.stdout.on('data', onData);
      child.once('exit', onExit);
    });
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

async function call(url: string, method: string, path: string, token: string | undefined, body?: string | Buffer, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}${path}`, {
    method,
    body,
    headers: { ...(token === undefined ? {} : { authorization: token }), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
  });
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

async function expectStatus(what: string, result: Promise<{ status: number; text: string }>, status: number) {
  const r = await result;
  if (r.status !== status) throw new Error(`fuzz setup: ${what} answered ${r.status}, expected ${status}: ${r.text}`);
  return r;
}

function envelope(signed: object, labels: readonly string[]): string {
  const bytes = canonicalBytes(signed);
  return JSON.stringify({ signed, signatures: labels.map((l) => ({ keyid: fuzzKey(l).keyid, sig: fuzzKey(l).sign(bytes) })) });
}

export class FuzzServers {
  readonly dir = mkdtempSync(join(tmpdir(), 'uptane-fuzz-'));
  // Reads need a credential, as `image serve` runs by default; the Director reads through URLs it signs (docs/signed-urls.md).
  // Both keep a transparency log, so the /log routes parse what the fuzzer sends (docs/transparency-log.md "Server routes").
  readonly image = new ServerProcess('image', () => ['image', 'serve', '--data-dir', join(this.dir, 'image'), '--url-signing-key', join(this.dir, 'director-url.pub'), ...this.logArgs()]);
  readonly director = new ServerProcess('director', () => [
    'director', 'serve', '--data-dir', join(this.dir, 'director'), '--image-repo', this.image.url, '--image-root', join(this.dir, 'image-root.json'), ...this.logArgs(),
  ]);

  /** The log's key and a witness's public key, outside the data folders (the state oracle compares those). */
  private logArgs(): string[] {
    const logKey = join(this.dir, 'log-key.pem');
    const witness = join(this.dir, 'witness.pub.json');
    if (!existsSync(logKey)) savePrivateKey(logKey, fuzzKey('fuzz/log'));
    if (!existsSync(witness)) writeFileSync(witness, JSON.stringify(fuzzKey('fuzz/witness').publicKey.tuf));
    return ['--log-key', logKey, '--log-witness-key', witness];
  }
  ctx!: FuzzContext;
  private readers = new Map<ServerName, StateReader>();
  /** Restarts after a crash or hang, per server (each also reported as a failure). */
  restarts = 0;

  static async start(): Promise<FuzzServers> {
    const servers = new FuzzServers();
    try {
      await servers.setUp();
    } catch (err) {
      await servers.close();
      throw err;
    }
    return servers;
  }

  private async setUp(): Promise<void> {
    const expires = new Date(Date.now() + 365 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    // The Director's URL-signing key first, as an operator hands it to the Image repository.
    const urlKey = await runCli(['director', 'url-signing-key', '--data-dir', join(this.dir, 'director')]);
    if (urlKey.status !== 0) throw new Error(`fuzz setup: director url-signing-key failed: ${urlKey.stderr}`);
    writeFileSync(join(this.dir, 'director-url.pub'), urlKey.stdout);
    // Image repository: root (online keys from the server), the image, targets listing it.
    await this.image.start(0);
    const addedUploader = await runCli(['image', 'uploader', 'add', 'fuzz-uploader', '--data-dir', join(this.dir, 'image')]);
    if (addedUploader.status !== 0) throw new Error(`fuzz setup: uploader add failed: ${addedUploader.stderr}`);
    const uploaderToken = addedUploader.stdout.trim().split('\n').pop()!;
    const uploader = `Bearer ${uploaderToken}`;
    const imageOnline = (await call(this.image.url, 'GET', '/api/v1/online-keys', undefined)).json() as Record<'timestamp' | 'snapshot', { keyid: string; key: never }>;
    const imageRoot = envelope(
      rootMetadata(1, { root: [entry(KEYS.imageRoot)], targets: [entry(KEYS.imageTargets)], snapshot: [imageOnline.snapshot], timestamp: [imageOnline.timestamp] }, expires),
      [KEYS.imageRoot],
    );
    await expectStatus('image root', call(this.image.url, 'PUT', '/api/v1/metadata/root', uploader, imageRoot), 201);
    writeFileSync(join(this.dir, 'image-root.json'), imageRoot);
    await expectStatus('image upload', call(this.image.url, 'POST', '/api/v1/images', uploader, IMAGE_CONTENT, { 'content-type': 'application/octet-stream' }), 201);
    const imageFile = {
      sha256: createHash('sha256').update(IMAGE_CONTENT).digest('hex'),
      sha512: createHash('sha512').update(IMAGE_CONTENT).digest('hex'),
      length: IMAGE_CONTENT.length,
    };
    const targets = {
      _type: 'targets',
      spec_version: SPEC_VERSION,
      version: 1,
      expires,
      targets: { [IMAGE_NAME]: { length: imageFile.length, hashes: { sha256: imageFile.sha256, sha512: imageFile.sha512 }, custom: { hardwareIds: ['ecm-x1'], releaseCounter: 1 } } },
    };
    await expectStatus('image targets', call(this.image.url, 'PUT', '/api/v1/metadata/targets/targets', uploader, envelope(targets, [KEYS.imageTargets])), 201);

    // Director: root, two vehicles, an assignment, a group, a draft campaign.
    await this.director.start(0);
    const operatorToken = await this.operatorToken();
    const operator = `Bearer ${operatorToken}`;
    const directorOnline = (await call(this.director.url, 'GET', '/api/v1/online-keys', operator)).json() as Record<'targets' | 'snapshot' | 'timestamp', { keyid: string; key: never }>;
    const directorRoot = envelope(
      rootMetadata(1, { root: [entry(KEYS.directorRoot)], targets: [directorOnline.targets], snapshot: [directorOnline.snapshot], timestamp: [directorOnline.timestamp] }, expires),
      [KEYS.directorRoot],
    );
    await expectStatus('director root', call(this.director.url, 'PUT', '/api/v1/metadata/root', operator, directorRoot, { 'content-type': 'application/octet-stream' }), 201);
    const register = (vin: string, primary: string, secondary: string, serials: [string, string]) =>
      expectStatus(`register ${vin}`, call(this.director.url, 'POST', '/api/v1/vehicles', operator, JSON.stringify({
        vin,
        attributes: { model: 'sedan', region: 'eu' },
        ecus: [
          { serial: serials[0], hardwareId: 'tcu-a', publicKey: fuzzKey(primary).publicKey.tuf.keyval.public, primary: true },
          { serial: serials[1], hardwareId: 'ecm-x1', publicKey: fuzzKey(secondary).publicKey.tuf.keyval.public },
        ],
      })), 201);
    await register(VIN_A, KEYS.primaryA, KEYS.secondaryA, ['tcu-1', 'ecm-1']);
    await register(VIN_B, KEYS.primaryB, KEYS.secondaryB, ['tcu-2', 'ecm-2']);
    await expectStatus('assignment', call(this.director.url, 'POST', '/api/v1/assignments', operator, JSON.stringify({ vin: VIN_A, image: IMAGE_NAME, hardwareId: 'ecm-x1' })), 201);
    await expectStatus('group', call(this.director.url, 'POST', '/api/v1/groups', operator, JSON.stringify({ name: GROUP, vins: [VIN_A, VIN_B] })), 201);
    await expectStatus('campaign', call(this.director.url, 'POST', '/api/v1/campaigns', operator, JSON.stringify({
      name: CAMPAIGN, group: GROUP, images: [{ hardwareId: 'ecm-x1', image: IMAGE_NAME }], stages: [{ share: 0.5 }, { share: 1 }],
    })), 201);

    this.ctx = {
      image: { url: this.image.url, uploaderToken },
      director: { url: this.director.url, operatorToken, sessionToken: '' },
      primaryKeyLabel: KEYS.primaryA,
      secondaryKeyLabel: KEYS.secondaryA,
      imageFile,
      counter: 0,
      targetsVersion: 1,
    };
    await this.openSession();
    await this.sendManifest();
    await this.warm();
    this.readers.set('image', new StateReader(join(this.dir, 'image'), 'image-repo.sqlite'));
    this.readers.set('director', new StateReader(join(this.dir, 'director'), 'director.sqlite'));
  }

  /**
   * An operator token that opens every operator route: with operator scopes (HR-10) that is an
   * admin token (publishing the root needs it); a Director without scopes refuses the option.
   */
  private async operatorToken(): Promise<string> {
    const args = ['director', 'operator', 'add', 'fuzz-operator', '--data-dir', join(this.dir, 'director')];
    let added = await runCli([...args, '--scope', 'admin']);
    if (added.status !== 0) added = await runCli(args);
    if (added.status !== 0) throw new Error(`fuzz setup: operator add failed: ${added.stderr}`);
    return added.stdout.trim().split('\n').pop()!;
  }

  private async openSession(): Promise<void> {
    const open = (at: Date) => call(this.director.url, 'POST', '/vehicle/session', signVehicleRequest(fuzzKey(KEYS.primaryA), { method: 'POST', path: '/vehicle/session' }, at));
    let session = await open(new Date());
    // Right after a restart, a signed request must be newer (in whole seconds) than the newest the
    // Director accepted before (HR-9a); stamped two seconds ahead, well inside the allowed skew.
    if (session.status === 401 && session.text.includes('restarted')) session = await open(new Date(Date.now() + 2000));
    if (session.status !== 201) throw new Error(`fuzz setup: vehicle session answered ${session.status}: ${session.text}`);
    this.ctx.director.sessionToken = String(JSON.parse(session.text).token);
  }

  /** One honest manifest from vehicle A, so the manifest history and ECU records are not empty. */
  private async sendManifest(): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const report = (serial: string, label: string, filename: string, content: Buffer) => {
      const signed = {
        _type: 'ecu_version_report',
        ecu_serial: serial,
        installed_image: { filename, length: content.length, hashes: { sha256: createHash('sha256').update(content).digest('hex') } },
        attacks_detected: [],
        report_time: now,
        report_counter: ++this.ctx.counter,
      };
      return { signed, signatures: [{ keyid: fuzzKey(label).keyid, sig: fuzzKey(label).sign(canonicalBytes(signed)) }] };
    };
    const factory = Buffer.from('factory image');
    const signed = {
      _type: 'vehicle_version_manifest',
      vin: VIN_A,
      primary_ecu_serial: 'tcu-1',
      ecu_version_reports: { 'tcu-1': report('tcu-1', KEYS.primaryA, 'tcu/factory.bin', factory), 'ecm-1': report('ecm-1', KEYS.secondaryA, 'ecm/factory.bin', factory) },
      vehicle_state: 'parked',
    };
    await expectStatus('manifest', call(this.director.url, 'POST', '/vehicle/manifest', `Bearer ${this.ctx.director.sessionToken}`, envelope(signed, [KEYS.primaryA])), 200);
  }

  /**
   * Reads vehicle A's metadata, so whatever its next read would sign lazily is signed now (a
   * refused read after it then has nothing left to sign). Called after every accepted request.
   */
  async warm(): Promise<void> {
    for (const file of ['timestamp.json', 'snapshot.json', 'targets.json']) {
      let r = await call(this.director.url, 'GET', `/vehicle/metadata/${file}`, `Bearer ${this.ctx.director.sessionToken}`);
      if (r.status === 401) {
        await this.openSession(); // expired, or the Director restarted (sessions end with its process)
        r = await call(this.director.url, 'GET', `/vehicle/metadata/${file}`, `Bearer ${this.ctx.director.sessionToken}`);
      }
      if (r.status !== 200) throw new Error(`fuzz harness: vehicle A's ${file} answered ${r.status}: ${r.text}`);
    }
  }

  process(name: ServerName): ServerProcess {
    return name === 'image' ? this.image : this.director;
  }

  snapshot(): Record<ServerName, StateSnapshot> {
    return { image: this.readers.get('image')!.snapshot(), director: this.readers.get('director')!.snapshot() };
  }

  /** The server answers a cheap read within the bound (GET /metadata/1.root.json, both serve it). */
  async answers(name: ServerName): Promise<string | undefined> {
    const server = this.process(name);
    if (!server.alive) return `the ${name} server process ${server.exit ?? 'is gone'}`;
    // The Image repository serves reads only to credentials: the uploader's token.
    const auth = name === 'image' && this.ctx !== undefined ? `Authorization: Bearer ${this.ctx.image.uploaderToken}\r\n` : '';
    const r = await sendRaw(server.url, { head: `GET /metadata/1.root.json HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`, body: Buffer.alloc(0), truncated: false }, ANSWER_BOUND_MS);
    if (r.status === 200) return undefined;
    if (!server.alive) return `the ${name} server process ${server.exit ?? 'is gone'}`;
    return r.timedOut ? `the ${name} server no longer answers (no answer to GET /metadata/1.root.json within ${ANSWER_BOUND_MS} ms)` : `the ${name} server answers GET /metadata/1.root.json with ${r.status ?? r.error ?? 'nothing'}`;
  }

  /** Brings back a server that crashed or hangs (same data folder and port), so the run (and shrinking) goes on. */
  async ensureAlive(): Promise<void> {
    for (const name of ['image', 'director'] as const) {
      if ((await this.answers(name)) === undefined) continue;
      const server = this.process(name);
      const port = server.port;
      await server.kill();
      await server.start(port);
      this.restarts++;
      if (name === 'director') await this.openSession();
    }
  }

  /**
   * Upload temp files still in the Image repository's incoming/ folder once every request has been
   * answered (and two more round trips made): each is a leftover of an upload that ended (HR-9f).
   */
  async leftoverUploads(): Promise<string[]> {
    for (let i = 0; i < 2; i++) await this.answers('image');
    const incoming = join(this.dir, 'image', 'blobs', 'incoming');
    return existsSync(incoming) ? readdirSync(incoming) : [];
  }

  async close(): Promise<void> {
    for (const reader of this.readers.values()) reader.close();
    await this.director.stop().catch(() => undefined);
    await this.image.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
