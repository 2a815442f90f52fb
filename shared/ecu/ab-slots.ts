// Two image slots, A and B, for one ECU (simulated as files): a new image is written into the
// inactive slot and verified there, the active slot is switched atomically, a boot check runs, and
// with a health check configured the new image soaks under it (shared/ecu/health-check.ts), and
// the switch is committed on success or rolled back on failure. Every state change is one atomic
// write of the state file, so a power cut at any step leaves a bootable slot holding a verified
// image (docs/uptane-conformance.md 7.2 and 7.3; docs/threat-model.md M1, M2, M9, M12). The primary
// and the secondaries both install this way, so it lives in shared/.
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { BootCheckError, DownloadLengthError, FactoryImageCorruptedError, HealthCheckError, NoFactoryImageError, HashMismatchError, LengthMismatchError, OutOfOrderError, SlotIntegrityError, StorageError, UptaneError } from '../core/errors.js';
import { fsyncDirectory, writeFileAtomic } from '../files/fs-atomic.js';
import { digestsMatch, MultiHasher, READ_CHUNK_BYTES, requireSupportedHashes } from '../core/hashing.js';
import type { Ed25519Backend } from '../core/crypto/ed25519.js';
import type { PrivateKey } from '../core/crypto/keys.js';
import { MANIFEST_LIMITS, signEnvelope, type EcuVersionReport, type InstallOutcome, type IntegrityFaultReport, type ReportedAttack } from '../uptane/manifest.js';
import { escapeTerminalText } from '../util/terminal-text.js';
import { formatExpires } from '../core/metadata/parse.js';
import { DEFAULT_MAX_INTERRUPTED_SOAKS, runHealthSoak, type HealthCheck } from './health-check.js';

export type SlotName = 'a' | 'b';

export interface SlotImage {
  readonly filename: string;
  readonly length: number;
  readonly hashes: Readonly<Record<string, string>>;
}

export interface AbState {
  readonly active: SlotName;
  readonly slots: Readonly<Record<SlotName, SlotImage | null>>;
  /** An image written and verified in the inactive slot, waiting for install. */
  readonly staged: SlotImage | null;
  /** Set between the switch and the commit: the new slot is on trial, `previous` is the fallback. */
  readonly trial: Trial | null;
  readonly lastInstall: InstallOutcome | null;
  /**
   * Set when a re-verification found a slot's bytes no longer matching its recorded image
   * (docs/threat-model.md HR-11b); kept until an install commits, so every report until then says
   * so. Absent in state files written before this field existed.
   */
  readonly integrityFault?: IntegrityFault | null;
  /**
   * The factory image in the recovery partition (factory.img): written at provisioning, never by an
   * update, re-verified before every use (docs/threat-model.md M21). Absent in ECUs provisioned
   * before it existed: they have no factory fallback.
   */
  readonly factory?: SlotImage | null;
  /** The install bundle `lastInstall` is the outcome of, so a primary resuming gets the same answer again. */
  readonly lastBundle?: string | null;
}

/** A slot on trial between the switch and the commit (or rollback). */
export interface Trial {
  readonly slot: SlotName;
  readonly previous: SlotName;
  /**
   * `health-soak` once the boot check passed and the health soak began (absent: boot check). A
   * restart that finds it counts an interrupted soak; the soak then runs again from its start.
   */
  readonly phase?: 'boot-check' | 'health-soak';
  /** Soaks of this trial cut short by a restart; past the health check's limit the trial rolls back. */
  readonly interruptedSoaks?: number;
  /**
   * Set when the trial is a member's of an install bundle (docs/decisions.md "Install bundles"): it
   * is held, never committed or rolled back on its own, not even by a restart, until the primary
   * decides for the whole bundle (commitBundleTrial, rollBackBundle).
   */
  readonly bundle?: string;
  /** A bundle member's trial that passed its boot check and health soak, waiting for the decision. */
  readonly passed?: boolean;
}

/** What the slot really holds, as measured by a re-verification. */
export interface MeasuredContent {
  readonly length: number;
  readonly hashes: Readonly<Record<string, string>>;
}

export interface IntegrityFault {
  /** The slot whose bytes stopped matching. */
  readonly slot: SlotName;
  /** The image recorded (and verified) at install, which that slot no longer holds. */
  readonly image: SlotImage;
  /** What that slot held when last measured (an unreadable or missing file measures as empty). */
  readonly found: MeasuredContent;
  /**
   * `fallback`: the other slot's verified image became active; `reinstall`: none was left, the
   * ECU runs unverified bytes until its assigned image is delivered again.
   */
  readonly recovery: 'fallback' | 'reinstall';
  /** Set when the fallback is the factory image, copied from the recovery partition into the other slot. */
  readonly factory?: boolean;
  readonly detectedAt: string;
}

