// Group C of docs/threat-model.md: rollback and replay against one TUF repository (C1-C11; C9 is
// ECU-side), and the rollback and persist-before-verify advisories listed there (go-tuf
// CVE-2022-29173, tough CVE-2025-2887 and CVE-2025-2888). The real RepositoryUpdater runs against
// the in-memory simulator; a few pure cases feed bytes to TrustedMetadataSet directly. Spec:
// docs/uptane-conformance.md 5.4 (#check_timestamp), 5.5 (#check_snapshot), 5.6 (#check_targets).
import { nobleBackend } from '../../shared/core/crypto/ed25519.js';
import { ExpiredMetadataError, RollbackError, VersionMismatchError } from '../../shared/core/errors.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { TrustedMetadataSet } from '../../shared/core/trusted-metadata-set.js';
import { cleanupClients, expectRejected, newClient, storedVersion } from '../support/client.js';
import { RepositorySimulator, SIM_NOW } from '../support/repo-simulator.js';
import { serveAttack } from '../support/tuf-helpers.js';

afterEach(cleanupClients);

const DAY_7 = '2026-06-08T00:00:00Z';
const DAY_18 = '2026-06-19T00:00:00Z';
const DAY_21 = '2026-06-22T00:00:00Z';

describe('timestamp rollback (C1-C3)', () => {
  it('C1: a timestamp version rollback is rejected', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.timestamp.version = 2;
    await client.updater.refresh();

    sim.timestamp.version = 1;
    const err = await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');
    expect(err.role).toBe('timestamp');
    expect(storedVersion(client, 'timestamp')).toBe(2);

    sim.timestamp.version = 3;
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
  });

  it("C2: a timestamp whose snapshot version rolls back is rejected", async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.updateSnapshot(); // snapshot v2, timestamp v2
    await client.updater.refresh();

    sim.timestamp.version = 3;
    sim.timestamp.meta['snapshot.json'] = { version: 1 };
    const err = await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');
    expect(err.role).toBe('timestamp');
    expect(sim.fetched(/\/1\.snapshot\.json$/)).toEqual([]); // the rolled-back snapshot was never asked for

    sim.updateTimestamp(); // v4, naming snapshot v2 again
    const result = await client.newUpdater().refresh();
    expect(result.timestampVersion).toBe(4);
    expect(result.snapshotChanged).toBe(false);
  });

  it('C3: the expired local timestamp is still the reference for a timestamp version rollback', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.timestamp.expires = DAY_7;
    sim.timestamp.version = 2;
    await client.updater.refresh();

    sim.timestamp.expires = DAY_21;
    sim.timestamp.version = 1;
    client.clock.set(DAY_18); // the stored v2 has expired, the offered v1 has not
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');
    expect(storedVersion(client, 'timestamp')).toBe(2);

    sim.timestamp.version = 3;
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
  });

  it('C3: the expired local timestamp is still the reference for a snapshot version rollback', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.timestamp.expires = DAY_7;
    sim.updateSnapshot();
    sim.updateSnapshot(); // snapshot v3, timestamp v3
    await client.updater.refresh();

    sim.snapshot.version = 1;
    sim.updateSnapshot(); // snapshot v2 < 3, timestamp v4
    sim.timestamp.expires = DAY_21;
    client.clock.set(DAY_18);
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');
    expect(storedVersion(client, 'timestamp')).toBe(3);

    sim.updateSnapshot();
    sim.updateSnapshot(); // snapshot v4
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(6);
    expect(storedVersion(client, 'snapshot')).toBe(4);
  });

  it('C3: the expired local snapshot is still the reference for a targets version rollback in snapshot', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.snapshot.expires = DAY_7;
    sim.release(); // targets v2, snapshot v2
    await client.updater.refresh();

    sim.snapshot.expires = DAY_21;
    sim.targets.version = 1;
    sim.updateSnapshot(); // snapshot v3 lists targets v1
    client.clock.set(DAY_18);
    // Were the expired snapshot ignored, targets v1 would pass: snapshot v3 is otherwise valid.
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });
    expect(storedVersion(client, 'snapshot')).toBe(2);

    sim.targets.version = 3;
    sim.updateSnapshot();
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });
});

