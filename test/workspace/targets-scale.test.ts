// Staging many images in one edit (issue 17): FILE batches and JSON Lines manifests, each checked in
// full before anything changes, and the edit fast path (a staged file this tool wrote and checked is
// not parsed strictly again, one edited by hand is). Real files in a temp folder, a fixed clock.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { DamagedStagedFileError, ImageManifestError, UnsafePathError, WorkspaceError } from '../../shared/core/errors.js';
import { parseImageManifest, readImageManifest } from '../../shared/workspace/image-manifest.js';
import { Workspace, type ImageToAdd } from '../../shared/workspace/workspace.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const ECM = { hardwareIds: ['ecm-x1'], releaseCounter: 2 };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-targets-scale-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function newWorkspace(): Workspace {
  return Workspace.init(join(dir, 'ws'), { repository: 'image' }, new FixedClock(NOW));
}

/** Every file of the workspace folder with its bytes: "unchanged" means exactly this. */
function snapshot(ws: Workspace): Record<string, string> {
  const out: Record<string, string> = {};
  for (const sub of ['staged', 'sources']) {
    for (const name of readdirSync(join(ws.dir, sub))) out[`${sub}/${name}`] = readFileSync(join(ws.dir, sub, name), 'utf8');
  }
  return out;
}

describe('targets add of many images', () => {
  it('stages every image in one edit, reporting added, replaced and unchanged', async () => {
    const ws = newWorkspace();
    const images: ImageToAdd[] = [1, 2, 3].map((i) => ({ path: file(`img-${i}.bin`, `image ${i}`), name: `body/img-${i}.bin`, fields: ECM }));
    const first = await ws.addImages(images);
    expect(first.images.map((i) => i.status)).toEqual(['added', 'added', 'added']);
    expect(Object.keys(first.signed.targets).sort()).toEqual(['body/img-1.bin', 'body/img-2.bin', 'body/img-3.bin']);
    expect(first.signed.version).toBe(1);
    writeFileSync(images[1]!.path, 'image 2, rebuilt');
    const second = await ws.addImages([...images, { path: file('img-4.bin', 'image 4'), fields: ECM }]);
    expect(second.images.map((i) => [i.name, i.status])).toEqual([
      ['body/img-1.bin', 'unchanged'],
      ['body/img-2.bin', 'replaced'],
      ['body/img-3.bin', 'unchanged'],
      ['img-4.bin', 'added'],
    ]);
    expect(Object.keys(ws.files.loadSources('targets'))).toHaveLength(4);
    // What was staged is strict metadata a client would accept.
    expect(Object.keys(ws.files.loadStagedTargets('targets')!.signed.targets)).toHaveLength(4);
    // The same batch again changes nothing.
    expect((await ws.addImages([{ path: images[0]!.path, name: 'body/img-1.bin', fields: ECM }])).changed).toBe(false);
  });

  it('refuses the whole batch, changing nothing, when one image is bad', async () => {
    const ws = newWorkspace();
    await ws.addImages([{ path: file('a.bin', 'a'), fields: ECM }]);
    const before = snapshot(ws);
    const good = { path: file('b.bin', 'b'), fields: ECM };
    await expect(ws.addImages([good, { path: join(dir, 'missing.bin'), fields: ECM }])).rejects.toThrow(WorkspaceError);
    await expect(ws.addImages([good, { path: good.path, name: '../etc/passwd', fields: ECM }])).rejects.toThrow(UnsafePathError);
    await expect(ws.addImages([good, { path: file('c.bin', 'c'), name: 'b.bin', fields: ECM }])).rejects.toThrow(/given twice/);
    await expect(ws.addImages([good, { path: good.path, name: 'x.bin', fields: { hardwareIds: [], releaseCounter: 1 } }])).rejects.toThrow(/hardware id/);
    await expect(ws.addImages([])).rejects.toThrow(WorkspaceError);
    expect(snapshot(ws)).toEqual(before);
  });
});

