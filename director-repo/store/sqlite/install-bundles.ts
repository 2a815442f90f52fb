// The install bundles' SQL (schema.ts, migration 14).
import type { Db } from '../../../shared/server/sqlite.js';
import type { AssignmentOrigin, AssignmentRecord } from '../assignments.js';
import type { InstallBundleOutcome, InstallBundleRecord, InstallBundleStore } from '../install-bundles.js';
import { toAssignment, toInstallBundle, type AssignmentRow, type InstallBundleRow } from '../rows.js';
import type { Synchronous } from './transaction-gate.js';

export class SqliteInstallBundles implements Synchronous<InstallBundleStore> {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      create: db.prepare("INSERT INTO install_bundles (vin, campaign_id, state, created_by, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?)"),
      attach: db.prepare('UPDATE assignments SET bundle_id = ? WHERE id = ?'),
      byId: db.prepare('SELECT * FROM install_bundles WHERE id = ?'),
      pendingOfVehicle: db.prepare("SELECT * FROM install_bundles WHERE vin = ? AND state = 'pending' ORDER BY id"),
      members: db.prepare('SELECT * FROM assignments WHERE bundle_id = ? ORDER BY ecu_serial'),
      finish: db.prepare("UPDATE install_bundles SET state = ?, failing_ecu = ?, reason = ?, updated_at = ? WHERE id = ? AND state = 'pending'"),
    };
  }

  create(vin: string, origin: AssignmentOrigin): number {
    const at = origin.now.toISOString();
    return Number(this.s.create.run(vin, origin.campaignId ?? null, origin.actor, at, at).lastInsertRowid);
  }

  attach(id: number, assignmentIds: readonly number[]): void {
    for (const assignment of assignmentIds) this.s.attach.run(id, assignment);
  }

  byId(id: number): InstallBundleRecord | undefined {
    const row = this.s.byId.get(id) as InstallBundleRow | undefined;
    return row === undefined ? undefined : toInstallBundle(row);
  }

  pendingOfVehicle(vin: string): InstallBundleRecord[] {
    return (this.s.pendingOfVehicle.all(vin) as InstallBundleRow[]).map(toInstallBundle);
  }

  members(id: number): AssignmentRecord[] {
    return (this.s.members.all(id) as AssignmentRow[]).map(toAssignment);
  }

  finish(id: number, outcome: InstallBundleOutcome, now: Date): boolean {
    return this.s.finish.run(outcome.state, outcome.failingEcu, outcome.reason, now.toISOString(), id).changes === 1;
  }
}
