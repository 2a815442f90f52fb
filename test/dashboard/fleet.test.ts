// The dashboard's reads on a small real fleet (docs/dashboard.md): vehicles put into every state by
// real manifests and metadata fetches against a real Director (SQLite) and Image repository, then
// the overview's counts, the vehicle list's state and VIN-prefix filters and paging, the manifest
// history, attacks, the audit filters, images, a campaign dry run and the live event stream.
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { signEnvelope, type InstallOutcome } from '../../shared/uptane/manifest.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

const HOUR = 3_600_000;
const IMAGE = { name: 'dash/ecm-v2.bin', content: Buffer.from('dashboard test image v2'), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const SCRIPT = '<script>alert("x")</script>';

let clock: FixedClock;
let repos: Repositories;
const cars = new Map<string, TestVehicle>();

async function ok(method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const result = await repos.operator(method, path, body);
  if (result.status >= 300) throw new Error(`${method} ${path}: ${result.status} ${JSON.stringify(result.json)}`);
  return result.json;
}

async function register(vin: string): Promise<TestVehicle> {
  const car = new TestVehicle(vin, [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true }, { serial: `${vin}-ecm`, hardwareId: 'ecm-x1' }], clock);
  await ok('POST', '/api/v1/vehicles', { ...car.registration(), attributes: { model: 'dash' } });
  cars.set(vin, car);
  return car;
}

/** One manifest from `car`: its ECM's last install outcome and attacks if given, driving if asked. */
async function report(car: TestVehicle, options: { driving?: boolean; lastInstall?: InstallOutcome; attacks?: Array<{ code: string; message: string }> } = {}): Promise<void> {
  const reports = Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e, e.primary ? {} : { lastInstall: options.lastInstall, attacks: options.attacks })]));
  const manifest = car.manifest(reports);
  // vehicle_state is inside the signed part: a driving vehicle signs a manifest that says it.
  const sent = await car.sendManifest(repos.director.url, options.driving ? signEnvelope({ ...manifest.signed, vehicle_state: 'driving' as const }, car.primary.key, nodeBackend) : manifest);
  expect(sent.status).toBe(200);
}

const assign = (vin: string) => ok('POST', '/api/v1/assignments', { vin, image: IMAGE.name, hardwareId: 'ecm-x1' });
/** The vehicle fetches its Director metadata: its assignment goes in flight. */
const fetchMetadata = async (car: TestVehicle) => {
  await car.directorUpdater(repos.director.url, repos.directorRoot).refresh();
};

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'dashboard-fleet', { dashboard: { staleAfterMs: HOUR, cacheMs: 0, snapshotMs: 24 * HOUR } });
  await repos.publishImages([IMAGE]);
  // Stale: reported, then nothing for two hours.
  await report(await register('DASH-STALE-1'));
  clock.advance(2 * HOUR);
  for (const vin of ['DASH-UP-1', 'DASH-UP-2', 'DASH-PEND-1', 'DASH-DOWN-1', 'DASH-INST-1', 'DASH-DRIVE-1', 'DASH-FAIL-1', 'DASH-ROLL-1', 'DASH-ATTACK-1']) await report(await register(vin));
  await assign('DASH-PEND-1');
  await assign('DASH-DOWN-1');
  await fetchMetadata(cars.get('DASH-DOWN-1')!);
  await assign('DASH-INST-1');
  await fetchMetadata(cars.get('DASH-INST-1')!);
  clock.advance(1000);
  await report(cars.get('DASH-INST-1')!); // reported since it went in flight, not installed yet
  await report(cars.get('DASH-DRIVE-1')!, { driving: true });
  await assign('DASH-DRIVE-1');
  await assign('DASH-FAIL-1');
  await fetchMetadata(cars.get('DASH-FAIL-1')!);
  await report(cars.get('DASH-FAIL-1')!, { lastInstall: { filename: IMAGE.name, status: 'failed', code: 'boot_check_failed' } });
  await assign('DASH-ROLL-1');
  await fetchMetadata(cars.get('DASH-ROLL-1')!);
  await report(cars.get('DASH-ROLL-1')!, { lastInstall: { filename: IMAGE.name, status: 'rolled_back', code: 'boot_check_failed' } });
  await report(cars.get('DASH-ATTACK-1')!, { attacks: [{ code: 'hash_mismatch', message: SCRIPT }] });
}, 60_000);

