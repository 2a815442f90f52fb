// Hash-bin delegations (TAP 15 succinct_roles) made in the workspace (issue 17): `bins create` stages
// targets with succinct_roles and every bin, images route to their bins, only the bins touched are
// written, and every refusal leaves the workspace byte for byte as it was. In-process, real files in
// a temp folder, a fixed clock; the end-to-end run against a server is hash-bins-e2e.test.ts.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { CanonicalJsonError, HashBinError, UnauthorizedSignerError, UnauthorizedTargetError, WorkspaceError } from '../../shared/core/errors.js';
import { succinctRoleFor, succinctRoleName } from '../../shared/core/metadata/paths.js';
import { formatDiff } from '../../shared/workspace/diff.js';
import { binNames } from '../../shared/workspace/targets-edits.js';
import { Workspace, type ImageToAdd } from '../../shared/workspace/workspace.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const ECM = { hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const rootKey = PrivateKey.fromLabel('bins-root');
const targetsKey = PrivateKey.fromLabel('bins-targets');
const binKey = PrivateKey.fromLabel('bins-bin-key');
const binKey2 = PrivateKey.fromLabel('bins-bin-key-2');
const stranger = PrivateKey.fromLabel('bins-stranger');
const online = { timestamp: PrivateKey.fromLabel('bins-ts'), snapshot: PrivateKey.fromLabel('bins-snap') };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-hash-bins-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** A workspace with root v1 staged and signed (targets signed by one key). */
function newWorkspace(): Workspace {
  const ws = Workspace.init(join(dir, 'ws'), { repository: 'image' }, new FixedClock(NOW));
  ws.createRoot({
    keys: { root: [rootKey.publicKey], targets: [targetsKey.publicKey], timestamp: [online.timestamp.publicKey], snapshot: [online.snapshot.publicKey] },
    thresholds: { root: 1, targets: 1, timestamp: 1, snapshot: 1 },
  });
  ws.sign('root', rootKey);
  return ws;
}

/** Every file of the workspace folder with its bytes: "unchanged" means exactly this. */
function snapshot(ws: Workspace): Record<string, string> {
  const out: Record<string, string> = {};
  for (const sub of ['staged', 'sources', 'published']) {
    for (const name of readdirSync(join(ws.dir, sub))) out[`${sub}/${name}`] = readFileSync(join(ws.dir, sub, name), 'utf8');
  }
  return out;
}

function images(count: number, prefix = 'fleet/'): ImageToAdd[] {
  return Array.from({ length: count }, (_, i) => ({ path: file(`img-${prefix.replace(/\W/g, '')}${i}.bin`, `image ${prefix}${i}`), name: `${prefix}img-${i}.bin`, fields: ECM }));
}

