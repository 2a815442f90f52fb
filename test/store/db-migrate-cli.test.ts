// `uptane director|image db migrate` as an operator runs it (the built binary): the verified summary
// on stdout and progress on stderr, exit 0; --json for scripts; a non-empty target exits 1 saying
// what to do, with nothing changed; arguments that are not sqlite:PATH and postgres:// are refused
// before anything is opened; --help shows a working example.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresDirectorStore } from '../../director-repo/store/postgres/director-store.js';
import { SqliteDirectorStore } from '../../director-repo/store/sqlite/director-store.js';
import { PostgresImageRepoStorage } from '../../image-repo/store/postgres.js';
import { SqliteImageRepoStorage } from '../../image-repo/store/sqlite.js';
import { buildCli, runCli } from '../support/cli-runner.js';
import { adminQuery, describePostgres, dropSchemas, uniqueSchema, urlWithSchema } from '../support/postgres.js';
import { T0, registerVehicle } from './director-contract/fixtures.js';

const schemas: string[] = [];
let folder: string;

beforeAll(async () => {
  await buildCli();
  folder = mkdtempSync(join(tmpdir(), 'db-migrate-cli-'));
});

afterAll(async () => {
  await dropSchemas(schemas);
  rmSync(folder, { recursive: true, force: true });
});

function freshSchema(prefix: string): { url: string; schema: string } {
  const schema = uniqueSchema(prefix);
  schemas.push(schema);
  return { url: urlWithSchema(schema), schema };
}

const TOKEN = '9'.repeat(64);

describePostgres('uptane director db migrate', () => {
  let sqlite: string;
  beforeAll(async () => {
    sqlite = join(folder, 'director.sqlite');
    const store = new SqliteDirectorStore(sqlite);
    await registerVehicle(store, 'VIN-1');
    await registerVehicle(store, 'VIN-2');
    await store.roots.insertRoot(1, Buffer.from('{"signed":{"version":1}}'), T0);
    await store.addOperator('alice', TOKEN, T0);
    await store.close();
  });

  it('copies, prints the verification per table and exits 0; the operator token works on PostgreSQL', async () => {
    const { url: plainUrl } = freshSchema('cli_director');
    // The local server trusts its clients and ignores the password; the command must never print it.
    const withPassword = new URL(plainUrl);
    withPassword.password = 'hunter2secret';
    const url = withPassword.toString();
    const result = await runCli(['director', 'db', 'migrate', '--from', `sqlite:${sqlite}`, '--to', url]);
    expect(result.stdout + result.stderr).not.toContain('hunter2secret');
    expect(result.stderr).toContain('vehicles: 2 rows copied');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`copied Director SQLite ${sqlite} to PostgreSQL`);
    expect(result.stdout).toMatch(/ecus\s+4\s+4\s+-/);
    expect(result.stdout).toMatch(/director_roots\s+1\s+1\s+1\/1 \(SHA-256\)/);
    const store = await PostgresDirectorStore.open(url);
    try {
      expect((await store.operatorToken(TOKEN))?.name).toBe('alice');
      expect((await store.inventory.listVehicles('', 10)).map((v) => v.vin)).toEqual(['VIN-1', 'VIN-2']);
    } finally {
      await store.close();
    }
  });

  it('refuses a target that holds rows: exit 1, the remedy named, nothing changed', async () => {
    const { url, schema } = freshSchema('cli_director_taken');
    expect((await runCli(['director', 'db', 'migrate', '--from', `sqlite:${sqlite}`, '--to', url])).status).toBe(0);
    const again = await runCli(['director', 'db', 'migrate', '--from', `sqlite:${sqlite}`, '--to', url, '--json']);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/error: the target schema \S+ already holds rows .*fresh database, or a new schema with \?schema=NAME/);
    expect(again.stdout).toBe('');
    const [row] = await adminQuery<{ count: string }>(`SELECT count(*) AS count FROM "${schema}".vehicles`);
    expect(row!.count).toBe('2');
  });

  it('refuses arguments that are not sqlite:PATH and postgres:// before opening anything; --help has an example', async () => {
    const plainPath = await runCli(['director', 'db', 'migrate', '--from', sqlite, '--to', 'postgres://127.0.0.1/test']);
    expect(plainPath.status).toBe(1);
    expect(plainPath.stderr).toContain('give the SQLite file as sqlite:PATH');
    const notPostgres = await runCli(['director', 'db', 'migrate', '--from', `sqlite:${sqlite}`, '--to', 'mysql://u:secret@h/db']);
    expect(notPostgres.status).toBe(1);
    expect(notPostgres.stderr).toContain('give a PostgreSQL URL');
    expect(notPostgres.stderr).not.toContain('secret');
    const help = await runCli(['director', 'db', 'migrate', '--help']);
    expect(help.status).toBe(0);
    // yargs wraps the example within its column, beside its description: its parts.
    for (const part of ['uptane director db migrate --from', 'sqlite:/var/lib/uptane/director/director.sqlite', '--to postgres://uptane@db.example:5432/uptane']) expect(help.stdout).toContain(part);
  });
});

describePostgres('uptane image db migrate', () => {
  it('copies with --json for scripts, and the published metadata is served from PostgreSQL', async () => {
    const sqlite = join(folder, 'image-repo.sqlite');
    const storage = new SqliteImageRepoStorage(sqlite);
    await storage.publish([{ role: 'root', version: 1, bytes: Buffer.from('{"root":1}') }], T0);
    await storage.addUploader('release', TOKEN, T0);
    await storage.close();
    const { url } = freshSchema('cli_image');
    const result = await runCli(['image', 'db', 'migrate', '--from', `sqlite:${sqlite}`, '--to', url, '--json']);
    expect(result.status).toBe(0);
    const summary = JSON.parse(result.stdout) as { verified: boolean; tables: Array<{ table: string; sourceRows: number; targetRows: number; signedCompared: number }> };
    expect(summary.verified).toBe(true);
    expect(summary.tables.map((t) => [t.table, t.sourceRows, t.targetRows, t.signedCompared])).toEqual([
      ['metadata', 1, 1, 1],
      ['images', 0, 0, 0],
      ['uploader_tokens', 1, 1, 0],
    ]);
    const postgres = await PostgresImageRepoStorage.open(url);
    try {
      expect(Buffer.from((await postgres.latest('root'))!.bytes).toString()).toBe('{"root":1}');
      expect((await postgres.uploaderToken(TOKEN))?.name).toBe('release');
    } finally {
      await postgres.close();
    }
    const help = await runCli(['image', 'db', 'migrate', '--help']);
    for (const part of ['uptane image db migrate --from', 'sqlite:/var/lib/uptane/image/image-repo.sqlite', '--to postgres://uptane@db.example:5432/uptane']) expect(help.stdout).toContain(part);
  });
});
