// The alerts outbox (director-repo/store/alerts.ts): stored once per dedupe key, claimed by one
// holder at a time until its lease ends, moved on by each attempt's outcome, and kept across a
// reopen (a restarted Director delivers what was pending).
import type { NewAlert } from '../../../director-repo/store/alerts.js';
import type { ContractContext } from './context.js';
import { T0, at, iso, registerVehicle } from './fixtures.js';

function alert(dedupeKey: string | null, minutes: number, urls = ['http://127.0.0.1:1/a', 'http://127.0.0.1:1/b']): NewAlert {
  return {
    event: 'attack.reported',
    dedupeKey,
    body: JSON.stringify({ event: 'attack.reported', key: dedupeKey, text: 'é \u2028 <script>' }),
    createdAt: at(minutes),
    deliveries: urls.map((url, i) => ({ url, deliveryId: `${dedupeKey ?? 'none'}-${minutes}-${i}` })),
  };
}

export function alertCases({ fresh, open, backend }: ContractContext): void {
  it('stores an alert once per dedupe key, always when it has none, with one pending delivery per webhook', async () => {
    const store = await fresh();
    const first = await store.alerts.enqueue(alert('k1', 0));
    expect(first).toEqual(expect.any(Number));
    expect(await store.alerts.enqueue(alert('k1', 1))).toBeUndefined();
    expect(await store.alerts.enqueue(alert(null, 2))).toEqual(expect.any(Number));
    expect(await store.alerts.enqueue(alert(null, 3))).toEqual(expect.any(Number));
    const recent = await store.alerts.recent(10);
    expect(recent.map((a) => a.createdAt)).toEqual([iso(3), iso(2), iso(0)]);
    expect(recent[2]!.body).toBe(alert('k1', 0).body);
    expect(recent[2]!.deliveries).toEqual([
      { deliveryId: 'k1-0-0', url: 'http://127.0.0.1:1/a', state: 'pending', attempts: 0, lastStatus: null, lastError: null, nextAttemptAt: iso(0), deliveredAt: null },
      { deliveryId: 'k1-0-1', url: 'http://127.0.0.1:1/b', state: 'pending', attempts: 0, lastStatus: null, lastError: null, nextAttemptAt: iso(0), deliveredAt: null },
    ]);
    expect((await store.alerts.recent(1)).length).toBe(1);
  });

  it('claims due deliveries once until the claim runs out, oldest first, up to the limit', async () => {
    const store = await fresh();
    await store.alerts.enqueue(alert('a', 0));
    await store.alerts.enqueue(alert('b', 5));
    expect(await store.alerts.claimDue(at(-1), at(10), 10)).toEqual([]); // not due yet
    const claimed = await store.alerts.claimDue(at(1), at(10), 10);
    expect(claimed.map((c) => c.deliveryId)).toEqual(['a-0-0', 'a-0-1']);
    expect(claimed[0]).toMatchObject({ event: 'attack.reported', url: 'http://127.0.0.1:1/a', body: alert('a', 0).body, attempts: 0 });
    expect(await store.alerts.claimDue(at(6), at(10), 1)).toEqual([expect.objectContaining({ deliveryId: 'b-5-0' })]);
    expect((await store.alerts.claimDue(at(6), at(10), 10)).map((c) => c.deliveryId)).toEqual(['b-5-1']);
    expect(await store.alerts.claimDue(at(9), at(20), 10)).toEqual([]);
    // A holder that died: its claims come back once they run out.
    expect((await store.alerts.claimDue(at(10), at(20), 10)).length).toBe(4);
  });

  it('records each attempt: retried when due again, delivered, or failed when attempts are used up', async () => {
    const store = await fresh();
    await store.alerts.enqueue(alert('r', 0, ['http://127.0.0.1:1/only']));
    const [d] = await store.alerts.claimDue(at(0), at(1), 10);
    await store.alerts.recordAttempt(d!.id, { at: at(0), status: 500, error: 'HTTP 500', delivered: false, nextAttemptAt: at(2) });
    expect(await store.alerts.claimDue(at(1), at(3), 10)).toEqual([]);
    const [again] = await store.alerts.claimDue(at(2), at(3), 10);
    expect(again!.attempts).toBe(1);
    await store.alerts.recordAttempt(again!.id, { at: at(2), status: 204, error: null, delivered: true, nextAttemptAt: null });
    expect(await store.alerts.claimDue(at(100), at(101), 10)).toEqual([]);
    expect((await store.alerts.recent(1))[0]!.deliveries[0]).toEqual({
      deliveryId: 'r-0-0',
      url: 'http://127.0.0.1:1/only',
      state: 'delivered',
      attempts: 2,
      lastStatus: 204,
      lastError: null,
      nextAttemptAt: null,
      deliveredAt: iso(2),
    });
    expect(await store.alerts.attempts('r-0-0')).toEqual([
      { attempt: 1, at: iso(0), status: 500, error: 'HTTP 500', nextAttemptAt: iso(2) },
      { attempt: 2, at: iso(2), status: 204, error: null, nextAttemptAt: null },
    ]);

    await store.alerts.enqueue(alert('f', 0, ['http://127.0.0.1:1/gone']));
    const [f] = await store.alerts.claimDue(at(0), at(1), 10);
    await store.alerts.recordAttempt(f!.id, { at: at(0), status: null, error: 'timed out', delivered: false, nextAttemptAt: null });
    expect((await store.alerts.recent(1))[0]!.deliveries[0]).toMatchObject({ state: 'failed', attempts: 1, lastStatus: null, lastError: 'timed out', nextAttemptAt: null });
    expect(await store.alerts.claimDue(at(100), at(101), 10)).toEqual([]);
  });

  it('keeps pending alerts across a reopen, and two stores on one place never claim the same delivery', async () => {
    const place = backend.place();
    const first = await open(place);
    await first.store.alerts.enqueue(alert('p', 0));
    await first.close();
    const a = await open(place);
    const b = await open(place);
    const [fromA, fromB] = await Promise.all([a.store.alerts.claimDue(at(1), at(5), 1), b.store.alerts.claimDue(at(1), at(5), 1)]);
    const ids = [...fromA, ...fromB].map((c) => c.deliveryId).sort();
    expect(ids).toEqual(['p-0-0', 'p-0-1']);
  });

  it('prunes alerts raised before a time whose deliveries are all finished, oldest first, up to the limit; a pending one is kept however old', async () => {
    const store = await fresh();
    const finish = async (key: string, minutes: number, outcome: 'delivered' | 'failed' | 'pending') => {
      await store.alerts.enqueue(alert(key, minutes, ['http://127.0.0.1:1/only']));
      if (outcome === 'pending') return;
      const [d] = (await store.alerts.claimDue(at(minutes), at(minutes + 1), 100)).filter((c) => c.deliveryId.startsWith(`${key}-`));
      await store.alerts.recordAttempt(d!.id, { at: at(minutes), status: outcome === 'delivered' ? 204 : 500, error: outcome === 'delivered' ? null : 'HTTP 500', delivered: outcome === 'delivered', nextAttemptAt: null });
    };
    await finish('old-delivered-1', 0, 'delivered');
    await finish('old-failed', 1, 'failed');
    await finish('old-pending', 2, 'pending');
    await finish('old-delivered-2', 3, 'delivered');
    await store.alerts.enqueue({ ...alert('old-no-webhooks', 4, []) }); // recorded only: nothing to deliver
    await finish('new-delivered', 20, 'delivered');
    const keys = async () => (await store.alerts.recent(100)).map((a) => JSON.parse(a.body).key as string).sort();

    expect(await store.alerts.pruneFinished(at(10), 2)).toBe(2); // the limit holds
    expect(await keys()).toEqual(['new-delivered', 'old-delivered-2', 'old-no-webhooks', 'old-pending']);
    expect(await store.alerts.pruneFinished(at(10), 100)).toBe(2);
    expect(await keys()).toEqual(['new-delivered', 'old-pending']);
    expect(await store.alerts.pruneFinished(at(10), 100)).toBe(0);
    // Deliveries and attempts went with their alerts.
    expect(await store.alerts.attempts('old-delivered-1-0-0')).toEqual([]);
    expect(await store.alerts.claimDue(at(30), at(31), 100)).toEqual([expect.objectContaining({ deliveryId: 'old-pending-2-0' })]);
  });

  it('counts vehicles whose primary has not reported since a time (never reported: since registration), with a sample of VINs', async () => {
    const store = await fresh();
    expect(await store.alerts.staleVehicles(at(100), 5)).toEqual({ count: 0, sample: [] });
    for (const vin of ['VIN-C', 'VIN-A', 'VIN-B']) await registerVehicle(store, vin);
    // Registered at T0 and silent since: all stale after T0, none before.
    expect(await store.alerts.staleVehicles(T0, 5)).toEqual({ count: 0, sample: [] });
    expect(await store.alerts.staleVehicles(at(10), 2)).toEqual({ count: 3, sample: ['VIN-A', 'VIN-B'] });
    await store.inventory.recordEcuReport('VIN-A-p', { counter: 1, filename: 'f', length: 1, hashes: { sha256: 'a'.repeat(64) }, releaseCounter: null }, at(20));
    // A secondary reporting does not make its vehicle fresh: the primary sends the manifest.
    await store.inventory.recordEcuReport('VIN-B-s', { counter: 1, filename: 'f', length: 1, hashes: { sha256: 'a'.repeat(64) }, releaseCounter: null }, at(20));
    expect(await store.alerts.staleVehicles(at(10), 5)).toEqual({ count: 2, sample: ['VIN-B', 'VIN-C'] });
    expect(await store.alerts.staleVehicles(at(30), 5)).toEqual({ count: 3, sample: ['VIN-A', 'VIN-B', 'VIN-C'] });
  });
}
