// A file downloaded over MQTT in chunks (docs/transport.md "Chunked images"), with the limits the
// HTTP fetcher enforces (docs/threat-model.md F1-F6): a byte cap, a silence timeout and a minimum
// average speed. The reader pulls: a window of chunks is asked for only while fewer than
// `windowsAhead` windows are unread (flow control, so a fast Director never fills the vehicle's
// memory), chunks are put in order by their offset (Director replicas may answer two windows at
// once), a chunk asked for twice or delivered twice is dropped. Chunks come at QoS 0 (chunk-server.ts),
// so the vehicle finds lost ones itself: a chunk of a window arriving past one of the same window
// not yet received shows that one lost (the Director publishes a window in order, and the broker
// keeps one publisher's order on a topic), and it alone is asked for again at once; what did not come
// within `lostChunkMs` (a window's last chunks), or was in flight when the broker connection dropped,
// is asked for again from the last chunk received. A chunk nobody asked for is MqttMessageError: an
// attack.
import { DownloadLengthError, FetchError, MqttMessageError, MqttTimeoutError, RemoteNotFoundError, SlowRetrievalError } from '../core/errors.js';
import type { FetchResponse } from '../client/fetcher.js';
import type { MqttAnswer, MqttRequester, MqttRequestSpec } from './mqtt-rpc.js';

export interface ChunkedTransferConfig {
  /** Bytes per chunk (one MQTT message). */
  readonly chunkBytes: number;
  /** Bytes asked for per request: a whole number of chunks. */
  readonly windowBytes: number;
  /** Windows asked for ahead of the reader: the memory one download may hold is about this many windows. */
  readonly windowsAhead: number;
  /** No new chunk for this long while some are outstanding: the missing ones are asked for again (the wait doubles with each ask that brought nothing). */
  readonly lostChunkMs: number;
  /** Times in a row the missing chunks are asked for again without any arriving; then MqttTimeoutError. */
  readonly maxAsksWithoutProgress: number;
  /** Longest silence between two chunks (F4: trickle or stall). */
  readonly idleTimeoutMs: number;
  /** Average speed a download must keep after the grace period, in bytes per second (F4). */
  readonly minBytesPerSecond: number;
  readonly speedGracePeriodMs: number;
  /** Longest wait the answer `503 retry-after` may ask for (the Director is not trusted to hold a cycle up). */
  readonly maxBusyWaitMs: number;
}

export const DEFAULT_CHUNKED_TRANSFER: ChunkedTransferConfig = {
  // Measured by bench figure 21 (chunks at QoS 0, 64 MiB, same process): 512 KiB chunks cost
  // Mosquitto less than half the CPU of 1 MiB ones (about 42 against 90 ms per 64 MiB) for the same
  // CPU in the vehicle and Director; at QoS 1, 256 KiB chunks in 2 MiB windows had delivered 52 MB/s
  // and 1 MiB chunks in 4 MiB windows about 97 MB/s. At most windowsAhead windows are held.
  chunkBytes: 512 * 1024,
  windowBytes: 4 * 1024 * 1024,
  windowsAhead: 2,
  lostChunkMs: 2_000,
  maxAsksWithoutProgress: 3,
  idleTimeoutMs: 10_000,
  minBytesPerSecond: 1024,
  speedGracePeriodMs: 5_000,
  maxBusyWaitMs: 10_000,
};

/** Checks a config, so a window that is not a whole number of chunks fails at construction, not mid-transfer. */
export function checkChunkedTransfer(config: ChunkedTransferConfig): ChunkedTransferConfig {
  const { chunkBytes, windowBytes, windowsAhead } = config;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1024) throw new RangeError(`chunkBytes ${chunkBytes}: at least 1024`);
  if (!Number.isSafeInteger(windowBytes) || windowBytes < chunkBytes || windowBytes % chunkBytes !== 0) throw new RangeError(`windowBytes ${windowBytes}: a whole number of ${chunkBytes}-byte chunks`);
  if (!Number.isSafeInteger(windowsAhead) || windowsAhead < 1) throw new RangeError(`windowsAhead ${windowsAhead}: at least 1`);
  return config;
}

/** A decimal byte count from a user property, or MqttMessageError. */
export function byteCount(properties: Readonly<Record<string, string>>, name: string): number {
  const text = properties[name];
  if (text === undefined || !/^\d{1,15}$/.test(text)) throw new MqttMessageError(`the MQTT property ${name} is ${text === undefined ? 'missing' : JSON.stringify(text.slice(0, 20))}, not a byte count`);
  return Number(text);
}

