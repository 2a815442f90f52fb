// The primary-secondary protocol over MQTT 5 (docs/transport.md "Secondaries over MQTT"): a second
// SecondaryTransport beside HTTP (shared/ecu/secondary-protocol.ts). Each call is a request on the
// secondary's topic `uptane/v1/vehicles/<VIN>/ecus/<serial>/request`; an image goes as numbered
// chunks, each acknowledged once the secondary has taken it (flow control: one chunk ahead), a
// chunk asked for twice is acknowledged and dropped, and one out of order is refused. The secondary
// verifies everything itself, so this adds framing, not trust, as the HTTP transport does.
// A constrained (SUIT) secondary also takes `suit-open` (the envelope, bounded by the SUIT envelope
// limit) followed by the same image chunks, and `suit-key` (a key-update statement, one message).
import type { MqttClient } from 'mqtt';
import { MqttMessageError, SecondaryError, SuitMalformedError, SuitTooLargeError, UptaneError, VehicleDrivingError, OutOfOrderError } from '../core/errors.js';
import { RemoteSecondaryError, type BundleFailure, type MetadataBundle, type MetadataVerdict, type SecondaryInfo, type SecondaryTransport, type TrialVerdict } from '../ecu/secondary-protocol.js';
import { DEFAULT_SUIT_LIMITS } from '../suit/cbor.js';
import { isSuitReceiver, type SuitKeyUpdateResult, type SuitReceiver } from '../suit/transport.js';
import type { EcuVersionReport, InstallOutcome } from '../uptane/manifest.js';
import { byteCount } from './chunked-download.js';
import { connectBroker, type MqttBrokerOptions } from './mqtt-connection.js';
import { MqttRequester, serveMqttRequests, type MqttAnswer, type MqttReplier } from './mqtt-rpc.js';
import { secondaryTopics } from './topics.js';

export interface SecondaryMqttOptions {
  readonly broker: Omit<MqttBrokerOptions, 'maximumPacketBytes'>;
  readonly vin: string;
  readonly serial: string;
  /** Largest message either way: a metadata bundle (the updater's limits, base64), or a chunk. */
  readonly maxMessageBytes?: number;
  /** Bytes per image chunk. */
  readonly chunkBytes?: number;
  /** Wait for an answer; a chunk not acknowledged in time is sent again (`attempts` in all). */
  readonly timeoutMs?: number;
  readonly attempts?: number;
  readonly log?: (line: string) => void;
}

export const DEFAULT_SECONDARY_MQTT = { maxMessageBytes: 32 * 1024 * 1024, chunkBytes: 256 * 1024, timeoutMs: 30_000, attempts: 3 } as const;
const PACKET_OVERHEAD_BYTES = 64 * 1024;

/** The primary's side: a SecondaryTransport whose calls travel over the broker. */
export class MqttSecondaryClient implements SecondaryTransport, SuitReceiver {
  private constructor(
    private readonly requester: MqttRequester,
    private readonly options: SecondaryMqttOptions,
  ) {}

  static async connect(options: SecondaryMqttOptions): Promise<MqttSecondaryClient> {
    const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_SECONDARY_MQTT.maxMessageBytes;
    const client = await connectBroker({
      ...options.broker,
      clientId: options.broker.clientId ?? `uptane-primary-${options.serial}-${Math.random().toString(16).slice(2, 8)}`,
      maximumPacketBytes: maxMessageBytes + PACKET_OVERHEAD_BYTES,
    });
    try {
      return new MqttSecondaryClient(await MqttRequester.open(client, { topics: secondaryTopics(options.vin, options.serial), maxAnswerBytes: maxMessageBytes, log: options.log }), options);
    } catch (err) {
      await client.endAsync(true);
      throw err;
    }
  }

  info(): Promise<SecondaryInfo> {
    return this.call('info') as Promise<SecondaryInfo>;
  }

  versionReport(): Promise<EcuVersionReport> {
    return this.call('version-report') as Promise<EcuVersionReport>;
  }

  putMetadata(bundle: MetadataBundle): Promise<MetadataVerdict> {
    return this.call('metadata', {}, Buffer.from(JSON.stringify(bundle))) as Promise<MetadataVerdict>;
  }

  /** The image in chunks, each sent once the secondary acknowledged the one before. */
  async putImage(filename: string, body: AsyncIterable<Uint8Array>): Promise<void> {
    await this.call('image-open', { filename });
    await this.sendImage(body);
  }

