// L16: the Director with a client CA (mutual TLS). A vehicle route opens only over a connection
// whose client certificate, accepted by that CA, names the VIN the request authenticates as and the
// primary ECU registered for it: another vehicle's valid certificate from the same CA is refused
// even with a valid session or signature, and so are no certificate, an expired one and one from
// another CA. Operator routes need none. Real servers, real TLS, a real vehicle folder.
import { HttpFetcher, type PostResponse } from '../../shared/client/fetcher.js';
import type { ClientTlsConfig } from '../../shared/client/tls-client.js';
import { systemClock } from '../../shared/core/clock.js';
import { createDevCa, issueVehicleCertificate, type IssuedCertificate } from '../../shared/pki/dev-ca.js';
import { signVehicleRequest } from '../../shared/uptane/vehicle-auth.js';
import { vehicleFastRoutes } from '../../director-repo/app.js';
import { join } from 'node:path';
import { Fleet, SIM_PRIMARY_HARDWARE } from '../../sim/fleet.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { startTlsScene, type SceneVehicle, type TlsScene } from '../support/tls-scene.js';

const DAY = 24 * 60 * 60 * 1000;

let scene: TlsScene;
let carA: SceneVehicle;
let carB: SceneVehicle;
/** A session token the Director issued to vehicle A, over A's own certificate. */
let tokenA: string;
const fetchers: HttpFetcher[] = [];

beforeAll(async () => {
  scene = await startTlsScene({ tls: true, relay: false });
  await scene.publishImage('tcu/tcu-5.bin', Buffer.alloc(64 * 1024, 'tcu 5 '), 'tcu-m', 5);
  carA = await scene.addVehicle('MTLSVINA0001', { serial: 'tcu-a', hardwareId: 'tcu-m' });
  carB = await scene.addVehicle('MTLSVINB0002', { serial: 'tcu-b', hardwareId: 'tcu-m' });
  await scene.operator.send('POST /assignments', 'assign', { body: { vin: carA.vin, ecuSerial: 'tcu-a', image: 'tcu/tcu-5.bin' } });
  // Vehicle A updates with its own certificate: the control every refusal below is measured against.
  const opened = await carA.open();
  try {
    const cycle = await opened.primary.runCycle();
    expect(cycle.error).toBeUndefined();
    expect(cycle.status).toBe('installed');
  } finally {
    opened.close();
  }
  expect(scene.sessionTokens.length).toBeGreaterThan(0);
  tokenA = scene.sessionTokens[scene.sessionTokens.length - 1]!;
}, 60_000);

afterAll(async () => {
  fetchers.splice(0).forEach((f) => f.close());
  await scene?.close();
});

/** A client over TLS with the scene's CA, presenting `cert` (or nothing). */
function client(cert: IssuedCertificate | undefined): HttpFetcher {
  const tls: ClientTlsConfig = { ca: scene.ca!.certPem, cert: cert?.certPem, key: cert?.keyPem };
  const fetcher = new HttpFetcher({ tls });
  fetchers.push(fetcher);
  return fetcher;
}

