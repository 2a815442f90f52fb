// Canonical JSON: known vectors for the bytes every signature covers, agreement with the OLPC form
// that python-tuf and go-tuf sign (securesystemslib `encode_canonical`) where RFC 8785 differs
// (control characters, key order), the wire form that escapes what canonical text leaves raw, and
// rejection of every value with no canonical form (docs/decisions.md Formats). Byte-for-byte
// comparison with securesystemslib's own output is in test/canonical-differential.test.ts.
import canonicalize from 'canonicalize';
import { canonicalBytes, canonicalJson, canonicalJsonReusing, checkCanonicalizable, wireBytes, wireJson } from '../shared/core/canonical.js';
import { CanonicalJsonError } from '../shared/core/errors.js';

/** The thrown error, or a failure when nothing is thrown. */
function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

function expectRejected(value: unknown): CanonicalJsonError {
  const actions = [
    () => canonicalJson(value),
    () => canonicalBytes(value),
    () => checkCanonicalizable(value),
    () => canonicalJsonReusing(value, new Map()),
    () => wireJson(value),
    () => wireBytes(value),
  ];
  for (const action of actions) {
    const err = thrownBy(action);
    expect(err).toBeInstanceOf(CanonicalJsonError);
    expect((err as CanonicalJsonError).code).toBe('non_canonical_json');
  }
  return thrownBy(() => canonicalJson(value)) as CanonicalJsonError;
}

/**
 * An independent port of securesystemslib's OLPC `encode_canonical`: keys sorted by code point
 * (Python string order), no whitespace, strings escaped only for `"` and `\`, integers only.
 */
function olpcEncode(value: unknown): string {
  if (typeof value === 'string') return `"${value.replace(/(["\\])/g, '\\$1')}"`;
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (value === null) return 'null';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error('OLPC canonical JSON has no floats');
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(olpcEncode).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    return `{${entries.map(([k, v]) => `${olpcEncode(k)}:${olpcEncode(v)}`).join(',')}}`;
  }
  throw new Error(`OLPC canonical JSON cannot encode a ${typeof value}`);
}

describe('canonical JSON vectors', () => {
  it.each<[string, unknown, string]>([
    ['top-level true', true, 'true'],
    ['top-level false', false, 'false'],
    ['top-level null', null, 'null'],
    ['a plain string', 'abc', '"abc"'],
    ['zero', 0, '0'],
    ['negative zero prints as 0', -0, '0'],
    ['a negative integer', -42, '-42'],
    ['the largest safe integer', 2 ** 53 - 1, '9007199254740991'],
    ['the smallest safe integer', -(2 ** 53 - 1), '-9007199254740991'],
    ['an empty object', {}, '{}'],
    ['an empty array', [], '[]'],
    ['keys sorted, no whitespace', { b: 1, a: 2 }, '{"a":2,"b":1}'],
    ['upper case sorts before lower case', { b: 1, a: 2, B: 3, A: 4 }, '{"A":4,"B":3,"a":2,"b":1}'],
    ['a prefix sorts first', { ab: 1, a: 2, abc: 3 }, '{"a":2,"ab":1,"abc":3}'],
    ['integer-like keys sort as strings', { 2: 'two', 10: 'ten', 1: 'one' }, '{"1":"one","10":"ten","2":"two"}'],
    ['arrays keep their order', [3, 1, 2], '[3,1,2]'],
    ['booleans and null inside', { t: true, f: false, n: null }, '{"f":false,"n":null,"t":true}'],
    ['nested objects sort at every level', { z: { y: 1, x: [{ d: 0, c: -1 }] }, a: [] }, '{"a":[],"z":{"x":[{"c":-1,"d":0}],"y":1}}'],
    ['nested empty containers', [[], {}, [{}], { a: [] }], '[[],{},[{}],{"a":[]}]'],
    ['double quote and backslash are escaped', 'a"b\\c', String.raw`"a\"b\\c"`],
    ['escapes in keys too', { 'k"ey\\': 1 }, String.raw`{"k\"ey\\":1}`],
    ['slash is not escaped', 'a/b', '"a/b"'],
    ['DEL (U+007F) is emitted raw', 'a\u007fb', '"a\u007fb"'],
    ['U+2028 and U+2029 are emitted raw', '\u2028\u2029', '"\u2028\u2029"'],
    ['é, emoji and CJK are emitted raw', 'é 😀 中文', '"é 😀 中文"'],
    ['non-ASCII keys sort by code point', { '😀': 5, 中: 4, Ω: 3, é: 2, a: 1, Z: 0 }, '{"Z":0,"a":1,"é":2,"Ω":3,"中":4,"😀":5}'],
  ])('%s', (_name, value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
    expect(canonicalJsonReusing(value, new Map())).toBe(expected);
    expect(canonicalBytes(value)).toEqual(Buffer.from(expected, 'utf8'));
    expect(() => checkCanonicalizable(value)).not.toThrow();
    // No control character: the served bytes are the signed bytes (J9), and they parse back.
    expect(wireJson(value)).toBe(expected);
    expect(wireBytes(value)).toEqual(Buffer.from(expected, 'utf8'));
    expect(JSON.parse(wireJson(value))).toEqual(value === -0 ? 0 : value);
  });

  it('emits non-ASCII as UTF-8 bytes, never as \\u escapes', () => {
    const bytes = canonicalBytes({ s: 'é😀中' });
    expect(bytes.toString('hex')).toBe(Buffer.from('{"s":"', 'latin1').toString('hex') + 'c3a9' + 'f09f9880' + 'e4b8ad' + Buffer.from('"}', 'latin1').toString('hex'));
    expect(bytes.includes('\\u')).toBe(false);
  });

  it('does not depend on insertion order', () => {
    const a = { version: 1, _type: 'root', keys: { k2: 'b', k1: 'a' } };
    const b = { keys: { k1: 'a', k2: 'b' }, _type: 'root', version: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"_type":"root","keys":{"k1":"a","k2":"b"},"version":1}');
  });

  it('accepts objects with a null prototype', () => {
    const obj = Object.create(null) as Record<string, unknown>;
    obj.b = 1;
    obj.a = 'x';
    expect(canonicalJson(obj)).toBe('{"a":"x","b":1}');
  });
});

