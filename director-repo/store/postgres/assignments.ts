// Assignments on PostgreSQL (schema.ts). The partial unique index one_active_assignment_per_ecu keeps
// at most one pending or in-flight assignment per ECU across every replica; a write that would make
// a second is refused with ConflictError (sql.ts).
import type { AssignmentOrigin, AssignmentRecord, AssignmentState, AssignmentStore, NewAssignment } from '../assignments.js';
import { toAssignment, type AssignmentRow } from '../rows.js';
import { chunks, groupInOrder, limitParam, num, run, type Queryable } from './sql.js';

const COLUMNS = 'id, vin, ecu_serial, filename, length, hashes, hardware_id, release_counter, state, reason, created_at, updated_at, encryption, bundle_id';
/** The columns an assignment record is read from (install-bundles.ts reads members with them). */
export const ASSIGNMENT_COLUMNS = COLUMNS;
const ACTIVE = "state IN ('pending', 'in_flight')";

export class PostgresAssignments implements AssignmentStore {
  constructor(private readonly q: Queryable) {}

  /**
   * The batch goes in as arrays (unnest), BATCH_ROWS rows a statement. Its ids are taken from the
   * identity's sequence first, in order, so they ascend in the order given (as SQLite's do) without
   * relying on the order an INSERT ... RETURNING hands rows back.
   */
  async insert(assignments: readonly NewAssignment[], origin: AssignmentOrigin): Promise<number[]> {
    return this.insertWithReasons(assignments.map((assignment) => ({ assignment, reason: null })), origin);
  }

  /** One pending assignment with a reason (intake's slot re-delivery says why it was made). */
  async insertOne(assignment: NewAssignment, origin: AssignmentOrigin, reason: string | null): Promise<number> {
    return (await this.insertWithReasons([{ assignment, reason }], origin))[0]!;
  }

  private async insertWithReasons(batch: ReadonlyArray<{ assignment: NewAssignment; reason: string | null }>, origin: AssignmentOrigin): Promise<number[]> {
    const at = origin.now.toISOString();
    const ids: number[] = [];
    for (const part of chunks(batch)) {
      const allocated = await run<{ id: string }>(this.q, "SELECT nextval(pg_get_serial_sequence('assignments', 'id')) AS id FROM generate_series(1, $1)", [part.length]);
      const partIds = allocated.map((r) => num(r.id)).sort((a, b) => a - b);
      const column = <T>(f: (a: NewAssignment, reason: string | null) => T): T[] => part.map(({ assignment, reason }) => f(assignment, reason));
      await run(
        this.q,
        `INSERT INTO assignments (id, vin, ecu_serial, filename, length, hashes, hardware_id, release_counter, reason, encryption,
                                  state, created_at, updated_at, created_by, campaign_id)
         SELECT u.*, 'pending', $11::text, $11::text, $12::text, $13::bigint
           FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[]) AS u`,
        [
          partIds,
          column((a) => a.vin),
          column((a) => a.ecuSerial),
          column((a) => a.filename),
          column((a) => a.length),
          column((a) => JSON.stringify(a.hashes)),
          column((a) => a.hardwareId),
          column((a) => a.releaseCounter),
          column((_, reason) => reason),
          column((a) => (a.encryption === undefined || a.encryption === null ? null : JSON.stringify(a.encryption))),
          at,
          origin.actor,
          origin.campaignId ?? null,
        ],
      );
      ids.push(...partIds);
    }
    return ids;
  }

  async active(vin: string): Promise<AssignmentRecord[]> {
    return (await run<AssignmentRow>(this.q, `SELECT ${COLUMNS} FROM assignments WHERE vin = $1 AND ${ACTIVE} ORDER BY ecu_serial`, [vin])).map(toAssignment);
  }

  /** active() with the rows locked for this transaction: intake judges them, nothing may change them meanwhile. */
  async activeForUpdate(vin: string): Promise<AssignmentRecord[]> {
    return (await run<AssignmentRow>(this.q, `SELECT ${COLUMNS} FROM assignments WHERE vin = $1 AND ${ACTIVE} ORDER BY ecu_serial FOR NO KEY UPDATE`, [vin])).map(toAssignment);
  }

  async activeOfVehicles(vins: readonly string[]): Promise<Map<string, AssignmentRecord[]>> {
    const rows: AssignmentRecord[] = [];
    for (const part of chunks([...new Set(vins)])) {
      const found = await run<AssignmentRow>(this.q, `SELECT ${COLUMNS} FROM assignments WHERE vin = ANY($1::text[]) AND ${ACTIVE} ORDER BY vin, ecu_serial`, [part]);
      for (const row of found) rows.push(toAssignment(row));
    }
    return groupInOrder(vins, rows, (a) => a.vin);
  }

  async activeOfCampaign(campaignId: number): Promise<AssignmentRecord[]> {
    return (await run<AssignmentRow>(this.q, `SELECT ${COLUMNS} FROM assignments WHERE campaign_id = $1 AND ${ACTIVE} ORDER BY id`, [campaignId])).map(toAssignment);
  }

  async byId(id: number): Promise<AssignmentRecord | undefined> {
    const [row] = await run<AssignmentRow>(this.q, `SELECT ${COLUMNS} FROM assignments WHERE id = $1`, [id]);
    return row === undefined ? undefined : toAssignment(row);
  }

  /** In the order of `ids`, a missing one left out (as SQLite's one read per id gives them). */
  async byIds(ids: readonly number[]): Promise<AssignmentRecord[]> {
    const found = new Map<number, AssignmentRecord>();
    for (const part of chunks([...new Set(ids)])) {
      for (const row of await run<AssignmentRow>(this.q, `SELECT ${COLUMNS} FROM assignments WHERE id = ANY($1::bigint[])`, [part])) {
        const record = toAssignment(row);
        found.set(record.id, record);
      }
    }
    return ids.flatMap((id) => found.get(id) ?? []);
  }

  async ofVehicle(vin: string, limit: number): Promise<AssignmentRecord[]> {
    return (await run<AssignmentRow>(this.q, `SELECT ${COLUMNS} FROM assignments WHERE vin = $1 ORDER BY id DESC LIMIT $2`, [vin, limitParam(limit)])).map(toAssignment);
  }

  async setState(id: number, state: AssignmentState, reason: string | null, now: Date): Promise<void> {
    await run(this.q, 'UPDATE assignments SET state = $1, reason = $2, updated_at = $3 WHERE id = $4', [state, reason, now.toISOString(), id]);
  }

  async markInFlight(vin: string, now: Date): Promise<number> {
    const rows = await run(this.q, "UPDATE assignments SET state = 'in_flight', updated_at = $1 WHERE vin = $2 AND state = 'pending' RETURNING id", [now.toISOString(), vin]);
    return rows.length;
  }
}