describe('snapshot and targets rollback (C4-C6)', () => {
  it.each([
    ['without', false],
    ['with', true],
  ] as const)('C4: a replayed older snapshot is rejected (timestamp %s hashes and length)', async (_label, withHashes) => {
    const sim = new RepositorySimulator({ computeMetafileHashesAndLength: withHashes });
    const snapshotV1 = sim.signedRole('snapshot');
    const client = newClient(sim);
    sim.updateSnapshot(); // snapshot v2
    await client.updater.refresh();

    // The timestamp names a new snapshot v3 (and, with hashes, the hash of exactly these bytes);
    // the bytes served are the older, validly signed snapshot v1.
    sim.timestamp.version = 3;
    sim.timestamp.meta['snapshot.json'] = withHashes
      ? { version: 3, length: snapshotV1.length, hashes: digestBytes(snapshotV1, ['sha256']) }
      : { version: 3 };
    serveAttack(sim, '/metadata/3.snapshot.json', snapshotV1);
    const err = await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });
    expect(err.role).toBe('snapshot');
    expect(storedVersion(client, 'snapshot')).toBe(2);

    sim.override = undefined;
    sim.updateSnapshot(); // the real snapshot v3
    expect((await client.newUpdater().refresh()).snapshotChanged).toBe(true);
    expect(storedVersion(client, 'snapshot')).toBe(3);
  });

  it('C4: a snapshot listing targets.json at a lower version is rejected', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.release(); // targets v2
    await client.updater.refresh();

    sim.targets.version = 1;
    sim.updateSnapshot();
    const err = await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });
    expect(err.role).toBe('snapshot');
    expect(storedVersion(client, 'targets')).toBe(2);

    sim.targets.version = 3;
    sim.updateSnapshot();
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });

  it('C4 (unit): TrustedMetadataSet refuses a second snapshot whose targets.json version decreased', () => {
    const sim = new RepositorySimulator();
    sim.snapshot.meta['targets.json'] = { version: 2 };
    const higher = sim.signedRole('snapshot');
    sim.snapshot.meta['targets.json'] = { version: 1 };
    const lower = sim.signedRole('snapshot');

    const set = new TrustedMetadataSet(sim.publishedRoots[0]!, SIM_NOW, { repository: 'image', backend: nobleBackend });
    set.updateTimestamp(sim.signedRole('timestamp'));
    const trusted = set.updateSnapshot(higher);
    let caught: unknown;
    try {
      set.updateSnapshot(lower);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RollbackError);
    expect((caught as RollbackError).code).toBe('rollback');
    expect(set.snapshot).toBe(trusted);
    expect(set.snapshot!.signed.meta['targets.json']!.version).toBe(2);
  });

  it('C5: a delegated role removed from the new snapshot is rejected', async () => {
    const sim = new RepositorySimulator();
    sim.addDelegation('targets', { name: 'role1', terminating: false, paths: ['role1/*'] });
    sim.release();
    const client = newClient(sim);
    await client.updater.refresh();

    delete sim.snapshot.meta['role1.json'];
    sim.snapshot.version += 1;
    sim.updateTimestamp();
    const err = await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });
    expect(err.role).toBe('snapshot');
    expect(err.message).toContain('role1.json');

    sim.updateSnapshot(); // lists role1.json again
    expect((await client.newUpdater().refresh()).snapshotChanged).toBe(true);
  });

  it('C5: targets.json removed from the new snapshot is rejected', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    await client.updater.refresh();

    delete sim.snapshot.meta['targets.json'];
    sim.snapshot.version += 1;
    sim.updateTimestamp();
    const err = await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });
    expect(err.message).toContain('targets.json');
    expect(storedVersion(client, 'snapshot')).toBe(1);

    sim.updateSnapshot();
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(1);
  });

  it('C5: a removed delegation may leave snapshot once the snapshot key rotates (docs/uptane-conformance.md 9.1)', async () => {
    const sim = new RepositorySimulator();
    sim.addDelegation('targets', { name: 'role1', terminating: false, paths: ['role1/*'] });
    sim.release();
    const client = newClient(sim);
    await client.updater.refresh();

    // The repository retires role1. Dropping it from snapshot with the same snapshot key is a rollback.
    delete sim.targets.delegations;
    sim.delegated.delete('role1');
    sim.release();
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });

    // After rotating the snapshot key the client forgets its snapshot (#check_root step 4).
    sim.rotateKeys('snapshot');
    sim.publishRoot();
    sim.updateSnapshot();
    const result = await client.newUpdater().refresh();
    expect(result.rootVersion).toBe(2);
    expect(result.targetsVersion).toBe(3);
    expect(Object.keys(parseMetadata(client.store.load('snapshot')!, 'snapshot').signed.meta)).toEqual(['targets.json']);
  });

  it('C6: an older signed targets file served for the version snapshot names is rejected', async () => {
    const sim = new RepositorySimulator();
    sim.addTarget('ecu/fw.bin', 'firmware 1');
    const targetsV1 = sim.signedRole('targets');
    const client = newClient(sim);
    await client.updater.refresh();

    sim.addTarget('ecu/fw.bin', 'firmware 2 (security fix)');
    sim.release(); // targets v2
    serveAttack(sim, '/metadata/2.targets.json', targetsV1);
    const err = await expectRejected(client, () => client.newUpdater().refresh(), VersionMismatchError, 'version_mismatch', {
      changed: {
        timestamp: sim.signedRole('timestamp'),
        snapshot: sim.signedRole('snapshot'),
      },
    });
    expect(err.role).toBe('targets');
    expect(storedVersion(client, 'targets')).toBe(1);

    sim.override = undefined;
    const updater = client.newUpdater();
    expect((await updater.refresh()).targetsVersion).toBe(2);
    expect((await updater.findTarget('ecu/fw.bin')).target.length).toBe('firmware 2 (security fix)'.length);
  });

  it('CVE-2025-2887: delegated targets rolled back in snapshot are rejected', async () => {
    // tough < 0.20 checked rollback for top-level targets only.
    const sim = new RepositorySimulator();
    sim.addDelegation('targets', { name: 'role1', terminating: false, paths: ['role1/*'] });
    sim.addTarget('role1/fw.bin', 'firmware 2', undefined, 'role1');
    sim.release('role1'); // role1 v2
    const client = newClient(sim);
    const first = client.updater;
    await first.refresh();
    await first.findTarget('role1/fw.bin');
    expect(storedVersion(client, 'role1')).toBe(2);

    sim.delegated.get('role1')!.version = 1;
    sim.addTarget('role1/fw.bin', 'firmware 1 (vulnerable)', undefined, 'role1');
    sim.updateSnapshot(); // snapshot lists role1.json v1
    const err = await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });
    expect(err.role).toBe('snapshot');
    expect(err.message).toContain('role1.json');
    expect(storedVersion(client, 'role1')).toBe(2);

    sim.delegated.get('role1')!.version = 3;
    sim.addTarget('role1/fw.bin', 'firmware 3', undefined, 'role1');
    sim.updateSnapshot();
    const updater = client.newUpdater();
    await updater.refresh();
    expect((await updater.findTarget('role1/fw.bin')).target.length).toBe('firmware 3'.length);
    expect(storedVersion(client, 'role1')).toBe(3);
  });

  it('C6: an older signed delegated targets file served for the version snapshot names is rejected', async () => {
    const sim = new RepositorySimulator();
    sim.addDelegation('targets', { name: 'role1', terminating: false, paths: ['role1/*'] });
    sim.addTarget('role1/fw.bin', 'firmware 1', undefined, 'role1');
    sim.release('role1');
    const role1V2 = sim.signedRole('role1');
    const client = newClient(sim);
    await client.updater.refresh();
    await client.updater.findTarget('role1/fw.bin');

    sim.addTarget('role1/fw.bin', 'firmware 2', undefined, 'role1');
    sim.release('role1'); // role1 v3
    serveAttack(sim, '/metadata/3.role1.json', role1V2);
    const updater = client.newUpdater();
    await updater.refresh();
    const err = await expectRejected(client, () => updater.findTarget('role1/fw.bin'), VersionMismatchError, 'version_mismatch');
    expect(err.role).toBe('role1');
    expect(storedVersion(client, 'role1')).toBe(2);

    sim.override = undefined;
    const honest = client.newUpdater();
    await honest.refresh();
    expect((await honest.findTarget('role1/fw.bin')).target.length).toBe('firmware 2'.length);
    expect(storedVersion(client, 'role1')).toBe(3);
  });
});

