// Campaigns (staged rollouts), vehicle groups, and each campaign's vehicles and events. The engine
// (campaigns.ts) decides; the store keeps every decision, so a restart mid-stage loses nothing.
import type { CampaignState, CampaignVehicleOutcome, GroupFilterBody } from '../api/operator-api.js';
import type { AssignmentState } from './assignments.js';

export type { CampaignState };
/** A dynamic group's filter, stored as the operator gave it. */
export type GroupFilter = GroupFilterBody;

export interface GroupRecord {
  readonly name: string;
  readonly kind: 'static' | 'dynamic';
  readonly filter: GroupFilter | null;
  readonly createdAt: string;
  /** Set when the stored filter cannot be read: the group then has no members (never "everyone"). */
  readonly problem?: string;
}

export interface CampaignRow {
  readonly id: number;
  readonly name: string;
  readonly groupName: string;
  readonly spec: string;
  readonly state: CampaignState;
  readonly stage: number;
  readonly stageStartedAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface CampaignVehicleRow {
  readonly vin: string;
  readonly rank: string;
  readonly stage: number | null;
  readonly outcome: string | null;
}

export interface CampaignAssignmentRow {
  readonly vin: string;
  readonly ecuSerial: string;
  readonly state: AssignmentState;
  readonly reason: string | null;
  readonly updatedAt: string;
  readonly lastState: string | null;
}

/**
 * A campaign vehicle's stored standing (SQLite migration 13, PostgreSQL 8): what campaign-status.ts
 * vehicleStanding gives it, kept by triggers as its inputs change.
 */
export interface CampaignStandingRow {
  readonly vin: string;
  /** 0-based; null while no stage has taken the vehicle. */
  readonly stage: number | null;
  readonly outcome: CampaignVehicleOutcome;
  readonly reason: string | null;
  readonly deferredWhileDriving: boolean;
  readonly rolledBack: boolean;
}

/** How many of a campaign's vehicles stand in one stage (null: not yet staged) with one outcome and skip code. */
export interface CampaignStandingTotal {
  readonly stage: number | null;
  readonly outcome: CampaignVehicleOutcome;
  /** campaign-status.ts skipCode of the skip's reason; null unless skipped. */
  readonly skipCode: string | null;
  readonly vehicles: number;
  readonly deferredWhileDriving: number;
  readonly rolledBack: number;
}

/** Which of a campaign's stored standings a page holds: a stage (0-based), an outcome, VINs after `after`. */
export interface CampaignStandingFilter {
  readonly stage?: number | undefined;
  readonly outcome?: CampaignVehicleOutcome | undefined;
  readonly after?: string | undefined;
  readonly limit: number;
}

export interface CampaignAttackRow {
  readonly vin: string;
  readonly ecu_serial: string;
  readonly code: string;
  readonly message: string;
  readonly reported_at: string;
}

export interface CampaignEvent {
  readonly at: string;
  readonly actor: string;
  readonly kind: string;
  readonly details: unknown;
}

export interface CampaignStore {
  insertGroup(name: string, kind: 'static' | 'dynamic', filter: GroupFilter | null, actor: string, now: Date): Promise<void>;
  group(name: string): Promise<GroupRecord | undefined>;
  groups(): Promise<GroupRecord[]>;
  addMembers(group: string, vins: readonly string[]): Promise<void>;
  /** Registered members of a static group, in VIN order. */
  staticMembers(group: string): Promise<string[]>;
  /** VINs matching a dynamic group's filter, evaluated now against the inventory, in VIN order. */
  dynamicMembers(filter: GroupFilter): Promise<string[]>;

  insertCampaign(name: string, group: string, spec: string, actor: string, now: Date): Promise<number>;
  campaign(id: number): Promise<CampaignRow | undefined>;
  campaignByName(name: string): Promise<CampaignRow | undefined>;
  /** The newest `limit` campaigns, newest first. */
  campaigns(limit: number): Promise<CampaignRow[]>;
  /** Running and paused campaigns, oldest first. */
  activeCampaigns(): Promise<CampaignRow[]>;
  activeCampaignsOf(vin: string): Promise<CampaignRow[]>;
  setSpec(id: number, spec: string): Promise<void>;
  setState(id: number, state: CampaignState, now: Date): Promise<void>;
  /** Makes `stage` current and starts it now. */
  setStage(id: number, stage: number, now: Date): Promise<void>;
  /** Makes `stage` current without starting it (no start time): it waits for its schedule. */
  holdStage(id: number, stage: number, now: Date): Promise<void>;

  /** Adds vehicles (with their rank) to the campaign; ones already in it are kept as they are. */
  addVehicles(id: number, vehicles: ReadonlyArray<{ readonly vin: string; readonly rank: string }>): Promise<void>;
  /** The campaign's vehicles in rank order. */
  vehicles(id: number): Promise<CampaignVehicleRow[]>;
  setVehicleStages(id: number, stages: ReadonlyArray<{ readonly vin: string; readonly stage: number; readonly outcome: string | null }>): Promise<void>;
  /**
   * The stored standings counted by stage, outcome and skip code (only counts above zero): on SQLite
   * totals kept by triggers, on PostgreSQL an index-only scan of the campaign's range.
   */
  standingTotals(id: number): Promise<CampaignStandingTotal[]>;
  /** Stored standings matching `filter`, in VIN order, at most `limit`: a range of one index. */
  standingsPage(id: number, filter: CampaignStandingFilter): Promise<CampaignStandingRow[]>;
  /** The stored standings of these VINs in the campaign (ones not in it are left out), in VIN order. */
  standingsOf(id: number, vins: readonly string[]): Promise<CampaignStandingRow[]>;
  /** Failed vehicles counted by their failure's reason (null when the failure gave none). */
  failureReasons(id: number): Promise<Array<{ readonly reason: string | null; readonly vehicles: number }>>;
  /** The first `limit` vehicles no stage has taken yet, in rank order (the order stages take them). */
  unstaged(id: number, limit: number): Promise<string[]>;
  /** Every assignment the campaign made, oldest first (a retry's come after the ones they retry), with its vehicle's last reported state. */
  assignments(id: number): Promise<CampaignAssignmentRow[]>;
  /** Attacks reported by the campaign's staged vehicles after attack row `afterId` (a watermark). */
  attacksAfter(id: number, afterId: number): Promise<CampaignAttackRow[]>;
  /** The newest attack row: halt rules count attacks after the watermark set at start or resume. */
  lastAttackId(): Promise<number>;
  event(id: number, actor: string, kind: string, details: unknown, now: Date): Promise<void>;
  events(id: number): Promise<CampaignEvent[]>;
}
