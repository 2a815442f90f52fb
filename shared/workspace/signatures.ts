// Collecting signatures on a staged role, one key at a time, so several engineers can sign in turn:
// who has signed, who is still missing per authority, and adding a signature only from a key that
// one of the role's authorities names (a signature nobody counts only misleads the next reader).
import { nodeBackend } from '../core/crypto/ed25519.js';
import { PublicKey } from '../core/crypto/keys.js';
import type { Signer } from '../core/crypto/signer.js';
import { MalformedKeyError, UnauthorizedSignerError, UnsupportedKeyError, WeakKeyError, WorkspaceError } from '../core/errors.js';
import { validSigners } from '../core/metadata/sign.js';
import type { Metadata, Signature } from '../core/metadata/types.js';
import type { SigningAuthority } from './authority.js';
import type { StagedMetadata, WorkspaceFiles } from './files.js';
import { commandHint, shortKeyId } from './hints.js';

/** How far one authority's threshold is met. Keyids are full hex; `missing` are keys that may still sign. */
export interface AuthorityProgress {
  readonly label: string;
  readonly threshold: number;
  readonly keyids: readonly string[];
  readonly signed: readonly string[];
  readonly missing: readonly string[];
  readonly met: boolean;
}

/** A signature in the staged file that counts for no authority, and why. */
export interface IgnoredSignature {
  readonly keyid: string;
  readonly reason: string;
}

export function signatureProgress(metadata: Pick<Metadata, 'signedBytes' | 'signatures'>, authorities: readonly SigningAuthority[]): AuthorityProgress[] {
  return authorities.map(({ label, authority }) => {
    const signers = validSigners(metadata.signedBytes, metadata.signatures, authority, nodeBackend);
    const signed = authority.keyids.filter((keyid) => signers.some((key) => key.keyid === keyid));
    const missing = authority.keyids.filter((keyid) => !signed.includes(keyid));
    return { label, threshold: authority.threshold, keyids: authority.keyids, signed, missing, met: signers.length >= authority.threshold };
  });
}

/** Signatures that no authority counts: from keys the role does not name, or over other bytes (stale, corrupt). */
export function ignoredSignatures(metadata: Pick<Metadata, 'signedBytes' | 'signatures'>, authorities: readonly SigningAuthority[]): IgnoredSignature[] {
  const ignored: IgnoredSignature[] = [];
  for (const { keyid, sig } of metadata.signatures) {
    const tuf = authorities.map((a) => (a.authority.keyids.includes(keyid) ? a.authority.keys[keyid] : undefined)).find((k) => k !== undefined);
    if (tuf === undefined) {
      ignored.push({ keyid, reason: 'key is not authorized for this role' });
      continue;
    }
    let key: PublicKey;
    try {
      key = PublicKey.fromTuf(tuf);
    } catch (err) {
      if (!(err instanceof UnsupportedKeyError)) throw err;
      ignored.push({ keyid, reason: 'key type is not supported' });
      continue;
    }
    if (!key.verify(metadata.signedBytes, sig, nodeBackend)) ignored.push({ keyid, reason: 'signature does not verify over the staged bytes' });
  }
  return ignored;
}

/** The public key an authority names under `keyid`, or undefined if none of them does. */
export function authorizedKey(authorities: readonly SigningAuthority[], keyid: string): PublicKey | undefined {
  for (const { authority } of authorities) {
    const tuf = authority.keys[keyid];
    if (authority.keyids.includes(keyid) && tuf !== undefined) return PublicKey.fromTuf(tuf);
  }
  return undefined;
}

/**
 * The keyid under which an authority lists `key`'s material, or undefined. Keyids are names
 * (docs/decisions.md Cryptography, "Keyids"): a root written by another tool may list this key under another
 * keyid than the one computed here, and a signature must be filed under the keyid the role names to
 * count. The computed keyid is preferred when it is listed; keys this project cannot read are skipped.
 */
export function authorizedKeyIdFor(authorities: readonly SigningAuthority[], key: PublicKey): string | undefined {
  if (authorizedKey(authorities, key.keyid) !== undefined) return key.keyid;
  for (const { authority } of authorities) {
    for (const keyid of authority.keyids) {
      const tuf = authority.keys[keyid];
      if (tuf === undefined) continue;
      let listed: PublicKey;
      try {
        listed = PublicKey.fromTuf(tuf);
      } catch (err) {
        if (err instanceof UnsupportedKeyError || err instanceof MalformedKeyError || err instanceof WeakKeyError) continue;
        throw err;
      }
      if (listed.sameKeyAs(key)) return keyid;
    }
  }
  return undefined;
}

export function refuseUnauthorized(role: string, keyid: string, authorities: readonly SigningAuthority[], repository: string): never {
  const lines = authorities.map((a) => `${a.label}: ${a.authority.keyids.map(shortKeyId).join(', ') || '(none)'}`);
  throw new UnauthorizedSignerError(
    `key ${keyid} may not sign ${role}; the keys that may are: ${lines.join('; ')}. Check you chose the right key file, or add the key to the role first (\`${commandHint(repository, role === 'root' || role === 'targets' ? `root add-key --role ${role} --key FILE` : `delegate ${role} --key FILE ...`)}\`)`,
    { repository, role },
  );
}

/** The staged role, or a WorkspaceError that says how to stage it. */
export function requireStaged(files: WorkspaceFiles, role: string): StagedMetadata {
  const staged = files.loadStaged(role);
  if (staged === undefined) {
    const repo = files.config.repository;
    const how = role === 'root' ? 'root add-key / root remove-key / root threshold / root expires' : `targets add / targets remove / targets expires${role === 'targets' ? ' / delegate' : ` --role ${role}`}`;
    throw new WorkspaceError(`nothing is staged for ${role}: stage a change first (\`${commandHint(repo, how)}\`)`, { repository: repo, role });
  }
  return staged;
}

/** Replaces any signature by the same keyid: a key signs once, and re-signing unchanged bytes is a no-op. */
export function withSignature(signatures: readonly Signature[], added: Signature): Signature[] {
  return [...signatures.filter((s) => s.keyid !== added.keyid), added];
}

export interface SignResult {
  readonly role: string;
  readonly version: number;
  readonly keyid: string;
  /** True when this key's valid signature was already there: nothing was written. */
  readonly alreadySigned: boolean;
  readonly progress: AuthorityProgress[];
}

/**
 * Signs the staged `role` with `signer` (a key file or a token key), keeping every signature already
 * collected, and files the signature under the keyid the role lists for the signer's key material.
 * Refuses a key no authority of the role names (UnauthorizedSignerError) before anything is signed.
 */
export function signStaged(files: WorkspaceFiles, role: string, signer: Signer, authorities: readonly SigningAuthority[]): SignResult {
  const staged = requireStaged(files, role);
  const keyid = authorizedKeyIdFor(authorities, signer.publicKey);
  if (keyid === undefined) refuseUnauthorized(role, signer.keyid, authorities, files.config.repository);
  const existing = staged.signatures.find((s) => s.keyid === keyid);
  if (existing !== undefined && signer.publicKey.verify(staged.signedBytes, existing.sig, nodeBackend)) {
    return { role, version: staged.signed.version, keyid, alreadySigned: true, progress: signatureProgress(staged, authorities) };
  }
  const signatures = withSignature(staged.signatures, { keyid, sig: signer.sign(staged.signedBytes) });
  files.saveStaged(role, { signed: staged.signed, signatures });
  return {
    role,
    version: staged.signed.version,
    keyid,
    alreadySigned: false,
    progress: signatureProgress({ signedBytes: staged.signedBytes, signatures }, authorities),
  };
}
