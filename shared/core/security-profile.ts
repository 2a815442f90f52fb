// Tiered security profiles (issue 23 item 1; docs/security-profiles.md): each ECU is registered with
// a profile, each image may declare the lowest profile allowed to install it, and both the Director
// (when assigning) and the ECU (before installing) refuse an image whose minimum the ECU does not
// meet. The profiles are ordered: an ECU of a higher profile meets every lower minimum.
import { MalformedMetadataError, SecurityProfileTooLowError } from './errors.js';

/** Lowest to highest; the order is the comparison. */
export const SECURITY_PROFILES = ['basic', 'standard', 'high'] as const;
export type SecurityProfile = (typeof SECURITY_PROFILES)[number];

/** The profile an ECU registered before profiles existed is taken to have. */
export const DEFAULT_SECURITY_PROFILE: SecurityProfile = 'standard';

/** The field of an Image repository target's `custom` naming the lowest profile that may install it. */
export const MINIMUM_PROFILE_FIELD = 'minimumSecurityProfile';

/** What an ECU of each profile must do; the docs and the operator views print these. */
export interface ProfileRequirements {
  /** 'partial': the Director's targets only; 'full': both repositories. */
  readonly verification: 'partial' | 'full';
  /** The ECU's signing key must be asymmetric (basic may also use a shared symmetric key). */
  readonly asymmetricKey: boolean;
  /** The ECU's key is held in hardware (a PKCS#11 token), never in a file. */
  readonly hardwareKey: boolean;
  /** Images for the ECU are encrypted to the ECU's own key. */
  readonly perEcuEncryption: boolean;
  /** The ECU has two slots and falls back to the last good image. */
  readonly abSlots: boolean;
  /** The ECU refuses metadata without a secure time source. */
  readonly secureTime: boolean;
}

export const PROFILE_REQUIREMENTS: Readonly<Record<SecurityProfile, ProfileRequirements>> = {
  basic: { verification: 'partial', asymmetricKey: false, hardwareKey: false, perEcuEncryption: false, abSlots: false, secureTime: false },
  standard: { verification: 'full', asymmetricKey: true, hardwareKey: false, perEcuEncryption: false, abSlots: true, secureTime: false },
  high: { verification: 'full', asymmetricKey: true, hardwareKey: true, perEcuEncryption: true, abSlots: true, secureTime: true },
};

export function isSecurityProfile(value: unknown): value is SecurityProfile {
  return typeof value === 'string' && (SECURITY_PROFILES as readonly string[]).includes(value);
}

/** True when an ECU of `profile` may install an image whose minimum is `minimum`. */
export function profileSatisfies(profile: SecurityProfile, minimum: SecurityProfile): boolean {
  return SECURITY_PROFILES.indexOf(profile) >= SECURITY_PROFILES.indexOf(minimum);
}

/**
 * The minimum profile a target's custom metadata declares, or undefined when it declares none (any
 * profile may install it). A value that names no profile is malformed metadata: the parser refuses
 * it before this is reached, and this refuses it again for callers holding unparsed custom fields.
 */
export function minimumProfileOf(custom: Readonly<Record<string, unknown>> | undefined, path = 'custom'): SecurityProfile | undefined {
  const value = custom?.[MINIMUM_PROFILE_FIELD];
  if (value === undefined) return undefined;
  if (!isSecurityProfile(value)) throw new MalformedMetadataError(`${path}.${MINIMUM_PROFILE_FIELD} must be one of ${SECURITY_PROFILES.join(', ')}`);
  return value;
}

/** SecurityProfileTooLowError unless an ECU of `profile` may install `targetName` with that minimum. */
export function requireProfileAllows(profile: SecurityProfile, minimum: SecurityProfile | undefined, targetName: string, ecuSerial: string): void {
  if (minimum === undefined || profileSatisfies(profile, minimum)) return;
  throw new SecurityProfileTooLowError(`${targetName} requires security profile ${minimum} or higher; ECU ${ecuSerial} is ${profile}`);
}
