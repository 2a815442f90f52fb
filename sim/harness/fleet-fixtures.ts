// Fixtures for end-to-end tests: a real Image repository with signed images, a real Director with
// an offline-signed root, and vehicles whose primary signs its requests. Everything runs on loopback
// with real HTTP, real SQLite files and real signatures.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey, type TufKey } from '../../shared/core/crypto/keys.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { RootSigned, TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { loadUrlSigningKey, startDirector, type DirectorServerOptions, type RunningDirector } from '../../director-repo/server.js';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import type { ObservabilityOptions } from '../../shared/server/observability.js';
import type { ServerLogConfig } from '../../shared/transparency/server-log.js';

export const FIXTURE_NOW = new Date('2026-06-01T00:00:00Z');
export const FIXTURE_EXPIRES = '2027-06-01T00:00:00Z';
export const UPLOADER_TOKEN = 'fixture-uploader-token';
export const OPERATOR_TOKEN = 'fixture-operator-token';

export interface FixtureImage {
  readonly name: string;
  readonly content: Buffer;
  readonly hardwareIds: readonly string[];
  readonly releaseCounter: number;
  /** Further custom fields of its Image repository target (a minimumSecurityProfile: docs/security-profiles.md). */
  readonly custom?: Readonly<Record<string, unknown>>;
}

