// The interface every node:crypto signature scheme module (ecdsa.ts, rsa-pss.ts) implements, apart
// from signature-schemes.ts, which imports those modules: the scheme modules depend on this file
// only, so the registry and its schemes form no import cycle.
import type { KeyObject } from 'node:crypto';

/** Every scheme this project verifies. */
export const SCHEMES = ['ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'rsassa-pss-sha256'] as const;
export type SchemeName = (typeof SCHEMES)[number];

/** A scheme whose keys node:crypto holds as KeyObjects (everything but Ed25519). */
export interface PemScheme {
  readonly scheme: Exclude<SchemeName, 'ed25519'>;
  /** The keytype this project writes for the scheme. */
  readonly keytype: string;
  /** Keytypes accepted for it (python-tuf also reads the legacy keytype "ecdsa-sha2-nistp256"). */
  readonly keytypes: readonly string[];
  /** Throws MalformedKeyError or WeakKeyError unless `key` (public or private) belongs to this scheme. */
  check(key: KeyObject): void;
  /**
   * Key material as a string that is equal exactly when two keys are the same key, whatever their
   * encoding (an EC point compressed or not): thresholds count keys by it (docs/threat-model.md A6).
   */
  identity(key: KeyObject): string;
  verify(key: KeyObject, message: Uint8Array, signature: Uint8Array): boolean;
  sign(privateKey: KeyObject, message: Uint8Array): Uint8Array;
  generate(): KeyObject;
}
