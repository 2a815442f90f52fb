// Large images are hashed on a second thread while they download (shared/client/parallel-hasher.ts, bench
// figure 4). The digests must be exactly MultiHasher's whatever the chunking, and a download hashed
// that way must refuse an altered image (F3) and resume (F6) exactly like one hashed inline.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FetchError, StorageError } from '../../shared/core/errors.js';
import { MultiHasher } from '../../shared/core/hashing.js';
import { downloadHasher, ParallelHasher } from '../../shared/client/parallel-hasher.js';
import { localTargetPath, type DownloadProgress } from '../../shared/client/updater.js';
import { expectRejected } from '../support/client.js';
import { RepositorySimulator } from '../support/repo-simulator.js';
import { misbehaveOnce } from '../support/static-server.js';
import { cleanupServersClientsAndTempDirs, expectCorruptedImageRefused, httpClient, imageBytes, serveRepository, sha256, tempDir } from '../support/tuf-helpers.js';

afterEach(cleanupServersClientsAndTempDirs);

const MiB = 1024 * 1024;
const ALGORITHMS = ['sha256', 'sha512'] as const;

function inlineDigests(data: Uint8Array): Record<string, string> {
  const hasher = new MultiHasher(ALGORITHMS);
  hasher.update(data);
  return hasher.digests();
}

/** Feeds `data` in chunks of the given sizes (repeated), waiting whenever the hasher asks to. */
async function feed(hasher: ParallelHasher, data: Uint8Array, sizes: readonly number[]): Promise<void> {
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const chunk = data.subarray(offset, offset + sizes[i % sizes.length]!);
    offset += chunk.length;
    await hasher.update(chunk);
  }
}

describe('ParallelHasher', () => {
  it.each<[string, number, number[]]>([
    ['nothing at all', 0, [1]],
    ['one byte', 1, [1]],
    ['exactly one slab', MiB, [MiB]],
    ['a slab and a byte, in socket-sized chunks', MiB + 1, [65_536]],
    ['more than all slabs, in odd chunks, some empty', 9 * MiB + 12_345, [0, 7, 65_536, 1_000_003, 3 * MiB]],
    ['chunks larger than a slab', 6 * MiB + 5, [2 * MiB + 3]],
  ])('gives the inline digests for %s', async (_name, size, sizes) => {
    const data = randomBytes(size);
    const hasher = new ParallelHasher(ALGORITHMS);
    await feed(hasher, data, sizes);
    expect(await hasher.digests()).toEqual(inlineDigests(data));
    expect(await new ParallelHasher(ALGORITHMS).digests()).toEqual(inlineDigests(new Uint8Array(0)));
  });

  it('keeps concurrent downloads apart, and one abandoned midway leaves the others right', async () => {
    const [a, b, c] = [randomBytes(5 * MiB + 1), randomBytes(3 * MiB + 7), randomBytes(2 * MiB)];
    const [ha, hb, hc] = [new ParallelHasher(ALGORITHMS), new ParallelHasher(ALGORITHMS), new ParallelHasher(ALGORITHMS)];
    await Promise.all([feed(ha, a, [65_536]), feed(hb, b, [100_000]), feed(hc, c.subarray(0, MiB + 3), [4_096])]);
    hc.abandon();
    expect(await hb.digests()).toEqual(inlineDigests(b));
    expect(await ha.digests()).toEqual(inlineDigests(a));
  });

  it('copies each chunk: the caller may reuse its buffer at once', async () => {
    const data = randomBytes(3 * MiB);
    const buffer = Buffer.alloc(65_536);
    const hasher = new ParallelHasher(ALGORITHMS);
    for (let offset = 0; offset < data.length; offset += buffer.length) {
      data.copy(buffer, 0, offset, offset + buffer.length);
      await hasher.update(buffer);
      buffer.fill(0xee);
    }
    expect(await hasher.matches(inlineDigests(data))).toBe(true);
  });

  it('matches only when every computed hash matches', async () => {
    const data = randomBytes(MiB + 9);
    const expected = inlineDigests(data);
    for (const wrong of [{ ...expected, sha512: expected.sha512!.replace(/^./, (c) => (c === '0' ? '1' : '0')) }, { sha256: expected.sha256! }, {}] as Array<Record<string, string>>) {
      const hasher = new ParallelHasher(ALGORITHMS);
      await feed(hasher, data, [65_536]);
      expect(await hasher.matches(wrong)).toBe(false);
    }
  });

  it('fails every waiting download with StorageError when the hashing thread dies, and starts a new thread for the next', async () => {
    const data = randomBytes(2 * MiB);
    const waiting = new ParallelHasher(ALGORITHMS);
    await feed(waiting, data.subarray(0, MiB + 1), [65_536]);
    // An algorithm node:crypto does not know makes the thread throw: the way a crash looks from here.
    const crashing = new ParallelHasher(['no-such-hash' as unknown as (typeof ALGORITHMS)[number]]);
    await expect(crashing.digests()).rejects.toBeInstanceOf(StorageError);
    await expect(waiting.digests()).rejects.toThrow(/hashing thread stopped/);
    const next = new ParallelHasher(ALGORITHMS);
    await feed(next, data, [65_536]);
    expect(await next.digests()).toEqual(inlineDigests(data));
  });

  it('is chosen from the configured size up, with a second core; smaller images are hashed inline', () => {
    const large = downloadHasher(ALGORITHMS, 8 * MiB, 8 * MiB);
    large.abandon(); // or the hashing thread would keep the process alive
    expect(large).toBeInstanceOf(ParallelHasher);
    expect(downloadHasher(ALGORITHMS, 8 * MiB - 1, 8 * MiB)).not.toBeInstanceOf(ParallelHasher);
  });
});

