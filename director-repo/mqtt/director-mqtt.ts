// The Director's MQTT face (docs/transport.md "MQTT"): one broker connection per replica, subscribed
// to every vehicle's request topic through the shared subscription `$share/uptane-director/...`, so
// the broker hands each request to one replica. Each operation calls the same service its HTTP route
// calls (app.ts vehicleFastRoutes), authenticated by the same Authorization, signed over the same
// method and path; errors leave with the same codes and statuses (shared/server/http-errors.ts).
import { stat } from 'node:fs/promises';
import type { MqttClient } from 'mqtt';
import { AuthenticationError, BadRequestError, NotFoundError, ServerBusyError } from '../../shared/core/errors.js';
import { errorResponse } from '../../shared/server/http-errors.js';
import { connectBroker, type MqttBrokerOptions } from '../../shared/transport-mqtt/mqtt-connection.js';
import { serveMqttRequests, type MqttIncomingRequest, type MqttReplier, type MqttResponderStats } from '../../shared/transport-mqtt/mqtt-rpc.js';
import { DEFAULT_CHUNK_LIMITS, parseWindow, sendFileWindow, type ChunkLimits } from '../../shared/transport-mqtt/chunk-server.js';
import { DIRECTOR_OPS, signedRequestOf, type DirectorOp } from '../../shared/transport-mqtt/director-protocol.js';
import { DIRECTOR_REQUEST_FILTER, directorTopics, vinOfDirectorRequest } from '../../shared/transport-mqtt/topics.js';
import type { DirectorServices } from '../director.js';
import { parseImageUrlRequest } from '../services/image-urls.js';

export interface DirectorMqttOptions {
  /** The broker and the Director's own login (the ACL example's `director` user). */
  readonly broker: Omit<MqttBrokerOptions, 'maximumPacketBytes'>;
  /** Largest request payload (a manifest); larger ones are answered 413 unread. */
  readonly maxRequestBytes?: number;
  /** Requests handled at once by this replica; past it 503 (docs/threat-model.md HR-2). */
  readonly maxInFlight?: number;
  readonly chunks?: Partial<ChunkLimits>;
  /**
   * Image windows sent at once by this replica (each holds up to four chunks until its broker
   * connection has written them); past it a window is answered 503 and the vehicle asks again
   * (docs/threat-model.md HR-2).
   */
  readonly maxImageWindows?: number;
  readonly log?: (line: string) => void;
}

export interface RunningDirectorMqtt {
  readonly client: MqttClient;
  readonly stats: MqttResponderStats;
  stop(): Promise<void>;
}

const DEFAULT_MAX_REQUEST_BYTES = 1_000_000;
const DEFAULT_MAX_IN_FLIGHT = 256;
const DEFAULT_MAX_IMAGE_WINDOWS = 32;
/** Seconds a vehicle refused an image window waits before asking again. */
const BUSY_RETRY_AFTER_SECONDS = 1;
/** A metadata or image file name as a request may give it; the services decide whether it exists. */
const FILE_NAME = /^[A-Za-z0-9._-]{1,200}$/;

