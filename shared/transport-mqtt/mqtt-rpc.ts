// Request and answer over MQTT 5 (docs/transport.md "MQTT"): a request is a QoS 1 PUBLISH on the
// peer's request topic carrying a Response Topic, Correlation Data (16 random bytes) and user
// properties (`op`, `authorization`, ...); each answer is a PUBLISH on that response topic with the
// same Correlation Data and a `status` user property (HTTP's numbers, so 401, 404 and 503 mean what
// they mean over HTTP). The broker is trusted for delivery only: an answer is matched by its
// correlation data and checked for shape and size before anyone reads it, and a lost one is
// asked for again.
import { randomBytes } from 'node:crypto';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { MqttConnectionError, MqttMessageError, MqttTimeoutError } from '../core/errors.js';
import { publishAcked } from './mqtt-connection.js';

/** One answer as the requester reads it. */
export interface MqttAnswer {
  readonly status: number;
  /** The answer's user properties, each a single string (a repeated one is refused). */
  readonly properties: Readonly<Record<string, string>>;
  readonly payload: Buffer;
}

/** One request as it leaves: user properties and a payload. */
export interface MqttRequestSpec {
  readonly properties: Readonly<Record<string, string>>;
  readonly payload?: Uint8Array;
}

/** Largest correlation data accepted on either side: this protocol sends 16 bytes. */
const MAX_CORRELATION_BYTES = 64;
/** User properties past this many, or longer than this, are not this protocol's. */
const MAX_USER_PROPERTIES = 16;
const MAX_USER_PROPERTY_CHARS = 4096;

/** The user properties of a packet as single strings, or MqttMessageError naming what is wrong. */
export function singleProperties(packet: IPublishPacket): Record<string, string> {
  const raw = packet.properties?.userProperties ?? {};
  const entries = Object.entries(raw);
  if (entries.length > MAX_USER_PROPERTIES) throw new MqttMessageError(`an MQTT message with ${entries.length} user properties (at most ${MAX_USER_PROPERTIES})`);
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of entries) {
    if (typeof value !== 'string') throw new MqttMessageError(`the MQTT user property ${JSON.stringify(name.slice(0, 40))} is repeated`);
    if (value.length > MAX_USER_PROPERTY_CHARS) throw new MqttMessageError(`the MQTT user property ${JSON.stringify(name.slice(0, 40))} is longer than ${MAX_USER_PROPERTY_CHARS} characters`);
    out[name] = value;
  }
  return out;
}

