// The assignment service: which image goes to which ECU, checked against the Image repository (the
// image exists, fits the ECU's hardware id, does not lower its release counter), stored with the
// vehicles' targets marked for re-signing in the same unit of work. An assignment the operator wants
// encrypted gets the image's one ciphertext and, per ECU, its content key wrapped to that ECU's
// encryption key (encrypted-images.ts), all made before the unit of work that stores them.
import type { Clock } from '../../shared/core/clock.js';
import { BadRequestError, ConflictError, ImageRollbackError, IncompatibleImageError, NoEncryptionKeyError, NotFoundError, ProfileAssignmentRefusedError, UptaneError } from '../../shared/core/errors.js';
import type { TargetFile } from '../../shared/core/metadata/types.js';
import { minimumProfileOf, profileSatisfies } from '../../shared/core/security-profile.js';
import type { ImageEncryption, PlannedAssignment } from '../api/operator-api.js';
import type { EncryptedImageRecord, EncryptedImages } from '../encrypted-images.js';
import type { ImageCatalog } from '../image-catalog.js';
import type { AssignmentRecord } from '../store/assignments.js';
import type { DirectorStore, DirectorTransaction } from '../store/director-store.js';
import type { EcuRecord } from '../store/inventory.js';

export interface AssignmentRequest {
  readonly vins: readonly string[];
  /** Image filename as the Image repository lists it. */
  readonly image: string;
  /** Which ECU: by serial (one vehicle), or every ECU with this hardware id in each vehicle. */
  readonly ecuSerial?: string;
  readonly hardwareId?: string;
  /** Encrypt the image for each ECU: the operator's decision; every chosen ECU needs an encryption key. */
  readonly encrypt?: boolean;
}

/** One ECU's image as a dry run plans it, with what the ECU reports installed now (the wire type). */
export type { PlannedAssignment };

/** An image already looked up in the Image repository, for the campaign engine's assigning. */
export interface ResolvedImage {
  readonly hardwareId: string;
  readonly filename: string;
  readonly target: TargetFile;
  /** Set when the image is to be encrypted: its ciphertext, made when the campaign started. */
  readonly ciphertextSha256?: string;
}

/** What assignResolved did for one vehicle: how many ECUs it assigned, or why it skipped the vehicle. */
export type ResolvedOutcome = { readonly assigned: number } | { readonly skipped: string };

const ctx = { repository: 'director' };
/** VINs whose ECUs planAssignments reads in one store call. */
const PLAN_BATCH = 1000;

export class AssignmentService {
  constructor(
    private readonly store: DirectorStore,
    private readonly images: ImageCatalog,
    private readonly clock: Clock,
    /** Largest number of VINs one assignment request may name. */
    private readonly maxVinsPerAssignment = 100_000,
    /** Where encrypted assignments get their ciphertext and wrapped keys. */
    private readonly encryption?: EncryptedImages,
  ) {}

  /** The images the Image repository lists, as this Director verified them (the dashboard's image page); none when its catalog cannot list. */
  async catalog(): Promise<ReadonlyArray<{ readonly filename: string; readonly target: TargetFile }>> {
    return (await this.images.listImages?.()) ?? [];
  }

  /**
   * Works out which ECU of which vehicle would get what, after checking that the image exists in the
   * Image repository, fits the ECU's hardware id, and does not lower its release counter; with
   * `encrypt`, that every chosen ECU has an encryption key (NoEncryptionKeyError, 409).
   */
  async planAssignments(request: AssignmentRequest): Promise<PlannedAssignment[]> {
    return (await this.plan(request)).plans;
  }

