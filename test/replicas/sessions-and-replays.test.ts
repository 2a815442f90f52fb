// Two Directors on one PostgreSQL database, as behind a load balancer: a vehicle's session opened at
// one is accepted at the other (and after a restart), a signed request header accepted by one is
// refused by the other (docs/threat-model.md HR-5, HR-9a across replicas), and an ECU replaced
// through one ends, at the other, the sessions its old key opened. Real servers on loopback.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningDirector } from '../../director-repo/server.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { ecuKeyText } from '../../shared/core/crypto/ecu-keys.js';
import { signVehicleRequest } from '../../shared/uptane/vehicle-auth.js';
import { fixtureEcuKey } from '../../sim/harness/fixture-keys.js';
import type { TestVehicle } from '../../sim/harness/test-vehicle.js';
import { adminQuery, describePostgres } from '../support/postgres.js';
import { eventually, request, startReplicas, type Answer, type ReplicaSet } from './replica-harness.js';

let set: ReplicaSet;
let a: RunningDirector;
let b: RunningDirector;

beforeAll(async () => {
  const started = await startReplicas('replica_auth', 2);
  set = started.set;
  [a, b] = started.replicas as [RunningDirector, RunningDirector];
}, 60_000);

afterAll(async () => {
  await set?.close();
});

const signed = (replica: RunningDirector, header: string, method = 'POST', path = '/vehicle/session'): Promise<Answer> => request(replica.url, method, path, { authorization: header });

function sessionHeader(car: TestVehicle): string {
  return signVehicleRequest(car.primary.key, { method: 'POST', path: '/vehicle/session' }, set.clock.now(), nodeBackend);
}

async function openSession(replica: RunningDirector, car: TestVehicle): Promise<string> {
  const answer = await signed(replica, sessionHeader(car));
  expect(answer.status).toBe(201);
  return answer.json.token as string;
}

const withToken = (replica: RunningDirector, token: string, path = '/vehicle/metadata/timestamp.json'): Promise<Answer> => request(replica.url, 'GET', path, { authorization: `Bearer ${token}` });

describePostgres('vehicle sessions across replicas', () => {
  it('a session opened at one replica is accepted at the other, and after that replica restarts', async () => {
    const car = await set.vehicle(a, 'SESSION-1');
    const token = await openSession(a, car);
    expect((await withToken(a, token)).status).toBe(200);
    // Per-process secrets would refuse it here: not issued by this Director.
    expect((await withToken(b, token)).status).toBe(200);
    await b.close();
    b = await set.start();
    expect((await withToken(b, token)).status).toBe(200);
  });

  it('keeps the shared session secret in the key folder, owner-only', () => {
    const stat = statSync(join(set.dataDir, 'keys', 'session-secret'));
    expect(stat.mode & 0o777).toBe(0o600);
  });
});

describePostgres('signed request replays across replicas', () => {
  it('refuses at one replica a header the other accepted, though it had seen the key before', async () => {
    const car = await set.vehicle(a, 'REPLAY-1');
    // B knows the key already (its own memory of the key's nonces is loaded)...
    expect((await signed(b, sessionHeader(car))).status).toBe(201);
    set.clock.advance(1000);
    // ...A accepts a new header, which B must refuse: its nonce is in the shared record.
    const header = sessionHeader(car);
    expect((await signed(a, header)).status).toBe(201);
    const replayed = await signed(b, header);
    expect(replayed.status).toBe(401);
    expect(replayed.json.error?.message).toMatch(/replayed/);
    // And back at A, as ever.
    expect((await signed(a, header)).status).toBe(401);
  });

  it('the same header sent to both replicas at once opens one session', async () => {
    const car = await set.vehicle(a, 'REPLAY-2');
    for (let round = 0; round < 5; round++) {
      set.clock.advance(1000);
      const header = sessionHeader(car);
      const answers = await Promise.all([a, b, a, b].map((replica) => signed(replica, header)));
      expect(answers.map((answer) => answer.status).sort()).toEqual([201, 401, 401, 401]);
    }
  });

  it('accepts two honest requests of one key stamped the same second at different replicas', async () => {
    const car = await set.vehicle(a, 'SAMESECOND-1');
    set.clock.advance(1000);
    expect((await signed(a, sessionHeader(car))).status).toBe(201);
    // A fresh nonce, the same second, at a replica that never saw the key.
    const c = await set.start();
    expect((await signed(c, sessionHeader(car))).status).toBe(201);
    await c.close();
  });
});

describePostgres('an ECU replaced through one replica', () => {
  it('ends at the other replica the sessions its old primary key opened', async () => {
    const car = await set.vehicle(a, 'REPLACE-1');
    const token = await openSession(b, car);
    // B now remembers which vehicle the key belongs to (VehicleAuthentication.primaryOf).
    expect((await withToken(b, token)).status).toBe(200);
    const newKey = fixtureEcuKey('REPLACE-1/tcu-2');
    const replaced = await set.operator(a, 'POST', `/api/v1/vehicles/${car.vin}/ecus/${car.primary.serial}/replace`, {
      serial: `${car.vin}-tcu-2`,
      hardwareId: 'tcu-a',
      publicKey: ecuKeyText(newKey.publicKey),
    });
    expect(replaced.status).toBe(200);
    // Told through the database; without the word, B would accept the token for 30 s more.
    await eventually(async () => (await withToken(b, token)).status === 401, 5_000, 'B refusing the old session');
    expect((await withToken(a, token)).status).toBe(401);
  });

  it('is heard after the replica lost and regained its listening connection', async () => {
    const car = await set.vehicle(a, 'REPLACE-2');
    const token = await openSession(b, car);
    expect((await withToken(b, token)).status).toBe(200);
    // PostgreSQL ends every session listening for changes (a restart, for the replicas).
    await adminQuery("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'uptane director changes%' AND pid <> pg_backend_pid()");
    const changes = b.storage.changes!;
    await eventually(() => !changes.listening, 5_000, 'B noticing the lost connection');
    await eventually(() => changes.listening, 10_000, 'B listening again');
    // Remembered again, after the reconnection: only word through the new connection can end it.
    expect((await withToken(b, token)).status).toBe(200);
    const replaced = await set.operator(a, 'POST', `/api/v1/vehicles/${car.vin}/ecus/${car.primary.serial}/replace`, {
      serial: `${car.vin}-tcu-2`,
      hardwareId: 'tcu-a',
      publicKey: ecuKeyText(fixtureEcuKey('REPLACE-2/tcu-2').publicKey),
    });
    expect(replaced.status).toBe(200);
    await eventually(async () => (await withToken(b, token)).status === 401, 5_000, 'B refusing the old session');
  });
});

describePostgres('assignments made through one replica', () => {
  it('are in the targets the other replica serves next', async () => {
    const car = await set.vehicle(a, 'ASSIGN-1');
    const token = await openSession(b, car);
    const before = await withToken(b, token, '/vehicle/metadata/targets.json');
    expect(before.status).toBe(200);
    expect(Object.keys((before.json.signed as { targets: object }).targets)).toEqual([]);
    const assigned = await set.operator(a, 'POST', '/api/v1/assignments', { vin: car.vin, image: 'ecm-2.0.bin', ecuSerial: `${car.vin}-ecm` });
    expect(assigned.status).toBe(201);
    const after = await withToken(b, token, '/vehicle/metadata/targets.json');
    expect(Object.keys((after.json.signed as { targets: object }).targets)).toEqual(['ecm-2.0.bin']);
  });
});
