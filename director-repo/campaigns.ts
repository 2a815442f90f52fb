// Campaigns: staged rollouts of images to a group of vehicles, with halt rules. Assignments reach
// vehicles through the normal per-vehicle Director metadata, so every Uptane check still applies.
// Stages are cumulative shares (or counts) of the group; vehicles are taken in the order of a hash of
// (campaign, VIN), so every stage is spread across the group and the choice is deterministic. Every
// decision is a database row (campaign state, which vehicle is in which stage, events), so a restart
// mid-stage loses nothing: the engine only ever compares the stored state with the stored rules.
import { createHash } from 'node:crypto';
import type { Clock } from '../shared/core/clock.js';
import { BadRequestError, ConflictError, IncompatibleImageError, NotFoundError, RepositoryStateError, UptaneError } from '../shared/core/errors.js';
import { minimumProfileOf, profileSatisfies, type SecurityProfile } from '../shared/core/security-profile.js';
import {
  CAMPAIGN_VEHICLE_OUTCOMES,
  type CampaignBody,
  type CampaignHaltRules,
  type CampaignImage,
  type CampaignStage,
  type CampaignStageStatus,
  type CampaignStatus,
  type CampaignVehicleEntry,
  type CampaignVehicleOutcome,
  type CampaignVehiclePage,
} from './api/operator-api.js';
import { stageCountsOf, stageProgress, waitingReasons, type VehicleStanding } from './campaign-status.js';
import { decimal } from './operator-input.js';
import type { AssignmentService, ResolvedImage } from './services/assignments.js';
import type { ManifestIntakeService } from './services/manifest-intake.js';
import type { CampaignRow, CampaignStandingTotal, GroupFilter, GroupRecord } from './store/campaigns.js';
import type { DirectorStore, DirectorTransaction } from './store/director-store.js';

/** One cumulative stage (api/operator-api.ts says what each field means). */
export type StageSpec = CampaignStage;
export type HaltRules = CampaignHaltRules;

export interface CampaignSpec {
  readonly images: readonly CampaignImage[];
  readonly stages: readonly StageSpec[];
  readonly halt?: HaltRules;
  /** Vehicles that join the group after the start join the campaign (dynamic groups, new registrations). */
  readonly includeNewVehicles?: boolean;
  /** Stages only start inside this window of UTC hours (start inclusive, end exclusive; may wrap midnight). */
  readonly maintenanceWindow?: { readonly startHour: number; readonly endHour: number };
  /** The operator had the images encrypted for each ECU (docs/image-encryption.md). */
  readonly encrypt?: boolean;
}

interface StoredSpec extends CampaignSpec {
  /** Images looked up in the Image repository when the campaign started. */
  readonly resolved?: readonly ResolvedImage[];
  readonly startedAt?: string;
}

const DAY = 24 * 60 * 60 * 1000;

/** Stages of one campaign, whichever way they are given. */
export const MAX_STAGES = 100;

/**
 * The white paper's schedule for a large fleet: day 1 0.1%, day 2 1%, day 3 10%, days 4 to 7 20% each,
 * day 8 the rest, as cumulative stages (docs/uptane-conformance.md 10; issue 8).
 */
export function whitePaperStages(): StageSpec[] {
  const increments = [0.001, 0.01, 0.1, 0.2, 0.2, 0.2, 0.2];
  let total = 0;
  const stages: StageSpec[] = increments.map((share, day) => {
    total += share;
    return { share: Math.round(total * 10000) / 10000, startAfterMs: day * DAY, minSoakMs: DAY };
  });
  stages.push({ share: 1, startAfterMs: 7 * DAY });
  return stages;
}

/**
 * An exponential ramp: `first` share, multiplied by `factor` each stage, until everyone. At most
 * MAX_STAGES stages: the loop stops there and refuses, so a factor of 1.000000001 costs a hundred
 * multiplications, not billions of stages built before any limit is checked (docs/threat-model.md HR-7).
 */
export function exponentialStages(first: number, factor: number, minSoakMs = 0): StageSpec[] {
  if (!(first > 0 && first <= 1) || !(factor > 1 && Number.isFinite(factor))) throw new BadRequestError('a ramp needs 0 < first <= 1 and factor > 1');
  const stages: StageSpec[] = [];
  let share = first;
  for (; share < 1 && stages.length < MAX_STAGES; share *= factor) stages.push({ share: Math.round(share * 1e6) / 1e6, minSoakMs });
  if (share < 1 || stages.length >= MAX_STAGES) {
    throw new BadRequestError(`a ramp from ${first} by a factor of ${factor} takes more than ${MAX_STAGES} stages to reach everyone: raise first or factor`);
  }
  stages.push({ share: 1, minSoakMs });
  return stages;
}