  /** planAssignments, with the encryption key of each ECU the plan encrypts for (by serial). */
  private async plan(request: AssignmentRequest): Promise<{ plans: PlannedAssignment[]; images: Map<string, TargetFile>; encryptionKeys: Map<string, string> }> {
    const max = this.maxVinsPerAssignment;
    if (request.vins.length === 0 || request.vins.length > max) throw new BadRequestError(`name 1 to ${max} VINs`, ctx);
    if ((request.ecuSerial === undefined) === (request.hardwareId === undefined)) throw new BadRequestError('name either ecuSerial or hardwareId', ctx);
    if (request.ecuSerial !== undefined && request.vins.length !== 1) throw new BadRequestError('ecuSerial applies to one vehicle; use hardwareId for many', ctx);
    const plans: PlannedAssignment[] = [];
    const imagesByHardware = new Map<string, TargetFile>();
    const encryptionKeys = new Map<string, string>();
    let ecusOf = new Map<string, EcuRecord[]>();
    for (const [i, vin] of request.vins.entries()) {
      // Read in batches: one store call per batch, and only one batch's ECU records held at a time.
      if (i % PLAN_BATCH === 0) ecusOf = await this.store.inventory.ecusOfVehicles(request.vins.slice(i, i + PLAN_BATCH));
      const ecus = ecusOf.get(vin) ?? [];
      if (ecus.length === 0) throw new NotFoundError(`no vehicle ${vin}`, ctx);
      const chosen = ecus.filter((e) => (request.ecuSerial !== undefined ? e.serial === request.ecuSerial : e.hardwareId === request.hardwareId));
      if (chosen.length === 0) throw new NotFoundError(`vehicle ${vin} has no ECU ${request.ecuSerial ?? `with hardware id ${request.hardwareId}`}`, ctx);
      for (const ecu of chosen) {
        if (request.encrypt === true) {
          // Only the operator decides to encrypt, and an ECU without a key could never decrypt: the
          // whole request is refused before anything is looked up, encrypted or stored.
          if (ecu.encryptionPublicKey === null) {
            throw new NoEncryptionKeyError(
              `ECU ${ecu.serial} of ${vin} has no encryption key, so ${request.image} cannot be encrypted for it: ` +
                'register its X25519 encryption public key (replace the ECU with encryptionPublicKey, or register the vehicle with it), or assign without encrypt',
              { ...ctx, role: ecu.serial },
            );
          }
          encryptionKeys.set(ecu.serial, ecu.encryptionPublicKey);
        }
        let image = imagesByHardware.get(ecu.hardwareId);
        if (image === undefined) {
          image = await this.images.findImage(request.image, ecu.hardwareId);
          imagesByHardware.set(ecu.hardwareId, image);
        }
        const plan = planOne(vin, ecu, request.image, image);
        plans.push(request.encrypt === true ? { ...plan, encrypt: true } : plan);
      }
    }
    return { plans, images: imagesByHardware, encryptionKeys };
  }

  /**
   * The encryption of each plan for its ECU: the image's one ciphertext (made now if it is new, once
   * per image whatever the number of ECUs) and the content key wrapped per ECU. Outside any unit of
   * work: it downloads and encrypts.
   */
  private async encrypt(request: AssignmentRequest, plans: readonly PlannedAssignment[], images: Map<string, TargetFile>, keys: Map<string, string>): Promise<ImageEncryption[]> {
    if (this.encryption === undefined) throw new ConflictError('this Director cannot encrypt images', ctx);
    const ciphertexts = new Map<string, EncryptedImageRecord>();
    for (const image of new Set(images.values())) {
      ciphertexts.set(image.hashes.sha256 ?? '', await this.encryption.ciphertextFor(request.image, image));
    }
    const encryptions: ImageEncryption[] = [];
    for (const plan of plans) {
      const record = ciphertexts.get(plan.hashes.sha256 ?? '')!;
      encryptions.push(await this.encryption.encryptionFor(record, plan.ecuSerial, keys.get(plan.ecuSerial)!));
    }
    return encryptions;
  }

