// TLS for both repository servers: the certificate, key and optional client CA read from PEM files
// and checked before the server listens, the node:https options they become (TLS 1.3 unless told
// otherwise; client certificates requested but judged per route), a reload that swaps them without
// dropping a connection, and the rule that keeps plain HTTP on loopback (docs/decisions.md "TLS").
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { Server as HttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import { isIP } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContextOptions } from 'node:tls';
import {
  CertificateKeyMismatchError,
  MalformedCertificateError,
  PlainHttpRefusedError,
  TlsFileError,
  UptaneError,
} from '../core/errors.js';

export type TlsMinVersion = 'TLSv1.3' | 'TLSv1.2';

/** Where a server's TLS material lives; files are re-read by reloadTls. */
export interface TlsServerConfig {
  /** PEM: the server certificate, optionally followed by intermediate CA certificates. */
  readonly certFile: string;
  /** PEM: the server certificate's private key (PKCS#8, SEC1 or PKCS#1), unencrypted. */
  readonly keyFile: string;
  /** PEM bundle of the CAs whose client certificates the server accepts (vehicles' mutual TLS). */
  readonly clientCaFile?: string;
  /** Lowest TLS version accepted; TLSv1.3 by default, TLSv1.2 only when asked (`--tls-min-version 1.2`). */
  readonly minVersion?: TlsMinVersion;
}

/** The PEM text of a checked configuration, and the server certificate for logs. */
export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
  readonly certificate: X509Certificate;
}

/** What a reload did: the new certificate, or why the old one stays. */
export type TlsReloadResult =
  | { readonly reloaded: true; readonly subject: string; readonly validTo: string; readonly fingerprint256: string }
  | { readonly reloaded: false; readonly error: UptaneError };

/**
 * Reads and checks the files of `config`: each exists, the certificate and key are PEM, the key is
 * the certificate's, the client CA bundle holds certificates. Throws a typed error that names the
 * file and what to do, so a server never starts (or reloads) half-configured.
 */
export function loadTlsMaterial(config: TlsServerConfig): TlsMaterial {
  const cert = readTlsFile(config.certFile, '--tls-cert');
  const key = readTlsFile(config.keyFile, '--tls-key');
  const ca = config.clientCaFile === undefined ? undefined : readTlsFile(config.clientCaFile, '--client-ca');
  const certificate = parseCertificate(cert, config.certFile, '--tls-cert');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new MalformedCertificateError(
      `${config.keyFile} is not an unencrypted PEM private key (${(err as Error).message}); give --tls-key the key written with the certificate (uptane pki server writes key.pem)`,
      { cause: err },
    );
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new CertificateKeyMismatchError(`${config.keyFile} is not the private key of the certificate in ${config.certFile}; give --tls-key the key issued with this --tls-cert`);
  }
  if (ca !== undefined) parseCertificate(ca, config.clientCaFile!, '--client-ca');
  const material: TlsMaterial = ca === undefined ? { cert, key, certificate } : { cert, key, ca, certificate };
  try {
    createSecureContext(secureContextOptions(material)); // OpenSSL's own checks (an unusable key type, a broken chain PEM)
  } catch (err) {
    throw new MalformedCertificateError(`${config.certFile} and ${config.keyFile} cannot be used for TLS: ${(err as Error).message}`, { cause: err });
  }
  return material;
}

/**
 * The node:https options for `config`. With a client CA the server asks every client for a
 * certificate but lets the handshake finish without one: operators and release engineers have
 * none, so the vehicle routes decide with peerCertificateOf (docs/decisions.md "TLS").
 */
export function httpsServerOptions(config: TlsServerConfig, material: TlsMaterial): HttpsServerOptions {
  const options: HttpsServerOptions = { ...secureContextOptions(material), minVersion: config.minVersion ?? 'TLSv1.3' };
  if (material.ca !== undefined) {
    options.requestCert = true;
    options.rejectUnauthorized = false;
  }
  return options;
}

/**
 * Re-reads the files of `config` and gives `server` the new context for new handshakes; open
 * connections keep theirs, so nothing is dropped. A bad new file keeps the old context and says so
 * in the log. The ticket keys stay, so sessions resume across a reload.
 */
