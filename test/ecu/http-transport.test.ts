// The primary-secondary HTTP transport on loopback: a real vehicle cycle with one secondary reached
// over HTTP and one in-process; a secondary in a separate process started through the CLI; and the
// secondary's typed refusals arriving at the primary with their codes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { OutOfOrderError } from '../../shared/core/errors.js';
import { formatExpires } from '../../shared/core/metadata/parse.js';
import { HttpSecondaryClient, RemoteSecondaryError, type SecondaryTransport } from '../../shared/ecu/secondary-protocol.js';
import { Primary } from '../../primary-ecu/primary.js';
import { serveSecondary, type RunningSecondaryServer } from '../../secondary-ecu/http-server.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { buildCli, runCli, startCli, type CliProcess } from '../support/cli-runner.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { registeredVehicle } from '../support/registered-vehicle.js';

const BIG = Buffer.alloc(3 * 1024 * 1024 + 17);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 31 + (i >> 12)) & 0xff;

const IMAGES = {
  tcu: { name: 'tcu/tcu-5.bin', content: Buffer.from('telematics v5'), hardwareIds: ['tcu-a'], releaseCounter: 5 },
  // Several MiB, so the image crosses the wire in many chunks.
  ecm: { name: 'engine/ecm-2.0.bin', content: BIG, hardwareIds: ['ecm-x1'], releaseCounter: 2 },
  abs: { name: 'brake/abs-7.bin', content: Buffer.from('brake ecu v7'), hardwareIds: ['abs-z'], releaseCounter: 7 },
};

