// Group E of docs/threat-model.md for one repository, driven through the real RepositoryUpdater
// against the in-memory simulator: every file must be the one the file above it names
// (mix-and-match, E1-E5), the verifier refuses calls out of order (E6), and consistent-snapshot
// names are used on the wire but not on disk (E10). E7-E9 compare the Director with the Image
// repository, which is the primary's job: they are not tested here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  HashMismatchError,
  LengthMismatchError,
  MissingMetaError,
  OutOfOrderError,
  RollbackError,
  VersionMismatchError,
} from '../../shared/core/errors.js';
import { TrustedMetadataSet } from '../../shared/core/trusted-metadata-set.js';
import { localTargetPath } from '../../shared/client/updater.js';
import { cleanupClients, expectRejected, expectRejectedKeepingVerified, newClient, refreshedClient } from '../support/client.js';
import { RepositorySimulator, SIM_METADATA_URL, SIM_NOW, SIM_TARGETS_URL, type SimulatorOptions } from '../support/repo-simulator.js';
import { serveAttack, sha256 } from '../support/tuf-helpers.js';

afterEach(cleanupClients);

/** Same length as SIM_EXPIRES, different bytes: re-signed content that only a hash check can tell apart. */
const OTHER_EXPIRES = '2027-06-02T00:00:00Z';

/** A repository with one image and one delegation (`supplier`, paths `supplier/*`), released once (v2). */
function repository(options: SimulatorOptions = {}): RepositorySimulator {
  const sim = new RepositorySimulator(options);
  sim.addTarget('ecu/app.bin', 'top-level image');
  sim.addDelegation('targets', { name: 'supplier', terminating: false, paths: ['supplier/*'] });
  sim.addTarget('supplier/fw.bin', 'supplier image', undefined, 'supplier');
  sim.release();
  return sim;
}

