// The attacker's tools for vehicle tests and `uptane sim attack` (docs/threat-model.md groups E-H; the attacker's positions
// are those of docs/uptane-conformance.md 8): a Fetcher that sits between the vehicle and the
// repositories (records every request, captures what the servers said, and replaces answers),
// signers that forge metadata with stolen online keys, a trickle proxy for slow retrieval, a proxy
// that records the vehicle version manifests the Director receives, and byte-for-byte snapshots of
// an ECU's trusted state.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadPrivateKey } from '../../shared/files/key-files.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import type { Fetcher, FetchOptions, FetchResponse } from '../../shared/client/fetcher.js';
import { digestBytes } from '../../shared/core/hashing.js';
import type { VehicleVersionManifest } from '../../shared/uptane/manifest.js';
import { parseMetadata, SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { buildSnapshot, buildTimestamp } from '../../shared/server/snapshot-timestamp.js';
import type { MetadataBundle, SecondaryTransport } from '../../shared/ecu/secondary-protocol.js';
import type { SimulatedVehicle } from '../vehicle.js';
import type { Repositories } from '../harness/fleet-fixtures.js';

// -----------------------------------------------------------------------------------------------
// Network position: a Fetcher between the vehicle and both repositories.

export type Repo = 'director' | 'image';

/** What the vehicle asked for: `file` is the last path segment (`timestamp.json`, `<sha>.<name>`). */
export interface InterceptedRequest {
  readonly repo: Repo;
  readonly kind: 'metadata' | 'target';
  readonly file: string;
  readonly url: string;
  readonly offset: number;
}

export interface RecordedRequest extends InterceptedRequest {
  /** Offset the answer started at (the server honoured a range request when equal to `offset`). */
  servedFrom?: number;
}

/** Returns an answer to replace the server's, or undefined to let the request through. */
export type Intercept = (request: InterceptedRequest, options: FetchOptions, inner: Fetcher) => Promise<FetchResponse | undefined> | FetchResponse | undefined;

export function classify(url: string): InterceptedRequest {
  const path = new URL(url).pathname;
  const file = decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
  const repo: Repo = path.startsWith('/vehicle/') ? 'director' : 'image';
  const kind = path.includes('/metadata/') ? 'metadata' : 'target';
  return { repo, kind, file, url, offset: 0 };
}

export function bytesResponse(bytes: Uint8Array, offset = 0): FetchResponse {
  return { offset, body: (async function* () { yield bytes; })() };
}

export async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** A body that never ends (endless data, F1/F2): `prefix`, then 64 KiB chunks forever. */
export function endlessResponse(prefix: Uint8Array = new Uint8Array()): FetchResponse {
  return {
    offset: 0,
    body: (async function* () {
      yield prefix;
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      for (;;) yield chunk;
    })(),
  };
}

export class AttackerFetcher implements Fetcher {
  readonly requests: RecordedRequest[] = [];
  private readonly captured = new Map<string, Buffer>();
  private intercepts: Intercept[] = [];

  constructor(readonly inner: Fetcher) {}

  /** Adds an interception rule (first match wins). */
  use(intercept: Intercept): this {
    this.intercepts.push(intercept);
    return this;
  }

  /** The attacker leaves: every request goes to the real servers again. */
  clear(): void {
    this.intercepts = [];
  }

  /** Serves `bytes` whenever the vehicle asks `repo` for metadata file `file`. */
  serveMetadata(repo: Repo, file: string, bytes: Uint8Array): this {
    return this.use((r) => (r.repo === repo && r.kind === 'metadata' && r.file === file ? bytesResponse(bytes) : undefined));
  }

  /**
   * The first image download is cut once `afterBytes` have arrived, by throwing `failure()` (a
   * network error, or a power cut of the ECU); later downloads pass. Returns how many bytes the
   * vehicle had received when it was cut, so a test can check that the next download resumes there.
   */
  cutFirstImageDownload(afterBytes: number, failure: (url: string) => Error): () => number {
    let received = 0;
    let done = false;
    this.use(async (r, options, inner) => {
      if (r.kind !== 'target' || done) return undefined;
      done = true;
      const response = await inner.fetch(r.url, options);
      return {
        offset: response.offset,
        body: (async function* () {
          for await (const chunk of response.body) {
            yield chunk;
            received += chunk.length;
            if (received >= afterBytes) throw failure(r.url);
          }
        })(),
      };
    });
    return () => received;
  }

  /** Serves a set of metadata files for `repo`, by file name. */
  serveAll(repo: Repo, files: Readonly<Record<string, Uint8Array>>): this {
    for (const [file, bytes] of Object.entries(files)) this.serveMetadata(repo, file, bytes);
    return this;
  }

  /** Rewrites every image download (from offset 0) through `transform` of the genuine bytes. */
  tamperTargets(transform: (genuine: Buffer, request: InterceptedRequest) => FetchResponse): this {
    return this.use(async (r, options, inner) => {
      if (r.kind !== 'target') return undefined;
      const genuine = await readAll((await inner.fetch(r.url, { ...options, offset: 0, maxBytes: Number.MAX_SAFE_INTEGER })).body);
      return transform(genuine, r);
    });
  }

  /** Sends the requests `when` selects to `proxy` instead, same path (a hostile network, over real HTTP). */
  routeThrough(proxy: RunningProxy, when: (request: InterceptedRequest) => boolean): this {
    return this.use((r, options, inner) => {
      if (!when(r)) return undefined;
      const url = new URL(r.url);
      return inner.fetch(`${proxy.url}${url.pathname}${url.search}`, options);
    });
  }

  /** The last genuine answer of `repo` for metadata `file` that passed through (for replays). */
  capturedMetadata(repo: Repo, file: string): Buffer {
    const bytes = this.captured.get(`${repo}/${file}`);
    if (bytes === undefined) throw new Error(`the attacker never saw ${repo} ${file}`);
    return bytes;
  }

  /** Every metadata file of `repo` seen so far, by name (timestamp, N.snapshot, N.targets, N.root). */
  capturedSet(repo: Repo): Record<string, Buffer> {
    const out: Record<string, Buffer> = {};
    for (const [key, bytes] of this.captured) if (key.startsWith(`${repo}/`)) out[key.slice(repo.length + 1)] = bytes;
    return out;
  }

  /**
   * While set, every answer the vehicle receives (the attacker's or the servers') is read whole and
   * kept here by URL: what the vehicle was served, for a test vector (sim/vectors/).
   */
  served: Map<string, Buffer> | undefined;

  async fetch(url: string, options: FetchOptions): Promise<FetchResponse> {
    const answer = await this.answer(url, options);
    if (this.served === undefined) return answer;
    const bytes = await readAll(answer.body);
    this.served.set(url, bytes);
    return bytesResponse(bytes, answer.offset);
  }

  private async answer(url: string, options: FetchOptions): Promise<FetchResponse> {
    const request = { ...classify(url), offset: options.offset ?? 0 };
    const record: RecordedRequest = { ...request };
    this.requests.push(record);
    for (const intercept of this.intercepts) {
      const answer = await intercept(request, options, this.inner);
      if (answer !== undefined) {
        record.servedFrom = answer.offset;
        return answer;
      }
    }
    const response = await this.inner.fetch(url, options);
    record.servedFrom = response.offset;
    if (request.kind !== 'metadata') return response;
    const bytes = await readAll(response.body);
    this.captured.set(`${request.repo}/${request.file}`, bytes);
    return bytesResponse(bytes, response.offset);
  }
}

// -----------------------------------------------------------------------------------------------
// Stolen keys and forged metadata.

export interface OnlineKeys {
  readonly targets: PrivateKey;
  readonly snapshot: PrivateKey;
  readonly timestamp: PrivateKey;
}

/** The Director's online keys, read from its data folder (a compromised Director server). */
export function directorOnlineKeys(repos: Repositories): OnlineKeys {
  const dir = join(repos.dataDir, 'director', 'keys');
  return { targets: loadPrivateKey(join(dir, 'targets.pem')), snapshot: loadPrivateKey(join(dir, 'snapshot.pem')), timestamp: loadPrivateKey(join(dir, 'timestamp.pem')) };
}

/** The Image repository's online keys plus its offline targets key (compromised Image repository). */
export function imageRepoKeys(repos: Repositories): OnlineKeys {
  const dir = join(repos.dataDir, 'image', 'keys');
  return { targets: repos.imageTargetsKey, snapshot: loadPrivateKey(join(dir, 'snapshot.pem')), timestamp: loadPrivateKey(join(dir, 'timestamp.pem')) };
}

/** A key nobody trusts (an attacker with no keys who signs anyway). */
export const attackerKey = PrivateKey.fromLabel('attacker/own-key');

export const FORGED_EXPIRES = '2027-01-01T00:00:00Z';

/** Version of `role` the ECU at `ecuDir` trusts for `repo` (0 if none). */
export function trustedVersion(ecuDir: string, repo: Repo, role: 'timestamp' | 'snapshot' | 'targets'): number {
  const path = join(ecuDir, repo, `${role}.json`);
  return existsSync(path) ? parseMetadata(readFileSync(path), role).signed.version : 0;
}

/**
 * Targets, snapshot and timestamp signed with `keys`, each one version above what `ecuDir` trusts
 * (so they pass the rollback checks), under the file names a vehicle requests them by.
 */
export function forgeRepository(
  keys: OnlineKeys,
  ecuDir: string,
  repo: Repo,
  targets: Pick<TargetsSigned, 'targets'> & Partial<Pick<TargetsSigned, 'delegations' | 'custom'>>,
  options: { expires?: string; minVersion?: number } = {},
): Record<string, Buffer> {
  const expires = options.expires ?? FORGED_EXPIRES;
  const version = (role: 'timestamp' | 'snapshot' | 'targets') => Math.max(trustedVersion(ecuDir, repo, role), (options.minVersion ?? 1) - 1) + 1;
  const targetsSigned: TargetsSigned = { _type: 'targets', spec_version: SPEC_VERSION, version: version('targets'), expires, ...targets };
  const targetsBytes = serializeMetadata(signMetadata(targetsSigned, [keys.targets]));
  const snapshot = buildSnapshot([['targets', { version: targetsSigned.version, bytes: targetsBytes }]], { version: version('snapshot'), expires, key: keys.snapshot });
  const timestamp = buildTimestamp(snapshot, { version: version('timestamp'), expires, key: keys.timestamp });
  return {
    'timestamp.json': timestamp.bytes,
    [`${snapshot.version}.snapshot.json`]: snapshot.bytes,
    [`${targetsSigned.version}.targets.json`]: targetsBytes,
  };
}

/**
 * Fast-forward (B10): a timestamp and a snapshot at `version`, signed with stolen online keys over
 * the genuine targets file `targets`, so every other check passes and the vehicle trusts them.
 */
export function fastForward(keys: Pick<OnlineKeys, 'timestamp' | 'snapshot'>, targets: { readonly version: number; readonly bytes: Uint8Array }, version: number): Record<string, Buffer> {
  const snapshot = buildSnapshot([['targets', targets]], { version, expires: FORGED_EXPIRES, key: keys.snapshot });
  const timestamp = buildTimestamp(snapshot, { version, expires: FORGED_EXPIRES, key: keys.timestamp });
  return { 'timestamp.json': timestamp.bytes, [`${version}.snapshot.json`]: snapshot.bytes };
}

/** A Director targets entry for `content`, assigned to ECU `serial` with `hardwareId`. */
export function directorTarget(content: Uint8Array, ecus: Readonly<Record<string, string>>, releaseCounter: number): TargetFile {
  return {
    length: content.length,
    hashes: digestBytes(content),
    custom: { ecuIdentifiers: Object.fromEntries(Object.entries(ecus).map(([serial, hardwareId]) => [serial, { hardwareId }])), releaseCounter },
  };
}

/** Re-signs the `signed` part of a metadata file after `mutate`, with `keys` (no canonical check). */
export function resign(bytes: Uint8Array, keys: readonly PrivateKey[], mutate: (signed: Record<string, unknown>) => void): Buffer {
  const envelope = JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed: Record<string, unknown> };
  mutate(envelope.signed);
  return serializeMetadata(signMetadata(envelope.signed as unknown as TargetsSigned, keys));
}

