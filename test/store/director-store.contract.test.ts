// One contract for the Director's store (director-repo/store/*.ts), run with the same cases against
// every backend: SQLite in a temp folder, and PostgreSQL in a fresh schema per store (skipped when
// PostgreSQL is absent, see test/support/postgres.ts). A behaviour the services rely on is asserted
// here once, so a backend that differs fails by name instead of in a service test far away.
import { describePostgres } from '../support/postgres.js';
import { cleanupTempDirs } from '../support/tuf-helpers.js';
import type { SqliteDirectorStore } from '../../director-repo/store/sqlite/director-store.js';
import { accessCases } from './director-contract/access-cases.js';
import { alertCases } from './director-contract/alert-cases.js';
import { assignmentCases } from './director-contract/assignment-cases.js';
import { BACKENDS, postgresBackend, type Backend } from './director-contract/backends.js';
import { batchCases } from './director-contract/batch-cases.js';
import { campaignCases } from './director-contract/campaign-cases.js';
import { campaignStandingCases } from './director-contract/campaign-standing-cases.js';
import { fleetStateCases } from './director-contract/fleet-state-cases.js';
import { dashboardCases } from './director-contract/dashboard-cases.js';
import { contractContext } from './director-contract/context.js';
import { inventoryCases } from './director-contract/inventory-cases.js';
import { manifestCases } from './director-contract/manifest-cases.js';
import { metadataCases } from './director-contract/metadata-cases.js';
import { persistenceCases } from './director-contract/persistence-cases.js';
import { postgresMigrationCases } from './director-contract/postgres-migration-cases.js';
import { sqliteMigrationCases } from './director-contract/sqlite-migration-cases.js';
import { unitOfWorkCases } from './director-contract/unit-of-work-cases.js';
import { uiSessionCases } from './director-contract/ui-session-cases.js';

function contract(backend: Backend): void {
  const ctx = contractContext(backend);
  afterEach(() => ctx.closeAll());

  describe('inventory', () => inventoryCases(ctx));
  describe('assignments', () => assignmentCases(ctx));
  describe('manifests and intake', () => manifestCases(ctx));
  describe('vehicle metadata, roots and encrypted images', () => metadataCases(ctx));
  describe('campaigns and groups', () => campaignCases(ctx));
  describe('audit log, operator tokens and signed-request marks', () => accessCases(ctx));
  describe('units of work', () => unitOfWorkCases(ctx));
  describe('fleet-sized batches', () => batchCases(ctx));
  describe('persistence', () => persistenceCases(ctx));
  describe('alerts outbox', () => alertCases(ctx));
  describe('dashboard reads', () => dashboardCases(ctx));
  describe('signed-out dashboard sessions', () => uiSessionCases(ctx));
  describe('stored fleet states', () => fleetStateCases(ctx));
  describe('stored campaign standings', () => campaignStandingCases(ctx));
}

const running = BACKENDS.filter((b) => b.runs);
const skipped = BACKENDS.filter((b) => !b.runs);
// describe.each refuses an empty table.
if (running.length > 0) describe.each(running)('DirectorStore contract on $name', contract);
if (skipped.length > 0) describe.skip.each(skipped)('DirectorStore contract on $name', contract);

describe('SQLite migrations', () => {
  const opened: SqliteDirectorStore[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    cleanupTempDirs();
  });
  sqliteMigrationCases((store) => (opened.push(store), store));
});

describePostgres('PostgreSQL migrations', () => {
  const opened: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const handle of opened.splice(0)) await handle.close();
    await postgresBackend.discardPlaces();
  });
  postgresMigrationCases((store) => (opened.push(store), store));
});
