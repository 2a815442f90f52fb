// The ECU's half of tiered security profiles (docs/security-profiles.md): an ECU refuses an image
// whose Image repository target names a higher minimum profile than its own, and a vehicle is not
// provisioned with an ECU that claims a profile its configuration does not meet. The Director refuses
// the same assignment first; this check is what still holds when the Director is compromised.
import { StorageError } from '../core/errors.js';
import type { TargetFile } from '../core/metadata/types.js';
import { DEFAULT_SECURITY_PROFILE, isSecurityProfile, minimumProfileOf, PROFILE_REQUIREMENTS, requireProfileAllows, SECURITY_PROFILES, type SecurityProfile } from '../core/security-profile.js';
import type { EcuTarget } from './uptane-checks.js';

/**
 * SecurityProfileTooLowError unless an ECU of `profile` may install `t`. The minimum is read from
 * the Image repository's target (`imageTarget`, found for `t` by #full_verification step 10), never
 * from the Director's: a compromised Director could simply leave the field out of its own targets.
 */
export function checkImageAllowedForProfile(t: Pick<EcuTarget, 'ecuSerial' | 'filename'>, imageTarget: TargetFile, profile: SecurityProfile): void {
  requireProfileAllows(profile, minimumProfileOf(imageTarget.custom, `image targets ${t.filename}: custom`), t.filename, t.ecuSerial);
}

/**
 * The profile an ECU's stored config names: DEFAULT_SECURITY_PROFILE for a config written before
 * profiles existed (as the Director takes an ECU registered then), and a StorageError for a value that
 * names no profile: guessing one would let a damaged file lower what the ECU refuses.
 */
export function storedEcuProfile(value: unknown, where: string): SecurityProfile {
  if (value === undefined) return DEFAULT_SECURITY_PROFILE;
  if (!isSecurityProfile(value)) throw new StorageError(`${where}: securityProfile ${JSON.stringify(value)} is not one of ${SECURITY_PROFILES.join(', ')}; provision the ECU again`);
  return value;
}

/** What provisioning knows of one ECU's configuration, to hold against its declared profile. */
export interface EcuConfiguration {
  /** The primary always verifies fully; a secondary as provisioned. */
  readonly verification: 'partial' | 'full';
  /** Where the ECU's signing key is kept: every ECU this project provisions keeps it in a PEM file. */
  readonly signingKey: 'file' | 'hardware';
  /** Whether the ECU reads a secure time source; this project's ECUs read the system clock. */
  readonly secureTime: boolean;
}

/**
 * The requirements of `profile` (PROFILE_REQUIREMENTS) that `ecu` is known not to meet, each as a
 * sentence naming what is missing; empty when it meets every one the code can know. A fact the
 * caller leaves out (key storage, time source) is not checked. Requirements
 * every provisioned ECU meets by construction (an asymmetric signing key, A/B slots, an X25519 key
 * for per-ECU encryption) are not listed: docs/security-profiles.md says which are declared only.
 */
export function ecuProfileShortfalls(profile: SecurityProfile, ecu: Pick<EcuConfiguration, 'verification'> & Partial<EcuConfiguration>): string[] {
  const needs = PROFILE_REQUIREMENTS[profile];
  const missing: string[] = [];
  if (needs.verification === 'full' && ecu.verification !== 'full') {
    missing.push(`profile ${profile} needs full verification (both repositories), and the ECU is provisioned for partial verification`);
  }
  if (needs.hardwareKey && ecu.signingKey === 'file') {
    missing.push(`profile ${profile} needs the ECU's signing key held in hardware (a PKCS#11 token), and its key is a file (ecu-key.pem)`);
  }
  if (needs.secureTime && ecu.secureTime === false) {
    missing.push(`profile ${profile} needs a secure time source, and the ECU reads its system clock`);
  }
  return missing;
}

/** The profile an ECU gets when provisioning names none: standard when it verifies fully, else basic (all partial verification meets). */
export const defaultProvisionedProfile = (verification: 'partial' | 'full'): SecurityProfile => (verification === 'full' ? DEFAULT_SECURITY_PROFILE : 'basic');
