// The simulator's HTTP control API on a real socket, driving a fleet against a real Director and
// Image repository: a YAML profile POSTed starts the fleet, a vehicle set driving over HTTP defers,
// a fault switched on over HTTP fails its vehicle, the clock moved over HTTP gets the typed refusal,
// and the results come back as JSON, NDJSON and JUnit. Refusals are typed JSON and change nothing:
// no fleet yet, a fleet already running, a body over the cap, a wrong token, a non-loopback Host.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { OperatorClient } from '../../director-repo/operator-client.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { startControlServer, type RunningControlServer } from '../../sim/control/control-server.js';
import { SimulatedFleet } from '../../sim/control/simulated-fleet.js';
import { parseXml } from '../support/xml.js';

const IMAGE = { name: 'ctl/ecu-2.bin', content: Buffer.from('controlled ECU v2'), hardwareIds: ['ctl-ecu'], releaseCounter: 2 };
const PROFILE = `
seed: control
profiles:
  van:
    primary: { hardwareId: ctl-tcu }
    secondaries: [{ name: ecu, hardwareId: ctl-ecu }]
vehicles: [{ profile: van, count: 3 }]
assign: [{ hardwareId: ctl-ecu, image: ctl/ecu-2.bin }]
`;
const TOKEN = 'control-token-0123456789abcdef';

let repos: Repositories;
let dir: string;
let operator: OperatorClient;
let server: RunningControlServer;

async function serve(token: string | undefined): Promise<RunningControlServer> {
  return startControlServer({
    token,
    operator,
    startFleet: (profile) =>
      SimulatedFleet.start({
        profile,
        directory: join(dir, profile.seed),
        directorUrl: repos.director.url,
        imageRepoUrl: repos.image.url,
        directorRoot: repos.directorRoot,
        imageRoot: repos.imageRoot,
        clock: new FixedClock(FIXTURE_NOW),
        operator,
      }),
  });
}

beforeEach(async () => {
  repos = await startRepositories(new FixedClock(FIXTURE_NOW), 'control');
  await repos.publishImages([IMAGE]);
  dir = mkdtempSync(join(tmpdir(), 'uptane-control-'));
  operator = new OperatorClient(repos.director.url, OPERATOR_TOKEN, 'UPTANE_OPERATOR_TOKEN');
});