// -----------------------------------------------------------------------------------------------
// In-vehicle bus: a tap between the primary and one secondary.

export interface BusTapRules {
  versionReport?: (genuine: SecondaryTransport['versionReport']) => ReturnType<SecondaryTransport['versionReport']>;
  putMetadata?: (bundle: MetadataBundle, inner: SecondaryTransport) => ReturnType<SecondaryTransport['putMetadata']>;
  putImage?: (filename: string, body: AsyncIterable<Uint8Array>, inner: SecondaryTransport) => Promise<void>;
}

/** A bus position whose rules tests set and clear; installed through SimulatedVehicleSpec.busTap. */
export class BusAttacker {
  private readonly rules = new Map<string, BusTapRules>();
  /** Every metadata bundle the primary put on the bus, per secondary (what a bus sniffer sees). */
  readonly bundles = new Map<string, MetadataBundle[]>();

  on(serial: string, rules: BusTapRules): void {
    this.rules.set(serial, rules);
  }

  clear(): void {
    this.rules.clear();
  }

  readonly tap = (serial: string, transport: SecondaryTransport): SecondaryTransport => ({
    info: () => transport.info(),
    versionReport: () => {
      const rule = this.rules.get(serial)?.versionReport;
      return rule === undefined ? transport.versionReport() : rule(() => transport.versionReport());
    },
    putMetadata: (bundle) => {
      this.bundles.set(serial, [...(this.bundles.get(serial) ?? []), bundle]);
      const rule = this.rules.get(serial)?.putMetadata;
      return rule === undefined ? transport.putMetadata(bundle) : rule(bundle, transport);
    },
    putImage: (filename, body) => {
      const rule = this.rules.get(serial)?.putImage;
      return rule === undefined ? transport.putImage(filename, body) : rule(filename, body, transport);
    },
    install: () => transport.install(),
    beginTrial: (bundleId) => transport.beginTrial(bundleId),
    commitTrial: (bundleId) => transport.commitTrial(bundleId),
    rollBackTrial: (bundleId, reason) => transport.rollBackTrial(bundleId, reason),
  });
}

