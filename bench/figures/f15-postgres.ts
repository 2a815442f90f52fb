// Figure 15: the Director on PostgreSQL, and replicas of it. Three comparisons, each measured within
// this run against its baseline, since PostgreSQL shares this machine's cores with everything else:
//   1. manifests accepted per second over HTTP on PostgreSQL against SQLite (same process, same
//      load generator, same signed manifests, rounds alternating);
//   2. two Director replicas (child processes on one PostgreSQL schema and data folder, the load
//      generator going round robin over both) against one of them: manifests/s and metadata GETs/s;
//   3. scale: vehicles of 5 ECUs loaded into PostgreSQL and into SQLite (through the store's API for a
//      while, then in bulk), their size, point lookups and one assignment to 100,000 vehicles.
// It skips itself, saying so, when PostgreSQL does not answer. Its schemas are dropped at the end.
import { randomBytes } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { openDirector, type RunningDirector } from '../../director-repo/server.js';
import type { DirectorStorage } from '../../director-repo/store/director-store.js';
import type { DirectorServices } from '../../director-repo/director.js';
import { redactUrl } from '../../shared/server/postgres.js';
import { sqliteOf } from '../../sim/harness/sqlite-storage.js';
import type { TestVehicle } from '../../sim/harness/test-vehicle.js';
import { BENCH_IMAGE, benchCatalog, operatorCall, prepareBenchDirector, startBenchDirector } from '../lib/bench-director.js';
import { testVehicle, type BenchContext } from '../lib/context.js';
import { startReplicaProcess, type ReplicaProcess } from '../lib/director-replica.js';
import { okCount, runLoad, type LoadRequest, type LoadResult } from '../lib/load.js';
import { BackendCpu, BENCH_DATABASE_URL, dropSchema, freshSchema, postgresAbsence, schemaPool, tableSizes, urlWithSchemaAs } from '../lib/postgres.js';
import type { Figure, Row } from '../lib/report.js';
import { fmt, median, pct } from '../lib/stats.js';

const SECONDARIES = 4;
const CONNECTIONS = 8;
const VEHICLES = 4 * CONNECTIONS;
const ROUNDS = 3;
const ECUS = 5;
const ASSIGNED = 100_000;
const LOOKUP_CONCURRENCY = 8;
const TITLE = 'PostgreSQL and replicas';
/** Where the Director's replicas record signed-request nonces (director-repo/store/postgres/schema.ts). */
const NONCE_TABLE = 'signed_request_nonces';

const vinOf = (i: number) => `BENCHF15${String(i).padStart(9, '0')}`;

export async function figure15(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  const absent = await postgresAbsence();
  if (absent !== undefined) {
    const message = `skipped: PostgreSQL did not answer at ${redactUrl(BENCH_DATABASE_URL)} (${absent}); set UPTANE_BENCH_DATABASE_URL to a database this user may create schemas in`;
    console.log(`figure 15 ${message}`);
    return { id: 15, title: TITLE, target: 'no numeric target: ratios reported', baselineIs: 'SQLite, and one replica', rows: [{ label: 'PostgreSQL', value: message }], verdict: 'INFO', notes: [], seconds: (performance.now() - started) / 1000 };
  }
  const rows: Row[] = [];
  const notes: string[] = [];
  const httpSchema = freshSchema('f15');
  const scaleSchema = freshSchema('f15s');
  try {
    await httpFigures(ctx, httpSchema, rows, notes);
    await scaleFigures(ctx, scaleSchema, rows, notes);
  } finally {
    await dropSchema(httpSchema);
    await dropSchema(scaleSchema);
  }
  notes.push(
    `PostgreSQL ${redactUrl(BENCH_DATABASE_URL)}, a fresh schema per run (dropped at the end), on this machine: it shares the two cores with the Directors, their worker threads and the load generator, and other sessions' work ran beside it (see the load average): absolute rates are what this machine had to spare, the CPU per request rows are the steadier measure. PostgreSQL CPU is that of the backends serving the Directors' connections (named by application_name in pg_stat_activity, read from /proc); WAL writing and checkpoints, done by PostgreSQL's own processes, are not in it.`,
  );
  return { id: 15, title: TITLE, target: 'no numeric target: ratios reported', baselineIs: 'the same on SQLite (same process, same load); one replica against two', rows, verdict: 'INFO', notes, seconds: (performance.now() - started) / 1000 };
}

