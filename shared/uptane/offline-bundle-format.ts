// The offline bundle's index (docs/decisions.md "Offline updates"): the one unsigned file of a
// bundle folder, written last by `uptane director bundle export` and read first by `uptane vehicle
// install-offline`. It says which vehicle the bundle is for and where each file a primary asks for
// lies in the folder. Nothing in it is trusted: it may only narrow what is served (a VIN that is
// not this vehicle's, a path that leaves the folder, are refused), never widen what is accepted,
// since every file it points to is verified against signed metadata as online.
import { OfflineBundleFormatError, OfflineBundleUnsafePathError } from '../core/errors.js';

export const OFFLINE_BUNDLE_FORMAT = 'uptane-offline-bundle';
export const OFFLINE_BUNDLE_FORMAT_VERSION = 1;
/** The index's file name in a bundle folder. */
export const OFFLINE_BUNDLE_INDEX = 'offline-bundle.json';

/** Caps on the index (R10): a vehicle reads it before anything else, so it is bounded first. */
export interface OfflineBundleLimits {
  /** The index file's size: a few hundred bytes per file listed. */
  readonly maxIndexBytes: number;
  /** Files listed, all sections together: roots, a handful of roles, delegations, one image per ECU. */
  readonly maxFiles: number;
  /** One relative path's length, in characters. */
  readonly maxPathLength: number;
}

export const DEFAULT_OFFLINE_BUNDLE_LIMITS: OfflineBundleLimits = { maxIndexBytes: 1024 * 1024, maxFiles: 4096, maxPathLength: 512 };

/** What the export says about each image, for the people handling the bundle; the vehicle decides from signed metadata only. */
export interface OfflineBundleImage {
  readonly ecuSerial: string;
  readonly filename: string;
  readonly length: number;
  readonly sha256: string;
}

export interface OfflineBundleIndex {
  readonly format: typeof OFFLINE_BUNDLE_FORMAT;
  readonly formatVersion: typeof OFFLINE_BUNDLE_FORMAT_VERSION;
  readonly vin: string;
  /** When the Director answered the export, by the exporter's clock. */
  readonly exportedAt: string;
  /** The expiry horizon: the earliest `expires` of the metadata in the bundle; past it, a vehicle refuses the bundle as expired. */
  readonly expires: string;
  /** Director metadata by the name the vehicle asks for (`3.root.json`, `timestamp.json`) -> path in the folder. */
  readonly director: Readonly<Record<string, string>>;
  /** Image repository metadata by the name asked for under `<Image repository>/metadata/`. */
  readonly imageMetadata: Readonly<Record<string, string>>;
  /** Images by the path asked for under `<Image repository>/targets/` (as requested, percent-encoded). */
  readonly imageTargets: Readonly<Record<string, string>>;
  readonly images: readonly OfflineBundleImage[];
}

/** A name a primary asks for: one or more URL path segments of letters, digits and `._%+-`, never `.` or `..`. */
const REQUEST_SEGMENT = /^[A-Za-z0-9._%+-]{1,255}$/;
/** A folder path segment: the same, without `%` or `+` (FAT32 and exFAT sticks hold them, shells need no quoting). */
const PATH_SEGMENT = /^[A-Za-z0-9._-]{1,255}$/;

function isPlainSegment(segment: string, pattern: RegExp): boolean {
  return pattern.test(segment) && segment !== '.' && segment !== '..';
}

/** True if `name` (`a/b/c`) is a name a bundle may serve under: relative, no empty, `.` or `..` segment. */
export function isBundleRequestName(name: string, maxLength = DEFAULT_OFFLINE_BUNDLE_LIMITS.maxPathLength): boolean {
  return name.length <= maxLength && name.split('/').every((s) => isPlainSegment(s, REQUEST_SEGMENT));
}

/**
 * Checks a path of the folder the index names (docs/threat-model.md OB6): relative, `/`-separated,
 * each segment plain, so it cannot climb out of the folder, name a drive or a device, or differ by
 * platform. Whether it is a regular file inside the folder (no link) is checked when it is opened.
 */
export function checkBundlePath(path: string, where: string, maxLength = DEFAULT_OFFLINE_BUNDLE_LIMITS.maxPathLength): string {
  if (typeof path !== 'string' || path.length > maxLength || !path.split('/').every((s) => isPlainSegment(s, PATH_SEGMENT))) {
    throw new OfflineBundleUnsafePathError(`${where}: ${JSON.stringify(String(path).slice(0, 80))} is not a plain relative path inside the bundle (letters, digits, . _ - and /, no ..)`);
  }
  return path;
}

