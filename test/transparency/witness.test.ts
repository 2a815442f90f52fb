// Attacks on the transparency log that the witness and the consistency check exist to stop
// (docs/transparency-log.md "Tree heads and witnesses"): a forked log showing one history to one
// vehicle and another to a second (a split view), a log that drops an entry, a log that shrinks or
// turns its clock back, and a head not signed by the log. Each is refused with its typed error, the
// witness's state is left as it was, and the next honest head is cosigned.
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { LogInconsistentError, LogProofInvalidError, LogTreeHeadSignatureError } from '../../shared/core/errors.js';
import { TransparencyLog } from '../../shared/transparency/log.js';
import { MemoryLogStore } from '../../shared/transparency/log-store.js';
import { hashLeaf, verifyInclusion } from '../../shared/transparency/merkle.js';
import type { ConsistencyProof } from '../../shared/transparency/proofs.js';
import { checkConsistentHeads, type SignedTreeHead, signTreeHead, type TreeHead, verifyCosignatures, verifyTreeHead, withCosignature } from '../../shared/transparency/tree-head.js';
import { Witness } from '../../shared/transparency/witness.js';

const LOG = 'uptane-ts image log';
const logKey = PrivateKey.fromLabel('transparency log');
const witnessKey = PrivateKey.fromLabel('witness');

const entry = (label: string): Uint8Array => Buffer.from(JSON.stringify({ role: 'targets', version: label }));

function newLog(clock: FixedClock): TransparencyLog {
  return new TransparencyLog(new MemoryLogStore(), { log: LOG, signer: logKey, clock });
}

function newWitness(lastCosigned?: TreeHead): Witness {
  return new Witness({ log: LOG, logKey: logKey.publicKey, signer: witnessKey, ...(lastCosigned === undefined ? {} : { lastCosigned }) });
}

/** What a vehicle requiring one witness accepts: the log's signature and the witness's cosignature. */
function vehicleAccepts(sth: SignedTreeHead): TreeHead {
  const head = verifyTreeHead(sth, logKey.publicKey, LOG);
  verifyCosignatures(sth, logKey.publicKey, [witnessKey.publicKey], 1);
  return head;
}

/** The witness's cosignature added to the head, as the log publishes it. */
async function witnessed(log: TransparencyLog, witness: Witness): Promise<SignedTreeHead> {
  const sth = await log.signTreeHead();
  const proof = await log.proveConsistency(witness.lastCosigned?.size ?? 0, sth.head.size);
  return withCosignature(sth, witness.cosign(sth, proof));
}

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

const snapshot = (head: TreeHead | undefined) => (head === undefined ? undefined : { ...head, rootHash: Buffer.from(head.rootHash).toString('hex') });

/** The refusal, its class and code, the witness's state unchanged; returns the error. */
function expectRefused<T extends Error & { code: string }>(witness: Witness, action: () => unknown, errorClass: new (...args: never[]) => T, code: string): T {
  const before = snapshot(witness.lastCosigned);
  const err = thrownBy(action);
  expect(err).toBeInstanceOf(errorClass);
  expect((err as T).code).toBe(code);
  expect(snapshot(witness.lastCosigned)).toEqual(before);
  return err as T;
}

