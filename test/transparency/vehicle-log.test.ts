// A primary that requires the Image log's inclusion proof (primary-ecu/log-check.ts), against the real
// Image repository and Director on loopback, the log served through the real routes by a front that
// plays the attacker who controls the Image repository's server (log-front.ts). Each attack test
// names its threat-model row (docs/threat-model.md TL4-TL8) and fails if its check is removed: the
// vehicle would then install. In every refusal the cycle fails with the typed code, nothing is
// downloaded or installed, the attack is reported, and once the attacker is gone the update installs.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { entryForFile } from '../../shared/transparency/entry.js';
import { encodeInclusionProof } from '../../shared/transparency/proofs.js';
import { IMAGE_LOG_NAME, type LogServer } from '../../shared/transparency/server-log.js';
import { Witness } from '../../shared/transparency/witness.js';
import { IMAGE_LOG_FILES, type ImageLogPolicy } from '../../primary-ecu/log-check.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { runCli } from '../support/cli-runner.js';
import { encodeSignedTreeHead } from '../../shared/transparency/tree-head.js';
import { LogFront, logCurrentTargets, openLog } from './log-front.js';

const logKey = PrivateKey.fromLabel('vehicle-log/log');
const otherKey = PrivateKey.fromLabel('vehicle-log/not-the-log');
const witnessKey = PrivateKey.fromLabel('vehicle-log/witness');

let clock: FixedClock;
let repos: Repositories;
let dir: string;
let vins = 0;
let releases = 0;
const cars: SimulatedVehicle[] = [];
const fronts: LogFront[] = [];

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'vehicle-log');
  dir = mkdtempSync(join(tmpdir(), 'uptane-vehicle-log-'));
});