/** The folder path an exporter stores a requested name under: the name itself where plain, else a generated one. */
export function bundlePathFor(section: 'director' | 'image/metadata' | 'image/targets', name: string, serial: number): string {
  const plain = name.split('/').every((s) => isPlainSegment(s, PATH_SEGMENT));
  return plain ? `${section}/${name}` : `${section}/file-${serial}`;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function pathMap(value: unknown, field: string, limits: OfflineBundleLimits, counted: { files: number }): Record<string, string> {
  if (!isRecord(value)) throw new OfflineBundleFormatError(`${OFFLINE_BUNDLE_INDEX}: ${field} must be an object of name -> path`);
  const map: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, path] of Object.entries(value)) {
    counted.files += 1;
    if (counted.files > limits.maxFiles) throw new OfflineBundleFormatError(`${OFFLINE_BUNDLE_INDEX}: lists more than ${limits.maxFiles} files`);
    if (!isBundleRequestName(name, limits.maxPathLength)) throw new OfflineBundleFormatError(`${OFFLINE_BUNDLE_INDEX}: ${field} names ${JSON.stringify(name.slice(0, 80))}, which no repository serves`);
    map[name] = checkBundlePath(path as string, `${OFFLINE_BUNDLE_INDEX} ${field}[${JSON.stringify(name.slice(0, 80))}]`, limits.maxPathLength);
  }
  return map;
}

function images(value: unknown): OfflineBundleImage[] {
  if (!Array.isArray(value) || value.length > DEFAULT_OFFLINE_BUNDLE_LIMITS.maxFiles) throw new OfflineBundleFormatError(`${OFFLINE_BUNDLE_INDEX}: images must be a list`);
  return value.map((image, i) => {
    if (!isRecord(image) || typeof image.ecuSerial !== 'string' || typeof image.filename !== 'string' || !Number.isSafeInteger(image.length) || typeof image.sha256 !== 'string') {
      throw new OfflineBundleFormatError(`${OFFLINE_BUNDLE_INDEX}: images[${i}] needs ecuSerial, filename, length and sha256`);
    }
    return { ecuSerial: image.ecuSerial.slice(0, 128), filename: image.filename.slice(0, 512), length: image.length as number, sha256: image.sha256.slice(0, 64) };
  });
}

/** Parses the index's bytes (already read within `limits.maxIndexBytes`), field by field, naming the first wrong one (R9). */
export function parseOfflineBundleIndex(bytes: Uint8Array, limits: OfflineBundleLimits = DEFAULT_OFFLINE_BUNDLE_LIMITS): OfflineBundleIndex {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new OfflineBundleFormatError(`${OFFLINE_BUNDLE_INDEX} is not JSON: ${err.message}`);
  }
  if (!isRecord(json)) throw new OfflineBundleFormatError(`${OFFLINE_BUNDLE_INDEX} is not a JSON object`);
  if (json.format !== OFFLINE_BUNDLE_FORMAT || json.formatVersion !== OFFLINE_BUNDLE_FORMAT_VERSION) {
    throw new OfflineBundleFormatError(
      `${OFFLINE_BUNDLE_INDEX}: format ${JSON.stringify(json.format)} version ${JSON.stringify(json.formatVersion)}; this primary reads "${OFFLINE_BUNDLE_FORMAT}" version ${OFFLINE_BUNDLE_FORMAT_VERSION}`,
    );
  }
  if (typeof json.vin !== 'string' || json.vin.length === 0 || json.vin.length > 128) throw new OfflineBundleFormatError(`${OFFLINE_BUNDLE_INDEX}: vin must be a VIN`);
  for (const field of ['exportedAt', 'expires'] as const) {
    if (typeof json[field] !== 'string' || Number.isNaN(Date.parse(json[field]))) throw new OfflineBundleFormatError(`${OFFLINE_BUNDLE_INDEX}: ${field} must be an ISO 8601 time`);
  }
  const counted = { files: 0 };
  return {
    format: OFFLINE_BUNDLE_FORMAT,
    formatVersion: OFFLINE_BUNDLE_FORMAT_VERSION,
    vin: json.vin,
    exportedAt: json.exportedAt as string,
    expires: json.expires as string,
    director: pathMap(json.director, 'director', limits, counted),
    imageMetadata: pathMap(json.imageMetadata, 'imageMetadata', limits, counted),
    imageTargets: pathMap(json.imageTargets, 'imageTargets', limits, counted),
    images: images(json.images),
  };
}
