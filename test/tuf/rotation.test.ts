// Group B of docs/threat-model.md: root and key rotation (B1-B11), and the rotation advisories
// listed there (python-tuf CVE-2020-15163, tough CVE-2025-2885). The real RepositoryUpdater runs
// against the in-memory simulator; every rejection asserts the error class and code, that the local
// store is byte-for-byte what it was (or moved on only by files that did verify), and that the next
// honest refresh succeeds. Spec: docs/uptane-conformance.md 5.3 (#check_root) and 9.1.
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { ExpiredMetadataError, RollbackError, UnmetThresholdError, VersionMismatchError } from '../../shared/core/errors.js';
import { DEFAULT_UPDATER_CONFIG } from '../../shared/client/updater.js';
import { cleanupClients, expectRejected, newClient, refreshedClient, storedBytes, storedVersion, type TestClient } from '../support/client.js';
import { RepositorySimulator, SIM_EXPIRES, type MutableRoot } from '../support/repo-simulator.js';
import { serveAttack } from '../support/tuf-helpers.js';

afterEach(cleanupClients);

/** A fixed pool of keys, indexed like python-tuf's key-rotation tables. */
const POOL = Array.from({ length: 10 }, (_, i) => PrivateKey.fromLabel(`rotation-test/pool/${i}`));
const PAST = '2026-05-01T00:00:00Z'; // before SIM_NOW

function pool(indexes: readonly number[]): PrivateKey[] {
  return indexes.map((i) => POOL[i]!);
}

type MutableKey = MutableRoot['keys'][string];

/** Makes `keys` (pool indexes) the root role's keys with `threshold`, in the simulator's working root. */
function setRootKeys(sim: RepositorySimulator, keys: readonly number[], threshold: number): void {
  for (const keyid of sim.root.roles.root.keyids) delete sim.root.keys[keyid];
  sim.root.roles.root = { keyids: pool(keys).map((k) => k.keyid), threshold };
  for (const key of pool(keys)) sim.root.keys[key.keyid] = key.publicKey.tuf as MutableKey;
  sim.signers.set('root', pool(keys).slice(0, threshold));
}

/** Publishes the working root as `version`, signed by exactly `signers` (nothing added). */
function publishRootAs(sim: RepositorySimulator, version: number, signers: readonly PrivateKey[]): Buffer {
  sim.root.version = version;
  const bytes = sim.sign(sim.root, signers);
  sim.publishedRoots[version - 1] = bytes;
  return bytes;
}

/** File names of the roots fetched so far, in order. */
function fetchedRootFiles(sim: RepositorySimulator): Array<string | undefined> {
  return sim.fetched(/\.root\.json$/).map((url) => url.split('/').pop());
}

/** Rotates `role` to a new key in the next root, published; returns the revoked key and the one in use now. */
function revokeKey(sim: RepositorySimulator, role: 'timestamp' | 'snapshot' | 'targets'): { revoked: PrivateKey; current: PrivateKey } {
  const revoked = sim.signers.get(role)![0]!;
  const current = sim.rotateKeys(role);
  sim.publishRoot();
  return { revoked, current };
}

/** A client whose first refresh stored snapshot v99999, as an attacker holding the snapshot key would push it. */
async function clientAtSnapshot99999(sim: RepositorySimulator): Promise<TestClient> {
  const client = newClient(sim);
  sim.snapshot.version = 99999;
  sim.updateTimestamp();
  await client.updater.refresh();
  return client;
}

// ---------------------------------------------------------------------------------------------
// Root rotation tables (python-tuf test_updater_key_rotations.py, tuf-conformance key rotations).

/** One published root: its root keys and threshold (pool indexes) and who signed it. */
interface RootVersion {
  readonly keys: readonly number[];
  readonly threshold: number;
  readonly sigs: readonly number[];
}

interface RotationCase {
  readonly id: string;
  readonly name: string;
  readonly versions: readonly RootVersion[];
  /** For a failing case: which threshold the last version misses. */
  readonly fails?: 'root (previous keys)' | 'root (new keys)';
}

const v = (keys: number[], threshold: number, sigs: number[]): RootVersion => ({ keys, threshold, sigs });
const ALL5 = [0, 1, 2, 3, 4];
const ROTATED5 = [0, 1, 3, 4, 5];

