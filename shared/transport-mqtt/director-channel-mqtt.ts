// The Director channel over MQTT 5 (docs/transport.md "MQTT"): the same calls as over HTTP
// (director-channel-http.ts), each a request on the vehicle's own request topic answered on its own
// response topic. Every request carries the same Authorization as its HTTP twin, signed over the
// same method and path (`GET /vehicle/metadata/timestamp.json`), so the Director authenticates it
// with the same code and takes the VIN from the key, not the topic; the broker's login and ACLs are
// a second fence, not the one the Director relies on. Everything fetched is verified by the primary
// exactly as over HTTP: this channel is trusted for delivery only.
import type { MqttClient } from 'mqtt';
import { DownloadLengthError, FetchError, MqttTimeoutError } from '../core/errors.js';
import type { FetchResponse } from '../client/fetcher.js';
import type { DirectorChannel, DirectorChannelContext, DirectorChannelFactory, ImageUrlGrants, ManifestDelivery } from '../uptane/director-channel.js';
import { IMAGE_URLS_RESPONSE_MAX_BYTES, parseImageUrlGrants } from '../uptane/image-access.js';
import { clockOffsetFromRefusal, signVehicleRequest } from '../uptane/vehicle-auth.js';
import { answerFailure, DEFAULT_CHUNKED_TRANSFER, fetchChunked, type ChunkedTransferConfig } from './chunked-download.js';
import { brokerLabel, connectBroker, type MqttBrokerOptions } from './mqtt-connection.js';
import { MqttRequester, type MqttAnswer, type MqttRequestSpec } from './mqtt-rpc.js';
import { directorTopics } from './topics.js';
import { signedRequestOf, type DirectorOp } from './director-protocol.js';

export interface MqttDirectorChannelOptions {
  /** The broker, the vehicle's own login (username: the VIN, as the ACL example has it) and TLS to it. */
  readonly broker: Omit<MqttBrokerOptions, 'maximumPacketBytes'>;
  /** The VIN whose topics this vehicle uses (the broker's ACL lets it use no others). */
  readonly vin: string;
  /** Chunk and window sizes and the slow-retrieval limits of image downloads. */
  readonly transfer?: Partial<ChunkedTransferConfig>;
  /** Wait for one answer before asking again (reads and sessions), and attempts in all. */
  readonly requestTimeoutMs?: number;
  readonly attempts?: number;
  /** Wait for the answer to a manifest (sent once per attempt: a new manifest is signed for another). */
  readonly manifestTimeoutMs?: number;
}

/** Largest Director metadata file delivered over MQTT in one message (per-vehicle metadata is a few KiB). */
export const MQTT_METADATA_MAX_BYTES = 1024 * 1024;
/** Room for the properties around a payload in one MQTT packet. */
const PACKET_OVERHEAD_BYTES = 64 * 1024;
const SESSION_RENEW_MARGIN_MS = 2 * 60 * 1000;
const SESSION_TOKEN = /^[A-Za-z0-9._~+/=-]{1,512}$/;

/**
 * The channel factory for the primary (`PrimaryRuntime.directorChannel`), and `close()` to end the
 * broker connection when the vehicle stops. The connection opens at the first request.
 */
export function mqttDirectorChannel(options: MqttDirectorChannelOptions): {
  readonly factory: DirectorChannelFactory;
  /** Answers that matched no request (duplicates, late or injected ones), over every channel made. */
  unmatchedAnswers(): number;
  close(): Promise<void>;
} {
  const channels: MqttDirectorChannel[] = [];
  return {
    factory: (context) => {
      const channel = new MqttDirectorChannel(options, context);
      channels.push(channel);
      return channel;
    },
    unmatchedAnswers: () => channels.reduce((sum, c) => sum + c.unmatchedAnswers, 0),
    close: async () => {
      await Promise.all(channels.map((c) => c.close()));
    },
  };
}

export class MqttDirectorChannel implements DirectorChannel {
  readonly metadataLocation: string;
  private readonly transfer: ChunkedTransferConfig;
  private connecting: Promise<MqttRequester> | undefined;
  private connected: MqttRequester | undefined;
  private session: { readonly token: string; readonly expiresAt: number } | undefined;
  /** How far the Director's clock is ahead of this ECU's: stamps signed requests only (HR-9j, as over HTTP). */
  private directorClockOffsetMs = 0;

