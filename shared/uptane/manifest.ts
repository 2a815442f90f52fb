// ECU version reports and vehicle version manifests (docs/uptane-conformance.md 4): what each
// ECU signs about itself every cycle, and what the primary signs for the whole vehicle. Shared
// because ECUs build them and the Director checks them. Same envelope as metadata:
// {"signed": {...}, "signatures": [{"keyid", "sig"}]}, signatures over the canonical bytes of signed.
import { canonicalBytes, canonicalJson, canonicalJsonReusing } from '../core/canonical.js';
import type { Ed25519Backend } from '../core/crypto/ed25519.js';
import type { PrivateKey, PublicKey } from '../core/crypto/keys.js';
import { MalformedMetadataError, UnmetThresholdError, type ErrorContext } from '../core/errors.js';
import { parseExpires, parseJsonBytes } from '../core/metadata/parse.js';
import { checkTargetName } from '../core/metadata/paths.js';
import { escapeTerminalText } from '../util/terminal-text.js';

/**
 * Limits on what a manifest may hold: it is untrusted input to the Director
 * (docs/threat-model.md H5, H6).
 */
export const MANIFEST_LIMITS = {
  maxBytes: 1_000_000,
  maxEcus: 64,
  maxAttacks: 16,
  maxTextLength: 1024,
  /** One ECU version report: one at its other limits (16 attacks of 1024-character texts) is about 36 KB. */
  maxReportBytes: 65_536,
} as const;

/** One detected attack or verification failure, as the ECU reports it (`attacks_detected`). */
export interface ReportedAttack {
  readonly code: string;
  readonly message: string;
}

/** The outcome of the ECU's last installation attempt, so the Director can tell failure from delay. */
export interface InstallOutcome {
  readonly filename: string;
  readonly status: 'installed' | 'failed' | 'rolled_back';
  readonly code?: string;
  readonly message?: string;
}

export interface InstalledImage {
  readonly filename: string;
  readonly length: number;
  readonly hashes: Readonly<Record<string, string>>;
}

/**
 * The ECU found the image it installed no longer intact in its active slot: the slot's bytes stopped
 * matching the length and hashes recorded at install (docs/threat-model.md HR-11b). Reported until
 * the ECU next commits an install, so the Director can re-deliver the image the ECU lost.
 */
export interface IntegrityFaultReport {
  /** The image as recorded (and verified) at install, which the slot no longer holds. */
  readonly image: InstalledImage;
  /**
   * `fallback`: the ECU switched back to the verified image of its other slot (installed_image);
   * `reinstall`: no verified image was left, installed_image gives what the slot holds as measured,
   * and the ECU needs its assigned image again.
   */
  readonly recovery: 'fallback' | 'reinstall';
  readonly detected_at: string;
}

export interface EcuVersionReportSigned {
  readonly _type: 'ecu_version_report';
  readonly ecu_serial: string;
  readonly installed_image: InstalledImage;
  /** Attacks detected since the last report; empty when none (#ecu_version_report). */
  readonly attacks_detected: readonly ReportedAttack[];
  /** The latest time the ECU could verify when it wrote the report. */
  readonly report_time: string;
  /** Changes every cycle; the Director refuses a counter it has seen (replay). */
  readonly report_counter: number;
  readonly last_install?: InstallOutcome;
  /** Absent in reports of ECUs that found nothing (and of ECUs older than this field). */
  readonly integrity_fault?: IntegrityFaultReport;
}

export interface SignedEnvelopeOf<T> {
  readonly signed: T;
  readonly signatures: ReadonlyArray<{ readonly keyid: string; readonly sig: string }>;
}

export type EcuVersionReport = SignedEnvelopeOf<EcuVersionReportSigned>;

export interface VehicleVersionManifestSigned {
  readonly _type: 'vehicle_version_manifest';
  readonly vin: string;
  readonly primary_ecu_serial: string;
  /** ECU serial -> that ECU's own signed version report (the primary's included). */
  readonly ecu_version_reports: Readonly<Record<string, EcuVersionReport>>;
  /** parked or driving when the manifest was made: lets operators tell a deferred install from a stuck one. */
  readonly vehicle_state?: 'parked' | 'driving';
}

export type VehicleVersionManifest = SignedEnvelopeOf<VehicleVersionManifestSigned>;

export function signEnvelope<T extends object>(signed: T, key: PrivateKey, backend?: Ed25519Backend): SignedEnvelopeOf<T> {
  return { signed, signatures: [{ keyid: key.keyid, sig: key.sign(canonicalBytes(signed), backend) }] };
}

/**
 * True if `key` produced one of the envelope's signatures over its canonical `signed` bytes (pass
 * them as `signedBytes` when they are already at hand).
 */
export function isSignedBy(envelope: SignedEnvelopeOf<unknown>, key: PublicKey, backend: Ed25519Backend, signedBytes?: Uint8Array): boolean {
  const bytes = signedBytes ?? canonicalBytes(envelope.signed);
  return envelope.signatures.some((s) => s.keyid === key.keyid && key.verify(bytes, s.sig, backend));
}

