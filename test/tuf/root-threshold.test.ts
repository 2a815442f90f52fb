// A3 (docs/threat-model.md), issue 17 item 6: a root whose threshold for a role exceeds that role's
// keys is accepted, and only that role's metadata is refused when verified (as python-tuf and
// tuf-js do). The reason is the stranded client: root versions must follow one another (#check_root
// step 2.4), so a client that refused root N would stay on N-1 for good, even after the repository
// published a repaired N+1 ("root version N+1 skips ahead"). These tests fail if root N is refused
// at parsing again.
import { UnmetThresholdError, VersionMismatchError } from '../../shared/core/errors.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { TrustedMetadataSet } from '../../shared/core/trusted-metadata-set.js';
import { cleanupClients, expectRejected, refreshedClient, storedBytes, storedVersion } from '../support/client.js';
import { RepositorySimulator, SIM_NOW } from '../support/repo-simulator.js';

afterEach(cleanupClients);

/** A repository whose targets role has two keys, threshold 2, and one image. */
function twoKeyTargets(): RepositorySimulator {
  const sim = new RepositorySimulator();
  sim.addKey('targets');
  sim.root.roles.targets.threshold = 2;
  sim.publishRoot({ bumpVersion: false });
  sim.addTarget('ecu/fw-1.bin', 'firmware 1');
  sim.release();
  return sim;
}

/** Root N: the targets threshold set to 3 over its 2 keys (a repository's mistake), published. */
function publishBrokenTargetsThreshold(sim: RepositorySimulator): Buffer {
  sim.root.roles.targets.threshold = 3;
  return sim.publishRoot();
}

describe('A3: a root with a role threshold above its keys', () => {
  it('root N is parsed and verified as root; only the role it breaks is refused (pure verifier)', () => {
    const sim = twoKeyTargets();
    const rootN = publishBrokenTargetsThreshold(sim);
    sim.release();
    expect(parseMetadata(rootN, 'root').signed.roles.targets.threshold).toBe(3);
    const set = new TrustedMetadataSet(sim.publishedRoots[0]!, SIM_NOW, { repository: 'image' });
    expect(set.updateRoot(rootN).signed.version).toBe(2);
    set.updateTimestamp(sim.signedRole('timestamp'));
    set.updateSnapshot(sim.signedRole('snapshot'));
    let caught: unknown;
    try {
      set.updateTargets(sim.signedRole('targets'));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UnmetThresholdError);
    expect((caught as UnmetThresholdError).role).toBe('targets');
    expect((caught as Error).message).toContain('threshold 3 exceeds the 2 distinct key(s) authorized for it');
    expect(set.targets).toBeUndefined(); // nothing from the refused file is trusted
  });

  it('the stranded client: on N-1, takes root N (targets refused, nothing installed from it), then the repaired N+1 and recovers', async () => {
    const sim = twoKeyTargets();
    const client = await refreshedClient(sim); // on root v1 (N-1), with targets v2 stored
    const targetsBefore = storedBytes(client, 'targets');

    const rootN = publishBrokenTargetsThreshold(sim);
    sim.addTarget('ecu/fw-2.bin', 'firmware 2');
    sim.release(); // targets v3, signed by both targets keys: 2 of an unmeetable 3
    const updater = client.newUpdater();
    const err = await expectRejected(client, () => updater.refresh(), UnmetThresholdError, 'unmet_threshold', {
      changed: { root: rootN, timestamp: sim.signedRole('timestamp'), snapshot: sim.signedRole('snapshot') },
    });
    expect(err.role).toBe('targets');
    // Root N is the client's trusted root now: the step a refusal at parsing never let it take.
    expect(storedVersion(client, 'root')).toBe(2);
    // Rollback-safe: the old targets stays stored but does not verify under root N either, so no
    // target is found from it; the client installs nothing until targets verifies again.
    expect(storedBytes(client, 'targets')).toEqual(targetsBefore);
    await expectRejected(client, () => updater.findTarget('ecu/fw-1.bin'), UnmetThresholdError, 'unmet_threshold');
    await expectRejected(client, () => client.newUpdater().refresh(), UnmetThresholdError, 'unmet_threshold');

    // The repository repairs the threshold in root N+1.
    sim.root.roles.targets.threshold = 2;
    sim.publishRoot();
    const recovered = client.newUpdater();
    expect(await recovered.refresh()).toEqual({ rootVersion: 3, timestampVersion: sim.timestamp.version, snapshotChanged: false, targetsVersion: 3 });
    expect((await recovered.findTarget('ecu/fw-2.bin')).role).toBe('targets');
    expect(storedVersion(client, 'targets')).toBe(3);
  });

  it('why root N must be accepted: a client still on N-1 cannot take N+1 directly (versions must follow one another)', () => {
    const sim = twoKeyTargets();
    publishBrokenTargetsThreshold(sim);
    sim.root.roles.targets.threshold = 2;
    const rootN1 = sim.publishRoot();
    const set = new TrustedMetadataSet(sim.publishedRoots[0]!, SIM_NOW, { repository: 'image' });
    expect(() => set.updateRoot(rootN1)).toThrow(VersionMismatchError);
    expect(() => set.updateRoot(rootN1)).toThrow('root version 3 skips ahead of 2');
  });

  it('tuf-conformance test_snapshot_has_too_few_keys: snapshot threshold 6 over 5 keys, root accepted, snapshot refused', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    for (let i = 0; i < 4; i++) sim.addKey('snapshot');
    sim.root.roles.snapshot.threshold = 6;
    const rootN = sim.publishRoot();
    sim.release();
    const err = await client
      .newUpdater()
      .refresh()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(UnmetThresholdError);
    expect((err as UnmetThresholdError).role).toBe('snapshot');
    expect((err as Error).message).toContain('threshold 6 exceeds the 5 distinct key(s)');
    expect(storedBytes(client, 'root')).toEqual(rootN);
    // Snapshot's keys changed with root N, so the stored snapshot (and timestamp, #check_root step 4) went.
    expect(storedBytes(client, 'snapshot')).toBeUndefined();
  });

  it('root N whose own root threshold exceeds its keys cannot verify itself: refused, and a corrected N is accepted', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    sim.root.roles.root.threshold = 2; // one root key
    sim.publishRoot();
    const err = await expectRejected(client, () => client.newUpdater().refresh(), UnmetThresholdError, 'unmet_threshold');
    expect(err.role).toBe('root (new keys)');
    expect(err.message).toContain('threshold 2 exceeds the 1 distinct key(s)');
    // No client can ever have taken that N, so the repository publishes a corrected N (same version):
    // a root-role mistake does not strand anyone.
    sim.root.roles.root.threshold = 1;
    sim.publishRoot({ bumpVersion: false });
    expect((await client.newUpdater().refresh()).rootVersion).toBe(2);
  });

  it('a locally trusted root whose root threshold exceeds its keys fails closed (A15)', () => {
    const sim = new RepositorySimulator();
    sim.root.roles.root.threshold = 2;
    const root = sim.publishRoot({ bumpVersion: false });
    expect(() => parseMetadata(root, 'root')).not.toThrow();
    expect(() => new TrustedMetadataSet(root, SIM_NOW, { repository: 'image' })).toThrow(UnmetThresholdError);
  });
});
