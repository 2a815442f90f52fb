// The SUIT envelope subset (docs/suit.md): what the primary encodes, a constrained secondary reads
// back; every malformed, oversized or deeply nested input is a typed error before anything is trusted.
import { Tag } from 'cbor-x';
import { SuitMalformedError, SuitSignatureError, SuitTooLargeError } from '../../shared/core/errors.js';
import { DEFAULT_SUIT_LIMITS, encodeCbor } from '../../shared/suit/cbor.js';
import { encodeSuitEnvelope, encodeSuitManifest, readSuitEnvelopeUnverified, signSuitManifest, SUIT, verifySuitEnvelope, type SuitManifest } from '../../shared/suit/envelope.js';
import { importSuitSigningKey, importSuitVerifyKey, SUIT_COMPONENT_ID, suitClassId, suitKeyPemFromSeed, suitPublicKeyRaw, suitVendorId } from '../../shared/suit/identity.js';

const PEM = suitKeyPemFromSeed(new Uint8Array(32).fill(7));
const OTHER_PEM = suitKeyPemFromSeed(new Uint8Array(32).fill(8));
const vendorId = suitVendorId();
const MANIFEST: SuitManifest = {
  sequenceNumber: 3,
  componentId: SUIT_COMPONENT_ID,
  vendorId,
  classId: suitClassId(vendorId, 'ecm-x1'),
  imageDigest: new Uint8Array(32).fill(1),
  imageSize: 1234,
  uri: 'engine/ecm-2.0.bin',
};

const sign = async (m: SuitManifest = MANIFEST, pem = PEM) => encodeSuitEnvelope(m, await importSuitSigningKey(pem));
const verify = async (bytes: Uint8Array) => verifySuitEnvelope(bytes, await importSuitVerifyKey(suitPublicKeyRaw(PEM)));
const signBytes = async (manifest: Uint8Array) => signSuitManifest(manifest, await importSuitSigningKey(PEM));
/** A signed manifest built from its own key-value pairs (outside the subset when a test says so). */
const manifestOf = (entries: Array<[number, unknown]>) => encodeCbor(new Map(entries));
const commonOf = (sequence: unknown[]) => encodeCbor(new Map<number, unknown>([[2, [[new Uint8Array([0])]]], [4, encodeCbor(sequence)]]));
const params = new Map<number, unknown>([[1, MANIFEST.vendorId], [2, MANIFEST.classId], [3, encodeCbor([-16, MANIFEST.imageDigest])], [14, MANIFEST.imageSize]]);
const INSTALL = encodeCbor([20, new Map([[21, MANIFEST.uri]]), 21, 15, 3, 15]);

async function refusal(bytes: Uint8Array | Promise<Uint8Array>): Promise<unknown> {
  try {
    await verify(await bytes);
  } catch (err) {
    return err;
  }
  throw new Error('accepted');
}