export function checkSpec(spec: CampaignSpec): void {
  if (spec.images.length === 0) throw new BadRequestError('a campaign names at least one image and hardware id');
  if (new Set(spec.images.map((i) => i.hardwareId)).size !== spec.images.length) throw new BadRequestError('one image per hardware id');
  if (spec.stages.length === 0 || spec.stages.length > MAX_STAGES) throw new BadRequestError(`a campaign has 1 to ${MAX_STAGES} stages`);
  for (const [i, stage] of spec.stages.entries()) {
    if ((stage.share === undefined) === (stage.count === undefined)) throw new BadRequestError(`stage ${i + 1}: give either share or count`);
    if (stage.share !== undefined && !(stage.share > 0 && stage.share <= 1)) throw new BadRequestError(`stage ${i + 1}: share must be in (0, 1]`);
    if (stage.count !== undefined && !(Number.isSafeInteger(stage.count) && stage.count > 0)) throw new BadRequestError(`stage ${i + 1}: count must be a positive integer`);
    if (stage.successThreshold !== undefined && !(stage.successThreshold >= 0 && stage.successThreshold <= 1)) throw new BadRequestError(`stage ${i + 1}: successThreshold must be in [0, 1]`);
    const previous = spec.stages[i - 1];
    const shrinks = (previous?.share !== undefined && stage.share !== undefined && stage.share < previous.share) || (previous?.count !== undefined && stage.count !== undefined && stage.count < previous.count);
    if (shrinks) throw new BadRequestError(`stage ${i + 1}: stages are cumulative and must not shrink`);
  }
  const halt = spec.halt ?? {};
  if (halt.maxFailureRate !== undefined && !(halt.maxFailureRate >= 0 && halt.maxFailureRate <= 1)) throw new BadRequestError('maxFailureRate must be in [0, 1]');
  const window = spec.maintenanceWindow;
  if (window !== undefined && ![window.startHour, window.endHour].every((h) => Number.isInteger(h) && h >= 0 && h <= 24)) {
    throw new BadRequestError('maintenance window hours must be integers 0-24');
  }
  // An empty window (5-5, 24-0) would hold every stage back for ever.
  if (window !== undefined && !Array.from({ length: 24 }, (_, hour) => hour).some((hour) => inWindow(window, hour))) {
    throw new BadRequestError(`maintenance window ${window.startHour}-${window.endHour} holds no hour; give START-END such as 1-5 or 22-4`);
  }
}

/**
 * The campaign a checked request body (operator-input.ts parseCampaign) asks for: the stages its
 * preset or ramp stands for, then the rules its fields must meet together (checkSpec).
 */
export function campaignSpecOf(body: CampaignBody): CampaignSpec {
  const stages = body.preset !== undefined ? whitePaperStages() : body.ramp !== undefined ? exponentialStages(body.ramp.first, body.ramp.factor, body.ramp.minSoakMs ?? 0) : body.stages;
  const spec: CampaignSpec = {
    images: body.images,
    stages,
    ...(body.halt === undefined ? {} : { halt: body.halt }),
    includeNewVehicles: body.includeNewVehicles === true,
    ...(body.maintenanceWindow === undefined ? {} : { maintenanceWindow: body.maintenanceWindow }),
    ...(body.encrypt === true ? { encrypt: true } : {}),
  };
  checkSpec(spec);
  return spec;
}

export type StageStatus = CampaignStageStatus;

/** A campaign the engine paused: its halt rules (attacks, failures) or an error stopped it. */
export interface CampaignHalt {
  readonly campaignId: number;
  readonly name: string;
  readonly stage: number;
  readonly reason: string;
}

export class Campaigns {
  /** Told after the commit that paused a campaign (the Director's alerts, alerts/alert-hub.ts); never awaited by the engine. */
  private readonly haltListeners: Array<(halt: CampaignHalt) => void> = [];

  constructor(
    private readonly store: DirectorStore,
    private readonly assignments: AssignmentService,
    intake: ManifestIntakeService,
    private readonly clock: Clock,
  ) {
    intake.onManifestAccepted(async (vin) => {
      for (const campaign of await this.store.campaigns.activeCampaignsOf(vin)) await this.evaluate(campaign.id);
    });
  }

  /** Calls `listener` each time the engine pauses a campaign (halt rules or an error), once that is committed. */
  onHalted(listener: (halt: CampaignHalt) => void): void {
    this.haltListeners.push(listener);
  }

  private told(halt: CampaignHalt | undefined): void {
    if (halt !== undefined) for (const listener of this.haltListeners) listener(halt);
  }

  // Groups -------------------------------------------------------------------------------------

  async createGroup(name: string, members: { vins?: readonly string[]; filter?: GroupFilter }, actor: string): Promise<{ name: string; members: number }> {
    const now = this.clock.now();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new BadRequestError('group names are 1-64 letters, digits, _ . or -');
    if ((members.vins === undefined) === (members.filter === undefined)) throw new BadRequestError('a group is either a list of VINs (static) or a filter (dynamic)');
    // Evaluated inside the unit of work: a group whose members cannot be listed is not kept (HR-9b).
    return this.store.unitOfWork(async (tx) => {
      if ((await tx.campaigns.group(name)) !== undefined) throw new ConflictError(`group ${name} exists`);
      await tx.campaigns.insertGroup(name, members.vins !== undefined ? 'static' : 'dynamic', members.filter ?? null, actor, now);
      await tx.campaigns.addMembers(name, members.vins ?? []);
      await tx.auditLog.record(actor, 'create_group', { name, vins: members.vins?.length, filter: members.filter }, now);
      return { name, members: (await membersOf(tx, name)).length };
    });
  }

  /** The group's vehicles now: registered members of a static group, or the filter's matches. */
  members(group: string): Promise<string[]> {
    return membersOf(this.store, group);
  }

