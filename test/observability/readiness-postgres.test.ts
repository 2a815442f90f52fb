// GET /readyz against a real PostgreSQL that goes away and comes back: the servers' schema is renamed
// under them (every query then fails, as after a dropped schema or a restore gone wrong), /readyz
// answers 503 with a typed error and Retry-After while /healthz still says the process lives, and
// once the schema is back /readyz is 200 again. The pool's counts are in /metrics meanwhile.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import { FIXTURE_NOW } from '../../sim/harness/fleet-fixtures.js';
import { startReplicas, type ReplicaSet } from '../replicas/replica-harness.js';
import { adminQuery, describePostgres, dropSchemas, uniqueSchema, urlWithSchema } from '../support/postgres.js';

async function readiness(url: string): Promise<{ status: number; retryAfter: string | null; body: { status?: string; error?: { code: string; message: string; requestId: string } } }> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as never };
}

/** Renames `schema` away for the length of `during`, then back, whatever `during` does. */
async function withSchemaAway(schema: string, during: () => Promise<void>): Promise<void> {
  await adminQuery(`ALTER SCHEMA "${schema}" RENAME TO "${schema}_away"`);
  try {
    await during();
  } finally {
    await adminQuery(`ALTER SCHEMA "${schema}_away" RENAME TO "${schema}"`);
  }
}

describePostgres('/readyz on PostgreSQL', () => {
  const imageSchema = uniqueSchema('obs_ready_image');
  const dataDir = mkdtempSync(join(tmpdir(), 'uptane-obs-ready-'));
  let image: RunningImageServer;
  let directors: ReplicaSet;
  let directorUrl: string;

  beforeAll(async () => {
    image = await startImageServer({ dataDir, database: urlWithSchema(imageSchema), clock: new FixedClock(FIXTURE_NOW) });
    const started = await startReplicas('obs_ready_director', 1);
    directors = started.set;
    directorUrl = started.replicas[0]!.url;
  }, 60_000);

  afterAll(async () => {
    await image?.close();
    await directors?.close();
    await dropSchemas([imageSchema]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the Image repository: 200, then 503 not_ready with Retry-After while its schema is away, then 200 again', async () => {
    expect(await readiness(image.url)).toMatchObject({ status: 200, body: { status: 'ready' } });
    await withSchemaAway(imageSchema, async () => {
      const away = await readiness(image.url);
      expect(away.status).toBe(503);
      expect(away.retryAfter).toMatch(/^\d+$/);
      expect(away.body.error).toMatchObject({ code: 'not_ready', message: expect.stringContaining('database') });
      expect(away.body.error!.requestId).toMatch(/^[A-Za-z0-9_-]{8,}$/);
      // The process itself is fine: a liveness probe must not restart it for its database.
      expect((await fetch(`${image.url}/healthz`)).status).toBe(200);
    });
    expect(await readiness(image.url)).toMatchObject({ status: 200, body: { status: 'ready' } });
    const metrics = await (await fetch(`${image.url}/metrics`)).text();
    expect(metrics).toMatch(/^uptane_db_pool_connections\{state="total"\} [1-9]/m);
    expect(metrics).toMatch(/^uptane_db_pool_connections\{state="waiting"\} \d+$/m);
  });

  test('the Director: the same on its own schema', async () => {
    expect(await readiness(directorUrl)).toMatchObject({ status: 200, body: { status: 'ready' } });
    await withSchemaAway(directors.schema, async () => {
      const away = await readiness(directorUrl);
      expect(away.status).toBe(503);
      expect(away.body.error).toMatchObject({ code: 'not_ready' });
      expect(away.retryAfter).toMatch(/^\d+$/);
    });
    expect(await readiness(directorUrl)).toMatchObject({ status: 200, body: { status: 'ready' } });
  });
});
