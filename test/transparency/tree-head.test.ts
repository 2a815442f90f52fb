// Signed tree heads (docs/transparency-log.md "Tree heads and witnesses"): canonical JSON signed by
// the log's key through the Signer interface, parsed once at the edge with an error naming the
// first wrong field, and refused when any signed byte changed, another key signed it, it names
// another log, or it lacks the witness cosignatures a reader requires. One test per check, each
// failing if that check is removed.
import canonicalize from 'canonicalize';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { nobleBackend } from '../../shared/core/crypto/ed25519.js';
import { LogProofInvalidError, LogTreeHeadSignatureError, MalformedLogDataError } from '../../shared/core/errors.js';
import { EMPTY_ROOT, hashLeaf } from '../../shared/transparency/merkle.js';
import {
  cosignTreeHead,
  DEFAULT_TREE_HEAD_LIMITS,
  encodeSignedTreeHead,
  parseSignedTreeHead,
  parseSignedTreeHeadBytes,
  type SignedTreeHead,
  signTreeHead,
  treeHeadBytes,
  verifyCosignatures,
  verifyTreeHead,
  withCosignature,
} from '../../shared/transparency/tree-head.js';

const LOG = 'uptane-ts image log';
const logKey = PrivateKey.fromLabel('transparency log');
const witnessA = PrivateKey.fromLabel('witness a');
const witnessB = PrivateKey.fromLabel('witness b');
const ecdsaWitness = PrivateKey.generate('ecdsa-p256');

const head = { log: LOG, size: 42, rootHash: hashLeaf(Buffer.from('root')), timestamp: '2026-12-06T20:00:00Z' };

/** The signed head as another party receives it: JSON text, parsed. */
function wire(sth: SignedTreeHead): SignedTreeHead {
  return parseSignedTreeHeadBytes(Buffer.from(JSON.stringify(encodeSignedTreeHead(sth))));
}

/** `sth` with its signed body changed and its signatures kept. */
function tampered(sth: SignedTreeHead, change: (signed: Record<string, unknown>) => void): SignedTreeHead {
  const json = JSON.parse(JSON.stringify(encodeSignedTreeHead(sth))) as { signed: Record<string, unknown> };
  change(json.signed);
  return parseSignedTreeHead(json);
}

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

