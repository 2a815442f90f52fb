// The inventory on PostgreSQL: vehicles and ECUs (schema.ts). Same answers as ../sqlite/inventory.ts;
// the batch read takes its VINs as one array parameter (= ANY($1)) rather than one query each, since
// here every query crosses the network.
import { DEFAULT_SECURITY_PROFILE, type SecurityProfile } from '../../../shared/core/security-profile.js';
import type { EcuRecord, EcuReport, FleetCounts, InventoryStore, NewEcu, RegistrationQuery, VehicleRecord } from '../inventory.js';
import { toEcu, toVehicle, type EcuRow, type VehicleRow } from '../rows.js';
import { chunks, groupInOrder, limitParam, num, run, type Queryable } from './sql.js';

const ECU_COLUMNS = `serial, vin, hardware_id, public_key, keyid, is_primary, encryption_public_key, last_counter, installed_filename,
  installed_length, installed_hashes, installed_release_counter, reported_at, security_profile`;

export class PostgresInventory implements InventoryStore {
  constructor(private readonly q: Queryable) {}

  async vehicle(vin: string): Promise<VehicleRecord | undefined> {
    const [row] = await run<VehicleRow>(this.q, 'SELECT vin, attributes, registered_at FROM vehicles WHERE vin = $1', [vin]);
    return row === undefined ? undefined : toVehicle(row);
  }

  async setAttributes(vin: string, attributes: Readonly<Record<string, string>>): Promise<boolean> {
    const rows = await run<{ vin: string }>(this.q, 'UPDATE vehicles SET attributes = $1 WHERE vin = $2 RETURNING vin', [JSON.stringify(attributes), vin]);
    return rows.length === 1;
  }

  async insertVehicle(vin: string, attributes: Readonly<Record<string, string>>, now: Date): Promise<void> {
    await run(this.q, 'INSERT INTO vehicles (vin, attributes, registered_at) VALUES ($1, $2, $3)', [vin, JSON.stringify(attributes), now.toISOString()]);
  }

  async listVehicles(afterVin: string, limit: number): Promise<VehicleRecord[]> {
    const rows = await run<VehicleRow>(this.q, 'SELECT vin, attributes, registered_at FROM vehicles WHERE vin > $1 ORDER BY vin LIMIT $2', [afterVin, limitParam(limit)]);
    return rows.map(toVehicle);
  }

  async countVehicles(): Promise<number> {
    const [row] = await run<{ n: string }>(this.q, 'SELECT count(*) AS n FROM vehicles');
    return num(row!.n);
  }

  async fleetCounts(): Promise<FleetCounts> {
    // The WHERE is the partial index's: only active assignments are read, whatever the fleet size.
    const [row] = await run<{ registered: string; active: string; pending: string; in_flight: string }>(
      this.q,
      `SELECT (SELECT count(*) FROM vehicles) AS registered,
              count(DISTINCT vin) AS active,
              count(DISTINCT vin) FILTER (WHERE state = 'pending') AS pending,
              count(DISTINCT vin) FILTER (WHERE state = 'in_flight') AS in_flight
         FROM assignments WHERE state IN ('pending', 'in_flight')`,
    );
    return { registered: num(row!.registered), active: num(row!.active), pending: num(row!.pending), inFlight: num(row!.in_flight) };
  }

  /** Intake writes it (intake.ts), only when it changed; the InventoryStore interface only reads it. */
  async setVehicleState(vin: string, state: string | null): Promise<void> {
    await run(this.q, 'UPDATE vehicles SET last_state = $1::text WHERE vin = $2 AND last_state IS DISTINCT FROM $1::text', [state, vin]);
  }

  async vehicleState(vin: string): Promise<string | null> {
    const [row] = await run<{ last_state: string | null }>(this.q, 'SELECT last_state FROM vehicles WHERE vin = $1', [vin]);
    return row?.last_state ?? null;
  }