/** The bytes as a Buffer without copying them (a 1 MiB chunk is not copied once more on its way out). */
function asBuffer(bytes: Uint8Array | undefined): Buffer {
  if (bytes === undefined) return Buffer.alloc(0);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A status user property: an integer from 100 to 599. */
function statusOf(properties: Readonly<Record<string, string>>): number {
  const text = properties.status;
  if (text === undefined || !/^[1-5]\d\d$/.test(text)) throw new MqttMessageError(`an MQTT answer without a valid status (${JSON.stringify((text ?? 'none').slice(0, 20))})`);
  return Number(text);
}

type AnswerHandler = (answer: MqttAnswer | MqttMessageError) => void;

export interface MqttRequesterOptions {
  /** The peer's request topic and this side's response topic. */
  readonly topics: { readonly request: string; readonly response: string };
  /** Largest answer payload read; a longer one is MqttMessageError (the broker should have dropped it already). */
  readonly maxAnswerBytes: number;
  readonly log?: (line: string) => void;
}

/**
 * The requesting side: one subscription to its response topic, and a table of requests waiting for
 * answers by correlation data. An answer nobody waits for (a duplicate after a retry, a late one
 * after a timeout, or one injected with another correlation id) is counted and dropped.
 */
export class MqttRequester {
  private readonly waiting = new Map<string, AnswerHandler>();
  private readonly reconnectListeners = new Set<() => void>();
  /** Answers that matched no waiting request: duplicates, late ones, strangers. */
  unmatchedAnswers = 0;
  private reconnecting = false;

  private constructor(
    readonly client: MqttClient,
    private readonly options: MqttRequesterOptions,
  ) {
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    client.on('close', () => {
      this.reconnecting = true;
    });
    client.on('connect', () => {
      if (!this.reconnecting) return;
      this.reconnecting = false;
      // MQTT.js subscribes again by itself (resubscribe); what was in flight is asked for again by its owner.
      for (const listener of [...this.reconnectListeners]) listener();
    });
  }

  /** Subscribes to the response topic (QoS 1) before the first request can be answered. */
  static async open(client: MqttClient, options: MqttRequesterOptions): Promise<MqttRequester> {
    const requester = new MqttRequester(client, options);
    try {
      const granted = await client.subscribeAsync(options.topics.response, { qos: 1 });
      if (granted.some((g) => g.qos === 128 || (g.qos as number) > 2)) throw new Error('the broker refused the subscription (an ACL?)');
    } catch (err) {
      throw new MqttConnectionError(`cannot subscribe to ${options.topics.response}: ${(err as Error).message}`, { cause: err });
    }
    return requester;
  }

  /** Called after the connection to the broker came back, so a transfer can resume where it was. */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /**
   * Publishes a request and calls `handler` with each answer carrying its correlation data until
   * `cancel()`; the promise settles once the broker acknowledged the request.
   */
  async publish(spec: MqttRequestSpec, handler: AnswerHandler): Promise<{ readonly cancel: () => void }> {
    const correlation = randomBytes(16);
    const key = correlation.toString('hex');
    this.waiting.set(key, handler);
    const cancel = () => this.waiting.delete(key);
    try {
      await publishAcked(this.client, this.options.topics.request, Buffer.from(spec.payload ?? new Uint8Array(0)), {
        responseTopic: this.options.topics.response,
        correlationData: correlation,
        userProperties: { ...spec.properties },
      });
    } catch (err) {
      cancel();
      throw err;
    }
    return { cancel };
  }

  /**
   * One request, one answer. No answer within `timeoutMs` and it is published again, built anew by
   * `makeSpec` (a new signature, a new nonce), up to `attempts` times in all; then MqttTimeoutError.
   * Only requests that may be repeated (reads, a session) are given more than one attempt.
   */
  async request(makeSpec: () => MqttRequestSpec, { timeoutMs, attempts }: { readonly timeoutMs: number; readonly attempts: number }): Promise<MqttAnswer> {
    for (let attempt = 1; ; attempt++) {
      const answer = await this.requestOnce(makeSpec(), timeoutMs);
      if (answer !== undefined) return answer;
      if (attempt >= attempts) {
        throw new MqttTimeoutError(`no answer on ${this.options.topics.response} within ${timeoutMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'}): is the Director or secondary subscribed, and the broker reachable?`);
      }
      this.options.log?.(`no answer within ${timeoutMs} ms on ${this.options.topics.response}; asking again (${attempt + 1}/${attempts})`);
    }
  }

  private async requestOnce(spec: MqttRequestSpec, timeoutMs: number): Promise<MqttAnswer | undefined> {
    let settle!: (value: MqttAnswer | MqttMessageError | undefined) => void;
    const settled = new Promise<MqttAnswer | MqttMessageError | undefined>((resolve) => (settle = resolve));
    const timer = setTimeout(() => settle(undefined), timeoutMs);
    let pending: { cancel: () => void } | undefined;
    try {
      pending = await this.publish(spec, (answer) => settle(answer));
      const result = await settled;
      if (result instanceof MqttMessageError) throw result;
      return result;
    } finally {
      clearTimeout(timer);
      pending?.cancel();
    }
  }

  /** Stops listening; the client is its owner's to end. */
  close(): void {
    this.waiting.clear();
    this.reconnectListeners.clear();
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (topic !== this.options.topics.response) return;
    const correlation = packet.properties?.correlationData;
    const handler = correlation === undefined || correlation.length > MAX_CORRELATION_BYTES ? undefined : this.waiting.get(correlation.toString('hex'));
    if (handler === undefined) {
      this.unmatchedAnswers++;
      return;
    }
    try {
      if (payload.length > this.options.maxAnswerBytes) throw new MqttMessageError(`an MQTT answer of ${payload.length} bytes on ${topic} (at most ${this.options.maxAnswerBytes})`);
      const properties = singleProperties(packet);
      handler({ status: statusOf(properties), properties, payload });
    } catch (err) {
      if (!(err instanceof MqttMessageError)) throw err;
      handler(err);
    }
  }
}

/** A request as the answering side reads it, checked for shape before the handler sees it. */
export interface MqttIncomingRequest {
  readonly topic: string;
  /** The request's correlation data, which every answer carries back. */
  readonly correlation: Buffer;
  readonly properties: Readonly<Record<string, string>>;
  readonly payload: Buffer;
}

/**
 * How the answering side answers one request: any number of messages (an image's chunks), each with
 * a status. Answers go at QoS 1 unless `qos` is 0: an image's chunks, whose loss the requester
 * detects and asks for again (chunked-download.ts), so neither the broker nor either client keeps
 * and acknowledges each megabyte.
 */
export interface MqttReplier {
  reply(status: number, payload?: Uint8Array, properties?: Readonly<Record<string, string>>, qos?: 0 | 1): Promise<void>;
}

export interface MqttResponderOptions {
  /** The topic filter to subscribe to (a `$share/...` filter for Director replicas). */
  readonly filter: string;
  /**
   * The response topic a request on `topic` must name, or undefined if requests on `topic` are not
   * served: an answer never goes to a topic of the requester's choosing, so no vehicle can have the
   * Director publish on another vehicle's topics (docs/threat-model.md F22).
   */
  readonly responseTopicFor: (topic: string) => string | undefined;
  /** Larger request payloads are answered 413 without being handled. */
  readonly maxRequestBytes: number;
  /** Requests handled at once; past it a request is answered 503 (retry after a second). */
  readonly maxInFlight: number;
  readonly handle: (request: MqttIncomingRequest, replier: MqttReplier) => Promise<void>;
  readonly log?: (line: string) => void;
}

/** What serveMqttRequests counts, for tests and logs. */
export interface MqttResponderStats {
  handled: number;
  /** Requests dropped unanswered: no or oversized correlation data, a response topic not the requester's own. */
  dropped: number;
  refusedBusy: number;
}

/** The answering side: subscribes to `filter` and hands each well-formed request to `handle`. */
export async function serveMqttRequests(client: MqttClient, options: MqttResponderOptions): Promise<{ readonly stats: MqttResponderStats; stop(): Promise<void> }> {
  const stats: MqttResponderStats = { handled: 0, dropped: 0, refusedBusy: 0 };
  let inFlight = 0;
  const onMessage = (topic: string, payload: Buffer, packet: IPublishPacket) => {
    const expected = options.responseTopicFor(topic);
    if (expected === undefined) return;
    const correlation = packet.properties?.correlationData;
    // Without its own response topic and correlation data nobody could read an answer: dropped, and counted.
    if (packet.properties?.responseTopic !== expected || correlation === undefined || correlation.length === 0 || correlation.length > MAX_CORRELATION_BYTES) {
      stats.dropped++;
      options.log?.(`MQTT request on ${topic} dropped: it must name its own response topic ${expected} and correlation data of 1-${MAX_CORRELATION_BYTES} bytes`);
      return;
    }
    const replier: MqttReplier = {
      reply: (status, body, properties, qos) =>
        publishAcked(client, expected, asBuffer(body), { correlationData: correlation, userProperties: { ...properties, status: String(status) } }, qos),
    };
    const answerError = (status: number, code: string, message: string, extra: Record<string, string> = {}) =>
      replier.reply(status, Buffer.from(JSON.stringify({ error: { code, message } })), extra).catch(() => undefined);
    if (payload.length > options.maxRequestBytes) {
      void answerError(413, 'body_too_large', `the request is ${payload.length} bytes; at most ${options.maxRequestBytes} are accepted`);
      return;
    }
    let properties: Record<string, string>;
    try {
      properties = singleProperties(packet);
    } catch (err) {
      if (!(err instanceof MqttMessageError)) throw err;
      void answerError(400, err.code, err.message);
      return;
    }
    if (inFlight >= options.maxInFlight) {
      stats.refusedBusy++;
      void answerError(503, 'server_busy', `${inFlight} MQTT requests in progress; retry in 1 s`, { 'retry-after': '1' });
      return;
    }
    inFlight++;
    stats.handled++;
    options
      .handle({ topic, correlation, properties, payload }, replier)
      .catch((err: unknown) => options.log?.(`MQTT request on ${topic} failed while answering: ${(err as Error).message}`))
      .finally(() => inFlight--);
  };
  client.on('message', onMessage);
  try {
    const granted = await client.subscribeAsync(options.filter, { qos: 1 });
    if (granted.some((g) => g.qos === 128)) throw new Error('the broker refused the subscription (an ACL?)');
  } catch (err) {
    client.off('message', onMessage);
    throw new MqttConnectionError(`cannot subscribe to ${options.filter}: ${(err as Error).message}`, { cause: err });
  }
  return {
    stats,
    stop: async () => {
      client.off('message', onMessage);
      await client.unsubscribeAsync(options.filter).catch(() => undefined);
    },
  };
}
