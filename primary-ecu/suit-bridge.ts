// The primary's side of the SUIT bridge (docs/suit.md): which of its secondaries are constrained, the
// vehicle's SUIT signing key, and the envelope it signs for an image it verified in full. The list of
// constrained ECUs is a file of the primary's folder written at provisioning, the small seam that
// Director-side security profiles (issue 23 item 1) will feed instead. Rotating the key is
// primary-ecu/suit-rotation.ts; the bridge signs each ECU's envelopes with the key that ECU trusts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SecondaryError, UptaneError } from '../shared/core/errors.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import type { SecondaryTransport } from '../shared/ecu/secondary-protocol.js';
import type { EcuTarget } from '../shared/uptane/uptane-checks.js';
import { encodeSuitEnvelope } from '../shared/suit/envelope.js';
import { SUIT_COMPONENT_ID } from '../shared/suit/identity.js';
import { deliverPendingKey, SUIT_KEY_FILE, SuitKeyRing, type SuitKeyEntry, type SuitRotationOptions, type SuitRotationReport } from './suit-rotation.js';

export { SUIT_KEY_FILE } from './suit-rotation.js';
export const SUIT_BRIDGE_FILE = 'suit-bridge.json';

/** A constrained secondary as the primary knows it: the ids its envelopes carry (hex, 16 bytes each). */
export interface ConstrainedEcu {
  readonly vendorId: string;
  readonly classId: string;
}

export interface SuitBridgeProvisioning {
  /** The vehicle's SUIT signing key (Ed25519, PKCS #8 PEM); its public half is provisioned into each constrained ECU. */
  readonly keyPem: string;
  readonly ecus: Readonly<Record<string, ConstrainedEcu>>;
}

/** Writes the bridge's key and list into a provisioned primary's folder. */
export function provisionSuitBridge(primaryDirectory: string, p: SuitBridgeProvisioning): void {
  writeFileAtomic(join(primaryDirectory, SUIT_KEY_FILE), Buffer.from(p.keyPem), 0o600);
  writeFileAtomic(join(primaryDirectory, SUIT_BRIDGE_FILE), Buffer.from(JSON.stringify({ ecus: p.ecus })));
}

export class SuitBridge {
  private constructor(private readonly keys: SuitKeyRing, private readonly ecus: Readonly<Record<string, ConstrainedEcu>>) {}

  /** The bridge of a primary provisioned with one, else undefined (every secondary speaks Uptane). */
  static async open(primaryDirectory: string): Promise<SuitBridge | undefined> {
    const listPath = join(primaryDirectory, SUIT_BRIDGE_FILE);
    if (!existsSync(listPath)) return undefined;
    const { ecus } = JSON.parse(readFileSync(listPath, 'utf8')) as { ecus: Record<string, ConstrainedEcu> };
    return new SuitBridge(await SuitKeyRing.open(primaryDirectory), ecus);
  }

  isConstrained(serial: string): boolean {
    return Object.hasOwn(this.ecus, serial);
  }

  /** The current SUIT key, and the pending one while a rotation is unfinished. */
  get keyState(): { readonly current: SuitKeyEntry; readonly pending: SuitKeyEntry | null } {
    return { current: this.keys.current, pending: this.keys.pending };
  }

  /**
   * Rotates the SUIT key (docs/suit.md "Rotating the SUIT key"): a new key persisted as pending
   * first (or the pending one an unfinished rotation left), its statement sent to every constrained
   * ECU, and the switch once all took it. An ECU that did not is asked again by `resumeRotation`.
   */
  async rotateKey(transports: ReadonlyMap<string, SecondaryTransport>, options: SuitRotationOptions = {}): Promise<SuitRotationReport> {
    await this.keys.beginRotation(options);
    return (await deliverPendingKey(this.keys, this.ecus, transports, options))!;
  }

  /**
   * An unfinished rotation carried on (the primary calls it every cycle); undefined when there is
   * none. A failure of the primary's own storage here is logged, not thrown: the cycle's update goes
   * on under the keys as recorded, and the next cycle tries the rotation again.
   */
  async resumeRotation(transports: ReadonlyMap<string, SecondaryTransport>, options: SuitRotationOptions = {}): Promise<SuitRotationReport | undefined> {
    try {
      return await deliverPendingKey(this.keys, this.ecus, transports, options);
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      options.log?.(`SUIT key rotation not carried on this cycle: ${err.code}: ${err.message}`);
      return undefined;
    }
  }

  /**
   * The envelope for `t`, an image the primary verified in full: its SHA-256 and length from the
   * Image repository's targets (which the Director's matched), and the release counter as the
   * sequence number, so the constrained ECU's rollback check is Uptane's. Signed with the key that
   * ECU trusts: the pending one once it took it, mid-rotation.
   */
  async envelopeFor(t: EcuTarget): Promise<Uint8Array> {
    const ecu = this.ecus[t.ecuSerial];
    if (ecu === undefined) throw new SecondaryError(`ECU ${t.ecuSerial} is not a constrained ECU of this vehicle`);
    const sha256 = t.target.hashes.sha256;
    if (sha256 === undefined) throw new SecondaryError(`${t.filename} lists no SHA-256, the only digest a SUIT envelope of this project carries`);
    return encodeSuitEnvelope(
      {
        sequenceNumber: t.target.custom?.releaseCounter ?? 0,
        componentId: SUIT_COMPONENT_ID,
        vendorId: Buffer.from(ecu.vendorId, 'hex'),
        classId: Buffer.from(ecu.classId, 'hex'),
        imageDigest: Buffer.from(sha256, 'hex'),
        imageSize: t.target.length,
        uri: t.filename,
      },
      this.keys.keyFor(t.ecuSerial).key,
    );
  }
}
