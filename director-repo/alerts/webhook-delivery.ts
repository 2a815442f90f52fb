// Delivering the outbox (store/alerts.ts) to webhooks: claim what is due, POST each signed body once,
// record the outcome, and schedule the next attempt with exponential backoff and jitter until the
// attempts are used up. The receiver is not trusted: every attempt has a deadline for the whole
// exchange, no redirect is followed, and at most `maxAnswerBytes` of its answer are read before the
// connection is dropped (only the status decides).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../shared/core/clock.js';
import type { AlertOutbox, ClaimedDelivery } from '../store/alerts.js';
import { signedWebhookHeaders } from './webhook-signature.js';

export interface WebhookOptions {
  /** Where every alert is POSTed. */
  readonly urls: readonly string[];
  /** The shared secret of the HMAC (webhook-signature.ts). */
  readonly secret: string;
  /** Deadline of one attempt, connection to the end of the (capped) answer. */
  readonly timeoutMs: number;
  /** The most of a receiver's answer read; the rest is never read. */
  readonly maxAnswerBytes: number;
  /** Attempts per delivery before it is recorded as failed. */
  readonly maxAttempts: number;
  /** The first retry waits about this long; each next one twice as long, up to backoffMaxMs. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Deliveries one round claims. */
  readonly batch: number;
}

/**
 * 5 s per attempt and 8 attempts from 30 s doubling to at most an hour: a receiver down for about
 * two hours still gets the alert, and a dead one is given up on with the reason recorded.
 */
export const DEFAULT_WEBHOOK_OPTIONS: Omit<WebhookOptions, 'urls' | 'secret'> = {
  timeoutMs: 5_000,
  maxAnswerBytes: 16 * 1024,
  maxAttempts: 8,
  backoffBaseMs: 30_000,
  backoffMaxMs: 3_600_000,
  batch: 20,
};

/** Only http(s) URLs; the CLI and the server refuse anything else at start. */
export function checkWebhookUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`--webhook ${url}: not a URL; give one like https://alerts.example/uptane`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`--webhook ${url}: use an http:// or https:// URL`);
  return parsed;
}

/** A new delivery id: what a receiver remembers to refuse a delivery twice. */
export const newDeliveryId = (): string => randomUUID();

export interface PostOutcome {
  readonly status: number | null;
  readonly error: string | null;
}

/** One POST with a deadline and a cap on the answer; never rejects. */
export function postWebhook(url: string, headers: Record<string, string>, body: string, options: Pick<WebhookOptions, 'timeoutMs' | 'maxAnswerBytes'>): Promise<PostOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      resolve(outcome);
    };
    const payload = Buffer.from(body);
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, { method: 'POST', headers: { ...headers, 'content-length': String(payload.length), 'user-agent': 'uptane-director-alerts' }, agent: false });
    const deadline = setTimeout(() => finish({ status: null, error: `no complete answer within ${options.timeoutMs} ms` }), options.timeoutMs);
    deadline.unref();
    req.on('error', (err) => finish({ status: null, error: err.message }));
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? null;
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        // The status is all that counts: a receiver that goes on talking is cut off here.
        if (read > options.maxAnswerBytes) finish({ status, error: ok(status) ? null : `HTTP ${status}; answer cut at ${options.maxAnswerBytes} bytes` });
      });
      res.on('end', () => finish({ status, error: ok(status) ? null : `HTTP ${status}` }));
      res.on('error', (err) => finish({ status, error: err.message }));
    });
    req.end(payload);
  });
}

const ok = (status: number | null): boolean => status !== null && status >= 200 && status < 300;

/** The wait before attempt `attempt + 1` (attempt counts from 1): doubled each time, capped, with full jitter in its upper half. */
export function backoffMs(attempt: number, options: Pick<WebhookOptions, 'backoffBaseMs' | 'backoffMaxMs'>, random: () => number = Math.random): number {
  const exact = Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** Math.min(attempt - 1, 30));
  // Half fixed, half random: replicas and many alerts retrying together spread out.
  return Math.round(exact / 2 + (exact / 2) * random());
}

export class WebhookDelivery {
  constructor(
    private readonly outbox: AlertOutbox,
    private readonly options: WebhookOptions,
    private readonly clock: Clock,
    private readonly random: () => number = Math.random,
  ) {}

  /** One round: claims what is due and attempts each; how many were attempted. */
  async deliverDue(): Promise<number> {
    const now = this.clock.now();
    // Held long enough for every claimed attempt to end; a replica that dies mid-round frees them then.
    const claimUntil = new Date(now.getTime() + this.options.timeoutMs * (this.options.batch + 1) + 30_000);
    const due = await this.outbox.claimDue(now, claimUntil, this.options.batch);
    await Promise.all(due.map((d) => this.attempt(d)));
    return due.length;
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const headers = signedWebhookHeaders(this.options.secret, delivery.event, delivery.deliveryId, delivery.body, this.clock.now());
    const { status, error } = await postWebhook(delivery.url, headers, delivery.body, this.options);
    const at = this.clock.now();
    const delivered = error === null && ok(status);
    const attempt = delivery.attempts + 1;
    const nextAttemptAt = delivered || attempt >= this.options.maxAttempts ? null : new Date(at.getTime() + backoffMs(attempt, this.options, this.random));
    await this.outbox.recordAttempt(delivery.id, { at, status, error: delivered ? null : (error ?? `HTTP ${status}`), delivered, nextAttemptAt });
  }
}
