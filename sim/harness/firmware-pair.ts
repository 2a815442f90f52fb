// Two builds of the same synthetic firmware, for delta tests, bench figure 20 and integration
// tests of their own: what a rebuild with a few changed functions does to an image, not random
// bytes with a few flipped.
//
// The image is laid out like a linked firmware: a header with the version string, a code section of
// functions (4-byte instruction words, most from a small set of opcodes with small operands, some
// literal pools of arbitrary words, and calls as PC-relative offsets to other functions, as ARM's BL),
// a table of function addresses, a string section, and 0xFF padding to the flash size. The second
// build changes `changedPercent` of the functions (a tenth of their words rewritten), inserts a few new
// functions (so everything after them moves: every call across the insertion and every address in
// the table changes, which is what makes firmware deltas hard), and bumps the version string.
// Deterministic: a seeded generator, so a figure is the same on every run.

/** xorshift32: fixed seed, fixed sequence. */
function generator(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

interface FunctionBody {
  /** Instruction words; a call is a negative number: -(index of the callee + 1). */
  readonly words: number[];
}

function makeFunction(next: () => number, functions: number): FunctionBody {
  const length = 32 + (next() % 480);
  const words: number[] = [];
  for (let i = 0; i < length; i++) {
    const kind = next() % 100;
    if (kind < 8) words.push(-(1 + (next() % functions)));
    else if (kind < 20) words.push(next()); // a literal pool word: anything
    else words.push((0xe0000000 | ((next() % 16) << 20) | ((next() % 16) << 12) | (next() % 4096)) >>> 0);
  }
  return { words };
}

function link(functions: readonly FunctionBody[], bytes: number, version: string, seed: number): Buffer {
  const image = Buffer.alloc(bytes, 0xff);
  image.write(`FIRMWARE ${version} built-for-bench`, 0, 'latin1');
  const addresses: number[] = [];
  let at = 256;
  for (const f of functions) {
    addresses.push(at);
    at += f.words.length * 4;
  }
  for (const [index, f] of functions.entries()) {
    const base = addresses[index]!;
    if (base + f.words.length * 4 > bytes * 0.8) break;
    for (const [i, word] of f.words.entries()) {
      const pc = base + i * 4;
      const value = word >= 0 ? word : (0xeb000000 | (((addresses[-word - 1]! - pc) >> 2) & 0xffffff)) >>> 0;
      image.writeUInt32LE(value, pc);
    }
  }
  at = Math.min(at, Math.floor(bytes * 0.8));
  for (const address of addresses) {
    if (at + 4 > bytes * 0.85) break;
    image.writeUInt32LE(0x08000000 + address, at);
    at += 4;
  }
  // Strings: the same on both builds (seeded apart from the code).
  const next = generator(seed);
  while (at < bytes * 0.95) {
    const length = 6 + (next() % 40);
    for (let i = 0; i < length; i++) image[at++] = 97 + (next() % 26);
    image[at++] = 0;
  }
  return image;
}

/** Two builds of one firmware of `bytes` bytes; the second changes about `changedPercent` % of its functions. */
export function firmwarePair(bytes: number, changedPercent = 3): { from: Buffer; to: Buffer } {
  const next = generator(20);
  const count = Math.max(4, Math.floor((bytes * 0.75) / 1100));
  const before = Array.from({ length: count }, () => makeFunction(next, count));
  const after = before.map((f) => {
    if (next() % 1000 >= changedPercent * 10) return f;
    const words = [...f.words];
    for (let k = 0; k < Math.ceil(words.length / 10); k++) words[next() % words.length] = next();
    return { words };
  });
  // A few new functions, inserted (not appended): the code after each one moves.
  for (let k = 0; k < Math.max(1, Math.floor(count / 300)); k++) after.splice(next() % after.length, 0, makeFunction(next, count));
  return { from: link(before, bytes, '4.1.0', 7), to: link(after, bytes, '4.1.1', 7) };
}
