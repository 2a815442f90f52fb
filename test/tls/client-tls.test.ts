// The client side of TLS (issue 16 item 1) against real TLS servers on loopback: every client given
// a CA bundle (the primary's HttpFetcher, the operator CLI's OperatorClient, the release engineer's
// ImageRepoClient) refuses a server certificate from another CA, an expired one and one for another
// host name with TlsCertificateError (an attack), refuses to send anything to an http:// URL
// (TlsDowngradeError, nothing reaches the plain server), and says a handshake with a server that
// speaks no TLS failed (a fault). docs/threat-model.md L15.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, get as httpsGet } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HttpFetcher, fetchBytes } from '../../shared/client/fetcher.js';
import { ClientTls, type ClientTlsConfig } from '../../shared/client/tls-client.js';
import {
  FetchError,
  OperatorRequestError,
  TlsCertificateError,
  TlsConfigurationError,
  TlsDowngradeError,
  TlsHandshakeError,
  UptaneError,
} from '../../shared/core/errors.js';
import { createDevCa, issueServerCertificate, issueVehicleCertificate, type IssuedCertificate } from '../../shared/pki/dev-ca.js';
import { OperatorClient } from '../../director-repo/operator-client.js';
import { ImageRepoClient } from '../../image-repo/repo-client.js';

const DAY = 24 * 60 * 60 * 1000;

interface TestServer {
  readonly url: string;
  /** Requests that reached the handler (a refused client sends none). */
  readonly requests: string[];
  /** Per TLS connection: whether it resumed an earlier session. */
  readonly connections: boolean[];
  /** Ends every open connection, as a restart or an idle timeout would; the server keeps listening. */
  dropConnections(): void;
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const fetchers: Array<{ close(): void }> = [];

afterEach(async () => {
  fetchers.splice(0).forEach((f) => f.close());
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function handler(requests: string[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      const body = Buffer.from(JSON.stringify({ ok: true, path: req.url }));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  };
}

async function listen(server: Server, scheme: 'http' | 'https', requests: string[], connections: boolean[]): Promise<TestServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const started: TestServer = {
    url: `${scheme}://127.0.0.1:${port}`,
    requests,
    connections,
    dropConnections: () => server.closeAllConnections(),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  servers.push(started);
  return started;
}

async function httpsServer(cert: IssuedCertificate): Promise<TestServer> {
  const requests: string[] = [];
  const connections: boolean[] = [];
  const server = createHttpsServer({ cert: cert.certPem, key: cert.keyPem, minVersion: 'TLSv1.3' }, handler(requests));
  server.on('secureConnection', (socket: TLSSocket) => connections.push(socket.isSessionReused()));
  return listen(server, 'https', requests, connections);
}

async function plainServer(): Promise<TestServer> {
  const requests: string[] = [];
  return listen(createHttpServer(handler(requests)), 'http', requests, []);
}

function fetcher(tls: ClientTlsConfig): HttpFetcher {
  const f = new HttpFetcher({ tls, connectTimeoutMs: 5_000 });
  fetchers.push(f);
  return f;
}

/** Every client of the project, asked for one small answer from `url` with `tls`. */
const clients: Record<string, (url: string, tls: ClientTlsConfig) => Promise<unknown>> = {
  'HttpFetcher GET (the primary, workspace pull, the Director reading the Image repository)': (url, tls) => fetchBytes(fetcher(tls), `${url}/metadata/timestamp.json`, { maxBytes: 10_000 }),
  'HttpFetcher POST (the Director session and manifest)': (url, tls) => fetcher(tls).post(`${url}/vehicle/session`, { maxBytes: 10_000, timeoutMs: 5_000 }),
  'OperatorClient (the operator CLI)': async (url, tls) => {
    const client = new OperatorClient(url, 'operator-token', 'UPTANE_OPERATOR_TOKEN', '--url', tls);
    fetchers.push(client);
    return client.call('GET', '/api/v1/vehicles', 'list vehicles');
  },
  'ImageRepoClient (workspace push)': async (url, tls) => {
    const client = new ImageRepoClient(url, 'uploader-token', tls);
    fetchers.push(client);
    return client.hasImage('a.bin', 'ab'.repeat(32));
  },
};

/** The error `promise` rejects with, which must be an UptaneError. */
async function failure(promise: Promise<unknown>): Promise<UptaneError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UptaneError);
  return err as UptaneError;
}

let ca: IssuedCertificate;
let otherCa: IssuedCertificate;
let goodCert: IssuedCertificate;

beforeAll(async () => {
  ca = await createDevCa({ commonName: 'test fleet CA' });
  otherCa = await createDevCa({ commonName: 'someone else' });
  goodCert = await issueServerCertificate(ca, { hostnames: ['127.0.0.1', 'localhost'] });
});

describe('L15: a client configured with a CA bundle', () => {
  it.each(Object.keys(clients))('%s: talks to a server whose certificate the CA issued', async (name) => {
    const server = await httpsServer(goodCert);
    await clients[name]!(server.url, { ca: ca.certPem });
    expect(server.requests.length).toBe(1);
  });

  it.each(Object.keys(clients))('%s: refuses a server certificate issued by another CA, sending nothing', async (name) => {
    const server = await httpsServer(await issueServerCertificate(otherCa, { hostnames: ['127.0.0.1'] }));
    const err = await failure(clients[name]!(server.url, { ca: ca.certPem }));
    expect(err).toBeInstanceOf(TlsCertificateError);
    expect(err.code).toBe('tls_certificate_refused');
    expect(err.kind).toBe('attack');
    expect(err.message).toContain('--ca');
    expect(server.requests).toEqual([]);
  });

  it.each(Object.keys(clients))('%s: refuses an expired server certificate', async (name) => {
    const expired = await issueServerCertificate(ca, { hostnames: ['127.0.0.1'], notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) });
    const server = await httpsServer(expired);
    const err = await failure(clients[name]!(server.url, { ca: ca.certPem }));
    expect(err).toBeInstanceOf(TlsCertificateError);
    expect(err.code).toBe('tls_certificate_refused');
    expect(err.message).toContain('expired');
    expect(server.requests).toEqual([]);
  });

  it.each(Object.keys(clients))('%s: refuses a certificate issued for another host name', async (name) => {
    const server = await httpsServer(await issueServerCertificate(ca, { hostnames: ['director.example.test'] }));
    const err = await failure(clients[name]!(server.url, { ca: ca.certPem }));
    expect(err).toBeInstanceOf(TlsCertificateError);
    expect(err.code).toBe('tls_certificate_refused');
    expect(err.message).toContain('host name');
    expect(server.requests).toEqual([]);
  });

  it.each(Object.keys(clients))('%s: refuses a downgrade to http://, and nothing reaches the plain server', async (name) => {
    const server = await plainServer();
    const err = await failure(clients[name]!(server.url, { ca: ca.certPem }));
    expect(err).toBeInstanceOf(TlsDowngradeError);
    expect(err.code).toBe('tls_downgrade');
    expect(err.kind).toBe('attack');
    expect(server.requests).toEqual([]);
  });

  it('says a handshake with a server that speaks no TLS failed: a fault, not an attack', async () => {
    const server = await plainServer();
    const err = await failure(fetchBytes(fetcher({ ca: ca.certPem }), `${server.url.replace('http:', 'https:')}/x`, { maxBytes: 100 }));
    expect(err).toBeInstanceOf(TlsHandshakeError);
    expect(err.kind).toBe('fault');
    expect(server.requests).toEqual([]);
  });

  it("keeps its connection alive, and its agent resumes the TLS session on a new connection", async () => {
    const server = await httpsServer(goodCert);
    const tls = new ClientTls({ ca: ca.certPem });
    fetchers.push(tls);
    const get = (path: string) =>
      new Promise<void>((resolve, reject) => {
        httpsGet(`${server.url}${path}`, { agent: tls.agentFor(new URL(server.url)) }, (res) => {
          res.resume();
          res.on('end', resolve);
        }).on('error', reject);
      });
    for (let i = 0; i < 3; i++) await get(`/metadata/${i}.json`);
    expect(server.requests.length).toBe(3);
    expect(server.connections).toEqual([false]);
    // The server drops the connection; once the client saw it go, the next request opens a new one that resumes the session.
    server.dropConnections();
    while (Object.keys(tls.agent.freeSockets).length > 0) await new Promise<void>((resolve) => setTimeout(resolve, 5));
    await get('/metadata/again.json');
    expect(server.connections).toEqual([false, true]);
  });

  it('the operator CLI keeps its own words for an unreachable Director, and a refusal stays a refusal', async () => {
    const server = await httpsServer(goodCert);
    const closed = server.url.replace(/:\d+$/, ':9');
    const client = new OperatorClient(closed, 't', 'UPTANE_OPERATOR_TOKEN', '--url', { ca: ca.certPem });
    fetchers.push(client);
    const err = await failure(client.call('GET', '/api/v1/vehicles', 'list vehicles'));
    expect(err).toBeInstanceOf(FetchError);
    expect(err.message).toContain(`cannot reach the Director at ${closed}`);
    expect(err).not.toBeInstanceOf(OperatorRequestError);
  });
});