  /**
   * Every group with its member count. One group that cannot be evaluated (a filter stored before
   * filters were bounded, an unreadable row) is listed with its problem instead of failing the
   * whole listing (docs/threat-model.md HR-9b).
   */
  async groups(): Promise<Array<GroupRecord & { members: number | null; problem?: string }>> {
    const groups: Array<GroupRecord & { members: number | null; problem?: string }> = [];
    for (const g of await this.store.campaigns.groups()) {
      try {
        groups.push({ ...g, members: (await this.members(g.name)).length });
      } catch (err) {
        if (!(err instanceof UptaneError)) throw err;
        groups.push({ ...g, members: null, problem: err.message });
      }
    }
    return groups;
  }

  // Campaign lifecycle -------------------------------------------------------------------------

  async create(name: string, group: string, spec: CampaignSpec, actor: string): Promise<CampaignRow> {
    checkSpec(spec);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new BadRequestError('campaign names are 1-64 letters, digits, _ . or -');
    if ((await this.store.campaigns.group(group)) === undefined) throw new NotFoundError(`no group ${group}`);
    const belowMinimumProfile = await this.checkReachesVehicles(group, spec);
    const now = this.clock.now();
    return this.store.unitOfWork(async (tx) => {
      if ((await tx.campaigns.campaignByName(name)) !== undefined) throw new ConflictError(`campaign ${name} exists`);
      const id = await tx.campaigns.insertCampaign(name, group, JSON.stringify(spec), actor, now);
      // Said at creation, in the campaign's history (and the CLI's answer): vehicles the campaign will
      // skip because an ECU's security profile is below an image's minimum (docs/security-profiles.md).
      const details = { group, images: spec.images, stages: spec.stages.length, ...(belowMinimumProfile > 0 ? { belowMinimumProfile } : {}) };
      await recordOperatorAction(tx, { id, name }, actor, 'created', details, now);
      return (await tx.campaigns.campaign(id))!;
    });
  }

  /**
   * Refuses, at creation, a campaign that could only skip every vehicle (issue 20, finding 5): an
   * image the Image repository does not hold for its hardware id, or a group none of whose vehicles
   * has an ECU of that hardware id. A campaign that takes new vehicles may start with none. Groups
   * over CREATE_CHECK_LIMIT vehicles are not scanned here: their skips show per stage as ever.
   * Answers how many of the group's vehicles (now) have an ECU the campaign targets whose security
   * profile is below its image's minimum: the campaign will skip them (profile_assignment_refused).
   */
  private async checkReachesVehicles(group: string, spec: CampaignSpec): Promise<number> {
    const minimums = new Map<string, SecurityProfile>();
    // An image the Image repository does not hold: NotFoundError, naming it.
    for (const { hardwareId, filename, target } of await this.assignments.resolveImages(spec.images)) {
      const fits = target.custom?.hardwareIds ?? [];
      if (!fits.includes(hardwareId)) {
        throw new IncompatibleImageError(`${filename} is for hardware ${fits.join(', ') || '(none listed)'}, not ${hardwareId}: name it with the hardware id it is for (--image HARDWARE_ID=IMAGE)`);
      }
      const minimum = minimumProfileOf(target.custom, `${filename} custom`);
      if (minimum !== undefined) minimums.set(hardwareId, minimum);
    }
    if (spec.includeNewVehicles === true && minimums.size === 0) return 0;
    const members = await membersOf(this.store, group);
    if (spec.includeNewVehicles !== true && members.length === 0) {
      throw new BadRequestError(`group ${group} has no vehicles: the campaign would complete at once having done nothing (add vehicles, or create it with includeNewVehicles)`);
    }
    if (members.length > CREATE_CHECK_LIMIT) return 0;
    const wanted = new Set(spec.includeNewVehicles === true ? [] : spec.images.map((i) => i.hardwareId));
    let belowMinimum = 0;
    // Every batch when a minimum is to be counted; else only until every hardware id was seen.
    for (let i = 0; i < members.length && (wanted.size > 0 || minimums.size > 0); i += CREATE_CHECK_BATCH) {
      const ecus = await this.store.inventory.ecusOfVehicles(members.slice(i, i + CREATE_CHECK_BATCH));
      for (const list of ecus.values()) {
        for (const ecu of list) wanted.delete(ecu.hardwareId);
        if (list.some((ecu) => minimums.has(ecu.hardwareId) && !profileSatisfies(ecu.securityProfile, minimums.get(ecu.hardwareId)!))) belowMinimum += 1;
      }
    }
    if (wanted.size > 0) {
      const missing = [...wanted].join(', ');
      throw new BadRequestError(
        `no vehicle of group ${group} has an ECU with hardware id ${missing}: the campaign would skip every vehicle for it (check --image HARDWARE_ID=IMAGE against \`uptane director vehicle show VIN\`, or pick another group)`,
      );
    }
    return belowMinimum;
  }

