// Structured logs (pino): the server's logger, one JSON line per answered request, and the request
// id that ties a vehicle's error report to that line. What a line never carries: the Authorization
// header or any other header, a body, a token or key (docs/threat-model.md HR-6).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino, type DestinationStream, type Level, type LevelWithSilent, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger } from 'pino';

export type LogFormat = 'json' | 'pretty';
export const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export interface LoggerOptions {
  /** `pretty` for a terminal (pino-pretty), `json` for a log collector; the CLI picks pretty when stdout is a TTY. */
  readonly format?: LogFormat;
  readonly level?: LevelWithSilent;
  /** Where lines go: stdout by default (a file or /dev/null stream in the benchmark). */
  readonly destination?: DestinationStream | NodeJS.WritableStream;
  /** The `name` field of every line: `director` or `image`. */
  readonly name?: string;
}

/** A pino logger; pretty output is formatted in this thread (no worker), so a line is out when the call returns. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const base = { level: options.level ?? 'info', name: options.name };
  if (options.format === 'pretty') {
    return pino(base, pinoPretty({ destination: options.destination as NodeJS.WritableStream | undefined, colorize: false, translateTime: 'SYS:HH:MM:ss.l', singleLine: true, ignore: 'pid,hostname', sync: true }));
  }
  return pino(base, options.destination ?? pino.destination({ dest: 1, sync: false }));
}

/** A logger that writes nothing: a server started without one (tests) keeps its old silence. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** The `log(line)` callbacks the servers have always taken, as info lines of `logger`. */
export function lineLogger(logger: Logger): (line: string) => void {
  return (line) => logger.info(line);
}

/** Longest X-Request-Id taken from a client (a proxy's UUID or trace id fits). */
const MAX_REQUEST_ID_LENGTH = 64;
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The request's id: the client's or proxy's X-Request-Id when it is a short token of safe
 * characters, else a new one. A hostile one (long, with newlines or control characters) is replaced,
 * never echoed: it would go into a header and into the operator's log.
 */
export function requestIdOf(req: IncomingMessage): string {
  const sent = req.headers['x-request-id'];
  if (typeof sent === 'string' && sent.length <= MAX_REQUEST_ID_LENGTH && SAFE_REQUEST_ID.test(sent)) return sent;
  return `${PROCESS_PREFIX}${(++issued).toString(36)}`;
}

/**
 * A new id is this process's random prefix and a counter: unique across replicas and restarts
 * without a random draw per request (a measurable share of a metadata GET, bench figure 16).
 */
const PROCESS_PREFIX = `${randomBytes(6).toString('base64url')}-`;
let issued = 0;

/** What one request's log line says. */
export interface RequestLogEntry {
  readonly requestId: string;
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly durationMs: number;
  /** The vehicle the request was for, where the server knows it (acceptable in logs, never in metrics). */
  readonly vin?: string;
}

/** One line per answered request: info below 500, error from 500 on (the server's fault). */
export function logRequest(logger: Logger, entry: RequestLogEntry): void {
  if (entry.status >= 500) logger.error(entry, 'request failed');
  else logger.info(entry, 'request');
}

/** The request id a response carries, for error bodies (http-errors.ts) and log lines. */
export function requestIdOfResponse(res: ServerResponse): string | undefined {
  const id = res.getHeader('x-request-id');
  return typeof id === 'string' ? id : undefined;
}
