// The Director's answer to an ECU that reports the image it installed lost to a corrupted slot
// (docs/threat-model.md HR-11b): the ECU fell back to its other slot, or runs unverified bytes, and
// the image the Director last had installed there is assigned to it again, so the vehicle's next
// cycle delivers it. Decided while the manifest is judged; the store writes it with the manifest.
import type { EcuVersionReportSigned } from '../shared/uptane/manifest.js';
import type { AssignmentRecord } from './store/assignments.js';
import type { EcuRecord } from './store/inventory.js';
import type { IntakeAssignment } from './store/manifests.js';

/** Who the audit log and the assignment name as having made a re-delivery. */
export const REDELIVERY_ACTOR = 'director:slot-integrity';

/** How many of the vehicle's latest assignments are searched for the ECU's last one. */
export const RECENT_ASSIGNMENTS = 200;

/**
 * The image of `ecu`'s last assignment (found among the vehicle's `recent` assignments, newest
 * first), to assign again when its report says that image, installed, was found corrupted, and the
 * ECU no longer runs it; undefined otherwise. Only an installed assignment is renewed: a
 * re-delivery that failed is not retried in a loop (the operator decides), and an active assignment
 * is delivered anyway.
 */
export function lostImageRedelivery(recent: readonly AssignmentRecord[], ecu: EcuRecord, report: EcuVersionReportSigned): IntakeAssignment | undefined {
  const fault = report.integrity_fault;
  if (fault === undefined) return undefined;
  const last = recent.find((a) => a.ecuSerial === ecu.serial);
  if (last === undefined || last.state !== 'installed') return undefined;
  if (last.filename !== fault.image.filename || last.hashes.sha256 !== fault.image.hashes.sha256) return undefined;
  const runs = report.installed_image;
  if (runs.filename === last.filename && runs.hashes.sha256 === last.hashes.sha256) return undefined;
  const { vin, ecuSerial, filename, length, hashes, hardwareId, releaseCounter, encryption } = last;
  return {
    // An encrypted image goes again as it went: the same ciphertext, the key wrapped for the same ECU.
    assignment: { vin, ecuSerial, filename, length, hashes, hardwareId, releaseCounter, ...(encryption === undefined || encryption === null ? {} : { encryption }) },
    reason: `re-delivery: ECU ${ecuSerial} found ${filename} corrupted in its active slot at ${fault.detected_at} (${fault.recovery === 'fallback' ? 'fell back to its other slot' : 'no verified image left'})`,
    actor: REDELIVERY_ACTOR,
    action: 'redeliver',
    details: { vin, ecuSerial, image: filename, replaces: last.id, recovery: fault.recovery },
  };
}
