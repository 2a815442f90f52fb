// Images only for the vehicles they are meant for (issue 16 item 3, docs/signed-urls.md): an Image
// repository that serves only to credentials, checked against real servers on loopback. Anonymous
// reads are refused; the Director signs URLs only for a vehicle's own assigned images; every way of
// bending a signed URL (expiry, signature, path, VIN, key, method, scope) is refused with a typed
// code; release engineers read with their uploader token; and a primary reads the repository
// through the grants its Director channel brings (shared/uptane/image-access.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { HttpFetcher, type FetchOptions, type FetchResponse, type PostOptions, type PostResponse } from '../../shared/client/fetcher.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { signUrlGrant, verifySignedUrl } from '../../shared/server/signed-urls.js';
import { HttpDirectorChannel } from '../../shared/uptane/director-channel-http.js';
import { ImageAccess } from '../../shared/uptane/image-access.js';
import { ImageRepositoryClient } from '../../shared/uptane/image-repository-client.js';
import { startImageServer } from '../../image-repo/server.js';
import { loadUrlSigningKey } from '../../director-repo/server.js';
import { runCli, startCli } from '../support/cli-runner.js';
import { FIXTURE_NOW, startRepositories, UPLOADER_TOKEN, type FixtureImage, type Repositories } from '../../sim/harness/fleet-fixtures.js';

const clock = new FixedClock(FIXTURE_NOW);
const imageLog: string[] = [];
let repos: Repositories;
let scratch: string;

const ECM_IMAGE: FixtureImage = { name: 'engine/ecm-2.0.bin', content: Buffer.from('ecm 2.0 firmware for vehicle one '.repeat(100)), hardwareIds: ['ecm-x1'], releaseCounter: 2 };
const ABS_IMAGE: FixtureImage = { name: 'brake/abs-3.bin', content: Buffer.from('abs 3 firmware for vehicle two '.repeat(100)), hardwareIds: ['abs-z'], releaseCounter: 3 };
const UNASSIGNED: FixtureImage = { name: 'engine/ecm-9.9-beta.bin', content: Buffer.from('a beta nobody was assigned'), hardwareIds: ['ecm-x1'], releaseCounter: 9 };

/** A vehicle with its primary key, registered, and its Director channel as a primary builds it. */
interface Vehicle {
  readonly vin: string;
  readonly key: PrivateKey;
  readonly channel: HttpDirectorChannel;
}

async function registerVehicle(vin: string, ecu: { serial: string; hardwareId: string }): Promise<Vehicle> {
  const key = PrivateKey.fromLabel(`signed-urls/${vin}/primary`);
  const registration = {
    vin,
    ecus: [
      { serial: `${vin}-tcu`, hardwareId: 'tcu-a', publicKey: key.publicKey.tuf.keyval.public, primary: true },
      { serial: ecu.serial, hardwareId: ecu.hardwareId, publicKey: PrivateKey.fromLabel(`signed-urls/${vin}/${ecu.serial}`).publicKey.tuf.keyval.public },
    ],
  };
  const registered = await repos.operator('POST', '/api/v1/vehicles', registration);
  expect(registered.status).toBe(201);
  const fetcher = new HttpFetcher();
  const channel = new HttpDirectorChannel({ directorUrl: repos.director.url, key, backend: nodeBackend, clock, log: () => undefined, fetcher, poster: fetcher });
  return { vin, key, channel };
}

/** The consistent-snapshot path of an image, as the TUF client requests it. */
function imagePath(image: FixtureImage): string {
  const segments = image.name.split('/');
  segments[segments.length - 1] = `${digestBytes(image.content).sha256}.${segments[segments.length - 1]}`;
  return `/targets/${segments.map(encodeURIComponent).join('/')}`;
}

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; code: string | undefined; body: Buffer }> {
  const response = await fetch(url, init);
  const body = Buffer.from(await response.arrayBuffer());
  let code: string | undefined;
  if (response.status >= 400 && body.length > 0) code = (JSON.parse(body.toString('utf8')) as { error: { code: string } }).error.code;
  return { status: response.status, code, body };
}

