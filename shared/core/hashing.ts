// Hashes of metadata and images, computed while streaming (read in 1 MiB chunks and call
// hash.update(); an image is never held whole in memory). Files are hashed by client/file-hashing.ts.
import { createHash, timingSafeEqual, type Hash } from 'node:crypto';

/** Algorithms we compute; hashes under other names in metadata are ignored, but one must be known. */
export const SUPPORTED_HASHES = ['sha256', 'sha512'] as const;
export type HashAlgorithm = (typeof SUPPORTED_HASHES)[number];
export const READ_CHUNK_BYTES = 1024 * 1024;

function isSupported(algorithm: string): algorithm is HashAlgorithm {
  return (SUPPORTED_HASHES as readonly string[]).includes(algorithm);
}

/** The algorithms among `names` (a target's hash names) that this client computes. */
export function supportedHashes(names: readonly string[]): HashAlgorithm[] {
  return names.filter(isSupported);
}

/** True if at least one supported hash was computed and every one matches what is expected. */
export function digestsMatch(digests: Readonly<Record<string, string>>, expected: Readonly<Record<string, string>>): boolean {
  const computed = Object.entries(digests);
  return computed.length > 0 && computed.every(([name, hex]) => equalHex(hex, expected[name]));
}

/** Feeds chunks to every hash a target lists that we support; fails closed if none is supported. */
export class MultiHasher {
  private hashes: Array<[string, Hash]>;
  private readonly algorithms: HashAlgorithm[];

  constructor(algorithms: readonly string[]) {
    this.algorithms = supportedHashes(algorithms);
    this.hashes = this.algorithms.map((a) => [a, createHash(a)]);
  }

  /** Starts over, as when a resumed download has to restart from byte 0. */
  reset(): void {
    this.hashes = this.algorithms.map((a) => [a, createHash(a)]);
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

/** Hex digests of `bytes` for the given algorithms (default sha256 and sha512). */
export function digestBytes(bytes: Uint8Array, algorithms: readonly HashAlgorithm[] = SUPPORTED_HASHES): Record<string, string> {
  const hasher = new MultiHasher(algorithms);
  hasher.update(bytes);
  return hasher.digests();
}
