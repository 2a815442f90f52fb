// Assignments of images to ECUs and their states. The store keeps at most one active (pending or in
// flight) assignment per ECU; the services decide what to assign.
import type { AssignedImage, Assignment, AssignmentState } from '../api/operator-api.js';

// The operator sees an assignment as it is stored: the store's record is the wire type.
export type { AssignmentState };
export type AssignmentRecord = Assignment;
/** What the services ask the store to assign: the image for one ECU, before it has an id and a state. */
export type NewAssignment = AssignedImage;

/** Who made a batch of assignments, when, and for which campaign (null: an operator's own). */
export interface AssignmentOrigin {
  readonly actor: string;
  readonly now: Date;
  readonly campaignId?: number | null;
}

export interface AssignmentStore {
  /** Stores every assignment as pending, in order; their ids. One call for a whole batch (bench figure 5). */
  insert(assignments: readonly NewAssignment[], origin: AssignmentOrigin): Promise<number[]>;
  /** The vehicle's pending and in-flight assignments, by ECU serial. */
  active(vin: string): Promise<AssignmentRecord[]>;
  /** active() for many vehicles in one call; a VIN without active assignments is absent. */
  activeOfVehicles(vins: readonly string[]): Promise<Map<string, AssignmentRecord[]>>;
  /** Pending and in-flight assignments a campaign made. */
  activeOfCampaign(campaignId: number): Promise<AssignmentRecord[]>;
  byId(id: number): Promise<AssignmentRecord | undefined>;
  byIds(ids: readonly number[]): Promise<AssignmentRecord[]>;
  /** The vehicle's newest `limit` assignments, any state, newest first. */
  ofVehicle(vin: string, limit: number): Promise<AssignmentRecord[]>;
  setState(id: number, state: AssignmentState, reason: string | null, now: Date): Promise<void>;
  /** The vehicle fetched targets listing its pending assignments: they are now in flight. How many changed. */
  markInFlight(vin: string, now: Date): Promise<number>;
}