describe('E1-E5: each file must be the one the file above it names', () => {
  it('E1: a snapshot whose hash differs from timestamp.meta is rejected with HashMismatchError', async () => {
    const sim = repository({ computeMetafileHashesAndLength: true });
    const client = await refreshedClient(sim);
    sim.release();
    const honest = sim.signedRole('snapshot');
    // Validly signed, same version, same length: only the hash timestamp lists gives it away.
    const forged = sim.sign({ ...sim.snapshot, expires: OTHER_EXPIRES }, sim.signers.get('snapshot')!);
    expect(forged.length).toBe(honest.length);
    expect(forged.equals(honest)).toBe(false);
    serveAttack(sim, '/metadata/3.snapshot.json', forged);

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), HashMismatchError, 'hash_mismatch', {
      timestamp: sim.signedRole('timestamp'),
    });

    sim.override = undefined;
    expect(await client.newUpdater().refresh()).toEqual({ rootVersion: 1, timestampVersion: 3, snapshotChanged: true, targetsVersion: 3 });
  });

  it('E1: a snapshot whose length differs from timestamp.meta is rejected with LengthMismatchError', async () => {
    const sim = repository({ computeMetafileHashesAndLength: true });
    const client = await refreshedClient(sim);
    sim.release();
    // Validly signed and shorter (targets listed by version only): the stated length gives it away.
    const forged = sim.sign({ ...sim.snapshot, meta: { 'targets.json': { version: 3 }, 'supplier.json': { version: 1 } } }, sim.signers.get('snapshot')!);
    expect(forged.length).toBeLessThan(sim.timestamp.meta['snapshot.json'].length!);
    serveAttack(sim, '/metadata/3.snapshot.json', forged);

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), LengthMismatchError, 'length_mismatch', {
      timestamp: sim.signedRole('timestamp'),
    });

    sim.override = undefined;
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });

  it('E2: a snapshot whose version differs from timestamp.meta (a stale snapshot.json) is rejected with VersionMismatchError', async () => {
    const sim = repository({ consistentSnapshot: false });
    const client = await refreshedClient(sim);
    const stale = sim.signedRole('snapshot');
    sim.release();
    expect(sim.timestamp.meta['snapshot.json'].version).toBe(3);
    serveAttack(sim, '/metadata/snapshot.json', stale);

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), VersionMismatchError, 'version_mismatch', {
      timestamp: sim.signedRole('timestamp'),
    });

    sim.override = undefined;
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });

  it('E3: top-level targets whose hash differs from snapshot.meta is rejected with HashMismatchError', async () => {
    const sim = repository({ computeMetafileHashesAndLength: true });
    const client = await refreshedClient(sim);
    sim.release();
    const honest = sim.signedRole('targets');
    const forged = sim.sign({ ...sim.targets, expires: OTHER_EXPIRES }, sim.signers.get('targets')!);
    expect(forged.length).toBe(honest.length);
    serveAttack(sim, '/metadata/3.targets.json', forged);

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), HashMismatchError, 'hash_mismatch', {
      timestamp: sim.signedRole('timestamp'),
      snapshot: sim.signedRole('snapshot'),
    });

    sim.override = undefined;
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });

  it('E3: top-level targets whose version differs from snapshot.meta (a stale targets.json) is rejected with VersionMismatchError', async () => {
    const sim = repository({ consistentSnapshot: false });
    const client = await refreshedClient(sim);
    const stale = sim.signedRole('targets');
    sim.release();
    serveAttack(sim, '/metadata/targets.json', stale);

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), VersionMismatchError, 'version_mismatch', {
      timestamp: sim.signedRole('timestamp'),
      snapshot: sim.signedRole('snapshot'),
    });

    sim.override = undefined;
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });

  it('E3: delegated targets whose hash differs from snapshot.meta is rejected with HashMismatchError', async () => {
    const sim = repository({ computeMetafileHashesAndLength: true });
    const client = await refreshedClient(sim);
    const forged = sim.sign({ ...sim.delegated.get('supplier')!, expires: OTHER_EXPIRES }, sim.signers.get('supplier')!);
    expect(forged.length).toBe(sim.signedRole('supplier').length);
    serveAttack(sim, '/metadata/1.supplier.json', forged);

    await expectRejected(client, () => client.updater.findTarget('supplier/fw.bin'), HashMismatchError, 'hash_mismatch');

    sim.override = undefined;
    expect((await client.updater.findTarget('supplier/fw.bin')).role).toBe('supplier');
  });

  it('E3: delegated targets whose version differs from snapshot.meta is rejected with VersionMismatchError', async () => {
    const sim = repository();
    const client = await refreshedClient(sim);
    const forged = sim.sign({ ...sim.delegated.get('supplier')!, version: 2 }, sim.signers.get('supplier')!);
    serveAttack(sim, '/metadata/1.supplier.json', forged);

    await expectRejected(client, () => client.updater.findTarget('supplier/fw.bin'), VersionMismatchError, 'version_mismatch');

    sim.override = undefined;
    expect((await client.updater.findTarget('supplier/fw.bin')).role).toBe('supplier');
  });

  it('E4: top-level targets not listed in snapshot is rejected with MissingMetaError', async () => {
    const sim = repository();
    delete sim.snapshot.meta['targets.json'];
    const client = newClient(sim);

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), MissingMetaError, 'missing_meta', {
      timestamp: sim.signedRole('timestamp'),
      snapshot: sim.signedRole('snapshot'),
    });

    sim.updateSnapshot();
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(2);
  });

  it('E4: a delegated role not listed in snapshot is rejected with MissingMetaError', async () => {
    const sim = repository();
    delete sim.snapshot.meta['supplier.json'];
    const client = await refreshedClient(sim);

    await expectRejected(client, () => client.updater.findTarget('supplier/fw.bin'), MissingMetaError, 'missing_meta');

    sim.updateSnapshot();
    const updater = client.newUpdater();
    await updater.refresh();
    expect((await updater.findTarget('supplier/fw.bin')).role).toBe('supplier');
  });

  it('E5: 2.root.json holding root version 3 is rejected with VersionMismatchError', async () => {
    const sim = repository();
    const client = await refreshedClient(sim);
    serveAttack(sim, '/metadata/2.root.json', sim.sign({ ...structuredClone(sim.root), version: 3 }, sim.signers.get('root')!));

    await expectRejected(client, () => client.newUpdater().refresh(), VersionMismatchError, 'version_mismatch');

    sim.override = undefined;
    sim.publishRoot();
    expect((await client.newUpdater().refresh()).rootVersion).toBe(2);
  });

  it('E5: 2.root.json holding root version 1 is rejected with RollbackError', async () => {
    const sim = repository();
    const client = await refreshedClient(sim);
    serveAttack(sim, '/metadata/2.root.json', sim.publishedRoots[0]!);

    await expectRejected(client, () => client.newUpdater().refresh(), RollbackError, 'rollback');

    sim.override = undefined;
    sim.publishRoot();
    expect((await client.newUpdater().refresh()).rootVersion).toBe(2);
  });

  it('E5: 3.snapshot.json holding snapshot version 4 is rejected with VersionMismatchError', async () => {
    const sim = repository();
    const client = await refreshedClient(sim);
    sim.release();
    serveAttack(sim, '/metadata/3.snapshot.json', sim.sign({ ...sim.snapshot, version: 4 }, sim.signers.get('snapshot')!));

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), VersionMismatchError, 'version_mismatch', {
      timestamp: sim.signedRole('timestamp'),
    });

    sim.override = undefined;
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });

  it('E5: 3.targets.json holding targets version 4 is rejected with VersionMismatchError', async () => {
    const sim = repository();
    const client = await refreshedClient(sim);
    sim.release();
    serveAttack(sim, '/metadata/3.targets.json', sim.sign({ ...sim.targets, version: 4 }, sim.signers.get('targets')!));

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), VersionMismatchError, 'version_mismatch', {
      timestamp: sim.signedRole('timestamp'),
      snapshot: sim.signedRole('snapshot'),
    });

    sim.override = undefined;
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });
});