const ROOT_ROTATION_CASES: readonly RotationCase[] = [
  { id: 'B1', name: '1-of-1 key rotation', versions: [v([1], 1, [1]), v([2], 1, [2, 1]), v([2], 1, [2])] },
  { id: 'B1', name: '1-of-1 key rotation with unused signatures', versions: [v([1], 1, [3, 1, 4]), v([2], 1, [3, 2, 1, 4]), v([2], 1, [3, 2, 4])] },
  { id: 'B1', name: '3-of-5 signed with different key combinations', versions: [v(ALL5, 3, [0, 2, 4]), v(ALL5, 3, [0, 4, 1]), v(ALL5, 3, [0, 1, 3]), v(ALL5, 3, [0, 1, 3])] },
  { id: 'B1', name: '3-of-5 with one key rotated', versions: [v(ALL5, 3, [0, 2, 4]), v(ROTATED5, 3, [0, 4, 1])] },
  { id: 'B1', name: '3-of-5 with one key rotated through an intermediate step', versions: [v(ALL5, 3, [0, 2, 4]), v(ROTATED5, 3, [0, 2, 4, 5]), v(ROTATED5, 3, [0, 4, 5])] },
  { id: 'B1', name: '3-of-5 with all keys rotated through an intermediate step', versions: [v(ALL5, 3, [0, 2, 4]), v([5, 6, 7, 8, 9], 3, [0, 2, 4, 5, 6, 7]), v([5, 6, 7, 8, 9], 3, [5, 6, 7])] },
  { id: 'B2', name: '1-of-1 rotation not signed by the old key is rejected', versions: [v([1], 1, [1]), v([2], 1, [2, 3, 4])], fails: 'root (previous keys)' },
  { id: 'B2', name: '3-of-5 rotation signed by only 2 of the old keys is rejected', versions: [v(ALL5, 3, [0, 2, 4]), v(ROTATED5, 3, [0, 4, 5])], fails: 'root (previous keys)' },
  { id: 'B3', name: '1-of-1 rotation not signed by the new key is rejected', versions: [v([1], 1, [1]), v([2], 1, [1, 3, 4])], fails: 'root (new keys)' },
  { id: 'B3', name: '3-of-5 rotation signed by only 2 of the new keys is rejected', versions: [v(ALL5, 3, [0, 2, 4]), v(ROTATED5, 3, [0, 2, 4])], fails: 'root (new keys)' },
  { id: 'B4', name: 'threshold 1-of-3 raised to 2-of-3', versions: [v([1, 2, 3], 1, [1]), v([1, 2, 3], 2, [1, 2])] },
  { id: 'B4', name: 'threshold 1-of-3 raised to 2-of-3 but signed by one key is rejected', versions: [v([1, 2, 3], 1, [1]), v([1, 2, 3], 2, [2])], fails: 'root (new keys)' },
  { id: 'B4', name: 'threshold 2-of-3 lowered to 1-of-3', versions: [v([1, 2, 3], 2, [1, 2]), v([1, 2, 3], 1, [1, 2]), v([1, 2, 3], 1, [1])] },
  { id: 'B4', name: 'threshold 2-of-3 lowered to 1-of-3 but signed by one key is rejected', versions: [v([1, 2, 3], 2, [1, 2]), v([1, 2, 3], 1, [1])], fails: 'root (previous keys)' },
  { id: 'B4', name: 'threshold 1-of-1 raised to 2-of-2 with a new key', versions: [v([1], 1, [1]), v([1, 2], 2, [1, 2])] },
  { id: 'B4', name: 'threshold 1-of-1 raised to 2-of-2 but signed by the old key only is rejected', versions: [v([1], 1, [1]), v([1, 2], 2, [1])], fails: 'root (new keys)' },
];

