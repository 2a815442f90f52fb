// The inventory's SQL: vehicles and ECUs (schema.ts, migration 1; encryption keys, migration 7;
// security profiles, migration 15).
import { DEFAULT_SECURITY_PROFILE, type SecurityProfile } from '../../../shared/core/security-profile.js';
import type { Db } from '../../../shared/server/sqlite.js';
import type { EcuRecord, EcuReport, FleetCounts, InventoryStore, NewEcu, RegistrationQuery, VehicleRecord } from '../inventory.js';
import { toEcu, toVehicle, type EcuRow, type VehicleRow } from '../rows.js';
import type { Synchronous } from './transaction-gate.js';

/**
 * `read` for each VIN, keeping the VINs it finds rows for: the batch reads of the store interfaces,
 * one prepared statement per VIN (as cheap as one query on SQLite, where nothing crosses a network).
 */
export function perVehicle<T>(vins: readonly string[], read: (vin: string) => T[]): Map<string, T[]> {
  const found = new Map<string, T[]>();
  for (const vin of vins) {
    const rows = read(vin);
    if (rows.length > 0) found.set(vin, rows);
  }
  return found;
}

/**
 * fleetCounts' statements: they read the active assignments only, through the partial index of
 * active ones (one_active_assignment_per_ecu), so /metrics stays cheap however many assignments a
 * large fleet has accumulated. Named so that a test can check the plan.
 */
export const FLEET_COUNT_SQL = {
  activeByState: "SELECT state, COUNT(DISTINCT vin) AS n FROM assignments INDEXED BY one_active_assignment_per_ecu WHERE state IN ('pending', 'in_flight') GROUP BY state",
  activeVehicles: "SELECT COUNT(DISTINCT vin) AS n FROM assignments INDEXED BY one_active_assignment_per_ecu WHERE state IN ('pending', 'in_flight')",
} as const;

