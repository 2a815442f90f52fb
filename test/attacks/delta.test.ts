// Delta updates end to end (issue 21 item 2; docs/transport.md "Delta updates"; docs/threat-model.md
// F8-F10): the real Director makes the delta from the image the primary reports to the one it is
// assigned, signs its length, hash and base into the primary's Director target, and serves it; the
// primary downloads it instead of the image, applies it against its active slot and installs what it
// gives only if that is the signed image. Then the attacks, each refused with its code, the wrong
// bytes never reaching a slot, the full image installed instead, and the attack in the next report:
// a delta that gives the wrong image, a delta made from another base, a delta stream cut short,
// extended or altered on the network, and the delta fields of the Director's targets altered in transit.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { firmwarePair } from '../../sim/harness/firmware-pair.js';
import type { TargetFile } from '../../shared/core/metadata/types.js';
import { createDeltaStream, DELTA_SCHEME } from '../../shared/files/zstd-delta.js';
import { deltaFileName, type EcuImageDelta } from '../../shared/uptane/image-delta.js';
import type { FixtureImage } from '../../sim/harness/fleet-fixtures.js';
import { bytesResponse, directorTarget, readAll } from '../support/attacker.js';
import { assign, expectAttackRejected, honestCycle, PRIMARY, primaryDir, scene, serveForgedDirector, useAttackScene, vehicleStatus, VIN } from '../support/attack-scene.js';

useAttackScene();

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Two builds of the primary's firmware, a few percent apart (sim/harness/firmware-pair.ts). */
const PAIR = firmwarePair(256 * 1024);
const FROM: FixtureImage = { name: 'tcu/tcu-fw-4.1.0.bin', content: PAIR.from, hardwareIds: ['tcu-a'], releaseCounter: 6 };
const TO: FixtureImage = { name: 'tcu/tcu-fw-4.1.1.bin', content: PAIR.to, hardwareIds: ['tcu-a'], releaseCounter: 7 };
/** Another image the attacker would like the primary to build: same length as TO. */
const EVIL = Buffer.from(PAIR.to.map((b, i) => (i % 4096 === 100 ? b ^ 0x5a : b)));
const DELTA_NAME = deltaFileName(sha256(FROM.content), sha256(TO.content));

const makeDelta = async (reference: Buffer, image: Buffer): Promise<Buffer> => readAll(createDeltaStream(reference, Readable.from([image]), image.length));

/** What the primary's active slot holds. */
function slotBytes(): Buffer {
  const { slots } = scene().car.primary;
  return readFileSync(slots.slotPath(slots.current.active));
}

/** Nothing a delta left on the primary: no delta file, no partial image. */
function leftovers(): string[] {
  const found: string[] = [];
  for (const dir of ['deltas', 'images']) {
    const path = join(primaryDir(), dir);
    if (!existsSync(path)) continue;
    for (const file of readdirSync(path, { recursive: true }) as string[]) if (file.endsWith('.delta') || file.endsWith('.part')) found.push(`${dir}/${file}`);
  }
  return found;
}

const imageDownloads = () => scene().net.requests.filter((r) => r.kind === 'target' && r.repo === 'image').map((r) => r.file);
const deltaDownloads = () => scene().net.requests.filter((r) => r.kind === 'target' && r.repo === 'director' && r.file.endsWith('.delta')).map((r) => r.file);

/** The attack the primary's next version report carries, as the operator then sees it. */
async function expectReported(code: string): Promise<void> {
  const { car, recorder } = scene();
  const sent = recorder.manifests.length;
  await car.primary.sendVehicleVersionManifest();
  expect(recorder.manifests[sent]!.signed.ecu_version_reports[PRIMARY]!.signed.attacks_detected).toEqual([expect.objectContaining({ code })]);
  expect((await vehicleStatus()).attacks).toEqual(expect.arrayContaining([expect.objectContaining({ ecuSerial: PRIMARY, code })]));
}

