// Group K of docs/threat-model.md: names from a repository never become paths outside the client's
// directories (K1 role names, K2 target names), persistence is atomic (K3), and storage failures
// are typed (K4). Includes the regression tests for the path-traversal advisories in
// docs/threat-model.md: GHSA-wjw6-2cqr-j4qr (python-tuf role names), CVE-2026-24686 (go-tuf
// repository name as a cache directory) and CVE-2026-6968 (tough absolute target names and symlink
// pivots).
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { MissingTrustedRootError, StorageError, TargetNotFoundError, UnsafePathError } from '../../shared/core/errors.js';
import type { Fetcher } from '../../shared/client/fetcher.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { localTargetPath, RepositoryUpdater } from '../../shared/client/updater.js';
import { expectRejected, expectRejectedKeepingVerified, newClient, refreshedClient } from '../support/client.js';
import { RepositorySimulator, SIM_METADATA_URL, SIM_NOW, SIM_TARGETS_URL } from '../support/repo-simulator.js';
import { cleanupServersClientsAndTempDirs, httpClient, serveAttack, serveRepository, tempDir } from '../support/tuf-helpers.js';

afterEach(cleanupServersClientsAndTempDirs);

/** Every file and directory under `dir`, as sorted relative paths. */
function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (current: string) => {
    for (const name of readdirSync(current)) {
      const path = join(current, name);
      out.push(relative(dir, path));
      if (lstatSync(path).isDirectory()) walk(path);
    }
  };
  walk(dir);
  return out.sort();
}

/** A repository with `ecu/app.bin` in top-level targets, released once (v2). */
function repository(): RepositorySimulator {
  const sim = new RepositorySimulator();
  sim.addTarget('ecu/app.bin', 'top-level image');
  sim.release();
  return sim;
}

/**
 * How this process can make the file system refuse a write for real. chmod does not stop root, so
 * as root a file or directory is made immutable (chattr +i, which root obeys); if that is not
 * possible here, the tests that need it are skipped, visibly.
 */
