// The baseline server: plain node:http answering from a Map in memory, nothing else. Product servers
// are compared with it under the same load generator, in the same process.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PlainServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startPlainServer(files: ReadonlyMap<string, Uint8Array>): Promise<PlainServer> {
  const notFound = Buffer.from('{"error":{"code":"not_found","message":"no such file"}}');
  const server = http.createServer((req, res) => {
    req.resume();
    const body = files.get(req.url ?? '');
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json', 'content-length': (body ?? notFound).length });
    res.end(body ?? notFound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
