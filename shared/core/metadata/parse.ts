// Strict parsing of untrusted metadata bytes into readonly typed objects (docs/code-style.md R9).
// Bytes are bounded by the caller before they get here (J11). Everything wrong becomes a typed error
// naming the first bad field; nothing here ever throws a TypeError on hostile input (J8,
// CVE-2026-23991). Unknown fields are kept: signatures cover them (J7).
import { checkCanonicalizable, canonicalBytes, wireBytes } from '../canonical.js';
import { PublicKey, type TufKey } from '../crypto/keys.js';
import { isKnownScheme, pemSchemeFor } from '../crypto/signature-schemes.js';
import {
  BadKeyIdError,
  CanonicalJsonError,
  IllegalThresholdError,
  MalformedKeyError,
  MalformedMetadataError,
  NonUniqueSignaturesError,
  RoleTypeMismatchError,
  WeakKeyError,
  type ErrorContext,
} from '../errors.js';
import { checkRoleName, checkTargetName } from './paths.js';
import { isSecurityProfile, MINIMUM_PROFILE_FIELD, SECURITY_PROFILES } from '../security-profile.js';
import {
  TOP_LEVEL_ROLES,
  type AnySigned,
  type Delegations,
  type MetaFile,
  type Metadata,
  type RoleType,
  type SignedTypeMap,
  type TargetFile,
} from './types.js';

/** The TUF specification major version we implement. */
export const SPEC_MAJOR = 1;
export const SPEC_VERSION = '1.0.31';

type Json = unknown;
type JsonObject = Record<string, Json>;

/** Path-aware field checks; every failure is a MalformedMetadataError with the field's path. */
class Fields {
  constructor(private readonly context: ErrorContext) {}

  fail(path: string, what: string): never {
    throw new MalformedMetadataError(`${this.where()}${path}: ${what}`, this.context);
  }

  private where(): string {
    const parts = [this.context.repository, this.context.role].filter((p) => p !== undefined);
    return parts.length > 0 ? `${parts.join(' ')} metadata: ` : '';
  }

  object(value: Json, path: string): JsonObject {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, 'must be an object');
    return value as JsonObject;
  }

  string(value: Json, path: string): string {
    if (typeof value !== 'string') this.fail(path, 'must be a string');
    return value;
  }

  nonEmptyString(value: Json, path: string): string {
    const s = this.string(value, path);
    if (s.length === 0) this.fail(path, 'must not be empty');
    return s;
  }

  boolean(value: Json, path: string): boolean {
    if (typeof value !== 'boolean') this.fail(path, 'must be true or false');
    return value;
  }

  integer(value: Json, path: string, min: number): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) this.fail(path, 'must be an integer');
    if (value < min) this.fail(path, `must be at least ${min}, got ${value}`);
    return value;
  }

  array(value: Json, path: string): Json[] {
    if (!Array.isArray(value)) this.fail(path, 'must be an array');
    return value;
  }

  stringArray(value: Json, path: string, { unique }: { unique: boolean }): string[] {
    const items = this.array(value, path).map((item, i) => this.string(item, `${path}[${i}]`));
    if (unique && new Set(items).size !== items.length) this.fail(path, 'must not list an entry twice');
    return items;
  }

  hashes(value: Json, path: string): void {
    const hashes = this.object(value, path);
    const entries = Object.entries(hashes);
    if (entries.length === 0) this.fail(path, 'must list at least one hash');
    for (const [algorithm, digest] of entries) {
      const hex = this.string(digest, `${path}.${algorithm}`);
      if (!/^[0-9a-f]+$/.test(hex)) this.fail(`${path}.${algorithm}`, 'must be lowercase hex');
    }
  }
}

/** `YYYY-MM-DDTHH:MM:SSZ` exactly, and a real calendar time (D6). */
const EXPIRES_FORMAT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

