// A PostgreSQL cluster of a test's own (initdb on a temporary folder, a free loopback port), so a
// test may restart or stop PostgreSQL without disturbing the test files running beside it on the
// system one. PostgreSQL refuses to run as root: when the tests run as root, initdb and pg_ctl run
// as the `postgres` user (runuser), on a folder it owns.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The binaries of the installed PostgreSQL (Debian's layout first, then the PATH). */
function binary(name: string): string {
  for (const version of ['17', '16', '15', '14']) {
    const path = `/usr/lib/postgresql/${version}/bin/${name}`;
    if (existsSync(path)) return path;
  }
  return name;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

export interface PostgresCluster {
  /** postgres://root@127.0.0.1:<port>/postgres: the superuser `root`, trust authentication. */
  readonly url: string;
  readonly port: number;
  /**
   * pg_ctl restart -m fast: every session ends, new ones are refused until it is back; with
   * `downMs`, a stop and a start that long after (an outage rather than a quick restart).
   */
  restart(downMs?: number): Promise<void>;
  /** Stops the server (fast) and removes its folder; safe to call twice. */
  destroy(): Promise<void>;
}

export async function startPostgresCluster(label: string): Promise<PostgresCluster> {
  const asRoot = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), `uptane-pg-${label}-`));
  const dataDir = join(dir, 'data');
  const as = (command: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args));
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: group } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(group.trim()));
  }
  const superuser = asRoot ? 'root' : userInfo().username;
  await as(binary('initdb'), ['-D', dataDir, '--auth=trust', '-U', superuser, '--no-sync']);
  const port = await freePort();
  // The socket in the cluster's own folder; fsync off: this cluster holds nothing worth a crash's care.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const pgCtl = (action: string, extra: string[] = []) => as(binary('pg_ctl'), [action, '-D', dataDir, '-w', '-t', '60', '-l', join(dir, 'log'), ...extra]);
  await pgCtl('start', ['-o', options]);
  let destroyed = false;
  return {
    url: `postgres://${superuser}@127.0.0.1:${port}/postgres`,
    port,
    restart: async (downMs = 0) => {
      if (downMs === 0) {
        await pgCtl('restart', ['-m', 'fast', '-o', options]);
        return;
      }
      await pgCtl('stop', ['-m', 'fast']);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await pgCtl('start', ['-o', options]);
    },
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      await pgCtl('stop', ['-m', 'fast']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
