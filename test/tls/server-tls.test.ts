// TLS on the repository servers (issue 16 item 1), with real handshakes against the real servers and
// certificates from the development PKI: TLS 1.3 by default and 1.2 only when configured; a client
// that does not trust the CA, or meets an expired certificate, refuses the server; a reload swaps the
// certificate for new connections while a keep-alive connection goes on, and a bad file on reload
// keeps the old one; client certificates are asked for but judged per route (peerCertificateOf); bad
// files stop the server from starting with a typed error.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import { startDirector } from '../../director-repo/server.js';
import { FixedClock } from '../../shared/core/clock.js';
import { CertificateKeyMismatchError, MalformedCertificateError, NotFoundError, PlainHttpRefusedError, TlsFileError } from '../../shared/core/errors.js';
import { createDevCa, issueServerCertificate, issueVehicleCertificate, vehicleIdentityOf, type IssuedCertificate } from '../../shared/pki/dev-ca.js';
import { DEFAULT_HTTP_SERVER_LIMITS, listenHttp } from '../../shared/server/http-server.js';
import { checkPlainHttpAllowed, isLoopbackHost, peerCertificateOf, type TlsServerConfig } from '../../shared/server/tls.js';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

let dir: string;
let ca: IssuedCertificate;
let otherCa: IssuedCertificate;
let serverA: IssuedCertificate;
let serverB: IssuedCertificate;
let expired: IssuedCertificate;
let vehicle: IssuedCertificate;
let strangerVehicle: IssuedCertificate;

beforeAll(async () => {
  ca = await createDevCa({ commonName: 'TLS test CA' });
  otherCa = await createDevCa({ commonName: 'Someone else' });
  serverA = await issueServerCertificate(ca, { hostnames: ['127.0.0.1', 'localhost'] });
  serverB = await issueServerCertificate(ca, { hostnames: ['127.0.0.1', 'localhost'] });
  expired = await issueServerCertificate(ca, { hostnames: ['127.0.0.1'], notBefore: new Date(Date.UTC(2020, 0, 1)), notAfter: new Date(Date.UTC(2020, 0, 2)) });
  vehicle = await issueVehicleCertificate(ca, { vin: 'VIN-TLS-1', primarySerial: 'primary-1' });
  strangerVehicle = await issueVehicleCertificate(otherCa, { vin: 'VIN-TLS-1', primarySerial: 'primary-1' });
});

let running: Array<{ close(): Promise<void> }>;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'server-tls-'));
  running = [];
});
afterEach(async () => {
  for (const server of running) await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `pair` as cert/key files under `name` and returns a config for them. */
function tlsFiles(name: string, pair: IssuedCertificate, extra: Partial<TlsServerConfig> = {}): TlsServerConfig {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  writeFileSync(certFile, pair.certPem);
  writeFileSync(keyFile, pair.keyPem, { mode: 0o600 });
  return { certFile, keyFile, ...extra };
}

async function imageServer(tls: TlsServerConfig | undefined, log: string[] = []): Promise<RunningImageServer> {
  const server = await startImageServer({ dataDir: join(dir, 'image-data'), clock: new FixedClock(new Date()), log: (line) => log.push(line), tls });
  running.push(server);
  return server;
}

const portOf = (url: string): number => Number(new URL(url).port);
const fingerprintOf = (pair: IssuedCertificate): string => new X509Certificate(pair.certPem).fingerprint256;

interface Handshake {
  readonly protocol: string | null;
  readonly fingerprint: string;
}

/** One TLS handshake with 127.0.0.1:port, verifying against `trust`; resolves with what was negotiated. */
function handshake(port: number, trust: IssuedCertificate, options: ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: trust.certPem, ...options }, () => {
      const result = { protocol: socket.getProtocol(), fingerprint: socket.getPeerX509Certificate()!.fingerprint256 };
      socket.end();
      resolve(result);
    });
    socket.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
  });
}

