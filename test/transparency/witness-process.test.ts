// The witness process (shared/transparency/witness-process.ts) and `uptane log witness`, against logs
// served through the real routes (log-front.ts). It cosigns heads that extend the last one it
// cosigned, persisting each before its cosignature leaves, and refuses a fork shown to it (TL5), a
// log that dropped an entry (TL6), a forged proof and a head not signed by the log: nothing cosigned,
// nothing persisted, and it goes on refusing that history while cosigning the honest one.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { LogClient } from '../../shared/transparency/client.js';
import { entryForFile } from '../../shared/transparency/entry.js';
import { encodeConsistencyProof } from '../../shared/transparency/proofs.js';
import { IMAGE_LOG_NAME, type LogServer } from '../../shared/transparency/server-log.js';
import { type SignedTreeHead, verifyCosignatures } from '../../shared/transparency/tree-head.js';
import { runWitness, witnessRound, type WitnessProcessOptions, type WitnessStateStore } from '../../shared/transparency/witness-process.js';
import { FIXTURE_NOW } from '../../sim/harness/fleet-fixtures.js';
import { runCli } from '../support/cli-runner.js';
import { LogFront, openLog } from './log-front.js';

const logKey = PrivateKey.fromLabel('witness-process/log');
const otherKey = PrivateKey.fromLabel('witness-process/other');
const witnessKey = PrivateKey.fromLabel('witness-process/witness');
const clock = new FixedClock(FIXTURE_NOW);
const fetcher = new HttpFetcher();
const fronts: LogFront[] = [];
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-witness-'));
  writeFileSync(join(dir, 'log.pub'), logKey.publicKey.toPem());
  writeFileSync(join(dir, 'witness.pem'), witnessKey.toPem(), { mode: 0o600 });
});

afterAll(async () => {
  fetcher.close();
  for (const f of fronts) await f.close();
  rmSync(dir, { recursive: true, force: true });
});

const entry = (n: number, tag = '') => entryForFile({ repository: 'image', role: 'snapshot', version: n }, Buffer.from(`snapshot ${n}${tag}`));

async function front(log: LogServer): Promise<LogFront> {
  // Nothing but /log is asked of this front.
  const f = await LogFront.start('http://127.0.0.1:9', log);
  fronts.push(f);
  return f;
}

/** A state kept in memory, recording what the log held when each save happened. */
class MemoryState implements WitnessStateStore {
  head: SignedTreeHead | undefined;
  readonly cosignedWhenSaved: number[] = [];
  constructor(private readonly served: () => LogServer) {}
  load() {
    return this.head;
  }
  save(head: SignedTreeHead) {
    this.cosignedWhenSaved.push(this.served().treeHead().cosignatures.length);
    this.head = head;
  }
}

function witnessOf(f: LogFront, state: WitnessStateStore): WitnessProcessOptions {
  return { client: new LogClient(`${f.url}/log`, fetcher), log: IMAGE_LOG_NAME, logKey: logKey.publicKey, signer: witnessKey, state, backend: nodeBackend };
}

const cosignedByWitness = (log: LogServer) => {
  verifyCosignatures(log.treeHead(), logKey.publicKey, [witnessKey.publicKey], 1, nodeBackend);
  return true;
};

