// The on-disk layout of a provisioned vehicle, shared by the processes that run it: `uptane vehicle run`
// (the primary and the secondaries it opens in-process) and `uptane vehicle secondary serve` (one
// secondary in a process of its own). One folder per vehicle; in it one folder per ECU (named by
// serial), the vehicle config, and the parked/driving state file every ECU process reads.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../shared/core/errors.js';
import { checkClientTlsConfig, type ClientTlsConfig } from '../shared/client/tls-client.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import { takePidLock } from '../shared/files/pid-lock.js';
import { FileVehicleState } from '../shared/ecu/vehicle-state.js';
import type { CycleResult } from '../primary-ecu/primary.js';
import type { SecurityProfile } from '../shared/core/security-profile.js';

export const VEHICLE_FILES = {
  /** VehicleConfig, written at provisioning. */
  config: 'vehicle.json',
  /** `parked` or `driving` (FileVehicleState). */
  state: 'vehicle-state',
  /** The last update cycle's result (LastCycle), written by `uptane vehicle run`. */
  lastCycle: 'last-cycle.json',
  /** The operator API body that registers this vehicle with the Director (public keys only). */
  registration: 'registration.json',
  /** Held while `uptane vehicle run` drives the vehicle, so two runs never interleave. */
  runLock: 'run.lock',
  /** In an ECU folder: held by `uptane vehicle secondary serve`, with the URL it serves on. */
  serveLock: 'serve.lock',
  /** TLS, from `--ca`, `--client-cert`, `--client-key` at provisioning: the CA the servers' certificates chain to. */
  tlsCa: 'tls/ca.pem',
  /** The primary's client certificate (CN = VIN, naming its primary ECU), presented for the Director's mutual TLS. */
  tlsClientCert: 'tls/client-cert.pem',
  /** Its private key, mode 0600. */
  tlsClientKey: 'tls/client-key.pem',
} as const;

export interface VehicleEcuConfig {
  readonly serial: string;
  readonly hardwareId: string;
  /** As registered with the Director and enforced by the ECU (docs/security-profiles.md); absent in folders provisioned before profiles. */
  readonly securityProfile?: SecurityProfile;
}

export interface VehicleConfig {
  readonly vin: string;
  readonly primary: VehicleEcuConfig;
  readonly secondaries: ReadonlyArray<VehicleEcuConfig & { readonly verification: 'partial' | 'full' }>;
  readonly directorUrl: string;
  readonly imageRepoUrl: string;
  readonly provisionedAt: string;
  /**
   * Which TLS files the folder holds (VEHICLE_FILES.tls*); absent for a vehicle provisioned without
   * them. With a CA the vehicle reaches its servers over TLS only.
   */
  readonly tls?: { readonly ca: boolean; readonly clientCertificate: boolean };
  /** `--transport mqtt(s)://...`: the Director is reached through this broker (vehicle/mqtt-transport.ts); HTTP when absent. */
  readonly transport?: { readonly mqtt: string };
}

/** The last cycle, kept in the vehicle folder for `uptane vehicle status`. */
export interface LastCycle {
  readonly at: string;
  readonly status: CycleResult['status'];
  readonly manifestSent: boolean;
  readonly error?: { readonly code: string; readonly message: string };
  readonly outcomes: CycleResult['outcomes'];
  readonly pending: ReadonlyArray<{ readonly ecuSerial: string; readonly filename: string }>;
}

/**
 * Makes a folder whose ECU folders exist already (a simulated vehicle's) a vehicle folder the
 * `uptane vehicle` commands take: its TLS files, its state and, last, its config.
 */
export function adoptVehicleFolder(dir: string, config: Omit<VehicleConfig, 'tls'>, state: 'parked' | 'driving', tls?: ClientTlsConfig): VehicleConfig {
  const full: VehicleConfig = { ...config, ...(tls === undefined ? {} : { tls: persistVehicleTls(dir, tls) }) };
  vehicleState(dir).set(state);
  writeFileAtomic(join(dir, VEHICLE_FILES.config), Buffer.from(`${JSON.stringify(full, null, 2)}\n`));
  return full;
}

