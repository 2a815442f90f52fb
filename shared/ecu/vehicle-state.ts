// Whether the vehicle is parked or driving, from a provider the simulator (or the vehicle)
// controls. While driving, the primary may check, download and verify, but no ECU starts an install
// (docs/uptane-conformance.md 10: install "only when pre-conditions hold, e.g. the vehicle is
// parked").
import { readFileSync } from 'node:fs';
import { StorageError } from '../core/errors.js';
import { writeFileAtomic } from '../files/fs-atomic.js';

export type DrivingState = 'parked' | 'driving';

export interface VehicleStateSource {
  current(): DrivingState;
}

/** In-memory state: the simulator and tests flip it. */
export class MemoryVehicleState implements VehicleStateSource {
  constructor(private state: DrivingState = 'parked') {}

  current(): DrivingState {
    return this.state;
  }

  set(state: DrivingState): void {
    this.state = state;
  }
}

/** State kept in a file, so separate processes (CLI, primary, secondaries) see the same vehicle. */
export class FileVehicleState implements VehicleStateSource {
  constructor(private readonly path: string) {}

  current(): DrivingState {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8').trim();
    } catch (err) {
      // No file yet: a vehicle that has never been told otherwise is treated as driving (fail safe).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'driving';
      throw new StorageError(`cannot read vehicle state ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    if (text !== 'parked' && text !== 'driving') throw new StorageError(`vehicle state file ${this.path} holds ${JSON.stringify(text)}; expected parked or driving`);
    return text;
  }

  set(state: DrivingState): void {
    writeFileAtomic(this.path, Buffer.from(`${state}\n`));
  }
}