/** Manifests and metadata GETs over HTTP: SQLite against PostgreSQL in-process, then one replica against two. */
async function httpFigures(ctx: BenchContext, schema: string, rows: Row[], notes: string[]): Promise<void> {
  const anchor = ctx.clock.anchor;
  const sqliteDir = join(ctx.tmp, 'f15-sqlite');
  const pgDir = join(ctx.tmp, 'f15-postgres');
  // Its connections carry the schema's name, so that the CPU of the backends serving them can be told apart.
  const database = urlWithSchemaAs(schema, schema);
  const backends = await BackendCpu.open(schema);
  const vehicles = Array.from({ length: VEHICLES }, (_, i) => testVehicle(ctx, `BENCHF15H${String(i).padStart(5, '0')}`, SECONDARIES));
  let sqlite: RunningDirector | undefined;
  let postgres: RunningDirector | undefined;
  const replicas: ReplicaProcess[] = [];
  /** Manifests PostgreSQL accepted in all, warm-up included (for the rows written per manifest). */
  let pgManifests = 0;
  try {
    sqlite = await startBenchDirector({ dataDir: sqliteDir, anchor });
    postgres = await startBenchDirector({ dataDir: pgDir, database, anchor });
    const directors = { sqlite, postgres };
    const tokens = { sqlite: new Map<string, string>(), postgres: new Map<string, string>() };
    for (const kind of ['sqlite', 'postgres'] as const) {
      const director = directors[kind];
      await prepareBenchDirector(director, 'f15');
      for (const v of vehicles) await operatorCall(director.url, 'POST', '/api/v1/vehicles', v.registration());
      for (const v of vehicles) tokens[kind].set(v.vin, await openSession(director.url, v));
    }

    // Manifests are signed before the runs, in the order they are sent (each vehicle's counters grow).
    const manifestLanes = (token: Map<string, string>, perLane: number): LoadRequest[][] =>
      Array.from({ length: CONNECTIONS }, (_, l) => {
        const own = vehicles.filter((_, i) => i % CONNECTIONS === l);
        return Array.from({ length: perLane }, (_, k) => {
          const v = own[k % own.length]!;
          const body = Buffer.from(JSON.stringify(v.manifest()));
          return { method: 'POST', path: '/vehicle/manifest', body, headers: { authorization: `Bearer ${token.get(v.vin)!}`, 'content-type': 'application/json' } };
        });
      });
    const roundMs = ctx.settings.quick ? 1_500 : 3_000;
    const load = (origins: readonly string[], lanes: LoadRequest[][], cycle = false) =>
      runLoad({ origin: origins[0]!, origins, lanes, cycle, warmupMs: cycle ? 300 : 0, durationMs: roundMs, maxRequests: 1_000_000 });

    // Calibration on each: how many manifests a round may take.
    let fastest = 50;
    for (const kind of ['sqlite', 'postgres'] as const) {
      const warm = await load([directors[kind].url], manifestLanes(tokens[kind], 8));
      checkOk(warm, `${kind} warm-up`);
      if (kind === 'postgres') pgManifests += warm.completed;
      fastest = Math.max(fastest, warm.perSecond);
    }
    // Three times the fastest warm-up rate: a round ends on its clock, not by running out.
    const perLane = Math.ceil((fastest * roundMs * 3) / 1000 / CONNECTIONS);
    const signing = performance.now();
    const storeRounds = Array.from({ length: ROUNDS }, () => ({ sqlite: manifestLanes(tokens.sqlite, perLane), postgres: manifestLanes(tokens.postgres, perLane) }));
    const replicaRounds = Array.from({ length: ROUNDS }, () => ({ one: manifestLanes(tokens.postgres, perLane), two: manifestLanes(tokens.postgres, perLane) }));
    notes.push(`${fmt(ROUNDS * 4 * perLane * CONNECTIONS)} manifests (1 primary + ${SECONDARIES} secondaries, 6 signatures each) signed before the runs (${fmt((performance.now() - signing) / 1000)} s), sent with session tokens as the primary ECU sends them, ${CONNECTIONS} keep-alive connections.`);

    // 1. SQLite against PostgreSQL, round by round.
    const storePairs: Array<{ sqlite: LoadResult; postgres: LoadResult; pgCpuMs: number | undefined }> = [];
    for (const round of storeRounds) {
      const sqliteRun = await load([sqlite.url], round.sqlite);
      checkOk(sqliteRun, 'SQLite');
      const pgBefore = await backends.sample();
      const pgRun = await load([postgres.url], round.postgres);
      const pgAfter = await backends.sample();
      checkOk(pgRun, 'PostgreSQL');
      pgManifests += pgRun.completed;
      storePairs.push({ sqlite: sqliteRun, postgres: pgRun, pgCpuMs: pgBefore === undefined || pgAfter === undefined ? undefined : (pgAfter - pgBefore) / pgRun.completed });
    }
    const storeRatio = (p: (typeof storePairs)[number]) => p.postgres.perSecond / p.sqlite.perSecond;
    const storeMiddle = [...storePairs].sort((a, b) => storeRatio(a) - storeRatio(b))[Math.floor(ROUNDS / 2)]!;
    rows.push({
      label: `1. manifests accepted/s over HTTP, one Director in this process on PostgreSQL against the same on SQLite (median round of ${ROUNDS}: ${storePairs.map((p) => pct(storeRatio(p))).join(', ')})`,
      value: `${fmt(storeMiddle.postgres.perSecond)} (p50 ${fmt(storeMiddle.postgres.latencyMs.p50, 2)} ms)`,
      baseline: `SQLite ${fmt(storeMiddle.sqlite.perSecond)}/s (p50 ${fmt(storeMiddle.sqlite.latencyMs.p50, 2)} ms)`,
      ratio: pct(storeRatio(storeMiddle)),
    });
    await sqlite.close();
    sqlite = undefined;
    await postgres.close();
    postgres = undefined;

    // 2. Replicas: two child processes on the schema and data folder the in-process Director made
    // (its keys, its vehicles, its session secret: the tokens stay valid).
    replicas.push(await startReplicaProcess({ dataDir: pgDir, database, anchor }));
    replicas.push(await startReplicaProcess({ dataDir: pgDir, database, anchor }));
    const urls = replicas.map((r) => r.url);
    // What a polling vehicle fetches: timestamp.json, and the targets it names (read through replica 1).
    const getLanes = await metadataLanes(urls[0]!, vehicles, tokens.postgres);
    const cpu = async () => ({ director: (await Promise.all(replicas.map((r) => r.cpuMs()))).reduce((a, b) => a + b, 0), postgres: await backends.sample() });
    interface Measured {
      readonly result: LoadResult;
      /** CPU per request, ms: both Director processes (their worker threads included), and PostgreSQL. */
      readonly directorMs: number;
      readonly postgresMs: number | undefined;
      /** Cores the replicas and their PostgreSQL backends kept busy during the run, on average. */
      readonly cores: number;
    }
    const measure = async (origins: readonly string[], lanes: LoadRequest[][], cycle: boolean, what: string): Promise<Measured> => {
      const before = await cpu();
      const wallStart = performance.now();
      const result = await load(origins, lanes, cycle);
      const wallMs = performance.now() - wallStart;
      const after = await cpu();
      checkOk(result, what);
      const pgTotal = before.postgres === undefined || after.postgres === undefined ? undefined : after.postgres - before.postgres;
      const directorTotal = after.director - before.director;
      return { result, directorMs: directorTotal / result.completed, postgresMs: pgTotal === undefined ? undefined : pgTotal / result.completed, cores: (directorTotal + (pgTotal ?? 0)) / wallMs };
    };
    const manifestPairs: Array<{ one: Measured; two: Measured }> = [];
    const getPairs: Array<{ one: Measured; two: Measured }> = [];
    const sessionPairs: Array<{ one: Measured; two: Measured }> = [];
    // What a primary sends first in each cycle (its 15-minute token has expired by the next one): a
    // POST /vehicle/session signed with its key. A signed header is accepted once (its nonce), so
    // they are made for each run just before it.
    const sessionLanes = (perLane: number): LoadRequest[][] =>
      Array.from({ length: CONNECTIONS }, (_, l) => {
        const own = vehicles.filter((_, i) => i % CONNECTIONS === l);
        return Array.from({ length: perLane }, (_, k) => ({ method: 'POST', path: '/vehicle/session', headers: { authorization: own[k % own.length]!.authHeader('POST', '/vehicle/session') } }));
      });
    const sessionWarm = await load([urls[0]!], sessionLanes(25));
    checkOk(sessionWarm, 'sessions, warm-up');
    let pgSessions = VEHICLES + sessionWarm.completed;
    const sessionsPerLane = Math.min(2_000, Math.ceil((Math.max(100, sessionWarm.perSecond) * roundMs * 2) / 1000 / CONNECTIONS));
    for (const round of replicaRounds) {
      manifestPairs.push({ one: await measure([urls[0]!], round.one, false, 'manifests, 1 replica'), two: await measure(urls, round.two, false, 'manifests, 2 replicas') });
      pgManifests += manifestPairs.at(-1)!.one.result.completed + manifestPairs.at(-1)!.two.result.completed;
      getPairs.push({ one: await measure([urls[0]!], getLanes, true, 'GETs, 1 replica'), two: await measure(urls, getLanes, true, 'GETs, 2 replicas') });
      sessionPairs.push({ one: await measure([urls[0]!], sessionLanes(sessionsPerLane), false, 'sessions, 1 replica'), two: await measure(urls, sessionLanes(sessionsPerLane), false, 'sessions, 2 replicas') });
      pgSessions += sessionPairs.at(-1)!.one.result.completed + sessionPairs.at(-1)!.two.result.completed;
    }
    const replicaRow = (label: string, pairs: Array<{ one: Measured; two: Measured }>) => {
      const ratio = (p: (typeof pairs)[number]) => p.two.result.perSecond / p.one.result.perSecond;
      const middle = [...pairs].sort((a, b) => ratio(a) - ratio(b))[Math.floor(pairs.length / 2)]!;
      rows.push({
        label: `${label}: 2 replicas (round robin) against 1 (median round of ${pairs.length}: ${pairs.map((p) => pct(ratio(p))).join(', ')})`,
        value: `${fmt(middle.two.result.perSecond)} (p50 ${fmt(middle.two.result.latencyMs.p50, 2)} ms)`,
        baseline: `1 replica ${fmt(middle.one.result.perSecond)}/s (p50 ${fmt(middle.one.result.latencyMs.p50, 2)} ms)`,
        ratio: pct(ratio(middle)),
      });
      const cpuText = (m: { directorMs: number; postgresMs: number | undefined; cores: number }) =>
        `Director ${fmt(m.directorMs, 2)} ms + PostgreSQL ${m.postgresMs === undefined ? '?' : fmt(m.postgresMs, 2)} ms (${fmt(m.cores, 2)} cores busy)`;
      rows.push({
        label: `${label}: CPU per request (median of the rounds; Director = both replica processes, worker threads included; PostgreSQL = the backends serving them): 1 replica / 2 replicas`,
        value: `${cpuText(medianCpu(pairs.map((p) => p.one)))} / ${cpuText(medianCpu(pairs.map((p) => p.two)))}`,
      });
    };
    replicaRow('2. manifests accepted/s, replicas in child processes on one PostgreSQL schema', manifestPairs);
    replicaRow('2. metadata GETs/s (timestamp.json and N.targets.json with a session token, as a polling primary)', getPairs);
    replicaRow('2. vehicle sessions opened/s (POST /vehicle/session signed by the primary: one signature verified, its nonce recorded in PostgreSQL)', sessionPairs);
    // Rows written per manifest, from PostgreSQL's statistics of the schema's tables: exact once the
    // backends that wrote them have ended (they flush their counts on exit), so after the replicas close.
    for (const r of replicas) await r.close();
    rows.push({
      label: '2. rows PostgreSQL wrote per manifest accepted (pg_stat_user_tables of the schema: every write of this section but the nonces, over its manifests), and nonce rows per session opened',
      value: await writesPerManifest(schema, pgManifests, pgSessions),
    });

    // What the manifest history costs on disk: every accepted manifest leaves a record (at most
    // MANIFEST_HISTORY = 100 per vehicle are kept), with its body only when it told something new.
    const pool = schemaPool(schema, 1);
    try {
      const manifestBytes = (await tableSizes(pool, schema)).find((t) => t.table === 'manifests')?.bytes ?? 0;
      const [m] = (await pool.query<{ n: string; bodies: string; body_bytes: string }>('SELECT count(*) AS n, count(body) AS bodies, coalesce(sum(length(body)), 0) AS body_bytes FROM manifests')).rows;
      const records = Number(m!.n);
      const bodies = Number(m!.bodies);
      rows.push({
        label: '2. manifest history on PostgreSQL after the runs (manifests table with its index; at most 100 records per vehicle are kept)',
        value: `${fmt(manifestBytes / Math.max(1, records))} B per record (${fmt(records)} records of ${VEHICLES} vehicles; ${fmt(bodies)} kept their body as evidence, ${fmt(Number(m!.body_bytes) / Math.max(1, bodies))} B each)`,
      });
    } finally {
      await pool.end();
    }
    const pgPerManifest = median(storePairs.map((p) => p.pgCpuMs ?? Number.NaN).filter(Number.isFinite));
    rows.push({ label: '1. PostgreSQL CPU per manifest accepted (the backends serving the in-process Director, from /proc)', value: Number.isFinite(pgPerManifest) ? `${fmt(pgPerManifest, 2)} ms` : 'not measured (PostgreSQL is not on this machine)' });
    notes.push(
      'Replicas: two `startDirector` servers, each in a child process of its own (its own event loop and signature worker pool), on one PostgreSQL schema and one data folder, as `uptane director serve --database postgres://...` runs them behind a load balancer; the load generator sends each request to the next replica in turn. "1 replica" sends everything to the first while the second stays up (listening for changes), so both columns are the same processes at the same moment. On this machine of 2 cores, shared by both replicas, their worker threads, PostgreSQL and the load generator, no speed-up is expected: what the ratio shows is the cost of coordinating two replicas (change announcements, the shared nonce record, two caches), and the figure is there to be run again on machines where each replica has cores of its own.',
      'The manifest history\'s bytes per record include the rows its pruning deleted (20 at a time once a vehicle has 119 records) that autovacuum has not yet reclaimed; before any pruning (a shorter run) a record measured 234 B.',
      'Round robin sends a vehicle\'s consecutive requests to different replicas: each replica\'s in-memory caches (sessions found authentic, recently read metadata) hold every vehicle, as they would behind a load balancer without affinity.',
    );
  } finally {
    for (const r of replicas) await r.close();
    await sqlite?.close();
    await postgres?.close();
    for (const v of vehicles) v.cleanup();
    await backends.close();
    rmSync(sqliteDir, { recursive: true, force: true });
    rmSync(pgDir, { recursive: true, force: true });
  }
}

