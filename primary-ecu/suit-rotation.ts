// Rotating the vehicle's SUIT key (docs/suit.md "Rotating the SUIT key"): the primary's keys and the
// state of a rotation, kept so that a crash at any point never leaves a constrained ECU trusting a
// key the primary no longer has.
//
// Files of the primary's folder:
//   suit-key.pem       the current key: envelopes are signed with it, statements too
//   suit-key.next.pem  the pending key, written before anything is sent; it exists only during a rotation
//   suit-rotation.json the epoch of every key the primary has had (by public key) and, per constrained
//                      ECU, the epoch of the key it accepted
//
// The states, and what a restart in each finds:
//   1. no rotation: suit-key.pem only. Every ECU trusts it.
//   2. pending key written, its epoch not yet recorded: nothing was sent; the restart records the
//      epoch (current + 1) and goes on with the same key.
//   3. pending recorded, statements being sent: an ECU trusts the current key or, once it accepted,
//      the pending one; both files are there. An ECU whose answer was lost is asked again and
//      answers `unchanged` (it recognises the statement it applied), so the primary records it.
//      Until then envelopes for an ECU are signed with the key the primary knows it trusts: the
//      pending key for an ECU that accepted, the current one for the others.
//   4. every ECU recorded: suit-key.next.pem is renamed over suit-key.pem, one atomic step. Before
//      it, state 3; after it, state 1 with the new key (its epoch is in suit-rotation.json already).
// The pending key is never replaced while it exists (a second rotation resumes the first), and the
// current key is replaced only by it, only once every ECU took it: so any key an ECU trusts is
// always one of the two files.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { UptaneError } from '../shared/core/errors.js';
import { fsyncDirectory, writeFileAtomic } from '../shared/files/fs-atomic.js';
import type { SecondaryTransport } from '../shared/ecu/secondary-protocol.js';
import type { SuitKey } from '../shared/suit/envelope.js';
import { importSuitSigningKey, suitPublicKeyRaw } from '../shared/suit/identity.js';
import { encodeSuitKeyUpdate } from '../shared/suit/key-update.js';
import { isSuitReceiver } from '../shared/suit/transport.js';

export const SUIT_KEY_FILE = 'suit-key.pem';
export const SUIT_NEXT_KEY_FILE = 'suit-key.next.pem';
export const SUIT_ROTATION_FILE = 'suit-rotation.json';

/** Where a rotation is, for the crash tests' fault injection (a throw there is a power cut). */
export type SuitRotationStep = 'pending-written' | 'pending-recorded' | 'ecu-accepted' | 'all-accepted' | 'switched';

export interface SuitRotationOptions {
  readonly log?: (line: string) => void;
  readonly faultAt?: (step: SuitRotationStep, serial?: string) => void;
}

/** One SUIT key of the primary. */
export interface SuitKeyEntry {
  readonly key: SuitKey;
  /** Raw Ed25519 public key, as a constrained ECU trusts it. */
  readonly publicKey: Uint8Array;
  readonly epoch: number;
}

/** A constrained ECU's ids, hex (as in suit-bridge.json). */
export interface RotationEcu {
  readonly vendorId: string;
  readonly classId: string;
}

export interface SuitRotationReport {
  /** The epoch of the key being rotated to (after a switch: the current key's). */
  readonly epoch: number;
  /** True when every constrained ECU took the new key and the primary signs with it now. */
  readonly switched: boolean;
  /** Serials of the ECUs trusting the new key. */
  readonly accepted: readonly string[];
  /** The ECUs that did not take it this time, and why (unreachable, or a typed refusal): asked again next cycle. */
  readonly pending: ReadonlyArray<{ readonly serial: string; readonly code: string; readonly message: string }>;
}

interface RotationRecord {
  /** Epoch of every key this primary has had, by raw public key (hex). The factory key, unlisted, is epoch 0. */
  keys: Record<string, number>;
  /** Epoch of the key each constrained ECU accepted, by serial (unlisted: the factory key's). */
  ecus: Record<string, number>;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

async function entryOf(pem: string, epoch: number): Promise<SuitKeyEntry> {
  return { key: await importSuitSigningKey(pem), publicKey: suitPublicKeyRaw(pem), epoch };
}

/** The primary's current and pending SUIT keys, and which ECU trusts which. */
export class SuitKeyRing {
  private constructor(
    private readonly directory: string,
    private currentKey: SuitKeyEntry,
    private pendingKey: SuitKeyEntry | null,
    private record: RotationRecord,
  ) {}

  static async open(directory: string): Promise<SuitKeyRing> {
    const recordPath = join(directory, SUIT_ROTATION_FILE);
    const record = existsSync(recordPath) ? (JSON.parse(readFileSync(recordPath, 'utf8')) as RotationRecord) : { keys: {}, ecus: {} };
    const currentPem = readFileSync(join(directory, SUIT_KEY_FILE), 'utf8');
    const current = await entryOf(currentPem, record.keys[hex(suitPublicKeyRaw(currentPem))] ?? 0);
    const nextPath = join(directory, SUIT_NEXT_KEY_FILE);
    const ring = new SuitKeyRing(directory, current, null, record);
    if (existsSync(nextPath)) {
      const nextPem = readFileSync(nextPath, 'utf8');
      const known = record.keys[hex(suitPublicKeyRaw(nextPem))];
      ring.pendingKey = await entryOf(nextPem, known ?? current.epoch + 1);
      // State 2: written, its epoch not recorded, so nothing was sent under it yet.
      if (known === undefined) ring.recordPendingEpoch();
    }
    return ring;
  }

