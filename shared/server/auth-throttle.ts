// Failed authentications, limited per client address (docs/threat-model.md HR-10): without it a
// server answered 1,871 wrong token guesses a second. Each client has a token bucket that a failed
// attempt drains by one and time refills; an empty bucket means 429 until it refills. Successful
// requests cost nothing. The map of clients is bounded (the oldest entry goes first), so addresses
// cannot grow memory; IPv6 clients count per /64, which one host usually holds whole.
import type { Clock } from '../core/clock.js';

export interface ThrottleOptions {
  /** Failed attempts allowed in a burst. */
  readonly burst: number;
  /** Failed attempts regained per second. */
  readonly refillPerSecond: number;
  /** Clients remembered at most. */
  readonly maxClients: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { burst: 20, refillPerSecond: 0.5, maxClients: 10_000 };

interface Bucket {
  tokens: number;
  at: number;
}

export class FailedAuthThrottle {
  private readonly buckets = new Map<string, Bucket>();
  readonly options: ThrottleOptions;

  constructor(
    private readonly clock: Clock,
    options: Partial<ThrottleOptions> = {},
  ) {
    this.options = { ...DEFAULT_THROTTLE, ...options };
  }

  /** Whole seconds before `address` may try again, or 0 when it may try now. */
  retryAfter(address: string | undefined): number {
    const bucket = this.refilled(clientKey(address));
    if (bucket === undefined || bucket.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.options.refillPerSecond));
  }

  /** Counts a failed attempt; true when it emptied the bucket (the client is refused from now on). */
  recordFailure(address: string | undefined): boolean {
    const key = clientKey(address);
    const bucket = this.refilled(key) ?? { tokens: this.options.burst, at: this.clock.now().getTime() };
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    // Re-inserted so the map's order is least recently failed first.
    this.buckets.delete(key);
    if (this.buckets.size >= this.options.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
    this.buckets.set(key, bucket);
    return bucket.tokens < 1;
  }

  /** Clients currently remembered (for tests of the bound). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(key: string): Bucket | undefined {
    const bucket = this.buckets.get(key);
    if (bucket === undefined) return undefined;
    const now = this.clock.now().getTime();
    bucket.tokens = Math.min(this.options.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * this.options.refillPerSecond);
    bucket.at = now;
    if (bucket.tokens >= this.options.burst) {
      this.buckets.delete(key); // a full bucket says nothing worth remembering
      return undefined;
    }
    return bucket;
  }
}

/** The key a client is counted under: its IPv4 address, or the /64 of its IPv6 address. */
export function clientKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