describe('agreement with OLPC canonical JSON (securesystemslib encode_canonical)', () => {
  const targetsLike = {
    signed: {
      version: 7,
      targets: {
        'firmware/é-v2.bin': {
          length: 1024,
          hashes: { sha256: 'ab12' },
          custom: { releaseCounter: 0, hardwareIds: ['ecu-A', 'ecu-B'] },
        },
        'firmware/Z.bin': { length: 0, hashes: { sha256: 'cd34' }, custom: { releaseCounter: 3, hardwareIds: ['ecu-C'] } },
      },
      spec_version: '1.0.31',
      expires: '2030-01-01T00:00:00Z',
      _type: 'targets',
    },
    note: 'say "hi" \\ back/slash',
    flags: [true, false, null, -42],
  };

  // Derived by hand with the OLPC rules: keys in code point order ("_" 0x5F before lower case, "Z"
  // 0x5A before "é" U+00E9), no whitespace, only `"` and `\` escaped, é left as raw UTF-8.
  const olpcByHand = String.raw`{"flags":[true,false,null,-42],"note":"say \"hi\" \\ back/slash","signed":{"_type":"targets","expires":"2030-01-01T00:00:00Z","spec_version":"1.0.31","targets":{"firmware/Z.bin":{"custom":{"hardwareIds":["ecu-C"],"releaseCounter":3},"hashes":{"sha256":"cd34"},"length":0},"firmware/é-v2.bin":{"custom":{"hardwareIds":["ecu-A","ecu-B"],"releaseCounter":0},"hashes":{"sha256":"ab12"},"length":1024}},"version":7}}`;

  it('produces the hand-derived OLPC bytes for a targets-like document', () => {
    expect(canonicalJson(targetsLike)).toBe(olpcByHand);
    expect(canonicalBytes(targetsLike)).toEqual(Buffer.from(olpcByHand, 'utf8'));
  });

  it('the test-local OLPC port agrees with the hand derivation', () => {
    expect(olpcEncode(targetsLike)).toBe(olpcByHand);
  });

  it.each<[string, unknown]>([
    ['mixed scripts', { 中: ['é', '😀'], a: { b: [1, -2, 0] }, é: null }],
    ['escapes and raw specials', { 'q"': 'x\\y', s: '/\u007f\u2028', e: '' }],
    ['astral keys without a conflicting BMP key', { '😀': 1, '😁': 2, x: 3, é: 4 }],
    ['deep nesting', { a: { b: { c: { d: [[[{ e: true }]]] } } } }],
    ['control characters in values and keys', { 'k\n': 'line\nbreak\ttab\u0000nul\u001f', a: ['\r\n', '\b\f'] }],
    ['a PEM public key', { keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n' } }],
    ['keys whose UTF-16 and code point orders differ', { '\ufb01': 1, '😀': 2, '\ue000': 3, z: 4 }],
  ])('agrees with the OLPC port: %s', (_name, value) => {
    expect(canonicalJson(value)).toBe(olpcEncode(value));
  });
});

describe('control characters: raw in the signed bytes, escaped on the wire', () => {
  it('writes every control character U+0000..U+001F raw, in values and in keys, as OLPC does', () => {
    for (let c = 0; c <= 0x1f; c++) {
      const ch = String.fromCharCode(c);
      const value = { [`k${ch}`]: `a${ch}b` };
      const expected = Buffer.concat([Buffer.from('{"k'), Buffer.from([c]), Buffer.from('":"a'), Buffer.from([c]), Buffer.from('b"}')]);
      expect(canonicalBytes(value)).toEqual(expected);
      expect(canonicalJson(value)).toBe(olpcEncode(value));
      expect(() => checkCanonicalizable(value)).not.toThrow();
    }
  });

  it('differs from RFC 8785 exactly there, which is why RFC 8785 cannot sign TUF metadata', () => {
    const value = { note: 'line one\nline two' };
    expect(canonicalJson(value)).toBe('{"note":"line one\nline two"}');
    expect(canonicalize(value)).toBe('{"note":"line one\\nline two"}');
  });

  it('escapes control characters on the wire as JSON.stringify does, so the served text parses back to the same value', () => {
    const value = { 'k\u0000': 'a\tb\nc\rd\be\ff\u0001g\u001fh"i\\j\u007f' };
    const wire = wireJson(value);
    expect(wire).toBe(String.raw`{"k\u0000":"a\tb\nc\rd\be\ff\u0001g\u001fh\"i\\j` + '\u007f"}');
    expect(JSON.parse(wire)).toEqual(value);
    expect(canonicalJson(JSON.parse(wire))).toBe(canonicalJson(value));
    // The raw canonical text is not JSON: it is hashed and signed, never parsed.
    expect(() => JSON.parse(canonicalJson(value))).toThrow(SyntaxError);
  });

  it('sorts keys holding control characters by code point: a prefix first, then NUL, then newline', () => {
    expect(canonicalJson({ a: 1, 'a\u0000': 2, 'a\n': 3, A: 4 })).toBe('{"A":4,"a":1,"a\u0000":2,"a\n":3}');
  });

  it('names the path of a bad value deep inside a string-bearing document', () => {
    const err = expectRejected({ signed: { targets: { 'a.bin': { custom: { notes: ['line\nbreak', 1.5] } } } } });
    expect(err.message).toContain('$.signed.targets.a.bin.custom.notes[1]');
  });
});

describe('key order: by code point, as Python and Go sort', () => {
  it('puts U+FB01 before U+1F600, where RFC 8785 (UTF-16 code units) puts it after', () => {
    const value = { '\ufb01': 1, '😀': 2 };
    expect(canonicalize(value)).toBe('{"😀":2,"\ufb01":1}');
    expect(canonicalJson(value)).toBe('{"\ufb01":1,"😀":2}');
    expect(canonicalJson(value)).toBe(olpcEncode(value));
    expect(canonicalJsonReusing(value, new Map())).toBe(canonicalJson(value));
    expect(wireJson(value)).toBe(canonicalJson(value));
  });

  it('orders every mix of BMP, private-use, U+FFFF and astral keys as UTF-8 byte order does', () => {
    const keys = ['a', 'z', 'é', '\ud7ff', '\ue000', '\uffff', '😀', '𝄞', '\u{10ffff}', 'a\uffff', 'a😀', 'ab', '', '\u0000', '\u007f'];
    const value = Object.fromEntries(keys.map((key, i) => [key, i]));
    const byUtf8 = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    expect(canonicalJson(value)).toBe(`{${byUtf8.map((key) => `"${key}":${value[key]}`).join(',')}}`);
  });
});

describe('rejection of values with no canonical form', () => {
  it.each<[string, number]>([
    ['1.5', 1.5],
    ['-0.5', -0.5],
    ['0.1 + 0.2', 0.1 + 0.2],
    ['1e-7', 1e-7],
    ['2^53', 2 ** 53],
    ['-(2^53)', -(2 ** 53)],
    ['1e21', 1e21],
    ['Number.MAX_VALUE', Number.MAX_VALUE],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('rejects the number %s, alone and nested', (_name, n) => {
    expectRejected(n);
    expectRejected({ version: n });
    expectRejected([0, [n]]);
  });

  it.each<[string, unknown]>([
    ['a lone high surrogate', '\ud800'],
    ['a lone low surrogate inside text', 'a\udc00b'],
    ['a reversed surrogate pair', '\ude00\ud83d'],
    ['a lone surrogate in a key', { '\ud83d': 1 }],
    ['a lone surrogate in an array', ['ok', '\udfff']],
  ])('rejects %s', (_name, value) => {
    expectRejected(value);
  });

  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['undefined as a property value', { a: 1, b: undefined }],
    ['undefined in an array', [1, undefined]],
    ['a function', () => 1],
    ['a function as a property value', { f: () => 1 }],
    ['a symbol', Symbol('s')],
    ['a bigint', 1n],
    ['a Date', new Date(0)],
    ['a Map', new Map([['a', 1]])],
    ['a Uint8Array', new Uint8Array([1, 2])],
    ['a class instance', new (class Point { x = 1; })()],
    ['an object with toJSON', { toJSON: () => 'x' }],
  ])('rejects %s', (_name, value) => {
    expectRejected(value);
  });
});

describe('nesting limits', () => {
  it('refuses circular and absurdly deep values with a typed error instead of a stack overflow', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => canonicalJson(circular)).toThrow(CanonicalJsonError);
    expect(() => canonicalJsonReusing(circular, new Map())).toThrow(CanonicalJsonError);
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(CanonicalJsonError);
    expect(() => canonicalJsonReusing(deep, new Map())).toThrow(CanonicalJsonError);
    let fine: unknown = 1;
    for (let i = 0; i < 20; i++) fine = { a: fine };
    expect(() => canonicalJson(fine)).not.toThrow();
  });
});