/** A stream of `bytes`, in one chunk. */
export async function* streamOf(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

// -----------------------------------------------------------------------------------------------
// A hostile network over real HTTP: a proxy that drops, trickles or never ends what it forwards.

export interface RunningProxy {
  readonly url: string;
  close(): Promise<void>;
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.listen(0, '127.0.0.1', () => resolve());
    server.on('error', reject);
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: http.Server): () => Promise<void> {
  return async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  };
}

/** What the network does to one request (threat model: drop-request, slow retrieval, endless data). */
export type ProxyBehaviour =
  /** The connection is cut before the request reaches the server. */
  | { readonly kind: 'drop-request' }
  /** The server answers; the connection is cut halfway through the body. */
  | { readonly kind: 'drop-response' }
  /** 200 with no length, then bytes for as long as the client reads (F1, F2). */
  | { readonly kind: 'endless' }
  /** 200 gzip-coded, then 1 KB gzip members each inflating to 1 MiB, for as long as the client reads: a decompression bomb (F7). */
  | { readonly kind: 'gzip-bomb' }
  /** The genuine answer, `bytesPerTick` bytes every `tickMs` (F4). */
  | { readonly kind: 'trickle'; readonly bytesPerTick: number; readonly tickMs: number };

/**
 * A proxy in front of `upstream()` (read per request, so it follows a restarted server) that
 * forwards the signed headers a vehicle sends and applies `decide(path)` to each request;
 * undefined passes the request through untouched. Bounded: everything stops once the client hangs up.
 */