  /**
   * Starts a draft campaign: looks up its images, refuses it if a vehicle of the group is in another
   * active campaign for the same hardware id, takes the group's members, and starts stage 1.
   */
  async start(id: number, actor: string): Promise<CampaignRow> {
    const campaign = await campaignOf(this.store, id);
    if (campaign.state !== 'draft') throw new ConflictError(`campaign ${campaign.name} is ${campaign.state}; only a draft can start`);
    const spec = JSON.parse(campaign.spec) as StoredSpec;
    // Looked up (and, to encrypt, downloaded and encrypted once) before the unit of work, which never
    // waits on the network; each stage then only wraps the content key per ECU.
    const resolved = await this.assignments.resolveImages(spec.images, { encrypt: spec.encrypt === true });
    const now = this.clock.now();
    const started: StoredSpec = { ...spec, resolved, startedAt: now.toISOString() };
    // Stage 1 keeps its schedule and the maintenance window like every later stage: it may have to
    // wait, and then the engine starts it when they allow (docs/threat-model.md HR-11a).
    const held = heldBecause(started, 0, now);
    await this.store.unitOfWork(async (tx) => {
      const members = await membersOf(tx, campaign.groupName);
      await checkConflicts(tx, campaign, spec, members);
      await tx.campaigns.addVehicles(id, members.map((vin) => ({ vin, rank: rankOf(id, vin) })));
      await tx.campaigns.setSpec(id, JSON.stringify(started));
      await tx.campaigns.setState(id, 'running', now);
      if (held === undefined) await tx.campaigns.setStage(id, 0, now);
      else await tx.campaigns.holdStage(id, 0, now);
      const attackWatermark = await tx.campaigns.lastAttackId();
      await recordOperatorAction(tx, campaign, actor, 'started', { vehicles: members.length, attackWatermark, ...(held === undefined ? {} : { waiting: held }) }, now);
    });
    await this.evaluate(id, { enterStage: true });
    return campaignOf(this.store, id);
  }

  async pause(id: number, actor: string, reason = 'paused by operator'): Promise<CampaignRow> {
    const now = this.clock.now();
    await this.store.unitOfWork(async (tx) => {
      const campaign = await campaignOf(tx, id);
      if (campaign.state !== 'running') throw new ConflictError(`campaign ${campaign.name} is ${campaign.state}; only a running campaign can pause`);
      await tx.campaigns.setState(id, 'paused', now);
      await recordOperatorAction(tx, campaign, actor, 'paused', { reason, stage: campaign.stage + 1 }, now);
    });
    return campaignOf(this.store, id);
  }

  /** Resumes a paused campaign; halt rules count from now on (the signals that paused it were seen). */
  async resume(id: number, actor: string): Promise<CampaignRow> {
    const now = this.clock.now();
    await this.store.unitOfWork(async (tx) => {
      const campaign = await campaignOf(tx, id);
      if (campaign.state !== 'paused') throw new ConflictError(`campaign ${campaign.name} is ${campaign.state}; only a paused campaign resumes`);
      await tx.campaigns.setState(id, 'running', now);
      await recordOperatorAction(tx, campaign, actor, 'resumed', { stage: campaign.stage + 1, attackWatermark: await tx.campaigns.lastAttackId() }, now);
    });
    await this.evaluate(id);
    return campaignOf(this.store, id);
  }

  /** Moves to the next stage now, whatever the rules say (the operator decides), and runs it. */
  async advance(id: number, actor: string): Promise<CampaignRow> {
    const now = this.clock.now();
    await this.store.unitOfWork(async (tx) => {
      const campaign = await campaignOf(tx, id);
      const spec = JSON.parse(campaign.spec) as StoredSpec;
      if (campaign.state !== 'running' && campaign.state !== 'paused') throw new ConflictError(`campaign ${campaign.name} is ${campaign.state}`);
      if (campaign.stageStartedAt === null) {
        // The current stage waits for its schedule or window: the operator starts it now.
        await tx.campaigns.setStage(id, campaign.stage, now);
        await tx.campaigns.setState(id, 'running', now);
        await recordOperatorAction(tx, campaign, actor, 'advanced', { stage: campaign.stage + 1, by: 'operator' }, now);
        await this.enterStage(tx, await campaignOf(tx, id), spec, actor);
        return;
      }
      if (campaign.stage + 1 >= spec.stages.length) throw new ConflictError(`campaign ${campaign.name} is in its last stage`);
      await tx.campaigns.setStage(id, campaign.stage + 1, now);
      await tx.campaigns.setState(id, 'running', now);
      await recordOperatorAction(tx, campaign, actor, 'advanced', { stage: campaign.stage + 2, by: 'operator' }, now);
      await this.enterStage(tx, await campaignOf(tx, id), spec, actor);
    });
    return campaignOf(this.store, id);
  }

  /** Ends the campaign: assignments not yet installed or failed are cancelled, and vehicles stop seeing them. */
  async abort(id: number, actor: string): Promise<CampaignRow> {
    const now = this.clock.now();
    await this.store.unitOfWork(async (tx) => {
      const campaign = await campaignOf(tx, id);
      if (campaign.state === 'completed' || campaign.state === 'aborted') throw new ConflictError(`campaign ${campaign.name} is already ${campaign.state}`);
      const open = await tx.assignments.activeOfCampaign(id);
      for (const a of open) await tx.assignments.setState(a.id, 'cancelled', `campaign ${campaign.name} aborted by ${actor}`, now);
      await tx.vehicleMetadata.markStale([...new Set(open.map((a) => a.vin))]);
      await tx.campaigns.setState(id, 'aborted', now);
      await recordOperatorAction(tx, campaign, actor, 'aborted', { cancelled: open.length }, now);
    });
    return campaignOf(this.store, id);
  }

  /** Re-evaluates every running campaign: soak times, schedules and halt rules (called on a timer). */
  async tick(): Promise<void> {
    for (const campaign of await this.store.campaigns.activeCampaigns()) if (campaign.state === 'running') await this.evaluate(campaign.id);
  }

  // The engine ---------------------------------------------------------------------------------