/** The query of a signed URL with one parameter replaced (or added). */
function withParam(url: string, name: string, value: string): string {
  const [base, query] = url.split('?') as [string, string];
  const params = query.split('&').filter((part) => !part.startsWith(`${name}=`));
  return `${base}?${[...params, `${name}=${value}`].join('&')}`;
}

const queryOf = (url: string) => url.slice(url.indexOf('?') + 1);

let one: Vehicle;
let two: Vehicle;

beforeAll(async () => {
  repos = await startRepositories(clock, 'signed-urls', { imageReadAccess: 'credential', imageLog: (line) => imageLog.push(line) });
  // The Director reads the Image repository through URLs it signs for itself: publishing and
  // assigning below work only because of that.
  await repos.publishImages([ECM_IMAGE, ABS_IMAGE, UNASSIGNED]);
  one = await registerVehicle('SIGNED-URL-ONE', { serial: 'ecm-1', hardwareId: 'ecm-x1' });
  two = await registerVehicle('SIGNED-URL-TWO', { serial: 'abs-1', hardwareId: 'abs-z' });
  expect((await repos.operator('POST', '/api/v1/assignments', { vin: one.vin, image: ECM_IMAGE.name, ecuSerial: 'ecm-1' })).status).toBe(201);
  expect((await repos.operator('POST', '/api/v1/assignments', { vin: two.vin, image: ABS_IMAGE.name, ecuSerial: 'abs-1' })).status).toBe(201);
  scratch = mkdtempSync(join(tmpdir(), 'uptane-signed-urls-'));
}, 60_000);

