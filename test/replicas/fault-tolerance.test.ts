// Replicas under faults (issue 18): three `uptane director serve --database` processes behind a
// round-robin load balancer (test/support/round-robin-proxy.ts), on a PostgreSQL cluster of this
// file's own (so it can be restarted without disturbing the other files on the system one), a fleet
// of simulated vehicles cycling through the balancer and a staged campaign running. During the load:
// kill -9 of a replica that does not run the campaign rounds, then kill -9 of the one that does (the
// holder of the lease), then a restart of PostgreSQL itself; then the killed replicas come back. At
// the end nothing acknowledged is lost, nothing is done twice, the campaign advanced once per
// decision, every vehicle has the image, and no fault looked like an attack to anyone: vehicles saw
// only errors they retry.
//
// FAULT_FLEET_SIZE sets the fleet (default 200 vehicles: about a minute on two cores); FAULT_OUTAGE_MS
// keeps PostgreSQL down that long; FAULT_CONCURRENCY sets the vehicles cycling at once.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startDirector } from '../../director-repo/server.js';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import { systemClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetsSigned } from '../../shared/core/metadata/types.js';
import { MANIFEST_HISTORY } from '../../director-repo/store/manifests.js';
import { Fleet, simSecondaryHardware } from '../../sim/fleet.js';
import { rootMetadata } from '../../sim/harness/fleet-fixtures.js';
import { buildCli, startCli, type CliProcess } from '../support/cli-runner.js';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { describePostgres } from '../support/postgres.js';
import { startRoundRobinProxy, type Exchange, type RoundRobinProxy } from '../support/round-robin-proxy.js';
import { eventually } from './replica-harness.js';

