// One contract for every ImageRepoStorage backend (docs/code-style.md R16): the same cases run
// against SQLite in a temp folder and PostgreSQL in a fresh schema (the latter skipped with a notice
// when PostgreSQL is absent, test/global-setup.js). Metadata by version and latest, all-or-nothing
// publication with PublishConflictError (also between two storages on one database, at the same
// time), the first record of an image kept, the uploader token lifecycle, and the migrations.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { ConflictError } from '../../shared/core/errors.js';
import { tokenIdOf } from '../../shared/server/access-tokens.js';
import { PostgresDatabase } from '../../shared/server/postgres.js';
import { openDatabase } from '../../shared/server/sqlite.js';
import type { ImageRecord } from '../../image-repo/store/images.js';
import { PublishConflictError, type PublishedFile } from '../../image-repo/store/metadata.js';
import { openImageRepoStorage, parseImageDatabase } from '../../image-repo/store/open.js';
import { POSTGRES_COMPONENT, POSTGRES_MIGRATIONS, PostgresImageRepoStorage } from '../../image-repo/store/postgres.js';
import { MIGRATIONS as SQLITE_MIGRATIONS, SqliteImageRepoStorage } from '../../image-repo/store/sqlite.js';
import type { ImageRepoStorage } from '../../image-repo/store/storage.js';
import { adminQuery, describePostgres, dropSchemas, TEST_DATABASE_URL, uniqueSchema, urlWithSchema } from '../support/postgres.js';

const NOW = new Date('2026-06-01T00:00:00.000Z');
const LATER = new Date('2026-06-02T00:00:00.000Z');
const DAY = 86_400_000;

/** One empty database of a backend; every `open` is another storage (a replica) on it. */
interface TestDatabase {
  open(): Promise<ImageRepoStorage>;
  /** The migrations applied, as the backend records them. */
  appliedMigrations(): Promise<number>;
}

interface Backend {
  readonly name: string;
  readonly describe: jest.Describe;
  readonly migrations: number;
  fresh(): Promise<TestDatabase>;
}

const opened: ImageRepoStorage[] = [];
const folders: string[] = [];
const schemas: string[] = [];

async function track(storage: Promise<ImageRepoStorage>): Promise<ImageRepoStorage> {
  const s = await storage;
  opened.push(s);
  return s;
}

const sqlite: Backend = {
  name: 'SQLite',
  describe,
  migrations: SQLITE_MIGRATIONS.length,
  async fresh() {
    const folder = mkdtempSync(join(tmpdir(), 'image-store-contract-'));
    folders.push(folder);
    const path = join(folder, 'image-repo.sqlite');
    return {
      open: () => track(Promise.resolve(new SqliteImageRepoStorage(path))),
      appliedMigrations: async () => {
        const db = new Database(path, { readonly: true });
        try {
          return db.pragma('user_version', { simple: true }) as number;
        } finally {
          db.close();
        }
      },
    };
  },
};

const postgres: Backend = {
  name: 'PostgreSQL',
  describe: describePostgres,
  migrations: POSTGRES_MIGRATIONS.length,
  async fresh() {
    const schema = uniqueSchema('image_contract');
    schemas.push(schema);
    const url = urlWithSchema(schema);
    return {
      open: () => track(PostgresImageRepoStorage.open(url)),
      appliedMigrations: async () => {
        const rows = await adminQuery<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".schema_migrations WHERE component = $1`, [POSTGRES_COMPONENT]);
        return rows[0]!.n;
      },
    };
  },
};

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close().catch(() => undefined)));
});

afterAll(async () => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  await dropSchemas(schemas);
});

const file = (role: string, version: number, text = `${role} v${version}`): PublishedFile => ({ role, version, bytes: Buffer.from(text) });
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const image = (name: string, length = name.length): ImageRecord => ({ sha256: sha256(name), sha512: createHash('sha512').update(name).digest('hex'), length });

