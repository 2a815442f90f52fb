// ParsedMetadataMemo (shared/core/trusted-metadata-set.ts): an updater and the primary reuse the
// parse of byte-identical metadata across update cycles (bench figure 7). Only the parse may be
// saved: different bytes are parsed again, a failed parse is never remembered, and every check the
// trusted set makes (signatures, hashes, versions, expiry) still runs on what the memo returns.
import { MalformedMetadataError, RoleTypeMismatchError, UnmetThresholdError, HashMismatchError } from '../../shared/core/errors.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { ParsedMetadataMemo, TrustedMetadataSet } from '../../shared/core/trusted-metadata-set.js';
import { RepositorySimulator, SIM_NOW } from '../support/repo-simulator.js';

function repository(): RepositorySimulator {
  const sim = new RepositorySimulator({ name: 'memo', computeMetafileHashesAndLength: true });
  sim.addTarget('a.bin', 'image a');
  sim.updateSnapshot();
  return sim;
}

function fullSet(sim: RepositorySimulator, memo: ParsedMetadataMemo, targets = sim.signedRole('targets')): TrustedMetadataSet {
  const set = new TrustedMetadataSet(sim.publishedRoots[0]!, SIM_NOW, { repository: 'image', parsed: memo });
  set.updateTimestamp(sim.signedRole('timestamp'));
  set.updateSnapshot(sim.signedRole('snapshot'));
  set.updateTargets(targets);
  return set;
}

describe('ParsedMetadataMemo', () => {
  it('returns the earlier parse for the same bytes, equal to a fresh parse', () => {
    const sim = repository();
    const memo = new ParsedMetadataMemo();
    const bytes = sim.signedRole('targets');
    const first = memo.parse(bytes, 'targets');
    expect(memo.parse(Buffer.from(bytes), 'targets')).toBe(first);
    expect(first).toEqual(parseMetadata(bytes, 'targets'));
  });

  it('parses again when the bytes differ, even at the same length', () => {
    const sim = repository();
    const memo = new ParsedMetadataMemo();
    const bytes = sim.signedRole('targets');
    const first = memo.parse(bytes, 'targets');
    // Same length, one character of the image's length changed: other metadata, other parse.
    const text = bytes.toString('utf8');
    const altered = Buffer.from(text.replace('"length":7', '"length":8'), 'utf8');
    expect(altered.length).toBe(bytes.length);
    expect(altered.equals(bytes)).toBe(false);
    const second = memo.parse(altered, 'targets');
    expect(second).not.toBe(first);
    expect(second.signed.targets['a.bin']!.length).toBe(8);
  });

  it('never remembers a failure, and keys entries by metadata type', () => {
    const sim = repository();
    const memo = new ParsedMetadataMemo();
    const bytes = sim.signedRole('targets');
    memo.parse(bytes, 'targets');
    expect(() => memo.parse(bytes, 'snapshot')).toThrow(RoleTypeMismatchError);
    const broken = Buffer.from(bytes.toString('utf8').slice(0, -1), 'utf8');
    expect(() => memo.parse(broken, 'targets')).toThrow(MalformedMetadataError);
    expect(() => memo.parse(broken, 'targets')).toThrow(MalformedMetadataError);
    // The good parse is still there after the failures.
    expect(memo.parse(bytes, 'targets').signed.targets['a.bin']).toBeDefined();
  });

  it('saves no check: a remembered parse is still verified against the keys of the set it enters', () => {
    const sim = repository();
    const memo = new ParsedMetadataMemo();
    const honest = sim.signedRole('targets');
    fullSet(sim, memo);
    // The repository rotates its targets key; the old file (remembered by the memo) must now fail
    // against the new root, exactly as a freshly parsed copy would.
    sim.rotateKeys('targets');
    sim.publishRoot();
    sim.updateSnapshot();
    const set = new TrustedMetadataSet(sim.publishedRoots[0]!, SIM_NOW, { repository: 'image', parsed: memo });
    set.updateRoot(sim.publishedRoots[1]!);
    set.updateTimestamp(sim.signedRole('timestamp'));
    set.updateSnapshot(sim.signedRole('snapshot'));
    // Snapshot now lists the re-signed file's hashes: the old bytes fail the hash check first.
    expect(() => set.updateTargets(honest)).toThrow(HashMismatchError);
  });

  it('saves no signature check: bytes the memo knows, listed by snapshot, but signed by the wrong key, are refused', () => {
    const sim = repository();
    const memo = new ParsedMetadataMemo();
    // Signed by the snapshot key instead of the targets key; snapshot lists exactly these bytes.
    const forged = sim.sign(sim.targets, sim.signers.get('snapshot')!);
    memo.parse(forged, 'targets', { role: 'targets' });
    const realTargets = sim.signedRole;
    sim.signedRole = (role: string) => (role === 'targets' ? forged : realTargets.call(sim, role));
    sim.updateSnapshot();
    expect(() => fullSet(sim, memo, forged)).toThrow(UnmetThresholdError);
  });
});
