// The manifests' and attacks' SQL (schema.ts, migrations 1 and 4): accepted records with their
// bodies as evidence, refused ones apart with a digest and an excerpt, both pruned per vehicle.
import { createHash } from 'node:crypto';
import type { Db } from '../../../shared/server/sqlite.js';
import {
  MANIFEST_PRUNING,
  REFUSED_MANIFEST_EXCERPT_BYTES,
  REFUSED_MESSAGE_CHARS,
  type AttackRecord,
  type ManifestRecord,
  type ManifestStore,
} from '../manifests.js';
import { toAttack, toManifestRecord, type AttackRow, type ManifestHistoryRow } from '../rows.js';
import type { Synchronous } from './transaction-gate.js';

/** The id of the next manifest record, accepted or refused: one more than the largest in either table. */
const NEXT_MANIFEST_ID = `max(coalesce((SELECT max(id) FROM manifests), 0), coalesce((SELECT max(id) FROM refused_manifests), 0)) + 1`;

/** Deletes a vehicle's records of `table` older than its newest :keep, once there are more than :trigger. */
function pruneStatement(table: 'manifests' | 'refused_manifests'): string {
  return `DELETE FROM ${table} WHERE vin = :vin
            AND id <= (SELECT id FROM ${table} WHERE vin = :vin ORDER BY id DESC LIMIT 1 OFFSET :keep)
            AND EXISTS (SELECT 1 FROM ${table} WHERE vin = :vin ORDER BY id DESC LIMIT 1 OFFSET :trigger)`;
}

const sha256Hex = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

export class SqliteManifests implements Synchronous<ManifestStore> {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      // Accepted and refused records share one id sequence across both tables (each id is one more
      // than the largest in either), so the operator's merged view is in arrival order.
      insertAccepted: db.prepare(
        `INSERT INTO manifests (id, vin, received_at, accepted, error_code, error_message, body)
         VALUES (${NEXT_MANIFEST_ID}, ?, ?, 1, NULL, NULL, ?)`,
      ),
      insertRefused: db.prepare(
        `INSERT INTO refused_manifests (id, vin, received_at, error_code, error_message, body_length, body_sha256, excerpt)
         VALUES (${NEXT_MANIFEST_ID}, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // Keep a vehicle's newest records, deleting in steps (MANIFEST_PRUNING, ../manifests.ts).
      pruneAccepted: db.prepare(pruneStatement('manifests')),
      pruneRefused: db.prepare(pruneStatement('refused_manifests')),
      history: db.prepare(
        `SELECT * FROM (
           SELECT * FROM (SELECT id, received_at, 1 AS accepted, NULL AS error_code, NULL AS error_message, NULL AS body_length, NULL AS body_sha256
                            FROM manifests WHERE vin = :vin ORDER BY id DESC LIMIT :limit)
           UNION ALL
           SELECT * FROM (SELECT id, received_at, 0 AS accepted, error_code, error_message, body_length, body_sha256
                            FROM refused_manifests WHERE vin = :vin ORDER BY id DESC LIMIT :limit)
         ) ORDER BY id DESC LIMIT :limit`,
      ),
      lastAccepted: db.prepare('SELECT received_at FROM manifests WHERE vin = ? AND accepted = 1 ORDER BY id DESC LIMIT 1'),
      insertAttack: db.prepare('INSERT INTO attacks (vin, ecu_serial, code, message, reported_at) VALUES (?, ?, ?, ?, ?)'),
      attacksOf: db.prepare('SELECT ecu_serial, code, message, reported_at FROM attacks WHERE vin = ? ORDER BY id DESC LIMIT ?'),
    };
  }

  /**
   * Adds an accepted manifest to the vehicle's history (with its body as evidence, or null) and drops
   * the oldest accepted records beyond MANIFEST_HISTORY: a vehicle reports every cycle, so an
   * unbounded history would grow with time, not with the fleet. Refused manifests are kept apart
   * (recordRefused) and never count against this history.
   */
  recordAccepted(vin: string, body: Uint8Array | null, now: Date): void {
    this.s.insertAccepted.run(vin, now.toISOString(), body === null ? null : Buffer.from(body));
    this.s.pruneAccepted.run({ vin, ...MANIFEST_PRUNING.accepted });
  }

  /**
   * Records a manifest the Director refused, with the reason, the body's length and SHA-256 and its
   * first REFUSED_MANIFEST_EXCERPT_BYTES bytes (never the whole body: a refused body is whatever the
   * sender chose, up to the request limit), keeping the vehicle's newest REFUSED_MANIFEST_HISTORY.
   * Accepted history is untouched (docs/threat-model.md HR-4).
   */
  recordRefused(vin: string, error: { code: string; message: string }, body: Uint8Array, now: Date): void {
    const excerpt = Buffer.from(body.buffer, body.byteOffset, Math.min(body.length, REFUSED_MANIFEST_EXCERPT_BYTES));
    this.s.insertRefused.run(vin, now.toISOString(), error.code, error.message.slice(0, REFUSED_MESSAGE_CHARS), body.length, sha256Hex(body), excerpt);
    this.s.pruneRefused.run({ vin, ...MANIFEST_PRUNING.refused });
  }

  history(vin: string, limit: number): ManifestRecord[] {
    return (this.s.history.all({ vin, limit }) as ManifestHistoryRow[]).map(toManifestRecord);
  }

  lastAcceptedAt(vin: string): string | null {
    return (this.s.lastAccepted.get(vin) as { received_at: string } | undefined)?.received_at ?? null;
  }

  recordAttack(vin: string, ecuSerial: string, code: string, message: string, now: Date): void {
    this.s.insertAttack.run(vin, ecuSerial, code, message, now.toISOString());
  }

  attacksOf(vin: string, limit: number): AttackRecord[] {
    return (this.s.attacksOf.all(vin, limit) as AttackRow[]).map(toAttack);
  }
}
