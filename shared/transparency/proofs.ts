// Proofs as they travel: JSON objects with sizes as integers and hashes as lowercase hex. Parsed once,
// at the edge (docs/code-style.md R9), into typed values with an error naming the first wrong field;
// whether a parsed proof proves anything is merkle.ts's question.
import { MalformedLogDataError } from '../core/errors.js';
import { type Hash, HASH_LENGTH, isTreeSize, MAX_PROOF_HASHES } from './merkle.js';

export interface InclusionProof {
  readonly leafIndex: number;
  readonly treeSize: number;
  /** The hash nearest the leaf first (RFC 9162 2.1.3.1). */
  readonly hashes: readonly Hash[];
}

export interface ConsistencyProof {
  readonly firstSize: number;
  readonly secondSize: number;
  readonly hashes: readonly Hash[];
}

export interface InclusionProofJson {
  readonly leaf_index: number;
  readonly tree_size: number;
  readonly hashes: readonly string[];
}

export interface ConsistencyProofJson {
  readonly first_size: number;
  readonly second_size: number;
  readonly hashes: readonly string[];
}

const HASH_HEX = new RegExp(`^[0-9a-f]{${HASH_LENGTH * 2}}$`);

export const hashHex = (hash: Hash): string => Buffer.from(hash).toString('hex');

/** A 32-byte hash from lowercase hex, or MalformedLogDataError naming `field`. */
export function parseHashHex(value: unknown, field: string): Hash {
  if (typeof value !== 'string' || !HASH_HEX.test(value)) throw new MalformedLogDataError(`${field} must be ${HASH_LENGTH * 2} lowercase hex characters`);
  return new Uint8Array(Buffer.from(value, 'hex'));
}

export function parseTreeSize(value: unknown, field: string): number {
  if (!isTreeSize(value)) throw new MalformedLogDataError(`${field} must be a non-negative safe integer`);
  return value;
}

function parseObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedLogDataError(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function parseHashList(value: unknown, field: string): Hash[] {
  if (!Array.isArray(value)) throw new MalformedLogDataError(`${field} must be a list of hashes`);
  // Checked before any element is decoded, so an oversized list costs nothing.
  if (value.length > MAX_PROOF_HASHES) throw new MalformedLogDataError(`${field} holds ${value.length} hashes, more than any proof needs (${MAX_PROOF_HASHES})`);
  return value.map((hex, i) => parseHashHex(hex, `${field}[${i}]`));
}

export function encodeInclusionProof(proof: InclusionProof): InclusionProofJson {
  return { leaf_index: proof.leafIndex, tree_size: proof.treeSize, hashes: proof.hashes.map(hashHex) };
}

export function encodeConsistencyProof(proof: ConsistencyProof): ConsistencyProofJson {
  return { first_size: proof.firstSize, second_size: proof.secondSize, hashes: proof.hashes.map(hashHex) };
}

/** An inclusion proof from its JSON; MalformedLogDataError for the first wrong field. */
export function parseInclusionProof(json: unknown): InclusionProof {
  const o = parseObject(json, 'an inclusion proof');
  return { leafIndex: parseTreeSize(o.leaf_index, 'leaf_index'), treeSize: parseTreeSize(o.tree_size, 'tree_size'), hashes: parseHashList(o.hashes, 'hashes') };
}

/** A consistency proof from its JSON; MalformedLogDataError for the first wrong field. */
export function parseConsistencyProof(json: unknown): ConsistencyProof {
  const o = parseObject(json, 'a consistency proof');
  return { firstSize: parseTreeSize(o.first_size, 'first_size'), secondSize: parseTreeSize(o.second_size, 'second_size'), hashes: parseHashList(o.hashes, 'hashes') };
}