  /**
   * A constrained secondary's update (docs/suit.md "Transports"): the envelope as one `suit-open`
   * message, which the secondary bounds by the SUIT envelope limit before any image byte is sent,
   * then the image in the same acknowledged chunks as putImage. A secondary that is not constrained
   * refuses `suit-open`.
   */
  async putSuit(envelope: Uint8Array, image: AsyncIterable<Uint8Array>): Promise<void> {
    await this.call('suit-open', {}, envelope);
    await this.sendImage(image);
  }

  /** A key-update statement for a constrained secondary (docs/suit.md "Rotating the SUIT key"), one message. */
  async putSuitKey(statement: Uint8Array): Promise<SuitKeyUpdateResult> {
    const answer = (await this.call('suit-key', {}, statement)) as Partial<SuitKeyUpdateResult> | null;
    if (typeof answer?.epoch !== 'number' || (answer.status !== 'updated' && answer.status !== 'unchanged')) {
      throw new SecondaryError(`secondary ${this.options.serial} answered the SUIT key update over MQTT with neither an epoch nor a status`);
    }
    return { epoch: answer.epoch, status: answer.status };
  }

  /** The image of an open image-open or suit-open, each chunk sent once the secondary acknowledged the one before. */
  private async sendImage(body: AsyncIterable<Uint8Array>): Promise<void> {
    const chunkBytes = this.options.chunkBytes ?? DEFAULT_SECONDARY_MQTT.chunkBytes;
    let offset = 0;
    let pending = Buffer.alloc(0);
    const send = async (chunk: Buffer) => {
      // Acknowledged by offset: a repeat after a lost acknowledgement is dropped by the secondary.
      await this.call('image-chunk', { offset: String(offset) }, chunk, this.options.attempts ?? DEFAULT_SECONDARY_MQTT.attempts);
      offset += chunk.length;
    };
    for await (const piece of body) {
      pending = pending.length === 0 ? Buffer.from(piece) : Buffer.concat([pending, piece]);
      while (pending.length >= chunkBytes) {
        await send(pending.subarray(0, chunkBytes));
        pending = pending.subarray(chunkBytes);
      }
    }
    if (pending.length > 0) await send(pending);
    await this.call('image-end', { length: String(offset) });
  }

  install(): Promise<InstallOutcome> {
    return this.call('install') as Promise<InstallOutcome>;
  }

  beginTrial(bundleId: string): Promise<TrialVerdict> {
    return this.call('bundle-trial', { bundleId }) as Promise<TrialVerdict>;
  }

  commitTrial(bundleId: string): Promise<InstallOutcome> {
    return this.call('bundle-commit', { bundleId }) as Promise<InstallOutcome>;
  }

  async rollBackTrial(bundleId: string, reason: BundleFailure | null): Promise<InstallOutcome | null> {
    return ((await this.call('bundle-rollback', { bundleId }, Buffer.from(JSON.stringify({ reason })))) as { outcome: InstallOutcome | null }).outcome;
  }

  async close(): Promise<void> {
    this.requester.close();
    await this.requester.client.endAsync(true);
  }

  private async call(op: string, properties: Record<string, string> = {}, payload?: Uint8Array, attempts = 1): Promise<unknown> {
    let answer: MqttAnswer;
    try {
      answer = await this.requester.request(() => ({ properties: { op, ...properties }, payload }), { timeoutMs: this.options.timeoutMs ?? DEFAULT_SECONDARY_MQTT.timeoutMs, attempts });
    } catch (err) {
      if (err instanceof UptaneError) throw new SecondaryError(`secondary ${this.options.serial} over MQTT: ${err.message}`, { cause: err });
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.payload.toString('utf8'));
    } catch (err) {
      throw new SecondaryError(`secondary ${this.options.serial} answered ${op} over MQTT with invalid JSON`, { cause: err });
    }
    const error = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (answer.status >= 400 || error !== undefined) throw new RemoteSecondaryError(String(error?.code ?? 'secondary_failed'), String(error?.message ?? `status ${answer.status}`));
    return parsed;
  }
}

/** An image being received: chunks queued for the secondary's putImage (or putSuit), which reads them as a stream. */
class IncomingImage {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private wakeReader: (() => void) | undefined;
  private wakeWriter: (() => void) | undefined;
  next = 0;
  readonly done: Promise<void>;
  failure: unknown;

