// Small measuring helpers: bounded timing loops, percentiles, memory sampling and number formats.
// Every loop is bounded both in time and in count, so a slow machine makes a figure less precise,
// never the run endless.

export interface LoopResult {
  readonly count: number;
  readonly seconds: number;
  readonly perSecond: number;
}

/** Runs `fn` until `maxMs` passed or it ran `maxCount` times (at least `minCount`). */
export async function timeLoop(fn: (i: number) => unknown, bounds: { maxMs: number; maxCount: number; minCount?: number }): Promise<LoopResult> {
  const started = performance.now();
  let count = 0;
  while (count < bounds.maxCount && (count < (bounds.minCount ?? 1) || performance.now() - started < bounds.maxMs)) {
    const result = fn(count);
    if (result instanceof Promise) await result;
    count++;
  }
  const seconds = (performance.now() - started) / 1000;
  return { count, seconds, perSecond: count / seconds };
}

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}

export interface MemoryPeaks {
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly externalMiB: number;
  readonly samples: number;
}

/**
 * Samples process memory every `intervalMs` until stopped; returns the peak growth over the values
 * at start (after a GC when node runs with --expose-gc, so garbage left by earlier work is not counted).
 */
export function sampleMemory(intervalMs = 10): { stop(): MemoryPeaks } {
  collectGarbage();
  const base = process.memoryUsage();
  let peak = { rss: base.rss, heapUsed: base.heapUsed, external: base.external };
  let samples = 0;
  const take = () => {
    const m = process.memoryUsage();
    samples++;
    peak = { rss: Math.max(peak.rss, m.rss), heapUsed: Math.max(peak.heapUsed, m.heapUsed), external: Math.max(peak.external, m.external) };
  };
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      const mib = (n: number) => n / (1024 * 1024);
      return { rssMiB: mib(peak.rss - base.rss), heapUsedMiB: mib(peak.heapUsed - base.heapUsed), externalMiB: mib(peak.external - base.external), samples };
    },
  };
}

export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
}

/** 12345.6 -> "12,346"; small numbers keep `digits` significant decimals. */
export function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(0)}%`;
}

export function mib(bytes: number): string {
  return `${fmt(bytes / (1024 * 1024))} MiB`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
