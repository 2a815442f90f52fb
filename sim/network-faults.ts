// Fetcher wrappers that play the network between a vehicle and the repositories: faults (a download
// cut midway, a trickle) and an attacker (an image tampered in transit, Director metadata replayed).
// The simulator and the demo put them in a vehicle's path; the vehicle's own checks must catch them.
import { DownloadLengthError, FetchError, SlowRetrievalError } from '../shared/core/errors.js';
import { HttpFetcher, type Fetcher, type FetchOptions, type FetchResponse, type Poster, type PostOptions, type PostResponse } from '../shared/client/fetcher.js';

export type NetworkBehaviour =
  /** The first download of each image is cut after half its bytes; the retry resumes. */
  | { kind: 'interrupt-downloads' }
  /** Image bodies arrive slower than the client's minimum speed. */
  | { kind: 'slow-downloads' }
  /** One byte of every image is flipped in transit (arbitrary software without keys). */
  | { kind: 'tamper-images' }
  /** The Director timestamp is answered with the first copy this vehicle ever saw (replay). */
  | { kind: 'replay-director-metadata' };

const isImage = (url: string) => url.includes('/targets/');
const isDirectorTimestamp = (url: string) => url.endsWith('/vehicle/metadata/timestamp.json');

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function bodyOf(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  return (async function* () {
    yield bytes;
  })();
}

export class FaultyNetwork implements Fetcher, Poster {
  private readonly interrupted = new Set<string>();
  /** The first Director timestamp this vehicle ever fetched: what a replaying attacker sends back. */
  private firstTimestamp: Buffer | undefined;
  /** How many requests each behaviour changed: what the simulator reports. */
  readonly tally = { interrupted: 0, slowed: 0, tampered: 0, replayed: 0 };

  /** `behaviour` may change between cycles (the demo turns the attacker on late); null is honest. */
  constructor(private readonly inner: Fetcher, public behaviour: NetworkBehaviour | null) {}

  /** The Director's POSTs pass untouched, through the inner fetcher when it posts (its TLS settings with it). */
  post(url: string, options: PostOptions): Promise<PostResponse> {
    const inner = this.inner as Partial<Poster>;
    return typeof inner.post === 'function' ? inner.post.call(this.inner, url, options) : new HttpFetcher().post(url, options);
  }

  async fetch(url: string, options: FetchOptions): Promise<FetchResponse> {
    const kind = this.behaviour?.kind;
    if (isDirectorTimestamp(url)) {
      if (kind === 'replay-director-metadata' && this.firstTimestamp !== undefined) {
        // Replays only hurt once the vehicle trusts something newer, which it will by then.
        this.tally.replayed++;
        if (this.firstTimestamp.length > options.maxBytes) throw new DownloadLengthError(`${url}: replayed bytes exceed the limit`);
        return { offset: 0, body: bodyOf(this.firstTimestamp) };
      }
      if (this.firstTimestamp === undefined) {
        const response = await this.inner.fetch(url, options);
        this.firstTimestamp = await collect(response.body);
        return { offset: response.offset, body: bodyOf(this.firstTimestamp) };
      }
    }
    if (!isImage(url)) return this.inner.fetch(url, options);
    const response = await this.inner.fetch(url, options);
    switch (kind) {
      case 'interrupt-downloads':
        if (this.interrupted.has(url)) return response;
        this.interrupted.add(url);
        this.tally.interrupted++;
        return { offset: response.offset, body: cutHalfway(response.body, options.maxBytes, url) };
      case 'slow-downloads':
        this.tally.slowed++;
        return { offset: response.offset, body: stall(url) };
      case 'tamper-images': {
        this.tally.tampered++;
        const bytes = await collect(response.body);
        if (bytes.length > 0) bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
        return { offset: response.offset, body: bodyOf(bytes) };
      }
      default:
        return response;
    }
  }
}

async function* cutHalfway(body: AsyncIterable<Uint8Array>, expected: number, url: string): AsyncGenerator<Uint8Array> {
  let sent = 0;
  const limit = Math.max(1, Math.floor(expected / 2));
  for await (const chunk of body) {
    const room = limit - sent;
    if (chunk.length >= room) {
      if (room > 0) yield chunk.subarray(0, room);
      throw new FetchError(`${url}: connection cut by the simulated network after ${limit} bytes`);
    }
    sent += chunk.length;
    yield chunk;
  }
}

/** A body that never delivers: the client's own minimum-speed rule is what ends it in real life. */
async function* stall(url: string): AsyncGenerator<Uint8Array> {
  yield* [];
  throw new SlowRetrievalError(`${url}: slower than the minimum speed (simulated slow retrieval)`);
}
