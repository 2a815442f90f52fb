// The SUIT envelope subset of this project (docs/suit.md "The subset"; RFC 9124 information model,
// draft-ietf-suit-manifest encoding): one component, vendor and class conditions, the image's SHA-256
// and size, and an install sequence that fetches it and checks it. The primary encodes and signs one
// per image for a constrained secondary; the secondary verifies the COSE_Sign1 over the manifest
// digest before it reads a single field of the manifest, then the fields, strictly.
import { createHash, type webcrypto } from 'node:crypto';
import { Tag } from 'cbor-x';
import { Algorithms, Headers, Sign1 } from '@auth0/cose';
import { SuitMalformedError, SuitSignatureError } from '../core/errors.js';
import { DEFAULT_SUIT_LIMITS, decodeStrict, encodeCbor, type SuitLimits, type WalkBudget } from './cbor.js';

/** Key numbers of draft-ietf-suit-manifest that this subset uses. */
export const SUIT = {
  envelopeTag: 107,
  envelope: { authenticationWrapper: 2, manifest: 3 },
  manifest: { version: 1, sequenceNumber: 2, common: 3, install: 20 },
  common: { components: 2, sharedSequence: 4 },
  command: { vendorIdentifier: 1, classIdentifier: 2, imageMatch: 3, overrideParameters: 20, fetch: 21 },
  parameter: { vendorId: 1, classId: 2, imageDigest: 3, imageSize: 14, uri: 21 },
  /** COSE algorithm id of SHA-256 in a SUIT_Digest. */
  sha256: -16,
  manifestVersion: 1,
  /** suit-reporting-policy: send a record on success and failure, store it, report on failure (15 = all bits). */
  reportPolicy: 15,
} as const;

const COSE_SIGN1_TAG = 18;
const PROTECTED_EDDSA = encodeCbor(new Map([[Headers.Algorithm, Algorithms.EdDSA]]));

/** A WebCrypto Ed25519 key, as @auth0/cose signs and verifies with. */
export type SuitKey = webcrypto.CryptoKey;
const SHA256_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
const MAX_ID_BYTES = 64;
const MAX_URI_CHARS = 255;

/** What a manifest of the subset says about one image. */
export interface SuitManifest {
  readonly sequenceNumber: number;
  /** suit-component-identifier: the byte strings naming the component (this subset: exactly one component). */
  readonly componentId: readonly Uint8Array[];
  /** 16-byte UUIDs (RFC 9124 4.3.1 / 4.3.2). */
  readonly vendorId: Uint8Array;
  readonly classId: Uint8Array;
  /** SHA-256 of the image, and its length in bytes. */
  readonly imageDigest: Uint8Array;
  readonly imageSize: number;
  /** suit-parameter-uri: the image's target name, which the primary sends with the envelope (and the ECU reports). */
  readonly uri: string;
}

// ---------------------------------------------------------------------------------------------
// Encoding (the primary).

const digestOf = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest());
const suitDigest = (digest: Uint8Array): Uint8Array => encodeCbor([SUIT.sha256, digest]);

/** The manifest's bytes, as the envelope carries them and the signature covers them (through their digest). */
export function encodeSuitManifest(m: SuitManifest): Uint8Array {
  const { command, parameter } = SUIT;
  const common = new Map<number, unknown>([
    [SUIT.common.components, [[...m.componentId]]],
    [
      SUIT.common.sharedSequence,
      encodeCbor([
        command.overrideParameters,
        new Map<number, unknown>([
          [parameter.vendorId, m.vendorId],
          [parameter.classId, m.classId],
          [parameter.imageDigest, suitDigest(m.imageDigest)],
          [parameter.imageSize, m.imageSize],
        ]),
        command.vendorIdentifier, SUIT.reportPolicy,
        command.classIdentifier, SUIT.reportPolicy,
      ]),
    ],
  ]);
  const install = [command.overrideParameters, new Map<number, unknown>([[parameter.uri, m.uri]]), command.fetch, SUIT.reportPolicy, command.imageMatch, SUIT.reportPolicy];
  return encodeCbor(
    new Map<number, unknown>([
      [SUIT.manifest.version, SUIT.manifestVersion],
      [SUIT.manifest.sequenceNumber, m.sequenceNumber],
      [SUIT.manifest.common, encodeCbor(common)],
      [SUIT.manifest.install, encodeCbor(install)],
    ]),
  );
}