export interface Repositories {
  image: RunningImageServer;
  director: RunningDirector;
  readonly imageRoot: Buffer;
  readonly directorRoot: Buffer;
  readonly dataDir: string;
  readonly imageRootKey: PrivateKey;
  readonly imageTargetsKey: PrivateKey;
  readonly directorRootKey: PrivateKey;
  /** Publishes a new Image repository targets version listing these images (uploading them first). */
  publishImages(images: readonly FixtureImage[]): Promise<void>;
  /**
   * Restarts the Director on the same data folder (lose nothing acknowledged); `prepare` runs while it
   * is stopped, with its data folder (an operator replacing an online key file, for instance).
   */
  restartDirector(prepare?: (dataDir: string) => void): Promise<void>;
  /** Restarts the Image repository on the same data folder and the same port (its URL is provisioned in vehicles). */
  restartImage(prepare?: (dataDir: string) => void): Promise<void>;
  /** Operator API call with the operator token. */
  operator(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
  close(): Promise<void>;
}

async function request(url: string, method: string, body: Uint8Array | string | undefined, token: string) {
  const response = await fetch(url, { method, body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' } });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

export function rootMetadata(
  version: number,
  roles: Record<'root' | 'targets' | 'snapshot' | 'timestamp', Array<{ keyid: string; key: TufKey }>>,
  expires: string = FIXTURE_EXPIRES,
): RootSigned {
  const keys: Record<string, TufKey> = {};
  for (const list of Object.values(roles)) for (const { keyid, key } of list) keys[keyid] = key;
  const role = (name: keyof typeof roles) => ({ keyids: roles[name].map((k) => k.keyid), threshold: 1 });
  return {
    _type: 'root',
    spec_version: SPEC_VERSION,
    version,
    expires,
    consistent_snapshot: true,
    keys,
    roles: { root: role('root'), targets: role('targets'), snapshot: role('snapshot'), timestamp: role('timestamp') },
  };
}

const entry = (key: PrivateKey) => ({ keyid: key.keyid, key: key.publicKey.tuf });

export interface RepositoryFixtureOptions {
  /** Expiry of the offline-signed roots and Image targets (default FIXTURE_EXPIRES); tests whose
   *  vehicles read the system clock (the CLI) pass a date relative to the real now. */
  readonly expires?: string;
  /**
   * `credential`: the Image repository serves only to credentials, and trusts the Director's
   * URL-signing key (docs/signed-urls.md); public by default.
   */
  readonly imageReadAccess?: 'credential' | 'public';
  /** The Image repository's log lines (refused reads among them). */
  readonly imageLog?: (line: string) => void;
  /** Both servers' metrics access and request logger (shared/server/observability.ts); `false` leaves them out (the benchmark's baseline). */
  readonly observability?: ObservabilityOptions | false;
  /** The Director's dashboard options (director-repo/server.ts): its tests turn the overview's cache off. */
  readonly dashboard?: DirectorServerOptions['dashboard'];
  /** The Director's webhooks and alert timers (director-repo/alerts/director-alerts.ts). */
  readonly alerts?: DirectorServerOptions['alerts'];
  /** The Director also answers vehicles over MQTT through this broker (director-repo/mqtt/). */
  readonly mqtt?: DirectorServerOptions['mqtt'];
  /** The Image repository keeps a transparency log with this key (as `--log-key` starts it; docs/transparency-log.md). */
  readonly imageTransparencyLog?: ServerLogConfig;
}

/**
 * fetch (undici) keeps idle connections and notices that the server closed one only when it next
 * reads from it: after a restart on the same port, its next request on such a connection fails
 * ("other side closed"). Each failed probe discards one stale connection; a success means none is
 * left in the pool.
 */
async function dropStaleConnections(url: string): Promise<void> {
  for (let attempt = 0; attempt < 16; attempt++) {
    try {
      await (await fetch(`${url}/metadata/root.json`)).arrayBuffer();
      return;
    } catch (err) {
      // "fetch failed": a stale connection, now discarded. (Compared by name: under Jest, undici's
      // TypeError comes from another realm than this module's.)
      if ((err as Error).name !== 'TypeError') throw err;
    }
  }
  throw new Error(`${url} still unreachable after a restart`);
}

export async function startRepositories(clock: FixedClock, label = 'fixture', options: RepositoryFixtureOptions = {}): Promise<Repositories> {
  const expires = options.expires ?? FIXTURE_EXPIRES;
  const dataDir = mkdtempSync(join(tmpdir(), 'uptane-fleet-'));
  const imageRootKey = PrivateKey.fromLabel(`${label}/image-root`);
  const imageTargetsKey = PrivateKey.fromLabel(`${label}/image-targets`);
  const directorRootKey = PrivateKey.fromLabel(`${label}/director-root`);

  // The fixture's clock stands still, so failed-attempt budgets would never refill: the tests built
  // on it send many wrong tokens on purpose (test/hardening/tokens.test.ts covers the limit itself).
  const authThrottle = { burst: 100_000 };
  // The Director's URL-signing key exists before the Director first starts, as
  // `uptane director url-signing-key` creates it, so the Image repository can trust it from its start.
  const readAccess =
    options.imageReadAccess === 'credential' ? { mode: 'credential' as const, urlSigningKeys: [loadUrlSigningKey(join(dataDir, 'director')).publicKey] } : undefined;
  const imageOptions = { dataDir: join(dataDir, 'image'), clock, authThrottle, readAccess, log: options.imageLog, observability: options.observability, transparencyLog: options.imageTransparencyLog };
  const image = await startImageServer(imageOptions);
  await image.storage.addUploader('fixture', UPLOADER_TOKEN, clock.now());
  const online = image.repository.onlineKeys();
  const imageRoot = serializeMetadata(
    signMetadata(
      rootMetadata(1, {
        root: [entry(imageRootKey)],
        targets: [entry(imageTargetsKey)],
        snapshot: [{ keyid: online.snapshot.keyid, key: online.snapshot.tuf }],
        timestamp: [{ keyid: online.timestamp.keyid, key: online.timestamp.tuf }],
      }, expires),
      [imageRootKey],
    ),
  );
  const put = await request(`${image.url}/api/v1/metadata/root`, 'PUT', imageRoot, UPLOADER_TOKEN);
  if (put.status !== 201) throw new Error(`image root refused: ${JSON.stringify(put.json)}`);
  const imageRootFile = join(dataDir, 'image-root.json');
  writeFileSync(imageRootFile, imageRoot);

  const directorOptions = { dataDir: join(dataDir, 'director'), imageRepoUrl: image.url, imageRootFile, clock, authThrottle, observability: options.observability, dashboard: options.dashboard, alerts: options.alerts, mqtt: options.mqtt };
  let director = await startDirector(directorOptions);
  await director.storage.addOperator('fixture-operator', OPERATOR_TOKEN, clock.now());
  const directorOnline = director.services.root.onlineKeysJson();
  const directorRoot = serializeMetadata(
    signMetadata(
      rootMetadata(1, {
        root: [entry(directorRootKey)],
        targets: [directorOnline.targets],
        snapshot: [directorOnline.snapshot],
        timestamp: [directorOnline.timestamp],
      }, expires),
      [directorRootKey],
    ),
  );
  const putDirector = await request(`${director.url}/api/v1/metadata/root`, 'PUT', directorRoot, OPERATOR_TOKEN);
  if (putDirector.status !== 201) throw new Error(`director root refused: ${JSON.stringify(putDirector.json)}`);

  let targetsVersion = 0;
  const published: Record<string, TargetFile> = {};
  const repositories: Repositories = {
    image,
    director,
    imageRoot,
    directorRoot,
    dataDir,
    imageRootKey,
    imageTargetsKey,
    directorRootKey,
    async publishImages(images) {
      for (const img of images) {
        const upload = await request(`${repositories.image.url}/api/v1/images`, 'POST', img.content, UPLOADER_TOKEN);
        if (upload.status !== 201) throw new Error(`upload refused: ${JSON.stringify(upload.json)}`);
        published[img.name] = {
          length: img.content.length,
          hashes: digestBytes(img.content),
          custom: { ...img.custom, hardwareIds: [...img.hardwareIds], releaseCounter: img.releaseCounter },
        };
      }
      targetsVersion += 1;
      const targets: TargetsSigned = { _type: 'targets', spec_version: SPEC_VERSION, version: targetsVersion, expires, targets: { ...published } };
      const put = await request(`${repositories.image.url}/api/v1/metadata/targets/targets`, 'PUT', serializeMetadata(signMetadata(targets, [imageTargetsKey])), UPLOADER_TOKEN);
      if (put.status !== 201) throw new Error(`targets refused: ${JSON.stringify(put.json)}`);
    },
    async restartDirector(prepare) {
      await repositories.director.close();
      // A restart takes time, and the Director refuses a signed request stamped no later than the
      // newest it accepted from that key before (docs/threat-model.md HR-9a): a vehicle signing
      // again in the very same second must not be what a test exercises by accident.
      clock.advance(1000);
      prepare?.(directorOptions.dataDir);
      director = await startDirector(directorOptions);
      repositories.director = director;
    },
    async restartImage(prepare) {
      const port = Number(new URL(repositories.image.url).port);
      await repositories.image.close();
      prepare?.(imageOptions.dataDir);
      repositories.image = await startImageServer({ ...imageOptions, port });
      await dropStaleConnections(repositories.image.url);
    },
    operator: (method, path, body) =>
      fetch(`${repositories.director.url}${path}`, {
        method,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' },
      }).then(async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> })),
    async close() {
      await repositories.director.close();
      await repositories.image.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return repositories;
}
