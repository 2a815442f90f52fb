// The secondary's side of the HTTP transport (the primary's side is HttpSecondaryClient in
// shared/ecu/secondary-protocol.ts): one secondary served on loopback, for vehicles whose ECUs run as
// separate processes. Routes are thin; the secondary verifies everything itself, so this server adds
// no trust, only framing: bounded JSON bodies, the image streamed straight into the inactive slot,
// typed errors as {"error": {"code", "message"}}, and one request at a time.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BadRequestError, OutOfOrderError, SuitTooLargeError, UptaneError, VehicleDrivingError } from '../shared/core/errors.js';
import { SECONDARY_PATHS, type BundleFailure, type MetadataBundle, type SecondaryTransport } from '../shared/ecu/secondary-protocol.js';
import { MANIFEST_LIMITS } from '../shared/uptane/manifest.js';
import { DEFAULT_SUIT_LIMITS } from '../shared/suit/cbor.js';
import { splitSuitStream } from '../shared/suit/framing.js';
import { isSuitReceiver } from '../shared/suit/transport.js';

export interface SecondaryServerOptions {
  /** Address to listen on; loopback by default (the protocol has no authentication of its own). */
  readonly host?: string;
  /** TCP port; 0 (the default) picks a free one, see `url`. */
  readonly port?: number;
  /** Largest metadata bundle accepted (default 32 MiB: the updater's per-role limits, base64). */
  readonly maxBodyBytes?: number;
  /**
   * After refusing an image, how many of its remaining bytes are read and discarded so the primary
   * can read the refusal (default 1 GiB); beyond that the connection is cut.
   */
  readonly maxDiscardBytes?: number;
  /** Lines for the operator: failures that are not the secondary's typed verdicts. */
  readonly log?: (line: string) => void;
}

export interface RunningSecondaryServer {
  /** `http://host:port`, to give HttpSecondaryClient (or `uptane vehicle run --secondary-url`). */
  readonly url: string;
  close(): Promise<void>;
}

export const DEFAULT_SECONDARY_SERVER = {
  host: '127.0.0.1',
  port: 0,
  maxBodyBytes: 32 * 1024 * 1024,
  maxDiscardBytes: 1024 * 1024 * 1024,
} as const;

/** A request the framing refuses before the secondary sees it. */
class HttpStatusError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** Typed verdicts of the secondary become 4xx: 409 for "not now" (state), 400 for "not this". */
function statusFor(err: UptaneError): number {
  if (err instanceof VehicleDrivingError || err instanceof OutOfOrderError) return 409;
  return 400;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
  res.end(bytes);
}

