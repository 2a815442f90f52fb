// A witness: a second party, with a key of its own, that cosigns a log's tree head only after checking
// it extends the last head it cosigned. A log that shows one history to some readers and another to
// others must then show the witness both, and the second fails the consistency check (a split view,
// docs/transparency-log.md "Tree heads and witnesses"). Pure: the last cosigned head is handed in and
// read back out; persisting it between runs is the caller's job.
import type { Ed25519Backend } from '../core/crypto/ed25519.js';
import type { PublicKey } from '../core/crypto/keys.js';
import type { Signer } from '../core/crypto/signer.js';
import { LogInconsistentError } from '../core/errors.js';
import type { ConsistencyProof } from './proofs.js';
import { checkConsistentHeads, cosignTreeHead, type SignedTreeHead, type TreeHead, type TreeHeadSignature, verifyTreeHead } from './tree-head.js';

export interface WitnessOptions {
  /** The name of the log witnessed. */
  readonly log: string;
  readonly logKey: PublicKey;
  /** The witness's own key. */
  readonly signer: Signer;
  readonly backend?: Ed25519Backend;
  /** The last head this witness cosigned, from its storage; without one it trusts the first head it is shown. */
  readonly lastCosigned?: TreeHead;
}

export class Witness {
  private last: TreeHead | undefined;

  constructor(private readonly options: WitnessOptions) {
    this.last = options.lastCosigned;
  }

  /** What to persist: the head every later one must extend. */
  get lastCosigned(): TreeHead | undefined {
    return this.last;
  }

  /**
   * The witness's cosignature of `sth`, given a proof that it extends the last head cosigned (from
   * that head's size to this one's). Refuses, cosigning nothing and keeping its state: a head not
   * signed by the log (LogTreeHeadSignatureError), a smaller or forked tree or an older timestamp
   * (LogInconsistentError), a proof between other sizes (LogProofInvalidError).
   */
  cosign(sth: SignedTreeHead, proof: ConsistencyProof): TreeHeadSignature {
    const head = verifyTreeHead(sth, this.options.logKey, this.options.log, this.options.backend);
    if (this.last !== undefined) {
      checkConsistentHeads(this.last, head, proof);
      // Timestamps are fixed-width UTC, so text order is time order; a log's clock never runs back.
      if (head.timestamp < this.last.timestamp) throw new LogInconsistentError(`a tree head of ${head.timestamp}, older than the one of ${this.last.timestamp} already cosigned`);
    }
    const cosignature = cosignTreeHead(sth, this.options.signer);
    this.last = head;
    return cosignature;
  }
}
