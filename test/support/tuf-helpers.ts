// Helpers shared by the TUF attack tests (test/tuf): temp directories and real-HTTP setups (the
// simulator's tree served by static-server.ts to a client using HttpFetcher), and crafting what an
// attacker serves in place of one file of the simulated repository, with the assertions around it.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashMismatchError, type UptaneError } from '../../shared/core/errors.js';
import { HttpFetcher, type HttpFetcherConfig } from '../../shared/client/fetcher.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { roleFileName } from '../../shared/core/metadata/paths.js';
import type { TopLevelRole } from '../../shared/core/metadata/types.js';
import type { RefreshResult, RepositoryUpdater, TargetLookup, UpdaterConfig } from '../../shared/client/updater.js';
import { cleanupClients, expectRejected, newClient, type TestClient } from './client.js';
import type { RepositorySimulator } from './repo-simulator.js';
import { startStaticServer, stopStaticServers, type StaticServer, type StaticServerOptions } from './static-server.js';

// -----------------------------------------------------------------------------------------------
// Temp directories and real HTTP.

const tempDirs: string[] = [];

/** A fresh temp directory, removed by cleanupTempDirs. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Removes every directory made by tempDir. */
export function cleanupTempDirs(): void {
  while (tempDirs.length > 0) rmSync(tempDirs.pop()!, { recursive: true, force: true });
}

/** For afterEach in tests over HTTP: stops every static server, then removes every client and temp directory. */
export async function cleanupServersClientsAndTempDirs(): Promise<void> {
  await stopStaticServers();
  cleanupClients();
  cleanupTempDirs();
}

/** Deterministic image bytes of `size`, distinct per label. */
export function imageBytes(label: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (label.charCodeAt(i % label.length) * 31 + i * 7) & 0xff;
  return out;
}

/** Hex SHA-256 of `data` (a string is hashed as its UTF-8 bytes). */
export function sha256(data: string | Uint8Array): string {
  return digestBytes(typeof data === 'string' ? Buffer.from(data) : data, ['sha256']).sha256!;
}

/** Exports `sim` to a fresh temp directory and serves it over HTTP on 127.0.0.1. */
export async function serveRepository(sim: RepositorySimulator, options: StaticServerOptions = {}): Promise<StaticServer> {
  const root = tempDir('uptane-repo-');
  sim.exportTo(root);
  return startStaticServer(root, options);
}

/** A client (see newClient) that fetches from `server` through a real HttpFetcher with 2 s timeouts. */
export function httpClient(
  sim: RepositorySimulator,
  server: StaticServer,
  fetcherConfig: Partial<HttpFetcherConfig> = {},
  config?: Partial<UpdaterConfig>,
): TestClient {
  return newClient(sim, {
    fetcher: new HttpFetcher({ connectTimeoutMs: 2_000, idleTimeoutMs: 2_000, ...fetcherConfig }),
    metadataUrl: `${server.url}/metadata`,
    targetsUrl: `${server.url}/targets`,
    config,
  });
}

// -----------------------------------------------------------------------------------------------
// Crafting what an attacker serves from the simulated repository.

/** The attacker answers requests for `path` with `bytes`; everything else is the honest repository. */
export function serveAttack(sim: RepositorySimulator, path: string, bytes: Uint8Array): void {
  sim.override = (requested) => (requested === path ? bytes : undefined);
}

/** The signed part of `role` as the simulator currently holds it (top-level or delegated). */
export function signedOf(sim: RepositorySimulator, role: string): object {
  switch (role) {
    case 'root':
      return sim.root;
    case 'timestamp':
      return sim.timestamp;
    case 'snapshot':
      return sim.snapshot;
    case 'targets':
      return sim.targets;
    default: {
      const delegated = sim.delegated.get(role);
      if (delegated === undefined) throw new Error(`no role ${role}`);
      return delegated;
    }
  }
}

