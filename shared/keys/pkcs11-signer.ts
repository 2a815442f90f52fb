// A Signer whose private key stays inside a PKCS#11 token (an HSM, a smart card, SoftHSM2): the
// token signs, this process only sees the public key and the signatures (docs/decisions.md
// "PKCS#11"). ECDSA P-256/P-384 keys sign a digest computed here with CKM_ECDSA, and the raw r || s
// becomes the DER TUF's ecdsa schemes use; RSA keys sign with CKM_SHA256_RSA_PKCS_PSS (MGF1-SHA256,
// 32-byte salt, as rsa-pss.ts signs); Ed25519 keys with CKM_EDDSA. Every signature is verified
// under the token's public key before it is returned, so a token that signs with another key than
// it reports, or garbles a signature, fails here and not at the repository.
import { createHash, createPublicKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Handle, PKCS11, Template } from 'pkcs11js';
import { ecdsaP256, ecdsaP384 } from '../core/crypto/ecdsa.js';
import { ecdsaRawToDer } from '../core/crypto/ecdsa-raw.js';
import { nodeBackend } from '../core/crypto/ed25519.js';
import { PublicKey } from '../core/crypto/keys.js';
import type { PemScheme } from '../core/crypto/pem-scheme.js';
import { rsaPssSha256 } from '../core/crypto/rsa-pss.js';
import type { Signer } from '../core/crypto/signer.js';
import {
  MalformedKeyError,
  Pkcs11ModuleError,
  TokenKeyNotFoundError,
  TokenNotFoundError,
  TokenPinError,
  TokenPinLockedError,
  TokenSigningError,
  UnsupportedTokenKeyError,
  WeakKeyError,
  type UptaneError,
} from '../core/errors.js';
import { describePkcs11Uri, type Pkcs11Uri } from './pkcs11-uri.js';

type Binding = typeof import('pkcs11js');

// PKCS#11 3.0 values pkcs11js 2 has no constant for.
const CKK_EC_EDWARDS = 0x40;
const CKM_EDDSA = 0x1057;

/** DER of the curve parameters (CKA_EC_PARAMS) this project signs with. */
const P256_OID = '06082a8648ce3d030107';
const P384_OID = '06052b81040022';
const ED25519_OIDS = ['06032b6570', '130c656477617264733235353139']; // OID 1.3.101.112, or PrintableString "edwards25519" (PKCS#11 3.0 allows both)

let binding: Binding | undefined;

/** The pkcs11js addon, loaded on first use so that commands which never touch a token never load native code. */
function loadBinding(): Binding {
  if (binding !== undefined) return binding;
  try {
    binding = createRequire(import.meta.url)('pkcs11js') as Binding;
  } catch (err) {
    throw new Pkcs11ModuleError(`the pkcs11js addon could not be loaded (${(err as Error).message}): reinstall with \`npm ci\` on a machine with g++, make and python3`, { cause: err });
  }
  return binding;
}

function isPkcs11Error(err: unknown): err is Error & { code: number } {
  return err instanceof loadBinding().Pkcs11Error;
}

/** One loaded module per path: PKCS#11 libraries are initialized once per process, so signers share it. */
interface LoadedModule {
  readonly path: string;
  readonly pkcs11: PKCS11;
  refs: number;
}
const loadedModules = new Map<string, LoadedModule>();

