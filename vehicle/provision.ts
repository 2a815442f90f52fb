// Provisioning a vehicle at the "factory": every ECU gets its signing key and its image-encryption
// key, the trusted Director and Image repository roots, and a factory image in its active slot; the primary learns each secondary's
// hardware id and public key, against which it checks their signed version reports. The
// `uptane vehicle provision` command and the simulator's vehicles both come from here.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ecuKeyText } from '../shared/core/crypto/ecu-keys.js';
import type { PrivateKey } from '../shared/core/crypto/keys.js';
import type { EncryptionKeyPair } from '../shared/core/crypto/image-encryption.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import { Primary } from '../primary-ecu/primary.js';
import { Secondary } from '../secondary-ecu/secondary.js';
import type { ClientTlsConfig } from '../shared/client/tls-client.js';
import { persistBrokerPassword, splitBrokerLogin } from './mqtt-transport.js';
import { persistVehicleTls, vehicleState, VEHICLE_FILES, type VehicleConfig } from './folder.js';
import type { VehicleRegistrationBody } from '../director-repo/api/operator-api.js';
import { persistImageLogPolicy, type ImageLogPolicy } from '../primary-ecu/log-check.js';
import type { SecurityProfile } from '../shared/core/security-profile.js';
import { defaultProvisionedProfile, ecuProfileShortfalls, type EcuConfiguration } from '../shared/uptane/profile-check.js';

export interface EcuSpec {
  readonly serial: string;
  readonly hardwareId: string;
  /** A secondary's verification; partial unless given (the primary always verifies fully). */
  readonly verification?: 'partial' | 'full';
  /**
   * Its security profile (docs/security-profiles.md); unless given, standard for an ECU that verifies
   * fully and basic for one that verifies partially (the highest its verification meets).
   */
  readonly securityProfile?: SecurityProfile;
}

/** What the factory puts in every ECU of one vehicle. */
export interface VehiclePlan {
  readonly vin: string;
  readonly primary: EcuSpec;
  readonly secondaries: readonly EcuSpec[];
  readonly directorUrl: string;
  readonly imageRepoUrl: string;
  readonly directorRoot: Uint8Array;
  readonly imageRoot: Uint8Array;
  /** Opt-in: the primary requires the Image log's inclusion proof of the targets it verified (primary-ecu/log-check.ts). */
  readonly imageLog?: ImageLogPolicy;
}

/**
 * An ECU's two key pairs: Ed25519 or ECDSA P-256/P-384 (hardware that signs only with ECDSA) to sign
 * its version reports, X25519 to open the images the Director encrypts for it. Never one key for
 * both (Uptane best practice: a key that decrypts never signs).
 */
export interface EcuKeyPairs {
  readonly signing: PrivateKey;
  readonly encryption: EncryptionKeyPair;
}

/** The keys of each serial: generated for a real vehicle, derived from a seed in the simulator. */
export type EcuKeys = (serial: string) => EcuKeyPairs;

/** The operator API body (POST /api/v1/vehicles) that registers a vehicle with the Director: public keys only. */
export type { VehicleRegistrationBody };

/** The image an ECU leaves the factory with, in its active slot. */
export const factoryImage = (ecu: EcuSpec) => ({ filename: `factory/${ecu.hardwareId}.bin`, content: Buffer.from(`factory image of ${ecu.hardwareId}\n`) });

/** The ECU's signing key in the form the Director stores and the primary keeps: hex (Ed25519) or base64 SPKI (ECDSA). */
const publicKeyOf = (keys: EcuKeys, serial: string) => ecuKeyText(keys(serial).signing.publicKey);

/** What an ECU verifies: the primary always in full, a secondary as its spec says (partial unless given). */
const verificationOf = (ecu: EcuSpec, primary: boolean): 'partial' | 'full' => (primary ? 'full' : (ecu.verification ?? 'partial'));

/** The profile an ECU is provisioned, registered and checked with. */
export const securityProfileOf = (ecu: EcuSpec, primary: boolean): SecurityProfile => ecu.securityProfile ?? defaultProvisionedProfile(verificationOf(ecu, primary));

/**
 * Refuses a plan in which an ECU declares a profile its configuration is known not to meet
 * (`known`: what the caller knows of every ECU besides its verification), naming each shortfall.
 */
export function checkPlanProfiles(plan: Pick<VehiclePlan, 'primary' | 'secondaries'>, known: Omit<Partial<EcuConfiguration>, 'verification'> = {}): void {
  const problems = [[plan.primary, true] as const, ...plan.secondaries.map((e) => [e, false] as const)].flatMap(([ecu, primary]) =>
    ecuProfileShortfalls(securityProfileOf(ecu, primary), { ...known, verification: verificationOf(ecu, primary) }).map((p) => `ECU ${ecu.serial}: ${p}`),
  );
  if (problems.length > 0) throw new Error(`${problems.join('; ')}: provision it with a lower profile, or change what it lacks`);
}

/**
 * Writes one folder per ECU under `directory`, named by serial: the secondaries first, then the
 * primary that knows them. A profile the ECU's verification does not meet is refused first; what
 * else the caller knows (key storage, time source) is checked by provisionVehicleFolder.
 */
