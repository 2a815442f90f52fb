// The signature schemes TUF 1.0 names, behind one interface, and the one reader of their public keys.
//
// Ed25519 keeps its own module (ed25519.ts): two backends, edge rules decided once for both, and the
// verification cache the ECU's update cycle relies on. ECDSA (ecdsa.ts) and RSA-PSS (rsa-pss.ts) go
// through node:crypto only: they exist for roles whose keys live in HSMs or cloud KMSs and for ECUs
// whose hardware signs only with ECDSA, and OpenSSL is the implementation those keys are made with.
//
// Their public keys are written as python-tuf and securesystemslib write them: keyval.public is one
// PEM SubjectPublicKeyInfo block. A key is refused (a typed error, never a silent skip) when it is not
// exactly that, when its material is of another type or curve than its keytype and scheme say, or
// when it is too weak to trust.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { MalformedKeyError } from '../errors.js';
import { ecdsaP256, ecdsaP384 } from './ecdsa.js';
import type { PemScheme } from './pem-scheme.js';
import { rsaPssSha256 } from './rsa-pss.js';

export { SCHEMES, type PemScheme, type SchemeName } from './pem-scheme.js';

const registry = new Map<string, PemScheme>([ecdsaP256, ecdsaP384, rsaPssSha256].map((s) => [s.scheme, s]));

/** The keytypes a scheme accepts; Ed25519's are fixed here so mismatches are found for it too. */
function keytypesOf(scheme: string): readonly string[] | undefined {
  if (scheme === 'ed25519') return ['ed25519'];
  return registry.get(scheme)?.keytypes;
}

/** True for a scheme this project verifies (the keytype may still be wrong for it). */
export function isKnownScheme(scheme: string): boolean {
  return keytypesOf(scheme) !== undefined;
}

/**
 * The PEM scheme for a key object's keytype and scheme; undefined for Ed25519 and for schemes this
 * project does not know (TUF lets a root list keys for other clients: they never count here). A
 * known scheme under a keytype it does not go with is a MalformedKeyError: the label and the material
 * disagree, and guessing which one is meant is how signature confusion starts.
 */
export function pemSchemeFor(keytype: string, scheme: string): PemScheme | undefined {
  const keytypes = keytypesOf(scheme);
  if (keytypes === undefined) return undefined;
  if (!keytypes.includes(keytype)) {
    throw new MalformedKeyError(`keytype ${JSON.stringify(keytype)} does not go with scheme ${scheme} (expected ${keytypes.join(' or ')})`);
  }
  return registry.get(scheme);
}

/** The scheme module for a scheme name, or undefined (Ed25519, unknown). */
export function pemScheme(scheme: string): PemScheme | undefined {
  return registry.get(scheme);
}

// One PEM block, nothing before or after it but an optional final line break. Requiring the label
// PUBLIC KEY refuses a private key (node would happily derive its public half), a certificate and
// an RSA PKCS#1 "RSA PUBLIC KEY" block, which securesystemslib never writes.
const SPKI_PEM = /^-----BEGIN PUBLIC KEY-----\r?\n((?:[A-Za-z0-9+/]+={0,2}\r?\n)+)-----END PUBLIC KEY-----(?:\r?\n)?$/;

/**
 * The key object of one PEM SubjectPublicKeyInfo block, or MalformedKeyError. The DER must be exactly
 * what the PEM holds: OpenSSL ignores bytes after the structure, and two spellings of one key in
 * signed metadata are two things to reason about where one will do.
 */
export function readSpkiPem(pem: string): KeyObject {
  const match = SPKI_PEM.exec(pem);
  if (match === null) throw new MalformedKeyError('keyval.public is not one PEM "PUBLIC KEY" (SubjectPublicKeyInfo) block');
  const body = match[1]!.replace(/\r?\n/g, '');
  const der = Buffer.from(body, 'base64');
  if (der.toString('base64') !== body) throw new MalformedKeyError('the PEM body is not canonical base64');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (err) {
    // OpenSSL's reason ("Failed to read asymmetric key") covers garbage and points off the curve alike.
    throw new MalformedKeyError('the PEM does not hold a readable public key (garbage, or an EC point not on its curve)', { cause: err });
  }
  if (!der.equals(key.export({ format: 'der', type: 'spki' }))) {
    throw new MalformedKeyError('the PEM holds bytes after the SubjectPublicKeyInfo structure');
  }
  return key;
}
