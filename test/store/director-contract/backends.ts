// The backends the Director store contract runs against: SQLite in a temp folder and PostgreSQL in a
// fresh schema per store. Each gives a new empty place to keep a store (a file, a schema) and opens
// a store there, so a case can also close a store and open the same place again (migrations).
import type { DirectorStorage } from '../../../director-repo/store/director-store.js';
import { PostgresDirectorStore } from '../../../director-repo/store/postgres/director-store.js';
import { SqliteDirectorStore } from '../../../director-repo/store/sqlite/director-store.js';
import { dropSchemas, postgresAvailable, uniqueSchema, urlWithSchema } from '../../support/postgres.js';
import { cleanupTempDirs, tempDir } from '../../support/tuf-helpers.js';

/** What the cases use of a store: what the Director server holds, its areas and operator tokens. */
export type ContractStore = DirectorStorage;

export interface OpenedStore {
  readonly store: ContractStore;
  readonly close: () => Promise<void>;
}

export interface Backend {
  readonly name: string;
  /** False when the backend cannot run here (no PostgreSQL answering). */
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
  place: () => `${tempDir('director-contract-')}/director.sqlite`,
  open: async (path) => {
    const store = new SqliteDirectorStore(path);
    return { store, close: () => store.close() };
  },
  discardPlaces: async () => cleanupTempDirs(),
};

/** The schemas made and not yet dropped. */
const postgresSchemas: string[] = [];

export const postgresBackend: Backend = {
  name: 'PostgreSQL',
  // As describePostgres (test/support/postgres.ts): skipped with global setup's notice when absent.
  runs: postgresAvailable,
  place: () => {
    const schema = uniqueSchema('director_contract');
    postgresSchemas.push(schema);
    return urlWithSchema(schema);
  },
  open: async (url) => {
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
