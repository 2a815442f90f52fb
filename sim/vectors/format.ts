// The test-vector format (docs/test-vectors.md): one folder per scenario with what the vehicle's
// ECUs trusted before, what the Director and the Image repository served it (after the attacker),
// the reference time, and the verdict expected of each ECU. Written by export.ts, replayed by
// replay.ts; another Uptane implementation replays the same folders. This module holds the shapes,
// the file layout, and the one function that turns a cycle into verdicts, which both sides use.
import type { CycleResult } from '../../primary-ecu/primary.js';

export const VECTOR_FORMAT = 'uptane-ts test vector';
export const VECTOR_FORMAT_VERSION = 1;

/** Largest vector.json, expected.json or index.json read (they are a few kilobytes). */
export const MAX_DESCRIPTION_BYTES = 1024 * 1024;

/** Largest trusted metadata file (an ECU's root, timestamp, snapshot or targets) read from a vector. */
export const MAX_TRUSTED_METADATA_BYTES = 1024 * 1024;

/** Largest installed.bin read from a vector: an ECU image is copied into its slot, so it is bounded like one. */
export const MAX_INSTALLED_IMAGE_BYTES = 256 * 1024 * 1024;

export interface VectorEcu {
  readonly serial: string;
  readonly hardwareId: string;
  readonly verification: 'full' | 'partial';
}

/** vector.json */
export interface VectorDescription {
  readonly format: typeof VECTOR_FORMAT;
  readonly formatVersion: typeof VECTOR_FORMAT_VERSION;
  readonly name: string;
  readonly title: string;
  /** Where the attacker sits, or "none" for an honest update. */
  readonly attacker: string;
  /** The vehicle's clock during the cycle (expiry is judged against it). */
  readonly clock: string;
  readonly vehicle: { readonly vin: string; readonly primary: string; readonly ecus: readonly VectorEcu[] };
}

/** trusted/<serial>/installed.json: the image in the ECU's active slot (bytes in installed.bin). */
export interface InstalledImage {
  readonly filename: string;
  readonly length: number;
  readonly hashes: { readonly sha256: string };
  /** Release counter of the installed image from verified metadata; null for a factory image. */
  readonly releaseCounter: number | null;
}

/** What became of one ECU in the cycle. */
export type EcuVerdict =
  | { readonly verdict: 'installed'; readonly image: string; readonly sha256: string }
  | { readonly verdict: 'unchanged'; readonly image: string }
  | { readonly verdict: 'rejected'; readonly code: string; readonly image: string };

/** expected.json */
export interface ExpectedVerdicts {
  readonly cycle: { readonly status: CycleResult['status']; readonly code?: string };
  readonly ecus: Readonly<Record<string, EcuVerdict>>;
}

/** index.json at the top of an exported folder. */
export interface VectorIndex {
  readonly format: typeof VECTOR_FORMAT;
  readonly formatVersion: typeof VECTOR_FORMAT_VERSION;
  readonly vectors: readonly string[];
}

export type InstalledNow = Readonly<Record<string, { readonly filename: string; readonly sha256: string }>>;

/**
 * Each ECU's verdict on one cycle: the ECU whose install outcome failed, or the primary when the
 * cycle failed before any install, rejected it with the typed code; an ECU whose image changed
 * installed it; any other kept its image.
 */
export function cycleVerdicts(result: CycleResult, primary: string, before: InstalledNow, after: InstalledNow): ExpectedVerdicts {
  const ecus: Record<string, EcuVerdict> = {};
  for (const [serial, now] of Object.entries(after)) {
    const outcome = result.outcomes[serial];
    const code = outcome?.status === 'failed' ? outcome.code : serial === primary ? result.error?.code : undefined;
    const was = before[serial];
    if (code !== undefined) ecus[serial] = { verdict: 'rejected', code, image: now.filename };
    else if (was === undefined || was.sha256 !== now.sha256 || was.filename !== now.filename) ecus[serial] = { verdict: 'installed', image: now.filename, sha256: now.sha256 };
    else ecus[serial] = { verdict: 'unchanged', image: now.filename };
  }
  return { cycle: { status: result.status, ...(result.error === undefined ? {} : { code: result.error.code }) }, ecus };
}

/** A vector or folder name: letters, digits, dots and hyphens, so it is a safe folder name everywhere. */
export const isVectorName = (name: string): boolean => /^[a-z0-9][a-z0-9.-]{0,99}$/.test(name);