/** Connects to the broker and answers vehicles' requests until `stop()`. */
export async function startDirectorMqtt(services: DirectorServices, options: DirectorMqttOptions): Promise<RunningDirectorMqtt> {
  const chunks = { ...DEFAULT_CHUNK_LIMITS, ...options.chunks };
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const windows = { sending: 0, max: options.maxImageWindows ?? DEFAULT_MAX_IMAGE_WINDOWS };
  const client = await connectBroker({
    ...options.broker,
    clientId: options.broker.clientId ?? `uptane-director-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    maximumPacketBytes: maxRequestBytes + 64 * 1024,
  });
  try {
    const responder = await serveMqttRequests(client, {
      filter: DIRECTOR_REQUEST_FILTER,
      responseTopicFor: (topic) => {
        const vin = vinOfDirectorRequest(topic);
        return vin === undefined ? undefined : directorTopics(vin).response;
      },
      maxRequestBytes,
      maxInFlight: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
      log: options.log,
      handle: (request, replier) => answerVehicleRequest(services, request, replier, chunks, options.log, windows),
    });
    return {
      client,
      stats: responder.stats,
      stop: async () => {
        await responder.stop();
        await client.endAsync();
      },
    };
  } catch (err) {
    await client.endAsync(true);
    throw err;
  }
}

/**
 * Answers one vehicle request: what each HTTP route does, through the same services. Exported for
 * the tests that play a hostile broker or Director in front of it (test/mqtt/).
 */
export async function answerVehicleRequest(
  services: DirectorServices,
  request: MqttIncomingRequest,
  replier: MqttReplier,
  chunks: ChunkLimits,
  log?: (line: string) => void,
  windows: { sending: number; readonly max: number } = { sending: 0, max: DEFAULT_MAX_IMAGE_WINDOWS },
): Promise<void> {
  const topicVin = vinOfDirectorRequest(request.topic)!;
  const json = (status: number, body: unknown) => replier.reply(status, Buffer.from(JSON.stringify(body)));
  try {
    const op = request.properties.op as DirectorOp;
    if (!DIRECTOR_OPS.includes(op)) throw new BadRequestError(`unknown op ${JSON.stringify(String(request.properties.op ?? '').slice(0, 40))}: one of ${DIRECTOR_OPS.join(', ')}`);
    const file = op === 'metadata' || op === 'image' ? fileName(request.properties.file) : undefined;
    const { method, path } = signedRequestOf(op, file);
    const authorization = request.properties.authorization;
    const credential = await services.authentication.authenticateHeaders(authorization, { method, path });
    const vin = credential.complete(method === 'POST' ? request.payload : undefined);
    // The key decides whose request it is; a vehicle publishing on another's topic (a broker without
    // ACLs) gets nothing, and no answer of another vehicle's lands on its topic (docs/threat-model.md F22).
    if (vin !== topicVin) throw new AuthenticationError(`the credential is vehicle ${vin}'s, but the request came on vehicle ${topicVin}'s topic`);
    switch (op) {
      case 'session':
        await json(201, await services.authentication.issueSession(vin));
        return;
      case 'metadata': {
        const bytes = await services.metadata.file(vin, file!);
        if (bytes === undefined) throw new NotFoundError(`no metadata ${file}`, { repository: 'director' });
        await replier.reply(200, bytes);
        return;
      }
      case 'image': {
        const window = parseWindow(request.properties, chunks);
        const found = await services.encryptedImages.servable(vin, file!);
        // Any other vehicle's ciphertext is the same 404 as one that does not exist, as over HTTP.
        if (found === undefined) throw new NotFoundError(`no encrypted image ${file} for this vehicle`, { repository: 'director' });
        if (windows.sending >= windows.max) throw new ServerBusyError(`${windows.sending} image windows in flight; retry in ${BUSY_RETRY_AFTER_SECONDS} s`, BUSY_RETRY_AFTER_SECONDS);
        windows.sending++;
        try {
          await sendFileWindow(replier, found.path, (await stat(found.path)).size, window);
        } finally {
          windows.sending--;
        }
        return;
      }
      case 'manifest':
        await json(200, await services.intake.receiveManifest(vin, request.payload));
        return;
      case 'image-urls': {
        if (services.imageUrls === undefined) throw new NotFoundError('this Director issues no signed image URLs (it has no URL-signing key)', { repository: 'director' });
        await json(200, await services.imageUrls.issue(vin, parseImageUrlRequest(request.payload)));
        return;
      }
    }
  } catch (err) {
    const { status, headers, body } = errorResponse(err);
    if (status === 401 || status === 400) log?.(`MQTT request on ${request.topic} refused: ${body.error.code}: ${body.error.message}`);
    const retryAfter = headers['Retry-After'];
    await replier.reply(status, Buffer.from(JSON.stringify(body)), retryAfter === undefined ? {} : { 'retry-after': retryAfter });
  }
}

function fileName(value: string | undefined): string {
  if (value === undefined || !FILE_NAME.test(value)) throw new BadRequestError(`the file property ${JSON.stringify((value ?? 'none').slice(0, 60))} is not a file name`);
  return value;
}