  /** `consume` is the secondary's call that reads the image: putImage, or putSuit with its envelope. */
  constructor(consume: (stream: AsyncIterable<Uint8Array>) => Promise<void>) {
    this.done = consume(this.stream());
    this.done.catch((err: unknown) => {
      this.failure = err;
      this.wakeWriter?.();
    });
  }

  private async *stream(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const chunk = this.queue.shift();
      this.wakeWriter?.();
      if (chunk !== undefined) {
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wakeReader = resolve));
    }
  }

  /** Queues a chunk; resolves once the secondary has taken it (one chunk ahead at most), or failed. */
  async push(chunk: Buffer): Promise<void> {
    this.queue.push(chunk);
    this.next += chunk.length;
    this.wakeReader?.();
    while (this.queue.length > 1 && this.failure === undefined) await new Promise<void>((resolve) => (this.wakeWriter = resolve));
  }

  end(): void {
    this.ended = true;
    this.wakeReader?.();
  }
}

/** An install bundle's id as a request names it; the secondary checks it against its own verified metadata. */
function bundleIdOf(properties: Readonly<Record<string, string>>): string {
  const id = properties.bundleId;
  if (id === undefined || id.length === 0 || id.length > 64) throw new MqttMessageError('an install bundle request needs bundleId (1 to 64 characters)');
  return id;
}

/** `{"reason": {code, message} | null}`, bounded as over HTTP. */
function bundleFailureOf(payload: Buffer): BundleFailure | null {
  if (payload.length > 8 * 1024) throw new MqttMessageError('an install bundle rollback larger than 8 KiB');
  let reason: unknown;
  try {
    reason = (JSON.parse(payload.toString('utf8')) as { reason?: unknown } | null)?.reason;
  } catch (err) {
    throw new MqttMessageError('an install bundle rollback that is not JSON', { cause: err });
  }
  if (reason === undefined || reason === null) return null;
  const { code, message } = (typeof reason === 'object' ? reason : {}) as Record<string, unknown>;
  if (typeof code !== 'string' || code.length === 0 || code.length > 64 || typeof message !== 'string' || message.length > 4096) {
    throw new MqttMessageError('reason must be {code (1 to 64 characters), message (at most 4096)} or null');
  }
  return { code, message };
}

/** Typed verdicts of the secondary become 4xx, as over HTTP (secondary-ecu/http-server.ts). */
function refusal(err: unknown): { status: number; body: { error: { code: string; message: string } } } {
  if (err instanceof UptaneError) return { status: err instanceof VehicleDrivingError || err instanceof OutOfOrderError ? 409 : 400, body: { error: { code: err.code, message: err.message } } };
  return { status: 500, body: { error: { code: 'internal', message: 'the secondary failed; see its log' } } };
}

/**
 * The secondary's side: answers the primary's requests on its topic by calling `transport` (the
 * Secondary itself), until `stop()`. One image at a time; a new image-open (or suit-open) abandons an
 * unfinished one. suit-open and suit-key are answered only when `transport` is a constrained ECU (a SuitReceiver).
 */
