// PostgreSQL's own migrations (director-repo/store/postgres/schema.ts): a store opens a schema left
// at an older migration with rows in it, applies the rest once and keeps every row.
import { PostgresDatabase } from '../../../shared/server/postgres.js';
import { tokenDigest, tokenIdOf } from '../../../shared/server/access-tokens.js';
import { DIRECTOR_COMPONENT, PostgresDirectorStore } from '../../../director-repo/store/postgres/director-store.js';
import { MIGRATIONS } from '../../../director-repo/store/postgres/schema.js';
import { postgresBackend } from './backends.js';
import { T0, image } from './fixtures.js';

export function postgresMigrationCases(track: <S extends { close(): Promise<void> }>(store: S) => S): void {
  it(`opens a schema populated at migration 1 of ${MIGRATIONS.length}, applies the rest and keeps its rows`, async () => {
    const url = postgresBackend.place();
    const old = await PostgresDatabase.open(url, DIRECTOR_COMPONENT, MIGRATIONS.slice(0, 1));
    const t = T0.toISOString();
    const token = 'f'.repeat(64);
    const a = image('VIN-OLD', 's');
    try {
      await old.query('INSERT INTO vehicles (vin, attributes, registered_at) VALUES ($1, $2, $3)', ['VIN-OLD', '{"model":"sedan"}', t]);
      await old.query('INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at, last_counter) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', ['p', 'VIN-OLD', 'hw', 'pk', 'kid-p', true, t, 4]);
      await old.query('INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', ['s', 'VIN-OLD', 'hw-secondary', 'pk2', 'kid-s', false, t]);
      await old.query(
        `INSERT INTO assignments (vin, ecu_serial, filename, length, hashes, hardware_id, release_counter, state, reason, created_at, updated_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', NULL, $8, $8, 'op')`,
        [a.vin, a.ecuSerial, a.filename, a.length, JSON.stringify(a.hashes), a.hardwareId, a.releaseCounter, t],
      );
      await old.query("INSERT INTO operator_tokens (token_id, name, token_sha256, scope, created_at) VALUES ($1, 'alice', $2, 'operator', $3)", [tokenIdOf(token), tokenDigest(token), t]);
      await old.query('INSERT INTO signed_request_marks (keyid, newest_ms) VALUES ($1, $2)', ['kid-p', T0.getTime()]);
    } finally {
      await old.close();
    }

    const store = track(await PostgresDirectorStore.open(url));
    const check = track(await PostgresDatabase.open(url, DIRECTOR_COMPONENT, MIGRATIONS));
    expect(await check.schemaVersion(DIRECTOR_COMPONENT)).toBe(MIGRATIONS.length);
    expect(await store.inventory.vehicle('VIN-OLD')).toEqual({ vin: 'VIN-OLD', attributes: { model: 'sedan' }, registeredAt: t });
    expect((await store.inventory.ecusOf('VIN-OLD')).map((e) => [e.serial, e.lastCounter, e.securityProfile])).toEqual([
      ['p', 4, 'standard'],
      ['s', null, 'standard'],
    ]);
    const [assignment] = await store.assignments.active('VIN-OLD');
    expect(assignment).toEqual({ ...a, id: assignment!.id, state: 'pending', reason: null, createdAt: t, updatedAt: t });
    // The fleet state migration backfilled the old vehicle's state from its rows.
    expect((await store.dashboard.vehiclesPage({ staleBefore: new Date(0) }, '', 10)).map((v) => [v.vin, v.state])).toEqual([['VIN-OLD', 'pending']]);
    expect(await store.operatorToken(token)).toMatchObject({ name: 'alice', scope: 'operator', revokedAt: null });
    expect(await store.signedRequestMarks.newest('kid-p')).toBe(T0.getTime());
    await store.inventory.insertVehicle('VIN-NEW', {}, T0);
    expect(await store.inventory.countVehicles()).toBe(2);
  });
}