describe('root rotation chains (B1-B4)', () => {
  it.each(ROOT_ROTATION_CASES.map((c) => [`${c.id}: ${c.name}`, c] as const))('%s', async (_title, rotation) => {
    const sim = new RepositorySimulator();
    const published: Buffer[] = [];
    rotation.versions.forEach((version, i) => {
      setRootKeys(sim, version.keys, version.threshold);
      published.push(publishRootAs(sim, i + 1, pool(version.sigs)));
    });
    const client = newClient(sim);
    const last = rotation.versions.length;

    if (rotation.fails === undefined) {
      const result = await client.updater.refresh();
      expect(result.rootVersion).toBe(last);
      expect(storedBytes(client, 'root')).toEqual(published[last - 1]);
      // Every intermediate root was fetched in order, then N+1 was found missing (#check_root 2.2).
      const walked = Array.from({ length: last }, (_, i) => `${i + 2}.root.json`);
      expect(fetchedRootFiles(sim)).toEqual(walked);
      return;
    }

    // Failing cases: the last version is the bad one, and the client was at the one before it.
    expect(last).toBe(2);
    const err = await expectRejected(client, () => client.updater.refresh(), UnmetThresholdError, 'unmet_threshold');
    expect(err.role).toBe(rotation.fails);
    expect(storedBytes(client, 'root')).toEqual(published[0]);
    expect(sim.fetched(/timestamp\.json$/)).toEqual([]);

    // The honest repository re-publishes version 2 signed by the old and the new thresholds.
    const previous = rotation.versions[0]!;
    const next = rotation.versions[1]!;
    setRootKeys(sim, next.keys, next.threshold);
    publishRootAs(sim, 2, pool([...new Set([...previous.keys, ...next.keys])]));
    const result = await client.newUpdater().refresh();
    expect(result.rootVersion).toBe(2);
    expect(storedBytes(client, 'root')).toEqual(sim.publishedRoots[1]);
  });
});

