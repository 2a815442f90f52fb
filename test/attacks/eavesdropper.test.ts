// L14: an eavesdropper on the network between a vehicle, the operators and the repositories. A
// recording TCP relay sits in front of each server, and every client goes through it: the release
// engineer pushing an image, the operator publishing the Director root, registering the vehicle
// and assigning the image, the Director reading the Image repository, and a real vehicle (a
// provisioned folder opened as `uptane vehicle run` opens it) running a full update cycle. Over TLS
// the recording holds none of the secrets and none of the content; the same run over plain HTTP
// must show every one of them, so the assertion is known to be able to fail.
import { randomBytes } from 'node:crypto';
import { startTlsScene, SCENE_OPERATOR_TOKEN, SCENE_UPLOADER_TOKEN, type TlsScene } from '../support/tls-scene.js';

/** What an eavesdropper must not learn, each found by its exact bytes in the recording. */
interface Secrets {
  readonly [what: string]: string;
}

async function recordUpdateCycle(scene: TlsScene): Promise<{ recording: Buffer; secrets: Secrets }> {
  const marker = `IMAGE-MARKER-${randomBytes(12).toString('hex')}`;
  const vin = `EAVESVIN${randomBytes(4).toString('hex').toUpperCase()}`;
  const primarySerial = `tcu-eaves-${randomBytes(3).toString('hex')}`;
  // Many copies, so a chunk boundary can hide none of them.
  await scene.publishImage('tcu/tcu-9.bin', Buffer.from(`${marker}\n`.repeat(4096)), 'tcu-eaves', 9);
  const vehicle = await scene.addVehicle(vin, { serial: primarySerial, hardwareId: 'tcu-eaves' });
  await scene.operator.send('POST /assignments', 'assign', { body: { vin, ecuSerial: primarySerial, image: 'tcu/tcu-9.bin' } });

  const opened = await vehicle.open();
  try {
    const first = await opened.primary.runCycle();
    expect(first.error).toBeUndefined();
    expect(first.status).toBe('installed');
    expect(opened.primary.slots.installed.filename).toBe('tcu/tcu-9.bin');
    // The next cycle reports the install in a manifest whose report names the new image.
    const second = await opened.primary.runCycle();
    expect(second.manifestSent).toBe(true);
  } finally {
    opened.close();
  }
  const status = await scene.operator.send('GET /vehicles/:vin', 'show', { params: { vin } });
  expect(status.ecus.find((e) => e.serial === primarySerial)?.installed?.filename).toBe('tcu/tcu-9.bin');
  expect(scene.sessionTokens.length).toBeGreaterThan(0);

  const recording = Buffer.concat([scene.directorRelay!.recording(), scene.imageRelay!.recording()]);
  const secrets: Secrets = {
    'the operator token': SCENE_OPERATOR_TOKEN,
    'the uploader token': SCENE_UPLOADER_TOKEN,
    ...Object.fromEntries(scene.sessionTokens.map((token, i) => [`session token ${i + 1}`, token])),
    'the VIN': vin,
    'the primary ECU serial (in the manifest and the registration)': primarySerial,
    'a manifest field': 'ecu_version_reports',
    'the image content': marker,
    'the image name (in targets, assignments and the manifest)': 'tcu/tcu-9.bin',
  };
  return { recording, secrets };
}

const found = (recording: Buffer, secrets: Secrets) => Object.entries(secrets).filter(([, value]) => recording.includes(Buffer.from(value)));

describe('L14: an eavesdropper recording every byte between the vehicle, the operators and the servers', () => {
  let scene: TlsScene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('over TLS sees no token, VIN, manifest, image name or image content', async () => {
    scene = await startTlsScene({ tls: true, relay: true });
    const run = await recordUpdateCycle(scene);
    expect(scene.directorUrl.startsWith('https://')).toBe(true);
    expect(scene.imageUrl.startsWith('https://')).toBe(true);
    // The whole update went through the relays: it recorded the image's worth of bytes, encrypted.
    expect(run.recording.length).toBeGreaterThan(4096 * 30);
    expect(found(run.recording, run.secrets).map(([what]) => what)).toEqual([]);
  });

  it('over plain HTTP the same recording shows every one of them (the check above can fail)', async () => {
    scene = await startTlsScene({ tls: false, relay: true });
    const run = await recordUpdateCycle(scene);
    expect(found(run.recording, run.secrets).map(([what]) => what)).toEqual(Object.keys(run.secrets));
  });
});