/**
 * The signed envelope: the authentication wrapper holds the manifest's SUIT_Digest and a
 * COSE_Sign1 (EdDSA) whose detached payload is that digest, as draft-ietf-suit-manifest's authentication wrapper has it.
 */
export async function encodeSuitEnvelope(m: SuitManifest, signingKey: SuitKey): Promise<Uint8Array> {
  return signSuitManifest(encodeSuitManifest(m), signingKey);
}

/** An envelope around manifest bytes as given (tests sign manifests outside the subset with it). */
export async function signSuitManifest(manifest: Uint8Array, signingKey: SuitKey): Promise<Uint8Array> {
  const digest = suitDigest(digestOf(manifest));
  const signed = await Sign1.sign(new Map([[Headers.Algorithm, Algorithms.EdDSA]]), new Map(), digest, signingKey);
  // Detached payload: the digest is already in the wrapper, so the COSE_Sign1 carries nil in its
  // place. The protected header is encoded as the library encodes it ({1: -8}; the tests verify it).
  const block = encodeCbor(new Tag([PROTECTED_EDDSA, new Map(), null, signed.signature], COSE_SIGN1_TAG));
  const authentication = encodeCbor([digest, block]);
  return encodeCbor(new Tag(new Map<number, unknown>([[SUIT.envelope.authenticationWrapper, authentication], [SUIT.envelope.manifest, manifest]]), SUIT.envelopeTag));
}

// ---------------------------------------------------------------------------------------------
// Decoding and verification (the constrained secondary).

/** A reader of one decoded structure that names the first wrong field (docs/code-style.md R9). */
class Reader {
  constructor(private readonly what: string) {}

  error(why: string): SuitMalformedError {
    return new SuitMalformedError(`${this.what}: ${why}`);
  }

  map(value: unknown, keys: readonly number[]): Map<unknown, unknown> {
    if (!(value instanceof Map)) throw this.error('not a map');
    for (const key of value.keys()) if (typeof key !== 'number' || !keys.includes(key)) throw this.error(`key ${String(key)} is not part of this subset`);
    for (const key of keys) if (!value.has(key)) throw this.error(`key ${key} is missing`);
    return value;
  }

  array(value: unknown, length?: number): unknown[] {
    if (!Array.isArray(value)) throw this.error('not an array');
    if (length !== undefined && value.length !== length) throw this.error(`${value.length} elements, ${length} expected`);
    return value;
  }

  bytes(value: unknown, name: string, length?: { exactly?: number; atMost?: number }): Uint8Array {
    if (!(value instanceof Uint8Array)) throw this.error(`${name} is not a byte string`);
    if (length?.exactly !== undefined && value.length !== length.exactly) throw this.error(`${name} is ${value.length} bytes, ${length.exactly} expected`);
    if (length?.atMost !== undefined && value.length > length.atMost) throw this.error(`${name} is longer than ${length.atMost} bytes`);
    return value;
  }

  uint(value: unknown, name: string): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw this.error(`${name} is not an unsigned integer`);
    return value;
  }
}

/** The envelope split into its parts, not yet verified: nothing in `manifestBytes` is trusted. */
interface EnvelopeParts {
  readonly digest: Uint8Array;
  readonly digestBytes: Uint8Array;
  readonly signatureBlock: Uint8Array;
  readonly manifestBytes: Uint8Array;
}