describe('root rotation (B1, B5-B8, CVEs)', () => {
  it('B1: root v1 -> v3 through a cross-signed intermediate v2, as the simulator rotates', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    const key1 = sim.signers.get('root')![0]!;
    const key2 = sim.rotateKeys('root');
    sim.publishRoot({ extraSigners: [key1] });
    sim.rotateKeys('root');
    sim.publishRoot({ extraSigners: [key2] });

    const result = await client.newUpdater().refresh();
    expect(result.rootVersion).toBe(3);
    expect(storedBytes(client, 'root')).toEqual(sim.publishedRoots[2]);
    expect(fetchedRootFiles(sim)).toEqual(['2.root.json', '2.root.json', '3.root.json', '4.root.json']);
  });

  it('B5: a root served as N+1 whose version is still N is rejected', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    // Properly signed by the trusted root key, but it does not move the version on.
    const sameVersion = sim.sign({ ...sim.root, version: 1, expires: '2027-01-01T00:00:00Z' }, sim.signers.get('root')!);
    serveAttack(sim, '/metadata/2.root.json', sameVersion);

    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');
    expect(storedVersion(client, 'root')).toBe(1);

    sim.override = undefined;
    sim.publishRoot();
    expect((await client.newUpdater().refresh()).rootVersion).toBe(2);
  });

  it('B5: a root that skips a version (N+2 served as N+1) is rejected', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    const skipping = sim.sign({ ...sim.root, version: 3 }, sim.signers.get('root')!);
    serveAttack(sim, '/metadata/2.root.json', skipping);

    await expectRejected(client, () => client.newUpdater().refresh(), VersionMismatchError, 'version_mismatch');
    expect(storedVersion(client, 'root')).toBe(1);

    sim.override = undefined;
    sim.publishRoot();
    sim.publishRoot();
    expect((await client.newUpdater().refresh()).rootVersion).toBe(3);
  });

  it('CVE-2025-2885: a root far ahead (N+k) is not accepted in place of N+1, whatever it is signed by', async () => {
    // tough < 0.20 accepted any root version >= the trusted one. Here the far-ahead root is signed by
    // the old and the new root keys, so only the version continuity check can stop it.
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    const oldRoot = sim.signers.get('root')![0]!;
    const attackerRoot = sim.newKey('attacker-root');
    const attackerTimestamp = sim.newKey('attacker-timestamp');
    const leap = {
      ...sim.root,
      version: 1000,
      keys: { ...sim.root.keys, [attackerRoot.keyid]: attackerRoot.publicKey.tuf, [attackerTimestamp.keyid]: attackerTimestamp.publicKey.tuf },
      roles: { ...sim.root.roles, root: { keyids: [attackerRoot.keyid], threshold: 1 }, timestamp: { keyids: [attackerTimestamp.keyid], threshold: 1 } },
    };
    const leapBytes = sim.sign(leap, [oldRoot, attackerRoot]);
    serveAttack(sim, '/metadata/2.root.json', leapBytes);

    await expectRejected(client, () => client.newUpdater().refresh(), VersionMismatchError, 'version_mismatch');
    expect(storedBytes(client, 'root')).toEqual(sim.publishedRoots[0]);
    expect(sim.fetched(/1001\.root\.json$/)).toEqual([]);

    sim.override = undefined;
    sim.publishRoot();
    expect((await client.newUpdater().refresh()).rootVersion).toBe(2);
  });

  it('B6: an incorrectly signed intermediate root breaks the chain although the final root is good', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    const key1 = sim.signers.get('root')![0]!;
    const key2 = sim.rotateKeys('root');
    sim.publishRoot(); // v2: signed by key2 only, not by v1's key1
    sim.publishRoot(); // v3: signed by key2, valid against v2 and itself

    await expectRejected(client, () => client.newUpdater().refresh(), UnmetThresholdError, 'unmet_threshold');
    expect(storedVersion(client, 'root')).toBe(1);
    expect(sim.fetched(/3\.root\.json$/)).toEqual([]); // the walk stopped at the bad link

    sim.publishedRoots[1] = sim.sign({ ...sim.root, version: 2 }, [key1, key2]);
    expect((await client.newUpdater().refresh()).rootVersion).toBe(3);
  });

  it('B7: an expired intermediate root is fine when the final root is current', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.root.expires = PAST;
    sim.publishRoot();
    sim.root.expires = SIM_EXPIRES;
    sim.publishRoot();

    const result = await client.updater.refresh();
    expect(result.rootVersion).toBe(3);
    expect(storedBytes(client, 'root')).toEqual(sim.publishedRoots[2]);
  });

  it('B7: an expired final root raises a freeze error but is persisted as the trusted root', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.root.expires = PAST;
    sim.publishRoot();

    const err = await expectRejected(client, () => client.updater.refresh(), ExpiredMetadataError, 'expired', {
      changed: { root: sim.publishedRoots[1] },
    });
    expect(err.role).toBe('root');
    expect(client.store.load('timestamp')).toBeUndefined();

    // The next refresh walks on from the expired v2, not from v1 (D2).
    sim.root.expires = SIM_EXPIRES;
    sim.publishRoot();
    const before = sim.fetchLog.length;
    expect((await client.newUpdater().refresh()).rootVersion).toBe(3);
    expect(sim.fetchLog.slice(before).filter((url) => url.endsWith('.root.json')).map((url) => url.split('/').pop())).toEqual(['3.root.json', '4.root.json']);
  });

  it('B8: the root walk stops after config.maxRootRotations and the next refresh continues', async () => {
    const sim = new RepositorySimulator();
    for (let version = 2; version <= 6; version++) sim.publishRoot();
    const client = newClient(sim, { config: { maxRootRotations: 3 } });

    const first = await client.updater.refresh();
    expect(first.rootVersion).toBe(4);
    expect(storedBytes(client, 'root')).toEqual(sim.publishedRoots[3]);
    expect(fetchedRootFiles(sim)).toEqual(['2.root.json', '3.root.json', '4.root.json']);

    sim.fetchLog.length = 0;
    const second = await client.newUpdater().refresh();
    expect(second.rootVersion).toBe(6);
    expect(fetchedRootFiles(sim)).toEqual(['5.root.json', '6.root.json', '7.root.json']);
  });

  it('B8: the default cap (DEFAULT_UPDATER_CONFIG.maxRootRotations) bounds one refresh', async () => {
    const sim = new RepositorySimulator();
    const max = DEFAULT_UPDATER_CONFIG.maxRootRotations;
    for (let i = 0; i < max + 3; i++) sim.publishRoot();
    const client = newClient(sim);

    expect((await client.updater.refresh()).rootVersion).toBe(1 + max);
    expect(sim.fetched(/\.root\.json$/)).toHaveLength(max);
    expect((await client.newUpdater().refresh()).rootVersion).toBe(max + 4);
  });

  it('B8: a timestamp key rotated beyond the cap fails this refresh, and the next refresh reaches it', async () => {
    const sim = new RepositorySimulator();
    for (let version = 2; version <= 4; version++) sim.publishRoot();
    sim.rotateKeys('timestamp');
    sim.publishRoot(); // v5 introduces the new timestamp key
    sim.updateTimestamp();
    const client = newClient(sim, { config: { maxRootRotations: 3 } });

    const err = await expectRejected(client, () => client.updater.refresh(), UnmetThresholdError, 'unmet_threshold', {
      changed: { root: sim.publishedRoots[3] },
    });
    expect(err.role).toBe('timestamp');

    const result = await client.newUpdater().refresh();
    expect(result.rootVersion).toBe(5);
    expect(result.timestampVersion).toBe(2);
  });

  it('CVE-2020-15163: a new root not signed by its own keys is never trusted, not even on a later refresh', async () => {
    // python-tuf < 0.14 did not self-verify a new root, and trusted a root that failed verification
    // once it was on disk. Both halves: the rejection, and the next refresh starting again from v1.
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    const key1 = sim.signers.get('root')![0]!;
    const key2 = sim.rotateKeys('root');
    publishRootAs(sim, 2, [key1]); // signed by the old root only: an attacker holding key1 names key2

    const first = await expectRejected(client, () => client.newUpdater().refresh(), UnmetThresholdError, 'unmet_threshold');
    expect(first.role).toBe('root (new keys)');
    const second = await expectRejected(client, () => client.newUpdater().refresh(), UnmetThresholdError, 'unmet_threshold');
    expect(second.role).toBe('root (new keys)');
    expect(sim.fetched(/2\.root\.json$/)).toHaveLength(3); // re-fetched each time, never taken from disk
    expect(storedBytes(client, 'root')).toEqual(sim.publishedRoots[0]);

    publishRootAs(sim, 2, [key1, key2]);
    expect((await client.newUpdater().refresh()).rootVersion).toBe(2);
    expect(storedBytes(client, 'root')).toEqual(sim.publishedRoots[1]);
  });
});

