// Webhook alerts (issue 19, part 5) against real HTTP receivers on loopback: every alert is signed
// (HMAC-SHA256 over timestamp, delivery id and the exact body) and a receiver that checks it refuses
// a wrong secret and a tampered body; a receiver that fails is retried with backoff, each attempt
// recorded; one that never answers times out, one that never stops answering is cut off; a pending
// alert survives a restart of the store.
import { createHmac } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { DatabaseUnavailableError } from '../../shared/core/errors.js';
import { AlertHub, type AlertNotice } from '../../director-repo/alerts/alert-hub.js';
import { AlertMonitor } from '../../director-repo/alerts/alert-monitor.js';
import { backoffMs, DEFAULT_WEBHOOK_OPTIONS, WebhookDelivery, type WebhookOptions } from '../../director-repo/alerts/webhook-delivery.js';
import { verifyWebhook, webhookSignature } from '../../director-repo/alerts/webhook-signature.js';
import { SqliteDirectorStore } from '../../director-repo/store/sqlite/director-store.js';
import { startWebhookReceiver, type ReceivedHook, type WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'a-shared-secret-of-some-length';
const T0 = new Date('2026-06-01T00:00:00Z');

type Received = ReceivedHook;

/** A receiver on loopback (test/support/webhook-receiver.ts) with its own record of requests. */
async function receiver(answer: (n: number, res: ServerResponse) => void): Promise<WebhookReceiver & { received: Received[] }> {
  const received: Received[] = [];
  return { ...(await startWebhookReceiver(received, answer, { path: '/hook' })), received };
}

const dirs: string[] = [];
const stores: SqliteDirectorStore[] = [];
const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function openStore(dir?: string): { store: SqliteDirectorStore; dir: string } {
  const folder = dir ?? mkdtempSync(join(tmpdir(), 'alerts-'));
  if (dir === undefined) dirs.push(folder);
  const store = new SqliteDirectorStore(join(folder, 'director.sqlite'));
  stores.push(store);
  return { store, dir: folder };
}

function webhookOptions(urls: string[], extra: Partial<WebhookOptions> = {}): WebhookOptions {
  return { ...DEFAULT_WEBHOOK_OPTIONS, backoffBaseMs: 1_000, backoffMaxMs: 60_000, timeoutMs: 2_000, ...extra, urls, secret: SECRET };
}

describe('webhook alerts', () => {
  it('POSTs each alert once to every webhook, signed so that the receiver verifies it; a wrong secret or a tampered body fails', async () => {
    const hooks = [await receiver((_n, res) => res.writeHead(204).end()), await receiver((_n, res) => res.writeHead(200).end('ok'))];
    servers.push(...hooks);
    const clock = new FixedClock(T0);
    const { store } = openStore();
    const options = webhookOptions(hooks.map((h) => h.url));
    const hub = new AlertHub(store.alerts, clock, options);
    const told: AlertNotice[] = [];
    hub.subscribe((notice) => told.push(notice));
    expect(await hub.raise('campaign.halted', { campaignId: 7, name: 'ecm-2', reason: 'attacks reported: 1' }, null)).toBe(true);
    expect(told).toEqual([{ event: 'campaign.halted', raisedAt: T0.toISOString(), data: { campaignId: 7, name: 'ecm-2', reason: 'attacks reported: 1' } }]);

    const delivery = new WebhookDelivery(store.alerts, options, clock);
    expect(await delivery.deliverDue()).toBe(2);
    expect(await delivery.deliverDue()).toBe(0); // delivered: never sent again
    for (const hook of hooks) {
      expect(hook.received.length).toBe(1);
      const [{ headers, body }] = hook.received as [Received];
      expect(headers['x-uptane-event']).toBe('campaign.halted');
      expect(JSON.parse(body.toString())).toEqual(told[0]);
      expect(verifyWebhook(SECRET, headers, body, clock.now())).toEqual({ ok: true, event: 'campaign.halted', deliveryId: headers['x-uptane-delivery'] });
      // Attacks on the receiver's check: each must fail, so a check that is removed fails here.
      expect(verifyWebhook('another-secret-of-some-length', headers, body, clock.now())).toEqual({ ok: false, reason: 'signature does not match' });
      const tampered = Buffer.from(body.toString().replace('ecm-2', 'ecm-3'));
      expect(verifyWebhook(SECRET, headers, tampered, clock.now())).toEqual({ ok: false, reason: 'signature does not match' });
      expect(verifyWebhook(SECRET, { ...headers, 'x-uptane-delivery': 'another-id' }, body, clock.now())).toMatchObject({ ok: false });
      // A replay later than the tolerance is refused even with its valid signature.
      expect(verifyWebhook(SECRET, headers, body, new Date(T0.getTime() + 301_000))).toEqual({ ok: false, reason: 'timestamp outside the tolerance (a replay?)' });
      expect(verifyWebhook(SECRET, { ...headers, 'x-uptane-signature': undefined }, body, clock.now())).toEqual({ ok: false, reason: 'missing signature headers' });
    }
    expect(hooks[0]!.received[0]!.headers['x-uptane-delivery']).not.toBe(hooks[1]!.received[0]!.headers['x-uptane-delivery']);
    const [alert] = await store.alerts.recent(10);
    expect(alert!.deliveries.map((d) => [d.state, d.attempts, d.lastStatus])).toEqual([
      ['delivered', 1, 204],
      ['delivered', 1, 200],
    ]);
  });

  it('signs what a receiver can recompute from the documented recipe', () => {
    // README "Expiry and alerts": HMAC-SHA256(secret, `${timestamp}.${deliveryId}.${body}`), hex.
    expect(webhookSignature('k'.repeat(16), 1_780_000_000, 'd-1', '{"event":"x"}')).toBe(
      createHmac('sha256', 'k'.repeat(16)).update('1780000000.d-1.{"event":"x"}').digest('hex'),
    );
  });

  it('retries a receiver that fails twice, with growing waits, and records every attempt', async () => {
    const hook = await receiver((n, res) => (n <= 2 ? res.writeHead(503).end('busy') : res.writeHead(204).end()));
    servers.push(hook);
    const clock = new FixedClock(T0);
    const { store } = openStore();
    const options = webhookOptions([hook.url]);
    await new AlertHub(store.alerts, clock, options).raise('attack.reported', { vin: 'VIN-1', attacks: ['rollback'] }, 'attack:VIN-1');
    // Jitter fixed at its top: waits of 1 s, then 2 s.
    const delivery = new WebhookDelivery(store.alerts, options, clock, () => 1);
    expect(await delivery.deliverDue()).toBe(1);
    expect(await delivery.deliverDue()).toBe(0); // not due yet
    clock.advance(1_000);
    expect(await delivery.deliverDue()).toBe(1);
    clock.advance(1_999);
    expect(await delivery.deliverDue()).toBe(0);
    clock.advance(1);
    expect(await delivery.deliverDue()).toBe(1);
    expect(hook.received.length).toBe(3);
    const deliveryId = String(hook.received[0]!.headers['x-uptane-delivery']);
    expect(hook.received.map((r) => r.headers['x-uptane-delivery'])).toEqual([deliveryId, deliveryId, deliveryId]);
    expect(await store.alerts.attempts(deliveryId)).toEqual([
      { attempt: 1, at: T0.toISOString(), status: 503, error: 'HTTP 503', nextAttemptAt: new Date(T0.getTime() + 1_000).toISOString() },
      { attempt: 2, at: new Date(T0.getTime() + 1_000).toISOString(), status: 503, error: 'HTTP 503', nextAttemptAt: new Date(T0.getTime() + 3_000).toISOString() },
      { attempt: 3, at: new Date(T0.getTime() + 3_000).toISOString(), status: 204, error: null, nextAttemptAt: null },
    ]);
    expect((await store.alerts.recent(1))[0]!.deliveries[0]).toMatchObject({ state: 'delivered', attempts: 3, lastStatus: 204 });
  });

  it('gives up after the last attempt, recorded as failed with the reason', async () => {
    const hook = await receiver((_n, res) => res.writeHead(500).end());
    servers.push(hook);
    const clock = new FixedClock(T0);
    const { store } = openStore();
    const options = webhookOptions([hook.url], { maxAttempts: 2 });
    await new AlertHub(store.alerts, clock, options).raise('vehicle.stale', { count: 3 }, null);
    const delivery = new WebhookDelivery(store.alerts, options, clock, () => 1);
    await delivery.deliverDue();
    clock.advance(60_000);
    await delivery.deliverDue();
    clock.advance(3_600_000);
    expect(await delivery.deliverDue()).toBe(0);
    expect(hook.received.length).toBe(2);
    expect((await store.alerts.recent(1))[0]!.deliveries[0]).toMatchObject({ state: 'failed', attempts: 2, lastStatus: 500, lastError: 'HTTP 500', nextAttemptAt: null });
  });

  it('times out a receiver that never answers, and cuts off one whose answer never ends', async () => {
    const silent = await receiver(() => undefined); // reads the request, never answers
    const endless = await receiver((_n, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    servers.push(silent, endless);
    const clock = new FixedClock(T0);
    const { store } = openStore();
    const options = webhookOptions([silent.url, endless.url], { timeoutMs: 300, maxAnswerBytes: 16 * 1024 });
    await new AlertHub(store.alerts, clock, options).raise('metadata.expiring', { repository: 'image', role: 'targets' }, null);
    await new WebhookDelivery(store.alerts, options, clock, () => 1).deliverDue();
    const [alert] = await store.alerts.recent(1);
    const bySite = new Map(alert!.deliveries.map((d) => [d.url, d]));
    expect(bySite.get(silent.url)).toMatchObject({ state: 'pending', attempts: 1, lastStatus: null, lastError: 'no complete answer within 300 ms' });
    // The status decided; the rest of the answer was never read.
    expect(bySite.get(endless.url)).toMatchObject({ state: 'delivered', attempts: 1, lastStatus: 200, lastError: null });
  });

  it('delivers an alert left pending when the Director stopped, once it is back', async () => {
    const hook = await receiver((_n, res) => res.writeHead(204).end());
    servers.push(hook);
    const port = Number(new URL(hook.url).port);
    await hook.close(); // the receiver is down when the alert is raised
    const clock = new FixedClock(T0);
    const first = openStore();
    const options = webhookOptions([hook.url]);
    await new AlertHub(first.store.alerts, clock, options).raise('campaign.halted', { campaignId: 1 }, null);
    await new WebhookDelivery(first.store.alerts, options, clock, () => 1).deliverDue();
    expect((await first.store.alerts.recent(1))[0]!.deliveries[0]).toMatchObject({ state: 'pending', attempts: 1, lastStatus: null });
    await first.store.close();
    stores.splice(stores.indexOf(first.store), 1);

    // Restarted: a new store on the same file, the receiver back on its port.
    const again = openStore(first.dir);
    const back = createServer((req, res) => {
      hook.received.push({ headers: req.headers, body: Buffer.alloc(0) });
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => back.listen(port, '127.0.0.1', resolve));
    servers.push({ close: () => new Promise<void>((resolve) => back.close(() => resolve())) });
    clock.advance(1_000);
    expect(await new WebhookDelivery(again.store.alerts, options, clock, () => 1).deliverDue()).toBe(1);
    expect(hook.received.length).toBe(1);
    expect((await again.store.alerts.recent(1))[0]!.deliveries[0]).toMatchObject({ state: 'delivered', attempts: 2, lastStatus: 204 });
  });

  it('records an alert once per dedupe key, and tells subscribers only the new ones', async () => {
    const clock = new FixedClock(T0);
    const { store } = openStore();
    const hub = new AlertHub(store.alerts, clock, undefined);
    const told: string[] = [];
    hub.subscribe((n) => told.push(n.event));
    expect(await hub.raise('metadata.expired', { role: 'root' }, 'expiry:director:root:v1:expired')).toBe(true);
    expect(await hub.raise('metadata.expired', { role: 'root' }, 'expiry:director:root:v1:expired')).toBe(false);
    expect(told).toEqual(['metadata.expired']);
    expect((await store.alerts.recent(10)).map((a) => [a.event, a.deliveries.length])).toEqual([['metadata.expired', 0]]);
  });

  it('raises database errors at most once per interval, sent straight to the webhooks when the outbox cannot be written', async () => {
    const hook = await receiver((_n, res) => res.writeHead(204).end());
    servers.push(hook);
    const clock = new FixedClock(T0);
    const { store } = openStore();
    const options = webhookOptions([hook.url]);
    const hub = new AlertHub(store.alerts, clock, options);
    await hub.databaseError(new DatabaseUnavailableError('connection refused', 5));
    await hub.databaseError(new DatabaseUnavailableError('connection refused', 5));
    expect((await store.alerts.recent(10)).map((a) => a.event)).toEqual(['database.error']);
    // The database itself is gone: the outbox refuses, the alert goes out unrecorded.
    const broken = new AlertHub(
      {
        ...store.alerts,
        enqueue: () => Promise.reject(new DatabaseUnavailableError('the database is unreachable', 5)),
      },
      clock,
      options,
    );
    await broken.databaseError(new DatabaseUnavailableError('the database is unreachable', 5));
    expect(hook.received.length).toBe(1);
    expect(verifyWebhook(SECRET, hook.received[0]!.headers, hook.received[0]!.body, clock.now())).toMatchObject({ ok: true, event: 'database.error' });
    expect(JSON.parse(hook.received[0]!.body.toString())).toMatchObject({ data: { message: 'the database is unreachable', errorsSinceLastAlert: 1 } });
  });

  it('waits twice as long after each failure, up to the cap, half of each wait random', () => {
    const o = { backoffBaseMs: 1_000, backoffMaxMs: 10_000 };
    expect([1, 2, 3, 4, 5].map((a) => backoffMs(a, o, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000]);
    expect([1, 2, 3].map((a) => backoffMs(a, o, () => 0))).toEqual([500, 1_000, 2_000]);
  });
});

describe('the alert timer (alert-monitor.ts)', () => {
  it('counts stale vehicles at most once per period and alerts once a day, again when their number doubles', async () => {
    const clock = new FixedClock(T0);
    const { store } = openStore();
    const hub = new AlertHub(store.alerts, clock, undefined);
    const noRoles = async () => ({ warningDays: 30, onlineWarningHours: 6, checkedAt: '', roles: [], perVehicle: [] });
    const monitor = new AlertMonitor(hub, noRoles, store.alerts, clock, { staleAfterMs: 3_600_000, staleCheckMs: 600_000 });
    const register = async (vin: string) => {
      await store.inventory.insertVehicle(vin, {}, clock.now());
      await store.inventory.insertEcu({ serial: `${vin}-p`, vin, hardwareId: 'hw', publicKey: `pub-${vin}`, keyid: `key-${vin}`, isPrimary: true }, clock.now());
    };
    await register('VIN-A');
    clock.advance(2 * 3_600_000);
    expect(await monitor.round()).toEqual(['vehicle.stale']);
    clock.advance(60_000);
    await register('VIN-B');
    clock.advance(2 * 3_600_000);
    expect(await monitor.round()).toEqual(['vehicle.stale']); // 2 stale: the next power of two
    clock.advance(600_000);
    expect(await monitor.round()).toEqual([]); // still 2, same day
    await register('VIN-C');
    clock.advance(60_000);
    expect(await monitor.round()).toEqual([]); // counted less than a period ago
    const stale = (await store.alerts.recent(10)).map((a) => JSON.parse(a.body).data as { count: number; sample: string[] });
    expect(stale.map((d) => d.count)).toEqual([2, 1]);
    expect(stale[0]!.sample).toEqual(['VIN-A', 'VIN-B']);
  });
});