describe('SUIT envelope', () => {
  it('round-trips: what the primary signs, the verifier reads back field for field', async () => {
    const bytes = await sign();
    expect(await verify(bytes)).toEqual({ ...MANIFEST, componentId: [new Uint8Array([0])], vendorId: new Uint8Array(MANIFEST.vendorId), classId: new Uint8Array(MANIFEST.classId) });
    // SUIT_Envelope_Tagged (107), manifest version 1, and small: a constrained ECU's budget.
    expect(bytes[0]).toBe(0xd8);
    expect(bytes[1]).toBe(SUIT.envelopeTag);
    expect(bytes.length).toBeLessThan(400);
    expect(readSuitEnvelopeUnverified(bytes).sequenceNumber).toBe(3);
  });

  it('a manifest signed with another key is suit_signature', async () => {
    const err = await refusal(sign(MANIFEST, OTHER_PEM));
    expect(err).toBeInstanceOf(SuitSignatureError);
    expect(err).toMatchObject({ code: 'suit_signature', kind: 'attack' });
  });

  it('a manifest swapped under a valid signature (other sequence number) is suit_signature', async () => {
    const genuine = await sign();
    const forged = await sign({ ...MANIFEST, sequenceNumber: 99 }, OTHER_PEM);
    // Keep the genuine authentication wrapper, carry the forged manifest.
    const envelope = encodeCbor(new Tag(new Map<number, unknown>([[2, readParts(genuine).auth], [3, readParts(forged).manifest]]), 107));
    const err = await refusal(envelope);
    expect(err).toBeInstanceOf(SuitSignatureError);
    expect((err as Error).message).toContain('not the one whose digest was signed');
  });

  it('a flipped signature bit is suit_signature', async () => {
    const bytes = Buffer.from(await sign());
    const at = bytes.indexOf(Buffer.from([0x58, 0x40])) + 2; // the 64-byte signature's first byte
    bytes[at] = bytes[at]! ^ 1;
    expect(await refusal(bytes)).toBeInstanceOf(SuitSignatureError);
  });

  it.each([
    ['not CBOR at all (JSON)', Buffer.from('{"manifest":1}')],
    ['empty', new Uint8Array()],
    ['truncated', async () => (await sign()).subarray(0, 100)],
    ['trailing bytes', async () => Buffer.concat([await sign(), Buffer.from([0])])],
    ['untagged envelope', async () => encodeCbor(new Map([[2, new Uint8Array(1)], [3, new Uint8Array(1)]]))],
    ['an indefinite-length map', Buffer.from([0xd8, 0x6b, 0xbf, 0xff])],
    ['a float where a map belongs', Buffer.from([0xd8, 0x6b, 0xfb, 0, 0, 0, 0, 0, 0, 0, 0])],
    ['a non-shortest head', Buffer.from([0xd8, 0x6b, 0xb8, 0x00])],
    ['a duplicate key', Buffer.from([0xd8, 0x6b, 0xa2, 0x02, 0x40, 0x02, 0x40])],
    ['an unknown tag', Buffer.from([0xd8, 0x6c, 0xa0])],
    ['an envelope key outside the subset', encodeCbor(new Tag(new Map<number, unknown>([[2, new Uint8Array()], [3, new Uint8Array()], [99, 1]]), 107))],
    ['a string longer than the envelope', Buffer.from([0xd8, 0x6b, 0xa1, 0x02, 0x59, 0xff, 0xff])],
    ['a text string that is not UTF-8', Buffer.from([0xd8, 0x6b, 0xa1, 0x62, 0xc3, 0x28])],
  ])('malformed CBOR/COSE: %s is suit_malformed', async (_name, input) => {
    const bytes = typeof input === 'function' ? await input() : input;
    const err = await refusal(bytes);
    expect(err).toBeInstanceOf(SuitMalformedError);
    expect(err).toMatchObject({ code: 'suit_malformed', kind: 'attack' });
  });

  it('a COSE_Sign1 with an attached payload, another algorithm or a header in the unprotected bucket is suit_malformed', async () => {
    const genuine = readParts(await sign());
    const [digest, block] = decodeArray(genuine.auth);
    const sign1 = decodeCose(block as Uint8Array);
    for (const altered of [
      [sign1[0], sign1[1], digest, sign1[3]], // attached payload
      [encodeCbor(new Map([[1, -7]])), sign1[1], null, sign1[3]], // ES256
      [sign1[0], new Map([[4, new Uint8Array(2)]]), null, sign1[3]], // kid, unprotected
    ]) {
      const auth = encodeCbor([digest, encodeCbor(new Tag(altered, 18))]);
      const err = await refusal(encodeCbor(new Tag(new Map<number, unknown>([[2, auth], [3, genuine.manifest]]), 107)));
      expect(err).toBeInstanceOf(SuitMalformedError);
    }
  });

  it('an envelope over the size limit is suit_too_large before it is decoded', async () => {
    const err = await refusal(Buffer.alloc(DEFAULT_SUIT_LIMITS.maxEnvelopeBytes + 1, 0xd8));
    expect(err).toBeInstanceOf(SuitTooLargeError);
    expect(err).toMatchObject({ code: 'suit_too_large', kind: 'attack' });
  });

  it('deep nesting is suit_too_large, also when hidden inside signed byte strings', async () => {
    // 1,000 nested arrays: cbor-x alone would recurse through all of them.
    const deep = Buffer.concat([Buffer.from([0xd8, 0x6b]), Buffer.alloc(1000, 0x81), Buffer.from([0x00])]);
    expect(await refusal(deep)).toBeInstanceOf(SuitTooLargeError);
    // Each byte string alone is shallow; counted across them, the manifest's component id is too deep.
    let component: unknown = new Uint8Array([0]);
    for (let i = 0; i < 6; i++) component = [component];
    const manifest = manifestOf([[1, 1], [2, 3], [3, encodeCbor(new Map<number, unknown>([[2, [component]], [4, encodeCbor([20, params, 1, 15, 2, 15])]]))], [20, INSTALL]]);
    const err = await refusal(signBytes(manifest));
    expect(err).toBeInstanceOf(SuitTooLargeError);
    expect((err as Error).message).toContain('nested deeper');
  });

  it('too many items is suit_too_large (a declared count alone, too)', async () => {
    expect(await refusal(encodeCbor(new Tag(new Array(300).fill(0), 107)))).toBeInstanceOf(SuitTooLargeError);
    expect(await refusal(Buffer.from([0xd8, 0x6b, 0x9a, 0xff, 0xff, 0xff, 0xff]))).toBeInstanceOf(SuitTooLargeError);
  });

  it.each([
    ['manifest version 2', manifestOf([[1, 2], [2, 3], [3, commonOf([20, params, 1, 15, 2, 15])], [20, INSTALL]])],
    ['no class condition', manifestOf([[1, 1], [2, 3], [3, commonOf([20, params, 1, 15])], [20, INSTALL]])],
    ['a condition before its parameter is set', manifestOf([[1, 1], [2, 3], [3, commonOf([1, 15, 20, params, 2, 15])], [20, INSTALL]])],
    ['a command outside the subset (directive-invoke)', manifestOf([[1, 1], [2, 3], [3, commonOf([20, params, 1, 15, 2, 15, 23, 15])], [20, INSTALL]])],
    ['an unknown manifest member', manifestOf([[1, 1], [2, 3], [3, commonOf([20, params, 1, 15, 2, 15])], [20, INSTALL], [9, INSTALL]])],
    ['no install sequence', manifestOf([[1, 1], [2, 3], [3, commonOf([20, params, 1, 15, 2, 15])]])],
    ['a negative sequence number', manifestOf([[1, 1], [2, -1], [3, commonOf([20, params, 1, 15, 2, 15])], [20, INSTALL]])],
    ['a SHA-1 image digest', manifestOf([[1, 1], [2, 3], [3, commonOf([20, new Map([...params, [3, encodeCbor([-14, new Uint8Array(20)])]]), 1, 15, 2, 15])], [20, INSTALL]])],
    ['no image match after the fetch', manifestOf([[1, 1], [2, 3], [3, commonOf([20, params, 1, 15, 2, 15])], [20, encodeCbor([20, new Map([[21, 'x.bin']]), 21, 15])]])],
  ])('a signed manifest outside the subset (%s) is suit_malformed', async (_name, manifest) => {
    expect(await refusal(signBytes(manifest))).toBeInstanceOf(SuitMalformedError);
  });

  it('the encoder writes what the verifier reads: the subset manifest built by hand verifies', async () => {
    const manual = manifestOf([[1, 1], [2, 3], [3, commonOf([20, params, 1, 15, 2, 15])], [20, INSTALL]]);
    expect(Buffer.from(manual).equals(Buffer.from(encodeSuitManifest(MANIFEST)))).toBe(true);
    expect((await verify(await signBytes(manual))).uri).toBe(MANIFEST.uri);
  });
});

// Helpers that take a genuine envelope apart with cbor-x (test code only: the verifier never does this unbounded).
import { Decoder } from 'cbor-x';
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });
const decode = (bytes: Uint8Array) => decoder.decode(bytes) as unknown;
function readParts(envelope: Uint8Array): { auth: Uint8Array; manifest: Uint8Array } {
  const tagged = decode(envelope) as Tag;
  const map = tagged.value as Map<number, Uint8Array>;
  return { auth: map.get(2)!, manifest: map.get(3)! };
}
const decodeArray = (bytes: Uint8Array) => decode(bytes) as unknown[];
function decodeCose(block: Uint8Array): unknown[] {
  const value = decode(block) as { encodedProtectedHeaders?: Uint8Array; unprotectedHeaders?: Map<number, unknown>; payload?: unknown; signature?: Uint8Array; value?: unknown[] };
  if (Array.isArray(value.value)) return value.value;
  return [value.encodedProtectedHeaders, value.unprotectedHeaders, value.payload, value.signature];
}
