// The install bundles' SQL on PostgreSQL (schema.ts, migration 9), as SQLite's.
import type { AssignmentOrigin, AssignmentRecord } from '../assignments.js';
import type { InstallBundleOutcome, InstallBundleRecord, InstallBundleStore } from '../install-bundles.js';
import { toAssignment, toInstallBundle, type AssignmentRow, type InstallBundleRow } from '../rows.js';
import { ASSIGNMENT_COLUMNS } from './assignments.js';
import { run, type Queryable } from './sql.js';

export class PostgresInstallBundles implements InstallBundleStore {
  constructor(private readonly q: Queryable) {}

  async create(vin: string, origin: AssignmentOrigin): Promise<number> {
    const at = origin.now.toISOString();
    const [row] = await run<{ id: string }>(
      this.q,
      "INSERT INTO install_bundles (vin, campaign_id, state, created_by, created_at, updated_at) VALUES ($1, $2, 'pending', $3, $4, $4) RETURNING id",
      [vin, origin.campaignId ?? null, origin.actor, at],
    );
    return Number(row!.id);
  }

  async attach(id: number, assignmentIds: readonly number[]): Promise<void> {
    await run(this.q, 'UPDATE assignments SET bundle_id = $1 WHERE id = ANY($2::bigint[])', [id, assignmentIds]);
  }

  async byId(id: number): Promise<InstallBundleRecord | undefined> {
    const [row] = await run<InstallBundleRow>(this.q, 'SELECT * FROM install_bundles WHERE id = $1', [id]);
    return row === undefined ? undefined : toInstallBundle(row);
  }

  async pendingOfVehicle(vin: string): Promise<InstallBundleRecord[]> {
    return (await run<InstallBundleRow>(this.q, "SELECT * FROM install_bundles WHERE vin = $1 AND state = 'pending' ORDER BY id", [vin])).map(toInstallBundle);
  }

  async members(id: number): Promise<AssignmentRecord[]> {
    return (await run<AssignmentRow>(this.q, `SELECT ${ASSIGNMENT_COLUMNS} FROM assignments WHERE bundle_id = $1 ORDER BY ecu_serial`, [id])).map(toAssignment);
  }

  async finish(id: number, outcome: InstallBundleOutcome, now: Date): Promise<boolean> {
    const rows = await run<{ id: string }>(
      this.q,
      "UPDATE install_bundles SET state = $1, failing_ecu = $2, reason = $3, updated_at = $4 WHERE id = $5 AND state = 'pending' RETURNING id",
      [outcome.state, outcome.failingEcu, outcome.reason, now.toISOString(), id],
    );
    return rows.length === 1;
  }
}