  /** Plans, then stores every assignment and marks each vehicle's targets for re-signing, all in one unit of work. */
  async assign(request: AssignmentRequest, actor: string): Promise<AssignmentRecord[]> {
    const { plans: planOnly, images, encryptionKeys } = await this.plan(request);
    const encryptions = request.encrypt === true ? await this.encrypt(request, planOnly, images, encryptionKeys) : undefined;
    const plans = encryptions === undefined ? planOnly : planOnly.map((plan, i) => ({ ...plan, encryption: encryptions[i]! }));
    const now = this.clock.now();
    return this.store.unitOfWork(async (tx) => {
      if (encryptions !== undefined) {
        // Each key was wrapped to the ECU's encryption key as planned: one replaced since could never open it.
        for (const plan of plans) {
          if ((await tx.inventory.ecu(plan.ecuSerial))?.encryptionPublicKey !== encryptionKeys.get(plan.ecuSerial)) {
            throw new ConflictError(`ECU ${plan.ecuSerial} of ${plan.vin} changed while ${request.image} was encrypted for it; assign again`, ctx);
          }
        }
      }
      const vins = [...new Set(plans.map((p) => p.vin))];
      const active = await tx.assignments.activeOfVehicles(vins);
      // The first ECU that already has an active assignment, stored before or earlier in this batch
      // (by serial: each ECU serial is registered once).
      const planned = new Map<string, number>();
      for (const [i, plan] of plans.entries()) {
        const stored = active.get(plan.vin)?.find((a) => a.ecuSerial === plan.ecuSerial);
        const earlier = planned.get(plan.ecuSerial);
        if (stored !== undefined) throw conflict(plan, stored);
        if (earlier !== undefined) {
          const ids = await tx.assignments.insert(plans.slice(0, i), { actor, now });
          throw conflict(plan, (await tx.assignments.byId(ids[earlier]!))!);
        }
        planned.set(plan.ecuSerial, i);
      }
      const ids = await tx.assignments.insert(plans, { actor, now });
      await tx.vehicleMetadata.markStale(vins);
      const details = { image: request.image, vins: request.vins.length, ecus: plans.length, ids };
      await tx.auditLog.record(actor, 'assign', request.encrypt === true ? { ...details, encrypt: true } : details, now);
      return tx.assignments.byIds(ids);
    });
  }

  /**
   * Looks up each image once in the Image repository, for every hardware id it will go to; with
   * `encrypt`, also makes (or finds) its one ciphertext, so that assigning it needs no network.
   */
  async resolveImages(images: ReadonlyArray<{ hardwareId: string; image: string }>, options: { readonly encrypt?: boolean } = {}): Promise<ResolvedImage[]> {
    const resolved: ResolvedImage[] = [];
    for (const { hardwareId, image } of images) {
      const target = await this.images.findImage(image, hardwareId);
      if (options.encrypt !== true) {
        resolved.push({ hardwareId, filename: image, target });
        continue;
      }
      if (this.encryption === undefined) throw new ConflictError('this Director cannot encrypt images', ctx);
      resolved.push({ hardwareId, filename: image, target, ciphertextSha256: (await this.encryption.ciphertextFor(image, target)).ciphertextSha256 });
    }
    return resolved;
  }

  /**
   * Assigns resolved images to every ECU of each vehicle whose hardware id they are for, with the
   * same checks as an operator's assignment, inside `tx` (the campaign engine's). Per vehicle: how
   * many were assigned, or why it was skipped (no such ECU, incompatible, a lower release counter,
   * already assigned).
   */
  async assignResolved(tx: DirectorTransaction, vins: readonly string[], images: readonly ResolvedImage[], actor: string, campaignId: number): Promise<Map<string, ResolvedOutcome>> {
    const now = this.clock.now();
    const [ecusOf, activeOf] = [await tx.inventory.ecusOfVehicles(vins), await tx.assignments.activeOfVehicles(vins)];
    const outcomes = new Map<string, ResolvedOutcome>();
    const plans: PlannedAssignment[] = [];
    for (const vin of vins) {
      const outcome = planResolved(vin, ecusOf.get(vin) ?? [], activeOf.get(vin) ?? [], images);
      outcomes.set(vin, 'skipped' in outcome ? outcome : { assigned: outcome.length });
      if (!('skipped' in outcome)) plans.push(...outcome);
    }
    await tx.assignments.insert(await this.encryptResolved(tx, plans, ecusOf, images), { actor, now, campaignId });
    await tx.vehicleMetadata.markStale([...new Set(plans.map((p) => p.vin))]);
    return outcomes;
  }

