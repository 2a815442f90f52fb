// What keeps /metrics cheap at a million vehicles, checked without timing anything (docs/code-style.md
// R15): the fleet counts read only active assignments, through their partial index (the query plan
// on the Director's real SQLite schema says so), and a count is computed once however many scrapes
// ask for it at once, then reused until its time to live has passed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIGRATIONS } from '../../director-repo/store/sqlite/schema.js';
import { FLEET_COUNT_SQL } from '../../director-repo/store/sqlite/inventory.js';
import { openDatabase } from '../../shared/server/sqlite.js';
import { CachedValue } from '../../shared/server/metrics.js';

test('the fleet counts scan only the partial index of active assignments, never the whole table', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uptane-obs-plan-'));
  const db = openDatabase(join(dir, 'director.sqlite'), MIGRATIONS);
  try {
    for (const sql of Object.values(FLEET_COUNT_SQL)) {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((row) => row.detail);
      expect(plan.some((step) => step.includes('USING INDEX one_active_assignment_per_ecu'))).toBe(true);
      expect(plan.filter((step) => /^SCAN assignments(?! USING INDEX one_active_assignment_per_ecu)/.test(step))).toEqual([]);
    }
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cached count is computed once for many concurrent scrapes, and again only after its time to live', async () => {
  let computed = 0;
  let release: () => void = () => undefined;
  const cached = new CachedValue(async () => {
    computed++;
    await new Promise<void>((resolve) => (release = resolve));
    return computed;
  }, 60_000);
  const scrapes = Array.from({ length: 50 }, () => cached.get());
  release();
  expect(await Promise.all(scrapes)).toEqual(Array(50).fill(1));
  expect(await cached.get()).toBe(1);
  expect(computed).toBe(1);

  const expiring = new CachedValue(async () => ++computed, 0);
  await expiring.get();
  await expiring.get();
  expect(computed).toBe(3);
});

test('a scrape waits a bounded time for a slow count, then answers with what it had', async () => {
  let finish: (n: number) => void = () => undefined;
  const slow = new CachedValue(() => new Promise<number>((resolve) => (finish = resolve)), 60_000, 10);
  expect(await slow.get()).toBeUndefined(); // nothing yet, and the scrape was not held for the query
  finish(42);
  await new Promise((resolve) => setImmediate(resolve));
  expect(await slow.get()).toBe(42);
});
