// `uptane gateway serve` run as a depot operator runs it (dist/cli.js) in front of the real Image
// repository and Director on loopback: the start-up report (human and --json), metadata and images
// served and kept, a kept copy served again after a restart of the process, a prefetch list, bad
// options refused with what to fix, and a clean stop on SIGTERM.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { FIXTURE_NOW, startRepositories, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { runCli, startCli } from '../support/cli-runner.js';

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const IMAGE: FixtureImage = { name: 'depot/ecm.bin', content: Buffer.alloc(300_000, 7), hardwareIds: ['ecm-x1'], releaseCounter: 1 };
const PREFETCHED: FixtureImage = { name: 'depot/tcu.bin', content: Buffer.alloc(200_000, 9), hardwareIds: ['tcu-x1'], releaseCounter: 1 };
const pathOf = (image: FixtureImage) => `/targets/depot/${sha(image.content)}.${image.name.slice('depot/'.length)}`;

interface Health {
  readonly imageFills: number;
  readonly imageHits: number;
  readonly cache: { readonly entries: number };
}

let repos: Repositories;
let dir: string;

beforeAll(async () => {
  repos = await startRepositories(new FixedClock(FIXTURE_NOW), 'gateway-cli');
  await repos.publishImages([IMAGE, PREFETCHED]);
  dir = mkdtempSync(join(tmpdir(), 'uptane-gateway-cli-'));
});

afterAll(async () => {
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

const serveArgs = (cacheDir: string, extra: string[] = []) => [
  'gateway',
  'serve',
  '--upstream-image',
  repos.image.url,
  '--upstream-director',
  repos.director.url,
  '--port',
  '0',
  '--cache-dir',
  cacheDir,
  ...extra,
];

test('serves metadata and images through the cache, keeps them across a restart, prefetches a listed image, and stops cleanly on SIGTERM', async () => {
  const cacheDir = join(dir, 'cache');
  const list = join(dir, 'prefetch.txt');
  writeFileSync(list, `${pathOf(PREFETCHED)}\n`);
  let gateway = startCli(serveArgs(cacheDir, ['--prefetch', list, '--metadata-fresh-ms', '0']));
  try {
    const url = (await gateway.waitFor(/gateway listening on (http:\/\/\S+)/))[1]!;
    await gateway.waitFor(/^prefetch: .*$/m); // the report's last line
    expect(gateway.output()).toContain(`Image repository: ${repos.image.url}; Director: ${repos.director.url}`);
    expect(gateway.output()).toContain(`prefetch: ${list}`);
    const timestamp = await fetch(`${url}/metadata/timestamp.json`);
    expect(timestamp.status).toBe(200);
    expect(Buffer.from(await timestamp.arrayBuffer())).toEqual(Buffer.from(await (await fetch(`${repos.image.url}/metadata/timestamp.json`)).arrayBuffer()));
    for (let i = 0; i < 2; i++) {
      const image = await fetch(`${url}${pathOf(IMAGE)}`);
      expect(Buffer.from(await image.arrayBuffer()).equals(IMAGE.content)).toBe(true);
    }
    // The listed image is brought in without a vehicle asking: its answer then comes from the kept copy.
    let health = (await (await fetch(`${url}/healthz`)).json()) as Health;
    for (let i = 0; i < 50 && health.imageFills < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      health = (await (await fetch(`${url}/healthz`)).json()) as Health;
    }
    expect(health).toMatchObject({ imageFills: 2, imageHits: 1 });
    expect(await gateway.stop()).toBe(0);

    // A new process on the same folder answers from what the last one kept: no upstream download.
    gateway = startCli(serveArgs(cacheDir, ['--json']));
    const report = JSON.parse((await gateway.waitFor(/^\{[\s\S]*?\n\}$/m))[0]) as { url: string; cacheDir: string; cache: { entries: number } };
    expect(report.cacheDir).toBe(cacheDir);
    expect(report.cache.entries).toBeGreaterThanOrEqual(2);
    const again = await fetch(`${report.url}${pathOf(PREFETCHED)}`);
    expect(Buffer.from(await again.arrayBuffer()).equals(PREFETCHED.content)).toBe(true);
    expect((await (await fetch(`${report.url}/healthz`)).json()) as Health).toMatchObject({ imageFills: 0, imageHits: 1 });
    // Director requests pass through: without the vehicle's signed credential the Director refuses.
    expect((await fetch(`${report.url}/vehicle/metadata/timestamp.json`)).status).toBe(401);
  } finally {
    await gateway.stop();
  }
});

test('bad options are refused before anything starts, saying what to fix; --help shows working examples', async () => {
  const zero = await runCli(serveArgs(join(dir, 'unused'), ['--cache-max-bytes', '0']));
  expect(zero.status).not.toBe(0);
  expect(zero.stderr).toContain('--cache-max-bytes must be a positive number of bytes');
  const missing = await runCli(['gateway', 'serve', '--upstream-image', repos.image.url]);
  expect(missing.status).not.toBe(0);
  expect(missing.stderr).toMatch(/upstream-director/);
  const help = await runCli(['gateway', 'serve', '--help']);
  expect(help.status).toBe(0);
  expect(help.stdout).toContain('Examples:');
  expect(help.stdout).toContain('uptane gateway serve --upstream-image');
  expect(help.stdout).toContain('--prefetch');
});
