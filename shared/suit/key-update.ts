// The SUIT key-update statement (docs/suit.md "Rotating the SUIT key"): how a primary moves its
// constrained ECUs from its current SUIT key to a new one. CBOR, a COSE_Sign1 with the statement as
// its attached payload, signed with the CURRENT key, naming the new raw Ed25519 public key, the key
// epoch it starts and the device class it is for. Decoded like an envelope: every head walked under
// the same limits before cbor-x sees it, the signature checked before any field of the statement is read.
//
//   18([ << {1: -8} >>, {}, << {1: "uptane-ts SUIT key update", 2: epoch, 3: h'<vendor id>',
//                                4: h'<class id>', 5: h'<new public key>'} >>, h'<64-byte signature>' ])
//
// The type string in the signed payload keeps the two signed things of one key apart: an envelope's
// signature covers a SUIT_Digest ([-16, h'..']), never a map, and a statement's covers a map, never a
// SUIT_Digest, so neither can be presented as the other.
import { Algorithms, Headers, Sign1 } from '@auth0/cose';
import { Tag } from 'cbor-x';
import { SuitMalformedError, SuitSignatureError, SuitTooLargeError } from '../core/errors.js';
import { DEFAULT_SUIT_LIMITS, decodeStrict, encodeCbor, type SuitLimits, type WalkBudget } from './cbor.js';
import type { SuitKey } from './envelope.js';

/** What a key-update statement says. */
export interface SuitKeyUpdate {
  /** The key epoch the new key starts: strictly greater than the epoch of the key that signed it. */
  readonly epoch: number;
  /** The device class it is for (16-byte UUIDs, shared/suit/identity.ts). */
  readonly vendorId: Uint8Array;
  readonly classId: Uint8Array;
  /** The new SUIT public key, raw Ed25519 (32 bytes). */
  readonly publicKey: Uint8Array;
}

export const SUIT_KEY_UPDATE_TYPE = 'uptane-ts SUIT key update';

const KEY = { type: 1, epoch: 2, vendorId: 3, classId: 4, publicKey: 5 } as const;
const COSE_SIGN1_TAG = 18;
const PROTECTED_EDDSA = encodeCbor(new Map([[Headers.Algorithm, Algorithms.EdDSA]]));

/** The payload's bytes, as signed. */
function encodePayload(u: SuitKeyUpdate): Uint8Array {
  return encodeCbor(
    new Map<number, unknown>([
      [KEY.type, SUIT_KEY_UPDATE_TYPE],
      [KEY.epoch, u.epoch],
      [KEY.vendorId, u.vendorId],
      [KEY.classId, u.classId],
      [KEY.publicKey, u.publicKey],
    ]),
  );
}

/** The signed statement (the primary). Ed25519 is deterministic, so the same update and key give the same bytes. */
export async function encodeSuitKeyUpdate(u: SuitKeyUpdate, currentKey: SuitKey): Promise<Uint8Array> {
  return signSuitKeyUpdatePayload(encodePayload(u), currentKey);
}

/** A statement around payload bytes as given (tests sign payloads outside the format with it). */
export async function signSuitKeyUpdatePayload(payload: Uint8Array, currentKey: SuitKey): Promise<Uint8Array> {
  const signed = await Sign1.sign(new Map([[Headers.Algorithm, Algorithms.EdDSA]]), new Map(), payload, currentKey);
  return encodeCbor(new Tag([PROTECTED_EDDSA, new Map(), payload, signed.signature], COSE_SIGN1_TAG));
}

const malformed = (why: string) => new SuitMalformedError(`SUIT key update: ${why}`);

function bytesField(value: unknown, name: string, length: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) throw malformed(`${name} is not a ${length}-byte string`);
  return value;
}

/**
 * Verifies a statement as a constrained ECU does: size, then structure (every head walked, the
 * protected header and the payload within the same budget), then the signature under `trustedKey`
 * (SuitSignatureError), and only then the payload's fields. The device checks (class, epoch) are the
 * caller's, against its own trust file.
 */
export async function verifySuitKeyUpdate(bytes: Uint8Array, trustedKey: SuitKey, limits: SuitLimits = DEFAULT_SUIT_LIMITS): Promise<SuitKeyUpdate> {
  if (bytes.length > limits.maxEnvelopeBytes) throw new SuitTooLargeError(`SUIT key update: ${bytes.length} bytes, more than the ${limits.maxEnvelopeBytes} allowed`);
  const budget: WalkBudget = { items: 0 };
  // The protected header is CBOR in a byte string that the COSE library's tag-18 extension decodes
  // on its own, unbounded: it is read and walked before the statement is decoded. Tag 18, an array of
  // 4, then a byte string short enough for a one-byte head.
  if (bytes.length < 3 || bytes[0] !== 0xd2 || bytes[1] !== 0x84 || bytes[2]! >> 5 !== 2 || (bytes[2]! & 31) > 23) throw malformed('not a COSE_Sign1_Tagged with a short protected header');
  const protectedBytes = bytes.subarray(3, 3 + (bytes[2]! & 31));
  const header = decodeStrict(protectedBytes, 'SUIT key update protected header', limits, budget, 2);
  if (!(header instanceof Map) || header.size !== 1 || header.get(Headers.Algorithm) !== Algorithms.EdDSA) throw malformed('the protected header is not exactly {alg: EdDSA}');
  const sign1 = decodeStrict(bytes, 'SUIT key update', limits, budget, 0, new Set([COSE_SIGN1_TAG]));
  if (!(sign1 instanceof Sign1)) throw malformed('not a COSE_Sign1_Tagged');
  if (!(sign1.unprotectedHeaders instanceof Map) || sign1.unprotectedHeaders.size !== 0) throw malformed('the unprotected header is not empty');
  const payload = sign1.payload as unknown;
  if (!(payload instanceof Uint8Array) || payload.length === 0) throw malformed('the payload is not attached');
  if (!(sign1.signature instanceof Uint8Array) || sign1.signature.length !== 64) throw malformed('the signature is not 64 bytes');
  try {
    await sign1.verify(trustedKey, { algorithms: [Algorithms.EdDSA] });
  } catch (err) {
    throw new SuitSignatureError('the SUIT key update does not verify under the trusted SUIT key', { cause: err });
  }
  const fields = decodeStrict(payload, 'SUIT key update payload', limits, budget, 2);
  if (!(fields instanceof Map)) throw malformed('the payload is not a map');
  const keys = Object.values(KEY) as number[];
  for (const key of fields.keys()) if (typeof key !== 'number' || !keys.includes(key)) throw malformed(`key ${String(key)} is not part of the statement`);
  for (const key of keys) if (!fields.has(key)) throw malformed(`key ${key} is missing`);
  if (fields.get(KEY.type) !== SUIT_KEY_UPDATE_TYPE) throw malformed(`the type is not "${SUIT_KEY_UPDATE_TYPE}"`);
  const epoch = fields.get(KEY.epoch);
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) throw malformed('the epoch is not a positive integer');
  return {
    epoch,
    vendorId: bytesField(fields.get(KEY.vendorId), 'vendor id', 16),
    classId: bytesField(fields.get(KEY.classId), 'class id', 16),
    publicKey: bytesField(fields.get(KEY.publicKey), 'public key', 32),
  };
}