describe('the witness process', () => {
  it('cosigns a first head, persisting it before the cosignature is posted, then each head that extends it', async () => {
    const log = await openLog(logKey, clock, [witnessKey]);
    await log.append([entry(1), entry(2), entry(3)]);
    const f = await front(log);
    const state = new MemoryState(() => f.log);
    const witness = witnessOf(f, state);
    expect(await witnessRound(witness)).toMatchObject({ status: 'cosigned', answer: 'accepted', head: { size: 3 } });
    expect(state.cosignedWhenSaved).toEqual([0]);
    expect(cosignedByWitness(log)).toBe(true);
    expect(await witnessRound(witness)).toMatchObject({ status: 'unchanged', head: { size: 3 } });
    await log.append([entry(4), entry(5)]);
    expect(await witnessRound(witness)).toMatchObject({ status: 'cosigned', head: { size: 5 } });
    expect(f.requests).toContain('/proof/consistency?first=3&second=5');
    expect(state.head!.head.size).toBe(5);
    expect(cosignedByWitness(log)).toBe(true);
  });

  it('TL5 refuses the head of a fork shown after the history it cosigned, keeps refusing it, and cosigns the honest history on', async () => {
    const honest = await openLog(logKey, clock, [witnessKey]);
    const fork = await openLog(logKey, clock, [witnessKey]);
    await honest.append([entry(1), entry(2)]);
    await fork.append([entry(1), entry(2, ' shown to one vehicle only'), entry(3)]);
    const f = await front(honest);
    const state = new MemoryState(() => f.log);
    const witness = witnessOf(f, state);
    expect((await witnessRound(witness)).status).toBe('cosigned');
    f.log = fork;
    const refused = await witnessRound(witness);
    expect(refused).toMatchObject({ status: 'refused', code: 'log_inconsistent', head: { size: 3 }, last: { size: 2 } });
    expect(fork.treeHead().cosignatures).toEqual([]);
    expect(state.head!.head.size).toBe(2);
    await fork.append([entry(4)]);
    expect(await witnessRound(witness)).toMatchObject({ status: 'refused', code: 'log_inconsistent' });
    f.log = honest;
    await honest.append([entry(3), entry(4)]);
    expect(await witnessRound(witness)).toMatchObject({ status: 'cosigned', head: { size: 4 } });
  });

  it('TL6 refuses a log that dropped an entry and signed a head over the rest', async () => {
    const log = await openLog(logKey, clock, [witnessKey]);
    await log.append([entry(1), entry(2), entry(3), entry(4)]);
    const f = await front(log);
    const state = new MemoryState(() => f.log);
    const witness = witnessOf(f, state);
    expect((await witnessRound(witness)).status).toBe('cosigned');
    const dropped = await openLog(logKey, clock, [witnessKey]);
    await dropped.append([entry(1), entry(3), entry(4), entry(5), entry(6)]);
    f.log = dropped;
    expect(await witnessRound(witness)).toMatchObject({ status: 'refused', code: 'log_inconsistent' });
    expect(state.head!.head.size).toBe(4);
  });

  it('refuses a consistency proof that does not verify, and a head not signed by the log', async () => {
    const log = await openLog(logKey, clock, [witnessKey]);
    await log.append([entry(1), entry(2), entry(3)]);
    const f = await front(log);
    const state = new MemoryState(() => f.log);
    const witness = witnessOf(f, state);
    expect((await witnessRound(witness)).status).toBe('cosigned');
    await log.append([entry(4), entry(5)]);
    f.override = async (path) => {
      if (!path.startsWith('/proof/consistency')) return undefined;
      const proof = await log.consistencyProof(3, 5);
      const hashes = proof.hashes.map((h) => Uint8Array.from(h));
      hashes[0]![0]! ^= 1;
      return encodeConsistencyProof({ ...proof, hashes });
    };
    expect(await witnessRound(witness)).toMatchObject({ status: 'refused', code: 'log_inconsistent' });
    f.override = undefined;
    const impostor = await openLog(otherKey, clock);
    await impostor.append([entry(1), entry(2), entry(3), entry(4), entry(5), entry(6)]);
    f.log = impostor;
    expect(await witnessRound(witness)).toMatchObject({ status: 'refused', code: 'log_tree_head_signature' });
    expect(state.head!.head.size).toBe(3);
    f.log = log;
    expect(await witnessRound(witness)).toMatchObject({ status: 'cosigned', head: { size: 5 } });
  });
});

describe('the witness loop', () => {
  it('reports every round, keeps running after a refusal, and stops when told', async () => {
    const honest = await openLog(logKey, clock, [witnessKey]);
    const fork = await openLog(logKey, clock, [witnessKey]);
    await honest.append([entry(1), entry(2)]);
    await fork.append([entry(1, ' forked'), entry(2), entry(3)]);
    const f = await front(honest);
    const state = new MemoryState(() => f.log);
    const stop = new AbortController();
    const rounds: string[] = [];
    await runWitness({
      ...witnessOf(f, state),
      intervalSeconds: 0.01,
      signal: stop.signal,
      report: (round) => {
        rounds.push(round.status === 'refused' ? `refused ${round.code}` : round.status);
        // The log turns to the fork after the first cosignature, and back after two refusals.
        if (rounds.length === 1) f.log = fork;
        if (rounds.length === 3) f.log = honest;
        if (rounds.length === 4) stop.abort();
      },
    });
    expect(rounds).toEqual(['cosigned', 'refused log_inconsistent', 'refused log_inconsistent', 'unchanged']);
    expect(state.head!.head.size).toBe(2);
  });
});

describe('uptane log witness', () => {
  it('--once cosigns and keeps the head in its state file; shown a fork it prints the refusal and exits 1', async () => {
    const honest = await openLog(logKey, clock, [witnessKey]);
    await honest.append([entry(1), entry(2)]);
    const f = await front(honest);
    const state = join(dir, 'witness-state.json');
    const args = ['log', 'witness', '--log', `${f.url}/log`, '--log-key', join(dir, 'log.pub'), '--key', join(dir, 'witness.pem'), '--state', state, '--once'];
    const first = await runCli([...args, '--json']);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ status: 'cosigned', answer: 'accepted', head: { size: 2 } });
    expect(cosignedByWitness(honest)).toBe(true);
    const saved = readFileSync(state, 'utf8');
    const fork = await openLog(logKey, clock, [witnessKey]);
    await fork.append([entry(1, ' rewritten'), entry(2), entry(3)]);
    f.log = fork;
    const refused = await runCli(args);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(/REFUSED log_inconsistent/);
    expect(readFileSync(state, 'utf8')).toBe(saved);
    expect(fork.treeHead().cosignatures).toEqual([]);
  });
});