  /**
   * The plans of images the campaign encrypts, each with its ECU's wrap of the image's content key
   * (the ciphertext was made when the campaign started). Inside the campaign's unit of work: a wrap
   * is local work (an X25519 agreement and a seal, under a millisecond), never the network.
   */
  private async encryptResolved(tx: DirectorTransaction, plans: PlannedAssignment[], ecusOf: Map<string, EcuRecord[]>, images: readonly ResolvedImage[]): Promise<PlannedAssignment[]> {
    if (!images.some((image) => image.ciphertextSha256 !== undefined)) return plans;
    const records = new Map<string, EncryptedImageRecord>();
    const encrypted: PlannedAssignment[] = [];
    for (const plan of plans) {
      const image = images.find((i) => i.filename === plan.filename && i.hardwareId === plan.hardwareId);
      const sha256 = image?.ciphertextSha256;
      if (sha256 === undefined) {
        encrypted.push(plan);
        continue;
      }
      let record = records.get(sha256);
      if (record === undefined) {
        record = await tx.encryptedImages.byCiphertext(sha256);
        if (record === undefined) throw new ConflictError(`the ciphertext of ${plan.filename} made when the campaign started is gone`, ctx);
        records.set(sha256, record);
      }
      const key = ecusOf.get(plan.vin)?.find((e) => e.serial === plan.ecuSerial)?.encryptionPublicKey ?? null;
      // planResolved skipped every vehicle with a target ECU without a key.
      encrypted.push({ ...plan, encryption: await this.encryption!.encryptionFor(record, plan.ecuSerial, key!) });
    }
    return encrypted;
  }

  async cancelAssignment(id: number, actor: string): Promise<AssignmentRecord> {
    const now = this.clock.now();
    return this.store.unitOfWork(async (tx) => {
      const assignment = await tx.assignments.byId(id);
      if (assignment === undefined) throw new NotFoundError(`no assignment ${id}`, ctx);
      if (assignment.state !== 'pending' && assignment.state !== 'in_flight') {
        throw new ConflictError(`assignment ${id} is ${assignment.state}; only pending or in-flight assignments can be cancelled`, ctx);
      }
      await tx.assignments.setState(id, 'cancelled', `cancelled by ${actor}`, now);
      if (assignment.bundleId !== undefined) {
        // An install bundle installs all or none: cancelling one member cancels every member.
        for (const member of await tx.installBundles.members(assignment.bundleId)) {
          if (member.id !== id && (member.state === 'pending' || member.state === 'in_flight')) await tx.assignments.setState(member.id, 'cancelled', `cancelled by ${actor} with assignment ${id} of its install bundle`, now);
        }
        await tx.installBundles.finish(assignment.bundleId, { state: 'cancelled', failingEcu: null, reason: `cancelled by ${actor}` }, now);
      }
      await tx.vehicleMetadata.markStale([assignment.vin]);
      await tx.auditLog.record(actor, 'cancel_assignment', { id, vin: assignment.vin }, now);
      return (await tx.assignments.byId(id))!;
    });
  }
}

function conflict(plan: PlannedAssignment, active: AssignmentRecord): ConflictError {
  return new ConflictError(`ECU ${plan.ecuSerial} of ${plan.vin} already has ${active.state} assignment ${active.id} (${active.filename}); cancel it first`, ctx);
}

