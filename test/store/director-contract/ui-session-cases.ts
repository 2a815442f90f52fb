// Signed-out dashboard sessions (director-repo/store/ui-sessions.ts): a revocation is found by its
// session id, recorded once however often it is sent, and pruned, a batch at a time, once its cookie
// has expired, so the table holds no more than the sessions signed out within a cookie's lifetime.
import type { ContractContext } from './context.js';
import { at } from './fixtures.js';

export function uiSessionCases({ fresh }: ContractContext): void {
  it('finds a signed-out session by id, once however often it is revoked', async () => {
    const store = await fresh();
    expect(await store.uiSessions.isRevoked('session-a')).toBe(false);
    await store.uiSessions.revoke('session-a', at(480), at(0), 100);
    await store.uiSessions.revoke('session-a', at(480), at(1), 100);
    expect(await store.uiSessions.isRevoked('session-a')).toBe(true);
    expect(await store.uiSessions.isRevoked('session-b')).toBe(false);
    expect(await store.uiSessions.count()).toBe(1);
  });

  it('prunes up to the batch of expired revocations, oldest first, before recording a new one', async () => {
    const store = await fresh();
    for (let i = 0; i < 5; i++) await store.uiSessions.revoke(`old-${i}`, at(10 + i), at(0), 100);
    await store.uiSessions.revoke('live', at(500), at(0), 100);
    // At minute 100 every old one has expired; a batch of 3 takes the three oldest.
    await store.uiSessions.revoke('new', at(600), at(100), 3);
    expect(await store.uiSessions.count()).toBe(4);
    expect(await Promise.all(['old-0', 'old-1', 'old-2', 'old-3', 'old-4', 'live', 'new'].map((id) => store.uiSessions.isRevoked(id)))).toEqual([false, false, false, true, true, true, true]);
    await store.uiSessions.revoke('newer', at(600), at(100), 100);
    expect(await store.uiSessions.count()).toBe(3);
  });
}
