// The witness as a process (`uptane log witness`, docs/transparency-log.md "Witnesses: uptane log
// witness"): it polls a log's head, fetches the consistency proof from the last head it cosigned,
// lets the Witness class (witness.ts) decide, persists the new head BEFORE the cosignature leaves
// (a crash after posting must never let it cosign a fork of what it already vouched for), and posts
// the cosignature. A head that does not extend the last one cosigned (a split view, a dropped or
// changed entry, a shrunk log, a clock turned back) or that the log did not sign is refused: nothing
// is cosigned, nothing persisted, and the refusal is reported; the witness keeps its last head, so
// every later head of the forked history is refused too.
//
// Where the head is kept is the caller's (the CLI keeps a file, written atomically): this folder stays
// on the core (the dependency rule).
import type { Ed25519Backend } from '../core/crypto/ed25519.js';
import type { PublicKey } from '../core/crypto/keys.js';
import type { Signer } from '../core/crypto/signer.js';
import { UptaneError } from '../core/errors.js';
import type { CosignatureAnswer, LogClient } from './client.js';
import type { ConsistencyProof } from './proofs.js';
import type { SignedTreeHead, TreeHead } from './tree-head.js';
import { Witness } from './witness.js';

/** Where the witness keeps the last head it cosigned. `save` must be durable when it returns. */
export interface WitnessStateStore {
  load(): SignedTreeHead | undefined;
  save(head: SignedTreeHead): void;
}

export interface WitnessProcessOptions {
  readonly client: LogClient;
  /** The log's name, as its heads sign it. */
  readonly log: string;
  readonly logKey: PublicKey;
  /** The witness's own key. */
  readonly signer: Signer;
  readonly state: WitnessStateStore;
  readonly backend?: Ed25519Backend;
}

/** What one round came to. */
export type WitnessRound =
  | { readonly status: 'cosigned'; readonly head: TreeHead; readonly answer: CosignatureAnswer }
  /** The head is the one cosigned last, and the log serves it with this witness's cosignature. */
  | { readonly status: 'unchanged'; readonly head: TreeHead }
  /** An attack the witness will not vouch for: its code and message, the head as served if it parsed. */
  | { readonly status: 'refused'; readonly code: string; readonly message: string; readonly head?: TreeHead; readonly last?: TreeHead };

const sameHead = (a: TreeHead, b: TreeHead) => a.log === b.log && a.size === b.size && Buffer.compare(a.rootHash, b.rootHash) === 0 && a.timestamp === b.timestamp;

/**
 * One poll: fetch, check, persist, post. Attacks come back as a 'refused' round; a failure that
 * proves nothing (the network, the witness's own storage) throws, and the next round tries again.
 */
export async function witnessRound(options: WitnessProcessOptions): Promise<WitnessRound> {
  const last = options.state.load()?.head;
  let sth: SignedTreeHead | undefined;
  try {
    sth = await options.client.treeHead();
    const head = sth.head;
    if (last !== undefined && sameHead(last, head) && sth.cosignatures.some((c) => c.keyid === options.signer.keyid)) return { status: 'unchanged', head };
    const proof = await proofFrom(options.client, last, head);
    const witness = new Witness({ log: options.log, logKey: options.logKey, signer: options.signer, backend: options.backend, lastCosigned: last });
    const cosignature = witness.cosign(sth, proof);
    // Persisted first: from here on this witness has vouched for the head, posted or not.
    options.state.save(sth);
    const answer = await options.client.postCosignature(sth, cosignature);
    return { status: 'cosigned', head, answer };
  } catch (err) {
    if (!(err instanceof UptaneError) || err.kind !== 'attack') throw err;
    return { status: 'refused', code: err.code, message: err.message, ...(sth === undefined ? {} : { head: sth.head }), ...(last === undefined ? {} : { last }) };
  }
}

/** The proof from the last head cosigned to `head`; none is needed from nothing, between equal sizes or to a smaller tree (refused by the witness). */
async function proofFrom(client: LogClient, last: TreeHead | undefined, head: TreeHead): Promise<ConsistencyProof> {
  const first = last?.size ?? 0;
  if (first === 0 || first >= head.size) return { firstSize: first, secondSize: head.size, hashes: [] };
  return client.consistencyProof(first, head.size);
}

export interface WitnessLoopOptions extends WitnessProcessOptions {
  /** Seconds between polls. */
  readonly intervalSeconds: number;
  /** Each round's result, and each failure that proved nothing. */
  readonly report: (round: WitnessRound | { readonly status: 'failed'; readonly message: string }) => void;
  /** Stops the loop between rounds. */
  readonly signal: AbortSignal;
}

/** Polls until `signal` aborts; refusals are reported and the witness keeps running (and refusing the fork). */
export async function runWitness(options: WitnessLoopOptions): Promise<void> {
  while (!options.signal.aborted) {
    try {
      options.report(await witnessRound(options));
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      options.report({ status: 'failed', message: `${err.code}: ${err.message}` });
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, options.intervalSeconds * 1000);
      function done() {
        clearTimeout(timer);
        options.signal.removeEventListener('abort', done);
        resolve();
      }
      options.signal.addEventListener('abort', done);
    });
  }
}