  async insertEcu(ecu: NewEcu, now: Date): Promise<void> {
    await run(
      this.q,
      'INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at, encryption_public_key, security_profile) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [ecu.serial, ecu.vin, ecu.hardwareId, ecu.publicKey, ecu.keyid, ecu.isPrimary, now.toISOString(), ecu.encryptionPublicKey ?? null, ecu.securityProfile ?? DEFAULT_SECURITY_PROFILE],
    );
  }

  async setEcuProfile(serial: string, profile: SecurityProfile): Promise<boolean> {
    return (await run<{ serial: string }>(this.q, 'UPDATE ecus SET security_profile = $1 WHERE serial = $2 RETURNING serial', [profile, serial])).length === 1;
  }

  async deleteEcu(serial: string): Promise<void> {
    await run(this.q, 'DELETE FROM ecus WHERE serial = $1', [serial]);
  }

  async ecusOf(vin: string): Promise<EcuRecord[]> {
    return (await run<EcuRow>(this.q, `SELECT ${ECU_COLUMNS} FROM ecus WHERE vin = $1 ORDER BY is_primary DESC, serial`, [vin])).map(toEcu);
  }

  async ecusOfVehicles(vins: readonly string[]): Promise<Map<string, EcuRecord[]>> {
    const rows: EcuRecord[] = [];
    for (const part of chunks([...new Set(vins)])) {
      const found = await run<EcuRow>(this.q, `SELECT ${ECU_COLUMNS} FROM ecus WHERE vin = ANY($1::text[]) ORDER BY vin, is_primary DESC, serial`, [part]);
      for (const row of found) rows.push(toEcu(row));
    }
    return groupInOrder(vins, rows, (ecu) => ecu.vin);
  }

  async ecu(serial: string): Promise<EcuRecord | undefined> {
    return this.oneEcu('serial', serial);
  }

  async registered(query: RegistrationQuery): Promise<{ vins: string[]; ecus: EcuRecord[] }> {
    const vins: string[] = [];
    for (const part of chunks([...new Set(query.vins)])) {
      for (const row of await run<{ vin: string }>(this.q, 'SELECT vin FROM vehicles WHERE vin = ANY($1::text[])', [part])) vins.push(row.vin);
    }
    const ecus = new Map<string, EcuRecord>();
    const ask = async (column: 'serial' | 'keyid', values: readonly string[]) => {
      for (const part of chunks([...new Set(values)])) {
        for (const row of await run<EcuRow>(this.q, `SELECT ${ECU_COLUMNS} FROM ecus WHERE ${column} = ANY($1::text[])`, [part])) ecus.set(row.serial, toEcu(row));
      }
    };
    await ask('serial', query.serials);
    await ask('keyid', query.keyids);
    return { vins, ecus: [...ecus.values()] };
  }

  async ecuByKeyid(keyid: string): Promise<EcuRecord | undefined> {
    return this.oneEcu('keyid', keyid);
  }

  async ecuByEncryptionKey(encryptionPublicKey: string): Promise<EcuRecord | undefined> {
    return this.oneEcu('encryption_public_key', encryptionPublicKey);
  }

  /** `column` is one of this class's constants, never input. */
  private async oneEcu(column: 'serial' | 'keyid' | 'encryption_public_key', value: string): Promise<EcuRecord | undefined> {
    const [row] = await run<EcuRow>(this.q, `SELECT ${ECU_COLUMNS} FROM ecus WHERE ${column} = $1`, [value]);
    return row === undefined ? undefined : toEcu(row);
  }

  async recordEcuReport(serial: string, report: EcuReport, now: Date): Promise<void> {
    await run(
      this.q,
      `UPDATE ecus SET last_counter = $1, installed_filename = $2, installed_length = $3, installed_hashes = $4,
         installed_release_counter = $5, reported_at = $6 WHERE serial = $7`,
      [report.counter, report.filename, report.length, JSON.stringify(report.hashes), report.releaseCounter, now.toISOString(), serial],
    );
  }
}
