// The Director's delta cache (director-repo/image-deltas.ts): made once per (from, to) pair however
// many ask at once, applied once before it is kept, not offered for images past the size cap, and the
// folder kept within its byte budget by removing the least recently used deltas. The Image repository
// is the ImageCatalog seam answering from memory; the store is the real SQLite one.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firmwarePair } from '../../sim/harness/firmware-pair.js';
import { FixedClock } from '../../shared/core/clock.js';
import type { TargetFile } from '../../shared/core/metadata/types.js';
import { TargetNotFoundError } from '../../shared/core/errors.js';
import type { ImageCatalog } from '../../director-repo/image-catalog.js';
import { ImageDeltas, type DeltaEnd } from '../../director-repo/image-deltas.js';
import { openDirectorStore } from '../../director-repo/store/open-store.js';
import type { DirectorStorage } from '../../director-repo/store/director-store.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The Image repository as the Director sees it, from memory, counting downloads by file name. */
class MemoryCatalog implements ImageCatalog {
  readonly downloads = new Map<string, number>();
  finds = 0;
  constructor(private readonly images: ReadonlyMap<string, Buffer>) {}
  async findImage(filename: string): Promise<TargetFile> {
    this.finds++;
    const content = this.images.get(filename);
    if (content === undefined) throw new TargetNotFoundError(`no image ${filename}`);
    return { length: content.length, hashes: { sha256: sha256(content) } };
  }
  async downloadImage(filename: string, _target: TargetFile, destination: string): Promise<void> {
    this.downloads.set(filename, (this.downloads.get(filename) ?? 0) + 1);
    writeFileSync(destination, this.images.get(filename)!);
  }
}

const PAIR = firmwarePair(128 * 1024);
const end = (filename: string, content: Buffer): DeltaEnd => ({ filename, length: content.length, sha256: sha256(content) });
const A = end('fw-1.bin', PAIR.from);
const B = end('fw-2.bin', PAIR.to);

let dir: string;
let store: DirectorStorage;
let catalog: MemoryCatalog;
let clock: FixedClock;

beforeEach(async () => {
  clock = new FixedClock(new Date('2026-12-01T00:00:00Z'));
  dir = mkdtempSync(join(tmpdir(), 'image-deltas-'));
  store = await openDirectorStore(join(dir, 'data'), undefined);
  catalog = new MemoryCatalog(new Map([[A.filename, PAIR.from], [B.filename, PAIR.to], ['fw-3.bin', Buffer.concat([PAIR.to.subarray(1000), PAIR.to.subarray(0, 1000)])]]));
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the Director makes each delta once', () => {
  it('concurrent requests for one pair share one making; a later one reads the cache', async () => {
    const deltas = new ImageDeltas(store, catalog, clock, join(dir, 'deltas'));
    const [first, second] = await Promise.all([deltas.prepare('tcu-a', A, B), deltas.prepare('tcu-a', A, B)]);
    expect(first).toEqual(second);
    expect(first).toMatchObject({ offered: true });
    expect(first!.length).toBeLessThan(PAIR.to.length / 5);
    expect(catalog.downloads).toEqual(new Map([[A.filename, 1], [B.filename, 1]]));
    expect(await deltas.prepare('tcu-a', A, B)).toEqual(first);
    expect(catalog.downloads.get(B.filename)).toBe(1);
    expect(deltas.hasDelta(A.sha256, B.sha256)).toBe(true);
    // Only the delta and its record are left: no temporary copy of either image.
    expect(readdirSync(join(dir, 'deltas')).sort()).toEqual([`${A.sha256}-${B.sha256}.delta`, `${A.sha256}-${B.sha256}.json`]);
  });

  it('offers nothing for an image past the size cap, and makes nothing', async () => {
    const deltas = new ImageDeltas(store, catalog, clock, join(dir, 'deltas'), { maxImageBytes: PAIR.to.length - 1 });
    expect(deltas.offer('VIN1', 'tcu-a', A, B)).toBeUndefined();
    await deltas.idle();
    expect(catalog.downloads.size).toBe(0);
  });

  it('offers nothing for a "from" the Image repository does not sign as reported, and tries again only after retryAfterMs', async () => {
    const deltas = new ImageDeltas(store, catalog, clock, join(dir, 'deltas'), { retryAfterMs: 60_000 });
    const unknown = { ...A, sha256: sha256(Buffer.from('another build')) };
    expect(deltas.offer('VIN1', 'tcu-a', unknown, B)).toBeUndefined();
    await deltas.idle();
    const finds = catalog.finds;
    expect(deltas.offer('VIN1', 'tcu-a', unknown, B)).toBeUndefined();
    await deltas.idle();
    expect(catalog.finds).toBe(finds); // not tried again yet
    clock.advance(60_001);
    expect(deltas.offer('VIN1', 'tcu-a', unknown, B)).toBeUndefined();
    await deltas.idle();
    expect(catalog.finds).toBeGreaterThan(finds);
    expect(catalog.downloads.size).toBe(0);
    expect(deltas.hasDelta(unknown.sha256, B.sha256)).toBe(false);
  });

  it('keeps the folder within its byte budget by removing the least recently used delta', async () => {
    const C = end('fw-3.bin', Buffer.concat([PAIR.to.subarray(1000), PAIR.to.subarray(0, 1000)]));
    const deltas = new ImageDeltas(store, catalog, clock, join(dir, 'deltas'), { maxCacheBytes: 1 });
    await deltas.prepare('tcu-a', A, B);
    // Made long ago: the first to go.
    utimesSync(join(dir, 'deltas', `${A.sha256}-${B.sha256}.delta`), new Date('2020-01-01'), new Date('2020-01-01'));
    await deltas.prepare('tcu-a', A, C);
    expect(deltas.hasDelta(A.sha256, C.sha256)).toBe(true);
    expect(deltas.hasDelta(A.sha256, B.sha256)).toBe(false);
    expect(readdirSync(join(dir, 'deltas')).filter((f) => f.startsWith(`${A.sha256}-${B.sha256}`))).toEqual([]);
  });
});
