// The backends the Director store contract runs against: SQLite in a temp folder and PostgreSQL in a
// fresh schema per store. Each gives a new empty place to keep a store (a file, a schema) and opens
// a store there, so a case can also close a store and open the same place again (migrations).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SignedRequestMarks } from '../../../shared/uptane/vehicle-auth.js';
import type { DirectorStore } from '../../../director-repo/store/director-store.js';
import type { OperatorTokenStore } from '../../../director-repo/store/operator-tokens.js';
import { SqliteDirectorStore } from '../../../director-repo/store/sqlite/director-store.js';
import { dropSchemas, postgresAvailable, uniqueSchema, urlWithSchema } from '../../support/postgres.js';
import { cleanupTempDirs, tempDir } from '../../support/tuf-helpers.js';

/** Either the synchronous shape or the promise-returning one: the cases `await` every call. */
type MaybeAsync<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => R | Promise<Awaited<R>> : T[K] };

/**
 * What the cases use of a store: the DirectorStore areas, the operator tokens and the signed-request
 * marks, whether those two answer synchronously or with promises (both are being made async).
 */
export type ContractStore = Omit<DirectorStore, 'signedRequestMarks'> & {
  readonly signedRequestMarks: MaybeAsync<SignedRequestMarks>;
} & MaybeAsync<OperatorTokenStore>;

export interface OpenedStore {
  readonly store: ContractStore;
  readonly close: () => Promise<void>;
}

export interface Backend {
  readonly name: string;
  /** False when the backend cannot run here (no PostgreSQL, or its store not written yet). */
  readonly runs: boolean;
  /** A new empty place for a store: a file path, a database URL naming a fresh schema. */
  place(): string;
  /** Opens (creating or migrating) the store kept at `place`. */
  open(place: string): Promise<OpenedStore>;
  /** Removes the places made so far, once their stores are closed. */
  discardPlaces(): Promise<void>;
}

export const sqliteBackend: Backend = {
  name: 'SQLite',
  runs: true,
  place: () => join(tempDir('director-contract-'), 'director.sqlite'),
  open: async (path) => {
    const store = new SqliteDirectorStore(path);
    return { store, close: async () => store.close() };
  },
  discardPlaces: async () => cleanupTempDirs(),
};

/** The schemas made and not yet dropped. */
const postgresSchemas: string[] = [];

const POSTGRES_STORE = fileURLToPath(new URL('../../../director-repo/store/postgres/director-store.ts', import.meta.url));

interface PostgresStoreClass {
  open(url: string): Promise<ContractStore & { close(): Promise<void> }>;
}

// Written by another change at the same time as this suite: loaded by a computed path until it
// exists, so the suite type-checks and runs on SQLite before it lands.
const POSTGRES_MODULE = '../../../director-repo/store/postgres/director-store.js';

export const postgresBackend: Backend = {
  name: 'PostgreSQL',
  runs: postgresAvailable && existsSync(POSTGRES_STORE),
  place: () => {
    const schema = uniqueSchema('director_contract');
    postgresSchemas.push(schema);
    return urlWithSchema(schema);
  },
  open: async (url) => {
    const { PostgresDirectorStore } = (await import(POSTGRES_MODULE)) as { PostgresDirectorStore: PostgresStoreClass };
    const store = await PostgresDirectorStore.open(url);
    return { store, close: () => store.close() };
  },
  // One schema per statement, after each case: dropping the whole suite's schemas (about twenty
  // tables each) in one statement took more locks than PostgreSQL's lock table holds (out of shared
  // memory) when other suites ran beside it.
  discardPlaces: async () => {
    while (postgresSchemas.length > 0) await dropSchemas([postgresSchemas.pop()!]);
  },
};

export const BACKENDS: readonly Backend[] = [sqliteBackend, postgresBackend];
