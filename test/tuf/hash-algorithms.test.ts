// Which hash algorithms a client verifies (docs/threat-model.md G2, G3; docs/decisions.md "Hash
// algorithms"), issue 17 item 5: a target that lists only blake2b used to be refused, though
// python-tuf accepts it. The rule: every listed algorithm the client computes (sha256, sha384,
// sha512, blake2b) must match; at least one must be listed, else a typed unsupported_hash_algorithm
// fault naming them; a name the client does not compute is ignored once one it computes matches.
// The same rule holds for a timestamp or snapshot META entry with hashes. This project's
// repositories still publish sha256 and sha512 for every image.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HashMismatchError, UnsupportedHashAlgorithmError } from '../../shared/core/errors.js';
import { digestBytes, MultiHasher, PUBLISHED_HASHES, SUPPORTED_HASHES } from '../../shared/core/hashing.js';
import { ParallelHasher } from '../../shared/client/parallel-hasher.js';
import { localTargetPath } from '../../shared/client/updater.js';
import { describeImage } from '../../shared/workspace/targets-edits.js';
import { cleanupClients, expectRejected, newClient, refreshedClient, type TestClient } from '../support/client.js';
import { RepositorySimulator } from '../support/repo-simulator.js';
import { cleanupTempDirs, tempDir } from '../support/tuf-helpers.js';

afterEach(() => {
  cleanupClients();
  cleanupTempDirs();
});

const NAME = 'ecu/fw.bin';
const CONTENT = Buffer.from('firmware image, version 7');

/**
 * A repository (plain target names: with consistent snapshots the file name is prefixed by the
 * target's sha256, which a blake2b-only target does not have) whose one target lists `hashes`.
 */
function simListing(hashes: Record<string, string>): RepositorySimulator {
  const sim = new RepositorySimulator({ consistentSnapshot: false });
  sim.addTarget(NAME, CONTENT);
  sim.targets.targets[NAME]!.hashes = hashes;
  sim.release();
  return sim;
}

async function download(client: TestClient): Promise<string> {
  const updater = client.newUpdater();
  await updater.refresh();
  const destination = localTargetPath(client.directory, NAME);
  await updater.downloadTarget(await updater.findTarget(NAME), destination);
  return destination;
}

/** The download is refused with `errorClass`, the store unchanged, and neither the file nor a .part left. */
async function expectDownloadRefused<E extends HashMismatchError | UnsupportedHashAlgorithmError>(
  client: TestClient,
  errorClass: abstract new (...args: never[]) => E,
  code: string,
): Promise<E> {
  const updater = client.newUpdater();
  await updater.refresh();
  const lookup = await updater.findTarget(NAME);
  const destination = localTargetPath(client.directory, NAME);
  const err = await expectRejected(client, () => updater.downloadTarget(lookup, destination), errorClass, code);
  expect(existsSync(destination)).toBe(false);
  expect(existsSync(`${destination}.part`)).toBe(false);
  return err;
}