afterAll(async () => {
  for (const car of cars.values()) car.cleanup();
  await repos?.close();
});

const EXPECTED_STATES: Record<string, string> = {
  'DASH-STALE-1': 'stale',
  'DASH-UP-1': 'up_to_date',
  'DASH-UP-2': 'up_to_date',
  'DASH-ATTACK-1': 'up_to_date',
  'DASH-PEND-1': 'pending',
  'DASH-DOWN-1': 'downloading',
  'DASH-INST-1': 'installing',
  'DASH-DRIVE-1': 'deferred',
  'DASH-FAIL-1': 'failed',
  'DASH-ROLL-1': 'rolled_back',
};

test('the overview counts every vehicle in exactly the state it is in, and the attacks reported', async () => {
  const overview = await ok('GET', '/api/v1/fleet/overview');
  expect(overview.vehicles).toEqual({
    total: 10,
    byState: { up_to_date: 3, pending: 1, downloading: 1, deferred: 1, installing: 1, failed: 1, rolled_back: 1, stale: 1 },
  });
  expect(overview.attacks).toEqual({ total: 1, last24h: 1 });
  expect(overview.refusedManifests).toEqual({ total: 0, last24h: 0 });
  expect(overview.history).toEqual([]);
  expect(overview.staleAfterSeconds).toBe(3600);
});

test('a snapshot of the states appears in the overview\'s history', async () => {
  await repos.director.storage.dashboard.recordFleetSnapshot({ at: '2026-01-01T00:00:00.000Z', byState: { up_to_date: 1, pending: 0, downloading: 0, deferred: 0, installing: 0, failed: 0, rolled_back: 0, stale: 0 } }, 10);
  const overview = await ok('GET', '/api/v1/fleet/overview');
  expect(overview.history).toEqual([{ at: '2026-01-01T00:00:00.000Z', byState: expect.objectContaining({ up_to_date: 1 }) }]);
});

test('the vehicle list shows each vehicle\'s state, filters by state and by VIN prefix, and pages', async () => {
  const all = await ok('GET', '/api/v1/vehicles?limit=100');
  expect(all.total).toBe(10);
  expect(Object.fromEntries((all.vehicles as Array<{ vin: string; state: string }>).map((v) => [v.vin, v.state]))).toEqual(EXPECTED_STATES);
  for (const state of new Set(Object.values(EXPECTED_STATES))) {
    const page = await ok('GET', `/api/v1/vehicles?state=${state}`);
    const expected = Object.entries(EXPECTED_STATES).filter(([, s]) => s === state).map(([vin]) => vin).sort();
    expect([state, page.total, (page.vehicles as Array<{ vin: string }>).map((v) => v.vin)]).toEqual([state, expected.length, expected]);
  }
  const prefixed = await ok('GET', '/api/v1/vehicles?q=DASH-UP');
  expect(prefixed).toMatchObject({ total: 2, totalCapped: false });
  expect((prefixed.vehicles as Array<{ vin: string }>).map((v) => v.vin)).toEqual(['DASH-UP-1', 'DASH-UP-2']);
  // Paging: two at a time, each page after the last VIN of the one before.
  const seen: string[] = [];
  let after = '';
  for (let pages = 0; pages < 10; pages++) {
    const page = await ok('GET', `/api/v1/vehicles?limit=2&after=${encodeURIComponent(after)}`);
    const vins = (page.vehicles as Array<{ vin: string }>).map((v) => v.vin);
    if (vins.length === 0) break;
    seen.push(...vins);
    after = vins.at(-1)!;
  }
  expect(seen).toEqual(Object.keys(EXPECTED_STATES).sort());
});

