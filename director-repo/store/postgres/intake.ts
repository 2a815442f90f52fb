// Manifest intake on PostgreSQL: one transaction per manifest, which resolves only after its COMMIT
// (durable acknowledgement). Manifests are not batched several to a commit as on SQLite
// (../sqlite/group-commit.ts): PostgreSQL commits many connections' transactions with one WAL flush
// of its own (group commit in the server), and a batch would tie one manifest's failure to others'.
//
// Isolation: READ COMMITTED with explicit row locks, not SERIALIZABLE. The transaction first locks
// the vehicle's row (FOR NO KEY UPDATE), so two manifests of one vehicle, on one replica or on two,
// are judged one after the other; under READ COMMITTED each statement after the lock sees what the
// earlier manifest committed (its counters, its assignment outcomes), which a SERIALIZABLE snapshot
// taken before the wait would not. The vehicle's active assignments are locked too, so an operator's
// cancel (a SERIALIZABLE unit of work, director-store.ts) either lands before the judge reads them
// or waits and then fails over to a retry that sees the verdict. NO KEY UPDATE, not UPDATE: it
// leaves foreign-key checks (assignments and ECUs inserted for the vehicle) unblocked.
import { ConflictError } from '../../../shared/core/errors.js';
import { sqlState, UNIQUE_VIOLATION, type PostgresDatabase, type Queryable } from '../../../shared/server/postgres.js';
import type { AcceptedManifest, IntakeState, IntakeVerdict, ManifestIntake } from '../manifests.js';
import { PostgresAssignments } from './assignments.js';
import { PostgresAuditLog } from './audit.js';
import { PostgresInventory } from './inventory.js';
import { PostgresManifests } from './manifests.js';
import { run } from './sql.js';
import { PostgresVehicleMetadata } from './vehicle-metadata.js';

/**
 * Times a manifest is judged again when a slot re-delivery it made met an assignment another
 * replica committed for the same ECU meanwhile (the unique index refused the second): judged again,
 * it sees that assignment.
 */
const MAX_JUDGEMENTS = 3;

export class PostgresManifestIntake implements ManifestIntake {
  /**
   * Per vehicle, the end of the chain of its manifests this replica is handling: each starts once
   * the one before it ended. So this replica judges one vehicle's manifests in the order they came
   * (the row lock alone would let whichever connection reaches PostgreSQL first go first), and a
   * vehicle sending many at once holds one pooled connection, not the whole pool waiting on its row.
   * An entry is removed when its chain runs out: the map holds only vehicles with manifests in hand.
   */
  private readonly tails = new Map<string, Promise<void>>();

  constructor(private readonly db: PostgresDatabase) {}

  receive<T>(vin: string, body: Uint8Array, recentAssignments: number, judge: (state: IntakeState) => IntakeVerdict<T>): Promise<T> {
    const previous = this.tails.get(vin) ?? Promise.resolve();
    const mine = previous.then(() => this.receiveNow(vin, body, recentAssignments, judge));
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(vin, tail);
    void tail.then(() => {
      if (this.tails.get(vin) === tail) this.tails.delete(vin);
    });
    return mine;
  }

  private async receiveNow<T>(vin: string, body: Uint8Array, recentAssignments: number, judge: (state: IntakeState) => IntakeVerdict<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        // PostgresDatabase.transaction runs this again on a deadlock or serialization failure: it
        // does nothing but statements and the synchronous judge, so that is safe.
        return await this.db.transaction('read committed', (tx) => this.judgeAndWrite(tx, vin, body, recentAssignments, judge));
      } catch (err) {
        const duplicate = err instanceof ConflictError && sqlState(err.cause) === UNIQUE_VIOLATION;
        if (!duplicate || attempt >= MAX_JUDGEMENTS) throw err;
      }
    }
  }

  private async judgeAndWrite<T>(tx: Queryable, vin: string, body: Uint8Array, recentAssignments: number, judge: (state: IntakeState) => IntakeVerdict<T>): Promise<T> {
    const inventory = new PostgresInventory(tx);
    const assignments = new PostgresAssignments(tx);
    const manifests = new PostgresManifests(tx);
    // An unregistered VIN has no row to lock: its manifest is refused, and refusals change nothing
    // but the refused history.
    await run(tx, 'SELECT 1 FROM vehicles WHERE vin = $1 FOR NO KEY UPDATE', [vin]);
    const state: IntakeState = {
      ecus: await inventory.ecusOf(vin),
      active: await assignments.activeForUpdate(vin),
      recent: recentAssignments > 0 ? await assignments.ofVehicle(vin, recentAssignments) : [],
    };
    const verdict = judge(state);
    if ('refused' in verdict) await manifests.recordRefused(vin, verdict.refused, body, verdict.at);
    else await this.write(tx, vin, verdict.accepted, verdict.at);
    return verdict.result;
  }

  private async write(tx: Queryable, vin: string, accepted: AcceptedManifest, now: Date): Promise<void> {
    const inventory = new PostgresInventory(tx);
    const assignments = new PostgresAssignments(tx);
    const manifests = new PostgresManifests(tx);
    const auditLog = new PostgresAuditLog(tx);
    for (const { serial, report } of accepted.ecuReports) await inventory.recordEcuReport(serial, report, now);
    for (const attack of accepted.attacks) await manifests.recordAttack(vin, attack.ecuSerial, attack.code, attack.message, now);
    for (const change of accepted.assignmentStates) await assignments.setState(change.id, change.state, change.reason, now);
    for (const made of accepted.newAssignments) {
      const id = await assignments.insertOne(made.assignment, { actor: made.actor, now }, made.reason);
      await auditLog.record(made.actor, made.action, { id, ...made.details }, now);
    }
    await manifests.recordAccepted(vin, accepted.evidence, now);
    await inventory.setVehicleState(vin, accepted.vehicleState);
    if (accepted.metadataStale) await new PostgresVehicleMetadata(tx).markStale([vin]);
  }
}