describe('handshakes', () => {
  it('serves TLS 1.3 by default, with the configured certificate, at an https URL', async () => {
    const server = await imageServer(tlsFiles('a', serverA));
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const shake = await handshake(portOf(server.url), ca);
    expect(shake.protocol).toBe('TLSv1.3');
    expect(shake.fingerprint).toBe(fingerprintOf(serverA));
  });

  it('refuses a client that speaks TLS 1.2 at most, unless the server allows 1.2', async () => {
    const strict = await imageServer(tlsFiles('a', serverA));
    await expect(handshake(portOf(strict.url), ca, { maxVersion: 'TLSv1.2' })).rejects.toThrow(/version|protocol/i);
    await strict.close();
    running = [];
    const lenient = await imageServer(tlsFiles('a', serverA, { minVersion: 'TLSv1.2' }));
    expect((await handshake(portOf(lenient.url), ca, { maxVersion: 'TLSv1.2' })).protocol).toBe('TLSv1.2');
  });

  it('is refused by a client that trusts another CA', async () => {
    const server = await imageServer(tlsFiles('a', serverA));
    await expect(handshake(portOf(server.url), otherCa)).rejects.toMatchObject({ code: expect.stringMatching(/UNABLE_TO_VERIFY|SELF_SIGNED|UNABLE_TO_GET_ISSUER/) });
  });

  it('is refused by a verifying client when its certificate has expired', async () => {
    const server = await imageServer(tlsFiles('expired', expired));
    await expect(handshake(portOf(server.url), ca)).rejects.toMatchObject({ code: 'CERT_HAS_EXPIRED' });
  });

  it('serves nothing in clear to a plain HTTP request on its TLS port', async () => {
    const server = await imageServer(tlsFiles('a', serverA));
    const plainUrl = server.url.replace(/^https:/, 'http:');
    const answer = await new Promise<string>((resolve) => {
      httpGet(`${plainUrl}/metadata/timestamp.json`, (res) => resolve(`answered ${res.statusCode}`)).once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(answer).toMatch(/^(ECONNRESET|EPIPE)$/); // the handshake fails: no status line, no byte of metadata
  });

  it('answers HTTP requests over TLS on the Director too', async () => {
    const director = await startDirector({
      dataDir: join(dir, 'director-data'),
      imageRepoUrl: 'https://127.0.0.1:1',
      images: { findImage: () => Promise.reject(new NotFoundError('no images in this test')) },
      tls: tlsFiles('a', serverA),
      log: () => undefined,
    });
    running.push(director);
    expect(director.url).toMatch(/^https:\/\//);
    const status = await new Promise<number>((resolve, reject) => {
      request(`${director.url}/api/v1/vehicles`, { ca: ca.certPem }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .once('error', reject)
        .end();
    });
    expect(status).toBe(401); // the operator API answered: no token
    expect((await handshake(portOf(director.url), ca)).protocol).toBe('TLSv1.3');
  });
});

describe('reload', () => {
  /** GET `path` through `agent`, answering whether the socket was reused and which certificate it saw. */
  function get(url: string, agent: Agent): Promise<{ status: number; reused: boolean; fingerprint: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`${url}/timestamp.json`, { agent }, (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerX509Certificate()!.fingerprint256;
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, fingerprint }));
      });
      req.once('error', reject).end();
    });
  }

  it('swaps the certificate for new connections while an open keep-alive connection goes on', async () => {
    const config = tlsFiles('live', serverA);
    const log: string[] = [];
    const server = await imageServer(config, log);
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem });
    try {
      const first = await get(server.url, agent);
      expect(first).toMatchObject({ reused: false, fingerprint: fingerprintOf(serverA) });

      tlsFiles('live', serverB); // the operator replaces the files, then sends SIGHUP
      const result = server.reloadTls();
      expect(result).toMatchObject({ reloaded: true, fingerprint256: fingerprintOf(serverB) });
      expect(log.some((line) => line.startsWith('TLS reloaded'))).toBe(true);

      const again = await get(server.url, agent);
      expect(again).toMatchObject({ status: first.status, reused: true, fingerprint: fingerprintOf(serverA) });
      expect((await handshake(portOf(server.url), ca)).fingerprint).toBe(fingerprintOf(serverB));
    } finally {
      agent.destroy();
    }
  });

  it('keeps the old certificate when the new files are bad, and says so', async () => {
    const config = tlsFiles('live', serverA);
    const log: string[] = [];
    const server = await imageServer(config, log);

    writeFileSync(config.certFile, 'not a certificate');
    const malformed = server.reloadTls();
    expect(malformed.reloaded).toBe(false);
    expect(!malformed.reloaded && malformed.error).toBeInstanceOf(MalformedCertificateError);
    expect(log.at(-1)).toMatch(/^TLS reload refused, still serving the previous certificate: .*live\.pem/);
    expect((await handshake(portOf(server.url), ca)).fingerprint).toBe(fingerprintOf(serverA));

    writeFileSync(config.certFile, serverB.certPem); // serverB's certificate with serverA's key
    const mismatch = server.reloadTls();
    expect(!mismatch.reloaded && mismatch.error).toBeInstanceOf(CertificateKeyMismatchError);
    expect((await handshake(portOf(server.url), ca)).fingerprint).toBe(fingerprintOf(serverA));

    rmSync(config.keyFile);
    const missing = server.reloadTls();
    expect(!missing.reloaded && missing.error).toBeInstanceOf(TlsFileError);
    expect((await handshake(portOf(server.url), ca)).fingerprint).toBe(fingerprintOf(serverA));
  });

  it('says there is nothing to reload on a plain HTTP server', async () => {
    const server = await imageServer(undefined);
    const result = server.reloadTls();
    expect(!result.reloaded && result.error).toBeInstanceOf(TlsFileError);
  });
});

