// Install bundles (docs/decisions.md "Install bundles"): the Director signs into a vehicle's targets
// (`custom.installBundle`) which ECUs must move together, each with the image it gets. Pure: the
// primary and every secondary parse the field out of targets they already verified, with this one
// reading; the primary then installs the members all-or-nothing, and a secondary checks that a
// trial, commit or rollback it is asked for names its own bundle.
import { InstallBundleError, InstallBundleVehicleError } from '../core/errors.js';
import type { TargetsSigned } from '../core/metadata/types.js';
import type { EcuTarget } from './uptane-checks.js';

/** The name of the field in Director targets' `custom`. */
export const INSTALL_BUNDLE_FIELD = 'installBundle';

/** One member: the ECU and the image it gets, pinned by filename and SHA-256. */
export interface InstallBundleMember {
  readonly filename: string;
  readonly sha256: string;
}

export interface InstallBundle {
  /** Chosen by the Director, unique per bundle; the vehicle refuses one it already finished. */
  readonly id: string;
  readonly vin: string;
  /** Member ECUs by serial. */
  readonly ecus: Readonly<Record<string, InstallBundleMember>>;
}

export interface InstallBundleLimits {
  /** Most member ECUs one bundle may name (each is a trial the whole vehicle waits for). */
  readonly maxMembers: number;
}

export const DEFAULT_INSTALL_BUNDLE_LIMITS: InstallBundleLimits = { maxMembers: 32 };

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const ctx = { repository: 'director', role: 'targets' };

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The install bundle of verified Director targets, or undefined when they carry none. Checked
 * against the vehicle and against the targets themselves (docs/threat-model.md M30): the bundle's
 * VIN is this vehicle's; and every member has a targets entry with the same filename and SHA-256,
 * so no member's image can differ from what the Director assigned it. `targets` are the checked
 * entries of the same file (checkDirectorTargets); a secondary passes only its own.
 */
export function parseInstallBundle(
  signed: TargetsSigned,
  vehicleVin: string,
  targets: readonly EcuTarget[],
  options: { readonly limits?: InstallBundleLimits; readonly onlyMember?: string } = {},
): InstallBundle | undefined {
  const value = signed.custom?.[INSTALL_BUNDLE_FIELD];
  if (value === undefined) return undefined;
  const limits = options.limits ?? DEFAULT_INSTALL_BUNDLE_LIMITS;
  const fail = (why: string): never => {
    throw new InstallBundleError(`Director targets custom.${INSTALL_BUNDLE_FIELD} ${why}`, ctx);
  };
  if (!isObject(value)) return fail('must be an object');
  if (typeof value.id !== 'string' || !ID.test(value.id)) fail('.id must be 1 to 64 letters, digits, dots, dashes or underscores');
  if (typeof value.vin !== 'string') fail('.vin must be a string');
  if (value.vin !== vehicleVin) {
    throw new InstallBundleVehicleError(`install bundle ${String(value.id)} is for vehicle ${JSON.stringify(value.vin)}, not ${vehicleVin}`, ctx);
  }
  if (!isObject(value.ecus)) return fail('.ecus must be an object of ECU serial: {filename, sha256}');
  const entries = Object.entries(value.ecus);
  if (entries.length < 2 || entries.length > limits.maxMembers) fail(`.ecus must name 2 to ${limits.maxMembers} ECUs, not ${entries.length}`);
  const ecus: Record<string, InstallBundleMember> = {};
  for (const [serial, member] of entries) {
    if (!isObject(member) || typeof member.filename !== 'string' || typeof member.sha256 !== 'string' || !SHA256.test(member.sha256)) {
      fail(`.ecus.${serial} must be {filename, sha256 (64 lowercase hex)}`);
    }
    const { filename, sha256 } = member as { filename: string; sha256: string };
    ecus[serial] = { filename, sha256 };
    if (options.onlyMember !== undefined && serial !== options.onlyMember) continue;
    // Every member's image is the one its own targets entry assigns (the entry is what the ECU
    // verifies its image against): a bundle pinning another image for one ECU is refused whole.
    const target = targets.find((t) => t.ecuSerial === serial);
    if (target === undefined || target.filename !== filename || target.target.hashes.sha256 !== sha256) {
      throw new InstallBundleError(`install bundle ${String(value.id)} gives ECU ${serial} ${filename}, but the Director's targets assign it ${target === undefined ? 'nothing' : target.filename}`, { ...ctx, role: serial });
    }
  }
  return { id: value.id as string, vin: value.vin, ecus };
}

/** The serials of a bundle's members, in a fixed order (the order the primary stages and switches them). */
export function bundleMembers(bundle: InstallBundle): string[] {
  return Object.keys(bundle.ecus).sort();
}