/** The path (under SIM_BASE) the client fetches the current version of `role` from. */
export function pathOf(sim: RepositorySimulator, role: string): string {
  if (role === 'root') return `/metadata/${sim.root.version}.root.json`;
  if (role === 'timestamp') return '/metadata/timestamp.json';
  if (role === 'snapshot') return `/metadata/${sim.snapshot.version}.snapshot.json`;
  const version = role === 'targets' ? sim.targets.version : sim.delegated.get(role)!.version;
  return `/metadata/${roleFileName(role, version)}`;
}

/**
 * Moves the repository to the next version of `role`: root v2 (not published: the attacker serves
 * it, and expectHonestRefresh publishes it), or a normal release (targets, snapshot and timestamp
 * all move on).
 */
export function nextVersion(sim: RepositorySimulator, role: TopLevelRole): void {
  if (role === 'root') sim.root.version = sim.publishedRoots.length + 1;
  else sim.release();
}

export function b64(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('base64');
}

/**
 * A refresh against the attacked repository is rejected and leaves the store byte-for-byte as it
 * was. When the attacked role is snapshot or targets, the roles before it verify and TUF persists
 * them (#check_timestamp, #check_snapshot): the first attempt shows that those honest bytes were
 * stored and the attacked role never was, then a retry is asserted to change nothing at all.
 */
export async function expectRefreshRejected<E extends UptaneError>(
  client: TestClient,
  sim: RepositorySimulator,
  role: string,
  errorClass: abstract new (...args: never[]) => E,
  code: string,
  makeUpdater: () => RepositoryUpdater = () => client.newUpdater(),
): Promise<E> {
  if (role === 'snapshot' || role === 'targets') {
    const before = client.storeSnapshot();
    const first = await makeUpdater()
      .refresh()
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(first).toBeInstanceOf(errorClass);
    expect((first as UptaneError).code).toBe(code);
    const after = client.storeSnapshot();
    expect(after['timestamp.json']).toBe(b64(sim.serve('/metadata/timestamp.json')));
    if (role === 'targets') expect(after['snapshot.json']).toBe(b64(sim.serve(pathOf(sim, 'snapshot'))));
    expect(after[`${role}.json`]).toBe(before[`${role}.json`]);
  }
  return expectRejected(client, () => makeUpdater().refresh(), errorClass, code);
}

/**
 * The attack stops (and root v2 is published honestly if root was attacked): the next refresh
 * succeeds and reaches the very versions the attack was served under. A new snapshot is fetched only
 * after a timestamp or snapshot attack: a root attack leaves the stored one current, and a targets
 * attack comes after the new snapshot verified and was stored.
 */
export async function expectHonestRefresh(client: TestClient, sim: RepositorySimulator, role: TopLevelRole): Promise<RefreshResult> {
  sim.override = undefined;
  if (role === 'root') sim.publishRoot();
  const result = await client.newUpdater().refresh();
  expect(result).toEqual({
    rootVersion: sim.root.version,
    timestampVersion: sim.timestamp.version,
    snapshotChanged: role === 'timestamp' || role === 'snapshot',
    targetsVersion: sim.targets.version,
  });
  return result;
}

/**
 * F3: the served image with its byte at `at` flipped is refused with HashMismatchError, leaving
 * neither the file nor a `.part`; served honestly again, the same download then succeeds.
 */
export async function expectCorruptedImageRefused(
  client: TestClient,
  image: { readonly file: string; readonly data: Buffer; readonly lookup: TargetLookup },
  destination: string,
  at: number,
): Promise<void> {
  const corrupted = Buffer.from(image.data);
  corrupted[at] = corrupted[at]! ^ 0x01;
  writeFileSync(image.file, corrupted);
  await expectRejected(client, () => client.updater.downloadTarget(image.lookup, destination), HashMismatchError, 'hash_mismatch');
  expect(existsSync(destination)).toBe(false);
  expect(existsSync(`${destination}.part`)).toBe(false);

  writeFileSync(image.file, image.data);
  await client.updater.downloadTarget(image.lookup, destination);
  expect(readFileSync(destination).equals(image.data)).toBe(true);
}
