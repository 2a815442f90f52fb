// L15 from the vehicle's side: a real vehicle (a provisioned folder, opened as `uptane vehicle run`
// opens it) whose Image repository address is answered by an impostor with a certificate from
// another CA. The cycle fails with tls_certificate_refused before any request leaves, nothing is
// installed, the vehicle reports the attack to the Director in its next manifest (over its own
// mutual TLS), and once the real server answers again the next cycle installs.
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createConnection, createServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createDevCa, issueServerCertificate } from '../../shared/pki/dev-ca.js';
import { startTlsScene, type TlsScene } from '../support/tls-scene.js';

/** A TCP relay whose target can change between cycles: the attacker in the path, then gone. */
class SwitchableRelay {
  target: number;
  private readonly sockets = new Set<Socket>();
  private constructor(private readonly server: NetServer, readonly port: number, target: number) {
    this.target = target;
  }

  static async start(target: number): Promise<SwitchableRelay> {
    let relay!: SwitchableRelay;
    const server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: relay.target });
      for (const s of [client, upstream]) {
        relay.sockets.add(s);
        s.on('close', () => relay.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new SwitchableRelay(server, (server.address() as AddressInfo).port, target);
    return relay;
  }

  /** Points at another server, cutting the connections made so far. */
  switchTo(target: number): void {
    this.target = target;
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let scene: TlsScene;
let impostor: Server;
let relay: SwitchableRelay;

beforeAll(async () => {
  scene = await startTlsScene({ tls: true, relay: false });
  const rogue = await createDevCa({ commonName: 'impostor CA' });
  const cert = await issueServerCertificate(rogue, { hostnames: ['127.0.0.1'] });
  impostor = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.end('{}'));
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  relay = await SwitchableRelay.start((impostor.address() as AddressInfo).port);
}, 60_000);

afterAll(async () => {
  await relay?.close();
  await new Promise<void>((resolve) => {
    impostor?.close(() => resolve());
    impostor?.closeAllConnections();
  });
  await scene?.close();
});

it('L15: a vehicle refuses an Image repository impostor, installs nothing, reports the attack, and updates once the real server is back', async () => {
  await scene.publishImage('tcu/tcu-3.bin', Buffer.alloc(16 * 1024, 'tcu 3 '), 'tcu-v', 3);
  const car = await scene.addVehicle('VTLSVIN0001', { serial: 'tcu-v1', hardwareId: 'tcu-v' }, undefined, `https://127.0.0.1:${relay.port}`);
  await scene.operator.send('POST /assignments', 'assign', { body: { vin: car.vin, ecuSerial: 'tcu-v1', image: 'tcu/tcu-3.bin' } });
  const opened = await car.open();
  try {
    const attacked = await opened.primary.runCycle();
    expect(attacked.status).toBe('failed');
    expect(attacked.error?.code).toBe('tls_certificate_refused');
    expect(opened.primary.slots.installed.filename).toBe('factory/tcu-v.bin');

    relay.switchTo(Number(new URL(scene.image.url).port));
    const honest = await opened.primary.runCycle();
    expect(honest.error).toBeUndefined();
    expect(honest.status).toBe('installed');
    expect(opened.primary.slots.installed.filename).toBe('tcu/tcu-3.bin');
  } finally {
    opened.close();
  }
  const status = await scene.operator.send('GET /vehicles/:vin', 'show', { params: { vin: car.vin } });
  expect(status.attacks.map((a) => a.code)).toContain('tls_certificate_refused');
});