export class SqliteInventory implements Synchronous<InventoryStore> {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      vehicle: db.prepare('SELECT vin, attributes, registered_at FROM vehicles WHERE vin = ?'),
      insertVehicle: db.prepare('INSERT INTO vehicles (vin, attributes, registered_at) VALUES (?, ?, ?)'),
      setAttributes: db.prepare('UPDATE vehicles SET attributes = ? WHERE vin = ?'),
      listVehicles: db.prepare('SELECT vin, attributes, registered_at FROM vehicles WHERE vin > ? ORDER BY vin LIMIT ?'),
      countVehicles: db.prepare('SELECT COUNT(*) AS n FROM vehicles'),
      activeByState: db.prepare(FLEET_COUNT_SQL.activeByState),
      activeVehicles: db.prepare(FLEET_COUNT_SQL.activeVehicles),
      // Written only when it changed: an unchanged row is not rewritten into the commit.
      setVehicleState: db.prepare('UPDATE vehicles SET last_state = ? WHERE vin = ? AND last_state IS NOT ?'),
      vehicleState: db.prepare('SELECT last_state FROM vehicles WHERE vin = ?'),
      insertEcu: db.prepare(
        'INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at, encryption_public_key, security_profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      setEcuProfile: db.prepare('UPDATE ecus SET security_profile = ? WHERE serial = ?'),
      ecusOf: db.prepare('SELECT * FROM ecus WHERE vin = ? ORDER BY is_primary DESC, serial'),
      ecu: db.prepare('SELECT * FROM ecus WHERE serial = ?'),
      ecuByKeyid: db.prepare('SELECT * FROM ecus WHERE keyid = ?'),
      ecuByEncryptionKey: db.prepare('SELECT * FROM ecus WHERE encryption_public_key = ?'),
      deleteEcu: db.prepare('DELETE FROM ecus WHERE serial = ?'),
      reportEcu: db.prepare(
        `UPDATE ecus SET last_counter = ?, installed_filename = ?, installed_length = ?, installed_hashes = ?,
           installed_release_counter = ?, reported_at = ? WHERE serial = ?`,
      ),
    };
  }

  vehicle(vin: string): VehicleRecord | undefined {
    const row = this.s.vehicle.get(vin) as VehicleRow | undefined;
    return row === undefined ? undefined : toVehicle(row);
  }

  setAttributes(vin: string, attributes: Readonly<Record<string, string>>): boolean {
    return this.s.setAttributes.run(JSON.stringify(attributes), vin).changes === 1;
  }

  insertVehicle(vin: string, attributes: Readonly<Record<string, string>>, now: Date): void {
    this.s.insertVehicle.run(vin, JSON.stringify(attributes), now.toISOString());
  }

  listVehicles(afterVin: string, limit: number): VehicleRecord[] {
    return (this.s.listVehicles.all(afterVin, limit) as VehicleRow[]).map(toVehicle);
  }

  /** Intake writes it (intake.ts); the InventoryStore interface only reads it. */
  setVehicleState(vin: string, state: string | null): void {
    this.s.setVehicleState.run(state, vin, state);
  }

  vehicleState(vin: string): string | null {
    return (this.s.vehicleState.get(vin) as { last_state: string | null } | undefined)?.last_state ?? null;
  }

  countVehicles(): number {
    return (this.s.countVehicles.get() as { n: number }).n;
  }

  fleetCounts(): FleetCounts {
    const byState = new Map((this.s.activeByState.all() as Array<{ state: string; n: number }>).map((r) => [r.state, r.n]));
    return {
      registered: this.countVehicles(),
      active: (this.s.activeVehicles.get() as { n: number }).n,
      pending: byState.get('pending') ?? 0,
      inFlight: byState.get('in_flight') ?? 0,
    };
  }

  insertEcu(ecu: NewEcu, now: Date): void {
    this.s.insertEcu.run(
      ecu.serial,
      ecu.vin,
      ecu.hardwareId,
      ecu.publicKey,
      ecu.keyid,
      ecu.isPrimary ? 1 : 0,
      now.toISOString(),
      ecu.encryptionPublicKey ?? null,
      ecu.securityProfile ?? DEFAULT_SECURITY_PROFILE,
    );
  }

  setEcuProfile(serial: string, profile: SecurityProfile): boolean {
    return this.s.setEcuProfile.run(profile, serial).changes === 1;
  }

  deleteEcu(serial: string): void {
    this.s.deleteEcu.run(serial);
  }

  ecusOf(vin: string): EcuRecord[] {
    return (this.s.ecusOf.all(vin) as EcuRow[]).map(toEcu);
  }

  ecusOfVehicles(vins: readonly string[]): Map<string, EcuRecord[]> {
    return perVehicle(vins, (vin) => this.ecusOf(vin));
  }

  ecu(serial: string): EcuRecord | undefined {
    const row = this.s.ecu.get(serial) as EcuRow | undefined;
    return row === undefined ? undefined : toEcu(row);
  }

  /** One indexed read per item: as cheap as one query on SQLite, where nothing crosses a network. */
  registered(query: RegistrationQuery): { vins: string[]; ecus: EcuRecord[] } {
    const ecus = new Map<string, EcuRecord>();
    for (const ecu of [...query.serials.map((serial) => this.ecu(serial)), ...query.keyids.map((keyid) => this.ecuByKeyid(keyid))]) {
      if (ecu !== undefined) ecus.set(ecu.serial, ecu);
    }
    return { vins: [...new Set(query.vins)].filter((vin) => this.s.vehicle.get(vin) !== undefined), ecus: [...ecus.values()] };
  }

  ecuByKeyid(keyid: string): EcuRecord | undefined {
    const row = this.s.ecuByKeyid.get(keyid) as EcuRow | undefined;
    return row === undefined ? undefined : toEcu(row);
  }

  ecuByEncryptionKey(encryptionPublicKey: string): EcuRecord | undefined {
    const row = this.s.ecuByEncryptionKey.get(encryptionPublicKey) as EcuRow | undefined;
    return row === undefined ? undefined : toEcu(row);
  }

  recordEcuReport(serial: string, report: EcuReport, now: Date): void {
    this.s.reportEcu.run(report.counter, report.filename, report.length, JSON.stringify(report.hashes), report.releaseCounter, now.toISOString(), serial);
  }
}