  /** Compares the stored state with the rules and acts: halt, advance, complete, or add new vehicles. */
  private async evaluate(id: number, { enterStage = false }: { enterStage?: boolean } = {}): Promise<void> {
    const now = this.clock.now();
    // Set by the unit's last run only (a retried unit decides again).
    let halted: CampaignHalt | undefined;
    try {
      await this.store.unitOfWork(async (tx) => {
        halted = undefined;
        const campaign = await campaignOf(tx, id);
        if (campaign.state !== 'running') return;
        const spec = JSON.parse(campaign.spec) as StoredSpec;
        if (spec.includeNewVehicles === true) await addNewMembers(tx, campaign);
        if (campaign.stageStartedAt === null) {
          // A stage held back at the start (its schedule, the maintenance window) begins once they allow.
          if (heldBecause(spec, campaign.stage, now) !== undefined) return;
          await tx.campaigns.setStage(id, campaign.stage, now);
          await tx.campaigns.event(id, 'engine', 'advanced', { stage: campaign.stage + 1, by: 'schedule' }, now);
          await this.enterStage(tx, await campaignOf(tx, id), spec, 'engine');
          return;
        }
        if (enterStage) await this.enterStage(tx, campaign, spec, 'engine');
        // Read once and again only when a stage took vehicles: on PostgreSQL a read scans the campaign's index range.
        let totals = await tx.campaigns.standingTotals(id);
        const halt = await haltReason(tx, campaign, spec, totals);
        if (halt !== undefined) {
          await tx.campaigns.setState(id, 'paused', now);
          await tx.campaigns.event(id, 'engine', 'paused', { reason: halt, stage: campaign.stage + 1 }, now);
          halted = { campaignId: id, name: campaign.name, stage: campaign.stage + 1, reason: halt };
          return;
        }
        // Vehicles that joined since (or a stage whose share grew with the group) get the update too.
        if (await this.enterStage(tx, campaign, spec, 'engine', totals)) totals = await tx.campaigns.standingTotals(id);
        const stage = (await stageStatusOf(tx, campaign, 0, totals)).find((s) => s.stage === campaign.stage);
        const { finished, installedShare, threshold, soakLeftMs } = stageProgress(stage, spec.stages[campaign.stage]!, campaign.stageStartedAt ?? campaign.createdAt, now);
        const soaked = soakLeftMs === 0;
        if (campaign.stage + 1 >= spec.stages.length) {
          if (finished && everyoneStaged(totals)) {
            await tx.campaigns.setState(id, 'completed', now);
            await tx.campaigns.event(id, 'engine', 'completed', { stages: spec.stages.length }, now);
          }
          return;
        }
        if (installedShare >= threshold && soaked && heldBecause(spec, campaign.stage + 1, now) === undefined) {
          await tx.campaigns.setStage(id, campaign.stage + 1, now);
          await tx.campaigns.event(id, 'engine', 'advanced', { stage: campaign.stage + 2, installedShare: round(installedShare) }, now);
          await this.enterStage(tx, await campaignOf(tx, id), spec, 'engine');
        }
      });
    } catch (err) {
      // A campaign must never break the manifest or timer that triggered it: record, and stop it.
      if (!(err instanceof UptaneError)) throw err;
      halted = undefined; // the unit rolled back: what it decided did not happen
      await this.store.campaigns.event(id, 'engine', 'error', { code: err.code, message: err.message }, now);
      const campaign = await this.store.campaigns.campaign(id);
      if (campaign?.state === 'running') {
        await this.store.campaigns.setState(id, 'paused', now);
        halted = { campaignId: id, name: campaign.name, stage: campaign.stage + 1, reason: `error: ${err.code}: ${err.message}` };
      }
    }
    this.told(halted);
  }

  /**
   * Gives the update to the vehicles this stage covers that do not have it yet, in rank order; true
   * when it took any. Counts come from the stored totals (`totals` when the caller has them) and the
   * vehicles from the unstaged index, so a stage with nothing to take reads no vehicle.
   */
  private async enterStage(tx: DirectorTransaction, campaign: CampaignRow, spec: StoredSpec, actor: string, totals?: readonly CampaignStandingTotal[]): Promise<boolean> {
    const { vehicles, unstaged } = sizeOf(totals ?? (await tx.campaigns.standingTotals(campaign.id)));
    const stage = spec.stages[campaign.stage]!;
    const target = Math.min(vehicles, stage.count ?? Math.ceil((stage.share ?? 0) * vehicles));
    const wanted = target - (vehicles - unstaged);
    if (wanted <= 0) return false;
    const chosen = await tx.campaigns.unstaged(campaign.id, wanted);
    if (chosen.length === 0) return false;
    // One batch for the whole stage: a stage of a large fleet is tens of thousands of vehicles.
    const outcomes = await this.assignments.assignResolved(tx, chosen, spec.resolved ?? [], `${actor} (campaign ${campaign.name})`, campaign.id);
    await tx.campaigns.setVehicleStages(
      campaign.id,
      chosen.map((vin) => {
        const outcome = outcomes.get(vin)!;
        return { vin, stage: campaign.stage, outcome: 'skipped' in outcome ? `skipped: ${outcome.skipped}` : null };
      }),
    );
    return true;
  }

  // Status -------------------------------------------------------------------------------------

  async byName(name: string): Promise<CampaignRow> {
    const id = decimal(name);
    const campaign = (await this.store.campaigns.campaignByName(name)) ?? (id === undefined ? undefined : await this.store.campaigns.campaign(id));
    if (campaign === undefined) throw new NotFoundError(`no campaign ${name}`);
    return campaign;
  }

