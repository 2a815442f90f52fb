// Manifest signatures verified on worker threads (director-repo/services/manifest-verification.ts;
// docs/decisions.md "Signature verification on every core"): the same verdicts, errors and kinds
// as verification on the event loop; a full pool refuses with ServerBusyError (503, Retry-After)
// before anything is written; a thread that dies fails its job as a fault and is replaced; and the
// pool ends its threads when closed. A real Director (SQLite) on loopback, real worker threads.
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { ecuKeyText, type EcuKeyType } from '../../shared/core/crypto/ecu-keys.js';
import { PrivateKey, PublicKey } from '../../shared/core/crypto/keys.js';
import { ManifestSignatureError, ServerBusyError, UptaneError, WorkerFailedError } from '../../shared/core/errors.js';
import { DEFAULT_HTTP_SERVER_LIMITS, listenHttp } from '../../shared/server/http-server.js';
import type { VehicleVersionManifest } from '../../shared/uptane/manifest.js';
import { createHandler } from '../../director-repo/app.js';
import { ManifestIntakeService } from '../../director-repo/services/manifest-intake.js';
import { ArrivalOrder, ManifestVerification, type ManifestVerificationOptions } from '../../director-repo/services/manifest-verification.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

let clock: FixedClock;
let repos: Repositories;
const vehicles: TestVehicle[] = [];
const intakes: ManifestIntakeService[] = [];
let gate: string;

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'manifest-verification');
  gate = mkdtempSync(join(tmpdir(), 'worker-gate-'));
}, 60_000);

afterAll(async () => {
  for (const intake of intakes) await intake.close();
  for (const v of vehicles) v.cleanup();
  rmSync(gate, { recursive: true, force: true });
  await repos.close();
});

/** The real worker behind a gate this test opens (test/support/gated-manifest-worker.ts). */
const GATED_WORKER = new URL('../support/gated-manifest-worker.js', import.meta.url);

let registeredCount = 0;
async function registered(keyType: EcuKeyType = 'ed25519'): Promise<TestVehicle> {
  const vin = `VERIFY${String(++registeredCount).padStart(4, '0')}`;
  const car = new TestVehicle(vin, [{ serial: `${vin}-tcu`, hardwareId: 'tcu-a', primary: true, keyType }, { serial: `${vin}-ecm`, hardwareId: 'ecm-x1', keyType }], clock);
  vehicles.push(car);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  return car;
}

function intakeWith(options: ManifestVerificationOptions): ManifestIntakeService {
  const store = repos.director.storage;
  const intake = new ManifestIntakeService(store, clock, undefined, new ManifestVerification(store, options));
  intakes.push(intake);
  return intake;
}

const bytesOf = (manifest: VehicleVersionManifest): Buffer => Buffer.from(JSON.stringify(manifest));

/** The outcome as the vehicle and the operator see it, with the VIN taken out so that two vehicles compare. */
async function outcomeOf(intake: ManifestIntakeService, car: TestVehicle, manifest: VehicleVersionManifest): Promise<unknown> {
  try {
    return await intake.receiveManifest(car.vin, bytesOf(manifest));
  } catch (err) {
    if (!(err instanceof UptaneError)) throw err;
    return { error: err.constructor.name, code: err.code, kind: err.kind, role: err.role?.replaceAll(car.vin, 'VIN'), message: err.message.replaceAll(car.vin, 'VIN') };
  }
}

/** A copy of `manifest` whose signature (or `serial`'s report signature) has one hex digit changed. */
function tampered(manifest: VehicleVersionManifest, serial?: string): VehicleVersionManifest {
  const copy = JSON.parse(JSON.stringify(manifest)) as { signatures: Array<{ sig: string }>; signed: { ecu_version_reports: Record<string, { signatures: Array<{ sig: string }> }> } };
  const signatures = serial === undefined ? copy.signatures : copy.signed.ecu_version_reports[serial]!.signatures;
  const sig = signatures[0]!.sig;
  signatures[0]!.sig = `${sig.slice(0, 10)}${sig[10] === '0' ? '1' : '0'}${sig.slice(11)}`;
  return copy as unknown as VehicleVersionManifest;
}