// ---------------------------------------------------------------------------------------------
// Non-root key rotations (python-tuf and tuf-conformance test_non_root_rotations).

interface RoleRotationCase {
  readonly name: string;
  readonly keys: readonly number[];
  readonly threshold: number;
  readonly sigs: readonly number[];
  readonly fails?: true;
}

const ROLE_ROTATION_CASES: readonly RoleRotationCase[] = [
  { name: '1-of-1 key rotation', keys: [2], threshold: 1, sigs: [2] },
  { name: '1-of-1 key rotation with unused signatures', keys: [1], threshold: 1, sigs: [3, 1, 4] },
  { name: '1-of-1 rotation not signed with the new key is rejected', keys: [2], threshold: 1, sigs: [1, 3, 4], fails: true },
  { name: '3-of-5 signed by a key outside the role is rejected', keys: ROTATED5, threshold: 3, sigs: [0, 2, 4], fails: true },
  { name: '3-of-5 signed by two keys is rejected', keys: ROTATED5, threshold: 3, sigs: [0, 4], fails: true },
  { name: '3-of-5 signed by keys 0, 2, 4', keys: ALL5, threshold: 3, sigs: [0, 2, 4] },
  { name: '3-of-5 signed by keys 0, 4, 1', keys: ALL5, threshold: 3, sigs: [0, 4, 1] },
  { name: '3-of-5 signed by keys 0, 1, 3', keys: ALL5, threshold: 3, sigs: [0, 1, 3] },
  { name: '3-of-5 signed by keys 1, 3, 4', keys: ALL5, threshold: 3, sigs: [1, 3, 4] },
  { name: '3-of-5 signed by keys 0, 2, 3', keys: ALL5, threshold: 3, sigs: [0, 2, 3] },
];

const NON_ROOT_ROLES = ['timestamp', 'snapshot', 'targets'] as const;

