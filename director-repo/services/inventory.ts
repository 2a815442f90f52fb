// The inventory service: registering vehicles with their ECUs and keys, replacing an ECU by explicit
// operator action, and what the Director knows of one vehicle. An ECU may bring an X25519 encryption
// public key, separate from its signing key, for images the operator has encrypted for it
// (docs/image-encryption.md).
import { createHash } from 'node:crypto';
import type { Clock } from '../../shared/core/clock.js';
import { encryptionPublicKeyFromHex } from '../../shared/core/crypto/image-encryption.js';
import { ecuKeyText, ecuKeyType, ecuPublicKey } from '../../shared/core/crypto/ecu-keys.js';
import type { PublicKey } from '../../shared/core/crypto/keys.js';
import { DEFAULT_SECURITY_PROFILE, PROFILE_REQUIREMENTS, type SecurityProfile } from '../../shared/core/security-profile.js';
import {
  BadRequestError,
  ConflictError,
  MalformedEncryptionKeyError,
  MalformedKeyError,
  NotFoundError,
  UnsupportedKeyError,
  UptaneError,
  WeakKeyError,
} from '../../shared/core/errors.js';
import type { EcuBody, RegisteredIdentities, VehicleRegistrationBody } from '../api/operator-api.js';
import type { DirectorStore } from '../store/director-store.js';
import type { EcuRecord, RegistrationQuery } from '../store/inventory.js';

/** An ECU as registration takes it: the operator API's ECU body, primary or not. */
export type EcuRegistration = EcuBody & { readonly primary: boolean };

export interface VehicleRegistration extends VehicleRegistrationBody {
  readonly ecus: readonly EcuRegistration[];
}

const VIN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const SERIAL_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const ctx = { repository: 'director' };
/** Attributes a vehicle holds at most: the operator input's bound (operator-input.ts LIMITS.attributes), kept after a merge too. */
const MAX_VEHICLE_ATTRIBUTES = 32;

export class VehicleInventory {
  /**
   * @param ecusChanged told once the unit of work that registered or replaced ECUs committed, so
   *   that whatever remembers which key is whose (VehicleAuthentication, on every replica) reads it
   *   anew; told before the commit, a read in between would remember the old state.
   */
  constructor(
    private readonly store: DirectorStore,
    private readonly clock: Clock,
    private readonly ecusChanged: () => void | Promise<void>,
  ) {}

  async registerVehicle(registration: VehicleRegistration, actor: string): Promise<void> {
    const now = this.clock.now();
    if (!VIN_PATTERN.test(registration.vin)) throw new BadRequestError(`VIN ${JSON.stringify(registration.vin)} must be 1-64 letters, digits, _ or -`, ctx);
    if (registration.ecus.filter((e) => e.primary).length !== 1) throw new BadRequestError('a vehicle has exactly one primary ECU', ctx);
    if (registration.ecus.length > 64) throw new BadRequestError('at most 64 ECUs per vehicle', ctx);
    const keys = registration.ecus.map((ecu) => {
      checkIdentifiers(ecu);
      return signingKeyOf(ecu);
    });
    if (new Set(registration.ecus.map((e) => e.serial)).size !== registration.ecus.length) throw new BadRequestError('ECU serials repeat', ctx);
    if (new Set(keys.map((k) => k.keyid)).size !== keys.length) throw new BadRequestError('two ECUs share a key: every ECU has its own', ctx);
    const encryptionKeys = registration.ecus.map(encryptionKeyOf);
    const given = encryptionKeys.filter((k): k is string => k !== null);
    // A shared encryption key would let one ECU decrypt what the operator encrypted for the other.
    if (new Set(given).size !== given.length) throw new BadRequestError('two ECUs share an encryption key: every ECU has its own', ctx);
    await this.store.unitOfWork(async (tx) => {
      if ((await tx.inventory.vehicle(registration.vin)) !== undefined) throw new ConflictError(`vehicle ${registration.vin} is already registered`, ctx);
      for (const [i, ecu] of registration.ecus.entries()) {
        const taken = await tx.inventory.ecu(ecu.serial);
        if (taken !== undefined) throw serialTaken(ecu.serial, taken.vin, registration.vin);
        const sameKey = await tx.inventory.ecuByKeyid(keys[i]!.keyid);
        if (sameKey !== undefined) throw keyTaken(ecu.serial, sameKey);
        await checkEncryptionKeyFree(tx.inventory, ecu.serial, encryptionKeys[i]!);
      }
      await tx.inventory.insertVehicle(registration.vin, registration.attributes ?? {}, now);
      for (const [i, ecu] of registration.ecus.entries()) {
        await tx.inventory.insertEcu(
          {
            serial: ecu.serial,
            vin: registration.vin,
            hardwareId: ecu.hardwareId,
            publicKey: ecuKeyText(keys[i]!),
            keyid: keys[i]!.keyid,
            isPrimary: ecu.primary,
            encryptionPublicKey: encryptionKeys[i]!,
            securityProfile: ecu.securityProfile ?? DEFAULT_SECURITY_PROFILE,
          },
          now,
        );
      }
      // Nothing is signed yet: the vehicle's metadata is signed on its first read (vehicle-metadata.ts).
      const securityProfiles = registration.ecus.map((e) => e.securityProfile ?? DEFAULT_SECURITY_PROFILE);
      await tx.auditLog.record(actor, 'register_vehicle', { vin: registration.vin, ecus: registration.ecus.map((e) => e.serial), securityProfiles }, now);
    });
    await this.ecusChanged();
  }