type Refusal = 'chmod' | 'immutable' | undefined;
const refusal: Refusal = (() => {
  if (process.getuid?.() !== 0) return 'chmod';
  const dir = mkdtempSync(join(tmpdir(), 'uptane-chattr-probe-'));
  const probe = join(dir, 'probe');
  writeFileSync(probe, 'x');
  try {
    execFileSync('chattr', ['+i', probe], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  let refused = false;
  try {
    closeSync(openSync(probe, 'r+'));
  } catch {
    refused = true;
  }
  execFileSync('chattr', ['-i', probe], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
  return refused ? 'immutable' : undefined;
})();
const itWhenWritesCanBeRefused = refusal === undefined ? it.skip : it;

/**
 * Makes `path` refuse changes; returns the undo. For a file (immutable only) the file cannot be
 * replaced; for a directory, no entry can be created in it.
 */
function refuseWrites(path: string, kind: 'file' | 'directory'): () => void {
  if (refusal === 'immutable') {
    execFileSync('chattr', ['+i', path], { stdio: 'ignore' });
    return () => execFileSync('chattr', ['-i', path], { stdio: 'ignore' });
  }
  const dir = kind === 'file' ? dirname(path) : path;
  chmodSync(dir, 0o500);
  return () => chmodSync(dir, 0o700);
}

const FISHY_ROLE_NAMES = ['../a', '.', '/', 'ö', '?', '#', '/delegatedrole', '../delegatedrole'];

describe('K1: role names are percent-encoded in URLs and file names', () => {
  it.each(FISHY_ROLE_NAMES)('K1: delegated role %j is fetched percent-encoded and stored inside the metadata directory', async (role) => {
    const sim = new RepositorySimulator();
    sim.addDelegation('targets', { name: role, terminating: false, paths: ['files/*'] });
    sim.addTarget('files/image.bin', `image signed by ${role}`, undefined, role);
    sim.release();
    const client = newClient(sim);
    await client.updater.refresh();

    const lookup = await client.updater.findTarget('files/image.bin');
    expect(lookup.role).toBe(role);
    const encoded = encodeURIComponent(role);
    expect(sim.fetchLog).toContain(`${SIM_METADATA_URL}/1.${encoded}.json`);
    // Every metadata URL names one file directly under /metadata/: nothing to resolve or traverse.
    for (const url of sim.fetched(/\/metadata\//)) expect(url).toMatch(/^mem:\/\/repo\/metadata\/[^/?#]+$/);
    // Stored as one flat file inside the metadata directory; nothing else anywhere in the client directory.
    expect(listTree(client.directory)).toEqual(
      ['metadata', 'metadata/root.json', 'metadata/snapshot.json', 'metadata/targets.json', 'metadata/timestamp.json', `metadata/${encoded}.json`].sort(),
    );
    expect(Buffer.from(client.store.load(role)!).equals(sim.signedRole(role))).toBe(true);
    // A restarted client reads it back from where it was written.
    const restarted = client.newUpdater();
    await restarted.refresh();
    expect((await restarted.findTarget('files/image.bin')).role).toBe(role);
    expect(sim.fetched(/\.json$/).filter((u) => u.endsWith(`/1.${encoded}.json`))).toHaveLength(1);
  });

  it('GHSA-wjw6-2cqr-j4qr: a role named ../../<name> fetched over real HTTP is stored percent-encoded inside the metadata directory', async () => {
    const escapeName = `ghsa-wjw6-${basename(tempDir('uptane-ghsa-'))}`;
    const role = `../../${escapeName}`;
    const sim = new RepositorySimulator();
    sim.addDelegation('targets', { name: role, terminating: false, paths: ['*'] });
    sim.addTarget('payload.bin', 'payload', undefined, role);
    sim.release();
    const server = await serveRepository(sim);
    const client = httpClient(sim, server);

    await client.updater.refresh();
    expect((await client.updater.findTarget('payload.bin')).role).toBe(role);

    await server.settled();
    expect(server.requests.map((r) => `${r.status} ${r.path}`)).toContain(`200 /metadata/1...%2F..%2F${escapeName}.json`);
    expect(listTree(client.directory)).toEqual(
      ['metadata', `metadata/..%2F..%2F${escapeName}.json`, 'metadata/root.json', 'metadata/snapshot.json', 'metadata/targets.json', 'metadata/timestamp.json'].sort(),
    );
    // Where an unencoded name would have landed: two levels above the metadata directory.
    expect(existsSync(join(client.store.directory, '..', '..', `${escapeName}.json`))).toBe(false);
  });
});

describe('K2: target names', () => {
  // Each name is signed by the repository's own key (canonical JSON signs a NUL raw, as python-tuf
  // does), so only the name check stands between it and the disk.
  const SIGNABLE_UNSAFE_NAMES = ['/etc/passwd', '../../escape.bin', 'ecu/../../escape.bin', 'ecu\\..\\escape.bin', 'C:/escape.bin', 'ecu//app.bin', './app.bin', '..', 'nul\u0000.bin'];
  const UNSAFE_TARGET_NAMES = SIGNABLE_UNSAFE_NAMES;

  it.each(SIGNABLE_UNSAFE_NAMES)('K2: targets metadata listing %j is rejected at parse with UnsafePathError', async (name) => {
    const sim = repository();
    const client = await refreshedClient(sim);
    sim.targets.targets[name] = { length: 4, hashes: digestBytes(Buffer.from('evil')) };
    sim.release();

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), UnsafePathError, 'unsafe_path', {
      timestamp: sim.signedRole('timestamp'),
      snapshot: sim.signedRole('snapshot'),
    });

    delete sim.targets.targets[name];
    sim.release();
    const updater = client.newUpdater();
    expect((await updater.refresh()).targetsVersion).toBe(4);
    expect((await updater.findTarget('ecu/app.bin')).role).toBe('targets');
  });

  it('K2: targets metadata listing a name with a NUL byte is rejected at parse with UnsafePathError', async () => {
    const sim = repository();
    const client = await refreshedClient(sim);
    sim.release();
    // Unsigned, as an attacker without any key sends it: the parser must refuse the name before
    // anything else (the signature check included) looks at the file.
    const evil = Buffer.from(
      JSON.stringify({
        signed: { ...sim.targets, targets: { ...sim.targets.targets, 'nul\u0000.bin': { length: 4, hashes: digestBytes(Buffer.from('evil')) } } },
        signatures: [],
      }),
    );
    serveAttack(sim, '/metadata/3.targets.json', evil);

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), UnsafePathError, 'unsafe_path', {
      timestamp: sim.signedRole('timestamp'),
      snapshot: sim.signedRole('snapshot'),
    });

    sim.override = undefined;
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });

  it('K2: delegated targets metadata listing ../../escape.bin is rejected at parse with UnsafePathError', async () => {
    const sim = repository();
    sim.addDelegation('targets', { name: 'supplier', terminating: false, paths: ['supplier/*'] });
    sim.addTarget('supplier/fw.bin', 'supplier image', undefined, 'supplier');
    sim.delegated.get('supplier')!.targets['../../escape.bin'] = { length: 4, hashes: digestBytes(Buffer.from('evil')) };
    sim.release();
    const client = await refreshedClient(sim);

    await expectRejected(client, () => client.updater.findTarget('supplier/fw.bin'), UnsafePathError, 'unsafe_path');

    delete sim.delegated.get('supplier')!.targets['../../escape.bin'];
    sim.release('supplier');
    const updater = client.newUpdater();
    await updater.refresh();
    expect((await updater.findTarget('supplier/fw.bin')).role).toBe('supplier');
  });

  it.each(UNSAFE_TARGET_NAMES)('K2: findTarget(%j) is refused with UnsafePathError before anything is fetched', async (name) => {
    const sim = repository();
    const client = await refreshedClient(sim);
    const fetched = sim.fetchLog.length;

    await expectRejected(client, () => client.updater.findTarget(name), UnsafePathError, 'unsafe_path');
    expect(sim.fetchLog).toHaveLength(fetched);
  });

  it.each(UNSAFE_TARGET_NAMES)('K2: localTargetPath(dir, %j) is refused with UnsafePathError', (name) => {
    let caught: unknown;
    try {
      localTargetPath('/var/lib/ecu/images', name);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UnsafePathError);
    expect((caught as UnsafePathError).code).toBe('unsafe_path');
  });

  it('K2: odd but safe target names map to one flat file directly inside the target directory', async () => {
    const names = ['ecu/app.bin', 'ö/ü map.bin', '%2e%2e/x.bin', 'a%2F..%2F..%2Fb', '..a/b..', '...', 'x?y#z'];
    const sim = new RepositorySimulator();
    for (const name of names) sim.addTarget(name, `content of ${name}`);
    sim.release();
    const client = await refreshedClient(sim);
    const targetDir = tempDir('uptane-images-');

    for (const name of names) {
      const destination = localTargetPath(targetDir, name);
      expect(dirname(destination)).toBe(targetDir);
      await client.updater.downloadTarget(await client.updater.findTarget(name), destination);
      expect(readFileSync(destination, 'utf8')).toBe(`content of ${name}`);
    }
    expect(listTree(targetDir)).toEqual(names.map((n) => encodeURIComponent(n)).sort());
  });

  it('CVE-2026-6968: a signed target with an absolute name is refused and nothing is written at that path', async () => {
    const outside = join(tempDir('uptane-cve-6968-'), 'absolute.bin');
    const sim = repository();
    const client = await refreshedClient(sim);
    sim.addTarget(outside, 'written through an absolute name');
    sim.release();

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), UnsafePathError, 'unsafe_path', {
      timestamp: sim.signedRole('timestamp'),
      snapshot: sim.signedRole('snapshot'),
    });
    expect(() => localTargetPath(dirname(outside), outside)).toThrow(UnsafePathError);
    expect(existsSync(outside)).toBe(false);
  });

  it('CVE-2026-6968: a symlink planted at the download\'s .part path does not redirect the write outside the target directory', async () => {
    const sim = repository();
    const client = await refreshedClient(sim);
    const targetDir = tempDir('uptane-images-');
    const outside = join(tempDir('uptane-outside-'), 'victim.bin');
    writeFileSync(outside, 'original');
    const destination = localTargetPath(targetDir, 'ecu/app.bin');
    symlinkSync(outside, `${destination}.part`);

    await client.updater.downloadTarget(await client.updater.findTarget('ecu/app.bin'), destination);

    expect(readFileSync(outside, 'utf8')).toBe('original');
    expect(lstatSync(destination).isFile()).toBe(true);
    expect(readFileSync(destination, 'utf8')).toBe('top-level image');
    expect(listTree(targetDir)).toEqual(['ecu%2Fapp.bin']);
  });

  it('CVE-2026-24686: a repository name like ../../<name> never becomes a path', async () => {
    const base = tempDir('uptane-cve-24686-');
    const repository = `../../cve-2026-24686-${basename(base)}`;
    const sim = new RepositorySimulator();
    sim.addTarget('ecu/app.bin', 'image');
    sim.release();
    mkdirSync(join(base, 'images'));
    const store = new FileMetadataStore(join(base, 'state', 'metadata'));
    store.persist('root', sim.publishedRoots[0]!);
    const updater = new RepositoryUpdater({
      repository,
      metadataUrl: SIM_METADATA_URL,
      targetsUrl: SIM_TARGETS_URL,
      store,
      fetcher: sim,
      clock: new FixedClock(SIM_NOW),
    });

    await updater.refresh();
    await updater.downloadTarget(await updater.findTarget('ecu/app.bin'), localTargetPath(join(base, 'images'), 'ecu/app.bin'));
    const notFound = await updater.findTarget('ecu/other.bin').catch((err: unknown) => err);

    // The name is carried into errors only; no file or URL is derived from it.
    expect(notFound).toBeInstanceOf(TargetNotFoundError);
    expect((notFound as TargetNotFoundError).repository).toBe(repository);
    expect(listTree(base)).toEqual(
      ['images', 'images/ecu%2Fapp.bin', 'state', 'state/metadata', 'state/metadata/root.json', 'state/metadata/snapshot.json', 'state/metadata/targets.json', 'state/metadata/timestamp.json'].sort(),
    );
    expect(existsSync(join(base, repository))).toBe(false);
    for (const url of sim.fetchLog) expect(url).not.toContain('cve-2026-24686');
  });
});