/** Reads the vehicle config of `dir`, saying what to do when `dir` is not a provisioned vehicle. */
export function loadVehicleConfig(dir: string): VehicleConfig {
  if (!existsSync(dir)) throw new StorageError(`no vehicle folder at ${dir}: provision one with \`uptane vehicle provision --dir ${dir} ...\`, or check --dir`);
  if (!statSync(dir).isDirectory()) throw new StorageError(`${dir} is a file, not a vehicle folder: give --dir the folder \`uptane vehicle provision\` created`);
  const path = join(dir, VEHICLE_FILES.config);
  if (!existsSync(path)) {
    throw new StorageError(`${dir} is not a vehicle folder (it has no ${VEHICLE_FILES.config}): give --dir the folder \`uptane vehicle provision\` created`);
  }
  let config: VehicleConfig;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as VehicleConfig;
  } catch (err) {
    throw new StorageError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof config.vin !== 'string' || typeof config.primary?.serial !== 'string' || !Array.isArray(config.secondaries)) {
    throw new StorageError(`${path} is not a vehicle config written by \`uptane vehicle provision\``);
  }
  return config;
}

/** Writes the vehicle's TLS files (the key owner-only) and says which it holds, for VehicleConfig.tls. */
export function persistVehicleTls(dir: string, tls: ClientTlsConfig): NonNullable<VehicleConfig['tls']> {
  checkClientTlsConfig(tls);
  mkdirSync(join(dir, 'tls'), { recursive: true, mode: 0o700 });
  if (tls.ca !== undefined) writeFileAtomic(join(dir, VEHICLE_FILES.tlsCa), Buffer.from(tls.ca));
  if (tls.cert !== undefined && tls.key !== undefined) {
    writeFileAtomic(join(dir, VEHICLE_FILES.tlsClientCert), Buffer.from(tls.cert));
    writeFileAtomic(join(dir, VEHICLE_FILES.tlsClientKey), Buffer.from(tls.key), 0o600);
  }
  return { ca: tls.ca !== undefined, clientCertificate: tls.cert !== undefined };
}

/**
 * The TLS settings of the vehicle in `dir` as its config names them, or undefined for a vehicle
 * provisioned without TLS. A file the config names but the folder lacks fails: falling back to
 * plain HTTP, or to no client certificate, is what an attacker who deletes it would want.
 */
export function loadVehicleTls(dir: string, config: VehicleConfig): ClientTlsConfig | undefined {
  if (config.tls === undefined || (!config.tls.ca && !config.tls.clientCertificate)) return undefined;
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file), 'utf8');
    } catch (err) {
      throw new StorageError(`cannot read ${join(dir, file)}, which this vehicle was provisioned with (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); restore it or provision the vehicle again`, { cause: err });
    }
  };
  const tls: ClientTlsConfig = {
    ca: config.tls.ca ? read(VEHICLE_FILES.tlsCa) : undefined,
    cert: config.tls.clientCertificate ? read(VEHICLE_FILES.tlsClientCert) : undefined,
    key: config.tls.clientCertificate ? read(VEHICLE_FILES.tlsClientKey) : undefined,
  };
  checkClientTlsConfig(tls);
  return tls;
}

/** Where an ECU folder of the vehicle in `dir` keeps the shared parked/driving state by default. */
export const vehicleStatePath = (vehicleDir: string) => join(vehicleDir, VEHICLE_FILES.state);

/** The vehicle-wide parked/driving state of the vehicle folder `dir`. */
export const vehicleState = (dir: string) => new FileVehicleState(vehicleStatePath(dir));

/** An exclusive hold on the vehicle folder: two primaries on one folder would interleave their state. */
export function lockVehicle(dir: string): () => void {
  return takePidLock(
    join(dir, VEHICLE_FILES.runLock),
    'uptane vehicle run',
    (holder) => new Error(`another \`uptane vehicle run\` (pid ${holder.pid}) is driving the vehicle in ${dir}: stop it first (or wait for it to finish)`),
  );
}

/** Marks the secondary's folder as served at `url` by this process; opening it elsewhere is then refused. */
export function holdSecondaryFolder(directory: string, serial: string, url: string): () => void {
  return takePidLock(
    join(directory, VEHICLE_FILES.serveLock),
    url,
    (holder) => new StorageError(`secondary ${serial} is already served by pid ${holder.pid} at ${holder.note}: stop that \`uptane vehicle secondary serve\` first`),
  );
}
