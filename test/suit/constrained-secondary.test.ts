// The constrained secondary's verifier (docs/suit.md): each refusal leaves the ECU as it was (active
// slot, installed image, nothing staged, sequence number) and is a typed attack in its next report.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { MemoryVehicleState } from '../../shared/ecu/vehicle-state.js';
import { SuitDigestMismatchError, SuitMalformedError, SuitRollbackError, SuitSignatureError, SuitTooLargeError, SuitWrongClassError, UptaneError } from '../../shared/core/errors.js';
import { encodeSuitEnvelope, type SuitManifest } from '../../shared/suit/envelope.js';
import { importSuitSigningKey, SUIT_COMPONENT_ID, suitClassId, suitKeyPemFromSeed, suitPublicKeyRaw, suitVendorId } from '../../shared/suit/identity.js';
import { ConstrainedSecondary } from '../../secondary-ecu/constrained/constrained-secondary.js';
import { fixtureEcuKey } from '../../sim/harness/fixture-keys.js';

const PEM = suitKeyPemFromSeed(new Uint8Array(32).fill(3));
const vendorId = suitVendorId();
const FACTORY = { filename: 'factory/sensor-s1.bin', content: Buffer.from('factory image of sensor-s1\n') };
const IMAGE = Buffer.from('sensor firmware v4 '.repeat(5000)); // ~95 KB, several chunks
const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

let dir: string;
let ecu: ConstrainedSecondary;
const state = new MemoryVehicleState('parked');

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-suit-'));
  ConstrainedSecondary.provision(dir, {
    serial: 'sensor-1',
    hardwareId: 'sensor-s1',
    key: fixtureEcuKey('suit-test/sensor-1'),
    suitPublicKey: suitPublicKeyRaw(PEM),
    vendorId,
    classId: suitClassId(vendorId, 'sensor-s1'),
    componentId: SUIT_COMPONENT_ID,
    maxImageBytes: 1024 * 1024,
    factoryImage: FACTORY,
  });
  ecu = await ConstrainedSecondary.open(dir, { clock: new FixedClock('2026-06-01T00:00:00Z'), vehicleState: state });
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function manifest(over: Partial<SuitManifest> = {}): SuitManifest {
  return { sequenceNumber: 4, componentId: SUIT_COMPONENT_ID, vendorId, classId: suitClassId(vendorId, 'sensor-s1'), imageDigest: sha256(IMAGE), imageSize: IMAGE.length, uri: 'sensor/s1-4.bin', ...over };
}
const envelope = async (over: Partial<SuitManifest> = {}, pem = PEM) => encodeSuitEnvelope(manifest(over), await importSuitSigningKey(pem));
async function* chunks(bytes: Buffer, size = 16 * 1024): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** What must not change when a SUIT update is refused. */
const snapshot = () => ({ active: ecu.slots.current.active, installed: ecu.slots.installed.filename, staged: ecu.slots.current.staged, sequence: ecu.sequenceNumber });

