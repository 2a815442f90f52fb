// The expiry guardian (issue 19, part 6): every role's expiry judged ok, warning or expired, and the
// `expiry` commands' exit statuses for cron and CI (0, 10, 11), from a server's database, a
// Director's data folder and a workspace. Metadata is written straight into the stores with the
// expiries each case needs: the readers report what is stored, they do not verify it again.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { formatExpires, SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { AnySigned } from '../../shared/core/metadata/types.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { EXPIRY_EXIT, judgeRole, readRoleFacts, worstState } from '../../shared/uptane/role-expiry.js';
import { SqliteImageRepoStorage } from '../../image-repo/store/sqlite.js';
import { SqliteDirectorStore } from '../../director-repo/store/sqlite/director-store.js';
import { buildCli, runCli } from '../support/cli-runner.js';

const DAY = 86_400_000;
const rootKey = PrivateKey.fromLabel('expiry/root');
const targetsKey = PrivateKey.fromLabel('expiry/targets');
const onlineKey = PrivateKey.fromLabel('expiry/online');
const delegateKey = PrivateKey.fromLabel('expiry/delegate');

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'expiry-'));
  dirs.push(dir);
  return dir;
};

const entry = (key: PrivateKey) => ({ [key.keyid]: key.publicKey.tuf });
const roleKeys = (key: PrivateKey) => ({ keyids: [key.keyid], threshold: 1 });

/** A repository's four roles (and a delegation) with the given expiries, signed as a repository would. */
function repository(expires: { root: Date; targets: Date; delegated?: Date; snapshot: Date; timestamp: Date }): Map<string, Buffer> {
  const sign = (signed: AnySigned, key: PrivateKey) => serializeMetadata(signMetadata(signed, [key]));
  const files = new Map<string, Buffer>();
  files.set(
    'root',
    sign(
      {
        _type: 'root',
        spec_version: SPEC_VERSION,
        version: 3,
        expires: formatExpires(expires.root),
        consistent_snapshot: true,
        keys: { ...entry(rootKey), ...entry(targetsKey), ...entry(onlineKey) },
        roles: { root: { keyids: [rootKey.keyid], threshold: 1 }, targets: roleKeys(targetsKey), snapshot: roleKeys(onlineKey), timestamp: roleKeys(onlineKey) },
      },
      rootKey,
    ),
  );
  const delegations =
    expires.delegated === undefined ? undefined : { keys: entry(delegateKey), roles: [{ name: 'engine', keyids: [delegateKey.keyid], threshold: 1, terminating: true, paths: ['engine/*'] }] };
  files.set('targets', sign({ _type: 'targets', spec_version: SPEC_VERSION, version: 5, expires: formatExpires(expires.targets), targets: {}, ...(delegations ? { delegations } : {}) }, targetsKey));
  if (expires.delegated !== undefined) files.set('engine', sign({ _type: 'targets', spec_version: SPEC_VERSION, version: 2, expires: formatExpires(expires.delegated), targets: {} }, delegateKey));
  files.set('snapshot', sign({ _type: 'snapshot', spec_version: SPEC_VERSION, version: 9, expires: formatExpires(expires.snapshot), meta: { 'targets.json': { version: 5 } } }, onlineKey));
  files.set('timestamp', sign({ _type: 'timestamp', spec_version: SPEC_VERSION, version: 40, expires: formatExpires(expires.timestamp), meta: { 'snapshot.json': { version: 9 } } }, onlineKey));
  return files;
}

/** Expiries relative to the real now (the CLI reads the system clock): offline roles `offlineDays` ahead, online ones `onlineHours`. */
function relative(offlineDays: number, onlineHours = 20): Parameters<typeof repository>[0] {
  const now = Date.now();
  const offline = new Date(now + offlineDays * DAY);
  return { root: new Date(now + 400 * DAY), targets: offline, delegated: offline, snapshot: new Date(now + 5 * DAY), timestamp: new Date(now + onlineHours * 3_600_000) };
}

async function imageDataDir(files: Map<string, Buffer>): Promise<string> {
  const dir = tempDir();
  const storage = new SqliteImageRepoStorage(join(dir, 'image-repo.sqlite'));
  await storage.publish([...files].map(([role, bytes]) => ({ role, version: JSON.parse(bytes.toString()).signed.version as number, bytes })), new Date());
  await storage.close();
  return dir;
}

