// The worker-thread side of manifest signature verification (services/manifest-verification.ts):
// parses the manifest bytes, canonicalizes once and verifies every signature the vehicle's keys can
// be asked about, with the same code the judge would run inline (manifest-signatures.ts). It never
// throws for what a vehicle sent: bytes that do not parse get no verdicts, and the judge, verifying
// inline, refuses them exactly as it would have. Loaded by piscina (shared/server/worker-pool.ts).
import { nodeBackend } from '../shared/core/crypto/ed25519.js';
import { UptaneError } from '../shared/core/errors.js';
import { parseVehicleVersionManifest } from '../shared/uptane/manifest.js';
import { verifyManifestSignatures, type SignatureKeys, type SignatureVerdicts } from './manifest-signatures.js';

export interface ManifestSignatureJob {
  readonly body: Uint8Array;
  readonly keys: SignatureKeys;
}

export default function verifyManifestJob({ body, keys }: ManifestSignatureJob): SignatureVerdicts {
  try {
    return verifyManifestSignatures(parseVehicleVersionManifest(body, { repository: 'director' }), keys, nodeBackend);
  } catch (err) {
    if (!(err instanceof UptaneError)) throw err;
    return { reports: {} };
  }
}
