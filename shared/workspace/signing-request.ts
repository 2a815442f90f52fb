// Air-gapped signing. The workspace exports a signing request (the canonical bytes a signature
// covers, plus context); a signer on a machine that holds only the key checks and signs it with no
// workspace at all; the workspace imports the detached signature after verifying it against the
// staged bytes and the role's authority. The SHA-256 of the bytes is printed at both ends so the two
// people can compare it over a channel the file did not travel (go-tuf #205, RSTUF #349).
import { createHash } from 'node:crypto';
import { canonicalBytes, wireBytes, wireBytesOfCanonical } from '../core/canonical.js';
import { nodeBackend } from '../core/crypto/ed25519.js';
import { PublicKey, type TufKey } from '../core/crypto/keys.js';
import type { Signer } from '../core/crypto/signer.js';
import { CanonicalJsonError, MalformedKeyError, SigningRequestError, UnauthorizedSignerError, UnsupportedKeyError, WeakKeyError, WorkspaceError } from '../core/errors.js';
import { parseJsonBytes, parseMetadata } from '../core/metadata/parse.js';
import type { AnySigned, RootSigned, TargetsSigned } from '../core/metadata/types.js';
import type { SigningAuthority } from './authority.js';
import type { WorkspaceFiles } from './files.js';
import { commandHint, shortKeyId } from './hints.js';
import { metadataTypeOf } from './roles.js';
import { authorizedKey, refuseUnauthorized, requireStaged, signatureProgress, withSignature, type AuthorityProgress } from './signatures.js';

export const SIGNING_REQUEST_TYPE = 'uptane-signing-request';
export const DETACHED_SIGNATURE_TYPE = 'uptane-detached-signature';
const FORMAT = 1;

export interface SigningRequest {
  readonly type: typeof SIGNING_REQUEST_TYPE;
  readonly format: typeof FORMAT;
  readonly repository: string;
  readonly role: string;
  readonly version: number;
  readonly expires: string;
  /** Keys asked to sign: authorized for the role and not signed yet. */
  readonly keyids: readonly string[];
  /**
   * The public key each of `keyids` names, so a signer whose key the role lists under another keyid
   * than the one computed for it (keyids are names, docs/decisions.md Cryptography, "Keyids") files its signature
   * under the listed one. Optional when read: requests written before it carry none.
   */
  readonly keys?: Readonly<Record<string, TufKey>>;
  /** Base64 of the canonical bytes of `signed`: exactly what the signature covers. */
  readonly signed: string;
  /** Hex SHA-256 of those bytes, to compare across the air gap. */
  readonly sha256: string;
}

export interface DetachedSignature {
  readonly type: typeof DETACHED_SIGNATURE_TYPE;
  readonly format: typeof FORMAT;
  readonly repository: string;
  readonly role: string;
  readonly version: number;
  /** SHA-256 of the bytes signed, so an import can tell at once whether they are still the staged ones. */
  readonly sha256: string;
  readonly keyid: string;
  readonly sig: string;
}

