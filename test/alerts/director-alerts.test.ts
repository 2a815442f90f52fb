// The Director's alerts end to end, with the real Director and Image repository on loopback and a
// webhook receiver that checks signatures: a manifest reporting an attack raises exactly one
// attack alert, and the campaign it halts one campaign alert; the expiry guardian's endpoint lists
// every role of both repositories to a read-only token; a restart keeps a pending alert.
import { FixedClock } from '../../shared/core/clock.js';
import { verifyWebhook } from '../../director-repo/alerts/webhook-signature.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';
import { buildCli, runCli } from '../support/cli-runner.js';
import { startWebhookReceiver, type ReceivedHook } from '../support/webhook-receiver.js';

const SECRET = 'the-webhook-secret-for-tests';
const ENGINE_V2 = { name: 'engine/ecm-2.0.bin', content: Buffer.from('engine ecu v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const READ_TOKEN = 'r'.repeat(40);

let clock: FixedClock;
let repos: Repositories;
let car: TestVehicle;
const received: ReceivedHook[] = [];
let receiverClose: () => Promise<void>;

beforeEach(async () => {
  received.length = 0;
  const receiver = await startWebhookReceiver(received);
  receiverClose = receiver.close;
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'alerts', {
    // Offline roles 20 days from expiry: inside the 30-day window.
    expires: '2026-06-21T00:00:00Z',
    alerts: {
      webhooks: [receiver.url],
      webhookSecret: SECRET,
      // The test runs the rounds itself.
      checkIntervalMs: 3_600_000,
      deliveryIntervalMs: 3_600_000,
    },
  });
  await repos.publishImages([ENGINE_V2]);
  car = new TestVehicle('VIN0000000000042', [{ serial: 'tcu-1', hardwareId: 'tcu-a', primary: true }, { serial: 'ecm-1', hardwareId: 'ecm-x1' }], clock);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  await repos.director.storage.addOperator('dashboard', READ_TOKEN, clock.now(), { scope: 'read' });
});

afterEach(async () => {
  car.cleanup();
  await repos.close();
  await receiverClose();
});

const events = async () => (await repos.director.storage.alerts.recent(100)).map((a) => a.event).sort();

describe('Director alerts', () => {
  it('raises one attack alert for a manifest reporting an attack, and one for the campaign it halts, each delivered signed', async () => {
    expect((await repos.operator('POST', '/api/v1/groups', { name: 'one', vins: [car.vin] })).status).toBe(201);
    expect((await repos.operator('POST', '/api/v1/campaigns', { name: 'ecm-2', group: 'one', images: [{ hardwareId: 'ecm-x1', image: ENGINE_V2.name }], stages: [{ share: 1 }] })).status).toBe(201);
    expect((await repos.operator('POST', '/api/v1/campaigns/ecm-2/start')).status).toBe(200);
    const before = (await events()).length; // the expiry round at start may have raised some

    const attack = { code: 'hash_mismatch', message: 'image <script>x</script> did not match its signed hashes' };
    const manifest = car.manifest({ 'tcu-1': car.report(car.ecu('tcu-1')), 'ecm-1': car.report(car.ecu('ecm-1'), { attacks: [attack] }) });
    const told: string[] = [];
    const bothTold = new Promise<void>((resolve) => {
      const stop = repos.director.alerts.hub.subscribe((notice) => {
        told.push(notice.event);
        if (told.includes('attack.reported') && told.includes('campaign.halted')) {
          stop();
          resolve();
        }
      });
    });
    expect((await car.sendManifest(repos.director.url, manifest)).status).toBe(200);
    await bothTold;
    const recent = await repos.director.storage.alerts.recent(100);
    const attacks = recent.filter((a) => a.event === 'attack.reported');
    const halts = recent.filter((a) => a.event === 'campaign.halted');
    expect(attacks.length).toBe(1);
    expect(halts.length).toBe(1);
    expect(recent.length).toBe(before + 2);
    expect(JSON.parse(attacks[0]!.body).data).toEqual({ vin: car.vin, attacks: ['hash_mismatch'] });
    expect(JSON.parse(halts[0]!.body).data).toMatchObject({ name: 'ecm-2', stage: 1, reason: expect.stringContaining('security signal') });

    // The same attack in the next cycle is the same news: not raised again within the hour.
    clock.advance(1_000);
    const again = car.manifest({ 'tcu-1': car.report(car.ecu('tcu-1')), 'ecm-1': car.report(car.ecu('ecm-1'), { attacks: [attack] }) });
    expect((await car.sendManifest(repos.director.url, again)).status).toBe(200);
    // The outbox's writes run in order: once this one is stored, any raised for that manifest is too.
    await repos.director.alerts.hub.raise('vehicle.stale', { marker: true }, 'test-marker');
    expect((await repos.director.storage.alerts.recent(100)).filter((a) => a.event === 'attack.reported').length).toBe(1);

    await repos.director.alerts.deliverNow();
    const delivered = received.filter((r) => r.headers['x-uptane-event'] === 'attack.reported' || r.headers['x-uptane-event'] === 'campaign.halted');
    expect(delivered.map((r) => r.headers['x-uptane-event']).sort()).toEqual(['attack.reported', 'campaign.halted']);
    for (const r of delivered) expect(verifyWebhook(SECRET, r.headers, r.body, clock.now())).toMatchObject({ ok: true });

    // The operator's list shows them with their delivery, the webhook's path hidden.
    const list = await fetch(`${repos.director.url}/api/v1/alerts?limit=10`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
    expect(list.status).toBe(200);
    const { alerts } = (await list.json()) as { alerts: Array<{ event: string; data: unknown; deliveries: Array<{ state: string; webhook: string }> }> };
    const listed = alerts.find((a) => a.event === 'attack.reported')!;
    expect(listed.data).toEqual({ vin: car.vin, attacks: ['hash_mismatch'] });
    expect(listed.deliveries).toEqual([expect.objectContaining({ state: 'delivered', webhook: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/…$/) })]);
  });

  it('lists every role of both repositories with its expiry to a read-only token, and alerts once per role version inside the window', async () => {
    // An assignment makes the Director read (and verify) the Image repository.
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: car.vin, ecuSerial: 'ecm-1', image: ENGINE_V2.name })).status).toBe(201);
    const response = await fetch(`${repos.director.url}/api/v1/repositories/health`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
    expect(response.status).toBe(200);
    const health = (await response.json()) as { warningDays: number; roles: Array<{ repository: string; role: string; version: number; state: string; online: boolean; secondsLeft: number; threshold: number; keyids: string[] }> };
    expect(health.warningDays).toBe(30);
    expect(health.roles.map((r) => [r.repository, r.role, r.state, r.online])).toEqual([
      ['image', 'root', 'warning', false],
      ['image', 'targets', 'warning', false],
      ['image', 'snapshot', 'ok', true],
      ['image', 'timestamp', 'ok', true],
      ['director', 'root', 'warning', false],
    ]);
    const directorRoot = health.roles.find((r) => r.repository === 'director')!;
    expect(directorRoot).toMatchObject({ version: 1, threshold: 1, keyids: [repos.directorRootKey.keyid], secondsLeft: 20 * 86_400 });
    // No token, no answer.
    expect((await fetch(`${repos.director.url}/api/v1/repositories/health`)).status).toBe(401);
    // The CLI asks the same of a running Director; it judges by the real clock, long past these fixture expiries.
    await buildCli();
    const remote = await runCli(['director', 'expiry', '--remote', '--url', repos.director.url, '--json'], { env: { ...process.env, UPTANE_OPERATOR_TOKEN: READ_TOKEN } });
    expect(remote.status).toBe(11);
    expect((JSON.parse(remote.stdout) as { roles: Array<{ role: string }> }).roles.map((r) => r.role)).toEqual(['root', 'targets', 'snapshot', 'timestamp', 'root']);

    await repos.director.alerts.checkNow();
    await repos.director.alerts.checkNow();
    const expiring = (await repos.director.storage.alerts.recent(100)).filter((a) => a.event === 'metadata.expiring').map((a) => JSON.parse(a.body).data as { repository: string; role: string });
    expect(expiring.map((d) => `${d.repository}:${d.role}`).sort()).toEqual(['director:root', 'image:root', 'image:targets']);

    // Past the expiry: expired, raised once more per role.
    clock.set('2026-06-22T00:00:00Z');
    await repos.director.alerts.checkNow();
    expect((await events()).filter((e) => e === 'metadata.expired').length).toBeGreaterThanOrEqual(3);
  });

  it("refreshes the Image repository's metadata before each check, so an idle Director never reports its online roles expired", async () => {
    // Two days without an assignment: the timestamp the Director verified at start has expired.
    clock.advance(2 * 86_400_000);
    await repos.image.checkResigning();
    await repos.director.alerts.checkNow();
    const health = await repos.director.alerts.health();
    expect(health.roles.filter((r) => r.repository === 'image' && r.online).map((r) => [r.role, r.state])).toEqual([
      ['snapshot', 'ok'],
      ['timestamp', 'ok'],
    ]);
    expect((await events()).filter((e) => e === 'metadata.expired')).toEqual([]);
  });

  it('delivers an alert that was pending when the Director restarted', async () => {
    await receiverClose();
    await repos.director.alerts.hub.raise('campaign.halted', { campaignId: 99, reason: 'test' }, null);
    await repos.director.alerts.deliverNow(); // receiver gone: the attempt fails and is recorded
    const pending = (await repos.director.storage.alerts.recent(100)).find((a) => a.body.includes('"campaignId":99'))!;
    expect(pending.deliveries[0]).toMatchObject({ state: 'pending', attempts: 1 });

    const port = Number(new URL(pending.deliveries[0]!.url).port);
    receiverClose = (await startWebhookReceiver(received, undefined, { port })).close;
    await repos.restartDirector();
    clock.advance(3_600_000);
    await repos.director.alerts.deliverNow();
    const after = (await repos.director.storage.alerts.recent(100)).find((a) => a.id === pending.id)!;
    expect(after.deliveries[0]).toMatchObject({ state: 'delivered', attempts: 2, lastStatus: 204 });
    expect(received.some((r) => r.body.toString().includes('"campaignId":99'))).toBe(true);
  });

  it('`uptane director alerts list` shows alerts and their delivery state to a read-only token; --json for scripts', async () => {
    await buildCli();
    await repos.director.alerts.hub.raise('vehicle.stale', { count: 2, sample: ['VIN-<b>1</b>'] }, null);
    const env = { ...process.env, UPTANE_OPERATOR_TOKEN: READ_TOKEN };
    const json = await runCli(['director', 'alerts', 'list', '--url', repos.director.url, '--json'], { env });
    expect(json.status).toBe(0);
    const listed = (JSON.parse(json.stdout) as { alerts: Array<{ event: string; data: unknown; deliveries: Array<{ state: string; attempts: number }> }> }).alerts.find((a) => a.event === 'vehicle.stale')!;
    expect(listed).toMatchObject({ data: { count: 2, sample: ['VIN-<b>1</b>'] }, deliveries: [{ state: 'pending', attempts: 0 }] });
    const text = await runCli(['director', 'alerts', '--url', repos.director.url], { env });
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/vehicle\.stale\s+http:\/\/127\.0\.0\.1:\d+\/…\s+pending/);
    const anonymous = await runCli(['director', 'alerts', '--url', repos.director.url], { env: { ...process.env, UPTANE_OPERATOR_TOKEN: 'not-a-token' } });
    expect(anonymous.status).toBe(1);
  });

  it('`uptane director serve` refuses webhooks without a usable secret or with a URL that is not http(s), a negative retention or a public origin that is not one, before starting', async () => {
    await buildCli();
    const dataDir = `${repos.dataDir}/unused-director`;
    const noSecret = await runCli(['director', 'serve', '--data-dir', dataDir, '--webhook', 'http://127.0.0.1:9/hook']);
    expect(noSecret.status).toBe(1);
    expect(noSecret.stderr).toContain('--webhook needs --webhook-secret-env NAME');
    const short = await runCli(['director', 'serve', '--data-dir', dataDir, '--webhook', 'http://127.0.0.1:9/hook', '--webhook-secret-env', 'S'], { env: { ...process.env, S: 'short' } });
    expect(short.status).toBe(1);
    expect(short.stderr).toContain('at least 16 characters');
    const ftp = await runCli(['director', 'serve', '--data-dir', dataDir, '--webhook', 'ftp://example/hook', '--webhook-secret-env', 'S'], { env: { ...process.env, S: 's'.repeat(32) } });
    expect(ftp.status).toBe(1);
    expect(ftp.stderr).toContain('use an http:// or https:// URL');
    const unset = await runCli(['director', 'serve', '--data-dir', dataDir, '--webhook', 'http://127.0.0.1:9/hook', '--webhook-secret-env', 'UNSET_SECRET_VAR']);
    expect(unset.status).toBe(1);
    expect(unset.stderr).toContain('UNSET_SECRET_VAR is not set');
    const retention = await runCli(['director', 'serve', '--data-dir', dataDir, '--alert-retention-days', '-1']);
    expect(retention.status).toBe(1);
    expect(retention.stderr).toContain('--alert-retention-days -1: give a number from 0 up');
    // The dashboard's public origin (docs/dashboard.md), by flag or environment: an origin, nothing more.
    const path = await runCli(['director', 'serve', '--data-dir', dataDir, '--public-origin', 'https://director.example.com/ui']);
    expect(path.status).toBe(1);
    expect(path.stderr).toContain('give only a scheme and host (and port), e.g. https://director.example.com');
    const fromEnv = await runCli(['director', 'serve', '--data-dir', dataDir], { env: { ...process.env, UPTANE_DIRECTOR_PUBLIC_ORIGIN: 'director.example.com' } });
    expect(fromEnv.status).toBe(1);
    expect(fromEnv.stderr).toContain('--public-origin "director.example.com": not a URL');
  });
});