/** Named points of the install sequence (and of the integrity recovery) where tests inject an error or a power cut. */
export type InstallStep = 'stage-write' | 'stage-verified' | 'switch' | 'boot-check' | 'health-soak' | 'commit' | 'rollback' | 'integrity-recover' | 'factory-restore';

/**
 * How often a running ECU re-hashes its active slot before a version report, by default. The check
 * reads the whole image (sha256 and sha512 of every byte), so on a large image it costs seconds of
 * CPU and disk: once an hour bounds that to a small share of the ECU's time, while a boot always
 * checks. The file's mtime and size cannot stand in for the hashes between checks: a flipped bit
 * in flash, a raw write to the device, or a tamperer resetting the mtime leaves both unchanged.
 */
export const DEFAULT_INTEGRITY_CHECK_INTERVAL_MS = 60 * 60 * 1000;

/** Thrown by a fault hook to simulate power loss: the process "dies" at that point. */
export class PowerCut extends Error {
  constructor(readonly step: InstallStep) {
    super(`simulated power cut at ${step}`);
  }
}

export interface AbSlotsOptions {
  /** Decides whether a freshly switched-to image boots. */
  readonly bootCheck?: (image: SlotImage, path: string) => Promise<boolean>;
  /** Called at each step; may throw an Error (injected fault) or a PowerCut. */
  readonly faultAt?: (step: InstallStep) => void;
  /**
   * Longest time between re-verifications of the active slot while the ECU runs (checked before a
   * version report; a boot always checks). 0: before every report. Default
   * DEFAULT_INTEGRITY_CHECK_INTERVAL_MS.
   */
  readonly integrityCheckIntervalMs?: number;
  /**
   * Post-install health: after the boot check, the new image soaks under this check before the
   * commit; unhealthy rolls back (HealthCheckError). Absent: commit right after the boot check.
   */
  readonly healthCheck?: HealthCheck;
}

/** Marker that makes a simulated image fail its boot check: its first bytes. */
export const FAIL_BOOT_MARKER = 'FAIL-BOOT';

/** The simulation's boot check: an image whose content starts with FAIL-BOOT does not boot. */
export async function simulatedBootCheck(_image: SlotImage, path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(FAIL_BOOT_MARKER.length);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString() !== FAIL_BOOT_MARKER;
  } finally {
    await handle.close();
  }
}

const other = (slot: SlotName): SlotName => (slot === 'a' ? 'b' : 'a');

/** What an ECU with slot state `state` runs and reports (AbSlots.installed; status tools read it from a peek). */
export function installedImage(state: AbState): SlotImage {
  const fault = state.integrityFault;
  if (fault?.recovery === 'reinstall' && fault.slot === state.active) return { filename: fault.image.filename, length: fault.found.length, hashes: fault.found.hashes };
  return state.slots[state.active]!;
}

/**
 * A failure of slot I/O as the typed error an ECU reports (StorageError), so the primary records it
 * as that ECU's failed install instead of the whole update cycle dying on an untyped error. A
 * PowerCut (the ECU is gone) and errors already typed pass unchanged.
 */
function asStorageError(err: unknown, what: string): unknown {
  if (err instanceof PowerCut || err instanceof UptaneError) return err;
  return new StorageError(`${what}: ${(err as Error).message}`, { cause: err });
}

export class AbSlots {
  private state: AbState;
  private readonly bootCheck: NonNullable<AbSlotsOptions['bootCheck']>;
  /** Stage, install and re-verification, one at a time: each reads the state, awaits I/O, then writes it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** When this process last re-hashed the active slot (ms by the ECU's clock); none yet after a start. */
  private lastVerifiedAt: number | undefined;

  private constructor(readonly directory: string, private readonly options: AbSlotsOptions) {
    this.bootCheck = options.bootCheck ?? simulatedBootCheck;
    this.state = JSON.parse(readFileSync(this.statePath, 'utf8')) as AbState;
  }

  /** Provisions an ECU at the factory: `content` goes into slot A, which becomes active. */
  static provision(directory: string, factory: { filename: string; content: Buffer }): void {
    mkdirSync(directory, { recursive: true });
    const hasher = new MultiHasher(['sha256', 'sha512']);
    hasher.update(factory.content);
    writeFileAtomic(join(directory, 'slot-a.img'), factory.content);
    // The recovery partition: a copy no update ever writes (docs/threat-model.md M21).
    writeFileAtomic(join(directory, FACTORY_FILE), factory.content);
    const image: SlotImage = { filename: factory.filename, length: factory.content.length, hashes: hasher.digests() };
    const state: AbState = { active: 'a', slots: { a: image, b: null }, staged: null, trial: null, lastInstall: null, factory: image };
    writeFileAtomic(join(directory, 'ab-state.json'), Buffer.from(JSON.stringify(state)));
  }

