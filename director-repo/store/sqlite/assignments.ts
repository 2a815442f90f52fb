// The assignments' SQL (schema.ts, migrations 1, 2 and 7). The partial unique index
// one_active_assignment_per_ecu keeps at most one pending or in-flight assignment per ECU.
import type { Db } from '../../../shared/server/sqlite.js';
import type { AssignmentOrigin, AssignmentRecord, AssignmentState, AssignmentStore, NewAssignment } from '../assignments.js';
import { toAssignment, type AssignmentRow } from '../rows.js';
import { perVehicle } from './inventory.js';
import type { Synchronous } from './transaction-gate.js';

export class SqliteAssignments implements Synchronous<AssignmentStore> {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO assignments (vin, ecu_serial, filename, length, hashes, hardware_id, release_counter, state, reason, created_at, updated_at, created_by, campaign_id, encryption)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)`,
      ),
      active: db.prepare("SELECT * FROM assignments WHERE vin = ? AND state IN ('pending', 'in_flight') ORDER BY ecu_serial"),
      activeOfCampaign: db.prepare("SELECT * FROM assignments WHERE campaign_id = ? AND state IN ('pending', 'in_flight')"),
      byId: db.prepare('SELECT * FROM assignments WHERE id = ?'),
      ofVehicle: db.prepare('SELECT * FROM assignments WHERE vin = ? ORDER BY id DESC LIMIT ?'),
      setState: db.prepare('UPDATE assignments SET state = ?, reason = ?, updated_at = ? WHERE id = ?'),
      markInFlight: db.prepare("UPDATE assignments SET state = 'in_flight', updated_at = ? WHERE vin = ? AND state = 'pending'"),
    };
  }

  insert(assignments: readonly NewAssignment[], origin: AssignmentOrigin): number[] {
    return assignments.map((assignment) => this.insertOne(assignment, origin, null));
  }

  /** One pending assignment with a reason (intake's slot re-delivery says why it was made). */
  insertOne(assignment: NewAssignment, origin: AssignmentOrigin, reason: string | null): number {
    const at = origin.now.toISOString();
    const { vin, ecuSerial, filename, length, hashes, hardwareId, releaseCounter, encryption } = assignment;
    const encrypted = encryption === undefined || encryption === null ? null : JSON.stringify(encryption);
    const result = this.s.insert.run(vin, ecuSerial, filename, length, JSON.stringify(hashes), hardwareId, releaseCounter, reason, at, at, origin.actor, origin.campaignId ?? null, encrypted);
    return Number(result.lastInsertRowid);
  }

  active(vin: string): AssignmentRecord[] {
    return (this.s.active.all(vin) as AssignmentRow[]).map(toAssignment);
  }

  activeOfVehicles(vins: readonly string[]): Map<string, AssignmentRecord[]> {
    return perVehicle(vins, (vin) => this.active(vin));
  }

  activeOfCampaign(campaignId: number): AssignmentRecord[] {
    return (this.s.activeOfCampaign.all(campaignId) as AssignmentRow[]).map(toAssignment);
  }

  byId(id: number): AssignmentRecord | undefined {
    const row = this.s.byId.get(id) as AssignmentRow | undefined;
    return row === undefined ? undefined : toAssignment(row);
  }

  byIds(ids: readonly number[]): AssignmentRecord[] {
    return ids.flatMap((id) => this.byId(id) ?? []);
  }

  ofVehicle(vin: string, limit: number): AssignmentRecord[] {
    return (this.s.ofVehicle.all(vin, limit) as AssignmentRow[]).map(toAssignment);
  }

  setState(id: number, state: AssignmentState, reason: string | null, now: Date): void {
    this.s.setState.run(state, reason, now.toISOString(), id);
  }

  markInFlight(vin: string, now: Date): number {
    return this.s.markInFlight.run(now.toISOString(), vin).changes;
  }
}