export function parseExpires(expires: string): Date {
  const match = EXPIRES_FORMAT.exec(expires);
  const date = new Date(expires);
  if (match === null || Number.isNaN(date.getTime()) || date.toISOString().replace('.000Z', 'Z') !== expires) {
    throw new MalformedMetadataError(`expires ${JSON.stringify(expires)} is not a valid YYYY-MM-DDTHH:MM:SSZ time`);
  }
  return date;
}

/** Formats a time the way `expires` must be written. */
export function formatExpires(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function checkSpecVersion(f: Fields, value: Json): void {
  const spec = f.string(value, 'signed.spec_version');
  const parts = spec.split('.');
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => /^\d+$/.test(p))) {
    f.fail('signed.spec_version', `must look like "1.0.x", got ${JSON.stringify(spec)}`);
  }
  if (Number(parts[0]) !== SPEC_MAJOR) {
    f.fail('signed.spec_version', `major version ${parts[0]} is not supported (this client speaks TUF ${SPEC_MAJOR}.x)`);
  }
}

function checkKey(f: Fields, keyid: string, value: Json, path: string, context: ErrorContext): TufKey {
  const key = f.object(value, path);
  f.nonEmptyString(key.keytype, `${path}.keytype`);
  f.nonEmptyString(key.scheme, `${path}.scheme`);
  const keyval = f.object(key.keyval, `${path}.keyval`);
  f.string(keyval.public, `${path}.keyval.public`);
  const tuf = key as unknown as TufKey;
  // The keyid rule (docs/decisions.md Cryptography, "Keyids"): a keyid is the name this key table
  // gives a key, and need not be the SHA-256 this project would compute (python-tuf and tuf-js accept
  // any; repositories in the wild carry other digests). Nothing is gained by forging one: the table is
  // signed, a signature counts only under a keyid the role lists, and signers are counted by key
  // material, so two names for one key count once (A6). An empty name is no name.
  if (keyid.length === 0) throw new BadKeyIdError(`${path}: a keyid must not be empty`, context);
  // A key of a scheme we verify must be usable as written: a malformed, mismatched or weak key in
  // signed metadata is refused with the file, not skipped, so a repository learns of it at once.
  // Ed25519 hex and schemes we do not know are left to signature counting, where they never count.
  try {
    if (isKnownScheme(tuf.scheme)) {
      // A known scheme under another keytype is a MalformedKeyError from pemSchemeFor.
      const pemScheme = pemSchemeFor(tuf.keytype, tuf.scheme);
      if (pemScheme !== undefined) PublicKey.fromTuf(tuf);
    }
  } catch (err) {
    if (err instanceof MalformedKeyError) throw new MalformedKeyError(`${path}: ${err.message}`, { ...context, cause: err });
    if (err instanceof WeakKeyError) throw new WeakKeyError(`${path}: ${err.message}`, { ...context, cause: err });
    throw err;
  }
  return tuf;
}

function checkKeys(f: Fields, value: Json, path: string, context: ErrorContext): Record<string, TufKey> {
  const keys = f.object(value, path);
  for (const [keyid, key] of Object.entries(keys)) checkKey(f, keyid, key, `${path}.${keyid}`, context);
  return keys as Record<string, TufKey>;
}

/**
 * keyids unique and known; threshold an integer >= 1 (A5, A7). A threshold above the number of
 * distinct keys is NOT refused here (A3): it makes only that role's metadata unverifiable, which the
 * trusted set reports when it verifies the role. Refusing the whole root for it would strand a client
 * on root N-1, since root versions must follow one another and a repaired N+1 could never be reached
 * (python-tuf and tuf-js accept such a root too).
 */
