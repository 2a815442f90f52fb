// The dashboard across replicas on one PostgreSQL database (docs/dashboard.md): a session cookie and
// its CSRF token made by one replica work on another (the shared session secret), and a manifest
// one replica takes reaches an event stream open on another (NOTIFY through the change feed).
import { describePostgres } from '../support/postgres.js';
import { OPERATOR_TOKEN, startReplicas, type ReplicaSet } from '../replicas/replica-harness.js';
import type { RunningDirector } from '../../director-repo/server.js';

describePostgres('dashboard on replicas', () => {
  let set: ReplicaSet;
  let a: RunningDirector;
  let b: RunningDirector;

  beforeAll(async () => {
    const started = await startReplicas('dashboard_replicas', 2);
    set = started.set;
    [a, b] = started.replicas as [RunningDirector, RunningDirector];
  }, 60_000);

  afterAll(async () => {
    await set?.close();
  });

  test('a cookie and CSRF token from one replica open and write on the other', async () => {
    const signIn = await fetch(`${a.url}/ui/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: OPERATOR_TOKEN }) });
    expect(signIn.status).toBe(200);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';', 1)[0]!;
    const { csrfToken } = (await signIn.json()) as { csrfToken: string };
    const read = await fetch(`${b.url}/ui/api/session`, { headers: { cookie } });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { csrfToken: string }).csrfToken).toBe(csrfToken);
    const write = await fetch(`${b.url}/api/v1/groups`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'from-b', vins: [] }) });
    expect(write.status).toBe(201);
  });

  test('a manifest taken by one replica arrives on an event stream open on the other', async () => {
    const car = await set.vehicle(a, 'DASH-REPLICA-1');
    const controller = new AbortController();
    const stream = await fetch(`${b.url}/api/v1/events`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` }, signal: controller.signal });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    try {
      const sent = await car.sendManifest(a.url, car.manifest());
      expect(sent.status).toBe(200);
      let text = '';
      while (!/event: manifest\ndata: .*DASH-REPLICA-1/.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended: ${text}`);
        text += new TextDecoder().decode(value);
      }
      expect(text).toContain('event: manifest\ndata: {"vin":"DASH-REPLICA-1","accepted":true}');
    } finally {
      controller.abort();
    }
  });
});