  async list() {
    return (await this.store.campaigns.campaigns(200)).map((c) => ({ id: c.id, name: c.name, group: c.groupName, state: c.state, stage: c.stage + 1, stages: (JSON.parse(c.spec) as CampaignSpec).stages.length }));
  }

  /** Per stage: vehicles pending, downloading, deferred while driving, installed, failed, rolled back, attacks. */
  stageStatus(campaign: CampaignRow): Promise<StageStatus[]> {
    return stageStatusOf(this.store, campaign);
  }

  /**
   * The campaign's state, per stage counts with skip reasons and the first `sample` VINs of each
   * outcome, why the current stage waits, failure reasons and the history. Counts are always whole;
   * VIN lists are bounded here and paged by vehiclePage.
   */
  async status(idOrName: string, sample = DEFAULT_VIN_SAMPLE): Promise<CampaignStatus> {
    const campaign = await this.byName(idOrName);
    const spec = JSON.parse(campaign.spec) as StoredSpec;
    const totals = await this.store.campaigns.standingTotals(campaign.id);
    const reasons: Record<string, number> = {};
    for (const { reason, vehicles } of await this.store.campaigns.failureReasons(campaign.id)) if (reason !== null) reasons[reason] = vehicles;
    const perStage = await stageStatusOf(this.store, campaign, sample, totals);
    const history = await this.store.campaigns.events(campaign.id);
    const now = this.clock.now();
    const current = perStage.find((s) => s.stage === campaign.stage);
    const started = campaign.stageStartedAt;
    const waiting = waitingReasons({
      campaign,
      stages: spec.stages.length,
      current,
      progress: started === null || spec.stages[campaign.stage] === undefined ? undefined : stageProgress(current, spec.stages[campaign.stage]!, started, now),
      held: heldBecause(spec, started === null ? campaign.stage : campaign.stage + 1, now),
      history,
    });
    return {
      id: campaign.id,
      name: campaign.name,
      group: campaign.groupName,
      state: campaign.state,
      stage: campaign.stage + 1,
      /** When the current stage started; null while it waits for its schedule or maintenance window. */
      stageStartedAt: campaign.state === 'draft' ? null : campaign.stageStartedAt,
      stages: spec.stages,
      images: spec.images,
      vehicles: sizeOf(totals).vehicles,
      perStage: perStage.map((s) => ({ ...s, stage: s.stage + 1 })),
      waiting,
      failureReasons: reasons,
      history,
    };
  }

  /** One page of the campaign's vehicles in VIN order, filtered by stage (1-based) and outcome, each with its reason. */
  async vehiclePage(idOrName: string, filter: { readonly stage?: number | undefined; readonly outcome?: CampaignVehicleOutcome | undefined; readonly after?: string | undefined; readonly limit: number }): Promise<CampaignVehiclePage> {
    const campaign = await this.byName(idOrName);
    const stage = filter.stage === undefined ? undefined : filter.stage - 1;
    const total = (await this.store.campaigns.standingTotals(campaign.id))
      .filter((t) => (stage === undefined || t.stage === stage) && (filter.outcome === undefined || t.outcome === filter.outcome))
      .reduce((n, t) => n + t.vehicles, 0);
    // One more than the page: whether there is a next one.
    const rows = await this.store.campaigns.standingsPage(campaign.id, { stage, outcome: filter.outcome, after: filter.after, limit: filter.limit + 1 });
    const page = rows.slice(0, filter.limit);
    const next = rows.length > filter.limit ? page[page.length - 1]!.vin : null;
    return {
      campaign: campaign.name,
      total,
      vehicles: page.map((v) => ({ vin: v.vin, stage: v.stage === null ? null : v.stage + 1, outcome: v.outcome, reason: v.reason, deferredWhileDriving: v.deferredWhileDriving, rolledBack: v.rolledBack })),
      next,
    };
  }

