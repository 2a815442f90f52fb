// Uptane test vectors (docs/test-vectors.md): `uptane vectors export` plays every scenario against
// real servers and writes it as files; each vector is then replayed offline against this project's
// own primary and secondaries and must end in the verdicts its expected.json names. A vector whose
// expected verdict, served image or served metadata was changed is caught, so the replay can fail.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VECTOR_SCENARIOS } from '../../sim/vectors/export.js';
import { MAX_TRUSTED_METADATA_BYTES, type ExpectedVerdicts, type VectorIndex } from '../../sim/vectors/format.js';
import { TestVectorFormatError } from '../../shared/core/errors.js';
import { replayVector, replayVectors } from '../../sim/vectors/replay.js';
import { buildCli, runCli } from '../support/cli-runner.js';

const work = mkdtempSync(join(tmpdir(), 'uptane-vectors-test-'));
const exported = join(work, 'vectors');

/** A folder holding a copy of one exported vector, for a test to change. */
function copyOf(name: string): { root: string; vector: string } {
  const root = mkdtempSync(join(work, 'copy-'));
  cpSync(join(exported, name), join(root, name), { recursive: true });
  const index: VectorIndex = { ...(JSON.parse(readFileSync(join(exported, 'index.json'), 'utf8')) as VectorIndex), vectors: [name] };
  writeFileSync(join(root, 'index.json'), JSON.stringify(index));
  return { root, vector: join(root, name) };
}

beforeAll(async () => {
  await buildCli();
  const run = await runCli(['vectors', 'export', exported, '--json'], { timeoutMs: 170_000 });
  if (run.status !== 0) throw new Error(`vectors export failed: ${run.stderr}`);
}, 180_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('Uptane test vectors', () => {
  it('exports the honest update and every attack decided by what the vehicle is served, and each replays offline to its expected verdicts', async () => {
    const index = JSON.parse(readFileSync(join(exported, 'index.json'), 'utf8')) as VectorIndex;
    expect(index.vectors).toEqual(VECTOR_SCENARIOS.map((v) => v.name));
    expect(index.vectors).toEqual(expect.arrayContaining(['honest-update', 'g1-image-modified-in-transit', 'c8-director-metadata-replayed', 'd1-director-metadata-frozen', 'g4-image-for-other-hardware', 'g5-targets-bound-to-another-vin']));
    const results = await replayVectors(exported);
    expect(results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.differences.join('; ')}`)).toEqual([]);
    expect(results.find((r) => r.name === 'honest-update')!.actual.ecus).toEqual({
      'tcu-1': expect.objectContaining({ verdict: 'installed', image: 'tcu/tcu-5.bin' }),
      'ecm-1': expect.objectContaining({ verdict: 'installed', image: 'engine/ecm-2.0.bin' }),
      'abs-1': expect.objectContaining({ verdict: 'installed', image: 'brake/abs-7.bin' }),
    });
    expect(results.find((r) => r.name === 'g4-image-for-other-hardware')!.actual.ecus['tcu-1']).toEqual({ verdict: 'rejected', code: 'incompatible_hardware', image: 'factory/tcu-a.bin' });
  }, 120_000);

  it('a tampered expected.json is caught, naming the ECU, and `uptane vectors run` exits 1 (0 on the untouched vector)', async () => {
    const { root, vector } = copyOf('g1-image-modified-in-transit');
    const good = await runCli(['vectors', 'run', root]);
    expect(good.stdout).toContain('PASS g1-image-modified-in-transit');
    expect(good.status).toBe(0);

    const path = join(vector, 'expected.json');
    const expected = JSON.parse(readFileSync(path, 'utf8')) as ExpectedVerdicts;
    writeFileSync(path, JSON.stringify({ ...expected, ecus: { ...expected.ecus, 'tcu-1': { verdict: 'rejected', code: 'rollback', image: 'factory/tcu-a.bin' } } }));
    const result = await replayVector(vector);
    expect(result.ok).toBe(false);
    expect(result.differences).toEqual([expect.stringMatching(/^tcu-1: expected .*"rollback".*, got .*"hash_mismatch"/)]);

    const bad = await runCli(['vectors', 'run', root, '--json']);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ passed: false, vectors: [{ name: 'g1-image-modified-in-transit', ok: false }] });
    expect(bad.stderr).toContain('1 vectors decided otherwise than expected: g1-image-modified-in-transit');
  });

  it('the replay verifies what was served: a flipped byte in an honest image, or a missing metadata file, changes the verdict', async () => {
    const image = copyOf('honest-update');
    const target = join(image.vector, 'served', 'image', 'targets', 'engine');
    const [file] = readdirSync(target);
    const bytes = readFileSync(join(target, file!));
    bytes[0] = bytes[0]! ^ 1;
    writeFileSync(join(target, file!), bytes);
    const flipped = await replayVector(image.vector);
    expect(flipped.ok).toBe(false);
    expect(flipped.actual.cycle).toEqual({ status: 'failed', code: 'hash_mismatch' });

    const metadata = copyOf('honest-update');
    rmSync(join(metadata.vector, 'served', 'director', 'metadata', 'timestamp.json'));
    const missing = await replayVector(metadata.vector);
    expect(missing.ok).toBe(false);
    expect(missing.actual.ecus['tcu-1']).toMatchObject({ verdict: 'rejected' });
  });

  it('a folder that is not a vector, a serial that would name a folder outside the replay, or a trusted file past its bound is refused with the file at fault, and export refuses a folder that is not empty', async () => {
    const { vector } = copyOf('honest-update');
    writeFileSync(join(vector, 'vector.json'), '{"format": "something else", "formatVersion": 1}');
    await expect(replayVector(vector)).rejects.toThrow(TestVectorFormatError);
    await expect(replayVector(vector)).rejects.toThrow(/vector\.json: format "something else"/);
    const good = JSON.parse(readFileSync(join(exported, 'honest-update', 'vector.json'), 'utf8')) as { vehicle: { ecus: Array<Record<string, string>> } };
    good.vehicle.ecus[1]!.serial = '../../escaped';
    writeFileSync(join(vector, 'vector.json'), JSON.stringify(good));
    await expect(replayVector(vector)).rejects.toThrow(/vehicle\.ecus\[1\] needs a serial/);
    // A vector is untrusted input: a trusted file past its bound is refused before it is read whole.
    const oversized = copyOf('honest-update');
    const vehicle = JSON.parse(readFileSync(join(oversized.vector, 'vector.json'), 'utf8')) as { vehicle: { primary: string } };
    const root = join(oversized.vector, 'trusted', vehicle.vehicle.primary, 'director', 'root.json');
    truncateSync(root, MAX_TRUSTED_METADATA_BYTES + 1);
    await expect(replayVector(oversized.vector)).rejects.toThrow(new RegExp(`director/root\\.json is over ${MAX_TRUSTED_METADATA_BYTES} bytes`));
    const refused = await runCli(['vectors', 'export', exported]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('is not empty: export into a new or empty folder');
  });
});