describe('same version, replay, local snapshot (C7, C8, C10)', () => {
  it('C7: a timestamp with the trusted version but other content keeps the trusted copy and is not persisted', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.updateSnapshot(); // snapshot v2, timestamp v2
    await client.updater.refresh();
    const trustedTimestamp = Buffer.from(client.store.load('timestamp')!);

    // Same version 2, but naming a snapshot v3 that does exist.
    sim.snapshot.version = 3;
    sim.timestamp.meta['snapshot.json'] = { version: 3 };
    const before = client.storeSnapshot();
    const updater = client.newUpdater();
    const result = await updater.refresh();
    expect(result.timestampVersion).toBe(2);
    expect(result.snapshotChanged).toBe(false);
    expect(Buffer.from(updater.trusted.timestamp!.raw)).toEqual(trustedTimestamp);
    expect(client.storeSnapshot()).toEqual(before);
    expect(sim.fetched(/3\.snapshot\.json$/)).toEqual([]);

    sim.timestamp.version = 3;
    const next = await client.newUpdater().refresh();
    expect(next.timestampVersion).toBe(3);
    expect(next.snapshotChanged).toBe(true);
    expect(storedVersion(client, 'snapshot')).toBe(3);
  });

  it('C7 (unit): TrustedMetadataSet returns the trusted timestamp for an equal version with other content', () => {
    const sim = new RepositorySimulator();
    const first = sim.signedRole('timestamp');
    sim.timestamp.meta['snapshot.json'] = { version: 7 };
    const sameVersion = sim.signedRole('timestamp');

    const set = new TrustedMetadataSet(sim.publishedRoots[0]!, SIM_NOW, { repository: 'image', backend: nobleBackend });
    const trusted = set.updateTimestamp(first);
    expect(set.updateTimestamp(sameVersion)).toBe(trusted);
    expect(set.timestamp).toBe(trusted);
    expect(set.timestamp!.signed.meta['snapshot.json'].version).toBe(1);
  });

  it('C8: a replay of the complete older, validly signed metadata set is rejected', async () => {
    // The attacker holds no keys: it replays timestamp, snapshot and targets v1 as captured.
    const sim = new RepositorySimulator();
    const old = new Map([
      ['/metadata/timestamp.json', sim.signedRole('timestamp')],
      ['/metadata/1.snapshot.json', sim.signedRole('snapshot')],
      ['/metadata/1.targets.json', sim.signedRole('targets')],
    ]);
    const client = newClient(sim);
    sim.addTarget('ecu/fw.bin', 'firmware 2');
    sim.release();
    await client.updater.refresh();

    sim.override = (path) => old.get(path);
    const err = await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');
    expect(err.role).toBe('timestamp');
    expect(storedVersion(client, 'targets')).toBe(2);

    sim.override = undefined;
    sim.updateTimestamp();
    const updater = client.newUpdater();
    expect((await updater.refresh()).timestampVersion).toBe(3);
    expect((await updater.findTarget('ecu/fw.bin')).role).toBe('targets');
  });

  it('C10: the trusted local snapshot is the rollback reference even when its hash no longer matches timestamp', async () => {
    const sim = new RepositorySimulator({ computeMetafileHashesAndLength: true });
    const client = newClient(sim);
    sim.targets.version = 2;
    sim.updateSnapshot();
    await client.updater.refresh();

    sim.targets.version = 1;
    sim.updateSnapshot(); // timestamp now lists the hash of the new snapshot, not of the stored one
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });
    expect(sim.fetched(/3\.snapshot\.json$/)).toHaveLength(1);
    expect(storedVersion(client, 'targets')).toBe(2);

    sim.targets.version = 3;
    sim.updateSnapshot();
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });
});

