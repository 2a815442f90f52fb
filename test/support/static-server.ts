// A small real static file server for network tests: node:http on 127.0.0.1, port 0, serving a tree
// written by RepositorySimulator.exportTo(). GET only, `Range: bytes=N-` answered with 206, 404 for
// anything it cannot map to a regular file inside the root. A per-request hook makes it misbehave
// the ways docs/threat-model.md group F describes (trickle, stall, endless data, dropped body, 503,
// no Range), and every request is logged with the body bytes the server handed to the socket.
import { once } from 'node:events';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isAbsolute, join, relative, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** How the server deviates from an honest static server for one request. */
export type Misbehaviour =
  /** Answer this status with an empty body (e.g. 503). */
  | { readonly kind: 'status'; readonly status: number }
  /** Send the body `chunkBytes` at a time, waiting `intervalMs` before each chunk (slow retrieval). */
  | { readonly kind: 'trickle'; readonly chunkBytes: number; readonly intervalMs: number }
  /** Send nothing until the client gives up: no headers at all, or headers and then no body. */
  | { readonly kind: 'stall'; readonly afterHeaders: boolean }
  /** Send the file, then filler bytes forever (chunked, no Content-Length), until the client closes. */
  | { readonly kind: 'endless'; readonly chunkBytes?: number }
  /**
   * Announce the full length, send `afterBytes` bytes of the body, then cut the connection; if
   * `cutWhen` is given, cut only once it resolves (e.g. when the client reports it stored the bytes:
   * bytes a client has received but not yet consumed are lost with the connection).
   */
  | { readonly kind: 'drop'; readonly afterBytes: number; readonly cutWhen?: Promise<void> }
  /** Answer 200 with the whole file even when a Range was asked for. */
  | { readonly kind: 'ignore-range' }
  /** Serve the file honestly but chunked, without a Content-Length header. */
  | { readonly kind: 'chunked' };

export interface RequestInfo {
  readonly method: string;
  /** The raw request path, percent-encoding kept, query removed. */
  readonly path: string;
  readonly range: string | undefined;
}

export interface RequestRecord extends RequestInfo {
  status: number;
  /** Body bytes handed to the socket (headers excluded). */
  bytesSent: number;
  /** True when the connection closed before the response was complete (client gave up, or a drop). */
  closedEarly: boolean;
  /** Resolves once the server is done with this request (response finished or connection closed). */
  readonly done: Promise<void>;
}

export type MisbehaviourHook = (request: RequestInfo) => Misbehaviour | undefined;

export interface StaticServerOptions {
  /** Safety cap for the 'endless' misbehaviour, so a broken client cannot hang a test (default 64 MiB). */
  readonly endlessCapBytes?: number;
}

