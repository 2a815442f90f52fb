// `db migrate` (issue 18 item 4): a populated Director SQLite file and an Image repository's, copied
// into PostgreSQL, answer every read through the PostgreSQL stores exactly as through SQLite (ids,
// history, pagination, tokens) and go on numbering where SQLite left off; a non-empty target and a
// source at another schema version are refused with nothing changed; a row PostgreSQL refuses
// mid-copy leaves the target empty; the plans name every table and column of the PostgreSQL schemas.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MigrationMismatchError, MigrationRefusedError, StorageError } from '../../shared/core/errors.js';
import { copySqliteToPostgres } from '../../shared/server/table-copy.js';
import { PostgresDatabase } from '../../shared/server/postgres.js';
import type { DirectorStorage } from '../../director-repo/store/director-store.js';
import { DIRECTOR_TABLES, POSTGRES_ONLY_TABLES, migrateDirectorToPostgres } from '../../director-repo/store/migrate-to-postgres.js';
import { DIRECTOR_COMPONENT, PostgresDirectorStore } from '../../director-repo/store/postgres/director-store.js';
import { MIGRATIONS as DIRECTOR_PG_MIGRATIONS } from '../../director-repo/store/postgres/schema.js';
import { SqliteDirectorStore } from '../../director-repo/store/sqlite/director-store.js';
import { MIGRATIONS as DIRECTOR_SQLITE_MIGRATIONS } from '../../director-repo/store/sqlite/schema.js';
import { IMAGE_TABLES, migrateImageRepoToPostgres } from '../../image-repo/store/migrate-to-postgres.js';
import { PostgresImageRepoStorage } from '../../image-repo/store/postgres.js';
import { SqliteImageRepoStorage } from '../../image-repo/store/sqlite.js';
import type { ImageRepoStorage } from '../../image-repo/store/storage.js';
import { adminQuery, describePostgres, dropSchemas, uniqueSchema, urlWithSchema } from '../support/postgres.js';
import { T0, at, iso, ecu, image, registerVehicle, sha256Hex, accept, refuse, body } from './director-contract/fixtures.js';

const schemas: string[] = [];
const folders: string[] = [];

function freshUrl(prefix: string): { url: string; schema: string } {
  const schema = uniqueSchema(prefix);
  schemas.push(schema);
  return { url: urlWithSchema(schema), schema };
}

function sqlitePath(name: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'migrate-pg-'));
  folders.push(folder);
  return join(folder, name);
}