/** What a download needs from its channel: a request per window, built (and signed) when it leaves. */
export interface ChunkedSource {
  readonly requester: MqttRequester;
  /** The request for bytes [offset, offset + length) in chunks of `chunk` bytes. */
  windowRequest(window: { readonly offset: number; readonly length: number; readonly chunk: number }): MqttRequestSpec;
  /** What errors name: the file and where it comes from. */
  readonly label: string;
}

/** The error an answer that is not a chunk stands for (HTTP's statuses, as the HTTP fetcher reads them). */
export function answerFailure(answer: MqttAnswer, label: string): FetchError {
  const detail = errorDetail(answer.payload);
  if (answer.status === 404) return new RemoteNotFoundError(`${label}: not found${detail}`);
  return new FetchError(`${label}: status ${answer.status}${detail}`);
}

function errorDetail(payload: Buffer): string {
  try {
    const error = (JSON.parse(payload.toString('utf8', 0, 4096)) as { error?: { code?: unknown; message?: unknown } }).error;
    return typeof error?.code === 'string' ? ` (${error.code}: ${String(error.message).slice(0, 200)})` : '';
  } catch {
    return '';
  }
}

interface Window {
  readonly start: number;
  readonly end: number;
  /** The offset this request's next chunk should have: the Director sends a window in order. */
  expected: number;
  cancel(): void;
}

/**
 * Starts downloading from `offset`, at most `maxBytes` from there; resolves once the first chunk (or
 * the end) arrived, as an HTTP fetch resolves at the headers, so a refusal (404) rejects here.
 */
export async function fetchChunked(source: ChunkedSource, { offset = 0, maxBytes }: { readonly offset?: number; readonly maxBytes: number }, config: ChunkedTransferConfig): Promise<FetchResponse> {
  const download = new ChunkedDownload(source, offset, offset + maxBytes, checkChunkedTransfer(config));
  await download.started();
  return { offset, body: download.body() };
}

class ChunkedDownload {
  /** The next byte the reader gets; every byte before it was handed over or is in `ready`. */
  private next: number;
  private consumed: number;
  private requestedEnd: number;
  private size: number | undefined;
  private readonly buffered = new Map<number, Buffer>();
  private readonly ready: Buffer[] = [];
  private readonly windows: Window[] = [];
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private lostTimer: NodeJS.Timeout | undefined;
  private asksWithoutProgress = 0;
  private lastChunkAt = performance.now();
  private readonly startedAt = performance.now();
  private received = 0;
  private finished = false;
  private readonly stopReconnect: () => void;
  /** Chunks dropped because they were already received (duplicates, answers to a repeated request). */
  repeats = 0;

  constructor(
    private readonly source: ChunkedSource,
    private readonly start: number,
    /** F1, F2: no byte past this is accepted, and a file announced longer is refused. */
    private readonly limit: number,
    private readonly config: ChunkedTransferConfig,
  ) {
    this.next = start;
    this.consumed = start;
    this.requestedEnd = start;
    this.stopReconnect = source.requester.onReconnect(() => this.askAgain('the broker connection came back'));
    // F4: the speed check runs on a timer, so a Director that sends nothing at all is caught too.
    const period = Math.min(1000, Math.max(50, config.speedGracePeriodMs / 4));
    this.timers.push(setInterval(() => this.checkSpeed(), period));
  }

  async started(): Promise<void> {
    this.fill();
    while (this.failure === undefined && this.ready.length === 0 && !this.isComplete()) await this.event();
    if (this.failure !== undefined) {
      this.cleanup();
      throw this.failure;
    }
  }