/** Envelope, authentication wrapper and digest: the structure around the manifest. */
function splitEnvelope(bytes: Uint8Array, limits: SuitLimits, budget: WalkBudget): EnvelopeParts {
  const tagged = decodeStrict(bytes, 'SUIT envelope', limits, budget, 0, new Set([SUIT.envelopeTag]));
  const envelope = new Reader('SUIT envelope');
  if (!(tagged instanceof Tag) || tagged.tag !== SUIT.envelopeTag) throw envelope.error(`not a SUIT_Envelope_Tagged (tag ${SUIT.envelopeTag})`);
  const fields = envelope.map(tagged.value, [SUIT.envelope.authenticationWrapper, SUIT.envelope.manifest]);
  const authenticationBytes = envelope.bytes(fields.get(SUIT.envelope.authenticationWrapper), 'authentication wrapper');
  const manifestBytes = envelope.bytes(fields.get(SUIT.envelope.manifest), 'manifest');
  const wrapper = new Reader('SUIT authentication wrapper');
  // Exactly one authentication block: this subset knows one signer, the primary's SUIT key.
  const [digestBytes, signatureBlock] = wrapper.array(decodeStrict(authenticationBytes, 'SUIT authentication wrapper', limits, budget, 2), 2);
  const digestField = wrapper.bytes(digestBytes, 'digest');
  return { digest: readDigest(digestField, 'manifest digest', limits, budget, 3), digestBytes: digestField, signatureBlock: wrapper.bytes(signatureBlock, 'authentication block'), manifestBytes };
}

function readDigest(bytes: Uint8Array, what: string, limits: SuitLimits, budget: WalkBudget, depth: number): Uint8Array {
  const reader = new Reader(what);
  const [algorithm, digest] = reader.array(decodeStrict(bytes, what, limits, budget, depth), 2);
  if (algorithm !== SUIT.sha256) throw reader.error(`algorithm ${String(algorithm)} is not SHA-256 (${SUIT.sha256})`);
  return reader.bytes(digest, 'digest bytes', { exactly: SHA256_BYTES });
}

/**
 * The COSE_Sign1 of the wrapper verifies under `trustedKey` over the wrapper's digest, and that
 * digest is the manifest's: else SuitSignatureError. Its shape is checked before the COSE library
 * sees it (a protected header other than EdDSA, an attached payload: refused).
 */
async function verifyAuthentication(parts: EnvelopeParts, trustedKey: SuitKey, limits: SuitLimits, budget: WalkBudget): Promise<void> {
  const reader = new Reader('SUIT authentication block');
  const block = parts.signatureBlock;
  // The protected header is CBOR inside a byte string, which cbor-x (through the tag-18 extension
  // @auth0/cose registers) would decode unbounded: its head is read here and its bytes walked first.
  // Tag 18, an array of 4, then a byte string short enough for a one-byte head.
  if (block.length < 3 || block[0] !== 0xd2 || block[1] !== 0x84 || block[2]! >> 5 !== 2 || (block[2]! & 31) > 23) throw reader.error('not a COSE_Sign1_Tagged with a short protected header');
  const protectedBytes = block.subarray(3, 3 + (block[2]! & 31));
  const protectedHeader = reader.map(decodeStrict(protectedBytes, 'COSE protected header', limits, budget, 5), [Headers.Algorithm]);
  if (protectedHeader.get(Headers.Algorithm) !== Algorithms.EdDSA) throw reader.error('algorithm is not EdDSA');
  const tagged = decodeStrict(block, 'SUIT authentication block', limits, budget, 3, new Set([COSE_SIGN1_TAG]));
  if (!(tagged instanceof Sign1)) throw reader.error('not a COSE_Sign1_Tagged');
  if (!(tagged.unprotectedHeaders instanceof Map) || tagged.unprotectedHeaders.size !== 0) throw reader.error('unprotected header is not empty');
  if ((tagged.payload as unknown) !== null) throw reader.error('payload is not detached (nil)');
  reader.bytes(tagged.signature, 'signature', { exactly: ED25519_SIGNATURE_BYTES });
  const sign1 = tagged;
  try {
    await sign1.verify(trustedKey, { detachedPayload: parts.digestBytes, algorithms: [Algorithms.EdDSA] });
  } catch (err) {
    throw new SuitSignatureError('the COSE_Sign1 of the SUIT envelope does not verify under the trusted SUIT key', { cause: err });
  }
  // A valid signature over another manifest's digest: the manifest was swapped under it.
  if (!Buffer.from(digestOf(parts.manifestBytes)).equals(Buffer.from(parts.digest))) {
    throw new SuitSignatureError('the SUIT manifest is not the one whose digest was signed');
  }
}

