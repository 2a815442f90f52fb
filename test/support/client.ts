// A real RepositoryUpdater with a real on-disk store in a temp directory, wired to a simulator, and
// the assertions every attack test makes: the typed error, and a store left byte-for-byte unchanged.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/clock.js';
import { nobleBackend, type Ed25519Backend } from '../../shared/crypto/ed25519.js';
import { UptaneError } from '../../shared/errors.js';
import type { Fetcher } from '../../shared/fetcher.js';
import { FileMetadataStore } from '../../shared/metadata-store.js';
import { RepositoryUpdater, type UpdaterConfig } from '../../shared/updater.js';
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

/**
 * Asserts `action` fails with `errorClass` and `code`, and that the client's store is byte-for-byte
 * what it was before. Returns the error for further checks.
 */
export async function expectRejected<E extends UptaneError>(
  client: TestClient,
  action: () => Promise<unknown>,
  errorClass: abstract new (...args: never[]) => E,
  code: string,
): Promise<E> {
  const before = client.storeSnapshot();
  let caught: unknown;
  try {
    await action();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(errorClass);
  expect((caught as UptaneError).code).toBe(code);
  expect(client.storeSnapshot()).toEqual(before);
  return caught as E;
}
