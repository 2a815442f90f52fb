// Uptane #full_verification, the steps as the Standard numbers them, for the primary and for a
// secondary that verifies in full. Step 1 (the time) is the clock both clients were given. Nothing
// is trusted until the caller commits the clients' staged stores after the whole workflow (and the
// image) verified; a step that throws leaves the previous trusted metadata as it was.
import type { DirectorClient } from './director-client.js';
import type { ImageRepositoryClient } from './image-repository-client.js';
import type { RepositoryClient } from './repository-client.js';
import type { SecurityProfile } from '../core/security-profile.js';
import { checkImageAllowedForProfile } from './profile-check.js';
import { checkTargetsMatch, type EcuTarget } from './uptane-checks.js';

export interface UptaneRepositories {
  readonly director: DirectorClient;
  readonly image: ImageRepositoryClient;
}

/** What full verification needs to know of the ECU running it. */
export interface VerifyingEcu {
  /**
   * The Director's images this ECU acts on: all of them on the primary (its Director client checked
   * every ECU against the vehicle); a secondary's own, with the checks only it can make.
   */
  readonly imagesToConsider: (directorTargets: EcuTarget[]) => EcuTarget[];
  /** Whether an ECU already runs this image. */
  readonly isInstalled: (target: EcuTarget) => boolean;
  /** The release counter of the image an ECU installed from verified metadata, if known (step 10.2.3). */
  readonly trustedReleaseCounter: (ecuSerial: string) => number | undefined;
  /** The security profile of the ECU an image is for, held against the Image repository's minimum (docs/security-profiles.md). */
  readonly securityProfile: (ecuSerial: string) => SecurityProfile;
}

/** The whole workflow: returns the images to install, verified by both repositories (empty: nothing new). */
export async function fullVerification(repositories: UptaneRepositories, ecu: VerifyingEcu): Promise<EcuTarget[]> {
  const directorTargets = await verifyDirectorMetadata(repositories.director);
  const work = newImages(ecu.imagesToConsider(directorTargets), ecu.isInstalled);
  if (work.length === 0) return [];
  await verifyImageMetadata(repositories.image);
  await checkDirectorAndImageTargetsAgree(repositories.image, work, ecu.trustedReleaseCounter, ecu.securityProfile);
  return work;
}

/** Steps 2-5: the Director's root, timestamp, snapshot and targets (with the Director-only checks). */
export function verifyDirectorMetadata(director: DirectorClient): Promise<EcuTarget[]> {
  return checkRepository(director);
}

/**
 * Step 6: stop when the Director lists nothing new for its ECU. (The snapshot shortcut of step 4 is
 * folded into this: unchanged metadata lists nothing new once everything it lists is installed.)
 */
export function newImages(targets: readonly EcuTarget[], isInstalled: (target: EcuTarget) => boolean): EcuTarget[] {
  return targets.filter((t) => !isInstalled(t));
}

/** Steps 6-9: the Image repository's root, timestamp, snapshot and top-level targets. */
export function verifyImageMetadata(image: ImageRepositoryClient): Promise<void> {
  return checkRepository(image);
}

/**
 * Step 10: every image the Director assigned is the Image repository's, found by delegation
 * resolution for the ECU's hardware id, with the same length, hashes and release counter, and no
 * release counter below the one the ECU trusted before (mix-and-match, arbitrary software, C9);
 * and the ECU meets the minimum security profile the Image repository's target names
 * (docs/threat-model.md SP1, SP2): the Director cannot waive it by leaving it out of its own targets.
 */
export async function checkDirectorAndImageTargetsAgree(
  image: ImageRepositoryClient,
  work: readonly EcuTarget[],
  trustedReleaseCounter: (ecuSerial: string) => number | undefined,
  securityProfile: (ecuSerial: string) => SecurityProfile,
): Promise<void> {
  for (const t of work) {
    const found = await image.findTarget(t.filename, [t.hardwareId]);
    checkTargetsMatch(t, found.target, trustedReleaseCounter(t.ecuSerial));
    checkImageAllowedForProfile(t, found.target, securityProfile(t.ecuSerial));
  }
}

/** One repository's metadata in the Standard's order (#check_root, #check_timestamp, #check_snapshot, #check_targets). */
async function checkRepository<Targets>(repository: RepositoryClient<Targets>): Promise<Targets> {
  repository.loadTrustedRoot();
  await repository.updateRoot();
  await repository.updateTimestamp();
  await repository.updateSnapshot();
  return repository.updateTargets();
}