/** An image body that is sent in 1 MiB pieces, as the primary sends one from disk. */
async function* chunksOf(bytes: Buffer, size = 1024 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function assignmentStates(repos: Repositories, vin: string): Promise<string[]> {
  const status = await repos.operator('GET', `/api/v1/vehicles/${vin}`);
  return (status.json.assignments as Array<{ ecuSerial: string; state: string }>).map((a) => `${a.ecuSerial}:${a.state}`).sort();
}

describe('a vehicle with one secondary over HTTP and one in-process', () => {
  let clock: FixedClock;
  let repos: Repositories;
  let dir: string;
  let car: SimulatedVehicle;
  let server: RunningSecondaryServer;
  let client: HttpSecondaryClient;
  let primary: Primary;

  beforeEach(async () => {
    clock = new FixedClock(FIXTURE_NOW);
    repos = await startRepositories(clock, 'http-transport');
    await repos.publishImages(Object.values(IMAGES));
    dir = mkdtempSync(join(tmpdir(), 'uptane-http-car-'));
    car = await registeredVehicle(repos, { directory: dir, vin: 'VINHTTP000000001', clock });
    // ecm-1 is reached over loopback HTTP; abs-1 stays in-process. The primary talks to both the same way.
    server = await serveSecondary(car.secondaries.get('ecm-1')!);
    client = new HttpSecondaryClient(server.url);
    primary = await Primary.open(join(dir, 'tcu-1'), {
      clock,
      vehicleState: car.state,
      secondaries: new Map<string, SecondaryTransport>([
        ['ecm-1', client],
        ['abs-1', car.secondaries.get('abs-1')!],
      ]),
    });
  });

  afterEach(async () => {
    client.close();
    await server.close();
    await repos.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const assign = (ecuSerial: string, image: string) => repos.operator('POST', '/api/v1/assignments', { vin: car.spec.vin, ecuSerial, image });

  it('listens on loopback by default', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('updates every ECU in one cycle, the HTTP secondary included, and the Director sees them installed', async () => {
    for (const [serial, image] of [['tcu-1', IMAGES.tcu], ['ecm-1', IMAGES.ecm], ['abs-1', IMAGES.abs]] as const) expect((await assign(serial, image.name)).status).toBe(201);
    const result = await primary.runCycle();
    expect(result).toMatchObject({ status: 'installed', manifestSent: true });
    expect(result.outcomes['ecm-1']).toEqual({ filename: IMAGES.ecm.name, status: 'installed' });
    // (car.primary is a second Primary on the same folder; the one under test is `primary`.)
    expect({ ...car.installed(), 'tcu-1': primary.slots.installed.filename }).toEqual({ 'tcu-1': IMAGES.tcu.name, 'ecm-1': IMAGES.ecm.name, 'abs-1': IMAGES.abs.name });
    const ecm = car.secondaries.get('ecm-1')!;
    expect(await ecm.slots.isIntact(ecm.slots.current.active)).toBe(true);
    expect(await primary.runCycle()).toMatchObject({ status: 'no-update', manifestSent: true });
    expect(await assignmentStates(repos, car.spec.vin)).toEqual(['abs-1:installed', 'ecm-1:installed', 'tcu-1:installed']);
  });

  it('defers while driving: the HTTP secondary refuses to install with vehicle_driving, and installs after parking', async () => {
    await assign('ecm-1', IMAGES.ecm.name);
    car.state.set('driving');
    expect((await primary.runCycle()).status).toBe('deferred');
    await expect(client.install()).rejects.toMatchObject({ code: 'vehicle_driving' });
    expect(car.installed()['ecm-1']).toBe('factory/ecm-x1.bin');
    car.state.set('parked');
    expect((await primary.runCycle()).status).toBe('installed');
    expect(car.installed()['ecm-1']).toBe(IMAGES.ecm.name);
  });

  it('refuses an image the secondary was not assigned, with its code, while most of the image is still on the way', async () => {
    const refusal = client.putImage(IMAGES.ecm.name, chunksOf(BIG));
    await expect(refusal).rejects.toBeInstanceOf(RemoteSecondaryError);
    await expect(refusal).rejects.toMatchObject({ code: 'target_not_found' });
    // The connection stays usable, and the secondary reports the attempt in its next version report.
    const report = await client.versionReport();
    expect(report.signed.attacks_detected.map((a) => a.code)).toEqual(['target_not_found']);
    expect(car.installed()['ecm-1']).toBe('factory/ecm-x1.bin');
  });

  it('answers a request out of order with out_of_order, and a bad bundle with bad_request', async () => {
    await expect(client.install()).rejects.toMatchObject({ code: new OutOfOrderError('x').code });
    const bad = await fetch(`${server.url}/metadata`, { method: 'PUT', body: '{"director": 5, "time": "x"}' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'bad_request' } });
    const notJson = await fetch(`${server.url}/metadata`, { method: 'PUT', body: 'not json' });
    expect(await notJson.json()).toMatchObject({ error: { code: 'bad_request' } });
  });
});

describe('the HTTP server framing', () => {
  let servers: RunningSecondaryServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
  });

  /** A secondary whose every method is given by the test; the rest fail as a bug would. */
  function fake(overrides: Partial<SecondaryTransport>): SecondaryTransport {
    const unexpected = () => Promise.reject(new Error('not expected in this test'));
    return { info: unexpected, versionReport: unexpected, putMetadata: unexpected, putImage: unexpected, install: unexpected, beginTrial: unexpected, commitTrial: unexpected, rollBackTrial: unexpected, ...overrides };
  }

  async function serve(secondary: SecondaryTransport, options: Parameters<typeof serveSecondary>[1] = {}): Promise<RunningSecondaryServer> {
    const server = await serveSecondary(secondary, options);
    servers.push(server);
    return server;
  }

  it('streams the image into the secondary as it arrives, never waiting for the whole body', async () => {
    let firstChunkSeen!: () => void;
    const firstChunkArrived = new Promise<void>((r) => (firstChunkSeen = r));
    let received = 0;
    const server = await serve(
      fake({
        async putImage(_filename, body) {
          for await (const chunk of body) {
            received += chunk.length;
            firstChunkSeen();
          }
        },
      }),
    );
    // The client holds the second half back until the secondary has seen the first: a server that
    // buffered the body before calling putImage would never finish this upload.
    async function* body(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(64 * 1024, 1);
      await firstChunkArrived;
      yield Buffer.alloc(64 * 1024, 2);
    }
    const client = new HttpSecondaryClient(server.url, 10_000);
    try {
      await client.putImage('x.bin', body());
    } finally {
      client.close();
    }
    expect(received).toBe(128 * 1024);
  });

  it('cuts a refused upload that goes on past maxDiscardBytes, and the primary stops reading the image', async () => {
    const server = await serve(
      fake({ putImage: () => Promise.reject(new RemoteSecondaryError('target_not_found', 'not assigned')) }),
      { maxDiscardBytes: 256 * 1024 },
    );
    let closed = false;
    async function* endless(): AsyncGenerator<Uint8Array> {
      try {
        for (;;) yield Buffer.alloc(64 * 1024);
      } finally {
        closed = true; // the client gave up on the body (a file stream would be closed here)
      }
    }
    const client = new HttpSecondaryClient(server.url, 10_000);
    try {
      await expect(client.putImage('x.bin', endless())).rejects.toMatchObject({ code: 'target_not_found' });
      await new Promise<void>((resolveClosed) => {
        const poll = () => (closed ? resolveClosed() : setImmediate(poll));
        poll();
      });
    } finally {
      client.close();
    }
    expect(closed).toBe(true);
  });

  it('refuses a metadata bundle larger than maxBodyBytes with body_too_large (413)', async () => {
    const server = await serve(fake({}), { maxBodyBytes: 1024 });
    const response = await fetch(`${server.url}/metadata`, { method: 'PUT', body: JSON.stringify({ director: { 'targets.json': 'x'.repeat(4096) }, time: 'now' }) });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: { code: 'body_too_large', message: expect.stringContaining('1024') } });
  });

  it('answers an unexpected failure with 500 and no internals', async () => {
    const logged: string[] = [];
    const server = await serve(fake({ info: () => Promise.reject(new Error('secret detail /var/lib/ecu')) }), { log: (l) => logged.push(l) });
    const response = await fetch(`${server.url}/info`);
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: { code: 'internal', message: 'internal error in the secondary' } });
    expect(text).not.toContain('secret');
    expect(logged.join('\n')).toContain('secret detail'); // the operator still sees it
  });

  it('answers unknown routes with 404 and wrong methods with 405', async () => {
    const server = await serve(fake({}));
    const missing = await fetch(`${server.url}/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
    const wrong = await fetch(`${server.url}/install`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('handles one request at a time', async () => {
    let running = 0;
    let most = 0;
    const server = await serve(
      fake({
        async info() {
          running++;
          most = Math.max(most, running);
          await new Promise((r) => setImmediate(r));
          running--;
          return { serial: 's', hardwareId: 'h', publicKey: '00', verification: 'partial' };
        },
      }),
    );
    await Promise.all(Array.from({ length: 5 }, () => fetch(`${server.url}/info`).then((r) => r.json())));
    expect(most).toBe(1);
  });
});

describe('a secondary in a separate process, started through the CLI', () => {
  let clock: FixedClock;
  let repos: Repositories;
  let work: string;
  let secondaryProcess: CliProcess | undefined;
  const env = () => ({ ...process.env, UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN });

  beforeAll(async () => {
    await buildCli();
  }, 130_000);

  beforeEach(async () => {
    // The CLI reads the system clock, so the repositories run at (a frozen) now.
    const now = new Date();
    clock = new FixedClock(now);
    repos = await startRepositories(clock, 'http-process', { expires: formatExpires(new Date(now.getTime() + 365 * 24 * 3600 * 1000)) });
    await repos.publishImages([IMAGES.tcu, IMAGES.ecm]);
    work = mkdtempSync(join(tmpdir(), 'uptane-http-process-'));
    writeFileSync(join(work, 'director-root.json'), repos.directorRoot);
    writeFileSync(join(work, 'image-root.json'), repos.imageRoot);
  });

  afterEach(async () => {
    await secondaryProcess?.stop();
    secondaryProcess = undefined;
    await repos.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('serves the secondary over HTTP to a primary in another process: the update installs there, and refusals keep their code', async () => {
    const car = join(work, 'car');
    const provision = await runCli(
      [
        'vehicle', 'provision', '--dir', car, '--vin', 'VINPROC000000001', '--primary', 'tcu-1:tcu-a', '--secondary', 'ecm-1:ecm-x1',
        '--director-url', repos.director.url, '--image-url', repos.image.url,
        '--director-root', join(work, 'director-root.json'), '--image-root', join(work, 'image-root.json'), '--register',
      ],
      { env: env() },
    );
    expect(provision).toMatchObject({ status: 0, stderr: '' });

    secondaryProcess = startCli(['vehicle', 'secondary', 'serve', '--dir', join(car, 'ecm-1'), '--port', '0'], { env: env() });
    const [, url] = await secondaryProcess.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    expect(secondaryProcess.child.pid).not.toBe(process.pid);

    expect((await repos.operator('POST', '/api/v1/assignments', { vin: 'VINPROC000000001', ecuSerial: 'ecm-1', image: IMAGES.ecm.name })).status).toBe(201);
    const run = await runCli(['vehicle', 'run', '--dir', car, '--once', '--secondary-url', `ecm-1=${url!}`], { env: env() });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('installed: 1 ECU updated');
    expect(run.stdout).toContain(`ecm-1: installed ${IMAGES.ecm.name}`);
    // The install happened in the other process.
    await secondaryProcess.waitFor(new RegExp(`ecm-1: install: installed ${IMAGES.ecm.name.replace(/\./g, '\\.')}`));

    const client = new HttpSecondaryClient(url!);
    try {
      const report = await client.versionReport();
      expect(report.signed.installed_image.filename).toBe(IMAGES.ecm.name);
      // An image it was not assigned: refused in the other process, the code arrives here.
      await expect(client.putImage('engine/ecm-9.bin', chunksOf(BIG))).rejects.toMatchObject({ code: 'target_not_found' });
    } finally {
      client.close();
    }
    // The refusal reaches this client before the other process has flushed its log line.
    await secondaryProcess.waitFor(/refused image engine\/ecm-9\.bin: target_not_found/);

    const status = await runCli(['vehicle', 'status', '--dir', car, '--json']);
    const ecus = (JSON.parse(status.stdout) as { ecus: Array<{ serial: string; installed: { filename: string }; attacksToReport: unknown[] }> }).ecus;
    expect(ecus.find((e) => e.serial === 'ecm-1')).toMatchObject({ installed: { filename: IMAGES.ecm.name }, attacksToReport: [{ code: 'target_not_found' }], servedAt: url });

    // While it is served, a primary that would open its folder in-process is told to use the URL.
    const inProcess = await runCli(['vehicle', 'run', '--dir', car, '--once']);
    expect(inProcess.status).toBe(1);
    expect(inProcess.stderr).toContain(`secondary ecm-1 is served by another process (pid ${secondaryProcess.child.pid}) at ${url}: reach it with --secondary-url ecm-1=${url}`);
    expect(await secondaryProcess.stop()).toBe(0);
    secondaryProcess = undefined;
  }, 90_000);

  it('refuses to run when the URL given for a secondary does not answer', async () => {
    const car = join(work, 'car');
    const provision = await runCli(
      [
        'vehicle', 'provision', '--dir', car, '--vin', 'VINPROC000000002', '--primary', 'tcu-1:tcu-a', '--secondary', 'ecm-1:ecm-x1',
        '--director-url', repos.director.url, '--image-url', repos.image.url,
        '--director-root', join(work, 'director-root.json'), '--image-root', join(work, 'image-root.json'),
      ],
      { env: env() },
    );
    expect(provision.status).toBe(0);
    const closed = await serveSecondary(fake());
    const deadUrl = closed.url;
    await closed.close();
    const run = await runCli(['vehicle', 'run', '--dir', car, '--once', '--secondary-url', `ecm-1=${deadUrl}`]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`cannot reach secondary ecm-1 at ${deadUrl}`);
    expect(run.stderr).toContain('uptane vehicle secondary serve');

    function fake(): SecondaryTransport {
      const no = () => Promise.reject(new Error('unused'));
      return { info: no, versionReport: no, putMetadata: no, putImage: no, install: no, beginTrial: no, commitTrial: no, rollBackTrial: no };
    }
  }, 60_000);
});
