// Builds the `uptane` CLI once before any test file runs, so tests that drive `node dist/cli.js`
// test the current sources without each file rebuilding (parallel builds clobber each other's dist/).
// Type errors do not stop the build here (tsc still emits): `npm test` type-checks the whole tree
// before Jest starts, and fails on them there.
//
// It checks that mosquitto is installed for the MQTT suites (test/mqtt/: skipped without it, failing under CI=true).
// Test temp folders go to memory (tmpfs, /dev/shm) when the machine has it: the simulated ECUs,
// workspaces and SQLite stores fsync every atomic write, as they must in a vehicle, and on a disk
// those fsyncs were most of a fleet suite's time (test/director/campaigns: 146 s of 321 s in fsync).
// TMPDIR is what os.tmpdir() and every child process read; the folder is removed by
// test/global-teardown.js. UPTANE_TEST_TMPDIR=disk keeps the system's temp folder (to test on a disk).
//
// It also checks once whether PostgreSQL answers (test/support/postgres.ts): the PostgreSQL suites
// run against it, are skipped with a notice when it is absent, and fail the run under CI=true.
import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdtempSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export default async function globalSetup() {
  useMemoryTempDir();
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  if (result.error !== undefined || !existsSync(join(root, 'dist', 'cli.js'))) {
    throw new Error(`building the CLI failed:\n${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`);
  }
  await checkPostgres();
  checkMosquitto();
}

/** Points TMPDIR at a fresh folder on tmpfs, if there is one and UPTANE_TEST_TMPDIR is not `disk`. */
function useMemoryTempDir() {
  const shm = '/dev/shm';
  if (process.env.UPTANE_TEST_TMPDIR === 'disk') return;
  try {
    accessSync(shm, constants.W_OK);
  } catch {
    return;
  }
  const dir = mkdtempSync(join(shm, 'uptane-test-'));
  // As /tmp: PostgreSQL clusters (test/support/postgres-cluster.ts) and mosquitto drop root for a
  // user of their own, which must reach its folder inside.
  chmodSync(dir, 0o1777);
  process.env.UPTANE_TEST_TMPDIR_MADE = dir;
  process.env.TMPDIR = dir;
  // Node's compile cache (V8 code cache on disk) for every node process the run starts: the Jest
  // workers and the hundreds of `uptane` children the CLI tests spawn compile the same modules
  // again otherwise. Kept with the run's temp folder; an explicit NODE_COMPILE_CACHE wins.
  process.env.NODE_COMPILE_CACHE ??= join(dir, 'node-compile-cache');
}

/** The MQTT suites (test/mqtt/) start brokers of their own: under CI=true the binary must be there (.ci/run installs it). */
function checkMosquitto() {
  const found = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].some((path) => existsSync(path));
  const passwd = ['/usr/bin/mosquitto_passwd', '/usr/local/bin/mosquitto_passwd'].some((path) => existsSync(path));
  if (found && passwd) return;
  if (process.env.CI === 'true') throw new Error('mosquitto (and mosquitto_passwd) are not installed: CI=true runs the MQTT suites; apt-get install mosquitto');
  console.warn('\n*** mosquitto is not installed: the MQTT suites (test/mqtt/) are SKIPPED. apt-get install mosquitto runs them. ***\n');
}

async function checkPostgres() {
  const url = process.env.UPTANE_TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    process.env.UPTANE_TEST_POSTGRES = '1';
  } catch (err) {
    const why = `PostgreSQL at ${url.replace(/:[^:@/]*@/, ':***@')} does not answer (${err.message})`;
    if (process.env.CI === 'true') throw new Error(`${why}: CI=true needs it; start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set UPTANE_TEST_DATABASE_URL`);
    process.env.UPTANE_TEST_POSTGRES = '0';
    console.warn(`\n*** ${why}: the PostgreSQL suites are SKIPPED. Run them with a PostgreSQL at UPTANE_TEST_DATABASE_URL (default postgres://root@127.0.0.1:5432/test). ***\n`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