/**
 * The bytes each signature of a manifest covers: the canonical `signed` of the manifest and of each
 * version report (by ECU serial). The manifest's covers the reports, each also signed on its own, so
 * each report is canonicalized once and its text reused in the manifest's (bench figure 1: a tenth
 * of the Director's intake went to serializing the reports twice).
 */
export function manifestSignedBytes(manifest: VehicleVersionManifest): { manifest: Buffer; reports: Map<string, Buffer> } {
  const reportTexts = new Map<object, string>();
  const reports = new Map<string, Buffer>();
  for (const [serial, envelope] of Object.entries(manifest.signed.ecu_version_reports)) {
    const text = canonicalJson(envelope.signed);
    reports.set(serial, Buffer.from(text, 'utf8'));
    reportTexts.set(envelope, canonicalJsonReusing(envelope, new Map([[envelope.signed, text]])));
  }
  return { manifest: Buffer.from(canonicalJsonReusing(manifest.signed, reportTexts), 'utf8'), reports };
}

export function verifySignedBy(envelope: SignedEnvelopeOf<unknown>, key: PublicKey, backend: Ed25519Backend, context: ErrorContext): void {
  if (!isSignedBy(envelope, key, backend)) {
    throw new UnmetThresholdError(`${context.role ?? 'document'} is not signed by the registered key ${key.keyid}`, context);
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing: untrusted bytes to typed, bounded objects.

type Json = Record<string, unknown>;

class ManifestFields {
  constructor(private readonly context: ErrorContext) {}

  fail(path: string, what: string): never {
    // The path may name a key the vehicle chose: the message is stored and shown, so it is escaped
    // (and cut: a key is bounded only by the report's size).
    const shown = escapeTerminalText(path);
    throw new MalformedMetadataError(`${shown.length > 200 ? `${shown.slice(0, 200)}...` : shown}: ${what}`, this.context);
  }

  /**
   * Canonical JSON (OLPC) signs strings with control characters as they are, so a signature no
   * longer keeps them out. A manifest's texts end up in the Director's records (refusal reasons,
   * reported attacks, failed assignments), its API answers, operator terminals and log lines, where
   * a newline forges a line and an escape sequence steers a terminal (docs/threat-model.md HR-6b).
   * No ECU has a reason to send one (signVersionReport escapes its own messages), so any C0 or C1
   * control, DEL, line or paragraph separator or bidi control refuses the manifest.
   */
  plain(value: string, path: string): string {
    if (escapeTerminalText(value) !== value) this.fail(path, 'holds a control character (C0, DEL, C1, line separator or bidi control): refused, as it would reach logs and terminals');
    return value;
  }

  object(value: unknown, path: string): Json {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, 'must be an object');
    return value as Json;
  }

  text(value: unknown, path: string, { allowEmpty = false } = {}): string {
    if (typeof value !== 'string') this.fail(path, 'must be a string');
    if (!allowEmpty && value.length === 0) this.fail(path, 'must not be empty');
    if (value.length > MANIFEST_LIMITS.maxTextLength) this.fail(path, `longer than ${MANIFEST_LIMITS.maxTextLength} characters`);
    return this.plain(value, path);
  }

  integer(value: unknown, path: string): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) this.fail(path, 'must be an integer >= 0');
    return value;
  }

  signatures(value: unknown, path: string): void {
    if (!Array.isArray(value) || value.length === 0 || value.length > 8) this.fail(path, 'must be a list of 1 to 8 signatures');
    value.forEach((s, i) => {
      const sig = this.object(s, `${path}[${i}]`);
      this.text(sig.keyid, `${path}[${i}].keyid`);
      this.text(sig.sig, `${path}[${i}].sig`);
    });
  }
}

function checkImage(f: ManifestFields, value: unknown, path: string, context: ErrorContext): void {
  const image = f.object(value, path);
  checkTargetName(f.text(image.filename, `${path}.filename`), context);
  f.integer(image.length, `${path}.length`);
  const hashes = f.object(image.hashes, `${path}.hashes`);
  if (Object.keys(hashes).length === 0) f.fail(`${path}.hashes`, 'must list a hash');
  for (const [name, hex] of Object.entries(hashes)) {
    f.plain(name, `${path}.hashes (an algorithm name)`);
    f.text(hex, `${path}.hashes.${name}`);
  }
}

function checkTime(f: ManifestFields, value: unknown, path: string): void {
  try {
    parseExpires(f.text(value, path));
  } catch (err) {
    if (err instanceof MalformedMetadataError) f.fail(path, 'must be a YYYY-MM-DDTHH:MM:SSZ time');
    throw err;
  }
}

