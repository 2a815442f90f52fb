// A real RepositoryUpdater with a real on-disk store in a temp directory, wired to a simulator, and
// the assertions every attack test makes: the typed error, and a store left byte-for-byte unchanged
// (or changed only by the files that verified before the failure).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { nobleBackend, type Ed25519Backend } from '../../shared/core/crypto/ed25519.js';
import { UptaneError } from '../../shared/core/errors.js';
import type { Fetcher } from '../../shared/client/fetcher.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { roleFileName } from '../../shared/core/metadata/paths.js';
import type { RoleType } from '../../shared/core/metadata/types.js';
import { RepositoryUpdater, type UpdaterConfig } from '../../shared/client/updater.js';
import { RepositorySimulator, SIM_METADATA_URL, SIM_NOW, SIM_TARGETS_URL } from './repo-simulator.js';

export interface TestClient {
  readonly directory: string;
  readonly store: FileMetadataStore;
  readonly clock: FixedClock;
  /** A fresh updater on the same store (as after a restart); `updater` is the first one. */
  newUpdater(): RepositoryUpdater;
  updater: RepositoryUpdater;
  /** Every stored file and its bytes, to compare before and after an attack. */
  storeSnapshot(): Record<string, string>;
  cleanup(): void;
}

export interface TestClientOptions {
  readonly fetcher?: Fetcher;
  readonly metadataUrl?: string;
  readonly targetsUrl?: string;
  readonly config?: Partial<UpdaterConfig>;
  readonly backend?: Ed25519Backend;
  readonly now?: Date;
  /** Trusted root bytes to provision; default: the simulator's root v1. */
  readonly trustedRoot?: Uint8Array;
}

const cleanups: Array<() => void> = [];

/** Removes every temp directory made by newClient; call from afterEach or afterAll. */
export function cleanupClients(): void {
  while (cleanups.length > 0) cleanups.pop()!();
}

export function newClient(sim: RepositorySimulator, options: TestClientOptions = {}): TestClient {
  const directory = mkdtempSync(join(tmpdir(), 'uptane-client-'));
  const store = new FileMetadataStore(join(directory, 'metadata'));
  store.persist('root', options.trustedRoot ?? sim.publishedRoots[0]!);
  const clock = new FixedClock(options.now ?? SIM_NOW);
  const newUpdater = () =>
    new RepositoryUpdater({
      repository: 'image',
      metadataUrl: options.metadataUrl ?? SIM_METADATA_URL,
      targetsUrl: options.targetsUrl ?? SIM_TARGETS_URL,
      store,
      fetcher: options.fetcher ?? sim,
      clock,
      backend: options.backend ?? nobleBackend,
      config: options.config,
    });
  const cleanup = () => rmSync(directory, { recursive: true, force: true });
  cleanups.push(cleanup);
  return {
    directory,
    store,
    clock,
    newUpdater,
    updater: newUpdater(),
    storeSnapshot: () => snapshotDirectory(store.directory),
    cleanup,
  };
}

export function snapshotDirectory(directory: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(directory).sort()) files[name] = readFileSync(join(directory, name)).toString('base64');
  return files;
}

/** A client that completed one honest refresh against `sim`. */
export async function refreshedClient(sim: RepositorySimulator, options: TestClientOptions = {}): Promise<TestClient> {
  const client = newClient(sim, options);
  await client.updater.refresh();
  return client;
}

/** The version of the metadata stored for `role` (a delegated role parses as targets). */
export function storedVersion(client: TestClient, role: string): number {
  const bytes = client.store.load(role);
  if (bytes === undefined) throw new Error(`nothing stored for ${role}`);
  const type: RoleType = role === 'root' || role === 'timestamp' || role === 'snapshot' ? role : 'targets';
  return parseMetadata(bytes, type).signed.version;
}

/** The bytes stored for `role`, or undefined if nothing is. */
export function storedBytes(client: TestClient, role: string): Buffer | undefined {
  const bytes = client.store.load(role);
  return bytes === undefined ? undefined : Buffer.from(bytes);
}

/**
 * Store files a failed action may legitimately have changed, by role: a role mapped to bytes was
 * persisted with exactly those bytes (it verified before the failure), a role mapped to undefined
 * was removed.
 */
export type StoreChanges = Readonly<Record<string, Uint8Array | undefined>>;

export interface ExpectRejectedOptions {
  /** What the action may change in the store; everything else must stay byte-for-byte. Default: nothing. */
  readonly changed?: StoreChanges;
}

/**
 * Asserts `action` fails with `errorClass` and `code`, and that the client's store is byte-for-byte
 * what it was before, with exactly `changed` applied (by default nothing: the store is unchanged).
 * Returns the error for further checks.
 */
export async function expectRejected<E extends UptaneError>(
  client: TestClient,
  action: () => Promise<unknown>,
  errorClass: abstract new (...args: never[]) => E,
  code: string,
  { changed = {} }: ExpectRejectedOptions = {},
): Promise<E> {
  const expected = client.storeSnapshot();
  for (const [role, bytes] of Object.entries(changed)) {
    if (bytes === undefined) delete expected[roleFileName(role)];
    else expected[roleFileName(role)] = Buffer.from(bytes).toString('base64');
  }
  let caught: unknown;
  try {
    await action();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(errorClass);
  expect((caught as UptaneError).code).toBe(code);
  expect(client.storeSnapshot()).toEqual(expected);
  return caught as E;
}

/**
 * For failures after timestamp (or snapshot) verified: the error is typed, the roles in `verified`
 * were persisted with exactly the bytes the repository signed (they passed every check) and differ
 * from what was stored before, and nothing else in the store changed. A retry then changes nothing
 * at all (expectRejected). Returns the error of the first attempt.
 */
export async function expectRejectedKeepingVerified<E extends UptaneError>(
  client: TestClient,
  action: () => Promise<unknown>,
  errorClass: abstract new (...args: never[]) => E,
  code: string,
  verified: Readonly<Record<string, Uint8Array>>,
): Promise<E> {
  const before = client.storeSnapshot();
  const err = await expectRejected(client, action, errorClass, code, { changed: verified });
  for (const role of Object.keys(verified)) {
    expect(Buffer.from(client.store.load(role) ?? []).toString('base64')).not.toBe(before[roleFileName(role)]);
  }
  await expectRejected(client, action, errorClass, code);
  return err;
}