afterAll(async () => {
  await dropSchemas(schemas);
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

const TOKEN_ADMIN = 'a'.repeat(64);
const TOKEN_READ = 'b'.repeat(64);
const TOKEN_REVOKED = 'c'.repeat(64);
const ENCRYPTION_KEY = 'e'.repeat(64);
const FILTER = { attributes: { model: 'sedan' } };
const VINS = ['VIN-0', 'VIN-1', 'VIN-2', 'VIN-3', 'VIN-4', 'VIN-5'];

/** Everything a Director keeps, written through the store's own API: every table gets rows. */
async function populateDirector(store: DirectorStorage): Promise<{ campaignId: number; keyids: string[] }> {
  for (const [i, vin] of VINS.entries()) await registerVehicle(store, vin, { model: i % 2 === 0 ? 'sedan' : 'suv', region: `r${i}` });
  await store.inventory.insertVehicle('VIN-ENC', {}, T0);
  await store.inventory.insertEcu(ecu('VIN-ENC', 'VIN-ENC-p', true, { encryptionPublicKey: ENCRYPTION_KEY, securityProfile: 'high' }), T0);
  // Every security profile, so the copy is seen to carry the column (the rest are 'standard').
  await store.inventory.setEcuProfile('VIN-2-s', 'basic');
  await store.inventory.recordEcuReport('VIN-0-s', { counter: 4, filename: 'fw-0.9.bin', length: 77, hashes: { sha256: sha256Hex('fw-0.9') }, releaseCounter: 3 }, at(1));

  // An assignment in every state.
  const ids = await store.assignments.insert([image('VIN-0', 'VIN-0-s', 'a.bin'), image('VIN-1', 'VIN-1-s', 'b.bin'), image('VIN-2', 'VIN-2-s', 'c.bin'), image('VIN-3', 'VIN-3-s', 'd.bin')], {
    actor: 'alice',
    now: at(2),
  });
  await store.assignments.setState(ids[1]!, 'installed', null, at(3));
  await store.assignments.setState(ids[2]!, 'failed', 'boot check failed', at(3));
  await store.assignments.setState(ids[3]!, 'cancelled', 'operator', at(3));
  await store.assignments.insert([image('VIN-1', 'VIN-1-p', 'p.bin', 7)], { actor: 'alice', now: at(4) });
  await store.assignments.markInFlight('VIN-1', at(5));
  const encryption = {
    scheme: 'x25519-aes256gcm',
    keyid: sha256Hex(ENCRYPTION_KEY),
    encapsulatedKey: '01'.repeat(32),
    wrappedKey: '02'.repeat(40),
    encryptedTarget: { filename: 'enc.bin.enc', length: 1040, hashes: { sha256: sha256Hex('cipher') } },
  };
  await store.assignments.insert([{ ...image('VIN-ENC', 'VIN-ENC-p', 'enc.bin'), encryption }], { actor: 'alice', now: at(6) });
  await store.encryptedImages.insert({
    filename: 'enc.bin',
    plaintextSha256: sha256Hex('enc.bin'),
    plaintextLength: 1024,
    contentKey: '03'.repeat(32),
    ciphertextSha256: sha256Hex('cipher'),
    ciphertextLength: 1040,
    createdAt: at(6).toISOString(),
  });

  // Install bundles: one finished (rolled back, naming the failing member), one pending with its members.
  const finished = await store.installBundles.create('VIN-2', { actor: 'alice', now: at(6) });
  await store.installBundles.attach(finished, await store.assignments.insert([image('VIN-2', 'VIN-2-p', 'b2p.bin')], { actor: 'alice', now: at(6) }));
  await store.installBundles.finish(finished, { state: 'rolled_back', failingEcu: 'VIN-2-p', reason: 'boot check failed' }, at(7));
  const pending = await store.installBundles.create('VIN-3', { actor: 'alice', now: at(7) });
  await store.installBundles.attach(pending, await store.assignments.insert([image('VIN-3', 'VIN-3-p', 'b3p.bin'), image('VIN-3', 'VIN-3-s', 'b3s.bin')], { actor: 'alice', now: at(7) }));

  // Accepted manifests (with evidence, attacks, a state), refused ones, interleaved.
  for (let m = 0; m < 4; m++) {
    await store.intake.receive('VIN-0', body(`accepted ${m}`), 0, () =>
      accept(10 + m, null, { evidence: m % 2 === 0 ? body(`evidence ${m}`) : null, vehicleState: m === 3 ? 'parked' : null, attacks: m === 1 ? [{ ecuSerial: 'VIN-0-s', code: 'rollback', message: 'older image' }] : [] }),
    );
    await store.intake.receive('VIN-0', body(`refused ${m} \u0001 bytes`), 0, () => refuse(20 + m, null, 'manifest_signature', `refused ${m}`));
  }
  await store.intake.receive('VIN-2', body('a'), 0, () => accept(30, null, { attacks: [{ ecuSerial: 'VIN-2-p', code: 'freeze', message: 'stale timestamp' }] }));

  // Signed metadata: a vehicle's three roles, another's stale targets; two Director roots.
  for (const [role, version] of [['targets', 3], ['snapshot', 3], ['timestamp', 9]] as const) {
    await store.vehicleMetadata.put('VIN-0', { role, version, expires: '2026-04-01T00:00:00Z', contentSha256: sha256Hex(`${role} ${version}`), bytes: Buffer.from(`{"signed":"${role} v${version}"}`) });
  }
  await store.vehicleMetadata.put('VIN-1', { role: 'targets', version: 1, expires: '2026-04-01T00:00:00Z', contentSha256: sha256Hex('t1'), bytes: Buffer.from([0, 1, 2, 255]) });
  await store.vehicleMetadata.markStale(['VIN-1']);
  await store.roots.insertRoot(1, Buffer.from('{"signed":{"_type":"root","version":1}}'), at(0));
  await store.roots.insertRoot(2, Buffer.from('{"signed":{"_type":"root","version":2}}'), at(40));

  // Operator tokens in every status, the audit log, signed-request marks.
  await store.addOperator('alice', TOKEN_ADMIN, at(0));
  await store.addOperator('bot', TOKEN_READ, at(1), { scope: 'read', expiresAt: at(60 * 24) });
  const revoked = await store.addOperator('eve', TOKEN_REVOKED, at(2), { scope: 'operator' });
  await store.revokeOperatorToken(revoked, at(3));
  await store.audit('cli', 'add_operator', { name: 'alice' }, at(0));
  await store.auditLog.record('alice', 'assign', { ids }, at(2), 'tok123456789');
  const keyids = [sha256Hex('key-VIN-0-p'), sha256Hex('key-VIN-1-p')];
  await store.signedRequestMarks.record(keyids[0]!, 1_780_000_000_123);
  await store.signedRequestMarks.record(keyids[1]!, 1_780_000_999_999);

  // Alerts: one delivered after a failed attempt, one still pending (claimed), with its deliveries and attempts.
  await store.alerts.enqueue({ event: 'campaign.halted', dedupeKey: 'halt-1', body: '{"event":"campaign.halted"}', createdAt: at(6), deliveries: [{ url: 'http://127.0.0.1:9/hook', deliveryId: 'd-1' }] });
  await store.alerts.enqueue({ event: 'attack.reported', dedupeKey: null, body: '{"event":"attack.reported"}', createdAt: at(7), deliveries: [{ url: 'http://127.0.0.1:9/hook', deliveryId: 'd-2' }] });
  const [delivery] = await store.alerts.claimDue(at(6), at(8), 1);
  await store.alerts.recordAttempt(delivery!.id, { at: at(6), status: 500, error: 'HTTP 500', delivered: false, nextAttemptAt: at(7) });
  await store.alerts.recordAttempt(delivery!.id, { at: at(7), status: 204, error: null, delivered: true, nextAttemptAt: null });
  await store.alerts.claimDue(at(7), at(9), 1);

  // A signed-out dashboard session (director-repo/store/ui-sessions.ts): still refused after the move.
  await store.uiSessions.revoke('session-signed-out', new Date(NOW.getTime() + 8 * 3600_000), at(8), 100);

  // The dashboard's fleet snapshots (director-repo/store/dashboard.ts).
  await store.dashboard.recordFleetSnapshot({ at: iso(8), byState: { up_to_date: 3, pending: 1, downloading: 0, deferred: 0, installing: 0, failed: 1, rolled_back: 0, stale: 2 } }, 10);

  // Groups (static with members, dynamic with a filter), a running campaign with vehicles, stages and events.
  await store.campaigns.insertGroup('fleet-a', 'static', null, 'alice', at(50));
  await store.campaigns.addMembers('fleet-a', ['VIN-4', 'VIN-5', 'VIN-3']);
  await store.campaigns.insertGroup('sedans', 'dynamic', FILTER, 'alice', at(51));
  const campaignId = await store.campaigns.insertCampaign('ecm-2', 'fleet-a', JSON.stringify({ stages: [50, 100] }), 'alice', at(52));
  await store.campaigns.insertCampaign('draft-1', 'sedans', '{}', 'bob', at(53));
  await store.campaigns.addVehicles(campaignId, [
    { vin: 'VIN-4', rank: '0a' },
    { vin: 'VIN-5', rank: '0B' },
    { vin: 'VIN-3', rank: '1c' },
  ]);
  await store.campaigns.setState(campaignId, 'running', at(54));
  await store.campaigns.setStage(campaignId, 1, at(55));
  await store.campaigns.setVehicleStages(campaignId, [{ vin: 'VIN-4', stage: 1, outcome: null }, { vin: 'VIN-5', stage: 1, outcome: 'installed' }]);
  await store.assignments.insert([image('VIN-4', 'VIN-4-s', 'ecm-2.bin')], { actor: 'campaign', now: at(55), campaignId });
  await store.campaigns.event(campaignId, 'alice', 'started', { stage: 1 }, at(54));
  await store.campaigns.event(campaignId, 'director', 'stage', { stage: 1, note: 'ünïcode' }, at(55));
  return { campaignId, keyids };
}

/** Every read the Director's services make, over everything populateDirector wrote. */
async function directorView(store: DirectorStorage, campaignId: number, keyids: readonly string[]) {
  const vins = [...VINS, 'VIN-ENC'];
  const serials = vins.flatMap((v) => (v === 'VIN-ENC' ? ['VIN-ENC-p'] : [`${v}-p`, `${v}-s`]));
  const allIds = Array.from({ length: 15 }, (_, i) => i + 1);
  return {
    count: await store.inventory.countVehicles(),
    list: await store.inventory.listVehicles('', 100),
    page: await store.inventory.listVehicles('VIN-2', 2),
    vehicles: await Promise.all(vins.map((v) => store.inventory.vehicle(v))),
    states: await Promise.all(vins.map((v) => store.inventory.vehicleState(v))),
    ecusOf: await Promise.all(vins.map((v) => store.inventory.ecusOf(v))),
    ecusOfVehicles: [...(await store.inventory.ecusOfVehicles(vins)).entries()],
    ecus: await Promise.all(serials.map((s) => store.inventory.ecu(s))),
    byKeyid: await store.inventory.ecuByKeyid(sha256Hex('key-VIN-0-s')),
    byEncryptionKey: await store.inventory.ecuByEncryptionKey(ENCRYPTION_KEY),
    assignments: await Promise.all(vins.map((v) => store.assignments.ofVehicle(v, 100))),
    assignmentPage: await store.assignments.ofVehicle('VIN-1', 1),
    active: await Promise.all(vins.map((v) => store.assignments.active(v))),
    activeOfVehicles: [...(await store.assignments.activeOfVehicles(vins)).entries()],
    byIds: await store.assignments.byIds(allIds),
    activeOfCampaign: await store.assignments.activeOfCampaign(campaignId),
    history: await Promise.all(vins.map((v) => store.manifests.history(v, 100))),
    fleetSnapshots: await store.dashboard.fleetSnapshots(10),
    historyPage: await store.manifests.history('VIN-0', 3),
    lastAccepted: await Promise.all(vins.map((v) => store.manifests.lastAcceptedAt(v))),
    attacks: await Promise.all(vins.map((v) => store.manifests.attacksOf(v, 100))),
    // By role: PostgresVehicleMetadata.files has no ORDER BY (heap order), SQLite's reads its key order.
    files: await Promise.all(vins.map(async (v) => [...(await store.vehicleMetadata.files(v))].sort((a, b) => a.role.localeCompare(b.role)))),
    targets: await store.vehicleMetadata.file('VIN-1', 'targets'),
    latestRoot: await store.roots.latestRoot(),
    root1: await store.roots.root(1),
    groups: await store.campaigns.groups(),
    staticMembers: await store.campaigns.staticMembers('fleet-a'),
    dynamicMembers: await store.campaigns.dynamicMembers(FILTER),
    campaigns: await store.campaigns.campaigns(100),
    campaign: await store.campaigns.campaign(campaignId),
    byName: await store.campaigns.campaignByName('draft-1'),
    activeCampaigns: await store.campaigns.activeCampaigns(),
    activeCampaignsOf: await store.campaigns.activeCampaignsOf('VIN-4'),
    campaignVehicles: await store.campaigns.vehicles(campaignId),
    campaignAssignments: await store.campaigns.assignments(campaignId),
    campaignAttacks: await store.campaigns.attacksAfter(campaignId, 0),
    lastAttackId: await store.campaigns.lastAttackId(),
    events: await store.campaigns.events(campaignId),
    encryptedCount: await store.encryptedImages.count(),
    encrypted: await store.encryptedImages.byCiphertext(sha256Hex('cipher')),
    encryptedByPlaintext: await store.encryptedImages.byPlaintext('enc.bin', sha256Hex('enc.bin')),
    audit: await store.auditLog.entries(100),
    tokens: await store.operatorTokens(),
    tokenLookups: await Promise.all([TOKEN_ADMIN, TOKEN_READ, TOKEN_REVOKED, 'd'.repeat(64)].map((t) => store.operatorToken(t))),
    marks: await Promise.all(keyids.map((k) => store.signedRequestMarks.newest(k))),
    bundles: await Promise.all([1, 2, 3].map((id) => store.installBundles.byId(id))),
    bundleMembers: await Promise.all([1, 2].map((id) => store.installBundles.members(id))),
    pendingBundles: await Promise.all(vins.map((v) => store.installBundles.pendingOfVehicle(v))),
  };
}

/** What each store does next: the new rows' ids must continue SQLite's, not restart at 1. */
async function directorNextWrites(store: DirectorStorage, campaignId: number) {
  const [assignmentId] = await store.assignments.insert([image('VIN-5', 'VIN-5-s', 'next.bin')], { actor: 'bob', now: at(90) });
  await store.intake.receive('VIN-0', body('next'), 0, () => accept(91, null, { attacks: [{ ecuSerial: 'VIN-0-p', code: 'x', message: 'y' }] }));
  await store.intake.receive('VIN-0', body('next refused'), 0, () => refuse(92, null));
  const newCampaign = await store.campaigns.insertCampaign('next', 'fleet-a', '{}', 'bob', at(93));
  const newBundle = await store.installBundles.create('VIN-4', { actor: 'bob', now: at(93) });
  await store.campaigns.event(campaignId, 'bob', 'paused', {}, at(94));
  await store.audit('cli', 'next', {}, at(95));
  return {
    assignmentId,
    newCampaign,
    newBundle,
    history: await store.manifests.history('VIN-0', 4),
    lastAttackId: await store.campaigns.lastAttackId(),
    events: await store.campaigns.events(campaignId),
    audit: await store.auditLog.entries(2),
  };
}

async function populatedDirectorFile(): Promise<{ path: string; campaignId: number; keyids: string[]; view: unknown; next: unknown }> {
  const path = sqlitePath('director.sqlite');
  const sqlite = new SqliteDirectorStore(path);
  const { campaignId, keyids } = await populateDirector(sqlite);
  const view = await directorView(sqlite, campaignId, keyids);
  await sqlite.close();
  // What SQLite does next is measured on a copy of the file, so the source stays as migrated.
  const copy = sqlitePath('director-next.sqlite');
  const source = new Database(path, { readonly: true });
  await source.backup(copy);
  source.close();
  const other = new SqliteDirectorStore(copy);
  const next = await directorNextWrites(other, campaignId);
  await other.close();
  return { path, campaignId, keyids, view, next };
}

async function tableCounts(url: string, tables: readonly { name: string }[], schema: string): Promise<Record<string, number>> {
  void url;
  const counts: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await adminQuery<{ count: string }>(`SELECT count(*) AS count FROM "${schema}".${name}`);
    counts[name] = Number(row!.count);
  }
  return counts;
}

describePostgres('db migrate: the Director from SQLite to PostgreSQL', () => {
  let populated: Awaited<ReturnType<typeof populatedDirectorFile>>;
  beforeAll(async () => {
    populated = await populatedDirectorFile();
  });

  it('names every table and column of the PostgreSQL schema, so a later migration cannot be left out of the copy', async () => {
    const { url, schema } = freshUrl('migrate_plan');
    const db = await PostgresDatabase.open(url, DIRECTOR_COMPONENT, DIRECTOR_PG_MIGRATIONS);
    await db.close();
    const rows = await adminQuery<{ table_name: string; column_name: string }>(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name <> 'schema_migrations' ORDER BY table_name, column_name",
      [schema],
    );
    const planned = DIRECTOR_TABLES.flatMap((t) => t.columns.map(([c]) => `${t.name}.${c}`)).sort();
    const copied = rows.filter((r) => !POSTGRES_ONLY_TABLES.includes(r.table_name));
    expect(planned).toEqual(copied.map((r) => `${r.table_name}.${r.column_name}`).sort());
  });

  it('copies every table, verified, and the PostgreSQL store answers every read as SQLite did; new ids continue', async () => {
    const { url, schema } = freshUrl('migrate_director');
    const progress: Array<[string, number, boolean]> = [];
    const reports = await migrateDirectorToPostgres(populated.path, url, { onProgress: (t, n, done) => progress.push([t, n, done]), batchRows: 2 });
    expect(reports.map((r) => r.table)).toEqual(DIRECTOR_TABLES.map((t) => t.name));
    for (const r of reports) {
      expect(r.targetRows).toBe(r.sourceRows);
      expect(r.sourceRows).toBeGreaterThan(0);
      expect(r.signedMismatches).toBe(0);
    }
    expect(reports.find((r) => r.table === 'vehicle_metadata')).toMatchObject({ signedCompared: 4 });
    expect(reports.find((r) => r.table === 'director_roots')).toMatchObject({ signedCompared: 2 });
    // Batches of two rows: progress after each, then the total.
    expect(progress.filter(([t]) => t === 'vehicles')).toEqual([
      ['vehicles', 2, false],
      ['vehicles', 4, false],
      ['vehicles', 6, false],
      ['vehicles', 7, false],
      ['vehicles', 7, true],
    ]);

    const postgres = await PostgresDirectorStore.open(url);
    try {
      expect(await directorView(postgres, populated.campaignId, populated.keyids)).toEqual(populated.view);
      expect(await directorNextWrites(postgres, populated.campaignId)).toEqual(populated.next);
    } finally {
      await postgres.close();
    }
    expect(Object.values(await tableCounts(url, DIRECTOR_TABLES, schema)).every((n) => n > 0)).toBe(true);
  });

  it('copies one snapshot of the source while a server goes on writing to it (WAL readers), and verifies against that snapshot', async () => {
    const path = sqlitePath('live.sqlite');
    const store = new SqliteDirectorStore(path);
    await populateDirector(store);
    const writer = new Database(path);
    const { url, schema } = freshUrl('migrate_live');
    let wrote = false;
    try {
      // Once the copy is under way (vehicles copied), the "server" adds a vehicle, a root and an audit entry.
      const reports = await migrateDirectorToPostgres(path, url, {
        onProgress: (table, _rows, done) => {
          if (table !== 'vehicles' || !done) return;
          writer.prepare("INSERT INTO vehicles (vin, registered_at) VALUES ('VIN-LATE', '2026-03-02T00:00:00.000Z')").run();
          writer.prepare("INSERT INTO director_roots (version, bytes, published_at) VALUES (3, x'00', '2026-03-02T00:00:00.000Z')").run();
          writer.prepare("INSERT INTO audit_log (at, actor, action, details) VALUES ('2026-03-02T00:00:00.000Z', 'late', 'late', '{}')").run();
          wrote = true;
        },
      });
      expect(wrote).toBe(true);
      expect(reports.find((r) => r.table === 'vehicles')).toMatchObject({ sourceRows: 7, targetRows: 7 });
      expect(reports.find((r) => r.table === 'director_roots')).toMatchObject({ sourceRows: 2, targetRows: 2, signedCompared: 2 });
    } finally {
      writer.close();
      await store.close();
    }
    expect(await adminQuery(`SELECT vin FROM "${schema}".vehicles WHERE vin = 'VIN-LATE'`)).toEqual([]);
    const after = new SqliteDirectorStore(path);
    expect(await after.inventory.vehicle('VIN-LATE')).toBeDefined();
    await after.close();
  });

  it('refuses a target that holds any row, naming the remedy, and changes nothing', async () => {
    const { url, schema } = freshUrl('migrate_taken');
    const store = await PostgresDirectorStore.open(url);
    await store.addOperator('someone', 'f'.repeat(64), T0);
    await store.close();
    const before = await tableCounts(url, DIRECTOR_TABLES, schema);
    const refusal = migrateDirectorToPostgres(populated.path, url);
    await expect(refusal).rejects.toThrow(MigrationRefusedError);
    await expect(refusal).rejects.toThrow(/already holds rows \(operator_tokens\).*fresh database.*\?schema=NAME/);
    expect(await tableCounts(url, DIRECTOR_TABLES, schema)).toEqual(before);
  });

  it('refuses a source at an older schema version (start the server on it first) and one that is not a Director database', async () => {
    const old = sqlitePath('old.sqlite');
    const db = new Database(old);
    db.exec('CREATE TABLE vehicles (vin TEXT PRIMARY KEY)');
    db.pragma('user_version = 3');
    db.close();
    const { url, schema } = freshUrl('migrate_old');
    const refusal = migrateDirectorToPostgres(old, url);
    await expect(refusal).rejects.toThrow(MigrationRefusedError);
    await expect(refusal).rejects.toThrow(`schema version 3, older than this program's ${DIRECTOR_SQLITE_MIGRATIONS.length}: start \`uptane director serve\` on it once`);
    // Refused before the target was touched: not even its schema was made.
    expect(await adminQuery('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [schema])).toEqual([]);
    const empty = sqlitePath('empty.sqlite');
    new Database(empty).close();
    await expect(migrateDirectorToPostgres(empty, url)).rejects.toThrow(/is not a Director database/);
    await expect(migrateDirectorToPostgres(sqlitePath('missing.sqlite'), url)).rejects.toThrow(/no such file/);
    const garbage = sqlitePath('garbage.sqlite');
    writeFileSync(garbage, 'x'.repeat(4096));
    const notSqlite = migrateDirectorToPostgres(garbage, url);
    await expect(notSqlite).rejects.toThrow(MigrationRefusedError);
    await expect(notSqlite).rejects.toThrow(/garbage\.sqlite is not a Director database \(not SQLite\)/);
  });

  it('leaves the target empty when PostgreSQL refuses a row mid-copy (a NULL SQLite allowed), naming the table', async () => {
    const path = sqlitePath('bad.sqlite');
    const store = new SqliteDirectorStore(path);
    await populateDirector(store);
    await store.close();
    // SQLite's manifests.vin may be NULL (its first schema); PostgreSQL's may not.
    const db = new Database(path);
    db.prepare("INSERT INTO manifests (id, vin, received_at, accepted, body) VALUES (1000, NULL, '2026-03-01T00:00:00.000Z', 1, NULL)").run();
    db.close();
    const { url, schema } = freshUrl('migrate_fail');
    const failure = migrateDirectorToPostgres(path, url, { batchRows: 3 });
    await expect(failure).rejects.toThrow(StorageError);
    await expect(failure).rejects.toThrow(/PostgreSQL refused a row of manifests .*rolled back/);
    expect(Object.values(await tableCounts(url, DIRECTOR_TABLES, schema)).every((n) => n === 0)).toBe(true);
    // The target is still fresh: the same command succeeds once the row is fixed.
    const fix = new Database(path);
    fix.prepare("UPDATE manifests SET vin = 'VIN-9' WHERE id = 1000").run();
    fix.close();
    await expect(migrateDirectorToPostgres(path, url)).resolves.toHaveLength(DIRECTOR_TABLES.length);
  });

  it('refuses a SQLite value of the wrong type for its column, naming the row, and copies nothing', async () => {
    const path = sqlitePath('typed.sqlite');
    const store = new SqliteDirectorStore(path);
    await populateDirector(store);
    await store.close();
    const db = new Database(path);
    // A boolean that is neither 0 nor 1 (the CHECK stops it; without it SQLite keeps anything).
    db.pragma('ignore_check_constraints = ON');
    db.prepare("UPDATE ecus SET is_primary = 2 WHERE serial = 'VIN-3-s'").run();
    db.close();
    const { url, schema } = freshUrl('migrate_typed');
    await expect(migrateDirectorToPostgres(path, url)).rejects.toThrow(/ecus row \d+ column is_primary holds bigint 2 where boolean is expected/);
    expect(Object.values(await tableCounts(url, DIRECTOR_TABLES, schema)).every((n) => n === 0)).toBe(true);
  });

  it('rolls back and says which rows differ when verification finds the copy unlike the source', async () => {
    const { url, schema } = freshUrl('migrate_verify');
    const target = await PostgresDatabase.open(url, DIRECTOR_COMPONENT, DIRECTOR_PG_MIGRATIONS);
    const source = new Database(populated.path, { readonly: true });
    try {
      // A trigger on the target changes each root's bytes as it is inserted.
      await adminQuery(`CREATE FUNCTION "${schema}".corrupt() RETURNS trigger AS $$ BEGIN NEW.bytes := NEW.bytes || '\\x00'::bytea; RETURN NEW; END $$ LANGUAGE plpgsql`);
      await adminQuery(`CREATE TRIGGER corrupt BEFORE INSERT ON "${schema}".director_roots FOR EACH ROW EXECUTE FUNCTION "${schema}".corrupt()`);
      const failure = copySqliteToPostgres(source, target, DIRECTOR_TABLES);
      await expect(failure).rejects.toThrow(MigrationMismatchError);
      await expect(failure).rejects.toThrow(/director_roots \(2 rows in SQLite, 2 copied, 2 signed files differing: 1, 2\)/);
    } finally {
      source.close();
      await target.close();
    }
    expect(Object.values(await tableCounts(url, DIRECTOR_TABLES, schema)).every((n) => n === 0)).toBe(true);
  });
});

const UPLOADER_TOKEN = '1'.repeat(64);
const LIMITED_TOKEN = '2'.repeat(64);
const NOW = new Date('2026-06-01T00:00:00.000Z');

async function populateImageRepo(storage: ImageRepoStorage): Promise<void> {
  const file = (role: string, version: number) => ({ role, version, bytes: Buffer.from(`{"signed":{"_type":"${role}","version":${version}}}`) });
  await storage.publish([file('root', 1), file('targets', 1), file('snapshot', 1), file('timestamp', 1)], NOW);
  await storage.publish([file('targets', 2), file('snapshot', 2), file('timestamp', 2), file('engine', 1)], new Date(NOW.getTime() + 1000));
  await storage.publish([{ role: 'timestamp', version: 3, bytes: Buffer.from([0, 255, 1, 2]) }], new Date(NOW.getTime() + 2000));
  await storage.recordImages([{ sha256: sha256Hex('img'), sha512: 'f'.repeat(128), length: 5_000_000_000 }], 'release', NOW);
  await storage.addUploader('release', UPLOADER_TOKEN, NOW);
  await storage.addUploader('ci', LIMITED_TOKEN, NOW, { roles: ['targets'], paths: ['engine/*'], expiresAt: new Date(NOW.getTime() + 86_400_000) });
  await storage.addUploader('gone', '3'.repeat(64), NOW);
  const gone = (await storage.uploaderTokens()).find((t) => t.name === 'gone')!;
  await storage.revokeUploaderToken(gone.tokenId, new Date(NOW.getTime() + 5000));
}

async function imageView(storage: ImageRepoStorage) {
  const roles = ['root', 'targets', 'snapshot', 'timestamp', 'engine'];
  return {
    latest: await Promise.all(roles.map((r) => storage.latest(r))),
    versions: await Promise.all(roles.flatMap((r) => [1, 2, 3].map((v) => storage.get(r, v)))),
    targetsRoles: (await storage.targetsRoles()).sort(),
    image: await storage.image(sha256Hex('img')),
    tokens: await storage.uploaderTokens(),
    byToken: await Promise.all([UPLOADER_TOKEN, LIMITED_TOKEN, '3'.repeat(64), '4'.repeat(64)].map((t) => storage.uploaderToken(t))),
  };
}

describePostgres('db migrate: the Image repository from SQLite to PostgreSQL', () => {
  it('names every table and column of the PostgreSQL schema', async () => {
    const { url, schema } = freshUrl('migrate_image_plan');
    const storage = await PostgresImageRepoStorage.open(url);
    await storage.close();
    const rows = await adminQuery<{ table_name: string; column_name: string }>(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name <> 'schema_migrations'",
      [schema],
    );
    expect(IMAGE_TABLES.flatMap((t) => t.columns.map(([c]) => `${t.name}.${c}`)).sort()).toEqual(rows.map((r) => `${r.table_name}.${r.column_name}`).sort());
  });

  it('serves every published version identically and the uploader tokens work; a non-empty target is refused', async () => {
    const path = sqlitePath('image-repo.sqlite');
    const sqlite = new SqliteImageRepoStorage(path);
    await populateImageRepo(sqlite);
    const expected = await imageView(sqlite);
    await sqlite.close();

    const { url, schema } = freshUrl('migrate_image');
    const reports = await migrateImageRepoToPostgres(path, url);
    expect(reports).toEqual([
      { table: 'metadata', sourceRows: 9, targetRows: 9, signedCompared: 9, signedMismatches: 0, mismatchedKeys: [] },
      { table: 'images', sourceRows: 1, targetRows: 1, signedCompared: 0, signedMismatches: 0, mismatchedKeys: [] },
      { table: 'uploader_tokens', sourceRows: 3, targetRows: 3, signedCompared: 0, signedMismatches: 0, mismatchedKeys: [] },
    ]);
    const postgres = await PostgresImageRepoStorage.open(url);
    try {
      const view = await imageView(postgres);
      expect(view).toEqual(expected);
      // A token still authenticates, and the name it holds is still taken.
      expect((await postgres.uploaderToken(LIMITED_TOKEN))?.name).toBe('ci');
      await expect(postgres.addUploader('release', '5'.repeat(64), NOW)).rejects.toThrow(/already exists/);
    } finally {
      await postgres.close();
    }
    const before = await tableCounts(url, IMAGE_TABLES, schema);
    await expect(migrateImageRepoToPostgres(path, url)).rejects.toThrow(MigrationRefusedError);
    expect(await tableCounts(url, IMAGE_TABLES, schema)).toEqual(before);
  });

  it('verifies a role with ten versions or more: versions are paired as numbers on both sides, not as text', async () => {
    const path = sqlitePath('image-repo-versions.sqlite');
    const sqlite = new SqliteImageRepoStorage(path);
    for (let version = 1; version <= 12; version++) {
      await sqlite.publish([{ role: 'timestamp', version, bytes: Buffer.from(`{"signed":{"_type":"timestamp","version":${version}}}`) }], new Date(NOW.getTime() + version * 1000));
    }
    await sqlite.close();
    const { url } = freshUrl('migrate_image_versions');
    const reports = await migrateImageRepoToPostgres(path, url);
    expect(reports.find((r) => r.table === 'metadata')).toEqual({ table: 'metadata', sourceRows: 12, targetRows: 12, signedCompared: 12, signedMismatches: 0, mismatchedKeys: [] });
  });

  it('leaves the target empty when PostgreSQL refuses a value SQLite kept (a grant that is not JSON, for JSONB)', async () => {
    const path = sqlitePath('image-bad.sqlite');
    const sqlite = new SqliteImageRepoStorage(path);
    await populateImageRepo(sqlite);
    await sqlite.close();
    const db = new Database(path);
    db.prepare("UPDATE uploader_tokens SET roles = '[targets' WHERE name = 'ci'").run();
    db.close();
    const { url, schema } = freshUrl('migrate_image_bad');
    const failure = migrateImageRepoToPostgres(path, url);
    await expect(failure).rejects.toThrow(StorageError);
    await expect(failure).rejects.toThrow(/PostgreSQL refused a row of uploader_tokens \(rows 1-3 of the source\): invalid input syntax for type json/);
    expect(await tableCounts(url, IMAGE_TABLES, schema)).toEqual({ metadata: 0, images: 0, uploader_tokens: 0 });
  });
});