/** The whole body, refused with 413 once it passes `limit` bytes. */
async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit) throw new HttpStatusError(413, 'body_too_large', `the request body is ${declared} bytes; at most ${limit} are accepted`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpStatusError(413, 'body_too_large', `the request body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const isStringRecord = (value: unknown): value is Record<string, string> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');

/** The bundle's shape only; the secondary verifies every file in it. */
function parseBundle(body: Buffer): MetadataBundle {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new BadRequestError(`the metadata bundle is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const { director, image, time } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  if (!isStringRecord(director)) throw new BadRequestError('the metadata bundle needs "director": {file name: base64}');
  if (image !== undefined && !isStringRecord(image)) throw new BadRequestError('"image" in the metadata bundle must be {file name: base64}');
  if (typeof time !== 'string') throw new BadRequestError('the metadata bundle needs "time" (the primary\'s time)');
  return image === undefined ? { director, time } : { director, image, time };
}

/** Largest body of an install bundle request: a bundle id and a reason, never more. */
const BUNDLE_BODY_BYTES = 8 * 1024;

/** `{"bundleId", "reason"?}` of an install bundle request; the secondary checks the id against its own metadata. */
function parseBundleRequest(body: Buffer): { bundleId: string; reason: BundleFailure | null } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new BadRequestError(`the install bundle request is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const { bundleId, reason } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  if (typeof bundleId !== 'string' || bundleId.length === 0 || bundleId.length > 64) throw new BadRequestError('the install bundle request needs "bundleId" (1 to 64 characters)');
  if (reason === undefined || reason === null) return { bundleId, reason: null };
  const { code, message } = (typeof reason === 'object' ? reason : {}) as Record<string, unknown>;
  if (typeof code !== 'string' || code.length === 0 || code.length > 64 || typeof message !== 'string' || message.length > MANIFEST_LIMITS.maxTextLength) {
    throw new BadRequestError(`"reason" must be {code (1 to 64 characters), message (at most ${MANIFEST_LIMITS.maxTextLength})} or null`);
  }
  return { bundleId, reason: { code, message } };
}

/** Reads and drops what is left of a refused body, so the primary gets to read the refusal. */
function discardRest(req: http.IncomingMessage, limit: number): void {
  if (req.readableEnded || req.destroyed) return;
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > limit) req.socket.destroy();
  });
  req.resume();
}

const ROUTES: Readonly<Record<string, string>> = {
  [SECONDARY_PATHS.info]: 'GET',
  [SECONDARY_PATHS.versionReport]: 'POST',
  [SECONDARY_PATHS.metadata]: 'PUT',
  [SECONDARY_PATHS.image]: 'PUT',
  [SECONDARY_PATHS.install]: 'POST',
  [SECONDARY_PATHS.trial]: 'POST',
  [SECONDARY_PATHS.commit]: 'POST',
  [SECONDARY_PATHS.rollback]: 'POST',
};

/** Serves `secondary` over HTTP until `close()`; a constrained one (a SuitReceiver) also takes PUT /suit and PUT /suit/key. */
export async function serveSecondary(secondary: SecondaryTransport, options: SecondaryServerOptions = {}): Promise<RunningSecondaryServer> {
  const routes: Readonly<Record<string, string>> = isSuitReceiver(secondary) ? { ...ROUTES, [SECONDARY_PATHS.suit]: 'PUT', [SECONDARY_PATHS.suitKey]: 'PUT' } : ROUTES;
  const host = options.host ?? DEFAULT_SECONDARY_SERVER.host;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_SECONDARY_SERVER.maxBodyBytes;
  const maxDiscardBytes = options.maxDiscardBytes ?? DEFAULT_SECONDARY_SERVER.maxDiscardBytes;

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://secondary');
    const method = routes[url.pathname];
    if (method === undefined) throw new HttpStatusError(404, 'not_found', `no route ${url.pathname}; this is a secondary ECU (${Object.keys(routes).join(', ')})`);
    if (req.method !== method) {
      res.setHeader('allow', method);
      throw new HttpStatusError(405, 'method_not_allowed', `${url.pathname} takes ${method}, not ${req.method ?? '?'}`);
    }
    switch (url.pathname) {
      case SECONDARY_PATHS.info:
        return sendJson(res, 200, await secondary.info());
      case SECONDARY_PATHS.versionReport:
        return sendJson(res, 200, await secondary.versionReport());
      case SECONDARY_PATHS.metadata:
        return sendJson(res, 200, await secondary.putMetadata(parseBundle(await readBody(req, maxBodyBytes))));
      case SECONDARY_PATHS.image: {
        const filename = url.searchParams.get('filename');
        if (filename === null || filename === '') throw new BadRequestError('PUT /image needs ?filename=<target name>');
        // Streamed: the secondary caps it at the signed length (for an image encrypted for it, the
        // ciphertext at its encrypted length), decrypts it if so, and hashes it on the way to its slot.
        await secondary.putImage(filename, req.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>);
        return sendJson(res, 200, { filename, status: 'staged' });
      }
      case SECONDARY_PATHS.suit: {
        // The envelope is read under the SUIT limit from its length prefix; the image is streamed on,
        // and the constrained ECU checks it against the envelope's size and digest as it writes it.
        const { envelope, image } = await splitSuitStream(req.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>);
        if (!isSuitReceiver(secondary)) throw new HttpStatusError(404, 'not_found', 'this secondary is not constrained');
        await secondary.putSuit(envelope, image);
        return sendJson(res, 200, { status: 'staged' });
      }
      case SECONDARY_PATHS.suitKey: {
        if (!isSuitReceiver(secondary)) throw new HttpStatusError(404, 'not_found', 'this secondary is not constrained');
        // A key-update statement has the envelope's limit; a larger body is refused before it is read whole.
        let statement: Buffer;
        try {
          statement = await readBody(req, DEFAULT_SUIT_LIMITS.maxEnvelopeBytes);
        } catch (err) {
          if (err instanceof HttpStatusError && err.status === 413) throw new SuitTooLargeError(`SUIT key update: ${err.message}`);
          throw err;
        }
        return sendJson(res, 200, await secondary.putSuitKey(statement));
      }
      case SECONDARY_PATHS.trial:
        return sendJson(res, 200, await secondary.beginTrial(parseBundleRequest(await readBody(req, BUNDLE_BODY_BYTES)).bundleId));
      case SECONDARY_PATHS.commit:
        return sendJson(res, 200, await secondary.commitTrial(parseBundleRequest(await readBody(req, BUNDLE_BODY_BYTES)).bundleId));
      case SECONDARY_PATHS.rollback: {
        const { bundleId, reason } = parseBundleRequest(await readBody(req, BUNDLE_BODY_BYTES));
        return sendJson(res, 200, { outcome: await secondary.rollBackTrial(bundleId, reason) });
      }
      default:
        return sendJson(res, 200, await secondary.install());
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      await route(req, res);
    } catch (err) {
      if (err instanceof UptaneError) sendJson(res, statusFor(err), err.toJSON());
      else if (err instanceof HttpStatusError) sendJson(res, err.status, { error: { code: err.code, message: err.message } });
      else {
        // Not a verdict of the secondary: the details stay in this process's log.
        options.log?.(`internal error serving ${req.method ?? '?'} ${req.url ?? '?'}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message: 'internal error in the secondary' } });
        else res.destroy();
      }
    } finally {
      discardRest(req, maxDiscardBytes);
    }
  }

  // One request at a time: a secondary's state changes step by step (metadata, image, install), and
  // a second primary, or a confused one, must not interleave two of them.
  let queue: Promise<void> = Promise.resolve();
  const server = http.createServer((req, res) => {
    queue = queue
      .then(() => handle(req, res))
      .catch((err: unknown) => {
        // Only an answer that could not be written ends up here; the next request must still run.
        options.log?.(`cannot answer ${req.method ?? '?'} ${req.url ?? '?'}: ${(err as Error).message}`);
        res.destroy();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_SECONDARY_SERVER.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        server.closeAllConnections();
      }),
  };
}
