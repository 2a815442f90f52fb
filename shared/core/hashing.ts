// Hashes of metadata and images, computed while streaming (read in 1 MiB chunks and call
// hash.update(); an image is never held whole in memory). Files are hashed by client/file-hashing.ts.
//
// The rule for a `hashes` object (a target, or a timestamp/snapshot META entry): every algorithm
// listed that this client computes is computed and must match; at least one must be one this client
// computes (else UnsupportedHashAlgorithmError); a name it does not compute is ignored once a
// computed one matches (docs/decisions.md "Hash algorithms").
import { createHash, timingSafeEqual, type Hash } from 'node:crypto';
import { UnsupportedHashAlgorithmError, type ErrorContext } from './errors.js';

/**
 * The TUF names this client verifies, each with the node:crypto algorithm that computes it. Names
 * follow securesystemslib and python-tuf (hashlib): `blake2b` is BLAKE2b with its full 512-bit
 * digest. python-tuf's `blake2b-256` is a different function (BLAKE2b parameterized to 32 bytes, not
 * a truncation) that node:crypto cannot compute, so it is not listed; md5, sha1 and sha224 are left
 * out on purpose: a target is never accepted on a weak hash alone.
 */
const NODE_ALGORITHMS = {
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  blake2b: 'blake2b512',
} as const;

export type HashAlgorithm = keyof typeof NODE_ALGORITHMS;
/** Every algorithm a client verifies (see NODE_ALGORITHMS). */
export const SUPPORTED_HASHES = Object.keys(NODE_ALGORITHMS) as readonly HashAlgorithm[];
/** What this project's repositories list for every image they publish (docs/decisions.md). */
export const PUBLISHED_HASHES = ['sha256', 'sha512'] as const satisfies readonly HashAlgorithm[];
export const READ_CHUNK_BYTES = 1024 * 1024;

function isSupported(algorithm: string): algorithm is HashAlgorithm {
  return Object.hasOwn(NODE_ALGORITHMS, algorithm);
}

/** The node:crypto name for a TUF hash name (the hashing thread takes these). */
export function nodeAlgorithm(algorithm: HashAlgorithm): string {
  return NODE_ALGORITHMS[algorithm];
}

/** The algorithms among `names` (a target's hash names) that this client computes. */
export function supportedHashes(names: readonly string[]): HashAlgorithm[] {
  return names.filter(isSupported);
}

/**
 * The algorithms of `hashes` this client computes, or UnsupportedHashAlgorithmError naming the ones
 * listed when there is none: such a file can never be verified, so it is refused before any byte
 * is fetched or trusted (docs/threat-model.md G2).
 */
export function requireSupportedHashes(
  hashes: Readonly<Record<string, string>>,
  what: string,
  context: ErrorContext = {},
): HashAlgorithm[] {
  const listed = Object.keys(hashes);
  const algorithms = supportedHashes(listed);
  if (algorithms.length === 0) {
    throw new UnsupportedHashAlgorithmError(
      `${what} lists only hash algorithm(s) ${listed.map((a) => JSON.stringify(a)).join(', ') || '(none)'}; ` +
        `this client verifies ${SUPPORTED_HASHES.join(', ')}`,
      context,
    );
  }
  return algorithms;
}

/** True if at least one supported hash was computed and every one matches what is expected. */
export function digestsMatch(digests: Readonly<Record<string, string>>, expected: Readonly<Record<string, string>>): boolean {
  const computed = Object.entries(digests);
  return computed.length > 0 && computed.every(([name, hex]) => equalHex(hex, Object.hasOwn(expected, name) ? expected[name] : undefined));
}

/** Feeds chunks to every hash a target lists that we support; fails closed if none is supported. */
export class MultiHasher {
  private hashes: Array<[string, Hash]>;
  private readonly algorithms: HashAlgorithm[];

  constructor(algorithms: readonly string[]) {
    this.algorithms = supportedHashes(algorithms);
    this.hashes = this.start();
  }

  /** Starts over, as when a resumed download has to restart from byte 0. */
  reset(): void {
    this.hashes = this.start();
  }

  get usable(): boolean {
    return this.hashes.length > 0;
  }

  update(chunk: Uint8Array): void {
    for (const [, hash] of this.hashes) hash.update(chunk);
  }

  digests(): Record<string, string> {
    return Object.fromEntries(this.hashes.map(([name, hash]) => [name, hash.digest('hex')]));
  }

  /** True if at least one supported hash is listed and every supported one matches. */
  matches(expected: Readonly<Record<string, string>>): boolean {
    return digestsMatch(this.digests(), expected);
  }

  private start(): Array<[string, Hash]> {
    return this.algorithms.map((a) => [a, createHash(nodeAlgorithm(a))]);
  }
}

function equalHex(actual: string, expected: string | undefined): boolean {
  if (expected === undefined || expected.length !== actual.length) return false;
  return timingSafeEqual(Buffer.from(actual), Buffer.from(expected));
}

export function hashesMatch(bytes: Uint8Array, expected: Readonly<Record<string, string>>): boolean {
  const hasher = new MultiHasher(Object.keys(expected));
  hasher.update(bytes);
  return hasher.matches(expected);
}

/** Hex digests of `bytes` for the given algorithms (default: what this project publishes). */
export function digestBytes(bytes: Uint8Array, algorithms: readonly HashAlgorithm[] = PUBLISHED_HASHES): Record<string, string> {
  const hasher = new MultiHasher(algorithms);
  hasher.update(bytes);
  return hasher.digests();
}
