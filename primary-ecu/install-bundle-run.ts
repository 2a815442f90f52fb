// The primary's side of an install bundle (docs/decisions.md "Install bundles"): every member ECU's
// image is staged first, then every member switches and passes its boot check and health soak while
// holding its trial, and only when all passed does the primary record the decision and commit them
// all; the first failure sends every member back to its previous image. A journal file, written
// atomically before each phase, is what a restart after a power cut reads to finish the same way:
// before the commit decision every member goes back, after it every member commits.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { InstallBundleInterruptedError, InstallBundleRolledBackError, StorageError, UptaneError, VehicleDrivingError } from '../shared/core/errors.js';
import { fsyncDirectory, writeFileAtomic } from '../shared/files/fs-atomic.js';
import { dirname } from 'node:path';
import type { BundleFailure, TrialVerdict } from '../shared/ecu/secondary-protocol.js';
import { MANIFEST_LIMITS, type InstallOutcome } from '../shared/uptane/manifest.js';

/** One member ECU as the runner drives it: the primary itself (its slots) or a secondary (its transport). */
export interface BundleMember {
  readonly serial: string;
  /** The image the bundle gives it. */
  readonly filename: string;
  /** The member's image into its inactive slot, verified there; throws the typed error that refused it. */
  stage(): Promise<void>;
  beginTrial(): Promise<TrialVerdict>;
  commit(): Promise<InstallOutcome>;
  rollBack(reason: BundleFailure | null): Promise<InstallOutcome | null>;
}

export type BundlePhase = 'staging' | 'trial' | 'commit' | 'rollback';

/** What the journal file holds. */
export interface BundleJournal {
  readonly bundleId: string;
  readonly members: readonly string[];
  readonly phase: BundlePhase;
  /** During the trial: the member being switched and checked (a power cut names it). */
  readonly current?: string;
  /** Set with phase rollback: the member that failed and why. */
  readonly failure?: BundleFailure & { readonly ecu: string };
}

/** How a bundle run (or its recovery) ended. */
export interface BundleResult {
  /**
   * installed: every member committed; rolled_back: every member is back on its previous image;
   * aborted: the bundle stopped before any member switched (nothing to report, the next cycle
   * installs again); deferred: a member saw the vehicle driving, every member is back and the bundle
   * waits; unfinished: a member could not be reached to finish, the journal stays and the next cycle
   * finishes it.
   */
  readonly status: 'installed' | 'rolled_back' | 'aborted' | 'deferred' | 'unfinished';
  readonly outcomes: Readonly<Record<string, InstallOutcome>>;
  readonly failure?: BundleFailure & { readonly ecu: string };
}

export interface BundleRunOptions {
  /** Attempts at each member's commit before the run leaves the journal for the next cycle (default 3). */
  readonly commitAttempts?: number;
  readonly log?: (line: string) => void;
}

/** The journal file: atomic writes (temp, fsync, rename), so a restart reads the old phase or the new one. */
export class BundleJournalFile {
  constructor(readonly path: string) {}