/** One command sequence of the subset: [command, argument, ...], each command among `allowed`. */
function readCommands(bytes: Uint8Array, what: string, allowed: readonly number[], limits: SuitLimits, budget: WalkBudget, depth: number): Array<[number, unknown]> {
  const reader = new Reader(what);
  const flat = reader.array(decodeStrict(bytes, what, limits, budget, depth));
  if (flat.length === 0 || flat.length % 2 !== 0) throw reader.error('not a sequence of command and argument pairs');
  const commands: Array<[number, unknown]> = [];
  for (let i = 0; i < flat.length; i += 2) {
    const code = flat[i];
    // A command this verifier does not implement cannot be skipped safely: it may be a condition.
    if (typeof code !== 'number' || !allowed.includes(code)) throw reader.error(`command ${String(code)} is not part of this subset`);
    commands.push([code, flat[i + 1]]);
  }
  return commands;
}

/**
 * Runs a command sequence of the subset as SUIT does, in order: parameters are set before the
 * conditions that read them, so a condition on an unset parameter is malformed. Returns the
 * parameters set and the commands seen.
 */
function interpret(commands: ReadonlyArray<[number, unknown]>, what: string, params: Map<number, unknown>, allowedParameters: readonly number[]): Set<number> {
  const reader = new Reader(what);
  const seen = new Set<number>();
  const needs: Record<number, number> = { [SUIT.command.vendorIdentifier]: SUIT.parameter.vendorId, [SUIT.command.classIdentifier]: SUIT.parameter.classId, [SUIT.command.imageMatch]: SUIT.parameter.imageDigest, [SUIT.command.fetch]: SUIT.parameter.uri };
  for (const [code, argument] of commands) {
    if (seen.has(code)) throw reader.error(`command ${code} appears twice`);
    seen.add(code);
    if (code === SUIT.command.overrideParameters) {
      if (!(argument instanceof Map)) throw reader.error('override-parameters takes a map');
      for (const [key, value] of argument) {
        if (typeof key !== 'number' || !allowedParameters.includes(key)) throw reader.error(`parameter ${String(key)} is not part of this subset`);
        params.set(key, value);
      }
      continue;
    }
    reader.uint(argument, `reporting policy of command ${code}`);
    const parameter = needs[code];
    if (parameter !== undefined && !params.has(parameter)) throw reader.error(`command ${code} before parameter ${parameter} is set`);
  }
  return seen;
}

