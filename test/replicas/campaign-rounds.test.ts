// Campaign rounds with replicas of the Director on one database: exactly one replica runs them (the
// holder of the lease, shared/server/postgres-lease.ts), and when it goes, closed or cut off from
// the database, another takes over within a bounded time. Real servers; rounds every 50 ms.
import type { RunningDirector } from '../../director-repo/server.js';
import { adminQuery, describePostgres } from '../support/postgres.js';
import { eventually, startReplicas, type ReplicaSet } from './replica-harness.js';

const TICK_MS = 50;
let set: ReplicaSet | undefined;

afterEach(async () => {
  await set?.close();
  set = undefined;
});

const rounds = (replicas: readonly RunningDirector[]) => replicas.map((replica) => replica.campaignRoundsRun());

/** Which replicas ran rounds during a window of `ms` (after `settleMs`, for a check already running to finish). */
async function runningDuring(replicas: readonly RunningDirector[], ms: number, settleMs = 3 * TICK_MS): Promise<boolean[]> {
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const before = rounds(replicas);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return rounds(replicas).map((count, i) => count > before[i]!);
}

describePostgres('campaign rounds on replicas', () => {
  it('run on exactly one of three replicas', async () => {
    const started = await startReplicas('replica_rounds', 3, { campaignTickMs: TICK_MS });
    set = started.set;
    const running = await runningDuring(started.replicas, 20 * TICK_MS);
    expect(running.filter(Boolean)).toHaveLength(1);
  });

  it('move to another replica within a bounded time when the one running them closes', async () => {
    const started = await startReplicas('replica_failover', 2, { campaignTickMs: TICK_MS });
    set = started.set;
    await eventually(() => rounds(started.replicas).some((count) => count > 0), 5_000, 'a first round');
    const leader = started.replicas.find((replica) => replica.campaignRoundsRun() > 0)!;
    const other = started.replicas.find((replica) => replica !== leader)!;
    const otherBefore = other.campaignRoundsRun();
    const closedAt = Date.now();
    await leader.close();
    await eventually(() => other.campaignRoundsRun() > otherBefore, 5_000, 'the other replica taking over');
    // A round period, plus the time PostgreSQL takes to see the session end.
    expect(Date.now() - closedAt).toBeLessThan(2_000);
  });

  it('stop on a replica whose lease session PostgreSQL ended, and run on one replica after', async () => {
    const started = await startReplicas('replica_cutoff', 2, { campaignTickMs: TICK_MS });
    set = started.set;
    await eventually(() => rounds(started.replicas).some((count) => count > 0), 5_000, 'a first round');
    // The leader's session ends as when its host vanishes and the keepalives give up on it.
    // The holder: the session granted this schema's lease (the two-key advisory lock, keys as oids).
    const ended = await adminQuery<{ ended: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ended FROM pg_locks
       WHERE locktype = 'advisory' AND granted AND objsubid = 2
         AND classid::bigint = (hashtext('uptane-lease')::bigint & 4294967295) AND objid::bigint = (hashtext($1)::bigint & 4294967295)`,
      [`${set.schema}:campaign-rounds`],
    );
    expect(ended).toEqual([{ ended: true }]);
    // Whichever replica takes the lease next, rounds go on, on one replica at a time.
    for (let window = 0; window < 3; window++) {
      const running = await runningDuring(started.replicas, 10 * TICK_MS);
      expect(running.filter(Boolean)).toHaveLength(1);
    }
  });
});