function acquireModule(path: string): LoadedModule {
  const known = loadedModules.get(path);
  if (known !== undefined) {
    known.refs++;
    return known;
  }
  if (!existsSync(path)) {
    throw new Pkcs11ModuleError(`PKCS#11 module ${path} does not exist: check --pkcs11-module (or UPTANE_PKCS11_MODULE, or module-path in the URI); SoftHSM2's is /usr/lib/softhsm/libsofthsm2.so`);
  }
  const p11 = loadBinding();
  const pkcs11 = new p11.PKCS11();
  try {
    pkcs11.load(path);
  } catch (err) {
    throw new Pkcs11ModuleError(`cannot load ${path} as a PKCS#11 module (${(err as Error).message}): name the vendor's PKCS#11 library (.so) with --pkcs11-module`, { cause: err });
  }
  try {
    pkcs11.C_Initialize();
  } catch (err) {
    if (!(isPkcs11Error(err) && err.code === p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
      throw new Pkcs11ModuleError(`PKCS#11 module ${path} failed to initialize (${(err as Error).message}): check its configuration (SoftHSM2: SOFTHSM2_CONF and its tokendir)`, { cause: err });
    }
  }
  const module: LoadedModule = { path, pkcs11, refs: 1 };
  loadedModules.set(path, module);
  return module;
}

function releaseModule(module: LoadedModule): void {
  module.refs--;
  if (module.refs > 0) return;
  loadedModules.delete(module.path);
  module.pkcs11.C_Finalize();
  module.pkcs11.close();
}

/** The error a refused C_Login means: wrong or badly sized PIN, or a locked one (exported for its test: SoftHSM2 never locks a PIN). */
export function loginError(code: number, what: string): UptaneError {
  const p11 = loadBinding();
  if (code === p11.CKR_PIN_LOCKED) {
    return new TokenPinLockedError(`the user PIN of ${what} is locked after too many wrong tries: have its security officer unlock it (SoftHSM2: softhsm2-util --init-pin); nothing was signed`);
  }
  if (code === p11.CKR_PIN_INCORRECT || code === p11.CKR_PIN_LEN_RANGE || code === p11.CKR_PIN_INVALID || code === p11.CKR_PIN_EXPIRED) {
    return new TokenPinError(`${what} refused the PIN (${codeName(code)}): check the variable --pin-env names (default UPTANE_PKCS11_PIN); tokens lock after a few wrong tries; nothing was signed`);
  }
  return new TokenPinError(`logging in to ${what} failed (${codeName(code)}); nothing was signed`);
}

function codeName(code: number): string {
  const p11 = loadBinding() as unknown as Record<string, unknown>;
  const name = Object.keys(p11).find((k) => k.startsWith('CKR_') && p11[k] === code);
  return name ?? `CKR 0x${code.toString(16)}`;
}

function ulong(buffer: Buffer): bigint {
  return buffer.length === 8 ? buffer.readBigUInt64LE() : BigInt(buffer.readUInt32LE());
}

function trimmed(text: string): string {
  return text.replace(/[ \0]+$/, '');
}

/** What the token says about the key's custody: a key that is not sensitive, or is extractable, can leave the token. */
export interface TokenKeyCustody {
  readonly label: string;
  readonly id: string;
  readonly sensitive: boolean;
  readonly extractable: boolean;
}

/** A Signer backed by one token key; close() logs out and releases the module. */
export interface TokenSigner extends Signer {
  readonly custody: TokenKeyCustody;
  /** Where the key is, in words ("token \"release\", object \"root-1\""). */
  readonly description: string;
  close(): void;
}

export interface Pkcs11SignerOptions {
  /** The PKCS#11 module (.so) to load. */
  readonly modulePath: string;
  /** Called once the token is found and only if it needs a login; returns the user PIN. */
  readonly pin: () => Promise<string>;
}

interface KeyPlan {
  readonly publicKey: PublicKey;
  readonly mechanism: number;
  /** Makes the bytes handed to C_Sign and turns the token's output into the hex signature. */
  readonly input: (message: Uint8Array) => Buffer;
  readonly output: (raw: Buffer) => string;
  readonly maxSignatureBytes: number;
  readonly mechanismParameter?: { type: number; hashAlg: number; mgf: number; saltLen: number };
}

/**
 * Opens the token the URI names, logs in with the PIN and finds the private key: a Signer whose
 * public key is read from the token. Typed errors for each way this fails (Pkcs11ModuleError,
 * TokenNotFoundError, TokenPinError, TokenKeyNotFoundError, UnsupportedTokenKeyError); nothing stays
 * open when one is thrown.
 */
export async function openPkcs11Signer(uri: Pkcs11Uri, options: Pkcs11SignerOptions): Promise<TokenSigner> {
  const p11 = loadBinding();
  const module = acquireModule(options.modulePath);
  const { pkcs11 } = module;
  let session: Handle | undefined;
  let loggedIn = false;
  const cleanup = () => {
    if (session !== undefined) {
      if (loggedIn) {
        try {
          pkcs11.C_Logout(session);
        } catch (err) {
          if (!isPkcs11Error(err)) throw err; // a token removed meanwhile: the session is gone anyway
        }
      }
      try {
        pkcs11.C_CloseSession(session);
      } catch (err) {
        if (!isPkcs11Error(err)) throw err;
      }
      session = undefined;
    }
    releaseModule(module);
  };
  try {
    const { slot, label } = findToken(pkcs11, uri, options.modulePath);
    const what = `token ${JSON.stringify(label)}`;
    const info = pkcs11.C_GetTokenInfo(slot);
    if ((info.flags & p11.CKF_USER_PIN_LOCKED) !== 0) throw loginError(p11.CKR_PIN_LOCKED, what);
    session = pkcs11.C_OpenSession(slot, p11.CKF_SERIAL_SESSION);
    if ((info.flags & p11.CKF_LOGIN_REQUIRED) !== 0) {
      const pin = await options.pin();
      if (pin === '') throw new TokenPinError(`the PIN for ${what} is empty: set the variable --pin-env names (default UPTANE_PKCS11_PIN); nothing was signed`);
      try {
        pkcs11.C_Login(session, p11.CKU_USER, pin);
        loggedIn = true;
      } catch (err) {
        if (!isPkcs11Error(err)) throw err;
        if (err.code !== p11.CKR_USER_ALREADY_LOGGED_IN) throw loginError(err.code, what);
      }
    }
    const key = findPrivateKey(pkcs11, session, uri, what);
    const attrs = pkcs11.C_GetAttributeValue(session, key, [
      { type: p11.CKA_KEY_TYPE },
      { type: p11.CKA_LABEL },
      { type: p11.CKA_ID },
      { type: p11.CKA_SENSITIVE },
      { type: p11.CKA_EXTRACTABLE },
      { type: p11.CKA_SIGN },
    ]);
    const [keyType, keyLabel, keyId, sensitive, extractable, canSign] = attrs.map((a) => a.value as Buffer);
    const custody: TokenKeyCustody = {
      label: keyLabel!.toString('utf8'),
      id: keyId!.toString('hex'),
      sensitive: sensitive![0] === 1,
      extractable: extractable![0] === 1,
    };
    const description = `${what}, ${custody.label === '' ? `id ${custody.id}` : `object ${JSON.stringify(custody.label)}`}`;
    if (canSign![0] !== 1) throw new UnsupportedTokenKeyError(`${description} may not sign (CKA_SIGN is false): use a signing key`);
    const plan = keyPlan(pkcs11, session, key, Number(ulong(keyType!)), keyId!, custody.label, description);
    if (!pkcs11.C_GetMechanismList(slot).includes(plan.mechanism)) {
      throw new UnsupportedTokenKeyError(`${what} does not offer the mechanism this key needs (${plan.mechanism === CKM_EDDSA ? 'CKM_EDDSA' : plan.mechanism === p11.CKM_ECDSA ? 'CKM_ECDSA' : 'CKM_SHA256_RSA_PKCS_PSS'})`);
    }
    const open = session;
    const publicKey = plan.publicKey;
    return {
      publicKey,
      keyid: publicKey.keyid,
      custody,
      description,
      sign(message: Uint8Array): string {
        let raw: Buffer;
        try {
          pkcs11.C_SignInit(open, plan.mechanismParameter === undefined ? { mechanism: plan.mechanism } : { mechanism: plan.mechanism, parameter: plan.mechanismParameter }, key);
          raw = pkcs11.C_Sign(open, plan.input(message), Buffer.alloc(plan.maxSignatureBytes));
        } catch (err) {
          if (!isPkcs11Error(err)) throw err;
          throw new TokenSigningError(`${description} failed to sign (${err.message}); nothing was signed`, { cause: err });
        }
        const hex = plan.output(raw);
        // The token is trusted with the key, not with the answer: check it as every verifier will.
        if (!publicKey.verify(message, hex, nodeBackend)) {
          throw new TokenSigningError(`${description} returned a signature that does not verify under its own public key: the token is faulty or signs with another key; nothing was signed`);
        }
        return hex;
      },
      close: cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

function findToken(pkcs11: PKCS11, uri: Pkcs11Uri, modulePath: string): { slot: Handle; label: string } {
  const present: string[] = [];
  const matches: { slot: Handle; label: string }[] = [];
  for (const slot of pkcs11.C_GetSlotList(true)) {
    const info = pkcs11.C_GetTokenInfo(slot);
    // An uninitialized token (SoftHSM2's free slot, a blank card) holds no keys: never a match.
    if ((info.flags & loadBinding().CKF_TOKEN_INITIALIZED) === 0) continue;
    const token = { label: trimmed(info.label), manufacturer: trimmed(info.manufacturerID), serial: trimmed(info.serialNumber), model: trimmed(info.model) };
    present.push(`${JSON.stringify(token.label)} (serial ${token.serial}, slot ${ulong(slot)})`);
    if (uri.token !== undefined && uri.token !== token.label) continue;
    if (uri.manufacturer !== undefined && uri.manufacturer !== token.manufacturer) continue;
    if (uri.serial !== undefined && uri.serial !== token.serial) continue;
    if (uri.model !== undefined && uri.model !== token.model) continue;
    if (uri.slotId !== undefined && uri.slotId !== ulong(slot)) continue;
    matches.push({ slot, label: token.label });
  }
  const wanted = describePkcs11Uri({ ...uri, object: undefined, id: undefined }) || 'any token';
  if (matches.length === 0) {
    throw new TokenNotFoundError(`no token matching ${wanted} in ${modulePath}; tokens present: ${present.join(', ') || 'none (is it plugged in? SoftHSM2: is SOFTHSM2_CONF set?)'}`);
  }
  if (matches.length > 1) {
    throw new TokenNotFoundError(`${matches.length} tokens match ${wanted}: name one with token=LABEL, serial=... or slot-id=N (present: ${present.join(', ')})`);
  }
  return matches[0]!;
}

function findObjects(pkcs11: PKCS11, session: Handle, template: Template): Handle[] {
  pkcs11.C_FindObjectsInit(session, template);
  try {
    return pkcs11.C_FindObjects(session, 16);
  } finally {
    pkcs11.C_FindObjectsFinal(session);
  }
}

function findPrivateKey(pkcs11: PKCS11, session: Handle, uri: Pkcs11Uri, what: string): Handle {
  const p11 = loadBinding();
  const template: Template = [{ type: p11.CKA_CLASS, value: p11.CKO_PRIVATE_KEY }];
  if (uri.object !== undefined) template.push({ type: p11.CKA_LABEL, value: uri.object });
  if (uri.id !== undefined) template.push({ type: p11.CKA_ID, value: Buffer.from(uri.id) });
  const found = findObjects(pkcs11, session, template);
  if (found.length === 1) return found[0]!;
  const keyName = describePkcs11Uri({ object: uri.object, id: uri.id });
  if (found.length > 1) throw new TokenKeyNotFoundError(`${found.length} private keys on ${what} match ${keyName}: name one by both object= and id=`);
  const all = findObjects(pkcs11, session, [{ type: p11.CKA_CLASS, value: p11.CKO_PRIVATE_KEY }]).map((h) => {
    const [label, id] = pkcs11.C_GetAttributeValue(session, h, [{ type: p11.CKA_LABEL }, { type: p11.CKA_ID }]).map((a) => a.value as Buffer);
    return `object=${label!.toString('utf8')};id=${id!.toString('hex')}`;
  });
  throw new TokenKeyNotFoundError(`${what} holds no private key with ${keyName}; its private keys: ${all.join(', ') || 'none'}`);
}

/** The public key object beside a private key: same CKA_ID (else same label), as key generation creates them. */
function findPublicKey(pkcs11: PKCS11, session: Handle, id: Buffer, label: string): Handle | undefined {
  const p11 = loadBinding();
  const template: Template = [{ type: p11.CKA_CLASS, value: p11.CKO_PUBLIC_KEY }];
  if (id.length > 0) template.push({ type: p11.CKA_ID, value: id });
  else template.push({ type: p11.CKA_LABEL, value: label });
  const found = findObjects(pkcs11, session, template);
  return found.length === 1 ? found[0] : undefined;
}

/** The point inside CKA_EC_POINT: a DER OCTET STRING as the standard says, or the bare point some tokens return. */
function ecPoint(value: Buffer, bareLength: number): Buffer | undefined {
  if (value.length === bareLength) return value;
  if (value[0] !== 0x04) return undefined;
  let offset = 2;
  let length = value[1]!;
  if (length === 0x81) {
    length = value[2]!;
    offset = 3;
  }
  return length === bareLength && value.length === offset + length ? value.subarray(offset) : undefined;
}

/** A PEM-scheme PublicKey from a JWK, with token wording for a key this project refuses (too small, off the curve). */
function pemPublicKey(jwk: Record<string, string>, scheme: PemScheme, description: string): PublicKey {
  try {
    const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString();
    return PublicKey.fromPem(pem, scheme);
  } catch (err) {
    if (err instanceof WeakKeyError || err instanceof MalformedKeyError) throw new UnsupportedTokenKeyError(`${description}: ${err.message}`, { cause: err });
    if (!(err instanceof Error) || err instanceof TokenSigningError) throw err;
    throw new UnsupportedTokenKeyError(`${description}: its public key cannot be read (${err.message})`, { cause: err });
  }
}

function keyPlan(pkcs11: PKCS11, session: Handle, key: Handle, keyType: number, id: Buffer, label: string, description: string): KeyPlan {
  const p11 = loadBinding();
  const publicHandle = findPublicKey(pkcs11, session, id, label);
  if (keyType === p11.CKK_EC || keyType === CKK_EC_EDWARDS) {
    if (publicHandle === undefined) {
      throw new TokenKeyNotFoundError(`${description}: the token holds no public key object with the same id beside it, and an EC private key does not carry its point; import or generate the key pair together`);
    }
    const [params, point] = pkcs11.C_GetAttributeValue(session, publicHandle, [{ type: p11.CKA_EC_PARAMS }, { type: p11.CKA_EC_POINT }]).map((a) => a.value as Buffer);
    const oid = params!.toString('hex');
    if (keyType === CKK_EC_EDWARDS || ED25519_OIDS.includes(oid)) {
      if (!ED25519_OIDS.includes(oid)) throw new UnsupportedTokenKeyError(`${description} is an Edwards key on another curve than Ed25519 (params ${oid})`);
      const bytes = ecPoint(point!, 32);
      if (bytes === undefined) throw new UnsupportedTokenKeyError(`${description}: its Ed25519 public key is not 32 bytes`);
      return {
        publicKey: PublicKey.fromBytes(bytes),
        mechanism: CKM_EDDSA,
        input: (message) => Buffer.from(message),
        output: (raw) => raw.toString('hex'),
        maxSignatureBytes: 64,
      };
    }
    const curve = oid === P256_OID ? { crv: 'P-256', bytes: 32, hash: 'sha256', scheme: ecdsaP256 } : oid === P384_OID ? { crv: 'P-384', bytes: 48, hash: 'sha384', scheme: ecdsaP384 } : undefined;
    if (curve === undefined) throw new UnsupportedTokenKeyError(`${description} is an EC key on a curve this project does not sign with (params ${oid}): use P-256 or P-384`);
    const bare = ecPoint(point!, 1 + 2 * curve.bytes);
    if (bare === undefined || bare[0] !== 0x04) throw new UnsupportedTokenKeyError(`${description}: its EC point is not an uncompressed ${curve.crv} point`);
    const publicKey = pemPublicKey(
      { kty: 'EC', crv: curve.crv, x: bare.subarray(1, 1 + curve.bytes).toString('base64url'), y: bare.subarray(1 + curve.bytes).toString('base64url') },
      curve.scheme,
      description,
    );
    return {
      publicKey,
      mechanism: p11.CKM_ECDSA,
      // CKM_ECDSA signs a digest it is given: hash here with the scheme's own hash.
      input: (message) => createHash(curve.hash).update(message).digest(),
      output: (raw) => Buffer.from(ecdsaRawToDer(raw, curve.bytes)).toString('hex'),
      maxSignatureBytes: 2 * curve.bytes,
    };
  }
  if (keyType === p11.CKK_RSA) {
    // The modulus and exponent are public attributes of the private key too; prefer the public object.
    const [modulus, exponent] = pkcs11
      .C_GetAttributeValue(session, publicHandle ?? key, [{ type: p11.CKA_MODULUS }, { type: p11.CKA_PUBLIC_EXPONENT }])
      .map((a) => a.value as Buffer);
    const publicKey = pemPublicKey({ kty: 'RSA', n: modulus!.toString('base64url'), e: exponent!.toString('base64url') }, rsaPssSha256, description);
    return {
      publicKey,
      mechanism: p11.CKM_SHA256_RSA_PKCS_PSS,
      // MGF1-SHA256 with a salt as long as the digest, what rsa-pss.ts signs (and securesystemslib).
      mechanismParameter: { type: p11.CK_PARAMS_RSA_PSS, hashAlg: p11.CKM_SHA256, mgf: p11.CKG_MGF1_SHA256, saltLen: 32 },
      input: (message) => Buffer.from(message),
      output: (raw) => raw.toString('hex'),
      maxSignatureBytes: modulus!.length,
    };
  }
  throw new UnsupportedTokenKeyError(`${description} is of key type 0x${keyType.toString(16)}: only ECDSA P-256/P-384, RSA (2048 bits or more) and Ed25519 keys can sign TUF metadata here`);
}