describe('judging expiry (shared/uptane/role-expiry.ts)', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const facts = (expires: string, online: boolean) => ({ repository: 'image' as const, role: 'r', version: 1, expires, threshold: 1, keyids: [], online });

  it('warns offline roles days ahead and online roles hours ahead; expired at the instant itself', () => {
    expect(judgeRole(facts('2026-07-02T00:00:00Z', false), now).state).toBe('ok');
    expect(judgeRole(facts('2026-07-01T00:00:00Z', false), now)).toMatchObject({ state: 'warning', secondsLeft: 30 * 86_400 });
    expect(judgeRole(facts('2026-06-01T07:00:00Z', true), now).state).toBe('ok');
    expect(judgeRole(facts('2026-06-01T06:00:00Z', true), now).state).toBe('warning');
    expect(judgeRole(facts('2026-06-01T00:00:00Z', true), now)).toMatchObject({ state: 'expired', secondsLeft: 0 });
    expect(judgeRole(facts('2026-05-31T00:00:00Z', false), now)).toMatchObject({ state: 'expired', secondsLeft: -86_400 });
    expect(judgeRole(facts('2026-07-15T00:00:00Z', false), now, { offlineDays: 60, onlineHours: 1 }).state).toBe('warning');
    expect(worstState([{ state: 'ok' }, { state: 'expired' }, { state: 'warning' }])).toBe('expired');
    expect(worstState([])).toBe('ok');
  });

  it('reads every role of a repository with its version, threshold, keyids and whether its key is online, delegations included', async () => {
    const files = repository({ root: new Date(now.getTime() + 300 * DAY), targets: new Date(now.getTime() + 10 * DAY), delegated: new Date(now.getTime() - DAY), snapshot: new Date(now.getTime() + 3 * DAY), timestamp: new Date(now.getTime() + 2 * 3_600_000) });
    const read = await readRoleFacts('image', (role) => files.get(role), new Set(['snapshot', 'timestamp']));
    expect(read.map((f) => [f.role, f.version, f.online, f.keyids])).toEqual([
      ['root', 3, false, [rootKey.keyid]],
      ['targets', 5, false, [targetsKey.keyid]],
      ['snapshot', 9, true, [onlineKey.keyid]],
      ['timestamp', 40, true, [onlineKey.keyid]],
      ['engine', 2, false, [delegateKey.keyid]],
    ]);
    expect(read.map((f) => judgeRole(f, now).state)).toEqual(['ok', 'warning', 'ok', 'warning', 'expired']);
  });
});

