// Prefetch: images the gateway brings in before a vehicle asks, so the first vehicle of a campaign
// at a depot already finds its image there. Two sources (docs/gateway.md "Prefetch"): a list of
// image paths the operator gives (--prefetch FILE), and the images of the Director's running
// campaigns, read through the operator API with a token of scope `read` (it can list and look,
// never change anything). Either way the gateway only fetches what the Image repository serves;
// a wrong list costs disk and bandwidth, never a vehicle's safety.
import { readFileSync, statSync } from 'node:fs';
import type { CampaignList, CampaignStatus, ImageList } from '../director-repo/api/operator-api.js';
import { BadRequestError, GatewayUpstreamError, UptaneError } from '../shared/core/errors.js';
import type { Gateway } from './gateway.js';
import { discard, readUpstreamBody, type Upstream } from './upstream.js';

/** Where the list of images to prefetch comes from. */
export interface PrefetchSource {
  readonly name: string;
  /** Consistent-snapshot image paths (`/targets/<dir>/<sha256>.<name>`). */
  list(): Promise<readonly string[]>;
}

/** A prefetch list file: this many bytes at most, one path a line. */
const MAX_LIST_BYTES = 1024 * 1024;
/** Operator API answers read by the prefetcher are capped at this size. */
const MAX_API_ANSWER_BYTES = 8 * 1024 * 1024;
/** Catalog pages read per round, at 1,000 images a page. */
const MAX_CATALOG_PAGES = 100;

/** The consistent-snapshot path of the image `filename` whose SHA-256 is `sha256`, encoded as a vehicle asks for it. */
export function imagePathOf(filename: string, sha256: string): string {
  const segments = filename.split('/');
  segments[segments.length - 1] = `${sha256}.${segments[segments.length - 1]}`;
  return `/targets/${segments.map(encodeURIComponent).join('/')}`;
}

/** `--prefetch FILE`: image paths, one a line (`#` comments and blank lines skipped), read again each round. */
export function prefetchListSource(file: string): PrefetchSource {
  return {
    name: file,
    list: async () => {
      if (statSync(file).size > MAX_LIST_BYTES) throw new BadRequestError(`${file} is larger than ${MAX_LIST_BYTES} bytes; a prefetch list holds image paths, one a line`);
      return readFileSync(file, 'utf8')
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('#'));
    },
  };
}

/** The images of the Director's running campaigns, read with an operator token of scope `read`. */
export function campaignSource(director: Upstream, token: string): PrefetchSource {
  const get = async <T>(path: string): Promise<T> => {
    const answer = await director.request('GET', `/api/v1${path}`, { authorization: `Bearer ${token}`, accept: 'application/json' });
    if (answer.status !== 200) {
      discard(answer);
      throw new GatewayUpstreamError(`the Director's operator API answered GET /api/v1${path} with HTTP ${answer.status}${answer.status === 401 || answer.status === 403 ? ' (the prefetch token needs scope read: uptane director operator add NAME --scope read)' : ''}`);
    }
    try {
      return JSON.parse((await readUpstreamBody(answer, MAX_API_ANSWER_BYTES, `GET /api/v1${path}`)).toString('utf8')) as T;
    } catch (err) {
      if (err instanceof SyntaxError) throw new GatewayUpstreamError(`the Director's answer to GET /api/v1${path} is not JSON`);
      throw err;
    }
  };
  return {
    name: 'running campaigns',
    list: async () => {
      const { campaigns } = await get<CampaignList>('/campaigns');
      const wanted = new Set<string>();
      for (const campaign of campaigns.filter((c) => c.state === 'running')) {
        for (const image of (await get<CampaignStatus>(`/campaigns/${encodeURIComponent(String(campaign.id))}`)).images) wanted.add(image.image);
      }
      if (wanted.size === 0) return [];
      const paths: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < MAX_CATALOG_PAGES && wanted.size > 0; page++) {
        const list = await get<ImageList>(`/images?limit=1000${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`);
        for (const image of list.images) {
          if (wanted.delete(image.filename) && typeof image.sha256 === 'string') paths.push(imagePathOf(image.filename, image.sha256));
        }
        if (list.images.length === 0) break;
        after = list.images[list.images.length - 1]!.filename;
      }
      return paths;
    },
  };
}

export interface PrefetchRound {
  readonly fetched: number;
  readonly kept: number;
  readonly failed: number;
}

/** Runs the sources' lists through the gateway, one image at a time (vehicles' own requests come first). */
export class Prefetcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PrefetchRound> | undefined;

  constructor(
    private readonly gateway: Gateway,
    private readonly sources: readonly PrefetchSource[],
    private readonly log: (line: string) => void,
  ) {}

  /** One round: every listed image not kept yet is fetched. A failing source or image is logged and skipped. */
  round(): Promise<PrefetchRound> {
    this.running ??= this.runRound().finally(() => (this.running = undefined));
    return this.running;
  }

  private async runRound(): Promise<PrefetchRound> {
    let fetched = 0;
    let kept = 0;
    let failed = 0;
    for (const source of this.sources) {
      let paths: readonly string[];
      try {
        paths = await source.list();
      } catch (err) {
        if (!(err instanceof UptaneError) && (err as NodeJS.ErrnoException).code === undefined) throw err;
        this.log(`prefetch: cannot read ${source.name}: ${(err as Error).message}`);
        failed++;
        continue;
      }
      for (const path of paths) {
        try {
          if ((await this.gateway.prefetchImage(path)) === 'fetched') fetched++;
          else kept++;
        } catch (err) {
          if (!(err instanceof UptaneError)) throw err;
          this.log(`prefetch: ${path.slice(0, 200)}: ${err.message}`);
          failed++;
        }
      }
    }
    if (fetched > 0 || failed > 0) this.log(`prefetch: ${fetched} images fetched, ${kept} already kept, ${failed} failed`);
    return { fetched, kept, failed };
  }

  /** A round now and then every `intervalMs`; errors end up in the log, never the process. */
  start(intervalMs: number): void {
    const tick = (): void => {
      this.round().catch((err: unknown) => this.log(`prefetch round failed: ${(err as Error).message}`));
    };
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}