/** A request checked end to end: its bytes, their hash, their canonical form and their schema. */
export interface VerifiedSigningRequest {
  readonly request: SigningRequest;
  readonly bytes: Buffer;
  readonly signed: AnySigned;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function createSigningRequest(files: WorkspaceFiles, role: string, authorities: readonly SigningAuthority[]): SigningRequest {
  const staged = requireStaged(files, role);
  const wanted = [...new Set(signatureProgress(staged, authorities).flatMap((p) => p.missing))];
  if (wanted.length === 0) {
    throw new WorkspaceError(`every key that may sign ${role} v${staged.signed.version} has signed; nothing to request`, {
      repository: files.config.repository,
      role,
    });
  }
  return {
    type: SIGNING_REQUEST_TYPE,
    format: FORMAT,
    repository: files.config.repository,
    role,
    version: staged.signed.version,
    expires: staged.signed.expires,
    keyids: wanted,
    keys: Object.fromEntries(wanted.map((keyid) => [keyid, authorities.map((a) => a.authority.keys[keyid]).find((k) => k !== undefined)!])),
    signed: Buffer.from(staged.signedBytes).toString('base64'),
    sha256: sha256Hex(staged.signedBytes),
  };
}

function requestFail(what: string): never {
  throw new SigningRequestError(`signing request ${what}`);
}

/**
 * Reads a signing request and checks everything the signer's machine can check on its own: the
 * bytes hash to the stated SHA-256, they are canonical JSON (what every verifier recomputes), they
 * parse as the metadata type the role needs, and they carry the stated version and expiry.
 */
export function readSigningRequest(text: string): VerifiedSigningRequest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SigningRequestError(`signing request is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isRecord(value) || value.type !== SIGNING_REQUEST_TYPE) requestFail(`must be a JSON object with "type": "${SIGNING_REQUEST_TYPE}"`);
  if (value.format !== FORMAT) requestFail(`format ${String(value.format)} is not supported (expected ${FORMAT})`);
  for (const field of ['repository', 'role', 'expires', 'signed', 'sha256'] as const) {
    if (typeof value[field] !== 'string') requestFail(`field ${field} must be a string`);
  }
  if (!Number.isSafeInteger(value.version)) requestFail('field version must be an integer');
  if (!Array.isArray(value.keyids) || !value.keyids.every((k) => typeof k === 'string')) requestFail('field keyids must be a list of keyids');
  if (value.keys !== undefined) {
    if (!isRecord(value.keys)) requestFail('field keys must be an object of keyid to key');
    for (const [keyid, key] of Object.entries(value.keys)) {
      if (!(value.keyids as string[]).includes(keyid)) requestFail(`field keys names ${keyid}, which is not among its keyids`);
      if (!isRecord(key) || typeof key.keytype !== 'string' || typeof key.scheme !== 'string' || !isRecord(key.keyval) || typeof key.keyval.public !== 'string') {
        requestFail(`field keys.${keyid} is not a key object (keytype, scheme, keyval.public)`);
      }
    }
  }
  const request = value as unknown as SigningRequest;
  const bytes = Buffer.from(request.signed, 'base64');
  if (bytes.toString('base64') !== request.signed) requestFail('field signed is not valid base64');
  if (sha256Hex(bytes) !== request.sha256) {
    requestFail(`was altered or corrupted: its bytes hash to ${sha256Hex(bytes)}, not the ${request.sha256} it states. Do not sign it; ask for a new request`);
  }
  // Canonical bytes leave control characters raw, which JSON.parse refuses: parse their wire form.
  const signed = parseJsonBytes(wireBytesOfCanonical(bytes), { role: request.role });
  let canonical: Buffer;
  try {
    canonical = canonicalBytes(signed);
  } catch (err) {
    if (!(err instanceof CanonicalJsonError)) throw err;
    throw new SigningRequestError(`signing request bytes cannot be canonical JSON: ${err.message}`, { cause: err });
  }
  if (!canonical.equals(bytes)) requestFail('bytes are not canonical JSON: a signature over them would not verify anywhere');
  const type = metadataTypeOf(request.role);
  const parsed = parseMetadata(wireBytes({ signed, signatures: [] }), type, { repository: request.repository, role: request.role });
  if (parsed.signed.version !== request.version) requestFail(`says version ${request.version} but its bytes hold version ${parsed.signed.version}`);
  if (parsed.signed.expires !== request.expires) requestFail(`says it expires ${request.expires} but its bytes say ${parsed.signed.expires}`);
  return { request, bytes, signed: parsed.signed };
}

/**
 * The keyid of `request.keyids` the signer's key is: its computed keyid if asked for, else the keyid
 * whose listed key has the same material. Keys the request lists that cannot be read are skipped.
 */
function requestedKeyIdFor(request: SigningRequest, signer: Signer): string | undefined {
  if (request.keyids.includes(signer.keyid)) return signer.keyid;
  for (const [keyid, tuf] of Object.entries(request.keys ?? {})) {
    try {
      if (request.keyids.includes(keyid) && PublicKey.fromTuf(tuf).sameKeyAs(signer.publicKey)) return keyid;
    } catch (err) {
      if (!(err instanceof UnsupportedKeyError || err instanceof MalformedKeyError || err instanceof WeakKeyError)) throw err;
    }
  }
  return undefined;
}

/** Signs a checked request with the one key at hand (a key file or a token key): no workspace, no network. */
export function signSigningRequest(verified: VerifiedSigningRequest, signer: Signer): DetachedSignature {
  const { request, bytes } = verified;
  const keyid = requestedKeyIdFor(request, signer);
  if (keyid === undefined) {
    throw new UnauthorizedSignerError(
      `this request asks ${request.keyids.map(shortKeyId).join(', ')} to sign ${request.role} v${request.version}; your key is ${signer.keyid}. Check you chose the right key file or token key`,
      { repository: request.repository, role: request.role },
    );
  }
  return {
    type: DETACHED_SIGNATURE_TYPE,
    format: FORMAT,
    repository: request.repository,
    role: request.role,
    version: request.version,
    sha256: request.sha256,
    keyid,
    sig: signer.sign(bytes),
  };
}

/** What the signer is about to sign, in words: so nobody signs bytes they have not looked at (tuf-on-ci's principle). */
export function describeSigned(signed: AnySigned): string[] {
  const lines = [`${signed._type} version ${signed.version}, expires ${signed.expires}`];
  if (signed._type === 'root') {
    const root = signed as RootSigned;
    for (const [role, keys] of Object.entries(root.roles)) {
      lines.push(`  ${role}: threshold ${keys.threshold} of ${keys.keyids.length} key(s): ${keys.keyids.map(shortKeyId).join(', ')}`);
    }
  } else if (signed._type === 'targets') {
    const targets = signed as TargetsSigned;
    const names = Object.keys(targets.targets);
    lines.push(`  ${names.length} image(s):`);
    for (const name of names) {
      const t = targets.targets[name]!;
      const ids = t.custom?.hardwareIds?.join(', ') ?? '-';
      lines.push(`    ${name}  ${t.length} bytes  sha256 ${(t.hashes.sha256 ?? '?').slice(0, 16)}...  hardwareIds ${ids}  releaseCounter ${t.custom?.releaseCounter ?? '-'}${
        t.custom?.minimumSecurityProfile === undefined ? '' : `  minimum profile ${t.custom.minimumSecurityProfile}`
      }`);
    }
    for (const d of targets.delegations?.roles ?? []) {
      lines.push(
        `  delegates ${d.paths?.join(', ') ?? d.path_hash_prefixes?.join(', ')} to ${d.name}: threshold ${d.threshold} of ${d.keyids.map(shortKeyId).join(', ')}${d.terminating ? ', terminating' : ''}${d.hardwareIds ? `, hardwareIds ${d.hardwareIds.join(', ')}` : ''}`,
      );
    }
  }
  return lines;
}

function readDetachedSignature(text: string): DetachedSignature {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SigningRequestError(`signature file is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isRecord(value) || value.type !== DETACHED_SIGNATURE_TYPE || value.format !== FORMAT) {
    throw new SigningRequestError(`signature file must be a JSON object with "type": "${DETACHED_SIGNATURE_TYPE}", "format": ${FORMAT}`);
  }
  for (const field of ['repository', 'role', 'sha256', 'keyid', 'sig'] as const) {
    if (typeof value[field] !== 'string') throw new SigningRequestError(`signature file field ${field} must be a string`);
  }
  if (!Number.isSafeInteger(value.version)) throw new SigningRequestError('signature file field version must be an integer');
  return value as unknown as DetachedSignature;
}