  get current(): SuitKeyEntry {
    return this.currentKey;
  }

  get pending(): SuitKeyEntry | null {
    return this.pendingKey;
  }

  /** Whether `serial` has taken the pending key. */
  hasPending(serial: string): boolean {
    return this.pendingKey !== null && this.record.ecus[serial] === this.pendingKey.epoch;
  }

  /** The key `serial` trusts, as far as the primary knows: what its envelopes are signed with. */
  keyFor(serial: string): SuitKeyEntry {
    return this.hasPending(serial) ? this.pendingKey! : this.currentKey;
  }

  /** The pending key: the one a crashed or unfinished rotation left, else a new one, persisted before it is returned. */
  async beginRotation(options: SuitRotationOptions = {}): Promise<SuitKeyEntry> {
    if (this.pendingKey !== null) return this.pendingKey;
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    writeFileAtomic(join(this.directory, SUIT_NEXT_KEY_FILE), Buffer.from(pem), 0o600);
    this.pendingKey = await entryOf(pem, this.currentKey.epoch + 1);
    options.faultAt?.('pending-written');
    this.recordPendingEpoch();
    options.faultAt?.('pending-recorded');
    return this.pendingKey;
  }

  recordAccepted(serial: string): void {
    this.writeRecord({ ...this.record, ecus: { ...this.record.ecus, [serial]: this.pendingKey!.epoch } });
  }

  /** State 4: the pending key becomes the current one in one rename. */
  switchToPending(): void {
    const directory = this.directory;
    renameSync(join(directory, SUIT_NEXT_KEY_FILE), join(directory, SUIT_KEY_FILE));
    fsyncDirectory(directory);
    this.currentKey = this.pendingKey!;
    this.pendingKey = null;
  }

  private recordPendingEpoch(): void {
    const pending = this.pendingKey!;
    this.writeRecord({ ...this.record, keys: { ...this.record.keys, [hex(this.currentKey.publicKey)]: this.currentKey.epoch, [hex(pending.publicKey)]: pending.epoch } });
  }

  private writeRecord(next: RotationRecord): void {
    writeFileAtomic(join(this.directory, SUIT_ROTATION_FILE), Buffer.from(JSON.stringify(next)));
    this.record = next;
  }
}

/**
 * Sends the pending key's statement to every constrained ECU that has not taken it (each one's own,
 * for its class, signed with the current key), records each acceptance, and switches once all took
 * it. An ECU that cannot be reached or refuses is reported and asked again at the next call.
 */
export async function deliverPendingKey(
  ring: SuitKeyRing,
  ecus: Readonly<Record<string, RotationEcu>>,
  transports: ReadonlyMap<string, SecondaryTransport>,
  options: SuitRotationOptions = {},
): Promise<SuitRotationReport | undefined> {
  const pending = ring.pending;
  if (pending === null) return undefined;
  const log = options.log ?? (() => undefined);
  const stillPending: Array<{ serial: string; code: string; message: string }> = [];
  for (const [serial, ecu] of Object.entries(ecus)) {
    if (ring.hasPending(serial)) continue;
    const transport = transports.get(serial);
    if (transport === undefined || !isSuitReceiver(transport)) {
      stillPending.push({ serial, code: 'secondary_failed', message: `no SUIT transport to ${serial}` });
      continue;
    }
    const statement = await encodeSuitKeyUpdate(
      { epoch: pending.epoch, vendorId: Buffer.from(ecu.vendorId, 'hex'), classId: Buffer.from(ecu.classId, 'hex'), publicKey: pending.publicKey },
      ring.current.key,
    );
    try {
      const answer = await transport.putSuitKey(statement);
      // Anything but the epoch sent means the ECU did not take this key: not recorded.
      if (answer.epoch !== pending.epoch) {
        stillPending.push({ serial, code: 'secondary_failed', message: `${serial} answered epoch ${answer.epoch}, not ${pending.epoch}` });
        continue;
      }
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      log(`SUIT key epoch ${pending.epoch}: ECU ${serial} did not take it (${err.code}: ${err.message}); asked again next cycle`);
      stillPending.push({ serial, code: err.code, message: err.message });
      continue;
    }
    options.faultAt?.('ecu-accepted', serial);
    ring.recordAccepted(serial);
    log(`SUIT key epoch ${pending.epoch}: ECU ${serial} took it`);
  }
  const accepted = Object.keys(ecus).filter((serial) => ring.hasPending(serial));
  if (stillPending.length > 0) return { epoch: pending.epoch, switched: false, accepted, pending: stillPending };
  options.faultAt?.('all-accepted');
  ring.switchToPending();
  options.faultAt?.('switched');
  log(`SUIT key epoch ${pending.epoch}: every constrained ECU took it; signing with it now`);
  return { epoch: pending.epoch, switched: true, accepted, pending: [] };
}