describe('E6: out-of-order calls are programmer errors', () => {
  function newSet(sim: RepositorySimulator): TrustedMetadataSet {
    return new TrustedMetadataSet(sim.publishedRoots[0]!, SIM_NOW, { repository: 'image' });
  }

  function expectOutOfOrder(action: () => unknown): void {
    let caught: unknown;
    try {
      action();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OutOfOrderError);
    expect((caught as OutOfOrderError).code).toBe('out_of_order');
  }

  it('E6: snapshot before timestamp throws OutOfOrderError', () => {
    const sim = repository();
    const set = newSet(sim);
    expectOutOfOrder(() => set.updateSnapshot(sim.signedRole('snapshot')));
    expect(set.snapshot).toBeUndefined();
    set.updateTimestamp(sim.signedRole('timestamp'));
    expect(set.updateSnapshot(sim.signedRole('snapshot')).signed.version).toBe(2);
  });

  it('E6: targets before snapshot throws OutOfOrderError', () => {
    const sim = repository();
    const set = newSet(sim);
    expectOutOfOrder(() => set.updateTargets(sim.signedRole('targets')));
    set.updateTimestamp(sim.signedRole('timestamp'));
    expectOutOfOrder(() => set.updateTargets(sim.signedRole('targets')));
    expect(set.targets).toBeUndefined();
  });

  it('E6: root after timestamp throws OutOfOrderError', () => {
    const sim = repository();
    const set = newSet(sim);
    set.updateTimestamp(sim.signedRole('timestamp'));
    expectOutOfOrder(() => set.updateRoot(sim.publishRoot()));
    expect(set.root.signed.version).toBe(1);
  });

  it('E6: timestamp after snapshot throws OutOfOrderError', () => {
    const sim = repository();
    const set = newSet(sim);
    set.updateTimestamp(sim.signedRole('timestamp'));
    set.updateSnapshot(sim.signedRole('snapshot'));
    sim.updateTimestamp();
    expectOutOfOrder(() => set.updateTimestamp(sim.signedRole('timestamp')));
    expect(set.timestamp!.signed.version).toBe(2);
  });

  it('E6: snapshot after targets throws OutOfOrderError', () => {
    const sim = repository();
    const set = newSet(sim);
    set.updateTimestamp(sim.signedRole('timestamp'));
    set.updateSnapshot(sim.signedRole('snapshot'));
    set.updateTargets(sim.signedRole('targets'));
    expectOutOfOrder(() => set.updateSnapshot(sim.signedRole('snapshot')));
    expect(set.snapshot!.signed.version).toBe(2);
  });

  it('E6: delegated targets before its delegator is loaded throws OutOfOrderError', () => {
    const sim = repository();
    const set = newSet(sim);
    set.updateTimestamp(sim.signedRole('timestamp'));
    set.updateSnapshot(sim.signedRole('snapshot'));
    expectOutOfOrder(() => set.updateDelegatedTargets(sim.signedRole('supplier'), 'supplier', 'targets'));
    expect(set.getTargets('supplier')).toBeUndefined();
    set.updateTargets(sim.signedRole('targets'));
    expect(set.updateDelegatedTargets(sim.signedRole('supplier'), 'supplier', 'targets').signed.version).toBe(1);
  });

  it('E6: root as the delegator of a non-top-level role throws OutOfOrderError', () => {
    const sim = repository();
    const set = newSet(sim);
    set.updateTimestamp(sim.signedRole('timestamp'));
    set.updateSnapshot(sim.signedRole('snapshot'));
    expectOutOfOrder(() => set.updateDelegatedTargets(sim.signedRole('supplier'), 'supplier', 'root'));
    expect(set.getTargets('supplier')).toBeUndefined();
  });

  it('E6: findTarget before refresh throws OutOfOrderError and fetches nothing', async () => {
    const sim = repository();
    const client = newClient(sim);
    await expectRejected(client, () => client.updater.findTarget('ecu/app.bin'), OutOfOrderError, 'out_of_order');
    expect(sim.fetchLog).toEqual([]);
  });
});