export async function serveSecondaryOverMqtt(transport: SecondaryTransport | (SecondaryTransport & SuitReceiver), options: SecondaryMqttOptions): Promise<{ readonly client: MqttClient; stop(): Promise<void> }> {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_SECONDARY_MQTT.maxMessageBytes;
  const topics = secondaryTopics(options.vin, options.serial);
  const client = await connectBroker({
    ...options.broker,
    clientId: options.broker.clientId ?? `uptane-secondary-${options.serial}-${Math.random().toString(16).slice(2, 8)}`,
    maximumPacketBytes: maxMessageBytes + PACKET_OVERHEAD_BYTES,
  });
  let image: IncomingImage | undefined;
  const json = (replier: MqttReplier, status: number, body: unknown) => replier.reply(status, Buffer.from(JSON.stringify(body ?? null)));
  const handle = async (op: string | undefined, properties: Readonly<Record<string, string>>, payload: Buffer): Promise<unknown> => {
    switch (op) {
      case 'info':
        return transport.info();
      case 'version-report':
        return transport.versionReport();
      case 'metadata': {
        let bundle: MetadataBundle;
        try {
          bundle = JSON.parse(payload.toString('utf8')) as MetadataBundle;
        } catch (err) {
          throw new MqttMessageError('the metadata bundle is not JSON', { cause: err });
        }
        if (typeof bundle !== 'object' || bundle === null || typeof bundle.director !== 'object' || typeof bundle.time !== 'string') throw new MqttMessageError('the metadata bundle lacks director or time');
        return transport.putMetadata(bundle);
      }
      case 'image-open': {
        const filename = properties.filename;
        if (filename === undefined || filename.length === 0 || filename.length > 1024) throw new MqttMessageError('image-open without a filename');
        image?.end();
        image = new IncomingImage((stream) => transport.putImage(filename, stream));
        return { ok: true };
      }
      case 'suit-open': {
        // As PUT /suit over HTTP: refused typed before any image byte when the envelope is over the
        // SUIT limit or empty; the chunks that follow go to the constrained ECU as one stream.
        if (!isSuitReceiver(transport)) throw new MqttMessageError('suit-open to a secondary that is not constrained');
        if (payload.length > DEFAULT_SUIT_LIMITS.maxEnvelopeBytes) throw new SuitTooLargeError(`a SUIT envelope of ${payload.length} bytes, more than the ${DEFAULT_SUIT_LIMITS.maxEnvelopeBytes} allowed`);
        if (payload.length === 0) throw new SuitMalformedError('suit-open with an empty envelope');
        const envelope = Uint8Array.from(payload);
        image?.end();
        image = new IncomingImage((stream) => transport.putSuit(envelope, stream));
        return { ok: true };
      }
      case 'suit-key': {
        if (!isSuitReceiver(transport)) throw new MqttMessageError('suit-key to a secondary that is not constrained');
        // A key-update statement has the envelope's limit, as PUT /suit/key over HTTP.
        if (payload.length > DEFAULT_SUIT_LIMITS.maxEnvelopeBytes) throw new SuitTooLargeError(`a SUIT key update of ${payload.length} bytes, more than the ${DEFAULT_SUIT_LIMITS.maxEnvelopeBytes} allowed`);
        return transport.putSuitKey(Uint8Array.from(payload));
      }
      case 'image-chunk': {
        const offset = byteCount(properties, 'offset');
        if (image === undefined) throw new MqttMessageError('an image chunk with no image open');
        if (image.failure !== undefined) throw image.failure;
        // A repeat (its acknowledgement was lost): acknowledged again, not written again.
        if (offset < image.next) return { ok: true, repeated: true };
        if (offset > image.next) throw new MqttMessageError(`an image chunk at offset ${offset}; ${image.next} expected (out of order)`);
        await image.push(payload);
        if (image.failure !== undefined) throw image.failure;
        return { ok: true };
      }
      case 'image-end': {
        const length = byteCount(properties, 'length');
        if (image === undefined) throw new MqttMessageError('image-end with no image open');
        const current = image;
        image = undefined;
        if (length !== current.next) {
          current.end();
          throw new MqttMessageError(`image-end says ${length} bytes; ${current.next} arrived`);
        }
        current.end();
        await current.done;
        return { ok: true };
      }
      case 'install':
        return transport.install();
      case 'bundle-trial':
        return transport.beginTrial(bundleIdOf(properties));
      case 'bundle-commit':
        return transport.commitTrial(bundleIdOf(properties));
      case 'bundle-rollback':
        return { outcome: await transport.rollBackTrial(bundleIdOf(properties), bundleFailureOf(payload)) };
      default:
        throw new MqttMessageError(`unknown op ${JSON.stringify(String(op ?? '').slice(0, 40))}`);
    }
  };
  try {
    const responder = await serveMqttRequests(client, {
      filter: topics.request,
      responseTopicFor: (topic) => (topic === topics.request ? topics.response : undefined),
      maxRequestBytes: maxMessageBytes,
      maxInFlight: 4,
      log: options.log,
      handle: async (request, replier) => {
        try {
          await json(replier, 200, await handle(request.properties.op, request.properties, request.payload));
        } catch (err) {
          if (!(err instanceof UptaneError)) options.log?.(`secondary ${options.serial}: ${(err as Error).message}`);
          const { status, body } = refusal(err);
          await json(replier, status, body);
        }
      },
    });
    return {
      client,
      stop: async () => {
        image?.end();
        await responder.stop();
        await client.endAsync(true);
      },
    };
  } catch (err) {
    await client.endAsync(true);
    throw err;
  }
}
