// Registering vehicles through the operator API as the CLIs do it (`director vehicle register`,
// `vehicle provision --register`, `vehicle register`): one registration that calls an identical
// second run "unchanged", and a registration file's dry run, which asks the Director which VINs,
// ECU serials and keys are taken (POST /inventory/lookup, read-only) and finds the ones the file
// itself repeats, so every row that would be refused is named before anything is written.
// ECU serials are unique across the fleet (docs/decisions.md "ECU identity").
import { ecuPublicKey } from '../shared/core/crypto/ecu-keys.js';
import { DEFAULT_SECURITY_PROFILE } from '../shared/core/security-profile.js';
import { OperatorRequestError } from '../shared/core/errors.js';
import { INVENTORY_LOOKUP_MAX, type RegisteredIdentities, type VehicleStatus } from './api/operator-api.js';
import type { OperatorClient } from './operator-client.js';
import { ecuKeyTakenMessage, ecuSerialTakenMessage, type VehicleRegistration } from './services/inventory.js';

/**
 * Same ECUs (serial, hardware id, role, signing key, encryption key or none) as registered: re-running
 * a registration is then harmless, and a different encryption key is a conflict like a different signing key.
 */
export function sameVehicle(status: VehicleStatus, registration: VehicleRegistration): boolean {
  // A profile left out is standard on both sides (an older Director answers without one).
  const key = (serial: string, hardwareId: string, primary: boolean, keyid: string, encryptionKey: string | null | undefined, profile: string | undefined) =>
    `${serial}\n${hardwareId}\n${primary}\n${keyid}\n${encryptionKey ?? '-'}\n${profile ?? DEFAULT_SECURITY_PROFILE}`;
  const registered = new Set(status.ecus.map((e) => key(e.serial, e.hardwareId, e.primary, e.keyid, e.encryptionPublicKey, e.securityProfile)));
  return (
    registered.size === registration.ecus.length &&
    registration.ecus.every((e) => registered.has(key(e.serial, e.hardwareId, e.primary, ecuPublicKey(e.publicKey).keyid, e.encryptionPublicKey, e.securityProfile)))
  );
}

/** The refusal of a VIN registered with other ECUs, with where to look and how ECUs are changed. */
function registeredOtherwise(vin: string): string {
  return `vehicle ${vin} is already registered with other ECUs (\`uptane director vehicle show ${vin}\` lists them); change an ECU with \`uptane director replace-ecu\``;
}

/**
 * Registers one vehicle; a conflict with an identical registration is "unchanged", not a failure.
 * A conflict over an ECU of another vehicle keeps the Director's message, which names that vehicle:
 * this VIN is not registered, so no `vehicle show` of it is suggested.
 */
export async function registerOnce(client: OperatorClient, registration: VehicleRegistration): Promise<{ result: 'registered' | 'unchanged'; status: VehicleStatus }> {
  try {
    return { result: 'registered', status: await client.send('POST /vehicles', `register vehicle ${registration.vin}`, { body: registration }) };
  } catch (err) {
    if (!(err instanceof OperatorRequestError) || err.remoteCode !== 'conflict') throw err;
    let existing: VehicleStatus;
    try {
      existing = await client.send('GET /vehicles/:vin', `show vehicle ${registration.vin}`, { params: { vin: registration.vin } });
    } catch (lookup) {
      if (lookup instanceof OperatorRequestError && lookup.status === 404) throw err; // an ECU or key of it belongs to another vehicle
      throw lookup;
    }
    if (sameVehicle(existing, registration)) return { result: 'unchanged', status: existing };
    throw new OperatorRequestError(`${err.message}\n${registeredOtherwise(registration.vin)}`, err.status, err.remoteCode, { cause: err });
  }
}

/** A vehicle of a registration file, as the dry run checks it: its VIN, its ECUs and the file line of each. */
export interface FileVehicle {
  readonly vin: string;
  readonly ecus: VehicleRegistration['ecus'];
  readonly ecuLines: readonly number[];
}

/**
 * ECU serials and signing keys the file gives more than once (in one vehicle or two): each repeat is
 * a problem of the row that repeats, naming the line and vehicle that gave it first. The Director
 * would refuse the second (serials are fleet-unique, keys are per ECU).
 */