  /**
   * Gives the failed vehicles (or the named ones, each of which must have failed) new assignments of
   * the campaign's images for the ECUs whose install failed, with the same checks as a stage; at most
   * RETRY_LIMIT vehicles per request. Refused for a draft (nothing failed yet) and for an aborted
   * campaign (it takes no more); a completed one runs again until the retried installs finish.
   */
  async retry(id: number, vins: readonly string[] | undefined, actor: string): Promise<{ retried: string[]; notRetried: Array<{ vin: string; reason: string | null }>; remaining: number }> {
    const now = this.clock.now();
    return this.store.unitOfWork(async (tx) => {
      const campaign = await campaignOf(tx, id);
      if (campaign.state === 'aborted') {
        throw new ConflictError(`campaign ${campaign.name} was aborted: it gives no vehicle anything more; create a new campaign for the failed vehicles (\`uptane director campaign status ${campaign.name} --outcome failed\` lists them)`);
      }
      if (campaign.state === 'draft') throw new ConflictError(`campaign ${campaign.name} is a draft: nothing has failed yet (\`uptane director campaign start ${campaign.name}\` starts it)`);
      const failed = (await tx.campaigns.standingTotals(id)).filter((t) => t.outcome === 'failed').reduce((n, t) => n + t.vehicles, 0);
      let chosen: readonly VehicleStanding[];
      if (vins === undefined || vins.length === 0) {
        if (failed === 0) throw new ConflictError(`campaign ${campaign.name} has no failed vehicle to retry`);
        chosen = await tx.campaigns.standingsPage(id, { outcome: 'failed', limit: RETRY_LIMIT });
      } else {
        const byVin = new Map((await tx.campaigns.standingsOf(id, vins)).map((v) => [v.vin, v]));
        chosen = [...new Set(vins)].map((vin) => {
          const v = byVin.get(vin);
          if (v === undefined) throw new NotFoundError(`vehicle ${vin} is not in campaign ${campaign.name}`);
          if (v.outcome !== 'failed') throw new ConflictError(`vehicle ${vin} has not failed in campaign ${campaign.name}: it is ${v.outcome}; only failed vehicles are retried`);
          return v;
        });
      }
      const spec = JSON.parse(campaign.spec) as StoredSpec;
      const outcomes = await this.assignments.assignResolved(tx, chosen.map((v) => v.vin), spec.resolved ?? [], `${actor} (campaign ${campaign.name} retry)`, campaign.id);
      const retried: string[] = [];
      const notRetried: Array<{ vin: string; reason: string | null }> = [];
      for (const v of chosen) {
        const outcome = outcomes.get(v.vin)!;
        if ('skipped' in outcome) notRetried.push({ vin: v.vin, reason: outcome.skipped });
        else retried.push(v.vin);
      }
      // A completed campaign runs again until the retried installs finish (the engine completes it then).
      if (campaign.state === 'completed' && retried.length > 0) await tx.campaigns.setState(id, 'running', now);
      const remaining = vins === undefined || vins.length === 0 ? failed - chosen.length : 0;
      await recordOperatorAction(
        tx,
        campaign,
        actor,
        'retried',
        { stage: campaign.stage + 1, retried: retried.length, vins: retried.slice(0, AUDITED_VINS), notRetried: notRetried.length, ...(campaign.state === 'completed' && retried.length > 0 ? { reopened: true } : {}) },
        now,
      );
      return { retried, notRetried, remaining };
    });
  }
}

/** VINs per outcome and stage a status shows unless asked for another number. */
export const DEFAULT_VIN_SAMPLE = 10;
/** Failed vehicles one retry request gives new assignments at most (a stage's batch is of that order). */
const RETRY_LIMIT = 100_000;
/** VINs an audit entry of a retry names (the count is always there). */
const AUDITED_VINS = 20;

// Reads shared by the engine's units of work and the status queries: `tx` is a unit of work's
// handles, or the store itself outside one.

async function campaignOf(tx: DirectorTransaction, id: number): Promise<CampaignRow> {
  const campaign = await tx.campaigns.campaign(id);
  if (campaign === undefined) throw new NotFoundError(`no campaign ${id}`);
  return campaign;
}

/** Groups up to this size are scanned at creation for ECUs of the campaign's hardware ids. */
const CREATE_CHECK_LIMIT = 20_000;
const CREATE_CHECK_BATCH = 1_000;

async function membersOf(tx: DirectorTransaction | DirectorStore, group: string): Promise<string[]> {
  const record = await tx.campaigns.group(group);
  if (record === undefined) throw new NotFoundError(`no group ${group}`);
  if (record.problem !== undefined) throw new RepositoryStateError(`group ${group} cannot be evaluated: ${record.problem}; create it anew`);
  return record.kind === 'static' ? tx.campaigns.staticMembers(group) : tx.campaigns.dynamicMembers(record.filter ?? {});
}

/** Halt rules: failure rate or count, and any attack reported since the campaign (re)started. */
async function haltReason(tx: DirectorTransaction, campaign: CampaignRow, spec: StoredSpec, totals: readonly CampaignStandingTotal[]): Promise<string | undefined> {
  const rules = spec.halt ?? {};
  // Staged vehicles only, as the per-stage counts have them.
  const count = (outcome: CampaignVehicleOutcome) => totals.filter((t) => t.stage !== null && t.outcome === outcome).reduce((n, t) => n + t.vehicles, 0);
  const failed = count('failed');
  const done = failed + count('installed');
  if (rules.maxFailures !== undefined && failed >= rules.maxFailures) return `${failed} failed installs reached the limit of ${rules.maxFailures}`;
  const rate = rules.maxFailureRate ?? 0.2;
  if (done >= (rules.minSample ?? 5) && failed / done > rate) return `failure rate ${round(failed / done)} passed ${rate} (${failed} of ${done})`;
  if (rules.onAttack !== false) {
    // Attacks already seen when the campaign (re)started do not count again: the operator saw them.
    const watermark = (await tx.campaigns.events(campaign.id))
      .filter((e) => e.kind === 'started' || e.kind === 'resumed')
      .map((e) => (e.details as { attackWatermark?: number }).attackWatermark ?? 0)
      .pop();
    const attacks = await tx.campaigns.attacksAfter(campaign.id, watermark ?? 0);
    if (attacks.length > 0) {
      const a = attacks[0]!;
      return `security signal: vehicle ${a.vin} ECU ${a.ecu_serial} reported ${a.code}: ${a.message}`;
    }
  }
  return undefined;
}

function everyoneStaged(totals: readonly CampaignStandingTotal[]): boolean {
  return sizeOf(totals).unstaged === 0;
}