describe('K3: atomic persistence', () => {
  itWhenWritesCanBeRefused(
    `K3: a stored file that cannot be replaced (${refusal === 'immutable' ? 'immutable, as this runs as root' : 'read-only directory'}) fails with StorageError; no temp file is left and the old file is intact`,
    async () => {
      const sim = repository();
      const client = await refreshedClient(sim);
      sim.release();
      const timestampFile = join(client.store.directory, 'timestamp.json');
      const oldTimestamp = readFileSync(timestampFile);

      const restore = refuseWrites(timestampFile, 'file');
      try {
        // expectRejected compares every entry of the directory, dot files included: a leftover temp file fails it.
        const err = await expectRejected(client, () => client.newUpdater().refresh(), StorageError, 'storage');
        expect(err.message).toMatch(/cannot write .*timestamp\.json/);
      } finally {
        restore();
      }
      expect(readFileSync(timestampFile).equals(oldTimestamp)).toBe(true);
      expect(readdirSync(client.store.directory).sort()).toEqual(['root.json', 'snapshot.json', 'targets.json', 'timestamp.json']);

      expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
    },
  );

  it('K3: a metadata directory replaced by a file during refresh fails with StorageError; nothing is written and the old files are intact', async () => {
    const sim = repository();
    let breakStore: (() => void) | undefined;
    const fetcher: Fetcher = {
      fetch: (url, options) => {
        // A real storage failure between fetching and persisting (the volume went away).
        if (url.endsWith('/timestamp.json') && breakStore !== undefined) {
          breakStore();
          breakStore = undefined;
        }
        return sim.fetch(url, options);
      },
    };
    const client = newClient(sim, { fetcher });
    await client.updater.refresh();
    sim.release();
    const dir = client.store.directory;
    const before = client.storeSnapshot();
    breakStore = () => {
      renameSync(dir, `${dir}.moved`);
      writeFileSync(dir, 'not a directory');
    };

    let caught: unknown;
    try {
      await client.newUpdater().refresh();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StorageError);
    expect((caught as StorageError).code).toBe('storage');
    expect((caught as StorageError).message).toMatch(/cannot write .*timestamp\.json/);
    expect(readFileSync(dir, 'utf8')).toBe('not a directory');
    expect(listTree(client.directory)).toEqual(['metadata', 'metadata.moved', ...Object.keys(before).map((f) => `metadata.moved/${f}`)].sort());

    rmSync(dir);
    renameSync(`${dir}.moved`, dir);
    expect(client.storeSnapshot()).toEqual(before);
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
  });
});