export function repeatsInFile(vehicles: readonly FileVehicle[]): Map<FileVehicle, string[]> {
  const problems = new Map<FileVehicle, string[]>();
  const serials = new Map<string, { vin: string; line: number }>();
  const keys = new Map<string, { vin: string; line: number; serial: string }>();
  for (const vehicle of vehicles) {
    vehicle.ecus.forEach((ecu, i) => {
      const line = vehicle.ecuLines[i]!;
      const add = (what: string) => problems.set(vehicle, [...(problems.get(vehicle) ?? []), `line ${line}: ${what}`]);
      const first = serials.get(ecu.serial);
      if (first !== undefined) add(`ECU serial ${ecu.serial} is also on line ${first.line} (vehicle ${first.vin}): ECU serials are unique across the fleet, give each ECU its own hardware serial`);
      else serials.set(ecu.serial, { vin: vehicle.vin, line });
      const keyid = ecuPublicKey(ecu.publicKey).keyid;
      const sameKey = keys.get(keyid);
      if (sameKey !== undefined) add(`ECU ${ecu.serial} has the same public_key as ECU ${sameKey.serial} on line ${sameKey.line} (vehicle ${sameKey.vin}): every ECU has its own key`);
      else keys.set(keyid, { vin: vehicle.vin, line, serial: ecu.serial });
    });
  }
  return problems;
}

/** What the dry run found for one vehicle: it would register, it is registered as given, or why the Director would refuse it. */
export type DryRunVerdict = { readonly result: 'valid' | 'unchanged' } | { readonly result: 'failed'; readonly message: string };

/**
 * Asks the Director which of the vehicles' VINs, serials and keys are taken (INVENTORY_LOOKUP_MAX of
 * each per request), and says for each vehicle what its registration would do. Writes nothing.
 */
export async function checkAgainstDirector(client: OperatorClient, vehicles: readonly FileVehicle[]): Promise<Map<FileVehicle, DryRunVerdict>> {
  const vins = [...new Set(vehicles.map((v) => v.vin))];
  const serials = [...new Set(vehicles.flatMap((v) => v.ecus.map((e) => e.serial)))];
  const keyids = [...new Set(vehicles.flatMap((v) => v.ecus.map((e) => ecuPublicKey(e.publicKey).keyid)))];
  const registeredVins = new Set<string>();
  const bySerial = new Map<string, RegisteredIdentities['ecus'][number]>();
  const byKeyid = new Map<string, RegisteredIdentities['ecus'][number]>();
  const rounds = Math.ceil(Math.max(vins.length, serials.length, keyids.length) / INVENTORY_LOOKUP_MAX);
  for (let round = 0; round < rounds; round++) {
    const part = (items: string[]) => items.slice(round * INVENTORY_LOOKUP_MAX, (round + 1) * INVENTORY_LOOKUP_MAX);
    const found = await client.send('POST /inventory/lookup', 'check the registrations', { body: { vins: part(vins), serials: part(serials), keyids: part(keyids) } });
    for (const vin of found.vins) registeredVins.add(vin);
    for (const ecu of found.ecus) {
      bySerial.set(ecu.serial, ecu);
      byKeyid.set(ecu.keyid, ecu);
    }
  }
  const verdicts = new Map<FileVehicle, DryRunVerdict>();
  for (const vehicle of vehicles) {
    if (registeredVins.has(vehicle.vin)) {
      // Registered: only the vehicle's own status says whether the file gives the same ECUs.
      const status = await client.send('GET /vehicles/:vin', `show vehicle ${vehicle.vin}`, { params: { vin: vehicle.vin } });
      verdicts.set(vehicle, sameVehicle(status, vehicle) ? { result: 'unchanged' } : { result: 'failed', message: registeredOtherwise(vehicle.vin) });
      continue;
    }
    const refusals: string[] = [];
    vehicle.ecus.forEach((ecu, i) => {
      const taken = bySerial.get(ecu.serial);
      const sameKey = byKeyid.get(ecuPublicKey(ecu.publicKey).keyid);
      if (taken !== undefined) refusals.push(`line ${vehicle.ecuLines[i]}: ${ecuSerialTakenMessage(ecu.serial, taken.vin, vehicle.vin)}`);
      else if (sameKey !== undefined) refusals.push(`line ${vehicle.ecuLines[i]}: ${ecuKeyTakenMessage(ecu.serial, sameKey)}`);
    });
    verdicts.set(vehicle, refusals.length === 0 ? { result: 'valid' } : { result: 'failed', message: refusals.join('\n') });
  }
  return verdicts;
}