describe('G2, G3: hash algorithms', () => {
  it('names: blake2b is BLAKE2b-512 (securesystemslib, python-tuf hashlib), sha384 is SHA-384', () => {
    expect([...SUPPORTED_HASHES].sort()).toEqual(['blake2b', 'sha256', 'sha384', 'sha512']);
    // RFC 7693 appendix A and FIPS 180-2 test vectors for "abc".
    expect(digestBytes(Buffer.from('abc'), ['blake2b']).blake2b).toBe(
      'ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923',
    );
    expect(digestBytes(Buffer.from('abc'), ['sha384']).sha384).toBe(
      'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
    );
  });

  it('the hashing thread computes blake2b and sha384 streaming, exactly as inline', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 17); // more than the thread's slabs: never held whole
    const inline = new MultiHasher(['blake2b', 'sha384']);
    inline.update(data);
    const threaded = new ParallelHasher(['blake2b', 'sha384']);
    for (let offset = 0; offset < data.length; offset += 65_536) await threaded.update(data.subarray(offset, offset + 65_536));
    expect(await threaded.digests()).toEqual(inline.digests());
  });

  it.each([
    ['inline', Number.MAX_SAFE_INTEGER],
    ['on the hashing thread', 0],
  ])('a target listing only blake2b is downloaded and verified (%s)', async (_how, hashThreadMinBytes) => {
    const sim = simListing(digestBytes(CONTENT, ['blake2b']));
    const client = newClient(sim, { config: { hashThreadMinBytes } });
    expect(readFileSync(await download(client))).toEqual(CONTENT);
  });

  it.each([
    ['inline', Number.MAX_SAFE_INTEGER],
    ['on the hashing thread', 0],
  ])('a blake2b-only target whose bytes differ is refused (%s)', async (_how, hashThreadMinBytes) => {
    const sim = simListing(digestBytes(CONTENT, ['blake2b']));
    const client = await refreshedClient(sim, { config: { hashThreadMinBytes } });
    const altered = Buffer.from(CONTENT);
    altered[3] = altered[3]! ^ 0x01;
    sim.targetFiles.set(NAME, altered);
    await expectDownloadRefused(client, HashMismatchError, 'hash_mismatch');
  });

  it('G3: every listed algorithm the client computes must match (sha256 right, blake2b wrong: refused)', async () => {
    const other = digestBytes(Buffer.from('another image'), ['blake2b']);
    const sim = simListing({ sha256: digestBytes(CONTENT, ['sha256']).sha256!, ...other });
    await expectDownloadRefused(await refreshedClient(sim), HashMismatchError, 'hash_mismatch');
  });

  it('G3: sha384 listed beside sha256 is checked too', async () => {
    const sim = simListing({ sha256: digestBytes(CONTENT, ['sha256']).sha256!, sha384: '00'.repeat(48) });
    await expectDownloadRefused(await refreshedClient(sim), HashMismatchError, 'hash_mismatch');
  });

  it('G2: a target listing only algorithms the client does not compute is refused before any byte is fetched, naming them', async () => {
    // blake2b-256 is python-tuf's BLAKE2b with a 32-byte output (not a truncation): node:crypto cannot compute it.
    const sim = simListing({ 'blake2b-256': 'ab'.repeat(32), md5: 'cd'.repeat(16) });
    const client = await refreshedClient(sim);
    sim.fetchLog.length = 0;
    const err = await expectDownloadRefused(client, UnsupportedHashAlgorithmError, 'unsupported_hash_algorithm');
    expect(err.kind).toBe('fault');
    expect(err.message).toContain('"blake2b-256", "md5"');
    expect(err.message).toContain('sha256, sha384, sha512, blake2b');
    expect(sim.fetched(/\/targets\//)).toEqual([]);
  });

  it('an algorithm the client does not compute is ignored once one it computes matches', async () => {
    const sim = simListing({ ...digestBytes(CONTENT, ['blake2b']), sha3_256: 'ab'.repeat(32) /* not checked */ });
    expect(readFileSync(await download(newClient(sim)))).toEqual(CONTENT);
  });

  it('a cached blake2b-only target is recognized, and an altered one is not', async () => {
    const sim = simListing(digestBytes(CONTENT, ['blake2b']));
    const client = newClient(sim);
    const destination = await download(client);
    const lookup = await client.updater.refresh().then(() => client.updater.findTarget(NAME));
    expect(await client.updater.isTargetCached(lookup, destination)).toBe(true);
    writeFileSync(destination, Buffer.from(CONTENT).fill(0x41, 0, 1));
    expect(await client.updater.isTargetCached(lookup, destination)).toBe(false);
  });
});