export interface ImportResult {
  readonly role: string;
  readonly version: number;
  readonly keyid: string;
  readonly progress: AuthorityProgress[];
}

/**
 * Adds a detached signature to the staged role after checking it is for the same repository, role
 * and bytes, comes from a key the role's authority names, and verifies over the staged bytes.
 */
export function importSignature(files: WorkspaceFiles, text: string, authoritiesFor: (role: string) => SigningAuthority[]): ImportResult {
  const detached = readDetachedSignature(text);
  const repo = files.config.repository;
  const ctx = { repository: repo, role: detached.role };
  if (detached.repository !== repo) {
    throw new SigningRequestError(`this signature is for the ${detached.repository} repository; this workspace signs for ${repo}`, ctx);
  }
  const staged = requireStaged(files, detached.role);
  const stagedHash = sha256Hex(staged.signedBytes);
  if (detached.version !== staged.signed.version || detached.sha256 !== stagedHash) {
    throw new SigningRequestError(
      `this signature covers ${detached.role} v${detached.version} with SHA-256 ${detached.sha256}, but the staged ${detached.role} is v${staged.signed.version} with SHA-256 ${stagedHash}: it changed since the request was exported. Export a new request (\`${commandHint(repo, `sign-request export --role ${detached.role}`)}\`)`,
      ctx,
    );
  }
  const authorities = authoritiesFor(detached.role);
  const key = authorizedKey(authorities, detached.keyid);
  if (key === undefined) refuseUnauthorized(detached.role, detached.keyid, authorities, repo);
  if (!key.verify(staged.signedBytes, detached.sig, nodeBackend)) {
    throw new SigningRequestError(`the signature by ${detached.keyid} does not verify over the staged ${detached.role} v${staged.signed.version}: it was altered or made over other bytes`, ctx);
  }
  const signatures = withSignature(staged.signatures, { keyid: detached.keyid, sig: detached.sig });
  files.saveStaged(detached.role, { signed: staged.signed, signatures });
  return {
    role: detached.role,
    version: staged.signed.version,
    keyid: detached.keyid,
    progress: signatureProgress({ signedBytes: staged.signedBytes, signatures }, authorities),
  };
}