describe('canonicalJsonReusing: known texts spliced in (the Director checks a manifest this way)', () => {
  const report = (serial: string, counter: number) => ({
    signatures: [{ keyid: 'ab'.repeat(32), sig: 'cd'.repeat(64) }],
    signed: { _type: 'ecu_version_report', ecu_serial: serial, installed_image: { filename: 'fw/é-1.bin', length: 7, hashes: { sha256: 'ef' } }, attacks_detected: [], report_counter: counter },
  });
  const manifest = { vin: 'VIN😀1', _type: 'vehicle_version_manifest', ecu_version_reports: { 'ecu-2': report('ecu-2', 3), 'ecu-10': report('ecu-10', 1), Z: report('Z', 0) }, vehicle_state: 'parked' };

  it('gives the bytes canonicalJson gives, with each report and each report body reused', () => {
    const known = new Map<object, string>();
    for (const envelope of Object.values(manifest.ecu_version_reports)) {
      known.set(envelope, canonicalJsonReusing(envelope, new Map([[envelope.signed, canonicalJson(envelope.signed)]])));
      expect(known.get(envelope)).toBe(canonicalJson(envelope));
    }
    expect(canonicalJsonReusing(manifest, known)).toBe(canonicalJson(manifest));
    expect(canonicalJsonReusing(manifest, new Map())).toBe(canonicalJson(manifest));
  });

  it('uses a known text as given, by object identity (the caller vouches for it)', () => {
    const inner = { b: 1 };
    expect(canonicalJsonReusing({ a: inner, c: { b: 1 } }, new Map([[inner, '"spliced"']]))).toBe('{"a":"spliced","c":{"b":1}}');
  });

  it('checks what it serializes itself, naming the path', () => {
    const known = new Map<object, string>([[manifest.ecu_version_reports.Z, canonicalJson(manifest.ecu_version_reports.Z)]]);
    const bad = { ...manifest, vehicle_state: 'park"/ed' };
    expect(canonicalJsonReusing(bad, known)).toBe(canonicalJson(bad));
    const withNewline = { ...manifest, vehicle_state: 'parked\non a hill' };
    expect(canonicalJsonReusing(withNewline, known)).toBe(canonicalJson(withNewline));
    const err = thrownBy(() => canonicalJsonReusing({ ...manifest, vin: 'a\ud800b' }, known)) as CanonicalJsonError;
    expect(err).toBeInstanceOf(CanonicalJsonError);
    expect(err.message).toContain('$.vin');
  });
});