  constructor(
    private readonly options: MqttDirectorChannelOptions,
    private readonly context: DirectorChannelContext,
  ) {
    this.transfer = { ...DEFAULT_CHUNKED_TRANSFER, ...options.transfer };
    this.metadataLocation = `${brokerLabel(options.broker.url)}/${directorTopics(options.vin).request}`;
  }

  /** The requester on the vehicle's topics, connected once; a failed connection is tried again at the next call. */
  private requester(): Promise<MqttRequester> {
    this.connecting ??= (async () => {
      const client = await connectBroker({
        ...this.options.broker,
        clientId: this.options.broker.clientId ?? `uptane-${this.options.vin}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
        maximumPacketBytes: Math.max(this.transfer.chunkBytes, MQTT_METADATA_MAX_BYTES) + PACKET_OVERHEAD_BYTES,
      });
      try {
        this.connected = await MqttRequester.open(client, { topics: directorTopics(this.options.vin), maxAnswerBytes: Math.max(this.transfer.chunkBytes, MQTT_METADATA_MAX_BYTES), log: this.context.log });
        return this.connected;
      } catch (err) {
        await client.endAsync(true);
        throw err;
      }
    })();
    this.connecting.catch(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** Answers that matched no request of this channel's. */
  get unmatchedAnswers(): number {
    return this.connected?.unmatchedAnswers ?? 0;
  }

  async close(): Promise<void> {
    const connecting = this.connecting;
    this.connecting = undefined;
    const requester = await connecting?.catch(() => undefined);
    requester?.close();
    await requester?.client.endAsync(true);
  }

  /** The MQTT client, for tests that cut its connection. */
  async client(): Promise<MqttClient> {
    return (await this.requester()).client;
  }

  private get timeouts() {
    return { timeoutMs: this.options.requestTimeoutMs ?? 10_000, attempts: this.options.attempts ?? 3 };
  }

  async fetchMetadata(name: string, { maxBytes }: { readonly maxBytes: number }): Promise<FetchResponse> {
    const requester = await this.requester();
    const label = `${this.metadataLocation} metadata ${name}`;
    const answer = await requester.request(() => this.spec('metadata', { file: name }), this.timeouts);
    if (answer.status !== 200) throw answerFailure(answer, label);
    // F1: the cap the updater gives (the referring file's length, or the role's limit).
    if (answer.payload.length > maxBytes) throw new DownloadLengthError(`${label} is ${answer.payload.length} bytes, over the ${maxBytes}-byte limit (endless data?)`);
    const body = answer.payload;
    return { offset: 0, body: (async function* () { yield body; })() };
  }

  /** An encrypted image in chunks, with flow control and resume (chunked-download.ts); the caller checks length and hash. */
  async fetchImage(name: string, { maxBytes, offset }: { readonly maxBytes: number; readonly offset?: number }): Promise<FetchResponse> {
    const requester = await this.requester();
    return fetchChunked(
      {
        requester,
        label: `${this.metadataLocation} image ${name}`,
        windowRequest: (window) => this.spec('image', { file: name, offset: String(window.offset), length: String(window.length), chunk: String(window.chunk) }),
      },
      { offset, maxBytes },
      this.transfer,
    );
  }

  resetSession(): void {
    this.session = undefined;
  }

  /** As over HTTP: a session unless the current one lasts; without one each request is signed. */
  async openSession(): Promise<void> {
    const now = this.context.clock.now().getTime();
    if (this.session !== undefined && this.session.expiresAt - now >= SESSION_RENEW_MARGIN_MS) return;
    this.session = undefined;
    try {
      this.session = await this.requestSession(now);
    } catch (err) {
      // Whatever failed, signing each request is the safe way on; the Director's answers decide.
      this.context.log(`no Director session over MQTT (${(err as Error).message}); signing each request instead`);
    }
  }

  async sendManifest(body: Uint8Array): Promise<ManifestDelivery> {
    const requester = await this.requester().catch((err: unknown) => err as Error);
    if (requester instanceof Error) return { accepted: false, refusal: requester.message, retryable: { afterMs: 0 } };
    const send = async (): Promise<MqttAnswer | undefined> => {
      try {
        return await requester.request(() => this.spec('manifest', {}, body), { timeoutMs: this.options.manifestTimeoutMs ?? 30_000, attempts: 1 });
      } catch (err) {
        // Not answered: the Director may not have judged it, so the primary may send a new one (new counters).
        if (err instanceof MqttTimeoutError) return undefined;
        throw err;
      }
    };
    const bearer = this.hasSession();
    let answer = await send();
    if (answer?.status === 401 && bearer) {
      this.context.log('the Director refused the session token (restarted?); opening a new session');
      this.session = undefined;
      await this.openSession();
      answer = await send();
    }
    if (answer === undefined) return { accepted: false, refusal: 'no answer from the Director over MQTT', retryable: { afterMs: 0 } };
    if (answer.status >= 200 && answer.status < 300) return { accepted: true };
    const refusal = `status ${answer.status} ${answer.payload.toString('utf8', 0, 200)}`;
    if (answer.status === 503) return { accepted: false, refusal, retryable: { afterMs: 1000 * Number(answer.properties['retry-after'] ?? 1) } };
    return { accepted: false, refusal };
  }

  async imageUrls(filenames: readonly string[]): Promise<ImageUrlGrants> {
    const requester = await this.requester();
    const body = Buffer.from(JSON.stringify({ filenames }));
    const answer = await requester.request(() => this.spec('image-urls', {}, body), this.timeouts);
    if (answer.status !== 200) throw new FetchError(`image-urls over MQTT: status ${answer.status} ${answer.payload.toString('utf8', 0, 200)}`);
    if (answer.payload.length > IMAGE_URLS_RESPONSE_MAX_BYTES) throw new DownloadLengthError(`image-urls over MQTT: the answer exceeds ${IMAGE_URLS_RESPONSE_MAX_BYTES} bytes`);
    return parseImageUrlGrants(answer.payload);
  }

  private hasSession(): boolean {
    return this.session !== undefined && this.context.clock.now().getTime() < this.session.expiresAt;
  }

  /** A request with its Authorization: the session's token while it lasts, else signed with the primary ECU key. */
  private spec(op: DirectorOp, properties: Record<string, string>, body?: Uint8Array): MqttRequestSpec {
    const { method, path } = signedRequestOf(op, properties.file);
    const authorization = op !== 'session' && this.hasSession() ? `Bearer ${this.session!.token}` : this.sign(method, path, body);
    return { properties: { op, ...properties, authorization }, payload: body };
  }

  private sign(method: string, path: string, body?: Uint8Array): string {
    const stamp = new Date(this.context.clock.now().getTime() + this.directorClockOffsetMs);
    return signVehicleRequest(this.context.key, { method, path, body }, stamp, this.context.backend);
  }

  private async requestSession(now: number): Promise<{ token: string; expiresAt: number }> {
    const requester = await this.requester();
    let answer = await requester.request(() => this.spec('session', {}), this.timeouts);
    const offset = clockOffsetFromRefusal(answer.status, answer.payload, this.context.clock.now().getTime());
    if (offset !== undefined) {
      this.directorClockOffsetMs = offset;
      answer = await requester.request(() => this.spec('session', {}), this.timeouts);
    }
    if (answer.status !== 201) throw new FetchError(`session over MQTT: status ${answer.status} ${answer.payload.toString('utf8', 0, 200)}`);
    let parsed: { token?: unknown; expiresIn?: unknown };
    try {
      parsed = JSON.parse(answer.payload.toString('utf8')) as typeof parsed;
    } catch (err) {
      throw new FetchError('session over MQTT: the answer is not JSON', { cause: err });
    }
    const { token, expiresIn } = parsed;
    if (typeof token !== 'string' || !SESSION_TOKEN.test(token) || typeof expiresIn !== 'number' || !Number.isSafeInteger(expiresIn) || expiresIn <= 0) {
      throw new FetchError('session over MQTT: the answer is not a session');
    }
    return { token, expiresAt: now + expiresIn * 1000 };
  }
}