const FLEET_SIZE = Number(process.env.FAULT_FLEET_SIZE ?? 200);
/** How long PostgreSQL stays down in its restart (FAULT_OUTAGE_MS; 0: pg_ctl restart, down well under a second). */
const OUTAGE_MS = Number(process.env.FAULT_OUTAGE_MS ?? 0);
/** Vehicles cycling at once (FAULT_CONCURRENCY). */
const CONCURRENCY = Number(process.env.FAULT_CONCURRENCY ?? 8);
const OPERATOR_TOKEN = 'fault-operator-token';
const UPLOADER_TOKEN = 'fault-uploader-token';
const SCHEMA = 'faults';
// Long enough that both replica kills fall in stage 1 (the move to stage 2 is then the decision of a
// replica that took the lease over); the replicas decide at their default round period, 10 s.
const STAGE_ONE_SOAK_MS = 20_000;
const IMAGE = { name: 'sim/ecu1-v2.bin', content: Buffer.from('simulated ECU image v2, for the fault test'), hardwareId: simSecondaryHardware(0) };
// The replicas and the vehicles read the real clock (they are other processes): metadata expires a year from now.
const EXPIRES = new Date(Date.now() + 365 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');

let dir: string;
let cluster: PostgresCluster | undefined;
let image: RunningImageServer | undefined;
let proxy: RoundRobinProxy | undefined;
const replicas: Array<{ name: string; process: CliProcess; url: string; killed: boolean }> = [];
const acknowledged: Exchange[] = [];
/** Answers through the balancer, by method, path (file names folded) and status. */
const statuses = new Map<string, number>();
const answeredBy = new Map<string, number>();

afterAll(async () => {
  // Whatever happened: the replicas and the cluster go, so nothing outlives the test.
  for (const replica of replicas) await replica.process.stop();
  await proxy?.close();
  await image?.close();
  await cluster?.destroy();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const entry = (key: PrivateKey) => ({ keyid: key.keyid, key: key.publicKey.tuf });

async function call(url: string, method: string, path: string, token: string, body?: Uint8Array | string, type = 'application/json'): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, { method, body, headers: { authorization: `Bearer ${token}`, 'content-type': type } });
  const text = await response.text();
  return { status: response.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function must(what: string, answer: Promise<{ status: number; json: Record<string, unknown> }>, status = 201): Promise<Record<string, unknown>> {
  const result = await answer;
  if (result.status !== status) throw new Error(`${what}: HTTP ${result.status} ${JSON.stringify(result.json)}`);
  return result.json;
}

/** An Image repository in this process, on SQLite, holding IMAGE, with an offline-signed root. */
async function startImageRepository(): Promise<{ url: string; root: Buffer }> {
  image = await startImageServer({ dataDir: join(dir, 'image'), clock: systemClock });
  await image.storage.addUploader('fault-test', UPLOADER_TOKEN, new Date());
  const rootKey = PrivateKey.fromLabel('fault-test/image-root');
  const targetsKey = PrivateKey.fromLabel('fault-test/image-targets');
  const online = image.repository.onlineKeys();
  const root = serializeMetadata(
    signMetadata(
      rootMetadata(1, { root: [entry(rootKey)], targets: [entry(targetsKey)], snapshot: [{ keyid: online.snapshot.keyid, key: online.snapshot.tuf }], timestamp: [{ keyid: online.timestamp.keyid, key: online.timestamp.tuf }] }, EXPIRES),
      [rootKey],
    ),
  );
  await must('image root', call(image.url, 'PUT', '/api/v1/metadata/root', UPLOADER_TOKEN, root, 'application/octet-stream'));
  await must('image upload', call(image.url, 'POST', '/api/v1/images', UPLOADER_TOKEN, IMAGE.content, 'application/octet-stream'));
  const targets: TargetsSigned = {
    _type: 'targets',
    spec_version: SPEC_VERSION,
    version: 1,
    expires: EXPIRES,
    targets: { [IMAGE.name]: { length: IMAGE.content.length, hashes: digestBytes(IMAGE.content), custom: { hardwareIds: [IMAGE.hardwareId], releaseCounter: 2 } } },
  };
  await must('image targets', call(image.url, 'PUT', '/api/v1/metadata/targets/targets', UPLOADER_TOKEN, serializeMetadata(signMetadata(targets, [targetsKey])), 'application/octet-stream'));
  return { url: image.url, root };
}

/**
 * The first start of the Director, alone as the operator documentation says (it makes the keys):
 * in this process, for its operator token and its root; then it stops and the replicas take over.
 */
async function bootstrapDirector(database: string, imageUrl: string, imageRootFile: string): Promise<Buffer> {
  const first = await startDirector({ dataDir: join(dir, 'director'), database, imageRepoUrl: imageUrl, imageRootFile, clock: systemClock });
  try {
    await first.storage.addOperator('fault-operator', OPERATOR_TOKEN, new Date(), { scope: 'admin' });
    const rootKey = PrivateKey.fromLabel('fault-test/director-root');
    const online = first.services.root.onlineKeysJson();
    const root = serializeMetadata(signMetadata(rootMetadata(1, { root: [entry(rootKey)], targets: [online.targets], snapshot: [online.snapshot], timestamp: [online.timestamp] }, EXPIRES), [rootKey]));
    await must('director root', call(first.url, 'PUT', '/api/v1/metadata/root', OPERATOR_TOKEN, root, 'application/octet-stream'));
    return root;
  } finally {
    await first.close();
  }
}

async function startReplica(name: string, database: string, imageUrl: string): Promise<void> {
  const child = startCli(['director', 'serve', '--data-dir', join(dir, 'director'), '--database', database, '--port', '0', '--image-repo', imageUrl], {
    env: { ...process.env, UPTANE_DATABASE_URL: undefined },
  });
  const url = (await child.waitFor(/Director listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
  await child.waitFor(/Director root version/);
  replicas.push({ name, process: child, url, killed: false });
}

/** Which replica process holds the campaign-rounds lease: the lock holder's client port, found among each process's sockets. */
async function leaseHolder(db: pg.Client): Promise<(typeof replicas)[number] | undefined> {
  const rows = (
    await db.query<{ port: number }>(
      `SELECT a.client_port AS port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
         AND l.classid::bigint = (hashtext('uptane-lease')::bigint & 4294967295) AND l.objid::bigint = (hashtext($1)::bigint & 4294967295)`,
      [`${SCHEMA}:campaign-rounds`],
    )
  ).rows;
  if (rows.length === 0) return undefined;
  // /proc/net/tcp: "sl local_address rem_address st ... inode"; addresses as hex ip:port.
  const port = rows[0]!.port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1]?.endsWith(`:${port}`))
    .map((fields) => fields[9]);
  for (const replica of replicas) {
    if (replica.killed) continue;
    const fds = join('/proc', String(replica.process.child.pid), 'fd');
    for (const fd of readdirSync(fds)) {
      let link: string;
      try {
        link = readlinkSync(join(fds, fd));
      } catch {
        continue;
      }
      if (inodes.some((inode) => link === `socket:[${inode}]`)) return replica;
    }
  }
  return undefined;
}

async function kill(replica: (typeof replicas)[number]): Promise<void> {
  replica.killed = true;
  replica.process.child.kill('SIGKILL');
  await replica.process.stop();
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describePostgres('Director replicas under faults', () => {
  it(`keep every acknowledged write, do nothing twice and update all ${FLEET_SIZE} vehicles through kill -9 of a replica, of the campaign leader, and a PostgreSQL restart`, async () => {
    await buildCli();
    dir = mkdtempSync(join(tmpdir(), 'uptane-faults-'));
    cluster = await startPostgresCluster('faults');
    const databaseUrl = new URL(cluster.url);
    databaseUrl.searchParams.set('schema', SCHEMA);
    const database = databaseUrl.toString();

    const imageRepo = await startImageRepository();
    const imageRootFile = join(dir, 'image-root.json');
    writeFileSync(imageRootFile, imageRepo.root);
    const directorRoot = await bootstrapDirector(database, imageRepo.url, imageRootFile);
    for (const name of ['a', 'b', 'c']) await startReplica(name, database, imageRepo.url);
    proxy = await startRoundRobinProxy(
      // Every replica ever started, the killed ones too: the balancer finds them refusing, as a real one does.
      () => replicas.map((r) => r.url),
      (exchange) => {
        answeredBy.set(exchange.backend, (answeredBy.get(exchange.backend) ?? 0) + 1);
        const key = `${exchange.method} ${exchange.path.replace(/\?.*/, '').replace(/\/[^/]*\.json$/, '/*.json')} ${exchange.status}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        if (exchange.method === 'POST' && exchange.path === '/vehicle/manifest' && exchange.status >= 200 && exchange.status < 300) acknowledged.push(exchange);
      },
    );
    const lb = proxy.url;

    const fleet = await Fleet.start({
      size: FLEET_SIZE,
      secondariesPerVehicle: 1,
      seed: 'faults',
      directory: join(dir, 'fleet'),
      directorUrl: lb,
      imageRepoUrl: imageRepo.url,
      directorRoot,
      imageRoot: imageRepo.root,
      clock: systemClock,
      concurrency: CONCURRENCY,
      register: async (registration) => void (await must(`register ${registration.vin}`, call(lb, 'POST', '/api/v1/vehicles', OPERATOR_TOKEN, JSON.stringify(registration)))),
    });
    const vins = fleet.records.map((r) => r.vehicle.spec.vin);
    await must('group', call(lb, 'POST', '/api/v1/groups', OPERATOR_TOKEN, JSON.stringify({ name: 'fleet', vins })));
    await must(
      'campaign',
      call(lb, 'POST', '/api/v1/campaigns', OPERATOR_TOKEN, JSON.stringify({ name: 'ecu1-v2', group: 'fleet', images: [{ hardwareId: IMAGE.hardwareId, image: IMAGE.name }], stages: [{ share: 0.5, minSoakMs: STAGE_ONE_SOAK_MS }, { share: 1 }] })),
    );
    await must('campaign start', call(lb, 'POST', '/api/v1/campaigns/ecu1-v2/start', OPERATOR_TOKEN, '{}'), 200);

    // The load: rounds of the whole fleet, one after another, until told to stop. Faults come a
    // quarter of a round apart, so all of them fall in stage 1 and in the middle of rounds.
    let loading = true;
    let rounds = 0;
    const load = (async () => {
      while (loading) {
        await fleet.runRound();
        rounds++;
      }
    })();
    const cycles = () => fleet.records.reduce((sum, record) => sum + record.results.length, 0);
    const spacing = Math.max(20, Math.round(FLEET_SIZE / 4));
    const moreCycles = async (what: string) => {
      const from = cycles();
      await eventually(() => cycles() >= from + spacing, 60_000, `${spacing} cycles ${what}`);
    };

    const db = new pg.Client({ connectionString: cluster.url });
    await db.connect();
    try {
      await eventually(async () => (await leaseHolder(db)) !== undefined, 20_000, 'a replica holding the campaign-rounds lease');
      const leader = (await leaseHolder(db))!;
      await moreCycles('before the first fault');

      // Fault 1: a replica that is not the leader, killed mid-load.
      await kill(replicas.find((r) => r !== leader && !r.killed)!);
      await moreCycles('after the first kill');

      // Fault 2: the leader, while the campaign is still in stage 1 (the move to stage 2 is then
      // another replica's decision). The survivor takes the lease: PostgreSQL ends the dead one's session.
      const [atLeaderKill] = (await db.query<{ state: string; stage: number }>(`SELECT state, stage FROM ${SCHEMA}.campaigns`)).rows;
      expect(atLeaderKill).toEqual({ state: 'running', stage: 0 });
      await kill(leader);
      await eventually(async () => {
        const holder = await leaseHolder(db);
        return holder !== undefined && holder !== leader;
      }, 30_000, 'the surviving replica taking the lease');
      await moreCycles('after the leader was killed');
    } finally {
      await db.end();
    }

    // Fault 3: PostgreSQL itself, every session ended and new ones refused while it restarts.
    await cluster.restart(OUTAGE_MS);
    await moreCycles('after the PostgreSQL restart');

    // The killed replicas come back, as an orchestrator restarts them, and take their share of the load.
    const killed = replicas.filter((r) => r.killed);
    for (const replica of killed) await startReplica(`${replica.name}-again`, database, imageRepo.url);
    const restarted = replicas.filter((r) => r.name.endsWith('-again')).map((r) => r.url);
    await eventually(() => restarted.every((url) => (answeredBy.get(url) ?? 0) > 0), 60_000, 'the restarted replicas answering through the balancer');

    // Then the fleet runs until every vehicle has the image and the campaign is done, bounded.
    const check = new pg.Client({ connectionString: cluster.url, options: `-c search_path=${SCHEMA}` });
    await check.connect();
    try {
      const one = async <R extends object>(text: string, params: unknown[] = []) => (await check.query<R>(text, params)).rows;
      await eventually(
        async () => {
          const [campaign] = await one<{ state: string }>('SELECT state FROM campaigns WHERE name = $1', ['ecu1-v2']);
          const done = fleet.installedImages().every(({ installed }) => Object.values(installed).includes(IMAGE.name));
          return campaign?.state === 'completed' && done;
        },
        120_000,
        'the campaign completed and every vehicle running the image',
      );
      loading = false;
      await load;

      // No acknowledged write lost: every manifest a vehicle got a 2xx for has its row (a vehicle's
      // rows at least as many as its acknowledgements: a commit whose answer a kill cut off adds one
      // more), and a body kept as evidence (one that told something new) is the one acknowledged.
      expect(acknowledged.length).toBeGreaterThan(FLEET_SIZE);
      const acknowledgedPerVin = new Map<string, number>();
      const acknowledgedBodies = new Set<string>();
      for (const exchange of acknowledged) {
        const vin = (JSON.parse(exchange.body.toString('utf8')) as { signed: { vin: string } }).signed.vin;
        acknowledgedPerVin.set(vin, (acknowledgedPerVin.get(vin) ?? 0) + 1);
        acknowledgedBodies.add(sha256(exchange.body));
      }
      const rows = await one<{ vin: string; n: string; bodies: Buffer[] }>('SELECT vin, count(*) AS n, array_agg(body) FILTER (WHERE body IS NOT NULL) AS bodies FROM manifests GROUP BY vin');
      expect(Math.max(...rows.map((row) => Number(row.n)))).toBeLessThan(MANIFEST_HISTORY);
      const storedPerVin = new Map(rows.map((row) => [row.vin, Number(row.n)]));
      const short = [...acknowledgedPerVin].filter(([vin, count]) => (storedPerVin.get(vin) ?? 0) < count);
      expect(short).toEqual([]);
      const evidence = rows.flatMap((row) => row.bodies ?? []);
      expect(evidence.length).toBeGreaterThanOrEqual(FLEET_SIZE);
      // Stored but never acknowledged is possible (the answer lost); a stored body no vehicle sent is not.
      const stranger = evidence.filter((body) => !acknowledgedBodies.has(sha256(body)));
      expect(stranger.length).toBeLessThanOrEqual(rows.reduce((sum, row) => sum + Number(row.n), 0) - acknowledged.length);

      // No assignment made twice: one per ECU of the campaign, the image's ECU of every vehicle.
      const perEcu = await one<{ ecu_serial: string; n: string }>('SELECT ecu_serial, count(*) AS n FROM assignments WHERE campaign_id IS NOT NULL GROUP BY ecu_serial HAVING count(*) > 1');
      expect(perEcu).toEqual([]);
      const [assigned] = await one<{ n: string; installed: string }>("SELECT count(*) AS n, count(*) FILTER (WHERE state = 'installed') AS installed FROM assignments WHERE campaign_id IS NOT NULL");
      expect(assigned).toEqual({ n: String(FLEET_SIZE), installed: String(FLEET_SIZE) });

      // The campaign advanced once per decision: started once, stage 2 once, completed once, no error.
      const events = await one<{ kind: string; details: string }>('SELECT kind, details FROM campaign_events ORDER BY id');
      expect(events.map((e) => (e.kind === 'advanced' ? `advanced to ${(JSON.parse(e.details) as { stage: number }).stage}` : e.kind))).toEqual(['created', 'started', 'advanced to 2', 'completed']);

      // Faults never look like attacks: nothing refused, nothing reported, by the Director or the vehicles.
      expect(await one('SELECT vin, error_code, error_message FROM refused_manifests')).toEqual([]);
      expect(await one('SELECT vin, code, message FROM attacks')).toEqual([]);
      const summary = fleet.summary();
      expect(summary.attacksDetected).toBe(0);
      // The errors vehicles saw are all ones they retry at their next cycle (the repository unreachable).
      expect(Object.keys(summary.errors).filter((code) => code !== 'fetch_failed')).toEqual([]);
      expect(summary.rolledBack).toBe(0);
      // eslint-disable-next-line no-console
      console.log(`fault test: ${FLEET_SIZE} vehicles, ${rounds} rounds, ${summary.cycles} cycles, errors ${JSON.stringify(summary.errors)}, ${acknowledged.length} manifests acknowledged, ${proxy.refusedEverywhere} requests refused by every backend, ${proxy.droppedMidway} cut off by a kill, ${fleet.records.flatMap((r) => r.results).filter((r) => !r.manifestSent).length} cycles without a manifest delivered; answers ${JSON.stringify([...statuses].sort())}`);
      expect(proxy.refusedEverywhere).toBe(0);
      // Vehicles were answered only what an honest fleet gets: metadata (a next root not yet there:
      // 404), sessions and manifests accepted, or 503 (the database away), which they retry. Never a
      // refusal (400, 401, 403, 409) or another failure. A manifest answered 503, or whose connection
      // was cut, is followed within the cycle by a new one with new report counters (primary.ts
      // sendVehicleVersionManifest; the same body again would be refused as replayed had the first in
      // fact been committed), up to three per cycle; the count of cycles without a delivered manifest
      // above is those whose three all failed.
      const expected = /^(GET \/vehicle\/metadata\/\*\.json (200|404|503)|POST \/vehicle\/(session|manifest) (200|201|503)|(GET|POST) \/api\/v1\/\S+ (200|201))$/;
      expect([...statuses.keys()].filter((key) => !expected.test(key))).toEqual([]);
    } finally {
      loading = false;
      await load.catch(() => undefined);
      await check.end();
    }
  }, 300_000);
});