/**
 * Rows inserted, updated (HOT among them) and deleted in `schema`'s tables per manifest, with the
 * tables written most; the signed-request nonces are counted apart, per session opened (the signed
 * requests of this section are its session POSTs).
 */
async function writesPerManifest(schema: string, manifests: number, sessions: number): Promise<string> {
  const pool = schemaPool(schema, 1);
  try {
    const { rows } = await pool.query<{ table: string; ins: string; upd: string; hot: string; del: string }>(
      `SELECT relname AS table, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_hot_upd AS hot, n_tup_del AS del
         FROM pg_stat_user_tables WHERE schemaname = $1 ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC`,
      [schema],
    );
    const nonces = rows.find((r) => r.table === NONCE_TABLE);
    const nonceText = nonces === undefined ? 'no nonce table' : `${fmt((Number(nonces.ins) + Number(nonces.upd) + Number(nonces.del)) / sessions, 2)} nonce rows written per session (${fmt(Number(nonces.ins) / sessions, 2)} inserted) over ${fmt(sessions)} sessions`;
    const others = rows.filter((r) => r.table !== NONCE_TABLE);
    const per = (n: number) => fmt(n / manifests, 2);
    const sum = (key: 'ins' | 'upd' | 'hot' | 'del') => others.reduce((total, r) => total + Number(r[key]), 0);
    const top = others
      .slice(0, 4)
      .filter((r) => Number(r.ins) + Number(r.upd) + Number(r.del) > 0)
      .map((r) => `${r.table} ${per(Number(r.ins) + Number(r.upd) + Number(r.del))}`)
      .join(', ');
    return `${per(sum('ins') + sum('upd') + sum('del'))} rows (${per(sum('ins'))} inserted, ${per(sum('upd'))} updated of which ${per(sum('hot'))} HOT, ${per(sum('del'))} deleted) over ${fmt(manifests)} manifests; by table: ${top}. ${nonceText}`;
  } finally {
    await pool.end();
  }
}