afterAll(async () => {
  await repos.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('an Image repository that serves only to credentials (--read-access credential)', () => {
  it('L11: refuses an anonymous read of an image or of metadata with 403 read_credential_required, and says nothing of what is stored', async () => {
    for (const path of [imagePath(ECM_IMAGE), '/metadata/timestamp.json', '/metadata/1.root.json', '/targets/engine/no-such-hash.ecm.bin']) {
      const answer = await get(`${repos.image.url}${path}`);
      expect([path, answer.status, answer.code]).toEqual([path, 403, 'read_credential_required']);
    }
  });

  it('L11: the same reads are served to anyone by a repository meant to be public (--read-access public)', async () => {
    const dataDir = join(scratch, 'public');
    const server = await startImageServer({ dataDir, clock, readAccess: { mode: 'public' } });
    try {
      await server.storage.addUploader('fixture', UPLOADER_TOKEN, clock.now());
      const upload = await fetch(`${server.url}/api/v1/images`, { method: 'POST', body: ECM_IMAGE.content, headers: { authorization: `Bearer ${UPLOADER_TOKEN}` } });
      expect(upload.status).toBe(201);
      const image = await get(`${server.url}${imagePath(ECM_IMAGE)}`);
      expect(image.status).toBe(200);
      expect(image.body.equals(ECM_IMAGE.content)).toBe(true);
      // No metadata published there yet: not found, which only a read that passed the check can say.
      expect((await get(`${server.url}/metadata/timestamp.json`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe('the Director issues signed URLs per vehicle and image (POST /vehicle/image-urls)', () => {
  it("L13: for the vehicle's own active assignments only: another vehicle's image and an unassigned one get no URL, exactly like a name that does not exist", async () => {
    const grants = await one.channel.imageUrls([ECM_IMAGE.name, ABS_IMAGE.name, UNASSIGNED.name, 'no/such.bin']);
    expect(Object.keys(grants.images)).toEqual([ECM_IMAGE.name]);
    expect(grants.expiresIn).toBe(600);
    const url = new URL(grants.images[ECM_IMAGE.name]!);
    expect(`${url.origin}${url.pathname}`).toBe(`${repos.image.url}${imagePath(ECM_IMAGE)}`);
    expect(url.searchParams.get('vin')).toBe(one.vin);
    expect((await two.channel.imageUrls([ECM_IMAGE.name, ABS_IMAGE.name])).images).toEqual({ [ABS_IMAGE.name]: expect.any(String) });
  });

  it('refuses an anonymous or unsigned request (401) before reading its body', async () => {
    const answer = await get(`${repos.director.url}/vehicle/image-urls`, { method: 'POST', body: JSON.stringify({ filenames: [ECM_IMAGE.name] }) });
    expect([answer.status, answer.code]).toEqual([401, 'unauthorized']);
  });

  it('a signed URL opens its image, and the metadata grant opens the metadata', async () => {
    const grants = await one.channel.imageUrls([ECM_IMAGE.name]);
    const image = await get(grants.images[ECM_IMAGE.name]!);
    expect(image.status).toBe(200);
    expect(image.body.equals(ECM_IMAGE.content)).toBe(true);
    const timestamp = await get(`${repos.image.url}/metadata/timestamp.json?${grants.metadata.query}`);
    expect(timestamp.status).toBe(200);
    expect(JSON.parse(timestamp.body.toString('utf8')).signed._type).toBe('timestamp');
  });
});

describe('L12: a signed URL bent in any way is refused with a typed code', () => {
  let signed: string;
  let otherVehicles: string;

  beforeAll(async () => {
    signed = (await one.channel.imageUrls([ECM_IMAGE.name])).images[ECM_IMAGE.name]!;
    otherVehicles = (await two.channel.imageUrls([ABS_IMAGE.name])).images[ABS_IMAGE.name]!;
  });

  async function expectRefused(url: string, code: 'signed_url_expired' | 'signed_url_invalid', init?: RequestInit): Promise<void> {
    const answer = await get(url, init);
    expect([answer.status, answer.code]).toEqual([403, code]);
  }

  it('expired: the same URL, once its ten minutes are over', async () => {
    expect((await get(signed)).status).toBe(200);
    clock.advance(600_000);
    try {
      await expectRefused(signed, 'signed_url_expired');
    } finally {
      clock.advance(-600_000);
    }
  });

  it('forged: one character of the signature changed', async () => {
    const sig = new URL(signed).searchParams.get('sig')!;
    await expectRefused(withParam(signed, 'sig', `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`), 'signed_url_invalid');
  });

  it('the signature of one path on another path (the same vehicle\'s grant on an image it was not assigned)', async () => {
    await expectRefused(`${repos.image.url}${imagePath(UNASSIGNED)}?${queryOf(signed)}`, 'signed_url_invalid');
  });

  it('another vehicle\'s URL reused for this vehicle\'s image, with its VIN or with this one', async () => {
    await expectRefused(`${repos.image.url}${imagePath(ECM_IMAGE)}?${queryOf(otherVehicles)}`, 'signed_url_invalid');
    await expectRefused(withParam(otherVehicles, 'vin', encodeURIComponent(one.vin)), 'signed_url_invalid');
  });

  it('tampered expires: a later expiry than signed', async () => {
    const expires = Number(new URL(signed).searchParams.get('expires'));
    await expectRefused(withParam(signed, 'expires', String(expires + 3600)), 'signed_url_invalid');
  });

  it('a key the Image repository does not trust, even with a well-formed grant for the right path', async () => {
    const stranger = PrivateKey.fromLabel('signed-urls/not-the-director');
    const expires = Math.floor(clock.now().getTime() / 1000) + 600;
    const query = signUrlGrant(stranger, { method: 'GET', path: imagePath(ECM_IMAGE), scope: 'path', vin: one.vin, expires });
    await expectRefused(`${repos.image.url}${imagePath(ECM_IMAGE)}?${query}`, 'signed_url_invalid');
    // The Director's keyid on the stranger's signature: the signature does not verify.
    const directorKeyid = new URL(signed).searchParams.get('keyid')!;
    await expectRefused(`${repos.image.url}${imagePath(ECM_IMAGE)}?${query.replace(stranger.keyid, directorKeyid)}`, 'signed_url_invalid');
  });

  it('another method than signed: a HEAD with a GET grant', async () => {
    const answer = await fetch(signed, { method: 'HEAD' });
    expect(answer.status).toBe(403);
  });

  it('the metadata grant (a prefix grant) does not open images, and a prefix grant moved to /targets/ does not verify', async () => {
    const { metadata } = await one.channel.imageUrls([]);
    await expectRefused(`${repos.image.url}${imagePath(ECM_IMAGE)}?${metadata.query}`, 'signed_url_invalid');
    await expectRefused(`${repos.image.url}${imagePath(ECM_IMAGE)}?${metadata.query.replace('prefix=/metadata/', 'prefix=/targets/engine/')}`, 'signed_url_invalid');
    // A prefix grant over images, even signed by the Director's own key, opens none: prefix grants are for metadata.
    const directorKey = loadUrlSigningKey(join(repos.dataDir, 'director'));
    const expires = Math.floor(clock.now().getTime() / 1000) + 600;
    const imagesPrefix = signUrlGrant(directorKey, { method: 'GET', path: '/targets/engine/', scope: 'prefix', vin: one.vin, expires });
    await expectRefused(`${repos.image.url}/targets/engine/${digestBytes(UNASSIGNED.content).sha256}.ecm-9.9-beta.bin?${imagesPrefix}`, 'signed_url_invalid');
    // Nor does it reach past its prefix by a dot segment or an encoded slash.
    await expectRefused(`${repos.image.url}/metadata/..%2Ftargets?${metadata.query}`, 'signed_url_invalid');
  });

  it('refusals are logged with the path, VIN and key, never the signature', async () => {
    const sig = new URL(signed).searchParams.get('sig')!;
    await expectRefused(withParam(signed, 'sig', `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`), 'signed_url_invalid');
    const line = imageLog.filter((l) => l.includes('signed_url_invalid')).at(-1)!;
    expect(line).toContain(imagePath(ECM_IMAGE));
    expect(line).toContain(one.vin);
    expect(line).not.toContain(sig.slice(1, 40));
  });
});

describe('failed signed URLs count against the client address (docs/threat-model.md HR-10)', () => {
  it('L12: after the burst of failures, even a valid URL gets 429 until the budget refills', async () => {
    const dataDir = join(scratch, 'throttled');
    const directorKey = PrivateKey.fromLabel('signed-urls/throttle-director');
    const server = await startImageServer({ dataDir, clock, authThrottle: { burst: 3 }, readAccess: { mode: 'credential', urlSigningKeys: [directorKey.publicKey] } });
    try {
      const expires = Math.floor(clock.now().getTime() / 1000) + 600;
      const good = `${server.url}/metadata/timestamp.json?${signUrlGrant(directorKey, { method: 'GET', path: '/metadata/', scope: 'prefix', vin: 'V', expires })}`;
      expect((await get(good)).status).toBe(404); // passed the check; nothing published there
      const forged = withParam(good, 'expires', String(expires + 1));
      for (let i = 0; i < 3; i++) expect((await get(forged)).code).toBe('signed_url_invalid');
      const blocked = await get(good);
      expect([blocked.status, blocked.code]).toEqual([429, 'too_many_attempts']);
    } finally {
      await server.close();
    }
  });
});

describe('release engineers read with their uploader token', () => {
  it('L11: an uploader token reads metadata and images; a token limited to paths reads only its images; an unknown token nothing', async () => {
    const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    expect((await get(`${repos.image.url}/metadata/timestamp.json`, auth(UPLOADER_TOKEN))).status).toBe(200);
    const image = await get(`${repos.image.url}${imagePath(ECM_IMAGE)}`, auth(UPLOADER_TOKEN));
    expect(image.status).toBe(200);
    expect(image.body.equals(ECM_IMAGE.content)).toBe(true);

    await repos.image.storage.addUploader('brakes-supplier', 'signed-urls-brakes-token', clock.now(), { paths: ['brake/*'] });
    expect((await get(`${repos.image.url}${imagePath(ABS_IMAGE)}`, auth('signed-urls-brakes-token'))).status).toBe(200);
    const other = await get(`${repos.image.url}${imagePath(ECM_IMAGE)}`, auth('signed-urls-brakes-token'));
    expect([other.status, other.code]).toEqual([403, 'insufficient_scope']);
    expect((await get(`${repos.image.url}/metadata/timestamp.json`, auth('signed-urls-brakes-token'))).status).toBe(200);

    const unknown = await get(`${repos.image.url}/metadata/timestamp.json`, auth('not-a-token'));
    expect([unknown.status, unknown.code]).toEqual([401, 'unauthorized']);
  });
});

describe('a primary reads the repository through the grants its Director channel brings (shared/uptane/image-access.ts)', () => {
  it('refreshes the Image repository metadata and downloads its assigned image, verified; without grants the same client is refused', async () => {
    const newClient = (dir: string, readAccess?: ImageAccess) => {
      const store = new FileMetadataStore(join(scratch, dir));
      store.persist('root', repos.imageRoot);
      return new ImageRepositoryClient({
        metadataUrl: `${repos.image.url}/metadata`,
        targetsUrl: `${repos.image.url}/targets`,
        store,
        fetcher: new HttpFetcher(),
        clock,
        backend: nodeBackend,
        readAccess,
      });
    };
    const refresh = async (client: ImageRepositoryClient) => {
      client.loadTrustedRoot();
      await client.updateRoot();
      await client.updateTimestamp();
      await client.updateSnapshot();
      await client.updateTargets();
    };

    const anonymous = newClient('anonymous');
    anonymous.loadTrustedRoot();
    await expect(anonymous.updateRoot().then(() => anonymous.updateTimestamp())).rejects.toMatchObject({ code: 'read_forbidden' });

    const lines: string[] = [];
    const access = new ImageAccess({ channel: one.channel, imageRepoUrl: repos.image.url, clock, log: (line) => lines.push(line) });
    const client = newClient('primary', access);
    await refresh(client);
    const lookup = await client.findTarget(ECM_IMAGE.name, ['ecm-x1']);
    await access.prepare([ECM_IMAGE.name]);
    const destination = join(scratch, 'ecm.bin');
    await client.downloadImage(lookup, destination);
    expect(readFileSync(destination).equals(ECM_IMAGE.content)).toBe(true);
    expect(lines).toEqual([]);

    // Past the URL's ten minutes the next download asks the Director again first (by this ECU's clock).
    clock.advance(601_000);
    try {
      await client.downloadImage(lookup, join(scratch, 'ecm-again.bin'));
      expect(readFileSync(join(scratch, 'ecm-again.bin')).equals(ECM_IMAGE.content)).toBe(true);
    } finally {
      clock.advance(-601_000);
    }

    // An image this vehicle was not assigned: the Director gives no URL, and the repository refuses.
    const beta = await client.findTarget(UNASSIGNED.name, ['ecm-x1']);
    await expect(client.downloadImage(beta, join(scratch, 'beta.bin'))).rejects.toMatchObject({ code: 'read_forbidden' });
  });
});

describe('a whole vehicle against a repository that serves only to credentials', () => {
  /** An HttpFetcher that records the URL of every request, GET and POST. */
  class RecordingFetcher extends HttpFetcher {
    readonly urls: string[] = [];
    override fetch(url: string, options: FetchOptions): Promise<FetchResponse> {
      this.urls.push(`GET ${url}`);
      return super.fetch(url, options);
    }
    override post(url: string, options: PostOptions): Promise<PostResponse> {
      this.urls.push(`POST ${url}`);
      return super.post(url, options);
    }
  }

  it('L11: the primary learns from the first 403 that it needs grants, asks its Director for the metadata grant and the URLs of its images, and installs', async () => {
    const fetcher = new RecordingFetcher();
    const car = await SimulatedVehicle.create({
      directory: join(scratch, 'whole-car'),
      vin: 'SIGNED-URL-CAR',
      primary: { serial: 'car-tcu', hardwareId: 'tcu-a' },
      secondaries: [{ serial: 'car-ecm', hardwareId: 'ecm-x1' }],
      directorUrl: repos.director.url,
      imageRepoUrl: repos.image.url,
      directorRoot: repos.directorRoot,
      imageRoot: repos.imageRoot,
      clock,
      fetcher,
    });
    expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
    expect((await repos.operator('POST', '/api/v1/assignments', { vin: 'SIGNED-URL-CAR', image: ECM_IMAGE.name, ecuSerial: 'car-ecm' })).status).toBe(201);

    const result = await car.primary.runCycle();
    expect(result).toMatchObject({ status: 'installed' });
    expect(car.installed()['car-ecm']).toBe(ECM_IMAGE.name);
    // One request at the first refusal (the metadata grant), one when the cycle knows its images.
    const grants = fetcher.urls.filter((url) => url.endsWith('/vehicle/image-urls'));
    expect(grants).toHaveLength(2);
    // Every read of the Image repository after the first refusal carried a grant.
    const imageReads = fetcher.urls.filter((url) => url.startsWith(`GET ${repos.image.url}`));
    expect(imageReads[0]).not.toContain('sig=');
    expect(imageReads.slice(1).every((url) => url.includes('sig='))).toBe(true);
    expect(imageReads.some((url) => url.includes(imagePath(ECM_IMAGE)))).toBe(true);
  });
});

describe('the primary takes from the Director what it may read, never where it connects', () => {
  it('a grant naming another host is sent to the provisioned Image repository; one for another path is not used', async () => {
    const imageRepoUrl = 'http://images.provisioned.example:8081';
    const path = `/targets/engine/${'a'.repeat(64)}.ecm-2.0.bin`;
    const lines: string[] = [];
    const channel = {
      metadataLocation: 'unused',
      openSession: async () => undefined,
      resetSession: () => undefined,
      fetchMetadata: () => Promise.reject(new Error('unused')),
      sendManifest: () => Promise.reject(new Error('unused')),
      fetchImage: () => Promise.reject(new Error('unused')),
      imageUrls: async () => ({
        expiresIn: 600,
        metadata: { prefix: '/metadata/', query: 'vin=V&expires=1&keyid=k&sig=s' },
        images: { 'engine/ecm-2.0.bin': `http://elsewhere.example${path}?vin=V&sig=x`, 'engine/other.bin': `${imageRepoUrl}/targets/evil.bin?sig=y` },
      }),
    };
    const access = new ImageAccess({ channel, imageRepoUrl, clock, log: (line) => lines.push(line), credentialRequired: true });
    expect(await access.requestUrl(`${imageRepoUrl}${path}`)).toBe(`${imageRepoUrl}${path}?vin=V&sig=x`);
    const other = `${imageRepoUrl}/targets/engine/${'b'.repeat(64)}.other.bin`;
    expect(await access.requestUrl(other)).toBe(other);
    expect(lines).toEqual([expect.stringContaining('names another path')]);
    expect(await access.requestUrl(`${imageRepoUrl}/metadata/timestamp.json`)).toBe(`${imageRepoUrl}/metadata/timestamp.json?vin=V&expires=1&keyid=k&sig=s`);
  });
});

describe('L11: the CLI serves only to credentials unless told otherwise', () => {
  it('`director url-signing-key` prints the key `image serve --url-signing-key` takes; `image serve` refuses anonymous reads by default and serves them with --read-access public', async () => {
    const printed = await runCli(['director', 'url-signing-key', '--data-dir', join(scratch, 'cli-director')]);
    expect(printed.status).toBe(0);
    expect(printed.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n$/);
    writeFileSync(join(scratch, 'director-url.pub'), printed.stdout);
    const keyid = loadUrlSigningKey(join(scratch, 'cli-director')).keyid;

    for (const [args, status] of [
      [['--url-signing-key', join(scratch, 'director-url.pub')], 403],
      [['--read-access', 'public'], 404],
    ] as const) {
      const server = startCli(['image', 'serve', '--data-dir', join(scratch, `cli-image-${status}`), '--port', '0', ...args]);
      try {
        const [, url] = await server.waitFor(/listening on (http:\/\/[\d.]+:\d+)/, 60_000);
        await server.waitFor(/read access: /);
        if (status === 403) expect(server.output()).toContain(`read access: credential; URLs signed by ${keyid.slice(0, 12)}`);
        // Nothing is published: a read past the check is 404, one refused by it 403.
        expect((await get(`${url}/metadata/timestamp.json`)).status).toBe(status);
      } finally {
        await server.stop();
      }
    }
  }, 120_000);
});

describe('the verifier on its own (shared/server/signed-urls.ts)', () => {
  const key = PrivateKey.fromLabel('signed-urls/unit');
  const keys = new Map([[key.keyid, key.publicKey]]);
  const now = FIXTURE_NOW.getTime();
  const expires = Math.floor(now / 1000) + 600;
  const path = '/targets/engine/abc.ecm.bin';
  const url = (grant: Partial<Parameters<typeof signUrlGrant>[1]> = {}) => `${path}?${signUrlGrant(key, { method: 'GET', path, scope: 'path', vin: 'WVW 1/ä', expires, ...grant })}`;
  const verify = (target: string, options = {}) => () => verifySignedUrl({ method: 'GET', url: target }, keys, now, options);

  it('accepts its own grant and gives back the VIN decoded', () => {
    expect(verify(url())()).toMatchObject({ vin: 'WVW 1/ä', path, scope: 'path', keyid: key.keyid });
  });

  it('refuses a grant that lasts longer than the server accepts, even signed', () => {
    expect(verify(url({ expires: Math.floor(now / 1000) + 2 * 86_400 }))).toThrow(expect.objectContaining({ code: 'signed_url_invalid' }));
    expect(verify(url(), { maxLifetimeSeconds: 60 })).toThrow(expect.objectContaining({ code: 'signed_url_invalid' }));
  });

  it('refuses a parameter given twice and a VIN spelled in another encoding than signed', () => {
    const vinParam = url().split('&')[0]!.split('?')[1]!;
    expect(verify(`${url()}&${vinParam}`)).toThrow(expect.objectContaining({ code: 'signed_url_invalid' }));
    expect(verify(url().replace('%C3%A4', '%c3%a4'))).toThrow(expect.objectContaining({ code: 'signed_url_invalid' }));
  });

  it('a prefix grant opens one segment under its prefix: no encoded slash, no dot segment, nothing deeper', () => {
    const grant = signUrlGrant(key, { method: 'GET', path: '/metadata/', scope: 'prefix', vin: '', expires });
    expect(verify(`/metadata/1.root.json?${grant}`)()).toMatchObject({ scope: 'prefix', path: '/metadata/' });
    for (const bad of ['/metadata/a/b.json', '/metadata/a%2Fb.json', '/metadata/%2E%2E', '/metadata/..', '/metadata/', '/targets/x.bin']) {
      expect(verify(`${bad}?${grant}`)).toThrow(expect.objectContaining({ code: 'signed_url_invalid' }));
    }
  });

  it('refuses the signature over another method', () => {
    expect(() => verifySignedUrl({ method: 'HEAD', url: url() }, keys, now)).toThrow(expect.objectContaining({ code: 'signed_url_invalid' }));
  });
});