function checkEcuVersionReport(f: ManifestFields, value: unknown, path: string, context: ErrorContext): EcuVersionReport {
  const envelope = f.object(value, path);
  f.signatures(envelope.signatures, `${path}.signatures`);
  const signed = f.object(envelope.signed, `${path}.signed`);
  if (signed._type !== 'ecu_version_report') f.fail(`${path}.signed._type`, 'must be "ecu_version_report"');
  f.text(signed.ecu_serial, `${path}.signed.ecu_serial`);
  checkImage(f, signed.installed_image, `${path}.signed.installed_image`, context);
  const attacks = signed.attacks_detected;
  if (!Array.isArray(attacks) || attacks.length > MANIFEST_LIMITS.maxAttacks) {
    f.fail(`${path}.signed.attacks_detected`, `must be a list of at most ${MANIFEST_LIMITS.maxAttacks} entries`);
  }
  attacks.forEach((a, i) => {
    const attack = f.object(a, `${path}.signed.attacks_detected[${i}]`);
    f.text(attack.code, `${path}.signed.attacks_detected[${i}].code`);
    f.text(attack.message, `${path}.signed.attacks_detected[${i}].message`, { allowEmpty: true });
  });
  checkTime(f, signed.report_time, `${path}.signed.report_time`);
  f.integer(signed.report_counter, `${path}.signed.report_counter`);
  if (signed.last_install !== undefined) {
    const outcome = f.object(signed.last_install, `${path}.signed.last_install`);
    f.text(outcome.filename, `${path}.signed.last_install.filename`);
    if (!['installed', 'failed', 'rolled_back'].includes(outcome.status as string)) {
      f.fail(`${path}.signed.last_install.status`, 'must be installed, failed or rolled_back');
    }
    if (outcome.code !== undefined) f.text(outcome.code, `${path}.signed.last_install.code`);
    if (outcome.message !== undefined) f.text(outcome.message, `${path}.signed.last_install.message`, { allowEmpty: true });
  }
  if (signed.integrity_fault !== undefined) {
    const fault = f.object(signed.integrity_fault, `${path}.signed.integrity_fault`);
    checkImage(f, fault.image, `${path}.signed.integrity_fault.image`, context);
    if (fault.recovery !== 'fallback' && fault.recovery !== 'reinstall') f.fail(`${path}.signed.integrity_fault.recovery`, 'must be fallback or reinstall');
    checkTime(f, fault.detected_at, `${path}.signed.integrity_fault.detected_at`);
  }
  return envelope as unknown as EcuVersionReport;
}

/**
 * Checks one ECU version report from untrusted input (what a secondary hands the primary) with the
 * bounds it must keep inside a manifest, so a corrupt or flooded report is refused on its own (H5)
 * instead of crashing the primary or making the whole manifest too large for the Director.
 */
export function parseEcuVersionReport(value: unknown, context: ErrorContext = {}): EcuVersionReport {
  const ctx = { ...context, role: context.role ?? 'ecu_version_report' };
  const f: ManifestFields = new ManifestFields(ctx);
  let size: number;
  try {
    size = Buffer.byteLength(JSON.stringify(value) ?? '');
  } catch (err) {
    if (!(err instanceof TypeError)) throw err; // a cycle or a BigInt: not JSON
    f.fail('version_report', 'is not JSON');
  }
  if (size > MANIFEST_LIMITS.maxReportBytes) f.fail('version_report', `larger than ${MANIFEST_LIMITS.maxReportBytes} bytes`);
  return checkEcuVersionReport(f, value, 'version_report', ctx);
}

/** Parses a vehicle version manifest from untrusted bytes, bounded in size and counts. */
export function parseVehicleVersionManifest(raw: Uint8Array, context: ErrorContext = {}): VehicleVersionManifest {
  const ctx = { ...context, role: 'vehicle_version_manifest' };
  const f = new ManifestFields(ctx);
  if (raw.length > MANIFEST_LIMITS.maxBytes) f.fail('$', `larger than ${MANIFEST_LIMITS.maxBytes} bytes`);
  const envelope = f.object(parseJsonBytes(raw, ctx), '$');
  f.signatures(envelope.signatures, 'signatures');
  const signed = f.object(envelope.signed, 'signed');
  if (signed._type !== 'vehicle_version_manifest') f.fail('signed._type', 'must be "vehicle_version_manifest"');
  f.text(signed.vin, 'signed.vin');
  f.text(signed.primary_ecu_serial, 'signed.primary_ecu_serial');
  if (signed.vehicle_state !== undefined && signed.vehicle_state !== 'parked' && signed.vehicle_state !== 'driving') {
    f.fail('signed.vehicle_state', 'must be parked or driving');
  }
  const reports = f.object(signed.ecu_version_reports, 'signed.ecu_version_reports');
  const serials = Object.keys(reports);
  if (serials.length === 0 || serials.length > MANIFEST_LIMITS.maxEcus) {
    f.fail('signed.ecu_version_reports', `must hold 1 to ${MANIFEST_LIMITS.maxEcus} reports`);
  }
  for (const serial of serials) {
    f.plain(serial, `signed.ecu_version_reports.${serial}`);
    const report = checkEcuVersionReport(f, reports[serial], `signed.ecu_version_reports.${serial}`, ctx);
    // A report filed under another ECU's serial is a report of the wrong ECU (H-group).
    if (report.signed.ecu_serial !== serial) f.fail(`signed.ecu_version_reports.${serial}`, `holds the report of ECU ${report.signed.ecu_serial}`);
  }
  return envelope as unknown as VehicleVersionManifest;
}