describe('E10: consistent snapshots', () => {
  it('E10: with consistent_snapshot, N.role.json and hash-prefixed target names are fetched and stored unversioned', async () => {
    const sim = repository();
    const client = newClient(sim);
    await client.updater.refresh();
    for (const name of ['ecu/app.bin', 'supplier/fw.bin']) {
      const lookup = await client.updater.findTarget(name);
      await client.updater.downloadTarget(lookup, localTargetPath(client.directory, name));
    }

    expect(sim.fetchLog).toEqual([
      `${SIM_METADATA_URL}/2.root.json`,
      `${SIM_METADATA_URL}/timestamp.json`,
      `${SIM_METADATA_URL}/2.snapshot.json`,
      `${SIM_METADATA_URL}/2.targets.json`,
      `${SIM_TARGETS_URL}/ecu/${sha256('top-level image')}.app.bin`,
      `${SIM_METADATA_URL}/1.supplier.json`,
      `${SIM_TARGETS_URL}/supplier/${sha256('supplier image')}.fw.bin`,
    ]);
    expect(Object.keys(client.storeSnapshot())).toEqual(['root.json', 'snapshot.json', 'supplier.json', 'targets.json', 'timestamp.json']);
    expect(Buffer.from(client.store.load('snapshot')!).equals(sim.signedRole('snapshot'))).toBe(true);
    expect(readFileSync(join(client.directory, 'supplier%2Ffw.bin'), 'utf8')).toBe('supplier image');
  });

  it('E10: without consistent_snapshot, unversioned names and plain target names are fetched', async () => {
    const sim = repository({ consistentSnapshot: false });
    const client = newClient(sim);
    await client.updater.refresh();
    const lookup = await client.updater.findTarget('supplier/fw.bin');
    await client.updater.downloadTarget(lookup, localTargetPath(client.directory, 'supplier/fw.bin'));

    expect(sim.fetchLog).toEqual([
      `${SIM_METADATA_URL}/2.root.json`,
      `${SIM_METADATA_URL}/timestamp.json`,
      `${SIM_METADATA_URL}/snapshot.json`,
      `${SIM_METADATA_URL}/targets.json`,
      `${SIM_METADATA_URL}/supplier.json`,
      `${SIM_TARGETS_URL}/supplier/fw.bin`,
    ]);
    expect(Object.keys(client.storeSnapshot())).toEqual(['root.json', 'snapshot.json', 'supplier.json', 'targets.json', 'timestamp.json']);
  });
});
