// `diff`: what a signature would approve, staged against published, on a real workspace whose
// publications are recorded as a push would record them (real signatures, a fixed clock).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { WorkspaceError } from '../../shared/core/errors.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { formatDiff } from '../../shared/workspace/diff.js';
import { Workspace } from '../../shared/workspace/workspace.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const rootKey = PrivateKey.fromLabel('diff-root-1');
const rootKey2 = PrivateKey.fromLabel('diff-root-2');
const [t1, t2] = [1, 2].map((i) => PrivateKey.fromLabel(`diff-targets-${i}`)) as [PrivateKey, PrivateKey];
const online = PrivateKey.fromLabel('diff-online');
const supplier = PrivateKey.fromLabel('diff-supplier');
const ECM = { hardwareIds: ['ecm-x1'], releaseCounter: 1 };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-diff-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function publish(ws: Workspace, role: string): void {
  ws.recordPublished(role, ws.bytesToPush(role));
}

/** Root v1 and targets v1 (a.bin, b.bin, c.bin) published; 1-of-2 targets keys. */
async function publishedWorkspace(): Promise<Workspace> {
  const ws = Workspace.init(join(dir, 'ws'), { repository: 'image' }, new FixedClock(NOW));
  ws.createRoot({
    keys: { root: [rootKey.publicKey], targets: [t1.publicKey, t2.publicKey], timestamp: [online.publicKey], snapshot: [online.publicKey] },
    thresholds: { root: 1, targets: 1, timestamp: 1, snapshot: 1 },
  });
  ws.sign('root', rootKey);
  publish(ws, 'root');
  await ws.addImages(['a', 'b', 'c'].map((n) => ({ path: file(`${n}.bin`, n), name: `${n}.bin`, fields: ECM })));
  ws.sign('targets', t1);
  publish(ws, 'targets');
  return ws;
}

describe('diff', () => {
  it('shows images added, removed and changed, with their hashes, lengths and custom fields', async () => {
    const ws = await publishedWorkspace();
    expect(ws.diff().roles).toEqual([]);
    await ws.addImages([
      { path: file('d.bin', 'dddd'), name: 'd.bin', fields: { ...ECM, custom: { build: '7' } } },
      { path: file('b2.bin', 'b, rebuilt'), name: 'b.bin', fields: { ...ECM, releaseCounter: 2 } },
    ]);
    ws.removeImage('c.bin');
    ws.setExpires('targets', '30d');
    const [targets] = ws.diff().roles;
    expect(targets).toMatchObject({ role: 'targets', publishedVersion: 1, stagedVersion: 2, expires: { to: '2026-07-01T00:00:00Z' } });
    expect(targets!.targetsAdded).toEqual([
      { name: 'd.bin', length: 4, hashes: { sha256: digestBytes(Buffer.from('dddd'), ['sha256']).sha256, sha512: digestBytes(Buffer.from('dddd'), ['sha512']).sha512 }, custom: { build: '7', hardwareIds: ['ecm-x1'], releaseCounter: 1 } },
    ]);
    expect(targets!.targetsRemoved!.map((t) => t.name)).toEqual(['c.bin']);
    expect(targets!.targetsChanged!.map((t) => [t.name, t.from.custom!.releaseCounter, t.to.custom!.releaseCounter, t.to.length])).toEqual([['b.bin', 1, 2, 10]]);
    // The hash a signer compares is the hash of what status and sign-request show.
    expect(targets!.sha256).toBe(ws.status().roles.find((r) => r.role === 'targets')!.staged!.sha256);
    const text = formatDiff(ws.diff()).join('\n');
    expect(text).toMatch(/^targets v2 \(published v1\)/);
    expect(text).toContain('+ d.bin: 4 bytes');
    expect(text).toContain('custom {"build":"7"}');
    expect(text).toContain('- c.bin:');
    expect(text).toContain('~ b.bin:');
    expect(text).toContain('1 added, 1 removed, 1 changed image(s)');
  });

  it('shows root key and threshold changes and delegations', async () => {
    const ws = await publishedWorkspace();
    ws.addRootKey('root', rootKey2.publicKey);
    ws.setRootThreshold('targets', 2);
    ws.delegate({ name: 'acme', keys: [supplier.publicKey], threshold: 1, paths: ['acme/*'], terminating: true });
    const diff = ws.diff();
    expect(diff.roles.map((r) => r.role)).toEqual(['root', 'targets']);
    expect(diff.roles[0]!.keys).toEqual([
      { role: 'root', keysAdded: [rootKey2.keyid], keysRemoved: [] },
      { role: 'targets', keysAdded: [], keysRemoved: [], threshold: { from: 1, to: 2 } },
    ]);
    expect(diff.roles[1]!.delegations).toEqual([{ name: 'acme', change: 'added', to: expect.objectContaining({ name: 'acme', keyids: [supplier.keyid], threshold: 1, paths: ['acme/*'] }) }]);
    expect(diff.roles[1]!.targetsAdded).toEqual([]);
    expect(ws.diff('targets').roles.map((r) => r.role)).toEqual(['targets']);
    expect(formatDiff(ws.diff()).join('\n')).toMatch(/~ targets keys: threshold 1 -> 2[\s\S]*\+ delegation acme: 1 of/);
  });

  it('lists everything as new before the first publication, and refuses a bad role name', async () => {
    const ws = Workspace.init(join(dir, 'fresh'), { repository: 'image' }, new FixedClock(NOW));
    await ws.addImages([{ path: file('a.bin', 'a'), fields: ECM }]);
    const [targets] = ws.diff().roles;
    expect(targets).toMatchObject({ publishedVersion: 0, stagedVersion: 1, expires: { from: null }, otherFields: [] });
    expect(targets!.targetsAdded!.map((t) => t.name)).toEqual(['a.bin']);
    expect(() => ws.diff('../x')).toThrow(WorkspaceError);
  });
});