/** The manifest's fields, read strictly; runs only after the signature over its digest verified. */
function readManifest(bytes: Uint8Array, limits: SuitLimits, budget: WalkBudget): SuitManifest {
  const { manifest: keys, common: commonKeys, command, parameter } = SUIT;
  const reader = new Reader('SUIT manifest');
  const fields = reader.map(decodeStrict(bytes, 'SUIT manifest', limits, budget, 2), [keys.version, keys.sequenceNumber, keys.common, keys.install]);
  if (fields.get(keys.version) !== SUIT.manifestVersion) throw reader.error(`manifest version ${String(fields.get(keys.version))} is not ${SUIT.manifestVersion}`);
  const sequenceNumber = reader.uint(fields.get(keys.sequenceNumber), 'sequence number');
  const commonReader = new Reader('SUIT common');
  const common = commonReader.map(decodeStrict(reader.bytes(fields.get(keys.common), 'common'), 'SUIT common', limits, budget, 3), [commonKeys.components, commonKeys.sharedSequence]);
  const components = commonReader.array(common.get(commonKeys.components), 1);
  const componentId = commonReader.array(components[0]);
  if (componentId.length === 0 || componentId.length > 4) throw commonReader.error('a component identifier has 1 to 4 byte strings');
  const params = new Map<number, unknown>();
  const commonSequence = readCommands(commonReader.bytes(common.get(commonKeys.sharedSequence), 'shared sequence'), 'SUIT shared sequence', [command.overrideParameters, command.vendorIdentifier, command.classIdentifier], limits, budget, 4);
  const commonSeen = interpret(commonSequence, 'SUIT shared sequence', params, [parameter.vendorId, parameter.classId, parameter.imageDigest, parameter.imageSize]);
  // Without both conditions a manifest would install on any ECU that trusts the key (RFC 9124 4.3.1, 4.3.2).
  for (const required of [command.vendorIdentifier, command.classIdentifier]) if (!commonSeen.has(required)) throw commonReader.error(`the shared sequence lacks condition ${required}`);
  const installSequence = readCommands(reader.bytes(fields.get(keys.install), 'install'), 'SUIT install', [command.overrideParameters, command.fetch, command.imageMatch], limits, budget, 3);
  const installSeen = interpret(installSequence, 'SUIT install', params, [parameter.uri]);
  const installReader = new Reader('SUIT install');
  if (!installSeen.has(command.fetch) || !installSeen.has(command.imageMatch)) throw installReader.error('the install sequence lacks the fetch or the image-match condition');
  if (installSequence.findIndex(([code]) => code === command.imageMatch) < installSequence.findIndex(([code]) => code === command.fetch)) throw installReader.error('the image is matched before it is fetched');
  const paramReader = new Reader('SUIT parameters');
  for (const required of [parameter.imageDigest, parameter.imageSize]) if (!params.has(required)) throw paramReader.error(`parameter ${required} is not set`);
  const uri = params.get(parameter.uri);
  if (typeof uri !== 'string' || uri.length === 0 || uri.length > MAX_URI_CHARS) throw paramReader.error(`uri is not a text string of 1 to ${MAX_URI_CHARS} characters`);
  return {
    sequenceNumber,
    componentId: componentId.map((part, i) => commonReader.bytes(part, `component identifier part ${i}`, { atMost: MAX_ID_BYTES })),
    vendorId: paramReader.bytes(params.get(parameter.vendorId), 'vendor id', { exactly: 16 }),
    classId: paramReader.bytes(params.get(parameter.classId), 'class id', { exactly: 16 }),
    imageDigest: readDigest(paramReader.bytes(params.get(parameter.imageDigest), 'image digest', { atMost: 64 }), 'image digest', limits, budget, 6),
    imageSize: paramReader.uint(params.get(parameter.imageSize), 'image size'),
    uri,
  };
}

/**
 * Verifies an envelope as a constrained secondary does: size first, then structure, then the
 * signature over the manifest digest, and only then the manifest's fields. Device checks (class,
 * sequence number, image) are the caller's, against its own stored state.
 */
export async function verifySuitEnvelope(bytes: Uint8Array, trustedKey: SuitKey, limits: SuitLimits = DEFAULT_SUIT_LIMITS): Promise<SuitManifest> {
  const budget: WalkBudget = { items: 0 };
  const parts = splitEnvelope(bytes, limits, budget);
  await verifyAuthentication(parts, trustedKey, limits, budget);
  return readManifest(parts.manifestBytes, limits, budget);
}

/** The manifest of an envelope without checking its signature: for tools and tests that look inside, never for installing. */
export function readSuitEnvelopeUnverified(bytes: Uint8Array, limits: SuitLimits = DEFAULT_SUIT_LIMITS): SuitManifest {
  const budget: WalkBudget = { items: 0 };
  return readManifest(splitEnvelope(bytes, limits, budget).manifestBytes, limits, budget);
}
