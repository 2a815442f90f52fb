// Group D of docs/threat-model.md: freeze and expiry for one TUF repository (D1 for
// every role including delegated targets, D2 expired local metadata as the starting point; D4a, D5
// are ECU- and server-side, D6 is covered with the parser tests). The real RepositoryUpdater runs
// against the in-memory simulator with a FixedClock. Spec: docs/uptane-conformance.md 5.3 step 3,
// 5.4 step 4, 5.5 step 7, 5.6 step 5 ("Time < expiry. (Freeze.)").
import { ExpiredMetadataError } from '../../shared/core/errors.js';
import { cleanupClients, expectRejected, newClient, storedVersion } from '../support/client.js';
import { RepositorySimulator, SIM_EXPIRES } from '../support/repo-simulator.js';

afterEach(cleanupClients);

const PAST = '2026-05-01T00:00:00Z'; // before SIM_NOW (2026-06-01)
const DAY_7 = '2026-06-08T00:00:00Z';
const DAY_18 = '2026-06-19T00:00:00Z';
const DAY_21 = '2026-06-22T00:00:00Z';

describe('expired metadata is rejected (D1)', () => {
  it('D1: an expired root with no newer root is rejected (freeze)', async () => {
    const sim = new RepositorySimulator();
    sim.root.expires = '2026-07-01T00:00:00Z';
    sim.publishRoot({ bumpVersion: false }); // v1 with a short expiry
    const client = newClient(sim);
    await client.updater.refresh();

    client.clock.set('2026-07-02T00:00:00Z');
    const err = await expectRejected(client, () => client.newUpdater().refresh(), ExpiredMetadataError, 'expired');
    expect(err.role).toBe('root');
    expect(err.repository).toBe('image');

    sim.root.expires = SIM_EXPIRES;
    sim.publishRoot();
    expect((await client.newUpdater().refresh()).rootVersion).toBe(2);
  });

  it('D1: an expired timestamp is rejected', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    await client.updater.refresh();

    sim.timestamp.expires = PAST;
    sim.updateTimestamp();
    const err = await expectRejected(client, () => client.newUpdater().refresh(), ExpiredMetadataError, 'expired');
    expect(err.role).toBe('timestamp');
    expect(storedVersion(client, 'timestamp')).toBe(1);

    sim.timestamp.expires = SIM_EXPIRES;
    sim.updateTimestamp();
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
  });

  it('D1: the trusted timestamp replayed unchanged after it expired is rejected (indefinite freeze)', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.timestamp.expires = DAY_7;
    await client.updater.refresh();

    // The repository (or a man in the middle) keeps serving the same timestamp v1.
    client.clock.set(DAY_18);
    const err = await expectRejected(client, () => client.newUpdater().refresh(), ExpiredMetadataError, 'expired');
    expect(err.role).toBe('timestamp');

    sim.timestamp.expires = DAY_21;
    sim.updateTimestamp();
    const result = await client.newUpdater().refresh();
    expect(result.timestampVersion).toBe(2);
    expect(result.snapshotChanged).toBe(false);
  });

  it('D1: an expired snapshot is rejected', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    await client.updater.refresh();

    sim.snapshot.expires = PAST;
    sim.updateSnapshot();
    const err = await expectRejected(client, () => client.newUpdater().refresh(), ExpiredMetadataError, 'expired', {
      changed: { timestamp: sim.signedRole('timestamp') },
    });
    expect(err.role).toBe('snapshot');
    expect(storedVersion(client, 'snapshot')).toBe(1);

    sim.snapshot.expires = SIM_EXPIRES;
    sim.updateSnapshot();
    expect((await client.newUpdater().refresh()).snapshotChanged).toBe(true);
    expect(storedVersion(client, 'snapshot')).toBe(3);
  });

  it('D1: expired top-level targets are rejected', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    await client.updater.refresh();

    sim.targets.expires = PAST;
    sim.release();
    const err = await expectRejected(client, () => client.newUpdater().refresh(), ExpiredMetadataError, 'expired', {
      changed: {
        timestamp: sim.signedRole('timestamp'),
        snapshot: sim.signedRole('snapshot'),
      },
    });
    expect(err.role).toBe('targets');
    expect(storedVersion(client, 'targets')).toBe(1);

    sim.targets.expires = SIM_EXPIRES;
    sim.release();
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });

  it('D1: expired delegated targets are rejected when the target lookup reaches them', async () => {
    const sim = new RepositorySimulator();
    sim.addDelegation('targets', { name: 'role1', terminating: false, paths: ['role1/*'] });
    sim.addTarget('role1/fw.bin', 'firmware 1', undefined, 'role1');
    sim.release('role1'); // role1 v2
    const client = newClient(sim);
    await client.updater.refresh();
    await client.updater.findTarget('role1/fw.bin');

    const role1 = sim.delegated.get('role1')!;
    role1.expires = PAST;
    sim.addTarget('role1/fw.bin', 'firmware 2', undefined, 'role1');
    sim.release('role1'); // role1 v3, expired
    const updater = client.newUpdater();
    await updater.refresh();
    const err = await expectRejected(client, () => updater.findTarget('role1/fw.bin'), ExpiredMetadataError, 'expired');
    expect(err.role).toBe('role1');
    expect(storedVersion(client, 'role1')).toBe(2);

    role1.expires = SIM_EXPIRES;
    sim.release('role1');
    const honest = client.newUpdater();
    await honest.refresh();
    expect((await honest.findTarget('role1/fw.bin')).target.length).toBe('firmware 2'.length);
    expect(storedVersion(client, 'role1')).toBe(4);
  });

  it('D1: metadata expiring exactly at the reference time counts as expired', async () => {
    const sim = new RepositorySimulator();
    sim.timestamp.expires = '2026-06-02T00:00:00Z';
    const client = newClient(sim);

    client.clock.set('2026-06-02T00:00:00Z');
    const err = await expectRejected(client, () => client.updater.refresh(), ExpiredMetadataError, 'expired');
    expect(err.role).toBe('timestamp');

    client.clock.set('2026-06-01T23:59:59Z');
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(1);
  });
});