test('oversized or malformed filters are refused with 400 before any query', async () => {
  for (const query of [`q=${'A'.repeat(65)}`, 'q=DASH%20UP', 'state=exploded', `state=${'x'.repeat(17)}`, 'limit=0', 'limit=100001', 'limit=-1', `after=${'A'.repeat(65)}`, 'q=a&q=b']) {
    const answer = await repos.operator('GET', `/api/v1/vehicles?${query}`);
    expect([query, answer.status, (answer.json.error as { code: string }).code]).toEqual([query, 400, 'bad_request']);
  }
  expect((await repos.operator('GET', `/api/v1/audit?actor=${'a'.repeat(200)}`)).status).toBe(400);
  expect((await repos.operator('GET', '/api/v1/attacks?vin=%3Cscript%3E%20')).status).toBe(400);
  expect((await repos.operator('GET', '/api/v1/attacks?before=1.5')).status).toBe(400);
});

test('a vehicle\'s manifest history pages newest first, with refusals and its attacks', async () => {
  const car = cars.get('DASH-UP-1')!;
  // A refused manifest: a report counter that goes back.
  const replay = car.manifest(Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e, { counter: 1 })])));
  expect((await car.sendManifest(repos.director.url, replay)).status).toBeGreaterThanOrEqual(400);
  const first = await ok('GET', '/api/v1/vehicles/DASH-UP-1/manifests?limit=1');
  expect(first.manifests).toHaveLength(1);
  expect(first.manifests[0]).toMatchObject({ accepted: false, errorCode: expect.any(String) });
  const rest = await ok('GET', `/api/v1/vehicles/DASH-UP-1/manifests?before=${first.manifests[0].id}`);
  expect(rest.manifests).toHaveLength(1);
  expect(rest.manifests[0]).toMatchObject({ accepted: true });
  const attacked = await ok('GET', '/api/v1/vehicles/DASH-ATTACK-1/manifests');
  expect(attacked.attacks).toEqual([expect.objectContaining({ vin: 'DASH-ATTACK-1', code: 'hash_mismatch', message: SCRIPT })]);
  expect((await repos.operator('GET', '/api/v1/vehicles/NO-SUCH-VIN/manifests')).status).toBe(404);
  const overview = await ok('GET', '/api/v1/fleet/overview');
  expect(overview.refusedManifests).toEqual({ total: 1, last24h: 1 });
});

test('attacks are listed newest first, by vehicle too, and a script in a message is JSON data, never HTML', async () => {
  const response = await fetch(`${repos.director.url}/api/v1/attacks?vin=DASH-ATTACK-1`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await response.json()) as { attacks: Array<{ message: string; ecuSerial: string }> };
  expect(body.attacks).toEqual([expect.objectContaining({ message: SCRIPT, ecuSerial: 'DASH-ATTACK-1-ecm' })]);
  expect((await ok('GET', '/api/v1/attacks?vin=DASH-UP-1')).attacks).toEqual([]);
  const all = await ok('GET', '/api/v1/attacks?limit=1');
  expect(all.attacks).toHaveLength(1);
  expect((await ok('GET', `/api/v1/attacks?before=${all.attacks[0].id}`)).attacks).toEqual([]);
});

test('the audit log filters by actor and action and pages by id', async () => {
  const assignments = await ok('GET', '/api/v1/audit?action=assign&limit=2');
  expect(assignments.entries).toHaveLength(2);
  expect(assignments.entries.every((e: { action: string; actor: string }) => e.action === 'assign' && e.actor === 'fixture-operator')).toBe(true);
  const older = await ok('GET', `/api/v1/audit?action=assign&before=${assignments.entries[1].id}`);
  expect(older.entries.length).toBeGreaterThan(0);
  expect(older.entries.every((e: { id: number }) => e.id < assignments.entries[1].id)).toBe(true);
  expect((await ok('GET', '/api/v1/audit?actor=nobody')).entries).toEqual([]);
});

