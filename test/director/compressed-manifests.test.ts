// Issue 15, item 7: a vehicle may send its manifest compressed (Content-Encoding gzip, deflate or
// br). The Director inflates it under its body limit counted on the inflated bytes, so a small body
// that inflates past the limit is refused with 413 and costs the server no more than the limit
// (docs/threat-model.md HR-3); another coding is 415, a corrupt body 400. A signed request's body
// digest covers the body as sent, compressed. A real Image repository and Director on loopback.
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { FixedClock } from '../../shared/core/clock.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

/** The Director's body limit (director-repo/server.ts). */
const LIMIT = 1_000_000;

const COMPRESS = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync } as const;

let clock: FixedClock;
let repos: Repositories;
let car: TestVehicle;

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'compressed-manifests');
  car = new TestVehicle('VINZIP1', [{ serial: 'zip-tcu', hardwareId: 'tcu-a', primary: true }, { serial: 'zip-ecm', hardwareId: 'ecm-x1' }], clock);
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
}, 60_000);

afterAll(async () => {
  car.cleanup();
  await repos.close();
});

interface Answer {
  readonly status: number;
  readonly json: { accepted?: boolean; error?: { code?: string; message?: string } };
}

/** POSTs `sent` as the manifest body with `encoding`, signed over `signed` (by default what is sent). */
async function postManifest(sent: Buffer, encoding: string | undefined, signed: Buffer = sent): Promise<Answer> {
  const headers: Record<string, string> = { authorization: car.authHeader('POST', '/vehicle/manifest', signed), 'content-type': 'application/json' };
  if (encoding !== undefined) headers['content-encoding'] = encoding;
  const response = await fetch(`${repos.director.url}/vehicle/manifest`, { method: 'POST', body: sent, headers });
  return { status: response.status, json: (await response.json()) as Answer['json'] };
}

const manifestBytes = () => Buffer.from(JSON.stringify(car.manifest()));

/** How many of its recent manifests the Director accepted from the vehicle, as an operator sees them. */
async function manifestCount(): Promise<number> {
  const { status, json } = await repos.operator('GET', `/api/v1/vehicles/${car.vin}`);
  expect(status).toBe(200);
  return (json.manifests as Array<{ accepted: boolean }>).filter((m) => m.accepted).length;
}

describe('compressed manifests (issue 15, item 7)', () => {
  for (const encoding of ['gzip', 'deflate', 'br'] as const) {
    it(`a manifest sent with Content-Encoding ${encoding} is inflated and accepted`, async () => {
      const before = await manifestCount();
      const answer = await postManifest(COMPRESS[encoding](manifestBytes()), encoding);
      expect(answer).toEqual({ status: 200, json: { accepted: true, assignmentsChanged: 0 } });
      expect(await manifestCount()).toBe(before + 1);
    });
  }

  it('the coding is named case-insensitively, and identity is the body as sent', async () => {
    expect((await postManifest(gzipSync(manifestBytes()), 'GZip')).status).toBe(200);
    expect((await postManifest(manifestBytes(), 'identity')).status).toBe(200);
  });

  it("a signed request's digest covers the body as sent: one signed over the inflated bytes is refused", async () => {
    const plain = manifestBytes();
    const answer = await postManifest(gzipSync(plain), 'gzip', plain);
    expect({ status: answer.status, code: answer.json.error?.code }).toEqual({ status: 401, code: 'unauthorized' });
    expect(answer.json.error?.message).toBe('the request body is not the one its signature covers');
  });

  it('a decompression bomb (a few KB inflating past the limit) is refused with 413, and the Director keeps serving', async () => {
    const bomb = gzipSync(Buffer.alloc(20 * LIMIT, ' '));
    expect(bomb.length).toBeLessThan(50_000);
    const before = await manifestCount();
    const answer = await postManifest(bomb, 'gzip');
    expect({ status: answer.status, code: answer.json.error?.code }).toEqual({ status: 413, code: 'body_too_large' });
    expect(answer.json.error?.message).toContain(`inflates to more than ${LIMIT} bytes`);
    expect(await manifestCount()).toBe(before);
    // A body that inflates to exactly the limit is still read (and refused for what it says, not its size).
    const atLimit = await postManifest(gzipSync(Buffer.alloc(LIMIT, ' ')), 'gzip');
    expect(atLimit.status).toBe(400);
    expect(atLimit.json.error?.code).not.toBe('body_too_large');
    // The Director is up and the vehicle's next manifest goes through.
    expect((await postManifest(brotliCompressSync(manifestBytes()), 'br')).status).toBe(200);
  });

  it('an unknown coding, or more than one, is refused with 415 before the body is read', async () => {
    for (const encoding of ['compress', 'x-fuzz', 'gzip, gzip']) {
      const answer = await postManifest(gzipSync(manifestBytes()), encoding);
      expect({ encoding, status: answer.status, code: answer.json.error?.code }).toEqual({ encoding, status: 415, code: 'unsupported_encoding' });
    }
  });

  it('a corrupt or cut-short compressed body is refused with 400, and nothing is stored', async () => {
    const before = await manifestCount();
    const gzipped = gzipSync(manifestBytes());
    const bodies: Array<[string, Buffer]> = [
      ['gzip', manifestBytes()], // declared but not applied
      ['gzip', gzipped.subarray(0, gzipped.length - 20)],
      ['deflate', gzipped],
      ['br', Buffer.from('not brotli at all')],
    ];
    for (const [encoding, body] of bodies) {
      const answer = await postManifest(body, encoding);
      expect({ encoding, status: answer.status, code: answer.json.error?.code }).toEqual({ encoding, status: 400, code: 'bad_request' });
    }
    expect(await manifestCount()).toBe(before);
  });
});
