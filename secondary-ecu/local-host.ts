// Secondaries kept in folders of a vehicle (shared/vehicle-folder.ts): provisioned at the factory,
// opened in-process by the primary's CLI, and read for status without being opened, since the same
// folder may be served by `uptane vehicle secondary serve` in another process at that moment.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../shared/core/errors.js';
import { readPidLock, takePidLock } from '../shared/files/pid-lock.js';
import { slotStatus, VEHICLE_FILES, type EcuFolderStatus, type LocalSecondaryHost } from '../shared/vehicle-folder.js';
import { Secondary, type SecondaryIdentity, type SecondaryState } from './secondary.js';

function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    throw new StorageError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
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

export function readSecondaryStatus(directory: string): EcuFolderStatus {
  checkSecondaryFolder(directory);
  const identity = readJson<SecondaryIdentity>(join(directory, 'identity.json'));
  const state = readJson<SecondaryState>(join(directory, 'state.json'));
  return {
    serial: identity.serial,
    hardwareId: identity.hardwareId,
    ...slotStatus(join(directory, 'slots')),
    expected: state.expected?.filename ?? null,
    attacksToReport: state.attacks,
    servedAt: readPidLock(join(directory, VEHICLE_FILES.serveLock))?.note ?? null,
  };
}

/** Marks the folder as served at `url` by this process; opening it elsewhere is then refused. */
export function holdSecondaryFolder(directory: string, serial: string, url: string): () => void {
  return takePidLock(
    join(directory, VEHICLE_FILES.serveLock),
    url,
    (holder) => new StorageError(`secondary ${serial} is already served by pid ${holder.pid} at ${holder.note}: stop that \`uptane vehicle secondary serve\` first`),
  );
}

export const localSecondaryHost: LocalSecondaryHost = {
  provision(directory, setup) {
    Secondary.provision(directory, {
      serial: setup.serial,
      hardwareId: setup.hardwareId,
      vin: setup.vin,
      verification: setup.verification,
      // Partial verification still walks the Director root chain, so Director key rotations reach it.
      checkDirectorRoot: true,
      key: setup.key,
      directorRoot: setup.directorRoot,
      imageRoot: setup.imageRoot,
      factoryImage: { filename: setup.factoryImage.filename, content: setup.factoryImage.content },
    });
  },
  async open(directory, runtime) {
    checkSecondaryFolder(directory);
    // Two processes on one ECU folder would interleave its state: a served secondary is reached over HTTP.
    const server = readPidLock(join(directory, VEHICLE_FILES.serveLock));
    if (server !== undefined) {
      const serial = readJson<SecondaryIdentity>(join(directory, 'identity.json')).serial;
      throw new StorageError(
        `secondary ${serial} is served by another process (pid ${server.pid}) at ${server.note}: reach it with --secondary-url ${serial}=${server.note}, or stop that server`,
      );
    }
    return Secondary.open(directory, { clock: runtime.clock, vehicleState: runtime.vehicleState });
  },
  status: readSecondaryStatus,
};