/** After a refused delta: the full image came from the Image repository and is what the slot holds; the delta left nothing. */
function expectFellBackToFullImage(): void {
  expect(slotBytes()).toEqual(TO.content);
  expect(scene().car.primary.slots.installed.filename).toBe(TO.name);
  expect(imageDownloads()).toEqual([expect.stringContaining('tcu-fw-4.1.1.bin')]);
  expect(leftovers()).toEqual([]);
}

/** A compromised Director (its online keys stolen) lists TO for the primary with `delta` and serves `deltaBytes` as it. */
function forgeDelta(delta: EcuImageDelta, deltaBytes: Buffer): void {
  const target = directorTarget(TO.content, { [PRIMARY]: 'tcu-a' }, TO.releaseCounter);
  const entry = { ...target, custom: { ...target.custom, ecuIdentifiers: { [PRIMARY]: { hardwareId: 'tcu-a', delta } } } } as unknown as TargetFile;
  serveForgedDirector({ targets: { [TO.name]: entry }, custom: { vin: VIN } });
  scene().net.use((r) => (r.repo === 'director' && r.kind === 'target' && r.file === delta.filename ? bytesResponse(deltaBytes.subarray(r.offset), r.offset) : undefined));
}

const signedDelta = (bytes: Buffer, from = FROM.content): EcuImageDelta => ({
  scheme: DELTA_SCHEME,
  from: { length: from.length, hashes: { sha256: sha256(from) } },
  filename: deltaFileName(sha256(from), sha256(TO.content)),
  length: bytes.length,
  hashes: { sha256: sha256(bytes) },
});

beforeEach(async () => {
  const { repos, car, net } = scene();
  await repos.publishImages([FROM, TO]);
  // The primary runs FROM and has reported it; then it is assigned TO, and the Director has made the delta.
  await assign(PRIMARY, FROM);
  await honestCycle('installed');
  await car.primary.sendVehicleVersionManifest();
  await assign(PRIMARY, TO);
  await repos.director.services.metadata.current(VIN, 'targets');
  await repos.director.services.deltas.idle();
  expect(repos.director.services.deltas.hasDelta(sha256(FROM.content), sha256(TO.content))).toBe(true);
  net.requests.length = 0;
});

describe('delta updates with the real Director', () => {
  it('the primary downloads the delta, not the image, and installs exactly the signed image', async () => {
    const result = await honestCycle('installed');
    expect(result.outcomes[PRIMARY]).toMatchObject({ status: 'installed', filename: TO.name });
    expect(slotBytes()).toEqual(TO.content);
    expect(deltaDownloads()).toEqual([DELTA_NAME]);
    expect(imageDownloads()).toEqual([]);
    expect(scene().car.primary.reportedAttacks).toEqual([]);
    expect(leftovers()).toEqual([]);
    // Signed in the primary's Director target, and far smaller than the image.
    const targets = JSON.parse(readFileSync(join(primaryDir(), 'director', 'targets.json'), 'utf8')) as { signed: { targets: Record<string, TargetFile> } };
    const delta = (targets.signed.targets[TO.name]!.custom!.ecuIdentifiers![PRIMARY] as { delta?: EcuImageDelta }).delta!;
    expect(delta).toMatchObject({ scheme: DELTA_SCHEME, from: { length: FROM.content.length, hashes: { sha256: sha256(FROM.content) } }, filename: DELTA_NAME });
    expect(delta.length).toBeLessThan(TO.content.length / 5);
  });

  it('a delta whose base is not the installed image is not even downloaded: the full image is', async () => {
    const other = Buffer.from(FROM.content.map((b, i) => (i === 0 ? b ^ 1 : b)));
    const bytes = await makeDelta(other, TO.content);
    forgeDelta(signedDelta(bytes, other), bytes);
    await honestCycle('installed');
    expect(deltaDownloads()).toEqual([]);
    expectFellBackToFullImage();
    expect(scene().car.primary.reportedAttacks).toEqual([]);
  });
});

