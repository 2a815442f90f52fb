// canonicalJson and wireJson let JSON.stringify write the text when it writes exactly what the
// encoder would (shared/core/canonical.ts, stringifiesCanonically; bench figure 7). These tests hold
// the two paths to the same bytes: canonicalJsonReusing with an empty map always runs the encoder.
import { canonicalJson, canonicalJsonReusing, checkedCanonicalBytes, wireJson } from '../shared/core/canonical.js';
import { CanonicalJsonError } from '../shared/core/errors.js';

const encoderCanonical = (value: unknown) => canonicalJsonReusing(value, new Map());

/** The encoder's wire text: the canonical text with each control character escaped as JSON.stringify escapes it. */
function encoderWire(value: unknown): string {
  return encoderCanonical(value).replace(/[\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** A deterministic pseudo-random generator (mulberry32), so a failure names a reproducible seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['a', 'b', 'Z', '0', '1', '10', '2', '"', '\\', '\n', '\u0001', '\u007f', 'é', '\u2028', '\ue000', '\uffff', '😀', '中', '/', ' '];

function randomString(next: () => number): string {
  let s = '';
  const n = Math.floor(next() * 4);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(next() * PIECES.length)];
  return s;
}

function randomValue(next: () => number, depth: number): unknown {
  const kind = depth > 3 ? Math.floor(next() * 4) : Math.floor(next() * 7);
  switch (kind) {
    case 0:
      return randomString(next);
    case 1:
      return Math.floor((next() - 0.5) * 2 ** 40);
    case 2:
      return next() < 0.5;
    case 3:
      return null;
    case 4:
      return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      const keys = Array.from({ length: Math.floor(next() * 5) }, () => randomString(next));
      // Half the objects get their keys in sorted (UTF-16) order, as JSON.parse of a canonical file gives them.
      if (next() < 0.5) keys.sort();
      for (const key of keys) object[key] = randomValue(next, depth + 1);
      return object;
    }
  }
}

describe('canonical text: JSON.stringify path and encoder agree', () => {
  it('on 3,000 random documents, sorted and unsorted, with escapes, control characters, surrogates and integer-like keys', () => {
    for (let seed = 1; seed <= 3_000; seed++) {
      const value = randomValue(random(seed), 0);
      expect([seed, canonicalJson(value)]).toEqual([seed, encoderCanonical(value)]);
      expect([seed, wireJson(value)]).toEqual([seed, encoderWire(value)]);
      expect([seed, checkedCanonicalBytes(value).toString('utf8')]).toEqual([seed, encoderCanonical(value)]);
    }
  });

  it.each<[string, unknown, string]>([
    ['integer-like keys (JSON.parse puts them first, in numeric order)', JSON.parse('{"10":1,"2":2,"a":3}'), '{"10":1,"2":2,"a":3}'],
    ['keys that UTF-16 order and code point order sort differently', { '\uffff': 1, '😀': 2 }, '{"\uffff":1,"😀":2}'],
    ['the same keys inserted in code point order', JSON.parse('{"\uffff":1,"😀":2}'), '{"\uffff":1,"😀":2}'],
    ['a raw control character in canonical text', { a: 'x\ny' }, '{"a":"x\ny"}'],
    ['-0 prints as 0', { a: -0 }, '{"a":0}'],
    ['an own toJSON string is an ordinary key', { toJSON: 'x' }, '{"toJSON":"x"}'],
  ])('%s', (_name, value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
    expect(encoderCanonical(value)).toBe(expected);
  });

  it('never calls a toJSON method, own or on an array', () => {
    const list = Object.assign([1, 2], { toJSON: () => 'replaced' });
    expect(canonicalJson(list)).toBe('[1,2]');
    expect(wireJson({ b: list, a: 1 })).toBe('{"a":1,"b":[1,2]}');
    expect(() => canonicalJson({ toJSON: () => 'replaced' })).toThrow(CanonicalJsonError);
  });

  it('refuses what has no canonical form, on either path', () => {
    for (const value of [{ a: 1.5 }, { a: 2 ** 53 }, { a: '\ud800' }, { '\udc00': 1 }, { a: undefined }, [undefined], new Date(0), { a: 1n }]) {
      expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
      expect(() => wireJson(value)).toThrow(CanonicalJsonError);
      expect(() => checkedCanonicalBytes(value)).toThrow(CanonicalJsonError);
    }
    let deep: unknown = 1;
    for (let i = 0; i < 80; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(CanonicalJsonError);
  });

  it('does not take inherited enumerable keys for own ones', () => {
    const value = Object.create({ inherited: 1 }) as Record<string, unknown>;
    value.own = 2;
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError); // not a plain object
  });
});
