// Install bundles (docs/decisions.md "Install bundles"): several ECUs of one vehicle whose
// assignments install all or none. The bundle is one row with one outcome; its members are the
// assignments that name it (assignments.bundle_id).
import type { AssignmentOrigin, AssignmentRecord } from './assignments.js';
import type { InstallBundleState, InstallBundleRecord } from '../api/operator-api.js';

export type { InstallBundleState, InstallBundleRecord };

/** The outcome an install bundle finishes with, once. */
export interface InstallBundleOutcome {
  readonly state: Exclude<InstallBundleState, 'pending'>;
  /** The member that failed (rolled_back), when it can be named. */
  readonly failingEcu: string | null;
  readonly reason: string | null;
}

export interface InstallBundleStore {
  /** A new pending bundle for `vin`; its id. */
  create(vin: string, origin: AssignmentOrigin): Promise<number>;
  /** Makes the assignments `ids` members of bundle `id`. */
  attach(id: number, assignmentIds: readonly number[]): Promise<void>;
  byId(id: number): Promise<InstallBundleRecord | undefined>;
  /** The vehicle's bundles still pending, oldest first. */
  pendingOfVehicle(vin: string): Promise<InstallBundleRecord[]>;
  /** The member assignments of bundle `id`, any state, by ECU serial. */
  members(id: number): Promise<AssignmentRecord[]>;
  /** Records the outcome of a pending bundle; false if it was not pending (finished already). */
  finish(id: number, outcome: InstallBundleOutcome, now: Date): Promise<boolean>;
}