afterEach(async () => {
  await server.close();
  operator.close();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  type: string;
  text: string;
  json: Record<string, unknown>;
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const yaml = typeof body === 'string';
  const response = await fetch(`${server.url}${path}`, {
    method,
    body: body === undefined ? undefined : yaml ? body : JSON.stringify(body),
    headers: { ...(body === undefined ? {} : { 'content-type': yaml ? 'application/yaml' : 'application/json' }), ...headers },
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  if ((response.headers.get('content-type') ?? '').includes('application/json')) json = JSON.parse(text) as Record<string, unknown>;
  return { status: response.status, type: response.headers.get('content-type') ?? '', text, json };
}

const errorCode = (a: Answer) => (a.json.error as { code: string } | undefined)?.code;

describe('the simulator control API', () => {
  it('starts a fleet from a POSTed profile and drives it: state, fault, clock, step, results', async () => {
    server = await serve(undefined);
    expect([(await call('POST', '/step')).status, errorCode(await call('POST', '/step'))]).toEqual([409, 'simulation_state']);

    // Two at once: one fleet starts, the other is refused.
    const both = await Promise.all([call('POST', '/fleet', PROFILE), call('POST', '/fleet', PROFILE)]);
    expect(both.map((a) => [a.status, errorCode(a)]).sort()).toEqual([[201, undefined], [409, 'simulation_state']]);
    const started = both.find((a) => a.status === 201)!;
    const vins = started.json.vehicles as string[];
    expect(vins).toHaveLength(3);
    expect(errorCode(await call('POST', '/fleet', PROFILE))).toBe('simulation_state');

    const driving = await call('PUT', `/vehicles/${vins[0]}/state`, { state: 'driving' });
    expect(driving.json).toMatchObject({ vin: vins[0], state: 'driving' });
    expect((await call('PUT', '/faults', { fault: 'slow-downloads', on: true, vins: [vins[1]] })).json).toEqual({ vehicles: 1 });

    const step = await call('POST', '/step', {});
    expect(step.status).toBe(200);
    expect((step.json.cycles as Array<{ vin: string; status: string; error?: { code: string } }>).map((c) => [c.vin, c.status, c.error?.code])).toEqual([
      [vins[0], 'deferred', undefined],
      [vins[1], 'failed', 'slow_retrieval'],
      [vins[2], 'installed', undefined],
    ]);

    // Moved past every role's expiry, over HTTP: the typed refusal; moved back: the update goes on.
    const moved = await call('POST', '/clock', { set: '2027-06-02T00:00:00Z' });
    expect(moved.json.now).toBe('2027-06-02T00:00:00.000Z');
    await call('PUT', `/vehicles/${vins[0]}/state`, { state: 'parked' });
    await call('PUT', '/faults', { fault: 'slow-downloads', on: false });
    const expired = await call('POST', '/step', { vins: [vins[0]] });
    expect((expired.json.cycles as Array<{ error?: { code: string } }>)[0]!.error?.code).toBe('expired');
    expect((await call('POST', '/clock', { reset: true })).json.offsetSeconds).toBe(0);
    const recovered = await call('POST', '/step', { vins: [vins[0], vins[1]] });
    expect((recovered.json.cycles as Array<{ status: string }>).map((c) => c.status)).toEqual(['installed', 'installed']);

    const results = await call('GET', '/results');
    expect(results.json.summary).toMatchObject({ cycles: 6, byStatus: { installed: 3, deferred: 1, failed: 2 } });
    const ndjson = await call('GET', '/results/ndjson');
    expect(ndjson.type).toContain('application/x-ndjson');
    expect(ndjson.text.trimEnd().split('\n').map((l) => (JSON.parse(l) as { type: string }).type)).toEqual([...Array(6).fill('cycle'), 'summary']);
    const junit = parseXml((await call('GET', '/results/junit')).text);
    expect(junit.attributes).toMatchObject({ tests: '6', failures: '2' });
    expect(junit.children.map((s) => s.attributes.name)).toEqual(['round 1', 'round 2', 'round 3']);

    const vehicle = await call('GET', `/vehicles/${vins[1]}`);
    expect(vehicle.json).toMatchObject({ state: 'parked', faults: [], installed: { [`${vins[1]}-ecu`]: IMAGE.name } });
    expect((await call('DELETE', '/fleet')).json).toEqual({ closed: 3 });
    expect(errorCode(await call('GET', '/fleet'))).toBe('simulation_state');
    // Started again with the same seed, the fleet continues from its folders.
    const again = await call('POST', '/fleet', PROFILE);
    expect(again.json).toMatchObject({ continued: 3, alreadyRegistered: 0 });
  }, 90_000);

  it('refuses what it must, as typed JSON, and changes nothing', async () => {
    server = await serve(undefined);
    await call('POST', '/fleet', PROFILE);
    const vin = ((await call('GET', '/fleet')).json.vehicles as Array<{ vin: string }>)[0]!.vin;
    const refusals: Array<[Answer, number, string]> = [
      [await call('PUT', '/faults', { fault: 'meteor', on: true }), 400, 'bad_request'],
      [await call('PUT', '/attacks', { attack: 'tamper-images', on: 'yes' }), 400, 'bad_request'],
      [await call('PUT', '/vehicles/NOPE/state', { state: 'driving' }), 404, 'not_found'],
      [await call('PUT', `/vehicles/${vin}/state`, { state: 'flying' }), 400, 'bad_request'],
      [await call('POST', '/clock', { set: 'yesterday' }), 400, 'bad_request'],
      [await call('POST', '/clock', { advanceSeconds: 1e12 }), 400, 'bad_request'],
      [await call('POST', '/step', { vins: 'all' }), 400, 'bad_request'],
      [await call('PUT', '/faults', '{"fault":', { 'content-type': 'application/json' }), 400, 'bad_request'],
      [await call('PUT', '/faults', 'fault=x', { 'content-type': 'text/plain' }), 400, 'bad_request'],
      [await call('PUT', '/faults', 'fault: slow-downloads', { 'content-type': 'application/yaml' }), 400, 'bad_request'],
      [await call('PUT', '/faults', { fault: 'x'.repeat(70_000), on: true }), 413, 'body_too_large'],
      [await call('GET', '/nothing-here'), 404, 'not_found'],
    ];
    expect(refusals.map(([a, status, code]) => [a.status, errorCode(a), status, code]).filter(([s, c, es, ec]) => s !== es || c !== ec)).toEqual([]);
    const fleet = (await call('GET', '/fleet')).json.vehicles as Array<{ state: string; faults: string[]; attacks: string[] }>;
    expect(fleet.every((v) => v.state === 'parked' && v.faults.length === 0 && v.attacks.length === 0)).toBe(true);
    expect((await call('GET', '/results')).json.cycles).toEqual([]);

    // Without a token only loopback names are answered (a DNS-rebound page sends its own Host).
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/fleet`, { headers: { host: 'attacker.example:8090' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(rebound).toBe(401);
  }, 60_000);

  it('with a token, refuses every request without it; off loopback, refuses to start without one', async () => {
    await expect(startControlServer({ host: '0.0.0.0', startFleet: () => Promise.reject(new Error('unused')) })).rejects.toThrow(/needs a control token/);
    server = await serve(TOKEN);
    expect(errorCode(await call('POST', '/fleet', PROFILE))).toBe('unauthorized');
    expect((await call('POST', '/fleet', PROFILE, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect(errorCode(await call('GET', '/fleet', undefined, { authorization: `Bearer ${TOKEN}` }))).toBe('simulation_state'); // still no fleet
    expect((await call('POST', '/fleet', PROFILE, { authorization: `Bearer ${TOKEN}` })).status).toBe(201);
  }, 60_000);
});
