// Durability (docs/threat-model.md N1, issue 4): a Director process killed with SIGKILL in the
// middle of a stream of writes leaves a database that passes PRAGMA integrity_check, and after a
// restart every write it acknowledged is there.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { buildCli, runCli, startCli, type CliProcess } from '../support/cli-runner.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';

let repos: Repositories;
let dir: string;
let server: CliProcess | undefined;

beforeAll(async () => {
  await buildCli();
});

beforeEach(async () => {
  repos = await startRepositories(new FixedClock(FIXTURE_NOW), 'crash');
  dir = mkdtempSync(join(tmpdir(), 'uptane-director-crash-'));
});

afterEach(async () => {
  await server?.stop();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(dataDir: string): Promise<string> {
  server = startCli(['director', 'serve', '--data-dir', dataDir, '--port', '0', '--image-repo', repos.image.url, '--image-root', join(repos.dataDir, 'image-root.json')]);
  return (await server.waitFor(/listening on (http:\/\/\S+)/))[1]!;
}

function registration(i: number) {
  const ecu = (serial: string, primary: boolean) => ({
    serial,
    hardwareId: primary ? 'tcu-a' : 'ecm-x1',
    publicKey: PrivateKey.fromLabel(`crash/${i}/${serial}`).publicKey.tuf.keyval.public,
    primary,
  });
  return { vin: `CRASH${String(i).padStart(8, '0')}`, ecus: [ecu(`tcu-${i}`, true), ecu(`ecm-${i}`, false)] };
}

it('N1: SIGKILL during a stream of registrations leaves a consistent database that keeps every acknowledged write', async () => {
  const dataDir = join(dir, 'director');
  let url = await serve(dataDir);
  const token = (await runCli(['director', 'operator', 'add', 'crash-test', '--data-dir', dataDir])).stdout.trim().split('\n').pop()!;
  const acknowledged: string[] = [];
  // Writes in flight, 4 at a time, until the process is killed under them.
  let next = 0;
  const writer = async () => {
    for (;;) {
      const body = registration(next++);
      try {
        const response = await fetch(`${url}/api/v1/vehicles`, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
        if (response.status === 201) acknowledged.push(body.vin);
        await response.arrayBuffer();
      } catch {
        return; // connection refused or reset: the process is gone
      }
    }
  };
  const writers = Array.from({ length: 4 }, writer);
  while (acknowledged.length < 40) await new Promise((r) => setTimeout(r, 10));
  server!.child.kill('SIGKILL');
  await Promise.all(writers);
  await server!.stop();
  server = undefined;

  const db = new Database(join(dataDir, 'director.sqlite'));
  expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  const stored = new Set((db.prepare('SELECT vin FROM vehicles').all() as Array<{ vin: string }>).map((r) => r.vin));
  // Every ECU belongs to a stored vehicle: no half-written registration survived.
  expect((db.prepare('SELECT COUNT(*) AS n FROM ecus WHERE vin NOT IN (SELECT vin FROM vehicles)').get() as { n: number }).n).toBe(0);
  expect((db.prepare('SELECT COUNT(*) AS n FROM vehicles v WHERE (SELECT COUNT(*) FROM ecus e WHERE e.vin = v.vin) <> 2').get() as { n: number }).n).toBe(0);
  db.close();
  for (const vin of acknowledged) expect(stored.has(vin)).toBe(true);

  url = await serve(dataDir);
  const listed = await fetch(`${url}/api/v1/vehicles?limit=1000`, { headers: { authorization: `Bearer ${token}` } });
  const { total } = (await listed.json()) as { total: number };
  expect(total).toBeGreaterThanOrEqual(acknowledged.length);
}, 120_000);