export async function startHostileProxy(upstream: () => string, decide: (path: string) => ProxyBehaviour | undefined): Promise<RunningProxy> {
  const server = http.createServer((req, res) => {
    void (async () => {
      const behaviour = decide(req.url ?? '/');
      if (behaviour?.kind === 'drop-request') {
        req.socket.destroy();
        return;
      }
      if (behaviour?.kind === 'endless' || behaviour?.kind === 'gzip-bomb') {
        const bomb = behaviour.kind === 'gzip-bomb';
        res.writeHead(200, { 'content-type': 'application/json', ...(bomb ? { 'content-encoding': 'gzip' } : {}) });
        const chunk = bomb ? gzipSync(Buffer.alloc(1024 * 1024), { level: 9 }) : Buffer.alloc(64 * 1024, 0x41);
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
        return;
      }
      const headers: Record<string, string> = {};
      for (const name of ['authorization', 'range']) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const genuine = await fetch(`${upstream()}${req.url ?? '/'}`, { headers });
      const body = Buffer.from(await genuine.arrayBuffer());
      res.writeHead(genuine.status, { 'content-type': genuine.headers.get('content-type') ?? 'application/octet-stream', 'content-length': String(body.length) });
      if (behaviour === undefined) {
        res.end(body);
      } else if (behaviour.kind === 'drop-response') {
        res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
      } else {
        const { bytesPerTick, tickMs } = behaviour;
        let sent = 0;
        const timer = setInterval(() => {
          if (res.destroyed || sent >= body.length) {
            clearInterval(timer);
            if (!res.destroyed) res.end();
            return;
          }
          res.write(body.subarray(sent, sent + bytesPerTick));
          sent += bytesPerTick;
        }, tickMs);
        res.on('close', () => clearInterval(timer));
      }
    })().catch((err: unknown) => {
      res.destroy(err as Error);
    });
  });
  return { url: await listen(server), close: closer(server) };
}