describe.each([sqlite, postgres])('ImageRepoStorage on $name', (backend) => {
  backend.describe('contract', () => {
    let db: TestDatabase;
    let storage: ImageRepoStorage;

    beforeEach(async () => {
      db = await backend.fresh();
      storage = await db.open();
    });

    describe('metadata', () => {
      it('serves nothing before the first publication', async () => {
        expect(await storage.latest('root')).toBeUndefined();
        expect(await storage.get('root', 1)).toBeUndefined();
        expect(await storage.targetsRoles()).toEqual([]);
      });

      it('serves each published version by number and the highest as latest, bytes and SHA-256 as stored', async () => {
        await storage.publish([file('root', 1)], NOW);
        await storage.publish([file('root', 2), file('targets', 1), file('snapshot', 1), file('timestamp', 1)], NOW);
        expect(await storage.latest('root')).toEqual({ role: 'root', version: 2, bytes: Buffer.from('root v2'), sha256: sha256('root v2') });
        expect(await storage.get('root', 1)).toEqual({ role: 'root', version: 1, bytes: Buffer.from('root v1'), sha256: sha256('root v1') });
        expect((await storage.get('root', 1))!.bytes).toBeInstanceOf(Buffer);
        expect(await storage.get('root', 3)).toBeUndefined();
        expect(await storage.get('targets', 2)).toBeUndefined();
      });

      it('keeps bytes exactly, whatever they hold', async () => {
        const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x00, 0x7f]);
        await storage.publish([{ role: 'targets', version: 1, bytes }], NOW);
        expect((await storage.latest('targets'))!.bytes.equals(bytes)).toBe(true);
      });

      it('answers a role or version no request could have stored with nothing: NUL in a name, a version past any integer', async () => {
        await storage.publish([file('targets', 1)], NOW);
        expect(await storage.latest('targets\0')).toBeUndefined();
        expect(await storage.get('targets\0', 1)).toBeUndefined();
        expect(await storage.get('targets', 999_999_999_999_999)).toBeUndefined();
        expect(await storage.image('\0')).toBeUndefined();
      });

      it('lists targets and delegated roles ever published, never root, snapshot or timestamp', async () => {
        await storage.publish([file('root', 1), file('targets', 1), file('acme', 1), file('acme', 2), file('snapshot', 1), file('timestamp', 1)], NOW);
        expect((await storage.targetsRoles()).sort()).toEqual(['acme', 'targets']);
      });

      it('lists every published version with its length and SHA-256, oldest publication first (the transparency log catches up from it)', async () => {
        expect(await storage.publishedVersions()).toEqual([]);
        await storage.publish([file('root', 1), file('targets', 1, 'targets one'), file('snapshot', 1), file('timestamp', 1)], NOW);
        await storage.publish([file('targets', 2), file('snapshot', 2), file('timestamp', 2)], new Date(NOW.getTime() + 1000));
        const versions = await storage.publishedVersions();
        expect(versions.slice(0, 4).map((v) => `${v.role} ${v.version}`).sort()).toEqual(['root 1', 'snapshot 1', 'targets 1', 'timestamp 1']);
        expect(versions.slice(4).map((v) => `${v.role} ${v.version}`).sort()).toEqual(['snapshot 2', 'targets 2', 'timestamp 2']);
        expect(versions.find((v) => v.role === 'targets' && v.version === 1)).toEqual({ role: 'targets', version: 1, length: 11, sha256: sha256('targets one') });
      });

      it('refuses a version already published with PublishConflictError, and stores nothing of that publication', async () => {
        await storage.publish([file('root', 1), file('timestamp', 1)], NOW);
        const err = await storage.publish([file('targets', 1), file('snapshot', 1), file('timestamp', 1, 'another timestamp v1')], LATER).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PublishConflictError);
        expect(err).toBeInstanceOf(ConflictError);
        expect((err as PublishConflictError).code).toBe('conflict');
        expect(await storage.latest('targets')).toBeUndefined();
        expect(await storage.latest('snapshot')).toBeUndefined();
        expect((await storage.latest('timestamp'))!.bytes.toString()).toBe('timestamp v1');
      });

      it('refuses one publication that names a version twice, storing nothing', async () => {
        await expect(storage.publish([file('targets', 1), file('targets', 1, 'again')], NOW)).rejects.toThrow(PublishConflictError);
        expect(await storage.latest('targets')).toBeUndefined();
      });

      it('a second storage on the same database sees every publication and is refused the same version', async () => {
        const replica = await db.open();
        await storage.publish([file('root', 1)], NOW);
        expect((await replica.latest('root'))!.version).toBe(1);
        await expect(replica.publish([file('root', 1, 'forked root v1')], NOW)).rejects.toThrow(PublishConflictError);
        expect((await storage.get('root', 1))!.bytes.toString()).toBe('root v1');
      });

      it('two storages publishing the same versions at the same time: exactly one wins each round, whole', async () => {
        const replicas = [storage, await db.open()];
        for (let version = 1; version <= 10; version++) {
          const outcomes = await Promise.allSettled(
            replicas.map((replica, i) => replica.publish([file('targets', version, `targets v${version} from ${i}`), file('timestamp', version, `timestamp v${version} from ${i}`)], NOW)),
          );
          const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
          expect(won).toHaveLength(1);
          const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
          expect(lost.reason).toBeInstanceOf(PublishConflictError);
          // The winner's files, both of them: nothing of the loser's publication was kept.
          expect((await storage.get('targets', version))!.bytes.toString()).toBe(`targets v${version} from ${won[0]}`);
          expect((await storage.get('timestamp', version))!.bytes.toString()).toBe(`timestamp v${version} from ${won[0]}`);
        }
      });
    });

    describe('image records', () => {
      it('records images and finds them one by one and many at once, in the order asked', async () => {
        const a = image('a');
        const b = image('bb');
        // Past 2^32: a 4 GiB image keeps its length exactly (BIGINT in PostgreSQL).
        const big = image('big', 4 * 1024 ** 3 + 5);
        await storage.recordImages([a, b, big], 'release-bot', NOW);
        expect(await storage.image(a.sha256)).toEqual(a);
        expect(await storage.image(big.sha256)).toEqual(big);
        expect(await storage.image(sha256('missing'))).toBeUndefined();
        const found = await storage.images([big.sha256, sha256('missing'), a.sha256, a.sha256]);
        expect([...found.entries()]).toEqual([
          [big.sha256, big],
          [a.sha256, a],
        ]);
        expect((await storage.images([])).size).toBe(0);
        await storage.recordImages([], 'release-bot', NOW); // nothing to record is no error
      });

      it('keeps the first record of an image recorded again, whoever records it', async () => {
        const first = image('same');
        await storage.recordImages([first], 'alice', NOW);
        await storage.recordImages([{ ...first, sha512: 'f'.repeat(128), length: 1 }], 'bob', LATER);
        const replica = await db.open();
        await replica.recordImages([{ ...first, length: 2 }, image('other')], 'carol', LATER);
        expect(await storage.image(first.sha256)).toEqual(first);
        expect(await storage.image(image('other').sha256)).toEqual(image('other'));
      });
    });

    describe('uploader tokens', () => {
      it('stores a token by its id, unrestricted and never expiring without a grant', async () => {
        const tokenId = await storage.addUploader('release-bot', 'token-one', NOW);
        expect(tokenId).toBe(tokenIdOf('token-one'));
        expect(await storage.uploaderToken('token-one')).toEqual({
          tokenId,
          name: 'release-bot',
          roles: null,
          paths: null,
          createdAt: NOW.toISOString(),
          expiresAt: null,
          revokedAt: null,
        });
        expect(await storage.uploaderToken('token-two')).toBeUndefined();
      });

      it('keeps a grant: roles, paths (an empty list is not "any") and expiry', async () => {
        const expiresAt = new Date(NOW.getTime() + 30 * DAY);
        await storage.addUploader('acme-ci', 'acme-token', NOW, { roles: ['acme'], paths: ['acme/*', 'acme/**/x'], expiresAt });
        await storage.addUploader('nobody', 'empty-token', NOW, { roles: [], paths: null });
        expect(await storage.uploaderToken('acme-token')).toMatchObject({ roles: ['acme'], paths: ['acme/*', 'acme/**/x'], expiresAt: expiresAt.toISOString() });
        expect(await storage.uploaderToken('empty-token')).toMatchObject({ roles: [], paths: null, expiresAt: null });
      });

      it('refuses a second token while the name holds an active one; after expiry or revocation a new one is stored', async () => {
        await storage.addUploader('bot', 'bot-1', NOW, { expiresAt: new Date(NOW.getTime() + DAY) });
        await expect(storage.addUploader('bot', 'bot-2', NOW)).rejects.toThrow(ConflictError);
        expect(await storage.uploaderToken('bot-2')).toBeUndefined();
        // A day later bot-1 has expired: the name is free.
        const afterExpiry = new Date(NOW.getTime() + DAY);
        await storage.addUploader('bot', 'bot-2', afterExpiry);
        await expect(storage.addUploader('bot', 'bot-3', afterExpiry)).rejects.toThrow(ConflictError);
        expect(await storage.revokeUploaderToken(tokenIdOf('bot-2'), afterExpiry)).toBe(true);
        await storage.addUploader('bot', 'bot-3', new Date(afterExpiry.getTime() + 1));
        expect((await storage.uploaderTokens()).map((t) => t.tokenId)).toEqual([tokenIdOf('bot-1'), tokenIdOf('bot-2'), tokenIdOf('bot-3')]);
      });

      it('revokes one token once; a revoked token is still found, with the time it was revoked', async () => {
        const tokenId = await storage.addUploader('bot', 'bot-token', NOW);
        expect(await storage.revokeUploaderToken(tokenId, LATER)).toBe(true);
        expect(await storage.revokeUploaderToken(tokenId, LATER)).toBe(false);
        expect(await storage.revokeUploaderToken('000000000000', LATER)).toBe(false);
        expect(await storage.uploaderToken('bot-token')).toMatchObject({ tokenId, revokedAt: LATER.toISOString() });
      });

      it('removes an uploader: every token not yet revoked, oldest first; an unknown name revokes nothing', async () => {
        await storage.addUploader('bot', 'bot-1', NOW, { expiresAt: new Date(NOW.getTime() + 1000) });
        await storage.addUploader('bot', 'bot-2', LATER);
        await storage.addUploader('other', 'other-1', NOW);
        expect(await storage.removeUploader('bot', LATER)).toEqual([tokenIdOf('bot-1'), tokenIdOf('bot-2')]);
        expect(await storage.removeUploader('bot', LATER)).toEqual([]);
        expect(await storage.removeUploader('nobody', LATER)).toEqual([]);
        expect((await storage.uploaderToken('other-1'))!.revokedAt).toBeNull();
      });

      it('lists every token oldest first, revoked and expired ones included', async () => {
        await storage.addUploader('b', 'token-b', LATER);
        await storage.addUploader('a', 'token-a', NOW, { expiresAt: new Date(NOW.getTime() + 1) });
        await storage.revokeUploaderToken(tokenIdOf('token-b'), LATER);
        expect((await storage.uploaderTokens()).map((t) => [t.name, t.revokedAt])).toEqual([
          ['a', null],
          ['b', LATER.toISOString()],
        ]);
      });

      it('two storages adding the same name at the same time: one token is stored, the other refused', async () => {
        const replicas = [storage, await db.open()];
        for (let round = 0; round < 5; round++) {
          const outcomes = await Promise.allSettled(replicas.map((replica, i) => replica.addUploader(`bot-${round}`, `token-${round}-${i}`, NOW)));
          expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
          expect((outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
        }
        expect(await storage.uploaderTokens()).toHaveLength(5);
      });
    });

    describe('migrations', () => {
      it('an empty database gets every migration', async () => {
        expect(await db.appliedMigrations()).toBe(backend.migrations);
      });

      it('reopening a populated database changes nothing and keeps every row', async () => {
        await storage.publish([file('root', 1), file('targets', 1)], NOW);
        await storage.recordImages([image('kept')], 'alice', NOW);
        await storage.addUploader('bot', 'bot-token', NOW, { roles: ['targets'] });
        await storage.close();
        const reopened = await db.open();
        expect(await db.appliedMigrations()).toBe(backend.migrations);
        expect((await reopened.latest('targets'))!.bytes.toString()).toBe('targets v1');
        expect(await reopened.image(image('kept').sha256)).toEqual(image('kept'));
        expect(await reopened.uploaderToken('bot-token')).toMatchObject({ name: 'bot', roles: ['targets'] });
      });
    });
  });
});