describe('signed tree heads', () => {
  it('verify under the log key after travelling as JSON, with either Ed25519 backend; the signed bytes are canonical JSON', () => {
    const sth = wire(signTreeHead(head, logKey));
    expect(verifyTreeHead(sth, logKey.publicKey, LOG)).toMatchObject({ size: 42, timestamp: head.timestamp });
    expect(verifyTreeHead(sth, logKey.publicKey, LOG, nobleBackend).size).toBe(42);
    expect(Buffer.from(treeHeadBytes(sth)).toString()).toBe(canonicalize(sth.signed));
    expect(sth.signed).toEqual({ _type: 'transparency-tree-head', log: LOG, size: 42, root_hash: Buffer.from(head.rootHash).toString('hex'), timestamp: head.timestamp });
  });

  it('are refused when any signed field changed, or a field was added (the signature check)', () => {
    const sth = signTreeHead(head, logKey);
    const changes: Array<(s: Record<string, unknown>) => void> = [
      (s) => (s.size = 43),
      (s) => (s.size = 41),
      (s) => (s.root_hash = Buffer.from(hashLeaf(Buffer.from('other'))).toString('hex')),
      (s) => (s.timestamp = '2026-12-06T20:00:01Z'),
      (s) => (s.extra = 'kept, and signed'),
    ];
    for (const change of changes) {
      const err = thrownBy(() => verifyTreeHead(tampered(sth, change), logKey.publicKey, LOG));
      expect(err).toBeInstanceOf(LogTreeHeadSignatureError);
      expect((err as LogTreeHeadSignatureError).code).toBe('log_tree_head_signature');
    }
    // The log's name is signed too: renamed, it fails the signature even where the new name is expected.
    expect(thrownBy(() => verifyTreeHead(tampered(sth, (s) => (s.log = 'other log')), logKey.publicKey, 'other log'))).toBeInstanceOf(LogTreeHeadSignatureError);
  });

  it('are refused when signed by another key, or the signature is replaced by a witness cosignature', () => {
    const forged = signTreeHead(head, witnessA);
    expect(thrownBy(() => verifyTreeHead(forged, logKey.publicKey, LOG))).toBeInstanceOf(LogTreeHeadSignatureError);
    const sth = signTreeHead(head, logKey);
    const swapped = { ...sth, signature: cosignTreeHead(sth, witnessA) };
    expect(thrownBy(() => verifyTreeHead(swapped, logKey.publicKey, LOG))).toBeInstanceOf(LogTreeHeadSignatureError);
  });

  it('of another log signed with the same key are refused (the log-name check)', () => {
    const director = signTreeHead({ ...head, log: 'uptane-ts director log' }, logKey);
    const err = thrownBy(() => verifyTreeHead(director, logKey.publicKey, LOG));
    expect(err).toBeInstanceOf(LogTreeHeadSignatureError);
    expect((err as Error).message).toMatch(/director log/);
  });

  it('of the empty tree must carry the empty root even when signed', () => {
    expect(verifyTreeHead(signTreeHead({ ...head, size: 0, rootHash: EMPTY_ROOT }, logKey), logKey.publicKey, LOG).size).toBe(0);
    expect(thrownBy(() => verifyTreeHead(signTreeHead({ ...head, size: 0 }, logKey), logKey.publicKey, LOG))).toBeInstanceOf(LogProofInvalidError);
  });

  it('that are malformed are refused at parsing with MalformedLogDataError naming the field', () => {
    const good = JSON.parse(JSON.stringify(encodeSignedTreeHead(signTreeHead(head, logKey)))) as Record<string, unknown>;
    const withSigned = (patch: Record<string, unknown>) => ({ ...good, signed: { ...(good.signed as object), ...patch } });
    const cases: Array<[unknown, RegExp]> = [
      ['text', /JSON object/],
      [{ ...good, signed: [] }, /signed must be/],
      [withSigned({ _type: 'targets' }), /_type/],
      [withSigned({ log: '' }), /signed\.log/],
      [withSigned({ log: 'x'.repeat(DEFAULT_TREE_HEAD_LIMITS.maxLogNameLength + 1) }), /signed\.log/],
      [withSigned({ size: -1 }), /signed\.size/],
      [withSigned({ size: 2 ** 53 }), /signed\.size/],
      [withSigned({ size: '42' }), /signed\.size/],
      [withSigned({ root_hash: 'ab' }), /signed\.root_hash/],
      [withSigned({ root_hash: 'AB'.repeat(32) }), /signed\.root_hash/],
      [withSigned({ timestamp: '2026-12-06 20:00:00' }), /timestamp/],
      [withSigned({ timestamp: '2026-13-45T20:00:00Z' }), /timestamp/],
      [{ ...good, signature: null }, /signature must be/],
      [{ ...good, signature: { keyid: 'KEY', sig: 'ab' } }, /signature\.keyid/],
      [{ ...good, signature: { keyid: 'ab', sig: 'not hex' } }, /signature\.sig/],
      [{ ...good, cosignatures: {} }, /cosignatures must be a list/],
      [{ ...good, cosignatures: Array.from({ length: DEFAULT_TREE_HEAD_LIMITS.maxCosignatures + 1 }, (_, i) => ({ keyid: i.toString(16).padStart(2, '0'), sig: 'ab' })) }, /cosignatures holds/],
      [{ ...good, cosignatures: [{ keyid: 'ab', sig: 'cd' }, { keyid: 'ab', sig: 'ef' }] }, /two cosignatures under one keyid/],
      [{ ...good, cosignatures: [{ keyid: 'ab' }] }, /cosignatures\[0\]\.sig/],
    ];
    for (const [json, message] of cases) {
      const err = thrownBy(() => parseSignedTreeHead(json));
      expect(err).toBeInstanceOf(MalformedLogDataError);
      expect((err as Error).message).toMatch(message);
    }
    expect(thrownBy(() => parseSignedTreeHeadBytes(Buffer.from('{"signed":')))).toBeInstanceOf(MalformedLogDataError);
    expect(thrownBy(() => parseSignedTreeHeadBytes(Buffer.alloc(DEFAULT_TREE_HEAD_LIMITS.maxBytes + 1, 0x20)))).toBeInstanceOf(MalformedLogDataError);
  });
});

describe('witness cosignatures', () => {
  const sth = signTreeHead(head, logKey);
  const cosigned = withCosignature(withCosignature(sth, cosignTreeHead(sth, witnessA)), cosignTreeHead(sth, ecdsaWitness));
  const expectRefused = (action: () => void): void => {
    const err = thrownBy(action);
    expect(err).toBeInstanceOf(LogTreeHeadSignatureError);
  };

  it('meet a threshold of distinct witness keys, Ed25519 or ECDSA, after travelling as JSON', () => {
    const received = wire(cosigned);
    verifyCosignatures(received, logKey.publicKey, [witnessA.publicKey, ecdsaWitness.publicKey], 2);
    verifyCosignatures(received, logKey.publicKey, [witnessA.publicKey, witnessB.publicKey], 1);
  });

  it('are required: a head without them, or with too few, is refused', () => {
    expectRefused(() => verifyCosignatures(sth, logKey.publicKey, [witnessA.publicKey], 1));
    expectRefused(() => verifyCosignatures(cosigned, logKey.publicKey, [witnessA.publicKey, witnessB.publicKey], 2));
  });

  it('count only valid signatures over this head: one copied from another head is refused', () => {
    const other = signTreeHead({ ...head, size: 43 }, logKey);
    const copied = withCosignature(sth, cosignTreeHead(other, witnessA));
    expectRefused(() => verifyCosignatures(copied, logKey.publicKey, [witnessA.publicKey], 1));
  });

  it('never count the log vouching for itself, even when its key is listed as a witness', () => {
    const selfCosigned = withCosignature(sth, cosignTreeHead(sth, logKey));
    expectRefused(() => verifyCosignatures(selfCosigned, logKey.publicKey, [logKey.publicKey], 1));
  });

  it('count one witness once, however often its key is listed', () => {
    expectRefused(() => verifyCosignatures(cosigned, logKey.publicKey, [witnessA.publicKey, witnessA.publicKey, PrivateKey.fromLabel('witness a').publicKey], 2));
  });
});