/** Forwards every request to `upstream` and trickles the genuine answer: `bytesPerTick` bytes every `tickMs` (F4). */
export function startTrickleProxy(upstream: string, bytesPerTick: number, tickMs: number): Promise<RunningProxy> {
  return startHostileProxy(() => upstream, () => ({ kind: 'trickle', bytesPerTick, tickMs }));
}

// -----------------------------------------------------------------------------------------------
// What the Director receives: a recording proxy in front of it.

/** One request on its way to the Director, with how it authenticated and what the Director answered. */
export interface DirectorRequest {
  readonly method: string;
  readonly path: string;
  /** The Authorization header as sent (a session token or a signed request), if any. */
  readonly authorization: string | undefined;
  /** The Director's HTTP status; 0 when the request was cut off on the way. */
  readonly status: number;
}

export interface ManifestRecorder extends RunningProxy {
  /** Every vehicle version manifest that reached the Director, oldest first. */
  readonly manifests: VehicleVersionManifest[];
  /** Every request the vehicle sent the Director, oldest first. */
  readonly requests: DirectorRequest[];
  /** Drop-request: while true, manifests are cut off on the way and never reach the Director. */
  dropManifests: boolean;
  /** Drop-request: while true, POST /vehicle/session is cut off on the way (the vehicle gets no session). */
  dropSessions: boolean;
  /** A Director that cannot judge: the next this-many manifests are answered 503 with Retry-After: 1, never forwarded. */
  busyManifests: number;
  /** An answer lost: the next this-many manifests reach the Director, which commits, and the vehicle's connection is cut instead of answered. */
  cutManifestAnswers: number;
}

