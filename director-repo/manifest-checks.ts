// The Director's checks of a vehicle version manifest against the inventory, pure: the parsed
// manifest, the authenticated VIN, the vehicle's ECU records, what its signatures verify under
// (manifest-signatures.ts: here and now, or from a worker thread) and a reference time in; the
// verified reports out, or a typed error naming the first problem (docs/uptane-conformance.md 2,
// steps 3 and 4; docs/uptane-conformance.md 4).
import {
  ManifestInventoryError,
  ManifestSignatureError,
  ReplayedReportError,
  ReportTimeError,
} from '../shared/core/errors.js';
import type { EcuVersionReportSigned, VehicleVersionManifest } from '../shared/uptane/manifest.js';
import type { ManifestSignatures } from './manifest-signatures.js';
import type { EcuRecord } from './store/inventory.js';

export interface ManifestCheckConfig {
  /** How far in the future a report time may be (clock skew). */
  readonly maxFutureSkewMs: number;
  /** How old a report time may be: an ECU reports the latest time it could verify. */
  readonly maxReportAgeMs: number;
}

export const DEFAULT_MANIFEST_CHECK_CONFIG: ManifestCheckConfig = {
  maxFutureSkewMs: 5 * 60 * 1000,
  maxReportAgeMs: 7 * 24 * 60 * 60 * 1000,
};

export interface VerifiedReport {
  readonly ecu: EcuRecord;
  readonly report: EcuVersionReportSigned;
}

export function checkManifest(
  manifest: VehicleVersionManifest,
  vin: string,
  ecus: readonly EcuRecord[],
  now: Date,
  signatures: ManifestSignatures,
  config: ManifestCheckConfig = DEFAULT_MANIFEST_CHECK_CONFIG,
): VerifiedReport[] {
  const ctx = { repository: 'director', role: 'vehicle_version_manifest' };
  const { signed } = manifest;
  // Step 1: identify the vehicle. The VIN comes from the authenticated key; the body must agree.
  if (signed.vin !== vin) throw new ManifestInventoryError(`manifest names VIN ${signed.vin}, but the request was signed by ${vin}'s primary`, ctx);
  const primary = ecus.find((e) => e.isPrimary);
  if (primary === undefined || signed.primary_ecu_serial !== primary.serial) {
    throw new ManifestInventoryError(`manifest names primary ${signed.primary_ecu_serial}, the inventory ${primary?.serial ?? 'none'}`, ctx);
  }
  // Step 3: the manifest is signed by the primary's registered key.
  if (!signatures.manifestSignedBy(primary.publicKey)) {
    throw new ManifestSignatureError(`manifest is not signed by primary ${primary.serial}'s registered key`, ctx);
  }
  // Step 3: every ECU in the inventory is reported, and no other.
  const reported = new Set(Object.keys(signed.ecu_version_reports));
  for (const ecu of ecus) {
    if (!reported.has(ecu.serial)) throw new ManifestInventoryError(`manifest has no version report for ECU ${ecu.serial}`, ctx);
  }
  const known = new Map(ecus.map((e) => [e.serial, e]));
  for (const serial of reported) {
    if (!known.has(serial)) throw new ManifestInventoryError(`manifest reports ECU ${serial}, which is not registered to ${vin}`, ctx);
  }
  return ecus.map((ecu) => {
    const envelope = signed.ecu_version_reports[ecu.serial]!;
    const report = envelope.signed;
    // Step 3: each report is signed by its own ECU's key (a report signed by another ECU is refused),
  // verified with the scheme of the key registered for it (Ed25519 or ECDSA): a signature of another
  // type, or by another key of the same ECU, never counts.
    if (!signatures.reportSignedBy(ecu.serial, ecu.publicKey)) {
      throw new ManifestSignatureError(`version report of ECU ${ecu.serial} is not signed by its registered key`, { ...ctx, role: ecu.serial });
    }
    // Step 4: a counter is never used twice (replay).
    if (ecu.lastCounter !== null && report.report_counter <= ecu.lastCounter) {
      throw new ReplayedReportError(`ECU ${ecu.serial} report counter ${report.report_counter} was already used (last ${ecu.lastCounter})`, ctx);
    }
    // Step 3 (2.1.0): the report time is plausible.
    const time = Date.parse(report.report_time);
    if (time > now.getTime() + config.maxFutureSkewMs || time < now.getTime() - config.maxReportAgeMs) {
      throw new ReportTimeError(`ECU ${ecu.serial} report time ${report.report_time} is implausible`, ctx);
    }
    return { ecu, report };
  });
}
