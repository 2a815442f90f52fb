// Vehicle version manifests: the history of accepted and refused ones, the attacks ECUs reported, and
// manifest intake, the unit of work that records one manifest with everything it changes.
import type { ManifestEntry, ReportedAttack } from '../api/operator-api.js';
import type { AssignmentRecord, AssignmentState, NewAssignment } from './assignments.js';
import type { EcuRecord, EcuReport } from './inventory.js';

/** Accepted manifest records kept per vehicle (the newest). */
export const MANIFEST_HISTORY = 100;
/**
 * Refused manifest records kept per vehicle (the newest), apart from the accepted ones: whoever holds
 * a vehicle's credential can send refused manifests as fast as it likes, and they must never push
 * the accepted history out (docs/threat-model.md HR-4).
 */
export const REFUSED_MANIFEST_HISTORY = 20;
/** What is kept of a refused manifest's body: its digest, its length and this many first bytes. */
export const REFUSED_MANIFEST_EXCERPT_BYTES = 2048;
/** Longest error message kept with a refused manifest (messages can quote the refused body). */
export const REFUSED_MESSAGE_CHARS = 1024;

/**
 * How both stores prune a vehicle's history: keep the newest `keep` records, but delete only once
 * there are more than `trigger`, so old records go in steps (20 accepted, 5 refused) and most
 * manifests delete nothing (each deletion is a page written in the commit).
 */
export const MANIFEST_PRUNING = {
  accepted: { keep: MANIFEST_HISTORY, trigger: MANIFEST_HISTORY + 20 - 1 },
  refused: { keep: REFUSED_MANIFEST_HISTORY, trigger: REFUSED_MANIFEST_HISTORY + 5 - 1 },
} as const;

/** One record of a vehicle's manifest history, as the operator sees it (refused ones with their body's length and SHA-256). */
export type ManifestRecord = ManifestEntry;
export type AttackRecord = ReportedAttack;

export interface ManifestStore {
  /**
   * The vehicle's newest `limit` manifest records, accepted and refused merged in arrival order
   * (refused ones with the length and SHA-256 of the body they carried).
   */
  history(vin: string, limit: number): Promise<ManifestRecord[]>;
  lastAcceptedAt(vin: string): Promise<string | null>;
  attacksOf(vin: string, limit: number): Promise<AttackRecord[]>;
}

/** What intake reads of a vehicle before its manifest is judged, inside the manifest's transaction. */
export interface IntakeState {
  readonly ecus: readonly EcuRecord[];
  readonly active: readonly AssignmentRecord[];
  /** The vehicle's newest assignments, newest first, when the judge asked for them (slot re-delivery). */
  readonly recent: readonly AssignmentRecord[];
}

/** An assignment intake makes itself (slot re-delivery), with the audit entry that names its id. */
export interface IntakeAssignment {
  readonly assignment: NewAssignment;
  readonly reason: string;
  readonly actor: string;
  readonly action: string;
  /** The audit entry's details; the store puts the new assignment's id first, as `id`. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** Everything an accepted manifest changes, written together with its record. */
export interface AcceptedManifest {
  readonly ecuReports: ReadonlyArray<{ readonly serial: string; readonly report: EcuReport }>;
  readonly attacks: ReadonlyArray<{ readonly ecuSerial: string; readonly code: string; readonly message: string }>;
  readonly assignmentStates: ReadonlyArray<{ readonly id: number; readonly state: AssignmentState; readonly reason: string | null }>;
  readonly newAssignments: readonly IntakeAssignment[];
  /** The body kept as signed evidence, or null when it told nothing new. */
  readonly evidence: Uint8Array | null;
  readonly vehicleState: string | null;
  /** The vehicle's assignments changed: its targets are re-signed on its next read. */
  readonly metadataStale: boolean;
}

/**
 * The judge's verdict on one manifest: accepted with its changes, or refused with the reason (kept
 * with the body's digest and excerpt, nothing else changed). `result` is handed back to the caller.
 */
export type IntakeVerdict<T> =
  | { readonly at: Date; readonly accepted: AcceptedManifest; readonly result: T }
  | { readonly at: Date; readonly refused: { readonly code: string; readonly message: string }; readonly result: T };

export interface ManifestIntake {
  /**
   * One manifest's unit of work: reads the vehicle's IntakeState (with its newest
   * `recentAssignments` assignments), lets `judge` decide, synchronously and without reading the
   * store, and writes the verdict, all in one transaction. Resolves with the verdict's result once
   * it is durable; rejects, with nothing written, if `judge` throws or the commit fails. A later
   * manifest of the same vehicle is judged against the state this one left.
   */
  receive<T>(vin: string, body: Uint8Array, recentAssignments: number, judge: (state: IntakeState) => IntakeVerdict<T>): Promise<T>;
}