export interface StaticServer {
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly port: number;
  readonly root: string;
  /** Every request, in arrival order. */
  readonly requests: RequestRecord[];
  /** Consulted for every request; undefined means behave honestly. */
  misbehave: MisbehaviourHook | undefined;
  /** Resolves when every request seen so far is finished on the server side. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

const DEFAULT_ENDLESS_CAP = 64 * 1024 * 1024;
const running = new Set<StaticServer>();

/** A hook that misbehaves for the first `times` requests whose raw path is `path`, then is honest. */
export function misbehaveOnce(path: string, misbehaviour: Misbehaviour, times = 1): MisbehaviourHook {
  let left = times;
  return (request) => {
    if (request.path !== path || left <= 0) return undefined;
    left -= 1;
    return misbehaviour;
  };
}

export async function startStaticServer(root: string, options: StaticServerOptions = {}): Promise<StaticServer> {
  const realRoot = realpathSync(root);
  const endlessCap = options.endlessCapBytes ?? DEFAULT_ENDLESS_CAP;
  const requests: RequestRecord[] = [];
  const server: Server = createServer((req, res) => {
    const record = handle(req, res);
    requests.push(record);
  });

  const handle = (req: IncomingMessage, res: ServerResponse): RequestRecord => {
    const rawUrl = req.url ?? '/';
    const cut = rawUrl.search(/[?#]/);
    const info: RequestInfo = {
      method: req.method ?? '',
      path: cut === -1 ? rawUrl : rawUrl.slice(0, cut),
      range: typeof req.headers.range === 'string' ? req.headers.range : undefined,
    };
    let markDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (markDone = resolve));
    const record: RequestRecord = { ...info, status: 0, bytesSent: 0, closedEarly: false, done };
    const aborted = new AbortController();
    res.on('close', () => {
      record.closedEarly = !res.writableFinished;
      aborted.abort();
      markDone();
    });
    respond(info, record, res, aborted.signal).catch((err: unknown) => {
      // A failure inside the test server is a bug in the test: make it loud, never a silent hang.
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
    return record;
  };

  const respond = async (info: RequestInfo, record: RequestRecord, res: ServerResponse, signal: AbortSignal): Promise<void> => {
    const head = (status: number, headers: Record<string, string | number>) => {
      record.status = status;
      res.writeHead(status, headers);
    };
    /** Writes with backpressure; false once the connection is gone. */
    const send = async (chunk: Uint8Array): Promise<boolean> => {
      if (signal.aborted) return false;
      record.bytesSent += chunk.length;
      if (!res.write(chunk)) {
        try {
          await once(res, 'drain', { signal });
        } catch {
          return false; // the connection closed while waiting: that is the client giving up
        }
      }
      return !signal.aborted;
    };
    const waitForClose = async () => {
      if (signal.aborted) return;
      await once(signal, 'abort');
    };

    if (info.method !== 'GET') {
      head(405, { allow: 'GET', 'content-length': 0 });
      res.end();
      return;
    }
    const misbehaviour = hookOf(info);
    if (misbehaviour?.kind === 'status') {
      head(misbehaviour.status, { 'content-length': 0 });
      res.end();
      return;
    }
    if (misbehaviour?.kind === 'stall' && !misbehaviour.afterHeaders) {
      await waitForClose();
      return;
    }
    const file = resolveFile(realRoot, info.path);
    if (file === undefined) {
      head(404, { 'content-type': 'text/plain', 'content-length': 9 });
      res.end('not found');
      return;
    }
    const data = readFileSync(file);
    const contentType = file.endsWith('.json') ? 'application/json' : 'application/octet-stream';

    // Only the single open-ended form the updater sends is honoured; others get the whole file (RFC 9110 allows this).
    const rangeStart = misbehaviour?.kind === 'ignore-range' ? undefined : parseOpenRange(info.range);
    if (rangeStart !== undefined && rangeStart >= data.length) {
      head(416, { 'content-range': `bytes */${data.length}`, 'content-length': 0 });
      res.end();
      return;
    }
    const body = rangeStart === undefined ? data : data.subarray(rangeStart);
    const status = rangeStart === undefined ? 200 : 206;
    const headers: Record<string, string | number> = { 'content-type': contentType, 'accept-ranges': 'bytes' };
    if (rangeStart !== undefined) headers['content-range'] = `bytes ${rangeStart}-${data.length - 1}/${data.length}`;
    const chunked = misbehaviour?.kind === 'endless' || misbehaviour?.kind === 'chunked';
    if (!chunked) headers['content-length'] = body.length;

    switch (misbehaviour?.kind) {
      case 'stall': {
        head(status, headers);
        res.flushHeaders();
        await waitForClose();
        return;
      }
      case 'trickle': {
        head(status, headers);
        res.flushHeaders();
        for (let i = 0; i < body.length; i += misbehaviour.chunkBytes) {
          try {
            await sleep(misbehaviour.intervalMs, undefined, { signal });
          } catch {
            return; // the client gave up
          }
          if (!(await send(body.subarray(i, i + misbehaviour.chunkBytes)))) return;
        }
        res.end();
        return;
      }
      case 'endless': {
        head(status, headers);
        if (!(await send(body))) return;
        const filler = Buffer.alloc(misbehaviour.chunkBytes ?? 64 * 1024, 0x41);
        while (record.bytesSent < endlessCap) {
          if (!(await send(filler))) return;
        }
        res.end(); // the cap was reached: the client never stopped reading, which the test will show
        return;
      }
      case 'drop': {
        head(status, headers);
        const part = body.subarray(0, misbehaviour.afterBytes);
        record.bytesSent += part.length;
        // Wait until the bytes are in the kernel, so the client receives exactly `afterBytes`, then cut.
        await new Promise<void>((resolve) => res.write(part, () => resolve()));
        if (misbehaviour.cutWhen !== undefined) await Promise.race([misbehaviour.cutWhen, waitForClose()]);
        res.socket?.destroy();
        return;
      }
      default: {
        head(status, headers);
        if (await send(body)) res.end();
      }
    }
  };

  const hookOf = (info: RequestInfo): Misbehaviour | undefined => handleRef.misbehave?.(info);

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const handleRef: StaticServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    root,
    requests,
    misbehave: undefined,
    settled: async () => {
      await Promise.all(requests.map((r) => r.done));
    },
    stop: async () => {
      running.delete(handleRef);
      if (!server.listening) return;
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
  running.add(handleRef);
  return handleRef;
}

/** Stops every server started by startStaticServer that is still running; for afterEach/afterAll. */
export async function stopStaticServers(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
}

/** `bytes=N-` -> N; anything else (absent, suffix, multiple ranges) -> undefined. */
function parseOpenRange(range: string | undefined): number | undefined {
  if (range === undefined) return undefined;
  const match = /^bytes=(\d+)-$/.exec(range.trim());
  if (match === null) return undefined;
  const start = Number(match[1]);
  return Number.isSafeInteger(start) ? start : undefined;
}

/**
 * Maps a raw URL path to a regular file inside `root`, or undefined. Each segment is tried decoded
 * (target files are stored under their plain names) and then literally (sim.exportTo stores metadata
 * under percent-encoded role names, as the client's store does). A segment that is empty, `.`, `..`,
 * or that holds `/`, `\` or NUL is refused, the joined path must stay inside the root, and so must the
 * path once symlinks are resolved.
 */
function resolveFile(root: string, rawPath: string): string | undefined {
  if (!rawPath.startsWith('/')) return undefined;
  const rawSegments = rawPath.slice(1).split('/');
  const decoded = rawSegments.map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      return undefined;
    }
  });
  const candidates: Array<ReadonlyArray<string | undefined>> = [decoded, rawSegments];
  for (const segments of candidates) {
    if (!segments.every(isSafeSegment)) continue;
    const path = join(root, ...(segments as string[]));
    if (!isInside(root, path)) continue;
    let real: string;
    try {
      real = realpathSync(path);
      if (!statSync(real).isFile()) continue;
    } catch {
      continue;
    }
    if (isInside(root, real)) return real;
  }
  return undefined;
}

function isSafeSegment(segment: string | undefined): segment is string {
  return segment !== undefined && segment !== '' && segment !== '.' && segment !== '..' && !/[/\\\u0000]/.test(segment);
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`);
}
