// A front for the Image repository in the transparency tests: it serves /log from a LogServer through
// the real routes (shared/transparency/routes.ts) and passes every other request to the real Image
// repository. The log it serves can be swapped (a fork shown to one vehicle, a frozen log) and an
// answer replaced (a forged proof): the positions of an attacker who controls the Image repository's
// server, or of the log's operator, while the repository's metadata stays the real thing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { sendError } from '../../shared/server/http-errors.js';
import { entryForFile } from '../../shared/transparency/entry.js';
import { MemoryLogStore } from '../../shared/transparency/log-store.js';
import { logRouter } from '../../shared/transparency/routes.js';
import { IMAGE_LOG_NAME, LogServer } from '../../shared/transparency/server-log.js';
import type { Clock } from '../../shared/core/clock.js';
import type { PrivateKey } from '../../shared/core/crypto/keys.js';

export class LogFront {
  /** Paths of the /log requests answered, for tests that a vehicle without the setting never asks. */
  readonly requests: string[] = [];
  /** Replaces the answer to a /log path (path and query, after /log) when it returns (or resolves to) a value. */
  override: ((path: string) => unknown) | undefined;

  private constructor(
    private readonly server: http.Server,
    public log: LogServer,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  static async start(upstream: string, log: LogServer): Promise<LogFront> {
    const app = express();
    const upstreamUrl = new URL(upstream);
    let front: LogFront | undefined;
    app.use('/log', (req, res, next) => {
      front!.requests.push(req.url);
      void (async () => {
        const replaced: unknown = await front!.override?.(req.url);
        if (replaced !== undefined) res.json(replaced);
        else logRouter(front!.log)(req, res, next);
      })().catch(next);
    });
    app.use((req, res) => {
      const forward = http.request({ host: upstreamUrl.hostname, port: upstreamUrl.port, method: req.method, path: req.originalUrl, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forward.on('error', (err) => res.destroy(err));
      req.pipe(forward);
    });
    app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => sendError(res, err));
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    front = new LogFront(server, log);
    return front;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A log as a repository server keeps it, on memory, under `signer`, accepting `witnesses`' cosignatures. */
export function openLog(signer: PrivateKey, clock: Clock, witnesses: readonly PrivateKey[] = []): Promise<LogServer> {
  return LogServer.open({ log: IMAGE_LOG_NAME, store: new MemoryLogStore(), signer, clock, witnessKeys: witnesses.map((w) => w.publicKey) });
}

/** The Image repository's current targets file, as it serves it, and its version. */
export async function currentImageTargets(imageUrl: string): Promise<{ bytes: Buffer; version: number }> {
  const response = await fetch(`${imageUrl}/metadata/targets.json`);
  if (response.status !== 200) throw new Error(`targets.json: HTTP ${response.status}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  return { bytes, version: (JSON.parse(bytes.toString('utf8')) as { signed: { version: number } }).signed.version };
}

/** Appends the Image repository's current targets version to `log`, as the repository's own publishing does. */
export async function logCurrentTargets(log: LogServer, imageUrl: string): Promise<number> {
  const { bytes, version } = await currentImageTargets(imageUrl);
  await log.append([entryForFile({ repository: 'image', role: 'targets', version }, bytes)]);
  return version;
}
