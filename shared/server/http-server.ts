// The node:http side of the repository servers: the limits every connection lives under, and a
// request dispatcher that no handler can crash (docs/threat-model.md HR-1, HR-2, HR-3). With TLS
// configured the same server is a node:https one, under the same limits (shared/server/tls.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { sendRawError } from './http-errors.js';
import { httpsServerOptions, loadTlsMaterial, type TlsServerConfig } from './tls.js';

/** What one server allows each connection; every field has a documented default below. */
export interface HttpServerLimits {
  /** Most TCP connections open at once; further ones are closed as they arrive. */
  readonly maxConnections: number;
  /** Time a client has to send a request's headers. */
  readonly headersTimeoutMs: number;
  /** Time a client has to send a whole request, headers and body. */
  readonly requestTimeoutMs: number;
  /** How long a keep-alive connection may stay open with no request in flight. */
  readonly keepAliveTimeoutMs: number;
  /**
   * A connection that moves no byte either way for this long is closed, request or answer in
   * flight or not: a client that stopped reading an image, or stopped sending a body, holds its
   * socket and buffers no longer than this.
   */
  readonly idleTimeoutMs: number;
}

/**
 * Defaults for both servers. 1024 connections keep the process under its usual file limit with
 * room for its database and blobs; 30 s without a byte is far beyond any honest client's pause
 * on a working link; 5 s of keep-alive is Node's own default.
 */
export const DEFAULT_HTTP_SERVER_LIMITS: HttpServerLimits = {
  maxConnections: 1024,
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
};

/** A request handler; it may answer later, through a promise. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Wraps `handler` so that a throw or a rejected promise from it becomes a 500 JSON answer (no stack,
 * no path: see errorResponse) instead of an uncaught exception that ends the process (HR-1). When
 * the status line already left, the connection is closed instead.
 */
export function guardRequests(handler: RequestHandler): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    // Node emits a request as soon as its head is parsed and reports a framing error in the rest of
    // the same input (Transfer-Encoding: gzip, a bad chunk) after it, answering 400 itself. Started
    // once that input is parsed, a handler never acts on a request the server has refused: an
    // awaiting handler would otherwise commit its change after the 400.
    queueMicrotask(() => {
      if (req.socket.destroyed || req.socket.writableEnded) return;
      try {
        const result = handler(req, res);
        if (result instanceof Promise) result.catch((err: unknown) => answerFailure(res, err));
      } catch (err) {
        answerFailure(res, err);
      }
    });
  };
}

/**
 * The last resort for a request whose handler failed unexpectedly: a clean 500 (no stack, no path),
 * or, when the status line already left, a closed connection. Never throws, so work a handler
 * started in the background can end with it instead of an unhandled rejection (HR-1).
 */
export function answerFailure(res: ServerResponse, err: unknown): void {
  try {
    sendRawError(res, err);
  } catch {
    res.destroy(); // nothing more can be said on this connection
  }
}

/**
 * Creates a node:http server for `handler` under `limits`, listening on `host:port`; a node:https
 * one when `tls` is given, its files checked first (typed errors from loadTlsMaterial).
 */
export async function listenHttp(
  handler: RequestHandler,
  options: { port?: number; host?: string; limits: HttpServerLimits; tls?: TlsServerConfig | undefined },
): Promise<Server> {
  const { limits } = options;
  const httpOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often Node looks for connections past headersTimeout or requestTimeout (default 30 s).
    connectionsCheckingInterval: Math.min(5_000, limits.headersTimeoutMs),
  };
  const server: Server =
    options.tls === undefined
      ? createServer(httpOptions, guardRequests(handler))
      : createHttpsServer(
          // A handshake is part of sending the headers: a client that stalls in it holds a connection no longer (HR-2).
          { ...httpOptions, ...httpsServerOptions(options.tls, loadTlsMaterial(options.tls)), handshakeTimeout: limits.headersTimeoutMs },
          guardRequests(handler),
        );
  server.maxConnections = limits.maxConnections;
  // Socket inactivity (and keep-alive expiry) end here. A socket that still has an answer waiting
  // for a client that stopped reading is reset: closed gracefully, the kernel would keep its unsent
  // bytes (up to megabytes) and retry them for minutes before giving up on the client.
  server.timeout = limits.idleTimeoutMs;
  server.on('timeout', (socket: Socket) => {
    try {
      if (socket.writableLength > 0) socket.resetAndDestroy();
      else socket.destroy();
    } catch {
      socket.destroy(); // not a TCP socket (no reset to send): a listener must never throw here
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** The base URL of a server listening on `host:port`: https when it serves TLS, IPv6 addresses in brackets. */
export function serverUrl(host: string, port: number, tls: boolean): string {
  return `${tls ? 'https' : 'http'}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** How long a refused request's connection still reads (and discards) what the client sends. */
const LINGER_MS = 2_000;

/**
 * Closes the connection once the answer to `req` is sent, instead of reading the rest of a body
 * the server refused (HR-3: a refused upload must not hold its socket while the client sends
 * gigabytes). Call before answering. Closing a socket with unread input makes the kernel answer
 * with a reset, which can make the client lose the answer it has not read yet; so the server
 * half-closes (the client reads our answer, then its end), discards input for at most LINGER_MS,
 * and only then closes for good.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return; // the body is in: keep-alive costs nothing
  res.setHeader('Connection', 'close');
  const socket = req.socket as Socket & { destroySoon?: () => void };
  // With 'Connection: close', Node ends the answer with socket.destroySoon(): end, then destroy
  // as soon as the end is written, input unread. This socket lingers instead.
  socket.destroySoon = () => {
    socket.end();
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };
}
