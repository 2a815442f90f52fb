// Which signatures of a vehicle version manifest verify under which registered ECU keys, pure: the
// parsed manifest, keys in their stored text form and an Ed25519 backend in; answers out. The
// Director's checks (manifest-checks.ts) ask through ManifestSignatures, answered either here and
// now (verifyInline) or from verdicts a worker thread computed before the manifest's unit of work
// (services/manifest-verification.ts; docs/decisions.md "Signature verification on every core").
import type { Ed25519Backend } from '../shared/core/crypto/ed25519.js';
import { ecuPublicKey } from '../shared/core/crypto/ecu-keys.js';
import { UptaneError } from '../shared/core/errors.js';
import { isSignedBy, manifestSignedBytes, type VehicleVersionManifest } from '../shared/uptane/manifest.js';

/** Answers whether a manifest's signatures verify; a key is given as the inventory stores it (ecu-keys.ts). */
export interface ManifestSignatures {
  /** The vehicle version manifest itself is signed by this key (the primary's). */
  manifestSignedBy(publicKey: string): boolean;
  /** ECU `serial`'s version report is signed by this key. */
  reportSignedBy(serial: string, publicKey: string): boolean;
}

/** The keys a worker verifies against: what the inventory held for the vehicle when it was read. */
export interface SignatureKeys {
  /** The primary ECU's stored key, which must sign the manifest. */
  readonly primary?: string | undefined;
  /** ECU serial -> its stored key, which must sign that ECU's version report. */
  readonly ecus: Readonly<Record<string, string>>;
}

/** One signature's verdict, with the key it was verified under. */
export interface SignatureVerdict {
  readonly key: string;
  readonly valid: boolean;
}

/** What a worker found, handed back to the judge; a structured-clone-safe plain object. */
export interface SignatureVerdicts {
  readonly manifest?: SignatureVerdict | undefined;
  readonly reports: Readonly<Record<string, SignatureVerdict>>;
}

/** Verifies on demand, on this thread: the manifest's canonical bytes are computed once, on first use. */
export function verifyInline(manifest: VehicleVersionManifest, backend: Ed25519Backend): ManifestSignatures {
  let bytes: ReturnType<typeof manifestSignedBytes> | undefined;
  const signed = () => (bytes ??= manifestSignedBytes(manifest));
  return {
    manifestSignedBy: (publicKey) => isSignedBy(manifest, ecuPublicKey(publicKey), backend, signed().manifest),
    reportSignedBy: (serial, publicKey) => {
      const envelope = Object.hasOwn(manifest.signed.ecu_version_reports, serial) ? manifest.signed.ecu_version_reports[serial] : undefined;
      return envelope !== undefined && isSignedBy(envelope, ecuPublicKey(publicKey), backend, signed().reports.get(serial));
    },
  };
}

/**
 * Every signature of `manifest` that `keys` can be asked about, verified now (a worker thread's
 * job). A stored key that does not read as a key gets no verdict, so the judge, asking about it,
 * verifies inline and refuses with the very error it refuses with today.
 */
export function verifyManifestSignatures(manifest: VehicleVersionManifest, keys: SignatureKeys, backend: Ed25519Backend): SignatureVerdicts {
  const inline = verifyInline(manifest, backend);
  const verdict = (key: string, verify: () => boolean): SignatureVerdict | undefined => {
    try {
      return { key, valid: verify() };
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      return undefined;
    }
  };
  const reports: Record<string, SignatureVerdict> = {};
  for (const [serial, key] of Object.entries(keys.ecus)) {
    if (!Object.hasOwn(manifest.signed.ecu_version_reports, serial)) continue;
    const found = verdict(key, () => inline.reportSignedBy(serial, key));
    if (found !== undefined) reports[serial] = found;
  }
  const primary = keys.primary;
  return { manifest: primary === undefined ? undefined : verdict(primary, () => inline.manifestSignedBy(primary)), reports };
}

/**
 * Answers from `verdicts` where they were computed under the very key asked about, and from
 * `fallback` otherwise: a key the inventory changed between the worker's read and the judge's (an
 * ECU replaced meanwhile) is verified again, so the judge's answer always holds for the stored key.
 */
export function withVerdicts(verdicts: SignatureVerdicts, fallback: ManifestSignatures): ManifestSignatures {
  return {
    manifestSignedBy: (publicKey) => (verdicts.manifest?.key === publicKey ? verdicts.manifest.valid : fallback.manifestSignedBy(publicKey)),
    reportSignedBy: (serial, publicKey) => {
      const found = Object.hasOwn(verdicts.reports, serial) ? verdicts.reports[serial] : undefined;
      return found?.key === publicKey ? found.valid : fallback.reportSignedBy(serial, publicKey);
    },
  };
}