  /**
   * Sets and removes a vehicle's attributes (model, region, ...), which dynamic groups select on.
   * At most LIMITS.attributes remain; the change is audited with what it set and removed.
   */
  async changeAttributes(vin: string, change: { readonly set: Readonly<Record<string, string>>; readonly remove: readonly string[] }, actor: string): Promise<void> {
    const now = this.clock.now();
    await this.store.unitOfWork(async (tx) => {
      const vehicle = await tx.inventory.vehicle(vin);
      if (vehicle === undefined) throw new NotFoundError(`no vehicle ${vin}`, ctx);
      const next: Record<string, string> = { ...vehicle.attributes, ...change.set };
      for (const name of change.remove) delete next[name];
      if (Object.keys(next).length > MAX_VEHICLE_ATTRIBUTES) {
        throw new BadRequestError(`vehicle ${vin} would have ${Object.keys(next).length} attributes; at most ${MAX_VEHICLE_ATTRIBUTES} (remove some first)`, ctx);
      }
      await tx.inventory.setAttributes(vin, next);
      await tx.auditLog.record(actor, 'set_attributes', { vin, set: change.set, remove: change.remove }, now);
    });
  }

  /**
   * Replaces an ECU (new serial and key) by explicit operator action: a new key must never appear
   * in a manifest without this (docs/uptane-conformance.md 9.4).
   */
  async replaceEcu(vin: string, oldSerial: string, replacement: EcuBody, actor: string): Promise<void> {
    const now = this.clock.now();
    // The same rules as registration: a replacement must not bring in a serial or hardware id a
    // registration would refuse.
    checkIdentifiers(replacement);
    const key = signingKeyOf(replacement);
    const encryptionKey = encryptionKeyOf(replacement);
    await this.store.unitOfWork(async (tx) => {
      const old = await tx.inventory.ecu(oldSerial);
      if (old === undefined || old.vin !== vin) throw new NotFoundError(`vehicle ${vin} has no ECU ${oldSerial}`, ctx);
      const taken = replacement.serial === oldSerial ? undefined : await tx.inventory.ecu(replacement.serial);
      if (taken !== undefined) throw serialTaken(replacement.serial, taken.vin, vin);
      const sameKey = await tx.inventory.ecuByKeyid(key.keyid);
      if (sameKey !== undefined) throw keyTaken(replacement.serial, sameKey);
      await checkEncryptionKeyFree(tx.inventory, replacement.serial, encryptionKey);
      for (const a of (await tx.assignments.active(vin)).filter((x) => x.ecuSerial === oldSerial)) {
        await tx.assignments.setState(a.id, 'cancelled', 'ECU replaced', now);
      }
      await tx.inventory.deleteEcu(oldSerial);
      // A replacement keeps the replaced ECU's profile unless the operator names another: a part
      // swapped for the same part must not silently rise (or fall) a tier.
      const securityProfile = replacement.securityProfile ?? old.securityProfile;
      await tx.inventory.insertEcu(
        {
          serial: replacement.serial,
          vin,
          hardwareId: replacement.hardwareId,
          publicKey: ecuKeyText(key),
          keyid: key.keyid,
          isPrimary: old.isPrimary,
          encryptionPublicKey: encryptionKey,
          securityProfile,
        },
        now,
      );
      await tx.vehicleMetadata.markStale([vin]);
      const details = { vin, oldSerial, newSerial: replacement.serial, keyid: key.keyid, securityProfile };
      await tx.auditLog.record(actor, 'replace_ecu', encryptionKey === null ? details : { ...details, encryptionKeyid: encryptionKeyid(encryptionKey) }, now);
    });
    // Sessions end with the key that opened them (VehicleAuthentication).
    await this.ecusChanged();
  }

