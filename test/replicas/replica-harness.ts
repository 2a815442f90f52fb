// Replicas of the Director for the tests in this folder: real servers (startDirector) on loopback,
// all on one fresh PostgreSQL schema and one data folder, as operators run them behind a load
// balancer. The Image repository is a fixed catalog (the Director's tests of itself need no real
// one); the first replica makes the keys, gets an operator token and its root published.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDirector, type DirectorServerOptions, type RunningDirector } from '../../director-repo/server.js';
import type { ImageCatalog } from '../../director-repo/image-catalog.js';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { NotFoundError } from '../../shared/core/errors.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetFile } from '../../shared/core/metadata/types.js';
import { FIXTURE_NOW, rootMetadata } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';
import { dropSchemas, uniqueSchema, urlWithSchema } from '../support/postgres.js';

export const OPERATOR_TOKEN = 'replica-operator-token';

/** Images the fixed catalog knows, by filename. */
export const IMAGES: Readonly<Record<string, TargetFile>> = {
  'ecm-2.0.bin': { length: 2048, hashes: { sha256: 'cd'.repeat(32) }, custom: { hardwareIds: ['ecm-x1'], releaseCounter: 2 } },
};

const catalog: ImageCatalog = {
  findImage: async (filename) => {
    const found = IMAGES[filename];
    if (found === undefined) throw new NotFoundError(`no image ${filename} in this test's catalog`);
    return found;
  },
};

export interface Answer {
  readonly status: number;
  readonly json: Record<string, unknown> & { error?: { code: string; message: string } };
  readonly body: Buffer;
}

export interface ReplicaSet {
  readonly clock: FixedClock;
  readonly dataDir: string;
  readonly database: string;
  readonly schema: string;
  /** Starts one more replica on the same database and data folder. */
  start(options?: Partial<DirectorServerOptions>): Promise<RunningDirector>;
  /** An operator API call to `replica`. */
  operator(replica: RunningDirector, method: string, path: string, body?: unknown): Promise<Answer>;
  /** A registered test vehicle (primary `<vin>-tcu`, secondary `<vin>-ecm` of hardware ecm-x1). */
  vehicle(replica: RunningDirector, vin: string): Promise<TestVehicle>;
  /** Closes every replica still running, drops the schema and the data folder. */
  close(): Promise<void>;
}

export async function request(url: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const response = await fetch(`${url}${path}`, { method, headers, body });
  const bytes = Buffer.from(await response.arrayBuffer());
  let json: Answer['json'] = {};
  try {
    json = JSON.parse(bytes.toString('utf8')) as Answer['json'];
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
  }
  return { status: response.status, json, body: bytes };
}

/** Starts `count` replicas (more with `start`); `options` apply to every one. */
export async function startReplicas(label: string, count: number, options: Partial<DirectorServerOptions> = {}): Promise<{ set: ReplicaSet; replicas: RunningDirector[] }> {
  const clock = new FixedClock(FIXTURE_NOW);
  const schema = uniqueSchema(label);
  const database = urlWithSchema(schema);
  const dataDir = mkdtempSync(join(tmpdir(), `uptane-${label}-`));
  const running: RunningDirector[] = [];
  const vehicles: TestVehicle[] = [];
  const base = { dataDir, database, imageRepoUrl: 'http://127.0.0.1:9', images: catalog, clock, authThrottle: { burst: 100_000 }, ...options };
  const set: ReplicaSet = {
    clock,
    dataDir,
    database,
    schema,
    async start(more = {}) {
      const replica = await startDirector({ ...base, ...more });
      const close = replica.close.bind(replica);
      let closed = false;
      // Closed by a test or by close() below, whichever comes first, once.
      running.push(Object.assign(replica, { close: async () => (closed ? undefined : ((closed = true), close())) }));
      return replica;
    },
    operator: (replica, method, path, body) =>
      request(replica.url, method, path, { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' }, body === undefined ? undefined : JSON.stringify(body)),
    async vehicle(replica, vin) {
      const car = new TestVehicle(vin, [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true }, { serial: `${vin}-ecm`, hardwareId: 'ecm-x1' }], clock);
      vehicles.push(car);
      const registered = await set.operator(replica, 'POST', '/api/v1/vehicles', car.registration());
      if (registered.status !== 201) throw new Error(`registration refused: ${registered.body.toString()}`);
      return car;
    },
    async close() {
      for (const replica of running) await replica.close();
      for (const car of vehicles) car.cleanup();
      await dropSchemas([schema]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const first = await set.start();
  await first.storage.addOperator('replica-operator', OPERATOR_TOKEN, clock.now());
  const rootKey = PrivateKey.fromLabel(`${label}/director-root`);
  const online = first.services.root.onlineKeysJson();
  const root = serializeMetadata(
    signMetadata(
      rootMetadata(1, { root: [{ keyid: rootKey.keyid, key: rootKey.publicKey.tuf }], targets: [online.targets], snapshot: [online.snapshot], timestamp: [online.timestamp] }),
      [rootKey],
    ),
  );
  const published = await request(first.url, 'PUT', '/api/v1/metadata/root', { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/octet-stream' }, root.toString('utf8'));
  if (published.status !== 201) throw new Error(`root refused: ${published.body.toString()}`);
  for (let i = 1; i < count; i++) await set.start();
  return { set, replicas: running.slice() };
}

/** Polls `condition` every 25 ms until it holds; fails after `timeoutMs`. */
export async function eventually(condition: () => Promise<boolean> | boolean, timeoutMs = 5_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
