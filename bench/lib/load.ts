// Runs the load generator (load-worker.ts) in a worker thread and returns what it measured.
import { Worker } from 'node:worker_threads';

export interface LoadRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
}

export interface LoadJob {
  readonly origin: string;
  /**
   * Servers of one service (replicas behind a load balancer): when given, requests go to them in
   * turn, round robin per request across all lanes, and `origin` is not used. Each lane still sends
   * its requests in order, one waiting for the other, whichever server answers.
   */
  readonly origins?: readonly string[];
  /** One keep-alive connection per lane; each lane sends its requests in order. */
  readonly lanes: ReadonlyArray<readonly LoadRequest[]>;
  /** Repeat each lane's list (reusable requests) or send each request once (signed, one-time ones). */
  readonly cycle: boolean;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly maxRequests: number;
  /** HTTPS to a server whose certificate `ca` issued; sessions are cached by the agent and resumed on reconnects. */
  readonly tls?: { readonly ca: string };
  /** Close each lane's connection after every this many requests (with 'Connection: close'), to measure reconnects. */
  readonly reconnectEvery?: number;
}

export interface LoadResult {
  /** Requests completed in the measured window. */
  readonly requests: number;
  /** Requests completed in all, warm-up included (for per-request counts taken around the run). */
  readonly completed: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly errors: number;
  readonly firstError?: string;
  readonly bytesIn: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
  /** New connections opened (all of the run, warm-up included), and how many of them resumed a TLS session. */
  readonly connections: number;
  readonly resumedSessions: number;
}

export function runLoad(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: job });
    worker.once('message', (message: LoadResult | { fatal: string }) => {
      void worker.terminate();
      if ('fatal' in message) reject(new Error(`load generator failed: ${message.fatal}`));
      else resolve(message);
    });
    worker.once('error', reject);
  });
}

/** Share of requests answered 2xx. */
export function okCount(result: LoadResult): number {
  return Object.entries(result.statuses)
    .filter(([status]) => status.startsWith('2'))
    .reduce((sum, [, n]) => sum + n, 0);
}