  /**
   * Changes one ECU's security profile (docs/security-profiles.md), audited with the old and new
   * profile. Assignments already made stand: the Director checks the profile when it assigns, and the
   * ECU checks its own before it installs; an operator lowering a profile cancels what no longer fits.
   */
  async setEcuProfile(vin: string, serial: string, profile: SecurityProfile, actor: string): Promise<{ readonly from: SecurityProfile; readonly to: SecurityProfile }> {
    const now = this.clock.now();
    return this.store.unitOfWork(async (tx) => {
      const ecu = await tx.inventory.ecu(serial);
      if (ecu === undefined || ecu.vin !== vin) throw new NotFoundError(`vehicle ${vin} has no ECU ${serial} (director vehicle show ${vin} lists its ECUs)`, ctx);
      await tx.inventory.setEcuProfile(serial, profile);
      await tx.auditLog.record(actor, 'set_ecu_profile', { vin, serial, from: ecu.securityProfile, to: profile }, now);
      return { from: ecu.securityProfile, to: profile };
    });
  }

  /**
   * Which of these VINs, ECU serials and signing keys are registered, and to which vehicle: what a
   * registration would be refused for, asked before anything is written (a CSV's dry run). Read-only;
   * the operator input bounds the lists.
   */
  async registered(query: RegistrationQuery): Promise<RegisteredIdentities> {
    const found = await this.store.inventory.registered(query);
    return {
      vins: found.vins,
      ecus: found.ecus.map((ecu) => ({ serial: ecu.serial, vin: ecu.vin, hardwareId: ecu.hardwareId, primary: ecu.isPrimary, keyid: ecu.keyid })),
    };
  }

  async vehicleStatus(vin: string) {
    const vehicle = await this.store.inventory.vehicle(vin);
    if (vehicle === undefined) throw new NotFoundError(`no vehicle ${vin}`, ctx);
    const [active, lastManifestAt, ecus, assignments, attacks, manifests] = await Promise.all([
      this.store.assignments.active(vin),
      this.store.manifests.lastAcceptedAt(vin),
      this.store.inventory.ecusOf(vin),
      this.store.assignments.ofVehicle(vin, 50),
      this.store.manifests.attacksOf(vin, 50),
      this.store.manifests.history(vin, 20),
    ]);
    return {
      ...vehicle,
      lastManifestAt,
      ecus: ecus.map((ecu) => ({
        serial: ecu.serial,
        hardwareId: ecu.hardwareId,
        primary: ecu.isPrimary,
        keyid: ecu.keyid,
        keyType: ecuKeyType(ecuPublicKey(ecu.publicKey)),
        encryptionPublicKey: ecu.encryptionPublicKey,
        encryptionKeyid: ecu.encryptionPublicKey === null ? null : encryptionKeyid(ecu.encryptionPublicKey),
        securityProfile: ecu.securityProfile,
        profileRequirements: PROFILE_REQUIREMENTS[ecu.securityProfile],
        installed: ecu.installed,
        reportedAt: ecu.reportedAt,
        pending: active.find((a) => a.ecuSerial === ecu.serial) ?? null,
      })),
      assignments,
      attacks,
      manifests,
    };
  }
}

/**
 * The ECU's signing key, Ed25519 or ECDSA P-256/P-384 in any form `ecuPublicKey` reads; stored in
 * the one text form `ecuKeyText` writes (docs/decisions.md Cryptography, "ECU keys"). A key that is
 * malformed, off its curve, weak or of another type is refused with its typed error
 * (malformed_key, weak_key, unsupported_key; 400) before anything is stored.
 */
