// Errors a command did not plan for reach the operator as what to do next, not as a library's words
// (issue 20, finding 9): a database's unique constraint, a busy port, a missing file. The errors come
// from the real driver and the real socket; the CLI test runs the built binary (dist/).
import Database from 'better-sqlite3';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { conflictFromConstraint, describeFailure, failureTrace } from '../../shared/cli/failure-report.js';
import { ConflictError, WorkspaceError } from '../../shared/core/errors.js';
import { runCli } from '../support/cli-runner.js';

function uniqueViolation(): unknown {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE uploaders (name TEXT NOT NULL UNIQUE)');
  db.prepare('INSERT INTO uploaders VALUES (?)').run('ci');
  try {
    db.prepare('INSERT INTO uploaders VALUES (?)').run('ci');
  } catch (err) {
    return err;
  } finally {
    db.close();
  }
  throw new Error('the second insert was accepted');
}

async function busyPortError(): Promise<{ err: unknown; port: number; close: () => void }> {
  const first = createServer();
  first.listen(0, '127.0.0.1');
  await once(first, 'listening');
  const { port } = first.address() as AddressInfo;
  const second = createServer();
  second.listen(port, '127.0.0.1');
  const [err] = (await once(second, 'error')) as [unknown];
  return { err, port, close: () => first.close() };
}

describe('describeFailure', () => {
  it('turns a SQLite unique-constraint failure into a ConflictError that names the thing and the next step, keeping the cause', () => {
    const raw = uniqueViolation();
    const conflict = conflictFromConstraint(raw);
    expect(conflict).toBeInstanceOf(ConflictError);
    expect(conflict!.code).toBe('conflict');
    expect(conflict!.message).toMatch(/^an? uploader with this name already exists: choose another name, or revoke or remove the existing one first/);
    const text = describeFailure(raw);
    expect(text.split('\n')[0]).not.toMatch(/UNIQUE constraint/);
    expect(text).toMatch(/\ncause: UNIQUE constraint failed: uploaders\.name$/);
  });

  it('turns PostgreSQL\'s unique violation (SQLSTATE 23505) into a conflict naming the key', () => {
    const raw = Object.assign(new Error('duplicate key value violates unique constraint "operator_tokens_name_key"'), { code: '23505', table: 'operator_tokens', detail: 'Key (name)=(alice) already exists.' });
    expect(conflictFromConstraint(raw)!.message).toMatch(/^an? operator token with name alice already exists: choose another/);
  });

  it('turns EADDRINUSE into "port N is in use: stop the other server or pass --port"', async () => {
    const { err, port, close } = await busyPortError();
    try {
      const text = describeFailure(err);
      expect(text).toMatch(new RegExp(`^port ${port} on 127\\.0\\.0\\.1 is already in use: stop the other server, or pass another --port\\ncause: listen EADDRINUSE`));
    } finally {
      close();
    }
  });

  it('keeps a project error\'s own message, and a command\'s plain Error as it is', () => {
    expect(describeFailure(new WorkspaceError('nothing is staged for targets'))).toBe('nothing is staged for targets');
    expect(describeFailure(new Error('pass --image-root FILE'))).toBe('pass --image-root FILE');
  });

  it('says how to see more for an error nobody planned for, and the trace follows the cause chain', () => {
    const err = new TypeError('cannot read properties of undefined', { cause: new RangeError('deeper') });
    expect(describeFailure(err)).toMatch(/^TypeError: cannot read properties of undefined\nthis is unexpected: run the command again with UPTANE_DEBUG=1/);
    const trace = failureTrace(err).join('\n');
    expect(trace).toMatch(/TypeError: cannot read/);
    expect(trace).toMatch(/caused by:\nRangeError: deeper/);
  });
});

describe('uptane on a busy port', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'uptane-busy-port-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('image serve says the port is in use and what to do, not "listen EADDRINUSE" alone', async () => {
    const { port, close } = await busyPortError();
    try {
      const result = await runCli(['image', 'serve', '--data-dir', join(dir, 'image'), '--port', String(port)]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`^error: port ${port} on 127\\.0\\.0\\.1 is already in use: stop the other server, or pass another --port\\n`));
      expect(result.stderr).not.toMatch(/\n\s+at /);
    } finally {
      close();
    }
  });
});
