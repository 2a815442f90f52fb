// The SUIT stream framing (shared/suit/framing.ts) and the secondary's PUT /suit route: the envelope
// is read under its limit from the length prefix alone, the image is passed on as a stream, a cut or
// oversized stream is a typed refusal, and an ordinary secondary has no such route.
import { request } from 'node:http';
import { SuitMalformedError, SuitTooLargeError } from '../../shared/core/errors.js';
import { splitSuitStream, suitStream, suitStreamPrefix } from '../../shared/suit/framing.js';
import type { SecondaryTransport } from '../../shared/ecu/secondary-protocol.js';
import { serveSecondary } from '../../secondary-ecu/http-server.js';

async function* chunksOf(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

const ENVELOPE = Buffer.from('an envelope of some bytes');
const IMAGE = Buffer.alloc(10_000, 3);

describe('SUIT stream framing', () => {
  it.each([1, 2, 3, 7, 1000])('splits envelope and image whatever the chunk size (%i bytes)', async (size) => {
    const whole = await collect(suitStream(ENVELOPE, chunksOf(IMAGE, 4096)));
    const { envelope, image } = await splitSuitStream(chunksOf(whole, size));
    expect(Buffer.from(envelope)).toEqual(ENVELOPE);
    expect(await collect(image)).toEqual(IMAGE);
  });

  it('refuses an envelope longer than the limit from its length alone, before reading it', async () => {
    let read = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      const prefix = suitStreamPrefix(Buffer.alloc(5000, 1));
      for (const chunk of [prefix.subarray(0, 2), prefix.subarray(2)]) {
        read += chunk.length;
        yield chunk;
      }
    }
    await expect(splitSuitStream(counted(), 4096)).rejects.toBeInstanceOf(SuitTooLargeError);
    expect(read).toBe(2);
  });

  it('refuses a stream cut inside its prefix or envelope, and an empty envelope', async () => {
    const whole = suitStreamPrefix(ENVELOPE);
    await expect(splitSuitStream(chunksOf(whole.subarray(0, 1), 1))).rejects.toBeInstanceOf(SuitMalformedError);
    await expect(splitSuitStream(chunksOf(whole.subarray(0, 10), 3))).rejects.toBeInstanceOf(SuitMalformedError);
    await expect(splitSuitStream(chunksOf(Buffer.from([0, 0, 1, 2]), 4))).rejects.toBeInstanceOf(SuitMalformedError);
    expect(() => suitStreamPrefix(Buffer.alloc(0))).toThrow(SuitTooLargeError);
  });
});

describe('PUT /suit on the secondary HTTP server', () => {
  const put = (url: string, body: Buffer) =>
    new Promise<{ status: number; code: string }>((resolve, reject) => {
      const req = request(`${url}/suit`, { method: 'PUT' }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { error?: { code: string } }).error?.code ?? 'ok' }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('a constrained secondary gets envelope and image; an oversized envelope is refused typed and it never sees it; an ordinary secondary answers 404', async () => {
    const received: { envelope: Buffer; image: Buffer }[] = [];
    const constrained = {
      putSuit: async (envelope: Uint8Array, image: AsyncIterable<Uint8Array>) => void received.push({ envelope: Buffer.from(envelope), image: await collect(image) }),
    } as unknown as SecondaryTransport;
    const ordinary = {} as SecondaryTransport;
    const [withSuit, without] = await Promise.all([serveSecondary(constrained), serveSecondary(ordinary)]);
    try {
      expect(await put(withSuit.url, await collect(suitStream(ENVELOPE, chunksOf(IMAGE, 999))))).toEqual({ status: 200, code: 'ok' });
      expect(received).toEqual([{ envelope: ENVELOPE, image: IMAGE }]);
      expect(await put(withSuit.url, Buffer.concat([suitStreamPrefix(Buffer.alloc(9000, 1)), IMAGE]))).toEqual({ status: 400, code: 'suit_too_large' });
      expect(await put(withSuit.url, Buffer.from([0x00]))).toEqual({ status: 400, code: 'suit_malformed' });
      expect(received).toHaveLength(1);
      expect(await put(without.url, await collect(suitStream(ENVELOPE, chunksOf(IMAGE, 999))))).toMatchObject({ status: 404 });
    } finally {
      await Promise.all([withSuit.close(), without.close()]);
    }
  });
});