async function send(fetcher: HttpFetcher, method: string, path: string, authorization: string, body?: Uint8Array): Promise<{ status: number; code: string | undefined; raw: PostResponse }> {
  const raw = await fetcher.send(`${scene.director.url}${path}`, { method, body, headers: { authorization }, maxBytes: 1_000_000, timeoutMs: 10_000 });
  let code: string | undefined;
  try {
    code = (JSON.parse(raw.body.toString('utf8')) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: raw.status, code, raw };
}

/** Vehicle A's primary key signs a request, as the primary does (no session needed). */
function signedByA(method: string, path: string): string {
  return signVehicleRequest(SimulatedVehicle.keysFor({ seed: 'scene', vin: carA.vin }, 'tcu-a').signing, { method, path }, systemClock.now());
}

/** Every vehicle route the Director serves: its fast route table, and the session route. */
function vehicleRoutes(): Array<{ method: string; path: string }> {
  const fast = vehicleFastRoutes({ services: scene.director.services }).map((r) => ({ method: r.method, path: r.path.replace(/:\w+/, 'timestamp.json') }));
  return [{ method: 'POST', path: '/vehicle/session' }, ...fast];
}

describe('L16: a Director with a client CA', () => {
  it("opens vehicle A's routes to vehicle A's certificate with its session (the control)", async () => {
    const answer = await send(client(carA.certificate), 'GET', '/vehicle/metadata/timestamp.json', `Bearer ${tokenA}`);
    expect(answer.status).toBe(200);
  });

  it("refuses vehicle A's valid session over a connection presenting vehicle B's valid certificate", async () => {
    const answer = await send(client(carB.certificate), 'GET', '/vehicle/metadata/timestamp.json', `Bearer ${tokenA}`);
    expect(answer.status).toBe(403);
    expect(answer.code).toBe('client_certificate_mismatch');
  });

  it("refuses vehicle A's own signed request over a connection presenting vehicle B's certificate", async () => {
    const answer = await send(client(carB.certificate), 'POST', '/vehicle/session', signedByA('POST', '/vehicle/session'));
    expect(answer.status).toBe(403);
    expect(answer.code).toBe('client_certificate_mismatch');
  });

  it("refuses a certificate naming A's VIN but another primary ECU than the one registered", async () => {
    const otherPrimary = await scene.issueVehicleCertificate(carA.vin, 'tcu-swapped');
    const answer = await send(client(otherPrimary), 'GET', '/vehicle/metadata/timestamp.json', `Bearer ${tokenA}`);
    expect(answer.status).toBe(403);
    expect(answer.code).toBe('client_certificate_mismatch');
  });

  const certificates: ReadonlyArray<readonly [string, () => Promise<IssuedCertificate | undefined>]> = [
    ['no client certificate', async () => undefined],
    ['an expired client certificate for vehicle A', async () => scene.issueVehicleCertificate(carA.vin, 'tcu-a', { notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) })],
    ['a certificate for vehicle A from another CA', async () => issueVehicleCertificate(await createDevCa({ commonName: 'rogue CA' }), { vin: carA.vin, primarySerial: 'tcu-a' })],
  ];
  it.each(certificates)('refuses every vehicle route over a connection with %s, valid session or not', async (_what, certificate) => {
    const fetcher = client(await certificate());
    for (const route of vehicleRoutes()) {
      const bySession = await send(fetcher, route.method, route.path, `Bearer ${tokenA}`);
      expect([route, bySession.status, bySession.code]).toEqual([route, 403, 'client_certificate_required']);
      const bySignature = await send(fetcher, route.method, route.path, signedByA(route.method, route.path));
      expect([route, bySignature.status, bySignature.code]).toEqual([route, 403, 'client_certificate_required']);
    }
  });

  it('a vehicle provisioned without a client certificate cannot run a cycle, and the Director sees no manifest from it', async () => {
    const bare = await scene.addVehicle('MTLSVINC0003', { serial: 'tcu-c', hardwareId: 'tcu-m' }, null);
    const opened = await bare.open();
    try {
      const cycle = await opened.primary.runCycle();
      expect(cycle.status).toBe('failed');
      expect(cycle.manifestSent).toBe(false);
    } finally {
      opened.close();
    }
    const status = await scene.operator.send('GET /vehicles/:vin', 'show', { params: { vin: bare.vin } });
    expect(status.lastManifestAt).toBeNull();
  });

  it('a simulated fleet, each vehicle with its own certificate from the CA, updates over mutual TLS', async () => {
    await scene.publishImage('sim/tcu-2.bin', Buffer.alloc(16 * 1024, 'sim tcu 2 '), SIM_PRIMARY_HARDWARE, 2);
    const fleet = await Fleet.start({
      size: 2,
      secondariesPerVehicle: 0,
      seed: 'mtls',
      directory: join(scene.dir, 'fleet'),
      directorUrl: scene.director.url,
      imageRepoUrl: scene.image.url,
      directorRoot: scene.directorRoot,
      imageRoot: scene.imageRoot,
      clock: systemClock,
      tls: { ca: scene.ca!.certPem },
      clientCertificate: (vin, primarySerial) => scene.issueVehicleCertificate(vin, primarySerial),
      register: async (registration) => void (await scene.operator.send('POST /vehicles', 'register', { body: registration })),
    });
    const vins = fleet.records.map((r) => r.vehicle.spec.vin);
    await scene.operator.send('POST /assignments', 'assign', { body: { vins, hardwareId: SIM_PRIMARY_HARDWARE, image: 'sim/tcu-2.bin' } });
    await fleet.runRound();
    expect(fleet.records.map((r) => r.results.at(-1)?.status)).toEqual(['installed', 'installed']);
  });

  it('operator routes need no client certificate', async () => {
    const answer = await scene.operator.send('GET /vehicles/:vin', 'show', { params: { vin: carA.vin } });
    // Vehicle A's manifest (sent over its own certificate in the control cycle) arrived.
    expect(answer.lastManifestAt).not.toBeNull();
    expect(answer.ecus.map((e) => e.serial)).toEqual(['tcu-a']);
  });
});