function medianCpu<T extends { directorMs: number; postgresMs: number | undefined; cores: number }>(values: readonly T[]): { directorMs: number; postgresMs: number | undefined; cores: number } {
  const pg = values.map((v) => v.postgresMs).filter((v): v is number => v !== undefined);
  return { directorMs: median(values.map((v) => v.directorMs)), postgresMs: pg.length === 0 ? undefined : median(pg), cores: median(values.map((v) => v.cores)) };
}

/** Lanes of GETs a polling primary sends with its session token: timestamp.json, then the targets it names. */
async function metadataLanes(url: string, vehicles: readonly TestVehicle[], tokens: Map<string, string>): Promise<LoadRequest[][]> {
  const perVehicle = await Promise.all(
    vehicles.map(async (v) => {
      const headers = { authorization: `Bearer ${tokens.get(v.vin)!}` };
      const get = async (path: string) => {
        const response = await fetch(`${url}${path}`, { headers });
        if (response.status !== 200) throw new Error(`figure 15: GET ${path} answered ${response.status} ${await response.text()}`);
        return (await response.json()) as { signed: { meta: Record<string, { version: number }> } };
      };
      const timestamp = await get('/vehicle/metadata/timestamp.json');
      const snapshot = await get(`/vehicle/metadata/${timestamp.signed.meta['snapshot.json']!.version}.snapshot.json`);
      const targetsPath = `/vehicle/metadata/${snapshot.signed.meta['targets.json']!.version}.targets.json`;
      return ['/vehicle/metadata/timestamp.json', targetsPath].map((path): LoadRequest => ({ method: 'GET', path, headers }));
    }),
  );
  return Array.from({ length: CONNECTIONS }, (_, l) => Array.from({ length: 64 }, (_, k) => perVehicle[(l + k * CONNECTIONS) % perVehicle.length]![k % 2]!));
}