describe('the witness', () => {
  let clock: FixedClock;
  beforeEach(() => {
    clock = new FixedClock('2026-12-06T20:00:00Z');
  });

  it('cosigns an honest log head after head, each extending the last, from the empty tree on', async () => {
    const log = newLog(clock);
    const witness = newWitness();
    vehicleAccepts(await witnessed(log, witness));
    for (const batch of [3, 1, 9, 16]) {
      await log.append(Array.from({ length: batch }, (_, i) => entry(`${batch}-${i}`)));
      clock.advance(60_000);
      const head = vehicleAccepts(await witnessed(log, witness));
      expect(witness.lastCosigned?.size).toBe(head.size);
    }
    expect(witness.lastCosigned?.size).toBe(29);
  });

  it('detects a split view: a forked log shown to two vehicles gets the witness to cosign only one history', async () => {
    const honest = newLog(clock);
    const fork = newLog(clock);
    const shared = Array.from({ length: 6 }, (_, i) => entry(`shared-${i}`));
    await honest.append(shared);
    await fork.append(shared);
    const witness = newWitness();
    vehicleAccepts(await witnessed(honest, witness));

    // Vehicle one is shown the honest log with release 7; vehicle two a fork where release 7 differs.
    await honest.append([entry('7: the release everyone sees'), entry('8')]);
    await fork.append([entry('7: a release only vehicle two sees'), entry('8')]);
    clock.advance(60_000);
    const forVehicleOne = await witnessed(honest, witness);
    expect(vehicleAccepts(forVehicleOne).size).toBe(8);

    // The fork's head, with the best proof the forked log can make, is refused by the witness.
    const forkHead = await fork.signTreeHead();
    expect(verifyTreeHead(forkHead, logKey.publicKey, LOG).size).toBe(8);
    const sameSize = await fork.proveConsistency(8, 8);
    expectRefused(witness, () => witness.cosign(forkHead, sameSize), LogInconsistentError, 'log_inconsistent');
    await fork.append([entry('9')]);
    const longerFork = await fork.signTreeHead();
    const forkProof = await fork.proveConsistency(8, 9);
    expectRefused(witness, () => witness.cosign(longerFork, forkProof), LogInconsistentError, 'log_inconsistent');
    // A witness restarted from its stored state refuses the fork too.
    const restarted = newWitness(witness.lastCosigned);
    expectRefused(restarted, () => restarted.cosign(longerFork, forkProof), LogInconsistentError, 'log_inconsistent');

    // So vehicle two, requiring the cosignature, refuses the fork's head.
    expect(thrownBy(() => vehicleAccepts(longerFork))).toBeInstanceOf(LogTreeHeadSignatureError);

    // The honest log goes on, and the witness cosigns its next head.
    await honest.append([entry('9')]);
    clock.advance(60_000);
    expect(vehicleAccepts(await witnessed(honest, witness)).size).toBe(9);
  });

  it('detects a log that drops an entry: the rebuilt log cannot prove it extends what was cosigned', async () => {
    const log = newLog(clock);
    const entries = Array.from({ length: 10 }, (_, i) => entry(`release-${i}`));
    await log.append(entries);
    const witness = newWitness();
    const cosigned = vehicleAccepts(await witnessed(log, witness));
    // A vehicle holds the inclusion proof of release 4 against the cosigned head.
    const inclusion = await log.proveInclusion(4, 10);
    verifyInclusion(hashLeaf(entries[4]!), 4, 10, inclusion.hashes, cosigned.rootHash);

    // The log is rebuilt without release 4 and grows by three, to size 12.
    const rebuilt = newLog(clock);
    await rebuilt.append([...entries.slice(0, 4), ...entries.slice(5), entry('release-10'), entry('release-11'), entry('release-12')]);
    clock.advance(60_000);
    const rebuiltHead = await rebuilt.signTreeHead();
    const proof = await rebuilt.proveConsistency(10, 12);
    expectRefused(witness, () => witness.cosign(rebuiltHead, proof), LogInconsistentError, 'log_inconsistent');
    // An auditor holding the cosigned head reaches the same verdict without the witness.
    expect(thrownBy(() => checkConsistentHeads(cosigned, rebuiltHead.head, proof))).toBeInstanceOf(LogInconsistentError);
    // Every proof of the right length from the honest log's own hashes is refused too.
    const honestProof = await log.proveConsistency(4, 10);
    expect(thrownBy(() => checkConsistentHeads(cosigned, rebuiltHead.head, { firstSize: 10, secondSize: 12, hashes: honestProof.hashes.slice(0, proof.hashes.length) }))).toBeInstanceOf(LogInconsistentError);
  });

  it('refuses a log that shrank', async () => {
    const log = newLog(clock);
    await log.append(Array.from({ length: 10 }, (_, i) => entry(`${i}`)));
    const witness = newWitness();
    await witnessed(log, witness);
    const smaller = newLog(clock);
    await smaller.append(Array.from({ length: 8 }, (_, i) => entry(`${i}`)));
    const head = await smaller.signTreeHead();
    const err = expectRefused(witness, () => witness.cosign(head, { firstSize: 10, secondSize: 8, hashes: [] }), LogInconsistentError, 'log_inconsistent');
    expect(err.message).toMatch(/shrank from 10 to 8/);
  });

  it('refuses a head older than the one it cosigned, even of a larger tree', async () => {
    const log = newLog(clock);
    await log.append([entry('a')]);
    const witness = newWitness();
    clock.advance(3_600_000);
    await witnessed(log, witness);
    await log.append([entry('b')]);
    clock.advance(-7_200_000);
    const stale = await log.signTreeHead();
    // The proof is right: only the timestamp refuses it.
    const proof = await log.proveConsistency(1, 2);
    const err = expectRefused(witness, () => witness.cosign(stale, proof), LogInconsistentError, 'log_inconsistent');
    expect(err.message).toMatch(/older than/);
    clock.advance(7_200_000);
    expect(vehicleAccepts(await witnessed(log, witness)).size).toBe(2);
  });

  it('refuses a head the log did not sign, or of another log', async () => {
    const log = newLog(clock);
    await log.append([entry('a')]);
    const witness = newWitness();
    const sth = await log.signTreeHead();
    const forged = signTreeHead(sth.head, PrivateKey.fromLabel('stolen? no: another key'));
    expectRefused(witness, () => witness.cosign(forged, { firstSize: 0, secondSize: 1, hashes: [] }), LogTreeHeadSignatureError, 'log_tree_head_signature');
    const otherLog = signTreeHead({ ...sth.head, log: 'uptane-ts director log' }, logKey);
    expectRefused(witness, () => witness.cosign(otherLog, { firstSize: 0, secondSize: 1, hashes: [] }), LogTreeHeadSignatureError, 'log_tree_head_signature');
    expect(witness.lastCosigned).toBeUndefined();
    vehicleAccepts(withCosignature(sth, witness.cosign(sth, { firstSize: 0, secondSize: 1, hashes: [] })));
  });

  it('refuses a proof between other sizes than the last cosigned head and the new one', async () => {
    const log = newLog(clock);
    await log.append(Array.from({ length: 5 }, (_, i) => entry(`${i}`)));
    const witness = newWitness();
    await witnessed(log, witness);
    await log.append([entry('5'), entry('6')]);
    const sth = await log.signTreeHead();
    const wrongFirst: ConsistencyProof = await log.proveConsistency(4, 7);
    expectRefused(witness, () => witness.cosign(sth, wrongFirst), LogProofInvalidError, 'log_proof_invalid');
    const wrongSecond: ConsistencyProof = await log.proveConsistency(5, 6);
    expectRefused(witness, () => witness.cosign(sth, wrongSecond), LogProofInvalidError, 'log_proof_invalid');
    witness.cosign(sth, await log.proveConsistency(5, 7));
    expect(witness.lastCosigned?.size).toBe(7);
  });

  it('shares its consistency check with auditors, and that check refuses heads of two different logs whatever the proof', async () => {
    const image = newLog(clock);
    await image.append([entry('a')]);
    const director = new TransparencyLog(new MemoryLogStore(), { log: 'uptane-ts director log', signer: logKey, clock });
    await director.append([entry('a'), entry('b')]);
    const older = (await image.signTreeHead()).head;
    const newer = (await director.signTreeHead()).head;
    // The same entries, so a proof between the two trees verifies: only the names tell them apart.
    const proof = await director.proveConsistency(1, 2);
    const err = thrownBy(() => checkConsistentHeads(older, newer, proof));
    expect(err).toBeInstanceOf(LogInconsistentError);
    expect((err as Error).message).toMatch(/two logs/);
  });
});
