// The Director's answer to an ECU that reports the image it installed lost to a corrupted slot
// (docs/threat-model.md HR-11b): the ECU fell back to its other slot, or runs unverified bytes, and
// the image the Director last had installed there is assigned to it again, so the vehicle's next
// cycle delivers it. Called inside the transaction that records the manifest.
import type { EcuVersionReportSigned } from '../shared/uptane/manifest.js';
import type { DirectorStorage, EcuRecord } from './storage.js';

/** Who the audit log and the assignment name as having made a re-delivery. */
export const REDELIVERY_ACTOR = 'director:slot-integrity';

/** How many of the vehicle's latest assignments are searched for the ECU's last one. */
const RECENT_ASSIGNMENTS = 200;

/**
 * Assigns again the image of `ecu`'s last assignment when its report says that image, installed,
 * was found corrupted, and the ECU no longer runs it. Only an installed assignment is renewed: a
 * re-delivery that failed is not retried in a loop (the operator decides), and an active assignment
 * is delivered anyway. Returns true when it assigned.
 */
export function redeliverLostImage(storage: DirectorStorage, ecu: EcuRecord, report: EcuVersionReportSigned, now: Date): boolean {
  const fault = report.integrity_fault;
  if (fault === undefined) return false;
  const last = storage.assignmentsOf(ecu.vin, RECENT_ASSIGNMENTS).find((a) => a.ecuSerial === ecu.serial);
  if (last === undefined || last.state !== 'installed') return false;
  if (last.filename !== fault.image.filename || last.hashes.sha256 !== fault.image.hashes.sha256) return false;
  const runs = report.installed_image;
  if (runs.filename === last.filename && runs.hashes.sha256 === last.hashes.sha256) return false;
  const { vin, ecuSerial, filename, length, hashes, hardwareId, releaseCounter } = last;
  const id = storage.insertAssignment({ vin, ecuSerial, filename, length, hashes, hardwareId, releaseCounter }, REDELIVERY_ACTOR, now);
  const reason = `re-delivery: ECU ${ecuSerial} found ${filename} corrupted in its active slot at ${fault.detected_at} (${fault.recovery === 'fallback' ? 'fell back to its other slot' : 'no verified image left'})`;
  storage.setAssignmentState(id, 'pending', reason, now);
  storage.audit(REDELIVERY_ACTOR, 'redeliver', { id, vin, ecuSerial, image: filename, replaces: last.id, recovery: fault.recovery }, now);
  return true;
}
