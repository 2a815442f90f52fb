// What the Director knows of each vehicle: its attributes, its ECUs with their public keys, and what
// each ECU last reported installed. Every method is a promise so that a network database fits
// behind it; a unit of work (director-store.ts) gives the same methods inside one transaction.
import type { SecurityProfile } from '../../shared/core/security-profile.js';

export interface VehicleRecord {
  readonly vin: string;
  readonly attributes: Record<string, string>;
  readonly registeredAt: string;
}

export interface EcuRecord extends NewEcu {
  readonly encryptionPublicKey: string | null;
  readonly lastCounter: number | null;
  readonly installed: { filename: string; length: number; hashes: Record<string, string>; releaseCounter: number | null } | null;
  readonly reportedAt: string | null;
  /** Always stored: ECUs registered before profiles existed read as 'standard' (migration 15 / 10). */
  readonly securityProfile: SecurityProfile;
}

/** An ECU as registration (or replacement) stores it. */
export interface NewEcu {
  readonly serial: string;
  readonly vin: string;
  readonly hardwareId: string;
  readonly publicKey: string;
  readonly keyid: string;
  readonly isPrimary: boolean;
  /** The ECU's X25519 image-encryption public key, raw hex (docs/image-encryption.md); none if absent. */
  readonly encryptionPublicKey?: string | null;
  /** The ECU's security profile (docs/security-profiles.md); absent means DEFAULT_SECURITY_PROFILE. */
  readonly securityProfile?: SecurityProfile;
}

/** What an ECU's accepted version report says: its counter and the image it runs. */
export interface EcuReport {
  readonly counter: number;
  readonly filename: string;
  readonly length: number;
  readonly hashes: Readonly<Record<string, string>>;
  readonly releaseCounter: number | null;
}

/** Vehicles counted for /metrics (director-repo/metrics.ts); a vehicle with both kinds of assignment counts in both. */
export interface FleetCounts {
  readonly registered: number;
  /** Vehicles with at least one active assignment. */
  readonly active: number;
  /** ... with an assignment not yet in the vehicle's metadata fetch. */
  readonly pending: number;
  /** ... with an assignment the vehicle has fetched and not yet reported installed or failed. */
  readonly inFlight: number;
}

/** What a registration would collide with, asked in one read: VINs, ECU serials and signing keyids. */
export interface RegistrationQuery {
  readonly vins: readonly string[];
  readonly serials: readonly string[];
  readonly keyids: readonly string[];
}

export interface InventoryStore {
  vehicle(vin: string): Promise<VehicleRecord | undefined>;
  /** Vehicles in VIN order after `afterVin` (keyset pagination: cheap at any depth). */
  listVehicles(afterVin: string, limit: number): Promise<VehicleRecord[]>;
  countVehicles(): Promise<number>;
  /**
   * How many vehicles have an active assignment (pending, in flight) and how many are registered, for
   * the Director's metrics: reads the active assignments only (their partial index), whatever the fleet size.
   */
  fleetCounts(): Promise<FleetCounts>;
  insertVehicle(vin: string, attributes: Readonly<Record<string, string>>, now: Date): Promise<void>;
  /** Replaces the vehicle's attributes (the caller merged them); false when there is no such vehicle. */
  setAttributes(vin: string, attributes: Readonly<Record<string, string>>): Promise<boolean>;
  /** What the vehicle's last accepted manifest said: parked or driving (campaign status counts it). */
  vehicleState(vin: string): Promise<string | null>;
  /** The vehicle's ECUs, its primary first. */
  ecusOf(vin: string): Promise<EcuRecord[]>;
  /** ecusOf for many vehicles in one call (an assignment names up to 100,000); a VIN without ECUs is absent. */
  ecusOfVehicles(vins: readonly string[]): Promise<Map<string, EcuRecord[]>>;
  ecu(serial: string): Promise<EcuRecord | undefined>;
  /**
   * The ECUs registered under any of these serials or signing keyids, each once, and which of `vins`
   * are registered: what a registration would collide with, asked before anything is written (a
   * registration file's dry run). The caller bounds the lists.
   */
  registered(query: RegistrationQuery): Promise<{ vins: string[]; ecus: EcuRecord[] }>;
  ecuByKeyid(keyid: string): Promise<EcuRecord | undefined>;
  /** The ECU registered with this encryption public key (hex), if any: each ECU has its own. */
  ecuByEncryptionKey(encryptionPublicKey: string): Promise<EcuRecord | undefined>;
  insertEcu(ecu: NewEcu, now: Date): Promise<void>;
  deleteEcu(serial: string): Promise<void>;
  /** Changes an ECU's security profile; false when there is no such ECU. */
  setEcuProfile(serial: string, profile: SecurityProfile): Promise<boolean>;
  recordEcuReport(serial: string, report: EcuReport, now: Date): Promise<void>;
}