describe('bins create', () => {
  it('stages targets with succinct_roles in the TAP 15 field names and every bin, empty, at version 1', () => {
    const ws = newWorkspace();
    const result = ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1, expires: '30d' });
    const targets = ws.files.loadStagedTargets('targets')!.signed;
    expect(targets.delegations).toEqual({
      keys: { [binKey.keyid]: binKey.publicKey.tuf },
      succinct_roles: { keyids: [binKey.keyid], threshold: 1, bit_length: 4, name_prefix: 'bins' },
    });
    expect(result.bins.map((b) => b.role)).toEqual(['bins-0', 'bins-1', 'bins-2', 'bins-3', 'bins-4', 'bins-5', 'bins-6', 'bins-7', 'bins-8', 'bins-9', 'bins-a', 'bins-b', 'bins-c', 'bins-d', 'bins-e', 'bins-f']);
    for (const bin of result.bins) {
      const staged = ws.files.loadStagedTargets(bin.role)!.signed;
      expect(staged).toMatchObject({ version: 1, targets: {}, expires: '2026-07-01T00:00:00Z' });
    }
    // Each bin is delegated by the staged targets: its authority is the bin key.
    expect(ws.authorities('bins-a')[0]!.authority.keyids).toEqual([binKey.keyid]);
  });

  it('names bins with ceil(bit_length / 4) hex digits, and accepts every power of two up to the limit', () => {
    const ws = newWorkspace();
    const result = ws.createHashBins({ bins: 512, keys: [binKey.publicKey], threshold: 1, prefix: 'shard' });
    expect(result.bins).toHaveLength(512);
    expect(result.bins[0]!.role).toBe('shard-000');
    expect(result.bins[511]!.role).toBe('shard-1ff');
    expect(binNames(result.succinct)).toEqual(result.bins.map((b) => b.role));
  });

  it('refuses a bin count that is not a power of two, too small or too large, with hash_bins and nothing written', () => {
    const ws = newWorkspace();
    const before = snapshot(ws);
    for (const bins of [0, 1, 3, 100, 255.5, 32_768, -16, Number.NaN]) {
      let caught: unknown;
      try {
        ws.createHashBins({ bins, keys: [binKey.publicKey], threshold: 1 });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(HashBinError);
      expect(caught).toMatchObject({ code: 'hash_bins' });
      expect(snapshot(ws)).toEqual(before);
    }
    // The limit is configuration: a smaller one refuses what the default allows.
    expect(() => ws.createHashBins({ bins: 64, keys: [binKey.publicKey], threshold: 1, limits: { maxBins: 32 } })).toThrow(HashBinError);
    expect(() => ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 2 })).toThrow(HashBinError);
    expect(() => ws.createHashBins({ bins: 16, keys: [], threshold: 1 })).toThrow(HashBinError);
    expect(() => ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1, prefix: '../x' })).toThrow(HashBinError);
    expect(snapshot(ws)).toEqual(before);
  });

  it('refuses next to path delegations, and a second time, leaving the workspace unchanged', () => {
    const ws = newWorkspace();
    ws.delegate({ name: 'acme', keys: [stranger.publicKey], threshold: 1, paths: ['acme/*'], terminating: false });
    const before = snapshot(ws);
    expect(() => ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1 })).toThrow(/undelegate/);
    expect(snapshot(ws)).toEqual(before);
    ws.undelegate('acme');
    ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1 });
    const after = snapshot(ws);
    expect(() => ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1 })).toThrow(HashBinError);
    expect(snapshot(ws)).toEqual(after);
    // Path delegations cannot be added next to bins either.
    expect(() => ws.delegate({ name: 'acme', keys: [stranger.publicKey], threshold: 1, paths: ['acme/*'], terminating: false })).toThrow(WorkspaceError);
  });

  it('moves the images top-level targets listed into their bins, with their sources', async () => {
    const ws = newWorkspace();
    const list = images(40);
    await ws.addImages(list);
    const result = ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1 });
    expect(result.moved).toBe(40);
    expect(ws.files.loadStagedTargets('targets')!.signed.targets).toEqual({});
    expect(ws.files.loadSources('targets')).toEqual({});
    const bins = result.succinct;
    let found = 0;
    for (const image of list) {
      const bin = succinctRoleFor(bins, image.name!);
      expect(ws.files.loadStagedTargets(bin)!.signed.targets[image.name!]).toBeDefined();
      expect(ws.files.loadSources(bin)[image.name!]!.path).toBe(image.path);
      found += 1;
    }
    expect(found).toBe(40);
    // Readiness sees every image inside its bin's delegation.
    ws.sign('targets', targetsKey);
    ws.signHashBins(binKey);
    for (const role of ws.stagedRoles()) expect(ws.readinessProblems(role)).toEqual([]);
  });
});