function checkRoleKeys(
  f: Fields,
  role: JsonObject,
  path: string,
  keys: Record<string, TufKey>,
  context: ErrorContext,
): void {
  const keyids = f.array(role.keyids, `${path}.keyids`).map((k, i) => f.string(k, `${path}.keyids[${i}]`));
  if (new Set(keyids).size !== keyids.length) {
    throw new BadKeyIdError(`${path}.keyids lists a keyid twice`, context);
  }
  for (const keyid of keyids) {
    // Own keys only: `in` would find "toString" or "__proto__" on Object.prototype and crash below
    // (J8, go-tuf CVE-2026-23991 class: a TypeError from valid JSON before any signature check).
    if (!Object.hasOwn(keys, keyid)) throw new BadKeyIdError(`${path}.keyids names ${keyid}, which is not among the keys`, context);
  }
  const threshold = role.threshold;
  if (typeof threshold !== 'number' || !Number.isSafeInteger(threshold) || threshold < 1) {
    throw new IllegalThresholdError(`${path}.threshold must be an integer >= 1, got ${JSON.stringify(threshold)}`, context);
  }
}

function checkMetaFile(f: Fields, value: Json, path: string): MetaFile {
  const meta = f.object(value, path);
  f.integer(meta.version, `${path}.version`, 1);
  if (meta.length !== undefined) f.integer(meta.length, `${path}.length`, 0);
  if (meta.hashes !== undefined) f.hashes(meta.hashes, `${path}.hashes`);
  return meta as unknown as MetaFile;
}

function checkRoot(f: Fields, signed: JsonObject, context: ErrorContext): void {
  f.boolean(signed.consistent_snapshot, 'signed.consistent_snapshot');
  const keys = checkKeys(f, signed.keys, 'signed.keys', context);
  const roles = f.object(signed.roles, 'signed.roles');
  for (const name of Object.keys(roles)) {
    if (!(TOP_LEVEL_ROLES as readonly string[]).includes(name)) f.fail(`signed.roles.${name}`, 'is not a top-level role');
  }
  for (const name of TOP_LEVEL_ROLES) {
    if (roles[name] === undefined) f.fail(`signed.roles.${name}`, 'is missing');
    checkRoleKeys(f, f.object(roles[name], `signed.roles.${name}`), `signed.roles.${name}`, keys, context);
  }
}

function checkTimestamp(f: Fields, signed: JsonObject): void {
  const meta = f.object(signed.meta, 'signed.meta');
  const names = Object.keys(meta);
  if (names.length !== 1 || names[0] !== 'snapshot.json') f.fail('signed.meta', 'must list exactly snapshot.json');
  checkMetaFile(f, meta['snapshot.json'], 'signed.meta.snapshot.json');
}

function checkSnapshot(f: Fields, signed: JsonObject): void {
  const meta = f.object(signed.meta, 'signed.meta');
  for (const [name, file] of Object.entries(meta)) {
    if (!name.endsWith('.json')) f.fail(`signed.meta.${name}`, 'names must end in .json');
    checkMetaFile(f, file, `signed.meta.${name}`);
  }
}

function checkTargetCustom(f: Fields, value: Json, path: string): void {
  const custom = f.object(value, path);
  if (custom.hardwareIds !== undefined) {
    const ids = f.stringArray(custom.hardwareIds, `${path}.hardwareIds`, { unique: true });
    ids.forEach((id, i) => f.nonEmptyString(id, `${path}.hardwareIds[${i}]`));
  }
  if (custom.releaseCounter !== undefined) f.integer(custom.releaseCounter, `${path}.releaseCounter`, 0);
  if (custom.ecuIdentifiers !== undefined) {
    const ecus = f.object(custom.ecuIdentifiers, `${path}.ecuIdentifiers`);
    for (const [serial, ecu] of Object.entries(ecus)) {
      if (serial.length === 0) f.fail(`${path}.ecuIdentifiers`, 'ECU serials must not be empty');
      f.nonEmptyString(f.object(ecu, `${path}.ecuIdentifiers.${serial}`).hardwareId, `${path}.ecuIdentifiers.${serial}.hardwareId`);
    }
  }
  // An image's lowest security profile (docs/security-profiles.md): a name no ECU can compare with
  // would otherwise read as "no minimum" to a careless caller, so it is refused here, once.
  const minimum = custom[MINIMUM_PROFILE_FIELD];
  if (minimum !== undefined && !isSecurityProfile(minimum)) {
    f.fail(`${path}.${MINIMUM_PROFILE_FIELD}`, `must be one of ${SECURITY_PROFILES.join(', ')}, got ${JSON.stringify(minimum)}`);
  }
}

