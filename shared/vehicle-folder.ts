// The on-disk layout of a provisioned vehicle, shared by the processes that run it: `uptane vehicle`
// (the primary's CLI) and `uptane vehicle secondary serve` (one secondary in a process of its own).
// One folder per vehicle; in it one folder per ECU (named by serial), the vehicle config, and the
// parked/driving state file every ECU process reads.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from './core/clock.js';
import type { PrivateKey } from './core/crypto/keys.js';
import { StorageError } from './core/errors.js';
import { AbSlots, installedImage, type IntegrityFault, type SlotName } from './ecu/ab-slots.js';
import type { InstallOutcome, ReportedAttack } from './uptane/manifest.js';
import type { SecondaryTransport } from './ecu/secondary-protocol.js';
import type { VehicleStateSource } from './ecu/vehicle-state.js';

export const VEHICLE_FILES = {
  /** VehicleConfig, written at provisioning. */
  config: 'vehicle.json',
  /** `parked` or `driving` (FileVehicleState). */
  state: 'vehicle-state',
  /** The last update cycle's result, written by `uptane vehicle run`. */
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

/** What one ECU's folder says about it, read without opening the ECU (it may be running elsewhere). */
export interface EcuFolderStatus {
  readonly serial: string;
  readonly hardwareId: string;
  readonly activeSlot: SlotName;
  readonly installed: { readonly filename: string; readonly length: number; readonly sha256: string | undefined };
  /** An image verified and written to the inactive slot, waiting for install. */
  readonly staged: string | null;
  /** The image the ECU's last verified metadata assigned it and it has not installed yet. */
  readonly expected: string | null;
  readonly lastInstall: InstallOutcome | null;
  /** The active slot's image found corrupted since the last install, and what the ECU did about it (HR-11b). */
  readonly integrityFault: IntegrityFault | null;
  /** Attacks detected and not yet sent in a version report. */
  readonly attacksToReport: readonly ReportedAttack[];
  /** The URL of the process serving this ECU (`uptane vehicle secondary serve`), if one runs. */
  readonly servedAt: string | null;
}

/**
 * The slot part of an ECU folder's status, read without opening the slots (a running ECU may hold
 * them): the active slot, its image, what is staged, the last install's outcome.
 */
export function slotStatus(slotsDirectory: string): Pick<EcuFolderStatus, 'activeSlot' | 'installed' | 'staged' | 'lastInstall' | 'integrityFault'> {
  const slots = AbSlots.peek(slotsDirectory);
  const installed = installedImage(slots);
  return {
    activeSlot: slots.active,
    installed: { filename: installed.filename, length: installed.length, sha256: installed.hashes.sha256 },
    staged: slots.staged?.filename ?? null,
    lastInstall: slots.lastInstall,
    integrityFault: slots.integrityFault ?? null,
  };
}

/** What a secondary needs at the factory; the secondary component decides how it stores it. */
export interface SecondaryFactorySetup {
  readonly serial: string;
  readonly hardwareId: string;
  readonly vin: string;
  readonly verification: 'partial' | 'full';
  readonly key: PrivateKey;
  readonly directorRoot: Uint8Array;
  readonly imageRoot: Uint8Array;
  readonly factoryImage: { readonly filename: string; readonly content: Buffer };
}

/**
 * Secondaries kept in folders of the vehicle, as the primary's CLI needs them: provisioned with the
 * vehicle, opened in-process by `uptane vehicle run`, and read by `uptane vehicle status`. The
 * secondary component implements it; the root cli.ts hands it over (components never import each
 * other, DESIGN.md).
 */
export interface LocalSecondaryHost {
  provision(directory: string, setup: SecondaryFactorySetup): void;
  open(directory: string, runtime: { readonly clock: Clock; readonly vehicleState: VehicleStateSource }): Promise<SecondaryTransport>;
  status(directory: string): EcuFolderStatus;
}
