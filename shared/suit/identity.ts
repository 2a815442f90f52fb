// Identifiers and keys of the SUIT bridge: vendor and class ids as RFC 9124 recommends them (UUID
// version 5: the vendor's from its domain name, a device class's from the vendor id and the class
// name, here the ECU's hardware id), and the primary's Ed25519 SUIT key through Node's WebCrypto.
import { createHash, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';

/** RFC 4122 name space of domain names. */
const DNS_NAMESPACE = Buffer.from('6ba7b8109dad11d180b400c04fd430c8', 'hex');

/** UUID version 5 (RFC 4122 4.3): SHA-1 of name space and name, with version and variant bits set. */
export function uuidV5(namespace: Uint8Array, name: string): Uint8Array {
  const hash = createHash('sha1').update(namespace).update(name, 'utf8').digest().subarray(0, 16);
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  return new Uint8Array(hash);
}

/** The vendor id of this project's ECUs unless a vehicle is given another domain. */
export const DEFAULT_SUIT_VENDOR_DOMAIN = 'ecu.uptane-ts.example';

export const suitVendorId = (domain: string = DEFAULT_SUIT_VENDOR_DOMAIN): Uint8Array => uuidV5(DNS_NAMESPACE, domain);
/** One device class per hardware id: the Director assigns images by hardware id, so a class is exactly that. */
export const suitClassId = (vendorId: Uint8Array, hardwareId: string): Uint8Array => uuidV5(vendorId, hardwareId);

/** The single component of a constrained ECU of this subset: the image in its A/B slots. */
export const SUIT_COMPONENT_ID: readonly Uint8Array[] = [new Uint8Array([0])];

/** PKCS #8 prefix of an Ed25519 private key whose 32-byte seed follows (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The primary's SUIT signing key from its 32-byte seed (the simulator derives seeds; a real vehicle generates one). */
export function suitKeyPemFromSeed(seed: Uint8Array): string {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** The raw 32-byte public key of a SUIT key in PEM: what a constrained secondary is provisioned with. */
export function suitPublicKeyRaw(privatePem: string): Uint8Array {
  const der = createPublicKey(createPrivateKey(privatePem)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

// Extractable: @auth0/cose hands the key to node:crypto through KeyObject.from, which Node 24
// deprecates for non-extractable keys. The private key is in a PEM file beside it anyway.
export async function importSuitSigningKey(privatePem: string): Promise<webcrypto.CryptoKey> {
  const der = createPrivateKey(privatePem).export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, true, ['sign']) as Promise<webcrypto.CryptoKey>;
}

export async function importSuitVerifyKey(raw: Uint8Array): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, true, ['verify']) as Promise<webcrypto.CryptoKey>;
}
