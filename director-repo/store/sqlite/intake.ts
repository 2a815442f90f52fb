// Manifest intake on SQLite: each manifest's unit of work (read the vehicle's state, judge, write the
// verdict) runs synchronously inside a group commit (group-commit.ts), so the manifests that arrive
// together share one transaction and one fsync, and each sees the state the earlier ones left.
import type { Db } from '../../../shared/server/sqlite.js';
import type { AcceptedManifest, IntakeState, IntakeVerdict, ManifestIntake } from '../manifests.js';
import type { SqliteAssignments } from './assignments.js';
import type { SqliteAuditLog } from './audit.js';
import { GroupCommit } from './group-commit.js';
import type { SqliteInventory } from './inventory.js';
import type { SqliteManifests } from './manifests.js';
import type { SqliteVehicleMetadata } from './vehicle-metadata.js';

export interface IntakeTables {
  readonly inventory: SqliteInventory;
  readonly assignments: SqliteAssignments;
  readonly manifests: SqliteManifests;
  readonly vehicleMetadata: SqliteVehicleMetadata;
  readonly auditLog: SqliteAuditLog;
}

export class SqliteManifestIntake implements ManifestIntake {
  private readonly commits: GroupCommit;

  constructor(db: Db, private readonly tables: IntakeTables) {
    this.commits = new GroupCommit(db);
  }

  receive<T>(vin: string, body: Uint8Array, recentAssignments: number, judge: (state: IntakeState) => IntakeVerdict<T>): Promise<T> {
    const { inventory, assignments, manifests } = this.tables;
    return this.commits.run(() => {
      const state: IntakeState = {
        ecus: inventory.ecusOf(vin),
        active: assignments.active(vin),
        recent: recentAssignments > 0 ? assignments.ofVehicle(vin, recentAssignments) : [],
      };
      const verdict = judge(state);
      if ('refused' in verdict) manifests.recordRefused(vin, verdict.refused, body, verdict.at);
      else this.write(vin, verdict.accepted, verdict.at);
      return verdict.result;
    });
  }

  private write(vin: string, accepted: AcceptedManifest, now: Date): void {
    const { inventory, assignments, manifests, vehicleMetadata, auditLog } = this.tables;
    for (const { serial, report } of accepted.ecuReports) inventory.recordEcuReport(serial, report, now);
    for (const attack of accepted.attacks) manifests.recordAttack(vin, attack.ecuSerial, attack.code, attack.message, now);
    for (const change of accepted.assignmentStates) assignments.setState(change.id, change.state, change.reason, now);
    for (const made of accepted.newAssignments) {
      const id = assignments.insertOne(made.assignment, { actor: made.actor, now }, made.reason);
      auditLog.record(made.actor, made.action, { id, ...made.details }, now);
    }
    manifests.recordAccepted(vin, accepted.evidence, now);
    inventory.setVehicleState(vin, accepted.vehicleState);
    if (accepted.metadataStale) vehicleMetadata.markStale([vin]);
  }
}