test('images: the Image repository\'s, with hardware ids and release counters', async () => {
  const images = await ok('GET', '/api/v1/images');
  expect(images.total).toBe(1);
  expect(images.images).toEqual([{ filename: IMAGE.name, length: IMAGE.content.length, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), hardwareIds: ['ecm-x1'], releaseCounter: 2, minimumSecurityProfile: null }]);
});

test('a campaign dry run says what each stage would take and creates nothing', async () => {
  await ok('POST', '/api/v1/groups', { name: 'dash-all', filter: { attributes: { model: 'dash' } } });
  const auditBefore = (await ok('GET', '/api/v1/audit?limit=1000')).entries.length;
  const dry = await ok('POST', '/api/v1/campaigns', { name: 'dash-dry', group: 'dash-all', images: [{ hardwareId: 'ecm-x1', image: IMAGE.name }], stages: [{ share: 0.1 }, { count: 5 }, { share: 1 }], dryRun: true });
  expect(dry).toEqual({
    dryRun: true,
    vehicles: 10,
    stages: [{ index: 1, vehicles: 1 }, { index: 2, vehicles: 4 }, { index: 3, vehicles: 5 }],
    // Three vehicles hold an active assignment for their ECM (pending, downloading, installing; the
    // driving one's is pending too).
    skipped: { conflict: 4 },
    skippedChecked: true,
  });
  expect((await repos.operator('GET', '/api/v1/campaigns/dash-dry')).status).toBe(404);
  expect((await ok('GET', '/api/v1/audit?limit=1000')).entries.length).toBe(auditBefore);
  const bad = await repos.operator('POST', '/api/v1/campaigns', { name: 'dash-dry', group: 'dash-all', images: [], stages: [{ share: 1 }], dryRun: true });
  expect(bad.status).toBe(400);
});

describe('live events', () => {
  async function openStream(): Promise<{ next: (type: string) => Promise<Record<string, unknown>>; close: () => void }> {
    const controller = new AbortController();
    const response = await fetch(`${repos.director.url}/api/v1/events`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` }, signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.getReader();
    let buffered = '';
    return {
      async next(type) {
        for (;;) {
          const frames = buffered.split('\n\n');
          for (let i = 0; i < frames.length - 1; i++) {
            const frame = frames[i]!;
            const event = /^event: (\S+)$/m.exec(frame)?.[1];
            const data = /^data: (.*)$/m.exec(frame)?.[1];
            if (event === type && data !== undefined) {
              buffered = frames.slice(i + 1).join('\n\n');
              return JSON.parse(data) as Record<string, unknown>;
            }
          }
          buffered = frames.at(-1)!;
          const { value, done } = await reader.read();
          if (done) throw new Error('stream ended');
          buffered += new TextDecoder().decode(value);
        }
      },
      close: () => controller.abort(),
    };
  }

  test('a manifest POSTed by a vehicle arrives as a manifest event, its attack and assignment changes too', async () => {
    const stream = await openStream();
    try {
      await report(cars.get('DASH-UP-2')!, { attacks: [{ code: 'rollback_attack', message: 'old image offered' }] });
      expect(await stream.next('manifest')).toEqual({ vin: 'DASH-UP-2', accepted: true });
      expect(await stream.next('attack')).toEqual({ vin: 'DASH-UP-2', code: 'rollback_attack' });
      const inst = cars.get('DASH-INST-1')!;
      inst.ecu('DASH-INST-1-ecm').installed = { filename: IMAGE.name, content: IMAGE.content };
      await report(inst);
      expect(await stream.next('assignment')).toEqual({ vin: 'DASH-INST-1', state: 'installed' });
    } finally {
      stream.close();
    }
  });

  test('beyond the per-server cap a stream is refused with 503 server_busy', async () => {
    // The fixture Director allows 100 streams: open them all, then one more.
    const streams = await Promise.all(Array.from({ length: 100 }, () => openStream()));
    try {
      const refused = await repos.operator('GET', '/api/v1/events');
      expect(refused.status).toBe(503);
      expect((refused.json.error as { code: string }).code).toBe('server_busy');
    } finally {
      for (const s of streams) s.close();
    }
  });
});
