// Signed tree heads: the log's signed statement that its tree of `size` entries has `root_hash`, at
// `timestamp`, as canonical JSON (shared/core/canonical.ts, the bytes every signature here covers)
// signed through the project's Signer, so a key file or a PKCS#11 token can sign for a log. Witnesses
// add cosignatures over the same bytes once they have checked the head is consistent with the last
// one they cosigned (witness.ts); a reader that requires them cannot be shown a split view that the
// witnesses were not also shown (docs/transparency-log.md "Tree heads and witnesses").
import { canonicalBytes } from '../core/canonical.js';
import { type Ed25519Backend, nodeBackend } from '../core/crypto/ed25519.js';
import type { PublicKey } from '../core/crypto/keys.js';
import type { Signer } from '../core/crypto/signer.js';
import { LogInconsistentError, LogProofInvalidError, LogTreeHeadSignatureError, MalformedLogDataError } from '../core/errors.js';
import { EMPTY_ROOT, type Hash, verifyConsistency } from './merkle.js';
import { type ConsistencyProof, hashHex, parseHashHex, parseTreeSize } from './proofs.js';

/** The `_type` of a tree head's signed body, so no other signed document of the project reads as one. */
export const TREE_HEAD_TYPE = 'transparency-tree-head';

export interface TreeHead {
  /** The log's name: a head of one log never verifies as another's. */
  readonly log: string;
  readonly size: number;
  readonly rootHash: Hash;
  /** UTC, to the second: `2026-12-06T20:00:00Z`. */
  readonly timestamp: string;
}

export interface TreeHeadSignature {
  readonly keyid: string;
  /** Hex, in the form the key's scheme verifies (as TUF signatures are). */
  readonly sig: string;
}

export interface SignedTreeHead {
  readonly head: TreeHead;
  /** The signed body as received, unknown fields kept (R9): its canonical bytes are what every signature covers. */
  readonly signed: Readonly<Record<string, unknown>>;
  /** The log's own signature. */
  readonly signature: TreeHeadSignature;
  /** Witnesses' signatures over the same bytes. */
  readonly cosignatures: readonly TreeHeadSignature[];
}

export interface SignedTreeHeadJson {
  readonly signed: Readonly<Record<string, unknown>>;
  readonly signature: TreeHeadSignature;
  readonly cosignatures: readonly TreeHeadSignature[];
}

/** Limits on a tree head read from outside; defaults in DEFAULT_TREE_HEAD_LIMITS. */
export interface TreeHeadLimits {
  readonly maxBytes: number;
  readonly maxCosignatures: number;
  readonly maxLogNameLength: number;
}

export const DEFAULT_TREE_HEAD_LIMITS: TreeHeadLimits = { maxBytes: 16 * 1024, maxCosignatures: 16, maxLogNameLength: 256 };

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const KEYID = /^[0-9a-f]{1,128}$/;
const SIG_HEX = /^[0-9a-f]{2,2048}$/;

