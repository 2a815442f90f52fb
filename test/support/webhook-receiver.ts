// A webhook receiver on loopback for the alert tests: records every request's headers and body and
// answers as the test says (by request number), so delivery, retries and signatures are checked over
// real HTTP. `port` lets a test bring a receiver back on the port a pending delivery names.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

export interface WebhookReceiver {
  /** http://127.0.0.1:PORT/<path> */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

/** Answers 204 to every request: a receiver that takes every alert. */
export const acceptAll = (_n: number, res: ServerResponse): void => void res.writeHead(204).end();

/** Starts a receiver that pushes each request onto `received` and calls `answer` with its 1-based number. */
export async function startWebhookReceiver(
  received: ReceivedHook[],
  answer: (n: number, res: ServerResponse) => void = acceptAll,
  options: { readonly port?: number; readonly path?: string } = {},
): Promise<WebhookReceiver> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      answer(received.length, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${options.path ?? '/uptane'}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