describe('rejected metadata is never persisted (C11 and CVEs)', () => {
  it('C11: an expired new timestamp is not persisted, so it cannot become the next rollback reference', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    await client.updater.refresh();

    // Expired and naming snapshot v50: stored, it would make every honest timestamp a rollback.
    sim.timestamp.version = 2;
    sim.timestamp.expires = '2026-05-01T00:00:00Z';
    sim.timestamp.meta['snapshot.json'] = { version: 50 };
    const err = await expectRejected(client, () => client.newUpdater().refresh(), ExpiredMetadataError, 'expired');
    expect(err.role).toBe('timestamp');

    sim.timestamp.expires = '2027-06-01T00:00:00Z';
    sim.updateSnapshot(); // snapshot v2, timestamp v3
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
    expect(storedVersion(client, 'snapshot')).toBe(2);
  });

  it('CVE-2025-2888: a timestamp rejected by the snapshot rollback check is not cached, so the next update succeeds', async () => {
    // tough < 0.20 cached such a timestamp and then refused every later update.
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.updateSnapshot();
    sim.updateSnapshot(); // snapshot v3, timestamp v3
    await client.updater.refresh();

    sim.timestamp.version = 4;
    sim.timestamp.meta['snapshot.json'] = { version: 2 };
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');
    expect(storedVersion(client, 'timestamp')).toBe(3);

    // The honest timestamp reuses version 4: had the rejected one been cached, the client would keep
    // it (same version, C7) and stay stuck on its rolled-back snapshot.
    sim.updateSnapshot();
    sim.timestamp.version = 4;
    const result = await client.newUpdater().refresh();
    expect(result.timestampVersion).toBe(4);
    expect(storedVersion(client, 'snapshot')).toBe(4);
  });

  it('CVE-2022-29173: after a restart, rollback checks compare against the stored versions, not against 0', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.release();
    sim.release(); // targets v3, snapshot v3, timestamp v3
    await client.updater.refresh();

    // Each refresh below runs in a fresh updater, as after a reboot: the only memory is the store.
    sim.timestamp.version = 2;
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');

    sim.timestamp.version = 4;
    sim.timestamp.meta['snapshot.json'] = { version: 2 };
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');

    sim.targets.version = 2;
    sim.snapshot.version = 3;
    sim.updateSnapshot(); // snapshot v4 lists targets v2, timestamp v5
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });

    sim.targets.version = 4;
    sim.updateSnapshot();
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(4);
  });

  it('CVE-2022-29173: a timestamp and a snapshot that fail their meta version checks are not saved', async () => {
    // go-tuf < 0.3.0 saved timestamp and snapshot before checking the versions they list.
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.release(); // targets v2, snapshot v2, timestamp v2
    await client.updater.refresh();
    const storedTimestamp = Buffer.from(client.store.load('timestamp')!);
    const storedSnapshot = Buffer.from(client.store.load('snapshot')!);

    sim.timestamp.version = 3;
    sim.timestamp.meta['snapshot.json'] = { version: 1 };
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');
    expect(Buffer.from(client.store.load('timestamp')!)).toEqual(storedTimestamp);

    sim.targets.version = 1;
    sim.updateSnapshot(); // snapshot v3 lists targets v1, timestamp v4
    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });
    expect(Buffer.from(client.store.load('snapshot')!)).toEqual(storedSnapshot);

    sim.targets.version = 3;
    sim.updateSnapshot();
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });
});
