// The three readers of the log against the real Image repository keeping its own log (started as
// `--log-key` starts it): the witness process cosigns the server's heads over HTTP, the auditor finds
// every metadata version the repository serves in its log, and a vehicle requiring a witness's
// cosignature installs a release once the witness has cosigned the head that holds it. Between a
// publication and the witness's next round the vehicle reads the newest cosigned head, finds the
// release only in the newer uncosigned one, and waits (log_witness_pending, a fault, not an attack).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { fetchPublishedImageFiles } from '../../shared/cli/log-cli.js';
import { auditLog } from '../../shared/transparency/audit.js';
import { LogClient } from '../../shared/transparency/client.js';
import { IMAGE_LOG_NAME } from '../../shared/transparency/server-log.js';
import type { SignedTreeHead } from '../../shared/transparency/tree-head.js';
import { witnessRound, type WitnessProcessOptions } from '../../shared/transparency/witness-process.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';

const logKey = PrivateKey.fromLabel('vehicle-log-real/log');
const witnessKey = PrivateKey.fromLabel('vehicle-log-real/witness');

let clock: FixedClock;
let repos: Repositories;
let dir: string;
let car: SimulatedVehicle;
const fetcher = new HttpFetcher();
let witnessState: SignedTreeHead | undefined;
let witness: WitnessProcessOptions;

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'vehicle-log-real', { imageTransparencyLog: { signer: logKey, witnessKeys: [witnessKey.publicKey] } });
  dir = mkdtempSync(join(tmpdir(), 'uptane-vehicle-log-real-'));
  witness = {
    client: new LogClient(`${repos.image.url}/log`, fetcher),
    log: IMAGE_LOG_NAME,
    logKey: logKey.publicKey,
    signer: witnessKey,
    backend: nodeBackend,
    state: { load: () => witnessState, save: (head) => void (witnessState = head) },
  };
  car = await SimulatedVehicle.create({
    vin: 'VINLOGREAL01',
    directory: join(dir, 'car'),
    clock,
    directorUrl: repos.director.url,
    imageRepoUrl: repos.image.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    primary: { serial: 'VINLOGREAL01-tcu', hardwareId: 'tcu-a' },
    secondaries: [],
    backend: nodeBackend,
    imageLog: { log: IMAGE_LOG_NAME, logKey: logKey.publicKey.tuf, witnessKeys: [witnessKey.publicKey.tuf], witnessThreshold: 1, maxAgeSeconds: 3600 },
  });
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
});

afterAll(async () => {
  fetcher.close();
  await car.close();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the Image repository keeping its own log', () => {
  it('a witness cosigns its heads; a vehicle requiring the cosignature installs once the witness has cosigned the head holding the release', async () => {
    await repos.publishImages([{ name: 'tcu/real-1.bin', content: Buffer.from('telematics real 1'), hardwareIds: ['tcu-a'], releaseCounter: 1 }]);
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: car.spec.vin, ecuSerial: car.spec.primary.serial, image: 'tcu/real-1.bin' })).status).toBe(201);
    // Published, logged, no head cosigned yet: the vehicle will not take a head on the log's word
    // alone, and waits (a fault, retried next cycle), reporting no attack.
    const early = await car.primary.runCycle();
    expect(early.error?.code).toBe('log_witness_pending');
    expect(car.installed()[car.spec.primary.serial]).toBe('factory/tcu-a.bin');
    expect(await witnessRound(witness)).toMatchObject({ status: 'cosigned', answer: 'accepted' });
    expect(await witnessRound(witness)).toMatchObject({ status: 'unchanged' });
    const result = await car.primary.runCycle();
    expect(result.status).toBe('installed');
    expect(car.installed()[car.spec.primary.serial]).toBe('tcu/real-1.bin');
  });

  it('a release published after the last cosigned head waits for the witness (log_witness_pending, no attack reported), then installs', async () => {
    await car.primary.runCycle(); // reports the last install, so the Director takes a new assignment
    await repos.publishImages([{ name: 'tcu/real-3.bin', content: Buffer.from('telematics real 3'), hardwareIds: ['tcu-a'], releaseCounter: 3 }]);
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: car.spec.vin, ecuSerial: car.spec.primary.serial, image: 'tcu/real-3.bin' })).status).toBe(201);
    // The cosigned head lacks the release; the newest head holds it: the witnesses have not polled.
    const waiting = await car.primary.runCycle();
    expect(waiting.error?.code).toBe('log_witness_pending');
    expect(waiting.error?.message).toMatch(/no 1 witnesses have cosigned yet/);
    expect(car.installed()[car.spec.primary.serial]).toBe('tcu/real-1.bin');
    expect((await witnessRound(witness)).status).toBe('cosigned');
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect(car.installed()[car.spec.primary.serial]).toBe('tcu/real-3.bin');
    // Nothing of the wait reached the Director as an attack.
    const view = await repos.operator('GET', `/api/v1/vehicles/${car.spec.vin}`);
    expect(JSON.stringify(view.json.attacks ?? [])).not.toContain('log_');
  });

  it('the auditor finds every metadata version the repository serves in its log, and the witness\'s cosignature on its head', async () => {
    const first = await auditLog({
      client: new LogClient(`${repos.image.url}/log`, fetcher),
      log: IMAGE_LOG_NAME,
      logKey: logKey.publicKey,
      witnessKeys: [witnessKey.publicKey],
      threshold: 1,
      backend: nodeBackend,
      published: () => fetchPublishedImageFiles(fetcher, repos.image.url),
    });
    expect(first.findings).toEqual([]);
    expect(first.versionsChecked).toBeGreaterThanOrEqual(4);
    await repos.publishImages([{ name: 'tcu/real-2.bin', content: Buffer.from('telematics real 2'), hardwareIds: ['tcu-a'], releaseCounter: 2 }]);
    expect((await witnessRound(witness)).status).toBe('cosigned');
    const second = await auditLog({
      client: new LogClient(`${repos.image.url}/log`, fetcher),
      log: IMAGE_LOG_NAME,
      logKey: logKey.publicKey,
      previous: first.head,
      backend: nodeBackend,
      published: () => fetchPublishedImageFiles(fetcher, repos.image.url),
    });
    expect(second.findings).toEqual([]);
    expect(second.head!.size).toBeGreaterThan(first.head!.size);
  });
});