function signingKeyOf(ecu: { readonly serial: string; readonly publicKey: string }): PublicKey {
  let key: PublicKey;
  try {
    key = ecuPublicKey(ecu.publicKey);
  } catch (err) {
    // The same class and code, naming the ECU: an operator registering 64 ECUs needs to know which key.
    const message = `ECU ${ecu.serial}: ${(err as Error).message}`;
    if (err instanceof MalformedKeyError) throw new MalformedKeyError(message, { ...ctx, cause: err });
    if (err instanceof WeakKeyError) throw new WeakKeyError(message, { ...ctx, cause: err });
    if (err instanceof UnsupportedKeyError) throw new UnsupportedKeyError(message, { ...ctx, cause: err });
    throw err;
  }
  // A key no signature verifies under would leave the ECU unable to report, or the vehicle to
  // authenticate, ever (docs/threat-model.md HR-9e).
  return key.assertUsable(`ECU ${ecu.serial}`);
}

/**
 * The ECU's encryption public key as stored (canonical hex), or null if it brings none. A key that is
 * not 64 hex characters of a usable X25519 point is a MalformedEncryptionKeyError (400): nothing stored.
 */
function encryptionKeyOf(ecu: { readonly serial: string; readonly encryptionPublicKey?: string }): string | null {
  if (ecu.encryptionPublicKey === undefined) return null;
  try {
    return encryptionPublicKeyFromHex(ecu.encryptionPublicKey).hex;
  } catch (err) {
    if (err instanceof UptaneError) throw new MalformedEncryptionKeyError(`ECU ${ecu.serial}: ${err.message}`, { ...ctx, cause: err });
    throw err;
  }
}

/** The keyid of an encryption public key (hex SHA-256 of its 32 raw bytes), as the targets name it. */
function encryptionKeyid(hex: string): string {
  return createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');
}

async function checkEncryptionKeyFree(inventory: DirectorStore['inventory'], serial: string, encryptionKey: string | null): Promise<void> {
  if (encryptionKey !== null && (await inventory.ecuByEncryptionKey(encryptionKey)) !== undefined) {
    throw new ConflictError(`ECU ${serial}'s encryption key is already registered to another ECU`, ctx);
  }
}

/**
 * An ECU serial already in the inventory, as the refusal says it (a registration file's dry run says
 * it the same way). Serials are unique across the fleet, not per vehicle (docs/decisions.md "ECU
 * identity"): the message names the vehicle that holds the serial (operators are authenticated and
 * may see the whole inventory) and the two ways out.
 */
export function ecuSerialTakenMessage(serial: string, owner: string, vin: string): string {
  const next =
    owner === vin
      ? `\`uptane director vehicle show ${owner}\` lists its ECUs`
      : 'ECU serials are unique across the fleet: register each ECU under its own hardware serial; ' +
        `if this ECU was moved out of ${owner}, first take it out of ${owner} with \`uptane director replace-ecu ${owner} ${serial} --serial SERIAL_FITTED_INSTEAD ...\``;
  return `ECU ${serial} is already registered to vehicle ${owner}; ${next}`;
}

/** A signing key already registered: every ECU has its own, so a repeated key is a copying mistake or a cloned ECU. */
export function ecuKeyTakenMessage(serial: string, holder: { readonly serial: string; readonly vin: string }): string {
  return `ECU ${serial}'s key is already registered to ECU ${holder.serial} of vehicle ${holder.vin}: every ECU has its own key`;
}

const serialTaken = (serial: string, owner: string, vin: string) => new ConflictError(ecuSerialTakenMessage(serial, owner, vin), ctx);
const keyTaken = (serial: string, holder: EcuRecord) => new ConflictError(ecuKeyTakenMessage(serial, holder), ctx);

/** ECU serials and hardware ids as registration and replacement accept them. */
function checkIdentifiers(ecu: { readonly serial: string; readonly hardwareId: string }): void {
  if (!SERIAL_PATTERN.test(ecu.serial)) throw new BadRequestError(`ECU serial ${JSON.stringify(ecu.serial)} is not valid`, ctx);
  if (!SERIAL_PATTERN.test(ecu.hardwareId)) throw new BadRequestError(`hardware id ${JSON.stringify(ecu.hardwareId)} is not valid`, ctx);
}