export function provisionEcus(directory: string, plan: VehiclePlan, keys: EcuKeys): void {
  checkPlanProfiles(plan);
  for (const ecu of plan.secondaries) {
    Secondary.provision(join(directory, ecu.serial), {
      serial: ecu.serial,
      hardwareId: ecu.hardwareId,
      vin: plan.vin,
      verification: ecu.verification ?? 'partial',
      securityProfile: securityProfileOf(ecu, false),
      // Partial verification still walks the Director root chain, so Director key rotations reach it.
      checkDirectorRoot: true,
      key: keys(ecu.serial).signing,
      encryptionKey: keys(ecu.serial).encryption,
      directorRoot: plan.directorRoot,
      imageRoot: plan.imageRoot,
      factoryImage: factoryImage(ecu),
    });
  }
  Primary.provision(join(directory, plan.primary.serial), {
    vin: plan.vin,
    serial: plan.primary.serial,
    hardwareId: plan.primary.hardwareId,
    directorUrl: plan.directorUrl,
    imageRepoUrl: plan.imageRepoUrl,
    secondaries: Object.fromEntries(
      plan.secondaries.map((ecu) => [ecu.serial, { hardwareId: ecu.hardwareId, publicKey: publicKeyOf(keys, ecu.serial), securityProfile: securityProfileOf(ecu, false) }]),
    ),
    securityProfile: securityProfileOf(plan.primary, true),
    key: keys(plan.primary.serial).signing,
    encryptionKey: keys(plan.primary.serial).encryption,
    directorRoot: plan.directorRoot,
    imageRoot: plan.imageRoot,
    factoryImage: factoryImage(plan.primary),
  });
  if (plan.imageLog !== undefined) persistImageLogPolicy(join(directory, plan.primary.serial), plan.imageLog);
}

export function vehicleRegistration(plan: Pick<VehiclePlan, 'vin' | 'primary' | 'secondaries'>, keys: EcuKeys): VehicleRegistrationBody {
  const ecu = (e: EcuSpec, primary: boolean) => ({
    serial: e.serial,
    hardwareId: e.hardwareId,
    publicKey: publicKeyOf(keys, e.serial),
    // Registered so the operator can choose to encrypt images for the ECU; the ECU never asks for it.
    encryptionPublicKey: keys(e.serial).encryption.publicKey.hex,
    primary,
    // The Director refuses assignments this profile does not meet (docs/security-profiles.md).
    securityProfile: securityProfileOf(e, primary),
  });
  return { vin: plan.vin, ecus: [ecu(plan.primary, true), ...plan.secondaries.map((e) => ecu(e, false))] };
}

/**
 * A vehicle folder (vehicle/folder.ts): the ECU folders, the registration to hand to the Director,
 * the parked state and, last, the vehicle config. A failure removes a folder this call created.
 */
export function provisionVehicleFolder(
  dir: string,
  plan: VehiclePlan,
  keys: EcuKeys,
  provisionedAt: string,
  /** The CA the servers' certificates chain to and the primary's client certificate (mutual TLS), stored in the folder. */
  tls?: ClientTlsConfig,
  /** `--transport mqtt(s)://...`: the Director over MQTT through this broker (vehicle/mqtt-transport.ts). */
  mqtt?: string,
): { config: VehicleConfig; registration: VehicleRegistrationBody } {
  // A real vehicle's ECUs keep their signing keys in files (ecu-key.pem) and read the system clock:
  // a profile that needs a hardware key or secure time is refused before any folder is made.
  checkPlanProfiles(plan, { signingKey: 'file', secureTime: false });
  const registration = vehicleRegistration(plan, keys);
  const broker = mqtt === undefined ? undefined : splitBrokerLogin(mqtt, plan.vin, tls);
  const config: VehicleConfig = {
    vin: plan.vin,
    primary: { serial: plan.primary.serial, hardwareId: plan.primary.hardwareId, securityProfile: securityProfileOf(plan.primary, true) },
    secondaries: plan.secondaries.map((s) => ({ serial: s.serial, hardwareId: s.hardwareId, verification: s.verification ?? 'partial', securityProfile: securityProfileOf(s, false) })),
    directorUrl: plan.directorUrl,
    imageRepoUrl: plan.imageRepoUrl,
    provisionedAt,
    ...(tls === undefined ? {} : { tls: { ca: tls.ca !== undefined, clientCertificate: tls.cert !== undefined } }),
    ...(broker === undefined ? {} : { transport: { mqtt: broker.url } }),
  };
  const created = !existsSync(dir);
  try {
    mkdirSync(dir, { recursive: true });
    provisionEcus(dir, plan, keys);
    writeFileAtomic(join(dir, VEHICLE_FILES.registration), Buffer.from(`${JSON.stringify(registration, null, 2)}\n`));
    if (tls !== undefined) persistVehicleTls(dir, tls);
    persistBrokerPassword(dir, broker?.password);
    // A vehicle leaves the factory parked; until this file exists every ECU treats it as driving.
    vehicleState(dir).set('parked');
    // Written last: a folder without it is an unfinished provisioning, not a vehicle.
    writeFileAtomic(join(dir, VEHICLE_FILES.config), Buffer.from(`${JSON.stringify(config, null, 2)}\n`));
  } catch (err) {
    if (created) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { config, registration };
}