/** Counts the signature verifications (Ed25519 and ECDSA alike) made on this thread, the event loop, while `work` runs. */
async function eventLoopVerifications<T>(work: () => Promise<T>): Promise<{ result: T; count: number }> {
  const verify = PublicKey.prototype.verify;
  let count = 0;
  PublicKey.prototype.verify = function (this: PublicKey, ...args: Parameters<typeof verify>) {
    count++;
    return verify.apply(this, args);
  };
  try {
    return { result: await work(), count };
  } finally {
    PublicKey.prototype.verify = verify;
  }
}

describe('verdicts through the worker pool', () => {
  // Each case: a fresh manifest of `car`, and what it must come to. The same case runs on a vehicle
  // judged through the pool and on one judged on the event loop.
  const cases: ReadonlyArray<{ name: string; keyType?: EcuKeyType; make: (car: TestVehicle) => VehicleVersionManifest; expected: unknown }> = [
    { name: 'a good manifest', make: (car) => car.manifest(), expected: { accepted: true, assignmentsChanged: 0 } },
    { name: 'a bad primary signature', make: (car) => tampered(car.manifest()), expected: expect.objectContaining({ error: ManifestSignatureError.name, code: 'manifest_signature', kind: 'attack' }) },
    {
      name: 'a bad ECU signature',
      // The primary signs over the tampered report: only the report's own signature is wrong.
      make: (car) => car.manifest(tampered(car.manifest(), `${car.vin}-ecm`).signed.ecu_version_reports),
      expected: expect.objectContaining({ error: ManifestSignatureError.name, role: 'VIN-ecm', kind: 'attack' }),
    },
    {
      name: 'a report signed by a key not registered for its ECU',
      make: (car) => car.manifest({ ...car.manifest().signed.ecu_version_reports, [`${car.vin}-ecm`]: car.report(car.ecus[1]!, { signer: PrivateKey.generate('ed25519') }) }),
      expected: expect.objectContaining({ error: ManifestSignatureError.name, role: 'VIN-ecm', kind: 'attack' }),
    },
    { name: 'a good manifest of ECDSA P-256 ECUs', keyType: 'ecdsa-p256', make: (car) => car.manifest(), expected: { accepted: true, assignmentsChanged: 0 } },
    {
      name: 'a bad primary signature of an ECDSA P-256 primary',
      keyType: 'ecdsa-p256',
      make: (car) => tampered(car.manifest()),
      expected: expect.objectContaining({ error: ManifestSignatureError.name, kind: 'attack' }),
    },
  ];

  test.each(cases)('$name: the same verdict, error and kind through the pool as on the event loop', async ({ keyType, make, expected }) => {
    const pooled = intakeWith({ threads: 2 });
    const inline = intakeWith({ threads: 0 });
    const [pooledCar, inlineCar] = [await registered(keyType), await registered(keyType)];
    const throughPool = await eventLoopVerifications(() => outcomeOf(pooled, pooledCar, make(pooledCar)));
    const onEventLoop = await eventLoopVerifications(() => outcomeOf(inline, inlineCar, make(inlineCar)));
    expect(onEventLoop.result).toEqual(expected);
    expect(throughPool.result).toEqual(onEventLoop.result);
    // Verified off the event loop indeed: no verification on this thread through the pool.
    expect(throughPool.count).toBe(0);
    expect(onEventLoop.count).toBeGreaterThan(0);
    expect(pooled.verification.workerPool!.threadCount).toBeGreaterThan(0);
  });

  test('a key replaced between the worker and the judge is verified again under the stored key', async () => {
    const pooled = intakeWith({ threads: 1 });
    const car = await registered();
    await expect(pooled.receiveManifest(car.vin, bytesOf(car.manifest()))).resolves.toEqual({ accepted: true, assignmentsChanged: 0 });
    // The operator replaces the ECM's key: the pool's remembered keys are now stale.
    const replacement = PrivateKey.generate('ed25519');
    const ecm = car.ecus[1]!;
    const replaced = await repos.operator('POST', `/api/v1/vehicles/${car.vin}/ecus/${ecm.serial}/replace`, { serial: ecm.serial, hardwareId: ecm.hardwareId, publicKey: ecuKeyText(replacement.publicKey) });
    expect(replaced.status).toBe(200);
    // Signed by the old key, which the worker checked (valid): refused, as the stored key did not sign it.
    const old = await outcomeOf(pooled, car, car.manifest());
    expect(old).toEqual(expect.objectContaining({ error: ManifestSignatureError.name, role: 'VIN-ecm' }));
    // Signed by the new key, which the worker did not know (remembered keys are the old ones): accepted.
    (ecm as { key: PrivateKey }).key = replacement;
    await expect(pooled.receiveManifest(car.vin, bytesOf(car.manifest()))).resolves.toEqual({ accepted: true, assignmentsChanged: 0 });
  });
});

