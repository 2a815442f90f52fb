// Manifest intake: checks a vehicle version manifest (docs/uptane-conformance.md 2, steps 1-4)
// against the vehicle's state and works out what it changes; the store records it in one unit of
// work (store/manifests.ts, ManifestIntake). A refused manifest is kept with its reason, and
// nothing else changes. Its signatures are verified first, off the event loop when there are worker
// threads (manifest-verification.ts), and the judge is handed the verdicts.
import type { Clock } from '../../shared/core/clock.js';
import { UptaneError } from '../../shared/core/errors.js';
import { parseVehicleVersionManifest, type VehicleVersionManifest } from '../../shared/uptane/manifest.js';
import { checkManifest, DEFAULT_MANIFEST_CHECK_CONFIG, type ManifestCheckConfig } from '../manifest-checks.js';
import { lostImageRedelivery, RECENT_ASSIGNMENTS } from '../slot-redelivery.js';
import type { DirectorStore } from '../store/director-store.js';
import type { AcceptedManifest, IntakeAssignment, IntakeState, IntakeVerdict } from '../store/manifests.js';
import type { SignatureVerdicts } from '../manifest-signatures.js';
import { ManifestVerification } from './manifest-verification.js';

type Outcome = { accepted: true; assignmentsChanged: number } | { rejected: UptaneError };

/** What onVerdict listeners are told about one judged manifest. */
export type ManifestVerdict = { readonly accepted: true; readonly attackCodes: readonly string[] } | { readonly refused: string };

/** Which vehicle a verdict is about, and the assignment states an accepted manifest changed (the dashboard's live events). */
export interface VerdictContext {
  readonly vin: string;
  readonly assignmentStates: ReadonlyArray<{ readonly id: number; readonly state: string }>;
}

export class ManifestIntakeService {
  /** Listeners told (after the manifest's commit) that a vehicle's manifest was accepted. */
  private readonly listeners: Array<(vin: string) => Promise<void>> = [];
  /** Listeners told each verdict, accepted or refused (the metrics). */
  private readonly verdictListeners: Array<(verdict: ManifestVerdict, context: VerdictContext) => void> = [];

  constructor(
    private readonly store: DirectorStore,
    private readonly clock: Clock,
    private readonly checks: ManifestCheckConfig = DEFAULT_MANIFEST_CHECK_CONFIG,
    /** Where signatures are verified: worker threads by default when there is more than one core. */
    readonly verification: ManifestVerification = new ManifestVerification(store),
  ) {}

  /** Ends the verification threads, for the server to call when it closes (idle threads never hold a process open). */
  close(): Promise<void> {
    return this.verification.close();
  }

  onManifestAccepted(listener: (vin: string) => Promise<void>): void {
    this.listeners.push(listener);
  }

  /**
   * Told each verdict once it is durable: the refusal's code, or the attack codes an accepted
   * manifest reported (the Director's metrics count them). Synchronous and never throws: it counts.
   */
  onVerdict(listener: (verdict: ManifestVerdict, context: VerdictContext) => void): void {
    this.verdictListeners.push(listener);
  }

  /**
   * Checks a vehicle version manifest and records it: accepted, with installed images, counters,
   * attacks and assignment outcomes; or rejected, with the reason, and nothing else changed.
   * Resolves once this manifest's outcome is durable.
   */
  async receiveManifest(vin: string, body: Uint8Array): Promise<{ accepted: true; assignmentsChanged: number }> {
    let parsed: VehicleVersionManifest | UptaneError;
    try {
      parsed = parseVehicleVersionManifest(body, { repository: 'director' });
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      parsed = err;
    }
    const manifest = parsed;
    // Verified before the unit of work, which runs the judge synchronously: a full pool or a lost
    // thread throws here, with nothing judged or written. One that did not parse only takes its turn.
    const verdicts = await this.verification.verifyAhead(vin, manifest instanceof UptaneError ? undefined : body);
    // Slot re-delivery looks for an ECU's last assignment: read only for a manifest that needs it.
    // The unit of work may run the judge more than once (a retried transaction): the last run's codes count.
    let attackCodes: string[] = [];
    let assignmentStates: VerdictContext['assignmentStates'] = [];
    const faults = !(manifest instanceof UptaneError) && Object.values(manifest.signed.ecu_version_reports).some((r) => r.signed.integrity_fault !== undefined);
    const outcome = await this.store.intake.receive(vin, body, faults ? RECENT_ASSIGNMENTS : 0, (state): IntakeVerdict<Outcome> => {
      // Judged inside the unit of work, after any earlier manifest of the vehicle: its counters count.
      const at = this.clock.now();
      try {
        if (manifest instanceof UptaneError) throw manifest;
        const { accepted, changed } = this.judge(vin, manifest, body, state, at, verdicts);
        attackCodes = accepted.attacks.map((a) => a.code);
        assignmentStates = accepted.assignmentStates.map(({ id, state }) => ({ id, state }));
        return { at, accepted, result: { accepted: true, assignmentsChanged: changed } };
      } catch (err) {
        if (!(err instanceof UptaneError)) throw err;
        // Rejected manifests are kept with their reason (issue 4), apart from the accepted history,
        // capped, and with a digest and an excerpt of the body rather than the body
        // (docs/threat-model.md HR-4).
        return { at, refused: { code: err.code, message: err.message }, result: { rejected: err } };
      }
    });
    const context: VerdictContext = { vin, assignmentStates: 'rejected' in outcome ? [] : assignmentStates };
    for (const listener of this.verdictListeners) listener('rejected' in outcome ? { refused: outcome.rejected.code } : { accepted: true, attackCodes }, context);
    if ('rejected' in outcome) throw outcome.rejected;
    // After the commit: what listens (the campaign engine) can never undo an acknowledged manifest.
    for (const listener of this.listeners) await listener(vin);
    return outcome;
  }

