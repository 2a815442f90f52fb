// The audit log (newest first, naming the operator token), operator tokens through their lifecycle
// (docs/threat-model.md HR-10) and signed-request marks, which never go down (HR-9a).
import { ConflictError } from '../../../shared/core/errors.js';
import { tokenIdOf } from '../../../shared/server/access-tokens.js';
import { runWithToken } from '../../../director-repo/token-context.js';
import type { ContractContext } from './context.js';
import { T0, at, iso } from './fixtures.js';

const TOKEN_A = 'a'.repeat(64);
const TOKEN_B = 'b'.repeat(64);
const TOKEN_C = 'c'.repeat(64);

export function accessCases({ fresh }: ContractContext): void {
  it('lists audit entries newest first up to the limit, with their details and token id', async () => {
    const store = await fresh();
    expect(await store.auditLog.entries(10)).toEqual([]);
    await store.auditLog.record('alice', 'assign', { vin: 'VIN-A', ids: [1, 2] }, at(1), 'tok-explicit');
    await store.auditLog.record('bob', 'cancel', 'plain text', at(2));
    await store.auditLog.record('carol', 'noop', null, at(3), null);
    expect(await store.auditLog.entries(10)).toEqual([
      { at: iso(3), actor: 'carol', tokenId: null, action: 'noop', details: null },
      { at: iso(2), actor: 'bob', tokenId: null, action: 'cancel', details: 'plain text' },
      { at: iso(1), actor: 'alice', tokenId: 'tok-explicit', action: 'assign', details: { vin: 'VIN-A', ids: [1, 2] } },
    ]);
    expect((await store.auditLog.entries(1)).map((e) => e.actor)).toEqual(['carol']);
    expect(await store.auditLog.entries(0)).toEqual([]);
  });

  it('names the token of the operator request being served unless one is given (token-context.ts)', async () => {
    const store = await fresh();
    await runWithToken('0123456789ab', async () => {
      await store.auditLog.record('alice', 'in-request', {}, at(1));
      await store.auditLog.record('alice', 'explicit-null', {}, at(2), null);
      await store.unitOfWork((tx) => tx.auditLog.record('alice', 'in-unit', {}, at(3)));
    });
    await store.auditLog.record('cli', 'outside', {}, at(4));
    await store.audit('cli', 'token-change', { name: 'alice' }, at(5));
    expect((await store.auditLog.entries(10)).map((e) => [e.action, e.tokenId])).toEqual([
      ['token-change', null],
      ['outside', null],
      ['in-unit', '0123456789ab'],
      ['explicit-null', null],
      ['in-request', '0123456789ab'],
    ]);
    expect((await store.auditLog.entries(1))[0]).toEqual({ at: iso(5), actor: 'cli', tokenId: null, action: 'token-change', details: { name: 'alice' } });
  });

  it('stores operator tokens by digest: admin and never expiring by default, found by the token only', async () => {
    const store = await fresh();
    const id = await store.addOperator('alice', TOKEN_A, at(1));
    expect(id).toBe(tokenIdOf(TOKEN_A));
    const expires = at(60 * 24);
    const idB = await store.addOperator('bot', TOKEN_B, at(2), { scope: 'read', expiresAt: expires });
    expect(await store.operatorToken(TOKEN_A)).toEqual({ tokenId: id, name: 'alice', scope: 'admin', createdAt: iso(1), expiresAt: null, revokedAt: null });
    expect(await store.operatorToken(TOKEN_B)).toEqual({ tokenId: idB, name: 'bot', scope: 'read', createdAt: iso(2), expiresAt: expires.toISOString(), revokedAt: null });
    expect(await store.operatorToken(TOKEN_C)).toBeUndefined();
    // The token id is public; it is not a token.
    expect(await store.operatorToken(id)).toBeUndefined();
  });

  it('refuses a second live token for a name with ConflictError; after revocation or expiry one may be added', async () => {
    const store = await fresh();
    const first = await store.addOperator('alice', TOKEN_A, at(1));
    await expect(store.addOperator('alice', TOKEN_B, at(2))).rejects.toThrow(ConflictError);
    expect(await store.operatorToken(TOKEN_B)).toBeUndefined();
    expect(await store.revokeOperatorToken(first, at(3))).toBe(true);
    expect(await store.revokeOperatorToken(first, at(4))).toBe(false);
    expect(await store.revokeOperatorToken('000000000000', at(4))).toBe(false);
    expect((await store.operatorToken(TOKEN_A))?.revokedAt).toBe(iso(3));
    await store.addOperator('alice', TOKEN_B, at(5), { scope: 'operator', expiresAt: at(6) });
    // Expired at minute 6: at minute 7 the name is free again.
    await expect(store.addOperator('alice', TOKEN_C, at(5))).rejects.toThrow(ConflictError);
    await store.addOperator('alice', TOKEN_C, at(7));
    expect((await store.operatorTokens()).map((t) => [t.tokenId, t.scope, t.revokedAt])).toEqual([
      [tokenIdOf(TOKEN_A), 'admin', iso(3)],
      [tokenIdOf(TOKEN_B), 'operator', null],
      [tokenIdOf(TOKEN_C), 'admin', null],
    ]);
  });

  it('lists every token oldest first, and revokes all of a name’s live tokens at once', async () => {
    const store = await fresh();
    expect(await store.operatorTokens()).toEqual([]);
    await store.addOperator('zed', TOKEN_A, at(1));
    await store.addOperator('amy', TOKEN_B, at(2));
    expect((await store.operatorTokens()).map((t) => t.name)).toEqual(['zed', 'amy']);
    await store.revokeOperatorToken(tokenIdOf(TOKEN_A), at(3));
    await store.addOperator('zed', TOKEN_C, at(4));
    expect(await store.removeOperator('zed', at(5))).toEqual([tokenIdOf(TOKEN_C)]);
    expect(await store.removeOperator('zed', at(6))).toEqual([]);
    expect(await store.removeOperator('nobody', at(6))).toEqual([]);
    const tokens = await store.operatorTokens();
    expect(tokens.map((t) => [t.name, t.revokedAt])).toEqual([
      ['zed', iso(3)],
      ['amy', null],
      ['zed', iso(5)],
    ]);
  });

  it('keeps each key’s newest signed-request time, which never goes down', async () => {
    const store = await fresh();
    const marks = store.signedRequestMarks;
    expect(await marks.newest('key-a')).toBeUndefined();
    await marks.record('key-a', T0.getTime());
    expect(await marks.newest('key-a')).toBe(T0.getTime());
    await marks.record('key-a', at(-5).getTime());
    expect(await marks.newest('key-a')).toBe(T0.getTime());
    await marks.record('key-a', at(2).getTime());
    expect(await marks.newest('key-a')).toBe(at(2).getTime());
    expect(await marks.newest('key-b')).toBeUndefined();
    // Writers racing in any order leave the largest.
    const times = [7, 3, 9, 1, 8, 2].map((m) => at(m).getTime());
    await Promise.all(times.map((t) => marks.record('key-b', t)));
    expect(await marks.newest('key-b')).toBe(at(9).getTime());
    expect(await marks.newest('key-a')).toBe(at(2).getTime());
  });
}