describe('handing verified manifests on together', () => {
  test('manifests that arrive together reach their units of work in one turn, so they share one group commit', async () => {
    const cars = await Promise.all(Array.from({ length: 8 }, () => registered()));
    const store = repos.director.storage;
    // Which turn of the event loop each manifest's unit of work was handed to the store in.
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const turns: number[] = [];
    const intake = store.intake;
    const watched = new Proxy(store, {
      get: (target, name) => (name === 'intake' ? { receive: (...args: Parameters<typeof intake.receive>) => (turns.push(turn), intake.receive(...args)) } : Reflect.get(target, name)),
    });
    const pooled = new ManifestIntakeService(watched, clock, undefined, new ManifestVerification(watched, { threads: 2, gatherMs: 10_000 }));
    intakes.push(pooled);
    try {
      // Each vehicle's keys are remembered first, so the eight below go to the threads at once.
      for (const car of cars) await pooled.receiveManifest(car.vin, bytesOf(car.manifest()));
      turns.length = 0;
      const results = await Promise.all(cars.map((car) => pooled.receiveManifest(car.vin, bytesOf(car.manifest()))));
      expect(results).toEqual(cars.map(() => ({ accepted: true, assignmentsChanged: 0 })));
      // Verified one by one on two threads, yet handed on together: one turn, one commit.
      expect(turns).toHaveLength(8);
      expect(new Set(turns).size).toBe(1);
    } finally {
      ticking = false;
    }
  });
});

