// Assignments of images to ECUs and their states. The store keeps at most one active (pending or in
// flight) assignment per ECU; the services decide what to assign.

export type AssignmentState = 'pending' | 'in_flight' | 'installed' | 'failed' | 'cancelled';

export interface AssignmentRecord {
  readonly id: number;
  readonly vin: string;
  readonly ecuSerial: string;
  readonly filename: string;
  readonly length: number;
  readonly hashes: Record<string, string>;
  readonly hardwareId: string;
  readonly releaseCounter: number;
  readonly state: AssignmentState;
  readonly reason: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NewAssignment {
  readonly vin: string;
  readonly ecuSerial: string;
  readonly filename: string;
  readonly length: number;
  readonly hashes: Readonly<Record<string, string>>;
  readonly hardwareId: string;
  readonly releaseCounter: number;
}

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