  load(): BundleJournal | undefined {
    if (!existsSync(this.path)) return undefined;
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as BundleJournal;
    } catch (err) {
      throw new StorageError(`cannot read the install bundle journal ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  write(journal: BundleJournal): void {
    writeFileAtomic(this.path, Buffer.from(JSON.stringify(journal)));
  }

  clear(): void {
    rmSync(this.path, { force: true });
    fsyncDirectory(dirname(this.path));
  }
}

const text = (message: string) => message.slice(0, MANIFEST_LIMITS.maxTextLength);

function failureOf(ecu: string, err: UptaneError): BundleFailure & { ecu: string } {
  return { ecu, code: err.code, message: text(err.message) };
}

/** Runs install bundles and finishes interrupted ones, through the journal. */
export class InstallBundleRunner {
  constructor(
    private readonly journal: BundleJournalFile,
    private readonly options: BundleRunOptions = {},
  ) {}

  private log(line: string): void {
    this.options.log?.(line);
  }

  /** True while a bundle is unfinished: no other install may start before it is finished. */
  get unfinished(): BundleJournal | undefined {
    return this.journal.load();
  }

  /** Stages every member, then trials every member, then commits all or rolls all back. */
  async run(bundleId: string, members: readonly BundleMember[]): Promise<BundleResult> {
    const serials = members.map((m) => m.serial);
    this.journal.write({ bundleId, members: serials, phase: 'staging' });
    // Phase 1: every image verified in its member's inactive slot before any member switches.
    for (const member of members) {
      try {
        await member.stage();
      } catch (err) {
        if (!(err instanceof UptaneError)) throw err; // a power cut: the journal says staging
        // No member switched: every ECU still runs its previous image. A staged image is only the
        // inactive slot's content, written over by the next stage, so nothing needs undoing.
        const failure = failureOf(member.serial, err);
        this.log(`install bundle ${bundleId}: ECU ${member.serial} refused its image (${err.code}); no member switched`);
        this.journal.clear();
        return { status: 'aborted', failure, outcomes: { [member.serial]: { filename: member.filename, status: 'failed', code: err.code, message: failure.message } } };
      }
    }
    // Phase 2: each member switches, boots and soaks, and holds its trial.
    for (const [index, member] of members.entries()) {
      this.journal.write({ bundleId, members: serials, phase: 'trial', current: member.serial });
      let verdict: TrialVerdict;
      try {
        verdict = await member.beginTrial();
      } catch (err) {
        if (!(err instanceof UptaneError)) throw err;
        if (err instanceof VehicleDrivingError || err.code === 'vehicle_driving') {
          // Not a failure of the bundle: every member goes back, unreported, and the bundle waits to park.
          this.log(`install bundle ${bundleId}: ECU ${member.serial} sees the vehicle driving; every member back, the bundle waits`);
          if (!(await this.dropTrials(bundleId, members.slice(0, index)))) return { status: 'unfinished', outcomes: {} };
          this.journal.clear();
          return { status: 'deferred', outcomes: {} };
        }
        return this.rollBackAll(bundleId, members, failureOf(member.serial, err));
      }
      if (!verdict.passed) {
        const { code = 'install_failed', message = '' } = verdict.outcome;
        return this.rollBackAll(bundleId, members, { ecu: member.serial, code, message: text(message) });
      }
    }
    // Phase 3: the decision, durable before the first commit; from here every member commits.
    this.journal.write({ bundleId, members: serials, phase: 'commit' });
    return this.commitAll(bundleId, members);
  }

  /**
   * After a restart: finishes the bundle the journal names, as its phase says (docs/decisions.md
   * "Install bundles", crash points). Undefined when no bundle was unfinished.
   */
  async resume(members: (serials: readonly string[]) => BundleMember[]): Promise<BundleResult | undefined> {
    const journal = this.journal.load();
    if (journal === undefined) return undefined;
    const all = members(journal.members);
    switch (journal.phase) {
      case 'staging':
        // No member switched: every ECU runs its previous image, and the next cycle installs again.
        this.journal.clear();
        return { status: 'aborted', outcomes: {} };
      case 'trial': {
        // Some members may be on trial, none committed: without every verdict no commit can be made.
        const ecu = journal.current ?? journal.members[0]!;
        const err = new InstallBundleInterruptedError(`power was lost during the trial of ECU ${ecu} in install bundle ${journal.bundleId}; every member went back to its previous image`);
        return this.rollBackAll(journal.bundleId, all, failureOf(ecu, err));
      }
      case 'rollback':
        return this.rollBackAll(journal.bundleId, all, journal.failure!);
      case 'commit':
        return this.commitAll(journal.bundleId, all);
    }
  }

  /** The held trials of `members` go back with no outcome (the bundle waits); false if one could not be reached. */
  private async dropTrials(bundleId: string, members: readonly BundleMember[]): Promise<boolean> {
    let done = true;
    for (const member of members) {
      try {
        await member.rollBack(null);
      } catch (err) {
        if (!(err instanceof UptaneError)) throw err;
        this.log(`install bundle ${bundleId}: ECU ${member.serial} could not go back from its trial (${err.code}: ${err.message})`);
        done = false;
      }
    }
    return done;
  }

  /**
   * Every member back to its previous image: the failing member with its own reason, the others with
   * install_bundle_rolled_back naming it. Idempotent, so a restart repeats it from the journal.
   */
  private async rollBackAll(bundleId: string, members: readonly BundleMember[], failure: BundleFailure & { ecu: string }): Promise<BundleResult> {
    this.journal.write({ bundleId, members: members.map((m) => m.serial), phase: 'rollback', failure });
    const others: BundleFailure =
      failure.code === 'install_bundle_interrupted'
        ? failure
        : { code: new InstallBundleRolledBackError('').code, message: text(`install bundle ${bundleId} rolled back: ECU ${failure.ecu} failed (${failure.code}: ${failure.message})`) };
    this.log(`install bundle ${bundleId}: ECU ${failure.ecu} failed (${failure.code}); every member goes back to its previous image`);
    const outcomes: Record<string, InstallOutcome> = {};
    let unfinished = false;
    for (const member of members) {
      try {
        const outcome = await member.rollBack(member.serial === failure.ecu ? { code: failure.code, message: failure.message } : others);
        if (outcome !== null) outcomes[member.serial] = outcome;
      } catch (err) {
        if (!(err instanceof UptaneError)) throw err;
        this.log(`install bundle ${bundleId}: ECU ${member.serial} could not be rolled back now (${err.code}); the next cycle tries again`);
        unfinished = true;
      }
    }
    if (unfinished) return { status: 'unfinished', outcomes, failure };
    this.journal.clear();
    return { status: 'rolled_back', outcomes, failure };
  }

  /** Every member commits; a commit that fails is tried again, and after that by the next cycle. */
  private async commitAll(bundleId: string, members: readonly BundleMember[]): Promise<BundleResult> {
    const attempts = this.options.commitAttempts ?? 3;
    const outcomes: Record<string, InstallOutcome> = {};
    let unfinished = false;
    for (const member of members) {
      for (let attempt = 1; ; attempt++) {
        try {
          outcomes[member.serial] = await member.commit();
          break;
        } catch (err) {
          if (!(err instanceof UptaneError)) throw err;
          if (attempt < attempts) continue;
          // The decision stands (the journal says commit): this member stays on its held trial of the
          // new image, which passed, and is committed by the next cycle.
          this.log(`install bundle ${bundleId}: ECU ${member.serial} could not commit (${err.code}: ${err.message}); the next cycle commits it`);
          unfinished = true;
          break;
        }
      }
    }
    if (unfinished) return { status: 'unfinished', outcomes };
    this.journal.clear();
    this.log(`install bundle ${bundleId}: every member committed (${members.map((m) => m.serial).join(', ')})`);
    return { status: 'installed', outcomes };
  }
}