describe('non-root key rotations (B9)', () => {
  const cases = NON_ROOT_ROLES.flatMap((role) => ROLE_ROTATION_CASES.map((c) => [`B9: ${role} ${c.name}`, role, c] as const));

  it.each(cases)('%s', async (_title, role, rotation) => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.root.roles[role] = { keyids: pool(rotation.keys).map((k) => k.keyid), threshold: rotation.threshold };
    for (const key of pool(rotation.keys)) sim.root.keys[key.keyid] = key.publicKey.tuf as MutableKey;
    sim.signers.set(role, pool(rotation.sigs));
    const root2 = sim.publishRoot();

    if (rotation.fails === undefined) {
      const result = await client.updater.refresh();
      expect(result.rootVersion).toBe(2);
      expect(storedBytes(client, role)).toEqual(sim.signedRole(role));
      return;
    }

    // Files before the failing role verified and were stored; the failing role was not.
    const progress: Record<string, Uint8Array | undefined> = { root: root2 };
    for (const earlier of NON_ROOT_ROLES.slice(0, NON_ROOT_ROLES.indexOf(role))) progress[earlier] = sim.signedRole(earlier);
    const err = await expectRejected(client, () => client.updater.refresh(), UnmetThresholdError, 'unmet_threshold', { changed: progress });
    expect(err.role).toBe(role);
    expect(client.store.load(role)).toBeUndefined();

    sim.signers.set(role, pool(rotation.keys).slice(0, rotation.threshold));
    const result = await client.newUpdater().refresh();
    expect(result.rootVersion).toBe(2);
    expect(storedBytes(client, role)).toEqual(sim.signedRole(role));
  });
});

// ---------------------------------------------------------------------------------------------
// Fast-forward recovery (python-tuf test_new_*_fast_forward_recovery; Uptane #check_root step 4).

