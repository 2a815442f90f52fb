// What each ECU folder of a vehicle says about its ECU, read without opening the ECU: a
// `uptane vehicle run` may hold the primary, and `uptane vehicle secondary serve` a secondary, in
// another process at that moment.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../shared/core/errors.js';
import { readPidLock } from '../shared/files/pid-lock.js';
import { AbSlots, installedImage, type IntegrityFault, type SlotName } from '../shared/ecu/ab-slots.js';
import type { InstallOutcome, ReportedAttack } from '../shared/uptane/manifest.js';
import type { PrimaryIdentity, PrimaryState } from '../primary-ecu/primary.js';
import type { SecondaryIdentity, SecondaryState } from '../secondary-ecu/secondary.js';
import { VEHICLE_FILES } from './folder.js';

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

export function readJsonFile<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    throw new StorageError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
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

export const readPrimaryState = (directory: string) => readJsonFile<PrimaryState>(join(directory, 'state.json'));

/** The primary's folder, with the update it verified for every ECU of the vehicle and holds until parked. */
export function readPrimaryStatus(directory: string): EcuFolderStatus & { readonly pendingTargets: PrimaryState['pending'] } {
  const identity = readJsonFile<PrimaryIdentity>(join(directory, 'identity.json'));
  const state = readPrimaryState(directory);
  const own = state.pending?.targets.find((t) => t.ecuSerial === identity.serial);
  return {
    serial: identity.serial,
    hardwareId: identity.hardwareId,
    ...slotStatus(join(directory, 'slots')),
    expected: own?.filename ?? null,
    attacksToReport: state.attacks,
    servedAt: null,
    pendingTargets: state.pending,
  };
}

/** Fails with what to do when `directory` is not a provisioned secondary. */
export function checkSecondaryFolder(directory: string): void {
  if (!existsSync(directory)) {
    throw new StorageError(`no secondary ECU folder at ${directory}: provision the vehicle with \`uptane vehicle provision\` first, then give <vehicle folder>/<serial>`);
  }
  if (!existsSync(join(directory, 'identity.json')) || !existsSync(join(directory, 'state.json'))) {
    throw new StorageError(`${directory} is not a secondary ECU folder (no identity.json): give <vehicle folder>/<serial> of a secondary`);
  }
}

export const readSecondaryIdentity = (directory: string) => readJsonFile<SecondaryIdentity>(join(directory, 'identity.json'));

export function readSecondaryStatus(directory: string): EcuFolderStatus {
  checkSecondaryFolder(directory);
  const identity = readSecondaryIdentity(directory);
  const state = readJsonFile<SecondaryState>(join(directory, 'state.json'));
  return {
    serial: identity.serial,
    hardwareId: identity.hardwareId,
    ...slotStatus(join(directory, 'slots')),
    expected: state.expected?.filename ?? null,
    attacksToReport: state.attacks,
    servedAt: readPidLock(join(directory, VEHICLE_FILES.serveLock))?.note ?? null,
  };
}
