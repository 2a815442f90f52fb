// Manifests and attacks on PostgreSQL (schema.ts): accepted records with their bodies as evidence,
// refused ones apart with a digest and an excerpt, both pruned per vehicle as on SQLite
// (../sqlite/manifests.ts). Both tables take their ids from the sequence manifest_record_ids, so the
// merged history is in arrival order; intake holds the vehicle's row lock while it writes
// (intake.ts), so one vehicle's records are numbered in the order they were judged.
import { createHash } from 'node:crypto';
import {
  MANIFEST_PRUNING,
  REFUSED_MANIFEST_EXCERPT_BYTES,
  REFUSED_MESSAGE_CHARS,
  type AttackRecord,
  type ManifestRecord,
  type ManifestStore,
} from '../manifests.js';
import { toAttack, toManifestRecord, type AttackRow, type ManifestHistoryRow } from '../rows.js';
import { limitParam, run, storableText, type Queryable } from './sql.js';

/** Deletes a vehicle's records of `table` older than its newest $2, once there are more than $3. */
function pruneStatement(table: 'manifests' | 'refused_manifests'): string {
  return `DELETE FROM ${table} WHERE vin = $1
            AND id <= (SELECT id FROM ${table} WHERE vin = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)
            AND EXISTS (SELECT 1 FROM ${table} WHERE vin = $1 ORDER BY id DESC LIMIT 1 OFFSET $3)`;
}

const sha256Hex = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

export class PostgresManifests implements ManifestStore {
  constructor(private readonly q: Queryable) {}

  /** An accepted manifest (its body as evidence, or null); the oldest beyond MANIFEST_HISTORY go. */
  async recordAccepted(vin: string, body: Uint8Array | null, now: Date): Promise<void> {
    await run(this.q, 'INSERT INTO manifests (vin, received_at, body) VALUES ($1, $2, $3)', [vin, now.toISOString(), body === null ? null : Buffer.from(body)]);
    await run(this.q, pruneStatement('manifests'), [vin, MANIFEST_PRUNING.accepted.keep, MANIFEST_PRUNING.accepted.trigger]);
  }

  /**
   * A refused manifest: its reason, the body's length and SHA-256 and its first
   * REFUSED_MANIFEST_EXCERPT_BYTES bytes, the vehicle's newest REFUSED_MANIFEST_HISTORY kept
   * (docs/threat-model.md HR-4). Accepted history is untouched.
   */
  async recordRefused(vin: string, error: { code: string; message: string }, body: Uint8Array, now: Date): Promise<void> {
    const excerpt = Buffer.from(body.buffer, body.byteOffset, Math.min(body.length, REFUSED_MANIFEST_EXCERPT_BYTES));
    await run(
      this.q,
      'INSERT INTO refused_manifests (vin, received_at, error_code, error_message, body_length, body_sha256, excerpt) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [vin, now.toISOString(), storableText(error.code), storableText(error.message.slice(0, REFUSED_MESSAGE_CHARS)), body.length, sha256Hex(body), excerpt],
    );
    await run(this.q, pruneStatement('refused_manifests'), [vin, MANIFEST_PRUNING.refused.keep, MANIFEST_PRUNING.refused.trigger]);
  }

  async history(vin: string, limit: number): Promise<ManifestRecord[]> {
    const rows = await run<ManifestHistoryRow>(
      this.q,
      `SELECT * FROM (
         (SELECT id, received_at, true AS accepted, NULL::text AS error_code, NULL::text AS error_message, NULL::bigint AS body_length, NULL::text AS body_sha256
            FROM manifests WHERE vin = $1 ORDER BY id DESC LIMIT $2)
         UNION ALL
         (SELECT id, received_at, false AS accepted, error_code, error_message, body_length, body_sha256
            FROM refused_manifests WHERE vin = $1 ORDER BY id DESC LIMIT $2)
       ) AS merged ORDER BY id DESC LIMIT $2`,
      [vin, limitParam(limit)],
    );
    return rows.map(toManifestRecord);
  }

  async lastAcceptedAt(vin: string): Promise<string | null> {
    const [row] = await run<{ received_at: string }>(this.q, 'SELECT received_at FROM manifests WHERE vin = $1 ORDER BY id DESC LIMIT 1', [vin]);
    return row?.received_at ?? null;
  }

  async recordAttack(vin: string, ecuSerial: string, code: string, message: string, now: Date): Promise<void> {
    await run(this.q, 'INSERT INTO attacks (vin, ecu_serial, code, message, reported_at) VALUES ($1, $2, $3, $4, $5)', [
      vin,
      ecuSerial,
      storableText(code),
      storableText(message),
      now.toISOString(),
    ]);
  }

  async attacksOf(vin: string, limit: number): Promise<AttackRecord[]> {
    const rows = await run<AttackRow>(
      this.q,
      'SELECT ecu_serial, code, message, reported_at FROM attacks WHERE vin = $1 ORDER BY id DESC LIMIT $2',
      [vin, limitParam(limit)],
    );
    return rows.map(toAttack);
  }
}