describe('images routed to hash bins', () => {
  it('targets add puts each image in its bin and writes only the bins it touched', async () => {
    const ws = newWorkspace();
    ws.createHashBins({ bins: 256, keys: [binKey.publicKey], threshold: 1 });
    const bins = ws.hashBins()!;
    const before = snapshot(ws);
    const list = images(5);
    const result = await ws.stageImages(list);
    const touched = new Set(list.map((i) => succinctRoleFor(bins, i.name!)));
    expect(result.hashBins).toEqual(bins);
    expect(new Set(result.stages.map((s) => s.role))).toEqual(touched);
    expect(result.images.map((i) => i.role)).toEqual(list.map((i) => succinctRoleFor(bins, i.name!)));
    const after = snapshot(ws);
    const changed = Object.keys(after).filter((f) => after[f] !== before[f]);
    // Each touched bin: its staged file, its check note and its sources; nothing else.
    const expected = [...touched].flatMap((bin) => [`staged/${bin}.json`, `staged/.${bin}.json.checked`, `sources/${bin}.json`]);
    expect(changed.sort()).toEqual(expected.sort());
    for (const image of list) expect(ws.files.loadStagedTargets(succinctRoleFor(bins, image.name!))!.signed.targets[image.name!]).toBeDefined();
  });

  it('a refusal in the last bin planned writes no bin at all', async () => {
    const ws = newWorkspace();
    ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1 });
    const bins = ws.hashBins()!;
    const list = images(30);
    // A float custom field is refused by the strict check (canonical JSON has no floats); put it on
    // the image whose bin is planned last, so every other bin passed first.
    const last = [...list].sort((a, b) => (succinctRoleFor(bins, a.name!) < succinctRoleFor(bins, b.name!) ? 1 : -1))[0]!;
    const bad = list.map((i) => (i === last ? { ...i, fields: { ...ECM, custom: { ratio: 1.5 } } } : i));
    const before = snapshot(ws);
    await expect(ws.stageImages(bad)).rejects.toThrow(CanonicalJsonError);
    expect(snapshot(ws)).toEqual(before);
  });

  it('an image staged explicitly in the wrong bin is refused (I13), and the right bin accepts it', async () => {
    const ws = newWorkspace();
    ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1 });
    const bins = ws.hashBins()!;
    const name = 'fleet/ecm.bin';
    const home = succinctRoleFor(bins, name);
    const other = succinctRoleName(bins, (parseInt(home.slice(-1), 16) + 1) % 16);
    const before = snapshot(ws);
    const path = file('ecm.bin', 'ecm');
    const error = await ws.stageImages([{ path, name, fields: ECM }], { role: other }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UnauthorizedTargetError);
    expect(error).toMatchObject({ code: 'unauthorized_target' });
    expect(snapshot(ws)).toEqual(before);
    const staged = await ws.stageImages([{ path, name, fields: ECM }], { role: home });
    expect(staged.stages.map((s) => s.role)).toEqual([home]);
  });

  it('a bin edited by hand to list a name of another bin is not ready to push', async () => {
    const ws = newWorkspace();
    ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1 });
    const bins = ws.hashBins()!;
    await ws.stageImages(images(1));
    const name = 'fleet/img-0.bin';
    const home = succinctRoleFor(bins, name);
    const other = succinctRoleName(bins, (parseInt(home.slice(-1), 16) + 1) % 16);
    const moved = JSON.parse(readFileSync(join(ws.dir, 'staged', `${home}.json`), 'utf8')) as { signed: { targets: Record<string, unknown> } };
    const envelope = JSON.parse(readFileSync(join(ws.dir, 'staged', `${other}.json`), 'utf8')) as { signed: { targets: Record<string, unknown> } };
    envelope.signed.targets[name] = moved.signed.targets[name];
    writeFileSync(join(ws.dir, 'staged', `${other}.json`), JSON.stringify(envelope));
    ws.signHashBins(binKey);
    expect(ws.readinessProblems(other).map((p) => p.code)).toEqual(['unauthorized_target']);
    expect(() => ws.bytesToPush(other)).toThrow(UnauthorizedTargetError);
  });

  it('targets remove removes the image from its bin', async () => {
    const ws = newWorkspace();
    ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1 });
    await ws.stageImages(images(3));
    const bins = ws.hashBins()!;
    const result = ws.removeImage('fleet/img-1.bin');
    expect(result.role).toBe(succinctRoleFor(bins, 'fleet/img-1.bin'));
    expect(ws.files.loadStagedTargets(result.role)!.signed.targets['fleet/img-1.bin']).toBeUndefined();
    expect(ws.files.loadSources(result.role)['fleet/img-1.bin']).toBeUndefined();
    expect(() => ws.removeImage('fleet/none.bin')).toThrow(WorkspaceError);
  });

  it('addImages into targets refuses once targets delegates to bins (stageImages routes)', async () => {
    const ws = newWorkspace();
    ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1 });
    await expect(ws.addImages(images(1))).rejects.toThrow(WorkspaceError);
  });
});

