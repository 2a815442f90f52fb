// A Director for the figures that compare databases and replicas: the real server (startDirector) on
// loopback with a fixed image catalog instead of an Image repository (the Director's own costs are
// what these figures measure), an operator token and a published root, on SQLite or PostgreSQL.
// The same options start a replica in a child process (director-replica.ts).
import type { ImageCatalog } from '../../director-repo/image-catalog.js';
import { startDirector, type RunningDirector } from '../../director-repo/server.js';
import { NotFoundError } from '../../shared/core/errors.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetFile } from '../../shared/core/metadata/types.js';
import { rootMetadata } from '../../sim/harness/fleet-fixtures.js';
import type { ClockAnchor } from './clock.js';
import { RunningClock } from './clock.js';

export const BENCH_OPERATOR_TOKEN = 'bench-operator-token';

/** The one image the catalog knows: assignable to primaries (hardware id "tcu"). */
export const BENCH_IMAGE = 'bench/tcu-2.0.bin';
const IMAGE: TargetFile = { length: 1_048_576, hashes: { sha256: 'ab'.repeat(32), sha512: 'cd'.repeat(64) }, custom: { hardwareIds: ['tcu'], releaseCounter: 2 } };

export const benchCatalog: ImageCatalog = {
  findImage: async (filename) => {
    if (filename !== BENCH_IMAGE) throw new NotFoundError(`no image ${filename} in the benchmark's catalog`);
    return IMAGE;
  },
};

/** What a bench Director is started with; plain data, so that a child process can be given it. */
export interface BenchDirectorOptions {
  readonly dataDir: string;
  /** A postgres:// URL (with ?schema=), or undefined for SQLite in the data folder. */
  readonly database?: string;
  /** The parent's clock, so that signed request times agree across processes. */
  readonly anchor: ClockAnchor;
}

export function startBenchDirector(options: BenchDirectorOptions): Promise<RunningDirector> {
  return startDirector({
    dataDir: options.dataDir,
    database: options.database,
    imageRepoUrl: 'http://127.0.0.1:9',
    images: benchCatalog,
    clock: new RunningClock(options.anchor),
    // The load generator sends from one address; the throttle is for failed operator logins only.
    authThrottle: { burst: 100_000 },
  });
}

/** The first start of a data folder and database: an operator token, and a root signed offline and published. */
export async function prepareBenchDirector(director: RunningDirector, label: string): Promise<void> {
  await director.storage.addOperator('bench-operator', BENCH_OPERATOR_TOKEN, new Date());
  const rootKey = PrivateKey.fromLabel(`${label}/director-root`);
  const online = director.services.root.onlineKeysJson();
  const root = serializeMetadata(
    signMetadata(rootMetadata(1, { root: [{ keyid: rootKey.keyid, key: rootKey.publicKey.tuf }], targets: [online.targets], snapshot: [online.snapshot], timestamp: [online.timestamp] }), [rootKey]),
  );
  const response = await fetch(`${director.url}/api/v1/metadata/root`, { method: 'PUT', body: root, headers: { authorization: `Bearer ${BENCH_OPERATOR_TOKEN}`, 'content-type': 'application/octet-stream' } });
  if (response.status !== 201) throw new Error(`bench Director root refused: ${response.status} ${await response.text()}`);
}

/** An operator API call that must succeed. */
export async function operatorCall(url: string, method: string, path: string, body: unknown): Promise<unknown> {
  const response = await fetch(`${url}${path}`, { method, body: JSON.stringify(body), headers: { authorization: `Bearer ${BENCH_OPERATOR_TOKEN}`, 'content-type': 'application/json' } });
  if (response.status !== 200 && response.status !== 201) throw new Error(`${method} ${path}: HTTP ${response.status} ${(await response.text()).slice(0, 300)}`);
  return response.json();
}