export function reloadTlsContext(server: HttpsServer, config: TlsServerConfig, log: (line: string) => void): TlsReloadResult {
  let material: TlsMaterial;
  try {
    material = loadTlsMaterial(config);
  } catch (err) {
    if (!(err instanceof UptaneError)) throw err;
    log(`TLS reload refused, still serving the previous certificate: ${err.message}`);
    return { reloaded: false, error: err };
  }
  server.setSecureContext({ ...secureContextOptions(material), minVersion: config.minVersion ?? 'TLSv1.3', ticketKeys: server.getTicketKeys() });
  const { subject, validTo, fingerprint256 } = material.certificate;
  log(`TLS reloaded: serving ${subject.replace(/\n/g, ', ')} valid to ${validTo} (SHA-256 ${fingerprint256})`);
  return { reloaded: true, subject, validTo, fingerprint256 };
}

/**
 * reloadTlsContext for a server made by listenHttp, as RunningDirector and RunningImageServer offer
 * it (the CLIs call it on SIGHUP); a server started without TLS has nothing to reload and says so.
 */
export function reloadServerTls(server: Server, config: TlsServerConfig | undefined, log: (line: string) => void): TlsReloadResult {
  if (config === undefined || !(server instanceof HttpsServer)) {
    const error = new TlsFileError('this server was started without --tls-cert and --tls-key: there is no certificate to reload');
    log(`TLS reload ignored: ${error.message}`);
    return { reloaded: false, error };
  }
  return reloadTlsContext(server, config, log);
}

/**
 * The client certificate of the connection `req` came on, when the client sent one that the
 * server's client CA verified (chain and validity); undefined for plain HTTP, no certificate, or a
 * certificate the CA did not accept. Who the certificate names is the route's question.
 */
export function peerCertificateOf(req: IncomingMessage): X509Certificate | undefined {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  return socket.getPeerX509Certificate();
}

/** Whether `host` only reaches this machine: 127.0.0.0/8, ::1 (also IPv4-mapped) or localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) !== 6) return false;
  const normalized = new URL(`http://[${bare}]/`).hostname; // '[::1]', or '[::ffff:7f00:1]' for ::ffff:127.0.0.1
  if (normalized === '[::1]') return true;
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}\]$/.exec(normalized);
  return mapped !== null && parseInt(mapped[1]!, 16) >> 8 === 127;
}

/**
 * Refuses plain HTTP on an address other machines reach, unless `insecureHttp` says the operator
 * means it: operator and vehicle tokens, VINs, manifests and images would cross the network in
 * clear (issue 16, docs/decisions.md "TLS").
 */
export function checkPlainHttpAllowed(options: { readonly host: string; readonly tls: boolean; readonly insecureHttp: boolean; readonly command: string }): void {
  if (options.tls || options.insecureHttp || isLoopbackHost(options.host)) return;
  const wildcard = options.host === '0.0.0.0' || options.host === '::' || options.host === '[::]';
  const names = wildcard ? '<each name or address clients use>' : options.host;
  throw new PlainHttpRefusedError(
    `refusing to serve plain HTTP on ${options.host}: operator and vehicle tokens, VINs, manifests and images would cross the network in clear. ` +
      `Give --tls-cert and --tls-key (a development pair: uptane pki init, then uptane pki server --host ${names}), ` +
      `listen on 127.0.0.1 behind a TLS proxy, or pass --insecure-http to ${options.command} if this network is trusted.`,
  );
}

function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return material.ca === undefined ? { cert: material.cert, key: material.key } : { cert: material.cert, key: material.key, ca: material.ca };
}

function readTlsFile(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new TlsFileError(`cannot read ${path} (${option}): ${(err as Error).message}; check the path and that this user may read it`, { cause: err });
  }
}

function parseCertificate(pem: string, path: string, option: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new MalformedCertificateError(`${path} (${option}) is not a PEM X.509 certificate (${(err as Error).message}); it should start with -----BEGIN CERTIFICATE-----`, {
      cause: err,
    });
  }
}
