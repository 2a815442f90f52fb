// Fixed times and small builders for the Director store contract: vehicles with their ECUs,
// assignments, and intake verdicts, so each case states only what it is about.
import { createHash } from 'node:crypto';
import type { NewAssignment } from '../../../director-repo/store/assignments.js';
import type { NewEcu } from '../../../director-repo/store/inventory.js';
import type { AcceptedManifest, IntakeVerdict } from '../../../director-repo/store/manifests.js';
import type { ContractStore } from './backends.js';

/** Every time the cases write is this one plus some minutes: answers can be compared exactly. */
export const T0 = new Date('2026-03-01T10:00:00.000Z');
export const at = (minutes: number): Date => new Date(T0.getTime() + minutes * 60_000);
export const iso = (minutes: number): string => at(minutes).toISOString();

export const sha256Hex = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

export function ecu(vin: string, serial: string, isPrimary: boolean, extra: Partial<NewEcu> = {}): NewEcu {
  return {
    serial,
    vin,
    hardwareId: isPrimary ? 'hw-primary' : 'hw-secondary',
    publicKey: `pub-${serial}`,
    keyid: sha256Hex(`key-${serial}`),
    isPrimary,
    ...extra,
  };
}

/** Registers `vin` with a primary `<vin>-p` and a secondary `<vin>-s`; their serials. */
export async function registerVehicle(store: ContractStore, vin: string, attributes: Record<string, string> = {}): Promise<{ primary: string; secondary: string }> {
  await store.inventory.insertVehicle(vin, attributes, T0);
  await store.inventory.insertEcu(ecu(vin, `${vin}-p`, true), T0);
  await store.inventory.insertEcu(ecu(vin, `${vin}-s`, false), T0);
  return { primary: `${vin}-p`, secondary: `${vin}-s` };
}

export function image(vin: string, ecuSerial: string, filename = 'fw-1.0.bin', releaseCounter = 1): NewAssignment {
  return { vin, ecuSerial, filename, length: 1024, hashes: { sha256: sha256Hex(filename) }, hardwareId: 'hw-secondary', releaseCounter };
}

/** Nothing changed but the manifest's record: what an accepted manifest of a vehicle at rest writes. */
export const NOTHING_NEW: AcceptedManifest = {
  ecuReports: [],
  attacks: [],
  assignmentStates: [],
  newAssignments: [],
  evidence: null,
  vehicleState: null,
  metadataStale: false,
};

export const accept = <T>(minutes: number, result: T, changes: Partial<AcceptedManifest> = {}): IntakeVerdict<T> => ({
  at: at(minutes),
  accepted: { ...NOTHING_NEW, ...changes },
  result,
});

export const refuse = <T>(minutes: number, result: T, code = 'manifest_signature', message = 'bad signature'): IntakeVerdict<T> => ({
  at: at(minutes),
  refused: { code, message },
  result,
});

export const body = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A settled promise's outcome, to assert on both halves of a race. */
export async function outcomes<T>(promises: ReadonlyArray<Promise<T>>): Promise<{ fulfilled: T[]; rejected: unknown[] }> {
  const settled = await Promise.allSettled(promises);
  return {
    fulfilled: settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])),
    rejected: settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : [])),
  };
}
