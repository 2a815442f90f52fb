// --json on the Image repository commands no other test runs with it (issue 20, finding 9): each
// prints one JSON document on standard output, and nothing else there. The built binary (dist/) in
// a temp folder; the others (init, targets, sign, sign-request, discard, push, status, diff,
// expiry, online-keys, uploader add/list, db migrate, bins create) are covered where they are tested.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startImageServer } from '../../image-repo/server.js';
import { runCli } from '../support/cli-runner.js';

let dir: string;

async function json(...args: string[]): Promise<Record<string, unknown>> {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.UPTANE_WORKSPACE;
  const run = await runCli([...args, '--json'], { cwd: dir, env });
  if (run.status !== 0) throw new Error(`uptane ${args.join(' ')} --json exited ${String(run.status)}\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-image-json-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--json', () => {
  it('root changes, delegations and uploader revocations each print one JSON document', async () => {
    for (const name of ['root', 'root2', 'targets', 'online', 'acme']) await json('keys', 'generate', `${name}.pem`, '--public-out', `${name}.pub.json`);
    await json('image', 'init', '-w', 'ws');
    await json('image', 'root', 'create', '-w', 'ws', '--root-key', 'root.pub.json', '--targets-key', 'targets.pub.json', '--timestamp-key', 'online.pub.json', '--snapshot-key', 'online.pub.json');
    expect(await json('image', 'root', 'add-key', '-w', 'ws', '--role', 'root', '--key', 'root2.pub.json')).toMatchObject({ role: 'root', version: 1, changed: true });
    expect(await json('image', 'root', 'threshold', '2', '-w', 'ws', '--role', 'root')).toMatchObject({ role: 'root', changed: true });
    expect(await json('image', 'root', 'threshold', '1', '-w', 'ws', '--role', 'root')).toMatchObject({ role: 'root', changed: true });
    expect(await json('image', 'root', 'remove-key', '-w', 'ws', '--role', 'root', '--key', 'root2.pub.json')).toMatchObject({ role: 'root', changed: true });
    expect(await json('image', 'root', 'expires', '2y', '-w', 'ws')).toMatchObject({ role: 'root', changed: true });
    expect(await json('image', 'delegate', 'acme', '-w', 'ws', '--path', 'acme/*', '--key', 'acme.pub.json')).toMatchObject({ role: 'targets', changed: true });
    expect(await json('image', 'undelegate', 'acme', '-w', 'ws')).toMatchObject({ role: 'targets' });

    await (await startImageServer({ dataDir: join(dir, 'image') })).close();
    const added = await json('image', 'uploader', 'add', 'ci', '--data-dir', 'image');
    expect(await json('image', 'uploader', 'revoke', String(added.tokenId), '--data-dir', 'image', '--yes')).toEqual({ tokenId: added.tokenId, name: 'ci', revoked: true });
    const again = await json('image', 'uploader', 'add', 'ci', '--data-dir', 'image');
    expect(await json('image', 'uploader', 'remove', 'ci', '--data-dir', 'image', '--yes')).toEqual({ name: 'ci', revoked: [again.tokenId] });
  }, 120_000);
});