function checkTargetFile(f: Fields, value: Json, path: string): TargetFile {
  const target = f.object(value, path);
  f.integer(target.length, `${path}.length`, 0);
  if (target.hashes === undefined) f.fail(`${path}.hashes`, 'is missing');
  f.hashes(target.hashes, `${path}.hashes`);
  if (target.custom !== undefined) checkTargetCustom(f, target.custom, `${path}.custom`);
  return target as unknown as TargetFile;
}

const MAX_SUCCINCT_BIT_LENGTH = 32;

function checkDelegations(f: Fields, value: Json, context: ErrorContext): Delegations {
  const delegations = f.object(value, 'signed.delegations');
  const keys = checkKeys(f, delegations.keys, 'signed.delegations.keys', context);
  const hasRoles = delegations.roles !== undefined;
  const hasSuccinct = delegations.succinct_roles !== undefined;
  // I10: exactly one of roles and succinct_roles.
  if (hasRoles === hasSuccinct) f.fail('signed.delegations', 'must have exactly one of roles and succinct_roles');
  if (hasRoles) {
    const names = new Set<string>();
    f.array(delegations.roles, 'signed.delegations.roles').forEach((item, i) => {
      const path = `signed.delegations.roles[${i}]`;
      const role = f.object(item, path);
      const name = f.nonEmptyString(role.name, `${path}.name`);
      if ((TOP_LEVEL_ROLES as readonly string[]).includes(name)) f.fail(`${path}.name`, `${name} is a top-level role name`);
      checkRoleName(name, context);
      if (names.has(name)) f.fail(`${path}.name`, `role ${name} is delegated twice`);
      names.add(name);
      f.boolean(role.terminating, `${path}.terminating`);
      checkRoleKeys(f, role, path, keys, context);
      const hasPaths = role.paths !== undefined;
      const hasPrefixes = role.path_hash_prefixes !== undefined;
      if (hasPaths === hasPrefixes) f.fail(path, 'must have exactly one of paths and path_hash_prefixes');
      if (hasPaths) f.stringArray(role.paths, `${path}.paths`, { unique: false });
      if (hasPrefixes) {
        f.stringArray(role.path_hash_prefixes, `${path}.path_hash_prefixes`, { unique: false }).forEach((p, j) => {
          if (!/^[0-9a-f]*$/.test(p)) f.fail(`${path}.path_hash_prefixes[${j}]`, 'must be lowercase hex');
        });
      }
      if (role.hardwareIds !== undefined) f.stringArray(role.hardwareIds, `${path}.hardwareIds`, { unique: true });
    });
  } else {
    const path = 'signed.delegations.succinct_roles';
    const succinct = f.object(delegations.succinct_roles, path);
    const bits = f.integer(succinct.bit_length, `${path}.bit_length`, 1);
    if (bits > MAX_SUCCINCT_BIT_LENGTH) f.fail(`${path}.bit_length`, `must be at most ${MAX_SUCCINCT_BIT_LENGTH}`);
    checkRoleName(f.nonEmptyString(succinct.name_prefix, `${path}.name_prefix`), context);
    checkRoleKeys(f, succinct, path, keys, context);
  }
  return delegations as unknown as Delegations;
}