  async *body(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        if (this.failure !== undefined) throw this.failure;
        const chunk = this.ready.shift();
        if (chunk !== undefined) {
          this.consumed += chunk.length;
          this.fill();
          yield chunk;
          continue;
        }
        if (this.isComplete()) return;
        await this.event();
      }
    } finally {
      this.cleanup();
    }
  }

  private isComplete(): boolean {
    return this.size !== undefined && this.next >= this.size;
  }

  private event(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private fail(err: Error): void {
    if (this.failure !== undefined || this.finished) return;
    this.failure = err;
    this.signal();
  }

  /** Asks for windows while fewer than `windowsAhead` are unread: the reader's pace sets the sender's. */
  private fill(): void {
    const { windowBytes, windowsAhead } = this.config;
    const end = this.size ?? this.limit;
    // Until the first answer tells the size, one window is enough to learn it.
    const ahead = this.size === undefined ? windowBytes : windowsAhead * windowBytes;
    while (this.failure === undefined && this.requestedEnd < end && this.requestedEnd - this.consumed < ahead) {
      const windowEnd = Math.min(this.requestedEnd + windowBytes, end);
      this.ask(this.requestedEnd, windowEnd);
      this.requestedEnd = windowEnd;
    }
    // A file whose remainder is empty (resumed at its end) still needs one answer to say its size.
    if (this.requestedEnd === this.start && this.windows.length === 0 && this.size === undefined) this.ask(this.start, this.start);
  }

  private ask(start: number, end: number): void {
    const window: Window = { start, end, expected: start, cancel: () => undefined };
    this.windows.push(window);
    const spec = this.source.windowRequest({ offset: start, length: end - start, chunk: this.config.chunkBytes });
    this.source.requester.publish(spec, (answer) => this.onAnswer(answer, window)).then(
      ({ cancel }) => {
        (window as { cancel: () => void }).cancel = cancel;
        if (this.finished || !this.windows.includes(window)) cancel();
      },
      (err: unknown) => {
        // The broker connection dropped before the request was acknowledged: asked again once it is back.
        const at = this.windows.indexOf(window);
        if (at >= 0) this.windows.splice(at, 1);
        if (!this.source.requester.client.connected) return;
        this.fail(err as Error);
      },
    );
    this.armLostTimer();
  }

  private onAnswer(answer: MqttAnswer | MqttMessageError, window: Window): void {
    if (this.finished || this.failure !== undefined) return;
    try {
      if (answer instanceof MqttMessageError) throw answer;
      if (answer.status === 503) {
        // The Director sent nothing of this window: it alone is asked for again after the wait it names.
        const wait = Math.min(byteCount(answer.properties, 'retry-after') * 1000, this.config.maxBusyWaitMs);
        const at = this.windows.indexOf(window);
        if (at >= 0) this.windows.splice(at, 1)[0]!.cancel();
        this.timers.push(setTimeout(() => this.askWindowAgain(window), wait));
        return;
      }
      if (answer.status !== 200) throw answerFailure(answer, this.source.label);
      this.acceptChunk(byteCount(answer.properties, 'offset'), byteCount(answer.properties, 'size'), answer.payload, window);
    } catch (err) {
      if (!(err instanceof FetchError)) throw err;
      this.fail(err);
    }
  }

  private acceptChunk(offset: number, size: number, payload: Buffer, window: Window): void {
    const { label } = this.source;
    if (this.size === undefined) {
      // F1, F2: a file announced longer than the cap is refused before its first byte is kept.
      if (size > this.limit) throw new DownloadLengthError(`${label} is announced as ${size} bytes, over the ${this.limit - this.start}-byte limit from offset ${this.start} (endless data?)`);
      if (size < this.start) throw new FetchError(`${label} is ${size} bytes; cannot resume from ${this.start}`);
      this.size = size;
    } else if (size !== this.size) {
      throw new MqttMessageError(`${label}: a chunk announces ${size} bytes where the first said ${this.size}`);
    }
    const expected = Math.min(this.config.chunkBytes, size - offset);
    // Only chunks this download asked for, cut where it asked: anything else was not sent by an honest Director.
    if ((offset - this.start) % this.config.chunkBytes !== 0 || offset < this.start || offset > size || (offset >= this.requestedEnd && !(offset === size && payload.length === 0))) {
      throw new MqttMessageError(`${label}: a chunk at offset ${offset} that was not asked for (asked: ${this.start}-${this.requestedEnd} in ${this.config.chunkBytes}-byte chunks)`);
    }
    if (payload.length !== expected) throw new MqttMessageError(`${label}: the chunk at offset ${offset} is ${payload.length} bytes, not ${expected}`);
    this.askForGap(window, offset);
    window.expected = Math.max(window.expected, offset + payload.length);
    if (offset < this.next || this.buffered.has(offset)) {
      this.repeats++;
      return;
    }
    this.buffered.set(offset, payload);
    for (let chunk = this.buffered.get(this.next); chunk !== undefined; chunk = this.buffered.get(this.next)) {
      this.buffered.delete(this.next);
      if (chunk.length > 0) this.ready.push(chunk);
      this.next += chunk.length;
      this.received += chunk.length;
      this.asksWithoutProgress = 0;
      this.lastChunkAt = performance.now();
      if (chunk.length === 0) break;
    }
    // Windows wholly received are done with: their late duplicates are dropped unread.
    for (let i = this.windows.length - 1; i >= 0; i--) {
      if (this.windows[i]!.end <= this.next && this.windows[i]!.start < this.next) this.windows.splice(i, 1)[0]!.cancel();
    }
    if (this.size === this.start) this.next = this.size;
    this.armLostTimer();
    this.signal();
  }

  /**
   * Chunks of `window` before `offset` that have not come were lost (QoS 0; the broker keeps one
   * publisher's order): asked for again now. Only chunks past the last one this request brought are
   * looked at, so a Director that sends a window out of order costs one request and repeats, and
   * no request is sent but on the arrival of a chunk.
   */
  private askForGap(window: Window, offset: number): void {
    const { chunkBytes } = this.config;
    let runStart: number | undefined;
    const flush = (end: number) => {
      if (runStart === undefined) return;
      this.ask(runStart, end);
      runStart = undefined;
    };
    // Only within the window: an offset past its end on its answers is not a sign of loss.
    const end = Math.min(offset, window.end);
    for (let at = Math.max(window.expected, this.next); at < end; at += chunkBytes) {
      if (this.buffered.has(at)) {
        flush(at);
        continue;
      }
      runStart ??= at;
    }
    flush(end);
  }

  /** Asks for what is still missing of one window the Director was too busy to send. */
  private askWindowAgain(window: Window): void {
    if (this.finished || this.failure !== undefined) return;
    const end = this.size === undefined ? window.end : Math.min(window.end, this.size);
    const start = Math.max(window.start, this.next);
    if (start < end || (window.start === window.end && this.size === undefined)) this.ask(start, end);
  }

  /** Asks once more for every byte not yet received, from the last chunk on, with new requests. */
  private askAgain(why: string): void {
    if (this.finished || this.failure !== undefined) return;
    if (++this.asksWithoutProgress > this.config.maxAsksWithoutProgress) {
      this.fail(new MqttTimeoutError(`${this.source.label}: no chunk after asking ${this.config.maxAsksWithoutProgress} times (${why}); received ${this.next - this.start} bytes from offset ${this.start}`));
      return;
    }
    for (const window of this.windows.splice(0)) window.cancel();
    const end = this.size === undefined ? this.requestedEnd : Math.min(this.requestedEnd, this.size);
    if (this.next >= end && this.size !== undefined) return;
    for (let start = this.next; start < end || (start === this.start && end === this.start); start += this.config.windowBytes) {
      this.ask(start, Math.min(start + this.config.windowBytes, end));
      if (end === this.start) break;
    }
  }

  private armLostTimer(): void {
    if (this.lostTimer !== undefined) clearTimeout(this.lostTimer);
    this.lostTimer = undefined;
    if (this.finished || this.isComplete() || this.windows.length === 0) return;
    // Doubled with each ask that brought nothing: a slow link is not flooded with repeated windows,
    // and a trickle is left to the speed check (F4) rather than taken for a lost message.
    const wait = this.config.lostChunkMs * 2 ** this.asksWithoutProgress;
    this.lostTimer = setTimeout(() => this.askAgain(`nothing came for ${wait} ms`), wait);
  }

  private checkSpeed(): void {
    if (this.finished || this.isComplete()) return;
    const now = performance.now();
    const waiting = this.windows.length > 0 && this.next < this.requestedEnd;
    if (waiting && now - this.lastChunkAt > this.config.idleTimeoutMs) {
      this.fail(new SlowRetrievalError(`${this.source.label}: no chunk for ${this.config.idleTimeoutMs} ms (slow retrieval?)`));
      return;
    }
    const elapsed = now - this.startedAt;
    if (elapsed > this.config.speedGracePeriodMs && (this.received * 1000) / elapsed < this.config.minBytesPerSecond) {
      this.fail(new SlowRetrievalError(`${this.source.label}: slower than ${this.config.minBytesPerSecond} B/s (slow retrieval?)`));
    }
  }

  private cleanup(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopReconnect();
    for (const timer of this.timers) clearTimeout(timer);
    if (this.lostTimer !== undefined) clearTimeout(this.lostTimer);
    for (const window of this.windows.splice(0)) window.cancel();
    this.buffered.clear();
    this.signal();
  }
}