describe('SQLite only', () => {
  it('migrates a database populated at migration N-1 to N, keeping its metadata, images and uploaders', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'image-store-migrate-'));
    folders.push(folder);
    const path = join(folder, 'image-repo.sqlite');
    const old = openDatabase(path, SQLITE_MIGRATIONS.slice(0, SQLITE_MIGRATIONS.length - 1));
    old.prepare('INSERT INTO metadata (role, version, bytes, sha256, published_at) VALUES (?, ?, ?, ?, ?)').run('root', 1, Buffer.from('root v1'), sha256('root v1'), NOW.toISOString());
    old.prepare('INSERT INTO images (sha256, sha512, length, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?)').run(image('old').sha256, image('old').sha512, 3, 'alice', NOW.toISOString());
    old.prepare('INSERT INTO uploaders (name, token_sha256, created_at) VALUES (?, ?, ?)').run('old-bot', createHash('sha256').update('old-token').digest('hex'), NOW.toISOString());
    old.close();
    const storage = await track(Promise.resolve(new SqliteImageRepoStorage(path)));
    expect((await storage.latest('root'))!.bytes.toString()).toBe('root v1');
    expect(await storage.image(image('old').sha256)).toEqual(image('old'));
    expect(await storage.uploaderToken('old-token')).toMatchObject({ tokenId: tokenIdOf('old-token'), name: 'old-bot', roles: null, paths: null, revokedAt: null });
  });
});

