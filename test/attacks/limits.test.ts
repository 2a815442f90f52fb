// What the design cannot stop, each shown as it happens (docs/uptane-conformance.md
// 8): both repositories compromised; a compromised Director choosing among valid images;
// a partial-verification secondary facing a stolen Director targets key on the bus; and a resumed
// download poisoned before the connection dropped. Other documented limits live with their
// attacker position: eavesdropping (network.test.ts) and an ECU lying about itself (compromised-ecu.test.ts).
import { readFileSync } from 'node:fs';
import { FetchError } from '../../shared/core/errors.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetsSigned } from '../../shared/core/metadata/types.js';
import { directorOnlineKeys, directorTarget, resign, streamOf } from '../support/attacker.js';
import {
  ABS,
  assign,
  ECM,
  EVIL,
  honestCycle,
  IMAGES,
  img,
  PRIMARY,
  scene,
  serveForgedDirector,
  useAttackScene,
  verifyWhileDriving,
  vehicleStatus,
} from '../support/attack-scene.js';
import { UPLOADER_TOKEN } from '../../sim/harness/fleet-fixtures.js';

useAttackScene();

describe('what the design cannot stop', () => {
  it('UR §3.5 / G12 both repositories compromised: an arbitrary image signed by both IS installed', async () => {
    // The attacker holds the Image repository's offline targets key and uploader access, and the
    // Director's operator access: both repositories now say the same thing, and every check passes.
    const { repos, car } = scene();
    const evil = img(IMAGES.ecm.name.replace('2.0', '9.9'), 'engine ecu owned', ['ecm-x1'], 99);
    const upload = await fetch(`${repos.image.url}/api/v1/images`, { method: 'POST', body: evil.content, headers: { authorization: `Bearer ${UPLOADER_TOKEN}` } });
    expect(upload.status).toBe(201);
    const listed = Object.fromEntries(
      [...Object.values(IMAGES), evil].map((i) => [i.name, { length: i.content.length, hashes: digestBytes(i.content), custom: { hardwareIds: [...i.hardwareIds], releaseCounter: i.releaseCounter } }]),
    );
    const targets: TargetsSigned = { _type: 'targets', spec_version: SPEC_VERSION, version: 50, expires: '2027-01-01T00:00:00Z', targets: listed };
    const put = await fetch(`${repos.image.url}/api/v1/metadata/targets/targets`, {
      method: 'PUT',
      body: serializeMetadata(signMetadata(targets, [repos.imageTargetsKey])),
      headers: { authorization: `Bearer ${UPLOADER_TOKEN}` },
    });
    expect(put.status).toBe(201);
    await assign(ECM, evil);
    const result = await car.primary.runCycle();
    expect(result.status).toBe('installed');
    expect(car.installed()[ECM]).toBe(evil.name);
    expect(readFileSync(car.secondaries.get(ECM)!.slots.slotPath(car.secondaries.get(ECM)!.slots.current.active)).toString()).toBe('engine ecu owned');
  });

  it('E8 (limit) a compromised Director mixes and matches valid images: any image the Image repository signed for the hardware, in any combination, IS installed', async () => {
    // "Director compromise alone ... can still mix and match" (docs/uptane-conformance.md 8). What
    // bounds it: the Image repository's hashes and hardware ids (compromised-director.test.ts) and
    // release counters (no rollback); dependency checks between images are the Director's alone.
    const { car } = scene();
    await assign(ECM, IMAGES.ecm); // the operator's choice; the vehicle gets the attacker's
    serveForgedDirector({
      targets: {
        [IMAGES.ecm4.name]: directorTarget(IMAGES.ecm4.content, { [ECM]: 'ecm-x1' }, 4),
        [IMAGES.abs.name]: directorTarget(IMAGES.abs.content, { [ABS]: 'abs-z' }, 7),
      },
    });
    expect(await car.primary.runCycle()).toMatchObject({ status: 'installed' });
    expect(car.installed()).toMatchObject({ [ECM]: IMAGES.ecm4.name, [ABS]: IMAGES.abs.name });
    // The manifest tells the Director what the vehicle really runs.
    await car.primary.sendVehicleVersionManifest();
    const ecus = (await vehicleStatus()).ecus as Array<{ serial: string; installed: { filename: string } }>;
    expect(ecus.find((e) => e.serial === ECM)!.installed.filename).toBe(IMAGES.ecm4.name);
  });

  it('partial verification with stolen Director keys and bus access: the secondary installs the attacker image (docs/uptane-conformance.md 5.2); the primary puts the genuine one back next cycle', async () => {
    const { repos, bus, car } = scene();
    await assign(ECM, IMAGES.ecm);
    await verifyWhileDriving();
    const { targets: directorTargetsKey } = directorOnlineKeys(repos);
    bus.on(ECM, {
      putMetadata: (bundle, inner) => {
        const name = Object.keys(bundle.director).find((n) => n.endsWith('.targets.json'))!;
        const forged = resign(Buffer.from(bundle.director[name]!, 'base64'), [directorTargetsKey], (signed) => {
          (signed.targets as Record<string, unknown>)[IMAGES.ecm.name] = directorTarget(EVIL, { [ECM]: 'ecm-x1' }, 2);
        });
        return inner.putMetadata({ ...bundle, director: { ...bundle.director, [name]: forged.toString('base64') } });
      },
      putImage: (filename, _body, inner) => inner.putImage(filename, streamOf(EVIL)),
    });
    const ecm = car.secondaries.get(ECM)!;
    const running = () => readFileSync(ecm.slots.slotPath(ecm.slots.current.active));
    expect((await car.primary.runCycle()).status).toBe('installed');
    expect(running()).toEqual(EVIL); // partial verification checks one signature: the stolen key's

    // The secondary's truthful report names the attacker's hashes: the primary sees the ECU does not
    // run the assigned image and installs it again; the Director recorded what ran in between.
    bus.clear();
    await honestCycle('installed');
    expect(running()).toEqual(IMAGES.ecm.content);
    const recorded = ((await vehicleStatus()).ecus as Array<{ serial: string; installed: { hashes: Record<string, string> } }>).find((e) => e.serial === ECM)!;
    expect(recorded.installed.hashes.sha256).toBe(digestBytes(EVIL).sha256);
  });

  it('F6 (weak spot) a partial download poisoned before the connection drops costs the next honest cycle, then recovers', async () => {
    // Resuming trusts the bytes already on disk: nothing can check a prefix against a hash of the
    // whole file. The forged prefix is caught when the file is complete, and the next try starts over.
    const { net, car } = scene();
    await assign(PRIMARY, IMAGES.tcu);
    net.use((r) => (r.kind === 'target' ? { offset: 0, body: (async function* () { yield Buffer.from('XXXXX'); throw new FetchError(`${r.url}: connection reset`); })() } : undefined));
    expect(await car.primary.runCycle()).toMatchObject({ status: 'failed', error: { code: 'fetch_failed' } });
    net.clear();
    expect(await car.primary.runCycle()).toMatchObject({ status: 'failed', error: { code: 'hash_mismatch' } });
    expect(net.requests.filter((r) => r.kind === 'target').map((r) => r.offset)).toEqual([0, 5]);
    expect(car.installed()[PRIMARY]).toBe('factory/tcu-a.bin');
    await honestCycle('installed');
    expect(car.installed()[PRIMARY]).toBe(IMAGES.tcu.name);
  });
});
