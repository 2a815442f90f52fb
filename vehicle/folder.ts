// The on-disk layout of a provisioned vehicle, shared by the processes that run it: `uptane vehicle run`
// (the primary and the secondaries it opens in-process) and `uptane vehicle secondary serve` (one
// secondary in a process of its own). One folder per vehicle; in it one folder per ECU (named by
// serial), the vehicle config, and the parked/driving state file every ECU process reads.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../shared/core/errors.js';
import { takePidLock } from '../shared/files/pid-lock.js';
import { FileVehicleState } from '../shared/ecu/vehicle-state.js';
import type { CycleResult } from '../primary-ecu/primary.js';

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
} as const;

export interface VehicleEcuConfig {
  readonly serial: string;
  readonly hardwareId: string;
}

export interface VehicleConfig {
  readonly vin: string;
  readonly primary: VehicleEcuConfig;
  readonly secondaries: ReadonlyArray<VehicleEcuConfig & { readonly verification: 'partial' | 'full' }>;
  readonly directorUrl: string;
  readonly imageRepoUrl: string;
  readonly provisionedAt: string;
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
