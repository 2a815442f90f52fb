// The load generator, run in a worker thread so that the client never shares the server's event loop:
// keep-alive connections (one per lane), each sending its lane's requests back to back. The same
// generator drives the product servers and the plain node:http baselines.
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { parentPort, workerData } from 'node:worker_threads';
import type { LoadJob, LoadRequest, LoadResult } from './load.js';

const job = workerData as LoadJob;
const origins = (job.origins ?? [job.origin]).map((o) => new URL(o));
let nextOrigin = 0;
// maxSockets is per host:port, so with several origins each keeps up to one connection per lane.
const agentOptions = { keepAlive: true, maxSockets: job.lanes.length, maxFreeSockets: job.lanes.length };
// An https agent keeps the TLS sessions the server sent (tickets) and offers them on reconnects.
const agent = job.tls === undefined ? new http.Agent(agentOptions) : new https.Agent({ ...agentOptions, ca: job.tls.ca, maxCachedSessions: 100 });
const transport = job.tls === undefined ? http : https;
let connections = 0;
let resumedSessions = 0;

function send(request: LoadRequest, close: boolean): Promise<{ status: number; bytes: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = request.body.length;
    if (close) headers.connection = 'close';
    const origin = origins[nextOrigin++ % origins.length]!;
    const req = transport.request({ host: origin.hostname, port: origin.port, method: request.method, path: request.path, headers, agent }, (res) => {
      if (!req.reusedSocket) {
        connections++;
        if (job.tls !== undefined && (res.socket as TLSSocket).isSessionReused()) resumedSessions++;
      }
      let bytes = 0;
      let text = '';
      const status = res.statusCode ?? 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (status >= 300 && text.length < 300) text += chunk.toString('utf8', 0, 300);
      });
      res.on('end', () => resolve({ status, bytes, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(request.body === undefined ? undefined : Buffer.from(request.body.buffer, request.body.byteOffset, request.body.length));
  });
}

async function main(): Promise<LoadResult> {
  const started = performance.now();
  const measureFrom = started + job.warmupMs;
  const stopAt = measureFrom + job.durationMs;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let measured = 0;
  let completed = 0;
  let issued = 0;
  let bytesIn = 0;
  let errors = 0;
  let firstError: string | undefined;
  let lastDone = measureFrom;

  const lane = async (requests: readonly LoadRequest[]) => {
    for (let i = 0; ; i++) {
      if (!job.cycle && i >= requests.length) return;
      if (performance.now() >= stopAt || issued >= job.maxRequests) return;
      issued++;
      const request = requests[i % requests.length]!;
      const t0 = performance.now();
      try {
        const close = job.reconnectEvery !== undefined && (i + 1) % job.reconnectEvery === 0;
        const { status, bytes, text } = await send(request, close);
        const t1 = performance.now();
        completed++;
        if (t1 < measureFrom) continue;
        measured++;
        lastDone = t1;
        latencies.push(t1 - t0);
        bytesIn += bytes;
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status >= 300 && firstError === undefined) firstError = `HTTP ${status} ${request.method} ${request.path}: ${text}`;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(job.lanes.map(lane));
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const seconds = Math.max(1e-6, (lastDone - measureFrom) / 1000);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { requests: measured, completed, seconds, perSecond: measured / seconds, statuses, errors, firstError, bytesIn, latencyMs: { p50: q(0.5), p99: q(0.99) }, connections, resumedSessions };
}

main().then(
  (result) => parentPort!.postMessage(result),
  (err: unknown) => parentPort!.postMessage({ fatal: (err as Error).stack ?? String(err) }),
);
