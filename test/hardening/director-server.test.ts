// The Director's process- and connection-level hardening (issue 14), with real servers on loopback:
// background campaign rounds survive a failing store (HR-8), connections live under limits
// (HR-2), and the data folder is owner-only and locked to one serving process (HR-9h, HR-9i).
import { jest } from '@jest/globals';
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { startDirector, type RunningDirector } from '../../director-repo/server.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { runCli } from '../support/cli-runner.js';

let clock: FixedClock;
let repos: Repositories;
let extraDir: string;
let extra: RunningDirector | undefined;

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'director-hardening');
});

afterAll(async () => {
  await repos.close();
  rmSync(repos.dataDir, { recursive: true, force: true });
});

beforeEach(() => {
  extraDir = mkdtempSync(join(tmpdir(), 'director-hardening-'));
});

afterEach(async () => {
  jest.restoreAllMocks();
  await extra?.close();
  extra = undefined;
  rmSync(extraDir, { recursive: true, force: true });
});

/** A second Director on its own folder, trusting the fixture's Image repository. */
async function startExtra(options: Partial<Parameters<typeof startDirector>[0]> = {}): Promise<RunningDirector> {
  extra = await startDirector({
    dataDir: extraDir,
    imageRepoUrl: repos.image.url,
    imageRootFile: join(repos.dataDir, 'image-root.json'),
    clock,
    ...options,
  });
  return extra;
}

async function eventually(condition: () => boolean, what: string, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never happened: ${what}`);
}

/** Resolves with what the server sent once it closed the connection; the client never closes it. */
function untilServerCloses(socket: Socket): Promise<string> {
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.once('close', () => resolve(text)));
}

describe('HR-8: the campaign timer survives a failing store', () => {
  it('logs and exposes each failed round, keeps serving, and recovers', async () => {
    const lines: string[] = [];
    const director = await startExtra({ campaignTickMs: 20, log: (line) => lines.push(line) });
    const tick = director.campaigns.tick.bind(director.campaigns);
    // What a full disk makes of the campaign store's writes.
    director.campaigns.tick = () => {
      throw new Database.SqliteError('database or disk is full', 'SQLITE_FULL');
    };
    await eventually(() => director.campaignTickStatus().consecutiveFailures >= 2, 'two failed campaign rounds on the timer');
    expect(director.campaignTickStatus().lastFailure?.message).toBe('database or disk is full');
    expect(lines.some((line) => /moving campaigns on failed \(\d+ in a row; retried at the next round\): database or disk is full/.test(line))).toBe(true);
    const served = await fetch(`${director.url}/metadata/1.root.json`);
    expect([200, 404]).toContain(served.status); // answered: the process goes on
    expect((await fetch(`${director.url}/vehicle/metadata/targets.json`)).status).toBe(401);

    director.campaigns.tick = tick;
    await eventually(() => director.campaignTickStatus().consecutiveFailures === 0, 'a campaign round to succeed again');
    expect(director.campaignTickStatus().lastSuccessAt).toBeDefined();
    expect(lines.some((line) => /moving campaigns on works again/.test(line))).toBe(true);
  });
});

describe('HR-2: connections live under limits', () => {
  it('closes a connection that sent half a request and went quiet, and an idle keep-alive', async () => {
    const director = await startExtra({ limits: { idleTimeoutMs: 300, keepAliveTimeoutMs: 300 } });
    const { port } = new URL(director.url);
    const half = connect(Number(port), '127.0.0.1');
    const halfClosed = untilServerCloses(half);
    half.write('GET /metadata/1.root.json HTTP/1.1\r\nHost: x\r\n');
    await halfClosed; // never resolves without the server's limits: the test would time out

    const keepAlive = connect(Number(port), '127.0.0.1');
    const keptClosed = untilServerCloses(keepAlive);
    keepAlive.write('GET /metadata/1.root.json HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    expect(await keptClosed).toMatch(/^HTTP\/1\.1 (200|404)/);
    expect((await fetch(`${director.url}/vehicle/metadata/targets.json`)).status).toBe(401);
  }, 20_000);
});

describe('HR-9h, HR-9i: the data folder', () => {
  const mode = (path: string) => statSync(path).mode & 0o777;

  it('is owner-only: folders 0700, database, lock and keys 0600', async () => {
    await startExtra();
    for (const dir of ['', 'keys', 'image-repo-metadata']) expect([dir, mode(join(extraDir, dir))]).toEqual([dir, 0o700]);
    for (const file of ['director.sqlite', 'director.sqlite-wal', 'serve.lock']) expect([file, mode(join(extraDir, file))]).toEqual([file, 0o600]);
    for (const key of readdirSync(join(extraDir, 'keys'))) expect([key, mode(join(extraDir, 'keys', key))]).toEqual([key, 0o600]);
  });

  it('a second `uptane director serve` on the same folder refuses to start, naming the pid that holds it', async () => {
    const director = await startExtra();
    const second = await runCli(['director', 'serve', '--data-dir', extraDir, '--port', '0', '--image-repo', repos.image.url], { timeoutMs: 60_000 });
    expect(second.status).not.toBe(0);
    expect(second.stderr + second.stdout).toContain(`pid ${process.pid}`);
    expect(second.stderr + second.stdout).toMatch(/Stop that process first/);
    expect((await fetch(`${director.url}/vehicle/metadata/targets.json`)).status).toBe(401);
  }, 90_000);
});