describe('K4: unusable local storage gives a typed error', () => {
  async function clientWithLookup() {
    const sim = repository();
    const client = await refreshedClient(sim);
    return { sim, client, lookup: await client.updater.findTarget('ecu/app.bin') };
  }

  it('K4: downloading into a missing target directory fails with StorageError', async () => {
    const { sim, client, lookup } = await clientWithLookup();
    const targetDir = join(tempDir('uptane-images-'), 'missing');
    const destination = localTargetPath(targetDir, 'ecu/app.bin');

    await expectRejected(client, () => client.updater.downloadTarget(lookup, destination), StorageError, 'storage');
    expect(existsSync(targetDir)).toBe(false);
    expect(sim.fetched(/\/targets\//)).toEqual([]); // refused before any byte was fetched

    mkdirSync(targetDir);
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination, 'utf8')).toBe('top-level image');
  });

  it('K4: downloading into a target "directory" that is a regular file fails with StorageError', async () => {
    const { client, lookup } = await clientWithLookup();
    const targetDir = join(tempDir('uptane-images-'), 'images');
    writeFileSync(targetDir, 'a file');

    await expectRejected(client, () => client.updater.downloadTarget(lookup, localTargetPath(targetDir, 'ecu/app.bin')), StorageError, 'storage');
    expect(readFileSync(targetDir, 'utf8')).toBe('a file');
  });

  itWhenWritesCanBeRefused(`K4: downloading into an unwritable target directory (${refusal ?? 'n/a'}) fails with StorageError`, async () => {
    const { client, lookup } = await clientWithLookup();
    const targetDir = tempDir('uptane-images-');
    const destination = localTargetPath(targetDir, 'ecu/app.bin');

    const restore = refuseWrites(targetDir, 'directory');
    try {
      await expectRejected(client, () => client.updater.downloadTarget(lookup, destination), StorageError, 'storage');
    } finally {
      restore();
    }
    expect(readdirSync(targetDir)).toEqual([]);

    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination, 'utf8')).toBe('top-level image');
  });

  it('K4: a metadata directory that cannot be created fails with StorageError', () => {
    const parent = join(tempDir('uptane-state-'), 'state');
    writeFileSync(parent, 'a file where the state directory should be');
    let caught: unknown;
    try {
      new FileMetadataStore(join(parent, 'metadata'));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StorageError);
    expect((caught as StorageError).code).toBe('storage');
  });

  it('K4: a metadata directory that disappeared fails closed with MissingTrustedRootError', async () => {
    const sim = repository();
    const client = newClient(sim);
    rmSync(client.store.directory, { recursive: true });

    let caught: unknown;
    try {
      await client.updater.refresh();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MissingTrustedRootError);
    expect((caught as MissingTrustedRootError).code).toBe('missing_trusted_root');
    expect(sim.fetchLog).toEqual([]);
    expect(existsSync(client.store.directory)).toBe(false);
  });
});