/** A head's timestamp from a clock reading: whole seconds, as TUF writes its times. */
export function treeHeadTimestamp(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function bodyOf(head: TreeHead): Record<string, unknown> {
  return { _type: TREE_HEAD_TYPE, log: head.log, size: head.size, root_hash: hashHex(head.rootHash), timestamp: head.timestamp };
}

/** The bytes the log and every witness sign. */
export function treeHeadBytes(sth: Pick<SignedTreeHead, 'signed'>): Uint8Array {
  return canonicalBytes(sth.signed);
}

/** The log's signed statement of `head`. */
export function signTreeHead(head: TreeHead, signer: Signer): SignedTreeHead {
  const signed = bodyOf(head);
  return { head, signed, signature: { keyid: signer.keyid, sig: signer.sign(canonicalBytes(signed)) }, cosignatures: [] };
}

export function encodeSignedTreeHead(sth: SignedTreeHead): SignedTreeHeadJson {
  return { signed: sth.signed, signature: sth.signature, cosignatures: sth.cosignatures };
}

function parseSignature(value: unknown, field: string): TreeHeadSignature {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedLogDataError(`${field} must be an object`);
  const { keyid, sig } = value as Record<string, unknown>;
  if (typeof keyid !== 'string' || !KEYID.test(keyid)) throw new MalformedLogDataError(`${field}.keyid must be lowercase hex`);
  if (typeof sig !== 'string' || !SIG_HEX.test(sig)) throw new MalformedLogDataError(`${field}.sig must be lowercase hex of at most 1024 bytes`);
  return { keyid, sig };
}

/** A signed tree head from its JSON value; MalformedLogDataError for the first wrong field. Signatures are not checked here. */
export function parseSignedTreeHead(json: unknown, limits: TreeHeadLimits = DEFAULT_TREE_HEAD_LIMITS): SignedTreeHead {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new MalformedLogDataError('a signed tree head must be a JSON object');
  const o = json as Record<string, unknown>;
  if (typeof o.signed !== 'object' || o.signed === null || Array.isArray(o.signed)) throw new MalformedLogDataError('signed must be an object');
  const signed = o.signed as Record<string, unknown>;
  if (signed._type !== TREE_HEAD_TYPE) throw new MalformedLogDataError(`signed._type must be "${TREE_HEAD_TYPE}"`);
  if (typeof signed.log !== 'string' || signed.log === '' || signed.log.length > limits.maxLogNameLength) {
    throw new MalformedLogDataError(`signed.log must be a name of 1 to ${limits.maxLogNameLength} characters`);
  }
  const size = parseTreeSize(signed.size, 'signed.size');
  const rootHash = parseHashHex(signed.root_hash, 'signed.root_hash');
  if (typeof signed.timestamp !== 'string' || !TIMESTAMP.test(signed.timestamp) || Number.isNaN(Date.parse(signed.timestamp))) {
    throw new MalformedLogDataError('signed.timestamp must be a UTC time like 2026-12-06T20:00:00Z');
  }
  const signature = parseSignature(o.signature, 'signature');
  const cosignaturesJson = o.cosignatures ?? [];
  if (!Array.isArray(cosignaturesJson)) throw new MalformedLogDataError('cosignatures must be a list');
  if (cosignaturesJson.length > limits.maxCosignatures) throw new MalformedLogDataError(`cosignatures holds ${cosignaturesJson.length}, more than ${limits.maxCosignatures}`);
  const cosignatures = cosignaturesJson.map((c, i) => parseSignature(c, `cosignatures[${i}]`));
  // One cosignature per keyid, so a repeated one can never look like another witness.
  if (new Set(cosignatures.map((c) => c.keyid)).size !== cosignatures.length) throw new MalformedLogDataError('two cosignatures under one keyid');
  return { head: { log: signed.log, size, rootHash, timestamp: signed.timestamp }, signed, signature, cosignatures };
}

/** A signed tree head from bytes read off the wire or a file, size-capped before it is parsed. */
export function parseSignedTreeHeadBytes(bytes: Uint8Array, limits: TreeHeadLimits = DEFAULT_TREE_HEAD_LIMITS): SignedTreeHead {
  if (bytes.length > limits.maxBytes) throw new MalformedLogDataError(`a signed tree head of ${bytes.length} bytes is over the ${limits.maxBytes} allowed`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new MalformedLogDataError(`a signed tree head that is not JSON: ${err.message}`, { cause: err });
  }
  return parseSignedTreeHead(json, limits);
}

/**
 * The head, once the log's signature over it verifies under `logKey` and it names `log`; otherwise
 * LogTreeHeadSignatureError. The empty tree's head must carry the empty root.
 */
export function verifyTreeHead(sth: SignedTreeHead, logKey: PublicKey, log: string, backend: Ed25519Backend = nodeBackend): TreeHead {
  if (sth.head.log !== log) throw new LogTreeHeadSignatureError(`a tree head of log "${sth.head.log}" where "${log}" was expected`);
  if (!logKey.verify(treeHeadBytes(sth), sth.signature.sig, backend)) throw new LogTreeHeadSignatureError(`the tree head of ${sth.head.size} entries is not signed by the key of log "${log}"`);
  if (sth.head.size === 0 && Buffer.compare(sth.head.rootHash, EMPTY_ROOT) !== 0) throw new LogProofInvalidError('a head of the empty tree with a root other than SHA-256 of nothing');
  return sth.head;
}

/** A witness's cosignature of a head it has checked (witness.ts decides when to give one). */
export function cosignTreeHead(sth: SignedTreeHead, signer: Signer): TreeHeadSignature {
  return { keyid: signer.keyid, sig: signer.sign(treeHeadBytes(sth)) };
}

/** The same head with one more cosignature; a second one under the same keyid replaces the first. */
export function withCosignature(sth: SignedTreeHead, cosignature: TreeHeadSignature): SignedTreeHead {
  return { ...sth, cosignatures: [...sth.cosignatures.filter((c) => c.keyid !== cosignature.keyid), cosignature] };
}

/**
 * LogTreeHeadSignatureError unless at least `threshold` of `witnessKeys` (distinct key material, none
 * the log's own key) cosigned the head. A reader that requires this sees only heads the witnesses
 * checked for consistency (docs/transparency-log.md "Tree heads and witnesses").
 */
export function verifyCosignatures(sth: SignedTreeHead, logKey: PublicKey, witnessKeys: readonly PublicKey[], threshold: number, backend: Ed25519Backend = nodeBackend): void {
  if (!Number.isSafeInteger(threshold) || threshold < 1) throw new RangeError(`a cosignature threshold is a positive integer, got ${threshold}`);
  const bytes = treeHeadBytes(sth);
  const counted: PublicKey[] = [];
  for (const key of witnessKeys) {
    // The log vouching for itself, or one witness listed twice, is not a second party.
    if (key.sameKeyAs(logKey) || counted.some((k) => k.sameKeyAs(key))) continue;
    const cosignature = sth.cosignatures.find((c) => c.keyid === key.keyid);
    if (cosignature !== undefined && key.verify(bytes, cosignature.sig, backend)) counted.push(key);
  }
  if (counted.length < threshold) {
    throw new LogTreeHeadSignatureError(`the tree head of ${sth.head.size} entries has ${counted.length} valid witness cosignatures, ${threshold} required`);
  }
}

/**
 * Throws unless `newer` extends `older` as `proof` shows: LogInconsistentError for two heads no honest
 * log could sign (another log, a smaller tree, a fork), LogProofInvalidError for a proof between other sizes.
 */
export function checkConsistentHeads(older: TreeHead, newer: TreeHead, proof: ConsistencyProof): void {
  if (older.log !== newer.log) throw new LogInconsistentError(`heads of two logs, "${older.log}" and "${newer.log}"`);
  if (newer.size < older.size) throw new LogInconsistentError(`the log shrank from ${older.size} to ${newer.size} entries`);
  if (proof.firstSize !== older.size || proof.secondSize !== newer.size) {
    throw new LogProofInvalidError(`a consistency proof from ${proof.firstSize} to ${proof.secondSize} where ${older.size} to ${newer.size} was needed`);
  }
  try {
    verifyConsistency(older.size, newer.size, proof.hashes, older.rootHash, newer.rootHash);
  } catch (err) {
    if (!(err instanceof LogProofInvalidError)) throw err;
    throw new LogInconsistentError(`the tree of ${newer.size} entries is not shown to extend the tree of ${older.size} the reader trusts: ${err.message}`, { cause: err });
  }
}
