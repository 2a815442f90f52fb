// Signing metadata, and verifying a threshold of signatures over unique keys.
//
// Threshold counting is the check peers got wrong most often (six CVEs, docs/threat-model.md
// advisories): here a key counts once however many signatures or keyids it appears under, only keys
// the role authorizes count, and a malformed signature simply does not count.
import { canonicalBytes, wireBytes } from '../canonical.js';
import type { Ed25519Backend } from '../crypto/ed25519.js';
import { PublicKey, type PrivateKey, type TufKey } from '../crypto/keys.js';
import { MalformedKeyError, UnmetThresholdError, UnsupportedKeyError, WeakKeyError, type ErrorContext } from '../errors.js';
import { checkSigned } from './parse.js';
import type { AnySigned, Metadata, RoleKeys, Signature } from './types.js';

/** Keys and threshold authorized for one role: from root (top-level roles) or a delegation. */
export interface RoleAuthority extends RoleKeys {
  readonly keys: Readonly<Record<string, TufKey>>;
}

/**
 * The distinct authorized keys that produced a valid signature over `signedBytes`. Keys are
 * compared by key material, across key types and encodings, so one key under two keyids counts
 * once (A6, go-tuf PR #369): a keyid is only the name a signature is filed under.
 */
export function validSigners(
  signedBytes: Uint8Array,
  signatures: readonly Signature[],
  authority: RoleAuthority,
  backend: Ed25519Backend,
): PublicKey[] {
  const signers: PublicKey[] = [];
  const authorized = new Set(authority.keyids);
  for (const { keyid, sig } of signatures) {
    const tuf = authority.keys[keyid];
    if (!authorized.has(keyid) || tuf === undefined) continue; // A8, A11: not this role's key
    let key: PublicKey;
    try {
      key = PublicKey.fromTuf(tuf);
    } catch (err) {
      // A key we cannot use signs nothing (parsing refuses metadata holding a malformed or weak key
      // of a scheme we know; authorities built by other means get the same verdict here).
      if (err instanceof UnsupportedKeyError || err instanceof MalformedKeyError || err instanceof WeakKeyError) continue;
      throw err;
    }
    if (signers.some((s) => s.sameKeyAs(key))) continue; // A4, A6: count each key once
    if (key.verify(signedBytes, sig, backend)) signers.push(key);
  }
  return signers;
}

/** Throws UnmetThresholdError unless a threshold of distinct authorized keys signed (A1, A2). */
export function verifyThreshold(
  metadata: Pick<Metadata, 'signedBytes' | 'signatures'>,
  authority: RoleAuthority,
  backend: Ed25519Backend,
  context: ErrorContext,
): void {
  const count = validSigners(metadata.signedBytes, metadata.signatures, authority, backend).length;
  if (count < authority.threshold) {
    const who = [context.repository, context.role].filter(Boolean).join(' ');
    throw new UnmetThresholdError(
      `${who} metadata has ${count} valid signature(s) from distinct authorized keys; ${authority.threshold} required`,
      context,
    );
  }
}

/** The envelope a signer produces: `signed` plus signatures over its canonical bytes. */
export interface SignedEnvelope<T extends AnySigned = AnySigned> {
  readonly signed: T;
  readonly signatures: Signature[];
}

/**
 * Signs `signed` with each key. The signed part is checked with the same rules a client applies,
 * so nothing a client would reject is ever produced.
 */
export function signMetadata<T extends AnySigned>(signed: T, keys: readonly PrivateKey[], backend?: Ed25519Backend): SignedEnvelope<T> {
  checkSigned(signed);
  const bytes = canonicalBytes(signed);
  return { signed, signatures: keys.map((key) => ({ keyid: key.keyid, sig: key.sign(bytes, backend) })) };
}

/** Adds one signature to an envelope, replacing an earlier signature by the same key. */
export function addSignature<T extends AnySigned>(envelope: SignedEnvelope<T>, key: PrivateKey, backend?: Ed25519Backend): SignedEnvelope<T> {
  const sig = key.sign(canonicalBytes(envelope.signed), backend);
  return {
    signed: envelope.signed,
    signatures: [...envelope.signatures.filter((s) => s.keyid !== key.keyid), { keyid: key.keyid, sig }],
  };
}

/**
 * The bytes a repository serves: the whole envelope in wire form (J9: stable bytes), which is its
 * canonical JSON unless a string holds a control character, escaped here so the file parses.
 */
export function serializeMetadata(envelope: SignedEnvelope): Buffer {
  return wireBytes(envelope);
}