describe('uptane image expiry and uptane director expiry (exit statuses for cron and CI)', () => {
  beforeAll(async () => {
    await buildCli(); // dist/cli.js, as the global setup builds it
  });

  it('exits 0 when every role is ok, 10 when one is in its warning window, 11 when one expired; --warn-days moves the window', async () => {
    const ok = await imageDataDir(repository(relative(200)));
    const warning = await imageDataDir(repository(relative(10)));
    const expired = await imageDataDir(repository(relative(-1)));
    const onlineLate = await imageDataDir(repository(relative(200, 2)));

    const okRun = await runCli(['image', 'expiry', '--data-dir', ok, '--json']);
    expect(okRun.status).toBe(EXPIRY_EXIT.ok);
    const okJson = JSON.parse(okRun.stdout) as { state: string; exitCode: number; warningDays: number; roles: Array<{ role: string; state: string; online: boolean; threshold: number }> };
    expect(okJson).toMatchObject({ state: 'ok', exitCode: 0, warningDays: 30 });
    expect(okJson.roles.map((r) => [r.role, r.state, r.online])).toEqual([
      ['root', 'ok', false],
      ['targets', 'ok', false],
      ['snapshot', 'ok', true],
      ['timestamp', 'ok', true],
      ['engine', 'ok', false],
    ]);

    expect((await runCli(['image', 'expiry', '--data-dir', warning])).status).toBe(EXPIRY_EXIT.warning);
    expect((await runCli(['image', 'expiry', '--data-dir', warning, '--warn-days', '5'])).status).toBe(EXPIRY_EXIT.ok);
    expect((await runCli(['image', 'expiry', '--data-dir', ok, '--warn-days', '365'])).status).toBe(EXPIRY_EXIT.warning);
    expect((await runCli(['image', 'expiry', '--data-dir', onlineLate])).status).toBe(EXPIRY_EXIT.warning);
    const expiredRun = await runCli(['image', 'expiry', '--data-dir', expired]);
    expect(expiredRun.status).toBe(EXPIRY_EXIT.expired);
    expect(expiredRun.stdout).toMatch(/targets\s+5\s+\S+\s+.*ago\s+EXPIRED/);
    // Each expired offline role says what to run (issue 20, finding 9).
    expect(expiredRun.stdout).toMatch(/image targets expired on \S+: re-sign with `uptane image targets expires 90d`, then `uptane image sign --role targets --key FILE` and `uptane image push`/);
    expect(expiredRun.stdout).toMatch(/image engine expired on \S+: re-sign with `uptane image targets expires 90d --role engine`, then `uptane image sign --role engine --key FILE`/);
  });

  it('refuses a data folder with no database (exit 1, what to give instead), and makes none', async () => {
    const empty = tempDir();
    const run = await runCli(['image', 'expiry', '--data-dir', join(empty, 'typo')]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('holds no Image repository database');
    expect((await runCli(['image', 'expiry', '--warn-days', 'soon'])).status).toBe(1);
  });

  it("judges the Director's root and the Image repository roles it verified, from its data folder", async () => {
    const dir = tempDir();
    const store = new SqliteDirectorStore(join(dir, 'director.sqlite'));
    const directorRoot = repository({ ...relative(200), root: new Date(Date.now() - 3_600_000) }).get('root')!;
    await store.roots.insertRoot(3, directorRoot, new Date());
    await store.close();
    const imageFiles = repository(relative(200));
    mkdirSync(join(dir, 'image-repo-metadata'));
    const verified = new FileMetadataStore(join(dir, 'image-repo-metadata'));
    for (const [role, bytes] of imageFiles) verified.persist(role, bytes);

    const run = await runCli(['director', 'expiry', '--data-dir', dir, '--json']);
    expect(run.status).toBe(EXPIRY_EXIT.expired);
    const json = JSON.parse(run.stdout) as { roles: Array<{ repository: string; role: string; state: string }>; perVehicle: Array<{ role: string; lifetimeSeconds: number }> };
    expect(json.roles.map((r) => [r.repository, r.role, r.state])).toEqual([
      ['image', 'root', 'ok'],
      ['image', 'targets', 'ok'],
      ['image', 'snapshot', 'ok'],
      ['image', 'timestamp', 'ok'],
      ['image', 'engine', 'ok'],
      ['director', 'root', 'expired'],
    ]);
    expect(json.perVehicle.map((p) => [p.role, p.lifetimeSeconds])).toEqual([
      ['targets', 30 * 86_400],
      ['snapshot', 7 * 86_400],
      ['timestamp', 86_400],
    ]);
    const text = await runCli(['director', 'expiry', '--data-dir', dir]);
    expect(text.status).toBe(EXPIRY_EXIT.expired);
    expect(text.stdout).toContain('per-vehicle roles (signed online, re-signed at half their lifetime): targets 30d 0h, snapshot 7d 0h, timestamp 1d 0h');
  });

  it('reads a workspace: what it last published or pulled', async () => {
    const ws = tempDir();
    const init = await runCli(['image', 'init', '--workspace', ws, '--server', 'http://127.0.0.1:9']);
    expect(init.status).toBe(0);
    const published = new FileMetadataStore(join(ws, 'published'));
    for (const [role, bytes] of repository(relative(10))) published.persist(role, bytes);
    const run = await runCli(['image', 'expiry', '--workspace', ws, '--json']);
    expect(run.status).toBe(EXPIRY_EXIT.warning);
    expect((JSON.parse(run.stdout) as { roles: Array<{ role: string; state: string }> }).roles.find((r) => r.role === 'targets')!.state).toBe('warning');
    const wrong = await runCli(['director', 'expiry', '--workspace', ws]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('is a workspace of the image repository');
  });
});