describe('G2, G3 for metadata: hashes in a timestamp or snapshot META entry', () => {
  /** A repository whose snapshot lists targets.json with `hashes(targetsBytes)`. */
  function simWithTargetsMeta(hashes: (targets: Buffer) => Record<string, string>): RepositorySimulator {
    const sim = new RepositorySimulator();
    sim.release();
    sim.snapshot.meta['targets.json'] = { version: sim.targets.version, hashes: hashes(sim.signedRole('targets')) };
    return sim;
  }

  it('snapshot listing targets.json by blake2b only: verified and accepted', async () => {
    const sim = simWithTargetsMeta((bytes) => digestBytes(bytes, ['blake2b']));
    expect((await newClient(sim).updater.refresh()).targetsVersion).toBe(sim.targets.version);
  });

  it('snapshot listing a blake2b that does not match targets.json: refused', async () => {
    const sim = simWithTargetsMeta(() => ({ blake2b: '00'.repeat(64) }));
    const client = newClient(sim);
    const err = await expectRejected(client, () => client.updater.refresh(), HashMismatchError, 'hash_mismatch', {
      changed: { timestamp: sim.signedRole('timestamp'), snapshot: sim.signedRole('snapshot') },
    });
    expect(err.role).toBe('targets');
  });

  it('snapshot listing targets.json by md5 only: unsupported_hash_algorithm, targets never trusted', async () => {
    const sim = simWithTargetsMeta((bytes) => ({ md5: 'ab'.repeat(16), sha1: digestBytes(bytes, ['sha256']).sha256!.slice(0, 40) }));
    const client = newClient(sim);
    const err = await expectRejected(client, () => client.updater.refresh(), UnsupportedHashAlgorithmError, 'unsupported_hash_algorithm', {
      changed: { timestamp: sim.signedRole('timestamp'), snapshot: sim.signedRole('snapshot') },
    });
    expect(err.role).toBe('targets');
    expect(err.message).toContain('"md5", "sha1"');
  });

  it('timestamp listing snapshot.json by sha384 and blake2b: both checked', async () => {
    const sim = new RepositorySimulator();
    sim.release();
    const snapshot = sim.signedRole('snapshot');
    sim.timestamp.meta['snapshot.json'] = { version: sim.snapshot.version, hashes: digestBytes(snapshot, ['sha384', 'blake2b']) };
    expect((await refreshedClient(sim)).store.load('snapshot')).toEqual(snapshot);

    const wrong = new RepositorySimulator({ name: 'wrong' });
    wrong.release();
    wrong.timestamp.meta['snapshot.json'] = {
      version: wrong.snapshot.version,
      hashes: { ...digestBytes(wrong.signedRole('snapshot'), ['sha384']), blake2b: '11'.repeat(64) },
    };
    const client = newClient(wrong);
    await expectRejected(client, () => client.updater.refresh(), HashMismatchError, 'hash_mismatch', {
      changed: { timestamp: wrong.signedRole('timestamp') },
    });
  });
});

describe("this project's repositories publish sha256 and sha512", () => {
  it('the default digests are exactly sha256 and sha512', () => {
    expect([...PUBLISHED_HASHES]).toEqual(['sha256', 'sha512']);
    expect(Object.keys(digestBytes(CONTENT)).sort()).toEqual(['sha256', 'sha512']);
  });

  it('workspace `targets add` lists sha256 and sha512 for an image (and the Image repository refuses less: test/image-repo/server.test.ts)', async () => {
    const path = join(tempDir('hash-algorithms-'), 'fw.bin');
    writeFileSync(path, CONTENT);
    const { target } = await describeImage('image', path, { hardwareIds: ['ecm-x1'], releaseCounter: 1 });
    expect(target.hashes).toEqual(digestBytes(CONTENT, ['sha256', 'sha512']));
  });
});

describe('an ECU slot refuses an image it cannot check', () => {
  // Same rule as the client, in the A/B slot that writes the image: a target listing only
  // algorithms this ECU does not compute is an unsupported_hash_algorithm fault, not a hash
  // mismatch (nothing was tampered with; the metadata names nothing checkable), and no byte lands
  // in the inactive slot.
  it('is a typed fault, and the inactive slot stays empty', async () => {
    const { AbSlots } = await import('../../shared/ecu/ab-slots.js');
    const dir = tempDir('uptane-slot-hash-');
    AbSlots.provision(dir, { filename: 'factory.bin', content: Buffer.from('factory') });
    const slots = await AbSlots.open(dir);
    async function* body() {
      yield CONTENT;
    }
    const image = { filename: NAME, length: CONTENT.length, hashes: { md5: 'ab'.repeat(16) } };
    await expect(slots.stage(image, body())).rejects.toBeInstanceOf(UnsupportedHashAlgorithmError);
    expect(existsSync(join(dir, 'slot-b.img'))).toBe(false);
    expect(existsSync(join(dir, 'slot-b.img.tmp'))).toBe(false);
    expect(AbSlots.peek(dir).slots.b).toBeNull();
  });
});