describe('F9 a Director-signed delta that does not give the signed image is refused, and the full image installed', () => {
  it('F9 a delta that produces the wrong image: delta_mismatch', async () => {
    const bytes = await makeDelta(FROM.content, EVIL);
    forgeDelta(signedDelta(bytes), bytes);
    await honestCycle('installed');
    expect(deltaDownloads()).toEqual([DELTA_NAME]);
    expectFellBackToFullImage();
    await expectReported('delta_mismatch');
  });

  it('F9 a delta made from another base, signed as from the installed image: delta_mismatch', async () => {
    // Rotated: every back-reference into the base then points at other bytes of the installed image.
    // (A base that differs only in scattered bytes still gives the image: zstd copies only matching runs.)
    const other = Buffer.concat([FROM.content.subarray(4096), FROM.content.subarray(0, 4096)]);
    const bytes = await makeDelta(other, TO.content);
    forgeDelta(signedDelta(bytes), bytes);
    await honestCycle('installed');
    expect(deltaDownloads()).toEqual([DELTA_NAME]);
    expectFellBackToFullImage();
    await expectReported('delta_mismatch');
  });
});

describe('F8 a delta stream altered on the network is refused against the length and hash the Director signed', () => {
  it.each([
    ['truncated', 'length_mismatch', (d: Buffer) => d.subarray(0, d.length - 100)],
    ['extended by one byte (oversized)', 'download_length', (d: Buffer) => Buffer.concat([d, Buffer.from([0])])],
    ['one flipped byte', 'hash_mismatch', (d: Buffer) => Buffer.from(d.map((b, i) => (i === 40 ? b ^ 1 : b)))],
  ])('F8 %s: %s, then the full image', async (_what, code, tamper) => {
    scene().net.tamperTargets((genuine, r) => bytesResponse(r.repo === 'director' ? tamper(genuine) : genuine));
    await honestCycle('installed');
    expect(deltaDownloads()).toEqual([DELTA_NAME]);
    expectFellBackToFullImage();
    await expectReported(code);
  });
});

describe('F10 the delta fields of the Director targets altered in transit', () => {
  it('F10 the delta hash rewritten in transit: the snapshot pins the targets (hash_mismatch), nothing installed, then the delta installs', async () => {
    const { net } = scene();
    net.use(async (r, options, inner) => {
      if (r.repo !== 'director' || !r.file.endsWith('targets.json')) return undefined;
      const genuine = (await readAll((await inner.fetch(r.url, options)).body)).toString();
      const parsed = JSON.parse(genuine) as { signed: { targets: Record<string, { custom: { ecuIdentifiers: Record<string, { delta: { hashes: { sha256: string } } }> } }> } };
      const delta = parsed.signed.targets[TO.name]!.custom.ecuIdentifiers[PRIMARY]!.delta;
      return bytesResponse(Buffer.from(genuine.replace(delta.hashes.sha256, sha256(Buffer.from('forged')))));
    });
    await expectAttackRejected({ code: 'hash_mismatch', detectedBy: PRIMARY, in: 'cycle' });
    expect(slotBytes()).toEqual(TO.content);
    expect(deltaDownloads()).toEqual([DELTA_NAME]);
  });

  it('F10 a malformed delta entry signed by a compromised Director: director_targets, nothing downloaded or installed', async () => {
    const bytes = await makeDelta(FROM.content, TO.content);
    forgeDelta({ ...signedDelta(bytes), filename: '../../etc/passwd' }, bytes);
    const result = await scene().car.primary.runCycle();
    expect(result).toMatchObject({ status: 'failed', error: { code: 'director_targets' } });
    expect(slotBytes()).toEqual(FROM.content);
    expect(deltaDownloads()).toEqual([]);
    expect(imageDownloads()).toEqual([]);
  });
});