describe('expired local metadata is still the starting point (D2)', () => {
  it('D2: an expired provisioned root still verifies its successor', async () => {
    const sim = new RepositorySimulator();
    sim.root.expires = DAY_7;
    sim.publishRoot({ bumpVersion: false });
    const client = newClient(sim);
    client.clock.set(DAY_18); // the trusted root v1 expired before the first refresh

    const key1 = sim.signers.get('root')![0]!;
    sim.rotateKeys('root');
    sim.root.expires = SIM_EXPIRES;
    sim.publishRoot({ extraSigners: [key1] });
    const result = await client.updater.refresh();
    expect(result.rootVersion).toBe(2);
    expect(Buffer.from(client.store.load('root')!)).toEqual(sim.publishedRoots[1]);
  });

  it('D2: expired local timestamp, snapshot and targets are the starting point of the next update', async () => {
    const sim = new RepositorySimulator();
    sim.timestamp.expires = DAY_7;
    sim.snapshot.expires = DAY_7;
    sim.targets.expires = DAY_7;
    const client = newClient(sim);
    await client.updater.refresh();

    sim.timestamp.expires = DAY_21;
    sim.snapshot.expires = DAY_21;
    sim.targets.expires = DAY_21;
    sim.release(); // all v2
    client.clock.set(DAY_18);
    const result = await client.newUpdater().refresh();
    expect(result).toEqual({ rootVersion: 1, timestampVersion: 2, snapshotChanged: true, targetsVersion: 2 });
    for (const role of ['timestamp', 'snapshot', 'targets']) expect(storedVersion(client, role)).toBe(2);
  });

  it('D2: with an expired local timestamp and an unchanged snapshot, only the timestamp is fetched anew', async () => {
    const sim = new RepositorySimulator();
    sim.timestamp.expires = DAY_7;
    const client = newClient(sim);
    await client.updater.refresh();

    sim.timestamp.expires = DAY_21;
    sim.updateTimestamp(); // v2, same snapshot v1
    client.clock.set(DAY_18);
    const before = sim.fetchLog.length;
    const result = await client.newUpdater().refresh();
    expect(result.timestampVersion).toBe(2);
    expect(result.snapshotChanged).toBe(false);
    expect(sim.fetchLog.slice(before).map((url) => url.split('/').pop())).toEqual(['2.root.json', 'timestamp.json']);
    expect(storedVersion(client, 'timestamp')).toBe(2);
  });

  it('D2: an expired final root is kept and the next refresh walks on from it (B7)', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim);
    sim.root.expires = PAST;
    sim.publishRoot();
    const err = await expectRejected(client, () => client.updater.refresh(), ExpiredMetadataError, 'expired', {
      changed: { root: sim.publishedRoots[1] },
    });
    expect(err.role).toBe('root');

    // A restart: the new updater starts from the stored, expired root v2.
    sim.root.expires = SIM_EXPIRES;
    sim.publishRoot();
    const before = sim.fetchLog.length;
    const result = await client.newUpdater().refresh();
    expect(result.rootVersion).toBe(3);
    expect(sim.fetchLog.slice(before, before + 2).map((url) => url.split('/').pop())).toEqual(['3.root.json', '4.root.json']);
    expect(Object.keys(client.storeSnapshot())).toEqual(['root.json', 'snapshot.json', 'targets.json', 'timestamp.json']);
  });
});
