// Install bundles on the Director (docs/decisions.md "Install bundles"): the operator names images
// for several ECUs of one vehicle that must install all or none. Each member is an ordinary
// assignment (checked as one: the image exists, fits the ECU, keeps its release counter) naming the
// bundle; the vehicle's targets carry the bundle (vehicle-metadata.ts), and after each accepted
// manifest the bundle's one outcome is recorded: installed when every member is, rolled back (with
// the member that failed and why) when one failed, every member's assignment then failed with it.
import type { Clock } from '../../shared/core/clock.js';
import { BadRequestError, ConflictError, NotFoundError } from '../../shared/core/errors.js';
import { DEFAULT_INSTALL_BUNDLE_LIMITS } from '../../shared/uptane/install-bundle.js';
import type { InstallBundleBody, InstallBundleView, PlannedAssignment } from '../api/operator-api.js';
import type { AssignmentRecord } from '../store/assignments.js';
import type { DirectorStore, DirectorTransaction } from '../store/director-store.js';
import type { InstallBundleOutcome } from '../store/install-bundles.js';
import type { AssignmentService } from './assignments.js';

const ctx = { repository: 'director' };

/** The id a bundle has in a vehicle's targets (custom.installBundle.id). */
export const installBundleId = (id: number): string => `ib-${id}`;

/** The codes a member reports when it went back only because another member failed. */
const FOLLOWER_CODES = ['install_bundle_rolled_back', 'install_bundle_interrupted'];

export class InstallBundleService {
  constructor(
    private readonly store: DirectorStore,
    private readonly assignments: AssignmentService,
    private readonly clock: Clock,
  ) {}

  /**
   * Checks every member as an assignment, then stores the bundle and its member assignments in one
   * unit of work. Refused (409) when a member ECU has an active assignment or the vehicle has a
   * pending bundle already: its targets carry one bundle at a time.
   */
  async create(body: InstallBundleBody, actor: string): Promise<InstallBundleView> {
    const max = DEFAULT_INSTALL_BUNDLE_LIMITS.maxMembers;
    if (body.members.length < 2 || body.members.length > max) throw new BadRequestError(`an install bundle names 2 to ${max} ECUs, not ${body.members.length}`, ctx);
    const serials = new Set(body.members.map((m) => m.ecuSerial));
    if (serials.size !== body.members.length) throw new BadRequestError('an install bundle names each ECU once', ctx);
    if (body.encrypt === true) throw new BadRequestError('install bundles do not encrypt images yet: assign without encrypt', ctx);
    const plans: PlannedAssignment[] = [];
    for (const member of body.members) {
      plans.push(...(await this.assignments.planAssignments({ vins: [body.vin], image: member.image, ecuSerial: member.ecuSerial })));
    }
    const now = this.clock.now();
    const id = await this.store.unitOfWork(async (tx) => {
      if ((await tx.installBundles.pendingOfVehicle(body.vin)).length > 0) {
        throw new ConflictError(`vehicle ${body.vin} has a pending install bundle; wait for its outcome or cancel one of its assignments`, ctx);
      }
      const active = await tx.assignments.active(body.vin);
      for (const plan of plans) {
        const stored = active.find((a) => a.ecuSerial === plan.ecuSerial);
        if (stored !== undefined) throw new ConflictError(`ECU ${plan.ecuSerial} of ${body.vin} already has ${stored.state} assignment ${stored.id} (${stored.filename}); cancel it first`, ctx);
      }
      const bundle = await tx.installBundles.create(body.vin, { actor, now });
      const ids = await tx.assignments.insert(plans, { actor, now });
      await tx.installBundles.attach(bundle, ids);
      await tx.vehicleMetadata.markStale([body.vin]);
      await tx.auditLog.record(actor, 'assign_install_bundle', { id: bundle, vin: body.vin, members: plans.map((p) => ({ ecuSerial: p.ecuSerial, image: p.filename })), ids }, now);
      return bundle;
    });
    return this.view(id);
  }

  async view(id: number): Promise<InstallBundleView> {
    const bundle = await this.store.installBundles.byId(id);
    if (bundle === undefined) throw new NotFoundError(`no install bundle ${id}`, ctx);
    return { ...bundle, bundleId: installBundleId(id), members: await this.store.installBundles.members(id) };
  }

  /**
   * After an accepted manifest (the intake's listener): each pending bundle of `vin` whose members
   * all installed is recorded installed; one with a failed member is recorded rolled back, naming the
   * member that failed first (the others report install_bundle_rolled_back), and its members still
   * active are failed with it, so the vehicle's targets stop listing any of them.
   */
  async recordOutcomes(vin: string): Promise<void> {
    const pending = await this.store.installBundles.pendingOfVehicle(vin);
    if (pending.length === 0) return;
    const now = this.clock.now();
    await this.store.unitOfWork(async (tx) => {
      for (const bundle of pending) {
        const members = await tx.installBundles.members(bundle.id);
        const outcome = bundleOutcome(members);
        if (outcome === undefined) continue;
        if (!(await tx.installBundles.finish(bundle.id, outcome, now))) continue;
        await this.endMembers(tx, members, outcome, now);
      }
    });
  }

  /** The members still active end with the bundle: failed (rolled back) or cancelled. */
  private async endMembers(tx: DirectorTransaction, members: readonly AssignmentRecord[], outcome: InstallBundleOutcome, now: Date): Promise<void> {
    const active = members.filter((m) => m.state === 'pending' || m.state === 'in_flight');
    if (active.length === 0 || outcome.state === 'installed') return;
    const state = outcome.state === 'cancelled' ? 'cancelled' : 'failed';
    for (const member of active) await tx.assignments.setState(member.id, state, `install bundle ${outcome.state.replace('_', ' ')}: ${outcome.reason ?? ''}`.slice(0, 1000), now);
    await tx.vehicleMetadata.markStale([members[0]!.vin]);
  }
}

/**
 * The one outcome the members' states add up to, or undefined while it is still open. A cancelled
 * member cancels the bundle; a failed one rolls it back, and the member that failed is the one whose
 * reason is its own, not a follower's install_bundle_rolled_back.
 */
export function bundleOutcome(members: readonly AssignmentRecord[]): InstallBundleOutcome | undefined {
  if (members.length === 0) return undefined;
  const cancelled = members.find((m) => m.state === 'cancelled');
  if (cancelled !== undefined) return { state: 'cancelled', failingEcu: null, reason: cancelled.reason };
  const failed = members.filter((m) => m.state === 'failed');
  if (failed.length > 0) {
    const own = failed.find((m) => !FOLLOWER_CODES.some((code) => (m.reason ?? '').includes(code)));
    // All followers: power was lost during the trial (install_bundle_interrupted names the ECU).
    const failing = own ?? failed[0]!;
    return { state: 'rolled_back', failingEcu: own === undefined ? null : failing.ecuSerial, reason: failing.reason };
  }
  if (members.every((m) => m.state === 'installed')) return { state: 'installed', failingEcu: null, reason: null };
  return undefined;
}