describe('a vehicle\'s manifests in the order they arrived', () => {
  test('two manifests of one vehicle sent together are judged in order: both accepted, the second\'s counters last', async () => {
    const pooled = intakeWith({ threads: 2 });
    const car = await registered();
    // The first one is large (long texts to parse and canonicalize), so its thread finishes after the second's.
    const attacks = Array.from({ length: 16 }, (_, i) => ({ code: `test_${i}`, message: 'x'.repeat(1000) }));
    const first = car.manifest(Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e, { attacks })])));
    const second = car.manifest();
    const results = await Promise.all([pooled.receiveManifest(car.vin, bytesOf(first)), pooled.receiveManifest(car.vin, bytesOf(second))]);
    expect(results).toEqual([
      { accepted: true, assignmentsChanged: 0 },
      { accepted: true, assignmentsChanged: 0 },
    ]);
    expect((await repos.director.storage.inventory.ecusOf(car.vin)).map((e) => e.lastCounter)).toEqual(car.ecus.map((e) => e.counter));
  });

  test('a manifest that does not parse, sent after one still verifying, is recorded after it', async () => {
    const pooled = intakeWith({ threads: 2 });
    const car = await registered();
    const attacks = Array.from({ length: 16 }, (_, i) => ({ code: `test_${i}`, message: 'x'.repeat(1000) }));
    const first = car.manifest(Object.fromEntries(car.ecus.map((e) => [e.serial, car.report(e, { attacks })])));
    const results = await Promise.allSettled([pooled.receiveManifest(car.vin, bytesOf(first)), pooled.receiveManifest(car.vin, Buffer.from('{"signed": 1'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    // Newest first: the refusal, then the manifest that arrived before it.
    expect((await repos.director.storage.manifests.history(car.vin, 100)).map((m) => [m.accepted, m.errorCode])).toEqual([
      [false, 'malformed_metadata'],
      [true, null],
    ]);
  });
});

describe('arrival order (ArrivalOrder)', () => {
  /** Places A, B and C arrive in that order; returns what was handed on, in order, as verdicts come. */
  function scene(gatherMs = 10_000) {
    const order = new ArrivalOrder(gatherMs);
    const handedOn: string[] = [];
    const places = { A: order.arrive(), B: order.arrive(), C: order.arrive() };
    const verify = (name: keyof typeof places) => order.verified(places[name]).then(() => void handedOn.push(name));
    return { order, places, handedOn, verify };
  }
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  test('a manifest verified before those that arrived earlier waits for them, and all go on in arrival order', async () => {
    const { handedOn, verify } = scene();
    const done = [verify('C'), verify('B')];
    await turn();
    expect(handedOn).toEqual([]); // A, which arrived first, is still being verified
    done.push(verify('A'));
    await Promise.all(done);
    expect(handedOn).toEqual(['A', 'B', 'C']);
  });

  test('one that leaves (busy, or its thread died) no longer holds the others', async () => {
    const { order, places, handedOn, verify } = scene();
    const done = [verify('B'), verify('C')];
    await turn();
    expect(handedOn).toEqual([]);
    order.leave(places.A);
    await Promise.all(done);
    expect(handedOn).toEqual(['B', 'C']);
  });

  test('after gatherMs the verified head goes on without waiting for the rest, still in order', async () => {
    const { handedOn, verify } = scene(20);
    const first = verify('A');
    await first; // B and C still verifying: A goes after 20 ms
    expect(handedOn).toEqual(['A']);
    await Promise.all([verify('C'), verify('B')]);
    expect(handedOn).toEqual(['A', 'B', 'C']); // C, verified before B, still went on after it
  });
});

describe('backpressure and failures (docs/threat-model.md HR-14)', () => {
  test('a full pool refuses with ServerBusyError before anything is judged or written', async () => {
    const intake = intakeWith({ threads: 1, maxQueue: 0, busyRetryAfterSeconds: 2 });
    const car = await registered();
    await intake.receiveManifest(car.vin, bytesOf(car.manifest())); // the vehicle's keys are now remembered
    const before = await repos.director.storage.manifests.history(car.vin, 100);
    const [first, second] = await Promise.allSettled([intake.receiveManifest(car.vin, bytesOf(car.manifest())), intake.receiveManifest(car.vin, bytesOf(car.manifest()))]);
    expect(first).toEqual({ status: 'fulfilled', value: { accepted: true, assignmentsChanged: 0 } });
    expect(second.status).toBe('rejected');
    const busy = (second as PromiseRejectedResult).reason as ServerBusyError;
    expect(busy).toBeInstanceOf(ServerBusyError);
    expect([busy.code, busy.kind, busy.retryAfterSeconds]).toEqual(['server_busy', 'fault', 2]);
    // Only the first is recorded: the refused one left neither a refusal nor a counter.
    const after = await repos.director.storage.manifests.history(car.vin, 100);
    expect(after.length).toBe(before.length + 1);
    expect(after.every((m) => m.accepted)).toBe(true);
    const ecus = await repos.director.storage.inventory.ecusOf(car.vin);
    expect(ecus.map((e) => e.lastCounter)).toEqual(car.ecus.map((e) => e.counter - 1));
  });

  test('over HTTP, a manifest meeting a full pool is answered 503 with Retry-After, and its retry is accepted', async () => {
    const busyGate = join(gate, 'busy');
    mkdirSync(busyGate);
    const intake = intakeWith({ threads: 1, maxQueue: 0, workerModule: GATED_WORKER, workerData: { gate: busyGate } });
    const server = await listenWith(intake);
    try {
      const car = await registered();
      const held = intake.receiveManifest(car.vin, bytesOf(car.manifest())); // waits at the gate on the one thread
      await until(() => intake.verification.workerPool!.jobsHeld === 1);
      const manifest = car.manifest();
      const body = bytesOf(manifest);
      const refused = await fetch(`${server.url}/vehicle/manifest`, { method: 'POST', body, headers: { authorization: car.authHeader('POST', '/vehicle/manifest', body), 'content-type': 'application/json' } });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('server_busy');
      writeFileSync(join(busyGate, 'open'), '');
      await expect(held).resolves.toEqual({ accepted: true, assignmentsChanged: 0 });
      // The refused manifest was never recorded: sent again (newly signed request), it is accepted.
      const retried = await car.sendManifest(server.url, manifest);
      expect(retried.status).toBe(200);
    } finally {
      await server.close();
    }
  });

  test('a thread that dies mid-job fails it as a fault with nothing written, and is replaced', async () => {
    const dieGate = join(gate, 'die');
    mkdirSync(dieGate);
    const intake = intakeWith({ threads: 1, workerModule: GATED_WORKER, workerData: { gate: dieGate } });
    const car = await registered();
    const before = await repos.director.storage.manifests.history(car.vin, 100);
    const manifest = car.manifest();
    const lost = intake.receiveManifest(car.vin, bytesOf(manifest)); // waits at the gate
    await until(() => intake.verification.workerPool!.threadCount === 1 && intake.verification.workerPool!.jobsHeld === 1);
    writeFileSync(join(dieGate, 'die'), '');
    const failure = await lost.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkerFailedError);
    expect([(failure as WorkerFailedError).code, (failure as WorkerFailedError).kind]).toEqual(['worker_failed', 'fault']);
    expect(await repos.director.storage.manifests.history(car.vin, 100)).toEqual(before);
    expect((await repos.director.storage.inventory.ecusOf(car.vin)).map((e) => e.lastCounter)).toEqual([null, null]);
    // The same manifest, sent again, meets a new thread and is accepted: nothing of it was recorded.
    unlinkSync(join(dieGate, 'die'));
    writeFileSync(join(dieGate, 'open'), '');
    await expect(intake.receiveManifest(car.vin, bytesOf(manifest))).resolves.toEqual({ accepted: true, assignmentsChanged: 0 });
    expect(intake.verification.workerPool!.threadCount).toBe(1);
  });

  test('closing ends the threads; a manifest after that fails as a fault', async () => {
    const intake = intakeWith({ threads: 2 });
    const car = await registered();
    await intake.receiveManifest(car.vin, bytesOf(car.manifest()));
    expect(intake.verification.workerPool!.threadCount).toBeGreaterThan(0);
    await intake.close();
    expect(intake.verification.workerPool!.threadCount).toBe(0);
    await expect(intake.receiveManifest(car.vin, bytesOf(car.manifest()))).rejects.toBeInstanceOf(WorkerFailedError);
  });

  test('without threads, manifests are verified on the event loop and nothing is started', async () => {
    const intake = intakeWith({ threads: 0 });
    const car = await registered();
    const { result, count } = await eventLoopVerifications(() => intake.receiveManifest(car.vin, bytesOf(car.manifest())));
    expect(result).toEqual({ accepted: true, assignmentsChanged: 0 });
    expect(count).toBeGreaterThan(0);
    expect(intake.verification.workerPool).toBeUndefined();
  });
});

/** A Director HTTP server over the fixture's services, with `intake` in place of its own. */
async function listenWith(intake: ManifestIntakeService): Promise<{ url: string; close(): Promise<void> }> {
  const { services, storage } = repos.director;
  const server: Server = await listenHttp(createHandler({ services: { ...services, intake }, storage, clock }), { limits: DEFAULT_HTTP_SERVER_LIMITS });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** Waits (bounded) until `condition` holds: a worker thread's start is an event this test cannot await. */
async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