/** How a recorded request authenticated: `Bearer`, `Uptane-Ed25519`, or undefined. */
export const authScheme = (request: DirectorRequest): string | undefined => request.authorization?.split(' ', 1)[0];

/** A transparent proxy for the Director (`upstream()` is read per request) that records manifests and requests. */
export async function startManifestRecorder(upstream: () => string): Promise<ManifestRecorder> {
  const manifests: VehicleVersionManifest[] = [];
  const requests: DirectorRequest[] = [];
  let recorder: ManifestRecorder | undefined;
  const server = http.createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
      const body = Buffer.concat(chunks);
      const method = req.method ?? 'GET';
      const path = req.url ?? '/';
      const authorization = req.headers.authorization;
      const drop = method === 'POST' && ((path === '/vehicle/manifest' && recorder?.dropManifests === true) || (path === '/vehicle/session' && recorder?.dropSessions === true));
      if (drop) {
        requests.push({ method, path, authorization, status: 0 });
        req.socket.destroy();
        return;
      }
      const manifest = method === 'POST' && path === '/vehicle/manifest';
      if (manifest && recorder !== undefined && recorder.busyManifests > 0) {
        recorder.busyManifests--;
        requests.push({ method, path, authorization, status: 503 });
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(JSON.stringify({ error: { code: 'database_unavailable', message: 'the database is not answering' } }));
        return;
      }
      if (manifest) manifests.push(JSON.parse(body.toString('utf8')) as VehicleVersionManifest);
      const headers: Record<string, string> = {};
      for (const name of ['authorization', 'content-type', 'range']) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const answer = await fetch(`${upstream()}${req.url ?? '/'}`, { method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body });
      const bytes = Buffer.from(await answer.arrayBuffer());
      requests.push({ method, path, authorization, status: answer.status });
      if (manifest && recorder !== undefined && recorder.cutManifestAnswers > 0) {
        recorder.cutManifestAnswers--;
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/octet-stream', 'content-length': String(bytes.length) });
      res.end(bytes);
    })().catch((err: unknown) => {
      res.destroy(err as Error);
    });
  });
  recorder = { url: await listen(server), close: closer(server), manifests, requests, dropManifests: false, dropSessions: false, busyManifests: 0, cutManifestAnswers: 0 };
  return recorder;
}

// -----------------------------------------------------------------------------------------------
// Trusted state, byte for byte.

function filesUnder(root: string, dir: string, out: Record<string, string>): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) filesUnder(root, path, out);
    else out[relative(root, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
  }
}

/**
 * SHA-256 of every trusted-state file of every ECU: Director and Image metadata (and the primary's
 * root histories), the slot state, and the slot images. State files holding counters and pending
 * attack reports are left out: they must change.
 */
export function trustedState(vehicle: SimulatedVehicle): Record<string, string> {
  const out: Record<string, string> = {};
  const base = vehicle.spec.directory;
  for (const ecu of [vehicle.spec.primary, ...vehicle.spec.secondaries]) {
    const dir = join(base, ecu.serial);
    for (const sub of ['director', 'image', 'director-roots', 'image-roots', 'slots']) filesUnder(base, join(dir, sub), out);
  }
  return out;
}

/** What each ECU runs: the active slot's recorded image and the SHA-256 of the slot's bytes. */
export function installedImages(vehicle: SimulatedVehicle): Record<string, { filename: string; sha256: string }> {
  const out: Record<string, { filename: string; sha256: string }> = {};
  const ecus = [[vehicle.spec.primary.serial, vehicle.primary.slots] as const, ...[...vehicle.secondaries].map(([serial, s]) => [serial, s.slots] as const)];
  for (const [serial, slots] of ecus) {
    const bytes = readFileSync(slots.slotPath(slots.current.active));
    out[serial] = { filename: slots.installed.filename, sha256: createHash('sha256').update(bytes).digest('hex') };
  }
  return out;
}