  /** What an accepted manifest changes; throws a typed error to refuse it. */
  private judge(
    vin: string,
    manifest: VehicleVersionManifest,
    body: Uint8Array,
    state: IntakeState,
    now: Date,
    verdicts: SignatureVerdicts | undefined,
  ): { accepted: AcceptedManifest; changed: number } {
    // Against the keys stored now: a verdict made under another key (an ECU replaced since) is redone.
    const signatures = this.verification.signatures(vin, manifest, state.ecus, verdicts);
    const reports = checkManifest(manifest, vin, state.ecus, now, signatures, this.checks);
    const ecuReports: Array<AcceptedManifest['ecuReports'][number]> = [];
    const attacks: Array<AcceptedManifest['attacks'][number]> = [];
    const assignmentStates: Array<AcceptedManifest['assignmentStates'][number]> = [];
    const newAssignments: IntakeAssignment[] = [];
    // Whether this manifest tells anything new: its body is then kept as signed evidence.
    let news = false;
    for (const { ecu, report } of reports) {
      const image = report.installed_image;
      const assignment = state.active.find((a) => a.ecuSerial === ecu.serial);
      const installsAssignment = assignment !== undefined && assignment.filename === image.filename && assignment.hashes.sha256 === image.hashes.sha256;
      const sameAsBefore = ecu.installed !== null && ecu.installed.filename === image.filename && ecu.installed.hashes.sha256 === image.hashes.sha256;
      if (!sameAsBefore || report.attacks_detected.length > 0) news = true;
      const releaseCounter = installsAssignment ? assignment.releaseCounter : sameAsBefore ? ecu.installed!.releaseCounter : null;
      ecuReports.push({ serial: ecu.serial, report: { counter: report.report_counter, filename: image.filename, length: image.length, hashes: image.hashes, releaseCounter } });
      for (const attack of report.attacks_detected) attacks.push({ ecuSerial: ecu.serial, code: attack.code, message: attack.message });
      if (assignment === undefined) {
        // An ECU that lost its installed image to a corrupted slot gets it again (docs/threat-model.md HR-11b).
        const redelivery = lostImageRedelivery(state.recent, ecu, report);
        if (redelivery !== undefined) newAssignments.push(redelivery);
        continue;
      }
      if (installsAssignment) {
        assignmentStates.push({ id: assignment.id, state: 'installed', reason: null });
      } else if (report.last_install?.filename === assignment.filename && report.last_install.status !== 'installed') {
        const reason = [report.last_install.status, report.last_install.code, report.last_install.message].filter(Boolean).join(': ');
        assignmentStates.push({ id: assignment.id, state: 'failed', reason });
      }
    }
    const changed = assignmentStates.length + newAssignments.length;
    return {
      changed,
      accepted: {
        ecuReports,
        attacks,
        assignmentStates,
        newAssignments,
        // A vehicle reports every cycle, mostly that nothing changed: those are recorded without
        // their body, which kept each commit several pages smaller (bench figure 1). What the body
        // said is in the ECU records (counters, installed images) either way.
        evidence: news || changed > 0 ? body : null,
        vehicleState: manifest.signed.vehicle_state ?? null,
        metadataStale: changed > 0,
      },
    };
  }
}