function planOne(vin: string, ecu: EcuRecord, filename: string, image: TargetFile): PlannedAssignment {
  const context = { ...ctx, role: ecu.serial };
  const hardwareIds = image.custom?.hardwareIds ?? [];
  if (!hardwareIds.includes(ecu.hardwareId)) {
    throw new IncompatibleImageError(`${filename} is for hardware ${hardwareIds.join(', ') || '(none listed)'}, not ${ecu.hardwareId} (ECU ${ecu.serial} of ${vin})`, context);
  }
  requireProfileMeets(vin, ecu, filename, image);
  const releaseCounter = image.custom?.releaseCounter ?? 0;
  const installedCounter = ecu.installed?.releaseCounter ?? null;
  if (installedCounter !== null && releaseCounter < installedCounter) {
    throw new ImageRollbackError(`${filename} has release counter ${releaseCounter}, below ${installedCounter} installed on ECU ${ecu.serial} of ${vin}`, context);
  }
  return { vin, ecuSerial: ecu.serial, filename, length: image.length, hashes: image.hashes, hardwareId: ecu.hardwareId, releaseCounter, installed: ecu.installed?.filename ?? null };
}

/**
 * ProfileAssignmentRefusedError unless the ECU's registered security profile meets the minimum the
 * Image repository signed for the image (custom.minimumSecurityProfile; docs/security-profiles.md).
 * The ECU checks the same rule before it installs; refusing here keeps an operator from making an
 * assignment every such ECU would refuse, and tells them why at once.
 */
function requireProfileMeets(vin: string, ecu: EcuRecord, filename: string, image: TargetFile): void {
  const minimum = minimumProfileOf(image.custom, `${filename} custom`);
  if (minimum === undefined || profileSatisfies(ecu.securityProfile, minimum)) return;
  throw new ProfileAssignmentRefusedError(
    `${filename} requires security profile ${minimum} or higher; ECU ${ecu.serial} of ${vin} is registered as ${ecu.securityProfile}: ` +
      `assign an image whose minimum it meets, or, once the ECU meets ${minimum}, raise its profile (uptane director vehicle set-profile ${vin} ${ecu.serial} ${minimum})`,
    { ...ctx, role: ecu.serial },
  );
}

/** One vehicle's plans for the resolved images, or why it is skipped (a campaign's dry run asks too). */
export function planResolved(vin: string, ecus: readonly EcuRecord[], active: readonly AssignmentRecord[], images: readonly ResolvedImage[]): PlannedAssignment[] | { skipped: string } {
  // A VIN the inventory has no ECUs for (never registered, or gone since): nothing can be planned for it.
  if (ecus.length === 0) return { skipped: `vehicle_unknown: no ECUs of ${vin} are registered` };
  const plans: PlannedAssignment[] = [];
  for (const image of images) {
    for (const ecu of ecus.filter((e) => e.hardwareId === image.hardwareId)) {
      if (active.some((a) => a.ecuSerial === ecu.serial)) return { skipped: `conflict: ECU ${ecu.serial} already has an active assignment` };
      if (ecu.installed?.filename === image.filename && ecu.installed.hashes.sha256 === image.target.hashes.sha256) continue; // already runs it
      if (image.ciphertextSha256 !== undefined && ecu.encryptionPublicKey === null) {
        return { skipped: `no_encryption_key: ECU ${ecu.serial} has no encryption key, and the campaign encrypts ${image.filename}` };
      }
      try {
        plans.push(planOne(vin, ecu, image.filename, image.target));
      } catch (err) {
        if (err instanceof UptaneError) return { skipped: `${err.code}: ${err.message}` };
        throw err;
      }
    }
  }
  if (plans.length === 0) return { skipped: ecus.some((e) => images.some((i) => i.hardwareId === e.hardwareId)) ? 'already installed' : 'no ECU with a matching hardware id' };
  return plans;
}
