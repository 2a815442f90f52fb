// The Director's composition root: composeDirector builds its focused services (services/, the
// campaign engine, per-vehicle signing in vehicle-metadata.ts) on one store, and the routes (app.ts,
// campaign-routes.ts) call each service directly. Decisions live in the services, SQL behind the
// store interfaces (store/).
import { InstallBundleService } from './services/install-bundles.js';
import type { Clock } from '../shared/core/clock.js';
import { Campaigns } from './campaigns.js';
import { EncryptedImages } from './encrypted-images.js';
import { ImageDeltas, type ImageDeltaConfig } from './image-deltas.js';
import type { ImageCatalog } from './image-catalog.js';
import type { ManifestCheckConfig } from './manifest-checks.js';
import { AssignmentService } from './services/assignments.js';
import { DirectorRoot } from './services/director-root.js';
import { ImageUrlIssuer, type ImageUrlConfig } from './services/image-urls.js';
import { VehicleInventory } from './services/inventory.js';
import { ManifestIntakeService } from './services/manifest-intake.js';
import { ManifestVerification, type ManifestVerificationOptions } from './services/manifest-verification.js';
import { VehicleAuthentication, type VehicleAuthOptions } from './services/vehicle-auth.js';
import type { DirectorStore } from './store/director-store.js';
import { directorKeyRing, VehicleMetadataSigner, type DirectorKeyRing, type DirectorOnlineKeys, type VehicleMetadataConfig } from './vehicle-metadata.js';

/** What composeDirector needs besides the store. */
export interface DirectorOptions extends VehicleAuthOptions {
  readonly images: ImageCatalog;
  /** The online keys, as a ring when they live in a key folder and can be rotated (shared/server/online-keys.ts). */
  readonly onlineKeys: DirectorOnlineKeys | DirectorKeyRing;
  readonly clock: Clock;
  readonly metadata?: Partial<VehicleMetadataConfig>;
  readonly manifestChecks?: ManifestCheckConfig;
  /** Manifest signatures on worker threads (default: one per core when there are several; `threads: 0` verifies on the event loop). */
  readonly manifestVerification?: ManifestVerificationOptions;
  /** Largest number of VINs one assignment request may name. */
  readonly maxVinsPerAssignment?: number;
  /** The folder of encrypted images' ciphertexts (`<data-dir>/encrypted-images`); without it the Director cannot encrypt. */
  readonly encryptedImagesDir?: string;
  /** Signed URLs for vehicles' downloads (docs/signed-urls.md); without it POST /vehicle/image-urls answers 404. */
  readonly imageUrls?: ImageUrlConfig;
  /** The folder of image deltas (`<data-dir>/deltas`, docs/transport.md "Delta updates"); without it no delta is offered. */
  readonly deltasDir?: string;
  readonly deltas?: Partial<ImageDeltaConfig>;
}

/** The Director's focused services, each depending on the store interfaces only: a plain record, no behaviour of its own. */
export interface DirectorServices {
  readonly authentication: VehicleAuthentication;
  readonly inventory: VehicleInventory;
  readonly assignments: AssignmentService;
  /** Several ECUs of one vehicle installed all or none (docs/decisions.md "Install bundles"). */
  readonly installBundles: InstallBundleService;
  readonly intake: ManifestIntakeService;
  readonly metadata: VehicleMetadataSigner;
  readonly root: DirectorRoot;
  readonly campaigns: Campaigns;
  /** Encrypted images' ciphertexts and wrapped keys (docs/image-encryption.md). */
  readonly encryptedImages: EncryptedImages;
  /** Signed URLs for vehicles' downloads, when the Director has a URL-signing key. */
  readonly imageUrls?: ImageUrlIssuer | undefined;
  /** Deltas between the image an ECU reports and the one it is assigned (image-deltas.ts). */
  readonly deltas: ImageDeltas;
}

/** Builds the Director's services on `store`. */
export function composeDirector(store: DirectorStore, options: DirectorOptions): DirectorServices {
  const { clock } = options;
  // One ring for the signer and the root service: a root's publication switches the keys both use.
  const onlineKeys = directorKeyRing(options.onlineKeys);
  const authentication = new VehicleAuthentication(store, clock, options);
  const encryptedImages = new EncryptedImages(store, options.images, clock, options.encryptedImagesDir);
  const assignments = new AssignmentService(store, options.images, clock, options.maxVinsPerAssignment, encryptedImages);
  const deltas = new ImageDeltas(store, options.images, clock, options.deltasDir, options.deltas);
  const intake = new ManifestIntakeService(store, clock, options.manifestChecks, new ManifestVerification(store, options.manifestVerification));
  const installBundles = new InstallBundleService(store, assignments, clock);
  // Before the campaign engine's listener: a bundle's members have ended together when it looks.
  intake.onManifestAccepted((vin) => installBundles.recordOutcomes(vin));
  return {
    authentication,
    inventory: new VehicleInventory(store, clock, () => authentication.forgetPrimaryKeys()),
    assignments,
    installBundles,
    intake,
    metadata: new VehicleMetadataSigner(store, onlineKeys, clock, options.metadata, deltas),
    root: new DirectorRoot(store, onlineKeys, clock),
    campaigns: new Campaigns(store, assignments, intake, clock),
    encryptedImages,
    deltas,
    imageUrls: options.imageUrls === undefined ? undefined : new ImageUrlIssuer(store, clock, options.imageUrls),
  };
}