/** The campaign's vehicles, and how many of them no stage has taken yet, from its stored totals. */
function sizeOf(totals: readonly CampaignStandingTotal[]): { vehicles: number; unstaged: number } {
  let vehicles = 0;
  let unstaged = 0;
  for (const t of totals) {
    vehicles += t.vehicles;
    if (t.stage === null) unstaged += t.vehicles;
  }
  return { vehicles, unstaged };
}

async function addNewMembers(tx: DirectorTransaction, campaign: CampaignRow): Promise<void> {
  const known = new Set((await tx.campaigns.vehicles(campaign.id)).map((v) => v.vin));
  const joined = (await membersOf(tx, campaign.groupName)).filter((vin) => !known.has(vin));
  await tx.campaigns.addVehicles(campaign.id, joined.map((vin) => ({ vin, rank: rankOf(campaign.id, vin) })));
}

/** A vehicle belongs to at most one active campaign for the same hardware id. */
async function checkConflicts(tx: DirectorTransaction, campaign: CampaignRow, spec: CampaignSpec, members: readonly string[]): Promise<void> {
  const hardware = new Set(spec.images.map((i) => i.hardwareId));
  const mine = new Set(members);
  for (const other of await tx.campaigns.activeCampaigns()) {
    if (other.id === campaign.id) continue;
    const otherSpec = JSON.parse(other.spec) as CampaignSpec;
    const shared = otherSpec.images.map((i) => i.hardwareId).filter((h) => hardware.has(h));
    if (shared.length === 0) continue;
    const overlap = (await tx.campaigns.vehicles(other.id)).filter((v) => mine.has(v.vin));
    if (overlap.length > 0) {
      throw new ConflictError(
        `${overlap.length} vehicle(s) of group ${campaign.groupName} (e.g. ${overlap[0]!.vin}) are in active campaign ${other.name} for hardware id ${shared.join(', ')}; finish or abort it first`,
      );
    }
  }
}

/**
 * Per stage: counts from the stored totals (read unless given), attacks counted since the start,
 * and the first `sample` VINs of each outcome in VIN order, each a range of one index.
 */
async function stageStatusOf(tx: DirectorTransaction, campaign: CampaignRow, sample = 0, totals?: readonly CampaignStandingTotal[]): Promise<StageStatus[]> {
  const started = (await tx.campaigns.events(campaign.id)).find((e) => e.kind === 'started');
  const attacks = await tx.campaigns.attacksAfter(campaign.id, (started?.details as { attackWatermark?: number } | undefined)?.attackWatermark ?? 0);
  const attacked = new Map<number, number>();
  for (const v of await tx.campaigns.standingsOf(campaign.id, [...new Set(attacks.map((a) => a.vin))])) if (v.stage !== null) attacked.set(v.stage, (attacked.get(v.stage) ?? 0) + 1);
  const stages = stageCountsOf(totals ?? (await tx.campaigns.standingTotals(campaign.id)), attacked);
  if (sample <= 0) return stages;
  const sampled: StageStatus[] = [];
  for (const s of stages) {
    const vins: Partial<Record<CampaignVehicleOutcome, CampaignVehicleEntry[]>> = {};
    for (const outcome of CAMPAIGN_VEHICLE_OUTCOMES) {
      if (outcome === 'unstaged' || s[outcome] === 0) continue;
      vins[outcome] = (await tx.campaigns.standingsPage(campaign.id, { stage: s.stage, outcome, limit: sample })).map((v) => ({ vin: v.vin, reason: v.reason }));
    }
    sampled.push({ ...s, vins });
  }
  return sampled;
}

/** Why stage `index` may not start at `now` (its `after` time, the maintenance window), or undefined when it may. */
function heldBecause(spec: StoredSpec, index: number, now: Date): string | undefined {
  const after = spec.stages[index]?.startAfterMs ?? 0;
  const from = spec.startedAt === undefined ? undefined : Date.parse(spec.startedAt) + after;
  if (from !== undefined && now.getTime() < from) return `stage ${index + 1} starts at ${new Date(from).toISOString()}`;
  const window = spec.maintenanceWindow;
  if (window !== undefined && !inWindow(window, now.getUTCHours())) return `stage ${index + 1} waits for the maintenance window ${window.startHour}-${window.endHour} UTC`;
  return undefined;
}

/** The UTC hour is inside the window (start inclusive, end exclusive; 22-4 wraps midnight). */
function inWindow(window: { readonly startHour: number; readonly endHour: number }, hour: number): boolean {
  return window.startHour <= window.endHour ? hour >= window.startHour && hour < window.endHour : hour >= window.startHour || hour < window.endHour;
}

/** Deterministic, evenly spread order of the group's vehicles for one campaign. */
function rankOf(campaignId: number, vin: string): string {
  return createHash('sha256').update(`campaign:${campaignId}:${vin}`).digest('hex');
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * An operator's campaign action: in the campaign's own history and, like every other operator
 * change, in the audit log (`campaign_started`, ...), so `uptane director audit` shows who did it.
 */
async function recordOperatorAction(
  tx: DirectorTransaction,
  campaign: { readonly id: number; readonly name: string },
  actor: string,
  kind: 'created' | 'started' | 'paused' | 'resumed' | 'advanced' | 'aborted' | 'retried',
  details: Record<string, unknown>,
  now: Date,
): Promise<void> {
  await tx.campaigns.event(campaign.id, actor, kind, details, now);
  await tx.auditLog.record(actor, `campaign_${kind}`, { campaign: campaign.name, ...details }, now);
}
