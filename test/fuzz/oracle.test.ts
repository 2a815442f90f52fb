// The fuzzer's own parts, checked on known inputs: a fuzzer whose oracle or route table is blind
// passes whatever the servers do. Real express apps, real SQLite files, no servers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import express from 'express';
import { leaks, problemsOf, type Observation } from './oracle.js';
import type { FuzzRequest, Materialized, RawResponse } from './requests.js';
import { expressRoutes } from './route-table.js';
import { diffState, StateReader, type StateSnapshot } from './state-snapshot.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-fuzz-oracle-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('route table', () => {
  it('reads routes, methods, RegExp paths and routers mounted at a prefix or on their parent path', () => {
    const app = express();
    app.get('/metadata/:file', (_req, res) => void res.end());
    app.get(/^\/targets\/(.+)$/, (_req, res) => void res.end());
    const api = express.Router();
    api.route('/items/:id').get((_req, res) => void res.end()).delete((_req, res) => void res.end());
    const nested = express.Router();
    nested.post('/groups', (_req, res) => void res.end());
    api.use(nested);
    app.use('/api/v1', api);
    const routes = expressRoutes((app as unknown as { router: { stack: never[] } }).router.stack);
    expect(routes.sort()).toEqual(['DELETE /api/v1/items/:id', 'GET /^\\/targets\\/(.+)$/', 'GET /api/v1/items/:id', 'GET /metadata/:file', 'POST /api/v1/groups'].sort());
  });
});

describe('leaks in an answer', () => {
  const forbidden = ['/srv/data', '/tmp/'];
  it('finds a stack frame, an error name and a server path', () => {
    expect(leaks('{"error":"TypeError: x is undefined\\n    at f (/srv/app/x.js:10:5)"}', 'GET /', forbidden)).toHaveLength(2);
    expect(leaks('{"message":"cannot write /srv/data/blobs/incoming/1.tmp"}', 'GET /', forbidden)).toEqual(['a server path in the answer: "/srv/data"']);
  });

  it('does not blame the server for echoing the request', () => {
    expect(leaks('{"error":{"message":"no route GET /tmp/x"}}', 'GET /tmp/x HTTP/1.1', forbidden)).toEqual([]);
    expect(leaks('{"error":{"code":"not_found","message":"no metadata 2.root.json"}}', 'GET /metadata/2.root.json', forbidden)).toEqual([]);
  });
});

function snapshotOf(setup: (db: Database.Database) => void): { reader: StateReader; db: Database.Database } {
  const db = new Database(join(dir, 'state.sqlite'));
  db.pragma('journal_mode = WAL');
  setup(db);
  return { reader: new StateReader(dir, 'state.sqlite'), db };
}

describe('state comparison', () => {
  it('sees rows added, changed and removed (rowid and WITHOUT ROWID tables) and files appearing', () => {
    const { reader, db } = snapshotOf((d) => {
      d.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b')");
      d.exec("CREATE TABLE w (k TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID; INSERT INTO w VALUES ('x', 1)");
    });
    const before = reader.snapshot();
    db.exec("UPDATE t SET v = 'c' WHERE id = 1; DELETE FROM t WHERE id = 2; INSERT INTO t VALUES (3, 'd'); UPDATE w SET n = 2");
    writeFileSync(join(dir, 'left-behind.tmp'), 'x');
    const diff = diffState(before, reader.snapshot());
    expect(diff.rows.map((r) => `${r.table}:${r.rowid}:${r.kind}`).sort()).toEqual(['t:1:changed', 't:2:removed', 't:3:added', 'w:["x"]:changed']);
    expect(diff.files).toEqual([{ path: 'left-behind.tmp', before: undefined, after: '1' }]);
    reader.close();
    db.close();
  });

  it('sees no change when there is none (the write-ahead log is not state)', () => {
    const { reader, db } = snapshotOf((d) => d.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB); INSERT INTO t VALUES (1, x'00ff')"));
    const before = reader.snapshot();
    db.prepare('SELECT * FROM t').all();
    expect(diffState(before, reader.snapshot())).toEqual({ rows: [], files: [] });
    reader.close();
    db.close();
  });
});

describe('problems of one request', () => {
  const request = (auth: FuzzRequest['auth']): FuzzRequest => ({
    server: 'director',
    route: 'POST /api/v1/vehicles',
    method: 'POST',
    path: '/api/v1/vehicles',
    auth,
    headers: [],
    body: { kind: 'none' },
    encoding: 'none',
    length: 'exact',
    source: 'fresh',
  });
  const sent: Materialized = { head: 'POST /api/v1/vehicles HTTP/1.1\r\n\r\n', body: Buffer.alloc(0), truncated: false };
  const answer = (status: number | undefined): RawResponse => ({ status, text: `HTTP/1.1 ${status}\r\n\r\n{}`, timedOut: false });
  const state = (auditRows: string[]): Record<'image' | 'director', StateSnapshot> => ({
    image: { tables: new Map(), files: new Map() },
    director: { tables: new Map([['audit_log', new Map(auditRows.map((row, i) => [String(i + 1), row]))]]), files: new Map() },
  });
  const observe = (over: Partial<Observation>): Observation => ({
    req: request('operator'),
    generator: { server: 'director', method: 'POST', auth: 'operator', path: undefined as never, body: undefined as never },
    sent,
    res: answer(400),
    down: undefined,
    stderr: { image: '', director: '' },
    before: state([]),
    after: state([]),
    forbidden: [],
    ...over,
  });
  const refusal = JSON.stringify({ actor: 'fuzz-operator', action: 'refused', details: '{}' });

  it('passes a clean refusal', () => {
    expect(problemsOf(observe({}))).toEqual([]);
  });

  it('flags 5xx, a dead server, stderr output, no answer and a hang', () => {
    expect(problemsOf(observe({ res: answer(500), after: undefined }))).toEqual(['status 500']);
    expect(problemsOf(observe({ down: 'the director server process exited with SIGSEGV' }))).toEqual(['the director server process exited with SIGSEGV']);
    expect(problemsOf(observe({ stderr: { image: '', director: 'internal error: boom' } }))[0]).toMatch(/wrote to stderr/);
    expect(problemsOf(observe({ res: answer(undefined) }))).toEqual(['connection closed without an answer']);
    expect(problemsOf(observe({ res: { ...answer(undefined), timedOut: true } }))).toEqual(['no answer within the bound (a hang)']);
  });

  it('allows the audit record of a refused operator write only for the operator token', () => {
    expect(problemsOf(observe({ after: state([refusal]) }))).toEqual([]);
    expect(problemsOf(observe({ req: request('garbage-bearer'), after: state([refusal]) }))[0]).toMatch(/state changed:\n\s+audit_log row 1 added/);
  });

  it('flags a refused request that changed or removed a row', () => {
    expect(problemsOf(observe({ before: state([refusal]), after: state([]) }))[0]).toMatch(/audit_log row 1 removed/);
  });

  it('flags a wrong credential that opened a protected route', () => {
    expect(problemsOf(observe({ req: request('truncated'), res: answer(201), after: undefined }))).toEqual([
      'answered 201 to credential "truncated" (only operator should open POST /api/v1/vehicles)',
    ]);
  });
});