/** Vehicles of 5 ECUs in PostgreSQL and in SQLite: load, size, lookups, one large assignment. */
async function scaleFigures(ctx: BenchContext, schema: string, rows: Row[], notes: string[]): Promise<void> {
  const pgSize = ctx.settings.postgresVehicles;
  const sqliteSize = ctx.settings.postgresSqliteVehicles;
  const apiSeconds = ctx.settings.quick ? 3 : 10;
  const results: Partial<Record<'sqlite' | 'postgres', ScaleResult>> = {};
  for (const kind of ['sqlite', 'postgres'] as const) {
    const dataDir = join(ctx.tmp, `f15-scale-${kind}`);
    const opened = await openDirector({ dataDir, database: kind === 'postgres' ? urlWithSchemaAs(schema, schema) : undefined, imageRepoUrl: 'http://127.0.0.1:9', images: benchCatalog, clock: ctx.clock });
    const pool = kind === 'postgres' ? schemaPool(schema) : undefined;
    try {
      results[kind] = await scaleOne(ctx, kind, opened, pool, schema, kind === 'postgres' ? pgSize : sqliteSize, apiSeconds);
    } finally {
      await opened.storage.close();
      await pool?.end();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  const s = results.sqlite!;
  const p = results.postgres!;
  const at = (r: ScaleResult) => `at ${fmt(r.size)} vehicles`;
  const sameSize = s.size === p.size;
  rows.push(
    {
      label: `3. register through the store's API (unit of work per 500 vehicles: a vehicle and its ${ECUS} ECUs, as registration writes them), ${apiSeconds} s each`,
      value: `PostgreSQL ${fmt(p.apiRate)} vehicles/s (${fmt(p.apiCount)})`,
      baseline: `SQLite ${fmt(s.apiRate)} vehicles/s (${fmt(s.apiCount)})`,
      ratio: pct(p.apiRate / s.apiRate),
    },
    {
      label: `3. then the rest in bulk (PostgreSQL: one multi-row INSERT per 5,000 vehicles and per 25,000 ECUs, then ANALYZE; SQLite: prepared INSERTs, one transaction per 10,000 vehicles)`,
      value: `PostgreSQL ${fmt(p.bulkCount)} in ${fmt(p.bulkSeconds)} s = ${fmt(p.bulkRate)} vehicles/s`,
      baseline: `SQLite ${fmt(s.bulkCount)} in ${fmt(s.bulkSeconds)} s = ${fmt(s.bulkRate)} vehicles/s`,
      ratio: pct(p.bulkRate / s.bulkRate),
    },
    {
      label: `3. database size (PostgreSQL: pg_total_relation_size of every table, summed; SQLite: the file after a checkpoint)`,
      value: `PostgreSQL ${fmt(p.bytes / 1024 ** 3, 2)} GiB ${at(p)} = ${fmt(p.bytes / p.size)} B/vehicle (${p.tables})`,
      baseline: `SQLite ${fmt(s.bytes / 1024 ** 3, 2)} GiB ${at(s)} = ${fmt(s.bytes / s.size)} B/vehicle`,
      ratio: pct(p.bytes / p.size / (s.bytes / s.size)),
    },
    {
      label: `3. point lookups/s, inventory.vehicle + ecusOf of a random VIN, ${LOOKUP_CONCURRENCY} at a time`,
      value: `PostgreSQL ${fmt(p.lookups)}/s ${at(p)} (PostgreSQL CPU ${p.lookupPgMs === undefined ? '?' : `${fmt(p.lookupPgMs, 3)} ms`} per lookup)`,
      baseline: `SQLite ${fmt(s.lookups)}/s ${at(s)}`,
      ratio: pct(p.lookups / s.lookups),
    },
    {
      label: `3. assign one image to the primaries of ${fmt(Math.min(ASSIGNED, p.size))} vehicles (services.assignments.assign, what POST /api/v1/assignments runs: one transaction)`,
      value: `PostgreSQL ${fmt(p.assignSeconds)} s ${at(p)} (${fmt(p.assignedBytes)} B on disk per assignment)`,
      baseline: `SQLite ${fmt(s.assignSeconds)} s ${at(s)} (${fmt(s.assignedBytes)} B per assignment)`,
      ratio: pct(p.assignSeconds / s.assignSeconds),
    },
  );
  notes.push(
    `Scale: ${sameSize ? `both databases hold ${fmt(p.size)} vehicles of ${ECUS} ECUs` : `PostgreSQL holds ${fmt(p.size)} vehicles of ${ECUS} ECUs, SQLite ${fmt(s.size)} (BENCH_PG_SQLITE_VEHICLES): the SQLite column is at a different size, said plainly`}. The store's API inserts one row per statement (a round trip each on PostgreSQL), too slow for millions of ECUs in a benchmark; the rest goes in bulk, as a migration loads rows (\`uptane director db migrate\` copies in multi-row INSERTs, shared/server/table-copy.ts): the same columns registration writes, random keys and keyids (nothing reads them as keys here), no audit rows. Registration through the Director service (keys checked, keyids computed) is figure 5's.`,
    'Lookups: what a manifest or an ECU-key lookup starts with. The assignment ratio is time on PostgreSQL over time on SQLite (above 100%: slower). The assignment reads the ECUs of 100,000 vehicles in one call (ecusOfVehicles) and writes one row per ECU in one transaction; nothing is signed until each vehicle\'s next fetch.',
  );
}

interface ScaleResult {
  readonly size: number;
  readonly apiCount: number;
  readonly apiRate: number;
  readonly bulkCount: number;
  readonly bulkSeconds: number;
  readonly bulkRate: number;
  readonly bytes: number;
  /** The largest tables, for the row. */
  readonly tables: string;
  readonly lookups: number;
  readonly lookupPgMs: number | undefined;
  readonly assignSeconds: number;
  /** Growth of the database per assignment made, bytes. */
  readonly assignedBytes: number;
}

/** Random hex for `count` ECUs: a 32-byte public key and a 32-byte keyid each. */
function ecuKeys(count: number): Buffer {
  return randomBytes(count * 64);
}

async function scaleOne(
  ctx: BenchContext,
  kind: 'sqlite' | 'postgres',
  { services, storage }: { services: DirectorServices; storage: DirectorStorage },
  pool: pg.Pool | undefined,
  schema: string,
  size: number,
  apiSeconds: number,
): Promise<ScaleResult> {
  const now = ctx.clock.now();
  const ecuOf = (i: number, e: number, keys: Buffer, k: number) => {
    const vin = vinOf(i);
    const at = (k * ECUS + e) * 64;
    return {
      serial: e === 0 ? `${vin}-tcu` : `${vin}-e${e}`,
      vin,
      hardwareId: e === 0 ? 'tcu' : `ecu-${e}`,
      publicKey: keys.toString('hex', at, at + 32),
      keyid: keys.toString('hex', at + 32, at + 64),
      isPrimary: e === 0,
    };
  };

  // Through the store's API, for a while.
  let registered = 0;
  const apiStart = performance.now();
  while (registered < size && performance.now() - apiStart < apiSeconds * 1000) {
    const batch = Math.min(500, size - registered);
    const keys = ecuKeys(batch * ECUS);
    await storage.unitOfWork(async (tx) => {
      for (let k = 0; k < batch; k++) {
        await tx.inventory.insertVehicle(vinOf(registered + k), {}, now);
        for (let e = 0; e < ECUS; e++) await tx.inventory.insertEcu(ecuOf(registered + k, e, keys, k), now);
      }
    });
    registered += batch;
  }
  const apiCount = registered;
  const apiRate = apiCount / ((performance.now() - apiStart) / 1000);

  // The rest in bulk.
  const bulkStart = performance.now();
  const registeredAt = now.toISOString();
  if (pool !== undefined) {
    const client = await pool.connect();
    try {
      while (registered < size) {
        const batch = Math.min(5_000, size - registered);
        const keys = ecuKeys(batch * ECUS);
        const vins = Array.from({ length: batch }, (_, k) => vinOf(registered + k));
        const ecus = vins.flatMap((_, k) => Array.from({ length: ECUS }, (_, e) => ecuOf(registered + k, e, keys, k)));
        await client.query('BEGIN');
        await client.query(`INSERT INTO vehicles (vin, registered_at) SELECT v, $2 FROM unnest($1::text[]) AS v`, [vins, registeredAt]);
        await client.query(
          `INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at)
           SELECT s, v, h, p, k, pr, $7 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[]) AS t(s, v, h, p, k, pr)`,
          [ecus.map((e) => e.serial), ecus.map((e) => e.vin), ecus.map((e) => e.hardwareId), ecus.map((e) => e.publicKey), ecus.map((e) => e.keyid), ecus.map((e) => e.isPrimary), registeredAt],
        );
        await client.query('COMMIT');
        registered += batch;
      }
      // Fresh statistics, as after a migration: the planner's view of tables that grew from nothing.
      await client.query('ANALYZE');
    } finally {
      client.release();
    }
  } else {
    const { db } = sqliteOf(storage);
    const insertVehicle = db.prepare('INSERT INTO vehicles (vin, registered_at) VALUES (?, ?)');
    const insertEcu = db.prepare('INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const insertBatch = db.transaction((from: number, batch: number, keys: Buffer) => {
      for (let k = 0; k < batch; k++) {
        insertVehicle.run(vinOf(from + k), registeredAt);
        for (let e = 0; e < ECUS; e++) {
          const ecu = ecuOf(from + k, e, keys, k);
          insertEcu.run(ecu.serial, ecu.vin, ecu.hardwareId, ecu.publicKey, ecu.keyid, ecu.isPrimary ? 1 : 0, registeredAt);
        }
      }
    });
    while (registered < size) {
      const batch = Math.min(10_000, size - registered);
      insertBatch(registered, batch, ecuKeys(batch * ECUS));
      registered += batch;
    }
  }
  const bulkCount = size - apiCount;
  const bulkSeconds = (performance.now() - bulkStart) / 1000;

  // Size on disk.
  const sizeOnDisk = async (): Promise<{ bytes: number; tables: string }> => {
    if (pool !== undefined) {
      const sizes = await tableSizes(pool, schema);
      return { bytes: sizes.reduce((sum, t) => sum + t.bytes, 0), tables: sizes.slice(0, 2).map((t) => `${t.table} ${fmt(t.bytes / 1024 ** 2)} MiB`).join(', ') };
    }
    const { db } = sqliteOf(storage);
    db.pragma('wal_checkpoint(TRUNCATE)');
    return { bytes: statSync(db.name).size, tables: '' };
  };
  const { bytes, tables } = await sizeOnDisk();

  // Point lookups, 8 at a time, for a few seconds.
  let seed = 2_147_483_647 % size;
  const randomVin = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return vinOf(seed % size);
  };
  const lookupMs = ctx.settings.quick ? 1_500 : 3_000;
  const backends = kind === 'postgres' ? await BackendCpu.open(schema) : undefined;
  const pgBefore = await backends?.sample();
  const lookupStart = performance.now();
  let lookups = 0;
  await Promise.all(
    Array.from({ length: LOOKUP_CONCURRENCY }, async () => {
      while (performance.now() - lookupStart < lookupMs) {
        const vin = randomVin();
        if ((await storage.inventory.vehicle(vin)) === undefined || (await storage.inventory.ecusOf(vin)).length !== ECUS) throw new Error(`figure 15: ${vin} not found on ${kind}`);
        lookups++;
      }
    }),
  );
  const lookupSeconds = (performance.now() - lookupStart) / 1000;
  const pgAfter = await backends?.sample();
  await backends?.close();

  // One operator assignment to the primaries of the first 100,000 vehicles.
  const assigned = Math.min(ASSIGNED, size);
  const assignStart = performance.now();
  const created = await services.assignments.assign({ vins: Array.from({ length: assigned }, (_, i) => vinOf(i)), image: BENCH_IMAGE, hardwareId: 'tcu' }, 'bench');
  const assignSeconds = (performance.now() - assignStart) / 1000;
  if (created.length !== assigned) throw new Error(`figure 15: ${created.length} assignments on ${kind}, ${assigned} expected`);
  const assignedBytes = (await sizeOnDisk()).bytes - bytes;

  console.log(`figure 15 ${kind}: ${fmt(size)} vehicles, API ${fmt(apiRate)}/s, bulk ${fmt(bulkSeconds)} s, ${fmt(bytes / 1024 ** 2)} MiB, ${fmt(lookups / lookupSeconds)} lookups/s, assignment ${fmt(assignSeconds)} s`);
  return {
    size,
    apiCount,
    apiRate,
    bulkCount,
    bulkSeconds,
    bulkRate: bulkCount / bulkSeconds,
    bytes,
    tables,
    lookups: lookups / lookupSeconds,
    lookupPgMs: pgBefore === undefined || pgAfter === undefined ? undefined : (pgAfter - pgBefore) / lookups,
    assignSeconds,
    assignedBytes: assignedBytes / assigned,
  };
}

async function openSession(url: string, vehicle: TestVehicle): Promise<string> {
  const response = await fetch(`${url}/vehicle/session`, { method: 'POST', headers: { authorization: vehicle.authHeader('POST', '/vehicle/session') } });
  if (response.status !== 201) throw new Error(`figure 15: POST /vehicle/session answered ${response.status} ${await response.text()}`);
  return ((await response.json()) as { token: string }).token;
}

function checkOk(result: LoadResult, what: string): void {
  if (okCount(result) !== result.requests || result.errors > 0 || result.requests === 0) {
    throw new Error(`figure 15 ${what}: ${result.requests - okCount(result)} of ${result.requests} refused, ${result.errors} errors; first: ${result.firstError ?? '?'}`);
  }
}