describe('downloads hashed on the second thread (hashThreadMinBytes: 0)', () => {
  const size = 5 * MiB + 321;

  async function setup() {
    const sim = new RepositorySimulator();
    const data = imageBytes('parallel', size);
    sim.addTarget('ecu/big.bin', data);
    sim.release();
    const server = await serveRepository(sim);
    const client = httpClient(sim, server, {}, { hashThreadMinBytes: 0 });
    await client.updater.refresh();
    const imagePath = `/targets/ecu/${sha256(data)}.big.bin`;
    const lookup = await client.updater.findTarget('ecu/big.bin');
    return { sim, server, client, data, imagePath, imageFile: join(server.root, imagePath), lookup, destination: localTargetPath(tempDir('uptane-images-'), 'ecu/big.bin') };
  }

  it.each([
    ['in the first slab', 1_000],
    ['in a middle slab', 3 * MiB + 17],
    ['in the last, partial slab', size - 1],
  ])('F3: refuses an image with one corrupted byte %s; no file, no .part left', async (_where, at) => {
    const { client, data, imageFile, lookup, destination } = await setup();
    await expectCorruptedImageRefused(client, { file: imageFile, data, lookup }, destination, at);
  });

  it('F6: resumes a cut download (the .part file is hashed again) and restarts when the server ignores Range', async () => {
    const { server, client, data, imagePath, lookup, destination } = await setup();
    const cutAt = 2 * MiB + 100;
    let stored!: () => void;
    const cutWhen = new Promise<void>((resolve) => (stored = resolve));
    server.misbehave = misbehaveOnce(imagePath, { kind: 'drop', afterBytes: cutAt, cutWhen });
    const onProgress = (p: DownloadProgress) => {
      if (p.received >= cutAt) stored();
    };
    await expectRejected(client, () => client.updater.downloadTarget(lookup, destination, onProgress), FetchError, 'fetch_failed');
    expect(readFileSync(`${destination}.part`).length).toBe(cutAt);

    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination).equals(data)).toBe(true);

    // Again, but the server sends the whole image: the hashing starts over from byte 0.
    const again = localTargetPath(tempDir('uptane-images-'), 'ecu/big.bin');
    writeFileSync(`${again}.part`, data.subarray(0, cutAt));
    server.misbehave = (request) => (request.path === imagePath ? { kind: 'ignore-range' } : undefined);
    await client.updater.downloadTarget(lookup, again);
    expect(readFileSync(again).equals(data)).toBe(true);
  });
});
