// SQLite's own migrations (director-repo/store/sqlite/schema.ts): a store opens an empty file, and a
// database left at an older migration with rows in it, keeping every row.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../../shared/server/sqlite.js';
import { tokenDigest, tokenIdOf } from '../../../shared/server/access-tokens.js';
import { SqliteDirectorStore } from '../../../director-repo/store/sqlite/director-store.js';
import { MIGRATIONS } from '../../../director-repo/store/sqlite/schema.js';
import { tempDir } from '../../support/tuf-helpers.js';
import { T0, image, iso, sha256Hex } from './fixtures.js';

/** The last migration before per-ECU image encryption (7). */
const OLDER = 6;

export function sqliteMigrationCases(track: (store: SqliteDirectorStore) => SqliteDirectorStore): void {
  it('opens an empty file with every migration applied', async () => {
    const path = join(tempDir('director-contract-'), 'empty.sqlite');
    writeFileSync(path, '');
    const store = track(new SqliteDirectorStore(path));
    expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    await store.inventory.insertVehicle('VIN-A', {}, T0);
    expect(await store.inventory.countVehicles()).toBe(1);
  });

  it(`opens a database populated at migration ${OLDER}, applies the rest and keeps its rows`, async () => {
    const path = join(tempDir('director-contract-'), 'old.sqlite');
    const old = openDatabase(path, MIGRATIONS.slice(0, OLDER));
    const t = T0.toISOString();
    const token = 'e'.repeat(64);
    old.prepare('INSERT INTO vehicles (vin, attributes, registered_at) VALUES (?, ?, ?)').run('VIN-OLD', '{"model":"sedan"}', t);
    old.prepare('INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at, last_counter) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run('p', 'VIN-OLD', 'hw', 'pk', 'kid-p', 1, t, 4);
    old.prepare('INSERT INTO ecus (serial, vin, hardware_id, public_key, keyid, is_primary, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run('s', 'VIN-OLD', 'hw-secondary', 'pk2', 'kid-s', 0, t);
    const a = image('VIN-OLD', 's');
    old
      .prepare(`INSERT INTO assignments (vin, ecu_serial, filename, length, hashes, hardware_id, release_counter, state, reason, created_at, updated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', NULL, ?, ?, 'op')`)
      .run(a.vin, a.ecuSerial, a.filename, a.length, JSON.stringify(a.hashes), a.hardwareId, a.releaseCounter, t, t);
    old.prepare('INSERT INTO manifests (id, vin, received_at, accepted, body) VALUES (1, ?, ?, 1, NULL)').run('VIN-OLD', t);
    old.prepare("INSERT INTO refused_manifests (id, vin, received_at, error_code, error_message, body_length, body_sha256, excerpt) VALUES (2, ?, ?, 'bad', 'bad one', 3, ?, x'616263')").run('VIN-OLD', iso(1), sha256Hex('abc'));
    old.prepare("INSERT INTO operator_tokens (token_id, name, token_sha256, scope, created_at) VALUES (?, 'alice', ?, 'operator', ?)").run(tokenIdOf(token), tokenDigest(token), t);
    old.prepare("INSERT INTO audit_log (at, actor, action, details, token_id) VALUES (?, 'alice', 'assign', '{}', ?)").run(t, tokenIdOf(token));
    old.prepare('INSERT INTO signed_request_marks (keyid, newest_ms) VALUES (?, ?)').run('kid-p', T0.getTime());
    old.close();

    const store = track(new SqliteDirectorStore(path));
    expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(await store.inventory.vehicle('VIN-OLD')).toEqual({ vin: 'VIN-OLD', attributes: { model: 'sedan' }, registeredAt: t });
    const ecus = await store.inventory.ecusOf('VIN-OLD');
    expect(ecus.map((e) => [e.serial, e.lastCounter, e.encryptionPublicKey, e.securityProfile])).toEqual([
      ['p', 4, null, 'standard'],
      ['s', null, null, 'standard'],
    ]);
    const [assignment] = await store.assignments.active('VIN-OLD');
    expect(assignment).toEqual({ ...a, id: assignment!.id, state: 'pending', reason: null, createdAt: t, updatedAt: t });
    // The fleet state migration backfilled the old vehicle's state from its rows.
    expect((await store.dashboard.vehiclesPage({ staleBefore: new Date(0) }, '', 10)).map((v) => [v.vin, v.state])).toEqual([['VIN-OLD', 'pending']]);
    expect(await store.dashboard.fleetStates(new Date(0))).toMatchObject({ pending: 1, up_to_date: 0, stale: 0 });
    expect((await store.manifests.history('VIN-OLD', 10)).map((h) => [h.id, h.accepted, h.errorCode])).toEqual([
      [2, false, 'bad'],
      [1, true, null],
    ]);
    expect(await store.operatorToken(token)).toMatchObject({ name: 'alice', scope: 'operator', revokedAt: null });
    expect(await store.auditLog.entries(5)).toEqual([{ at: t, actor: 'alice', tokenId: tokenIdOf(token), action: 'assign', details: {} }]);
    expect(await store.signedRequestMarks.newest('kid-p')).toBe(T0.getTime());
    // What migration 7 added works on the old rows.
    await store.inventory.insertEcu({ serial: 'e', vin: 'VIN-OLD', hardwareId: 'hw', publicKey: 'pk3', keyid: 'kid-e', isPrimary: false, encryptionPublicKey: 'ab'.repeat(32) }, T0);
    expect((await store.inventory.ecuByEncryptionKey('ab'.repeat(32)))?.serial).toBe('e');
    expect(await store.encryptedImages.count()).toBe(0);
    // A new manifest record continues the old ids.
    await store.intake.receive('VIN-OLD', new Uint8Array(0), 0, () => ({ at: T0, refused: { code: 'x', message: 'y' }, result: null }));
    expect((await store.manifests.history('VIN-OLD', 1))[0]!.id).toBe(3);
  });
}