  /** Opens the slots after a (re)start and finishes whatever a power cut interrupted. */
  static async open(directory: string, options: AbSlotsOptions = {}): Promise<AbSlots> {
    if (!existsSync(join(directory, 'ab-state.json'))) throw new StorageError(`${directory} holds no provisioned ECU slots`);
    const slots = new AbSlots(directory, options);
    await slots.recover();
    return slots;
  }

  /**
   * The slot state as stored, without opening (no recovery runs): for status tools that read an
   * ECU's folder while another process may be installing into it.
   */
  static peek(directory: string): AbState {
    const path = join(directory, 'ab-state.json');
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as AbState;
    } catch (err) {
      throw new StorageError(`cannot read ECU slot state ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  private get statePath(): string {
    return join(this.directory, 'ab-state.json');
  }

  /** The recovery partition holding the factory image. */
  get factoryPath(): string {
    return join(this.directory, FACTORY_FILE);
  }

  slotPath(slot: SlotName): string {
    return join(this.directory, `slot-${slot}.img`);
  }

  get current(): AbState {
    return this.state;
  }

  /**
   * The image in the active slot: what this ECU runs and reports. Once the slot's bytes stopped
   * matching and no verified fallback was left, that is what the slot holds as measured, under the
   * name it was installed as, never the recorded image (docs/threat-model.md HR-11b).
   */
  get installed(): SlotImage {
    return installedImage(this.state);
  }

  private exclusive<T>(action: () => Promise<T>): Promise<T> {
    const run = this.queue.then(action);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private persist(next: AbState): void {
    writeFileAtomic(this.statePath, Buffer.from(JSON.stringify(next)));
    this.state = next;
  }

  /** The fault hook stands for the I/O of `step`: an Error it throws is that I/O failing. */
  private fault(step: InstallStep): void {
    try {
      this.options.faultAt?.(step);
    } catch (err) {
      throw asStorageError(err, `slot I/O failed at ${step}`);
    }
  }

  /**
   * Streams `body` into the inactive slot, capped at the signed length, and checks every hash
   * (#verify_image). The active slot is never touched; on any failure the state is unchanged.
   */
  stage(image: SlotImage, body: AsyncIterable<Uint8Array>): Promise<void> {
    return this.exclusive(() => this.stageNow(image, body));
  }

  private async stageNow(image: SlotImage, body: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.state.trial !== null) throw new OutOfOrderError('an install is still on trial');
    const slot = other(this.state.active);
    const temp = `${this.slotPath(slot)}.tmp`;
    const hasher = new MultiHasher(Object.keys(image.hashes));
    if (!hasher.usable) requireSupportedHashes(image.hashes, image.filename); // throws: nothing here could check it
    const file = await open(temp, 'w', 0o644).catch((err: unknown) => {
      throw asStorageError(err, `cannot write slot ${slot}`);
    });
    let written = 0;
    try {
      for await (const chunk of body) {
        written += chunk.length;
        if (written > image.length) throw new DownloadLengthError(`${image.filename} is longer than its signed ${image.length} bytes`);
        hasher.update(chunk);
        await file.write(chunk);
        this.fault('stage-write');
      }
      await file.sync();
    } catch (err) {
      await file.close();
      rmSync(temp, { force: true });
      throw asStorageError(err, `cannot write ${image.filename} into slot ${slot}`);
    }
    await file.close();
    if (written !== image.length) {
      rmSync(temp, { force: true });
      throw new LengthMismatchError(`${image.filename} is ${written} bytes; ${image.length} signed`);
    }
    if (!hasher.matches(image.hashes)) {
      rmSync(temp, { force: true });
      throw new HashMismatchError(`${image.filename} does not match its signed hashes`);
    }
    // The slot's old content is no longer a fallback once this rename happens: record that first.
    this.persist({ ...this.state, slots: { ...this.state.slots, [slot]: null }, staged: null });
    await rename(temp, this.slotPath(slot)).catch((err: unknown) => {
      throw asStorageError(err, `cannot move ${image.filename} into slot ${slot}`);
    });
    fsyncDirectory(this.directory);
    this.fault('stage-verified');
    this.persist({ ...this.state, slots: { ...this.state.slots, [slot]: image }, staged: image });
  }

  /**
   * Switches to the staged image, runs the boot check, and commits or rolls back. Returns the
   * outcome, which the next version report carries.
   */
  install(): Promise<InstallOutcome> {
    return this.exclusive(() => this.installNow());
  }

  private async installNow(): Promise<InstallOutcome> {
    if (this.state.staged === null) throw new OutOfOrderError('no verified image is staged');
    this.switchToStaged();
    return this.finishTrial();
  }

  /**
   * The slot on trial through its phases: boot check, health soak, then commit, or rollback at the
   * first failure. Each phase is a method of its own, so a caller can drive them separately.
   */
  private async finishTrial(): Promise<InstallOutcome> {
    let failure = (await this.runBootCheck()) ?? (await this.runHealthSoak());
    if (failure === null) {
      const committed = this.commitTrial();
      if (!(committed instanceof UptaneError)) return committed;
      failure = committed;
    }
    return this.rollBackTrial(failure);
  }

  /** Phase 1: the staged image's slot becomes active, on trial (one atomic write); held for `bundle` if given. */
  private switchToStaged(bundle?: string): void {
    const slot = other(this.state.active);
    this.fault('switch');
    this.persist({ ...this.state, active: slot, staged: null, trial: { slot, previous: this.state.active, ...(bundle === undefined ? {} : { bundle }) }, lastBundle: null });
  }

  /** Phase 2: the slot on trial must still verify and boot; the failure to roll back for, or null. */
  private async runBootCheck(): Promise<UptaneError | null> {
    const trial = this.state.trial!;
    const image = this.state.slots[trial.slot]!;
    let boots: boolean;
    try {
      this.fault('boot-check');
      boots = (await this.isIntact(trial.slot)) && (await this.bootCheck(image, this.slotPath(trial.slot)));
    } catch (err) {
      if (err instanceof PowerCut) throw err;
      boots = false; // an error during the boot check is a failed boot
    }
    return boots ? null : new BootCheckError(`${image.filename} failed its boot check; rolled back to the previous image`);
  }

  /**
   * Phase 3: the booted image soaks under the health check, if one is configured. The phase is
   * written first, so a restart during the soak is counted (recover) and the soak runs again from
   * its start; past the limit of interrupted soaks the trial fails without another one.
   */
  private async runHealthSoak(): Promise<UptaneError | null> {
    const check = this.options.healthCheck;
    if (check === undefined) return null;
    const trial = this.state.trial!;
    const image = this.state.slots[trial.slot]!;
    const interrupted = trial.interruptedSoaks ?? 0;
    const limit = check.maxInterruptedSoaks ?? DEFAULT_MAX_INTERRUPTED_SOAKS;
    const failed = (reason: string) => new HealthCheckError(`${image.filename} failed its health check (${reason}); rolled back to the previous image`);
    if (interrupted > limit) return failed(`${check.probe.kind} probe: the soak was cut short by ${interrupted} restarts (limit ${limit})`);
    try {
      if (trial.phase !== 'health-soak') this.persist({ ...this.state, trial: { ...trial, phase: 'health-soak' } });
      this.fault('health-soak');
      const verdict = await runHealthSoak(check, { filename: image.filename, path: this.slotPath(trial.slot) });
      return verdict.healthy ? null : failed(verdict.reason);
    } catch (err) {
      if (err instanceof PowerCut) throw err;
      // Fail closed: a soak that could not run gave no health signal.
      return failed(`the soak could not run: ${(err as Error).message}`);
    }
  }

  /**
   * Phase 4: the trial is committed (one atomic write). Returns the outcome, or the StorageError
   * to roll back for when the commit cannot be written.
   */
  private commitTrial(extra: Partial<AbState> = {}): InstallOutcome | UptaneError {
    const trial = this.state.trial!;
    const image = this.state.slots[trial.slot]!;
    try {
      this.fault('commit');
      const outcome: InstallOutcome = { filename: image.filename, status: 'installed' };
      // A verified image runs again: the integrity fault is over, and a slot whose bytes were
      // found corrupted is no fallback.
      const fault = this.state.integrityFault ?? null;
      const slots = fault !== null && fault.recovery === 'reinstall' && fault.slot === trial.previous ? { ...this.state.slots, [trial.previous]: null } : this.state.slots;
      this.persist({ ...this.state, slots, trial: null, lastInstall: outcome, integrityFault: null, ...extra });
      return outcome;
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
      // A commit that cannot be written is no commit: the previous, known-good image comes back,
      // as a bootloader falls back from a trial never marked good. (Before, the error escaped and
      // left the ECU on trial, refusing every later install until a restart.)
      return new StorageError(`${image.filename} could not be committed (${err.message}); rolled back to the previous image`, { cause: err });
    }
  }

  /** Phase 4, on failure: the previous slot becomes active again, and the outcome says why. */
  private rollBackTrial(failure: { readonly code: string; readonly message: string }, extra: Partial<AbState> = {}): InstallOutcome {
    const trial = this.state.trial!;
    const image = this.state.slots[trial.slot]!;
    try {
      this.fault('rollback');
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
      // A rollback is never abandoned (the ECU would stay on an image that failed): the write below
      // is its retry. Before, the error escaped and left the failed image active until a restart.
    }
    const outcome: InstallOutcome = { filename: image.filename, status: 'rolled_back', code: failure.code, message: failure.message };
    this.persist({ ...this.state, active: trial.previous, trial: null, lastInstall: outcome, ...extra });
    return outcome;
  }

  // Install bundles (docs/decisions.md "Install bundles"): the same phases, with the decision
  // between the health soak and the commit left to the primary, for every member at once.

  /** The install bundle whose trial this ECU holds, if any. */
  get heldBundle(): string | undefined {
    return this.state.trial?.bundle;
  }

  /**
   * Switch, boot check and health soak of the staged image for install bundle `bundleId`. Passed:
   * null, and the trial is held (a restart keeps it) until commitBundleTrial or rollBackBundle.
   * Failed: this member rolled back at once, and the outcome says why.
   */
  beginBundleTrial(bundleId: string): Promise<InstallOutcome | null> {
    return this.exclusive(async () => {
      const held = this.state.trial;
      if (held !== null) {
        if (held.bundle === bundleId && held.passed === true) return null; // asked again: the same answer
        throw new OutOfOrderError(`an install is on trial${held.bundle === undefined ? '' : ` for install bundle ${held.bundle}`}`);
      }
      if (this.state.staged === null) throw new OutOfOrderError('no verified image is staged');
      this.switchToStaged(bundleId);
      const failure = (await this.runBootCheck()) ?? (await this.runHealthSoak());
      if (failure !== null) return this.rollBackTrial(failure, { lastBundle: bundleId });
      this.persist({ ...this.state, trial: { ...this.state.trial!, passed: true } });
      return null;
    });
  }

  /**
   * The primary decided that every member of `bundleId` passed: the held trial is committed. A
   * commit that cannot be written throws StorageError and the trial stays held (the decision
   * stands; the primary commits again), unlike a lone install, which rolls back.
   */
  commitBundleTrial(bundleId: string): Promise<InstallOutcome> {
    return this.exclusive(async () => {
      const trial = this.state.trial;
      if (trial === null || trial.bundle !== bundleId) {
        const last = this.state.lastInstall;
        if (this.state.lastBundle === bundleId && last !== null && last.status === 'installed') return last; // committed already
        throw new OutOfOrderError(`no trial is held for install bundle ${bundleId}`);
      }
      if (trial.passed !== true) throw new OutOfOrderError(`the trial for install bundle ${bundleId} has not passed its checks`);
      const committed = this.commitTrial({ lastBundle: bundleId });
      if (committed instanceof UptaneError) {
        throw new StorageError(`the commit for install bundle ${bundleId} could not be written (${committed.message}); the trial stays held`, { cause: committed });
      }
      return committed;
    });
  }

  /**
   * Back to the previous image for install bundle `bundleId`: a held trial rolls back; a staged
   * image that never switched is dropped. With `reason`, that is the outcome this ECU reports (a
   * staged image's as failed, it never ran); with null, no outcome (the bundle waits and installs
   * again). Repeated after it happened, the same outcome again.
   */
  rollBackBundle(bundleId: string, reason: { readonly code: string; readonly message: string } | null): Promise<InstallOutcome | null> {
    return this.exclusive(async () => {
      const trial = this.state.trial;
      if (trial !== null) {
        if (trial.bundle !== bundleId) throw new OutOfOrderError(`the trial held here is not install bundle ${bundleId}'s`);
        if (reason !== null) return this.rollBackTrial(reason, { lastBundle: bundleId });
        try {
          this.fault('rollback');
        } catch (err) {
          if (!(err instanceof StorageError)) throw err; // never abandoned, as rollBackTrial's
        }
        this.persist({ ...this.state, active: trial.previous, trial: null });
        return null;
      }
      const staged = this.state.staged;
      if (staged !== null && reason !== null) {
        const outcome: InstallOutcome = { filename: staged.filename, status: 'failed', code: reason.code, message: reason.message };
        this.persist({ ...this.state, staged: null, lastInstall: outcome, lastBundle: bundleId });
        return outcome;
      }
      return this.state.lastBundle === bundleId ? this.state.lastInstall : null;
    });
  }

  /** Re-hashes a slot against its recorded image: a slot is only booted when it is what was verified. */
  async isIntact(slot: SlotName): Promise<boolean> {
    const image = this.state.slots[slot];
    if (image === null || !existsSync(this.slotPath(slot))) return false;
    return matchesImage(await this.measure(slot, Object.keys(image.hashes)), image);
  }

  /**
   * Length and hashes of what a slot holds, streamed in 1 MiB chunks (an image is never held
   * whole). A missing or unreadable file holds no byte that could be verified: it measures as empty.
   */
  private measure(slot: SlotName, algorithms: readonly string[]): Promise<MeasuredContent> {
    return this.measurePath(this.slotPath(slot), algorithms);
  }

  private async measurePath(path: string, algorithms: readonly string[]): Promise<MeasuredContent> {
    const hasher = new MultiHasher(algorithms);
    let length = 0;
    try {
      for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
        length += chunk.length;
        hasher.update(chunk);
      }
    } catch {
      hasher.reset();
      length = 0;
    }
    return { length, hashes: hasher.digests() };
  }

  /** True when the boot check passes; an error in it is a failed boot, as during an install. */
  private async boots(slot: SlotName): Promise<boolean> {
    try {
      return await this.bootCheck(this.state.slots[slot]!, this.slotPath(slot));
    } catch {
      return false;
    }
  }

  /**
   * The check an ECU runs at boot and before its reports (docs/threat-model.md HR-11b): verifyActive,
   * or with `ifDue` verifyActiveIfDue, for an ECU that must keep running. A recovery that could not be
   * written holds in memory (reports stay truthful) and is logged; the next boot checks again.
   */
  async checkIntegrity(
    now: Date,
    onCorrupted: (fault: IntegrityFault) => void,
    options: { readonly ifDue?: boolean; readonly log?: (line: string) => void; readonly onFactoryCorrupted?: (err: FactoryImageCorruptedError) => void } = {},
  ): Promise<IntegrityFault | null> {
    try {
      // The check at boot (not ifDue) also runs the boot check: an active slot that no longer boots falls back.
      const fallback: FallbackOptions = { ...(options.onFactoryCorrupted === undefined ? {} : { onFactoryCorrupted: options.onFactoryCorrupted }), boot: options.ifDue !== true };
      return await (options.ifDue === true ? this.verifyActiveIfDue(now, onCorrupted, fallback) : this.verifyActive(now, onCorrupted, fallback));
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
      options.log?.(`slot integrity: ${err.message}`);
      return this.state.integrityFault ?? null;
    }
  }

  /**
   * Re-verifies the active slot (below) unless this process did so less than the configured
   * interval ago by `now`. A clock that went backwards makes the check due.
   */
  verifyActiveIfDue(now: Date, onCorrupted?: (fault: IntegrityFault) => void, fallback: FallbackOptions = {}): Promise<IntegrityFault | null> {
    const interval = this.options.integrityCheckIntervalMs ?? DEFAULT_INTEGRITY_CHECK_INTERVAL_MS;
    const last = this.lastVerifiedAt;
    if (last !== undefined && now.getTime() >= last && now.getTime() - last < interval) return Promise.resolve(null);
    return this.verifyActive(now, onCorrupted, fallback);
  }

  /**
   * Re-hashes the active slot against the length and hashes recorded when its image was verified
   * (docs/threat-model.md HR-11b): what was verified at install may have changed since (flash
   * corruption, tampering). On a mismatch, `onCorrupted` is told first (the ECU records it for its
   * next report), then one atomic write recovers: the other slot becomes active if it holds a
   * verified image that still matches and boots (as a boot-check rollback), else the fault is
   * recorded as needing the assigned image again, and `installed` reports what the slot really
   * holds. A power cut before that write leaves the state as it was, and the check at the next boot
   * finds the same. Returns the new fault, or null when the slot is intact or already known corrupted.
   * A failed write throws StorageError, after making the recovery this process's state in memory,
   * so its reports stay truthful until the next boot checks again.
   */
  verifyActive(now: Date, onCorrupted?: (fault: IntegrityFault) => void, fallback: FallbackOptions = {}): Promise<IntegrityFault | null> {
    return this.exclusive(async () => {
      // Only between stage/install calls: a slot on trial is finished by recover() or install().
      if (this.state.trial !== null) return null;
      const slot = this.state.active;
      const image = this.state.slots[slot]!;
      const found = await this.measure(slot, Object.keys(image.hashes));
      this.lastVerifiedAt = now.getTime();
      const known = this.state.integrityFault ?? null;
      if (known !== null && known.recovery === 'reinstall' && known.slot === slot) {
        // Reported already and waiting for the image again: reports go on saying what the slot holds.
        if (found.length !== known.found.length || !digestsMatch(found.hashes, known.found.hashes)) this.persistOrHold({ ...this.state, integrityFault: { ...known, found } }, slot);
        return null;
      }
      if (matchesImage(found, image)) {
        if (fallback.boot === true) await this.bootFallback(fallback.onFactoryCorrupted);
        return null;
      }
      const otherSlot = other(slot);
      // A staged image never ran: only an image that was active before is a fallback, and only while it
      // still verifies and boots (a slot rolled back from keeps its image, which failed its boot check).
      const usable = this.state.staged === null && this.state.slots[otherSlot] !== null && (await this.isIntact(otherSlot)) && (await this.boots(otherSlot));
      // Neither slot holds a verified image that boots: the factory image, if it still verifies and boots.
      const factory = !usable && (await this.stageFactory(fallback.onFactoryCorrupted));
      const fault: IntegrityFault = { slot, image, found, recovery: usable || factory ? 'fallback' : 'reinstall', ...(factory ? { factory: true } : {}), detectedAt: formatExpires(now) };
      try {
        onCorrupted?.(fault);
      } catch (err) {
        // The slot state below is the durable record every report carries; the ECU's own notice of it
        // failing to write must not stop the recovery.
        if (err instanceof PowerCut) throw err;
      }
      this.persistOrHold(usable || factory ? { ...this.state, active: otherSlot, slots: { ...this.state.slots, [slot]: null }, staged: null, integrityFault: fault } : { ...this.state, integrityFault: fault }, slot);
      return fault;
    });
  }

  /**
   * Goes back to the factory image through the normal verified path (`uptane vehicle factory-reset`):
   * the recovery partition is re-verified first, then copied into the inactive slot as any image is
   * staged (hashes checked again while it streams), and installed: switch, boot check, health soak,
   * commit. A missing or corrupted factory image is refused, typed, and nothing changes.
   */
  factoryReset(): Promise<InstallOutcome> {
    return this.exclusive(async () => {
      const factory = this.state.factory ?? null;
      if (factory === null) throw new NoFactoryImageError(`this ECU (${this.directory}) was provisioned without a factory image: install an image through an update instead`);
      if (this.state.trial !== null) throw new OutOfOrderError('an install is still on trial');
      const found = await this.measurePath(this.factoryPath, Object.keys(factory.hashes));
      if (!matchesImage(found, factory)) throw factoryCorruptedError(factory, found);
      await this.stageNow(factory, createReadStream(this.factoryPath, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Buffer>);
      return this.installNow();
    });
  }

  /**
   * The last resort when neither slot holds a verified image that boots (docs/threat-model.md M21):
   * the factory image, re-verified, is staged into the inactive slot and boot-checked; true when it
   * may become active (the caller's one atomic write switches to it). A corrupted factory image is
   * reported through `onCorrupted` and never copied or booted. A power cut before the switch leaves
   * the staged copy, which the next boot's check stages again.
   */
  private async stageFactory(onCorrupted?: (err: FactoryImageCorruptedError) => void): Promise<boolean> {
    const factory = this.state.factory ?? null;
    if (factory === null) return false;
    const found = await this.measurePath(this.factoryPath, Object.keys(factory.hashes));
    if (!matchesImage(found, factory)) {
      onCorrupted?.(factoryCorruptedError(factory, found));
      return false;
    }
    try {
      await this.stageNow(factory, createReadStream(this.factoryPath, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Buffer>);
      this.fault('factory-restore');
    } catch (err) {
      // The partition changed while it was copied: it fails the hashes as any image, and is reported.
      if (err instanceof HashMismatchError || err instanceof LengthMismatchError || err instanceof DownloadLengthError) onCorrupted?.(factoryCorruptedError(factory, found));
      else if (!(err instanceof StorageError)) throw err; // a PowerCut
      return false;
    }
    return this.boots(other(this.state.active));
  }

  /**
   * At boot: an active slot that verifies but no longer boots gives way to the other slot's verified
   * image that boots, else to the factory image (one atomic write each). With nothing that boots,
   * nothing changes.
   */
  private async bootFallback(onFactoryCorrupted?: (err: FactoryImageCorruptedError) => void): Promise<void> {
    const active = this.state.active;
    if (await this.boots(active)) return;
    const fallback = other(active);
    if (this.state.staged === null && this.state.slots[fallback] !== null && (await this.isIntact(fallback)) && (await this.boots(fallback))) {
      this.persist({ ...this.state, active: fallback });
      return;
    }
    if (await this.stageFactory(onFactoryCorrupted)) this.persist({ ...this.state, active: fallback, staged: null });
  }

  /**
   * Writes a recovery from a corrupted slot. If the write fails, the recovery still becomes this
   * process's state (its reports must not go back to the recorded image) and StorageError is
   * thrown; the next boot finds the slot as the disk has it and checks again.
   */
  private persistOrHold(next: AbState, slot: SlotName): void {
    try {
      this.fault('integrity-recover');
      this.persist(next);
    } catch (err) {
      if (err instanceof PowerCut) throw err;
      this.state = next;
      throw asStorageError(err, `cannot record the recovery from the corrupted slot ${slot}`);
    }
  }

  /**
   * After a restart: a half-written slot is discarded, a staged image that no longer verifies is
   * forgotten, and a slot left on trial gets its boot check (and health soak) again: commit or roll back.
   */
  private async recover(): Promise<void> {
    for (const slot of ['a', 'b'] as const) rmSync(`${this.slotPath(slot)}.tmp`, { force: true });
    if (this.state.staged !== null && !(await this.isIntact(other(this.state.active)))) {
      this.persist({ ...this.state, staged: null });
    }
    const trial = this.state.trial;
    if (trial === null) return;
    // A bundle member's trial is the primary's to end, from its journal: all members or none.
    if (trial.bundle !== undefined) return;
    // A restart during the soak: counted, so an image that keeps resetting the ECU cannot soak forever.
    if (trial.phase === 'health-soak') this.persist({ ...this.state, trial: { ...trial, interruptedSoaks: (trial.interruptedSoaks ?? 0) + 1 } });
    await this.finishTrial();
  }
}

/**
 * The ECU version report of an ECU installing through these slots (#ecu_version_report): the image
 * in the active slot, the outcome of the last install, the attacks given, the time, the counter.
 * The caller stores the counter before the report leaves, so it can never repeat after a crash.
 */
export function signVersionReport(
  slots: AbSlots,
  ecu: { serial: string; key: PrivateKey; backend?: Ed25519Backend },
  report: { counter: number; attacks: readonly ReportedAttack[]; time: Date },
): EcuVersionReport {
  const installed = slots.installed;
  const lastInstall = slots.current.lastInstall;
  const fault = slots.current.integrityFault;
  return signEnvelope(
    {
      _type: 'ecu_version_report' as const,
      ecu_serial: ecu.serial,
      installed_image: { filename: installed.filename, length: installed.length, hashes: installed.hashes },
      attacks_detected: report.attacks.map((a) => ({ code: reportText(a.code), message: reportText(a.message) })),
      report_time: formatExpires(report.time),
      report_counter: report.counter,
      ...(lastInstall === null ? {} : { last_install: reportOutcome(lastInstall) }),
      ...(fault === undefined || fault === null ? {} : { integrity_fault: integrityFaultReport(fault) }),
    },
    ecu.key,
    ecu.backend,
  );
}

/**
 * An error text as a report may carry it: the Director refuses control characters in a manifest
 * (shared/uptane/manifest.ts), and an error message may quote what a repository sent (a newline in a
 * target's custom field, say), so they are written escaped; then cut to the manifest's limit, never
 * inside a surrogate pair (a lone surrogate has no canonical form).
 */
function reportText(text: string): string {
  const escaped = escapeTerminalText(text);
  if (escaped.length <= MANIFEST_LIMITS.maxTextLength) return escaped;
  const cut = escaped.slice(0, MANIFEST_LIMITS.maxTextLength);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

function reportOutcome(outcome: InstallOutcome): InstallOutcome {
  return {
    ...outcome,
    ...(outcome.code === undefined ? {} : { code: reportText(outcome.code) }),
    ...(outcome.message === undefined ? {} : { message: reportText(outcome.message) }),
  };
}

function integrityFaultReport(fault: IntegrityFault): IntegrityFaultReport {
  const { filename, length, hashes } = fault.image;
  return { image: { filename, length, hashes }, recovery: fault.recovery, detected_at: fault.detectedAt };
}

/** The recovery partition's file in an ECU's slot folder. */
export const FACTORY_FILE = 'factory.img';

/** Options of the fallback at an integrity check: a boot-time check also runs the boot check. */
interface FallbackOptions {
  readonly boot?: boolean;
  readonly onFactoryCorrupted?: (err: FactoryImageCorruptedError) => void;
}

function factoryCorruptedError(factory: SlotImage, found: MeasuredContent): FactoryImageCorruptedError {
  return new FactoryImageCorruptedError(`the factory image ${factory.filename} in the recovery partition no longer matches its recorded ${factory.length} bytes' hashes (it holds ${found.length} bytes that do not): it is not used`);
}

function matchesImage(found: MeasuredContent, image: SlotImage): boolean {
  return found.length === image.length && digestsMatch(found.hashes, image.hashes);
}

/** The typed error an ECU records (and reports among its detected attacks) for a corrupted slot. */
export function slotIntegrityError(fault: IntegrityFault): SlotIntegrityError {
  const recovery =
    fault.recovery === 'fallback'
      ? fault.factory === true
        ? `no verified image that boots was left in the other slot: the factory image, re-verified, was copied into slot ${other(fault.slot)} and runs`
        : `switched to slot ${other(fault.slot)}, which holds a verified image`
      : 'no verified image is left in the other slot: the image must be installed again';
  return new SlotIntegrityError(`active slot ${fault.slot} no longer holds ${fault.image.filename} as verified at install (it holds ${fault.found.length} bytes that do not match the verified ${fault.image.length} bytes' hashes); ${recovery}`);
}