describePostgres('PostgreSQL only', () => {
  it('has one migration: migration N-1 is the empty schema, tested above as "an empty database"', () => {
    // Should a second migration come, this fails as a reminder to test N-1 with rows, then N.
    expect(POSTGRES_MIGRATIONS).toHaveLength(1);
  });

  it('a publication waiting on another transaction that holds the same version fails once it commits, and succeeds if it rolls back', async () => {
    const schema = uniqueSchema('image_contract_wait');
    schemas.push(schema);
    const storage = await track(PostgresImageRepoStorage.open(urlWithSchema(schema)));
    for (const outcome of ['COMMIT', 'ROLLBACK'] as const) {
      const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        const version = outcome === 'COMMIT' ? 1 : 2;
        await holder.query(`INSERT INTO "${schema}".metadata (role, version, bytes, sha256, published_at) VALUES ('timestamp', $1, '\\x00', 'x', now())`, [version]);
        const publication = storage.publish([file('targets', version), file('timestamp', version)], NOW).then(
          () => 'published',
          (err: unknown) => err,
        );
        // Wait until the publication is blocked on the uncommitted row, then end the holder's transaction.
        await waitFor(async () => (await adminQuery<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO metadata%'"))[0]!.n === 1);
        await holder.query(outcome);
        const result = await publication;
        if (outcome === 'COMMIT') {
          expect(result).toBeInstanceOf(PublishConflictError);
          expect(await storage.get('targets', 1)).toBeUndefined();
        } else {
          expect(result).toBe('published');
          expect((await storage.get('timestamp', 2))!.bytes.toString()).toBe('timestamp v2');
        }
      } finally {
        await holder.end();
      }
    }
  });

  it('tables go to the schema the URL names, `image` by default, apart from the Director in the same database', async () => {
    const schema = uniqueSchema('image_contract_schema');
    schemas.push(schema);
    const storage = (await track(PostgresImageRepoStorage.open(urlWithSchema(schema)))) as PostgresImageRepoStorage;
    expect(storage.schema).toBe(schema);
    const tables = await adminQuery<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename', [schema]);
    expect(tables.map((t) => t.tablename)).toEqual(['images', 'metadata', 'schema_migrations', 'uploader_tokens']);
    const db = await PostgresDatabase.open(urlWithSchema(schema), POSTGRES_COMPONENT, POSTGRES_MIGRATIONS);
    try {
      expect(await db.schemaVersion(POSTGRES_COMPONENT)).toBe(1);
    } finally {
      await db.close();
    }
  });
});

describe('openImageRepoStorage', () => {
  it('opens SQLite in the data folder by default, or at a sqlite: path (a relative one inside the data folder)', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'image-store-open-'));
    folders.push(folder);
    expect(parseImageDatabase(folder, undefined)).toEqual({ kind: 'sqlite', path: join(folder, 'image-repo.sqlite') });
    expect(parseImageDatabase(folder, '')).toEqual({ kind: 'sqlite', path: join(folder, 'image-repo.sqlite') });
    expect(parseImageDatabase(folder, `sqlite:${join(tmpdir(), 'elsewhere.sqlite')}`)).toEqual({ kind: 'sqlite', path: join(tmpdir(), 'elsewhere.sqlite') });
    expect(parseImageDatabase(folder, 'sqlite:db/image.sqlite')).toEqual({ kind: 'sqlite', path: join(folder, 'db', 'image.sqlite') });
    expect(parseImageDatabase(folder, 'postgresql://u@h/db')).toEqual({ kind: 'postgres', url: 'postgresql://u@h/db' });
    const storage = await track(openImageRepoStorage(join(folder, 'new'), undefined));
    expect(storage).toBeInstanceOf(SqliteImageRepoStorage);
  });

  it('refuses anything else, without printing a password', () => {
    expect(() => parseImageDatabase('/d', 'mysql://app:s3cret@db/fleet')).toThrow(/--database mysql:\/\/app:\*\*\*@db\/fleet: give postgres:\/\//);
    expect(() => parseImageDatabase('/d', 'mysql://app:s3cret@db/fleet')).not.toThrow(/s3cret/);
    expect(() => parseImageDatabase('/d', 'sqlite:')).toThrow(/needs a file/);
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