describe('fast-forward recovery (B10)', () => {
  it('B10: timestamp pushed to v99999 is recovered from by rotating the timestamp key', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.timestamp.version = 99999; // an attacker holding the timestamp key
    await client.updater.refresh();
    expect(storedVersion(client, 'timestamp')).toBe(99999);

    // Without a rotation the honest v1 is a rollback: the client is stuck.
    sim.timestamp.version = 1;
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');

    sim.rotateKeys('timestamp');
    sim.publishRoot();
    const result = await client.newUpdater().refresh();
    expect(result.timestampVersion).toBe(1);
    expect(storedVersion(client, 'timestamp')).toBe(1);
  });

  it('B10: snapshot pushed to v99999 is recovered from by rotating the snapshot and timestamp keys', async () => {
    const sim = new RepositorySimulator();
    const client = await clientAtSnapshot99999(sim);
    expect(storedVersion(client, 'snapshot')).toBe(99999);

    sim.rotateKeys('snapshot');
    sim.rotateKeys('timestamp');
    sim.publishRoot();
    sim.snapshot.version = 1;
    sim.updateTimestamp();
    const result = await client.newUpdater().refresh();
    expect(result.snapshotChanged).toBe(true);
    expect(storedVersion(client, 'snapshot')).toBe(1);
    expect(storedVersion(client, 'timestamp')).toBe(3);
  });

  it('B10: rotating only the snapshot key also clears the stored timestamp that names v99999 (#check_root step 4)', async () => {
    // The stored timestamp is still validly signed (its key did not change) and names snapshot
    // 99999; only deleting it, as Uptane requires when the snapshot key rotates, lets v1 in.
    const sim = new RepositorySimulator();
    const client = await clientAtSnapshot99999(sim);

    sim.rotateKeys('snapshot');
    sim.publishRoot();
    sim.snapshot.version = 1;
    sim.updateTimestamp();
    await client.newUpdater().refresh();
    expect(storedVersion(client, 'snapshot')).toBe(1);
    expect(storedVersion(client, 'timestamp')).toBe(3);
  });

  it('B10: targets pushed to v99999 is recovered from by rotating the snapshot key', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.targets.version = 99999;
    sim.updateSnapshot();
    await client.updater.refresh();
    expect(storedVersion(client, 'targets')).toBe(99999);

    sim.targets.version = 1;
    sim.updateSnapshot();
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });

    sim.rotateKeys('snapshot');
    sim.publishRoot();
    sim.updateSnapshot();
    const result = await client.newUpdater().refresh();
    expect(result.targetsVersion).toBe(1);
    expect(storedVersion(client, 'targets')).toBe(1);
  });

  it('B10: recovery still works when the root walk fails after the rotating root was stored', async () => {
    // Root v2 rotates the snapshot key; v3 arrives broken. v2 is stored, so the next refresh walks
    // from v2 and no longer sees the rotation: the stale timestamp must already be gone by then.
    const sim = new RepositorySimulator();
    const client = await clientAtSnapshot99999(sim);

    sim.rotateKeys('snapshot');
    const root2 = sim.publishRoot();
    sim.publishRoot();
    const broken = sim.sign({ ...sim.root, version: 3 }, [sim.newKey('not-root')]);
    serveAttack(sim, '/metadata/3.root.json', broken);
    sim.snapshot.version = 1;
    sim.updateTimestamp();

    await expectRejected(client, () => client.newUpdater().refresh(), UnmetThresholdError, 'unmet_threshold', {
      changed: {
        root: root2,
        timestamp: undefined,
        snapshot: undefined,
      },
    });

    sim.override = undefined;
    const result = await client.newUpdater().refresh();
    expect(result.rootVersion).toBe(3);
    expect(storedVersion(client, 'snapshot')).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Key revocation (python-tuf legacy test_key_revocation_integration; Uptane reference demo 3.6-3.7).

describe('key revocation (B11)', () => {
  it('B11: a timestamp signed by the revoked timestamp key is refused', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    const { revoked, current } = revokeKey(sim, 'timestamp');
    sim.updateTimestamp();
    await client.newUpdater().refresh();

    sim.signers.set('timestamp', [revoked]);
    sim.updateTimestamp();
    const err = await expectRejected(client, () => client.newUpdater().refresh(), UnmetThresholdError, 'unmet_threshold');
    expect(err.role).toBe('timestamp');

    sim.signers.set('timestamp', [current]);
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
  });

  it('B11: a snapshot signed by the revoked snapshot key is refused', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    const { revoked, current } = revokeKey(sim, 'snapshot');
    sim.updateSnapshot();
    await client.newUpdater().refresh();

    sim.signers.set('snapshot', [revoked]);
    sim.release();
    const err = await expectRejected(client, () => client.newUpdater().refresh(), UnmetThresholdError, 'unmet_threshold', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });
    expect(err.role).toBe('snapshot');
    expect(storedVersion(client, 'snapshot')).toBe(2);

    sim.signers.set('snapshot', [current]);
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(2);
    expect(storedVersion(client, 'snapshot')).toBe(3);
  });

  it('B11: targets signed by the revoked targets key are refused', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    const { revoked, current } = revokeKey(sim, 'targets');
    sim.release();
    await client.newUpdater().refresh();

    sim.signers.set('targets', [revoked]);
    sim.addTarget('ecu/evil.bin', 'arbitrary software');
    sim.release();
    const err = await expectRejected(client, () => client.newUpdater().refresh(), UnmetThresholdError, 'unmet_threshold', {
      changed: {
        timestamp: sim.signedRole('timestamp'),
        snapshot: sim.signedRole('snapshot'),
      },
    });
    expect(err.role).toBe('targets');
    expect(storedVersion(client, 'targets')).toBe(2);

    sim.signers.set('targets', [current]);
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });

  it('B11: a root signed by the revoked root key is refused', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    const revoked = sim.signers.get('root')![0]!;
    const current = sim.rotateKeys('root');
    sim.publishRoot({ extraSigners: [revoked] });
    await client.updater.refresh();

    // The holder of the revoked key tries to put itself back in charge.
    sim.root.keys[revoked.keyid] = revoked.publicKey.tuf as MutableKey;
    sim.root.roles.root = { keyids: [revoked.keyid], threshold: 1 };
    publishRootAs(sim, 3, [revoked]);
    const err = await expectRejected(client, () => client.newUpdater().refresh(), UnmetThresholdError, 'unmet_threshold');
    expect(err.role).toBe('root (previous keys)');

    delete sim.root.keys[revoked.keyid];
    sim.root.roles.root = { keyids: [current.keyid], threshold: 1 };
    publishRootAs(sim, 3, [current]);
    expect((await client.newUpdater().refresh()).rootVersion).toBe(3);
  });
});