afterAll(async () => {
  for (const car of cars) await car.close();
  for (const front of fronts) await front.close();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

function policy(overrides: Partial<ImageLogPolicy> = {}): ImageLogPolicy {
  return { log: IMAGE_LOG_NAME, logKey: logKey.publicKey.tuf, witnessKeys: [], witnessThreshold: 0, maxAgeSeconds: 86_400, ...overrides };
}

async function front(log: LogServer): Promise<LogFront> {
  const f = await LogFront.start(repos.image.url, log);
  fronts.push(f);
  return f;
}

/** A primary-only vehicle reaching the Image repository through `via`, with the log policy given (or none). */
async function vehicle(via: LogFront, imageLog: ImageLogPolicy | undefined): Promise<SimulatedVehicle> {
  vins += 1;
  const vin = `VINLOG${String(vins).padStart(4, '0')}`;
  const car = await SimulatedVehicle.create({
    directorUrl: repos.director.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    directory: join(dir, vin),
    vin,
    clock,
    imageRepoUrl: via.url,
    primary: { serial: `${vin}-tcu`, hardwareId: 'tcu-a' },
    secondaries: [],
    backend: nodeBackend,
    ...(imageLog === undefined ? {} : { imageLog }),
  });
  cars.push(car);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  return car;
}

/** A new image for the primary, published by the Image repository (a new targets version) and assigned to `car`. */
async function release(car: SimulatedVehicle): Promise<string> {
  releases += 1;
  const name = `tcu/log-${releases}.bin`;
  await repos.publishImages([{ name, content: Buffer.from(`telematics release ${releases}`), hardwareIds: ['tcu-a'], releaseCounter: releases }]);
  const assigned = await repos.operator('POST', '/api/v1/assignments', { vin: car.spec.vin, ecuSerial: car.spec.primary.serial, image: name });
  expect(assigned.status).toBe(201);
  return name;
}

/** The five checks of a refused attack, but the honest retry, which each test does itself. */
async function expectRefused(car: SimulatedVehicle, code: string, image: string): Promise<void> {
  const before = car.installed();
  const result = await car.primary.runCycle();
  expect(result.error?.code).toBe(code);
  expect(result.status).toBe('failed');
  expect(car.installed()).toEqual(before);
  // Refused before the download: the image never reached the vehicle.
  expect(existsSync(join(car.spec.directory, car.spec.primary.serial, 'images', image))).toBe(false);
  expect(car.primary.reportedAttacks.map((a) => a.code)).toContain(code);
}

describe('a primary requiring the Image log', () => {
  it('installs a release the log holds, and keeps the head it accepted', async () => {
    const log = await openLog(logKey, clock);
    const f = await front(log);
    const car = await vehicle(f, policy());
    const image = await release(car);
    await logCurrentTargets(log, repos.image.url);
    const result = await car.primary.runCycle();
    expect(result.status).toBe('installed');
    expect(car.installed()[car.spec.primary.serial]).toBe(image);
    expect(existsSync(join(car.spec.directory, car.spec.primary.serial, IMAGE_LOG_FILES.head))).toBe(true);
    expect(f.requests.some((r) => r.startsWith('/proof/inclusion?'))).toBe(true);
  });

  it('a vehicle provisioned without the setting never reads the log', async () => {
    const log = await openLog(logKey, clock);
    const f = await front(log);
    const car = await vehicle(f, undefined);
    const image = await release(car);
    const result = await car.primary.runCycle();
    expect(result.status).toBe('installed');
    expect(car.installed()[car.spec.primary.serial]).toBe(image);
    expect(f.requests).toEqual([]);
  });

  it('TL4 an unlogged release: targets signed with the real (stolen) targets key, served by the Image repository, never appended to the log: log_entry_missing', async () => {
    const log = await openLog(logKey, clock);
    const car = await vehicle(await front(log), policy());
    const image = await release(car);
    await expectRefused(car, 'log_entry_missing', image);
    // The release made public (the attacker gone, or the OEM's honest release logged): it installs.
    await logCurrentTargets(log, repos.image.url);
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect(car.installed()[car.spec.primary.serial]).toBe(image);
  });

  it('TL4 the log holds an entry of other bytes under the same version: log_entry_missing', async () => {
    const log = await openLog(logKey, clock);
    const car = await vehicle(await front(log), policy());
    const image = await release(car);
    const served = await fetch(`${repos.image.url}/metadata/targets.json`).then(async (r) => Buffer.from(await r.arrayBuffer()));
    const version = (JSON.parse(served.toString('utf8')) as { signed: { version: number } }).signed.version;
    // What the world sees logged for this version is not what this vehicle is served.
    await log.append([entryForFile({ repository: 'image', role: 'targets', version }, Buffer.concat([served, Buffer.from(' ')]))]);
    await expectRefused(car, 'log_entry_missing', image);
  });

  it('TL5 a forked log: a vehicle requiring a witness cosignature refuses the head of the history the witness never saw', async () => {
    const logA = await openLog(logKey, clock, [witnessKey]);
    const logB = await openLog(logKey, clock, [witnessKey]);
    const witness = new Witness({ log: IMAGE_LOG_NAME, logKey: logKey.publicKey, signer: witnessKey, backend: nodeBackend });
    const f = await front(logA);
    const requiring = policy({ witnessKeys: [witnessKey.publicKey.tuf], witnessThreshold: 1 });
    const car = await vehicle(f, requiring);
    const image = await release(car);
    // History A, what the world sees: the release logged, the head cosigned.
    await logCurrentTargets(logA, repos.image.url);
    const headA = logA.treeHead();
    await logA.addCosignature(headA, witness.cosign(headA, { firstSize: 0, secondSize: headA.head.size, hashes: [] }));
    // History B, shown to this vehicle only: another entry first, then the release; no witness cosigned it.
    await logB.append([entryForFile({ repository: 'image', role: 'targets', version: 999 }, Buffer.from('a release only this vehicle is shown'))]);
    await logCurrentTargets(logB, repos.image.url);
    f.log = logB;
    // Served honestly, history B has no cosigned head: the vehicle cannot tell a history no witness
    // saw from witnesses that have not polled yet, so it installs nothing and waits (a fault, retried);
    // the witness is what detects the fork (test/transparency/witness*.test.ts).
    const before = car.installed();
    const waiting = await car.primary.runCycle();
    expect([waiting.status, waiting.error?.code]).toEqual(['failed', 'log_witness_pending']);
    expect(car.installed()).toEqual(before);
    expect(car.primary.reportedAttacks.map((a) => a.code)).not.toContain('log_witness_pending');
    // History B's head passed off with the cosignature of history A's head: refused as an attack.
    f.override = (path) =>
      path.startsWith('/tree-head') ? { ...encodeSignedTreeHead(logB.treeHead()), cosignatures: encodeSignedTreeHead(logA.treeHead(1)).cosignatures } : undefined;
    await expectRefused(car, 'log_tree_head_signature', image);
    // Shown the history the witness cosigned, it installs.
    f.override = undefined;
    f.log = logA;
    expect((await car.primary.runCycle()).status).toBe('installed');
  });

  it('TL5 a forked log: a vehicle that accepted a head of history A and is then shown history B detects the fork: log_inconsistent', async () => {
    const logA = await openLog(logKey, clock);
    const logB = await openLog(logKey, clock);
    const f = await front(logA);
    const car = await vehicle(f, policy());
    await release(car);
    // History B has a different past from its first entry on (an entry A never had).
    await logB.append([entryForFile({ repository: 'image', role: 'targets', version: 998 }, Buffer.from('a past only history B has'))]);
    await logCurrentTargets(logA, repos.image.url);
    await logCurrentTargets(logB, repos.image.url);
    expect((await car.primary.runCycle()).status).toBe('installed');
    // The Director hears of the install before it assigns the next image.
    expect((await car.primary.runCycle()).status).toBe('no-update');
    // A second release, logged in both histories; B is shown to the vehicle now.
    const image = await release(car);
    await logCurrentTargets(logB, repos.image.url);
    await logCurrentTargets(logA, repos.image.url);
    f.log = logB;
    await expectRefused(car, 'log_inconsistent', image);
    f.log = logA;
    expect((await car.primary.runCycle()).status).toBe('installed');
  });

  it('TL7 a stale head: a log frozen in the past is refused (log_tree_head_stale)', async () => {
    const frozenClock = new FixedClock(new Date(FIXTURE_NOW.getTime() - 2 * 86_400_000));
    const frozen = await openLog(logKey, frozenClock);
    const f = await front(frozen);
    const car = await vehicle(f, policy({ maxAgeSeconds: 86_400 }));
    const image = await release(car);
    await logCurrentTargets(frozen, repos.image.url);
    await expectRefused(car, 'log_tree_head_stale', image);
    const fresh = await openLog(logKey, clock);
    await logCurrentTargets(fresh, repos.image.url);
    f.log = fresh;
    expect((await car.primary.runCycle()).status).toBe('installed');
  });

  it('TL7 a head dated ahead of the vehicle\'s clock, which would never go stale, is refused too (log_tree_head_stale)', async () => {
    const aheadClock = new FixedClock(new Date(FIXTURE_NOW.getTime() + 3_600_000));
    const ahead = await openLog(logKey, aheadClock);
    const f = await front(ahead);
    const car = await vehicle(f, policy());
    const image = await release(car);
    await logCurrentTargets(ahead, repos.image.url);
    await expectRefused(car, 'log_tree_head_stale', image);
    const fresh = await openLog(logKey, clock);
    await logCurrentTargets(fresh, repos.image.url);
    f.log = fresh;
    expect((await car.primary.runCycle()).status).toBe('installed');
  });

  it('TL8 a head not signed by the log key the vehicle holds: log_tree_head_signature', async () => {
    const impostor = await openLog(otherKey, clock);
    const f = await front(impostor);
    const car = await vehicle(f, policy());
    const image = await release(car);
    await logCurrentTargets(impostor, repos.image.url);
    await expectRefused(car, 'log_tree_head_signature', image);
  });

  it('TL8 an inclusion proof that does not verify against the head: log_proof_invalid', async () => {
    const log = await openLog(logKey, clock);
    const f = await front(log);
    const car = await vehicle(f, policy());
    const image = await release(car);
    // Enough entries that the proof has hashes to alter.
    await log.append([1, 2, 3].map((n) => entryForFile({ repository: 'image', role: 'snapshot', version: n }, Buffer.from(`snapshot ${n}`))));
    await logCurrentTargets(log, repos.image.url);
    f.override = (path) => {
      if (!path.startsWith('/proof/inclusion?')) return undefined;
      const leaf = new URLSearchParams(path.slice(path.indexOf('?') + 1)).get('leaf_hash')!;
      return forgedProof(log, leaf);
    };
    await expectRefused(car, 'log_proof_invalid', image);
    f.override = undefined;
    expect((await car.primary.runCycle()).status).toBe('installed');
  });
});

describe('uptane vehicle provision with the Image log', () => {
  it('writes the policy into the primary\'s folder, and refuses witness options without a log key', async () => {
    writeFileSync(join(dir, 'director-root.json'), repos.directorRoot);
    writeFileSync(join(dir, 'image-root.json'), repos.imageRoot);
    writeFileSync(join(dir, 'log.pub'), logKey.publicKey.toPem());
    writeFileSync(join(dir, 'witness.pub'), witnessKey.publicKey.toPem());
    const common = ['vehicle', 'provision', '--vin', 'VINLOGCLI1', '--primary', 'VINLOGCLI1-tcu:tcu-a', '--offline', '--director-url', repos.director.url, '--image-url', repos.image.url, '--director-root', join(dir, 'director-root.json'), '--image-root', join(dir, 'image-root.json')];
    const refused = await runCli([...common, '--dir', join(dir, 'cli-refused'), '--log-witness-key', join(dir, 'witness.pub')]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/need --image-log-key/);
    expect(existsSync(join(dir, 'cli-refused'))).toBe(false);
    const made = await runCli([...common, '--dir', join(dir, 'cli-car'), '--image-log-key', join(dir, 'log.pub'), '--log-witness-key', join(dir, 'witness.pub'), '--log-max-age', '3600']);
    expect(made.stderr).toBe('');
    expect(made.status).toBe(0);
    expect(made.stdout).toMatch(/Image log: the primary installs only from targets the log "uptane-ts image log" holds/);
    const written = JSON.parse(readFileSync(join(dir, 'cli-car', 'VINLOGCLI1-tcu', IMAGE_LOG_FILES.policy), 'utf8')) as ImageLogPolicy;
    expect(written).toEqual(policy({ witnessKeys: [witnessKey.publicKey.tuf], witnessThreshold: 1, maxAgeSeconds: 3600 }));
  });
});

/** The log's own proof for `leafHex` at its current size, with the first hash's first byte flipped. */
async function forgedProof(log: LogServer, leafHex: string): Promise<unknown> {
  const proof = await log.inclusionProof(Buffer.from(leafHex, 'hex'), await log.size());
  const hashes = proof.hashes.map((h) => Uint8Array.from(h));
  hashes[0]![0]! ^= 1;
  return encodeInclusionProof({ ...proof, hashes });
}