function checkTargets(f: Fields, signed: JsonObject, context: ErrorContext): void {
  const targets = f.object(signed.targets, 'signed.targets');
  for (const [name, target] of Object.entries(targets)) {
    checkTargetName(name, context);
    checkTargetFile(f, target, `signed.targets.${name}`);
  }
  if (signed.delegations !== undefined) checkDelegations(f, signed.delegations, context);
  if (signed.custom !== undefined) {
    const custom = f.object(signed.custom, 'signed.custom');
    if (custom.vin !== undefined) f.nonEmptyString(custom.vin, 'signed.custom.vin');
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** Decodes UTF-8 JSON strictly (no BOM, valid UTF-8), or throws MalformedMetadataError (J1). */
export function parseJsonBytes(raw: Uint8Array, context: ErrorContext = {}): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch (err) {
    throw new MalformedMetadataError('metadata is not valid UTF-8', { ...context, cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MalformedMetadataError(`metadata is not valid JSON: ${(err as Error).message}`, { ...context, cause: err });
  }
}

/**
 * Parses `raw` as metadata of `expectedType` (A14). Checks the envelope, the signed part's schema,
 * and the canonical-form rules; does not check signatures (the trusted set does, against the right
 * keys). Returns a deep-frozen object.
 */
export function parseMetadata<K extends RoleType>(
  raw: Uint8Array,
  expectedType: K,
  context: ErrorContext = {},
): Metadata<SignedTypeMap[K]> {
  const ctx: ErrorContext = { ...context, role: context.role ?? expectedType };
  const f = new Fields(ctx);
  const envelope = f.object(parseJsonBytes(raw, ctx), '$');
  const signed = f.object(envelope.signed, 'signed');
  const signatures = f.array(envelope.signatures, 'signatures');
  const seen = new Set<string>();
  signatures.forEach((item, i) => {
    const sig = f.object(item, `signatures[${i}]`);
    const keyid = f.string(sig.keyid, `signatures[${i}].keyid`);
    f.string(sig.sig, `signatures[${i}].sig`);
    // A4: one signature per keyid; repeating a signature must never look like more signers.
    if (seen.has(keyid)) throw new NonUniqueSignaturesError(`two signatures for keyid ${keyid}`, ctx);
    seen.add(keyid);
  });

  const type = f.string(signed._type, 'signed._type');
  if (type !== expectedType) {
    if (!(TOP_LEVEL_ROLES as readonly string[]).includes(type)) f.fail('signed._type', `unknown type ${JSON.stringify(type)}`);
    throw new RoleTypeMismatchError(`expected ${expectedType} metadata, got ${type}`, ctx);
  }
  checkSpecVersion(f, signed.spec_version);
  f.integer(signed.version, 'signed.version', 1);
  try {
    parseExpires(f.string(signed.expires, 'signed.expires'));
  } catch (err) {
    if (err instanceof MalformedMetadataError) f.fail('signed.expires', err.message);
    throw err;
  }
  switch (expectedType) {
    case 'root':
      checkRoot(f, signed, ctx);
      break;
    case 'timestamp':
      checkTimestamp(f, signed);
      break;
    case 'snapshot':
      checkSnapshot(f, signed);
      break;
    case 'targets':
      checkTargets(f, signed, ctx);
      break;
  }
  let signedBytes: Uint8Array;
  try {
    checkCanonicalizable(signed, 'signed');
    signedBytes = canonicalBytes(signed);
  } catch (err) {
    if (err instanceof CanonicalJsonError) throw new MalformedMetadataError(err.message, { ...ctx, cause: err });
    throw err;
  }
  // Typed arrays cannot be frozen; the JSON parts can, and are.
  return Object.freeze({
    signed: deepFreeze(signed) as unknown as SignedTypeMap[K],
    signatures: deepFreeze(signatures) as unknown as Metadata['signatures'],
    signedBytes,
    raw: Uint8Array.from(raw),
  });
}

/** Checks a signed part built locally (by a signer) with the same rules as received metadata. */
export function checkSigned(signed: AnySigned, context: ErrorContext = {}): void {
  // The wire form: canonical text with control characters escaped, so a PEM key or a custom string
  // holding a newline is checked as a client will read it (canonical text itself is not JSON then).
  const envelope = wireBytes({ signed, signatures: [] });
  parseMetadata(envelope, signed._type, context);
}