describe('signing every bin', () => {
  it('one key signs every staged bin; a second key meets a threshold of two; a stranger signs none', () => {
    const ws = newWorkspace();
    ws.createHashBins({ bins: 64, keys: [binKey.publicKey, binKey2.publicKey], threshold: 2 });
    const before = snapshot(ws);
    expect(() => ws.signHashBins(stranger)).toThrow(UnauthorizedSignerError);
    expect(snapshot(ws)).toEqual(before);
    const first = ws.signHashBins(binKey);
    expect(first).toHaveLength(64);
    expect(first.every((r) => !r.alreadySigned && !r.progress[0]!.met)).toBe(true);
    const second = ws.signHashBins(binKey2);
    expect(second.every((r) => r.progress[0]!.met)).toBe(true);
    expect(ws.signHashBins(binKey2).every((r) => r.alreadySigned)).toBe(true);
    ws.sign('targets', targetsKey);
    const status = ws.status();
    expect(status.readyToPush).toBe(true);
  });

  it('bins expires stages a new expiry on every bin', () => {
    const ws = newWorkspace();
    ws.createHashBins({ bins: 16, keys: [binKey.publicKey], threshold: 1 });
    ws.signHashBins(binKey);
    const stages = ws.setHashBinsExpires('7d');
    expect(stages).toHaveLength(16);
    expect(stages.every((s) => s.signed.expires === '2026-06-08T00:00:00Z' && s.droppedSignatures.includes(binKey.keyid))).toBe(true);
  });
});

describe('status and diff with hash bins', () => {
  it('status sums the bins up in a few lines, and diff shows the delegation and sums up the empty bins', async () => {
    const ws = newWorkspace();
    ws.createHashBins({ bins: 64, keys: [binKey.publicKey], threshold: 1 });
    await ws.stageImages(images(3));
    const status = ws.status();
    expect(status.hashBins).toMatchObject({ bit_length: 6, name_prefix: 'bins' });
    expect(status.roles.filter((r) => r.role.startsWith('bins-'))).toHaveLength(64);
    const text = ws.formatStatus();
    expect(text.some((l) => l.startsWith('hash bins bins-* (64 bins, 1 of '))).toBe(true);
    expect(text).toContain('  staged: 0 ready to push, 64 need signatures, 0 cannot be pushed; 3 image(s) in the staged bins');
    expect(text.filter((l) => /^bins-/.test(l))).toEqual([]); // no block per bin
    ws.sign('targets', targetsKey);
    ws.signHashBins(binKey);
    expect(ws.formatStatus()).toContain('  staged: 64 ready to push, 0 need signatures, 0 cannot be pushed; 3 image(s) in the staged bins');

    const diff = ws.diff();
    const targets = diff.roles.find((d) => d.role === 'targets')!;
    expect(targets.hashBins).toEqual({ from: null, to: { keyids: [binKey.keyid], threshold: 1, bit_length: 6, name_prefix: 'bins' } });
    const lines = formatDiff(diff);
    expect(lines).toContain(`  + hash bins: 64 bins bins-00 .. bins-3f (bit_length 6), 1 of ${binKey.keyid.slice(0, 12)}; terminating`);
    for (const name of ['fleet/img-0.bin', 'fleet/img-1.bin', 'fleet/img-2.bin']) expect(lines.some((l) => l.startsWith(`  + ${name}: `))).toBe(true);
    expect(lines.some((l) => /^\d+ more roles changed only in version and expiry \(v1; expires /.test(l))).toBe(true);
  });
});