async function refused(env: Uint8Array | Promise<Uint8Array>, image = IMAGE): Promise<UptaneError> {
  const before = snapshot();
  let caught: unknown;
  try {
    await ecu.putSuit(await env, chunks(image));
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(UptaneError);
  expect(snapshot()).toEqual(before);
  expect(before.staged).toBeNull();
  // Reported as an attack in the next version report, which the primary forwards to the Director.
  const report = await ecu.versionReport();
  expect(report.signed.attacks_detected.map((a) => a.code)).toEqual([(caught as UptaneError).code]);
  expect(report.signed.installed_image.filename).toBe(before.installed);
  return caught as UptaneError;
}

describe('constrained secondary', () => {
  it('verifies the envelope, streams and checks the image, installs, and keeps the sequence number', async () => {
    await ecu.putSuit(await envelope(), chunks(IMAGE));
    expect(ecu.slots.current.staged?.filename).toBe('sensor/s1-4.bin');
    expect(await ecu.install()).toMatchObject({ status: 'installed', filename: 'sensor/s1-4.bin' });
    expect(ecu.sequenceNumber).toBe(4);
    const report = await ecu.versionReport();
    expect(report.signed.installed_image).toMatchObject({ filename: 'sensor/s1-4.bin', length: IMAGE.length, hashes: { sha256: Buffer.from(sha256(IMAGE)).toString('hex') } });
    // The sequence number survives a restart (it is the rollback reference).
    const reopened = await ConstrainedSecondary.open(dir, { clock: new FixedClock('2026-06-01T00:00:00Z'), vehicleState: state });
    expect(reopened.sequenceNumber).toBe(4);
  });

  it('an image whose digest differs from the manifest is suit_digest_mismatch, nothing installed', async () => {
    const other = Buffer.from(IMAGE);
    other[other.length - 1] = other[other.length - 1]! ^ 1;
    expect(await refused(envelope(), other)).toBeInstanceOf(SuitDigestMismatchError);
  });

  it('an image longer or shorter than the manifest says is suit_digest_mismatch', async () => {
    expect(await refused(envelope(), Buffer.concat([IMAGE, Buffer.from('x')]))).toBeInstanceOf(SuitDigestMismatchError);
    expect(await refused(envelope(), IMAGE.subarray(1))).toBeInstanceOf(SuitDigestMismatchError);
  });

  it('an envelope signed by another key than the provisioned one is suit_signature', async () => {
    expect(await refused(envelope({}, suitKeyPemFromSeed(new Uint8Array(32).fill(9))))).toBeInstanceOf(SuitSignatureError);
  });

  it('a rolled-back sequence number is suit_rollback; the same one is accepted, as a release counter', async () => {
    await ecu.putSuit(await envelope({ sequenceNumber: 7 }), chunks(IMAGE));
    await ecu.install();
    const older = Buffer.from('sensor firmware v3');
    expect(await refused(envelope({ sequenceNumber: 6, imageDigest: sha256(older), imageSize: older.length, uri: 'sensor/s1-3.bin' }), older)).toBeInstanceOf(SuitRollbackError);
    await ecu.putSuit(await envelope({ sequenceNumber: 7 }), chunks(IMAGE));
  });

  it('an envelope for another device class or vendor is suit_wrong_class', async () => {
    expect(await refused(envelope({ classId: suitClassId(vendorId, 'sensor-s2') }))).toBeInstanceOf(SuitWrongClassError);
    expect(await refused(envelope({ vendorId: suitVendorId('other-vendor.example'), classId: suitClassId(suitVendorId('other-vendor.example'), 'sensor-s1') }))).toBeInstanceOf(SuitWrongClassError);
    expect(await refused(envelope({ componentId: [new Uint8Array([1])] }))).toBeInstanceOf(SuitWrongClassError);
  });

  it('a manifest declaring more than the slot takes is suit_too_large before the image is read', async () => {
    let read = 0;
    const counting = async function* () {
      for await (const chunk of chunks(IMAGE)) {
        read += chunk.length;
        yield chunk;
      }
    };
    const before = snapshot();
    await expect(ecu.putSuit(await envelope({ imageSize: 2 * 1024 * 1024 }), counting())).rejects.toBeInstanceOf(SuitTooLargeError);
    expect(read).toBe(0);
    expect(snapshot()).toEqual(before);
  });

  it('malformed and oversized envelopes are typed errors with nothing installed', async () => {
    expect(await refused(Buffer.from('{"signed":{}}'))).toBeInstanceOf(SuitMalformedError);
    expect(await refused(Buffer.concat([Buffer.from([0xd8, 0x6b]), Buffer.alloc(500, 0x81), Buffer.from([0])]))).toBeInstanceOf(SuitTooLargeError);
    expect(await refused(Buffer.alloc(5000))).toBeInstanceOf(SuitTooLargeError);
  });

  it('installs only the image staged under the envelope it last verified', async () => {
    await ecu.putSuit(await envelope(), chunks(IMAGE));
    const other = Buffer.from('sensor firmware v5');
    // A second envelope whose image fails leaves the first image staged, but without a verified sequence number.
    await expect(ecu.putSuit(await envelope({ sequenceNumber: 5, imageDigest: sha256(other), imageSize: other.length, uri: 'sensor/s1-5.bin' }), chunks(Buffer.from('sensor firmware v6')))).rejects.toBeInstanceOf(SuitDigestMismatchError);
    await expect(ecu.install()).rejects.toMatchObject({ code: 'out_of_order' });
    expect(ecu.slots.installed.filename).toBe(FACTORY.filename);
    expect(ecu.sequenceNumber).toBe(0);
  });

  it('takes no Uptane metadata (it parses no JSON)', async () => {
    await expect(ecu.putMetadata()).rejects.toMatchObject({ code: 'out_of_order' });
  });
});