describe('client certificates', () => {
  let server: Server;
  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** A server that answers with the vehicle its client certificate names, or 'none'. */
  async function identityServer(): Promise<number> {
    server = await listenHttp(
      (req, res) => {
        const cert = peerCertificateOf(req);
        const identity = cert === undefined ? undefined : vehicleIdentityOf(cert);
        res.end(identity === undefined ? 'none' : `${identity.vin}/${identity.primarySerial}`);
      },
      { limits: DEFAULT_HTTP_SERVER_LIMITS, tls: tlsFiles('a', serverA, { clientCaFile: tlsFiles('client-ca', ca).certFile }) },
    );
    server.on('connection', (socket) => socket.unref());
    return (server.address() as AddressInfo).port;
  }

  function ask(port: number, client?: IssuedCertificate): Promise<string> {
    return new Promise((resolve, reject) => {
      const options = client === undefined ? { ca: ca.certPem } : { ca: ca.certPem, cert: client.certPem, key: client.keyPem };
      request(`https://127.0.0.1:${port}/`, { ...options, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.once('end', () => resolve(body));
      })
        .once('error', reject)
        .end();
    });
  }

  it('hands the route the vehicle certificate its client CA verified', async () => {
    const port = await identityServer();
    expect(await ask(port, vehicle)).toBe('VIN-TLS-1/primary-1');
  });

  it('lets a client without a certificate in (operators), with no peer certificate', async () => {
    const port = await identityServer();
    expect(await ask(port)).toBe('none');
  });

  it('gives no peer certificate for one another CA issued, though it names the same vehicle', async () => {
    const port = await identityServer();
    expect(await ask(port, strangerVehicle)).toBe('none');
  });
});

describe('bad files stop the server from starting', () => {
  it('a missing certificate file', async () => {
    await expect(imageServer({ certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none-key.pem') })).rejects.toThrow(TlsFileError);
  });

  it('a malformed certificate, naming the file and the option', async () => {
    const config = tlsFiles('bad', serverA);
    writeFileSync(config.certFile, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await expect(imageServer(config)).rejects.toThrow(MalformedCertificateError);
    await expect(imageServer(config)).rejects.toThrow(/bad\.pem \(--tls-cert\)/);
  });

  it('a malformed key', async () => {
    const config = tlsFiles('bad', serverA);
    writeFileSync(config.keyFile, 'junk');
    await expect(imageServer(config)).rejects.toMatchObject({ code: 'malformed_certificate', message: expect.stringContaining('--tls-key') });
  });

  it('a key that is not the certificate key', async () => {
    const config = tlsFiles('bad', { certPem: serverA.certPem, keyPem: serverB.keyPem });
    await expect(imageServer(config)).rejects.toThrow(CertificateKeyMismatchError);
  });

  it('a client CA file that holds no certificate', async () => {
    const clientCaFile = join(dir, 'client-ca.pem');
    writeFileSync(clientCaFile, 'nothing');
    await expect(imageServer(tlsFiles('a', serverA, { clientCaFile }))).rejects.toThrow(/client-ca\.pem \(--client-ca\)/);
  });

  it('and the data folder is free again afterwards', async () => {
    await expect(imageServer({ certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none.pem') })).rejects.toThrow(TlsFileError);
    const server = await imageServer(tlsFiles('a', serverA));
    expect(server.url).toMatch(/^https:/);
  });
});

describe('plain HTTP only on loopback', () => {
  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '::ffff:10.0.0.1', '128.0.0.1']) expect(isLoopbackHost(host)).toBe(false);
  });

  it('refuses plain HTTP on a non-loopback address and says why, unless TLS or --insecure-http', () => {
    const refuse = (): void => checkPlainHttpAllowed({ host: '0.0.0.0', tls: false, insecureHttp: false, command: 'uptane image serve' });
    expect(refuse).toThrow(PlainHttpRefusedError);
    expect(refuse).toThrow(/tokens, VINs, manifests and images would cross the network in clear/);
    expect(() => checkPlainHttpAllowed({ host: '0.0.0.0', tls: true, insecureHttp: false, command: 'x' })).not.toThrow();
    expect(() => checkPlainHttpAllowed({ host: '0.0.0.0', tls: false, insecureHttp: true, command: 'x' })).not.toThrow();
    expect(() => checkPlainHttpAllowed({ host: '127.0.0.1', tls: false, insecureHttp: false, command: 'x' })).not.toThrow();
  });
});