describe('bad TLS settings are refused before any connection (TlsConfigurationError, a fault)', () => {
  it('a CA bundle without a certificate in it', () => {
    expect(() => new ClientTls({ ca: 'not a certificate' })).toThrow(TlsConfigurationError);
  });

  it('a CA bundle whose certificate is malformed', () => {
    expect(() => new ClientTls({ ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' })).toThrow(TlsConfigurationError);
  });

  it("a server's own certificate given as the CA", () => {
    expect(() => new ClientTls({ ca: goodCert.certPem })).toThrow(/not a CA certificate/);
  });

  it('a client certificate without its key, or with the key of another certificate', async () => {
    const vehicle = await issueVehicleCertificate(ca, { vin: 'VIN1', primarySerial: 'tcu-1' });
    const other = await issueVehicleCertificate(ca, { vin: 'VIN2', primarySerial: 'tcu-1' });
    expect(() => new ClientTls({ ca: ca.certPem, cert: vehicle.certPem })).toThrow(TlsConfigurationError);
    expect(() => new ClientTls({ ca: ca.certPem, cert: vehicle.certPem, key: other.keyPem })).toThrow(/not the private key/);
    expect(() => new ClientTls({ ca: ca.certPem, cert: vehicle.certPem, key: 'garbage' })).toThrow(TlsConfigurationError);
    expect(() => new ClientTls({ ca: ca.certPem, cert: vehicle.certPem, key: vehicle.keyPem }).close()).not.toThrow();
  });
});