describe('image manifests (JSON Lines)', () => {
  it('parses one image per line, paths from the manifest folder, blank lines skipped', () => {
    const images = parseImageManifest(
      '{"path": "ecm.bin", "name": "engine/ecm-2.1.bin", "hardwareIds": ["ecm-x1"], "releaseCounter": 21, "custom": {"build": "7"}}\n\n{"path": "/abs/bcm.bin", "hardwareIds": ["bcm"], "releaseCounter": 0}\r\n',
      '/rel/release.jsonl',
    );
    expect(images).toEqual([
      { path: '/rel/ecm.bin', name: 'engine/ecm-2.1.bin', fields: { hardwareIds: ['ecm-x1'], releaseCounter: 21, custom: { build: '7' } }, origin: { file: '/rel/release.jsonl', line: 1 } },
      { path: '/abs/bcm.bin', fields: { hardwareIds: ['bcm'], releaseCounter: 0 }, origin: { file: '/rel/release.jsonl', line: 3 } },
    ]);
  });

  it.each([
    ['not JSON', '{"path": "a.bin",'],
    ['an array', '["a.bin"]'],
    ['a misspelt key', '{"path": "a.bin", "hardwareIds": ["x"], "releaseCountr": 1}'],
    ['no path', '{"hardwareIds": ["x"], "releaseCounter": 1}'],
    ['no hardware ids', '{"path": "a.bin", "hardwareIds": [], "releaseCounter": 1}'],
    ['a number as hardware id', '{"path": "a.bin", "hardwareIds": [7], "releaseCounter": 1}'],
    ['a string release counter', '{"path": "a.bin", "hardwareIds": ["x"], "releaseCounter": "1"}'],
    ['custom not an object', '{"path": "a.bin", "hardwareIds": ["x"], "releaseCounter": 1, "custom": [1]}'],
  ])('refuses %s with image_manifest naming the line', (_what, line) => {
    const text = `{"path": "ok.bin", "hardwareIds": ["x"], "releaseCounter": 1}\n${line}\n`;
    let error: unknown;
    try {
      parseImageManifest(text, 'release.jsonl');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ImageManifestError);
    expect((error as ImageManifestError).code).toBe('image_manifest');
    expect((error as ImageManifestError).line).toBe(2);
    expect((error as ImageManifestError).message).toMatch(/^release\.jsonl line 2: /);
  });

  it('refuses an empty manifest and a missing one', () => {
    expect(() => parseImageManifest('\n\n', 'm.jsonl')).toThrow(ImageManifestError);
    expect(() => readImageManifest(join(dir, 'none.jsonl'))).toThrow(ImageManifestError);
  });

  it('names the line of an image the workspace refuses, and stages nothing', async () => {
    const ws = newWorkspace();
    file('a.bin', 'a');
    const manifest = file(
      'release.jsonl',
      [
        '{"path": "a.bin", "name": "engine/a.bin", "hardwareIds": ["ecm"], "releaseCounter": 1}',
        '{"path": "a.bin", "name": "engine/../a.bin", "hardwareIds": ["ecm"], "releaseCounter": 1}',
      ].join('\n'),
    );
    const error = await ws.addImages(readImageManifest(manifest)).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ImageManifestError);
    expect((error as ImageManifestError).line).toBe(2);
    expect((error as ImageManifestError).cause).toBeInstanceOf(UnsafePathError);
    const missing = file('missing.jsonl', '{"path": "a.bin", "hardwareIds": ["ecm"], "releaseCounter": 1}\n{"path": "gone.bin", "hardwareIds": ["ecm"], "releaseCounter": 1}\n');
    await expect(ws.addImages(readImageManifest(missing))).rejects.toMatchObject({ code: 'image_manifest', line: 2 });
    expect(ws.files.loadStaged('targets')).toBeUndefined();
    const staged = await ws.addImages(readImageManifest(file('ok.jsonl', '{"path": "a.bin", "name": "engine/a.bin", "hardwareIds": ["ecm"], "releaseCounter": 1, "custom": {"build": "9"}}\n')));
    expect(staged.signed.targets['engine/a.bin']!.custom).toEqual({ build: '9', hardwareIds: ['ecm'], releaseCounter: 1 });
  });
});

describe('the edit fast path', () => {
  it('parses a hand-edited staged file strictly before the next edit, refusing it as damaged (naming the discard that clears it)', async () => {
    const ws = newWorkspace();
    await ws.addImages([{ path: file('a.bin', 'a'), fields: ECM }]);
    const stagedPath = join(ws.dir, 'staged', 'targets.json');
    const envelope = JSON.parse(readFileSync(stagedPath, 'utf8')) as { signed: { targets: Record<string, { length: number }> } };
    envelope.signed.targets['a.bin']!.length = -1; // no client accepts a negative length
    writeFileSync(stagedPath, JSON.stringify(envelope, null, 2));
    await expect(ws.addImages([{ path: file('b.bin', 'b'), fields: ECM }])).rejects.toThrow(DamagedStagedFileError);
  });

  it('checks each new entry with the rules a client applies, while entries already checked are not checked again', async () => {
    const ws = newWorkspace();
    await ws.addImages([{ path: file('a.bin', 'a'), fields: ECM }]);
    const before = snapshot(ws);
    // Canonical JSON holds integers only: the whole-role check would refuse this entry, so must the edit.
    await expect(ws.addImages([{ path: file('b.bin', 'b'), fields: { ...ECM, custom: { ratio: 1.5 } } }])).rejects.toThrow(/integer/);
    expect(snapshot(ws)).toEqual(before);
  });

  it('never lets the check note stand in for the strict parse when signing or pushing', async () => {
    const ws = newWorkspace();
    const [rootKey, targetsKey, online] = ['note-root', 'note-targets', 'note-online'].map((label) => PrivateKey.fromLabel(label)) as [PrivateKey, PrivateKey, PrivateKey];
    ws.createRoot({
      keys: { root: [rootKey.publicKey], targets: [targetsKey.publicKey], timestamp: [online.publicKey], snapshot: [online.publicKey] },
      thresholds: { root: 1, targets: 1, timestamp: 1, snapshot: 1 },
    });
    await ws.addImages([{ path: file('a.bin', 'a'), fields: ECM }]);
    // Someone who can write the workspace edits the staged file and the note to match it.
    const stagedPath = join(ws.dir, 'staged', 'targets.json');
    const envelope = JSON.parse(readFileSync(stagedPath, 'utf8')) as { signed: { targets: Record<string, { length: number }> } };
    envelope.signed.targets['a.bin']!.length = -1;
    const bytes = Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`);
    writeFileSync(stagedPath, bytes);
    writeFileSync(join(ws.dir, 'staged', '.targets.json.checked'), `${createHash('sha256').update(bytes).digest('hex')}\n`);
    expect(() => ws.sign('targets', targetsKey)).toThrow(DamagedStagedFileError);
    expect(() => ws.bytesToPush('targets')).toThrow(DamagedStagedFileError);
  });
});
